#!/usr/bin/env bash
# Builds a signed Gait plugin registry (format: docs/registry.md).
#
#   scripts/build-registry.sh [options] <out_dir> <minisign secret key> [plugin…]
#
# Without --bin-dir it builds the workspace's plugin binaries in release mode. Each plugin's
# version and contract version come from its own `--gait-manifest`; every file and the index
# are signed with `gait plugin sign`. The registry is assembled in a temporary directory next
# to <out_dir> and moved into place at the end, so a failure never leaves half a registry.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/build-registry.sh [options] <out_dir> <minisign secret key> [plugin…]

Builds a signed plugin registry in <out_dir>: plugins/gait-<name>-<version>[-<target>],
each with a .minisig, index.toml, index.toml.minisig and keys/publisher.pub.

Plugins are names (gate, pack, …); default: every gait-<name> executable in the bin dir.

Options:
  --bin-dir DIR   take the plugin executables from DIR instead of building them
                  (cargo build --release of the workspace's plugins)
  --gait PATH     the gait binary used to sign (default: <bin dir>/gait, then gait on PATH)
  --target T      target triple of non-script binaries (default: rustc's host triple)
  --name NAME     the registry's display name (default: gait)
  -h, --help      this help

An encrypted secret key needs its password in GAIT_SIGN_PASSWORD.
Needs jq or python3 to read plugin manifests, and sha256sum.

Exit codes: 0 built, 1 a build or I/O step failed, 6 bad arguments or plugins.
EOF
}

die() { echo "build-registry: $*" >&2; exit 6; }
fail() { echo "build-registry: $*" >&2; exit 1; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="" gait_bin="" target="" reg_name="gait"
positional=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --bin-dir) [[ $# -ge 2 ]] || die "--bin-dir needs a directory"; bin_dir="$2"; shift 2 ;;
        --bin-dir=*) bin_dir="${1#*=}"; shift ;;
        --gait) [[ $# -ge 2 ]] || die "--gait needs a path"; gait_bin="$2"; shift 2 ;;
        --gait=*) gait_bin="${1#*=}"; shift ;;
        --target) [[ $# -ge 2 ]] || die "--target needs a triple"; target="$2"; shift 2 ;;
        --target=*) target="${1#*=}"; shift ;;
        --name) [[ $# -ge 2 ]] || die "--name needs a value"; reg_name="$2"; shift 2 ;;
        --name=*) reg_name="${1#*=}"; shift ;;
        --) shift; positional+=("$@"); break ;;
        -*) usage >&2; die "unknown option $1" ;;
        *) positional+=("$1"); shift ;;
    esac
