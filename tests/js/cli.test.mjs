// The command line (bin/webptq.js): inspect (table and JSON), run (writes .npy files equal to the
// session's outputs), and error exits: status 1 and exactly one line on stderr.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InferenceSession, Tensor, inspect, quantize, readNpy, writeNpy } from '../../js/index.js';
import { ROOT, fixture, readBytes, npy, rows, MNIST_MODEL, argmax } from './helpers.mjs';

const BIN = path.join(ROOT, 'bin', 'webptq.js');
const FEEDS = () => fixture('bad/feeds.onnx');

/** Runs the CLI with this process's node flags (e.g. relaxed SIMD) and environment. */
function cli(...args) {
  const r = spawnSync(process.execPath, [...process.execArgv.filter((a) => !a.startsWith('--test')), BIN, ...args], {
    encoding: 'utf8',
    env: process.env,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tmpdir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'webptq-cli-'));
}

/** Asserts an error exit: status 1, nothing but one "webptq: error [CODE]: ..." line on stderr. */
function assertError(r, code, ...patterns) {
  assert.equal(r.status, 1, `exit status (stderr: ${r.stderr})`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0], new RegExp(`^webptq: error \\[${code}\\]: `));
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  for (const p of patterns) assert.match(lines[0], p);
}

test('inspect prints a table', () => {
  const r = cli('inspect', FEEDS());
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^model\s+.*feeds\.onnx$/m);
  assert.match(r.stdout, /^opset\s+17$/m);
  assert.match(r.stdout, /^producer\s+webptq-tests/m);
  assert.match(r.stdout, /^inputs \(2\)$/m);
  assert.match(r.stdout, /^\s+x\s+float32\s+\[2, 3\]$/m);
  assert.match(r.stdout, /^\s+ids\s+int64\s+\[N\]$/m);
  assert.match(r.stdout, /^outputs \(3\)$/m);
  assert.match(r.stdout, /^ops \(1 node, 1 type\)$/m);
  assert.match(r.stdout, /^\s+Constant\s+1$/m);
  // The Constant node's 4 float32 values are parameters too.
  assert.match(r.stdout, /^parameters\s+4 in 16 B$/m);
  assert.match(r.stdout, /^unsupported: none/m);
  const u = cli('inspect', fixture('bad/unknown_op.onnx'));
  assert.equal(u.status, 0, u.stderr);
  assert.match(u.stdout, /^unsupported \(1 node, 1 op\)/m);
  assert.match(u.stdout, /^\s+FrobnicateXYZ\s+1\s+e\.g\. node 'frob'$/m);
});

test('inspect --json prints the info object', async () => {
  const r = cli('inspect', FEEDS(), '--json');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), await inspect(readBytes(FEEDS())));
});

test('--help for each command', () => {
  for (const args of [['--help'], ['inspect', '--help'], ['run', '--help'], []]) {
    const r = cli(...args);
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /^usage: webptq/);
  }
  assert.match(cli('run', '-h').stdout, /--input NAME=FILE\.npy/);
});

