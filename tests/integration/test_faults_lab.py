"""Faults during a roll, on the real lab: each injected while node2 is out, under the probe.

Each test starts a patch roll (`plan --patch`, `apply --yes --probe`), injects one fault
in node2's window, and checks the outcome an operator relies on: the cluster keeps a
Primary component (garbd, the roll's arbitrator, is the third vote), no acknowledged
write is lost, the watcher names the fault within seconds, the node in flight comes
back, and the run stops before the next node with the reason. The figures go into
docs/reliability.md, which this module writes (generated, not hand-kept).
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from statistics import median
from types import SimpleNamespace

import pymysql
import pytest

from upgrader import exitcodes
from upgrader.executor import leftovers
from upgrader.executor.session import ProbeOptions, start_probe
from upgrader.facts import haproxy as haproxy_facts
from upgrader.inventory import load_cluster, load_secrets
from upgrader.lab import garbd, health, lifecycle
from upgrader.lab.sh import ssh
from upgrader.machine import NODE_STEPS
from waits import wait_until

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
UPGRADER = str(ROOT / ".venv/bin/upgrader")
DOC = ROOT / "docs" / "reliability.md"
RUNS = ROOT / "runs"          # where `apply` from / puts runs: the checkout's runs/ (docs/cli.md)
PLANS = ROOT / "plans"
STATE = Path("/var/lib/upgrader")   # the cluster's lock and current-run pointer (docs/cli.md)
ROWS: list[dict] = []


@pytest.fixture(scope="module", autouse=True)
def reliability_doc():
    yield
    if ROWS:
        DOC.write_text(render_doc(ROWS))


@pytest.fixture(autouse=True)
def healed_after(lab, lab_secrets):
    """A failed test must not cost the next ones: links up, an unfinished run ended (abort;
    the node in flight is finished first: before `lab up`, which would start the services
    of a node stopped mid-window, and its `upgrade` then refuses to run under them), then
    stopped servers started (lab up). A lab that is still not whole is rebuilt."""
    yield
    for node in lab.nodes:
        subprocess.run(["ip", "-n", node.netns, "link", "set", "eth0", "up"], check=False, timeout=10)
    if run_unfinished():
        cli("abort")
        try:
            cli("apply", "--yes", "--no-probe", timeout=600)
        except subprocess.TimeoutExpired:
            print("[heal] the apply that ends the run did not end in 600 s")
    if run_unfinished() or not health.check(lab, lab_secrets).healthy:
        say = lambda phase, detail: print(f"[heal] {phase}: {detail}")  # noqa: E731
        try:
            lifecycle.up(lab, say)
        except Exception as e:  # noqa: BLE001 - whatever broke, the rebuild below is the answer
            print(f"[heal] lab up failed: {e}")
        if run_unfinished() or not health.settled(lab, lab_secrets, timeout=30).healthy:
            print("[heal] still not whole: the lab is rebuilt")
            lifecycle.down(lab, say)
            lifecycle.up_fresh(lab, say, lb="dedicated")


def run_unfinished() -> bool:
    st = cli("status", "--json")
    return st.returncode == 0 and json.loads(st.stdout)["run_state"] not in ("done", "aborted")


@pytest.fixture(autouse=True)
def no_secret_seen(lab, lab_secrets):
    """Issue 13's secrets rule, around each fault roll: no lab password on any process's
    command line (sampled every 0.2 s, every PID namespace: the machine sees them all), nor
    in any file the run wrote (journal, report, plan, ansible-runner artifacts, garbd's log);
    every file upgrader wrote in the run directory is 0600, every directory 0700."""
    secrets = [v for v in lab_secrets.values() if len(v) >= 8]
    hits: list[str] = []
    stop = threading.Event()

    def sample():
        while not stop.wait(0.2):
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                if any(v in args for v in secrets):
                    hits.append(f"pid {cmdline.parent.name}: a lab password on its command line")
    before = {p.name for p in RUNS.glob("*")} if RUNS.is_dir() else set()
    plans_before = {p.name for p in PLANS.glob("*.json")} if PLANS.is_dir() else set()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    yield
    stop.set()
    sampler.join(timeout=5)
    assert not hits, hits[:3]
    written = [d for d in RUNS.glob("*") if d.name not in before]
    plans = [f for f in PLANS.glob("*.json") if f.name not in plans_before]
    state = [f for f in STATE.rglob("*") if f.is_file()] if STATE.is_dir() else []
    files = [f for d in written for f in d.rglob("*") if f.is_file()] + plans + state + \
        [f for f in (lab.garbd_dir.glob("*") if lab.garbd_dir.is_dir() else []) if f.is_file()]
    assert written, "the roll wrote no run directory"
    for f in files:
        text = f.read_bytes().decode(errors="replace")
        assert not any(v in text for v in secrets), f"a lab password in {f}"
    for d in written:
        for f in [d, *d.rglob("*")]:
            if f.is_symlink() or "ansible" in f.relative_to(d).parts[:1]:
                continue     # ansible-runner's own tree: its modes are runner's, checked for secrets above
            want = 0o700 if f.is_dir() else 0o600
            assert f.stat().st_mode & 0o777 == want, f"{f}: mode {oct(f.stat().st_mode & 0o777)}"


def render_doc(rows: list[dict]) -> str:
    head = ("| fault | when | outcome | quorum kept | failed operations | lost writes | time to detect |\n"
            "|---|---|---|---|---|---|---|\n")
    body = "".join(f"| {r['fault']} | {r['when']} | {r['outcome']} | {r['quorum']} | {r['failed']} | "
                   f"{r['lost']} | {r['detect']} |\n" for r in rows)
    return ("# Reliability: faults during a roll\n\n"
            "Generated by `tests/integration/test_faults_lab.py` on the lab (a patch roll under the\n"
            "probe; each fault injected while node2 is out). Do not edit: the test suite rewrites it.\n"
            "Failed operations are the probe's (each operation retried once); lost writes are\n"
            "acknowledged rows or confirmed messages missing afterwards; time to detect runs from the\n"
            "injection to the watcher's journal note.\n\n" + head + body)


def add_row(fault: str, when: str, outcome: str, quorum: str, probe: dict, detect: str) -> None:
    """One row of docs/reliability.md; the failed operations and lost writes are the probe's."""
    ROWS.append({"fault": fault, "when": when, "outcome": outcome, "quorum": quorum,
                 "failed": probe["failed_operations"], "lost": probe["lost_writes"], "detect": detect})


def cli(*args, timeout=600):
    return subprocess.run([UPGRADER, *args], capture_output=True, text=True, timeout=timeout,
                          cwd="/", stdin=subprocess.DEVNULL)


def start_apply():
    return subprocess.Popen([UPGRADER, "apply", "--yes", "--probe", "--baseline", "3"], cwd="/",
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)


@contextmanager
def patch_roll_until(step: str):
    """A patch roll under the probe, handed over once node2's ``step`` has finished;
    the apply is stopped (SIGTERM) if a failed assertion leaves it running."""
    assert cli("plan", "--patch").returncode == 0
    previous = current_run_id()
    proc = start_apply()
    try:
        # NOTE: the new run, not the last one: until apply registers it, status shows the old
        wait_until(lambda: current_run_id() not in ("", previous), what="the new run to exist")
        journal = journal_of_current_run()
        wait_record(journal, lambda r: r["type"] == "step_finished" and r.get("node") == "node2"
                    and r.get("step") == step and r.get("ok"), what=f"node2's {step}")
        yield proc, journal
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


def current_run_id() -> str:
    cp = cli("status", "--json")
    return json.loads(cp.stdout)["run_id"] if cp.returncode == 0 else ""


def journal_of_current_run() -> Path:
    doc = json.loads(cli("status", "--json").stdout)
    return Path(doc["run_dir"]) / "journal.jsonl"


def records(journal: Path) -> list[dict]:
    out = []
    for line in journal.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def wait_record(journal: Path, predicate, timeout=300, what="record", interval=0.5) -> dict:
    found: list[dict] = []

    def seen():
        found[:] = [r for r in (records(journal) if journal.exists() else []) if predicate(r)]
        return bool(found)
    wait_until(seen, timeout=timeout, what=what, interval=interval)
    return found[0]


def step_in_flight(journal: Path) -> tuple[str, str] | None:
    """(node, step) of the step the journal shows started and not finished, if any."""
    open_steps: dict[tuple[str, str], dict] = {}
    for r in records(journal):
        key = (r.get("node", ""), r.get("step", ""))
        if r["type"] in ("step_started", "step_finished"):
            open_steps.pop(key, None)
        if r["type"] == "step_started":
            open_steps[key] = r
    return list(open_steps)[-1] if open_steps else None


def ts(record: dict) -> float:
    return datetime.fromisoformat(record["ts"]).timestamp()


# SIGKILL mysqld_safe (so it does not restart the server), then mariadbd: a crash
KILL_MARIADB = ("p=$(cat /run/mysqld/mysqld.pid); s=$(awk '/^PPid/ {print $2}' /proc/$p/status); "
                "[ \"$(cat /proc/$s/comm)\" = mysqld_safe ] && kill -9 $s; kill -9 $p")


def crash_mariadb(lab, node: str) -> float:
    """The node's MariaDB crashed (KILL_MARIADB); when, as the epoch."""
    at = time.time()
    ssh(lab, lab.node(node), KILL_MARIADB, timeout=30)
    return at


def primary(lab, secrets, node: str) -> dict:
    conn = pymysql.connect(host=lab.node(node).address, user="upgrader",
                           password=secrets.mariadb_upgrader_password, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN "
                        "('wsrep_cluster_status', 'wsrep_cluster_size')")
            return dict(cur.fetchall())
    finally:
        conn.close()


def write_through_vip(lab, secrets, tries: int = 4) -> None:
    """A write commits through the VIP. NOTE: retried, 2 s apart: a crashed writer is only
    taken out of HAProxy's pool after its failed checks (fall 2, inter 1 s)."""
    for attempt in range(tries):
        try:
            conn = pymysql.connect(host=lab.vip, user="upgrader", password=secrets.mariadb_upgrader_password,
                                   connect_timeout=5, autocommit=True)
            try:
                with conn.cursor() as cur:
                    cur.execute("CREATE DATABASE IF NOT EXISTS upgrader_faults")
                    cur.execute("CREATE TABLE IF NOT EXISTS upgrader_faults.w (id INT AUTO_INCREMENT PRIMARY KEY)")
                    cur.execute("INSERT INTO upgrader_faults.w VALUES ()")
                return
            finally:
                conn.close()
        except pymysql.err.OperationalError:
            if attempt == tries - 1:
                raise
            time.sleep(2)


def last_run_of(journal: Path, node: str, step: str) -> dict:
    """The step's last step_started and step_finished records, by type."""
    return {r["type"]: r for r in records(journal) if r.get("node") == node and r.get("step") == step
            and r["type"] in ("step_started", "step_finished")}


def node2_failed_and_the_others_serving(lab, secrets, step: str, error: str) -> None:
    """The run stopped with node2 failed at ``step``, its error naming ``error``; the other
    nodes untouched and each in the Primary component; a write through the VIP commits."""
    st = json.loads(cli("status", "--json").stdout)
    assert st["nodes"]["node2"]["state"] == "failed", st["nodes"]
    assert st["nodes"]["node2"]["failed_step"] == step, st["nodes"]
    assert error in st["nodes"]["node2"]["error"], st["nodes"]["node2"]
    assert {st["nodes"][n]["state"] for n in ("node1", "node3")} == {"pending"}, st["nodes"]
    for survivor in ("node1", "node3"):
        status = primary(lab, secrets, survivor)
        assert status["wsrep_cluster_status"] == "Primary", status
    write_through_vip(lab, secrets)


def finish(proc) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=600)
    return proc.returncode, out


