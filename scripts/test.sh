#!/usr/bin/env bash
# Everything `npm test` (and CI) runs, in order, stopping at the first failure:
#   setup (full) → wasm build → cargo test --release → Python fixture check → onnxruntime runs
#   the exports cargo test wrote (and checks our fused int8 runtime against its own) →
#   Node tests under the SIMD128 build, then the relaxed-SIMD build → browser tests (Chromium).
# Set WEBPTQ_SKIP_SETUP=1 to skip the setup step when iterating.
set -euo pipefail
cd "$(dirname "$0")/.."

export WEBPTQ_FIXTURES=${WEBPTQ_FIXTURES:-$PWD/.cache/fixtures}
started=$SECONDS
stage() { echo; echo "== test: $* ($((SECONDS - started)) s so far)"; }
trap 'code=$?; [ $code -eq 0 ] || echo "== test: FAILED in stage \"$current\" (exit $code) after $((SECONDS - started)) s" >&2' EXIT

current=setup; stage "setup"
if [ "${WEBPTQ_SKIP_SETUP:-}" = 1 ]; then echo "skipped (WEBPTQ_SKIP_SETUP=1)"; else bash scripts/setup.sh; fi

current=build; stage "build the wasm core (two flavours)"
bash scripts/build.sh

current="cargo test"; stage "cargo test --release"
cargo test --release --quiet --workspace --all-features

current="python fixture check"; stage "python fixture check"
.venv/bin/python tests/python/check_fixtures.py

# The quantized models `cargo test` exported must load and run in onnxruntime (a runtime we
# did not write) and agree with the float model / our runtime.
current="onnxruntime runs our exports"; stage "onnxruntime (Python) runs the exports of cargo test"
.venv/bin/python tests/python/check_exports.py
.venv/bin/python tests/python/quantize_modes_ort.py
# The opset-13 models our opset upgrade wrote (tests/opset_upgrade.rs) give the old models' outputs.
.venv/bin/python tests/python/check_opset_upgrade.py

# The fused int8 runtime against onnxruntime on the files `cargo test` wrote (tests/qdq_runtime.rs).
current="python qdq runtime check"; stage "python qdq runtime check (ours vs onnxruntime)"
.venv/bin/python tests/python/check_qdq_runtime.py

node_tests=(tests/js/*.test.mjs)
current="node tests (simd128)"; stage "node tests, wasm flavour simd128"
WEBPTQ_WASM=simd128 node --test "${node_tests[@]}"

# Node 20 validates relaxed SIMD only behind a flag; newer engines have it on by default.
relaxed_flag=()
if ! node -e 'process.exit(WebAssembly.validate(new Uint8Array([0,97,115,109,1,0,0,0,1,8,1,96,3,123,123,123,1,123,3,2,1,0,10,13,1,11,0,32,0,32,1,32,2,253,147,2,11]))?0:1)'; then
  relaxed_flag=(--experimental-wasm-relaxed-simd)
fi
current="node tests (relaxed)"; stage "node tests, wasm flavour relaxed ${relaxed_flag[*]}"
WEBPTQ_WASM=relaxed node "${relaxed_flag[@]}" --test "${node_tests[@]}"

current="browser tests"; stage "browser tests (Chromium)"
node --test tests/browser/*.test.mjs

current=done
echo
echo "== test: all stages passed in $((SECONDS - started)) s"