test('run writes each output as .npy, names sanitized', async () => {
  const dir = tmpdir();
  const x = new Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
  const ids = new Tensor('int64', [5, 6, 7, 8]);
  fs.writeFileSync(path.join(dir, 'x.npy'), writeNpy(x));
  fs.writeFileSync(path.join(dir, 'ids.npy'), writeNpy(ids));
  const out = path.join(dir, 'out', 'nested');
  const r = cli('run', FEEDS(), '--input', `x=${path.join(dir, 'x.npy')}`, `--input=ids=${path.join(dir, 'ids.npy')}`, '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(fs.readdirSync(out).sort(), ['const_out_0.npy', 'ids.npy', 'x.npy']);
  const session = await InferenceSession.create(readBytes(FEEDS()));
  const want = await session.run({ x, ids });
  await session.release();
  for (const [name, file] of [['x', 'x.npy'], ['ids', 'ids.npy'], ['const/out:0', 'const_out_0.npy']]) {
    const got = readNpy(fs.readFileSync(path.join(out, file)));
    assert.equal(got.type, want[name].type);
    assert.deepEqual(got.dims, want[name].dims);
    assert.deepEqual(got.data, want[name].data);
  }
  assert.match(r.stdout, /const_out_0\.npy\s+float32 \[4\]/);
});

test('run with a single-input model takes --input FILE.npy', async () => {
  const dir = tmpdir();
  const x = npy('ref/mnist/test_x.npy');
  const y = npy('ref/mnist/test_y.npy');
  const n = 8;
  const first = new Tensor('float32', x.data.slice(0, n * 784), [n, 1, 28, 28]);
  fs.writeFileSync(path.join(dir, 'digits.npy'), writeNpy(first));
  const r = cli('run', MNIST_MODEL, '--input', path.join(dir, 'digits.npy'), '--out', dir);
  assert.equal(r.status, 0, r.stderr);
  const logits = readNpy(fs.readFileSync(path.join(dir, 'logits.npy')));
  assert.deepEqual(logits.dims, [n, 10]);
  const predicted = argmax(logits.data, 10);
  const labels = [...y.data.slice(0, n)].map(Number);
  const right = predicted.filter((p, i) => p === labels[i]).length;
  assert.ok(right >= n - 1, `predicted ${predicted}, labels ${labels}`);
});

test('run: dim_params bind nothing ([?, 3, "?", "?"] fed [1, 3, 48, 192]), outputs equal onnxruntime\'s', () => {
  const dir = tmpdir();
  const r = cli('run', fixture('shapes/dim_params.onnx'), '--input', fixture('shapes/dim_params_x.npy'), '--out', dir);
  assert.equal(r.status, 0, r.stderr);
  for (const name of ['y', 'map']) {
    const got = readNpy(fs.readFileSync(path.join(dir, `${name}.npy`)));
    const want = npy(`shapes/dim_params_${name}.npy`);
    assert.deepEqual(got.dims, want.dims);
    const worst = got.data.reduce((m, v, i) => Math.max(m, Math.abs(v - want.data[i])), 0);
    assert.ok(worst < 1e-4, `${name}: largest difference ${worst}`);
  }
});

test('inspect counts weights held in Constant nodes', () => {
  const r = cli('inspect', fixture('shapes/constant_weights.onnx'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^parameters\s+618 in 2\.41 KiB \(2,472 bytes\)$/m);
});

test('quantize: a model with a fixed batch of 1 calibrates on 16 samples (default batch size from the model)', () => {
  const dir = tmpdir();
  const model = fixture('shapes/fixed_batch.onnx');
  const calib = fixture('shapes/fixed_batch_calib.npy');
  const r = cli('quantize', model, '-o', path.join(dir, 'a.onnx'), '--calib', calib);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /16 batches/);
  assert.doesNotMatch(r.stdout + r.stderr, /regrouped/);
  // An explicit batch size that the model cannot take: regrouped, said once.
  const s = cli('quantize', model, '-o', path.join(dir, 'b.onnx'), '--calib', calib, '--batch-size', '8');
  assert.equal(s.status, 0, s.stderr);
  assert.equal((s.stdout.match(/warning: .*fixed at 1: calibration batches .* regrouped into batches of 1/g) ?? []).length, 1, s.stdout);
  assert.match(s.stdout, /16 batches/);
  assert.deepEqual(fs.readFileSync(path.join(dir, 'b.onnx')), fs.readFileSync(path.join(dir, 'a.onnx')));
});

test('quantize: a .npy with one axis more than its input lists whole feeds, fed one at a time', () => {
  // Models whose inputs have no batch axis (a recurrent state [1, 1, 128]) take their samples
  // stacked on a new first axis: [N, 1, 1, 128]. Here the MNIST CNN's [N, 1, 28, 28] input, given
  // the same 12 digits as [12, 1, 1, 28, 28], must calibrate exactly as batches of one digit.
  const dir = tmpdir();
  const x = npy('ref/mnist/test_x.npy');
  const digits = rows(x, 0, 12, Tensor);
  const flat = path.join(dir, 'flat.npy');
  const stacked = path.join(dir, 'stacked.npy');
  fs.writeFileSync(flat, writeNpy(digits));
  fs.writeFileSync(stacked, writeNpy(new Tensor('float32', digits.data, [12, 1, ...digits.dims.slice(1)])));
  const a = cli('quantize', MNIST_MODEL, '-o', path.join(dir, 'a.onnx'), '--calib', flat, '--batch-size', '1');
  assert.equal(a.status, 0, a.stderr);
  const b = cli('quantize', MNIST_MODEL, '-o', path.join(dir, 'b.onnx'), '--calib', stacked);
  assert.equal(b.status, 0, b.stderr);
  assert.match(b.stdout, /12 batches/);
  assert.deepEqual(fs.readFileSync(path.join(dir, 'b.onnx')), fs.readFileSync(path.join(dir, 'a.onnx')));
});

test('errors: one line on stderr and exit status 1', () => {
  const dir = tmpdir();
  fs.writeFileSync(path.join(dir, 'notes.onnx'), 'just some text\n');
  fs.writeFileSync(path.join(dir, 'bad.npy'), 'not numpy at all');
  fs.writeFileSync(path.join(dir, 'ints.npy'), writeNpy(new Tensor('int32', new Int32Array(6), [2, 3])));
  fs.writeFileSync(path.join(dir, 'ids.npy'), writeNpy(new Tensor('int64', [1])));
  const ids = `ids=${path.join(dir, 'ids.npy')}`;

  assertError(cli('inspect', path.join(dir, 'missing.onnx')), 'NOT_FOUND', /missing\.onnx/, /does not exist/);
  assertError(cli('run', path.join(dir, 'missing.onnx'), '--out', dir), 'NOT_FOUND', /missing\.onnx/);
  assertError(cli('inspect', path.join(dir, 'notes.onnx')), 'INVALID_MODEL', /not an ONNX model/);
  assertError(cli('inspect', dir), 'NOT_FOUND', /directory/);
  assertError(cli('run', FEEDS(), '--input', `x=${path.join(dir, 'bad.npy')}`, '--input', ids, '--out', dir), 'INVALID_NPY', /bad\.npy/);
  assertError(cli('run', FEEDS(), '--input', `x=${path.join(dir, 'nope.npy')}`, '--input', ids, '--out', dir), 'NOT_FOUND', /nope\.npy/);
  assertError(cli('run', FEEDS(), '--input', `x=${path.join(dir, 'ints.npy')}`, '--input', ids, '--out', dir), 'INVALID_FEED', /'x'/, /float32/, /int32/);
  assertError(cli('run', FEEDS(), '--input', `y=${path.join(dir, 'ints.npy')}`, '--out', dir), 'USAGE', /no input 'y'/, /x, ids/);
  assertError(cli('run', FEEDS(), '--input', path.join(dir, 'ints.npy'), '--out', dir), 'USAGE', /2 inputs/, /NAME=FILE\.npy/);
  assertError(cli('run', FEEDS(), '--input', ids, '--out', dir), 'USAGE', /missing --input for 'x'/);
  assertError(cli('run', FEEDS(), '--input', ids), 'USAGE', /--out/);
  assertError(cli('run', FEEDS(), '--input'), 'USAGE', /needs a value/);
  assertError(cli('run', fixture('bad/unknown_op.onnx'), '--out', dir), 'UNSUPPORTED_OP', /FrobnicateXYZ/);
  assertError(cli('inspect', FEEDS(), '--frobnicate'), 'USAGE', /unknown option '--frobnicate'/);
  assertError(cli('inspect'), 'USAGE', /one MODEL\.onnx/);
  assertError(cli('frobnicate', FEEDS()), 'USAGE', /unknown command 'frobnicate'/);
});

test('bench --json: latency per session, ratios and output checks (MNIST, float vs our int8)', async () => {
  const dir = tmpdir();
  const x = npy('ref/mnist/test_x.npy');
  const { bytes } = await quantize(readBytes(MNIST_MODEL), { calibration: [{ input: rows(x, 0, 64, Tensor) }] });
  const q = path.join(dir, 'mnist-int8.onnx');
  fs.writeFileSync(q, bytes);
  const digit = path.join(dir, 'digit.npy');
  fs.writeFileSync(digit, writeNpy(rows(x, 100, 101, Tensor)));
  const r = cli('bench', MNIST_MODEL, '--int8', q, '--runs', '3', '--warmup', '1', '--input', digit, '--json');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.model, MNIST_MODEL);
  assert.equal(out.int8, q);
  assert.deepEqual(out.feeds, { input: { type: 'float32', dims: [1, 1, 28, 28], synthetic: false } });
  assert.equal(typeof out.machine.cpu, 'string');
  assert.equal(out.machine.node, process.version);
  assert.ok(['relaxed', 'simd128'].includes(out.config.webptqFlavour));
  // onnxruntime-web is a dev dependency, so it runs both files beside webptq.
  assert.deepEqual(out.runners, ['webptq-f32', 'webptq-int8', 'ort-f32', 'ort-int8']);
  assert.deepEqual(out.errors, {});
  for (const key of out.runners) {
    const l = out.latency[key];
    assert.equal(l.runs, 3, key);
    for (const s of ['median', 'p90', 'mean', 'min', 'max']) assert.ok(Number.isFinite(l[s]) && l[s] > 0, `${key} ${s} = ${l[s]}`);
    assert.ok(l.min <= l.median && l.median <= l.p90 && l.p90 <= l.max, key);
  }
  for (const k of ['int8/ort-f32', 'int8/ort-int8', 'f32/ort-f32', 'int8/f32', 'ort int8/f32']) {
    assert.ok(out.ratios[k] > 0, `ratio ${k} = ${out.ratios[k]}`);
  }
  // Outputs are checked against onnxruntime-web's float run: our float equal to rounding, the
  // int8 models close, all with the same predicted digit.
  assert.deepEqual(Object.keys(out.check).sort(), ['ort-int8', 'webptq-f32', 'webptq-int8']);
  assert.ok(out.check['webptq-f32'].relL2 < 1e-5, JSON.stringify(out.check));
  for (const k of ['webptq-int8', 'ort-int8']) assert.ok(out.check[k].relL2 < 0.1, JSON.stringify(out.check));
  for (const c of Object.values(out.check)) assert.equal(c.argmaxAgrees, true);

  // --profile: the time per op type of each webptq session, the integer ops in the int8 one.
  const p = cli('bench', MNIST_MODEL, '--int8', q, '--runs', '2', '--warmup', '0', '--profile', '--json');
  assert.equal(p.status, 0, p.stderr);
  const { profiles } = JSON.parse(p.stdout);
  assert.deepEqual(Object.keys(profiles), ['webptq-f32', 'webptq-int8']);
  for (const pr of Object.values(profiles)) {
    assert.ok(pr.totalMs > 0 && pr.ops.length > 0, JSON.stringify(pr));
    assert.ok(Math.abs(pr.ops.reduce((s, o) => s + o.share, 0) - 1) < 1e-9);
  }
  assert.ok(profiles['webptq-int8'].ops.some((o) => o.opType === 'QLinearConv' && o.nodes === 2), JSON.stringify(profiles['webptq-int8']));
  assert.match(cli('bench', MNIST_MODEL, '--runs', '2', '--warmup', '0', '--profile').stdout, /^webptq-f32: [\d.]+ ms per run in nodes$/m);

  // The table form, synthetic inputs, and the help.
  const t = cli('bench', MNIST_MODEL, '--runs', '2', '--warmup', '0');
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, /^feeds\s+input float32 \[1, 1, 28, 28\] \(synthetic\)$/m);
  assert.match(t.stdout, /^mnist-cnn\.onnx\s+[\d.]+ \/ [\d.]+\s+-\s+[\d.]+ \/ [\d.]+\s+-/m);
  assert.match(cli('bench', '--help').stdout, /--int8 Q\.onnx/);
  assertError(cli('bench', MNIST_MODEL, '--runs', '0'), 'USAGE', /--runs/);
  assertError(cli('bench', MNIST_MODEL, '--input', `nope=${digit}`), 'USAGE', /no input 'nope'/);
  assertError(cli('bench', path.join(dir, 'missing.onnx')), 'NOT_FOUND');
});