def report_of(journal: Path) -> dict:
    return json.loads((journal.parent / "report.json").read_text())


def abort_and_check_clean(lab, secrets, proc) -> tuple[int, str]:
    """Abort the waiting run: it ends at once (no node in flight), garbd leaves, the lab healthy."""
    assert cli("abort").returncode == 0
    rc, out = finish(proc)
    assert garbd.pid(lab) is None, "garbd left running after the abort"
    h = health.settled(lab, secrets, timeout=60)
    assert h.healthy, h.problems
    return rc, out


def paused_before_the_next_node(journal: Path, after: float = 0.0) -> None:
    """The watcher's pause held the run after node2 came back by IST, before node3
    (a pause after ``after``: an earlier one may have ended an earlier apply)."""
    wait_record(journal, lambda r: r["type"] == "run_state" and r.get("dest") == "paused" and ts(r) > after,
                timeout=240, what="the run to pause")
    st = json.loads(cli("status", "--json").stdout)
    assert st["paused"] and st["pause_reason"] == "cluster_fault", st
    states = {n: v["state"] for n, v in st["nodes"].items()}
    assert states == {"node2": "done", "node3": "pending", "node1": "pending"}, states
    assert st["nodes"]["node2"]["transfer"] == "IST", st["nodes"]


def node2_servers(lab) -> list[str]:
    return [s.status for s in haproxy_facts.parse_stat(haproxy_facts.show_stat(str(lab.haproxy_socket)))
            if s.server == "node2"]


def reload_haproxy(lab) -> float:
    """A soft reload, as configuration management does it: the new process forgets MAINT."""
    old = int(lab.haproxy_pidfile.read_text().split()[0])
    at = time.time()
    subprocess.run(["haproxy", "-D", "-p", str(lab.haproxy_pidfile), "-f",
                    str(lab.haproxy_dir / "haproxy.cfg"), "-sf", str(old)], check=True, timeout=30)
    return at


