#!/usr/bin/env bash
# Crash test for durable jobs: SIGKILLs `gait job checkpoint add`, `pause` and `resume` at
# random moments, ROUNDS times, on one job. After every kill the job must still load
# (`gait job status` exits 0, recovering an interrupted mutation when needed), and every
# checkpoint whose `checkpoint add` had exited 0 must be present. At the end the event log
# must hold exactly one event per revision, in order, matching state.json. Prints the counts.
#
# Usage: tests/job_crash.sh [--no-build] [--help]
# Environment:
#   ROUNDS=500                kills to attempt
#   MAX_DELAY_MS=10           the kill lands uniformly in [0, MAX_DELAY_MS] ms after spawn
#   SEED=<int>                random seed (default: time-based; printed)
#   CARGO_TARGET_DIR          honoured like cargo does (relative to the repository root)
#   PROFILE=release|debug     which binaries to use (default release)
set -euo pipefail

ROUNDS=${ROUNDS:-500}
MAX_DELAY_MS=${MAX_DELAY_MS:-10}
SEED=${SEED:-$(date +%s)}
PROFILE=${PROFILE:-release}
BUILD=1
for arg in "$@"; do
  case "$arg" in
    --no-build) BUILD=0 ;;
    -h | --help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "job_crash.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case "${CARGO_TARGET_DIR:-}" in
  "") TARGET="$ROOT/target" ;;
  /*) TARGET="$CARGO_TARGET_DIR" ;;
  *) TARGET="$ROOT/$CARGO_TARGET_DIR" ;;
esac
BIN="$TARGET/$PROFILE"
if [[ $BUILD == 1 ]]; then
  flag=""
  [[ $PROFILE == release ]] && flag="--release"
  (cd "$ROOT" && cargo build $flag -p gait -p gait-job >&2)
fi
[[ -x "$BIN/gait" && -x "$BIN/gait-job" ]] || { echo "job_crash.sh: binaries missing in $BIN" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gait-job-crash.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export HOME="$WORK/home" GAIT_CACHE_DIR="$WORK/cache"
mkdir -p "$HOME"
cd "$WORK"

python3 - "$BIN/gait" "$ROUNDS" "$MAX_DELAY_MS" "$SEED" <<'PY'
import json, os, random, signal, subprocess, sys, time

gait, rounds, max_delay, seed = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
JOB = "crash"
jobdir = os.path.join("gait-out", "jobs", JOB)

def run(args):
    r = subprocess.run([gait, "job", *args, "--id", JOB, "--json"], capture_output=True)
    try:
        out = json.loads(r.stdout)
    except ValueError:
        out = {}
    return r.returncode, out

code, _ = run(["submit", "--env-fingerprint", "envfp:crash"])
assert code == 0, "submit failed"

counts = {"rounds": 0, "killed": 0, "finished_before_kill": 0, "acked_checkpoints": 0,
          "markers_left_by_kill": 0, "stale_locks_left_by_kill": 0, "load_failures": 0,
          "missing_checkpoints": 0, "ops": {"checkpoint add": 0, "pause": 0, "resume": 0}}
acked = set()
failures = []
for i in range(rounds):
    counts["rounds"] += 1
    r = rng.random()
    if r < 0.7:
        op, args = "checkpoint add", ["checkpoint", "add", "--type", "progress", "--summary", f"s{i}"]
    elif r < 0.85:
        op, args = "pause", ["pause"]
    else:
        op, args = "resume", ["resume", "--env-fingerprint", "envfp:crash"]
    counts["ops"][op] += 1
    p = subprocess.Popen([gait, "job", *args, "--id", JOB, "--json"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0, max_delay) / 1000.0)
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
        p.wait()
        counts["killed"] += 1
    else:
        counts["finished_before_kill"] += 1
        if p.returncode == 0 and op == "checkpoint add":
            acked.add(f"s{i}")
            counts["acked_checkpoints"] += 1
    if os.path.exists(os.path.join(jobdir, "pending_mutation.json")):
        counts["markers_left_by_kill"] += 1
    if os.path.exists(os.path.join(jobdir, "state.json.lock")):
        counts["stale_locks_left_by_kill"] += 1
    code, out = run(["status"])
    if code != 0:
        counts["load_failures"] += 1
        failures.append(f"round {i} ({op}): status exit {code}: {out.get('error')}")
        continue
    present = {c["summary"] for c in out["job"].get("checkpoints", [])}
    missing = acked - present
    if missing:
        counts["missing_checkpoints"] += len(missing)
        failures.append(f"round {i} ({op}): acknowledged checkpoints missing: {sorted(missing)[:5]}")
        acked -= missing

# Final consistency: one event per revision, in order, and state.json agrees.
code, out = run(["inspect"])
if code != 0:
    failures.append(f"final inspect failed: {out.get('error')}")
else:
    revs = [e["revision"] for e in out.get("events", [])]
    if revs != list(range(1, len(revs) + 1)):
        failures.append("event revisions are not 1..n in order")
    if out["job"]["revision"] != len(revs):
        failures.append(f"state revision {out['job']['revision']} != {len(revs)} events")
    cps = [e["payload"]["checkpoint_id"] for e in out.get("events", []) if e["type"] == "checkpoint_added"]
    ids = [c["checkpoint_id"] for c in out["job"]["checkpoints"]]
    if cps != ids:
        failures.append("checkpoint events and state checkpoints differ")
    counts["final_revision"] = out["job"]["revision"]
    counts["final_checkpoints"] = len(ids)

print(f"seed {seed}")
print(json.dumps(counts, indent=2, sort_keys=True))
for f in failures[:20]:
    print("FAIL", f)
print(f"{counts['rounds'] - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
PY
