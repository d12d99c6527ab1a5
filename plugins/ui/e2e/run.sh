#!/usr/bin/env bash
# End-to-end test of `gait ui` in headless Chromium: starts the built launcher's `gait ui` in a
# fresh workspace, runs e2e/test.mjs against it, and always stops the server.
# Needs target/debug/gait and its plugins (cargo build -p gait -p gait-ui -p gait-pack
# -p gait-regress -p gait-gate -p gait-job). UI_SCREENSHOT=<path> keeps the screenshot there.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
bin="${GAIT_BIN_DIR:-$repo/target/debug}"
gait="$bin/gait"
for b in gait gait-ui gait-pack gait-gate gait-job; do
  if [ ! -x "$bin/$b" ]; then
    echo "e2e: $bin/$b is not built (cargo build -p gait -p gait-ui -p gait-pack -p gait-gate -p gait-job)" >&2
    exit 1
  fi
done

if [ ! -x /usr/bin/chromium ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium
fi

(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

tmp="$(mktemp -d)"
ws="$tmp/workspace"
mkdir -p "$ws" "$tmp/profile" "$tmp/cache"
server_pid=""
cleanup() {
  status=$?
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -s "$tmp/ui.err" ]; then
    echo "--- gait ui stderr" >&2
    cat "$tmp/ui.err" >&2
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
export GAIT_CACHE_DIR="$tmp/cache"

cd "$ws"
# Two gate traces (one block, one allow) so the traces panel and its filter have data.
"$gait" gate eval --policy "$repo/examples/gate/policy.yaml" \
  --intent "$repo/examples/gate/intent_delete.json" --trace-out trace_delete.json --json >/dev/null || true
"$gait" gate eval --policy "$repo/examples/gate/policy.yaml" \
  --intent "$repo/examples/gate/intent_read.json" --trace-out trace_read.json --json >/dev/null || true
[ -f trace_delete.json ] && [ -f trace_read.json ] || { echo "e2e: gate eval wrote no traces" >&2; exit 1; }

"$gait" ui --listen 127.0.0.1:0 --open-browser=false --json >"$tmp/ui.out" 2>"$tmp/ui.err" &
server_pid=$!
for _ in $(seq 1 200); do
  if [ -s "$tmp/ui.out" ]; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then echo "e2e: gait ui exited early" >&2; exit 1; fi
  sleep 0.05
done
url="$(node -e 'const s=require("fs").readFileSync(process.argv[1],"utf8");const j=JSON.parse(s);if(!j.ok||!j.url)process.exit(1);console.log(j.url)' "$tmp/ui.out")"
echo "e2e: gait ui at $url (workspace $ws)"

UI_URL="$url" UI_PROFILE="$tmp/profile" node "$here/test.mjs"
echo "e2e: ok"
