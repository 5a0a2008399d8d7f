#!/usr/bin/env bash
# Builds the wasm core twice (SIMD128, and SIMD128 + relaxed SIMD) and runs wasm-bindgen on each
# into pkg/<flavour>/. The JS loader picks one at run time with WebAssembly.validate.
# WEBPTQ_WASM_NAMES=1 keeps the function names (for profiles); docs/size.md explains the size.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${WEBPTQ_PROFILE:-wasm}
build() {
  local flavour=$1 features=$2
  local target_dir="target/wasm-$flavour"
  RUSTFLAGS="-C target-feature=$features" cargo build --quiet --lib --target wasm32-unknown-unknown \
    --profile "$profile" --target-dir "$target_dir"
  local dir=$profile; [ "$profile" = dev ] && dir=debug
  # The function-name section is a fifth of the module: kept only on request (profiling).
  local names=(--remove-name-section)
  [ "${WEBPTQ_WASM_NAMES:-}" = 1 ] && names=()
  wasm-bindgen --target web --out-dir "pkg/$flavour" --out-name webptq "${names[@]}" \
    "$target_dir/wasm32-unknown-unknown/$dir/webptq.wasm"
  echo "built pkg/$flavour ($(stat -c %s "pkg/$flavour/webptq_bg.wasm") bytes)"
}
# The two builds are independent and each LTO step is single-threaded: run them side by side.
build simd128 +simd128 &
simd=$!
build relaxed +simd128,+relaxed-simd &
relaxed=$!
wait $simd
wait $relaxed
