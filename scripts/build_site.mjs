#!/usr/bin/env node
// `npm run build:site`: writes the demo and the tutorial as a static folder that any static host
// serves as it is (no server code, no cross-origin isolation needed): index.html, tutorial.html,
// www/ (the pages' scripts, the built-in MNIST model and its digits), js/ (the package, imported
// by the pages as it is), both wasm builds (pkg/simd128, pkg/relaxed), onnxruntime-web's wasm
// build (vendor/onnxruntime-web/, for the demo's latency comparison), @huggingface/tokenizers
// (vendor/tokenizers/, for text models; see docs/tokenizer.md) and an empty
// fixtures/index.json (a static site has no fixture cache; scripts/serve.mjs lists the local one).
//
//   node scripts/build_site.mjs [out]     # default dist/site; needs the wasm build (npm run build)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VENDOR } from './serve.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.resolve(process.argv[2] ?? path.join(ROOT, 'dist', 'site'));

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
fs.mkdirSync(path.join(out, 'fixtures'), { recursive: true });
fs.writeFileSync(path.join(out, 'fixtures', 'index.json'), `${JSON.stringify({ models: [], images: [] })}\n`);

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
