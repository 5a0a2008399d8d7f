#!/usr/bin/env bash
# Builds the wasm core twice (SIMD128, and SIMD128 + relaxed SIMD) and runs wasm-bindgen on each
# into pkg/<flavour>/. The JS loader picks one at run time with WebAssembly.validate.
# Then, unless WEBPTQ_BUILD_CHECKS=0, the test builds pkg/<flavour>-checks/: the same code plus
# the kernels' self-tests and micro-benchmarks (cargo feature `checks`), which the shipped builds
# leave out; the kernel tests and benchmarks load them (WEBPTQ_WASM_CHECKS=1).
# WEBPTQ_WASM_NAMES=1 keeps the function names (for profiles); docs/size.md explains the size.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${WEBPTQ_PROFILE:-wasm}
build() {
  local flavour=$1 features=$2 out=$1 cargo_features=()
  if [ "${3:-}" = checks ]; then out="$flavour-checks"; cargo_features=(--features checks); fi
  local target_dir="target/wasm-$flavour"
  RUSTFLAGS="-C target-feature=$features" cargo build --quiet --lib --target wasm32-unknown-unknown \
    --profile "$profile" --target-dir "$target_dir" "${cargo_features[@]}"
  local dir=$profile; [ "$profile" = dev ] && dir=debug
  # The function-name section is a fifth of the module: kept only on request (profiling).
  local names=(--remove-name-section)
  [ "${WEBPTQ_WASM_NAMES:-}" = 1 ] && names=()
  wasm-bindgen --target web --out-dir "pkg/$out" --out-name webptq "${names[@]}" \
    "$target_dir/wasm32-unknown-unknown/$dir/webptq.wasm"
  local wasm="pkg/$out/webptq_bg.wasm"
  echo "built pkg/$out ($(stat -c %s "$wasm") bytes, $(gzip -9 -c "$wasm" | wc -c) gzipped)"
}
both() {
  # The two flavours are independent: run them side by side (two cores).
  build simd128 +simd128 "${1:-}" &
  local simd=$!
  build relaxed +simd128,+relaxed-simd "${1:-}" &
  local relaxed=$!
  wait $simd
  wait $relaxed
}
both
[ "${WEBPTQ_BUILD_CHECKS:-1}" = 0 ] || both checks