# NOTE: the node3 case also reloads HAProxy once node2 is drained, before its services stop:
# two faults in one window, and one roll fewer for CI's time budget.
@pytest.mark.parametrize(("victim", "reload"), [("node3", True), ("node1", False)])
def test_a_second_node_crashing_in_a_window_keeps_quorum_and_stops_the_roll(lab, lab_secrets, victim, reload):
    with patch_roll_until("drain_rabbitmq") as (proc, journal):
        if reload:
            reloaded_at = reload_haproxy(lab)
            redrain = wait_record(journal, lambda r: r["type"] == "note" and r.get("reason") == "redrained",
                                  timeout=30, what="the watcher's redrain note")
            redrain_s = ts(redrain) - reloaded_at
            # one note per backend, a few ms apart: wait for both servers, not the first note
            wait_until(lambda: all(st.startswith("MAINT") for st in node2_servers(lab)), timeout=10,
                       what="node2's servers back in MAINT")
        wait_record(journal, lambda r: r["type"] == "step_finished" and r.get("node") == "node2"
                    and r.get("step") == "stop_services" and r.get("ok"), what="node2's stop_services")
        crashed_at = crash_mariadb(lab, victim)
        note = wait_record(journal, lambda r: r["type"] == "note" and r.get("reason") == "cluster_fault",
                           timeout=30, what="the watcher's fault note")
        detect_s = ts(note) - crashed_at
        assert victim in note["message"]
        survivor = "node1" if victim == "node3" else "node3"
        status = primary(lab, lab_secrets, survivor)
        assert status["wsrep_cluster_status"] == "Primary", status   # garbd's vote
        write_through_vip(lab, lab_secrets)
        # node2 comes back (its return restores a copy of the data); the run then waits,
        # paused, before the next node
        paused_before_the_next_node(journal)
        ssh(lab, lab.node(victim), "service mariadb start >/dev/null 2>&1", timeout=120)
        rc, out = abort_and_check_clean(lab, lab_secrets, proc)
    assert rc == exitcodes.ABORTED, out
    assert "Traceback" not in out
    rep = report_of(journal)
    assert rep["result"] == "aborted"
    probe = rep["probe"]
    assert probe["lost_writes"] == 0, probe
    if reload:
        add_row("HAProxy soft reload (`-sf`), MAINT states forgotten",
                "node2 drained, before its services stop (same window as the next row)",
                "watcher put node2's servers back in MAINT before its services stopped; the roll went on",
                "yes", probe, f"{redrain_s:.1f} s")
    add_row(f"{victim} mariadbd killed (SIGKILL, with mysqld_safe)", "node2 out (after stop_services)",
            "node2 finished by IST; roll paused before the next node (cluster_fault); "
            f"after `service mariadb start` on {victim}, abort: garbd left, cluster healthy",
            f"yes ({survivor} + garbd Primary)", probe, f"{detect_s:.1f} s")


def test_a_node_cut_from_the_network_in_a_window_pauses_the_roll(lab, lab_secrets):
    """Link down in node3's namespace while node2 is out: no refusal, only silence (timeouts)."""
    ns = lab.node("node3").netns
    with patch_roll_until("stop_services") as (proc, journal):
        cut_at = time.time()
        subprocess.run(["ip", "-n", ns, "link", "set", "eth0", "down"], check=True, timeout=10)
        try:
            note = wait_record(journal, lambda r: r["type"] == "note" and r.get("reason") == "cluster_fault",
                               timeout=30, what="the watcher's fault note")
        finally:
            # NOTE: back within seconds: RabbitMQ's default partition handling (ignore) would
            # keep a partition that outlasted net_ticktime (about a minute) after the link returns
            subprocess.run(["ip", "-n", ns, "link", "set", "eth0", "up"], check=True, timeout=10)
        detect_s = ts(note) - cut_at
        assert "node3" in note["message"], note
        assert "quorum" not in note["message"]          # silence is not proof of a lost quorum
        paused_before_the_next_node(journal)
        rc, out = abort_and_check_clean(lab, lab_secrets, proc)
    assert rc == exitcodes.ABORTED, out
    probe = report_of(journal)["probe"]
    assert probe["lost_writes"] == 0, probe
    add_row("node3's link down in its namespace for about 10 s (silence, not refusal)",
            "node2 out (after stop_services)",
            "node2 finished by IST; roll paused before the next node (cluster_fault); "
            "link back, node3 rejoined by itself; abort: garbd left, cluster healthy",
            "yes (node1 + garbd Primary)", probe, f"{detect_s:.1f} s")


# The drain's CLI failing once after it drained (as `rabbitmq-upgrade drain` has exited 69 on
# some versions): a wrapper ahead of Debian's /usr/sbin/rabbitmqctl on node2's PATH runs the
# real drain, records its exit, and exits 69. The step must read the maintenance flag, not
# the exit code: its retry finds the broker already drained and goes on.
DRAIN_FAILS_ONCE = """#!/bin/sh
case "$*" in *rabbit_maintenance:drain*)
  if [ ! -e /var/lib/upgrader-test-drain-failed ]; then
    /usr/sbin/rabbitmqctl "$@" >/dev/null 2>&1
    echo $? > /var/lib/upgrader-test-drain-failed
    exit 69
  fi;;
esac
exec /usr/sbin/rabbitmqctl "$@"
"""


@contextmanager
def drain_cli_failing_once(lab):
    node2 = lab.node("node2")
    ssh(lab, node2, "rm -f /var/lib/upgrader-test-drain-failed; cat > /usr/local/sbin/rabbitmqctl && "
                    "chmod 755 /usr/local/sbin/rabbitmqctl", input=DRAIN_FAILS_ONCE)
    try:
        yield lambda: ssh(lab, node2, "cat /var/lib/upgrader-test-drain-failed 2>/dev/null",
                          check=False).stdout.strip()
    finally:
        ssh(lab, node2, "rm -f /usr/local/sbin/rabbitmqctl /var/lib/upgrader-test-drain-failed", check=False)


# NOTE: two faults in one window, one roll fewer for CI's time budget: the drain's CLI
# failing although it drained, then the memory alarm on another broker.
def test_a_failing_drain_cli_is_read_by_its_flag_and_a_rabbitmq_alarm_pauses_the_roll(lab, lab_secrets):
    """node2's drain exits 69 after draining: the step goes on, from the maintenance flag.
    Then a memory alarm on node3's broker (the watermark set to 0, as a full host would):
    RabbitMQ blocks every publisher in the cluster; the watcher pauses the roll."""
    with drain_cli_failing_once(lab) as drain_exit, patch_roll_until("drain_rabbitmq") as (proc, journal):
        assert drain_exit() == "0", "the failing CLI was not called: the real drain's exit, then 69"
        drained = [r for r in records(journal) if r["type"] == "step_finished" and r.get("node") == "node2"
                   and r.get("step") == "drain_rabbitmq"]
        assert [r["ok"] for r in drained] == [True], drained      # one run, no failure
        assert drained[0]["rabbitmq_drain_result"] == "already", drained   # the retry read the flag
        alarmed_at = time.time()
        ssh(lab, lab.node("node3"), "rabbitmqctl -q set_vm_memory_high_watermark 0", timeout=60)
        try:
            note = wait_record(journal, lambda r: r["type"] == "note" and r.get("reason") == "cluster_fault",
                               timeout=60, what="the watcher's fault note")
        finally:
            ssh(lab, lab.node("node3"), "rabbitmqctl -q set_vm_memory_high_watermark 0.4", timeout=60)
        detect_s = ts(note) - alarmed_at
        assert "alarm" in note["message"], note
        paused_before_the_next_node(journal)
        rc, out = abort_and_check_clean(lab, lab_secrets, proc)
    assert rc == exitcodes.ABORTED, out
    probe = report_of(journal)["probe"]
    assert probe["lost_writes"] == 0, probe
    add_row("node2's drain CLI exits 69 although its broker is drained (as `rabbitmq-upgrade drain` has "
            "on some versions; same window as the next row)",
            "node2's drain_rabbitmq",
            "the step read the maintenance flag (its retry 0.5 s later: already drained) and went on",
            "yes", probe, f"{drained[0]['duration_s']:.1f} s (the whole step)")
    add_row("RabbitMQ memory alarm on node3 (watermark 0: every publisher blocked), lifted once seen",
            "node2 drained (after drain_rabbitmq)",
            "node2 finished by IST; roll paused before the next node (cluster_fault); "
            "abort: garbd left, cluster healthy",
            "yes (Galera untouched)", probe, f"{detect_s:.1f} s")


