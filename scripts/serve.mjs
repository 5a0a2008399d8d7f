#!/usr/bin/env node
// A dependency-free static file server for the repository root: the demo page (index.html, www/),
// the package (js/, pkg/) and nothing outside the root. Used by `npm start` and the browser tests.
// The fixture cache, when present (WEBPTQ_FIXTURES, default .cache/fixtures), is offered to the
// demo under /fixtures/: its models, photos and tokenized sentences (models/, images/, ref/), and
// /fixtures/index.json listing the models and photos there (empty lists without a cache; the
// static site ships that empty file, see scripts/build_site.mjs), and the BERT tokenizer.json of the
// MiniLM fixture (/fixtures/tokenizer.json). Two npm packages are offered under /vendor/:
// onnxruntime-web's wasm build (/vendor/onnxruntime-web/, for the demo's comparison) and
// @huggingface/tokenizers (/vendor/tokenizers/, the demo's tokenizer for text models).
//
//   node scripts/serve.mjs            # PORT from the environment, default 8080; PORT=0 picks a free one
//
// Prints "webptq demo: http://localhost:PORT/" once listening. Import startServer() to embed it.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.npy': 'application/octet-stream',
  '.bin': 'application/octet-stream',
};

// Top-level folders never served: build trees, dependencies, secrets of git.
const HIDDEN = new Set(['.git', 'target', 'node_modules', '.venv', '.cache']);

/** Resolves a URL path inside root, or null when it would leave root or touch a hidden folder. */
export function resolveInside(root, urlPath, hidden = HIDDEN) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const parts = decoded.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) return null;
  if (parts.length > 0 && (hidden.has(parts[0]) || parts[0].startsWith('.'))) return null;
  const full = path.resolve(root, ...parts);
  if (full !== root && !full.startsWith(root + path.sep)) return null;
  return full;
}

function send(res, status, body, type = 'text/plain; charset=utf-8') {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(body);
}

export const DEFAULT_FIXTURES = path.resolve(process.env.WEBPTQ_FIXTURES || path.join(ROOT, '.cache', 'fixtures'));

// The parts of the fixture cache the demo may read: three folders and one file.
const FIXTURE_PARTS = new Set(['models', 'images', 'ref']);
const FIXTURE_FILES = new Set(['tokenizer.json']);

const listDir = (dir, ext) => {
  try {
    return fs.readdirSync(dir).filter((f) => f.endsWith(ext)).sort();
  } catch {
    return [];
  }
};

/** What /fixtures/index.json says: the .onnx models and the photos in the cache. */
export function fixtureIndex(fixtures) {
  if (!fixtures) return { models: [], images: [] };
  return {
    models: listDir(path.join(fixtures, 'models'), '.onnx'),
    images: listDir(path.join(fixtures, 'images', 'imagenet'), '.jpg').map((f) => `imagenet/${f}`),
  };
}

// onnxruntime-web (a dev dependency), for the demo's side-by-side latency: the three files its wasm
// build loads, under /vendor/onnxruntime-web/ (the static site copies them there).
export const ORT_DIST = path.join(ROOT, 'node_modules', 'onnxruntime-web', 'dist');
export const ORT_FILES = ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'];

/**
 * The npm packages the pages load, by their folder under /vendor/: where each one's files are in
 * node_modules and which of them are served (nothing else of a package is). The static site
 * copies them to vendor/ (scripts/build_site.mjs); docs/tokenizer.md says why this tokenizer.
 */
export const VENDOR = {
  'onnxruntime-web': { dir: ORT_DIST, files: ORT_FILES },
  tokenizers: { dir: path.join(ROOT, 'node_modules', '@huggingface', 'tokenizers', 'dist'), files: ['tokenizers.min.mjs'] },
};

/** The node_modules file behind a /vendor/ path, or null. */
function vendorFile(urlPath) {
  const m = /^\/vendor\/([^/]+)\/([^/]+)$/.exec(urlPath);
  const v = m && Object.hasOwn(VENDOR, m[1]) ? VENDOR[m[1]] : null;
  return v && v.files.includes(m[2]) ? path.join(v.dir, m[2]) : null;
}

