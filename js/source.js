// Reading the bytes of a model or an image from wherever the caller has them: a URL or Request
// (fetch, with download progress read from Content-Length while the body streams in), a File or
// Blob (streamed), a local path or file: URL in Node, or bytes already in memory (no copy).
// Failures are WebptqErrors: NETWORK_ERROR, HTTP_ERROR, NOT_FOUND, IO_ERROR, CANCELLED.
import { WebptqError } from './errors.js';
import { asBytes } from './bytes.js';

export const isNode = typeof process === 'object' && process !== null && typeof process.versions?.node === 'string'
  && typeof window === 'undefined';

/** A string with a URL scheme (two letters or more, so 'C:\x' stays a path). */
const SCHEME = /^[a-zA-Z][a-zA-Z\d+.-]+:/;

/** The error an aborted signal stands for. */
export function cancelled(signal, what) {
  const why = signal?.reason instanceof Error && signal.reason.name !== 'AbortError' ? `: ${signal.reason.message}` : '';
  return new WebptqError('CANCELLED', `${what} was cancelled${why}`, { cause: signal?.reason });
}

/** Throws CANCELLED if the signal has been aborted. */
export function checkSignal(signal, what) {
  if (signal?.aborted) throw cancelled(signal, what);
}

export function checkProgressAndSignal(options) {
  const { onProgress, signal } = options;
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new WebptqError('INVALID_OPTIONS', 'options.onProgress must be a function');
  }
  if (signal !== undefined && (signal === null || typeof signal.aborted !== 'boolean' || typeof signal.addEventListener !== 'function')) {
    throw new WebptqError('INVALID_OPTIONS', 'options.signal must be an AbortSignal');
  }
}

const isBlob = (x) => typeof Blob === 'function' && x instanceof Blob;
const isRequest = (x) => typeof Request === 'function' && x instanceof Request;
const isBytes = (x) => x instanceof ArrayBuffer || ArrayBuffer.isView(x)
  || (typeof SharedArrayBuffer === 'function' && x instanceof SharedArrayBuffer);

/** Whether `x` is something readSource() accepts. */
export function isSource(x) {
  return typeof x === 'string' || x instanceof URL || isRequest(x) || isBlob(x) || isBytes(x);
}

/**
 * Collects a stream's chunks into one Uint8Array, reporting progress. `total` (when known)
 * sizes the buffer up front; a stream longer than announced still reads whole.
 */
async function drain(reader, total, progress) {
  let buf = total ? new Uint8Array(total) : null;
  const chunks = [];
  let done = 0;
  progress(0);
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    const chunk = r.value instanceof Uint8Array ? r.value : new Uint8Array(r.value);
    if (buf && done + chunk.length <= buf.length) {
      buf.set(chunk, done);
    } else {
      if (buf) {
        chunks.push(buf.subarray(0, done));
        buf = null;
      }
      chunks.push(chunk);
    }
    done += chunk.length;
    progress(done);
  }
  if (buf) return done === buf.length ? buf : buf.subarray(0, done);
  const out = new Uint8Array(done);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function describe(input) {
  if (isRequest(input)) return input.url;
  return String(input);
}

