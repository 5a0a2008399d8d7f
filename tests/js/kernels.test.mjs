// The SIMD kernels only run in wasm, so their tests run here: the shared kernel self-test
// (kernels/src/selftest.rs, exported as kernelSelfTest) checks every int8 GEMM kernel of the
// loaded build (SIMD128, or relaxed SIMD with WEBPTQ_WASM=relaxed) against the scalar oracle bit
// for bit, and the f32 GEMM within rounding, on edge shapes; and the micro-benchmark entry point
// the benchmarks call (benchKernel) answers for every kernel name. Speed is not asserted.
// The kernels' self-tests and micro-benchmarks are in the test builds only (pkg/*-checks).
process.env.WEBPTQ_WASM_CHECKS = '1';
import test from 'node:test';
import assert from 'node:assert/strict';
import { loadWasm } from '../../js/index.js';

test('every GEMM kernel of this build matches its oracle', async () => {
  const { flavour, bindings } = await loadWasm();
  const names = bindings.kernelNames();
  // The build's own SIMD kernels are among those checked.
  assert.ok(names.int8.some((n) => n.endsWith('__wasm_simd128')), names.int8.join(', '));
  // The main f32 tile is the build's own; the relaxed build keeps the SIMD128 GEMV row kernel
  // (fused multiply-add made its latency-bound chains slower, kernels/src/select.rs).
  assert.ok(names.f32[0].endsWith(flavour === 'relaxed' ? '__wasm_relaxed' : '__wasm_simd128'), names.f32.join(', '));
  assert.ok(names.f32.every((n) => /__wasm_(simd128|relaxed)$/.test(n)), names.f32.join(', '));
  if (flavour === 'relaxed') assert.ok(names.int8.some((n) => n.endsWith('__wasm_relaxed')), names.int8.join(', '));
  assert.ok(names.int8.includes(names.int8Selected));
  // Throws (INVALID_ARGUMENT, naming kernel, shape and element) at the first mismatch.
  const checked = bindings.kernelSelfTest();
  assert.ok(checked.qgemm > 5000, `only ${checked.qgemm} int8 products checked`);
  assert.ok(checked.sgemm > 100, `only ${checked.sgemm} f32 products checked`);
});

test('benchKernel times every kernel name and rejects bad arguments', async () => {
  const { bindings } = await loadWasm();
  const { int8 } = bindings.kernelNames();
  for (const name of ['sgemm', 'qgemm', 'qgemm_i32', ...int8]) {
    for (const n of [1, 9]) {
      const r = bindings.benchKernel(name, 12, n, 20, 2);
      assert.equal(typeof r.kernel, 'string', name);
      assert.ok(r.seconds >= 0 && r.gops >= 0, `${name}: ${JSON.stringify(r)}`);
    }
  }
  // The int8 path runs the build's selected kernel, and the single-row one for one position.
  const { int8Selected } = bindings.kernelNames();
  assert.equal(bindings.benchKernel('qgemm', 24, 64, 40, 1).kernel, int8Selected);
  assert.match(bindings.benchKernel('qgemm', 24, 1, 40, 1).kernel, /_1x8c/);
  for (const bad of [() => bindings.benchKernel('nope', 8, 8, 8, 1), () => bindings.benchKernel('qgemm', 0, 8, 8, 1)]) {
    assert.throws(bad, (e) => e.code === 'INVALID_ARGUMENT');
  }
  assert.throws(() => bindings.benchKernel('qgemm', 1 << 20, 1 << 20, 8, 1), (e) => e.code === 'TOO_LARGE');
});
