// createWorker(): the same API (loadModel, inspect, quantize, InferenceSession) run in a Web
// Worker in browsers or a worker_threads Worker in Node, so a page stays responsive while a
// model quantizes. The worker has its own wasm instance and runs calls one after another; models
// and sessions live there and are reached through small proxies here (WorkerModel,
// WorkerSession). Buffers the worker makes (outputs, quantized bytes) are transferred, not
// copied; buffers the caller hands in are copied unless createWorker({ transferInputs: true }).
// onProgress calls and AbortSignals are forwarded; calibration batches are pulled from the
// caller's iterable one at a time (one prefetched). Messages: js/protocol.js.
import { WebptqError } from './errors.js';
import { Tensor } from './tensor.js';
import { Model } from './model.js';
import { imageToTensor } from './image.js';
import { readSource, isNode, cancelled, checkProgressAndSignal } from './source.js';
import { DISPOSE, ASYNC_DISPOSE } from './lifetime.js';
import {
  feedsRecord, fromTensorRecord, fromErrorRecord, transferables,
} from './protocol.js';

const HOST_URL = new URL('./worker-host.js', import.meta.url);

/** Wraps a browser Worker or a Node Worker in one small interface. */
async function spawn() {
  if (isNode) {
    const { Worker } = await import('node:worker_threads');
    // V8 flags (e.g. --experimental-wasm-relaxed-simd) are process-wide; other flags stay out.
    const w = new Worker(HOST_URL, { execArgv: [], name: 'webptq' });
    w.unref();
    return {
      post: (msg, transfer) => w.postMessage(msg, transfer),
      listen: (onMessage, onFailure) => {
        w.on('message', onMessage);
        w.on('error', (e) => onFailure(`the worker crashed: ${e?.message ?? e}`));
        w.on('exit', (code) => onFailure(`the worker exited (code ${code})`));
      },
      busy: (yes) => (yes ? w.ref() : w.unref()),
      terminate: () => w.terminate(),
    };
  }
  if (typeof Worker !== 'function') throw new WebptqError('UNSUPPORTED_PLATFORM', 'this environment has no Web Workers');
  const w = new Worker(HOST_URL, { type: 'module', name: 'webptq' });
  return {
    post: (msg, transfer) => w.postMessage(msg, transfer),
    listen: (onMessage, onFailure) => {
      w.addEventListener('message', (ev) => onMessage(ev.data));
      w.addEventListener('error', (ev) => {
        ev.preventDefault?.();
        onFailure(`the worker failed: ${ev.message || 'could not load js/worker-host.js'}`);
      });
      w.addEventListener('messageerror', () => onFailure('a message from the worker could not be read'));
    },
    busy: () => {},
    terminate: () => w.terminate(),
  };
}

const isBytes = (x) => x instanceof ArrayBuffer || ArrayBuffer.isView(x);

/**
 * Starts a worker with its own wasm core; resolves once the core has loaded in it.
 * @param {{ wasmFlavour?: 'relaxed' | 'simd128' | 'auto', transferInputs?: boolean }} [options]
 * @returns {Promise<WebptqWorker>}
 */
export async function createWorker(options = {}) {
  if (options === null || typeof options !== 'object') throw new WebptqError('INVALID_OPTIONS', 'options must be an object');
  for (const k of Object.keys(options)) {
    if (k !== 'wasmFlavour' && k !== 'transferInputs') throw new WebptqError('INVALID_OPTIONS', `unknown option '${k}' (createWorker takes: wasmFlavour, transferInputs)`);
  }
  const w = new WebptqWorker(await spawn(), options.transferInputs === true);
  await w.ready(options.wasmFlavour);
  return w;
}

export class WebptqWorker {
  #port;
  #transferInputs;
  #calls = new Map(); // id → { resolve, reject, settled, onProgress, iterator, late }
  #nextId = 1;
  #failure = null;
  #readyWaiter = null;
  #pending = 0;
  #leaks;

