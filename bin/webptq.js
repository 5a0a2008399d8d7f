#!/usr/bin/env node
// The webptq command line: inspect a model, run it on .npy inputs. Errors print one line,
// "webptq: error [CODE]: message", and exit with status 1; never a stack trace.
import fs from 'node:fs';
import path from 'node:path';
import { InferenceSession, inspect, readNpy, writeNpy, WebptqError, wasmFlavour } from '../js/index.js';
import { groupUnsupported, describeUnsupported } from '../js/model.js';

const USAGE = {
  main: `usage: webptq <command> [options]

Post-training int8 quantization of ONNX models, on your own machine (WebAssembly).

commands:
  inspect MODEL.onnx [--json]                       summarize a model
  run MODEL.onnx --input NAME=FILE.npy ... --out DIR  run a model on .npy inputs

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
  throw new UsageError(`unknown command '${cmd}' (commands: inspect, run; see webptq --help)`);
}

try {
  await main(process.argv.slice(2));
} catch (e) {
  if (e instanceof CliError || e instanceof WebptqError) fail(e.code, e.message);
  fail('INTERNAL', e?.message ?? String(e));
}
