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
  | 'NETWORK_ERROR' | 'HTTP_ERROR' | 'NOT_FOUND' | 'IO_ERROR' | 'INVALID_IMAGE' | 'WORKER_ERROR'
  | 'UNSUPPORTED_PLATFORM' | 'RELEASED' | 'INVALID_NPY' | 'INTERNAL';

export const ERROR_CODES: Readonly<Record<ErrorCode, string>>;

/** A node whose op this build cannot run. */
export interface UnsupportedNode {
  opType: string;
  /** The op's domain; '' for the default ONNX domain. */
  domain: string;
  /** The node's name. */
  node: string;
  /** Why, when it is not simply a missing op (e.g. a loop body reads a value of the outer graph). */
  reason?: string;
}

/** Every error webptq raises on purpose. `message` names the input, node, op or file concerned. */
export class WebptqError extends Error {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; unsupported?: UnsupportedNode[] });
  readonly name: 'WebptqError';
  readonly code: ErrorCode;
  /** For UNSUPPORTED_OP from the core: every node this build cannot run, as fields. */
  readonly unsupported?: UnsupportedNode[];
}

/** The two wasm builds: SIMD128 + relaxed SIMD, and plain SIMD128. */
export type WasmFlavour = 'relaxed' | 'simd128';

/**
 * Where a model (or an image) can come from: a URL string or URL (fetched; relative strings
 * resolve against the page), a Request, a File or Blob, an ArrayBuffer or a Uint8Array (used
 * without a copy), and in Node a file path or a file: URL.
 */
export type Source = string | URL | Request | Blob | ArrayBuffer | ArrayBufferView;

/** A progress report: `total` is null while unknown (no Content-Length, or a compressed body). */
export interface Progress<Stage extends string = string> {
  /** What is happening: 'download' (a URL, Request, Blob or file being read) for loadModel. */
  stage: Stage;
  /** Units done so far: bytes for 'download'. */
  done: number;
  /** Units in all, or null when unknown. */
  total: number | null;
  /** For external data files: the name given in `externalData`. */
  file?: string;
}

export interface LoadOptions {
  /**
   * Called as the model's bytes arrive: `{ stage: 'download', done, total }` in bytes, `total`
   * from Content-Length (null when the server sends none or compresses the body). No calls for
   * bytes already in memory. Default: none.
   */
  onProgress?: (progress: Progress<'download'>) => void;
  /** Aborting rejects with a WebptqError CANCELLED, also in the middle of a download. Default: none. */
  signal?: AbortSignal;
  /**
   * External data files, by the `location` the model names: bytes, a Blob, or a URL/path (a
   * relative one resolves against the model's own URL). Default: none (a model that needs them
   * fails with INVALID_MODEL naming the file).
   */
  externalData?: Record<string, Source>;
  /**
   * Force a wasm build instead of detecting the best one. Default 'auto'. In Node the environment
   * variable WEBPTQ_WASM does the same. Only one build can be loaded per JS realm (a worker is a
   * realm of its own).
   */
  wasmFlavour?: WasmFlavour | 'auto';
}

/** How InferenceSession runs a model. */
export type Engine = 'auto' | 'float' | 'int8';

export interface SessionOptions {
  /** Apply result-preserving graph optimizations (constant folding, BatchNorm folding). Default true. */
  optimize?: boolean;
  /**
   * Default 'auto': run the model as it is; a quantized model takes its integer path (QOperator
   * ops directly; QDQ patterns through the runtime's fusion into integer kernels when `optimize`
   * is on). 'float': run a QDQ graph literally, QuantizeLinear/DequantizeLinear as written around
   * float ops (no fusion; useful to compare); QOperator ops have no float form and run as they
   * are. 'int8': like 'auto', but rejects (INVALID_OPTIONS) a model without quantized ops, so a
   * float model is not run by mistake.
   */
  engine?: Engine;
  /** Bytes (or Blobs, URLs) of external data files, by `location`, when the model is given as bytes or a URL. Default: none. */
  externalData?: Record<string, Source>;
  /** Force a wasm build (see LoadOptions.wasmFlavour). Default 'auto'. */
  wasmFlavour?: WasmFlavour | 'auto';
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
/** One node's time in `InferenceSession.profile()`. */
export interface NodeTime {
  /** The node's index in the session's optimized graph. */
  index: number;
  name: string;
  opType: string;
  ms: number;
}

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
  /** Number of elements in all initializers and in the tensors of Constant nodes. */
  parameterCount: number;
  /** Bytes of all initializers and Constant-node tensors. */
  parameterBytes: number;
  /** The ops this build cannot run, as "Op (node 'name')" for display. Empty when the model can run. */
  unsupportedOps: string[];
  /** The same nodes as fields, in graph order. */
  unsupported: UnsupportedNode[];
}

