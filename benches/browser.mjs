#!/usr/bin/env node
// `npm run bench:browser`: the model benchmark of benches/models.mjs in headless Chromium
// (Debian's /usr/bin/chromium driven by playwright-core, a fresh profile each run). The
// repository is served by scripts/serve.mjs; the models, feeds and onnxruntime-web's files, which
// that server never serves (target/, node_modules/, the fixture cache), are answered under
// /__bench/ by a route of this script, from a fixed list. Each configuration runs in its own page
// (a realm loads one webptq build): "relaxed" (pkg/relaxed, env.wasm.simd = 'relaxed') and
// "simd128" (pkg/simd128, env.wasm.simd = true). Same options as `npm run bench`; the JSON goes to
// target/bench/browser.json.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { startServer } from '../scripts/serve.mjs';
import { CONFIGS, formatResult } from '../js/bench.js';
import { ROOT, prepare, machineInfo, saveResult, parseOptions, usage } from './prepare.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run'];
const ORT_DIST = path.join(ROOT, 'node_modules', 'onnxruntime-web', 'dist');
const TYPES = { '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm' };

const log = (line) => process.stderr.write(`${line}\n`);

async function main() {
  const o = parseOptions(process.argv.slice(2));
  if (o.help) return console.log(usage('node benches/browser.mjs', 'npm run bench:browser'));
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run 'bash scripts/setup.sh' (installs Debian's chromium) or set CHROMIUM_PATH`);
  if (!fs.existsSync(ORT_DIST)) throw new Error("node_modules/onnxruntime-web is missing: run 'npm ci'");
  const models = await prepare({ models: o.models, force: o.requantize, log });

  // The files the page may fetch under /__bench/file/N, and onnxruntime-web's dist/ files.
  const files = [];
  const url = (file) => `/__bench/file/${files.push(file) - 1}`;
  const plan = {
    runs: o.runs,
    warmup: o.warmup,
    budget: o.budget,
    models: models.map((m) => ({
      name: m.name, output: m.output, argmax: m.argmax, runs: m.runs, float: url(m.float), int8: url(m.int8), ortInt8: url(m.ortInt8),
      feeds: Object.fromEntries(Object.entries(m.feeds).map(([k, f]) => [k, url(f)])),
    })),
  };
  const machine = await machineInfo();
  machine.chromium = spawnSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).stdout?.trim() || '?';

  const { server, url: base } = await startServer({ port: 0 });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'webptq-bench-chromium-'));
  let context;
  const configs = [];
  try {
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
    await context.route('**/__bench/**', (route) => {
      const p = new URL(route.request().url()).pathname;
      let file = null;
      if (p.startsWith('/__bench/ort/')) {
        const name = p.slice('/__bench/ort/'.length);
        if (/^[\w.-]+$/.test(name) && fs.existsSync(path.join(ORT_DIST, name))) file = path.join(ORT_DIST, name);
      } else if (p.startsWith('/__bench/file/')) {
        file = files[Number(p.slice('/__bench/file/'.length))] ?? null;
      }
      if (!file) return route.fulfill({ status: 404, body: 'not found\n' });
      return route.fulfill({
        status: 200,
        path: file,
        headers: {
          'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
          'Cross-Origin-Resource-Policy': 'same-origin',
          'Cache-Control': 'no-store',
        },
      });
    });
    for (const c of o.configs) {
      const page = await context.newPage();
      page.on('console', (m) => log(m.text()));
      page.on('pageerror', (e) => log(`page error: ${e.message}`));
      try {
        await page.goto(`${base.replace('localhost', '127.0.0.1')}benches/page.html?config=${c}`);
        await page.waitForFunction(() => window.benchReady === true);
        configs.push(await page.evaluate((p) => window.runBench(p), plan));
      } catch (e) {
        const cfg = CONFIGS[c];
        configs.push({ config: c, title: cfg.title, webptqFlavour: cfg.webptqFlavour, ortSimd: cfg.ortSimd, error: e.message.split('\n')[0], rows: [] });
      } finally {
        await page.close();
      }
    }
  } finally {
    await context?.close();
    server.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  machine.browser = configs.find((c) => c.browser)?.browser?.userAgent ?? '?';
  machine.loadavg = `${machine.loadavg} (start), ${(await machineInfo()).loadavg} (end)`;
  const result = { kind: 'browser', machine, models: models.map((m) => ({ name: m.name, bytes: m.sizes })), configs };
  const file = saveResult('browser', result);
  if (o.json) console.log(JSON.stringify(result, null, 2));
  else console.log(`${formatResult(result)}\n\nJSON: ${path.relative(process.cwd(), file)}`);
  if (configs.some((c) => c.error)) process.exitCode = 1;
}

main().catch((e) => {
  log(`bench:browser: error: ${e.message}`);
  process.exit(1);
});
