#!/usr/bin/env node
// The webptq command line: inspect a model, run it on .npy inputs. Errors print one line,
// "webptq: error [CODE]: message", and exit with status 1; never a stack trace.
import fs from 'node:fs';
import path from 'node:path';
import { InferenceSession, Tensor, inspect, quantize, readNpy, writeNpy, WebptqError, wasmFlavour } from '../js/index.js';
import { groupUnsupported, describeUnsupported } from '../js/model.js';

const USAGE = {
  main: `usage: webptq <command> [options]

Post-training int8 quantization of ONNX models, on your own machine (WebAssembly).

commands:
  inspect MODEL.onnx [--json]                       summarize a model
  run MODEL.onnx --input NAME=FILE.npy ... --out DIR  run a model on .npy inputs
  quantize IN.onnx -o OUT.onnx --calib FILE.npy ...   int8 post-training quantization
  bench MODEL.onnx [--int8 Q.onnx] [--runs N] [--json] latency, webptq vs onnxruntime-web

Run 'webptq <command> --help' for a command's options.
Environment: WEBPTQ_WASM=simd128|relaxed forces a wasm build.`,
  inspect: `usage: webptq inspect MODEL.onnx [--json]

Prints the model's inputs and outputs (types, shapes), opsets, producer, op counts,
parameter count and bytes, and the ops this build cannot run.

options:
  --json       print the summary as JSON instead of a table
  -h, --help   show this help`,
  run: `usage: webptq run MODEL.onnx --input NAME=FILE.npy [--input NAME=FILE.npy ...] --out DIR

Runs the model once and writes each output to DIR/NAME.npy ('/' and ':' in names become '_').
With a single model input, '--input FILE.npy' is enough.

options:
  --input NAME=FILE.npy   a feed (repeatable); dtype and shape come from the .npy file
  --out DIR               where to write the outputs (created if missing)
  --no-optimize           run the graph as written, without constant/BatchNorm folding
  -h, --help              show this help`,
  quantize: `usage: webptq quantize IN.onnx -o OUT.onnx [options]

Quantizes a float model (static int8 by default: weights per channel, uint8 activations whose
ranges come from calibration data, QDQ form) and prints a summary: sizes, nodes quantized,
the layers that lose most. Calibration data: one .npy per model input whose first axis is
samples (all with the same number of samples); they are fed in batches of --batch-size.

options:
  -o, --output OUT.onnx          where to write the quantized model (required)
  --calib NAME=FILE.npy          calibration samples for input NAME (repeatable); with a single
                                 model input, '--calib FILE.npy' is enough
  --batch-size N                 samples per calibration batch (default 32)
  --mode static|dynamic|weight-only|fp16   (default static; this build implements static)
  --format qdq|qoperator         how the static model is written (default qdq)
  --method minmax|percentile|entropy|mse   activation range calibration (default minmax)
  --percentile P                 percentile to keep, with --method percentile (default 99.999)
  --per-tensor                   one scale per weight tensor instead of per output channel
  --symmetric                    symmetric activations (needs --activation-type int8)
  --activation-type uint8|int8   (default uint8)
  --weight-bits 8|4              (default 8; 4 only in weight-only mode)
  --exclude-nodes a,b            node names kept float
  --exclude-ops A,B              op types kept float
  --keep-float N                 keep the N layers that lose most in float
  --report REPORT.json           write the full report (every node's decision, SQNR per layer)
  -h, --help                     show this help

Not yet: --calib-images DIR (image folders with preprocessing); pass .npy files instead.`,
  bench: `usage: webptq bench MODEL.onnx [--int8 Q.onnx] [--runs N] [--json]

Measures inference latency on one thread: webptq on MODEL.onnx and, with --int8, on Q.onnx, side
by side in this process and interleaved (each round runs every session once), after warm-up
rounds. When onnxruntime-web is installed (npm i onnxruntime-web), its wasm backend runs the same
files too, and the ratios compare the two; otherwise webptq runs alone. Prints median and p90
latency per session and the ratios of the medians (below 1x: the first is faster).

options:
  --int8 Q.onnx           a second (quantized) model with the same inputs
  --runs N                timed rounds (default 20)
  --warmup N              untimed rounds first (default 3)
  --input NAME=FILE.npy   a feed (repeatable; FILE.npy alone for a single-input model); without
                          it, inputs are synthetic: floats in [0, 1), integers 1, and dimensions
                          without a fixed size 1
  --json                  print the result as JSON
  -h, --help              show this help`,
};

