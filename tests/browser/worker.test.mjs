// Worker mode and image helpers in Chromium.
// - createWorker() runs a Web Worker: MNIST quantized there (calibration batches pulled from the
//   page, progress forwarded) writes the same bytes as in the page, and the page stays responsive
//   meanwhile: a 10 ms setInterval keeps ticking (its largest gap is asserted loosely, and printed
//   beside the gap the same quantization causes on the main thread).
// - imageToTensor from ImageData, ImageBitmap, <img>, <canvas>, OffscreenCanvas and PNG bytes in a
//   Blob gives exactly what Node gives for the same PNG; a JPEG decoded by Chromium is within a
//   mean of 3 levels of jpeg-js's decode in Node (the two upsample chroma differently).
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { serveAndLaunch } from './browser.mjs';
import { imageToTensor, decodeImage } from '../../js/index.js';
import { FIXTURES, npy } from '../js/helpers.mjs';

let env;
let base;
let browser;

before(async () => {
  env = await serveAndLaunch();
  ({ base, browser } = env);
});

after(() => env?.close());

/** A blank same-origin page (cross-origin isolated like the server's), with problems collected. */
async function blankPage() {
  const page = await browser.context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  await page.route(`${base}blank.html`, (route) => route.fulfill({
    contentType: 'text/html',
    body: '<!doctype html><meta charset="utf-8"><title>blank</title>',
    headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
  }));
  await page.goto(`${base}blank.html`);
  return { page, problems };
}

test('worker: quantization in a Web Worker keeps the page responsive and writes the same bytes', async () => {
  const x = npy('ref/mnist/test_x.npy');
  const n = 500;
  const digits = Buffer.from(x.data.buffer, x.data.byteOffset, n * 784 * 4).toString('base64');
  const { page, problems } = await blankPage();
  const r = await page.evaluate(async ({ digits, n }) => {
    const w = await import('/js/index.js');
    const raw = Uint8Array.from(atob(digits), (c) => c.charCodeAt(0));
    const all = new Float32Array(raw.buffer);
    function* batches() {
      for (let i = 0; i < n; i += 50) yield { input: new w.Tensor('float32', all.slice(i * 784, (i + 50) * 784), [50, 1, 28, 28]) };
    }
    /** Runs fn while a 10 ms interval ticks; returns its result, the largest gap and the tick count. */
    async function watched(fn) {
      const ticks = [];
      const id = setInterval(() => ticks.push(performance.now()), 10);
      const t0 = performance.now();
      const value = await fn();
      const ms = performance.now() - t0;
      clearInterval(id);
      const stamps = [t0, ...ticks, t0 + ms];
      let maxGap = 0;
      for (let i = 1; i < stamps.length; i++) maxGap = Math.max(maxGap, stamps[i] - stamps[i - 1]);
      return { value, ms, maxGap, ticks: ticks.length };
    }
    const worker = await w.createWorker();
    const stages = new Set();
    const inWorker = await watched(() => worker.quantize('/www/models/mnist-cnn.onnx', {
      calibration: batches(), onProgress: (p) => stages.add(p.stage),
    }));
    const session = await worker.InferenceSession.create(inWorker.value.bytes, { engine: 'int8' });
    const out = await session.run({ input: new w.Tensor('float32', all.slice(0, 4 * 784), [4, 1, 28, 28]) });
    await session.release();
    const memory = await worker.wasmMemory();
    await worker.terminate();
    const model = await (await fetch('/www/models/mnist-cnn.onnx')).arrayBuffer();
    const inPage = await watched(() => w.quantize(model, { calibration: batches() }));
    const same = inWorker.value.bytes.length === inPage.value.bytes.length && inWorker.value.bytes.every((b, i) => b === inPage.value.bytes[i]);
    return {
      worker: { ms: inWorker.ms, maxGap: inWorker.maxGap, ticks: inWorker.ticks, flavour: worker.wasmFlavour },
      page: { ms: inPage.ms, maxGap: inPage.maxGap, ticks: inPage.ticks },
      same, stages: [...stages], dims: out.logits.dims, memory,
    };
  }, { digits, n });
  console.log(`quantizing MNIST (${n} digits) in a Web Worker: ${r.worker.ms.toFixed(0)} ms, page ticks ${r.worker.ticks}, largest gap ${r.worker.maxGap.toFixed(0)} ms; `
    + `on the main thread: ${r.page.ms.toFixed(0)} ms, ticks ${r.page.ticks}, largest gap ${r.page.maxGap.toFixed(0)} ms`);
  assert.equal(r.worker.flavour, 'relaxed');
  assert.ok(r.same, 'the worker and the page write the same quantized model');
  assert.ok(r.stages.includes('calibrate') && r.stages.includes('save'), r.stages.join(','));
  assert.deepEqual(r.dims, [4, 10]);
  assert.ok(r.memory.inUse > 0 && r.memory.linear >= r.memory.inUse, JSON.stringify(r.memory));
  // Loose on purpose (a shared machine can stall any thread for a while): a blocked page would
  // show one gap as long as the whole quantization.
  assert.ok(r.worker.maxGap < 250, `the page stalled ${r.worker.maxGap} ms while the worker quantized`);
  assert.ok(r.worker.ticks >= r.worker.ms / 10 / 4, `only ${r.worker.ticks} ticks in ${r.worker.ms} ms`);
  assert.deepEqual(problems, []);
  await page.close();
});

