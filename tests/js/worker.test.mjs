// createWorker() in Node (a worker_threads Worker): the same API answers the same thing as the
// main thread (quantized bytes identical, outputs identical), calls queue in order, progress and
// AbortSignal are forwarded, buffers the worker makes come back transferred, the caller's are
// copied unless transferInputs, and a released or terminated worker object is a typed error.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import {
  createWorker, quantize, loadModel, InferenceSession, Tensor, WebptqError, wasmFlavour,
} from '../../js/index.js';
import { readBytes, fixture, MNIST_MODEL, npy, rows } from './helpers.mjs';

const MNIST = readBytes(MNIST_MODEL);
const workers = [];
after(() => Promise.all(workers.map((w) => w.terminate())));

async function start(options) {
  const w = await createWorker(options);
  workers.push(w);
  return w;
}

function* batches(x, n = 4, size = 50) {
  for (let i = 0; i < n; i++) yield { input: rows(x, i * size, (i + 1) * size, Tensor) };
}

test('worker: load, quantize and run give what the main thread gives', async () => {
  const w = await start();
  assert.equal(w.wasmFlavour, process.env.WEBPTQ_WASM || w.wasmFlavour);
  const x = npy('ref/mnist/test_x.npy');
  const model = await w.loadModel(MNIST_MODEL, { onProgress: () => {} });
  const main = await loadModel(MNIST);
  assert.deepEqual(model.info(), main.info());

  const stages = new Set();
  const inWorker = await w.quantize(model, { calibration: batches(x), onProgress: (p) => stages.add(p.stage) });
  const inMain = await quantize(main, { calibration: batches(x) });
  assert.ok(stages.has('calibrate') && stages.has('save'), [...stages].join(','));
  assert.equal(inWorker.report.calibration.batches, 4);
  assert.deepEqual(inWorker.bytes, inMain.bytes, 'the worker writes the same quantized model');
  assert.ok(inWorker.bytes.buffer.byteLength === inWorker.bytes.byteLength, 'result bytes own their buffer (transferred, not a view)');

  const input = rows(x, 1000, 1016, Tensor);
  const ws = await w.InferenceSession.create(inWorker.bytes);
  const ms = await InferenceSession.create(inMain.bytes);
  assert.deepEqual(ws.inputNames, ['input']);
  assert.deepEqual(ws.outputNames, ['logits']);
  const a = await ws.run({ input });
  const b = await ms.run({ input });
  assert.ok(a.logits instanceof Tensor);
  assert.deepEqual(a.logits.dims, [16, 10]);
  assert.deepEqual(a.logits.data, b.logits.data, 'same logits from the worker and the main thread');
  assert.equal(input.data.byteLength, 16 * 784 * 4, 'the caller\'s input is copied, not detached');
  assert.deepEqual((await ws.info()).inputs, (await ms.info()).inputs);
  // stats() and profile() answer from the worker as on the main thread.
  assert.deepEqual(await ws.stats(), await ms.stats());
  const [pw, pm] = [await ws.profile({ input }), await ms.profile({ input })];
  assert.deepEqual(pw.map((t) => t.opType), pm.map((t) => t.opType));
  // A session from the worker's Model, and inspect of a Model there.
  const fromModel = await w.InferenceSession.create(model, { engine: 'float' });
  assert.equal(fromModel.engine, 'float');
  assert.deepEqual((await w.inspect(model)).opCounts, main.info().opCounts);
  await fromModel.release();
  await ws.release();
  await ms.release();
  await model.release();
  main.release();
  assert.ok((await w.supportedOps()).includes('Conv'));
});

