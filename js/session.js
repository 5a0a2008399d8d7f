// InferenceSession: a model prepared to run in the wasm core, with onnxruntime-web's shape
// (create → run(feeds) → release). Wasm memory is freed by release() or `using`; a
// FinalizationRegistry frees a forgotten session only as a safety net. All calls on one session
// run in order on one promise chain, so release() waits for a run in flight.
import { WebptqError, fromWasm } from './errors.js';
import { loadWasm } from './loader.js';
import { Tensor, toWire, fromWire } from './tensor.js';
import { asBytes, externalData } from './bytes.js';

const DISPOSE = Symbol.dispose ?? Symbol('dispose');
const ASYNC_DISPOSE = Symbol.asyncDispose ?? Symbol('asyncDispose');

const leaks = typeof FinalizationRegistry === 'function'
  ? new FinalizationRegistry((wasmSession) => { try { wasmSession.free(); } catch { /* already freed */ } })
  : null;

export function feedRecord(name, value) {
  let t = value;
  if (!(t instanceof Tensor)) {
    if (t === null || typeof t !== 'object' || !('data' in t) || !('dims' in t) || typeof t.type !== 'string') {
      throw new WebptqError('INVALID_FEED', `invalid feed '${name}': expected a Tensor, got ${t === null ? 'null' : (t?.constructor?.name ?? typeof t)}`);
    }
    try {
      t = new Tensor(t.type, t.data, t.dims); // e.g. an onnxruntime-web Tensor
    } catch (e) {
      throw new WebptqError('INVALID_FEED', `invalid feed '${name}': ${e.message}`, { cause: e });
    }
  }
  return toWire(name, t);
}

export class InferenceSession {
  #wasm;
  #chain = Promise.resolve();
  #released = false;
  #pending = 0;

  /** @private use InferenceSession.create */
  constructor(wasmSession, flavour) {
    if (!wasmSession) throw new WebptqError('INVALID_ARGUMENT', 'use InferenceSession.create(bytes) to make a session');
    this.#wasm = wasmSession;
    /** Names of the model's inputs, in order. */
    this.inputNames = Object.freeze(wasmSession.inputNames());
    /** Names of the model's outputs, in order. */
    this.outputNames = Object.freeze(wasmSession.outputNames());
    /** The wasm build running this session: 'relaxed' or 'simd128'. */
    this.wasmFlavour = flavour;
    leaks?.register(this, wasmSession, this);
  }

  /**
   * Parses and prepares a model.
   * @param {Uint8Array | ArrayBuffer} bytes the .onnx file
   * @param {{ optimize?: boolean, externalData?: Record<string, Uint8Array | ArrayBuffer>, wasmFlavour?: string }} [options]
   */
  static async create(bytes, options = {}) {
    if (options === null || typeof options !== 'object') {
      throw new WebptqError('INVALID_ARGUMENT', 'options must be an object');
    }
    const model = asBytes(bytes, 'the model');
    const optimize = options.optimize ?? true;
    if (typeof optimize !== 'boolean') throw new WebptqError('INVALID_ARGUMENT', 'options.optimize must be a boolean');
    const external = externalData(options.externalData);
    const { bindings, flavour } = await loadWasm({ flavour: options.wasmFlavour });
    let ws;
    try {
      ws = new bindings.WasmSession(model, external, optimize);
    } catch (e) {
      throw fromWasm(e);
    }
    return new InferenceSession(ws, flavour);
  }

  #enqueue(fn) {
    this.#pending += 1;
    const result = this.#chain.then(fn).finally(() => {
      this.#pending -= 1;
    });
    this.#chain = result.catch(() => {});
    return result;
  }

  /**
   * Runs the model.
   * @param {Record<string, Tensor>} feeds one Tensor per model input, by name
   * @returns {Promise<Record<string, Tensor>>} one Tensor per model output, by name
   */
  run(feeds) {
    return this.#enqueue(() => {
      if (this.#released) throw new WebptqError('RELEASED', 'run() was called on a released session');
      if (feeds === null || typeof feeds !== 'object' || Array.isArray(feeds) || feeds instanceof Tensor) {
        throw new WebptqError('INVALID_FEED', 'feeds must be an object mapping input names to Tensors');
      }
      const records = Object.entries(feeds).map(([name, value]) => feedRecord(name, value));
      let outputs;
      try {
        outputs = this.#wasm.run(records);
      } catch (e) {
        throw fromWasm(e);
      }
      const result = {};
      for (const o of outputs) result[o.name] = fromWire(o);
      return result;
    });
  }

  /** The model summary (like inspect()) of the model this session runs, after optimization. */
  info() {
    return this.#enqueue(() => {
      if (this.#released) throw new WebptqError('RELEASED', 'info() was called on a released session');
      try {
        return this.#wasm.info();
      } catch (e) {
        throw fromWasm(e);
      }
    });
  }

  /**
   * Run statistics: `peakActivationBytes`, the most memory one run has held in activations so
   * far (0 before the first run), and `fusedGroups`, the QDQ groups running as integer ops.
   */
  stats() {
    return this.#enqueue(() => {
      if (this.#released) throw new WebptqError('RELEASED', 'stats() was called on a released session');
      return this.#wasm.stats();
    });
  }

  /** Frees the session's wasm memory. Safe to call twice; later run() calls reject with RELEASED. */
  release() {
    return this.#enqueue(() => this.#free());
  }

  /** Whether release() has run. */
  get released() {
    return this.#released;
  }

  /**
   * `using session = await InferenceSession.create(...)` frees the wasm memory at the end of the
   * scope: at once if no call is queued, else once the queued calls have run. (Engines without
   * Symbol.dispose get a private symbol here, so nothing breaks.)
   */
  [DISPOSE]() {
    if (this.#pending === 0) this.#free();
    else void this.release();
  }

  /** `await using session = ...`: the same as release(). */
  [ASYNC_DISPOSE]() {
    return this.release();
  }

  #free() {
    if (this.#released) return;
    this.#released = true;
    leaks?.unregister(this);
    this.#wasm.free();
    this.#wasm = null;
  }
}
