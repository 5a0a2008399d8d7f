// Lifetimes of objects that own wasm memory (Model, InferenceSession): the dispose symbols and
// the FinalizationRegistry safety net. release() is the way to free memory; the registry only
// frees what a caller forgot, whenever the garbage collector gets to it.

/**
 * `Symbol.dispose`, or where the engine lacks it (Node 20 before 20.4, older browsers) the
 * registered symbol Node itself uses as its polyfill, so `using` works once the engine has it.
 */
export const DISPOSE = Symbol.dispose ?? Symbol.for('nodejs.dispose');
/** `Symbol.asyncDispose`, with the same fallback. */
export const ASYNC_DISPOSE = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose');

const registry = typeof FinalizationRegistry === 'function'
  ? new FinalizationRegistry((wasmObject) => {
    try {
      wasmObject.free();
    } catch {
      /* already freed */
    }
  })
  : null;

/** Frees `wasmObject` when `owner` is garbage-collected without having been released. */
export function guard(owner, wasmObject) {
  registry?.register(owner, wasmObject, owner);
}

/** Called by release(): the owner frees its memory itself. */
export function unguard(owner) {
  registry?.unregister(owner);
}
