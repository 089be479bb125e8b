"""The exit codes, in one table: the CLI uses it, docs/cli.md shows it, a test checks both."""
from __future__ import annotations

SUCCESS = 0
FAILED = 1          # a roll step failed: the failed node stays drained, the others serve
REFUSED = 2         # bad input or an unsafe cluster: refused before anything changed
PAUSED = 3          # the run stopped at a safe point and waits: paused, gated, awaiting approval
ABORTED = 4         # the run was aborted at a safe point
INTERNAL = 70       # a bug in upgrader (EX_SOFTWARE); the run, if any, is resumable
INTERRUPTED = 130   # Ctrl-C

TABLE: tuple[tuple[int, str], ...] = (
    (SUCCESS, "success: the command did what it was asked; a roll is complete"),
    (FAILED, "a roll step failed: the failed node stays drained, the other nodes serve; "
             "`upgrader status` names the node and step"),
    (REFUSED, "refused: bad input, a conflicting option, an unsafe or stale cluster, another "
              "`apply` holding the lock; nothing was changed"),
    (PAUSED, "the run waits at a safe point: paused by an operator or a health gate, or the "
             "canary awaits `upgrader approve`; resumable"),
    (ABORTED, "the run was aborted at a safe point; no node is half-rolled"),
    (INTERNAL, "internal error (a bug): one line on stderr, the traceback in the crash log it "
               "names; the run, if any, resumes with `upgrader apply`"),
    (INTERRUPTED, "interrupted (Ctrl-C or SIGTERM); the report is written, the run, if any, resumes "
                  "with `upgrader apply`"),
)

# Run results (Outcome.result, the report's "result") -> exit code.
FOR_RESULT: dict[str, int] = {
    "success": SUCCESS, "awaiting_approval": PAUSED, "paused": PAUSED,
    "failed": FAILED, "aborted": ABORTED,
}
