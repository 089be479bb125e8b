"""Run roll steps' playbooks through ansible-runner. The only module that imports it.

``AnsibleRunnerExecutor.run_steps(steps, node, extravars)`` runs ``playbooks/<step>.yml``
for each step, back to back in ONE ansible-playbook process (start-up is 0.5-0.7 s of
every run), and returns a ``StepResult`` per step that ran, each handed to ``on_step``
the moment the step ends: a failed playbook is data, not an exception. Each run
gets its own private_data_dir (runner re-reads the ``env/`` files it leaves behind,
so a shared one would leak one step's extravars into the next), the inventory is
passed as a path (a dict would be copied into the run directory), and every event
is deep-copied to ``on_event`` before runner keeps it.

Secrets never go through here: extravars and envvars land in the artifacts.
"""
from __future__ import annotations

import copy
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

import ansible_runner
import yaml

from upgrader.executor import leftovers
from upgrader.paths import private_dir

EventHandler = Callable[[dict], None]

# NOTE: 0.5 s bounds how long a cancel takes (runner polls cancel_callback once per
# pexpect wait; the default is 5 s). Only honoured while env files are written:
# suppress_env_files=True silently discards every setting.
RUNNER_SETTINGS: dict[str, Any] = {"pexpect_timeout": 0.5}

_FAILED_EVENTS = ("runner_on_failed", "runner_on_unreachable")
_SOCKET_PATH_MAX = 107   # sun_path is 108 bytes with the NUL
_RESULT_KEY = "upgrader_result"


@dataclass(frozen=True)
class StepResult:
    """What one step's playbook run did, for the journal and the state machine."""

    step: str
    node: str | None
    ok: bool                 # status successful and rc 0
    status: str              # runner: successful | failed | canceled | timeout
    rc: int                  # ansible-playbook's exit code (254 when canceled)
    duration_s: float
    artifact_id: str         # the runner ident: <work_dir>/artifacts/<artifact_id>/
    message: str = ""        # one line: the first failed task and its msg ("" when ok)
    results: dict = field(default_factory=dict)  # merged upgrader_result dicts
    changed: int = 0         # changed task results (the final stats); a no-op re-run has 0
    unreachable: bool = False  # the failure that counted: a host Ansible lost (SSH), not a task


def is_ok(status: str, rc: int | None) -> bool:
    """Only a run that finished 'successful' with rc 0 verified its step."""
    return status == "successful" and rc == 0


def collect_results(events: Iterable[dict]) -> dict:
    """Merge the ``{"upgrader_result": {...}}`` dicts of debug tasks, in event order."""
    merged: dict = {}
    for ev in events:
        if ev.get("event") != "runner_on_ok":
            continue
        msg = (ev.get("event_data", {}).get("res") or {}).get("msg")
        if isinstance(msg, dict) and isinstance(msg.get(_RESULT_KEY), dict):
            merged.update(msg[_RESULT_KEY])
    return merged


def first_failure(events: Iterable[dict]) -> str:
    """'<task> [<host>]: <msg>' of the first failure that counted; '' when there is none."""
    event = counted_failure(events)
    if event is None:
        return ""
    data = event.get("event_data", {})
    text = _failure_text(data.get("res") or {})
    return one_line(f"{data.get('task', '?')} [{data.get('host', '')}]: {text}")


def counted_failure(events: Iterable[dict]) -> dict | None:
    """The first failed or unreachable event that failed the run; None when there is none.

    Not counted: a failed task with ignore_errors, and an unreachable host the play
    ignored (ignore_unreachable), which the final stats leave out of 'dark'.
    """
    events = list(events)
    dark = _stats(events).get("dark")
    for ev in events:
        data = ev.get("event_data", {})
        if ev.get("event") == "runner_on_failed" and data.get("ignore_errors"):
            continue
        if ev.get("event") == "runner_on_unreachable" and dark is not None \
                and data.get("host") not in dark:
            continue
        if ev.get("event") in _FAILED_EVENTS:
            return ev
    return None


def unmatched_play(events: Iterable[dict]) -> str:
    """A play whose host pattern matched nothing: Ansible skips it and still succeeds.

    Every step's play must run somewhere (a node name missing from the inventory
    would otherwise 'succeed' without touching anything).
    """
    for ev in events:
        if ev.get("event") == "playbook_on_no_hosts_matched":
            data = ev.get("event_data", {})
            return one_line(f"{data.get('play', '?')}: no host matched "
                            f"'{data.get('play_pattern', '')}' (not in the inventory?)")
    return ""


