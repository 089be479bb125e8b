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
molecule_log=$(mktemp /tmp/upgrader-molecule.XXXXXX)
if ! molecule test --all 2>&1 | while IFS= read -r line; do printf '%(%T)T %s\n' -1 "$line"; done \
        | tee "$molecule_log"; then
    # NOTE: a CI record keeps only the log's tail, which is Molecule's recap: say again which
    # task failed and why, or the record names the scenario and not the reason
    echo "[test] Molecule failed; its failed tasks, again:"
    sed 's/\x1b\[[0-9;]*m//g' "$molecule_log" | grep -aE 'fatal: |failed: \[|FAILED!' | cut -c1-3000 | tail -n 12
    exit 1
fi
rm -f "$molecule_log"
