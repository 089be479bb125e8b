"""Bad input and misuse: each case, the exit code, and the one line upgrader must print.

One table, two readers: tests/cli/test_bad_input.py runs every case against the
installed `upgrader` and checks the line and the exit code, and
``python -m tests.cli.bad_input_cases`` writes the table of docs/cli.md from it (a
test checks that docs/cli.md is current). Cases that need the live lab are in
tests/integration/test_bad_input_lab.py, with the same Case shape.

In ``args`` and ``line``: ``{tmp}`` is the case's own directory (its working
directory too), ``{fx}`` the CLI fixtures directory; ``…`` in ``line`` matches
anything (a pid, a time, a plan id).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

FIXTURES = Path(__file__).parent / "fixtures"
LONG = "x" * 5000

Setup = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    id: str
    what: str                     # the input, in words: the doc's first column
    args: tuple[str, ...]
    line: str                     # the first line on stderr, after "error: "
    code: int = 2
    setup: Setup | None = None
    env: dict[str, str] = field(default_factory=dict)   # {tmp} expanded

    def argv(self, tmp: Path) -> list[str]:
        return [a.format(tmp=tmp, fx=FIXTURES) for a in self.args]

    def pattern(self, tmp: Path) -> re.Pattern[str]:
        parts = [re.escape(p.replace("{tmp}", str(tmp)).replace("{fx}", str(FIXTURES)))
                 for p in self.line.split("…")]
        return re.compile("^error: " + ".*".join(parts) + "$")


# ------------------------------------------------------------------ setups

def inventory(galera: int = 3, extra: str = "", secrets: str | None = "mariadb_upgrader_password: x\n",
              cluster: str = "bad") -> Setup:
    """A 3-role inventory in {tmp}/inv.ini whose hosts are on loopback; secrets beside it."""
    def make(tmp: Path) -> None:
        hosts = "\n".join(f"node{i} ansible_host=127.0.0.9" for i in range(1, galera + 1))
        (tmp / "inv.ini").write_text(
            f"[galera]\n{hosts}\n[rabbitmq:children]\ngalera\n[keystone:children]\ngalera\n"
            f"[haproxy]\nlb ansible_connection=local\n[all:vars]\nupgrader_cluster={cluster}\n"
            f"upgrader_secrets_file=secrets.yml\nhaproxy_admin_socket=admin.sock\n{extra}")
        if secrets is not None:
            (tmp / "secrets.yml").write_text(secrets)
    return make


def text(name: str, content: str) -> Setup:
    def make(tmp: Path) -> None:
        (tmp / name).write_text(content)
    return make


def facts(edit: Callable[[dict], object]) -> Setup:
    """{tmp}/facts.json: the recorded healthy lab facts, edited."""
    def make(tmp: Path) -> None:
        doc = json.loads((FIXTURES / "lab_healthy.json").read_text())
        out = edit(doc)
        (tmp / "facts.json").write_text(out if isinstance(out, str) else json.dumps(out if out is not None else doc))
    return make


def both(*setups: Setup) -> Setup:
    def make(tmp: Path) -> None:
        for s in setups:
            s(tmp)
    return make


def upgrader(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    """The installed console script, in the case's isolated environment (see test_bad_input)."""
    from tests.cli.conftest import upgrader_executable
    from tests.cli.test_bad_input import case_env

    return subprocess.run([upgrader_executable(), *args], capture_output=True, text=True,
                          env=case_env(tmp), cwd=tmp, timeout=60, stdin=subprocess.DEVNULL)


def a_plan(tmp: Path) -> Path:
    """A real plan file, from the recorded facts, in {tmp}/plans (and its path)."""
    facts(lambda d: None)(tmp)
    cp = upgrader(tmp, "plan", "--facts", str(tmp / "facts.json"))
    assert cp.returncode == 0, cp.stderr
    return next((tmp / "plans").glob("*.json"))


def plan_edited(tmp: Path) -> None:
    path = a_plan(tmp)
    doc = json.loads(path.read_text())
    doc["order"] = list(reversed(doc["order"]))
    path.write_text(json.dumps(doc))


def plan_with_inventory(tmp: Path, cluster: str = "lab") -> None:
    """A plan of cluster lab that names {tmp}/inv.ini, re-hashed as `plan` would have written it."""
    from upgrader.planner.plan import hash_plan_dict

    inventory(cluster=cluster)(tmp)
    path = a_plan(tmp)
    doc = json.loads(path.read_text())
    doc["inventory"] = str(tmp / "inv.ini")
    doc["plan_hash"] = hash_plan_dict(doc)
    from upgrader.planner.plan import plan_id_for

    doc["plan_id"] = plan_id_for(doc["cluster"], doc["created_at"], doc["plan_hash"])
    path.unlink()
    (path.parent / f"{doc['plan_id']}.json").write_text(json.dumps(doc))


