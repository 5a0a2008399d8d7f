// Errors of the webptq package. Every failure a caller can cause is a WebptqError whose `code`
// is stable (see ERROR_CODES); the message says what was wrong, naming the input, node or file.
// Errors raised inside the wasm core arrive as JS Errors carrying a `code` and are converted
// once, here, by fromWasm().

/** Codes and what they mean. The first group comes from the Rust core (src/error.rs). */
export const ERROR_CODES = Object.freeze({
  INVALID_MODEL: 'the bytes are not a usable ONNX model',
  UNSUPPORTED_OP: 'the model uses ops this build cannot run',
  SHAPE_MISMATCH: 'a tensor shape does not fit what an op or the model needs',
  TYPE_MISMATCH: 'a tensor has a data type an op or the model does not accept',
  INVALID_ARGUMENT: 'an argument or attribute is out of range',
  INVALID_FEED: 'a feed is missing, unknown, or does not match the declared input',
  TOO_LARGE: 'a tensor would be larger than the engine allows',
  INVALID_OPTIONS: 'options contradict each other or are out of range',
  CANCELLED: 'the work was cancelled',
  // Raised by the JS layer.
  NETWORK_ERROR: 'a URL could not be fetched (no connection, refused, blocked by CORS)',
  HTTP_ERROR: 'the server answered a URL with an HTTP error status',
  NOT_FOUND: 'a local file does not exist (Node)',
  IO_ERROR: 'a local file or a Blob could not be read',
  INVALID_IMAGE: 'image bytes that cannot be decoded, or an image source this environment cannot read',
  WORKER_ERROR: 'the worker stopped (terminated or crashed)',
  UNSUPPORTED_PLATFORM: 'this JavaScript engine lacks WebAssembly SIMD128 (or the forced flavour)',
  RELEASED: 'the session or model was released',
  INVALID_NPY: 'a .npy file is malformed or uses a layout this reader does not support',
  INTERNAL: 'a bug in webptq (please report it with the model)',
});

export class WebptqError extends Error {
  /**
   * @param {string} code one of the keys of ERROR_CODES
   * @param {string} message what went wrong, naming the input, node or file concerned
   * @param {{cause?: unknown, unsupported?: {opType: string, domain: string, node: string, reason?: string}[]}} [options]
   *   `unsupported`: for UNSUPPORTED_OP, every node whose op this build cannot run, as fields
   */
  constructor(code, message, options) {
    super(message, options);
    this.name = 'WebptqError';
    this.code = code;
    if (options?.unsupported) this.unsupported = options.unsupported;
  }
}

/**
 * Converts anything thrown by the wasm core into a WebptqError. Core errors carry their code;
 * a WebAssembly.RuntimeError is a trap (a bug: the core must never panic on user input).
 * @param {unknown} e
 * @returns {WebptqError}
 */
export function fromWasm(e) {
  if (e instanceof WebptqError) return e;
  if (e instanceof Error && typeof e.code === 'string' && e.code in ERROR_CODES) {
    return new WebptqError(e.code, e.message, { cause: e, unsupported: Array.isArray(e.unsupported) ? e.unsupported : undefined });
  }
  if (typeof WebAssembly !== 'undefined' && e instanceof WebAssembly.RuntimeError) {
    return new WebptqError('INTERNAL', `the wasm core trapped (${e.message}); this is a bug`, { cause: e });
  }
  if (e instanceof RangeError && /memory|allocation/i.test(e.message)) {
    return new WebptqError('TOO_LARGE', `out of memory: ${e.message}`, { cause: e });
  }
  const message = e instanceof Error ? e.message : String(e);
  return new WebptqError('INTERNAL', message, { cause: e });
}