/** A command-line error with its code: USAGE (bad arguments), NOT_FOUND or IO (files). */
class CliError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}
class UsageError extends CliError {
  constructor(message) {
    super('USAGE', message);
  }
}

const MAX_ERROR = 600;

function fail(code, message) {
  let line = String(message).split('\n')[0];
  // The core lists every node whose op is missing; group them so the line stays readable.
  if (code === 'UNSUPPORTED_OP' && groupUnsupported(line).length > 0) line = `unsupported ops: ${describeUnsupported(line)}`;
  if (line.length > MAX_ERROR) line = `${line.slice(0, MAX_ERROR)}…`;
  process.stderr.write(`webptq: error [${code}]: ${line}\n`);
  process.exit(1);
}

function readFile(file, what) {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    if (e.code === 'ENOENT') throw new CliError('NOT_FOUND', `${what} '${file}' does not exist`);
    if (e.code === 'EISDIR') throw new CliError('NOT_FOUND', `${what} '${file}' is a directory, not a file`);
    throw new CliError('IO', `cannot read ${what} '${file}': ${e.message}`);
  }
}

/** Splits argv into positionals and options; `spec` maps option names to 'flag' | 'value' | 'list'. */
function parseArgs(argv, spec) {
  const positional = [];
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') {
      opts.help = true;
    } else if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      const kind = spec[name];
      if (!kind) throw new UsageError(`unknown option '--${name}'`);
      if (kind === 'flag') {
        if (eq > 0) throw new UsageError(`option '--${name}' takes no value`);
        opts[name] = true;
        continue;
      }
      let value = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (value === undefined || (eq < 0 && value.startsWith('--'))) throw new UsageError(`option '--${name}' needs a value`);
      if (kind === 'list') (opts[name] ??= []).push(value);
      else opts[name] = value;
    } else {
      positional.push(a);
    }
  }
  return { positional, opts };
}

const fmtShape = (shape) => (shape ? `[${shape.map((d) => (d === null ? '?' : d)).join(', ')}]` : '(any)');

