// Hand-written types for the webptq package (js/index.js). Kept in step with the JS by hand.

/** Tensor element types, named as in onnxruntime-web. */
export type TensorType =
  | 'float32' | 'float16' | 'float64'
  | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64'
  | 'bool';

/** The typed array holding each type. float16 holds raw IEEE half bits; bool holds 0/1 bytes. */
export interface TensorDataTypeMap {
  float32: Float32Array;
  float16: Uint16Array;
  float64: Float64Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
}

export type TensorData = TensorDataTypeMap[TensorType];

/** Type name → typed-array constructor. */
export const TENSOR_TYPES: Readonly<{ [K in TensorType]: { new (n: number): TensorDataTypeMap[K] } }>;

/**
 * A typed array with a type name and dims, like onnxruntime-web's Tensor.
 *
 * ```js
 * new Tensor('float32', new Float32Array(6), [2, 3]);
 * new Tensor(new Float32Array(6), [2, 3]);      // type inferred from the array
 * new Tensor('int64', [1, 2, 3]);               // plain arrays are converted; dims default to [length]
 * ```
 * Throws a WebptqError INVALID_ARGUMENT when the type is unknown, the data does not match the
 * type, or the element count does not match the dims.
 */
export class Tensor<T extends TensorType = TensorType> {
  constructor(type: T, data: TensorDataTypeMap[T] | readonly number[] | readonly bigint[] | readonly boolean[], dims?: readonly number[]);
  constructor(data: TensorData | readonly number[] | readonly boolean[], dims?: readonly number[]);
  /** The element type. */
  readonly type: T;
  /** The elements, in row-major (C) order. */
  readonly data: TensorDataTypeMap[T];
  /** The shape. */
  readonly dims: readonly number[];
  /** The number of elements (the product of dims). */
  readonly size: number;
}

/** Stable error codes; `ERROR_CODES[code]` is a one-line description. */
export type ErrorCode =
  | 'INVALID_MODEL' | 'UNSUPPORTED_OP' | 'SHAPE_MISMATCH' | 'TYPE_MISMATCH' | 'INVALID_ARGUMENT'
  | 'INVALID_FEED' | 'TOO_LARGE' | 'INVALID_OPTIONS' | 'CANCELLED'
  | 'UNSUPPORTED_PLATFORM' | 'RELEASED' | 'INVALID_NPY' | 'INTERNAL';

export const ERROR_CODES: Readonly<Record<ErrorCode, string>>;

/** Every error webptq raises on purpose. `message` names the input, node, op or file concerned. */
export class WebptqError extends Error {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown });
  readonly name: 'WebptqError';
  readonly code: ErrorCode;
}

/** The two wasm builds: SIMD128 + relaxed SIMD, and plain SIMD128. */
export type WasmFlavour = 'relaxed' | 'simd128';

export interface LoadOptions {
  /**
   * Force a wasm build instead of detecting the best one ('auto'). In Node the environment
   * variable WEBPTQ_WASM does the same. Only one build can be loaded per JS realm.
   */
  wasmFlavour?: WasmFlavour | 'auto';
  /** Bytes of external data files, by the `location` the model names. */
  externalData?: Record<string, Uint8Array | ArrayBuffer>;
}

export interface SessionOptions extends LoadOptions {
  /** Apply result-preserving graph optimizations (constant folding, BatchNorm folding). Default true. */
  optimize?: boolean;
}

/** A declared input or output. */
export interface ValueInfo {
  name: string;
  /** null when the model does not declare it. */
  type: TensorType | string | null;
  /** Numbers for fixed dims, strings for symbolic ones, null for unknown; null if undeclared. */
  shape: (number | string | null)[] | null;
}

/** What inspect() returns. */
export interface ModelInfo {
  irVersion: number;
  /** The default-domain opset. */
  opset: number;
  /** Every imported opset, by domain ('ai.onnx' for the default one). */
  opsets: Record<string, number>;
  /** producer_name and producer_version. */
  producer: string;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  nodeCount: number;
  /** Node count per op type ('domain.Op' outside the default domain). */
  opCounts: Record<string, number>;
  /** Number of elements in all initializers. */
  parameterCount: number;
  /** Bytes of all initializers. */
  parameterBytes: number;
  /** The ops this build cannot run, as "Op (node 'name')". Empty when the model can run. */
  unsupportedOps: string[];
}

