#!/usr/bin/env bash
# The main job on a fresh machine: install, bring the local lab up, plan the upgrade of
# Keystone 28.1.0 -> 29.1.0, roll a canary node, approve it, roll the rest, show the report.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
U=.venv/bin/upgrader
$U lab up
$U plan
$U apply --canary --yes          # node one, verified, then awaiting approval
$U status
$U approve                       # the rest of the roll, then the finalization steps
$U lab status
