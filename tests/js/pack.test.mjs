// Packaging: `npm pack` holds both wasm builds, the JS, the types, the CLI and the README, and
// nothing else; the tarball installs into an empty project with `npm install --offline`; the
// README's Node example runs there as printed (load, quantize, run MNIST) and reads the digits;
// the installed CLI works. (The browser half is tests/browser/pack.test.mjs.)
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { writeNpy, Tensor } from '../../js/index.js';
import { ROOT, MNIST_MODEL, npy, rows } from './helpers.mjs';
import { packAndInstall, readmeSnippet } from './pack.mjs';

const installed = packAndInstall();
after(() => fs.rmSync(installed.tmp, { recursive: true, force: true }));

const node = (args, cwd) => spawnSync(process.execPath, [...process.execArgv.filter((a) => !a.startsWith('--test')), ...args],
  { cwd, encoding: 'utf8', env: process.env });

test('the tarball holds the wasm builds, the JS, the types, the CLI and the README, nothing else', () => {
  const { pack } = installed;
  const files = pack.files.map((f) => f.path).sort();
  const js = fs.readdirSync(path.join(ROOT, 'js')).map((f) => `js/${f}`);
  const want = ['README.md', 'package.json', 'bin/webptq.js', ...js,
    'pkg/relaxed/webptq.js', 'pkg/relaxed/webptq_bg.wasm', 'pkg/simd128/webptq.js', 'pkg/simd128/webptq_bg.wasm'].sort();
  assert.deepEqual(files, want);
  assert.ok(files.includes('js/index.d.ts'));
  console.log(`tarball ${pack.filename}: ${pack.size} bytes (${(pack.size / 2 ** 20).toFixed(2)} MiB), ${pack.unpackedSize} unpacked, ${files.length} files`);
  const manifest = JSON.parse(fs.readFileSync(path.join(installed.app, 'node_modules', 'webptq', 'package.json'), 'utf8'));
  assert.equal(manifest.types, './js/index.d.ts');
  assert.deepEqual(Object.keys(manifest.dependencies).sort(), ['jpeg-js', 'pngjs']);
});

test("the README's Node example runs as printed in a project that installed the tarball", () => {
  const { app } = installed;
  const code = readmeSnippet('Node (');
  assert.match(code, /from 'webptq'/);
  fs.copyFileSync(MNIST_MODEL, path.join(app, 'mnist-cnn.onnx'));
  fs.writeFileSync(path.join(app, 'digits.npy'), writeNpy(rows(npy('ref/mnist/test_x.npy'), 0, 100, Tensor)));
  fs.writeFileSync(path.join(app, 'main.mjs'), code);
  const r = node(['main.mjs'], app);
  assert.equal(r.status, 0, r.stderr);
  console.log(`README example printed: ${r.stdout.trim()}`);
  const m = /^(\d+) -> (\d+) bytes; the first digits read ((?:\d ){9}\d)$/.exec(r.stdout.trim());
  assert.ok(m, r.stdout);
  assert.equal(Number(m[1]), fs.statSync(MNIST_MODEL).size);
  assert.ok(Number(m[2]) <= 0.28 * Number(m[1]));
  const labels = Array.from(npy('ref/mnist/test_y.npy').data.subarray(0, 10), Number);
  const read = m[3].split(' ').map(Number);
  assert.ok(read.filter((d, i) => d === labels[i]).length >= 9, `read ${read}, labels ${labels}`);
});

test('the installed CLI runs (node_modules/.bin/webptq)', () => {
  const { app } = installed;
  const bin = path.join(app, 'node_modules', '.bin', 'webptq');
  assert.ok(fs.existsSync(bin));
  const help = node([bin, '--help'], app);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^usage: webptq/);
  const r = node([bin, 'inspect', path.join(app, 'mnist-cnn.onnx'), '--json'], app);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).outputs.map((o) => o.name), ['logits']);
});
