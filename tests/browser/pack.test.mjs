// The packed package in a browser: the tarball installed into an empty project (tests/js/pack.mjs),
// that project served by scripts/serve.mjs, and the README's browser example run in the page as
// printed (PNG digits decoded by the browser, load with progress, quantize, run). The relaxed
// build loads from the installed package; the digits come out right.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { serveAndLaunch, openPage } from './browser.mjs';
import { packAndInstall, readmeSnippet } from '../js/pack.mjs';
import { MNIST_MODEL, npy } from '../js/helpers.mjs';

let installed;
let env;
let base;
let browser;

before(async () => {
  installed = packAndInstall();
  const { app } = installed;
  fs.copyFileSync(MNIST_MODEL, path.join(app, 'mnist-cnn.onnx'));
  fs.mkdirSync(path.join(app, 'digits'));
  const x = npy('ref/mnist/test_x.npy');
  for (let i = 0; i < 4; i++) {
    const png = new PNG({ width: 28, height: 28 });
    for (let k = 0; k < 784; k++) {
      const v = Math.round(x.data[i * 784 + k] * 255);
      png.data.set([v, v, v, 255], 4 * k);
    }
    fs.writeFileSync(path.join(app, 'digits', `${i}.png`), PNG.sync.write(png));
  }
  const snippet = readmeSnippet('Browser (');
  fs.writeFileSync(path.join(app, 'readme.mjs'), `${snippet}
const { wasmFlavour } = await import('./node_modules/webptq/js/index.js');
window.readme = { logits: Array.from(logits.data), dims: logits.dims, bytes: bytes.length, flavour: wasmFlavour() };
`);
  fs.writeFileSync(path.join(app, 'index.html'), `<!doctype html><meta charset="utf-8"><title>webptq from npm</title>
<script>
  window.addEventListener('error', (e) => { window.readmeError = e.message; });
  window.addEventListener('unhandledrejection', (e) => { window.readmeError = String(e.reason?.message ?? e.reason); });
</script>
<script type="module" src="readme.mjs"></script>`);
  // The scratch project is served whole, node_modules included (that is where the package is).
  env = await serveAndLaunch({ root: app, hidden: new Set() });
  ({ base, browser } = env);
});

after(async () => {
  await env?.close();
  if (installed) fs.rmSync(installed.tmp, { recursive: true, force: true });
});

test("the README's browser example runs as printed on the installed package", async () => {
  const { page, problems } = await openPage(browser.context, `${base}index.html`);
  const logs = [];
  page.on('console', (m) => logs.push(m.text()));
  await page.waitForFunction(() => window.readme || window.readmeError, null, { timeout: 120_000 });
  const { readme, error } = await page.evaluate(() => ({ readme: window.readme, error: window.readmeError }));
  assert.equal(error, undefined, `the example threw: ${error}`);
  assert.equal(readme.flavour, 'relaxed');
  assert.deepEqual(readme.dims, [4, 10]);
  assert.ok(readme.bytes > 0 && readme.bytes <= 0.28 * fs.statSync(MNIST_MODEL).size);
  const read = [0, 1, 2, 3].map((i) => {
    const row = readme.logits.slice(10 * i, 10 * i + 10);
    return row.indexOf(Math.max(...row));
  });
  const labels = Array.from(npy('ref/mnist/test_y.npy').data.subarray(0, 4), Number);
  console.log(`browser README example: read ${read.join(' ')} (labels ${labels.join(' ')}); progress logged: ${logs.filter((l) => /bytes$/.test(l)).slice(-1)[0]}`);
  assert.deepEqual(read, labels);
  assert.ok(logs.some((l) => l === `${fs.statSync(MNIST_MODEL).size} of ${fs.statSync(MNIST_MODEL).size} bytes`), 'download progress reached the total');
  assert.deepEqual(problems, []);
  await page.close();
});
