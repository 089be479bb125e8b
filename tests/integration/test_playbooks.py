"""Every step playbook against the real lab, through AnsibleRunnerExecutor.

node2 is rolled 28.1.0 -> 29.1.0 and back, each step run twice in a row: the first
run must reach the step's end state (checked here from the live servers, not from
the playbook's own report), the second must succeed and change nothing (the
orchestrator re-runs the in-flight step after a crash). Rows written through node1
while node2 is down must reach node2 by IST. The lab is left as it was found.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path

import pymysql
import pytest
import yaml

from upgrader.executor.runner import AnsibleRunnerExecutor, StepResult
from upgrader.facts import haproxy
from upgrader.lab.sh import ssh
from upgrader.machine import NODE_STEPS
from waits import wait_until

lab_only = pytest.mark.lab

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
NODE = "node2"
WRITER = "node1"        # rows written here while NODE is down must reach NODE by IST
DB, API = "mariadb", "keystone"
SCRATCH_DB = "upgrader_scratch_keystone"
SCRATCH_CONF = "/etc/keystone/upgrader-scratch.conf"
DURATIONS: dict[str, list[tuple[str, float, float]]] = {}


@pytest.fixture(scope="module")
def executor(lab, tmp_path_factory):
    return AnsibleRunnerExecutor(lab.inventory_file, PLAYBOOKS, tmp_path_factory.mktemp("ansible"))


# ------------------------------------------------------------------ reading the lab


def sh(lab, node: str, command: str, check: bool = True):
    return ssh(lab, lab.node(node), command, check=check, timeout=60)


def servers(lab) -> dict[tuple[str, str], haproxy.HaproxyServer]:
    return {(s.backend, s.server): s
            for s in haproxy.parse_stat(haproxy.show_stat(str(lab.haproxy_socket)))}


def wsrep(lab, node: str) -> dict:
    out = sh(lab, node, "mariadb -Nse \"SELECT JSON_OBJECT("
             "'state', (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
             "WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE_COMMENT'), "
             "'size', (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
             "WHERE VARIABLE_NAME = 'WSREP_CLUSTER_SIZE'), "
             "'desync', @@global.wsrep_desync = 1)\"").stdout
    return json.loads(out)


def rabbit_under_maintenance(lab, node: str) -> bool:
    out = sh(lab, node, "rabbitmq-diagnostics -q status --formatter json").stdout
    return json.loads(out)["is_under_maintenance"]


def rabbit_running_nodes(lab, node: str) -> list[str]:
    out = sh(lab, node, "rabbitmqctl -q cluster_status --formatter json").stdout
    return sorted(json.loads(out)["running_nodes"])


def keystone_venv(lab, node: str) -> str:
    return sh(lab, node, ". /etc/default/keystone; echo $KEYSTONE_VENV").stdout.strip()


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.status
    except OSError:
        return 0


def write_rows(lab, n: int) -> int:
    """n autocommit INSERTs (n write-sets) through WRITER; returns the row count after."""
    inserts = " ".join(["INSERT INTO upgrader_itest.writes (note) VALUES ('node2 was down');"] * n)
    out = sh(lab, WRITER, "mariadb -Nse \"CREATE DATABASE IF NOT EXISTS upgrader_itest; "
             "CREATE TABLE IF NOT EXISTS upgrader_itest.writes "
             f"(id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(64)); {inserts} "
             "SELECT COUNT(*) FROM upgrader_itest.writes\"").stdout
    return int(out.split()[-1])


def rows_seen_by(lab, node: str) -> int:
    out = sh(lab, node, "mariadb -Nse \"SET SESSION wsrep_sync_wait = 1; "
             "SELECT COUNT(*) FROM upgrader_itest.writes\"").stdout
    return int(out.split()[-1])


# ------------------------------------------------------------------ running steps


def run_twice(executor, label: str, step: str, node: str | None, extravars: dict) -> StepResult:
    """Run a step, then again: the re-run must succeed and change nothing.

    Both in one ansible-playbook run, as a roll runs its steps back to back (each run
    starts Ansible and bootstraps Mitogen on every host: 3-5 s, twice per step before).
    """
    results = executor.run_steps((step, step), node, extravars)
    first = results[0]
    assert first.ok, f"{step}: {first.message}"
    assert len(results) == 2, f"{step} (re-run): did not start"
    again = results[1]
    assert again.ok, f"{step} (re-run): {again.message}"
    assert again.changed == 0, f"{step}: the re-run changed {again.changed} thing(s)"
    DURATIONS.setdefault(label, []).append((step, first.duration_s, again.duration_s))
    return first


def roll(lab, executor, target: str, label: str, crash: bool = False) -> dict[str, StepResult]:
    """Every node step on NODE in order, asserting the real end state after each.

    crash: once stopped, grastate.dat is set to seqno -1 (what a crash leaves); the
    rejoin must still be an IST, from the position mysqld_safe recovers.
    """
    ev = {"keystone_target_release": target, "upgrade_packages": [],
          "galera_rejoin_timeout": 180, "haproxy_drain_grace": 15}
    out: dict[str, StepResult] = {}
    rows = 0
    for step in NODE_STEPS:
        out[step] = r = run_twice(executor, label, step, NODE, ev)
        s = servers(lab) if step in ("drain_api", "drain_db", "undrain") else {}
        if step == "drain_api":
            assert s[(API, NODE)].status == "MAINT" and s[(DB, NODE)].status == "UP"
        elif step == "drain_db":
            assert s[(DB, NODE)].status == "MAINT" and s[(DB, NODE)].sessions == 0
            assert any(v.status == "UP" for (b, n), v in s.items() if b == DB and n != NODE)
        elif step == "desync_galera":
            assert wsrep(lab, NODE) == {"state": "Donor/Desynced", "size": "3", "desync": True}
        elif step == "drain_rabbitmq":
            assert rabbit_under_maintenance(lab, NODE)
        elif step == "stop_services":
            for service in ("mariadb", "keystone", "rabbitmq-server"):
                assert sh(lab, NODE, f"service {service} status", check=False).returncode != 0
            assert r.results["galera_grastate_seqno"] >= 0          # a clean stop
            assert sh(lab, NODE, "cat /var/lib/upgrader/galera-errorlog.offset").stdout.strip() \
                == str(r.results["galera_errorlog_offset"])
            assert wsrep(lab, WRITER)["size"] == "2"
            rows = write_rows(lab, 5)                                # carried by IST
            if crash:
                sh(lab, NODE, "sed -i 's/^seqno:.*/seqno:   -1/' /var/lib/mysql/grastate.dat")
        elif step == "upgrade":
            assert keystone_venv(lab, NODE) == f"/opt/openstack/venvs/keystone-{target}"
            assert r.results["keystone_after"] == target
        elif step == "rejoin_galera":
            assert r.results["transfer"] == "IST", r.results
            assert r.results["ist_writesets"] >= 5
            assert wsrep(lab, NODE)["state"] == "Synced"
            assert rows_seen_by(lab, NODE) == rows
            if crash:
                stopped_at = out["stop_services"].results["galera_grastate_seqno"]
                assert r.results["galera_grastate_seqno"] == -1
                assert r.results["galera_seqno_recovered"] is True
                assert r.results["galera_recovered_position"].endswith(f":{stopped_at}")
        elif step == "verify_node":
            assert http_status(f"http://{lab.node(NODE).address}:5000/v3") == 200
            assert r.results["keystone_release"] == target
        elif step == "revive_rabbitmq":
            assert rabbit_running_nodes(lab, NODE) == [n.rabbit_node for n in lab.nodes]
            assert not rabbit_under_maintenance(lab, NODE)
        elif step == "resync_galera":
            assert wsrep(lab, NODE) == {"state": "Synced", "size": "3", "desync": False}
            assert sh(lab, NODE, "test -e /var/lib/upgrader/galera-errorlog.offset",
                      check=False).returncode != 0
        elif step == "undrain":
            assert s[(API, NODE)].status == "UP" and s[(DB, NODE)].status == "UP"
    return out


def force_restore(lab) -> None:
    """Last resort after a failed test: put NODE back in service by hand (28.1.0)."""
    venv = f"/opt/openstack/venvs/keystone-{lab.keystone_installed}"
    sh(lab, NODE, f"sed -i 's#^KEYSTONE_VENV=.*#KEYSTONE_VENV={venv}#' /etc/default/keystone; "
                  "service mariadb status >/dev/null || /etc/init.d/mariadb start </dev/null "
                  ">/dev/null 2>&1; mariadb -e 'SET GLOBAL wsrep_desync = OFF'; "
                  "service keystone stop; service keystone start; "
                  "service rabbitmq-server start; rabbitmq-upgrade revive", check=False)
    for backend in (DB, API):
        haproxy.set_state(str(lab.haproxy_socket), backend, NODE, "ready")


def lab_is_as_found(lab) -> bool:
    s = servers(lab)
    return (all(v.status == "UP" for v in s.values())
            and all(wsrep(lab, n.name)["state"] == "Synced" for n in lab.nodes)
            and keystone_venv(lab, NODE).endswith(lab.keystone_installed))


# ------------------------------------------------------------------ tests


@lab_only
def test_drain_refuses_the_last_up_server(lab, executor):
    """With node1 and node3 out of the API backend, draining node2 would stop the API."""
    sock = str(lab.haproxy_socket)
    others = [n.name for n in lab.nodes if n.name != NODE]
    try:
        for other in others:
            assert haproxy.set_state(sock, API, other, "maint") == ""
        r = executor.run_step("drain_api", NODE, {"haproxy_drain_grace": 1})
        assert not r.ok and r.status == "failed"
        assert "Refuse to drain the last UP server" in r.message
        assert f"refuse: {API}/{NODE} is the last UP server" in r.message
        assert servers(lab)[(API, NODE)].status == "UP"      # untouched
    finally:
        for other in others:
            haproxy.set_state(sock, API, other, "ready")
        wait_until(lambda: all(servers(lab)[(API, o)].status == "UP" for o in others),
                   what="node1 and node3 UP again in the API backend")


def db_writer(lab) -> str:
    return next(n for (b, n), v in servers(lab).items() if b == DB and v.active)


def vip_connect(lab, lab_secrets, **kw):
    return pymysql.connect(host=lab.vip, user="upgrader", connect_timeout=5,
                           password=lab_secrets.mariadb_upgrader_password, **kw)


@lab_only
def test_drain_db_cuts_idle_pooled_sessions_at_once(lab, lab_secrets, executor):
    """Pooled DB connections never leave by themselves: idle ones are cut without a wait."""
    active = db_writer(lab)
    pooled = [vip_connect(lab, lab_secrets), vip_connect(lab, lab_secrets)]
    grace = 6
    try:
        assert servers(lab)[(DB, active)].sessions >= 2
        r = executor.run_step("drain_db", active, {"haproxy_db_drain_grace": grace})
        assert r.ok, r.message
        assert r.results["haproxy_busy_at_maint"] == 0 and not r.results["haproxy_grace_expired"]
        assert r.results["haproxy_sessions_shut_down"] and r.results["haproxy_sessions_at_maint"] >= 2
        assert r.duration_s < grace, f"the drain waited for idle sessions: {r.duration_s} s"
        after = servers(lab)[(DB, active)]
        assert (after.status, after.sessions) == ("MAINT", 0)
        for conn in pooled:                      # cut: the client sees a lost connection...
            with pytest.raises(pymysql.err.OperationalError):
                conn.ping(reconnect=False)
        fresh = vip_connect(lab, lab_secrets)    # ...and its reconnect lands elsewhere
        with fresh.cursor() as cur:
            cur.execute("SELECT @@wsrep_node_name")
            assert cur.fetchone()[0] != active
        fresh.close()
    finally:
        for conn in pooled:
            conn.close()
        r = executor.run_step("undrain", active, {})
        assert r.ok, r.message


@lab_only
def test_drain_db_lets_an_open_transaction_commit_before_the_cut(lab, lab_secrets, executor):
    """A client mid-transaction on the writer keeps its connection until it commits."""
    active = db_writer(lab)
    write_rows(lab, 1)                           # the table exists
    note = f"drain-{time.time_ns()}"
    writer = vip_connect(lab, lab_secrets, autocommit=False)
    grace, hold_s = 8, 2.0
    committed: list[BaseException | None] = []

    def commit_later() -> None:
        time.sleep(hold_s)
        try:
            writer.commit()
            committed.append(None)
        except BaseException as e:  # noqa: BLE001 - the assertion below shows it
            committed.append(e)

    try:
        with writer.cursor() as cur:
            cur.execute("INSERT INTO upgrader_itest.writes (note) VALUES (%s)", (note,))
        late = threading.Thread(target=commit_later)
        late.start()
        r = executor.run_step("drain_db", active, {"haproxy_db_drain_grace": grace})
        late.join()
        assert r.ok, r.message
        assert committed == [None], f"the commit failed: {committed}"
        assert r.results["haproxy_busy_at_maint"] == 0 and not r.results["haproxy_grace_expired"]
        assert hold_s <= r.duration_s < grace, f"drain_db took {r.duration_s} s"
        assert servers(lab)[(DB, active)].status == "MAINT"
        fresh = vip_connect(lab, lab_secrets)
        with fresh.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM upgrader_itest.writes WHERE note = %s", (note,))
            assert cur.fetchone()[0] == 1
        fresh.close()
    finally:
        writer.close()
        r = executor.run_step("undrain", active, {})
        assert r.ok, r.message


@lab_only
def test_roll_node2_to_the_target_release_and_back(lab, executor):
    assert lab_is_as_found(lab), "the lab must be healthy before the roll"
    started = time.monotonic()
    try:
        forward = roll(lab, executor, lab.keystone_target, "forward")
        assert forward["upgrade"].results["keystone_before"] == lab.keystone_installed
        back = roll(lab, executor, lab.keystone_installed, "back", crash=True)
        assert back["upgrade"].results["keystone_before"] == lab.keystone_target
    finally:
        if not lab_is_as_found(lab):
            force_restore(lab)
        sh(lab, WRITER, "mariadb -e 'DROP DATABASE IF EXISTS upgrader_itest'", check=False)
    assert lab_is_as_found(lab)
    _print_durations(time.monotonic() - started)


def _print_durations(wall: float) -> None:
    print(f"\nstep durations on the lab, seconds (first run / idempotent re-run); wall {wall:.0f} s")
    for label, rows in DURATIONS.items():
        for step, first, again in rows:
            print(f"  {label:8} {step:16} {first:6.1f} {again:6.1f}")
        window = sum(f for s, f, _ in rows if s != "drain_api")
        print(f"  {label:8} {'node window':16} {window:6.1f}   (drain_db .. undrain, first runs)")
        print(f"  {label:8} {'all steps':16} {sum(f for _, f, _ in rows):6.1f}")


# ------------------------------------------------------------------ cluster steps


@pytest.fixture
def scratch_keystone_db(lab):
    """A Keystone schema of the installed release in a scratch database.

    The lab's own keystone database is left alone: an expand cannot be undone.
    The scratch config is derived inside each host from its keystone.conf, so the
    database password never leaves the host.
    """
    sh(lab, WRITER, f"mariadb -e \"DROP DATABASE IF EXISTS {SCRATCH_DB}; "
                    f"CREATE DATABASE {SCRATCH_DB}; "
                    f"GRANT ALL ON {SCRATCH_DB}.* TO keystone@'%'\"")
    for n in lab.nodes:
        sh(lab, n.name, f"umask 077; sed -e 's#^\\(connection = .*/\\)keystone$#\\1{SCRATCH_DB}#' "
                        f"/etc/keystone/keystone.conf > {SCRATCH_CONF}")
    sh(lab, WRITER, f"/opt/openstack/venvs/keystone-{lab.keystone_installed}/bin/keystone-manage "
                    f"--config-file {SCRATCH_CONF} db_sync >/dev/null 2>&1")
    yield SCRATCH_CONF
    sh(lab, WRITER, f"mariadb -e 'DROP DATABASE IF EXISTS {SCRATCH_DB}'", check=False)
    for n in lab.nodes:
        sh(lab, n.name, f"rm -f {SCRATCH_CONF}", check=False)


@lab_only
def test_keystone_expand_and_contract_on_a_scratch_database(lab, executor, scratch_keystone_db):
    installed = {"keystone_target_release": lab.keystone_installed,
                 "keystone_config_file": scratch_keystone_db}
    target = {**installed, "keystone_target_release": lab.keystone_target}

    # every node runs the installed release: contract for it is allowed, and a no-op
    r = run_twice(executor, "cluster", "keystone_contract", None, installed)
    assert (r.results["check_rc_before"], r.results["check_rc_after"]) == (0, 0)

    # 28.1.0 -> 29.1.0: --check says 2 (expand needed), then 0 (29 has no contract step)
    r = run_twice(executor, "cluster", "keystone_expand", None, target)
    assert (r.results["check_rc_before"], r.results["check_rc_after"]) == (2, 0)
    assert r.changed == 1

    # contract for the target while the nodes still run the installed release: refused
    r = executor.run_step("keystone_contract", None, target)
    assert not r.ok and "refuse: node1, node2, node3 may still run" in r.message


@lab_only
def test_rabbitmq_feature_flags_leaves_none_disabled(lab, executor):
    r = run_twice(executor, "cluster", "rabbitmq_feature_flags", None, {})
    assert r.results["rabbitmq_flags_disabled"] == []
    flags = json.loads(sh(lab, WRITER, "rabbitmqctl -q list_feature_flags name state "
                                       "--formatter json").stdout)
    assert all(f["state"] == "enabled" for f in flags)


# ------------------------------------------------------------------ static checks (no lab)

# The planner's cluster steps (before the first node, after the last one).
CLUSTER_STEPS = ("keystone_expand", "keystone_contract", "rabbitmq_feature_flags")


def _plays(step: str) -> list[dict]:
    return yaml.safe_load((PLAYBOOKS / f"{step}.yml").read_text())


def _flat(tasks: list) -> list:
    """Tasks with each block replaced by its own tasks (block, rescue, always), named too."""
    out = []
    for task in tasks:
        if "block" in task:
            assert task["name"][0].isupper(), task["name"]
            out += _flat(task["block"] + task.get("rescue", []) + task.get("always", []))
        else:
            out.append(task)
    return out


@pytest.mark.parametrize("step", [*NODE_STEPS, *CLUSTER_STEPS])
def test_each_step_playbook_follows_the_house_rules(step):
    plays = _plays(step)
    for play in plays:
        assert play["gather_facts"] is False, f"{step}: {play['name']}: gather_facts"
        if play["hosts"] == "{{ upgrader_node }}":   # a quorum member
            assert (play.get("serial"), play.get("max_fail_percentage")) == (1, 0), step
        for task in _flat(play.get("tasks", [])):
            modules = [k for k in task if k.startswith("ansible.builtin.")]
            assert len(modules) == 1, f"{step}: {task.get('name')}: only ansible.builtin modules"
            assert task["name"][0].isupper() and not task["name"].endswith("."), task["name"]
    text = (PLAYBOOKS / f"{step}.yml").read_text()
    if "import_tasks" in text:                 # drain_api, drain_db share their tasks
        last = yaml.safe_load((PLAYBOOKS / "tasks" / "haproxy_drain.yml").read_text())[-1]
    else:
        last = plays[-1]["tasks"][-1]
    assert "upgrader_result" in last["ansible.builtin.debug"]["msg"], f"{step}: no final report"
    assert "ansible.builtin.pause" not in text and "sleep " not in text   # wait on signals


def test_every_playbook_passes_ansible_syntax_check(tmp_path):
    import subprocess
    import sys

    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[controllers]\nnode1\nnode2\nnode3\n[galera:children]\ncontrollers\n"
                         "[rabbitmq:children]\ncontrollers\n[keystone:children]\ncontrollers\n"
                         "[haproxy]\nlb ansible_connection=local\n")
    books = [str(PLAYBOOKS / f"{s}.yml") for s in (*NODE_STEPS, *CLUSTER_STEPS)]
    # NOTE: task files are included dynamically, so a step's check never parses them; a
    # play importing each one does (a quote in a free-form command failed only at run time).
    wrapper = tmp_path / "task_files.yml"
    wrapper.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n" + "".join(
        f"    - ansible.builtin.import_tasks: {f}\n" for f in sorted((PLAYBOOKS / "tasks").glob("*.yml"))))
    books.append(str(wrapper))
    cp = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "--syntax-check",
                         "-i", str(inventory), "-e", "upgrader_node=node2", *books],
                        capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, cp.stdout + cp.stderr


def test_a_rejoin_that_never_syncs_fails_saying_its_bound_and_its_last_state(tmp_path):
    """rejoin_galera's final assert, rendered by Ansible from the last look of each ending:
    the operator reads the bound and what the node last was, not the look's raw JSON."""
    import subprocess
    import sys

    task = next(t for t in _plays("rejoin_galera")[0]["tasks"]
                if t["name"].startswith("Assert the node is Synced within its bound"))
    looks = {
        "never_synced": {"restart_required": False, "wsrep": {"state": "Joining: receiving State Transfer"},
                         "transfer": "none"},
        "silent": {"restart_required": False, "wsrep": None, "transfer": "IST"},
        "broke_off_again": {"restart_required": True, "wsrep": None, "transfer": "IST"},
        "ended": {"restart_required": False, "ended": True, "wsrep": None, "transfer": "none",
                  "error": "WSREP: Failed to open channel 'lab' at 'gcomm://10.123.0.11'"},
        "synced": {"restart_required": False, "wsrep": {"state": "Synced"}, "transfer": "IST"},
    }
    plays = [{"name": name, "hosts": "localhost", "gather_facts": False,
              "vars": {"upgrader_node": "node2", "galera_timeout": 60, "galera_final": look,
                       "galera_restart_required_pattern": "node restart required"},
              "tasks": [{"name": "Final assert", "ansible.builtin.assert": task["ansible.builtin.assert"],
                         "ignore_errors": True}]} for name, look in looks.items()]
    book = tmp_path / "final_assert.yml"
    book.write_text(yaml.safe_dump(plays))
    cp = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                         str(book)], capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert cp.returncode == 0, cp.stdout[-2000:] + cp.stderr[-2000:]
    # the default callback: one "PLAY [name]" header per look, then the assert's result
    shown = {part.split("]", 1)[0]: part for part in cp.stdout.split("PLAY [")[1:]}
    assert '"msg": "node2 did not reach Synced within its bound of 60 s (last: Joining: receiving State ' \
           'Transfer; transfer seen: none)' in shown["never_synced"], shown["never_synced"]
    assert "(last: no answer; transfer seen: IST)" in shown["silent"], shown["silent"]
    assert '"msg": "node2\'s state transfer was lost again after a restart' in shown["broke_off_again"]
    assert "node2's mariadbd ended before it reached Synced (WSREP: Failed to open channel 'lab' at " \
           "'gcomm://10.123.0.11'; transfer seen: none)" in shown["ended"], shown["ended"]
    assert "FAILED" not in shown["synced"] and "ok: [localhost]" in shown["synced"], shown["synced"]
