#!/usr/bin/env bash
# The whole test suite: unit tests, integration tests against the real lab, Molecule.
# Needs root and scripts/setup.sh done first. Exits non-zero on any failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"

# NOTE: integration tests bring the lab up in a session fixture and their last module
# takes it down again; Molecule's create/destroy then do the same on their own.
python -m pytest tests -p no:cacheprovider -rA "$@"
molecule test -s default
