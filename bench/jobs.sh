#!/usr/bin/env bash
# Times `gait job checkpoint add` as a user runs it: the release launcher, the job plugin, a
# real job directory on disk and every fsync of the write protocol (marker, state, event log:
# there is no way to turn fsync off). Prints median, p90, mean, min and max over RUNS adds,
# through the launcher and directly through gait-job (the launcher's share), and the load.
#
# Usage: bench/jobs.sh [--no-build] [--help]
# Environment:
#   RUNS=200 WARMUP=20        measured and warm-up adds
#   CARGO_TARGET_DIR          honoured like cargo does (relative to the repository root)
#   BENCH_DIR                 where the job root lives (default: a temp dir under $TMPDIR);
#                             put it on the disk you care about
set -euo pipefail

RUNS=${RUNS:-200}
WARMUP=${WARMUP:-20}
BUILD=1
for arg in "$@"; do
  case "$arg" in
    --no-build) BUILD=0 ;;
    -h | --help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "jobs.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case "${CARGO_TARGET_DIR:-}" in
  "") TARGET="$ROOT/target" ;;
  /*) TARGET="$CARGO_TARGET_DIR" ;;
  *) TARGET="$ROOT/$CARGO_TARGET_DIR" ;;
esac
REL="$TARGET/release"
if [[ $BUILD == 1 ]]; then
  (cd "$ROOT" && cargo build --release -p gait -p gait-job >&2)
fi
for b in gait gait-job; do
  [[ -x "$REL/$b" ]] || { echo "jobs.sh: $REL/$b is missing (run without --no-build)" >&2; exit 1; }
done

WORK=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/gait-jobs-bench.XXXXXX")}
mkdir -p "$WORK"
export HOME="$WORK/home" GAIT_CACHE_DIR="$WORK/cache"
mkdir -p "$HOME"
cd "$WORK"

python3 - "$REL" "$RUNS" "$WARMUP" <<'PY'
import os, statistics, subprocess, sys, time
rel, runs, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
gait, plugin = os.path.join(rel, "gait"), os.path.join(rel, "gait-job")

def run(argv):
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.exit(f"jobs.sh: {' '.join(argv)} failed ({r.returncode}): {r.stderr.decode()}")

def bench(label, exe, job):
    run([exe, "job", "submit", "--id", job, "--json"])
    times = []
    for i in range(warmup + runs):
        argv = [exe, "job", "checkpoint", "add", "--id", job, "--type", "progress",
                "--summary", f"step {i}", "--json"]
        t0 = time.perf_counter()
        run(argv)
        dt = (time.perf_counter() - t0) * 1000
        if i >= warmup:
            times.append(dt)
    times.sort()
    p90 = times[int(len(times) * 0.9) - 1]
    print(f"{label:<34} median {statistics.median(times):7.2f} ms   p90 {p90:7.2f} ms   "
          f"mean {statistics.mean(times):7.2f} ms   min {times[0]:6.2f}   max {times[-1]:7.2f}   (n={len(times)})")
    return statistics.median(times)

print(f"load average: {open('/proc/loadavg').read().split()[:3]}")
print(f"job root: {os.getcwd()}/gait-out/jobs  (fsync: always on)")
run([gait, "job", "list", "--json"])  # warm the launcher's manifest cache
m1 = bench("gait job checkpoint add", gait, "bench_launcher")
m2 = bench("gait-job job checkpoint add", plugin, "bench_direct")
print(f"launcher share of the median: {m1 - m2:.2f} ms")
PY
if [[ -z "${BENCH_DIR:-}" ]]; then rm -rf "$WORK"; fi
