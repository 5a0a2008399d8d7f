// int8 vs f32, side by side in one process, for the loaded wasm build (WEBPTQ_WASM=simd128 |
// relaxed, the latter with --experimental-wasm-relaxed-simd):
// 1. kernels: the 8-bit depthwise conv (kernels/src/qdwconv.rs) vs the f32 one
//    (kernels/src/dwconv.rs) on EfficientNet-like layers, through the bindings' WasmQBench;
// 2. ops: each single-op model of benches/q8_models.py (int8 op vs the float op it replaces)
//    through InferenceSession.run (includes copying feeds and outputs across the boundary).
// Usage: python benches/q8_models.py .cache/bench-q8 && node benches/q8_ops.mjs [.cache/bench-q8]
// The kernels' self-tests and micro-benchmarks are in the test builds only (pkg/*-checks).
process.env.WEBPTQ_WASM_CHECKS = '1';
import fs from 'node:fs';
import path from 'node:path';
import { InferenceSession, Tensor, loadWasm } from '../js/index.js';

const ROUNDS = 7;
const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];

/** Median ms per call of each function, calls interleaved round by round. */
async function timeSideBySide(fns, minMs = 150) {
  const reps = [];
  for (const f of fns) {
    let n = 1;
    for (;;) {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await f();
      if (performance.now() - t0 > minMs / 4 || n > 1 << 16) break;
      n *= 2;
    }
    reps.push(n);
  }
  const times = fns.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [k, f] of fns.entries()) {
      const t0 = performance.now();
      for (let i = 0; i < reps[k]; i++) await f();
      times[k].push((performance.now() - t0) / reps[k]);
    }
  }
  return times.map(median);
}

const { flavour, bindings } = await loadWasm();
console.log(`wasm build: ${flavour}`);

console.log('\nkernels: depthwise conv, f32 (dwconv2d_f32) vs int8 (dwconv2d_q8)');
console.log('layer                      f32 ms   int8 ms   f32/int8');
for (const [c, size, k, s] of [[144, 56, 3, 1], [240, 28, 5, 2], [672, 14, 5, 1], [96, 112, 3, 2], [1152, 7, 3, 1], [32, 112, 3, 1]]) {
  const f = new bindings.WasmQBench(false, c, size, k, s);
  const q = new bindings.WasmQBench(true, c, size, k, s);
  const [tf, tq] = await timeSideBySide([() => f.run(1), () => q.run(1)]);
  const name = `1x${c}x${size}x${size} ${k}x${k} s${s}`;
  console.log(`${name.padEnd(26)} ${tf.toFixed(3).padStart(7)} ${tq.toFixed(3).padStart(9)} ${(tf / tq).toFixed(2).padStart(9)}`);
  f.free();
  q.free();
}

const dir = process.argv[2] ?? '.cache/bench-q8';
const feedsFor = (session, dims, int8) => {
  const feeds = {};
  for (const name of session.inputNames) {
    const n = dims[name].reduce((a, b) => a * b, 1);
    feeds[name] = int8
      ? new Tensor('uint8', Uint8Array.from({ length: n }, (_, i) => (i * 37) & 255), dims[name])
      : new Tensor('float32', Float32Array.from({ length: n }, (_, i) => ((i * 37) & 255) / 128 - 1), dims[name]);
  }
  return feeds;
};
const SHAPES = {
  dw_144x56x56_k3s1: { x: [1, 144, 56, 56] },
  dw_240x28x28_k5s2: { x: [1, 240, 28, 28] },
  dw_672x14x14_k5s1: { x: [1, 672, 14, 14] },
  dw_96x112x112_k3s2: { x: [1, 96, 112, 112] },
  dw_1152x7x7_k3s1: { x: [1, 1152, 7, 7] },
  add_40x28x28: { a: [1, 40, 28, 28], b: [1, 40, 28, 28] },
  mul_se_672x14x14: { a: [1, 672, 14, 14], b: [1, 672, 1, 1] },
  gap_1280x7x7: { x: [1, 1280, 7, 7] },
  maxpool_64x112x112_k3s2: { x: [1, 64, 112, 112] },
  avgpool_64x56x56_k3s1: { x: [1, 64, 56, 56] },
};
if (fs.existsSync(dir)) {
  console.log('\nops: single-op models through InferenceSession.run (float op vs int8 op)');
  console.log('model                      f32 ms   int8 ms   f32/int8');
  for (const [name, dims] of Object.entries(SHAPES)) {
    const load = (tag) => InferenceSession.create(fs.readFileSync(path.join(dir, `${name}_${tag}.onnx`)));
    const [sf, sq] = [await load('f32'), await load('q8')];
    const [ff, fq] = [feedsFor(sf, dims, false), feedsFor(sq, dims, true)];
    const [tf, tq] = await timeSideBySide([() => sf.run(ff), () => sq.run(fq)]);
    console.log(`${name.padEnd(26)} ${tf.toFixed(3).padStart(7)} ${tq.toFixed(3).padStart(9)} ${(tf / tq).toFixed(2).padStart(9)}`);
    sf.release();
    sq.release();
  }
} else {
  console.log(`\n(no models in ${dir}: run python benches/q8_models.py ${dir} for the op benchmarks)`);
}
