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
