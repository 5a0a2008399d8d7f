// quantize(model, options) from JS: MNIST quantized static int8 (QDQ and QOperator) with
// calibration streamed from an async iterable (digits 0..199), evaluated on digits 1000..1999
// it never saw; the export runs in onnxruntime-web and in our InferenceSession. Then progress,
// cancellation and the typed errors; then the CLI `quantize` command end to end.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InferenceSession, Model, Tensor, quantize, writeNpy, WebptqError } from '../../js/index.js';
import { ROOT, fixture, npy, readBytes, MNIST_MODEL, argmax, rows, runOrt } from './helpers.mjs';

const CALIB = [0, 200];
const EVAL = [1000, 2000];
const BATCH = 50;

async function* calibration(x, [start, end], batch = BATCH) {
  for (let i = start; i < end; i += batch) yield { input: rows(x, i, Math.min(end, i + batch), Tensor) };
}

async function evaluate(bytes, x, y) {
  const input = rows(x, EVAL[0], EVAL[1], Tensor);
  const labels = Array.from(y.data.slice(EVAL[0], EVAL[1]), Number);
  const ours = await InferenceSession.create(bytes);
  const mine = (await ours.run({ input })).logits.data;
  await ours.release();
  const theirs = (await runOrt(bytes, { input })).logits.data;
  const n = labels.length;
  const p = argmax(mine, 10);
  const q = argmax(theirs, 10);
  return {
    ours: p,
    ort: q,
    accuracy: p.filter((c, i) => c === labels[i]).length / n,
    ortAccuracy: q.filter((c, i) => c === labels[i]).length / n,
  };
}

const agreement = (a, b) => a.filter((c, i) => c === b[i]).length / a.length;

for (const format of ['qdq', 'qoperator']) {
  test(`mnist static int8 (${format}): small, runs in onnxruntime-web and here, agrees with float`, async () => {
    const floatBytes = readBytes(MNIST_MODEL);
    const x = npy('ref/mnist/test_x.npy');
    const y = npy('ref/mnist/test_y.npy');
    const stages = new Set();
    let calls = 0;
    const { bytes, report } = await quantize(floatBytes, {
      format,
      calibration: calibration(x, CALIB),
      onProgress: (p) => {
        calls += 1;
        stages.add(p.stage);
        assert.equal(typeof p.done, 'number');
      },
    });
    assert.ok(bytes instanceof Uint8Array);
    const ratio = bytes.length / floatBytes.length;
    assert.ok(ratio <= 0.28, `size ratio ${ratio}`);
    assert.equal(report.calibration.batches, (CALIB[1] - CALIB[0]) / BATCH);
    assert.equal(report.quantizedBytes, bytes.length);
    assert.ok(calls > 0 && stages.has('calibrate') && stages.has('save'), `stages ${[...stages]}`);

    const f = await evaluate(floatBytes, x, y);
    const qz = await evaluate(bytes, x, y);
    const agreeOurs = agreement(qz.ours, f.ours);
    const agreeOrt = agreement(qz.ort, f.ort);
    console.log(`mnist ${format}: ${floatBytes.length} → ${bytes.length} bytes (${ratio.toFixed(3)}x); ` +
      `accuracy float ${f.accuracy.toFixed(4)}, int8 ours ${qz.accuracy.toFixed(4)} / ort ${qz.ortAccuracy.toFixed(4)}; ` +
      `top-1 agreement ours ${agreeOurs.toFixed(4)}, ort ${agreeOrt.toFixed(4)}`);
    assert.ok(agreeOurs >= 0.99, `top-1 agreement (ours) ${agreeOurs}`);
    assert.ok(agreeOrt >= 0.99, `top-1 agreement (onnxruntime-web) ${agreeOrt}`);
    assert.ok(qz.accuracy >= f.accuracy - 0.01, `accuracy ${qz.accuracy} vs float ${f.accuracy}`);
    assert.ok(qz.ortAccuracy >= f.ortAccuracy - 0.01, `ort accuracy ${qz.ortAccuracy} vs float ${f.ortAccuracy}`);
  });
}