def changed_count(events: Iterable[dict]) -> int:
    """Task results that changed something, from the final stats (0 on a clean re-run)."""
    return sum(int(n) for n in (_stats(list(events)).get("changed") or {}).values())


def changed_tasks(events: Iterable[dict]) -> int:
    """Task results that changed something, counted from the events themselves."""
    return sum(1 for ev in events if ev.get("event") == "runner_on_ok"
               and (ev.get("event_data", {}).get("res") or {}).get("changed"))


def _stats(events: list[dict]) -> dict:
    for ev in reversed(events):
        if ev.get("event") == "playbook_on_stats":
            return ev.get("event_data", {})
    return {}


def _failure_text(res: dict) -> str:
    msg = res.get("msg")
    text = msg if isinstance(msg, str) else str(msg or "")
    apt_errors = [ln.strip() for ln in str(res.get("stderr") or "").splitlines() if ln.startswith("E: ")]
    if apt_errors and "apt-get" in text:
        # the apt module's msg is its whole command line (every pinned package); apt's
        # own "E:" lines say what went wrong ("Version '...' for 'x' was not found")
        text = "apt-get failed: " + " ".join(apt_errors)
    if not text or text in ("non-zero return code", "All items completed"):
        # a shell task: its last stderr (or stdout) line says what went wrong
        detail = _last_line(res.get("stderr")) or _last_line(res.get("stdout"))
        if not detail and isinstance(res.get("results"), list):
            failed = [r for r in res["results"] if isinstance(r, dict) and r.get("failed")]
            detail = _failure_text(failed[0]) if failed else ""
        text = f"{text}: {detail}" if text and detail else (text or detail)
    if res.get("attempts"):
        text = f"{text} (after {res['attempts']} attempts)"
    return text


def _last_line(value: Any) -> str:
    lines = [ln for ln in str(value or "").splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""


def one_line(text: str, limit: int = 400) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def run_failure(status: str, rc: int | None, events: list[dict], stdout: str = "") -> str:
    """The one-line message for a run that did not succeed."""
    found = first_failure(events)
    if found:
        return found
    if status == "canceled":
        return "canceled: the node is in an unknown state"
    if status == "timeout":
        return "timed out"
    # e.g. a syntax error or a missing playbook: ansible-playbook says why on stdout
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "ERROR" in ln]
    detail = errors[0] if errors else (lines[-1] if lines else "")
    return one_line(f"{status} (rc {rc}): {detail}" if detail else f"{status} (rc {rc})")


# NOTE: an empty play named after each step goes before that step's plays: its
# playbook_on_play_start event is where the previous step ended. Ansible ends the
# whole run when every host of a play fails, so a failed step is always the last.
STEP_MARKER = "upgrader step: "


HOLD_TASK_PREFIX = "Hold before "   # the hold task's name: "Hold before <step> until ..."
HOLD_TIMEOUT_S = 600      # a hold is answered at once; this bounds a runner that never answers
_HOLD_POLL_S = 0.2


def go_file(private: Path, step: str) -> Path:
    """The file whose existence lets a run held before ``step`` go on."""
    return Path(private) / f"go-{step}"


def stop_file(private: Path, step: str) -> Path:
    """The file whose existence fails the hold before ``step``: the run ends there.

    NOTE: the cancel alone left the hold polling for its whole timeout: ansible-core's
    workers detach into a session of their own (setsid), so runner's kill of the
    playbook's process group does not reach the one running the hold.
    """
    return Path(private) / f"stop-{step}"


WARM_UP_PLAY = "upgrader warm-up"


def warm_up_play(hosts: str) -> dict:
    """A play that opens the connections of ``hosts`` before the first step starts.

    NOTE: Mitogen's first task on a host bootstraps an interpreter there (0.4-0.9 s a host,
    2.4 s for three load balancers measured): paid here, it is not paid inside the node's
    window (the node still serves until drain_api). It can change nothing: a host it
    cannot reach is the later steps' to report, as before.
    """
    return {"name": WARM_UP_PLAY, "hosts": hosts, "gather_facts": False,
            "tasks": [{"name": "Open the connections the steps use", "ansible.builtin.ping": {},
                       "ignore_errors": True, "ignore_unreachable": True}]}