test('worker: calls queue in order, release waits, errors are typed', async () => {
  const w = await start();
  const s = await w.InferenceSession.create(MNIST);
  const x = npy('ref/mnist/test_x.npy');
  const runs = [0, 1, 2, 3].map((i) => s.run({ input: rows(x, i, i + 1, Tensor) }));
  const released = s.release();
  const outs = await Promise.all(runs);
  await released;
  const ref = await InferenceSession.create(MNIST);
  for (const [i, o] of outs.entries()) assert.deepEqual(o.logits.data, (await ref.run({ input: rows(x, i, i + 1, Tensor) })).logits.data);
  await ref.release();
  await assert.rejects(s.run({ input: rows(x, 0, 1, Tensor) }), { code: 'RELEASED' });
  await assert.rejects(w.loadModel(new Uint8Array([1, 2, 3])), (e) => e instanceof WebptqError && e.code === 'INVALID_MODEL');
  const s2 = await w.InferenceSession.create(MNIST);
  const input = rows(x, 0, 1, Tensor);
  await assert.rejects(s2.run({ input, image: input }), (e) => e instanceof WebptqError && e.code === 'INVALID_FEED' && /'image'/.test(e.message));
  await assert.rejects(w.InferenceSession.create(MNIST, { engine: 'int8' }), { code: 'INVALID_OPTIONS', message: /quantized model/ });
  await assert.rejects(w.quantize(MNIST, {}), { code: 'INVALID_OPTIONS', message: /needs calibration data/ });
  const userError = new Error('my iterable broke');
  await assert.rejects(w.quantize(MNIST, { calibration: (function* () { yield { input: rows(x, 0, 10, Tensor) }; throw userError; })() }), (e) => e === userError);
  // Still serving after all that.
  assert.deepEqual((await s2.run({ input: rows(x, 0, 1, Tensor) })).logits.dims, [1, 10]);
  await s2.release();
});

test('worker: AbortSignal cancels a quantization in the worker; transferInputs detaches the caller\'s buffers', async () => {
  const w = await start({ transferInputs: true });
  const x = npy('ref/mnist/test_x.npy');
  const ac = new AbortController();
  let served = 0;
  async function* endless() {
    for (let i = 0; ; i = (i + 10) % 1990) {
      served += 1;
      if (served === 3) ac.abort();
      yield { input: rows(x, i, i + 10, Tensor) };
    }
  }
  // (Each call gets its own copy of the model: with transferInputs the bytes move to the worker.)
  await assert.rejects(w.quantize(MNIST.slice(), { calibration: endless(), signal: ac.signal }), { code: 'CANCELLED' });
  assert.ok(served <= 5, `served ${served} batches`);
  await assert.rejects(w.quantize(MNIST.slice(), { calibration: [], signal: AbortSignal.abort() }), { code: 'CANCELLED' });
  // The worker goes on after a cancel.
  const input = rows(x, 0, 2, Tensor);
  const s = await w.InferenceSession.create(MNIST.slice());
  const out = await s.run({ input });
  assert.equal(input.data.byteLength, 0, 'with transferInputs the feed buffer moved to the worker');
  assert.deepEqual(out.logits.dims, [2, 10]);
  await s.release();
});

test('worker: an UNSUPPORTED_OP error keeps its fields across the worker boundary', async () => {
  const w = await start();
  const bytes = readBytes(fixture('bad/unknown_op.onnx'));
  const e = await w.InferenceSession.create(bytes).then(() => null, (err) => err);
  assert.ok(e instanceof WebptqError, String(e));
  assert.equal(e.code, 'UNSUPPORTED_OP');
  assert.deepEqual(e.unsupported, [{ opType: 'FrobnicateXYZ', domain: '', node: 'frob' }]);
  assert.deepEqual((await w.loadModel(bytes)).info().unsupported, e.unsupported);
});

test('worker: terminate rejects pending calls with WORKER_ERROR; bad options', async () => {
  const w = await createWorker();
  const x = npy('ref/mnist/test_x.npy');
  const pending = assert.rejects(w.quantize(MNIST, { calibration: batches(x, 40, 50) }), { code: 'WORKER_ERROR' });
  await w.terminate();
  await pending;
  await assert.rejects(w.loadModel(MNIST), { code: 'WORKER_ERROR' });
  await assert.rejects(createWorker({ flavour: 'simd128' }), { code: 'INVALID_OPTIONS', message: /unknown option 'flavour'/ });
  // A worker is a realm of its own: it may load the other build than the main thread.
  const plain = await start({ wasmFlavour: 'simd128' });
  assert.equal(plain.wasmFlavour, 'simd128');
  assert.ok(wasmFlavour() === null || typeof wasmFlavour() === 'string');
});
