#!/usr/bin/env bash
# Whole-process cost of the operator commands (issue 9 item 8), with hyperfine, through the
# release launcher in a fresh, empty working directory with its own HOME:
#   - `gait version --json`   target: median <= 3 ms
#   - `gait doctor --json`    target: median <= 3 ms (all checks, plugin scan from a warm cache)
# and the UI's first page load (`gait ui` on 127.0.0.1:0): the page and /api/state, cold and
# warm, with curl (target: first page load < 200 ms).
#
# Usage: bench/ux.sh [--no-build] [--help]
# Environment: RUNS=200, CARGO_TARGET_DIR as cargo
set -euo pipefail

RUNS=${RUNS:-200}
BUILD=1
for arg in "$@"; do
  case "$arg" in
    --no-build) BUILD=0 ;;
    -h | --help) sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "ux.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done
log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'ux.sh: error: %s\n' "$*" >&2; exit 1; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case "${CARGO_TARGET_DIR:-}" in
  "") TARGET="$ROOT/target" ;;
  /*) TARGET="$CARGO_TARGET_DIR" ;;
  *) TARGET="$ROOT/$CARGO_TARGET_DIR" ;;
esac
GAIT="$TARGET/release/gait"
command -v hyperfine >/dev/null || die "hyperfine is required (apt-get install hyperfine)"
command -v curl >/dev/null || die "curl is required"
if [[ $BUILD -eq 1 ]]; then
  log "building the release binaries"
  (cd "$ROOT" && cargo build --release --workspace --quiet)
fi
[[ -x "$GAIT" ]] || die "missing $GAIT"

W=$(mktemp -d "${TMPDIR:-/tmp}/gait-bench-ux.XXXXXX")
UI_PID=""
cleanup() { [[ -n "$UI_PID" ]] && kill "$UI_PID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
mkdir -p "$W/home" "$W/work"
export HOME="$W/home"
cd "$W/work"
log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

"$GAIT" doctor --json >/dev/null # warm the manifest and trust caches
hyperfine -N --warmup 20 --runs "$RUNS" --export-json "$W/ux.json" \
  "$GAIT version --json" \
  "$GAIT doctor --json"
python3 - "$W/ux.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"median {r['median'] * 1000:.2f} ms  {r['command'].split('/')[-1]}")
PY

log "gait ui: first page load"
"$GAIT" demo >/dev/null
"$GAIT" ui --listen 127.0.0.1:0 --open-browser=false --json >"$W/ui.json" &
UI_PID=$!
for _ in $(seq 100); do [[ -s "$W/ui.json" ]] && break; sleep 0.05; done
URL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$W/ui.json")
for what in "/" "/api/state" "/api/runs" "/" "/api/state" "/api/runs"; do
  curl -s -o /dev/null -w "%{time_total}s  GET $what\n" "$URL$what"
done
