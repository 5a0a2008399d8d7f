#!/usr/bin/env node
// `npm run bench`: model latency in Node, webptq vs onnxruntime-web, float vs int8, one thread,
// batch 1, for the MNIST CNN, EfficientNet-Lite0, PP-LCNet and MiniLM-L3 (benches/prepare.mjs
// makes the int8 models). Two configurations, each in its own Node process because a realm loads
// one webptq build: "relaxed" (relaxed SIMD allowed for both runtimes: --experimental-wasm-relaxed-simd
// where Node needs it, webptq's pkg/relaxed, onnxruntime-web env.wasm.simd = 'relaxed') and
// "simd128" (webptq's pkg/simd128, env.wasm.simd = true). Within a process the four runners of a
// model run interleaved (js/bench.js).
//
//   node benches/models.mjs [--runs N] [--warmup N] [--budget SECONDS] [--models a,b]
//                           [--configs relaxed,simd128] [--requantize] [--json]
//
// Prints a table (or, with --json, the JSON) on stdout, progress on stderr, and writes the JSON
// to target/bench/node.json (plus a dated copy in target/bench/history/).
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CONFIGS, benchModel, configureOrt, formatResult } from '../js/bench.js';
import { OUT, prepare, machineInfo, saveResult, parseOptions, usage } from './prepare.mjs';
import { wasmFeatures } from '../js/loader.js';

const SELF = fileURLToPath(import.meta.url);
const log = (line) => process.stderr.write(`${line}\n`);

/** A .npy file as a plain feed ({ type, data, dims }). */
function readFeed(readNpy, file) {
  const t = readNpy(fs.readFileSync(file), file);
  return { type: t.type, data: t.data, dims: t.dims };
}

/** The child: one configuration, every model of the plan, result JSON to `out`. */
async function child(o) {
  const config = CONFIGS[o.child];
  const plan = JSON.parse(fs.readFileSync(o.plan, 'utf8'));
  const webptq = await import('../js/index.js');
  const { flavour } = await webptq.loadWasm({ flavour: config.webptqFlavour });
  let ort = null;
  let ortVersion = null;
  try {
    const m = await import('onnxruntime-web');
    ort = m.default ?? m;
    ortVersion = ort.env.versions?.web ?? null;
    configureOrt(ort, o.child);
  } catch (e) {
    log(`bench: onnxruntime-web is not available (${e.message}); webptq only`);
  }
  const rows = [];
  for (const m of plan.models) {
    log(`bench [${o.child}] ${m.name}...`);
    const feeds = Object.fromEntries(Object.entries(m.feeds).map(([k, f]) => [k, readFeed(webptq.readNpy, f)]));
    rows.push(await benchModel({
      name: m.name,
      output: m.output, argmax: m.argmax,
      float: new Uint8Array(fs.readFileSync(m.float)),
      int8: new Uint8Array(fs.readFileSync(m.int8)),
      ortInt8: new Uint8Array(fs.readFileSync(m.ortInt8)),
      feeds,
    }, { webptq, ort, runs: plan.runs ?? m.runs, warmup: plan.warmup, minRuns: 10, budgetMs: plan.budget * 1000, log }));
  }
  const result = { config: o.child, title: config.title, webptqFlavour: flavour, ortSimd: config.ortSimd, ortVersion, rows };
  fs.writeFileSync(o.out, JSON.stringify(result));
}

/** Runs one configuration in a child process; resolves to its result. */
function runChild(config, planFile) {
  const out = path.join(OUT, `child-${config}.json`);
  fs.rmSync(out, { force: true });
  const flags = [];
  // Node 20 validates relaxed SIMD only behind a flag; newer engines have it on by default.
  if (config === 'relaxed' && !wasmFeatures().relaxed) flags.push('--experimental-wasm-relaxed-simd');
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [...flags, SELF, '--child', config, '--plan', planFile, '--out', out], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, WEBPTQ_WASM: CONFIGS[config].webptqFlavour },
    });
    p.on('exit', (code, signal) => {
      if (code === 0 && fs.existsSync(out)) resolve(JSON.parse(fs.readFileSync(out, 'utf8')));
      else resolve({ config, title: CONFIGS[config].title, webptqFlavour: CONFIGS[config].webptqFlavour, ortSimd: CONFIGS[config].ortSimd, error: `child exited with ${signal ?? code}`, rows: [] });
    });
  });
}

async function main() {
  const o = parseOptions(process.argv.slice(2), { child: 'value', plan: 'value', out: 'value' });
  if (o.help) return console.log(usage('node benches/models.mjs', 'npm run bench'));
  if (o.child) return child(o);
  const models = await prepare({ models: o.models, force: o.requantize, log });
  const planFile = path.join(OUT, 'plan-node.json');
  fs.writeFileSync(planFile, JSON.stringify({ models, runs: o.runs, warmup: o.warmup, budget: o.budget }, null, 2));
  const machine = await machineInfo();
  const configs = [];
  for (const c of o.configs) configs.push(await runChild(c, planFile));
  machine.loadavg = `${machine.loadavg} (start), ${(await machineInfo()).loadavg} (end)`;
  const result = { kind: 'node', machine, models: models.map((m) => ({ name: m.name, bytes: m.sizes })), configs };
  const file = saveResult('node', result);
  if (o.json) console.log(JSON.stringify(result, null, 2));
  else console.log(`${formatResult(result)}\n\nJSON: ${path.relative(process.cwd(), file)}`);
  if (configs.some((c) => c.error)) process.exitCode = 1;
}

main().catch((e) => {
  log(`bench: error: ${e.message}`);
  process.exit(1);
});
