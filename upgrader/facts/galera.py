"""Galera facts: a query (pymysql over TCP) and pure parsers of what it returns."""
from __future__ import annotations

import re
from typing import Any, Iterable

from upgrader.model import GaleraFacts

STATUS_SQL = "SHOW GLOBAL STATUS LIKE 'wsrep%'"
VARIABLES_SQL = ("SHOW GLOBAL VARIABLES WHERE Variable_name IN "
                 "('wsrep_provider_options', 'wsrep_desync', 'version')")

_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def query(host: str, user: str, password: str, *, port: int = 3306,
          timeout: float = 5) -> dict[str, list[tuple[str, str]]]:
    """Raw rows from one node. Raises pymysql errors; the caller turns them into one line."""
    import pymysql

    conn = pymysql.connect(host=host, port=port, user=user, password=password,
                           connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout)
    try:
        with conn.cursor() as cur:
            cur.execute(STATUS_SQL)
            status = [(str(k), str(v)) for k, v in cur.fetchall()]
            cur.execute(VARIABLES_SQL)
            variables = [(str(k), str(v)) for k, v in cur.fetchall()]
    finally:
        conn.close()
    return {"status": status, "variables": variables}


def parse_size(text: str) -> int:
    """'128M' -> 134217728 (Galera's size syntax)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*", text, re.IGNORECASE)
    if not m:
        return 0
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).upper()])


def parse_provider_options(text: str) -> dict[str, str]:
    """wsrep_provider_options is 'key = value; key = value; ...'."""
    out: dict[str, str] = {}
    for part in text.split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _int(value: Any, default: int = -1) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def parse_wsrep(status: Iterable[tuple[str, str]], variables: Iterable[tuple[str, str]],
                grastate: str | None = None) -> GaleraFacts:
    """GaleraFacts from SHOW STATUS/VARIABLES rows and, when readable, grastate.dat text."""
    s = {k.lower(): v for k, v in status}
    v = {k.lower(): val for k, val in variables}
    options = parse_provider_options(v.get("wsrep_provider_options", ""))
    seqno, safe = parse_grastate(grastate) if grastate is not None else (None, None)
    addresses = tuple(a for a in s.get("wsrep_incoming_addresses", "").split(",") if a)
    return GaleraFacts(
        reachable=True,
        local_state=_int(s.get("wsrep_local_state"), 0),
        local_state_comment=s.get("wsrep_local_state_comment", ""),
        cluster_size=_int(s.get("wsrep_cluster_size"), 0),
        cluster_status=s.get("wsrep_cluster_status", ""),
        cluster_state_uuid=s.get("wsrep_cluster_state_uuid", ""),
        last_committed=_int(s.get("wsrep_last_committed")),
        local_cached_downto=_int(s.get("wsrep_local_cached_downto")),
        gcache_size_bytes=parse_size(options.get("gcache.size", "")),
        desync=v.get("wsrep_desync", "OFF").upper() == "ON",
        ready=s.get("wsrep_ready", "OFF").upper() == "ON",
        connected=s.get("wsrep_connected", "OFF").upper() == "ON",
        incoming_addresses=addresses,
        received_bytes=_int(s.get("wsrep_received_bytes"), 0),
        replicated_bytes=_int(s.get("wsrep_replicated_bytes"), 0),
        version=v.get("version", ""),
        grastate_seqno=seqno,
        grastate_safe_to_bootstrap=safe,
    )


def parse_grastate(text: str) -> tuple[int | None, bool | None]:
    """(seqno, safe_to_bootstrap) from grastate.dat; seqno -1 means 'unknown: SST unless recovered'."""
    seqno: int | None = None
    safe: bool | None = None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "seqno":
            seqno = _int(value, -1)
        elif key == "safe_to_bootstrap":
            safe = value == "1"
    return seqno, safe


def unreachable(error: str, grastate: str | None = None) -> GaleraFacts:
    """A node whose server does not answer; its saved position still counts (bootstrap, IST)."""
    seqno, safe = parse_grastate(grastate) if grastate is not None else (None, None)
    return GaleraFacts(reachable=False, error=error, grastate_seqno=seqno,
                       grastate_safe_to_bootstrap=safe)


def read_node(address: str, user: str, password: str, timeout_s: float = 3.0) -> GaleraFacts:
    """One node's wsrep status; an unreachable GaleraFacts (with the one-line why) on any error."""
    try:
        rows = query(address, user, password, timeout=timeout_s)
    except Exception as e:  # noqa: BLE001 - pymysql's several errors all mean "does not answer"
        return unreachable(" ".join(str(e).split())[:120])
    return parse_wsrep(rows["status"], rows["variables"])