test('a loaded Model, a sync array of batches, method and percentile options', async () => {
  const x = npy('ref/mnist/test_x.npy');
  const model = await Model.load(readBytes(MNIST_MODEL));
  const batches = [{ input: rows(x, 0, 50, Tensor) }, { input: rows(x, 50, 100, Tensor) }];
  const totals = [];
  const { bytes, report } = await quantize(model, {
    calibration: batches, method: 'percentile', percentile: 99.99, perChannel: false,
    onProgress: (p) => { if (p.stage === 'calibrate') totals.push(p.total); },
  });
  model.release();
  assert.ok(bytes.length > 0);
  assert.equal(report.calibration.batches, 2);
  assert.deepEqual(report.options.calibration, { method: 'percentile', percentile: 99.99 });
  assert.equal(report.options.perChannel, false);
  assert.ok(totals.includes(2), `calibrate totals ${totals}`);
});

test('a model whose batch is fixed at 1: 16 samples in one batch are regrouped, said once; the export runs in onnxruntime-web', async () => {
  const model = readBytes(fixture('shapes/fixed_batch.onnx'));
  const x = npy('shapes/fixed_batch_calib.npy');
  const whole = await quantize(model, { calibration: [{ x }] });
  const notes = whole.report.warnings.filter((w) => /regrouped/.test(w));
  assert.equal(notes.length, 1, whole.report.warnings.join('\n'));
  assert.match(notes[0], /fixed at 1/);
  assert.equal(whole.report.calibration.batches, 16);
  const single = await quantize(model, { calibration: Array.from({ length: 16 }, (_, i) => ({ x: rows(x, i, i + 1, Tensor) })) });
  assert.ok(!single.report.warnings.some((w) => /regrouped/.test(w)));
  assert.deepEqual(whole.bytes, single.bytes);
  const out = await runOrt(whole.bytes, { x: rows(x, 0, 1, Tensor) });
  assert.deepEqual(out.y.dims, [1, 10]);
});

test('an AbortSignal cancels with CANCELLED', async () => {
  const x = npy('ref/mnist/test_x.npy');
  const ac = new AbortController();
  let served = 0;
  async function* slow() {
    for (let i = 0; ; i += 10) {
      served += 1;
      if (served === 3) ac.abort();
      yield { input: rows(x, i % 2000, (i % 2000) + 10, Tensor) };
    }
  }
  await assert.rejects(quantize(readBytes(MNIST_MODEL), { calibration: slow(), signal: ac.signal }),
    (e) => e instanceof WebptqError && e.code === 'CANCELLED');
  assert.ok(served <= 4, `served ${served} batches after the abort`);
  const pre = AbortSignal.abort();
  await assert.rejects(quantize(readBytes(MNIST_MODEL), { calibration: [], signal: pre }), { code: 'CANCELLED' });
});

test('bad options are INVALID_OPTIONS; static without data is a clear error', async () => {
  const bytes = readBytes(MNIST_MODEL);
  const x = npy('ref/mnist/test_x.npy');
  const one = [{ input: rows(x, 0, 10, Tensor) }];
  const bad = [
    { mode: 'static-ish' },
    { format: 'qdqq' },
    { method: 'median' },
    { percentile: 150 },
    { method: 'minmax', percentile: 99 },
    { weightBits: 3 },
    { weightBits: 4 }, // 4-bit only in weight-only mode
    { symmetric: true }, // needs int8 activations
    { activationType: 'int16' },
    { perChanel: true }, // typo: unknown fields are refused
    { keepFloat: -1 },
  ];
  for (const o of bad) {
    await assert.rejects(quantize(bytes, { calibration: one, ...o }), (e) => {
      assert.ok(e instanceof WebptqError, `${JSON.stringify(o)}: ${e}`);
      assert.equal(e.code, 'INVALID_OPTIONS', `${JSON.stringify(o)}: ${e.code} ${e.message}`);
      return true;
    });
  }
  await assert.rejects(quantize(bytes, { calibration: 42 }), { code: 'INVALID_OPTIONS', message: /iterable/ });
  await assert.rejects(quantize(bytes, {}), { code: 'INVALID_OPTIONS', message: /needs calibration data/ });
  await assert.rejects(quantize(bytes, { calibration: [] }), { code: 'INVALID_OPTIONS', message: /needs calibration data/ });
  await assert.rejects(quantize(bytes, { calibration: (async function* () {})() }), { code: 'INVALID_OPTIONS', message: /needs calibration data/ });
  await assert.rejects(quantize(bytes, { calibration: [{ image: rows(x, 0, 1, Tensor) }] }), { code: 'INVALID_FEED' });
});