def steps_playbook(steps: Iterable[str], playbooks_dir: Path,
                   hold_before: Iterable[str] = (), private: Path | None = None,
                   warm_up: str | None = None, hold_first: bool = False) -> list[dict]:
    """The playbook that runs ``steps`` in order: a marker play, then the step's own.

    The marker of a step in ``hold_before`` (not the run's first, unless ``hold_first``)
    waits on the controller for its go file: the runner creates it, or cancels the run
    there (a clean stop point). ``warm_up``: a host pattern whose connections are opened
    before the first step.
    """
    plays: list[dict] = [warm_up_play(warm_up)] if warm_up else []
    hold = set(hold_before)
    for i, step in enumerate(steps):
        marker: dict = {"name": STEP_MARKER + step, "hosts": "localhost", "gather_facts": False,
                        "tasks": []}
        if ((i and step in hold) or (not i and hold_first)) and private is not None:
            # NOTE: debug + the `exists` test run in the controller's ansible-playbook
            # process: no connection, so a hold costs one poll interval, not a bootstrap.
            marker["tasks"].append({
                "name": f"{HOLD_TASK_PREFIX}{step} until upgrader says go",
                "ansible.builtin.debug": {"msg": "go"},
                "vars": {"upgrader_go_file": str(go_file(private, step)),
                         "upgrader_stop_file": str(stop_file(private, step))},
                "until": "upgrader_go_file is exists or upgrader_stop_file is exists",
                "failed_when": "upgrader_stop_file is exists",
                "retries": int(HOLD_TIMEOUT_S / _HOLD_POLL_S),
                "delay": _HOLD_POLL_S,
            })
        plays.append(marker)
        plays.append({"import_playbook": str(Path(playbooks_dir).resolve() / f"{step}.yml")})
    return plays