test('run, inspect and quantize read external data files next to the model, and refuse ones outside its folder', async () => {
  const dir = tmpdir();
  // onnx.save_model(..., save_as_external_data=True): model.onnx + weights.bin, and onnxruntime's y.
  const py = spawnSync(path.join(ROOT, '.venv', 'bin', 'python'), [path.join(ROOT, 'tests', 'python', 'external_data_model.py'), dir], { encoding: 'utf8' });
  assert.equal(py.status, 0, py.stderr);
  const model = path.join(dir, 'ext', 'model.onnx');
  const { x, y } = JSON.parse(fs.readFileSync(path.join(dir, 'ext', 'expected.json'), 'utf8'));
  assert.ok(fs.statSync(model).size < 1000, 'the weights are not inside model.onnx');

  const info = cli('inspect', model);
  assert.equal(info.status, 0, info.stderr);
  assert.match(info.stdout, /^parameters\s+136 in 544 B$/m);

  const xFile = path.join(dir, 'x.npy');
  fs.writeFileSync(xFile, writeNpy(new Tensor('float32', Float32Array.from(x), [2, 16])));
  const out = path.join(dir, 'out');
  const r = cli('run', model, '--input', xFile, '--out', out);
  assert.equal(r.status, 0, r.stderr);
  const got = readNpy(fs.readFileSync(path.join(out, 'y.npy')));
  assert.deepEqual(got.dims, [2, 8]);
  got.data.forEach((v, i) => assert.ok(Math.abs(v - y[i]) <= 1e-5 * (1 + Math.abs(y[i])), `y[${i}] = ${v}, onnxruntime ${y[i]}`));

  const q = path.join(dir, 'q.onnx');
  const qr = cli('quantize', model, '-o', q, '--calib', xFile);
  assert.equal(qr.status, 0, qr.stderr);
  // The quantized file holds its weights itself: it runs from bytes with no external data.
  const session = await InferenceSession.create(fs.readFileSync(q));
  const qy = (await session.run({ x: new Tensor('float32', Float32Array.from(x), [2, 16]) })).y;
  const err = Math.hypot(...qy.data.map((v, i) => v - y[i])) / Math.hypot(...y);
  assert.ok(err < 0.05, `quantized rel L2 error ${err}`);
  session.release();

  // A location leading out of the model's folder is refused, though the file exists.
  assert.ok(fs.existsSync(path.join(dir, 'outside.bin')));
  assertError(cli('inspect', path.join(dir, 'escape', 'model.onnx')), 'INVALID_MODEL', /\.\.\/outside\.bin/, /not inside the model's folder/);
  // A missing external file is named (not reported as a missing model).
  fs.rmSync(path.join(dir, 'ext', 'weights.bin'));
  assertError(cli('run', model, '--input', xFile, '--out', out), 'NOT_FOUND', /weights\.bin/);
});
