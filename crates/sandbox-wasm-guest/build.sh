#!/usr/bin/env bash
# Builds the wasm tier's guest (QuickJS for wasm32-wasip1) offline with Debian's clang and
# wasi-libc; prints the path of the .wasm. Needs: `rustup target add wasm32-wasip1` and
# `apt-get install clang lld wasi-libc libclang-rt-dev-wasm32`.
# The output goes to <workspace>/target/wasm-guest unless CARGO_TARGET_DIR is set.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target_dir="${CARGO_TARGET_DIR:-$here/../../target/wasm-guest}"
# rquickjs-sys would otherwise download a WASI SDK from GitHub.
export RQUICKJS_SYS_NO_WASI_SDK=1
export CC_wasm32_wasip1="${CC_wasm32_wasip1:-clang}"
export AR_wasm32_wasip1="${AR_wasm32_wasip1:-llvm-ar}"
export CFLAGS_wasm32_wasip1="${CFLAGS_wasm32_wasip1:---target=wasm32-wasi --sysroot=/usr}"
if ! command -v "$CC_wasm32_wasip1" >/dev/null || ! command -v "$AR_wasm32_wasip1" >/dev/null; then
  echo "build.sh: $CC_wasm32_wasip1 and $AR_wasm32_wasip1 are needed (apt-get install clang lld wasi-libc libclang-rt-dev-wasm32)" >&2
  exit 1
fi
cargo build --manifest-path "$here/Cargo.toml" --target wasm32-wasip1 --release --locked \
  --target-dir "$target_dir" "$@" >&2
wasm="$target_dir/wasm32-wasip1/release/openfn-sandbox-wasm-guest.wasm"
echo "$(cd "$(dirname "$wasm")" && pwd)/$(basename "$wasm")"
