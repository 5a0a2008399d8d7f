// Shared by the browser tests: Debian's Chromium driven by playwright-core (no downloaded
// browser), one persistent context per test file, and pages whose console errors, uncaught
// exceptions and HTTP errors are collected.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startServer } from '../../scripts/serve.mjs';

/** Where the browser tests leave screenshots and downloads (git-ignored). */
export const SHOTS = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..', 'test-results');

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

/** Launches Chromium; resolves to { context, close() }. */
export async function launch() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run 'bash scripts/setup.sh' (installs Debian's chromium)`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'webptq-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1100, height: 900 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * The static server (`scripts/serve.mjs` on a free port, `serverOptions` added) and Chromium, as
 * every browser test file starts them: resolves to { base (the server's URL on 127.0.0.1),
 * browser (see launch()), close() }.
 */
export async function serveAndLaunch(serverOptions = {}) {
  const { server, url } = await startServer({ port: 0, ...serverOptions });
  try {
    const browser = await launch();
    return {
      base: url.replace('localhost', '127.0.0.1'),
      browser,
      close: async () => {
        await browser.close();
        server.close();
      },
    };
  } catch (e) {
    server.close();
    throw e;
  }
}

/**
 * A new page at `url` with its console errors, uncaught exceptions and HTTP errors in `problems`,
 * and every request it made in `requests` ({ url, method, body: bytes sent }). `viewport`: the
 * page's size (default the context's).
 */
export async function openPage(context, url, { viewport } = {}) {
  const page = await context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  const problems = [];
  const requests = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${new URL(r.url()).pathname}`);
  });
  page.on('request', (r) => requests.push({ url: r.url(), method: r.method(), body: r.postDataBuffer()?.length ?? 0 }));
  page.on('websocket', (w) => requests.push({ url: w.url(), method: 'WEBSOCKET', body: 0 }));
  await page.goto(url);
  return { page, problems, requests };
}

/** No request of `requests` (see openPage) left this machine, and none sent a body. */
export function assertLocal(requests) {
  assert.ok(requests.length > 0, 'requests were recorded');
  for (const r of requests) {
    const u = new URL(r.url);
    const local = u.protocol === 'blob:' || u.protocol === 'data:' || u.hostname === '127.0.0.1' || u.hostname === 'localhost';
    assert.ok(local, `request to a non-local host: ${r.url}`);
    assert.ok(r.method === 'GET' || r.method === 'HEAD', `${r.method} ${r.url}`);
    assert.equal(r.body, 0, `${r.url} carried ${r.body} bytes`);
  }
}

/** The page is no wider than its viewport. */
export async function assertNoHorizontalScroll(page) {
  const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
  assert.ok(scroll <= client, `page is ${scroll} px wide in a ${client} px viewport`);
}
