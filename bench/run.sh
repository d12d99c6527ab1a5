#!/usr/bin/env bash
# Whole-command benchmarks for Gait: builds the release binaries, then measures with
# hyperfine (no shell in between), /usr/bin/time -v and stat. See bench/README.md.
#
# Usage: bench/run.sh [--criterion] [--no-build] [--help]
# Environment:
#   WARMUP=20 RUNS=300        hyperfine warm-up and measured runs per command
#   RSS_RUNS=20               /usr/bin/time -v runs per command (the maximum is reported)
#   MAX_LOAD=<float>          wait until the 1-minute load average is below this value
#   QUIET_TIMEOUT=900         ... for at most this many seconds (then measure anyway)
#   CARGO_TARGET_DIR          honoured like cargo does (relative to the repository root)
set -euo pipefail

WARMUP=${WARMUP:-20}
RUNS=${RUNS:-300}
RSS_RUNS=${RSS_RUNS:-20}
MAX_LOAD=${MAX_LOAD:-}
QUIET_TIMEOUT=${QUIET_TIMEOUT:-900}
WITH_CRITERION=0
BUILD=1

usage() { sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
for arg in "$@"; do
  case "$arg" in
    --criterion) WITH_CRITERION=1 ;;
    --no-build) BUILD=0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'run.sh: error: %s\n' "$*" >&2; exit 1; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
POLICY="$ROOT/plugins/gate/templates/baseline-highrisk.yaml"
INTENT="$BENCH/fixtures/intent_write.json"
RESULTS_DIR="$BENCH/results"
[[ -f "$POLICY" ]] || die "policy template not found: $POLICY"
[[ -f "$INTENT" ]] || die "intent fixture not found: $INTENT"

