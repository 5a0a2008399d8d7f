#!/usr/bin/env node
// Kernel micro-benchmark: int8 GEMM (GOPS) against f32 GEMM (GFLOP/s) per shape, in the SIMD128
// and the relaxed-SIMD wasm builds, each measured side by side in one process (ratios, not
// absolute times, are what survive a shared machine).
//
//   node benches/kernels.mjs                 both builds (the relaxed one in a child process
//                                            started with --experimental-wasm-relaxed-simd)
//   node benches/kernels.mjs --all           also every int8 micro-kernel of each build by name
//   node benches/kernels.mjs --flavour simd128|relaxed [--json]   one build (used by the above)
//   --rounds N                               interleaved timing rounds per shape (default 8)
//
// Shapes are m x n x k as a convolution runs them: m output channels (constant weights, packed
// once), n positions (activations, packed per call, the time of which is included), depth k;
// n = 1 is a single row (GEMV). The binding behind it is `benchKernel(name, m, n, k, iters)`
// (src/bindings, kernels::bench): it returns { kernel, seconds, gops }.
// The kernels' self-tests and micro-benchmarks are in the test builds only (pkg/*-checks).
process.env.WEBPTQ_WASM_CHECKS = '1';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadWasm } from '../js/index.js';

const SHAPES = [
  [256, 3136, 288, '3x3 conv, 32 -> 256 ch, 56x56'],
  [24, 3136, 96, '1x1 conv, 96 -> 24 ch, 56x56'],
  [1280, 49, 320, '1x1 conv, 320 -> 1280 ch, 7x7'],
  [384, 128, 384, 'MatMul-sized: 128 x 384 x 384'],
  [64, 784, 576, '3x3 conv, 64 -> 64 ch, 28x28'],
  [1000, 1, 1280, 'GEMV row: 1280 -> 1000'],
  [1536, 1, 384, 'GEMV row: 384 -> 1536'],
];

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const value = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

/**
 * Best GOPS per name over `rounds` interleaved timings of about `budget` seconds each: on a
 * shared machine the best of many short runs is the stable figure, and interleaving gives every
 * name the same chances.
 */
function measure(bench, names, m, n, k, rounds = Number(value('--rounds') ?? 8), budget = 0.05) {
  const iters = {};
  const best = {};
  for (const name of names) {
    const once = bench(name, m, n, k, 1);
    iters[name] = Math.max(1, Math.round(budget / Math.max(once.seconds, 1e-6)));
    best[name] = once;
  }
  for (let r = 0; r < rounds; r++) {
    for (const name of names) {
      const res = bench(name, m, n, k, iters[name]);
      if (res.gops > best[name].gops) best[name] = res;
    }
  }
  return best;
}

async function runFlavour(flavour) {
  const { bindings } = await loadWasm({ flavour });
  const names = bindings.kernelNames();
  const rows = [];
  for (const [m, n, k, what] of SHAPES) {
    const extra = flag('--all')
      ? names.int8.filter((name) => !name.endsWith('__scalar') && name.includes('_1x8') === (n === 1))
      : [];
    const best = measure(bindings.benchKernel, ['sgemm', 'qgemm', ...extra], m, n, k);
    const kernels = Object.fromEntries(extra.map((name) => [name, best[name].gops]));
    rows.push({ m, n, k, what, f32: best.sgemm.gops, f32Kernel: best.sgemm.kernel, int8: best.qgemm.gops, int8Kernel: best.qgemm.kernel, kernels });
  }
  return { flavour, rows };
}

function fmt(x, w = 7) {
  return x.toFixed(2).padStart(w);
}

function printTable(results) {
  const head = ['shape (m x n x k)'.padEnd(34)];
  for (const r of results) head.push(`${r.flavour}: f32 GFLOP/s   int8 GOPS   ratio`);
  console.log(head.join(' | '));
  console.log('-'.repeat(head.join(' | ').length));
  for (let i = 0; i < SHAPES.length; i++) {
    const [m, n, k, what] = SHAPES[i];
    const cells = [`${m}x${n}x${k} ${what}`.slice(0, 34).padEnd(34)];
    for (const r of results) {
      const row = r.rows[i];
      const w = r.flavour.length + 2;
      cells.push(`${' '.repeat(w)}${fmt(row.f32, 9)}   ${fmt(row.int8, 9)}   ${fmt(row.int8 / row.f32, 5)}x`);
    }
    console.log(cells.join(' | '));
  }
  for (const r of results) {
    const k = r.rows.find((x) => x.n > 1);
    const g = r.rows.find((x) => x.n === 1);
    console.log(`${r.flavour}: f32 ${k.f32Kernel} / ${g.f32Kernel}; int8 ${k.int8Kernel} / ${g.int8Kernel}`);
    if (flag('--all')) {
      for (const row of r.rows) {
        const parts = Object.entries(row.kernels).map(([name, v]) => `${name} ${v.toFixed(2)}`);
        if (parts.length) console.log(`  ${row.m}x${row.n}x${row.k}: ${parts.join(', ')}`);
      }
    }
  }
}

const only = value('--flavour');
if (only) {
  const res = await runFlavour(only);
  if (flag('--json')) console.log(JSON.stringify(res));
  else printTable([res]);
} else {
  const self = fileURLToPath(import.meta.url);
  const results = [];
  for (const flavour of ['simd128', 'relaxed']) {
    const nodeFlags = flavour === 'relaxed' ? ['--experimental-wasm-relaxed-simd'] : [];
    const extra = [...(flag('--all') ? ['--all'] : []), ...(value('--rounds') ? ['--rounds', value('--rounds')] : [])];
    const out = spawnSync(process.execPath, [...nodeFlags, self, '--flavour', flavour, '--json', ...extra], {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    if (out.status !== 0) {
      console.error(`${flavour}: ${out.stderr || out.stdout}`);
      process.exitCode = 1;
      continue;
    }
    results.push(JSON.parse(out.stdout.trim().split('\n').pop()));
  }
  if (results.length) printTable(results);
}