def test_both_other_nodes_crashing_stops_the_roll_with_the_recovery(lab, lab_secrets):
    """No quorum left: the wait for Synced is cancelled within seconds, the run stops with
    the recovery printed, and the printed recovery brings the cluster back."""
    with patch_roll_until("stop_services") as (proc, journal):
        crashed_at = crash_mariadb(lab, "node3")
        crash_mariadb(lab, "node1")
        note = wait_record(journal, lambda r: r["type"] == "note" and r.get("reason") == "cluster_fault"
                           and "quorum" in r.get("message", ""), timeout=60, what="the quorum-lost note")
        detect_s = ts(note) - crashed_at
        rc, out = finish(proc)
    assert rc == exitcodes.FAILED, out
    assert "Traceback" not in out
    assert "Galera lost its quorum" in out, out
    assert "pc.bootstrap=YES" in out or "galera_new_cluster" in out, out    # the exact recovery
    rep = report_of(journal)
    assert rep["nodes"]["node2"]["state"] == "failed", rep["nodes"]["node2"]
    failed_step = rep["nodes"]["node2"].get("failed_step") or ""
    stopped_s = ts(records(journal)[-1]) - crashed_at
    # the recovery: start the crashed servers; Galera's pc.recovery re-forms the last Primary
    # (node1 + garbd) when its members meet again; else bootstrap the most advanced, as printed
    for node in ("node1", "node3"):
        ssh(lab, lab.node(node), "setsid service mariadb start </dev/null >/dev/null 2>&1 &", timeout=30)
    bootstrapped = recover_primary(lab, lab_secrets)
    assert cli("abort").returncode == 0
    rc = cli("apply", "--yes", "--no-probe", timeout=600).returncode   # retries node2, then aborts
    assert rc == exitcodes.ABORTED
    assert garbd.pid(lab) is None
    h = health.settled(lab, lab_secrets, timeout=120)
    assert h.healthy, h.problems
    probe = rep["probe"]
    ROWS.append({"fault": "node3 then node1 mariadbd killed (no quorum left)",
                 "when": "node2 out (after stop_services)",
                 "outcome": f"node2's wait cancelled, run failed at {failed_step or '?'} in {stopped_s:.0f} s "
                            "with the recovery printed; recovered by "
                            + ("pc.bootstrap on the most advanced node" if bootstrapped
                               else "restarting the crashed servers (pc.recovery)")
                            + "; abort: node2 finished, garbd left",
                 "quorum": "no (stopped, recovery printed)",
                 "failed": probe.get("failed_operations"),
                 "lost": probe.get("lost_writes") if probe.get("lost_writes") is not None
                 else "not checked at the stop (no node served reads)",
                 "detect": f"{detect_s:.1f} s"})


def recover_primary(lab, secrets, wait_s: float = 45) -> bool:
    """A Primary again: True when it took `upgrader recover --bootstrap` (the printed way)."""
    def verdict() -> dict:
        cp = cli("recover", "--json")
        assert cp.returncode in (0, 1), cp.stdout + cp.stderr
        return json.loads(cp.stdout)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if verdict()["primary"]:
            return False        # Galera's pc.recovery re-formed the last Primary by itself
        time.sleep(2)
    seen = verdict()
    assert seen["most_advanced"], seen
    assert f"--bootstrap {seen['most_advanced']}" in seen["verdict"], seen
    cp = cli("recover", "--bootstrap", seen["most_advanced"], "--yes")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert verdict()["primary"]
    return True


def lab_probe(lab, run: str):
    """The probe `apply --probe` runs, started here: it spans every apply of a crashing roll."""
    cluster = load_cluster(lab.inventory_file)
    return start_probe(cluster, load_secrets(cluster), run, ProbeOptions(enabled=True, baseline_s=3))


# the states of the walk: the roll's own cluster steps and each step of node2's machine
KILL_POINTS = (("", "galera_arbitrator_join"), *(("node2", s) for s in NODE_STEPS),
               ("", "galera_arbitrator_leave"))


def test_apply_killed_at_each_state_of_a_node_resumes_and_finishes_the_roll(lab, lab_secrets):
    """SIGKILL `upgrader apply` as each of node2's steps (and the roll's arbitrator steps)
    starts, then `apply` again: every resume stops the killed apply's playbook (which runs
    on without it), re-runs the step in flight, and node2 ends whole, under the probe.
    The run is aborted after node2 (one window, not three, for CI's time budget): the
    arbitrator's leave then follows node2, and is killed too."""
    assert cli("plan", "--patch").returncode == 0
    previous = current_run_id()
    probe = lab_probe(lab, run=f"killwalk-{int(time.time())}")
    journal, resumes, killed, proc = None, [], None, None
    hits: list[tuple[str, str]] = []          # the steps in flight when apply was killed
    passed_over: list[tuple[str, str]] = []   # kill points a step faster than the kill went past
    try:
        for node, step in KILL_POINTS:
            if (node, step) in hits or (node, step) in passed_over:
                continue
            if step == "galera_arbitrator_leave":
                assert cli("abort").returncode == 0     # node2 completes, then garbd leaves
            applied_at = time.time()
            proc = subprocess.Popen([UPGRADER, "apply", "--yes", "--no-probe"], cwd="/",
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    stdin=subprocess.DEVNULL)
            if journal is None:
                wait_until(lambda: current_run_id() not in ("", previous), what="the new run to exist")
                journal = journal_of_current_run()
            elif killed is not None:      # the resume: how soon the killed step runs again
                again = wait_record(journal, lambda r: r["type"] == "step_started" and r.get("attempt", 1) >= 2
                                    and (r.get("node"), r.get("step")) == killed,
                                    timeout=300, what=f"{killed} to run again")
                resumes.append(ts(again) - applied_at)
            # NOTE: polled fast: drain_db and resync_galera can end within 0.4 s of their start
            wait_record(journal, lambda r: r["type"] == "step_started" and r.get("node") == node
                        and r.get("step") == step and r.get("attempt") == 1,
                        timeout=300, what=f"{node or 'the cluster'}'s {step} to start", interval=0.02)
            proc.kill()
            proc.wait(timeout=30)
            # the kill may still land after the step ended: the walk goes on from where it landed
            killed = step_in_flight(journal)
            landed = KILL_POINTS.index(killed) if killed in KILL_POINTS else KILL_POINTS.index((node, step)) + 1
            passed_over += KILL_POINTS[KILL_POINTS.index((node, step)):landed]
            if killed is not None:
                hits.append(killed)
        finished = cli("apply", "--yes", "--no-probe", timeout=600)
    finally:
        if proc is not None and proc.poll() is None:     # a failed wait: the healing fixture needs the lock
            proc.kill()
            proc.wait(timeout=30)
        figures = probe.stop({}, strict=False)
    assert finished.returncode == exitcodes.ABORTED, finished.stdout + finished.stderr
    rep = report_of(journal)
    assert rep["result"] == "aborted", rep
    assert {n: v["state"] for n, v in rep["nodes"].items()} == \
        {"node2": "done", "node3": "pending", "node1": "pending"}, rep["nodes"]
    assert rep["nodes"]["node2"]["transfer"] == "IST", rep["nodes"]
    recs = records(journal)
    # at most one kill point passed over (by a step that ended between the poll and the kill)
    assert len(passed_over) <= 1 and len(hits) >= len(KILL_POINTS) - 1, (hits, passed_over)
    for node, step in hits:       # each killed step ran again, and ended well
        runs = [r for r in recs if r["type"] == "step_finished" and r.get("node") == node
                and r.get("step") == step]
        again = [r for r in recs if r["type"] == "step_started" and r.get("node") == node
                 and r.get("step") == step and r.get("attempt", 1) >= 2]
        assert again and runs and runs[-1]["ok"], (node, step, runs)
    stopped = [r for r in recs if r["type"] == "note" and r.get("reason") == "leftovers"]
    # NOTE: a killed apply's playbook mostly dies with it (its pty hangs up); what outlives
    # it (a worker in its own session) is stopped by the resume, and nothing may be left
    assert not leftovers.marked_pids(journal.parent), "a killed apply's playbook still runs"
    assert garbd.pid(lab) is None
    h = health.settled(lab, lab_secrets, timeout=60)
    assert h.healthy, h.problems
    assert figures["lost_writes"] == 0, figures
    assert figures["failed_operations"] == 0, figures
    missed = f" ({', '.join(s for _, s in passed_over)} ended before its kill)" if passed_over else ""
    add_row(f"`upgrader apply` killed (SIGKILL) {len(hits)} times, then `apply` again",
            f"as each step of node2 starts, and the roll's garbd join and leave{missed}",
            f"each resume re-ran the killed step (and stopped what a killed playbook left running: "
            f"{len(stopped)} of {len(hits)} times); node2 finished by IST, the abort after it "
            "ended the run (garbd left), nothing of the killed runs left",
            "yes", figures, f"resume: the killed step again {median(resumes):.1f} s after `apply`")


