// Model: a parsed ONNX model in the wasm core, to inspect and to save back to bytes. inspect() is
// the one-call form (parse, summarize, free). Quantization will hang off Model later.
import { WebptqError, fromWasm } from './errors.js';
import { loadWasm } from './loader.js';
import { asBytes, externalData } from './bytes.js';

const DISPOSE = Symbol.dispose ?? Symbol('dispose');

const leaks = typeof FinalizationRegistry === 'function'
  ? new FinalizationRegistry((wasmModel) => { try { wasmModel.free(); } catch { /* already freed */ } })
  : null;

export class Model {
  #wasm;

  /** @private use Model.load */
  constructor(wasmModel) {
    if (!wasmModel) throw new WebptqError('INVALID_ARGUMENT', 'use Model.load(bytes) to make a model');
    this.#wasm = wasmModel;
    leaks?.register(this, wasmModel, this);
  }

  /**
   * Parses a model (without preparing it to run: unsupported ops are allowed here).
   * @param {Uint8Array | ArrayBuffer} bytes
   * @param {{ externalData?: Record<string, Uint8Array | ArrayBuffer>, wasmFlavour?: string }} [options]
   */
  static async load(bytes, options = {}) {
    const model = asBytes(bytes, 'the model');
    const external = externalData(options?.externalData);
    const { bindings } = await loadWasm({ flavour: options?.wasmFlavour });
    try {
      return new Model(new bindings.WasmModel(model, external));
    } catch (e) {
      throw fromWasm(e);
    }
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

  /** Frees the wasm memory. Safe to call twice. */
  release() {
    if (!this.#wasm) return;
    leaks?.unregister(this);
    this.#wasm.free();
    this.#wasm = null;
  }

  [DISPOSE]() {
    this.release();
  }
}

/**
 * Summarizes a model without keeping it: inputs and outputs (type, shape), opset(s), producer,
 * op counts, parameter count and bytes, and the ops this build cannot run.
 * @param {Uint8Array | ArrayBuffer} bytes
 * @param {{ externalData?: Record<string, Uint8Array | ArrayBuffer> }} [options]
 */
export async function inspect(bytes, options) {
  const model = await Model.load(bytes, options);
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
 * Groups the core's "Op (node 'name')" entries (info.unsupportedOps, or the list in an
 * UNSUPPORTED_OP message) by op: [{ op, count, nodes }], most frequent first. Not public API.
 * @param {string[] | string} entries
 */
export function groupUnsupported(entries) {
  const list = typeof entries === 'string'
    ? [...entries.matchAll(/([\w.:-]+) \(node '([^']*)'\)/g)].map((m) => m[0])
    : entries;
  const groups = new Map();
  for (const e of list) {
    const m = /^([\w.:-]+)(?: \(node '(.*)'\))?$/.exec(e);
    const op = m ? m[1] : e;
    const g = groups.get(op) ?? { op, count: 0, nodes: [] };
    g.count += 1;
    if (m && m[2] !== undefined) g.nodes.push(m[2]);
    groups.set(op, g);
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || a.op.localeCompare(b.op));
}

/** "Conv (52 nodes, e.g. 'stem'), Clip (1 node 'x')": a short form of groupUnsupported(). */
export function describeUnsupported(entries) {
  return groupUnsupported(entries).map((g) => {
    const first = g.nodes[0] !== undefined ? ` '${g.nodes[0]}'` : '';
    return g.count === 1 ? `${g.op} (node${first})` : `${g.op} (${g.count} nodes, e.g.${first})`;
  }).join(', ');
}
