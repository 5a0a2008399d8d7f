// End to end in Debian's Chromium (driven by playwright-core; no downloaded browser): the demo
// page served by scripts/serve.mjs, the package imported in the page from /js/index.js, the
// MNIST model run on real test digits, and which wasm build loaded. Leaves a screenshot of the
// page in test-results/ (git-ignored) for a person to look at.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { serveAndLaunch, openPage as open } from './browser.mjs';
import { readNpy, InferenceSession, Tensor, wasmFlavour } from '../../js/index.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const FIXTURES = path.resolve(process.env.WEBPTQ_FIXTURES || path.join(ROOT, '.cache', 'fixtures'));
const SHOTS = path.join(ROOT, 'test-results');

let env;
let base;
let browser;

before(async () => {
  env = await serveAndLaunch();
  ({ base, browser } = env);
});

after(() => env?.close());

const openPage = (url) => open(browser.context, url);

test('server: MIME types and no way out of the repository', async () => {
  const get = (p) => fetch(base + p);
  assert.equal((await get('pkg/simd128/webptq_bg.wasm')).headers.get('content-type'), 'application/wasm');
  assert.match((await get('js/index.js')).headers.get('content-type'), /^text\/javascript/);
  assert.match((await get('')).headers.get('content-type'), /^text\/html/);
  // Raw request paths (fetch would normalize the dots away).
  const raw = (p) => new Promise((resolve, reject) => {
    const u = new URL(base);
    http.get({ host: u.hostname, port: u.port, path: p }, (res) => {
      res.resume();
      resolve(res.statusCode);
    }).on('error', reject);
  });
  assert.equal(await raw('/package.json'), 200);
  for (const p of ['/../package.json', '/%2e%2e/%2e%2e/etc/passwd', '/js/..%2f..%2f..%2fetc/passwd', '/..%5c..%5cetc/passwd',
    '/.git/HEAD', '/node_modules/playwright-core/package.json', '/%00', '/js/%2e%2e/.git/config']) {
    const status = await raw(p);
    assert.ok(status === 403 || status === 404, `${p} gave ${status}`);
  }
  assert.equal((await get('no/such/file.js')).status, 404);
});

test('the package in the page: loads the relaxed build and inspects a model', async () => {
  const { page, problems } = await openPage(`${base}index.html`);
  const feeds = fs.readFileSync(path.join(FIXTURES, 'bad', 'feeds.onnx'));
  const result = await page.evaluate(async (bytes) => {
    const w = await import('/js/index.js');
    const info = await w.inspect(new Uint8Array(bytes));
    const s = await w.InferenceSession.create(new Uint8Array(bytes));
    const out = await s.run({ x: new w.Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]), ids: new w.Tensor('int64', [4n]) });
    await s.release();
    let released;
    try {
      await s.run({});
    } catch (e) {
      released = e.code;
    }
    return { flavour: w.wasmFlavour(), features: w.wasmFeatures(), inputs: info.inputs.map((v) => v.name), x: [...out.x.data], released };
  }, [...feeds]);
  assert.deepEqual(result.features, { simd128: true, relaxed: true });
  assert.equal(result.flavour, 'relaxed', 'Chromium supports relaxed SIMD, so the relaxed build must load');
  assert.deepEqual(result.inputs, ['x', 'ids']);
  assert.deepEqual(result.x, [1, 2, 3, 4, 5, 6]);
  assert.equal(result.released, 'RELEASED');
  // Dropping a file on the page (through the file input) inspects it.
  await page.setInputFiles('#file', path.join(FIXTURES, 'bad', 'unknown_op.onnx'));
  await page.waitForFunction(() => document.querySelector('#info')?.textContent.includes('FrobnicateXYZ'));
  assert.match(await page.textContent('#model-name'), /unknown_op\.onnx/);
  assert.deepEqual(problems.filter((p) => !/mnist-cnn|UNSUPPORTED_OP/.test(p)), []);
  await page.close();
});