done
[[ ${#positional[@]} -ge 2 ]] || { usage >&2; die "need <out_dir> and <minisign secret key>"; }
out_dir="${positional[0]}"
secret_key="${positional[1]}"
plugins=("${positional[@]:2}")
[[ -f "$secret_key" ]] || die "secret key $secret_key is not a file"
[[ "$reg_name" =~ ^[A-Za-z0-9\ ._-]{1,64}$ ]] || die "--name must be letters, digits, space, . _ -"

command -v sha256sum >/dev/null || fail "sha256sum is required"
if command -v jq >/dev/null; then
    manifest_field() { jq -r --arg f "$1" '.[$f] // "" | tostring'; }
elif command -v python3 >/dev/null; then
    manifest_field() {
        python3 -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1], ""); print(v if isinstance(v, str) else json.dumps(v))' "$1"
    }
else
    fail "jq or python3 is required to read plugin manifests"
fi

if [[ -z "$bin_dir" ]]; then
    command -v cargo >/dev/null || fail "cargo is required (or pass --bin-dir)"
    pkgs=()
    for toml in "$root"/plugins/*/Cargo.toml; do
        pkg="$(sed -n 's/^name = "\(.*\)"$/\1/p' "$toml" | head -n1)"
        [[ -n "$pkg" ]] && pkgs+=(-p "$pkg")
    done
    echo "build-registry: cargo build --release ${pkgs[*]} -p gait" >&2
    cargo build --release --manifest-path "$root/Cargo.toml" "${pkgs[@]}" -p gait >&2 \
        || fail "cargo build failed"
    bin_dir="${CARGO_TARGET_DIR:-$root/target}/release"
fi
[[ -d "$bin_dir" ]] || die "bin dir $bin_dir is not a directory"
bin_dir="$(cd "$bin_dir" && pwd)"

if [[ -z "$gait_bin" ]]; then
    if [[ -x "$bin_dir/gait" ]]; then gait_bin="$bin_dir/gait"
    elif command -v gait >/dev/null; then gait_bin="$(command -v gait)"
    else die "no gait binary to sign with (pass --gait PATH)"; fi
fi
[[ -x "$gait_bin" ]] || die "$gait_bin is not executable"

if [[ ${#plugins[@]} -eq 0 ]]; then
    for f in "$bin_dir"/gait-*; do
        [[ -f "$f" && -x "$f" ]] || continue
        n="${f##*/gait-}"
        [[ "$n" =~ ^[a-z0-9][a-z0-9_-]{0,63}$ ]] && plugins+=("$n")
    done
    [[ ${#plugins[@]} -gt 0 ]] || die "no gait-<name> executables in $bin_dir"
fi

host_target() {
    if [[ -n "$target" ]]; then echo "$target"; return; fi
    command -v rustc >/dev/null || die "rustc is not available to tell the target triple (pass --target)"
    rustc -vV | sed -n 's/^host: //p'
}

semver_re='^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$'

# Refuse to clobber anything but an earlier registry (checked before any work).
if [[ -e "$out_dir" ]]; then
    if ! [[ -d "$out_dir" && ( -z "$(ls -A "$out_dir")" || -f "$out_dir/index.toml" ) ]]; then
        die "$out_dir exists and is not a registry; choose an empty or new directory"
    fi
fi

# Stage next to the output so the final move is a rename on the same filesystem.
out_parent="$(dirname "$out_dir")"
mkdir -p "$out_parent"
stage="$(mktemp -d "$out_parent/.build-registry.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/plugins" "$stage/keys"

index="$stage/index.toml"
{
    echo "# Gait plugin registry index (docs/registry.md), written by scripts/build-registry.sh."
    echo "format = 1"
    echo "name = \"$reg_name\""
} >"$index"

toml_string() {
    # JSON string content → TOML basic string content: escape backslashes and quotes, drop
    # control characters (the index refuses them).
    printf '%s' "$1" | tr -d '\000-\037\177' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'
}

signed_files=()
for name in "${plugins[@]}"; do
    [[ "$name" =~ ^[a-z0-9][a-z0-9_-]{0,63}$ ]] || die "plugin name $name is not valid"
    bin="$bin_dir/gait-$name"
    [[ -f "$bin" && -x "$bin" ]] || die "$bin is not an executable file"
    if command -v timeout >/dev/null; then
        manifest="$(timeout 10 "$bin" --gait-manifest)" || die "gait-$name --gait-manifest failed"
    else
        manifest="$("$bin" --gait-manifest)" || die "gait-$name --gait-manifest failed"
    fi
    m_name="$(manifest_field name <<<"$manifest")" || die "gait-$name: manifest is not JSON"
    version="$(manifest_field version <<<"$manifest")"
    contract="$(manifest_field contract_version <<<"$manifest")"
    about="$(manifest_field about <<<"$manifest")"
    [[ "$m_name" == "$name" ]] || die "gait-$name: its manifest says name \"$m_name\""
    [[ "$version" =~ $semver_re ]] || die "gait-$name: version \"$version\" is not semver"
    # Early manifests give the contract as a bare major number.
    [[ "$contract" =~ ^[0-9]+$ ]] && contract="$contract.0.0"
    [[ "$contract" =~ $semver_re ]] || die "gait-$name: contract_version \"$contract\" is not semver"
    if [[ "$(head -c 2 "$bin")" == "#!" ]]; then
        t="any"
        file="plugins/gait-$name-$version"
    else
        t="$(host_target)"
        file="plugins/gait-$name-$version-$t"
    fi
    cp "$bin" "$stage/$file"
    chmod 0755 "$stage/$file"
    sha="$(sha256sum "$stage/$file" | cut -d' ' -f1)"
    {
        echo
        echo "[[plugin]]"
        echo "name = \"$name\""
        echo "description = \"$(toml_string "$about")\""
        echo
        echo "[[plugin.version]]"
        echo "version = \"$version\""
        echo "contract_version = \"$contract\""
        echo "target = \"$t\""
        echo "file = \"$file\""
        echo "sha256 = \"$sha\""
    } >>"$index"
    signed_files+=("$stage/$file")
    echo "build-registry: $name $version ($t) sha256 $sha" >&2
done

"$gait_bin" plugin sign --key "$secret_key" --write-public "$stage/keys/publisher.pub" \
    "${signed_files[@]}" "$index" >&2 || fail "signing failed"

# Replace an earlier registry at <out_dir> (checked above).
if [[ -e "$out_dir" ]]; then
    if [[ -z "$(ls -A "$out_dir")" ]]; then
        rmdir "$out_dir"
    else
        old="$(mktemp -d "$out_parent/.build-registry-old.XXXXXX")"
        rmdir "$old"
        mv "$out_dir" "$old"
        trap 'rm -rf "$stage" "$old"' EXIT
    fi
fi
mv "$stage" "$out_dir"
chmod 0755 "$out_dir"
echo "build-registry: wrote $out_dir (${#plugins[@]} plugins), signed by $(sed -n 's/.*minisign public key //p' "$out_dir/keys/publisher.pub")" >&2
echo "$out_dir"
