// The public API: Tensor validation, the loader, sessions on small models, every error path a
// user can hit (bad bytes, bad models, bad feeds), release() and the promise chain.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  InferenceSession, Model, Tensor, WebptqError, ERROR_CODES, inspect, supportedOps, loadWasm, wasmFlavour, wasmFeatures,
} from '../../js/index.js';
import { chooseFlavour } from '../../js/loader.js';
import { groupUnsupported, describeUnsupported } from '../../js/model.js';
import { fixture, readBytes, runOrt, diff, ROOT, rejects } from './helpers.mjs';

const CONSTANT = () => readBytes(fixture('onnx-node/test_constant/model.onnx'));
const BAD = (name) => readBytes(fixture(`bad/${name}.onnx`));


function throws(fn, code, ...patterns) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof WebptqError, `expected a WebptqError, got ${e?.constructor?.name}: ${e?.message}`);
    assert.equal(e.code, code, `code of: ${e.message}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

test('Tensor: constructors, type inference, size', () => {
  const a = new Tensor('float32', new Float32Array(6), [2, 3]);
  assert.deepEqual([a.type, a.dims, a.size], ['float32', [2, 3], 6]);
  const b = new Tensor(new Int32Array([1, 2, 3]));
  assert.deepEqual([b.type, b.dims, b.size], ['int32', [3], 3]);
  assert.equal(new Tensor(new BigInt64Array(2), [2, 1]).type, 'int64');
  assert.equal(new Tensor(new Uint8Array(1), []).type, 'uint8');
  assert.equal(new Tensor(new Uint8Array(1), []).size, 1);
  assert.equal(new Tensor(new Float64Array(0), [0, 4]).size, 0);
  const c = new Tensor('int64', [1, 2, 3, 4], [2, 2]);
  assert.ok(c.data instanceof BigInt64Array);
  assert.deepEqual([...c.data], [1n, 2n, 3n, 4n]);
  const d = new Tensor('bool', [true, false, true]);
  assert.deepEqual([d.type, [...d.data]], ['bool', [1, 0, 1]]);
  assert.ok(new Tensor('float16', new Uint16Array([0x3c00])).data instanceof Uint16Array);
  assert.equal(new Tensor([1.5, 2.5]).type, 'float32');
  for (const type of ['float32', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64']) {
    assert.equal(new Tensor(type, [1, 2]).type, type);
  }
});

test('Tensor: invalid arguments name the problem', () => {
  throws(() => new Tensor('float32', new Float32Array(5), [2, 3]), 'INVALID_ARGUMENT', /5 elements/, /\[2,3\]/, /6/);
  throws(() => new Tensor('complex64', new Float32Array(2)), 'INVALID_ARGUMENT', /unknown tensor type 'complex64'/);
  throws(() => new Tensor('float32', new Int32Array(2)), 'INVALID_ARGUMENT', /float32.*Float32Array.*Int32Array/);
  throws(() => new Tensor('int64', new Int32Array(2)), 'INVALID_ARGUMENT', /BigInt64Array/);
  throws(() => new Tensor('float32', new Float32Array(2), [2, -1]), 'INVALID_ARGUMENT', /non-negative integers/);
  throws(() => new Tensor('float32', new Float32Array(2), [1.5]), 'INVALID_ARGUMENT', /non-negative integers/);
  throws(() => new Tensor('float32', new Float32Array(2), '2'), 'INVALID_ARGUMENT', /dims/);
  throws(() => new Tensor({}), 'INVALID_ARGUMENT', /cannot infer a tensor type/);
  throws(() => new Tensor('int64', [1.5]), 'INVALID_ARGUMENT', /int64/);
  throws(() => new Tensor('float16', [1]), 'INVALID_ARGUMENT', /Uint16Array/);
});

test('loader: picks a flavour the engine supports, honours WEBPTQ_WASM', async () => {
  const { flavour } = await loadWasm();
  const features = wasmFeatures();
  assert.ok(features.simd128);
  assert.equal(wasmFlavour(), flavour);
  const forced = process.env.WEBPTQ_WASM;
  if (forced) assert.equal(flavour, forced, `WEBPTQ_WASM=${forced} but '${flavour}' loaded`);
  else assert.equal(flavour, features.relaxed ? 'relaxed' : 'simd128');
  console.log(`wasm flavour: ${flavour} (engine: simd128 ${features.simd128}, relaxed ${features.relaxed})`);
  throws(() => chooseFlavour('avx512'), 'INVALID_ARGUMENT', /unknown wasm flavour 'avx512'/);
  if (!features.relaxed) throws(() => chooseFlavour('relaxed'), 'UNSUPPORTED_PLATFORM', /relaxed/);
  const other = flavour === 'relaxed' ? 'simd128' : 'relaxed';
  await rejects(loadWasm({ flavour: other }), 'INVALID_ARGUMENT', /already loaded/);
  assert.equal((await loadWasm({ flavour })).flavour, flavour);
  // An engine without SIMD128 gets a clear error, not a CompileError.
  const validate = WebAssembly.validate;
  try {
    WebAssembly.validate = () => false;
    throws(() => chooseFlavour(), 'UNSUPPORTED_PLATFORM', /SIMD128/);
    throws(() => chooseFlavour('simd128'), 'UNSUPPORTED_PLATFORM', /SIMD128/);
  } finally {
    WebAssembly.validate = validate;
  }
  // Both builds exist on disk and differ only in what the validator accepts.
  for (const f of ['simd128', 'relaxed']) assert.ok(fs.existsSync(`${ROOT}/pkg/${f}/webptq_bg.wasm`), `pkg/${f} is built`);
});

test('session: runs test_constant like onnxruntime-web', async () => {
  const bytes = CONSTANT();
  const session = await InferenceSession.create(bytes);
  assert.deepEqual(session.inputNames, []);
  assert.deepEqual(session.outputNames, ['values']);
  assert.equal(session.wasmFlavour, wasmFlavour());
  const out = await session.run({});
  assert.deepEqual(Object.keys(out), ['values']);
  assert.ok(out.values instanceof Tensor);
  assert.equal(out.values.type, 'float32');
  assert.deepEqual(out.values.dims, [5, 5]);
  const ref = await runOrt(bytes, {});
  assert.deepEqual(diff(out.values.data, ref.values.data).maxAbs, 0);
  // ArrayBuffer input, options
  const s2 = await InferenceSession.create(bytes.slice().buffer, { optimize: false });
  assert.deepEqual((await s2.run({})).values.data, out.values.data);
  await s2.release();
  await session.release();
});

test('session: feeds are checked by name, type and shape', async () => {
  const session = await InferenceSession.create(BAD('feeds'));
  assert.deepEqual(session.inputNames, ['x', 'ids']);
  const x = new Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
  const ids = new Tensor('int64', [7, 8, 9]);
  const out = await session.run({ x, ids });
  assert.deepEqual([...out.x.data], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...out.ids.data], [7n, 8n, 9n]);
  assert.deepEqual([...out['const/out:0'].data], [0, 1, 2, 3]);
  // The symbolic dim N takes any length.
  assert.deepEqual((await session.run({ x, ids: new Tensor('int64', [1]) })).ids.dims, [1]);
  // onnxruntime-web tensors are accepted too.
  const o = (await import('onnxruntime-web')).default;
  assert.deepEqual([...(await session.run({ x: new o.Tensor('float32', x.data, [2, 3]), ids })).x.data], [1, 2, 3, 4, 5, 6]);

  await rejects(session.run({ x }), 'INVALID_FEED', /'ids'/, /missing/);
  await rejects(session.run({ x, ids, extra: x }), 'INVALID_FEED', /'extra'/, /no such input/, /x, ids/);
  await rejects(session.run({ x: ids, ids }), 'INVALID_FEED', /'x'/, /float32/, /int64/);
  await rejects(session.run({ x: new Tensor('float32', new Float32Array(6), [3, 2]), ids }), 'INVALID_FEED', /'x'/, /\[3, 2\]/, /\[2,3\]/);
  await rejects(session.run({ x, ids: new Tensor('int64', [1n], [1, 1]) }), 'INVALID_FEED', /'ids'/, /rank 2/);
  await rejects(session.run({ x: 42, ids }), 'INVALID_FEED', /'x'/, /expected a Tensor/);
  await rejects(session.run({ x: { type: 'float32', data: new Float32Array(5), dims: [2, 3] }, ids }), 'INVALID_FEED', /'x'/, /5 elements/);
  await rejects(session.run([x, ids]), 'INVALID_FEED', /object mapping input names/);
  await rejects(session.run(null), 'INVALID_FEED');
  // The session still works after failed runs.
  assert.deepEqual([...(await session.run({ x, ids })).ids.data], [7n, 8n, 9n]);
  await session.release();
});

test('bad model bytes and bad models give clear errors', async () => {
  await rejects(InferenceSession.create(BAD('truncated')), 'INVALID_MODEL', /ONNX|protobuf|truncat/i);
  const constant = CONSTANT();
  await rejects(InferenceSession.create(constant.subarray(0, constant.length - 7)), 'INVALID_MODEL');
  await rejects(InferenceSession.create(BAD('not_onnx')), 'INVALID_MODEL', /not an ONNX model/);
  await rejects(InferenceSession.create(new Uint8Array(0)), 'INVALID_MODEL');
  await rejects(InferenceSession.create(BAD('unknown_op')), 'UNSUPPORTED_OP', /FrobnicateXYZ/, /'frob'/);
  await rejects(InferenceSession.create(BAD('cycle')), 'INVALID_MODEL', /cycle/, /add_in_cycle|relu_in_cycle/);
  await rejects(InferenceSession.create(BAD('bad_initializer')), 'INVALID_MODEL', /'W'/, /\[2, 3\]/, /5 elements/);
  await rejects(inspect(BAD('cycle')), 'INVALID_MODEL', /cycle/);
  await rejects(InferenceSession.create('no/such/model.onnx'), 'NOT_FOUND', /no\/such\/model\.onnx/);
  await rejects(InferenceSession.create(42), 'INVALID_ARGUMENT', /a Model, a Uint8Array or an ArrayBuffer, a URL/, /Number/);
  await rejects(InferenceSession.create(CONSTANT(), { optimize: 'yes' }), 'INVALID_OPTIONS', /optimize/);
  await rejects(InferenceSession.create(CONSTANT(), { executionProviders: ['wasm'] }), 'INVALID_OPTIONS', /unknown option 'executionProviders'/);
  await rejects(InferenceSession.create(CONSTANT(), { externalData: { 'w.bin': 'nope' } }), 'INVALID_ARGUMENT', /externalData\['w.bin'\]/);
});

test('inspect: summary of a model, including ops this build cannot run', async () => {
  const info = await inspect(BAD('unknown_op'));
  assert.equal(info.opset, 17);
  assert.deepEqual(info.inputs, [{ name: 'x', type: 'float32', shape: [1, 4] }]);
  assert.deepEqual(info.outputs, [{ name: 'y', type: 'float32', shape: [1, 4] }]);
  assert.deepEqual(info.opCounts, { FrobnicateXYZ: 1 });
  assert.equal(info.unsupportedOps.length, 1);
  assert.match(info.unsupportedOps[0], /FrobnicateXYZ/);
  const feeds = await inspect(BAD('feeds'));
  assert.deepEqual(feeds.inputs[1], { name: 'ids', type: 'int64', shape: ['N'] });
  assert.equal(feeds.producer, 'webptq-tests');
  assert.ok((await supportedOps()).includes('Constant'));
});

test('Model: toBytes round-trips through the core and onnxruntime-web', async () => {
  const bytes = CONSTANT();
  const model = await Model.load(bytes);
  const saved = model.toBytes();
  assert.ok(saved instanceof Uint8Array && saved.length > 0);
  assert.deepEqual(await inspect(saved), model.info());
  const [a, b] = [await runOrt(bytes, {}), await runOrt(saved, {})];
  assert.deepEqual(b.values.data, a.values.data);
  model.release();
  model.release();
  throws(() => model.info(), 'RELEASED');
  const m2 = await Model.load(BAD('unknown_op')); // parsing works even with unsupported ops
  m2[Symbol.dispose]();
  throws(() => m2.toBytes(), 'RELEASED');
});

test('release: double release is safe, run after release rejects, calls stay in order', async () => {
  const session = await InferenceSession.create(CONSTANT());
  // Queue runs and a release without awaiting: the runs go first, then the release.
  const runs = [session.run({}), session.run({}), session.run({})];
  const released = session.release();
  const late = session.run({});
  const results = await Promise.all(runs);
  for (const r of results) assert.deepEqual(r.values.dims, [5, 5]);
  await released;
  assert.equal(session.released, true);
  await rejects(late, 'RELEASED', /released session/);
  await session.release(); // twice is fine
  await rejects(session.run({}), 'RELEASED');
  await rejects(session.info(), 'RELEASED');

  const s2 = await InferenceSession.create(CONSTANT());
  s2[Symbol.dispose]();
  assert.equal(s2.released, true, 'dispose with nothing queued frees at once');
  await rejects(s2.run({}), 'RELEASED');
  const s3 = await InferenceSession.create(CONSTANT());
  await s3[Symbol.asyncDispose]();
  assert.equal(s3.released, true);
});

test('engines: auto, float and int8; a Model or a path as the model', async () => {
  const { quantize, loadModel } = await import('../../js/index.js');
  const { MNIST_MODEL, npy, rows } = await import('./helpers.mjs');
  const floatModel = await loadModel(MNIST_MODEL); // a path in Node
  const x = npy('ref/mnist/test_x.npy');
  const input = rows(x, 0, 8, Tensor);
  const { bytes } = await quantize(floatModel, { calibration: [{ input: rows(x, 0, 50, Tensor) }] });
  await rejects(InferenceSession.create(floatModel, { engine: 'int8' }), 'INVALID_OPTIONS', /engine 'int8' needs a quantized model/, /quantize/);
  await rejects(InferenceSession.create(MNIST_MODEL, { engine: 'fast' }), 'INVALID_OPTIONS', /auto, float, int8/, /'fast'/);
  const outs = {};
  for (const engine of ['auto', 'float', 'int8']) {
    const s = await InferenceSession.create(bytes, { engine });
    assert.equal(s.engine, engine);
    outs[engine] = (await s.run({ input })).logits;
    await s.release();
  }
  assert.deepEqual(outs.int8.dims, [8, 10]);
  assert.deepEqual(outs.int8.data, outs.auto.data, "'int8' is 'auto' on a quantized model");
  // 'float' runs the QDQ graph literally: the same predictions as the integer path.
  const top = (t) => Array.from({ length: 8 }, (_, i) => { const r = Array.from(t.data.subarray(i * 10, i * 10 + 10)); return r.indexOf(Math.max(...r)); });
  assert.deepEqual(top(outs.float), top(outs.auto));
  // From a Model (which stays usable) and from a path.
  const s1 = await InferenceSession.create(floatModel);
  const s2 = await InferenceSession.create(MNIST_MODEL);
  assert.deepEqual((await s1.run({ input })).logits.data, (await s2.run({ input })).logits.data);
  assert.ok(floatModel.info().opCounts.Conv > 0, 'the Model is still usable after create()');
  await rejects(InferenceSession.create(floatModel, { externalData: {} }), 'INVALID_OPTIONS', /externalData/);
  floatModel.release();
  await rejects(InferenceSession.create(floatModel), 'RELEASED');
  await s1.release();
  await s2.release();
});

test('profile: one time per node of the optimized graph, fused ops included', async () => {
  const { quantize } = await import('../../js/index.js');
  const { MNIST_MODEL, npy, rows } = await import('./helpers.mjs');
  const x = npy('ref/mnist/test_x.npy');
  const input = rows(x, 0, 2, Tensor);
  const { bytes } = await quantize(readBytes(MNIST_MODEL), { calibration: [{ input: rows(x, 0, 32, Tensor) }] });
  for (const [model, ops] of [[readBytes(MNIST_MODEL), ['FusedConv', 'MaxPool', 'Gemm']], [bytes, ['QLinearConv', 'QGemm']]]) {
    const s = await InferenceSession.create(model);
    const times = await s.profile({ input });
    const { nodeCount } = await s.info();
    assert.equal(times.length, nodeCount, 'one entry per node');
    assert.deepEqual(times.map((t) => t.index), times.map((_, i) => i), 'in plan order');
    for (const t of times) {
      assert.ok(Number.isFinite(t.ms) && t.ms >= 0, JSON.stringify(t));
      assert.equal(typeof t.name, 'string');
    }
    for (const op of ops) assert.ok(times.some((t) => t.opType === op), `${op} in ${times.map((t) => t.opType)}`);
    // The profiled run computes what run() does: a wrong feed fails the same way.
    await rejects(s.profile({ nope: input }), 'INVALID_FEED');
    await s.release();
    await rejects(s.profile({ input }), 'RELEASED');
  }
});

test('Symbol.dispose on sessions and models (Node 20: the nodejs.dispose symbol)', async () => {
  const dispose = Symbol.dispose ?? Symbol.for('nodejs.dispose');
  const asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose');
  const m = await Model.load(CONSTANT());
  assert.equal(typeof m[dispose], 'function');
  m[dispose]();
  assert.equal(m.released, true);
  const s = await InferenceSession.create(CONSTANT());
  assert.equal(typeof s[dispose], 'function');
  assert.equal(typeof s[asyncDispose], 'function');
  s[dispose]();
  assert.equal(s.released, true);
});

test('errors: every code is documented', () => {
  for (const code of ['INVALID_MODEL', 'UNSUPPORTED_OP', 'INVALID_FEED', 'RELEASED', 'UNSUPPORTED_PLATFORM', 'INVALID_NPY']) {
    assert.equal(typeof ERROR_CODES[code], 'string');
  }
  const e = new WebptqError('INVALID_FEED', 'x');
  assert.ok(e instanceof Error);
  assert.equal(e.name, 'WebptqError');
});

test('unsupported ops are grouped for display', () => {
  const list = [
    { opType: 'Conv', domain: '', node: 'a' }, { opType: 'Relu', domain: '', node: 'r' },
    { opType: 'Conv', domain: '', node: 'b' }, { opType: 'Foo', domain: 'ai.onnx.ml', node: '' },
  ];
  assert.deepEqual(groupUnsupported(list), [
    { op: 'Conv', count: 2, nodes: ['a', 'b'] },
    { op: 'Relu', count: 1, nodes: ['r'] },
    { op: 'ai.onnx.ml.Foo', count: 1, nodes: [] },
  ].sort((x, y) => y.count - x.count || x.op.localeCompare(y.op)));
  assert.equal(describeUnsupported(list.slice(0, 3)), "Conv (2 nodes, e.g. 'a'), Relu (node 'r')");
});

test('UNSUPPORTED_OP errors carry the nodes as fields', async () => {
  const expected = [{ opType: 'FrobnicateXYZ', domain: '', node: 'frob' }];
  const e = await InferenceSession.create(BAD('unknown_op')).then(() => null, (err) => err);
  assert.ok(e instanceof WebptqError, String(e));
  assert.equal(e.code, 'UNSUPPORTED_OP');
  assert.deepEqual(e.unsupported, expected);
  assert.deepEqual((await inspect(BAD('unknown_op'))).unsupported, expected);
});