function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]} (${n.toLocaleString('en-US')} bytes)`;
}

function table(rows, indent = '  ') {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  return rows.map((r) => indent + r.map((cell, c) => (c === r.length - 1 ? String(cell) : String(cell).padEnd(widths[c]))).join('  ').trimEnd()).join('\n');
}

function printInfo(file, info) {
  const out = [];
  out.push(`model      ${file}`);
  out.push(`producer   ${info.producer || '(none)'}`);
  out.push(`ir         ${info.irVersion}`);
  const opsets = Object.entries(info.opsets).map(([d, v]) => `${d} ${v}`).join(', ');
  out.push(`opset      ${info.opset}${Object.keys(info.opsets).length > 1 ? `  (${opsets})` : ''}`);
  out.push(`parameters ${info.parameterCount.toLocaleString('en-US')} in ${fmtBytes(info.parameterBytes)}`);
  for (const [title, values] of [['inputs', info.inputs], ['outputs', info.outputs]]) {
    out.push('', `${title} (${values.length})`);
    if (values.length) out.push(table(values.map((v) => [v.name, v.type ?? '?', fmtShape(v.shape)])));
  }
  const ops = Object.entries(info.opCounts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  out.push('', `ops (${info.nodeCount} node${info.nodeCount === 1 ? '' : 's'}, ${ops.length} type${ops.length === 1 ? '' : 's'})`);
  if (ops.length) out.push(table(ops.map(([op, n]) => [op, n])));
  out.push('');
  if (info.unsupportedOps.length) {
    const groups = groupUnsupported(info.unsupportedOps);
    out.push(`unsupported (${info.unsupportedOps.length} node${info.unsupportedOps.length === 1 ? '' : 's'}, ${groups.length} op${groups.length === 1 ? '' : 's'}): this build cannot run the model yet`);
    out.push(table(groups.map((g) => [g.op, g.count, g.nodes.length ? `e.g. node '${g.nodes[0]}'` : ''])));
  } else {
    out.push('unsupported: none (this build can run the model)');
  }
  console.log(out.join('\n'));
}

async function cmdInspect(argv) {
  const { positional, opts } = parseArgs(argv, { json: 'flag' });
  if (opts.help) return console.log(USAGE.inspect);
  if (positional.length !== 1) throw new UsageError(`inspect takes one MODEL.onnx, got ${positional.length}`);
  const file = positional[0];
  const info = await inspect(readFile(file, 'model'));
  if (opts.json) console.log(JSON.stringify(info, null, 2));
  else printInfo(file, info);
}

const outputFileName = (name) => `${name.replace(/[/:\\]/g, '_')}.npy`;

async function cmdRun(argv) {
  const { positional, opts } = parseArgs(argv, { input: 'list', out: 'value', optimize: 'flag', 'no-optimize': 'flag' });
  if (opts.help) return console.log(USAGE.run);
  if (positional.length !== 1) throw new UsageError(`run takes one MODEL.onnx, got ${positional.length}`);
  if (!opts.out) throw new UsageError('run needs --out DIR');
  const inputs = opts.input ?? [];
  const file = positional[0];
  const modelBytes = readFile(file, 'model');
  const session = await InferenceSession.create(modelBytes, { optimize: !opts['no-optimize'] });
  try {
    const feeds = {};
    for (const spec of inputs) {
      const eq = spec.indexOf('=');
      let name;
      let npy;
      if (eq < 0) {
        if (session.inputNames.length !== 1) {
          throw new UsageError(`--input ${spec}: the model has ${session.inputNames.length} inputs (${session.inputNames.join(', ') || 'none'}), so write --input NAME=FILE.npy`);
        }
        [name, npy] = [session.inputNames[0], spec];
      } else {
        [name, npy] = [spec.slice(0, eq), spec.slice(eq + 1)];
        if (!name || !npy) throw new UsageError(`--input '${spec}' should be NAME=FILE.npy`);
        if (!session.inputNames.includes(name)) {
          throw new UsageError(`--input ${spec}: the model has no input '${name}' (its inputs: ${session.inputNames.join(', ') || 'none'})`);
        }
      }
      if (name in feeds) throw new UsageError(`--input for '${name}' is given twice`);
      feeds[name] = readNpy(readFile(npy, 'input'), npy);
    }
    const missing = session.inputNames.filter((n) => !(n in feeds));
    if (missing.length) throw new UsageError(`missing --input for ${missing.map((n) => `'${n}'`).join(', ')}`);
    const t0 = performance.now();
    const outputs = await session.run(feeds);
    const ms = performance.now() - t0;
    fs.mkdirSync(opts.out, { recursive: true });
    for (const [name, tensor] of Object.entries(outputs)) {
      const dest = path.join(opts.out, outputFileName(name));
      fs.writeFileSync(dest, writeNpy(tensor));
      console.log(`${dest}  ${tensor.type} [${tensor.dims.join(', ')}]`);
    }
    console.error(`ran ${path.basename(file)} in ${ms.toFixed(1)} ms (wasm ${wasmFlavour()})`);
  } finally {
    await session.release();
  }
}

function splitList(v) {
  return v.split(',').map((x) => x.trim()).filter((x) => x !== '');
}

function parseCount(v, name, min) {
  if (!/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`--${name} must be an integer of at least ${min}, got '${v}'`);
  return Number(v);
}

/** The batches of the calibration .npy files: rows [i, i + batch) of each, as feeds. */
function* npyBatches(arrays, samples, batch) {
  for (let start = 0; start < samples; start += batch) {
    const end = Math.min(samples, start + batch);
    const feeds = {};
    for (const [name, t] of Object.entries(arrays)) {
      const per = t.size / t.dims[0];
      feeds[name] = new Tensor(t.type, t.data.subarray(start * per, end * per), [end - start, ...t.dims.slice(1)]);
    }
    yield feeds;
  }
}

const pct = (x) => `${(100 * x).toFixed(1)}%`;
const db = (x) => (x === null || x === undefined ? '-' : `${x.toFixed(1)} dB`);

function printQuantSummary(input, output, report, ms) {
  const out = [];
  const counts = {};
  for (const n of report.nodes) counts[n.decision] = (counts[n.decision] ?? 0) + 1;
  const opts = report.options;
  const method = typeof opts.calibration === 'string' ? opts.calibration : opts.calibration.method;
  out.push(`quantized  ${input} -> ${output} in ${(ms / 1000).toFixed(1)} s`);
  out.push(`mode       ${opts.mode}, ${opts.format}, ${opts.perChannel ? 'per-channel' : 'per-tensor'} weights, ${opts.activationType} activations, ${method} calibration`);
  out.push(`size       ${fmtBytes(report.floatBytes)} -> ${fmtBytes(report.quantizedBytes)} (${report.sizeRatio.toFixed(3)}x)`);
  out.push(`nodes      ${counts.quantized ?? 0} quantized, ${counts.folded ?? 0} folded, ${counts.float ?? 0} float (of ${report.nodes.length})`);
  out.push(`data       ${report.calibration.batches} batch${report.calibration.batches === 1 ? '' : 'es'}, ${report.calibration.values} values observed; evaluated on ${report.evaluatedBatches}`);
  if (report.outputs.length) {
    out.push('', 'outputs (quantized vs float, on the evaluated batches)');
    out.push(table([['name', 'SQNR', 'top-1 agreement', 'max abs error'],
      ...report.outputs.map((o) => [o.name, db(o.sqnrDb), o.top1Agreement == null ? '-' : pct(o.top1Agreement), typeof o.maxAbsError === 'number' ? o.maxAbsError.toExponential(2) : '-'])]));
  }
  if (report.mostLossy.length) {
    out.push('', 'layers that lose most');
    out.push(table([['node', 'op', 'SQNR', 'own loss SQNR'],
      ...report.mostLossy.slice(0, 5).map((l) => [l.node, l.opType, db(l.sqnrDb), db(l.ownSqnrDb)])]));
  }
  if (report.keepFloat) out.push('', `kept float: ${report.keepFloat.nodes.join(', ')}`);
  for (const w of report.warnings.slice(0, 5)) out.push(`warning: ${w}`);
  if (report.warnings.length > 5) out.push(`(${report.warnings.length - 5} more warnings in the report)`);
  console.log(out.join('\n'));
}

async function cmdQuantize(argv) {
  const spec = {
    output: 'value', o: 'value', calib: 'list', 'batch-size': 'value', mode: 'value', format: 'value', method: 'value',
    percentile: 'value', 'per-tensor': 'flag', symmetric: 'flag', 'activation-type': 'value', 'weight-bits': 'value',
    'exclude-nodes': 'value', 'exclude-ops': 'value', 'keep-float': 'value', report: 'value',
  };
  // -o is the one short option.
  const args = argv.map((a) => (a === '-o' ? '--o' : a));
  const { positional, opts } = parseArgs(args, spec);
  if (opts.help) return console.log(USAGE.quantize);
  if (positional.length !== 1) throw new UsageError(`quantize takes one IN.onnx, got ${positional.length}`);
  const output = opts.o ?? opts.output;
  if (!output) throw new UsageError('quantize needs -o OUT.onnx');
  const file = positional[0];
  const options = {};
  if (opts.mode !== undefined) options.mode = opts.mode;
  if (opts.format !== undefined) options.format = opts.format;
  if (opts.method !== undefined) options.method = opts.method;
  if (opts.percentile !== undefined) {
    const p = Number(opts.percentile);
    if (!Number.isFinite(p)) throw new UsageError(`--percentile must be a number, got '${opts.percentile}'`);
    options.percentile = p;
  }
  if (opts['per-tensor']) options.perChannel = false;
  if (opts.symmetric) options.symmetric = true;
  if (opts['activation-type'] !== undefined) options.activationType = opts['activation-type'];
  if (opts['weight-bits'] !== undefined) options.weightBits = parseCount(opts['weight-bits'], 'weight-bits', 1);
  if (opts['exclude-nodes'] !== undefined) options.excludeNodes = splitList(opts['exclude-nodes']);
  if (opts['exclude-ops'] !== undefined) options.excludeOpTypes = splitList(opts['exclude-ops']);
  if (opts['keep-float'] !== undefined) options.keepFloat = parseCount(opts['keep-float'], 'keep-float', 0);
  const batch = opts['batch-size'] === undefined ? 32 : parseCount(opts['batch-size'], 'batch-size', 1);

  const modelBytes = readFile(file, 'model');
  const info = await inspect(modelBytes);
  const inputNames = info.inputs.map((v) => v.name);
  const arrays = {};
  for (const c of opts.calib ?? []) {
    const eq = c.indexOf('=');
    let name;
    let npyFile;
    if (eq < 0) {
      if (inputNames.length !== 1) {
        throw new UsageError(`--calib ${c}: the model has ${inputNames.length} inputs (${inputNames.join(', ') || 'none'}), so write --calib NAME=FILE.npy`);
      }
      [name, npyFile] = [inputNames[0], c];
    } else {
      [name, npyFile] = [c.slice(0, eq), c.slice(eq + 1)];
      if (!name || !npyFile) throw new UsageError(`--calib '${c}' should be NAME=FILE.npy`);
      if (!inputNames.includes(name)) throw new UsageError(`--calib ${c}: the model has no input '${name}' (its inputs: ${inputNames.join(', ') || 'none'})`);
    }
    if (name in arrays) throw new UsageError(`--calib for '${name}' is given twice`);
    const t = readNpy(readFile(npyFile, 'calibration file'), npyFile);
    if (t.dims.length === 0 || t.dims[0] === 0) throw new UsageError(`--calib ${c}: the array has no samples (its first axis is samples)`);
    arrays[name] = t;
  }
  const mode = options.mode ?? 'static';
  let calibration;
  if (mode === 'static') {
    if (Object.keys(arrays).length === 0) throw new UsageError('static quantization needs calibration data: --calib FILE.npy (or NAME=FILE.npy per input)');
    const missing = inputNames.filter((n) => !(n in arrays));
    if (missing.length) throw new UsageError(`missing --calib for ${missing.map((n) => `'${n}'`).join(', ')}`);
    const counts = Object.entries(arrays).map(([n, t]) => [n, t.dims[0]]);
    const samples = counts[0][1];
    if (counts.some(([, k]) => k !== samples)) {
      throw new UsageError(`the --calib files hold different numbers of samples: ${counts.map(([n, k]) => `${n} ${k}`).join(', ')}`);
    }
    calibration = [...npyBatches(arrays, samples, batch)];
  }
  const t0 = performance.now();
  let last = '';
  const tty = process.stderr.isTTY;
  const { bytes, report } = await quantize(modelBytes, {
    ...options,
    calibration,
    onProgress: (p) => {
      if (!tty) return;
      const line = `${p.stage} ${p.done}${p.total == null ? '' : `/${p.total}`}`;
      if (line !== last) process.stderr.write(`\r\x1b[K${line}`);
      last = line;
    },
  });
  if (tty) process.stderr.write('\r\x1b[K');
  const ms = performance.now() - t0;
  try {
    fs.writeFileSync(output, bytes);
    if (opts.report) fs.writeFileSync(opts.report, `${JSON.stringify(report, null, 2)}\n`);
  } catch (e) {
    throw new CliError('IO', `cannot write '${e.path ?? output}': ${e.message}`);
  }
  printQuantSummary(file, output, report, ms);
  if (opts.report) console.log(`report     ${opts.report}`);
}

/** Synthetic feeds for the model's inputs: deterministic floats in [0, 1), integers 1, free dims 1. */
function syntheticFeeds(info) {
  let seed = 12345;
  const next = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const feeds = {};
  for (const v of info.inputs) {
    const dims = (v.shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : 1));
    const n = dims.reduce((a, b) => a * b, 1);
    const type = v.type ?? 'float32';
    const values = Array.from({ length: n }, () => (type.startsWith('float') ? next() : 1));
    feeds[v.name] = new Tensor(type, values, dims);
  }
  return feeds;
}

async function cmdBench(argv) {
  const { positional, opts } = parseArgs(argv, { int8: 'value', runs: 'value', warmup: 'value', input: 'list', json: 'flag' });
  if (opts.help) return console.log(USAGE.bench);
  if (positional.length !== 1) throw new UsageError(`bench takes one MODEL.onnx, got ${positional.length}`);
  const runs = opts.runs === undefined ? 20 : parseCount(opts.runs, 'runs', 1);
  const warmup = opts.warmup === undefined ? 3 : parseCount(opts.warmup, 'warmup', 0);
  const file = positional[0];
  const float = readFile(file, 'model');
  const int8 = opts.int8 === undefined ? null : readFile(opts.int8, 'model');
  const info = await inspect(float);
  const inputNames = info.inputs.map((v) => v.name);
  const feeds = syntheticFeeds(info);
  const given = new Set();
  for (const spec of opts.input ?? []) {
    const eq = spec.indexOf('=');
    const [name, npy] = eq < 0 ? [inputNames.length === 1 ? inputNames[0] : null, spec] : [spec.slice(0, eq), spec.slice(eq + 1)];
    if (name === null) throw new UsageError(`--input ${spec}: the model has ${inputNames.length} inputs (${inputNames.join(', ') || 'none'}), so write --input NAME=FILE.npy`);
    if (!inputNames.includes(name)) throw new UsageError(`--input ${spec}: the model has no input '${name}' (its inputs: ${inputNames.join(', ') || 'none'})`);
    if (given.has(name)) throw new UsageError(`--input for '${name}' is given twice`);
    given.add(name);
    feeds[name] = readNpy(readFile(npy, 'input'), npy);
  }
  const harness = await import('../benches/harness.mjs');
  const webptq = await import('../js/index.js');
  const { flavour } = await webptq.loadWasm();
  const config = flavour === 'relaxed' ? 'relaxed' : 'simd128';
  const notes = [];
  let ort = null;
  try {
    const m = await import('onnxruntime-web');
    ort = m.default ?? m;
    harness.configureOrt(ort, config);
  } catch {
    notes.push('onnxruntime-web is not installed: webptq only (npm i onnxruntime-web to compare with it)');
  }
  const plain = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { type: t.type, data: t.data, dims: t.dims }]));
  const log = process.stderr.isTTY && !opts.json ? (l) => process.stderr.write(`${l}\n`) : () => {};
  const row = await harness.benchModel({ name: path.basename(file), float, int8, feeds: plain }, { webptq, ort, runs, warmup, minRuns: runs, log });
  const os = await import('node:os');
  const result = {
    model: file,
    int8: opts.int8 ?? null,
    feeds: Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { type: t.type, dims: t.dims, synthetic: !given.has(k) }])),
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, platform: `${process.platform} ${process.arch}` },
    config: { webptqFlavour: flavour, ortSimd: ort ? ort.env.wasm.simd : null, ortVersion: ort ? (ort.env.versions?.web ?? null) : null },
    runners: row.runners,
    latency: row.latency,
    ratios: row.ratios,
    check: row.check,
    errors: row.errors,
    notes,
  };
  if (opts.json) return console.log(JSON.stringify(result, null, 2));
  console.log(`model      ${file}${int8 ? `\nint8       ${opts.int8}` : ''}`);
  console.log(`machine    ${result.machine.cpu}, ${result.machine.cores} cores, Node ${process.version}`);
  console.log(`runtimes   webptq (${flavour} build)${ort ? `, onnxruntime-web ${result.config.ortVersion ?? ''} (wasm, simd=${JSON.stringify(result.config.ortSimd)})` : ''}; 1 thread`);
  console.log(`feeds      ${Object.entries(result.feeds).map(([k, f]) => `${k} ${f.type} [${f.dims.join(', ')}]${f.synthetic ? ' (synthetic)' : ''}`).join(', ')}`);
  console.log('');
  console.log(harness.formatRows([row]));
  for (const n of notes) console.log(`note: ${n}`);
}

async function main(argv) {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    console.log(rest[0] && USAGE[rest[0]] ? USAGE[rest[0]] : USAGE.main);
    return;
  }
  if (cmd === '--version' || cmd === '-V') {
    const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    console.log(`webptq ${pkg.version}`);
    return;
  }
  if (cmd === 'inspect') return cmdInspect(rest);
  if (cmd === 'run') return cmdRun(rest);
  if (cmd === 'quantize') return cmdQuantize(rest);
  if (cmd === 'bench') return cmdBench(rest);
  throw new UsageError(`unknown command '${cmd}' (commands: inspect, run, quantize, bench; see webptq --help)`);
}

try {
  await main(process.argv.slice(2));
} catch (e) {
  if (e instanceof CliError || e instanceof WebptqError) fail(e.code, e.message);
  fail('INTERNAL', e?.message ?? String(e));
}
