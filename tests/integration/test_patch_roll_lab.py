"""Real package patch rolls on the lab: MariaDB 10.11.18 -> 10.11.19 and the OpenSSL security update.

Each lab host has its own package state (overlays), installed at `lab up` with MariaDB
10.11.18 from Debian's main archive; 10.11.19 and the newer libssl3 (the security
archive) are real pending patches. The plans come from a target file, as an operator
writes one (docs/targets.md).

1. the patch roll under the probe: every host moves, every rejoin is IST, the cluster
   stays at size 3 with mixed server versions during the roll, 0 failed operations,
   0 lost writes, no process left on the old libssl;
2. the combined roll (MariaDB + OpenSSL + Keystone 28.1.0 -> 29.1.0) from a fresh lab,
   whose first attempt meets a held package on the first node: the roll stops with that
   host drained and the others serving, the message names the package; after the fix
   (unhold) `apply` finishes the roll under the probe.
"""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from upgrader.facts import haproxy
from upgrader.lab import health, lifecycle, state
from upgrader.lab.packages import MARIADB_INSTALLED, MARIADB_PATCH, openssl_patch
from upgrader.lab.sh import ssh

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
UPGRADER = str(ROOT / ".venv/bin/upgrader")
PATCH = f"packages:\n  mariadb-server: {MARIADB_PATCH}\n  libssl3: security\n"


@pytest.fixture
def work(tmp_path):
    env = {**os.environ, "UPGRADER_RUNS": str(tmp_path / "runs"), "UPGRADER_PLANS": str(tmp_path / "plans")}
    return tmp_path, env


def cli(env, *args, timeout=900):
    return subprocess.run([UPGRADER, *args], capture_output=True, text=True, env=env, timeout=timeout,
                          cwd="/", stdin=subprocess.DEVNULL)


def versions(lab, node) -> dict[str, str]:
    out = ssh(lab, node, "dpkg-query -W -f='${Package} ${Version}\\n' mariadb-server libssl3; "
                         "mariadb -Nse 'SELECT VERSION()'").stdout.split("\n")
    found = dict(line.split(" ", 1) for line in out if " " in line)
    found["server"] = next(line for line in out if "MariaDB" in line)
    return found


class ClusterWatch:
    """Samples each node's wsrep_cluster_size and server version every second during a roll."""

    def __init__(self, lab):
        self.lab, self.samples, self._stop = lab, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import pymysql

        while not self._stop.wait(1.0):
            row = {}
            for node in self.lab.nodes:
                try:
                    conn = pymysql.connect(host=node.address, user="upgrader", password=self.password,
                                           connect_timeout=2)
                    with conn.cursor() as cur:
                        cur.execute("SELECT VERSION(), (SELECT VARIABLE_VALUE FROM information_schema."
                                    "GLOBAL_STATUS WHERE VARIABLE_NAME='WSREP_CLUSTER_SIZE')")
                        row[node.name] = cur.fetchone()
                    conn.close()
                except Exception:  # noqa: BLE001 - the node in its window does not answer
                    pass
            self.samples.append(row)

    def __enter__(self):
        from upgrader.lab import state

        self.password = state.load_secrets(self.lab).mariadb_upgrader_password
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)

    def saw_mixed_versions_at_full_size(self) -> bool:
        return any(len({v for v, _ in row.values()}) > 1 and all(int(s) == 3 for _, s in row.values())
                   and len(row) == 3 for row in self.samples)

    def smallest_size(self) -> int:
        return min(int(s) for row in self.samples for _, s in row.values())


def assert_rolled(report: dict, lab, ssl: str) -> None:
    assert report["result"] == "success", report["message"]
    probe = report["probe"]
    assert probe["failed_operations"] == 0 and probe["lost_writes"] == 0, probe
    for name, node in report["nodes"].items():
        assert node["state"] == "done" and node["transfer"] == "IST", (name, node)
        assert node["version_before"]["mariadb-server"] == MARIADB_INSTALLED
        assert node["version_after"]["mariadb-server"] == MARIADB_PATCH
        if ssl:
            assert node["version_after"]["libssl3"] == ssl
        assert node["server_version"].startswith("10.11.19-MariaDB"), node
        assert node["stale_libraries_after"] == [], node
        now = versions(lab, lab.node(name))
        assert now["mariadb-server"] == MARIADB_PATCH and now["server"].startswith("10.11.19-")
        if ssl:
            assert now["libssl3"] == ssl
        # every process but SSH sessions (this check's own among them): those keep the
        # old library until they end, as needrestart reports them
        stale = ssh(lab, lab.node(name), "l=$(cat /run/sshd.pid); for m in $(grep -l 'libssl.so.3 "
                                         "(deleted)' /proc/[0-9]*/maps 2>/dev/null); do p=${m#/proc/}; "
                                         "p=${p%/maps}; c=$(cat /proc/$p/comm); [ $c = sshd ] && "
                                         "[ $p != $l ] && continue; echo $c[$p]; done; true")
        assert stale.stdout.strip() == "", f"{name}: processes still map the old libssl: {stale.stdout}"