class StepSplitter:
    """Cuts one run's event stream into per-step results (pure: fed recorded events in tests).

    ``see(event)`` returns the StepResult of the step that just ended when ``event``
    starts the next one; ``finish(status, rc)`` closes the last step that started.
    """

    def __init__(self, steps: Iterable[str], node: str | None, ident: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.steps = tuple(steps)
        self.node, self.ident, self.clock = node, ident, clock
        self.index = 0
        self.markers = 0      # step marker plays seen
        self.events: list[dict] = []
        self.started = clock()
        self.results: list[StepResult] = []

    @property
    def begun(self) -> bool:
        """Whether the first step's marker has started (a warm-up play may come before)."""
        return self.markers > 0

    def see(self, event: dict) -> StepResult | None:
        data = event.get("event_data", {})
        nxt = self.index + 1
        if event.get("event") == "playbook_on_play_start" and \
                str(data.get("play", data.get("name"))).startswith(STEP_MARKER):
            # NOTE: counted, not only named: the first marker is the first step's own,
            # even when the next step has the same name (a step run twice in a row).
            self.markers += 1
            if self.markers == 1:
                # the warm-up, and the gate asked meanwhile, are not the first step's time
                self.started = self.clock()
            if self.markers > 1 and nxt < len(self.steps) and \
                    data.get("play", data.get("name")) == STEP_MARKER + self.steps[nxt]:
                done = self._close("successful", 0)
                self.index = nxt
                return done
        self.events.append(event)
        return None

    def finish(self, status: str, rc: int, stdout: str = "") -> StepResult:
        last = self._close(status, rc, stdout)
        if last.ok and self.index + 1 < len(self.steps):
            # the run succeeded without starting the rest: never report those as done
            skipped = self.steps[self.index + 1]
            self.results.append(StepResult(skipped, self.node, False, "failed", rc, 0.0, self.ident,
                                           "the playbook run ended before this step started"))
        return self.results[-1]

    def _close(self, status: str, rc: int, stdout: str = "") -> StepResult:
        now = self.clock()
        result = AnsibleRunnerExecutor.result(self.steps[self.index], self.node, status, rc,
                                              now - self.started, self.ident, self.events, stdout)
        # NOTE: the final stats count the whole run's changes; a step counts its own.
        result = replace(result, changed=changed_tasks(self.events))
        self.results.append(result)
        self.events, self.started = [], now
        return result


class AnsibleRunnerExecutor:
    """Runs playbooks/<step>.yml against the inventory, one private directory per run."""

    def __init__(self, inventory: Path | list[Path], playbooks_dir: Path, work_dir: Path,
                 on_event: EventHandler | None = None,
                 cancel: Callable[[], bool] | None = None,
                 control_dir: Path | None = None) -> None:
        # NOTE: absolute, all of them: ansible-playbook runs in the private data dir,
        # so a relative path here would be read from there (the first-run bug).
        sources = inventory if isinstance(inventory, list) else [inventory]
        self.inventory = [Path(p).absolute() for p in sources]
        self.playbooks_dir = Path(playbooks_dir).absolute()
        self.work_dir = Path(work_dir).absolute()
        self.control_dir = Path(control_dir).absolute() if control_dir else None
        self.on_event = on_event
        self.cancel = cancel

    # ------------------------------------------------------------------ paths
    @property
    def artifact_dir(self) -> Path:
        return self.work_dir / "artifacts"

    def next_ident(self, step: str, node: str | None) -> str:
        """f"{seq:03d}-{node or 'cluster'}-{step}", seq one past the highest on disk."""
        seqs = [int(m.group(1)) for p in self._existing_idents()
                if (m := re.match(r"(\d+)-", p))]
        return f"{max(seqs, default=0) + 1:03d}-{node or 'cluster'}-{step}"

    def _existing_idents(self) -> list[str]:
        return [p.name for p in self.artifact_dir.iterdir()] if self.artifact_dir.is_dir() else []

    def _unique(self, ident: str) -> str:
        # NOTE: runner writes into artifacts/<ident>/ as it is; a reused ident (a
        # resumed run restarting its counter) would mix two runs' job events.
        taken = set(self._existing_idents())
        candidate, n = ident, 1
        while candidate in taken:
            n += 1
            candidate = f"{ident}.{n}"
        return candidate

    def control_path(self) -> str:
        """The ssh ControlPath: in the private control directory, else under work_dir.

        %C expands to 40 hex digits and ssh adds a 17-character suffix while it
        creates the socket; a unix socket path must fit in 107 bytes.
        """
        directory = self.control_dir or self.work_dir / "cp"
        if len(str(directory)) + 1 + 40 + 17 > _SOCKET_PATH_MAX:
            # never a predictable shared name (someone else could create it first)
            directory = Path(tempfile.mkdtemp(prefix="upgrader-cp-"))
            self.control_dir = directory
        return str(directory / "%C")

    def envvars(self) -> dict[str, str]:
        control_path = self.control_path()
        private_dir(Path(control_path).parent, "SSH control directory")
        return {
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            # NOTE: one SSH handshake per host per minute instead of one per task.
            "ANSIBLE_SSH_ARGS": (f"-o ControlMaster=auto -o ControlPersist=60s "
                                 f"-o ControlPath={control_path}"),
            "ANSIBLE_PIPELINING": "True",
            **mitogen_strategy(),
            **({"PATH": path} if (path := _path_with_ansible()) else {}),
        }

    # ------------------------------------------------------------------ run
    def run_step(self, step: str, node: str | None, extravars: dict,
                 ident: str | None = None) -> StepResult:
        return self.run_steps((step,), node, extravars, ident)[-1]

    def run_steps(self, steps: Iterable[str], node: str | None, extravars: dict,
                  ident: str | None = None,
                  on_step: Callable[[StepResult], bool | None] | None = None,
                  hold_before: Iterable[str] = (), warm_up: str | None = None,
                  gate: Callable[[], bool | None] | None = None,
                  on_begin: Callable[[str], None] | None = None) -> list[StepResult]:
        """Run the steps in one process; stop at the first that fails. One result per step run.

        Before a step of ``hold_before`` the run waits for ``on_step``'s answer about the
        step that ended: False ends the run there (the step is not started), anything
        else lets it go on. ``warm_up``: a host pattern connected to before the first
        step. ``gate`` is asked as the run starts, while it connects; the first step
        holds for its answer (False ends the run there). ``on_begin`` is told when the
        first step starts (with its name).
        A callback that raises ends the run where it holds; the error is raised again
        once the run has ended (no playbook is left waiting on a go file).
        """
        steps, hold = tuple(steps), frozenset(hold_before)
        ident = self._unique(ident or self.next_ident(steps[0], node))
        missing = [s for s in steps if not (self.playbooks_dir / f"{s}.yml").is_file()]
        if missing:
            result = StepResult(steps[0], node, False, "failed", -1, 0.0, ident,
                                f"no playbook {self.playbooks_dir / missing[0]}.yml")
            if on_step is not None:
                on_step(result)
            return [result]
        private = self.work_dir / "runs" / ident
        splitter = StepSplitter(steps, node, ident)
        stop = False

        raised: list[BaseException] = []

        def answer(callback: Callable[..., bool | None], *args: Any) -> bool | None:
            try:
                return callback(*args)
            except BaseException as e:  # noqa: BLE001 - raised again after the run
                raised.append(e)
                return False

        def release(step: str, go_on: bool | None) -> None:
            nonlocal stop
            if go_on is False:
                stop_file(private, step).touch()
                stop = True           # cancelled while it holds: nothing of it ran
            else:
                go_file(private, step).touch()

        asked = False

        def handle(event: dict) -> bool:
            nonlocal stop, asked
            if self.on_event is not None:
                self.on_event(copy.deepcopy(event))
            if gate is not None and not asked:
                # NOTE: the run's first event: the event handler blocks while the gate is
                # asked, ansible-playbook does not (it goes on with the warm-up play)
                asked = True
                release(splitter.steps[0], answer(gate))
            begun = splitter.begun
            ended = splitter.see(event)
            if not begun and splitter.begun and not stop and on_begin is not None:
                answer(on_begin, splitter.steps[0])
            if ended is not None:
                stop = stop or not ended.ok   # e.g. a play that matched no host
                go_on = answer(on_step, ended) if on_step is not None else None
                started = splitter.steps[splitter.index]
                if not stop and started in hold:
                    release(started, go_on)
            stop = stop or bool(raised)      # a callback that raised ends the run
            return True   # keep it: runner writes it to artifacts/<ident>/job_events/

        def cancel() -> bool:
            return stop or bool(self.cancel and self.cancel())

        private.mkdir(parents=True, exist_ok=True)
        self.artifact_dir.mkdir(parents=True, exist_ok=True)
        playbook = private / "steps.yml"
        playbook.write_text(yaml.safe_dump(steps_playbook(steps, self.playbooks_dir, hold, private, warm_up,
                                                          hold_first=gate is not None),
                                           sort_keys=False))
        extravars = dict(extravars)
        if node is not None:
            extravars.setdefault("upgrader_node", node)
        r = ansible_runner.run(
            private_data_dir=str(private), project_dir=str(self.playbooks_dir),
            playbook=str(playbook), inventory=[str(p) for p in self.inventory], extravars=extravars,
            envvars={**self.envvars(), **leftovers.environment(private)}, settings=dict(RUNNER_SETTINGS),
            ident=ident, artifact_dir=str(self.artifact_dir), quiet=True, event_handler=handle,
            cancel_callback=cancel)
        leftovers.stop(private)   # a cancel kills the process group, not a setsid'd worker
        if raised:
            raise raised[0]
        status, rc = str(r.status), (r.rc if r.rc is not None else -1)
        already = len(splitter.results)
        splitter.finish(status, rc, _stdout(r))
        if on_step is not None and not stop:
            for result in splitter.results[already:]:
                on_step(result)
        return splitter.results if not stop else splitter.results[:already]

    def stop_leftovers(self) -> list[int]:
        """Stop what earlier playbook runs in this work directory left running; their pids.

        For a resumed run: the killed apply's playbook goes on without it, and would run
        the node's steps beside the ones this apply runs again.
        """
        return leftovers.stop(self.work_dir / "runs")

    @staticmethod
    def result(step: str, node: str | None, status: str, rc: int, duration_s: float,
               ident: str, events: list[dict], stdout: str = "") -> StepResult:
        """Map one finished run to a StepResult (pure: unit-tested from recorded events)."""
        ok = is_ok(status, rc)
        message = "" if ok else run_failure(status, rc, events, stdout)
        if ok and (unmatched := unmatched_play(events)):
            ok, message = False, unmatched
        failure = None if ok else counted_failure(events)
        return StepResult(step=step, node=node, ok=ok, status=status, rc=rc,
                          duration_s=round(duration_s, 3), artifact_id=ident,
                          message=message, results=collect_results(events),
                          changed=changed_count(events),
                          unreachable=bool(failure and failure.get("event") == "runner_on_unreachable"))


def mitogen_strategy() -> dict[str, str]:
    """Ansible settings that run the steps under Mitogen's strategy; {} when it is missing.

    NOTE: measured on the lab (patch roll, 2 cores): a small task costs 0.05-0.1 s
    instead of 0.4-0.9 s (one Python interpreter per host, kept for the whole
    ansible-playbook run, instead of one per task), the node window 52 s instead of
    61-64 s. Every playbook's semantics are unchanged (tests/integration/test_playbooks.py).
    """
    try:
        import ansible_mitogen
    except ImportError:
        return {}
    strategies = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    return {"ANSIBLE_STRATEGY_PLUGINS": str(strategies), "ANSIBLE_STRATEGY": "mitogen_linear"}


def _path_with_ansible() -> str | None:
    """PATH with this interpreter's bin directory first when ansible-playbook is not on PATH.

    (runner's own ``binary=`` switches it to raw mode, which drops the playbook argument.)
    """
    path = os.environ.get("PATH", "")
    beside = Path(sys.executable).parent
    if shutil.which("ansible-playbook", path=path) or not (beside / "ansible-playbook").is_file():
        return None
    return f"{beside}{os.pathsep}{path}"


def _stdout(r: Any) -> str:
    try:
        return r.stdout.read()
    except Exception:  # noqa: BLE001 - no stdout file (e.g. the run never started)
        return ""