def drop_ssh(run_dir: Path, address: str) -> list[int]:
    """SIGKILL the roll's SSH clients to one host (by pid: the ssh processes of this roll's
    playbook runs whose command line names the host): the connection drops in the middle of
    a task, as a network blip or a killed sshd session does."""
    pids = []
    for pid, command in leftovers.marked_processes(run_dir):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if command == "ssh" and address.encode() in args:
            pids.append(pid)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    return pids


# NOTE: two faults in one window, one roll fewer for CI's time budget: the SSH drop in
# rejoin_galera, then the broker that cannot boot (its file broken before the rejoin).
def test_an_ssh_drop_reruns_the_step_and_a_broker_that_cannot_boot_fails_its_revive_in_seconds(lab, lab_secrets):
    """node2's rabbitmq.conf gets a line RabbitMQ rejects while its services are stopped, and
    the playbook's SSH connection to node2 is cut while node2 waits for Synced. Ansible
    reports the host unreachable and upgrader runs rejoin_galera again (steps are
    idempotent); revive_rabbitmq then fails as soon as the broker has exited, with its
    reason, not after its whole wait; the run stops with node2 failed and the others
    serving. With the file repaired, `apply` again re-runs the step and node2 finishes."""
    conf = "/etc/rabbitmq/rabbitmq.conf"
    node2 = lab.node("node2")
    with patch_roll_until("stop_services") as (proc, journal):
        ssh(lab, node2, f"cp -p {conf} {conf}.saved && echo 'no.such.setting = 1' >> {conf}", timeout=30)
        try:
            wait_record(journal, lambda r: r["type"] == "step_started" and r.get("node") == "node2"
                        and r.get("step") == "rejoin_galera", what="node2's rejoin_galera")
            time.sleep(1)       # mid-task: the start of mariadbd, or the wait for Synced
            dropped_at = time.time()
            dropped = drop_ssh(journal.parent, node2.address)
            assert dropped, "no SSH connection of the roll to node2 was found"
            note = wait_record(journal, lambda r: r["type"] == "note" and r.get("reason") == "reconnect",
                               timeout=60, what="the reconnect note")
            rc, out = finish(proc)
        finally:
            ssh(lab, node2, f"mv {conf}.saved {conf}", timeout=30)
    reconnect_s = ts(note) - dropped_at
    assert "node2's rejoin_galera" in note["message"], note
    assert rc == exitcodes.FAILED, out
    assert "Traceback" not in out
    rejoins = [r["ok"] for r in records(journal) if r["type"] == "step_finished"
               and r.get("node") == "node2" and r.get("step") == "rejoin_galera"]
    assert rejoins == [False, True], rejoins
    revive = last_run_of(journal, "node2", "revive_rabbitmq")
    assert not revive["step_finished"]["ok"], revive
    revive_s = ts(revive["step_finished"]) - ts(revive["step_started"])
    node2_failed_and_the_others_serving(lab, lab_secrets, "revive_rabbitmq", "not running")
    probe = report_of(journal)["probe"]          # the failed apply's: the one that ran in the window
    assert cli("abort").returncode == 0          # the retry finishes node2, then the run ends
    again = cli("apply", "--yes", "--no-probe", timeout=600)
    assert again.returncode == exitcodes.ABORTED, again.stdout + again.stderr
    rep = report_of(journal)
    assert rep["nodes"]["node2"]["state"] == "done", rep["nodes"]["node2"]
    assert rep["nodes"]["node2"]["transfer"] == "IST", rep["nodes"]["node2"]
    assert rep["nodes"]["node2"]["attempts"]["revive_rabbitmq"] >= 2, rep["nodes"]["node2"]
    assert garbd.pid(lab) is None
    h = health.settled(lab, lab_secrets, timeout=90)
    assert h.healthy, h.problems
    assert probe["lost_writes"] == 0, probe
    assert probe["failed_operations"] == 0, probe
    add_row("the roll's SSH connection to node2 cut (its ssh client killed) mid-task",
            "node2's rejoin_galera (mariadbd starting, the wait for Synced; same window as the next row)",
            "Ansible: host unreachable; upgrader ran the step again (idempotent) and node2 rejoined by IST",
            "yes", probe, f"{reconnect_s:.1f} s")
    add_row("node2's broker cannot boot (a setting RabbitMQ rejects, added while it is stopped)",
            "node2 out (after stop_services)",
            "revive_rabbitmq failed once the broker had exited, naming it; run failed with node2 "
            "failed and the others serving; file repaired, `apply` again: node2 finished by IST, "
            "abort: garbd left, cluster healthy",
            "yes", probe, f"{revive_s:.1f} s (revive_rabbitmq start to its failure)")


FAULT_MOUNT = "/run/upgrader-fault-datadir"     # node2's small volume for its datadir


@contextmanager
def datadir_on_a_volume_of_its_own(lab, secrets, node, headroom_mb: int = 48):
    """The node's datadir on a small volume of its own, as production often has it: a tmpfs
    (its used size plus ``headroom_mb``) bound over /var/lib/mysql, the server restarted on
    it. Afterwards the server is stopped, the datadir copied back to the host's disk and
    started there: a restart each way, outside any roll (the node rejoins by IST)."""
    into = (f"service mariadb stop >/dev/null 2>&1; mkdir -p {FAULT_MOUNT} && "
            "used=$(du -sm /var/lib/mysql | cut -f1) && "
            f"mount -t tmpfs -o size=$((used + {headroom_mb}))M,mode=755 tmpfs {FAULT_MOUNT} && "
            f"cp -a /var/lib/mysql/. {FAULT_MOUNT}/ && mount --bind {FAULT_MOUNT} /var/lib/mysql && "
            "service mariadb start </dev/null >/dev/null 2>&1")
    ssh(lab, node, into, timeout=180)
    h = health.settled(lab, secrets, timeout=120)
    assert h.healthy, h.problems
    try:
        yield
    finally:
        # NOTE: a failed test can leave a joiner whose shutdown hangs: killed by its pid then
        back = ("timeout 60 service mariadb stop >/dev/null 2>&1; "
                f"if kill -0 $(cat /run/mysqld/mysqld.pid 2>/dev/null) 2>/dev/null; then {KILL_MARIADB}; sleep 1; fi; "
                "umount /var/lib/mysql && "
                f"find /var/lib/mysql -mindepth 1 -delete && cp -a {FAULT_MOUNT}/. /var/lib/mysql/ && "
                f"umount {FAULT_MOUNT} && rmdir {FAULT_MOUNT} && "
                "service mariadb start </dev/null >/dev/null 2>&1")
        ssh(lab, node, back, timeout=180)