def summary(what: str, wall_s: float, report: dict) -> str:
    """The figures a closing note quotes (pytest -rA shows them in CI's log)."""
    p = report.get("probe") or {}
    nodes = "; ".join(f"{n} window {v['window_s']} s {v['transfer']} server {v.get('server_version')}"
                      for n, v in report["nodes"].items())
    return (f"{what}: {wall_s:.1f} s; {nodes}; probe {p.get('operations')} operations, "
            f"{p.get('failed_operations')} failed, {p.get('lost_writes')} lost writes, p99 "
            f"{(p.get('baseline') or {}).get('p99_ms')} -> {(p.get('during') or {}).get('p99_ms')} ms")


def plan_from(env, tmp: Path, text: str) -> dict:
    (tmp / "target.yml").write_text(text)
    cp = cli(env, "plan", "--target-file", str(tmp / "target.yml"), "--json")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    return json.loads(cp.stdout)


def test_patch_roll_moves_every_host_by_ist_with_zero_failed_operations(lab, lab_secrets, work):
    tmp, env = work
    ssl = openssl_patch()
    for node in lab.nodes:
        assert versions(lab, node)["mariadb-server"] == MARIADB_INSTALLED
    plan = plan_from(env, tmp, PATCH)
    for node in plan["nodes"].values():
        moves = {c["name"]: c["to_version"] for c in node["package_changes"]}
        assert moves["mariadb-server"] == MARIADB_PATCH and (not ssl or moves["libssl3"] == ssl)
    started = time.monotonic()
    with ClusterWatch(lab) as watch:
        cp = cli(env, "apply", "--yes", "--json")
    assert cp.returncode == 0, cp.stderr[-3000:]
    report = json.loads(cp.stdout)
    print(summary("patch roll", time.monotonic() - started, report))
    assert_rolled(report, lab, ssl)
    assert watch.saw_mixed_versions_at_full_size(), "never saw 10.11.18 and 10.11.19 together at size 3"
    assert health.check(lab, lab_secrets).healthy


def _first_node(plan: dict) -> str:
    return plan["order"][0]


def test_combined_roll_stops_on_a_held_package_then_finishes_after_the_fix(lab, lab_secrets, work):
    tmp, env = work
    say = lambda phase, detail: print(f"[lab] {phase}: {detail}")   # noqa: E731
    lifecycle.down(lab, say)              # back to MariaDB 10.11.18, Keystone 28.1.0
    lifecycle.up(lab, say)
    lab_secrets = state.load_secrets(lab)   # a new lab has new passwords
    ssl = openssl_patch()
    # NOTE: the hold is the operator's, from before the plan (a hold set after it is drift)
    first = lab.node("node2")                  # the first node of a fresh lab's roll
    ssh(lab, first, "apt-mark hold mariadb-server >/dev/null")
    try:
        plan = plan_from(env, tmp, f"releases:\n  keystone: {lab.keystone_target}\n{PATCH}")
        assert _first_node(plan) == first.name
        cp = cli(env, "apply", "--yes")
        assert cp.returncode == 1, cp.stdout[-3000:] + cp.stderr[-2000:]
        st = json.loads(cli(env, "status", "--json").stdout)
        failed = st["nodes"][first.name]
        assert failed["state"] == "failed" and failed["failed_step"] == "upgrade", failed
        assert "mariadb-server" in failed["error"], failed["error"]
        others = [n for n in lab.nodes if n.name != first.name]
        for node in others:
            out = ssh(lab, node, "mariadb -Nse \"SHOW STATUS WHERE Variable_name IN "
                                 "('wsrep_local_state_comment','wsrep_cluster_status')\"").stdout
            assert "Synced" in out and "Primary" in out, out
        servers = {(s.backend, s.server): s.status for s in
                   haproxy.parse_stat(haproxy.show_stat(str(lab.haproxy_socket)))}
        assert servers[("mariadb", first.name)] == "MAINT" and servers[("keystone", first.name)] == "MAINT"
        code, _ = health.issue_token(lab.vip, lab_secrets.keystone_admin_password)
        assert code == 201
    finally:
        ssh(lab, first, "apt-mark unhold mariadb-server >/dev/null")
    started = time.monotonic()
    cp = cli(env, "apply", "--yes", "--json")           # fixed: apply re-runs the failed step
    assert cp.returncode == 0, cp.stderr[-3000:]
    report = json.loads(cp.stdout)
    assert_rolled(report, lab, ssl)
    for name, node in report["nodes"].items():
        assert node["version_after"]["keystone"] == lab.keystone_target
    print(summary("combined roll (after the fix)", time.monotonic() - started, report))
    assert health.check(lab, lab_secrets).healthy
