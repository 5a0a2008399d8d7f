// The built-in model (www/models/mnist-cnn.onnx) run by our engine in wasm: its accuracy on the
// held-out MNIST digits, and its logits next to onnxruntime-web's on the same digits.
import test from 'node:test';
import assert from 'node:assert/strict';
import { InferenceSession, Tensor, inspect } from '../../js/index.js';
import { npy, readBytes, MNIST_MODEL, argmax, diff, fmtDiff, rows, runOrt } from './helpers.mjs';

const BATCH = 250;

test('mnist-cnn: accuracy >= 0.975 on the held-out digits, logits match onnxruntime-web', async () => {
  const bytes = readBytes(MNIST_MODEL);
  const info = await inspect(bytes);
  assert.deepEqual(info.inputs.map((v) => [v.name, v.type]), [['input', 'float32']]);
  assert.deepEqual(info.outputs.map((v) => [v.name, v.type]), [['logits', 'float32']]);
  const x = npy('ref/mnist/test_x.npy');
  const y = npy('ref/mnist/test_y.npy');
  assert.deepEqual(x.dims.slice(1), [1, 28, 28]);
  const n = x.dims[0];
  assert.equal(y.size, n);

  const session = await InferenceSession.create(bytes);
  const logits = new Float32Array(n * 10);
  const t0 = performance.now();
  for (let start = 0; start < n; start += BATCH) {
    const end = Math.min(n, start + BATCH);
    const out = await session.run({ input: rows(x, start, end, Tensor) });
    assert.deepEqual(out.logits.dims, [end - start, 10]);
    logits.set(out.logits.data, start * 10);
  }
  const ms = performance.now() - t0;
  await session.release();

  const predicted = argmax(logits, 10);
  const correct = predicted.filter((p, i) => p === Number(y.data[i])).length;
  const accuracy = correct / n;

  const ref = (await runOrt(bytes, { input: x })).logits;
  const d = diff(logits, ref.data);
  const refPredicted = argmax(ref.data, 10);
  const agree = predicted.filter((p, i) => p === refPredicted[i]).length;
  console.log(`mnist-cnn: accuracy ${correct}/${n} = ${accuracy.toFixed(4)} in ${ms.toFixed(0)} ms; vs onnxruntime-web: ${fmtDiff(d)}, top-1 agrees on ${agree}/${n}`);
  assert.ok(accuracy >= 0.975, `accuracy ${accuracy} < 0.975`);
  assert.ok(d.relL2 <= 1e-4, `logits differ from onnxruntime-web: ${fmtDiff(d)}`);
  assert.ok(agree >= n - 2, `top-1 differs from onnxruntime-web on ${n - agree} digits`);
});