  /** @private use createWorker() */
  constructor(port, transferInputs) {
    this.#port = port;
    this.#transferInputs = transferInputs;
    /** The wasm build loaded in the worker. */
    this.wasmFlavour = null;
    port.listen((msg) => this.#receive(msg), (why) => this.#fail(why));
    // A proxy dropped without release(): release its object in the worker (a safety net only).
    this.#leaks = typeof FinalizationRegistry === 'function'
      ? new FinalizationRegistry(({ method, handle }) => {
        if (!this.#failure) this.#call(method, [handle]).catch(() => {});
      })
      : null;
    const session = (model, opts) => this.#createSession(model, opts);
    /** InferenceSession.create(model, options), run in the worker. */
    this.InferenceSession = Object.freeze({ create: session });
    /** The Tensor class (the same as the package's). */
    this.Tensor = Tensor;
    /** imageToTensor runs here, in the caller's thread (decoding is the browser's or cheap). */
    this.imageToTensor = imageToTensor;
  }

  /** @private */
  ready(flavour) {
    return new Promise((resolve, reject) => {
      this.#readyWaiter = { resolve, reject };
      this.#port.busy(true);
      this.#port.post({ kind: 'init', flavour }, []);
    }).finally(() => this.#port.busy(this.#pending > 0));
  }

  #fail(why) {
    if (this.#failure) return;
    this.#failure = new WebptqError('WORKER_ERROR', why);
    this.#readyWaiter?.reject(this.#failure);
    for (const c of this.#calls.values()) if (!c.settled) c.reject(this.#failure);
    this.#calls.clear();
  }

  #receive(msg) {
    if (msg.kind === 'ready' || msg.kind === 'failed') {
      const waiter = this.#readyWaiter;
      this.#readyWaiter = null;
      if (msg.kind === 'ready') {
        this.wasmFlavour = msg.flavour;
        waiter?.resolve();
      } else {
        waiter?.reject(fromErrorRecord(msg.error));
        this.terminate();
      }
      return;
    }
    const c = this.#calls.get(msg.id);
    if (!c) return;
    if (msg.kind === 'progress') {
      if (!c.settled && c.onProgress) {
        try {
          c.onProgress(msg.value);
        } catch (e) {
          // As in the main thread: a throw from onProgress stops the call and is re-raised.
          this.#port.post({ kind: 'abort', id: msg.id, reason: 'onProgress threw' }, []);
          c.settle();
          c.reject(e);
        }
      }
    } else if (msg.kind === 'pull') {
      void this.#serveBatch(msg.id, c, msg.seq);
    } else if (msg.kind === 'result' || msg.kind === 'error') {
      this.#calls.delete(msg.id);
      if (c.settled) {
        if (msg.kind === 'result') c.late?.(msg.value);
      } else {
        c.settle();
        if (msg.kind === 'result') c.resolve(msg.value);
        else c.reject(c.userError ?? fromErrorRecord(msg.error));
      }
    }
  }

  async #serveBatch(id, c, seq) {
    let reply;
    try {
      const r = await c.iterator.next();
      reply = r.done ? { kind: 'batch', id, seq, done: true } : { kind: 'batch', id, seq, done: false, value: feedsRecord(r.value) };
    } catch (e) {
      c.userError = e;
      reply = { kind: 'batch', id, seq, error: { code: 'INTERNAL', message: `the calibration iterable threw: ${e?.message ?? e}` } };
    }
    if (c.settled && !this.#calls.has(id)) return;
    const transfer = this.#transferInputs && reply.value ? [...transferables(reply.value)] : [];
    this.#port.post(reply, transfer);
  }

  /**
   * Posts a call; resolves with its result. `extra`: { onProgress, signal, iterator, late, transfer }.
   */
  #call(method, args, extra = {}) {
    if (this.#failure) return Promise.reject(this.#failure);
    const { signal } = extra;
    if (signal?.aborted) return Promise.reject(cancelled(signal, method));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      let onAbort = null;
      const c = {
        resolve, reject, settled: false, onProgress: extra.onProgress, iterator: extra.iterator, late: extra.late, userError: null,
        settle: () => {
          c.settled = true;
          if (onAbort) signal.removeEventListener('abort', onAbort);
          this.#pending -= 1;
          if (this.#pending === 0) this.#port.busy(false);
        },
      };
      if (signal) {
        onAbort = () => {
          if (c.settled) return;
          this.#port.post({ kind: 'abort', id, reason: signal.reason?.message }, []);
          c.settle();
          reject(cancelled(signal, method === 'quantize' ? 'quantization' : method));
        };
        signal.addEventListener('abort', onAbort, { once: true });
      }
      this.#calls.set(id, c);
      if (this.#pending++ === 0) this.#port.busy(true);
      const transfer = [...(extra.transfer ?? [])];
      try {
        this.#port.post({ kind: 'call', id, method, args }, transfer);
      } catch (e) {
        this.#calls.delete(id);
        c.settle();
        reject(new WebptqError('INVALID_ARGUMENT', `cannot send the arguments of ${method}() to the worker: ${e?.message ?? e}`, { cause: e }));
      }
    });
  }

  /** A model argument as the worker takes it, and the buffers to transfer with it. */
  async #modelArg(model, what, opts = {}) {
    if (model instanceof WorkerModel) return { arg: { $model: model._handle(this, what) }, transfer: [] };
    if (model instanceof Model) {
      const bytes = model.toBytes(); // made here for the worker: transfer it
      return { arg: bytes, transfer: [bytes.buffer] };
    }
    if (typeof Request === 'function' && model instanceof Request) {
      const { bytes } = await readSource(model, { onProgress: opts.onProgress, signal: opts.signal, what: 'the model' });
      return { arg: bytes, transfer: [bytes.buffer] };
    }
    if (typeof model === 'string' && !isNode && typeof location === 'object') {
      return { arg: new URL(model, typeof document === 'object' ? document.baseURI : location.href).href, transfer: [] };
    }
    if (model instanceof URL) return { arg: model.href, transfer: [] };
    if (isBytes(model) && this.#transferInputs) return { arg: model, transfer: [...transferables(model)] };
    return { arg: model, transfer: [] };
  }

  /** Options without the callbacks (those cannot cross), flagged so the worker re-creates them. */
  static #plain(options, keys) {
    const o = { ...options };
    for (const k of keys) if (o[k] !== undefined) o[k] = true;
    return o;
  }

  /** loadModel(source, options) in the worker; resolves to a WorkerModel. */
  async loadModel(source, options = {}) {
    if (options === null || typeof options !== 'object') throw new WebptqError('INVALID_OPTIONS', 'options must be an object');
    checkProgressAndSignal(options);
    const { arg, transfer } = await this.#modelArg(source, 'loadModel', options);
    const externalData = options.externalData ? await this.#externalArgs(options.externalData, transfer) : undefined;
    const plain = WebptqWorker.#plain({ ...options, externalData }, ['onProgress', 'signal']);
    if (plain.externalData === undefined) delete plain.externalData;
    const { handle, info } = await this.#call('loadModel', [arg, plain], {
      onProgress: options.onProgress,
      signal: options.signal,
      transfer,
      late: (v) => this.#call('releaseModel', [v.handle]).catch(() => {}),
    });
    const m = new WorkerModel(this, handle, info);
    this.#leaks?.register(m, { method: 'releaseModel', handle }, m);
    return m;
  }

