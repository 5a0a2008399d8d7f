// Saving: a model loaded by webptq and written back with Model#toBytes() must run in
// onnxruntime-web and give the same outputs as the original file does there.
import test from 'node:test';
import assert from 'node:assert/strict';
import { Model, Tensor } from '../../js/index.js';
import { fixture, readBytes, npy, diff, fmtDiff, rows, runOrt, MNIST_MODEL, MODELS, feedsOf } from './helpers.mjs';

// The first rows of each reference input are enough to show the saved graph is the same graph.
const ROWS = 4;
const firstRows = (feeds) => Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, rows(t, 0, Math.min(ROWS, t.dims[0]), Tensor)]));

const CASES = [
  ...MODELS.map((spec) => ({ name: spec.name, path: () => fixture(spec.file), feeds: (names) => firstRows(feedsOf(spec, names)) })),
  { name: 'mnist-cnn', path: () => MNIST_MODEL, feeds: () => firstRows({ input: npy('ref/mnist/test_x.npy') }) },
];

for (const c of CASES) {
  test(`roundtrip: ${c.name} saved by webptq runs identically in onnxruntime-web`, async () => {
    const original = readBytes(c.path());
    const model = await Model.load(original);
    const info = model.info();
    const saved = model.toBytes();
    model.release();
    const feeds = c.feeds(info.inputs.map((v) => v.name));
    const [a, b] = [await runOrt(original, feeds), await runOrt(saved, feeds)];
    assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
    const notes = [];
    for (const name of Object.keys(a)) {
      assert.deepEqual(b[name].dims, a[name].dims, `${c.name} '${name}' shape`);
      assert.equal(b[name].type, a[name].type, `${c.name} '${name}' type`);
      const d = diff(b[name].data, a[name].data);
      notes.push(`'${name}' ${fmtDiff(d)}`);
      assert.deepEqual(b[name].data, a[name].data, `${c.name} '${name}' differs after the round trip: ${fmtDiff(d)}`);
    }
    console.log(`${c.name}: ${original.length} bytes → ${saved.length} bytes; ${notes.join('; ')}`);
  });
}
