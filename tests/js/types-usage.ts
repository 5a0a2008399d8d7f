// Compiled (not run) by tests/js/types.test.mjs with tsc --noEmit --strict: the README's and
// the doc comments' uses of the API type-check against js/index.d.ts.
import {
  loadModel, quantize, InferenceSession, Tensor, imageToTensor, createWorker, readNpy, wasmMemory,
  WebptqError, type ModelInfo, type QuantizeOptions, type ImageOptions, type Feeds, type NodeTime,
} from '../../js/index.js';

async function main(digits: Tensor, file: File, canvas: HTMLCanvasElement): Promise<void> {
  const model = await loadModel('mnist-cnn.onnx', { onProgress: ({ done, total }) => console.log(done, total ?? '?'), signal: AbortSignal.timeout(1000) });
  const info: ModelInfo = model.info();
  console.log(info.opCounts, info.parameterBytes, info.unsupportedOps, info.unsupported.map((u) => u.opType));
  const options: QuantizeOptions = { calibration: [{ input: digits }], method: 'percentile', percentile: 99.99, onProgress: (p) => console.log(p.stage) };
  const { bytes, report } = await quantize(model, options);
  console.log(report.sizeRatio);
  const session = await InferenceSession.create(bytes, { engine: 'int8', optimize: true });
  const { logits } = await session.run({ input: digits });
  console.log(logits.dims, session.engine);
  const times: NodeTime[] = await session.profile({ input: digits });
  console.log(times.map((t) => `${t.opType} ${t.name} ${t.ms}`), (await session.stats()).fusedGroups);
  await session.release();
  model.release();
  const img: ImageOptions = { resize: 256, size: [224, 224], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], layout: 'nhwc', channels: 'bgr' };
  const x: Tensor<'float32'> = await imageToTensor([file, canvas, 'photo.jpg'], img);
  const feeds: Feeds = { input: x };
  const w = await createWorker({ transferInputs: true });
  const wm = await w.loadModel(await file.arrayBuffer());
  await w.quantize(wm, { calibration: (async function* () { yield feeds; })() });
  const ws = await w.InferenceSession.create(wm, { engine: 'float' });
  console.log(await ws.run(feeds), (await w.wasmMemory()).inUse, wasmMemory().linear);
  console.log((await ws.profile(feeds)).length, (await ws.stats()).peakActivationBytes);
  await w.terminate();
  const t = readNpy(new Uint8Array(8));
  try {
    await loadModel(t.data.buffer as ArrayBuffer);
  } catch (e) {
    if (e instanceof WebptqError && e.code === 'HTTP_ERROR') console.log(e.message);
    if (e instanceof WebptqError && e.code === 'UNSUPPORTED_OP') console.log(e.unsupported?.map((u) => `${u.domain}.${u.opType} ${u.node}`));
  }
}
void main;