def fill_datadir(lab, node) -> str:
    """Take every byte left on the datadir's volume (a file of that size); the bytes left after."""
    script = ("avail=$(df --output=avail -B1 /var/lib/mysql | tail -n 1); "
              "fallocate -l \"$avail\" /var/lib/mysql/filler 2>/dev/null || "
              "dd if=/dev/zero of=/var/lib/mysql/filler bs=1M >/dev/null 2>&1; "
              "df --output=avail -B1 /var/lib/mysql | tail -n 1")
    return ssh(lab, node, script, timeout=60).stdout.strip()


def make_room(lab, node, size_mb: int) -> None:
    """The operator's repair: the filler removed and the volume grown."""
    ssh(lab, node, f"rm -f /var/lib/mysql/filler && mount -o remount,size={size_mb}M {FAULT_MOUNT}", timeout=30)


def bulk_write(lab, secrets, megabytes: int) -> None:
    """Write-sets a joiner will miss, 1 MB each: its IST then lasts seconds, not milliseconds."""
    conn = pymysql.connect(host=lab.vip, user="upgrader", password=secrets.mariadb_upgrader_password,
                           connect_timeout=5, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE IF NOT EXISTS upgrader_faults")
            cur.execute("CREATE TABLE IF NOT EXISTS upgrader_faults.bulk "
                        "(id INT AUTO_INCREMENT PRIMARY KEY, b LONGBLOB)")
            for _ in range(megabytes):
                cur.execute("INSERT INTO upgrader_faults.bulk (b) VALUES (REPEAT('x', 1048576))")
    finally:
        conn.close()


def drop_bulk(lab, secrets) -> None:
    conn = pymysql.connect(host=lab.vip, user="upgrader", password=secrets.mariadb_upgrader_password,
                           connect_timeout=5, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS upgrader_faults.bulk")
    finally:
        conn.close()


def member_again(lab, secrets, node: str) -> bool:
    """The restarted node answers, Primary, in the full cluster (three nodes and garbd)."""
    try:
        status = primary(lab, secrets, node)
    except pymysql.err.OperationalError:
        return False
    return status == {"wsrep_cluster_status": "Primary", "wsrep_cluster_size": "4"}


# the joiner's error log as Galera picks its state-transfer donor (extended regexp)
DONOR_CHOSEN = r"Selected [0-9.]* \([a-z0-9-]*\)\(SYNCED\) as donor"


def follow_error_log(lab, node, ere: str, matches: int = 1) -> subprocess.Popen:
    """The parts of the node's new MariaDB error-log lines that match ``ere``, as they come
    (stdout, one a line), until ``matches`` were seen or 300 s passed."""
    return subprocess.Popen(
        ["ssh", "-F", str(lab.ssh_config), node.name,
         f"timeout 300 tail -n 0 -F /var/log/mysql/error.log | grep --line-buffered -m {matches} -o -E "
         + shlex.quote(ere)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)


class DonorKiller(threading.Thread):
    """Watches the joiner's error log for Galera's donor choice ("Selected 2.0 (node3)(SYNCED)
    as donor") and crashes that donor at once: its IST to the joiner breaks off mid-stream."""

    def __init__(self, lab, joiner):
        super().__init__(daemon=True)
        self.lab, self.donor, self.killed_at = lab, "", 0.0
        self.tail = follow_error_log(lab, joiner, DONOR_CHOSEN)

    def run(self):
        line = self.tail.stdout.readline()
        self.tail.wait(timeout=30)
        if "(" in line:
            self.donor = line.split("(")[1].split(")")[0]
            if self.donor in {n.name for n in self.lab.nodes}:
                self.killed_at = crash_mariadb(self.lab, self.donor)


# NOTE: two faults in one window, one roll fewer for CI's time budget: the full datadir
# fails node2's first rejoin; the repaired rejoin then loses its IST donor mid-stream.
def test_a_full_datadir_fails_the_rejoin_fast_and_a_donor_lost_mid_ist_costs_one_restart(lab, lab_secrets):
    """node2's datadir (on a volume of its own) fills up while its services are stopped:
    rejoin_galera fails within seconds naming the server's own error, and the run stops with
    node2 failed and the others serving. With room made and 100 MB of write-sets node2 has
    missed, `apply` again starts it, and the donor Galera picks for its IST is crashed as
    soon as it is picked. The broken IST leaves the joiner up but Disconnected (Galera:
    "node restart required"): rejoin_galera restarts it once and it catches up by IST from
    the member left; the watcher then pauses the roll for the lost member; with the donor
    restarted, abort ends the run."""
    node2 = lab.node("node2")
    with datadir_on_a_volume_of_its_own(lab, lab_secrets, node2):
        assert cli("plan", "--patch").returncode == 0
        previous = current_run_id()
        probe = lab_probe(lab, run=f"datadir-full-{int(time.time())}")
        proc, full_figures, figures, killer = None, None, None, None
        try:
            proc = subprocess.Popen([UPGRADER, "apply", "--yes", "--no-probe"], cwd="/", text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            wait_until(lambda: current_run_id() not in ("", previous), what="the new run to exist")
            journal = journal_of_current_run()
            # NOTE: no pause holds a node with its services down (machine.HOLD_BEFORE): the
            # fill lands in the 2-3 s between the stop and the rejoin's start of mariadbd
            while not any(r["type"] == "step_finished" and r.get("node") == "node2"
                          and r.get("step") == "stop_services" for r in (records(journal) if journal.exists() else [])):
                time.sleep(0.05)
            avail = fill_datadir(lab, node2)
            filled_at = time.time()
            assert avail == "0", f"node2's datadir volume still has {avail} bytes free"
            rc, out = finish(proc)
            assert rc == exitcodes.FAILED, out
            assert "Traceback" not in out
            rejoin = last_run_of(journal, "node2", "rejoin_galera")
            assert not rejoin["step_finished"]["ok"], rejoin
            full_s = ts(rejoin["step_finished"]) - filled_at
            node2_failed_and_the_others_serving(lab, lab_secrets, "rejoin_galera", "No space left on device")
            # each fault its own probe: the second one may crash the writer
            full_figures, probe = probe.stop({}, strict=False), None
            probe = lab_probe(lab, run=f"donor-lost-{int(time.time())}")

            make_room(lab, node2, size_mb=1024)
            bulk_write(lab, lab_secrets, megabytes=100)
            killer = DonorKiller(lab, node2)
            killer.start()
            time.sleep(1)                         # the tail reads before the rejoin starts
            proc = subprocess.Popen([UPGRADER, "apply", "--yes", "--no-probe"], cwd="/", text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            killer.join(timeout=240)
            assert killer.donor in ("node1", "node3"), f"no donor was seen or crashed ({killer.donor!r})"
            note = wait_record(journal, lambda r: r["type"] == "note" and r.get("reason") == "cluster_fault"
                               and ts(r) > killer.killed_at, timeout=60, what="the watcher's note of the lost donor")
            detect_s = ts(note) - killer.killed_at
            paused_before_the_next_node(journal, after=killer.killed_at)
            lost = [r for r in records(journal) if r["type"] == "note" and ts(r) > killer.killed_at
                    and "quorum" in r.get("message", "")]
            assert not lost, lost          # the joiner's restart must not cost the quorum
            rejoined = [r for r in records(journal) if r["type"] == "step_finished"
                        and r.get("node") == "node2" and r.get("step") == "rejoin_galera" and r.get("ok")]
            assert rejoined and str(rejoined[-1].get("galera_restarted_after_broken_ist")).lower() == "true", rejoined
            ssh(lab, lab.node(killer.donor), "setsid service mariadb start </dev/null >/dev/null 2>&1 &", timeout=30)
            wait_until(lambda: member_again(lab, lab_secrets, killer.donor), timeout=120,
                       what=f"{killer.donor} back in the cluster (with garbd)")
            rc, out = abort_and_check_clean(lab, lab_secrets, proc)
            assert rc == exitcodes.ABORTED, out
        finally:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
            figures = probe.stop({}, strict=False) if probe else None
            try:
                drop_bulk(lab, lab_secrets)
            except pymysql.err.Error as e:     # a failed test may leave no Primary: the heal's turn
                print(f"the bulk table stays: {e}")
    h = health.settled(lab, lab_secrets, timeout=120)
    assert h.healthy, h.problems
    assert full_figures["lost_writes"] == 0 and full_figures["failed_operations"] == 0, full_figures
    assert figures["lost_writes"] == 0, figures
    # NOTE: Galera picks the donor; a crashed writer (node1, HAProxy's active database
    # server) fails the writes in flight on it, as in the node1 row above
    writer = killer.donor == "node1"
    if not writer:
        assert figures["failed_operations"] == 0, figures
    add_row("node2's datadir volume full (filled while node2 is stopped)",
            "node2 out (after stop_services; same window as the next row)",
            "rejoin_galera failed naming the server's error (No space left on device); run failed "
            "with node2 failed and the others serving; room made, `apply` again: the rejoin ran again",
            "yes", full_figures, f"{full_s:.1f} s (the fill to rejoin_galera's failure)")
    add_row(f"node2's IST donor ({killer.donor}{', the writer' if writer else ''}) crashed (SIGKILL) "
            "as Galera picked it, 100 MB of write-sets to send",
            "node2's rejoin_galera, the IST in flight",
            "the joiner was left Disconnected (\"node restart required\"); rejoin_galera restarted it "
            "once and it caught up by IST from the member left; roll paused before the next node "
            "(cluster_fault); donor restarted, abort: garbd left, cluster healthy",
            "yes (the member left + node2 + garbd)", figures, f"{detect_s:.1f} s")


# node2's upgrade held (its first look at the packages, dpkg-query, while mariadbd is
# stopped) until the test has written what node2 must then receive by IST: the window is
# one playbook run, back to back, with no hold of upgrader's own while services are down.
UPGRADE_HELD = """#!/bin/sh
if [ -e /var/lib/upgrader-test-upgrade-hold ] && ! kill -0 "$(cat /run/mysqld/mysqld.pid 2>/dev/null)" 2>/dev/null; then
  touch /var/lib/upgrader-test-upgrade-held
  while [ -e /var/lib/upgrader-test-upgrade-hold ]; do sleep 0.1; done
fi
exec /usr/bin/dpkg-query "$@"
"""
PINNED_DONOR = "/etc/mysql/mariadb.conf.d/61-upgrader-test-donor.cnf"


@contextmanager
def upgrade_held(lab, donor: str | None = None):
    """node2's upgrade step waits until released (the callable yielded). ``donor``: node2
    takes its state from that node first (wsrep_sst_donor, an operator's setting; it names
    the IST donor too), so the test knows which node it freezes."""
    node2 = lab.node("node2")
    ssh(lab, node2, "touch /var/lib/upgrader-test-upgrade-hold; rm -f /var/lib/upgrader-test-upgrade-held; "
                    "cat > /usr/local/sbin/dpkg-query && chmod 755 /usr/local/sbin/dpkg-query", input=UPGRADE_HELD)
    if donor:
        ssh(lab, node2, f"cat > {PINNED_DONOR}", input=f"[galera]\nwsrep_sst_donor = {donor}\n")
    try:
        yield lambda: ssh(lab, node2, "rm -f /var/lib/upgrader-test-upgrade-hold")
    finally:
        ssh(lab, node2, f"rm -f /usr/local/sbin/dpkg-query /var/lib/upgrader-test-upgrade-hold* {PINNED_DONOR}",
            check=False)


class Freezer(threading.Thread):
    """A mariadbd stopped with SIGSTOP, not killed, as Galera picks node2's IST donor (the
    joiner's error log says so): the donor (its IST socket open and silent, until the group
    evicts it), or node2 itself, the joiner (a server hung mid-transfer, as on a stalled
    disk). The joiner's pid is the --parent its state-transfer script was started with:
    mariadbd writes its pid file only once the transfer is under way."""

    def __init__(self, lab, joiner, freeze_joiner: bool):
        super().__init__(daemon=True)
        self.lab, self.joiner, self.freeze_joiner = lab, joiner.name, freeze_joiner
        self.donor, self.frozen, self.pid, self.killed_at, self.ended = "", "", "", 0.0, False
        self.tail = follow_error_log(lab, joiner, f"role 'joiner' .* --parent [0-9]+|{DONOR_CHOSEN}", matches=2)

    def run(self):
        for line in self.tail.stdout:
            if "--parent" in line:
                self.pid = line.rsplit(" ", 1)[1].strip()
            elif "(" in line:
                self.donor = line.split("(")[1].split(")")[0]
                break
        self.tail.kill()
        if self.donor in {n.name for n in self.lab.nodes} and (self.pid or not self.freeze_joiner):
            self.frozen = self.joiner if self.freeze_joiner else self.donor
            self.killed_at = time.time()
            pid = self.pid if self.freeze_joiner else "$(cat /run/mysqld/mysqld.pid)"
            ssh(self.lab, self.lab.node(self.frozen), f"kill -STOP {pid}", timeout=30)

    def thaw(self) -> None:
        if self.frozen:
            pid = self.pid if self.freeze_joiner else "$(cat /run/mysqld/mysqld.pid)"
            ssh(self.lab, self.lab.node(self.frozen), f"kill -CONT {pid}", check=False, timeout=30)


@contextmanager
def roll_with_a_frozen_ist(lab, secrets, freeze_joiner: bool, donor: str | None = None):
    """A patch roll (apply --no-probe, under a probe of the test's own that spans every apply)
    whose node2 misses 100 MB of write-sets while its upgrade is held, then a mariadbd frozen
    as its IST starts (Freezer). Yields the roll (proc, journal, freezer); on the way out the
    frozen server is dealt with (the joiner thawed, a donor killed and started again), a
    running apply killed, the probe's figures kept (roll.figures) and the bulk table dropped."""
    node2 = lab.node("node2")
    roll = SimpleNamespace(proc=None, journal=None, freezer=None, figures=None)
    with upgrade_held(lab, donor) as release:
        probe = lab_probe(lab, run=f"frozen-ist-{int(time.time())}")
        try:
            assert cli("plan", "--patch").returncode == 0
            previous = current_run_id()
            roll.proc = subprocess.Popen([UPGRADER, "apply", "--yes", "--no-probe"], cwd="/", text=True,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
            wait_until(lambda: current_run_id() not in ("", previous), what="the new run to exist")
            roll.journal = journal_of_current_run()
            wait_until(lambda: ssh(lab, node2, "test -e /var/lib/upgrader-test-upgrade-held",
                                   check=False).returncode == 0, timeout=300, what="node2's upgrade to be held")
            bulk_write(lab, secrets, megabytes=100)
            roll.freezer = Freezer(lab, node2, freeze_joiner)
            roll.freezer.start()
            time.sleep(1)                         # the tail reads before the rejoin starts
            release()
            roll.freezer.join(timeout=240)
            yield roll
        finally:
            if roll.freezer is not None and freeze_joiner:
                roll.freezer.thaw()
            elif roll.freezer is not None:
                restart_hung_donor(lab, roll.freezer)
            if roll.proc is not None and roll.proc.poll() is None:
                roll.proc.kill()
                roll.proc.wait(timeout=30)
            roll.figures = probe.stop({}, strict=False)
            try:
                drop_bulk(lab, secrets)
            except pymysql.err.Error as e:     # a failed test may leave no Primary: the heal's turn
                print(f"the bulk table stays: {e}")


def restart_hung_donor(lab, freezer) -> None:
    """The operator's answer to a hung server: kill it (KILL_MARIADB; a stopped process dies
    of SIGKILL too) and start it again. NOTE: not SIGCONT: thawed after its eviction, the old
    donor's stale group view made every node non-Primary for about a minute (seen on the lab)."""
    if freezer.frozen and not freezer.ended:
        freezer.ended = True
        crash_mariadb(lab, freezer.frozen)
        ssh(lab, lab.node(freezer.frozen), "setsid service mariadb start </dev/null >/dev/null 2>&1 &", timeout=30)


def test_a_joiner_hung_mid_ist_fails_its_rejoin_at_the_bound_saying_its_last_state(lab, lab_secrets):
    """node2's own mariadbd is stopped (SIGSTOP) as its IST of 100 MB starts: it never
    reaches Synced. rejoin_galera fails once its bound (a deadline, however slow each look
    at a hung server is) is spent, saying the bound and the last state; the run stops with
    node2 failed and the others serving. Thawed, `apply` again finishes node2 by IST."""
    with roll_with_a_frozen_ist(lab, lab_secrets, freeze_joiner=True) as roll:
        journal, freezer = roll.journal, roll.freezer
        assert freezer.frozen == "node2", f"node2 was not frozen (donor seen: {freezer.donor!r})"
        rc, out = finish(roll.proc)
        assert rc == exitcodes.FAILED, out
        assert "Traceback" not in out
        rejoin = last_run_of(journal, "node2", "rejoin_galera")
        failed_s = ts(rejoin["step_finished"]) - freezer.killed_at
        # NOTE: hung before it answers (the init script's wait) or after (the wait for
        # Synced), whichever the freeze caught: each says its bound and what it last saw
        message = rejoin["step_finished"]["message"]
        assert "within its bound of " in message, rejoin
        bound = int(message.split("within its bound of ")[1].split()[0])
        step_s = ts(rejoin["step_finished"]) - ts(rejoin["step_started"])
        assert bound <= step_s < bound + 30, (step_s, rejoin)        # the bound runs from the start
        node2_failed_and_the_others_serving(lab, lab_secrets, "rejoin_galera", "within its bound of")
        freezer.thaw()
        assert cli("abort").returncode == 0          # the retry finishes node2, then the run ends
        again = cli("apply", "--yes", "--no-probe", timeout=600)
        assert again.returncode == exitcodes.ABORTED, again.stdout + again.stderr
    figures = roll.figures
    rep = report_of(journal)
    assert rep["nodes"]["node2"]["state"] == "done", rep["nodes"]["node2"]
    assert rep["nodes"]["node2"]["transfer"] == "IST", rep["nodes"]["node2"]
    rejoined = [r for r in records(journal) if r["type"] == "step_finished" and r.get("node") == "node2"
                and r.get("step") == "rejoin_galera" and r.get("ok")]
    restarted = str(rejoined[-1].get("galera_restarted_after_broken_ist")).lower() == "true"
    assert garbd.pid(lab) is None
    h = health.settled(lab, lab_secrets, timeout=120)
    assert h.healthy, h.problems
    assert figures["lost_writes"] == 0 and figures["failed_operations"] == 0, figures
    add_row("node2's own mariadbd hung (SIGSTOP) as its IST of 100 MB started: a joiner that never "
            "reaches Synced",
            "node2's rejoin_galera, the IST in flight",
            f"rejoin_galera failed at its bound ({bound} s) saying what it last saw; run failed "
            "with node2 failed and the others serving; thawed, `apply` again: "
            + ("Galera asked for a restart, done once; " if restarted else "")
            + "node2 finished by IST, abort: garbd left, cluster healthy",
            "yes (node1 + node3 + garbd)", figures, f"{failed_s:.1f} s (the freeze to the step's failure)")


def test_a_donor_frozen_mid_ist_is_evicted_and_the_joiner_restarts_once(lab, lab_secrets):
    """node2 takes its state from node3 first, and node3's mariadbd is stopped (SIGSTOP) as
    Galera picks it for node2's IST of 100 MB. Its socket stays open and silent; the group
    evicts node3, and node2, its donor gone, ends itself (Galera: "State transfer cannot be
    completed, need to abort"). rejoin_galera restarts it once, it catches up by IST from
    node1, and the watcher pauses the roll for the lost member; node3 killed and started
    again (a hung server is not trusted), abort."""
    with roll_with_a_frozen_ist(lab, lab_secrets, freeze_joiner=False, donor="node3") as roll:
        journal, freezer = roll.journal, roll.freezer
        assert freezer.frozen == "node3", f"the pinned donor was not frozen ({freezer.donor!r})"
        note = wait_record(journal, lambda r: r["type"] == "note" and r.get("reason") == "cluster_fault"
                           and ts(r) > freezer.killed_at, timeout=60, what="the watcher's note of the frozen donor")
        detect_s = ts(note) - freezer.killed_at
        paused_before_the_next_node(journal, after=freezer.killed_at)
        rejoin = last_run_of(journal, "node2", "rejoin_galera")
        assert rejoin["step_finished"]["ok"], rejoin
        assert str(rejoin["step_finished"].get("galera_restarted_after_broken_ist")).lower() == "true", rejoin
        rejoin_s = rejoin["step_finished"]["duration_s"]
        restart_hung_donor(lab, freezer)
        wait_until(lambda: member_again(lab, lab_secrets, "node3"), timeout=120,
                   what="node3 back in the cluster (with garbd)")
        rc, out = abort_and_check_clean(lab, lab_secrets, roll.proc)
        assert rc == exitcodes.ABORTED, out
    figures = roll.figures
    assert figures["lost_writes"] == 0 and figures["failed_operations"] == 0, figures
    add_row("node2's IST donor (node3, named first by wsrep_sst_donor) hung (SIGSTOP) as Galera picked "
            "it, 100 MB of write-sets to send",
            "node2's rejoin_galera, the IST in flight",
            "the group evicted node3 and node2 ended itself (its donor gone); rejoin_galera restarted it "
            f"once and it caught up by IST from node1 (the step: {rejoin_s:.0f} s); roll paused before "
            "the next node (cluster_fault); hung node3 killed and started again, abort: garbd left, "
            "cluster healthy",
            "yes (node1 + node2 + garbd)", figures, f"{detect_s:.1f} s")