function handler(root, hidden, fixtures, isolate) {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n');
    const urlPath = (req.url ?? '/').split('?')[0].split('#')[0];
    // The cache's index; without a cache, a root's own file (the static site's) or an empty one.
    if (urlPath === '/fixtures/index.json' && (fixtures || !fs.existsSync(path.join(root, 'fixtures', 'index.json')))) {
      return send(res, 200, `${JSON.stringify(fixtureIndex(fixtures))}\n`, MIME['.json']);
    }
    let file;
    const vendored = urlPath.startsWith('/vendor/') && !fs.existsSync(path.join(root, 'vendor')) ? vendorFile(urlPath) : null;
    if (vendored) {
      file = vendored;
    } else if (urlPath.startsWith('/fixtures/') && fixtures) {
      const rest = urlPath.slice('/fixtures'.length);
      const parts = rest.split('/');
      const allowed = parts.length > 2 ? FIXTURE_PARTS.has(parts[1]) : FIXTURE_FILES.has(parts[1]);
      file = allowed ? resolveInside(fixtures, rest, hidden) : null;
      if (!file) return send(res, 404, 'not found\n');
    } else {
      file = resolveInside(root, urlPath, hidden);
    }
    if (!file) return send(res, 403, 'forbidden\n');
    fs.stat(file, (err, st) => {
      if (!err && st.isDirectory()) {
        if (!urlPath.endsWith('/')) {
          res.writeHead(301, { Location: `${urlPath}/` });
          return res.end();
        }
        file = path.join(file, 'index.html');
        return fs.stat(file, (err2, st2) => serveFile(req, res, file, err2, st2, isolate));
      }
      return serveFile(req, res, file, err, st, isolate);
    });
  };
}

function serveFile(req, res, file, err, st, isolate) {
  if (err || !st.isFile()) return send(res, 404, 'not found\n');
  const type = MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
  res.writeHead(200, {
    'Content-Type': type,
    'Content-Length': st.size,
    'Cache-Control': 'no-store',
    // Cross-origin isolation, so a later threaded build can use SharedArrayBuffer.
    ...(isolate ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } : {}),
    'X-Content-Type-Options': 'nosniff',
  });
  if (req.method === 'HEAD') return res.end();
  const stream = fs.createReadStream(file);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

/**
 * Starts the server; resolves to { server, port, url } once listening. `hidden`: top-level folders
 * never served (default: .git, target, node_modules, .venv, .cache); a test serving an installed
 * package from a scratch project passes its own. `fixtures`: the fixture cache offered under
 * /fixtures/ (default WEBPTQ_FIXTURES or .cache/fixtures; null: none). `isolate: false` leaves out
 * the cross-origin isolation headers (to serve the static site as a plain host would).
 * @param {{ port?: number, host?: string, root?: string, hidden?: Set<string>, fixtures?: string | null, isolate?: boolean }} [options]
 */
export function startServer({ port = 8080, host = '127.0.0.1', root = ROOT, hidden = HIDDEN, fixtures = DEFAULT_FIXTURES, isolate = true } = {}) {
  const fixtureDir = fixtures && fs.existsSync(fixtures) ? path.resolve(fixtures) : null;
  const server = http.createServer(handler(path.resolve(root), hidden, fixtureDir, isolate));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const actual = server.address().port;
      resolve({ server, port: actual, url: `http://localhost:${actual}/` });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const raw = process.env.PORT ?? '8080';
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`serve: PORT must be a port number, got '${raw}'`);
    process.exit(1);
  }
  try {
    const { url } = await startServer({ port, host: process.env.HOST ?? '127.0.0.1' });
    console.log(`webptq demo: ${url}`);
  } catch (e) {
    console.error(`serve: cannot listen on port ${port}: ${e.code === 'EADDRINUSE' ? 'it is in use (set PORT=...)' : e.message}`);
    process.exit(1);
  }
}