async function fetchBytes(input, { signal, report, what }) {
  const where = describe(input);
  let response;
  try {
    response = await fetch(input, signal ? { signal } : undefined);
  } catch (e) {
    if (signal?.aborted) throw cancelled(signal, `reading ${what}`);
    const cause = e?.cause?.message ?? e?.cause?.code ?? e?.message ?? String(e);
    throw new WebptqError('NETWORK_ERROR', `could not fetch ${what} from ${where}: ${cause}`, { cause: e });
  }
  if (!response.ok) {
    throw new WebptqError('HTTP_ERROR', `fetching ${what} from ${where} failed: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
  }
  // Content-Length counts the encoded body: with gzip or br the decoded length is unknown.
  const encoding = (response.headers.get('content-encoding') ?? 'identity').toLowerCase();
  const length = Number(response.headers.get('content-length'));
  const total = encoding === 'identity' && Number.isSafeInteger(length) && length > 0 ? length : null;
  const contentType = response.headers.get('content-type') ?? '';
  try {
    const bytes = response.body
      ? await drain(response.body.getReader(), total, (done) => report(done, total))
      : new Uint8Array(await response.arrayBuffer());
    return { bytes, url: response.url || where, contentType };
  } catch (e) {
    if (signal?.aborted) throw cancelled(signal, `reading ${what}`);
    if (e instanceof WebptqError) throw e;
    throw new WebptqError('NETWORK_ERROR', `the download of ${what} from ${where} broke off: ${e?.message ?? e}`, { cause: e });
  }
}

async function readBlob(blob, { signal, report, what }) {
  const name = typeof blob.name === 'string' && blob.name ? `'${blob.name}'` : 'a Blob';
  checkSignal(signal, `reading ${what}`);
  try {
    let bytes;
    if (typeof blob.stream === 'function') {
      const reader = blob.stream().getReader();
      const onAbort = () => reader.cancel().catch(() => {});
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        bytes = await drain(reader, blob.size, (done) => report(done, blob.size));
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    } else {
      bytes = new Uint8Array(await blob.arrayBuffer());
      report(bytes.length, blob.size);
    }
    checkSignal(signal, `reading ${what}`);
    return { bytes, url: null, contentType: blob.type ?? '' };
  } catch (e) {
    if (signal?.aborted) throw cancelled(signal, `reading ${what}`);
    throw new WebptqError('IO_ERROR', `could not read ${what} from ${name}: ${e?.message ?? e}`, { cause: e });
  }
}

async function readLocalFile(file, { signal, report, what }) {
  const fs = await import('node:fs/promises');
  const { fileURLToPath, pathToFileURL } = await import('node:url');
  const p = file instanceof URL ? fileURLToPath(file) : file;
  let handle;
  try {
    handle = await fs.open(p, 'r');
    const st = await handle.stat();
    if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
    const { size } = st;
    const bytes = new Uint8Array(size);
    const CHUNK = 1 << 22;
    let done = 0;
    report(0, size);
    while (done < size) {
      checkSignal(signal, `reading ${what}`);
      const { bytesRead } = await handle.read(bytes, done, Math.min(CHUNK, size - done), done);
      if (bytesRead === 0) break;
      done += bytesRead;
      report(done, size);
    }
    return { bytes: done === size ? bytes : bytes.subarray(0, done), url: pathToFileURL(p).href, contentType: '' };
  } catch (e) {
    if (e instanceof WebptqError) throw e;
    if (e?.code === 'ENOENT') throw new WebptqError('NOT_FOUND', `${what} '${p}' does not exist`, { cause: e });
    if (e?.code === 'EISDIR') throw new WebptqError('IO_ERROR', `${what} '${p}' is a directory, not a file`, { cause: e });
    throw new WebptqError('IO_ERROR', `cannot read ${what} '${p}': ${e?.message ?? e}`, { cause: e });
  } finally {
    await handle?.close();
  }
}

/**
 * Reads `source` into bytes.
 * - Uint8Array, ArrayBuffer or another view: used as it is (no copy).
 * - File or Blob: streamed.
 * - Request, URL, or a string: fetched (a relative string resolves against `base`, else the page);
 *   in Node a string without a URL scheme, or a file: URL, is a local path.
 * @param {unknown} source
 * @param {{ onProgress?: Function, signal?: AbortSignal, what?: string, base?: string | null, stage?: string }} [options]
 * @returns {Promise<{ bytes: Uint8Array, url: string | null, contentType: string }>}
 */
export async function readSource(source, options = {}) {
  const { onProgress, signal, what = 'the model', base = null, stage = 'download' } = options;
  checkSignal(signal, `reading ${what}`);
  const report = (done, total) => onProgress?.({ stage, done, total: total ?? null });
  if (isBytes(source)) return { bytes: asBytes(source, what), url: null, contentType: '' };
  if (isBlob(source)) return readBlob(source, { signal, report, what });
  let input = source;
  if (typeof source === 'string') {
    if (isNode && !SCHEME.test(source)) {
      if (base?.startsWith('file:')) return readLocalFile(new URL(source, base), { signal, report, what });
      if (base && SCHEME.test(base)) return fetchBytes(new URL(source, base), { signal, report, what });
      return readLocalFile(source, { signal, report, what });
    }
    input = base ? new URL(source, base) : source;
    if (isNode && /^file:/i.test(source)) input = new URL(source);
  }
  if (input instanceof URL && input.protocol === 'file:' && isNode) return readLocalFile(input, { signal, report, what });
  if (typeof input === 'string' || input instanceof URL || isRequest(input)) {
    if (typeof fetch !== 'function') throw new WebptqError('UNSUPPORTED_PLATFORM', `cannot fetch ${what}: this engine has no fetch()`);
    return fetchBytes(input, { signal, report, what });
  }
  const got = source === null ? 'null' : (source?.constructor?.name ?? typeof source);
  throw new WebptqError('INVALID_ARGUMENT',
    `${what} must be a URL, a Request, a File or Blob, a Uint8Array or an ArrayBuffer${isNode ? ', or a file path' : ''}; got ${got}`);
}
