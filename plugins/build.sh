#!/usr/bin/env bash
# Builds the example plugins and copies them into OUTDIR (default:
# examples/plugins at the repository root):
#   risk-rust.wasm risk-python.wasm risk-js.wasm tracker.wasm hostile.wasm
#   hostile-connector.wasm decide-rust.wasm decide-js.wasm scim.wasm
#   reports-rust.wasm (built against keystep:plugin@0.2.0)
#
#   plugins/build.sh [OUTDIR] [--rust-only]
#
# Installs what it needs when it is missing: the wasm32-wasip2 Rust target,
# componentize-py 0.25.1 (pip) and componentize-js 0.23.0 (npm ci in
# plugins/risk-js). --rust-only skips the Python and JavaScript plugins.
# Quick when nothing changed: cargo skips the Rust plugins, and the Python and
# JavaScript ones are rebuilt only when a source or the WIT is newer.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
wit="$root/wit/v0.1.0"
target="$here/target/wasm32-wasip2/release"
componentize_py_version=0.25.1
componentize_js_version=0.23.0

out=""
rust_only=0
for arg in "$@"; do
    case "$arg" in
        --rust-only) rust_only=1 ;;
        -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "build.sh: unknown option $arg" >&2; exit 2 ;;
        *) [ -z "$out" ] || { echo "build.sh: one OUTDIR only" >&2; exit 2; }; out=$arg ;;
    esac
done
out=${out:-$root/examples/plugins}
mkdir -p "$out"
out=$(cd "$out" && pwd)

now() { date +%s.%N; }
# report NAME BUILT_FILE NOTE: copies BUILT_FILE to OUTDIR/NAME.wasm (only if
# it differs) and prints one line.
report() {
    local dest="$out/$1.wasm" size
    if cmp -s "$2" "$dest"; then
        :
    else
        cp "$2" "$dest.tmp" && mv "$dest.tmp" "$dest"
    fi
    size=$(wc -c < "$dest")
    printf '%-23s %6d KB  %s\n' "$1.wasm" $(((size + 1023) / 1024)) "$3"
}
# fresh OUTPUT SOURCE...: true when OUTPUT exists and is newer than every
# SOURCE and every WIT file.
fresh() {
    local output=$1
    shift
    [ -f "$output" ] || return 1
    [ -z "$(find "$@" "$wit" -newer "$output" -print -quit)" ]
}
seconds() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

# Rust: cargo knows what is up to date.
if command -v rustup > /dev/null; then
    rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
fi
start=$(now)
cargo build --quiet --release --target wasm32-wasip2 --manifest-path "$here/Cargo.toml"
took=$(seconds "$start")
rust_crates=(risk-rust tracker hostile hostile-connector decide-rust scim reports-rust)
for crate in "${rust_crates[@]}"; do
    report "$crate" "$target/${crate//-/_}.wasm" "rust (cargo, $took for all ${#rust_crates[@]})"
done

if [ "$rust_only" = 1 ]; then
    exit 0
fi

# Python: componentize-py.
py_out="$here/target/risk-python.wasm"
py_src=("$here/risk-python/app.py" "$here/build.sh")
if fresh "$py_out" "${py_src[@]}"; then
    report risk-python "$py_out" "python, up to date"
else
    componentize_py=componentize-py
    if ! componentize-py --version 2> /dev/null | grep -qx "componentize-py $componentize_py_version"; then
        PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check \
            "componentize-py==$componentize_py_version"
        # Right after an install the command may not be on PATH yet (pyenv
        # shims, user installs): use the one beside the Python that has it.
        componentize_py="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/componentize-py"
    fi
    start=$(now)
    mkdir -p "$here/target"
    (cd "$here/risk-python" &&
        "$componentize_py" -d "$wit" -w function componentize app -o "$py_out.tmp" > /dev/null)
    mv "$py_out.tmp" "$py_out"
    report risk-python "$py_out" "python, built in $(seconds "$start")"
fi

# JavaScript: componentize-js, installed locally (in risk-js) from
# package-lock.json, builds risk-js and decide-js.
js_dir="$here/risk-js"
if ! grep -qs "\"version\": \"$componentize_js_version\"" \
    "$js_dir/node_modules/@bytecodealliance/componentize-js/package.json"; then
    (cd "$js_dir" && npm ci --no-audit --no-fund --loglevel=error > /dev/null)
fi
# componentize_js NAME SOURCE: builds OUTDIR/NAME.wasm from SOURCE unless up to date.
componentize_js() {
    local name=$1 source=$2 built="$here/target/$1.wasm"
    if fresh "$built" "$source" "$js_dir/package-lock.json" "$here/build.sh"; then
        report "$name" "$built" "javascript, up to date"
        return
    fi
    start=$(now)
    mkdir -p "$here/target"
    # -d http -d fetch-event: no wasi:http imports (the host lends http-fetch).
    (cd "$(dirname "$source")" && "$js_dir/node_modules/.bin/componentize-js" --wit "$wit" \
        --world-name function -d http -d fetch-event -o "$built.tmp" "$(basename "$source")" > /dev/null)
    mv "$built.tmp" "$built"
    report "$name" "$built" "javascript, built in $(seconds "$start")"
}
componentize_js risk-js "$js_dir/risk.js"
componentize_js decide-js "$here/decide-js/decide.js"