  async #externalArgs(ext, transfer) {
    if (typeof ext !== 'object' || Array.isArray(ext)) return ext; // the worker reports it
    const out = {};
    for (const [name, v] of Object.entries(ext)) {
      const { arg, transfer: t } = await this.#modelArg(v, 'loadModel');
      out[name] = arg;
      transfer.push(...t);
    }
    return out;
  }

  /** inspect(source, options) in the worker. */
  async inspect(source, options = {}) {
    checkProgressAndSignal(options);
    const { arg, transfer } = await this.#modelArg(source, 'inspect', options);
    return this.#call('inspect', [arg, WebptqWorker.#plain(options, ['onProgress', 'signal'])], { onProgress: options.onProgress, signal: options.signal, transfer });
  }

  /** quantize(model, options) in the worker; calibration batches are pulled from the caller's iterable. */
  async quantize(model, options = {}) {
    if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new WebptqError('INVALID_OPTIONS', 'options must be an object');
    checkProgressAndSignal(options);
    const { arg, transfer } = await this.#modelArg(model, 'quantize', options);
    const plain = WebptqWorker.#plain(options, ['onProgress', 'signal']);
    const cal = options.calibration;
    let iterator;
    if (cal != null && (typeof cal[Symbol.asyncIterator] === 'function' || typeof cal[Symbol.iterator] === 'function')) {
      iterator = typeof cal[Symbol.asyncIterator] === 'function' ? cal[Symbol.asyncIterator]() : cal[Symbol.iterator]();
      const n = cal.length;
      plain.calibration = { $calibration: true, length: Number.isSafeInteger(n) && n >= 0 ? n : undefined };
    }
    return this.#call('quantize', [arg, plain], { onProgress: options.onProgress, signal: options.signal, iterator, transfer });
  }

  async #createSession(model, options = {}) {
    const { arg, transfer } = await this.#modelArg(model, 'InferenceSession.create');
    let plain = options;
    if (options?.externalData) plain = { ...options, externalData: await this.#externalArgs(options.externalData, transfer) };
    const view = await this.#call('createSession', [arg, plain], { transfer });
    const s = new WorkerSession(this, view);
    this.#leaks?.register(s, { method: 'releaseSession', handle: view.handle }, s);
    return s;
  }

  /** @private used by the proxies */
  _call(method, args, extra) {
    return this.#call(method, args, extra);
  }

  /** @private */
  _unregister(proxy) {
    this.#leaks?.unregister(proxy);
  }

  /** @private */
  get _transferInputs() {
    return this.#transferInputs;
  }

  /** The ops the worker's build can run. */
  supportedOps() {
    return this.#call('supportedOps', []);
  }

  /** wasmMemory() of the worker's wasm instance. */
  wasmMemory() {
    return this.#call('wasmMemory', []);
  }

  /** Stops the worker at once; pending calls reject with WORKER_ERROR. Safe to call twice. */
  terminate() {
    if (!this.#failure) this.#fail('the worker was terminated');
    this.#port.busy(false);
    return Promise.resolve(this.#port.terminate()).then(() => {});
  }

  [DISPOSE]() {
    void this.terminate();
  }

  [ASYNC_DISPOSE]() {
    return this.terminate();
  }
}

/** A model kept in the worker. info() is known from the load; toBytes() is asynchronous here. */
export class WorkerModel {
  #worker;
  #handle;
  #info;

  /** @private */
  constructor(worker, handle, info) {
    this.#worker = worker;
    this.#handle = handle;
    this.#info = info;
  }

  /** @private */
  _handle(worker, what) {
    if (worker !== this.#worker) throw new WebptqError('INVALID_ARGUMENT', `${what}: this model belongs to another worker`);
    if (this.#handle === null) throw new WebptqError('RELEASED', `${what}() was called on a released model`);
    return this.#handle;
  }

  /** The model summary (inputs, outputs, op counts, parameter bytes, unsupported ops). */
  info() {
    if (this.#handle === null) throw new WebptqError('RELEASED', 'info() was called on a released model');
    return this.#info;
  }

  /** The model as ONNX bytes (transferred from the worker). */
  toBytes() {
    try {
      return this.#worker._call('modelToBytes', [this._handle(this.#worker, 'toBytes')]);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  get released() {
    return this.#handle === null;
  }

  /** Frees the model in the worker. Safe to call twice. */
  release() {
    if (this.#handle === null) return Promise.resolve();
    const h = this.#handle;
    this.#handle = null;
    this.#worker._unregister(this);
    return this.#worker._call('releaseModel', [h]).catch(() => {});
  }

  [DISPOSE]() {
    void this.release();
  }

  [ASYNC_DISPOSE]() {
    return this.release();
  }
}

/** A session kept in the worker, shaped like InferenceSession. */
export class WorkerSession {
  #worker;
  #handle;

  /** @private */
  constructor(worker, view) {
    this.#worker = worker;
    this.#handle = view.handle;
    this.inputNames = Object.freeze(view.inputNames);
    this.outputNames = Object.freeze(view.outputNames);
    this.wasmFlavour = view.wasmFlavour;
    this.engine = view.engine;
  }

  get released() {
    return this.#handle === null;
  }

  #live(what) {
    if (this.#handle === null) throw new WebptqError('RELEASED', `${what}() was called on a released session`);
    return this.#handle;
  }

  /** Runs the model in the worker; the outputs' buffers are transferred back. */
  async run(feeds) {
    const handle = this.#live('run');
    const rec = feedsRecord(feeds);
    const transfer = this.#worker._transferInputs ? [...transferables(rec)] : [];
    const out = await this.#worker._call('run', [handle, rec], { transfer });
    const result = {};
    for (const [name, r] of Object.entries(out)) result[name] = fromTensorRecord(r, name);
    return result;
  }

  async info() {
    return this.#worker._call('sessionInfo', [this.#live('info')]);
  }

  async stats() {
    return this.#worker._call('sessionStats', [this.#live('stats')]);
  }

  /** Times each node in the worker (see InferenceSession.profile). */
  async profile(feeds) {
    const handle = this.#live('profile');
    return this.#worker._call('sessionProfile', [handle, feedsRecord(feeds)]);
  }

  /** Frees the session in the worker once the calls queued before it have run. Safe to call twice. */
  release() {
    if (this.#handle === null) return Promise.resolve();
    const h = this.#handle;
    this.#handle = null;
    this.#worker._unregister(this);
    return this.#worker._call('releaseSession', [h]).then(() => {}, () => {});
  }

  [DISPOSE]() {
    void this.release();
  }

  [ASYNC_DISPOSE]() {
    return this.release();
  }
}
