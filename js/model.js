// Model: a parsed ONNX model in the wasm core, to inspect, quantize, run and save back to bytes.
// loadModel() reads it from wherever it is (URL, Request, File/Blob, bytes, a path in Node) with
// progress and cancellation; inspect() is the one-call form (parse, summarize, free).
import { WebptqError, fromWasm } from './errors.js';
import { loadWasm } from './loader.js';
import { asBytes } from './bytes.js';
import { readSource, checkSignal, checkProgressAndSignal, isSource } from './source.js';
import { DISPOSE, guard, unguard } from './lifetime.js';

/** The wasm object behind a Model, for the package's own modules (not exported by index.js). */
export const WASM = Symbol('webptq.wasmModel');

export class Model {
  #wasm;

  /** @private use loadModel() */
  constructor(wasmModel) {
    if (!wasmModel) throw new WebptqError('INVALID_ARGUMENT', 'use loadModel(source) to make a model');
    this.#wasm = wasmModel;
    guard(this, wasmModel);
  }

  /** The same as loadModel(source, options). */
  static load(source, options) {
    return loadModel(source, options);
  }

  #live(what) {
    if (!this.#wasm) throw new WebptqError('RELEASED', `${what}() was called on a released model`);
    return this.#wasm;
  }

  /** The model summary: inputs, outputs, opsets, op counts, parameter bytes, unsupported ops. */
  info() {
    const m = this.#live('info');
    try {
      return m.info();
    } catch (e) {
      throw fromWasm(e);
    }
  }

  /** The model serialized again as ONNX bytes. */
  toBytes() {
    const m = this.#live('toBytes');
    try {
      return m.toBytes();
    } catch (e) {
      throw fromWasm(e);
    }
  }

  /** The wasm object, for InferenceSession.create and quantize (internal). */
  [WASM](what) {
    return this.#live(what);
  }

  /** Whether release() has run. */
  get released() {
    return this.#wasm === null;
  }

