"""The probe: steady traffic in background threads, then the lost-writes check."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from upgrader.errors import ProbeError
from upgrader.probe.clients import KeystoneClient, MariaDBClient, RabbitClient
from upgrader.probe.record import Recorder, summarize

QUEUE = "upgrader.probe"


@dataclass(frozen=True)
class ProbeTargets:
    vip: str
    node_addresses: tuple[str, ...]     # Galera nodes (lost-writes check) and RabbitMQ brokers
    db_user: str
    db_password: str
    keystone_password: str
    rabbit_user: str
    rabbit_password: str


class Probe:
    def __init__(self, targets: ProbeTargets, run: str, interval_s: float = 0.2):
        self.t = targets
        self.run = run
        self.interval_s = interval_s
        self.recorder = Recorder()
        self.keystone = KeystoneClient(targets.vip, targets.keystone_password)
        self.db = MariaDBClient(targets.vip, targets.db_user, targets.db_password, run)
        self.rabbit = RabbitClient(list(targets.node_addresses), targets.rabbit_user,
                                   targets.rabbit_password, QUEUE)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.started_at = 0.0
        self.baseline_end = 0.0
        self.unchecked: list[str] = []      # nodes the lost-writes check could not read

    def start(self) -> "Probe":
        """Check each client once (credentials, a serving VIP), then send traffic in the background."""
        try:
            self.db.setup()
        except Exception as e:  # noqa: BLE001 - pymysql's errors: bad credentials, no VIP
            raise ProbeError(f"probe: MariaDB through the VIP {self.t.vip} refused the probe before "
                             f"the roll: {' '.join(str(e).split())[:200]}") from None
        for client in (self.keystone, self.db, self.rabbit):
            first = client.operation()
            if not first.ok:    # a roll must not start when clients already fail
                raise ProbeError(f"probe: {first.kind} through the VIP failed before the roll: "
                                 f"{first.error}")
        self.started_at = time.time()
        for client in (self.keystone, self.db, self.rabbit):
            th = threading.Thread(target=self._loop, args=(client,), daemon=True)
            th.start()
            self._threads.append(th)
        return self

    def _loop(self, client) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            self.recorder.add(client.operation())
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - t0)))

    def mark_baseline_end(self) -> None:
        self.baseline_end = time.time()

    def stop(self, windows: dict[str, tuple[float, float]], *, strict: bool = True) -> dict:
        """Stop the traffic; the figures, with the lost-writes check.

        strict: a lost-writes check that cannot run (no Galera node or RabbitMQ broker
        answers) raises ProbeError, as `upgrader probe` wants. A roll passes False: its
        report must be written whatever state the cluster is in, so ``lost_writes`` is
        None and ``lost_detail.not_checked`` says why.
        """
        self._stop.set()
        for th in self._threads:
            th.join(timeout=60)
        self.db.close()
        self.rabbit.close()
        samples = self.recorder.samples()
        summary = summarize(samples, self.baseline_end or self.started_at, windows)
        summary["duration_s"] = round(time.time() - self.started_at, 1)
        summary.update(self._lost_writes(strict))
        return summary

    # ------------------------------------------------------------------ lost writes
    def _lost_writes(self, strict: bool) -> dict:
        """lost_writes (None when a check could not run) and lost_detail, for the summary."""
        rows, rows_problem = _attempt(self._lost_rows, "the lost-rows check")
        messages, messages_problem = _attempt(self._lost_messages, "the lost-messages check")
        problems = [p for p in (rows_problem, messages_problem) if p]
        if problems and strict:
            raise ProbeError(problems[0])
        detail = {"db_rows_acked": len(self.db.acked), "messages_confirmed": len(self.rabbit.confirmed),
                  "db_rows_lost": rows, "messages_lost": messages,
                  "nodes_not_checked": list(self.unchecked)}
        if problems:
            detail["not_checked"] = problems
        lost = None if rows is None or messages is None else rows + messages
        return {"lost_writes": lost, "lost_detail": detail}

    def _lost_rows(self) -> int:
        """Acknowledged rows missing on ANY Galera node that answers (read with wsrep_sync_wait).

        A node that does not answer (the one a failed step left stopped) is left out and
        named in ``self.unchecked``: its rows arrive by IST when it rejoins, and the next
        run's check reads it again. No node answering at all is the one case that fails.
        """
        import pymysql

        worst, checked = 0, 0
        acked = set(self.db.acked)
        self.unchecked = []
        for address in self.t.node_addresses:
            try:
                conn = pymysql.connect(host=address, user=self.t.db_user, password=self.t.db_password,
                                       database="upgrader_probe", connect_timeout=10)
            except pymysql.err.MySQLError as e:
                self.unchecked.append(f"{address}: {' '.join(str(e).split())[:120]}")
                continue
            try:
                with conn.cursor() as cur:
                    cur.execute("SET SESSION wsrep_sync_wait = 1")
                    cur.execute("SELECT id FROM probe_writes WHERE run = %s", (self.run,))
                    present = {r[0] for r in cur.fetchall()}
            except pymysql.err.MySQLError as e:   # e.g. 1047: a non-Primary node serves no reads
                self.unchecked.append(f"{address}: {' '.join(str(e).split())[:120]}")
                continue
            finally:
                conn.close()
            checked += 1
            worst = max(worst, len(acked - present))
        if not checked:
            raise ProbeError("probe: no Galera node answered the lost-writes check: "
                             + "; ".join(self.unchecked))
        return worst

    def _lost_messages(self) -> int:
        """Confirmed messages not delivered when the queue is drained."""
        import pika

        creds = pika.PlainCredentials(self.t.rabbit_user, self.t.rabbit_password)
        params = [pika.ConnectionParameters(host=h, credentials=creds, connection_attempts=3,
                                            retry_delay=1) for h in self.t.node_addresses]
        conn = pika.BlockingConnection(params)
        seen: set[str] = set()
        try:
            ch = conn.channel()
            idle_since = time.monotonic()
            # NOTE: quorum queue counts lag; keep reading until the queue stays empty a moment.
            while time.monotonic() - idle_since < 2.0:
                method, props, body = ch.basic_get(QUEUE, auto_ack=True)
                if method is None:
                    time.sleep(0.1)
                    continue
                idle_since = time.monotonic()
                seen.add(body.decode(errors="replace"))
        finally:
            conn.close()
        return len(set(self.rabbit.confirmed) - seen)


def _attempt(check: Callable[[], int], what: str) -> tuple[int | None, str]:
    """(count, "") when the check ran; (None, why not) when it could not."""
    try:
        return check(), ""
    except ProbeError as e:
        return None, str(e)
    except Exception as e:  # noqa: BLE001 - pika's and pymysql's errors: nothing answered
        return None, f"probe: {what} could not run: {type(e).__name__}: {' '.join(str(e).split())[:200]}"
