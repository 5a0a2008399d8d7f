// The 8-bit kernels of the loaded wasm build against their scalar oracles, bit for bit: the
// shared suite of kernels/src/qcheck.rs (depthwise conv, Add, Mul, requantize, Max/Average/
// GlobalAverage pools on edge shapes, both 8-bit types, zero points 0/128/255, saturation,
// fused-ReLU clamps), here on the SIMD128 kernels that native `cargo test` cannot run.
// Run under both builds: WEBPTQ_WASM=simd128 and WEBPTQ_WASM=relaxed (--experimental-wasm-relaxed-simd).
// The kernels' self-tests and micro-benchmarks are in the test builds only (pkg/*-checks).
process.env.WEBPTQ_WASM_CHECKS = '1';
import test from 'node:test';
import assert from 'node:assert/strict';
import { loadWasm } from '../../js/index.js';

const SIMD_KERNELS = [
  'dwconv_q8_3x3s1__wasm_simd128',
  'dwconv_q8_3x3s2__wasm_simd128',
  'dwconv_q8_5x5s1__wasm_simd128',
  'dwconv_q8_5x5s2__wasm_simd128',
  'dwconv_q8_kxk__wasm_simd128',
  'pack_q8__wasm_simd128',
  'add_q8__wasm_simd128',
  'mul_q8__wasm_simd128',
  'requantize_q8__wasm_simd128',
  'maxpool_q8__wasm_simd128',
  'avgpool_q8__wasm_simd128',
  'sum_u8__wasm_simd128',
  'lut_x8__wasm_simd128',
];

test('8-bit SIMD kernels match their scalar oracles bit for bit', async () => {
  const { flavour, bindings } = await loadWasm();
  const report = bindings.qmiscSelfTest(); // throws, naming the case, on the first mismatch
  assert.equal(report.simd128, true, `the ${flavour} build should have the SIMD128 kernels`);
  for (const k of SIMD_KERNELS) assert.ok(report.kernels.includes(k), `${k} was not exercised: ${report.kernels}`);
  // The scalar fallbacks (non-finite multipliers, windows too large for 16-bit sums) too.
  for (const k of ['dwconv_q8__scalar', 'avgpool_q8__scalar']) {
    assert.ok(report.kernels.includes(k), `${k} was not exercised: ${report.kernels}`);
  }
  assert.ok(report.cases > 1000, `only ${report.cases} cases`);
});
