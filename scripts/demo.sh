#!/usr/bin/env bash
# The main job on a fresh machine: install, bring the local lab up, plan the upgrade of
# Keystone 28.1.0 -> 29.1.0, roll a canary node, approve it, roll the rest, check the end.
#
#   bash scripts/demo.sh        # from any directory; no environment needed
#
# Exit 0 only when the run ended in success with every node at the target release.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
bash "$ROOT/scripts/setup.sh"
U="$ROOT/.venv/bin/upgrader"
step() { printf '\n[demo] %s\n' "$*"; }

step "lab up: three hosts, Galera, RabbitMQ, Keystone 28.1.0, HAProxy and keepalived on each, the VIP floating"
"$U" lab up --lb controllers
step "where plans and runs go"
"$U" where
step "plan: read the live cluster, order the nodes (the writer last), predict IST"
"$U" plan
step "apply --canary: roll one node, verify it, wait for approval (exit 3: waiting)"
rc=0; "$U" apply --canary --yes || rc=$?
[ "$rc" = 3 ] || { echo "[demo] apply --canary exited $rc, expected 3 (awaiting approval)" >&2; exit 1; }
"$U" status
step "approve: roll the other two nodes, then contract the schema"
"$U" approve
step "check the end state"
"$ROOT/.venv/bin/python" - "$("$U" report --json)" <<'EOF'
import json, sys
rep = json.loads(sys.argv[1])
target = rep["targets"].get("keystone")
after = {n: (v.get("version_after") or {}).get("keystone") for n, v in rep["nodes"].items()}
transfers = {n: v.get("transfer") for n, v in rep["nodes"].items()}
print(f"[demo] result {rep['result']}; keystone per node {after}; rejoins {transfers}")
probe = rep.get("probe") or {}
if probe:
    print(f"[demo] probe: {probe['operations']} operations, {probe['failed_operations']} failed, "
          f"{probe['lost_writes']} lost writes")
vip = {n: v["vip"] for n, v in rep["nodes"].items() if v.get("vip")}
moved = [n for n, v in vip.items() if v["moved"]]
if vip:
    print("[demo] VIP: " + "; ".join(f"{n} {v['before']} -> {v['after']}"
                                     + (f" (moved in {v['move_ms']} ms)" if v["moved"] else "")
                                     for n, v in vip.items()))
ok = rep["result"] == "success" and target and all(v == target for v in after.values())
# keepalived's VIP moved exactly once, by the node that held it
ok = ok and (not vip or (len(moved) == 1 and vip[moved[0]]["before"] == moved[0]))
sys.exit(0 if ok else 1)
EOF
"$U" lab status
