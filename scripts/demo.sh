#!/usr/bin/env bash
# The main job on a fresh machine: install, bring the local lab up, show its health.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
U=.venv/bin/upgrader
$U lab up
$U lab status
