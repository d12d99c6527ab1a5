#!/usr/bin/env bash
# Runs every cargo-fuzz target of Gait for a fixed time each, one after another.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]      (default: 60 seconds, all targets)
#
# Environment:
#   FUZZ_SANITIZER  address (default) | none   — `none` where ASan is unavailable
#   FUZZ_MAX_LEN    largest generated input in bytes (default 65536)
#   FUZZ_TIMEOUT    seconds before one input counts as a hang (default 20)
#
# Works on a stable toolchain: cargo-fuzz needs nightly-only flags, which RUSTC_BOOTSTRAP=1
# unlocks. The corpus grows in fuzz/corpus/<target> (git-ignored) and starts from the
# committed seeds in fuzz/seeds/<target>; crashes land in fuzz/artifacts/<target>. Exits
# non-zero when any target fails. Not part of the normal test suite.
set -euo pipefail

cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1

seconds="${1:-60}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(intent_json policy_yaml approval_token canonical_json zip_archive pack_manifest regress_config
        script_registry wrkr_inventory delegation_token kill_switch_state)
fi
sanitizer="${FUZZ_SANITIZER:-address}"
max_len="${FUZZ_MAX_LEN:-65536}"
timeout="${FUZZ_TIMEOUT:-20}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run.sh: installing cargo-fuzz" >&2
    cargo install --locked cargo-fuzz
fi

cargo fuzz build --sanitizer "$sanitizer"

failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    dict=()
    if [ -f "dicts/$t.dict" ]; then
        dict=("-dict=dicts/$t.dict")
    fi
    echo "== $t: ${seconds}s" >&2
    if ! cargo fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$seconds" -max_len="$max_len" -timeout="$timeout" \
        -print_final_stats=1 "${dict[@]}"; then
        failed+=("$t")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "run.sh: failing targets: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "run.sh: all targets ran ${seconds}s without a failure" >&2
