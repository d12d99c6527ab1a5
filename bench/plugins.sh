#!/usr/bin/env bash
# Launcher cost with installed, signed plugins: builds a signed registry of ten plugins,
# installs them with `gait plugin install`, then measures with hyperfine
#   - warm: `gait pNN pNN` against running the installed `gait-pNN pNN` directly;
#   - cold: the first run after install (manifest and trust caches removed before each run);
#   - `gait plugin list` (warm).
# The plugins are shell scripts padded to PAD_MIB MiB (about the size of a real Gait plugin
# binary), so hashing and signature checks cost what they would for real binaries.
#
# Usage: bench/plugins.sh [--no-build] [--help]
# Environment: RUNS=200 COLD_RUNS=30 PLUGINS=10 PAD_MIB=3, CARGO_TARGET_DIR as cargo
set -euo pipefail

RUNS=${RUNS:-200}
COLD_RUNS=${COLD_RUNS:-30}
PLUGINS=${PLUGINS:-10}
PAD_MIB=${PAD_MIB:-3}
BUILD=1
for arg in "$@"; do
  case "$arg" in
    --no-build) BUILD=0 ;;
    -h | --help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "plugins.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done
log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'plugins.sh: error: %s\n' "$*" >&2; exit 1; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case "${CARGO_TARGET_DIR:-}" in
  "") TARGET="$ROOT/target" ;;
  /*) TARGET="$CARGO_TARGET_DIR" ;;
  *) TARGET="$ROOT/$CARGO_TARGET_DIR" ;;
esac
GAIT="$TARGET/release/gait"
command -v hyperfine >/dev/null || die "hyperfine is required (apt-get install hyperfine)"
if [[ $BUILD -eq 1 ]]; then
  log "building release binaries"
  (cd "$ROOT" && cargo build --release --workspace --quiet)
fi
[[ -x "$GAIT" ]] || die "missing $GAIT"

W=$(mktemp -d "${TMPDIR:-/tmp}/gait-bench-plugins.XXXXXX")
trap 'rm -rf "$W"' EXIT
export HOME="$W/home" GAIT_PLUGIN_DIR="$W/plugins" GAIT_TRUST_DIR="$W/trust" GAIT_CACHE_DIR="$W/cache"
mkdir -p "$HOME" "$W/bins"

log "creating $PLUGINS plugins of $PAD_MIB MiB and a signed registry"
"$GAIT" plugin sign --generate-key "$W/publisher" --json >/dev/null
names=()
for i in $(seq -w 1 "$PLUGINS"); do
  n="p$i"
  names+=("$n")
  f="$W/bins/gait-$n"
  cat >"$f" <<EOF
#!/bin/sh
if [ "\$1" = --gait-manifest ]; then
  echo '{"schema_id":"gait.plugin.manifest","contract_version":"1.0.0","name":"$n","version":"1.0.$((10#$i))","about":"bench plugin","commands":[{"name":"$n","about":"bench"}]}'
  exit 0
fi
echo ok
exit 0
EOF
  # Padding after `exit`: never executed, but hashed and signature-checked like a binary.
  head -c $((PAD_MIB * 1024 * 1024)) /dev/zero | tr '\0' '#' >>"$f"
  chmod 0755 "$f"
done
GAIT_TRUST_DIR="$W/publisher-trust" bash "$ROOT/scripts/build-registry.sh" --bin-dir "$W/bins" \
  --gait "$GAIT" "$W/registry" "$W/publisher.key" >/dev/null
for n in "${names[@]}"; do
  "$GAIT" plugin install "$n" --registry "$W/registry" --trust-key "$W/publisher.pub" --json >/dev/null
done
"$GAIT" plugin verify --json >/dev/null || die "installed plugins do not verify"
last="${names[-1]}"
"$GAIT" "$last" "$last" >/dev/null || die "gait $last failed"

log "hyperfine: warm dispatch vs direct ($RUNS runs), cold first run ($COLD_RUNS), plugin list"
hyperfine -N --warmup 20 --runs "$RUNS" --style basic --export-json "$W/warm.json" \
  "$GAIT $last $last" "$GAIT_PLUGIN_DIR/gait-$last $last" >/dev/null
hyperfine -N --runs "$COLD_RUNS" --style basic --export-json "$W/cold.json" \
  --prepare "rm -rf $GAIT_CACHE_DIR" "$GAIT $last $last" >/dev/null
hyperfine -N --warmup 5 --runs "$RUNS" --style basic --export-json "$W/list.json" \
  "$GAIT plugin list --json" >/dev/null
hyperfine -N --runs "$COLD_RUNS" --style basic --export-json "$W/list_cold.json" \
  --prepare "rm -rf $GAIT_CACHE_DIR" "$GAIT plugin list --json" >/dev/null

python3 - "$W" "$PLUGINS" "$PAD_MIB" <<'EOF'
import json, sys
w, n, pad = sys.argv[1], sys.argv[2], sys.argv[3]
r = lambda f: json.load(open(f"{w}/{f}.json"))["results"]
warm, cold, lst, lst_cold = r("warm"), r("cold"), r("list"), r("list_cold")
ms = lambda x: x["median"] * 1000
print(f"{n} installed signed plugins of {pad} MiB each")
print(f"gait <plugin> (warm)        {ms(warm[0]):7.2f} ms median")
print(f"gait-<plugin> directly      {ms(warm[1]):7.2f} ms median")
print(f"launcher overhead (warm)    {ms(warm[0]) - ms(warm[1]):7.2f} ms (target <= 1 ms)")
print(f"first run, cold caches      {ms(cold[0]):7.2f} ms median (target < 50 ms)")
print(f"gait plugin list (warm)     {ms(lst[0]):7.2f} ms median (target < 20 ms)")
print(f"gait plugin list (cold)     {ms(lst_cold[0]):7.2f} ms median")
EOF
