#!/usr/bin/env node
// The webptq command line: inspect a model, run it on .npy inputs, quantize it (calibration from
// .npy files or a folder of images). Errors print one line, "webptq: error [CODE]: message", and
// exit with status 1; never a stack trace. Long work draws a progress bar on stderr when stderr
// is a terminal; --json prints machine-readable results on stdout.
//
// Commands live in COMMANDS (usage text + handler): a new command is one more entry there.
import fs from 'node:fs';
import path from 'node:path';
import {
  InferenceSession, Tensor, loadModel, quantize, readNpy, writeNpy, imageToTensor, WebptqError, wasmFlavour,
} from '../js/index.js';
import { groupUnsupported, describeUnsupported } from '../js/model.js';

const USAGE = {
  main: `usage: webptq <command> [options]

Post-training int8 quantization of ONNX models, on your own machine (WebAssembly).

commands:
  inspect MODEL.onnx [--json]                         summarize a model (a path or a URL)
  run MODEL.onnx --input NAME=FILE.npy ... --out DIR  run a model on .npy inputs
  quantize IN.onnx -o OUT.onnx --calib FILE.npy ...   int8 post-training quantization
  quantize IN.onnx -o OUT.onnx --calib-images DIR     ... calibrated on a folder of images
  bench MODEL.onnx [--int8 Q.onnx] [--runs N] [--profile] [--json] latency, webptq vs onnxruntime-web

Run 'webptq <command> --help' for a command's options.
Environment: WEBPTQ_WASM=simd128|relaxed forces a wasm build.`,
  inspect: `usage: webptq inspect MODEL.onnx [--json]

Prints the model's inputs and outputs (types, shapes), opsets, producer, op counts,
parameter count and bytes, and the ops this build cannot run. MODEL.onnx may be a URL.

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
  --engine auto|float|int8  auto (default) runs the model as it is; float runs Q/DQ nodes
                          literally; int8 refuses a model that is not quantized
  --json                  print the outputs written (name, file, type, dims) as JSON
  -h, --help              show this help`,
  quantize: `usage: webptq quantize IN.onnx -o OUT.onnx [options]

Quantizes a float model (static int8 by default: weights per channel, uint8 activations whose
ranges come from calibration data, QDQ form) and prints a summary: sizes, nodes quantized,
the layers that lose most. Calibration data: one .npy per model input whose first axis is
samples (all with the same number of samples); they are fed in batches of --batch-size.
An array with one axis more than its input (a model input without a batch axis) holds one
whole feed per sample; then every sample is fed on its own.

options:
  -o, --output OUT.onnx          where to write the quantized model (required)
  --calib NAME=FILE.npy          calibration samples for input NAME (repeatable); with a single
                                 model input, '--calib FILE.npy' is enough
  --batch-size N                 samples per calibration batch (default: the batch size the model
                                 fixes, else 32; a model with a fixed batch gets its own size anyway)
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
  --json                         print the report as JSON on stdout instead of the summary
  -h, --help                     show this help

calibration from images (PNG and JPEG files of a folder, in name order, decoded a batch at a time):
  --calib-images [NAME=]DIR      the folder; NAME when the model has several inputs
  --size H,W                     tensor height and width (default: from the input's shape)
  --resize cover|stretch|none|N  cover (default): scale keeping the aspect ratio to cover H,W,
                                 then centre crop; N: shorter side to N, then centre crop;
                                 stretch: scale to H,W exactly; none: centre crop only
  --mean a,b,c                   subtracted per channel after --scale (default 0)
  --std a,b,c                    divided per channel after that (default 1)
  --scale S                      pixel multiplier, a number or a fraction (default 1/255)
  --layout nchw|nhwc             (default: from the input's shape, else nchw)
  --channels rgb|bgr|gray        (default: gray for 1 channel, else rgb)
  value = (pixel * scale - mean) / std; resizing is Pillow's bilinear, to the bit.`,
  bench: `usage: webptq bench MODEL.onnx [--int8 Q.onnx] [--runs N] [--profile] [--json]

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
  --profile               also time each node of webptq's sessions and print the time per op
                          type (mean of the timed rounds; fused QDQ groups show as integer ops)
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

/**
 * An onProgress that draws `stage [#####.....] done/total` on stderr when it is a terminal (and
 * nothing otherwise); call .done() to clear the line.
 */
function progressBar(stream = process.stderr) {
  const tty = stream.isTTY === true;
  let last = '';
  let lastAt = 0;
  const width = 30;
  const draw = (p) => {
    if (!tty) return;
    let line;
    if (p.total) {
      const f = Math.max(0, Math.min(1, p.done / p.total));
      const n = Math.round(f * width);
      const count = p.stage === 'download' || p.stage === 'read' ? `${fmtSize(p.done)}/${fmtSize(p.total)}` : `${p.done}/${p.total}`;
      line = `${p.stage.padEnd(10)} [${'#'.repeat(n)}${'.'.repeat(width - n)}] ${count}`;
    } else {
      line = `${p.stage.padEnd(10)} ${p.stage === 'download' ? fmtSize(p.done) : p.done}`;
    }
    const now = Date.now();
    if (line === last || (now - lastAt < 50 && p.done !== p.total)) return;
    last = line;
    lastAt = now;
    stream.write(`\r\x1b[K${line}`);
  };
  draw.done = () => {
    if (tty && last) stream.write('\r\x1b[K');
    last = '';
  };
  return draw;
}

const fmtSize = (n) => (n < 1 << 20 ? `${(n / 1024).toFixed(0)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`);

const MAX_ERROR = 600;

function fail(code, message, unsupported) {
  let line = String(message).split('\n')[0];
  // The core lists every node whose op is missing; group them so the line stays readable.
  if (code === 'UNSUPPORTED_OP' && unsupported?.length > 0) line = `unsupported ops: ${describeUnsupported(unsupported)}`;
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
    const groups = groupUnsupported(info.unsupported);
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
  const info = (await openModel(file, (m) => m.info()));
  if (opts.json) console.log(JSON.stringify(info, null, 2));
  else printInfo(file, info);
}

/** Loads a model from a path or URL (a progress bar for downloads), calls fn(model), releases it. */
async function openModel(file, fn) {
  const bar = progressBar();
  let model;
  try {
    model = await loadModel(file, { onProgress: bar });
  } catch (e) {
    // (An external data file the model names that is missing keeps its own message.)
    const aboutModel = /^the model /.test(e?.message ?? '');
    if (e?.code === 'NOT_FOUND' && aboutModel) throw new CliError('NOT_FOUND', `model '${file}' does not exist`);
    if (e?.code === 'IO_ERROR' && aboutModel && /directory/.test(e.message)) throw new CliError('NOT_FOUND', `model '${file}' is a directory, not a file`);
    throw e;
  } finally {
    bar.done();
  }
  try {
    return await fn(model);
  } finally {
    model.release();
  }
}

const outputFileName = (name) => `${name.replace(/[/:\\]/g, '_')}.npy`;

async function cmdRun(argv) {
  const { positional, opts } = parseArgs(argv, { input: 'list', out: 'value', optimize: 'flag', 'no-optimize': 'flag', engine: 'value', json: 'flag' });
  if (opts.help) return console.log(USAGE.run);
  if (positional.length !== 1) throw new UsageError(`run takes one MODEL.onnx, got ${positional.length}`);
  if (!opts.out) throw new UsageError('run needs --out DIR');
  const inputs = opts.input ?? [];
  const file = positional[0];
  const session = await openModel(file, (m) => InferenceSession.create(m, { optimize: !opts['no-optimize'], engine: opts.engine }));
  try {
    const feeds = {};
    for (const spec of inputs) {
      const [name, npy] = namedArg('--input', spec, session.inputNames, 'FILE.npy');
      if (name in feeds) throw new UsageError(`--input for '${name}' is given twice`);
      feeds[name] = readNpy(readFile(npy, 'input'), npy);
    }
    const missing = session.inputNames.filter((n) => !(n in feeds));
    if (missing.length) throw new UsageError(`missing --input for ${missing.map((n) => `'${n}'`).join(', ')}`);
    const t0 = performance.now();
    const outputs = await session.run(feeds);
    const ms = performance.now() - t0;
    fs.mkdirSync(opts.out, { recursive: true });
    const written = [];
    for (const [name, tensor] of Object.entries(outputs)) {
      const dest = path.join(opts.out, outputFileName(name));
      fs.writeFileSync(dest, writeNpy(tensor));
      written.push({ name, file: dest, type: tensor.type, dims: tensor.dims });
      if (!opts.json) console.log(`${dest}  ${tensor.type} [${tensor.dims.join(', ')}]`);
    }
    if (opts.json) console.log(JSON.stringify({ model: file, outputs: written, ms, wasm: wasmFlavour(), engine: session.engine }, null, 2));
    else console.error(`ran ${path.basename(file)} in ${ms.toFixed(1)} ms (wasm ${wasmFlavour()})`);
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

/**
 * The batch size the model fixes: the first dimension its inputs declare as a number, when they
 * agree (undefined when none does). The quantizer regroups batches of another size to it anyway.
 */
function fixedBatch(info) {
  const sizes = new Set(info.inputs.map((v) => v.shape?.[0]).filter((d) => typeof d === 'number' && d > 0));
  return sizes.size === 1 ? [...sizes][0] : undefined;
}

/**
 * The batches of the calibration .npy files: rows [i, i + batch) of each, as feeds. An array
 * with one axis more than its model input (`stacked`) lists whole feeds: a model whose inputs
 * have no batch axis (a recurrent state [1, 1, 128], a sequence [seq_len, 576]) is fed one
 * sample at a time: each stacked sample as it is in the file, one row of every other file.
 */
function* npyBatches(arrays, samples, batch, stacked) {
  const step = stacked.size > 0 ? 1 : batch;
  for (let start = 0; start < samples; start += step) {
    const end = Math.min(samples, start + step);
    const feeds = {};
    for (const [name, t] of Object.entries(arrays)) {
      const per = t.size / t.dims[0];
      const rows = t.data.subarray(start * per, end * per);
      feeds[name] = new Tensor(t.type, rows, stacked.has(name) ? t.dims.slice(1) : [end - start, ...t.dims.slice(1)]);
    }
    yield feeds;
  }
}

/** The inputs whose .npy has one axis more than the model declares (see npyBatches). */
function stackedInputs(arrays, info) {
  const stacked = new Set();
  for (const [name, t] of Object.entries(arrays)) {
    const rank = info.inputs.find((v) => v.name === name)?.shape?.length;
    if (rank !== undefined && t.dims.length === rank + 1) stacked.add(name);
  }
  return stacked;
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

const IMAGE_FILE = /\.(png|jpe?g)$/i;

/** A list of numbers "a,b,c" (or one number). */
function numbers(v, name) {
  const list = v.split(',').map((x) => Number(x.trim()));
  if (list.length === 0 || list.some((x) => !Number.isFinite(x))) throw new UsageError(`--${name} must be numbers separated by commas, got '${v}'`);
  return list.length === 1 ? list[0] : list;
}

/** "0.5" or "1/255". */
function fraction(v, name) {
  const m = /^\s*([\d.eE+-]+)\s*(?:\/\s*([\d.eE+-]+)\s*)?$/.exec(v);
  const x = m ? Number(m[1]) / (m[2] === undefined ? 1 : Number(m[2])) : NaN;
  if (!Number.isFinite(x)) throw new UsageError(`--${name} must be a number or a fraction like 1/255, got '${v}'`);
  return x;
}

/**
 * Image options for a model input from the flags, with defaults read from the input's shape
 * ([N, C, H, W] or [N, H, W, C] with C = 1 or 3).
 */
function imageOptionsFor(input, opts) {
  if (opts.layout !== undefined && !['nchw', 'nhwc'].includes(opts.layout)) throw new UsageError(`--layout must be nchw or nhwc, got '${opts.layout}'`);
  if (opts.channels !== undefined && !['rgb', 'bgr', 'gray'].includes(opts.channels)) throw new UsageError(`--channels must be rgb, bgr or gray, got '${opts.channels}'`);
  const shape = input.shape ?? [];
  const fixed = (d) => (typeof d === 'number' ? d : null);
  let layout = opts.layout;
  let c = null;
  let hw = null;
  if (shape.length === 4) {
    const [, a, b, d] = shape.map(fixed);
    const nchw = (a === 1 || a === 3) && !(d === 1 || d === 3);
    const nhwc = (d === 1 || d === 3) && !(a === 1 || a === 3);
    layout ??= nhwc ? 'nhwc' : 'nchw';
    if (layout === 'nchw' && (nchw || !nhwc)) [c, hw] = [a, b && d ? [b, d] : null];
    else if (layout === 'nhwc') [c, hw] = [d, a && b ? [a, b] : null];
  }
  const o = { layout: layout ?? 'nchw' };
  if (opts.size !== undefined) {
    const size = numbers(opts.size, 'size');
    if (!Array.isArray(size) || size.length !== 2 || !size.every((x) => Number.isInteger(x) && x > 0)) throw new UsageError(`--size must be H,W (two positive integers), got '${opts.size}'`);
    o.size = size;
  } else if (hw) {
    o.size = hw;
  } else {
    throw new UsageError(`--calib-images: the input '${input.name}' has shape ${fmtShape(input.shape)}, which does not fix the image size: give --size H,W`);
  }
  o.channels = opts.channels ?? (c === 1 ? 'gray' : 'rgb');
  const channels = o.channels === 'gray' ? 1 : 3;
  if (c !== null && c !== channels) {
    throw new UsageError(`--calib-images: the input '${input.name}' has ${c} channel${c === 1 ? '' : 's'} (shape ${fmtShape(input.shape)}, layout ${o.layout}) but --channels ${o.channels} gives ${channels}`);
  }
  if (opts.resize !== undefined) o.resize = /^\d+$/.test(opts.resize) ? Number(opts.resize) : opts.resize;
  if (opts.mean !== undefined) o.mean = numbers(opts.mean, 'mean');
  if (opts.std !== undefined) o.std = numbers(opts.std, 'std');
  if (opts.scale !== undefined) o.scale = fraction(opts.scale, 'scale');
  return o;
}

/** The image files of a folder, in name order. */
function imageFiles(dir) {
  let names;
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    if (e.code === 'ENOENT') throw new CliError('NOT_FOUND', `image folder '${dir}' does not exist`);
    if (e.code === 'ENOTDIR') throw new CliError('USAGE', `--calib-images '${dir}' is a file; give a folder of images`);
    throw new CliError('IO', `cannot read the folder '${dir}': ${e.message}`);
  }
  const files = names.filter((n) => IMAGE_FILE.test(n)).sort().map((n) => path.join(dir, n));
  if (files.length === 0) throw new UsageError(`the folder '${dir}' has no .png, .jpg or .jpeg files`);
  return files;
}

/** Calibration batches decoded from image folders a batch at a time; `length` is the batch count. */
function imageBatches(folders, batch) {
  const count = folders[0].files.length;
  const it = (async function* () {
    for (let start = 0; start < count; start += batch) {
      const feeds = {};
      for (const f of folders) feeds[f.name] = await imageToTensor(f.files.slice(start, start + batch), f.options);
      yield feeds;
    }
  })();
  it.length = Math.ceil(count / batch);
  return it;
}

/**
 * `spec` (NAME=VALUE, or VALUE alone for a single-input model) → [input name, value], checked
 * against the model's inputs; `what` names VALUE in messages (FILE.npy, DIR).
 */
function namedArg(flag, spec, inputNames, what) {
  const eq = spec.indexOf('=');
  if (eq < 0) {
    if (inputNames.length !== 1) {
      throw new UsageError(`${flag} ${spec}: the model has ${inputNames.length} inputs (${inputNames.join(', ') || 'none'}), so write ${flag} NAME=${what}`);
    }
    return [inputNames[0], spec];
  }
  const [name, value] = [spec.slice(0, eq), spec.slice(eq + 1)];
  if (!name || !value) throw new UsageError(`${flag} '${spec}' should be NAME=${what}`);
  if (!inputNames.includes(name)) throw new UsageError(`${flag} ${spec}: the model has no input '${name}' (its inputs: ${inputNames.join(', ') || 'none'})`);
  return [name, value];
}

async function cmdQuantize(argv) {
  const spec = {
    output: 'value', o: 'value', calib: 'list', 'batch-size': 'value', mode: 'value', format: 'value', method: 'value',
    percentile: 'value', 'per-tensor': 'flag', symmetric: 'flag', 'activation-type': 'value', 'weight-bits': 'value',
    'exclude-nodes': 'value', 'exclude-ops': 'value', 'keep-float': 'value', report: 'value', json: 'flag',
    'calib-images': 'list', size: 'value', resize: 'value', mean: 'value', std: 'value', scale: 'value', layout: 'value', channels: 'value',
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
  const askedBatch = opts['batch-size'] === undefined ? undefined : parseCount(opts['batch-size'], 'batch-size', 1);
  const imageFlags = ['size', 'resize', 'mean', 'std', 'scale', 'layout', 'channels'].filter((k) => opts[k] !== undefined);
  if (imageFlags.length && !opts['calib-images']) throw new UsageError(`--${imageFlags[0]} describes --calib-images preprocessing; give --calib-images DIR too`);
  if (opts['calib-images'] && opts.calib) throw new UsageError('give either --calib (.npy files) or --calib-images (a folder), not both');

  await openModel(file, async (model) => {
    const info = model.info();
    const inputNames = info.inputs.map((v) => v.name);
    const mode = options.mode ?? 'static';
    const batch = askedBatch ?? fixedBatch(info) ?? 32;
    let calibration;
    if (opts['calib-images']) {
      const folders = [];
      for (const c of opts['calib-images']) {
        const [name, dir] = namedArg('--calib-images', c, inputNames, 'DIR');
        if (folders.some((f) => f.name === name)) throw new UsageError(`--calib-images for '${name}' is given twice`);
        folders.push({ name, files: imageFiles(dir), options: imageOptionsFor(info.inputs.find((v) => v.name === name), opts) });
      }
      const missing = inputNames.filter((n) => !folders.some((f) => f.name === n));
      if (missing.length) throw new UsageError(`missing --calib-images for ${missing.map((n) => `'${n}'`).join(', ')}`);
      if (folders.some((f) => f.files.length !== folders[0].files.length)) {
        throw new UsageError(`the image folders hold different numbers of images: ${folders.map((f) => `${f.name} ${f.files.length}`).join(', ')}`);
      }
      calibration = imageBatches(folders, batch);
    } else {
      const arrays = {};
      for (const c of opts.calib ?? []) {
        const [name, npyFile] = namedArg('--calib', c, inputNames, 'FILE.npy');
        if (name in arrays) throw new UsageError(`--calib for '${name}' is given twice`);
        const t = readNpy(readFile(npyFile, 'calibration file'), npyFile);
        if (t.dims.length === 0 || t.dims[0] === 0) throw new UsageError(`--calib ${c}: the array has no samples (its first axis is samples)`);
        arrays[name] = t;
      }
      if (mode === 'static') {
        if (Object.keys(arrays).length === 0) throw new UsageError('static quantization needs calibration data: --calib FILE.npy (or NAME=FILE.npy per input), or --calib-images DIR');
        const missing = inputNames.filter((n) => !(n in arrays));
        if (missing.length) throw new UsageError(`missing --calib for ${missing.map((n) => `'${n}'`).join(', ')}`);
      }
      if (Object.keys(arrays).length) {
        const counts = Object.entries(arrays).map(([n, t]) => [n, t.dims[0]]);
        const samples = counts[0][1];
        if (counts.some(([, k]) => k !== samples)) {
          throw new UsageError(`the --calib files hold different numbers of samples: ${counts.map(([n, k]) => `${n} ${k}`).join(', ')}`);
        }
        const stacked = stackedInputs(arrays, info);
        calibration = [...npyBatches(arrays, samples, batch, stacked)];
      }
    }
    const t0 = performance.now();
    const bar = progressBar();
    let result;
    try {
      result = await quantize(model, { ...options, calibration, onProgress: bar });
    } finally {
      bar.done();
    }
    const { bytes, report } = result;
    const ms = performance.now() - t0;
    try {
      fs.writeFileSync(output, bytes);
      if (opts.report) fs.writeFileSync(opts.report, `${JSON.stringify(report, null, 2)}\n`);
    } catch (e) {
      throw new CliError('IO', `cannot write '${e.path ?? output}': ${e.message}`);
    }
    if (opts.json) {
      console.log(JSON.stringify({ input: file, output, ms, report }, null, 2));
      return;
    }
    printQuantSummary(file, output, report, ms);
    if (opts.report) console.log(`report     ${opts.report}`);
  });
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
  const { positional, opts } = parseArgs(argv, { int8: 'value', runs: 'value', warmup: 'value', input: 'list', profile: 'flag', json: 'flag' });
  if (opts.help) return console.log(USAGE.bench);
  if (positional.length !== 1) throw new UsageError(`bench takes one MODEL.onnx, got ${positional.length}`);
  const runs = opts.runs === undefined ? 20 : parseCount(opts.runs, 'runs', 1);
  const warmup = opts.warmup === undefined ? 3 : parseCount(opts.warmup, 'warmup', 0);
  const file = positional[0];
  const float = readFile(file, 'model');
  const int8 = opts.int8 === undefined ? null : readFile(opts.int8, 'model');
  const webptq = await import('../js/index.js');
  const info = await webptq.inspect(float);
  const inputNames = info.inputs.map((v) => v.name);
  const feeds = syntheticFeeds(info);
  const given = new Set();
  for (const spec of opts.input ?? []) {
    const [name, npy] = namedArg('--input', spec, inputNames, 'FILE.npy');
    if (given.has(name)) throw new UsageError(`--input for '${name}' is given twice`);
    given.add(name);
    feeds[name] = readNpy(readFile(npy, 'input'), npy);
  }
  const harness = await import('../js/bench.js');
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
  const profiles = {};
  if (opts.profile) {
    const wf = harness.webptqFeeds(webptq, plain);
    for (const [key, bytes] of [['webptq-f32', float], ['webptq-int8', int8]]) {
      if (!bytes) continue;
      const session = await webptq.InferenceSession.create(bytes);
      try {
        profiles[key] = await harness.profileSession(session, wf, runs);
      } finally {
        await session.release();
      }
    }
  }
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
    ...(opts.profile ? { profiles } : {}),
    notes,
  };
  if (opts.json) return console.log(JSON.stringify(result, null, 2));
  console.log(`model      ${file}${int8 ? `\nint8       ${opts.int8}` : ''}`);
  console.log(`machine    ${result.machine.cpu}, ${result.machine.cores} cores, Node ${process.version}`);
  console.log(`runtimes   webptq (${flavour} build)${ort ? `, onnxruntime-web ${result.config.ortVersion ?? ''} (wasm, simd=${JSON.stringify(result.config.ortSimd)})` : ''}; 1 thread`);
  console.log(`feeds      ${Object.entries(result.feeds).map(([k, f]) => `${k} ${f.type} [${f.dims.join(', ')}]${f.synthetic ? ' (synthetic)' : ''}`).join(', ')}`);
  console.log('');
  console.log(harness.formatRows([row]));
  for (const [key, p] of Object.entries(profiles)) console.log(`\n${harness.formatProfile(key, p)}`);
  for (const n of notes) console.log(`note: ${n}`);
}

/** The commands (their help texts are in USAGE). A new command, e.g. bench, is one more entry. */
const COMMANDS = {
  inspect: cmdInspect,
  run: cmdRun,
  quantize: cmdQuantize,
  bench: cmdBench,
};

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
  if (Object.hasOwn(COMMANDS, cmd)) return COMMANDS[cmd](rest);
  throw new UsageError(`unknown command '${cmd}' (commands: ${Object.keys(COMMANDS).join(', ')}; see webptq --help)`);
}

try {
  await main(process.argv.slice(2));
} catch (e) {
  if (e instanceof CliError || e instanceof WebptqError) fail(e.code, e.message, e.unsupported);
  fail('INTERNAL', e?.message ?? String(e));
}
