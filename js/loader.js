// Loads the wasm core once per JS realm, choosing between the two builds that scripts/build.sh
// makes: pkg/relaxed (SIMD128 + relaxed SIMD) and pkg/simd128. A validator rejects a whole module
// that contains one unknown instruction, so the choice is made up front with WebAssembly.validate
// on two tiny hand-assembled modules. The choice can be forced with loadWasm({ flavour }) or, in
// Node, with the environment variable WEBPTQ_WASM=simd128|relaxed (the tests run both).
//
// Node reads the .wasm file with fs (imported dynamically, so browsers never see a node: import);
// browsers fetch it relative to this file's URL.
import { WebptqError } from './errors.js';

/** The flavours, best first. */
export const FLAVOURS = Object.freeze(['relaxed', 'simd128']);

// (module (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt))
const SIMD128_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: () -> v128
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x0a, 0x0a, 0x01, 0x08, 0x00, // code section: one body of 8 bytes, no locals
  0x41, 0x00, // i32.const 0
  0xfd, 0x0f, // i8x16.splat
  0xfd, 0x62, // i8x16.popcnt
  0x0b, // end
]);

// (module (func (param v128 v128 v128) (result v128)
//   local.get 0 local.get 1 local.get 2 i32x4.relaxed_dot_i8x16_i7x16_add_s))
// The int8 dot product our relaxed kernels are built on (opcode 0xfd 0x113).
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b, // type: (v128 v128 v128) -> v128
  0x03, 0x02, 0x01, 0x00, // function section
  0x0a, 0x0d, 0x01, 0x0b, 0x00, // code section: one body of 11 bytes, no locals
  0x20, 0x00, 0x20, 0x01, 0x20, 0x02, // local.get 0, 1, 2
  0xfd, 0x93, 0x02, // i32x4.relaxed_dot_i8x16_i7x16_add_s (LEB128 of 0x113)
  0x0b, // end
]);

function validates(bytes) {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(bytes);
  } catch {
    return false;
  }
}

/** What this engine supports: { simd128, relaxed } booleans. */
export function wasmFeatures() {
  return { simd128: validates(SIMD128_PROBE), relaxed: validates(RELAXED_PROBE) };
}

const isNode = typeof process === 'object' && process !== null && typeof process.versions?.node === 'string'
  && typeof window === 'undefined';

function envFlavour() {
  const v = isNode ? process.env.WEBPTQ_WASM : undefined;
  return v ? v.trim() : undefined;
}

/**
 * Picks the flavour: the forced one if given (checked against what the engine supports), else
 * the best the engine validates.
 * @param {string} [forced] 'relaxed' | 'simd128'
 * @returns {'relaxed' | 'simd128'}
 */
export function chooseFlavour(forced) {
  const features = wasmFeatures();
  if (forced !== undefined && forced !== '' && forced !== 'auto') {
    if (!FLAVOURS.includes(forced)) {
      throw new WebptqError('INVALID_ARGUMENT',
        `unknown wasm flavour '${forced}' (WEBPTQ_WASM / flavour must be one of: ${FLAVOURS.join(', ')}, auto)`);
    }
    if (!features[forced]) {
      const hint = forced === 'relaxed' && isNode ? ' (Node 20 needs --experimental-wasm-relaxed-simd)' : '';
      throw new WebptqError('UNSUPPORTED_PLATFORM',
        `the '${forced}' wasm build was requested but this JavaScript engine does not support ${forced === 'relaxed' ? 'relaxed SIMD' : 'WebAssembly SIMD128'}${hint}`);
    }
    return forced;
  }
  if (!features.simd128) {
    throw new WebptqError('UNSUPPORTED_PLATFORM',
      'this JavaScript engine does not support WebAssembly SIMD128, which webptq needs (Chrome 91+, Firefox 89+, Safari 16.4+, Node 16.4+)');
  }
  return features.relaxed ? 'relaxed' : 'simd128';
}

let chosen = null; // the flavour being loaded or loaded
let loading = null; // Promise<{ flavour, bindings }> from the first call on
let loaded = null; // the same object, once the promise has resolved

/**
 * The folder of the build to load: `pkg/<flavour>/`, or in Node with WEBPTQ_WASM_CHECKS=1 the
 * test build `pkg/<flavour>-checks/`, which adds the kernels' self-tests and micro-benchmarks
 * (`kernelSelfTest`, `qmiscSelfTest`, `benchKernel`, `WasmQBench`) that shipped builds leave out.
 */
function buildDir(flavour) {
  const checks = isNode && process.env.WEBPTQ_WASM_CHECKS === '1';
  return checks ? `${flavour}-checks` : flavour;
}

async function importGlue(flavour) {
  const dir = buildDir(flavour);
  if (dir !== flavour) return import(new URL(`../pkg/${dir}/webptq.js`, import.meta.url).href);
  // Literal specifiers (not a template) so bundlers and static servers can see both files.
  return flavour === 'relaxed' ? import('../pkg/relaxed/webptq.js') : import('../pkg/simd128/webptq.js');
}

let memory = null; // the instance's WebAssembly.Memory

async function instantiate(flavour) {
  const glue = await importGlue(flavour);
  const url = new URL(`../pkg/${buildDir(flavour)}/webptq_bg.wasm`, import.meta.url);
  let exports;
  if (isNode) {
    const { readFile } = await import('node:fs/promises');
    const module = await WebAssembly.compile(await readFile(url));
    exports = glue.initSync({ module });
  } else {
    exports = await glue.default({ module_or_path: url });
  }
  memory = exports?.memory ?? null;
  return glue;
}

/**
 * Loads the wasm core (once; later calls return the same instance).
 * @param {{ flavour?: 'relaxed' | 'simd128' | 'auto' }} [options]
 * @returns {Promise<{ flavour: 'relaxed' | 'simd128', bindings: object }>}
 */
export function loadWasm(options = {}) {
  const forced = options.flavour ?? envFlavour();
  if (loading) {
    if (forced && forced !== 'auto' && forced !== chosen) {
      return Promise.reject(new WebptqError('INVALID_ARGUMENT',
        `the '${chosen}' wasm build is already loaded; '${forced}' cannot be loaded into the same realm`));
    }
    return loading;
  }
  let flavour;
  try {
    flavour = chooseFlavour(forced);
  } catch (e) {
    return Promise.reject(e);
  }
  chosen = flavour;
  loading = instantiate(flavour).then(
    (bindings) => (loaded = { flavour, bindings }),
    (e) => {
      chosen = null;
      loading = null;
      throw new WebptqError('UNSUPPORTED_PLATFORM', `could not load the '${flavour}' wasm build: ${e?.message ?? e}`, { cause: e });
    },
  );
  return loading;
}

/**
 * The wasm core's memory: `inUse` bytes allocated by the core now (models, sessions, buffers),
 * `allocations` live, and `linear`, the size of the instance's linear memory (it only grows; freed
 * bytes stay in it for reuse). Zeros before the core has loaded.
 * @returns {{ inUse: number, allocations: number, linear: number }}
 */
export function wasmMemory() {
  if (!loaded) return { inUse: 0, allocations: 0, linear: 0 };
  const { bytes, allocations } = loaded.bindings.wasmMemoryInUse();
  return { inUse: bytes, allocations, linear: memory ? memory.buffer.byteLength : 0 };
}

/** The flavour loaded so far ('relaxed' | 'simd128'), or null before the first load finished. */
export function wasmFlavour() {
  return loaded ? loaded.flavour : null;
}