// --- the command line -------------------------------------------------------------------------

const BIN = path.join(ROOT, 'bin', 'webptq.js');

function cli(...args) {
  const r = spawnSync(process.execPath, [...process.execArgv.filter((a) => !a.startsWith('--test')), BIN, ...args], {
    encoding: 'utf8',
    env: process.env,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function assertError(r, code, ...patterns) {
  assert.equal(r.status, 1, `exit status (stdout: ${r.stdout} stderr: ${r.stderr})`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0], new RegExp(`^webptq: error \\[${code}\\]: `));
  for (const p of patterns) assert.match(lines[0], p);
}

test('cli: quantize writes a model and a report; errors exit 1 with one line', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webptq-quantize-'));
  const x = npy('ref/mnist/test_x.npy');
  const calib = path.join(dir, 'calib.npy');
  fs.writeFileSync(calib, writeNpy(rows(x, 0, 200, Tensor)));
  const out = path.join(dir, 'out.onnx');
  const rep = path.join(dir, 'report.json');

  const r = cli('quantize', MNIST_MODEL, '-o', out, '--calib', calib, '--batch-size', '64', '--report', rep, '--method', 'percentile', '--percentile', '99.99');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /size/);
  assert.match(r.stdout, /nodes/);
  const bytes = readBytes(out);
  assert.ok(bytes.length <= 0.28 * fs.statSync(MNIST_MODEL).size);
  const report = JSON.parse(fs.readFileSync(rep, 'utf8'));
  assert.equal(report.calibration.batches, 4); // 64 + 64 + 64 + 8
  assert.equal(report.quantizedBytes, bytes.length);
  const s = await InferenceSession.create(bytes);
  const o = await s.run({ input: rows(x, 1000, 1010, Tensor) });
  assert.deepEqual(o.logits.dims, [10, 10]);
  await s.release();

  const named = cli('quantize', MNIST_MODEL, '-o', out, '--calib', `input=${calib}`, '--format', 'qoperator', '--per-tensor');
  assert.equal(named.status, 0, named.stderr);

  assert.equal(cli('quantize', '--help').status, 0);
  assert.match(cli('quantize', '--help').stdout, /--calib/);
  assertError(cli('quantize', MNIST_MODEL, '-o', out), 'USAGE', /--calib/);
  assertError(cli('quantize', MNIST_MODEL, '--calib', calib), 'USAGE', /-o/);
  assertError(cli('quantize', MNIST_MODEL, '-o', out, '--calib', calib, '--mode', 'bogus'), 'INVALID_OPTIONS');
  assertError(cli('quantize', MNIST_MODEL, '-o', out, '--calib', calib, '--weight-bits', '4'), 'INVALID_OPTIONS');
  assertError(cli('quantize', MNIST_MODEL, '-o', out, '--calib', `nope=${calib}`), 'USAGE', /no input 'nope'/);
  assertError(cli('quantize', MNIST_MODEL, '-o', out, '--calib', path.join(dir, 'missing.npy')), 'NOT_FOUND');
  assertError(cli('quantize', MNIST_MODEL, '-o', out, '--calib', calib, '--batch-size', '0'), 'USAGE');
  assertError(cli('quantize', MNIST_MODEL, '-o', out, '--calib', calib, '--frobnicate'), 'USAGE');
});