case "${CARGO_TARGET_DIR:-}" in
  "") TARGET="$ROOT/target" ;;
  /*) TARGET="$CARGO_TARGET_DIR" ;;
  *) TARGET="$ROOT/$CARGO_TARGET_DIR" ;;
esac
REL="$TARGET/release"
GAIT="$REL/gait"
GATE="$REL/gait-gate"

# ------------------------------------------------------------------ tools

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root (or sudo) to run: $*"; fi
}

apt_install() { # apt_install <package> <what it provides>
  command -v apt-get >/dev/null || die "$2 is missing and apt-get is unavailable; install package '$1' by hand"
  log "installing $1 (for $2)"
  if ! as_root apt-get install -y "$1" >/dev/null 2>&1; then
    as_root apt-get update >/dev/null
    as_root apt-get install -y "$1" >/dev/null
  fi
}

command -v cargo >/dev/null || die "cargo not found on PATH"
command -v python3 >/dev/null && python3 -c 'import json, statistics' 2>/dev/null ||
  die "python3 (with json/statistics) is required to summarise results"
command -v hyperfine >/dev/null || apt_install hyperfine hyperfine
[[ -x /usr/bin/time ]] || apt_install time /usr/bin/time
hyperfine --help 2>/dev/null | grep -q -- '--shell' ||
  die "hyperfine is too old (need --shell=none / -N, hyperfine >= 1.13)"

# ------------------------------------------------------------------ build

if [[ $BUILD -eq 1 ]]; then
  log "building release binaries (cargo build --release --workspace)"
  (cd "$ROOT" && cargo build --release --workspace --quiet)
fi
[[ -x "$GAIT" && -x "$GATE" ]] || die "release binaries missing in $REL (run without --no-build)"

if [[ $WITH_CRITERION -eq 1 ]]; then
  log "running criterion benchmark (cargo bench -p gait-gate --bench evaluate)"
  (cd "$ROOT" && cargo bench -p gait-gate --bench evaluate --quiet -- --noplot) >&2
fi

RUSTC_VERSION=$(rustc --version 2>/dev/null || true) # before HOME moves into the sandbox

# ------------------------------------------------------------------ sandbox

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gait-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/home" "$WORK/plugins" "$WORK/cache" "$WORK/run"
# A private HOME, plugin dir and manifest cache: nothing from the user's ~/.gait interferes,
# and nothing the commands write (traces, approval audits, rate-limit state) lands in the repo.
export HOME="$WORK/home" GAIT_PLUGIN_DIR="$WORK/plugins" GAIT_CACHE_DIR="$WORK/cache"
unset GAIT_LAUNCHER GAIT_MANIFEST_TIMEOUT_MS
cd "$WORK/run"

log "generating a fixed signing key"
"$GAIT" keys init --out-dir "$WORK/keys" --json >/dev/null || die "gait keys init failed"
KEY="$WORK/keys/gait_private.key"
[[ -f "$KEY" ]] || die "expected private key at $KEY"

EVAL_ARGS=(gate eval --policy "$POLICY" --intent "$INTENT" --json --trace-out "$WORK/trace.json")
PROD_ARGS=("${EVAL_ARGS[@]}" --key-mode prod --private-key "$KEY")
DEV_ARGS=("${EVAL_ARGS[@]}")

# Preflight: each measured command must reach the expected verdict (exit 4 =
# require_approval), because hyperfine -i would also happily time an error path.
check_eval() { # check_eval <label> <cmd...>
  local label=$1 out rc=0
  shift
  out=$("$@" 2>&1) || rc=$?
  [[ $rc -eq 4 && $out == *'"verdict":"require_approval"'* ]] ||
    die "$label: expected exit 4 with verdict require_approval, got exit $rc: $out"
}
log "preflight (also warms the launcher's manifest cache)"
check_eval "gait (prod)" "$GAIT" "${PROD_ARGS[@]}"
check_eval "gait-gate (prod)" "$GATE" "${PROD_ARGS[@]}"
check_eval "gait (dev)" "$GAIT" "${DEV_ARGS[@]}"
check_eval "gait-gate (dev)" "$GATE" "${DEV_ARGS[@]}"
"$GAIT" plugin list --json >/dev/null
[[ -n $(ls -A "$WORK/cache") ]] || die "launcher manifest cache was not written to $GAIT_CACHE_DIR"

# ------------------------------------------------------------------ quiet machine

load1() { cut -d' ' -f1 /proc/loadavg; }
if [[ -n $MAX_LOAD ]]; then
  waited=0
  while python3 -c "import sys; sys.exit(0 if float('$(load1)') >= float('$MAX_LOAD') else 1)"; do
    if ((waited >= QUIET_TIMEOUT)); then
      log "load $(load1) still >= $MAX_LOAD after ${waited}s; measuring anyway"
      break
    fi
    log "load $(load1) >= $MAX_LOAD; waiting (${waited}s/${QUIET_TIMEOUT}s)"
    sleep 60
    waited=$((waited + 60))
  done
fi
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ timing

q() { printf '%q ' "$@"; } # a command line for hyperfine -N (split like a shell would)
HF=(hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --style basic)
HALF=$(((RUNS + 1) / 2))
((HALF >= 10)) || HALF=10
HF_HALF=(hyperfine -N --warmup "$WARMUP" --runs "$HALF" --style basic -i)

# The launcher overhead is a difference of two medians measured one after the other, so
# it is sensitive to drift in machine state: the gate eval commands run in two rounds of
# RUNS/2, the second in reverse order, and the rounds are merged per command.
EVAL_CMDS=(
  "gait gate eval (prod)" "$(q "$GAIT" "${PROD_ARGS[@]}")"
  "gait-gate gate eval (prod)" "$(q "$GATE" "${PROD_ARGS[@]}")"
  "gait gate eval (dev)" "$(q "$GAIT" "${DEV_ARGS[@]}")"
  "gait-gate gate eval (dev)" "$(q "$GATE" "${DEV_ARGS[@]}")"
)
hf_round() { # hf_round <json> <index...>
  local out=$1 i args=()
  shift
  for i in "$@"; do args+=(-n "${EVAL_CMDS[2 * i]}" "${EVAL_CMDS[2 * i + 1]}"); done
  "${HF_HALF[@]}" --export-json "$out" "${args[@]}" >&2
}
log "hyperfine: gate eval, launcher vs direct, prod and dev key modes (2 rounds of $HALF runs)"
hf_round "$WORK/hf_eval_a.json" 0 1 2 3
hf_round "$WORK/hf_eval_b.json" 3 2 1 0

# Diagnostic: the same direct command with the trace, the audit record and the cwd on
# tmpfs, where fsync is nearly free; the difference to the ext4/disk row is the cost of
# the durable writes (4 fsyncs).
SHM=""
if [[ -d /dev/shm && -w /dev/shm ]]; then
  SHM=$(mktemp -d /dev/shm/gait-bench.XXXXXX)
  trap 'rm -rf "$WORK" "$SHM"' EXIT
  TMPFS_ARGS=(gate eval --policy "$POLICY" --intent "$INTENT" --json
    --trace-out "$SHM/trace.json" --key-mode prod --private-key "$KEY")
  log "hyperfine: gate eval with outputs on tmpfs (fsync cost diagnostic)"
  (cd "$SHM" && check_eval "gait-gate (prod, tmpfs)" "$GATE" "${TMPFS_ARGS[@]}" &&
    "${HF[@]}" -i --export-json "$WORK/hf_tmpfs.json" \
      -n "gait-gate gate eval (prod, tmpfs)" "$(q "$GATE" "${TMPFS_ARGS[@]}")" >&2)
fi

log "hyperfine: launcher and manifest commands"
"${HF[@]}" --export-json "$WORK/hf_misc.json" \
  -n "gait --version" "$(q "$GAIT" --version)" \
  -n "gait-gate --gait-manifest" "$(q "$GATE" --gait-manifest)" \
  -n "gait plugin list --json" "$(q "$GAIT" plugin list --json)" >&2
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ peak RSS

log "peak RSS: /usr/bin/time -v over $RSS_RUNS runs"
rss_runs() { # rss_runs <out-file> <cmd...>: one "Maximum resident set size" (KiB) per line
  local out=$1 i rc
  shift
  : >"$out"
  for ((i = 0; i < RSS_RUNS; i++)); do
    rc=0
    /usr/bin/time -v -o "$WORK/time.txt" "$@" >/dev/null 2>&1 || rc=$?
    [[ $rc -eq 4 ]] || die "peak RSS run of $1 exited $rc (expected 4)"
    sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$WORK/time.txt" >>"$out"
  done
}
rss_runs "$WORK/rss_gait.txt" "$GAIT" "${PROD_ARGS[@]}"
rss_runs "$WORK/rss_gate.txt" "$GATE" "${PROD_ARGS[@]}"

# ------------------------------------------------------------------ sizes

: >"$WORK/sizes.txt"
for f in "$REL"/gait "$REL"/gait-*; do
  [[ -f "$f" && -x "$f" && "$f" != *.d ]] || continue
  printf '%s\t%s\n' "$(basename "$f")" "$(stat -c %s "$f")" >>"$WORK/sizes.txt"
done

# ------------------------------------------------------------------ summary

mkdir -p "$RESULTS_DIR"
CRITERION_DIR=""
[[ $WITH_CRITERION -eq 1 ]] && CRITERION_DIR="$TARGET/criterion"
export WORK RESULTS_DIR LOAD_BEFORE LOAD_AFTER WARMUP RUNS RSS_RUNS CRITERION_DIR
HF_VERSION=$(hyperfine --version)
export HF_VERSION RUSTC_VERSION
python3 - <<'PY'
import json, os, platform, statistics, subprocess, time

W = os.environ["WORK"]
MiB = 1024 * 1024
targets = {
    "gate_eval_median_ms": 3.0,
    "gate_eval_peak_rss_kib": 6 * 1024,
    "launcher_overhead_median_ms": 1.0,
    "binary_size_bytes": 10 * MiB,
    "evaluate_median_us": 2.0,
}

# Merge hyperfine results per command (the gate eval commands run in two rounds).
runs = {}
for name in ("hf_eval_a.json", "hf_eval_b.json", "hf_misc.json", "hf_tmpfs.json"):
    path = os.path.join(W, name)
    if not os.path.isfile(path):
        continue
    with open(path) as f:
        for r in json.load(f)["results"]:
            e = runs.setdefault(r["command"], {"times": [], "user": [], "system": []})
            e["times"] += r["times"]
            e["user"] += [r["user"]] * len(r["times"])
            e["system"] += [r["system"]] * len(r["times"])
commands = {}
for name, e in runs.items():
    t = e["times"]
    commands[name] = {
        "median_ms": statistics.median(t) * 1e3,
        "mean_ms": statistics.fmean(t) * 1e3,
        "stddev_ms": (statistics.stdev(t) if len(t) > 1 else 0.0) * 1e3,
        "min_ms": min(t) * 1e3,
        "max_ms": max(t) * 1e3,
        "user_ms": statistics.fmean(e["user"]) * 1e3,
        "system_ms": statistics.fmean(e["system"]) * 1e3,
        "runs": len(t),
    }

def overhead(mode):
    return commands[f"gait gate eval ({mode})"]["median_ms"] - commands[f"gait-gate gate eval ({mode})"]["median_ms"]

def rss(name):
    with open(os.path.join(W, name)) as f:
        v = [int(x) for x in f.read().split()]
    return {"max_kib": max(v), "median_kib": statistics.median(v), "runs": len(v)}

sizes = {}
with open(os.path.join(W, "sizes.txt")) as f:
    for line in f:
        n, s = line.split("\t")
        sizes[n] = int(s)

criterion = {}
cdir = os.environ.get("CRITERION_DIR")
if cdir and os.path.isdir(os.path.join(cdir, "gate")):
    for bench in sorted(os.listdir(os.path.join(cdir, "gate"))):
        p = os.path.join(cdir, "gate", bench, "new", "estimates.json")
        if os.path.isfile(p):
            with open(p) as f:
                e = json.load(f)
            criterion[bench] = {"median_ns": e["median"]["point_estimate"], "mean_ns": e["mean"]["point_estimate"]}

res = {
    "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "kernel": platform.release()},
    "tools": {"hyperfine": os.environ["HF_VERSION"], "rustc": os.environ["RUSTC_VERSION"]},
    "load_average": {"before": os.environ["LOAD_BEFORE"], "after": os.environ["LOAD_AFTER"]},
    "settings": {"warmup": int(os.environ["WARMUP"]), "runs": int(os.environ["RUNS"]), "rss_runs": int(os.environ["RSS_RUNS"])},
    "commands": commands,
    "launcher_overhead_median_ms": {"prod": overhead("prod"), "dev": overhead("dev")},
    "peak_rss": {"gait gate eval (prod)": rss("rss_gait.txt"), "gait-gate gate eval (prod)": rss("rss_gate.txt")},
    "binary_size_bytes": sizes,
    "criterion": criterion,
    "durable_write_cost_median_ms": (
        commands["gait-gate gate eval (prod)"]["median_ms"] - commands["gait-gate gate eval (prod, tmpfs)"]["median_ms"]
        if "gait-gate gate eval (prod, tmpfs)" in commands else None
    ),
    "targets": targets,
}
checks = {
    "gate_eval_median_ms": commands["gait gate eval (prod)"]["median_ms"] <= targets["gate_eval_median_ms"],
    "gate_eval_peak_rss_kib": res["peak_rss"]["gait gate eval (prod)"]["max_kib"] <= targets["gate_eval_peak_rss_kib"],
    "launcher_overhead_median_ms": overhead("prod") <= targets["launcher_overhead_median_ms"],
    "binary_size_bytes": all(s < targets["binary_size_bytes"] for s in sizes.values()),
}
if "evaluate" in criterion:
    checks["evaluate_median_us"] = criterion["evaluate"]["median_ns"] / 1e3 <= targets["evaluate_median_us"]
res["checks"] = checks
with open(os.path.join(os.environ["RESULTS_DIR"], "latest.json"), "w") as f:
    json.dump(res, f, indent=2)
    f.write("\n")

ok = lambda b: "ok" if b else "OVER"
rows = []
for name, c in commands.items():
    rows.append((name, f"{c['median_ms']:.3f} ms", f"{c['mean_ms']:.3f} ± {c['stddev_ms']:.3f} ms (user {c['user_ms']:.2f}, sys {c['system_ms']:.2f})", ""))
if "gait-gate gate eval (prod, tmpfs)" in commands:
    d = res["durable_write_cost_median_ms"]
    rows.append(("durable writes (disk − tmpfs, median diff)", f"{d:.3f} ms", "diagnostic", ""))
rows.append(("launcher overhead (prod, median diff)", f"{overhead('prod'):.3f} ms", "", f"≤ 1 ms {ok(checks['launcher_overhead_median_ms'])}"))
rows.append(("launcher overhead (dev, median diff)", f"{overhead('dev'):.3f} ms", "", ""))
for name, r in res["peak_rss"].items():
    t = f"≤ 6 MiB {ok(checks['gate_eval_peak_rss_kib'])}" if name.startswith("gait gate") else ""
    rows.append((f"peak RSS {name}", f"{r['max_kib']} KiB", f"median {r['median_kib']:.0f} KiB", t))
for n, s in sizes.items():
    rows.append((f"size {n}", f"{s / MiB:.2f} MiB", f"{s} B", f"< 10 MiB {ok(s < targets['binary_size_bytes'])}"))
for n, c in criterion.items():
    t = f"≤ 2 µs {ok(checks['evaluate_median_us'])}" if n == "evaluate" else ""
    rows.append((f"criterion gate/{n}", f"{c['median_ns'] / 1e3:.3f} µs", "", t))
first = commands["gait gate eval (prod)"]["median_ms"]
rows.insert(0, ("", "median", "mean ± σ / detail", "target"))
w = [max(len(r[i]) for r in rows) for i in range(4)]
print()
print(f"Gait bench  {res['timestamp']}  load before {res['load_average']['before']}  after {res['load_average']['after']}  ({res['host']['cpus']} CPUs)")
for r in rows:
    print("  ".join(r[i].ljust(w[i]) for i in range(4)).rstrip())
print(f"gate eval (prod, via gait) median {first:.3f} ms: ≤ 3 ms {ok(checks['gate_eval_median_ms'])}")
print(f"results: {os.path.join(os.environ['RESULTS_DIR'], 'latest.json')}")
PY
