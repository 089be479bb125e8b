#!/usr/bin/env bash
# The whole test suite: unit tests, integration tests against the real lab, Molecule.
# Needs root and scripts/setup.sh done first. Exits non-zero on any failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"

# NOTE: the integration tests bring the lab up (rebuilt if the demo left it rolled) and
# leave it up; the Molecule scenarios then share it (molecule/README.md), and the default
# scenario's destroy takes it down at the end and checks that nothing is left.
# --durations: the log then says which tests cost the job its time
python -m pytest tests -p no:cacheprovider -rA --durations=25 "$@"
# each line stamped with the time of day: the log then shows each scenario's wall time
molecule test --all 2>&1 | while IFS= read -r line; do printf '%(%T)T %s\n' -1 "$line"; done
