#!/usr/bin/env bash
# Evidence benchmarks: `gait pack verify` on a generated 256 MiB pack against sha256sum over
# the same uncompressed bytes (time and peak RSS), and `gait demo` / `gait verify run_demo`
# as whole processes. See bench/README.md.
#
# Usage: bench/pack.sh [--no-build] [--keep] [--help]
# Environment:
#   RUNS=10 DEMO_RUNS=200     hyperfine measured runs (large pack / demo commands)
#   MIB_PER_FILE=64 FILES=4   generated evidence: FILES files of MIB_PER_FILE MiB (base64 text,
#                             so entries are genuinely deflated, about 1.3:1)
#   CARGO_TARGET_DIR          honoured like cargo does (relative to the repository root)
set -euo pipefail

RUNS=${RUNS:-10}
DEMO_RUNS=${DEMO_RUNS:-200}
MIB_PER_FILE=${MIB_PER_FILE:-64}
FILES=${FILES:-4}
BUILD=1
KEEP=0
usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
for arg in "$@"; do
  case "$arg" in
    --no-build) BUILD=0 ;;
    --keep) KEEP=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "pack.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done
log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'pack.sh: error: %s\n' "$*" >&2; exit 1; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case "${CARGO_TARGET_DIR:-}" in
  "") TARGET="$ROOT/target" ;;
  /*) TARGET="$CARGO_TARGET_DIR" ;;
  *) TARGET="$ROOT/$CARGO_TARGET_DIR" ;;
esac
GAIT="$TARGET/release/gait"

command -v hyperfine >/dev/null || die "hyperfine is required (apt-get install hyperfine)"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is required (apt-get install time)"
if [[ $BUILD -eq 1 ]]; then
  log "building release binaries"
  (cd "$ROOT" && cargo build --release --workspace --quiet)
fi
[[ -x "$GAIT" ]] || die "missing $GAIT (build first or drop --no-build)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gait-bench-pack.XXXXXX")
[[ $KEEP -eq 1 ]] || trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

log "generating $FILES x $MIB_PER_FILE MiB of evidence in $WORK"
links=(trace approval_audit credential_evidence delegation_audit context_evidence outcome)
(( FILES >= 1 && FILES <= ${#links[@]} )) || die "FILES must be 1..${#links[@]}"
bundle='{"schema_id":"gait.gate.authorization_bundle","schema_version":"1.0.0","created_at":"2026-02-01T00:00:00Z","trace_id":"trace_bench","policy_digest":"'$(printf 'a%.0s' {1..64})'","intent_digest":"'$(printf 'b%.0s' {1..64})'"'
for ((i = 0; i < FILES; i++)); do
  # `head` closes the pipe early on purpose; that SIGPIPE is not a failure.
  { head -c $((MIB_PER_FILE * 3 / 4 * 1024 * 1024 + 1024 * 1024)) /dev/urandom | base64 -w 76 |
    head -c $((MIB_PER_FILE * 1024 * 1024)) >"ev$i.bin"; } || true
  [[ $(stat -c %s "ev$i.bin") -eq $((MIB_PER_FILE * 1024 * 1024)) ]] || die "could not generate ev$i.bin"
  bundle+=',"'"${links[$i]}"'_path":"ev'"$i"'.bin"'
done
printf '%s}\n' "$bundle" >bundle.json

log "gait pack build --type authorization (time, peak RSS)"
/usr/bin/time -f '%e %M' -o build.time "$GAIT" pack build --type authorization --from bundle.json \
  --out big.zip --json >/dev/null
read -r build_s build_kb <build.time
pack_bytes=$(stat -c %s big.zip)
raw_bytes=$((FILES * MIB_PER_FILE * 1024 * 1024))
"$GAIT" pack verify big.zip --json >/dev/null || die "the generated pack does not verify"

log "hyperfine: pack verify vs sha256sum over the uncompressed bytes ($RUNS runs)"
hyperfine -N --warmup 1 --runs "$RUNS" --style basic --export-json verify.json \
  "$GAIT pack verify big.zip --json" \
  "sha256sum $(ls ev*.bin | tr '\n' ' ')" >/dev/null
rss_kb=0
for _ in 1 2 3; do
  /usr/bin/time -f '%M' -o rss.time "$GAIT" pack verify big.zip --json >/dev/null
  r=$(cat rss.time); ((r > rss_kb)) && rss_kb=$r
done

log "hyperfine: gait demo and gait verify run_demo ($DEMO_RUNS runs)"
mkdir demo && cd demo
"$GAIT" demo --json >/dev/null
hyperfine -N --warmup 10 --runs "$DEMO_RUNS" --style basic --export-json ../demo.json \
  "$GAIT demo --json" "$GAIT verify run_demo --json" >/dev/null
cd ..

python3 - "$build_s" "$build_kb" "$pack_bytes" "$raw_bytes" "$rss_kb" <<'EOF'
import json, sys
build_s, build_kb, pack_bytes, raw_bytes, rss_kb = sys.argv[1:]
v = json.load(open("verify.json"))["results"]
d = json.load(open("demo.json"))["results"]
med = lambda r: r["median"]
print(f"pack: {int(raw_bytes)/2**20:.0f} MiB uncompressed, {int(pack_bytes)/2**20:.1f} MiB zip")
print(f"pack build            {float(build_s):8.2f} s   peak RSS {int(build_kb)/1024:6.1f} MiB")
print(f"pack verify (median)  {med(v[0]):8.3f} s   peak RSS {int(rss_kb)/1024:6.1f} MiB")
print(f"sha256sum   (median)  {med(v[1]):8.3f} s")
print(f"verify / sha256sum    {med(v[0])/med(v[1]):8.2f} x   (target <= 1.5 x, RSS < 64 MB)")
print(f"gait demo             {med(d[0])*1000:8.2f} ms median (target <= 5 ms)")
print(f"gait verify run_demo  {med(d[1])*1000:8.2f} ms median (target <= 5 ms)")
EOF