  /** Frees the wasm memory. Safe to call twice. */
  release() {
    if (!this.#wasm) return;
    unguard(this);
    this.#wasm.free();
    this.#wasm = null;
  }

  [DISPOSE]() {
    this.release();
  }
}

const MODEL_OPTIONS = new Set(['onProgress', 'signal', 'externalData', 'wasmFlavour']);

/**
 * Reads and parses a model from a URL string or URL, a Request, a File or Blob, an ArrayBuffer or a
 * Uint8Array (or, in Node, a file path). `externalData` values may be bytes or any such source; a
 * relative URL or path there resolves against the model's own URL. From a local file, external
 * data files the model names and `externalData` does not give are read from the model's folder.
 * @param {unknown} source
 * @param {{ onProgress?: (p: { stage: string, done: number, total: number | null, file?: string }) => void,
 *   signal?: AbortSignal, externalData?: Record<string, unknown>, wasmFlavour?: string }} [options]
 * @returns {Promise<Model>}
 */
export async function loadModel(source, options = {}) {
  if (options === null || typeof options !== 'object') throw new WebptqError('INVALID_OPTIONS', 'options must be an object');
  for (const k of Object.keys(options)) {
    if (!MODEL_OPTIONS.has(k)) throw new WebptqError('INVALID_OPTIONS', `unknown option '${k}' (loadModel takes: ${[...MODEL_OPTIONS].join(', ')})`);
  }
  checkProgressAndSignal(options);
  const { onProgress, signal } = options;
  const ext = options.externalData;
  if (ext !== undefined && ext !== null && (typeof ext !== 'object' || Array.isArray(ext))) {
    throw new WebptqError('INVALID_ARGUMENT', 'options.externalData must be an object mapping file names to bytes, Blobs or URLs');
  }
  const wasm = loadWasm({ flavour: options.wasmFlavour }); // in parallel with the download
  wasm.catch(() => {});
  const { bytes, url, contentType } = await readSource(source, { onProgress, signal, what: 'the model' });
  const external = {};
  for (const [name, value] of Object.entries(ext ?? {})) {
    if (!isSource(value)) asBytes(value, `options.externalData['${name}']`); // throws INVALID_ARGUMENT
    const progress = onProgress && ((p) => onProgress({ ...p, file: name }));
    external[name] = (await readSource(value, { onProgress: progress, signal, what: `external data '${name}'`, base: url })).bytes;
  }
  checkSignal(signal, 'loading the model');
  const { bindings } = await wasm;
  if (url?.startsWith('file:')) await readSiblingFiles(bindings, bytes, url, external, { onProgress, signal });
  try {
    return new Model(new bindings.WasmModel(bytes, external));
  } catch (e) {
    const err = fromWasm(e);
    if (err.code === 'INVALID_MODEL' && /^text\/html/i.test(contentType)) {
      throw new WebptqError('INVALID_MODEL', `${err.message} (the server sent a web page, content-type ${contentType}, from ${url})`, { cause: e });
    }
    throw err;
  }
}

/**
 * A model read from a local file (Node) may keep its weights in external files next to it: reads
 * each location the model names that `external` does not already hold, relative to the model's
 * folder. A location that is absolute or leads out of that folder is refused (INVALID_MODEL): a
 * model file must not make the loader read arbitrary files.
 */
async function readSiblingFiles(bindings, bytes, url, external, { onProgress, signal }) {
  let locations;
  try {
    locations = bindings.externalDataLocations(bytes);
  } catch {
    return; // not a model: WasmModel reports it
  }
  const wanted = locations.filter((l) => !Object.hasOwn(external, l));
  if (wanted.length === 0) return;
  const path = await import('node:path');
  const { fileURLToPath, pathToFileURL } = await import('node:url');
  const dir = path.dirname(fileURLToPath(url));
  for (const location of wanted) {
    const file = path.resolve(dir, location);
    const rel = path.relative(dir, file);
    if (path.isAbsolute(location) || rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
      throw new WebptqError('INVALID_MODEL',
        `the model's weights name the external file '${location}', which is not inside the model's folder ${dir}; only files next to the model are read`);
    }
    const progress = onProgress && ((p) => onProgress({ ...p, file: location }));
    external[location] = (await readSource(pathToFileURL(file), { onProgress: progress, signal, what: `external data '${location}'` })).bytes;
  }
}

/**
 * Summarizes a model without keeping it: inputs and outputs (type, shape), opset(s), producer,
 * op counts, parameter count and bytes, and the ops this build cannot run.
 * @param {unknown} source what loadModel() takes, or a Model
 * @param {object} [options] loadModel()'s options
 */
export async function inspect(source, options) {
  const model = source instanceof Model ? null : await loadModel(source, options);
  if (!model) return source.info();
  try {
    return model.info();
  } finally {
    model.release();
  }
}

/** The ops this build can run, as "Op" or "domain.Op". */
export async function supportedOps() {
  const { bindings } = await loadWasm();
  return bindings.supportedOps();
}

/**
 * Groups unsupported nodes (`err.unsupported` of an UNSUPPORTED_OP error, or `info.unsupported`),
 * each `{ opType, domain, node }`, by op: [{ op, count, nodes }] with op "Op" or "domain.Op",
 * most frequent first. Not public API.
 * @param {{opType: string, domain?: string, node?: string}[]} entries
 */
export function groupUnsupported(entries) {
  const groups = new Map();
  for (const e of entries ?? []) {
    const op = e.domain ? `${e.domain}.${e.opType}` : e.opType;
    const g = groups.get(op) ?? { op, count: 0, nodes: [] };
    g.count += 1;
    if (e.node !== undefined && e.node !== '') g.nodes.push(e.node);
    groups.set(op, g);
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || a.op.localeCompare(b.op));
}

/** "Conv (52 nodes, e.g. 'stem'), Clip (node 'x')": a short form of groupUnsupported(). */
export function describeUnsupported(entries) {
  return groupUnsupported(entries).map((g) => {
    const first = g.nodes[0] !== undefined ? ` '${g.nodes[0]}'` : '';
    return g.count === 1 ? `${g.op} (node${first})` : `${g.op} (${g.count} nodes, e.g.${first})`;
  }).join(', ');
}