/**
 * A model prepared to run in the wasm core, shaped like onnxruntime-web's InferenceSession.
 *
 * ```js
 * const session = await InferenceSession.create(bytes);
 * const { logits } = await session.run({ input: new Tensor('float32', pixels, [1, 1, 28, 28]) });
 * await session.release();
 * ```
 * Calls on one session run in order. `using session = ...` releases it at the end of the scope.
 */
export class InferenceSession {
  private constructor();
  /**
   * Parses and prepares a model. Rejects with a WebptqError: INVALID_MODEL (not ONNX, truncated,
   * inconsistent, a cycle), UNSUPPORTED_OP, INVALID_ARGUMENT (bad options) or UNSUPPORTED_PLATFORM.
   */
  static create(bytes: Uint8Array | ArrayBuffer, options?: SessionOptions): Promise<InferenceSession>;
  /** The model's input names, in order. */
  readonly inputNames: readonly string[];
  /** The model's output names, in order. */
  readonly outputNames: readonly string[];
  /** The wasm build running this session. */
  readonly wasmFlavour: WasmFlavour;
  /** Whether release() has run. */
  readonly released: boolean;
  /**
   * Runs the model. Feeds are Tensors by input name (onnxruntime-web Tensors work too).
   * Rejects with INVALID_FEED (missing, unknown, wrong type or shape), SHAPE_MISMATCH,
   * TYPE_MISMATCH, TOO_LARGE, or RELEASED after release().
   */
  run(feeds: Record<string, Tensor | { type: string; data: TensorData; dims: readonly number[] }>): Promise<Record<string, Tensor>>;
  /** The summary of the model this session runs (after optimization). */
  info(): Promise<ModelInfo>;
  /**
   * `peakActivationBytes`: the most activation memory one run has held so far (0 before the first
   * run); `fusedGroups`: how many QDQ groups run as integer ops.
   */
  stats(): Promise<{ peakActivationBytes: number; fusedGroups: number }>;
  /** Frees the wasm memory once the queued calls have run. Safe to call twice. */
  release(): Promise<void>;
  [Symbol.dispose](): void;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A parsed model, to inspect or to save back to ONNX bytes. */
export class Model {
  private constructor();
  /** Parses a model; ops this build cannot run are allowed (see info().unsupportedOps). */
  static load(bytes: Uint8Array | ArrayBuffer, options?: LoadOptions): Promise<Model>;
  info(): ModelInfo;
  /** The model serialized as ONNX bytes again. */
  toBytes(): Uint8Array;
  /** Frees the wasm memory. Safe to call twice; later calls throw RELEASED. */
  release(): void;
  [Symbol.dispose](): void;
}

/** Summarizes a model without keeping it in memory. */
export function inspect(bytes: Uint8Array | ArrayBuffer, options?: LoadOptions): Promise<ModelInfo>;

/** The ops this build can run, as "Op" or "domain.Op". */
export function supportedOps(): Promise<string[]>;

/**
 * Parses a NumPy .npy file (format 1.0, 2.0 or 3.0; little-endian; C order) into a Tensor.
 * Supports float16/32/64, int8/16/32/64, uint8/16/32/64 and bool. Throws INVALID_NPY for
 * Fortran order, big-endian data, structured or unknown dtypes, and truncated files.
 * @param where a name (e.g. the path) to put in error messages
 */
export function readNpy(bytes: Uint8Array | ArrayBuffer, where?: string): Tensor;

/** Serializes a Tensor as a .npy file (format 1.0, C order, little-endian). */
export function writeNpy(tensor: Tensor): Uint8Array;

/**
 * Loads the wasm core now (it loads on first use otherwise) and reports which build was chosen.
 * Later calls return the same instance.
 */
export function loadWasm(options?: { flavour?: WasmFlavour | 'auto' }): Promise<{ flavour: WasmFlavour; bindings: unknown }>;

/** The wasm build loaded so far, or null before the first load has finished. */
export function wasmFlavour(): WasmFlavour | null;

/** What this JavaScript engine validates: SIMD128 and relaxed SIMD. */
export function wasmFeatures(): { simd128: boolean; relaxed: boolean };

/** One batch of calibration feeds: input name → Tensor (first axis: samples). */
export type Feeds = Record<string, Tensor | { type: string; data: TensorData; dims: readonly number[] }>;

/** Stages reported by `onProgress`, in order. */
export type QuantizeStage = 'prepare' | 'calibrate' | 'quantize' | 'evaluate' | 'keep-float' | 'save';

export interface QuantizeOptions extends LoadOptions {
  /**
   * Calibration data (static mode): a sync or async iterable of feeds, one batch at a time.
   * Batches are consumed one by one and dropped (only the first few, up to 64 MiB, are kept to
   * measure the result on), so a generator can stream any number of samples.
   */
  calibration?: Iterable<Feeds> | AsyncIterable<Feeds>;
  /** Called at every step: `total` is null while the number of batches is unknown. */
  onProgress?: (progress: { stage: QuantizeStage; done: number; total: number | null }) => void;
  /** Aborting rejects the call with a WebptqError CANCELLED (checked between batches and steps). */
  signal?: AbortSignal;
  /** 'static' (default: weights and activations int8), 'dynamic' (int8 weights, activations quantized at run time), 'weight-only' (int8 per-channel weights, or int4 blocks with `weightBits: 4`) or 'fp16' (float16 weights). These three need no calibration; `calibration` batches given to them are only used to measure the outputs in the report. */
  mode?: 'static' | 'dynamic' | 'weight-only' | 'fp16';
  /** Static mode: 'qdq' (default: QuantizeLinear/DequantizeLinear around float ops) or 'qoperator' (QLinearConv, ...). */
  format?: 'qdq' | 'qoperator';
  /** How activation ranges are computed: 'minmax' (default), 'percentile', 'entropy' (KL) or 'mse'. */
  method?: 'minmax' | 'percentile' | 'entropy' | 'mse';
  /** Percentile kept by method 'percentile' (implies it), in (0, 100]; default 99.999. */
  percentile?: number;
  /** One weight scale per output channel (default true); false: one per tensor. */
  perChannel?: boolean;
  /** Symmetric activations, zero point 0 (needs activationType 'int8'); default false. */
  symmetric?: boolean;
  /** Type of quantized activations: 'uint8' (default) or 'int8'. */
  activationType?: 'uint8' | 'int8';
  /** Type of quantized weights (always symmetric): 'int8' (default) or 'uint8' (zero point 128). */
  weightType?: 'uint8' | 'int8';
  /** 8 (default) or 4; 4 only in weight-only mode (block-wise MatMulNBits). */
  weightBits?: 8 | 4;
  /** Elements per int4 block (power of two, at least 16; default 32), weight-only int4 only. */
  blockSize?: number;
  /** 7-bit weights, for CPUs whose int8 dot products can overflow 16-bit intermediates; default false. */
  reduceRange?: boolean;
  /** Node names kept in float. */
  excludeNodes?: string[];
  /** Op types kept in float (e.g. ['Softmax']). */
  excludeOpTypes?: string[];
  /** Static mode: keep the N layers that lose most in float (mixed precision); default 0. */
  keepFloat?: number;
}

/**
 * The quantization report (sizes, every node's decision and parameters, per-layer SQNR, the
 * layers that lose most). Field names as the core writes them; see src/quantize/report.rs.
 */
export interface QuantizeReport {
  options: Record<string, unknown>;
  floatBytes: number;
  quantizedBytes: number;
  sizeRatio: number;
  calibration: { method: unknown; batches: number; values: number };
  evaluatedBatches: number;
  nodes: { name: string; opType: string; decision: 'quantized' | 'folded' | 'float'; reason?: string | null; inputs: unknown[]; outputs: unknown[] }[];
  weights: unknown[];
  activations: { name: string; range?: unknown; params: unknown; sqnrDb: number | null }[];
  outputs: { name: string; sqnrDb: number | null; top1Agreement?: number | null; maxAbsError: number }[];
  mostLossy: { node: string; opType: string; output: string; sqnrDb: number | null; inputSqnrDb: number | null; ownSqnrDb: number | null }[];
  keepFloat?: { nodes: string[]; outputsBefore: unknown[]; outputsAfter: unknown[]; quantizedBytesBefore: number; quantizedBytesAfter: number };
  warnings: string[];
}

/**
 * Quantizes a float ONNX model on this device and returns the quantized model's bytes and a
 * report. Rejects with a WebptqError: INVALID_OPTIONS (bad or contradictory options, static mode
 * without calibration data), INVALID_FEED (a batch that does not fit the model), CANCELLED,
 * INVALID_MODEL, UNSUPPORTED_OP (the float model must run here to be calibrated).
 *
 * ```js
 * async function* batches() { for (const x of samples) yield { input: x }; }
 * const { bytes, report } = await quantize(modelBytes, { calibration: batches(), method: 'percentile' });
 * ```
 */
export function quantize(model: Uint8Array | ArrayBuffer | Model, options?: QuantizeOptions): Promise<{ bytes: Uint8Array; report: QuantizeReport }>;
