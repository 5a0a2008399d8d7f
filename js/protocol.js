// The messages between createWorker()'s client (js/worker.js) and the worker (js/worker-host.js),
// and how values cross: Tensors as { type, dims, data } (rebuilt on arrival), errors as
// { code, message } (rebuilt as WebptqErrors), and the list of buffers to transfer.
//
// client → worker  { kind: 'call', id, method, args }     a queued call
//                  { kind: 'abort', id, reason }           the caller's AbortSignal fired
//                  { kind: 'batch', id, seq, done, value } the next calibration batch (or done)
//                  { kind: 'batch', id, seq, error }       the caller's iterable threw
// worker → client  { kind: 'ready', flavour } | { kind: 'failed', error }   after loading the wasm
//                  { kind: 'result', id, value } | { kind: 'error', id, error }
//                  { kind: 'progress', id, value }         an onProgress call
//                  { kind: 'pull', id, seq }               asks for calibration batch `seq`
import { WebptqError } from './errors.js';
import { Tensor } from './tensor.js';

/** A Tensor as a structured-clonable record. */
export const tensorRecord = (t) => ({ type: t.type, dims: [...t.dims], data: t.data });

/** A Tensor again (or a WebptqError INVALID_FEED naming the value). */
export function fromTensorRecord(r, name) {
  try {
    return new Tensor(r.type, r.data, r.dims);
  } catch (e) {
    throw new WebptqError('INVALID_FEED', `invalid feed '${name}': ${e.message}`, { cause: e });
  }
}

/** Feeds (input name → Tensor-like) as records. */
export function feedsRecord(feeds) {
  if (feeds === null || typeof feeds !== 'object' || Array.isArray(feeds)) return feeds; // the receiver reports it
  const out = {};
  for (const [name, t] of Object.entries(feeds)) {
    out[name] = t !== null && typeof t === 'object' && 'data' in t && 'dims' in t ? tensorRecord(t) : t;
  }
  return out;
}

/** Records → Tensors (non-records are passed on for the API to reject with its own message). */
export function feedsFromRecord(rec) {
  if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) return rec;
  const out = {};
  for (const [name, r] of Object.entries(rec)) {
    out[name] = r !== null && typeof r === 'object' && typeof r.type === 'string' && 'data' in r && 'dims' in r ? fromTensorRecord(r, name) : r;
  }
  return out;
}

export function errorRecord(e) {
  if (e instanceof WebptqError) return { code: e.code, message: e.message, ...(e.unsupported ? { unsupported: e.unsupported } : {}) };
  return { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) };
}

export const fromErrorRecord = (r) => new WebptqError(r.code, r.message, { unsupported: r.unsupported });

/**
 * The ArrayBuffers worth transferring out of `value` (typed arrays' buffers, plain ArrayBuffers),
 * walking plain objects and arrays. A typed array that is a view on part of a larger buffer is
 * left out (transferring would detach memory the sender did not hand over): it is copied.
 */
export function transferables(value, out = new Set()) {
  if (value === null || typeof value !== 'object') return out;
  if (value instanceof ArrayBuffer) {
    out.add(value);
  } else if (ArrayBuffer.isView(value)) {
    if (value.buffer instanceof ArrayBuffer && value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) out.add(value.buffer);
  } else if (Array.isArray(value)) {
    for (const v of value) transferables(v, out);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) transferables(v, out);
  }
  return out;
}
