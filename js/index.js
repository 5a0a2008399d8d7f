// webptq: post-training int8 quantization of ONNX models on your own device. The public API;
// the same module runs in browsers and in Node 20+. Types: index.d.ts.
export { InferenceSession } from './session.js';
export { Model, loadModel, inspect, supportedOps } from './model.js';
export { Tensor, TENSOR_TYPES } from './tensor.js';
export { WebptqError, ERROR_CODES } from './errors.js';
export { readNpy, writeNpy } from './npy.js';
export { quantize } from './quantize.js';
export { imageToTensor, decodeImage } from './image.js';
export { createWorker } from './worker.js';
export { loadWasm, wasmFlavour, wasmFeatures, wasmMemory } from './loader.js';
