// loadModel(source, { onProgress, signal, externalData }) from every kind of source: a URL served
// by a local HTTP server (with and without Content-Length), a Request, a Blob and a File, an
// ArrayBuffer, a Uint8Array, a path and a file: URL; external data fetched relative to the model's
// URL; and each failure as its typed error (network, HTTP status, cancelled, not ONNX).
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { loadModel, Model, InferenceSession, Tensor, inspect } from '../../js/index.js';
import { ROOT, readBytes, MNIST_MODEL, npy, rows, rejects } from './helpers.mjs';

const MNIST = readBytes(MNIST_MODEL);
let server;
let base;
let dir;
const slowStarted = [];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webptq-load-'));
  // MNIST with its weights in an external file, made by the onnx package.
  const py = spawnSync(path.join(ROOT, '.venv', 'bin', 'python'), ['-c', `
import onnx, sys
m = onnx.load(sys.argv[1])
onnx.save_model(m, sys.argv[2], save_as_external_data=True, all_tensors_to_one_file=True, location='mnist.bin', size_threshold=0)
`, MNIST_MODEL, path.join(dir, 'mnist-ext.onnx')], { encoding: 'utf8' });
  assert.equal(py.status, 0, py.stderr);
  server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const send = (status, body, headers = {}) => {
      res.writeHead(status, { 'Content-Length': body.length, ...headers });
      res.end(body);
    };
    switch (url.pathname) {
      case '/mnist.onnx':
        return send(200, MNIST, { 'Content-Type': 'application/octet-stream' });
      case '/chunked.onnx': // no Content-Length: total unknown
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        for (let i = 0; i < MNIST.length; i += 65536) res.write(MNIST.subarray(i, i + 65536));
        return res.end();
      case '/slow.onnx': // half the model, then nothing: only an abort ends it
        slowStarted.push(Date.now());
        res.writeHead(200, { 'Content-Length': MNIST.length });
        res.write(MNIST.subarray(0, MNIST.length >> 1));
        return undefined;
      case '/page.html':
        return send(200, Buffer.from('<!doctype html><title>not a model</title>'), { 'Content-Type': 'text/html; charset=utf-8' });
      case '/ext/mnist-ext.onnx':
      case '/ext/mnist.bin':
        return send(200, fs.readFileSync(path.join(dir, path.basename(url.pathname))));
      default:
        return send(404, Buffer.from('not found'));
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}/`;
});

after(() => {
  server?.closeAllConnections?.();
  server?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});


/** The MNIST logits of a few test digits, to check a loaded model is the right one. */
async function logitsOf(model) {
  const s = await InferenceSession.create(model);
  try {
    return (await s.run({ input: rows(npy('ref/mnist/test_x.npy'), 0, 4, Tensor) })).logits.data;
  } finally {
    await s.release();
  }
}

test('loadModel: a URL, with download progress from Content-Length', async () => {
  const events = [];
  const model = await loadModel(`${base}mnist.onnx`, { onProgress: (p) => events.push(p) });
  assert.ok(model instanceof Model);
  const info = model.info();
  assert.deepEqual(info.inputs.map((v) => v.name), ['input']);
  assert.deepEqual(info.outputs.map((v) => v.name), ['logits']);
  assert.ok(info.opCounts.Conv >= 1, JSON.stringify(info.opCounts));
  assert.ok(info.parameterBytes > 0 && info.parameterBytes < MNIST.length);
  assert.deepEqual(info.unsupportedOps, []);
  assert.ok(events.length >= 2, `${events.length} progress events`);
  assert.ok(events.every((p) => p.stage === 'download' && p.total === MNIST.length));
  assert.equal(events.at(-1).done, MNIST.length);
  for (let i = 1; i < events.length; i++) assert.ok(events[i].done >= events[i - 1].done, 'progress never goes back');
  assert.deepEqual(await logitsOf(model), await logitsOf(MNIST));
  model.release();
});

test('loadModel: no Content-Length (total null), a Request, a URL object', async () => {
  const events = [];
  const m1 = await loadModel(`${base}chunked.onnx`, { onProgress: (p) => events.push(p) });
  assert.ok(events.length > 2 && events.every((p) => p.total === null));
  assert.equal(events.at(-1).done, MNIST.length);
  const m2 = await loadModel(new Request(`${base}mnist.onnx`));
  const m3 = await loadModel(new URL('mnist.onnx', base));
  assert.deepEqual(m2.info(), m1.info());
  assert.deepEqual(m3.info(), m1.info());
  for (const m of [m1, m2, m3]) m.release();
});

test('loadModel: Blob, File, ArrayBuffer, Uint8Array, a path and a file: URL', async () => {
  const want = await inspect(MNIST);
  const events = [];
  const sources = {
    blob: new Blob([MNIST]),
    file: new File([MNIST], 'mnist-cnn.onnx'),
    arrayBuffer: MNIST.slice().buffer,
    uint8array: MNIST,
    path: MNIST_MODEL,
    fileUrl: pathToFileURL(MNIST_MODEL),
    fileUrlString: pathToFileURL(MNIST_MODEL).href,
  };
  for (const [kind, source] of Object.entries(sources)) {
    const m = await loadModel(source, { onProgress: (p) => events.push([kind, p]) });
    assert.deepEqual(m.info(), want, kind);
    m.release();
  }
  for (const kind of ['blob', 'file', 'path']) {
    const last = events.filter(([k]) => k === kind).at(-1)?.[1];
    assert.deepEqual(last && [last.done, last.total], [MNIST.length, MNIST.length], `${kind} progress`);
  }
});

test('loadModel: external data fetched relative to the model URL', async () => {
  const events = [];
  const model = await loadModel(`${base}ext/mnist-ext.onnx`, { externalData: { 'mnist.bin': 'mnist.bin' }, onProgress: (p) => events.push(p) });
  assert.deepEqual(await logitsOf(model), await logitsOf(MNIST));
  assert.ok(events.some((p) => p.file === 'mnist.bin'), 'progress names the external file');
  model.release();
  // From bytes on disk, given as bytes.
  const bytes = readBytes(path.join(dir, 'mnist-ext.onnx'));
  const m2 = await loadModel(bytes, { externalData: { 'mnist.bin': readBytes(path.join(dir, 'mnist.bin')) } });
  assert.deepEqual(await logitsOf(m2), await logitsOf(MNIST));
  m2.release();
  await rejects(loadModel(bytes), 'INVALID_MODEL', /mnist\.bin/);
});

test('loadModel: typed errors for network failure, HTTP status, cancellation and non-models', async () => {
  // A port nobody listens on.
  const closed = http.createServer();
  await new Promise((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = closed.address().port;
  await new Promise((resolve) => closed.close(resolve));
  await rejects(loadModel(`http://127.0.0.1:${port}/m.onnx`), 'NETWORK_ERROR', /could not fetch the model/, new RegExp(`127\\.0\\.0\\.1:${port}`));
  await rejects(loadModel(`${base}missing.onnx`), 'HTTP_ERROR', /HTTP 404/, /missing\.onnx/);
  await rejects(loadModel(`${base}page.html`), 'INVALID_MODEL', /not an ONNX model/, /text\/html/);
  await rejects(loadModel(path.join(dir, 'nope.onnx')), 'NOT_FOUND', /nope\.onnx/, /does not exist/);
  await rejects(loadModel(dir), 'IO_ERROR', /directory/);
  await rejects(loadModel(new Uint8Array([1, 2, 3])), 'INVALID_MODEL');
  await rejects(loadModel(42), 'INVALID_ARGUMENT', /URL, a Request, a File or Blob/);
  await rejects(loadModel(MNIST, { onProgres: () => {} }), 'INVALID_OPTIONS', /unknown option 'onProgres'/);
  await rejects(loadModel(MNIST, { signal: {} }), 'INVALID_OPTIONS', /AbortSignal/);

  // Aborted before, and in the middle of a download that would never finish.
  await rejects(loadModel(`${base}mnist.onnx`, { signal: AbortSignal.abort() }), 'CANCELLED');
  const ac = new AbortController();
  let seen = 0;
  const pending = loadModel(`${base}slow.onnx`, {
    signal: ac.signal,
    onProgress: (p) => {
      seen = p.done;
      if (p.done > 0) ac.abort();
    },
  });
  await rejects(pending, 'CANCELLED', /cancelled/);
  assert.ok(seen > 0 && seen < MNIST.length, `aborted after ${seen} bytes`);
  await rejects(loadModel(new Blob([MNIST]), { signal: AbortSignal.abort() }), 'CANCELLED');
});