/**
 * A model prepared to run in the wasm core, shaped like onnxruntime-web's InferenceSession.
 *
 * ```js
 * const session = await InferenceSession.create(modelOrBytesOrUrl);
 * const { logits } = await session.run({ input: new Tensor('float32', pixels, [1, 1, 28, 28]) });
 * await session.release();
 * ```
 * Calls on one session run in order. `using session = ...` releases it at the end of the scope.
 */
export class InferenceSession {
  private constructor();
  /**
   * Prepares a model to run: a loaded Model (it stays usable: the session takes a copy), bytes, or
   * any other Source (read as loadModel does). Rejects with a WebptqError: INVALID_MODEL (not ONNX,
   * truncated, inconsistent, a cycle), UNSUPPORTED_OP, INVALID_OPTIONS (bad options; engine 'int8'
   * on a model that is not quantized), the errors of loadModel for a URL or path, RELEASED (a
   * released Model) or UNSUPPORTED_PLATFORM.
   */
  static create(model: Model | Source, options?: SessionOptions): Promise<InferenceSession>;
  /** The model's input names, in order. */
  readonly inputNames: readonly string[];
  /** The model's output names, in order. */
  readonly outputNames: readonly string[];
  /** The wasm build running this session. */
  readonly wasmFlavour: WasmFlavour;
  /** The engine asked for at create(). */
  readonly engine: Engine;
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
   * Runs once and times every node, in the order they ran (the optimized graph: fused QDQ groups
   * appear as their integer ops). Each `ms` runs from the previous node's end to this node's
   * end. Rejects like run().
   */
  profile(feeds: Record<string, Tensor | { type: string; data: TensorData; dims: readonly number[] }>): Promise<NodeTime[]>;
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

/** A parsed model, to inspect, quantize, run (InferenceSession.create) or save back to ONNX bytes. */
export class Model {
  private constructor();
  /** The same as loadModel(source, options). */
  static load(source: Source, options?: LoadOptions): Promise<Model>;
  /** The summary: inputs, outputs, op counts, parameter bytes, unsupported ops. */
  info(): ModelInfo;
  /** The model serialized as ONNX bytes again. */
  toBytes(): Uint8Array;
  /** Whether release() has run. */
  readonly released: boolean;
  /** Frees the wasm memory. Safe to call twice; later calls throw RELEASED. */
  release(): void;
  /** `using model = await loadModel(...)` releases it at the end of the scope. */
  [Symbol.dispose](): void;
}

/**
 * Reads and parses a model; ops this build cannot run are allowed (see info().unsupportedOps).
 * Rejects with a WebptqError: NETWORK_ERROR (the fetch failed), HTTP_ERROR (an error status; the
 * message has the status and URL), NOT_FOUND / IO_ERROR (a local file in Node), CANCELLED (the
 * signal), INVALID_MODEL (not an ONNX file; a web page served instead is named as such),
 * INVALID_OPTIONS or INVALID_ARGUMENT.
 *
 * ```js
 * const model = await loadModel('models/resnet.onnx', { onProgress: ({ done, total }) => bar(done / total) });
 * const model2 = await loadModel(fileInput.files[0]);   // a dropped File
 * ```
 */
export function loadModel(source: Source, options?: LoadOptions): Promise<Model>;

/** Summarizes a model without keeping it in memory (a Model: its info()). */
export function inspect(source: Source | Model, options?: LoadOptions): Promise<ModelInfo>;

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

/** The wasm core's memory. */
export interface WasmMemory {
  /** Bytes the core has allocated now (models, sessions, buffers); back where it was after release(). */
  inUse: number;
  /** Live allocations. */
  allocations: number;
  /** Size of the instance's linear memory; it only grows (freed bytes stay for reuse). */
  linear: number;
}

/** The memory of this realm's wasm core (zeros before it has loaded). */
export function wasmMemory(): WasmMemory;

/** What this JavaScript engine validates: SIMD128 and relaxed SIMD. */
export function wasmFeatures(): { simd128: boolean; relaxed: boolean };

/** One batch of calibration feeds: input name → Tensor (first axis: samples). */
export type Feeds = Record<string, Tensor | { type: string; data: TensorData; dims: readonly number[] }>;

/** Stages reported by `onProgress`, in order. */
export type QuantizeStage = 'prepare' | 'calibrate' | 'quantize' | 'evaluate' | 'keep-float' | 'save';

export interface QuantizeOptions {
  /**
   * Calibration data (static mode; required there): a sync or async iterable of feeds, one batch at
   * a time. Batches are consumed one by one and dropped (only the first few, up to 64 MiB, are
   * kept to measure the result on), so a generator can stream any number of samples. An array,
   * or an iterable with a numeric `length`, gives progress a total. Default: none.
   */
  calibration?: Iterable<Feeds> | AsyncIterable<Feeds>;
  /** Called at every step: `total` is null while the number of batches is unknown. Default: none. */
  onProgress?: (progress: { stage: QuantizeStage; done: number; total: number | null }) => void;
  /** Aborting rejects the call with a WebptqError CANCELLED (checked between batches and steps). Default: none. */
  signal?: AbortSignal;
  /** External data files of a model given as bytes, by `location`. Default: none. */
  externalData?: Record<string, Uint8Array | ArrayBuffer>;
  /** Force a wasm build (see LoadOptions.wasmFlavour). Default 'auto'. */
  wasmFlavour?: WasmFlavour | 'auto';
  /** Default 'static' (weights and activations int8); 'dynamic' (int8 weights, activations quantized at run time), 'weight-only' (int8 per-channel weights, or int4 blocks with `weightBits: 4`) or 'fp16' (float16 weights). These three need no calibration; `calibration` batches given to them are only used to measure the outputs in the report. */
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
  /** Node names kept in float. Default []. */
  excludeNodes?: string[];
  /** Op types kept in float (e.g. ['Softmax']). Default []. */
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
export function quantize(model: Model | Source, options?: QuantizeOptions): Promise<{ bytes: Uint8Array; report: QuantizeReport }>;

/** The pixels of an image: RGBA, 4 bytes per pixel, row by row (what ImageData holds). */
export interface Pixels {
  width: number;
  height: number;
  data: Uint8ClampedArray | Uint8Array;
}

/**
 * What imageToTensor and decodeImage take: ImageData (or any Pixels), ImageBitmap, <img>, <canvas>,
 * OffscreenCanvas, <video>, VideoFrame, or an encoded image as a Source (bytes, Blob/File, URL,
 * a path in Node). Node decodes PNG and JPEG; browsers decode whatever they support.
 */
export type ImageSource = Pixels | Source | CanvasImageSource;

/**
 * How images become a tensor. Each value is (pixel * scale - mean[c]) / std[c], pixel in 0..255.
 * Steps: decode → rgb/bgr/gray → resize → centre crop to `size` → normalize → layout.
 */
export interface ImageOptions {
  /** Output [height, width] (one number: square). Default: the image's size after `resize`. */
  size?: number | [number, number];
  /**
   * How the image is scaled before the centre crop to `size` (the crop's top-left is the floor of
   * half the excess). 'cover' (the default when `size` is given): keep the aspect ratio and scale so
   * the image just covers `size`. A number N: the shorter side becomes N, aspect kept (the
   * ImageNet habit: 256, then a 224 crop). 'stretch': scale to `size` exactly. 'none' (the default
   * without `size`): no scaling. Sizes are rounded half to even, as Python's round(). Resizing is
   * Pillow's Image.resize(BILINEAR) to the bit: antialiased when shrinking, 8-bit after each pass.
   */
  resize?: 'cover' | 'stretch' | 'none' | number;
  /** Subtracted after `scale`: one number, or one per channel. Default 0. */
  mean?: number | number[];
  /** Divides after `mean`: one number, or one per channel (no zero). Default 1. */
  std?: number | number[];
  /** Multiplies the 0..255 pixel first. Default 1/255 (values in 0..1). */
  scale?: number;
  /** 'nchw' (default): [N, C, H, W]; 'nhwc': [N, H, W, C]. */
  layout?: 'nchw' | 'nhwc';
  /**
   * 'rgb' (default), 'bgr', or 'gray' (one channel: Pillow's convert('L'), 299/587/114 luma,
   * computed before resizing). Alpha is dropped. `mean` and `std` are in this channel order.
   */
  channels?: 'rgb' | 'bgr' | 'gray';
  /** Cancels reading an image from a URL or Blob (CANCELLED). Default: none. */
  signal?: AbortSignal;
}

/**
 * Images → one float32 Tensor, [N, C, H, W] or [N, H, W, C] (N = 1 for one image; several images
 * must come out the same size, which `size` ensures). Rejects with INVALID_IMAGE (undecodable
 * bytes, a source this environment cannot read, a crop larger than the image), INVALID_OPTIONS,
 * or the errors of reading a URL or file.
 *
 * ```js
 * const x = await imageToTensor(fileInput.files[0], { resize: 256, size: 224, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
 * const batch = await imageToTensor([img1, img2, img3], { size: 224 });   // [3, 3, 224, 224]
 * ```
 */
export function imageToTensor(images: ImageSource | ImageSource[], options?: ImageOptions): Promise<Tensor<'float32'>>;

/** An image's RGBA pixels (see ImageSource). Rejects with INVALID_IMAGE for bytes it cannot decode. */
export function decodeImage(image: ImageSource, options?: { signal?: AbortSignal }): Promise<Pixels>;

export interface WorkerOptions {
  /** The wasm build the worker loads (a worker may load another one than the page). Default 'auto'. */
  wasmFlavour?: WasmFlavour | 'auto';
  /**
   * Transfer (move) the caller's buffers to the worker instead of copying them: model bytes and
   * feed or calibration tensors whose typed array covers its whole ArrayBuffer. They become
   * detached (length 0) in the caller. Default false. (Buffers the worker makes, such as outputs
   * and quantized bytes, are always transferred back.)
   */
  transferInputs?: boolean;
}

/** A model kept in a worker. */
export interface WorkerModel {
  /** The summary, known from the load (no round trip). */
  info(): ModelInfo;
  /** The model as ONNX bytes (transferred from the worker). */
  toBytes(): Promise<Uint8Array>;
  readonly released: boolean;
  /** Frees the model in the worker. Safe to call twice. */
  release(): Promise<void>;
  [Symbol.dispose](): void;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A session kept in a worker, shaped like InferenceSession. */
export interface WorkerSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly wasmFlavour: WasmFlavour;
  readonly engine: Engine;
  readonly released: boolean;
  /** Runs the model in the worker; the outputs' buffers are transferred back. */
  run(feeds: Feeds): Promise<Record<string, Tensor>>;
  info(): Promise<ModelInfo>;
  /** As InferenceSession.stats(), from the worker. */
  stats(): Promise<{ peakActivationBytes: number; fusedGroups: number }>;
  /** As InferenceSession.profile(), timed in the worker. */
  profile(feeds: Feeds): Promise<NodeTime[]>;
  /** Frees the session in the worker once the calls queued before it have run. */
  release(): Promise<void>;
  [Symbol.dispose](): void;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * The API run in a worker. Calls go to the worker's own wasm core and run there one after
 * another; onProgress and AbortSignal are forwarded (an abort rejects at once; the worker stops
 * at its next check). Calibration batches are pulled from the caller's iterable one at a time.
 */
export interface WebptqWorker {
  /** The wasm build loaded in the worker. */
  readonly wasmFlavour: WasmFlavour;
  loadModel(source: Source, options?: LoadOptions): Promise<WorkerModel>;
  inspect(source: Source | WorkerModel, options?: LoadOptions): Promise<ModelInfo>;
  quantize(model: WorkerModel | Model | Source, options?: QuantizeOptions): Promise<{ bytes: Uint8Array; report: QuantizeReport }>;
  readonly InferenceSession: { create(model: WorkerModel | Model | Source, options?: SessionOptions): Promise<WorkerSession> };
  /** The package's Tensor class. */
  readonly Tensor: typeof Tensor;
  /** imageToTensor, run in the caller's thread. */
  imageToTensor: typeof imageToTensor;
  supportedOps(): Promise<string[]>;
  /** wasmMemory() of the worker's core. */
  wasmMemory(): Promise<WasmMemory>;
  /** Stops the worker; pending calls reject with WORKER_ERROR. */
  terminate(): Promise<void>;
  [Symbol.dispose](): void;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts a Web Worker (browsers; a module worker on js/worker-host.js) or a worker_threads Worker
 * (Node) with its own wasm core, resolved once the core has loaded there. In Node the worker does
 * not keep the process alive while no call is pending.
 *
 * ```js
 * const webptq = await createWorker();
 * const model = await webptq.loadModel('model.onnx');
 * const { bytes } = await webptq.quantize(model, { calibration: batches(), onProgress });   // the page stays responsive
 * ```
 */
export function createWorker(options?: WorkerOptions): Promise<WebptqWorker>;
