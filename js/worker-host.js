// The worker side of createWorker(): runs in a Web Worker (module worker) or a Node worker_threads
// Worker, loads its own wasm core, and serves the calls of js/worker.js (messages: js/protocol.js).
// Calls run one after another on one promise chain, so the wasm instance never interleaves
// work; aborts and calibration batches are handled as they arrive, outside that chain. Models
// and sessions live here and are named by handles; results go back with their buffers
// transferred (they were made here, nobody else holds them).
import { loadWasm, wasmMemory } from './loader.js';
import { loadModel, supportedOps, Model } from './model.js';
import { InferenceSession } from './session.js';
import { quantize } from './quantize.js';
import { WebptqError } from './errors.js';
import {
  tensorRecord, feedsFromRecord, errorRecord, fromErrorRecord, transferables,
} from './protocol.js';

let post;
let onMessage;
if (typeof WorkerGlobalScope === 'function' && typeof self === 'object' && self instanceof WorkerGlobalScope) {
  post = (msg, transfer = []) => self.postMessage(msg, transfer);
  onMessage = (fn) => self.addEventListener('message', (ev) => fn(ev.data));
} else {
  const { parentPort } = await import('node:worker_threads');
  if (!parentPort) throw new Error('webptq: js/worker-host.js runs inside a worker made by createWorker()');
  post = (msg, transfer = []) => parentPort.postMessage(msg, transfer);
  onMessage = (fn) => parentPort.on('message', fn);
}

const objects = new Map(); // handle → Model | InferenceSession
let nextHandle = 1;
const calls = new Map(); // id → { controller, batches: Map<seq, resolve> }
const abortedEarly = new Set(); // ids aborted while still queued

function keep(obj) {
  const handle = nextHandle++;
  objects.set(handle, obj);
  return handle;
}

function lookup(handle, Kind, what) {
  const obj = objects.get(handle);
  if (!(obj instanceof Kind)) throw new WebptqError('RELEASED', `${what} was called on a released ${Kind === Model ? 'model' : 'session'}`);
  return obj;
}

/** A model argument: { $model: handle } names one kept here; anything else is a source. */
const modelArg = (m) => (m !== null && typeof m === 'object' && '$model' in m ? lookup(m.$model, Model, 'a call') : m);

/** The caller's calibration iterable, pulled batch by batch (one batch prefetched). */
function pulledBatches(id, length) {
  const call = calls.get(id);
  const waiting = new Map();
  call.batches = waiting;
  const request = (seq) => new Promise((resolve) => {
    waiting.set(seq, resolve);
    post({ kind: 'pull', id, seq });
  });
  const iterable = {
    async* [Symbol.asyncIterator]() {
      let next = request(0);
      for (let seq = 0; ; seq++) {
        const msg = await next;
        if (msg.error) throw fromErrorRecord(msg.error);
        if (msg.done) return;
        next = request(seq + 1);
        yield feedsFromRecord(msg.value);
      }
    },
  };
  if (length !== undefined) iterable.length = length;
  return iterable;
}

/** Fills in the caller's callbacks: onProgress posts, signal follows the caller's aborts. */
function withCallbacks(id, options) {
  const o = { ...options };
  if (o.onProgress) o.onProgress = (value) => post({ kind: 'progress', id, value });
  else delete o.onProgress;
  if (o.signal) o.signal = calls.get(id).controller.signal;
  else delete o.signal;
  return o;
}

const sessionView = (s, handle) => ({ handle, inputNames: [...s.inputNames], outputNames: [...s.outputNames], wasmFlavour: s.wasmFlavour, engine: s.engine });

const methods = {
  async loadModel(id, source, options) {
    const model = await loadModel(source, withCallbacks(id, options));
    return { handle: keep(model), info: model.info() };
  },
  modelToBytes(id, handle) {
    return lookup(handle, Model, 'toBytes()').toBytes();
  },
  releaseModel(id, handle) {
    objects.get(handle)?.release();
    objects.delete(handle);
  },
  async inspect(id, source, options) {
    const m = modelArg(source);
    if (m instanceof Model) return m.info();
    const model = await loadModel(m, withCallbacks(id, options));
    try {
      return model.info();
    } finally {
      model.release();
    }
  },
  async quantize(id, model, options) {
    const o = withCallbacks(id, options);
    if (options.calibration?.$calibration) o.calibration = pulledBatches(id, options.calibration.length);
    return quantize(modelArg(model), o);
  },
  async createSession(id, model, options) {
    const s = await InferenceSession.create(modelArg(model), options);
    return sessionView(s, keep(s));
  },
  async run(id, handle, feeds) {
    const outputs = await lookup(handle, InferenceSession, 'run()').run(feedsFromRecord(feeds));
    const out = {};
    for (const [name, t] of Object.entries(outputs)) out[name] = tensorRecord(t);
    return out;
  },
  sessionInfo(id, handle) {
    return lookup(handle, InferenceSession, 'info()').info();
  },
  sessionStats(id, handle) {
    return lookup(handle, InferenceSession, 'stats()').stats();
  },
  sessionProfile(id, handle, feeds) {
    return lookup(handle, InferenceSession, 'profile()').profile(feedsFromRecord(feeds));
  },
  async releaseSession(id, handle) {
    const s = objects.get(handle);
    objects.delete(handle);
    await s?.release();
  },
  supportedOps() {
    return supportedOps();
  },
  wasmMemory() {
    return wasmMemory();
  },
};

let chain = Promise.resolve();

async function call({ id, method, args }) {
  const controller = new AbortController();
  calls.set(id, { controller, batches: null });
  if (abortedEarly.delete(id)) controller.abort(new WebptqError('CANCELLED', 'aborted'));
  try {
    const fn = methods[method];
    if (!fn) throw new WebptqError('INTERNAL', `the worker has no method '${method}'`);
    const value = await fn(id, ...args);
    post({ kind: 'result', id, value }, [...transferables(value)]);
  } catch (e) {
    post({ kind: 'error', id, error: errorRecord(e) });
  } finally {
    calls.delete(id);
  }
}

onMessage(async (msg) => {
  switch (msg?.kind) {
    case 'init':
      try {
        const { flavour } = await loadWasm({ flavour: msg.flavour });
        post({ kind: 'ready', flavour });
      } catch (e) {
        post({ kind: 'failed', error: errorRecord(e) });
      }
      break;
    case 'call':
      chain = chain.then(() => call(msg));
      break;
    case 'abort': {
      const c = calls.get(msg.id);
      if (!c) abortedEarly.add(msg.id);
      c?.controller.abort(new WebptqError('CANCELLED', msg.reason ?? 'aborted'));
      // A pending pull would wait forever: end it.
      for (const resolve of c?.batches?.values() ?? []) resolve({ error: { code: 'CANCELLED', message: 'quantization was cancelled' } });
      break;
    }
    case 'batch': {
      const c = calls.get(msg.id);
      const resolve = c?.batches?.get(msg.seq);
      if (resolve) {
        c.batches.delete(msg.seq);
        resolve(msg);
      }
      break;
    }
    default:
      break;
  }
});
