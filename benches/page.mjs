// The browser side of `npm run bench:browser`: loads the webptq build of this page's
// configuration (?config=relaxed|simd128) and onnxruntime-web's wasm backend, then
// window.runBench(plan) benchmarks each model of the plan with js/bench.js and returns
// the rows. Files come from URLs in the plan (benches/browser.mjs serves them).
import { CONFIGS, benchModel, configureOrt } from '../js/bench.js';
import * as webptq from '../js/index.js';

const ORT_BASE = '/__bench/ort/';
const configName = new URL(location.href).searchParams.get('config') ?? 'relaxed';
const logEl = document.getElementById('log');
const log = (line) => {
  logEl.textContent += `${line}\n`;
  console.log(line);
};

async function bytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`GET ${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function feed(url) {
  const t = webptq.readNpy(await bytes(url), url);
  return { type: t.type, data: t.data, dims: t.dims };
}

window.runBench = async (plan) => {
  const config = CONFIGS[configName];
  if (!config) throw new Error(`unknown configuration '${configName}'`);
  const { flavour } = await webptq.loadWasm({ flavour: config.webptqFlavour });
  const ort = await import(`${ORT_BASE}ort.wasm.min.mjs`);
  ort.env.wasm.wasmPaths = ORT_BASE;
  configureOrt(ort, configName);
  const rows = [];
  for (const m of plan.models) {
    log(`bench [${configName}] ${m.name}...`);
    const feeds = {};
    for (const [k, url] of Object.entries(m.feeds)) feeds[k] = await feed(url);
    rows.push(await benchModel({
      name: m.name, output: m.output, argmax: m.argmax, float: await bytes(m.float), int8: await bytes(m.int8), ortInt8: await bytes(m.ortInt8), feeds,
    }, { webptq, ort, runs: plan.runs ?? m.runs, warmup: plan.warmup, minRuns: 10, budgetMs: plan.budget * 1000, log }));
  }
  return {
    config: configName,
    title: config.title,
    webptqFlavour: flavour,
    ortSimd: config.ortSimd,
    ortVersion: ort.env.versions?.web ?? null,
    browser: { userAgent: navigator.userAgent, hardwareConcurrency: navigator.hardwareConcurrency, crossOriginIsolated: self.crossOriginIsolated, features: webptq.wasmFeatures() },
    rows,
  };
};
window.benchReady = true;