test('imageToTensor in the browser: every image source gives what Node gives', async () => {
  // A photo as PNG (lossless, so the browser and pngjs decode the same pixels).
  const jpg = fs.readFileSync(path.join(FIXTURES, 'images', 'imagenet', 'imagenet_10_541.jpg'));
  const decoded = await decodeImage(jpg);
  const png = new PNG({ width: decoded.width, height: decoded.height });
  png.data.set(decoded.data);
  const pngBytes = PNG.sync.write(png);
  const options = { resize: 256, size: 224, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
  const want = await imageToTensor(pngBytes, options);
  const gray = await imageToTensor(pngBytes, { size: [64, 48], channels: 'gray', layout: 'nhwc', resize: 'stretch' });
  const { page, problems } = await blankPage();
  const r = await page.evaluate(async ({ png, jpg, options, want, gray }) => {
    const w = await import('/js/index.js');
    const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const blob = new Blob([bytes(png)], { type: 'image/png' });
    const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    const canvas = Object.assign(document.createElement('canvas'), { width: bitmap.width, height: bitmap.height });
    canvas.getContext('2d').drawImage(bitmap, 0, 0);
    const offscreen = new OffscreenCanvas(bitmap.width, bitmap.height);
    offscreen.getContext('2d').drawImage(bitmap, 0, 0);
    const imageData = canvas.getContext('2d').getImageData(0, 0, bitmap.width, bitmap.height);
    const img = new Image();
    img.src = URL.createObjectURL(blob);
    const sources = { imageData, bitmap, img, canvas, offscreen, blob, bytes: bytes(png) };
    const maxDiff = (t, ref) => t.data.reduce((m, v, i) => Math.max(m, Math.abs(v - ref[i])), 0);
    const diffs = {};
    for (const [kind, src] of Object.entries(sources)) {
      const t = await w.imageToTensor(src, options);
      diffs[kind] = t.dims.join('x') === '1x3x224x224' ? maxDiff(t, want) : `dims ${t.dims}`;
    }
    diffs.gray = maxDiff(await w.imageToTensor(canvas, { size: [64, 48], channels: 'gray', layout: 'nhwc', resize: 'stretch' }), gray);
    const fromJpeg = await w.decodeImage(new Blob([bytes(jpg)], { type: 'image/jpeg' }));
    let err = null;
    try {
      await w.imageToTensor(new Blob([new Uint8Array([1, 2, 3])]));
    } catch (e) {
      err = e.code;
    }
    return { diffs, jpeg: { width: fromJpeg.width, height: fromJpeg.height, sample: Array.from(fromJpeg.data.subarray(0, 400000)) }, err };
  }, { png: pngBytes.toString('base64'), jpg: jpg.toString('base64'), options, want: Array.from(want.data), gray: Array.from(gray.data) });
  console.log(`browser image sources vs Node: ${JSON.stringify(r.diffs)}`);
  for (const [kind, d] of Object.entries(r.diffs)) assert.equal(d, 0, `${kind}: max abs diff ${d}`);
  assert.deepEqual([r.jpeg.width, r.jpeg.height], [decoded.width, decoded.height]);
  let sum = 0;
  for (let i = 0; i < r.jpeg.sample.length; i++) if (i % 4 !== 3) sum += Math.abs(r.jpeg.sample[i] - decoded.data[i]);
  const mean = sum / (r.jpeg.sample.length * 0.75);
  console.log(`JPEG decoded by Chromium vs jpeg-js in Node: mean abs diff ${mean.toFixed(3)} levels`);
  assert.ok(mean <= 3, `mean abs diff ${mean}`);
  assert.equal(r.err, 'INVALID_IMAGE');
  assert.deepEqual(problems, []);
  await page.close();
});
