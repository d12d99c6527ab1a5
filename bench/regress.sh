#!/usr/bin/env bash
# Regress at scale: `gait regress run` over FIXTURES fixtures (default 500), each made from
# its own recorded run with `gait run record` + `gait regress add`, timed as a whole process
# (release build, through the launcher). Target: under 2 s for 500 fixtures.
#
# Usage: bench/regress.sh [--no-build] [--keep] [--help]
# Environment:
#   FIXTURES=500   fixtures to create
#   INTENTS=5      intents (and results) per recorded run
#   RUNS=10        timed `regress run` repetitions (the median is reported)
#   CARGO_TARGET_DIR  honoured like cargo does (relative to the repository root)
set -euo pipefail

FIXTURES=${FIXTURES:-500}
INTENTS=${INTENTS:-5}
RUNS=${RUNS:-10}
BUILD=1
KEEP=0
usage() { sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
for arg in "$@"; do
  case "$arg" in
    --no-build) BUILD=0 ;;
    --keep) KEEP=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "regress.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done
log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'regress.sh: error: %s\n' "$*" >&2; exit 1; }
now_ns() { date +%s%N; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case "${CARGO_TARGET_DIR:-}" in
  "") TARGET="$ROOT/target" ;;
  /*) TARGET="$CARGO_TARGET_DIR" ;;
  *) TARGET="$ROOT/$CARGO_TARGET_DIR" ;;
esac
GAIT="$TARGET/release/gait"

if [[ $BUILD -eq 1 ]]; then
  log "building release binaries (gait, gait-pack, gait-regress)"
  (cd "$ROOT" && cargo build --release --quiet -p gait -p gait-pack -p gait-regress)
fi
for b in gait gait-pack gait-regress; do
  [[ -x "$TARGET/release/$b" ]] || die "missing $TARGET/release/$b (build first or drop --no-build)"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gait-bench-regress.XXXXXX")
[[ $KEEP -eq 1 ]] || trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
# A private HOME and manifest cache: nothing from the user's ~/.gait is involved.
export HOME="$WORK/home" GAIT_CACHE_DIR="$WORK/cache"
mkdir -p "$HOME" "$GAIT_CACHE_DIR"

record_input() { # $1 = run number: every run has its own tools, arguments and results
  local i=$1 k intents="" results="" sep=""
  local tools=(http.get db.query file.write queue.publish tool.search)
  for ((k = 1; k <= INTENTS; k++)); do
    local tool=${tools[$(((i + k) % ${#tools[@]}))]}
    intents+="$sep{\"intent_id\":\"intent_$k\",\"tool_name\":\"$tool\",\"args\":{\"n\":$i,\"k\":$k}}"
    results+="$sep{\"intent_id\":\"intent_$k\",\"status\":\"ok\",\"result\":{\"ok\":true,\"n\":$i}}"
    sep=","
  done
  cat <<EOF
{"run":{"schema_id":"gait.runpack.run","schema_version":"1.0.0","created_at":"2026-03-01T00:00:00Z","producer_version":"bench","run_id":"run_bench_$i","env":{"os":"linux","arch":"amd64","runtime":"rust"},"timeline":[{"event":"start","ts":"2026-03-01T00:00:00Z"}]},
 "intents":[$intents],"results":[$results],
 "refs":{"receipts":[{"ref_id":"ref_1","source_type":"doc","source_locator":"kb://bench/$i","query_digest":"$(printf 'a%.0s' {1..64})","content_digest":"$(printf 'b%.0s' {1..64})","retrieved_at":"2026-03-01T00:00:00Z","redaction_mode":"reference"}]},
 "capture_mode":"reference"}
EOF
}

log "recording $FIXTURES runs and adding them as fixtures in $WORK"
t0=$(now_ns)
for ((i = 1; i <= FIXTURES; i++)); do
  record_input "$i" >in.json
  "$GAIT" run record --input in.json --json >/dev/null || die "run record $i failed"
done
t1=$(now_ns)
for ((i = 1; i <= FIXTURES; i++)); do
  "$GAIT" regress add --from "run_bench_$i" --json >/dev/null || die "regress add $i failed"
done
t2=$(now_ns)
n=$(python3 -c 'import json; print(len(json.load(open("gait.yaml"))["fixtures"]))')
[[ $n -eq $FIXTURES ]] || die "gait.yaml lists $n fixtures, expected $FIXTURES"

log "timing: gait regress run --json --junit junit.xml ($RUNS runs, 1 warm-up)"
"$GAIT" regress run --json --junit junit.xml >warmup.json || die "regress run did not pass: $(cat warmup.json)"
times=()
for ((r = 1; r <= RUNS; r++)); do
  s=$(now_ns)
  "$GAIT" regress run --json --junit junit.xml >run.json || die "regress run failed: $(cat run.json)"
  e=$(now_ns)
  times+=($(((e - s) / 1000000)))
done
graders=$(python3 -c 'import json; print(json.load(open("run.json"))["graders"])')
[[ $graders -eq $((FIXTURES * 4)) ]] || die "graded $graders results, expected $((FIXTURES * 4))"

sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(printf '%s\n' "$sorted" | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}')
min=$(printf '%s\n' "$sorted" | head -1)
max=$(printf '%s\n' "$sorted" | tail -1)
load=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")

cat <<EOF

gait regress run over $FIXTURES fixtures ($INTENTS intents each; $graders grader results; JUnit written)
  median ${median} ms   min ${min} ms   max ${max} ms   ($RUNS runs; target < 2000 ms)
  setup: run record $(((t1 - t0) / 1000000 / FIXTURES)) ms/run, regress add $(((t2 - t1) / 1000000 / FIXTURES)) ms/fixture
  machine: $(nproc) cores, load average $load
EOF
((median < 2000)) || { echo "regress.sh: median ${median} ms is over the 2 s target" >&2; exit 1; }