test('cli: quantize --calib-images (PNG digits) writes the same model as --calib with the same digits as .npy', async () => {
  const { PNG } = (await import('pngjs')).default;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webptq-calib-images-'));
  const images = path.join(dir, 'digits');
  fs.mkdirSync(images);
  const x = npy('ref/mnist/test_x.npy');
  const n = 100;
  for (let i = 0; i < n; i++) {
    const png = new PNG({ width: 28, height: 28 });
    for (let k = 0; k < 784; k++) {
      const v = Math.round(x.data[i * 784 + k] * 255);
      png.data.set([v, v, v, 255], 4 * k);
    }
    fs.writeFileSync(path.join(images, `digit_${String(i).padStart(3, '0')}.png`), PNG.sync.write(png));
  }
  fs.writeFileSync(path.join(images, 'README.txt'), 'not an image: skipped');
  const calib = path.join(dir, 'digits.npy');
  fs.writeFileSync(calib, writeNpy(rows(x, 0, n, Tensor)));
  const a = path.join(dir, 'a.onnx');
  const b = path.join(dir, 'b.onnx');

  // Size, layout and gray come from the input's shape [N, 1, 28, 28]; scale 1/255 is the default.
  const fromImages = cli('quantize', MNIST_MODEL, '-o', a, '--calib-images', images, '--batch-size', '25', '--json');
  assert.equal(fromImages.status, 0, fromImages.stderr);
  assert.equal(fromImages.stderr, '', 'no progress bar when stderr is not a terminal');
  const report = JSON.parse(fromImages.stdout).report;
  assert.equal(report.calibration.batches, 4);
  const fromNpy = cli('quantize', MNIST_MODEL, '-o', b, '--calib', calib, '--batch-size', '25');
  assert.equal(fromNpy.status, 0, fromNpy.stderr);
  assert.deepEqual(readBytes(a), readBytes(b), 'PNG calibration equals .npy calibration bit for bit');
  // Explicit flags give the same; contradictions and missing pieces are usage errors.
  const explicit = cli('quantize', MNIST_MODEL, '-o', a, '--calib-images', `input=${images}`, '--batch-size', '25',
    '--size', '28,28', '--layout', 'nchw', '--channels', 'gray', '--scale', '1/255', '--mean', '0', '--std', '1', '--resize', 'cover');
  assert.equal(explicit.status, 0, explicit.stderr);
  assert.deepEqual(readBytes(a), readBytes(b));
  assertError(cli('quantize', MNIST_MODEL, '-o', a, '--calib-images', images, '--channels', 'rgb'), 'USAGE', /1 channel/, /rgb/);
  assertError(cli('quantize', MNIST_MODEL, '-o', a, '--calib', calib, '--size', '28,28'), 'USAGE', /--calib-images/);
  assertError(cli('quantize', MNIST_MODEL, '-o', a, '--calib-images', path.join(dir, 'none')), 'NOT_FOUND', /none/);
  assertError(cli('quantize', MNIST_MODEL, '-o', a, '--calib-images', dir), 'USAGE', /no \.png, \.jpg or \.jpeg/);
  assertError(cli('quantize', MNIST_MODEL, '-o', a, '--calib-images', images, '--size', '28'), 'USAGE', /H,W/);
  assertError(cli('quantize', MNIST_MODEL, '-o', a, '--calib-images', images, '--scale', 'x'), 'USAGE', /fraction/);
  assertError(cli('quantize', MNIST_MODEL, '-o', a, '--calib-images', images, '--layout', 'hwc'), 'USAGE', /--layout must be nchw or nhwc/);
  assertError(cli('quantize', MNIST_MODEL, '-o', a, '--calib-images', images, '--resize', 'fit'), 'INVALID_OPTIONS', /resize/);

  // A progress bar on a terminal (script(1) gives the CLI a pseudo-terminal).
  const tty = spawnSync('script', ['-qec', [process.execPath, ...process.execArgv.filter((s) => !s.startsWith('--test')), BIN,
    'quantize', MNIST_MODEL, '-o', a, '--calib-images', images, '--batch-size', '10'].map((s) => `'${s}'`).join(' '), '/dev/null'],
  { encoding: 'utf8', env: process.env });
  assert.equal(tty.status, 0, tty.stdout);
  assert.match(tty.stdout, /\r\x1b\[Kcalibrate +\[#*\.*\] \d+\/10/, 'a bar for the calibration batches');
  assert.match(tty.stdout, /quantized +.*a\.onnx/);
});
