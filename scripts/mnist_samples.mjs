#!/usr/bin/env node
// Writes the demo's built-in MNIST samples, www/models/mnist-digits.npy (uint8 [600, 28, 28],
// pixel = round(255 x)) and www/models/mnist-labels.npy (uint8 [600]): the first 600 digits of the
// held-out test split (scripts/mnist_data.py; no training image among them) from the fixture
// cache (ref/mnist/test_x.npy, test_y.npy, whose pixels are exactly k/255). The page calibrates on
// the first 100 and measures accuracy on the other 500.
//
//   WEBPTQ_FIXTURES=.cache/fixtures node scripts/mnist_samples.mjs
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNpy, writeNpy, Tensor } from '../js/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = path.resolve(process.env.WEBPTQ_FIXTURES || path.join(ROOT, '.cache', 'fixtures'));
const N = 600;

const x = readNpy(fs.readFileSync(path.join(FIXTURES, 'ref', 'mnist', 'test_x.npy')));
const y = readNpy(fs.readFileSync(path.join(FIXTURES, 'ref', 'mnist', 'test_y.npy')));
const px = new Uint8Array(N * 784);
for (let i = 0; i < px.length; i++) {
  const q = Math.round(x.data[i] * 255);
  if (Math.fround(q / 255) !== x.data[i]) throw new Error(`pixel ${i} is not k/255: ${x.data[i]}`);
  px[i] = q;
}
const labels = Uint8Array.from(y.data.subarray(0, N), Number);
const out = path.join(ROOT, 'www', 'models');
fs.writeFileSync(path.join(out, 'mnist-digits.npy'), writeNpy(new Tensor('uint8', px, [N, 28, 28])));
fs.writeFileSync(path.join(out, 'mnist-labels.npy'), writeNpy(new Tensor('uint8', labels, [N])));
console.log(`wrote ${N} digits and labels to ${path.relative(ROOT, out)}/`);
