// Normalizing the byte inputs the API accepts (Uint8Array, ArrayBuffer, any ArrayBufferView).
import { WebptqError } from './errors.js';

/**
 * @param {unknown} bytes
 * @param {string} what how to name the argument in an error
 * @returns {Uint8Array}
 */
export function asBytes(bytes, what) {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && bytes instanceof SharedArrayBuffer)) {
    return new Uint8Array(bytes);
  }
  if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const got = bytes === null ? 'null' : (bytes?.constructor?.name ?? typeof bytes);
  throw new WebptqError('INVALID_ARGUMENT', `${what} must be a Uint8Array or an ArrayBuffer, got ${got}`);
}

/** externalData: { [location]: Uint8Array | ArrayBuffer } → the same with Uint8Arrays. */
export function externalData(ext) {
  if (ext === undefined || ext === null) return undefined;
  if (typeof ext !== 'object' || Array.isArray(ext)) {
    throw new WebptqError('INVALID_ARGUMENT', 'options.externalData must be an object mapping file names to bytes');
  }
  const out = {};
  for (const [name, value] of Object.entries(ext)) out[name] = asBytes(value, `options.externalData['${name}']`);
  return out;
}
