// quantize(model, options): post-training int8 quantization in the wasm core. Calibration feeds
// stream from a (sync or async) iterable, one batch at a time, into a push-style quantizer
// (WasmQuantizer): each batch is observed and dropped in Rust, so memory does not grow with the
// number of batches (only the first few, up to 64 MiB, are kept to evaluate the result on).
import { WebptqError, fromWasm } from './errors.js';
import { loadWasm } from './loader.js';
import { externalData } from './bytes.js';
import { Model } from './model.js';
import { feedRecord } from './session.js';
import { readSource, cancelled as cancelledBy, checkProgressAndSignal } from './source.js';

/** Options handled here; every other key goes to the core's QuantOptions (unknown keys → INVALID_OPTIONS). */
const JS_ONLY = new Set(['calibration', 'onProgress', 'signal', 'method', 'percentile', 'symmetric', 'externalData', 'wasmFlavour']);

const invalid = (message) => new WebptqError('INVALID_OPTIONS', message);

/** The options object the core parses (QuantOptions, camelCase). */
export function coreOptions(options) {
  const core = {};
  for (const [k, v] of Object.entries(options)) if (!JS_ONLY.has(k) && v !== undefined) core[k] = v;
  if (options.method !== undefined || options.percentile !== undefined) {
    const method = options.method ?? (options.percentile !== undefined ? 'percentile' : 'minmax');
    if (typeof method !== 'string') throw invalid(`options.method must be a string, got ${typeof method}`);
    if (options.percentile !== undefined) {
      if (method !== 'percentile') throw invalid(`options.percentile applies to method 'percentile', not '${method}'`);
      if (typeof options.percentile !== 'number' || !(options.percentile > 0 && options.percentile <= 100)) {
        throw invalid(`options.percentile must be a number in (0, 100], got ${options.percentile}`);
      }
      core.calibration = { method: 'percentile', percentile: options.percentile };
    } else {
      core.calibration = method;
    }
  }
  if (options.symmetric !== undefined) core.symmetricActivations = options.symmetric;
  return core;
}

function isIterable(x) {
  return x != null && (typeof x[Symbol.iterator] === 'function' || typeof x[Symbol.asyncIterator] === 'function');
}

const cancelled = (signal) => cancelledBy(signal, 'quantization');

/** The number of batches, when the iterable tells it (an array, or anything with a `length`). */
function batchCount(calibration) {
  const n = calibration.length;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

const nextTurn = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * Quantizes a float ONNX model. See index.d.ts for every option.
 * @param {Model | Uint8Array | ArrayBuffer | string | URL | Request | Blob} model a Model, or anything loadModel() reads
 * @param {object} [options]
 * @returns {Promise<{ bytes: Uint8Array, report: object }>}
 */
export async function quantize(model, options = {}) {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw invalid('options must be an object');
  const { calibration, onProgress, signal } = options;
  checkProgressAndSignal(options);
  const mode = options.mode ?? 'static';
  if (calibration !== undefined && !isIterable(calibration)) {
    throw invalid('options.calibration must be an iterable or async iterable of feeds objects (input name → Tensor)');
  }
  if (mode === 'static' && calibration === undefined) {
    throw invalid("static quantization needs calibration data: pass options.calibration (an iterable of feeds), or choose mode 'dynamic', 'weight-only' or 'fp16'");
  }
  const core = coreOptions(options);
  const bytes = model instanceof Model ? model.toBytes() : (await readSource(model, { signal, what: 'the model' })).bytes;
  const external = externalData(options.externalData);
  const { bindings } = await loadWasm({ flavour: options.wasmFlavour });
  if (signal?.aborted) throw cancelled(signal);

  // The core calls progress() synchronously; a throw there stops the run (as CANCELLED). A
  // throw from the caller's onProgress is re-raised as itself.
  let userError = null;
  const progress = (p) => {
    if (signal?.aborted) throw new Error('aborted');
    if (onProgress) {
      try {
        onProgress({ stage: p.stage, done: p.done, total: p.total ?? null });
      } catch (e) {
        userError = { e };
        throw e;
      }
    }
  };
  const rethrow = (e) => {
    if (userError) throw userError.e;
    if (signal?.aborted) throw cancelled(signal);
    throw fromWasm(e);
  };

  let q;
  try {
    q = new bindings.WasmQuantizer(bytes, external, core, progress);
  } catch (e) {
    rethrow(e);
  }
  try {
    if (mode === 'static') {
      const total = batchCount(calibration);
      if (total !== undefined) q.setTotal(total);
      let index = 0;
      for await (const feeds of calibration) {
        if (signal?.aborted) throw cancelled(signal);
        if (feeds === null || typeof feeds !== 'object') {
          throw new WebptqError('INVALID_FEED', `calibration batch ${index}: expected a feeds object (input name → Tensor), got ${feeds === null ? 'null' : typeof feeds}`);
        }
        const wire = Object.entries(feeds).map(([name, t]) => feedRecord(name, t));
        try {
          q.addBatch(wire, progress);
        } catch (e) {
          rethrow(e);
        }
        index += 1;
        await nextTurn(); // let an abort (or the page) in between batches
        if (signal?.aborted) throw cancelled(signal);
      }
    }
    try {
      return q.finish(progress);
    } catch (e) {
      rethrow(e);
    }
  } finally {
    q.free();
  }
}
