"""A client that writes 4 KB rows through the VIP as fast as it can, until a stop file exists.

  write_load.py SECRETS_FILE VIP STOP_FILE [MAX_SECONDS]

The password is read from the lab's secrets file, never from the command line. A failed
write is retried on a new connection: the load is the point, not its errors.
"""
import sys
import time
from pathlib import Path

import pymysql
import yaml


def connect(vip: str, password: str):
    return pymysql.connect(host=vip, user="upgrader", password=password, autocommit=True, connect_timeout=5)


def main() -> int:
    secrets, vip, stop = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    deadline = time.monotonic() + float(sys.argv[4] if len(sys.argv) > 4 else 900)
    password = yaml.safe_load(Path(secrets).read_text())["mariadb_upgrader_password"]
    conn = connect(vip, password)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS upgrader_probe.sst_load "
                    "(id INT AUTO_INCREMENT PRIMARY KEY, pad VARCHAR(4096))")
    written = 0
    while not stop.exists() and time.monotonic() < deadline:
        try:
            with conn.cursor() as cur:
                cur.execute("INSERT INTO upgrader_probe.sst_load (pad) VALUES (REPEAT('x', 4000))")
            written += 1
        except pymysql.MySQLError:
            time.sleep(0.2)
            try:
                conn = connect(vip, password)
            except pymysql.MySQLError:
                pass
    print(f"{written} rows written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
