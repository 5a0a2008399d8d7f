#!/usr/bin/env node
// `npm run build:site`: writes the demo and the tutorial as a static folder that any static host
// serves as it is (no server code, no cross-origin isolation needed): index.html, tutorial.html,
// www/ (the pages' scripts, the built-in MNIST model and its digits), js/ (the package, imported
// by the pages as it is), both wasm builds (pkg/simd128, pkg/relaxed), onnxruntime-web's wasm
// build (vendor/onnxruntime-web/, for the demo's latency comparison), @huggingface/tokenizers
// (vendor/tokenizers/, for text models; see docs/tokenizer.md), a few photos for image models
// (fixtures/images/, copied from the fixture cache when it is there) and fixtures/index.json
// listing them (no models: the fixture models stay local; scripts/serve.mjs lists the whole cache).
//
//   node scripts/build_site.mjs [out]     # default dist/site; needs the wasm build (npm run build);
//                                         # photos from WEBPTQ_FIXTURES (default .cache/fixtures)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VENDOR } from './serve.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.resolve(process.argv[2] ?? path.join(ROOT, 'dist', 'site'));
const FIXTURES = path.resolve(process.env.WEBPTQ_FIXTURES || path.join(ROOT, '.cache', 'fixtures'));
export const SITE_PHOTOS = 8;
export const PHOTOS_SOURCE = 'foolbox 3.3.4, MIT licence';

for (const f of ['simd128', 'relaxed'].flatMap((fl) => [`pkg/${fl}/webptq.js`, `pkg/${fl}/webptq_bg.wasm`])) {
  if (!fs.existsSync(path.join(ROOT, f))) {
    console.error(`build:site: ${f} is missing: run 'npm run build' first`);
    process.exit(1);
  }
}

fs.rmSync(out, { recursive: true, force: true });
const copy = (rel, filter = () => true) => {
  const from = path.join(ROOT, rel);
  fs.cpSync(from, path.join(out, rel), { recursive: true, filter: (src) => fs.statSync(src).isDirectory() || filter(src) });
};
copy('index.html');
copy('tutorial.html');
copy('www');
copy('js', (f) => f.endsWith('.js'));
for (const fl of ['simd128', 'relaxed']) {
  copy(`pkg/${fl}/webptq.js`);
  copy(`pkg/${fl}/webptq_bg.wasm`);
}
for (const [name, { dir, files: names }] of Object.entries(VENDOR)) {
  fs.mkdirSync(path.join(out, 'vendor', name), { recursive: true });
  for (const f of names) {
    if (!fs.existsSync(path.join(dir, f))) {
      console.error(`build:site: ${path.relative(ROOT, path.join(dir, f))} is missing: run 'npm ci' first`);
      process.exit(1);
    }
    fs.copyFileSync(path.join(dir, f), path.join(out, 'vendor', name, f));
  }
}
// A few built-in photos for image models: the first SITE_PHOTOS of the fixture cache's ImageNet
// samples, which come from the foolbox==3.3.4 wheel (PyPI, MIT licence; scripts/fixtures.py
// fetches them; docs/fixtures.md). Copied at build time, never committed. Without the cache the
// site has none, and the page says so to a visitor with an image model.
const photoDir = path.join(FIXTURES, 'images', 'imagenet');
const photos = fs.existsSync(photoDir) ? fs.readdirSync(photoDir).filter((f) => /^imagenet_\d\d_\d+\.jpg$/.test(f)).sort().slice(0, SITE_PHOTOS) : [];
fs.mkdirSync(path.join(out, 'fixtures', 'images', 'imagenet'), { recursive: true });
for (const f of photos) fs.copyFileSync(path.join(photoDir, f), path.join(out, 'fixtures', 'images', 'imagenet', f));
const index = { models: [], images: photos.map((f) => `imagenet/${f}`), ...(photos.length ? { imagesSource: PHOTOS_SOURCE } : {}) };
fs.writeFileSync(path.join(out, 'fixtures', 'index.json'), `${JSON.stringify(index)}\n`);
console.log(photos.length ? `build:site: ${photos.length} photos from ${path.relative(process.cwd(), photoDir) || photoDir} (${PHOTOS_SOURCE})`
  : `build:site: no photos (${photoDir} is missing: run 'python scripts/fixtures.py' first); image models will ask for the visitor's own`);

let files = 0;
let bytes = 0;
const walk = (d) => {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walk(p);
    else {
      files += 1;
      bytes += fs.statSync(p).size;
    }
  }
};
walk(out);
console.log(`build:site: wrote ${path.relative(process.cwd(), out) || '.'} (${files} files, ${(bytes / 1024 / 1024).toFixed(2)} MiB)`);
