#!/usr/bin/env bash
# Builds {{name}}.wasm, a WebAssembly component, from this Cargo project:
#
#   ./build.sh
#
# Needs Rust 1.85 or later (https://rustup.rs). With rustup, it adds the
# wasm32-wasip2 target when it is missing; cargo fetches the crates of
# Cargo.lock from crates.io. CARGO_TARGET_DIR is honoured (a shared one
# makes a second project's first build quick).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v cargo > /dev/null || {
    echo "build.sh: cargo is missing: install Rust from https://rustup.rs" >&2
    exit 1
}
if command -v rustup > /dev/null; then
    if ! rustup target list --installed | grep -qx wasm32-wasip2; then
        echo "build.sh: adding the wasm32-wasip2 target (rustup target add wasm32-wasip2)" >&2
        rustup target add wasm32-wasip2
    fi
elif ! rustc --print target-list | grep -qx wasm32-wasip2; then
    echo "build.sh: this Rust has no wasm32-wasip2 target: use rustup (https://rustup.rs)" >&2
    exit 1
fi
cargo build --quiet --release --target wasm32-wasip2 --manifest-path "$here/Cargo.toml"
target=${CARGO_TARGET_DIR:-$here/target}
cp "$target/wasm32-wasip2/release/{{name_snake}}.wasm" "$here/{{name}}.wasm"
echo "built $here/{{name}}.wasm ($(( $(wc -c < "$here/{{name}}.wasm") / 1024 )) KB)"