def run_of(cluster: str, journal: str = "", finished: bool = False) -> Setup:
    """A run of ``cluster`` in {tmp}/runs, registered as its current run in {tmp}/state."""
    def make(tmp: Path) -> None:
        run = tmp / "runs" / f"{cluster}-run1"
        run.mkdir(parents=True, exist_ok=True)
        records = [{"v": 1, "ts": "2026-12-01T00:00:00+00:00", "type": "run_started",
                    "run_id": run.name, "plan_id": f"{cluster}-p1", "nodes": ["node1", "node2", "node3"]}]
        if finished:
            records.append({"v": 1, "ts": "2026-12-01T00:01:00+00:00", "type": "run_state",
                            "source": "rolling", "dest": "done", "trigger": "finish"})
        body = "".join(json.dumps(r) + "\n" for r in records)
        (run / "journal.jsonl").write_text(journal or body)
        (run / "plan.json").write_text("{}")
        clusters = tmp / "state" / "clusters"
        clusters.mkdir(parents=True, exist_ok=True, mode=0o700)
        (clusters / f"{cluster}.json").write_text(json.dumps({"cluster": cluster, "run_dir": str(run)}))
    return make


def lock_held(tmp: Path) -> None:
    """A process holding cluster lab's lock, as a running `apply` would; its pid in {tmp}/holder.pid."""
    both(run_of("lab"))(tmp)
    from upgrader.lock import ClusterLock  # noqa: F401 - the holder imports it

    code = ("import sys, time; from upgrader.lock import ClusterLock\n"
            "l = ClusterLock(sys.argv[1], command='upgrader apply --yes'); l.acquire()\n"
            "print('held', flush=True); time.sleep(120)\n")
    p = subprocess.Popen([sys.executable, "-c", code, str(tmp / "state" / "clusters" / "lab.lock")],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "held"
    (tmp / "holder.pid").write_text(str(p.pid))


def lab_plan(tmp: Path) -> None:
    """A plan of cluster lab that names an inventory (for `apply` against a held lock)."""
    plan_with_inventory(tmp)
    lock_held(tmp)


# ------------------------------------------------------------------ the table

SIZE = "a rolling upgrade keeps quorum only with at least 3"
EVEN = "an even-sized cluster can split with no majority: use 3 or 5 nodes (or add garbd)"

CASES: list[Case] = [
    # --- inventories
    Case("inventory-missing", "inventory file missing", ("plan", "-i", "{tmp}/nope.ini"),
         "inventory {tmp}/nope.ini: no such file"),
    Case("inventory-empty", "inventory file empty", ("plan", "-i", "{tmp}/inv.ini"),
         "inventory {tmp}/inv.ini: empty file", setup=text("inv.ini", "")),
    Case("inventory-directory", "inventory is a directory", ("plan", "-i", "{tmp}"),
         "inventory {tmp}: not a file"),
    Case("inventory-unparsable", "inventory YAML that does not parse",
         ("plan", "-i", "{fx}/inventories/broken.yml"),
         "inventory {fx}/inventories/broken.yml: not a readable Ansible inventory (no hosts)"),
    Case("inventory-bad-header", "inventory INI with an unterminated group header",
         ("facts", "-i", "{fx}/inventories/broken_header.ini"),
         "inventory {fx}/inventories/broken_header.ini: not a readable Ansible inventory (no hosts)"),
    Case("inventory-no-galera", "inventory without a Galera group (no known layout)",
         ("plan", "-i", "{fx}/inventories/no_galera_group.ini"),
         "inventory {fx}/inventories/no_galera_group.ini: inventory layout not recognised: …"),
    Case("inventory-2-galera", "2 Galera hosts", ("plan", "-i", "{tmp}/inv.ini"),
         f"inventory {{tmp}}/inv.ini: group 'galera' has 2 host(s); {SIZE}", setup=inventory(galera=2)),
    Case("inventory-4-galera", "4 Galera hosts", ("plan", "-i", "{tmp}/inv.ini"),
         f"inventory {{tmp}}/inv.ini: group 'galera' has 4 hosts; {EVEN}", setup=inventory(galera=4)),
    Case("inventory-2-arbitrators", "2 hosts in galera_arbitrator", ("plan", "-i", "{tmp}/inv.ini"),
         "inventory {tmp}/inv.ini: group 'galera_arbitrator' has 2 hosts; one arbitrator is a third "
         "vote, two make the count even again",
         setup=inventory(extra="[galera_arbitrator]\nlb\nlb2 ansible_connection=local\n")),
    Case("inventory-arbitrator-is-node", "the arbitrator is a Galera node", ("plan", "-i", "{tmp}/inv.ini"),
         "inventory {tmp}/inv.ini: the arbitrator node2 is a Galera node; garbd must run on a host "
         "that is not rolled (a load balancer or a deployment host)",
         setup=inventory(extra="[galera_arbitrator]\nnode2\n")),
    Case("inventory-no-socket-var", "inventory without haproxy_admin_socket",
         ("plan", "-i", "{fx}/inventories/no_admin_socket.ini"),
         "inventory {fx}/inventories/no_admin_socket.ini: missing variable haproxy_admin_socket"),
    Case("inventory-long-path", "a 5,000-character inventory path", ("plan", "-i", "{tmp}/" + LONG),
         "--inventory: path is 5… characters long (the limit is 4095)"),
    Case("inventory-bad-cluster-name", "upgrader_cluster with a '/'", ("plan", "-i", "{tmp}/inv.ini"),
         "cluster name 'a/b' is not a valid name (letters, digits, '.', '_', '-'; at most 63 characters)",
         setup=inventory(cluster="a/b")),
    Case("inventory-bad-target-var", "keystone_target_release in the inventory is not a release",
         ("plan", "-i", "{tmp}/inv.ini"),
         "target version '29;reboot' for keystone is not a release (digits and dots, e.g. 29.1.0)",
         setup=inventory(extra="keystone_target_release=29;reboot\n")),
    Case("inventory-bad-mapping", "upgrader_groups names an unknown role", ("plan", "-i", "{tmp}/inv.ini"),
         "inventory {tmp}/inv.ini: upgrader_groups: unknown role 'db' (roles: galera, rabbitmq, keystone, "
         "haproxy)", setup=inventory(extra="upgrader_groups=db=galera\n")),
    # --- secrets
    Case("secrets-missing", "secrets file missing", ("plan", "-i", "{tmp}/inv.ini"),
         "secrets file {tmp}/secrets.yml: no such file", setup=inventory(secrets=None)),
    Case("secrets-directory", "secrets file is a directory", ("plan", "-i", "{tmp}/inv.ini"),
         "secrets file {tmp}/secrets.yml: is a directory",
         setup=both(inventory(secrets=None), lambda t: (t / "secrets.yml").mkdir())),
    Case("secrets-not-mapping", "secrets file is a YAML list", ("plan", "-i", "{tmp}/inv.ini"),
         "secrets file {tmp}/secrets.yml: expected a mapping of names to values",
         setup=inventory(secrets="- a\n- b\n")),
    Case("secrets-unparsable", "secrets file that does not parse", ("plan", "-i", "{tmp}/inv.ini"),
         "secrets file {tmp}/secrets.yml: unreadable: …", setup=inventory(secrets="a: [b\n")),
    Case("haproxy-socket-missing", "HAProxy admin socket missing", ("plan", "-i", "{tmp}/inv.ini"),
         "HAProxy admin socket {tmp}/admin.sock: No such file or directory", setup=inventory()),
    # --- facts files
    Case("facts-missing", "--facts file missing", ("plan", "--facts", "{tmp}/none.json"),
         "facts file {tmp}/none.json: no such file"),
    Case("facts-empty", "--facts file empty", ("plan", "--facts", "{tmp}/facts.json"),
         "facts file {tmp}/facts.json: empty file", setup=text("facts.json", "")),
    Case("facts-not-json", "--facts file not JSON", ("plan", "--facts", "{tmp}/facts.json"),
         "facts file {tmp}/facts.json: not JSON: …", setup=text("facts.json", "{not json")),
    Case("facts-list", "--facts file holds a list", ("plan", "--facts", "{tmp}/facts.json"),
         "facts file {tmp}/facts.json: not a facts document (a JSON object with a 'nodes' list, "
         "as `upgrader facts` writes)", setup=facts(lambda d: [d])),
    Case("facts-infinity", "--facts file holds Infinity", ("plan", "--facts", "{tmp}/facts.json"),
         "facts file {tmp}/facts.json: not JSON: Infinity is not a JSON number",
         setup=facts(lambda d: json.dumps(d).replace('"write_rate": {', '"write_rate": Infinity, "x": {', 1))),
    Case("facts-no-nodes", "--facts file with no nodes", ("plan", "--facts", "{tmp}/facts.json"),
         "facts file {tmp}/facts.json: no nodes", setup=facts(lambda d: {**d, "nodes": []})),
    Case("facts-wrong-type", "--facts file with a string where a number belongs",
         ("plan", "--facts", "{tmp}/facts.json"), "facts file {tmp}/facts.json: not a facts document: …",
         setup=facts(lambda d: (d["nodes"][0]["galera"].update(cluster_size="three"), d)[1])),
    Case("facts-slash-cluster", "--facts file whose cluster name has a '/'",
         ("plan", "--facts", "{tmp}/facts.json"),
         "facts file {tmp}/facts.json: not a facts document: cluster name '../x' is not a valid name …",
         setup=facts(lambda d: {**d, "cluster": "../x"})),
    Case("facts-with-inventory", "--facts together with -i", ("plan", "--facts", "{tmp}/f.json", "-i", "{tmp}/i"),
         "give --facts or --inventory, not both (a facts file names its own cluster)"),
    Case("facts-out-missing-dir", "facts -o into a missing directory", ("facts", "-o", "{tmp}/no/dir/f.json"),
         "--out {tmp}/no/dir/f.json: directory {tmp}/no/dir does not exist"),
    # --- targets and options
    Case("target-no-equals", "--target without '='", ("plan", "--facts", "{tmp}/facts.json", "-t", "keystone"),
         "target 'keystone' is not COMPONENT=VERSION (e.g. keystone=29.1.0)", setup=facts(lambda d: None)),
    Case("target-unknown-component", "--target of an unknown component",
         ("plan", "--facts", "{tmp}/facts.json", "-t", "nova=30.0.0"),
         "unknown component 'nova' in targets (known: galera, keystone, mariadb, rabbitmq)",
         setup=facts(lambda d: None)),
    Case("target-shell", "--target with a shell command after the version",
         ("plan", "--facts", "{tmp}/facts.json", "-t", "keystone=29.1.0;rm -rf /"),
         "target version '29.1.0;rm -rf /' for keystone is not a release (digits and dots, e.g. 29.1.0)",
         setup=facts(lambda d: None)),
    Case("target-word", "--target version that is a word",
         ("plan", "--facts", "{tmp}/facts.json", "-t", "keystone=latest"),
         "target version 'latest' for keystone is not a release (digits and dots, e.g. 29.1.0)",
         setup=facts(lambda d: None)),
    Case("target-twice", "-t given twice for one component",
         ("plan", "--facts", "{tmp}/facts.json", "-t", "keystone=29.1.0", "-t", "keystone=28.1.0"),
         "--target keystone is given twice (29.1.0 and 28.1.0); give it once", setup=facts(lambda d: None)),
    Case("target-with-patch", "-t together with --patch",
         ("plan", "--facts", "{tmp}/facts.json", "-t", "keystone=29.1.0", "--patch"),
         "give --target or --patch, not both (a patch roll keeps every release)", setup=facts(lambda d: None)),
    Case("package-long", "a 100,000-character --package", ("plan", "--facts", "{tmp}/facts.json",
                                                         "--package", "a" * 100_000),
         "package 'aaaa…' is too long or not text", setup=facts(lambda d: None)),
    Case("package-option", "--package that looks like an apt option",
         ("plan", "--facts", "{tmp}/facts.json", "--package", "-o=APT::x"),
         "package name '-o=APT::x' is not a Debian package name", setup=facts(lambda d: None)),
    Case("package-bad-version", "--package pinned to a version with a shell character",
         ("plan", "--facts", "{tmp}/facts.json", "--package", "libssl3=3.0$(id)"),
         "package version '3.0$(id)' for libssl3 is not a Debian version", setup=facts(lambda d: None)),
    Case("target-file-missing", "--target-file missing", ("plan", "--facts", "{tmp}/facts.json",
                                                          "--target-file", "{tmp}/none.yml"),
         "target file {tmp}/none.yml: no such file", setup=facts(lambda d: None)),
    Case("target-file-empty", "--target-file empty", ("plan", "--facts", "{tmp}/facts.json", "--target-file",
                                                      "{tmp}/t.yml"),
         "target file {tmp}/t.yml: empty file", setup=both(facts(lambda d: None), text("t.yml", "# later\n"))),
    Case("target-file-not-yaml", "--target-file that does not parse",
         ("plan", "--facts", "{tmp}/facts.json", "--target-file", "{tmp}/t.yml"),
         "target file {tmp}/t.yml: not YAML at line 2: …",
         setup=both(facts(lambda d: None), text("t.yml", "packages: [libssl3\n"))),
    Case("target-file-unknown-key", "--target-file with an unknown top-level key",
         ("plan", "--facts", "{tmp}/facts.json", "--target-file", "{tmp}/t.yml"),
         "target file {tmp}/t.yml: unknown key 'keystone' (known: packages, releases)",
         setup=both(facts(lambda d: None), text("t.yml", "keystone: 29.1.0\n"))),
    Case("target-file-bad-package", "--target-file package version that is neither a version nor `security`",
         ("plan", "--facts", "{tmp}/facts.json", "--target-file", "{tmp}/t.yml"),
         "target file {tmp}/t.yml: package target 'latest' for libssl3 is not a Debian version "
         "(e.g. 1:10.11.19-0+deb12u1) or 'security'",
         setup=both(facts(lambda d: None), text("t.yml", "packages:\n  libssl3: latest\n"))),
    Case("target-file-with-target", "--target-file together with -t",
         ("plan", "--facts", "{tmp}/facts.json", "--target-file", "{tmp}/t.yml", "-t", "keystone=29.1.0"),
         "give --target-file or --target, not both (the file names every release and package to change)",
         setup=facts(lambda d: None)),
    Case("target-file-with-patch", "--target-file together with --patch",
         ("plan", "--facts", "{tmp}/facts.json", "--target-file", "{tmp}/t.yml", "--patch"),
         "give --target-file or --patch, not both (the file names every release and package to change)",
         setup=facts(lambda d: None)),
    Case("target-file-with-package", "--target-file together with --package",
         ("plan", "--facts", "{tmp}/facts.json", "--target-file", "{tmp}/t.yml", "--package", "openssl"),
         "give --target-file or --package, not both (the file names every release and package to change)",
         setup=facts(lambda d: None)),
    Case("force-unknown", "--force of an unknown refusal code",
         ("plan", "--facts", "{tmp}/facts.json", "--force", "everything"),
         "unknown refusal code 'everything' in --force", setup=facts(lambda d: None)),
    Case("plans-dir-unwritable", "a plans directory that cannot be created",
         ("plan", "--facts", "{tmp}/facts.json"),
         "plans directory {tmp}/file/plans cannot be created: Not a directory",
         setup=both(facts(lambda d: None), text("file", "")), env={"UPGRADER_PLANS": "{tmp}/file/plans"}),
    Case("config-missing", "UPGRADER_CONFIG names a missing file", ("where",),
         "config file {tmp}/none.yml (UPGRADER_CONFIG): no such file", env={"UPGRADER_CONFIG": "{tmp}/none.yml"}),
    Case("config-unknown-key", "a config file with an unknown key", ("where",),
         "config file {tmp}/c.yml: unknown key 'run_dir' (known: plans_dir, runs_dir, state_dir)",
         setup=text("c.yml", "run_dir: /x\n"), env={"UPGRADER_CONFIG": "{tmp}/c.yml"}),
    # --- plan files and apply
    Case("plan-missing", "apply: plan file missing", ("apply", "--yes", "{tmp}/none.json"),
         "plan file {tmp}/none.json cannot be read: No such file or directory"),
    Case("plan-none", "apply: no plan in the plans directory", ("apply", "--yes"),
         "no plan in {tmp}/plans/: run `upgrader plan` first"),
    Case("plan-not-json", "apply: plan file is not JSON", ("apply", "--yes", "{tmp}/p.json"),
         "plan file {tmp}/p.json is not valid JSON: Expecting value at line 1", setup=text("p.json", "nope")),
    Case("plan-edited", "apply: plan file edited by hand (hash)", ("apply", "--yes"),
         "plan file {tmp}/plans/… was edited after it was written", setup=plan_edited),
    Case("plan-from-facts", "apply: a plan made from a facts file (no inventory)", ("apply", "--yes"),
         "plan … was made from a facts file and names no inventory; plan from the live cluster "
         "(`upgrader plan -i INVENTORY`)", setup=lambda t: a_plan(t) and None),
    Case("runs-dir-unwritable", "apply: a runs directory that cannot be created", ("apply", "--yes"),
         "runs directory {tmp}/file/runs cannot be created: Not a directory",
         setup=both(plan_with_inventory, text("file", "")), env={"UPGRADER_RUNS": "{tmp}/file/runs"}),
    Case("plan-other-cluster", "apply: a plan whose inventory now describes another cluster",
         ("apply", "--yes"), "plan … is for cluster lab, but its inventory {tmp}/inv.ini now describes "
         "cluster other", setup=lambda t: plan_with_inventory(t, cluster="other")),
    Case("apply-report-missing-dir", "apply --report into a missing directory",
         ("apply", "--yes", "--report", "{tmp}/no/r.json"),
         "--report {tmp}/no/r.json: directory {tmp}/no does not exist", setup=plan_with_inventory),
    Case("apply-concurrent", "a second `apply` while one holds the cluster lock", ("apply", "--yes"),
         "cluster lock {tmp}/state/clusters/lab.lock is held by pid … (upgrader apply --yes, since …)",
         setup=lab_plan),
    Case("apply-other-plan", "apply of another plan while the cluster's run is unfinished",
         ("apply", "--yes", "{tmp}/plans/PLAN"),
         "run lab-run1 of plan lab-p1 is unfinished: finish it (`upgrader apply`) or `upgrader abort` it first",
         setup=lambda t: (plan_with_inventory(t), run_of("lab")(t)) and None),
    Case("apply-tui-json", "apply with both --tui and --json", ("apply", "--tui", "--json"),
         "give --tui or --json, not both (the UI owns the terminal)"),
    Case("watch-no-terminal", "watch without a terminal", ("watch",),
         "upgrader watch needs a terminal; without one use `upgrader apply` and `upgrader status`",
         setup=run_of("lab")),
    # --- control commands and runs
    Case("approve-no-run", "approve with no run", ("approve",),
         "no run on this machine: start one with `upgrader apply`"),
    Case("resume-no-run", "resume with no run", ("resume",), "no run on this machine: start one with `upgrader apply`"),
    Case("abort-no-run", "abort with no run", ("abort",), "no run on this machine: start one with `upgrader apply`"),
    Case("pause-no-run", "pause with no run", ("pause",), "no run on this machine: start one with `upgrader apply`"),
    Case("status-no-run", "status with no run", ("status",), "no run on this machine: start one with `upgrader apply`"),
    Case("report-no-run", "report with no run", ("report",), "no run on this machine: start one with `upgrader apply`"),
    Case("abort-finished", "abort a run that has ended", ("abort",),
         "run lab-run1 of cluster lab has ended (done); nothing to abort", setup=run_of("lab", finished=True)),
    Case("status-unknown-cluster", "status --cluster of a cluster with no run", ("status", "--cluster", "prod"),
         "no run of cluster prod on this machine: start one with `upgrader apply`", setup=run_of("lab")),
    Case("status-bad-cluster", "status --cluster with a '/'", ("status", "--cluster", "../etc"),
         "cluster name '../etc' is not a valid name (letters, digits, '.', '_', '-'; at most 63 characters)"),
    Case("status-cluster-and-inventory", "status with both --cluster and -i",
         ("status", "--cluster", "lab", "-i", "{tmp}/inv.ini"), "give --cluster or --inventory, not both"),
    Case("several-clusters", "pause with two clusters' runs and no --cluster", ("pause",),
         "several clusters have runs (alpha, beta); name one with --cluster",
         setup=both(run_of("alpha"), run_of("beta"))),
    Case("journal-corrupt", "status of a run whose journal has a corrupted line", ("status",),
         "journal {tmp}/runs/lab-run1/journal.jsonl line 1 is not a JSON record (damaged before its last line)",
         setup=run_of("lab", journal='{"v": 1, "ty\n{"v": 1, "type": "note"}\n')),
    Case("report-none-yet", "report of a run that has no report yet", ("report",),
         "run lab-run1 has no report yet (written when `apply` stops)", setup=run_of("lab")),
    Case("lab-unknown-topology", "lab up with an unknown load-balancer topology", ("lab", "up", "--lb", "f5"),
         "lab up --lb f5: unknown load-balancer topology; choose one of dedicated, controllers"),
]


def doc_table(cases: list[Case]) -> str:
    rows = ["| input | exit | the line printed (stderr) |", "|---|---|---|"]
    for c in cases:
        line = c.line.replace("{tmp}", "DIR").replace("{fx}", "FIXTURES").replace("|", "\\|")
        rows.append(f"| {c.what} | {c.code} | `error: {line}` |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    from tests.cli.test_bad_input import write_docs

    write_docs()
