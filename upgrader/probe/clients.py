"""Three clients that use the control plane the way OpenStack services do, through the VIP.

Each operation follows the client-side policy of the real service libraries: on a
lost connection, reconnect and retry once (oslo.db, keystoneauth, oslo.messaging).
An operation fails only if that retry fails too; disconnects are counted apart.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid

from upgrader.probe.record import Sample

RETRYABLE_HTTP = (502, 503, 504)


def is_disconnect(error: BaseException) -> bool:
    """A lost or refused connection, as opposed to a wrong answer."""
    names = {c.__name__ for c in type(error).__mro__}
    return bool(names & {"OSError", "ConnectionError", "OperationalError", "InterfaceError",
                         "AMQPConnectionError", "StreamLostError", "ConnectionClosed",
                         "ChannelClosed", "ChannelWrongStateError"})


def _timed(kind: str, op) -> Sample:
    """Run op with the retry-once policy; the sample says whether it finally succeeded."""
    t0, wall = time.perf_counter(), time.time()
    disconnects = 0
    error = ""
    for _attempt in (1, 2):
        try:
            op()
            return Sample(kind, wall, True, (time.perf_counter() - t0) * 1000, disconnects)
        except Exception as e:  # every client library has its own error family
            disconnects += is_disconnect(e)
            error = f"{type(e).__name__}: {' '.join(str(e).split())[:160]}"
    return Sample(kind, wall, False, (time.perf_counter() - t0) * 1000, disconnects, error)


class KeystoneClient:
    """Issue a token, then validate it: the two calls every OpenStack API request implies."""

    def __init__(self, vip: str, password: str, timeout: float = 10):
        self.base = f"http://{vip}:5000/v3"
        self.password = password
        self.timeout = timeout

    def operation(self) -> Sample:
        return _timed("keystone", self._issue_and_validate)

    def _request(self, req: urllib.request.Request):
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.status, r.headers  # case-insensitive lookups
        except urllib.error.HTTPError as e:
            if e.code in RETRYABLE_HTTP:
                raise ConnectionError(f"HTTP {e.code} from the VIP") from None
            raise

    def _issue_and_validate(self) -> None:
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": self.password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
        status, headers = self._request(urllib.request.Request(
            f"{self.base}/auth/tokens", data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json"}))
        token = headers.get("X-Subject-Token", "")
        if status != 201 or not token:
            raise RuntimeError(f"token issue answered {status}")
        status, _ = self._request(urllib.request.Request(
            f"{self.base}/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": token}))
        if status != 200:
            raise RuntimeError(f"token validation answered {status}")


class MariaDBClient:
    """A short transaction that writes a uniquely identified row and reads it back."""

    TABLE = ("CREATE TABLE IF NOT EXISTS probe_writes (id CHAR(36) PRIMARY KEY, run VARCHAR(80) "
             "NOT NULL, t DOUBLE NOT NULL, KEY run (run))")

    def __init__(self, host: str, user: str, password: str, run: str, database: str = "upgrader_probe"):
        self.args = dict(host=host, user=user, password=password, database=database,
                         connect_timeout=5, read_timeout=20, write_timeout=20, autocommit=False)
        self.run = run
        self.acked: list[str] = []
        self.conn = None

    def _connect(self):
        import pymysql

        conn = pymysql.connect(**self.args)
        with conn.cursor() as cur:
            cur.execute("SET SESSION wsrep_sync_wait = 1")  # read-your-writes across nodes
        return conn

    def setup(self) -> None:
        conn = self._connect()
        with conn.cursor() as cur:
            cur.execute(self.TABLE)
        conn.commit()
        conn.close()

    def operation(self) -> Sample:
        row_id = str(uuid.uuid4())
        sample = _timed("mariadb", lambda: self._write_and_read(row_id))
        if sample.ok:
            self.acked.append(row_id)
        return sample

    def _write_and_read(self, row_id: str) -> None:
        import pymysql

        try:
            if self.conn is None:
                self.conn = self._connect()
            with self.conn.cursor() as cur:
                try:
                    cur.execute("INSERT INTO probe_writes (id, run, t) VALUES (%s, %s, %s)",
                                (row_id, self.run, time.time()))
                    self.conn.commit()
                except pymysql.err.IntegrityError:
                    self.conn.rollback()  # the retry of a commit that had landed: it is there
                cur.execute("SELECT id FROM probe_writes WHERE id = %s", (row_id,))
                if cur.fetchone() is None:
                    raise RuntimeError("row written but not read back")
        except (pymysql.err.OperationalError, pymysql.err.InterfaceError):
            self._drop()
            raise

    def _drop(self) -> None:
        try:
            if self.conn is not None:
                self.conn.close()
        except Exception:
            pass
        self.conn = None

    def close(self) -> None:
        self._drop()


class RabbitClient:
    """Publish with publisher confirms to the quorum queue, knowing every broker."""

    def __init__(self, hosts: list[str], user: str, password: str, queue: str):
        self.hosts, self.user, self.password, self.queue = list(hosts), user, password, queue
        self.confirmed: list[str] = []
        self.conn = None
        self.channel = None
        self._next = 0

    def _params(self):
        import pika

        creds = pika.PlainCredentials(self.user, self.password)
        # oslo.messaging style: try the brokers in turn, starting after the last one used
        order = self.hosts[self._next:] + self.hosts[:self._next]
        self._next = (self._next + 1) % len(self.hosts)
        return [pika.ConnectionParameters(host=h, credentials=creds, heartbeat=10,
                                          blocked_connection_timeout=20, socket_timeout=5,
                                          connection_attempts=1) for h in order]

    def _connect(self) -> None:
        import pika

        self.conn = pika.BlockingConnection(self._params())
        self.channel = self.conn.channel()
        self.channel.confirm_delivery()

    def operation(self) -> Sample:
        msg_id = str(uuid.uuid4())
        sample = _timed("rabbitmq", lambda: self._publish(msg_id))
        if sample.ok:
            self.confirmed.append(msg_id)
        return sample

    def _publish(self, msg_id: str) -> None:
        import pika

        try:
            if self.conn is None or self.conn.is_closed:
                self._connect()
            self.channel.basic_publish(
                exchange="", routing_key=self.queue, body=msg_id.encode(), mandatory=True,
                properties=pika.BasicProperties(message_id=msg_id, delivery_mode=2))
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        try:
            if self.conn is not None and self.conn.is_open:
                self.conn.close()
        except Exception:
            pass
        self.conn = self.channel = None
