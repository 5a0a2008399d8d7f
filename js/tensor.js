// Tensor: a typed array with a type name and dims, shaped like onnxruntime-web's Tensor so code
// moves between the two with few changes. Data stays in JS; it is copied into wasm memory only
// for the duration of a run.
import { WebptqError } from './errors.js';

/** Type name → the typed array that holds it. float16 is stored as raw bits in a Uint16Array. */
export const TENSOR_TYPES = Object.freeze({
  float32: Float32Array,
  float16: Uint16Array,
  float64: Float64Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
});

// Inference from a typed array, as onnxruntime-web does (Uint16Array means uint16, Uint8Array uint8).
const TYPE_OF_ARRAY = new Map([
  [Float32Array, 'float32'],
  [Float64Array, 'float64'],
  [Int8Array, 'int8'],
  [Uint8Array, 'uint8'],
  [Uint8ClampedArray, 'uint8'],
  [Int16Array, 'int16'],
  [Uint16Array, 'uint16'],
  [Int32Array, 'int32'],
  [Uint32Array, 'uint32'],
  [BigInt64Array, 'int64'],
  [BigUint64Array, 'uint64'],
]);

const fmtDims = (dims) => `[${dims.join(',')}]`;

function checkDims(dims) {
  if (!Array.isArray(dims)) {
    throw new WebptqError('INVALID_ARGUMENT', `tensor dims must be an array of non-negative integers, got ${typeof dims}`);
  }
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new WebptqError('INVALID_ARGUMENT', `tensor dims must be non-negative integers, got [${dims.map(String).join(',')}]`);
    }
  }
  return Object.freeze([...dims]);
}

function fromArray(type, values) {
  const Ctor = TENSOR_TYPES[type];
  if (type === 'bool') return Uint8Array.from(values, (v) => (v ? 1 : 0));
  if (Ctor === BigInt64Array || Ctor === BigUint64Array) {
    try {
      return Ctor.from(values, (v) => BigInt(v));
    } catch {
      throw new WebptqError('INVALID_ARGUMENT', `${type} tensor data must be integers or BigInts`);
    }
  }
  if (type === 'float16') {
    throw new WebptqError('INVALID_ARGUMENT', 'float16 tensor data must be a Uint16Array of raw IEEE half-precision bits');
  }
  return Ctor.from(values, Number);
}

export class Tensor {
  /**
   * new Tensor(type, data, dims?) or new Tensor(data, dims?), as in onnxruntime-web.
   * `dims` defaults to [data.length] (a 1-D tensor).
   */
  constructor(a, b, c) {
    let type;
    let data;
    let dims;
    if (typeof a === 'string') {
      [type, data, dims] = [a, b, c];
      if (!Object.hasOwn(TENSOR_TYPES, type)) {
        throw new WebptqError('INVALID_ARGUMENT',
          `unknown tensor type '${type}' (supported: ${Object.keys(TENSOR_TYPES).join(', ')})`);
      }
      if (Array.isArray(data)) {
        data = fromArray(type, data);
      } else if (!(data instanceof TENSOR_TYPES[type]) && !(type === 'uint8' && data instanceof Uint8ClampedArray)) {
        const got = data?.constructor?.name ?? typeof data;
        throw new WebptqError('INVALID_ARGUMENT', `a ${type} tensor needs a ${TENSOR_TYPES[type].name} or an array, got ${got}`);
      }
    } else {
      [data, dims] = [a, b];
      if (Array.isArray(data)) {
        type = data.length > 0 && typeof data[0] === 'boolean' ? 'bool' : 'float32';
        data = fromArray(type, data);
      } else {
        type = data == null ? undefined : TYPE_OF_ARRAY.get(data.constructor);
        if (!type) {
          const got = data?.constructor?.name ?? typeof data;
          throw new WebptqError('INVALID_ARGUMENT', `cannot infer a tensor type from ${got}; pass the type name first`);
        }
      }
    }
    if (data instanceof Uint8ClampedArray) data = new Uint8Array(data.buffer, data.byteOffset, data.length);
    dims = checkDims(dims ?? [data.length]);
    const size = dims.reduce((n, d) => n * d, 1);
    if (size !== data.length) {
      throw new WebptqError('INVALID_ARGUMENT',
        `tensor data has ${data.length} element${data.length === 1 ? '' : 's'} but dims ${fmtDims(dims)} need ${size}`);
    }
    /** @readonly */ this.type = type;
    /** @readonly */ this.data = data;
    /** @readonly */ this.dims = dims;
    /** @readonly */ this.size = size;
  }

  toString() {
    return `Tensor(${this.type}, ${fmtDims(this.dims)})`;
  }
}

// ---- crossing the wasm boundary: { name, type, dims, bytes } in little-endian ------------------

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The feed record the wasm core takes. Shares memory with the tensor (no copy in JS). */
export function toWire(name, t) {
  if (!LITTLE_ENDIAN) throw new WebptqError('UNSUPPORTED_PLATFORM', 'webptq needs a little-endian platform');
  const d = t.data;
  return { name, type: t.type, dims: [...t.dims], bytes: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) };
}

/** A Tensor from a record the wasm core returned (the bytes are a fresh copy we may keep). */
export function fromWire({ type, dims, bytes }) {
  const Ctor = TENSOR_TYPES[type];
  if (!Ctor) throw new WebptqError('INTERNAL', `the core returned an unknown tensor type '${type}'`);
  let buf = bytes;
  if (buf.byteOffset % Ctor.BYTES_PER_ELEMENT !== 0) buf = buf.slice();
  const data = new Ctor(buf.buffer, buf.byteOffset, buf.byteLength / Ctor.BYTES_PER_ELEMENT);
  return new Tensor(type, data, dims);
}
