// InferenceSession: a model prepared to run in the wasm core, with onnxruntime-web's shape
// (create → run(feeds) → release). Wasm memory is freed by release() or `using`; a
// FinalizationRegistry frees a forgotten session only as a safety net. All calls on one session
// run in order on one promise chain, so release() waits for a run in flight.
//
// Engines: 'auto' runs the model as it is (a quantized model takes its integer path: QOperator
// ops directly, QDQ patterns through the runtime's fusion when `optimize` is on); 'float' runs a
// QDQ graph literally, Q and DQ nodes as written around float ops (no fusion; QOperator ops have
// no float form and run as they are); 'int8' is 'auto' that refuses a model with no quantized op.
import { WebptqError, fromWasm } from './errors.js';
import { loadWasm } from './loader.js';
import { Tensor, toWire, fromWire } from './tensor.js';
import { asBytes, externalData } from './bytes.js';
import { Model, WASM, loadModel } from './model.js';
import { isSource } from './source.js';
import { DISPOSE, ASYNC_DISPOSE, guard, unguard } from './lifetime.js';

export const ENGINES = Object.freeze(['auto', 'float', 'int8']);

/** Ops whose presence makes a model "quantized" for engine 'int8'. */
const QUANTIZED_OP = /^(?:com\.microsoft\.)?(?:QuantizeLinear|DequantizeLinear|DynamicQuantizeLinear|QLinear\w+|MatMulInteger|ConvInteger|MatMulNBits|QGemm|DynamicQuantizeMatMul)$/;

/** Whether a model summary (inspect()) shows quantized ops. */
export function isQuantized(info) {
  return Object.keys(info.opCounts).some((op) => QUANTIZED_OP.test(op));
}

const SESSION_OPTIONS = new Set(['optimize', 'engine', 'externalData', 'wasmFlavour']);

function sessionOptions(options) {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new WebptqError('INVALID_OPTIONS', 'options must be an object');
  }
  for (const k of Object.keys(options)) {
    if (!SESSION_OPTIONS.has(k)) throw new WebptqError('INVALID_OPTIONS', `unknown option '${k}' (InferenceSession.create takes: ${[...SESSION_OPTIONS].join(', ')})`);
  }
  const optimize = options.optimize ?? true;
  if (typeof optimize !== 'boolean') throw new WebptqError('INVALID_OPTIONS', `options.optimize must be a boolean, got ${typeof optimize}`);
  const engine = options.engine ?? 'auto';
  if (!ENGINES.includes(engine)) throw new WebptqError('INVALID_OPTIONS', `options.engine must be one of ${ENGINES.join(', ')}; got '${engine}'`);
  return { optimize, engine };
}

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
  constructor(wasmSession, flavour, engine = 'auto') {
    if (!wasmSession) throw new WebptqError('INVALID_ARGUMENT', 'use InferenceSession.create(bytes) to make a session');
    this.#wasm = wasmSession;
    /** Names of the model's inputs, in order. */
    this.inputNames = Object.freeze(wasmSession.inputNames());
    /** Names of the model's outputs, in order. */
    this.outputNames = Object.freeze(wasmSession.outputNames());
    /** The wasm build running this session: 'relaxed' or 'simd128'. */
    this.wasmFlavour = flavour;
    /** The engine asked for at create(): 'auto', 'float' or 'int8'. */
    this.engine = engine;
    guard(this, wasmSession);
  }

  /**
   * Prepares a model to run.
   * @param {Model | Uint8Array | ArrayBuffer | string | URL | Request | Blob} model a loaded Model
   *   (it stays usable; the session takes a copy) or anything loadModel() reads
   * @param {{ optimize?: boolean, engine?: 'auto' | 'float' | 'int8', externalData?: Record<string, unknown>, wasmFlavour?: string }} [options]
   */
  static async create(model, options = {}) {
    const opts = sessionOptions(options);
    if (!(model instanceof Model) && !isSource(model)) {
      const got = model === null ? 'null' : (model?.constructor?.name ?? typeof model);
      throw new WebptqError('INVALID_ARGUMENT', `the model must be a Model, a Uint8Array or an ArrayBuffer, a URL, a Request or a Blob; got ${got}`);
    }
    const { bindings, flavour } = await loadWasm({ flavour: options.wasmFlavour });
    let ws;
    try {
      if (model instanceof Model) {
        if (options.externalData !== undefined) throw new WebptqError('INVALID_OPTIONS', 'options.externalData is for model bytes; a loaded Model already holds its data');
        ws = bindings.WasmSession.fromModel(model[WASM]('InferenceSession.create'), opts);
      } else if (model instanceof ArrayBuffer || ArrayBuffer.isView(model)) {
        ws = new bindings.WasmSession(asBytes(model, 'the model'), externalData(options.externalData), opts);
      } else {
        const loaded = await loadModel(model, { externalData: options.externalData, wasmFlavour: options.wasmFlavour });
        try {
          ws = bindings.WasmSession.fromModel(loaded[WASM]('InferenceSession.create'), opts);
        } finally {
          loaded.release();
        }
      }
    } catch (e) {
      throw fromWasm(e);
    }
    if (opts.engine === 'int8') {
      let info;
      try {
        info = ws.info();
      } catch (e) {
        ws.free();
        throw fromWasm(e);
      }
      if (!isQuantized(info)) {
        ws.free();
        throw new WebptqError('INVALID_OPTIONS',
          "engine 'int8' needs a quantized model (QuantizeLinear/DequantizeLinear, QLinear* or integer MatMul/Conv ops), and this one has none: quantize it first (quantize()), or use engine 'auto' or 'float'");
      }
    }
    return new InferenceSession(ws, flavour, opts.engine);
  }

  #enqueue(fn) {
    this.#pending += 1;
    const result = this.#chain.then(fn).finally(() => {
      this.#pending -= 1;
    });
    this.#chain = result.catch(() => {});
    return result;
  }

  /** The wasm records of `feeds` for `method`, after checking the session and the feeds' shape. */
  #feedRecords(method, feeds) {
    if (this.#released) throw new WebptqError('RELEASED', `${method}() was called on a released session`);
    if (feeds === null || typeof feeds !== 'object' || Array.isArray(feeds) || feeds instanceof Tensor) {
      throw new WebptqError('INVALID_FEED', 'feeds must be an object mapping input names to Tensors');
    }
    return Object.entries(feeds).map(([name, value]) => feedRecord(name, value));
  }

  /**
   * Runs the model.
   * @param {Record<string, Tensor>} feeds one Tensor per model input, by name
   * @returns {Promise<Record<string, Tensor>>} one Tensor per model output, by name
   */
  run(feeds) {
    return this.#enqueue(() => {
      const records = this.#feedRecords('run', feeds);
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

  /**
   * Runs the model once and times each node: `[{ index, name, opType, ms }]` in the order the
   * nodes ran (the session's optimized graph, so fused QDQ groups appear as their integer ops).
   * Each time runs from the previous node's end to this node's end. For finding hot spots; use
   * run() (or `webptq bench`) for latency.
   * @param {Record<string, Tensor>} feeds as for run()
   */
  profile(feeds) {
    return this.#enqueue(() => {
      const records = this.#feedRecords('profile', feeds);
      try {
        return this.#wasm.profile(records);
      } catch (e) {
        throw fromWasm(e);
      }
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
   * Symbol.dispose get Symbol.for('nodejs.dispose'), the symbol Node's own polyfill uses.)
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
    unguard(this);
    this.#wasm.free();
    this.#wasm = null;
  }
}
