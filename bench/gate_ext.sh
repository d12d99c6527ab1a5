#!/usr/bin/env bash
# Whole-process cost of `gait gate eval --json` on the extended inputs (issue 8 item 9), with
# hyperfine:
#   - a 10-step script intent (per-step evaluation, script_hash);
#   - a single intent enriched from a 5,000-entry Wrkr inventory (`--wrkr-inventory`).
# Target: median < 5 ms each. Runs `gait-gate` directly (no launcher) in dev key mode.
#
# Usage: bench/gate_ext.sh [--no-build] [--help]
# Environment: RUNS=200, CARGO_TARGET_DIR as cargo
set -euo pipefail

RUNS=${RUNS:-200}
BUILD=1
for arg in "$@"; do
  case "$arg" in
    --no-build) BUILD=0 ;;
    -h | --help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gate_ext.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done
log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'gate_ext.sh: error: %s\n' "$*" >&2; exit 1; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case "${CARGO_TARGET_DIR:-}" in
  "") TARGET="$ROOT/target" ;;
  /*) TARGET="$CARGO_TARGET_DIR" ;;
  *) TARGET="$ROOT/$CARGO_TARGET_DIR" ;;
esac
GATE="$TARGET/release/gait-gate"
command -v hyperfine >/dev/null || die "hyperfine is required (apt-get install hyperfine)"
command -v python3 >/dev/null || die "python3 is required to generate the fixtures"
if [[ $BUILD -eq 1 ]]; then
  log "building release gait-gate"
  (cd "$ROOT" && cargo build --release -p gait-gate --quiet)
fi
[[ -x "$GATE" ]] || die "missing $GATE"

W=$(mktemp -d "${TMPDIR:-/tmp}/gait-bench-gate-ext.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"

log "generating fixtures in $W"
python3 - <<'PY'
import json
policy = """default_verdict: allow
rules:
  - name: block-delete
    effect: block
    match: {tool_names: [tool.delete]}
  - name: approve-pii-writes
    effect: require_approval
    match: {tool_names: [tool.write], data_classes: [pii]}
"""
open("policy.yaml", "w").write(policy)
ctx = {"identity": "bench", "workspace": "/repo/app", "risk_class": "low"}
steps = []
for i in range(10):
    tool = ["tool.read", "tool.write"][i % 2]
    op = "read" if tool == "tool.read" else "write"
    path = f"/repo/app/src/file_{i}.txt"
    steps.append({"tool_name": tool, "args": {"path": path},
                  "targets": [{"kind": "path", "value": path, "operation": op}]})
json.dump({"schema_id": "gait.gate.intent_request", "schema_version": "1.0.0",
           "created_at": "2026-02-05T00:00:00Z", "tool_name": "script", "args": {},
           "targets": [], "context": ctx, "script": {"steps": steps}},
          open("script10.json", "w"))
items = [{"tool_name": f"bench.tool_{i:04d}", "data_class": "internal",
          "endpoint_class": "net.http", "autonomy_level": "supervised"} for i in range(4999)]
items.append({"tool_name": "tool.write", "data_class": "pii", "endpoint_class": "fs.write",
              "autonomy_level": "supervised"})
json.dump({"items": items}, open("inventory5000.json", "w"))
json.dump({"schema_id": "gait.gate.intent_request", "schema_version": "1.0.0",
           "created_at": "2026-02-05T00:00:00Z", "tool_name": "tool.write",
           "args": {"path": "/repo/app/out.txt"},
           "targets": [{"kind": "path", "value": "/repo/app/out.txt", "operation": "write"}],
           "context": ctx}, open("single.json", "w"))
PY

script_cmd="$GATE gate eval --policy policy.yaml --intent script10.json --trace-out t1.json --json"
wrkr_cmd="$GATE gate eval --policy policy.yaml --intent single.json --wrkr-inventory inventory5000.json --trace-out t2.json --json"
# Sanity: both must run and give a verdict (exit 0/3/4), never an input error.
for c in "$script_cmd" "$wrkr_cmd"; do
  set +e; out=$($c 2>/dev/null); rc=$?; set -e
  [[ $rc -eq 0 || $rc -eq 3 || $rc -eq 4 ]] || die "unexpected exit $rc from: $c: $out"
  log "exit $rc: $(printf '%s' "$out" | head -c 200)"
done

hyperfine -N --warmup 20 --runs "$RUNS" -i --export-json "$W/hf.json" \
  -n "script-10-steps" "$script_cmd" \
  -n "wrkr-5000-entries" "$wrkr_cmd" >&2
python3 - "$W/hf.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    med = r["median"] * 1000
    verdict = "ok" if med < 5.0 else "OVER 5 ms"
    print(f"{r['command']}: median {med:.2f} ms (mean {r['mean']*1000:.2f} ms, "
          f"min {r['min']*1000:.2f} ms, runs {len(r['times'])}) {verdict}")
PY