test('MNIST in the page: predictions on test digits, a drawn digit, a screenshot', async () => {
  const x = readNpy(fs.readFileSync(path.join(FIXTURES, 'ref', 'mnist', 'test_x.npy')));
  const y = readNpy(fs.readFileSync(path.join(FIXTURES, 'ref', 'mnist', 'test_y.npy')));
  const n = 16;
  const digits = Array.from(x.data.subarray(0, n * 784));
  const labels = Array.from(y.data.subarray(0, n), Number);

  const { page, problems } = await openPage(`${base}index.html`);
  fs.mkdirSync(SHOTS, { recursive: true });
  const ready = await page.evaluate(async () => {
    const r = await window.webptqDemo.ready;
    return { error: r.error ? `${r.error.code}: ${r.error.message}`.slice(0, 500) : null, info: r.info };
  });
  if (ready.error) await page.screenshot({ path: path.join(SHOTS, 'index.png'), fullPage: true });
  assert.equal(ready.error, null, 'the page loads and prepares the MNIST model');
  assert.deepEqual(ready.info.inputs.map((v) => v.name), ['input']);
  assert.match(await page.textContent('#status'), /relaxed/);
  assert.match(await page.textContent('#info'), /Conv/);
  assert.match(await page.textContent('#info'), /parameters/);

  const logits = await page.evaluate(async ({ digits, n }) => {
    const w = await import('/js/index.js');
    const bytes = new Uint8Array(await (await fetch('/www/models/mnist-cnn.onnx')).arrayBuffer());
    const s = await w.InferenceSession.create(bytes);
    const out = await s.run({ input: new w.Tensor('float32', Float32Array.from(digits), [n, 1, 28, 28]) });
    await s.release();
    return Array.from(out[s.outputNames[0]].data);
  }, { digits, n });
  const argmax = (l) => Array.from({ length: n }, (_, i) => {
    const row = l.slice(i * 10, i * 10 + 10);
    return row.indexOf(Math.max(...row));
  });
  const predicted = argmax(logits);
  // The same digits through our engine in Node (the other wasm build, unless forced): same answers.
  const session = await InferenceSession.create(fs.readFileSync(path.join(ROOT, 'www', 'models', 'mnist-cnn.onnx')));
  const node = Array.from((await session.run({ input: new Tensor('float32', Float32Array.from(digits), [n, 1, 28, 28]) })).logits.data);
  await session.release();
  let num = 0;
  let den = 0;
  logits.forEach((v, i) => {
    num += (v - node[i]) ** 2;
    den += node[i] ** 2;
  });
  const relL2 = Math.sqrt(num / den);
  const right = predicted.filter((p, i) => p === labels[i]).length;
  console.log(`browser: ${right}/${n} test digits right (predicted ${predicted.join('')}, labels ${labels.join('')}); `
    + `logits vs Node (${wasmFlavour()} build): rel L2 ${relL2.toExponential(2)}`);
  assert.deepEqual(predicted, argmax(node), 'the page and Node predict the same digits');
  assert.ok(relL2 <= 1e-5, `page logits differ from Node's: rel L2 ${relL2}`);
  assert.ok(right >= n - 2, `predicted ${predicted}, labels ${labels}`);

  // Draw digits with the mouse; the page preprocesses them like MNIST and shows its prediction.
  const box = await page.locator('#pad').boundingBox();
  const STROKES = {
    1: [[[140, 50], [142, 230]]],
    7: [[[70, 60], [210, 60], [120, 230]]],
    0: [[[140, 50], [200, 90], [210, 160], [180, 220], [140, 235], [95, 215], [70, 150], [85, 85], [140, 50]]],
    4: [[[170, 50], [70, 170], [215, 170]], [[170, 50], [170, 240]]],
  };
  const read = {};
  for (const [digit, lines] of Object.entries(STROKES)) {
    await page.click('#clear');
    for (const pts of lines) {
      await page.mouse.move(box.x + pts[0][0], box.y + pts[0][1]);
      await page.mouse.down();
      for (let i = 1; i < pts.length; i++) {
        const [a, b] = [pts[i - 1], pts[i]];
        for (let k = 1; k <= 10; k++) await page.mouse.move(box.x + a[0] + ((b[0] - a[0]) * k) / 10, box.y + a[1] + ((b[1] - a[1]) * k) / 10);
      }
      await page.mouse.up();
    }
    await page.waitForFunction(() => document.querySelector('#digit').textContent !== '?');
    await page.waitForTimeout(100); // let the last queued prediction land
    read[digit] = await page.textContent('#digit');
  }
  await page.screenshot({ path: path.join(SHOTS, 'index.png'), fullPage: true });
  console.log(`browser: drawn digits read as ${JSON.stringify(read)}`);
  assert.deepEqual(read, { 0: '0', 1: '1', 4: '4', 7: '7' });
  assert.deepEqual(problems, []);
  await page.close();
});
