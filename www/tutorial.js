// The tutorial page: post-training quantization explained on real tensors of the built-in MNIST
// CNN. The float model runs in the package's worker on 100 held-out digits with its layers added
// as graph outputs (onnx-proto.js), so sections 1-2 quantize a real activation by hand
// (quant-math.js); section 3 quantizes the model's real conv weights; section 4 runs the float
// model and the int8 model the core made from it on a drawn digit; section 5 quantizes again with
// the lossiest layers kept float and measures what that recovers.
import { createWorker } from '../js/index.js';
import {
  $, el, fmtBytes, fmtMs, fmtDb, fmtPct, describeError, setStatus as setLine, argmax,
} from './ui.js';
import { barChart, histogramChart, widthOf, COLORS, fmtNum } from './charts.js';
import { setupPad, initBars, showBars, readDigit as runDigit } from './pad.js';
import { readNodes, readFloatInitializers, withOutputs } from './onnx-proto.js';
import {
  extremes, histogram, rangeError, METHODS, mseRange, weightError, representedRange,
} from './quant-math.js';
import * as samples from './samples.js';

const setStatus = (text, isError = false) => setLine($('status'), text, isError);

/** At most `n` of the values, every k-th (the sliders recompute the error on each move). */
function subsample(values, n = 150_000) {
  if (values.length <= n) return values;
  const k = Math.ceil(values.length / n);
  const out = new Float32Array(Math.ceil(values.length / k));
  for (let i = 0, j = 0; i < values.length; i += k, j++) out[j] = values[i];
  return out;
}

const state = {
  worker: null,
  digits: null,
  bytes: null,
  layers: new Map(), // name → { opType, values (subsampled), total }
  coreRanges: new Map(), // method → Map(activation name → represented range)
  float: null,
  int8: null,
  keep: new Map(), // N → result
};

// ---- 1. scale and zero point --------------------------------------------------------------------

function sliderBounds(values) {
  const { min, max } = extremes(values);
  const span = Math.max(max - min, 1e-6);
  return { lo: [Math.min(min, 0) - 0.25 * span, 0], hi: [0, Math.max(max, 0) + 0.25 * span], min, max };
}

const fromSlider = (input, [a, b]) => a + ((b - a) * Number(input.value)) / Number(input.max);
const toSlider = (v, [a, b], max = 1000) => String(Math.round(((v - a) / (b - a || 1)) * max));

function currentLayer() {
  return state.layers.get($('t1-layer').value);
}

/** Sets the range (exactly: the sliders only approximate it) and moves the sliders to it. */
function setRange(lo, hi) {
  const layer = currentLayer();
  Object.assign(layer, { lo, hi });
  $('t1-lo').value = toSlider(lo, layer.bounds.lo);
  $('t1-hi').value = toSlider(hi, layer.bounds.hi);
}

function renderSection1() {
  const layer = currentLayer();
  if (!layer) return;
  const b = layer.bounds;
  const { lo, hi } = layer;
  const e = rangeError(layer.values, lo, hi);
  $('t1-lo-out').value = fmtNum(lo);
  $('t1-hi-out').value = fmtNum(hi);
  $('t1-scale').value = e.scale.toPrecision(4);
  $('t1-zp').value = String(e.zeroPoint);
  $('t1-sqnr').value = fmtDb(e.sqnrDb);
  $('t1-mse').value = e.mse.toExponential(3);
  $('t1-clipped').value = fmtPct(e.clipped, 3);
  $('t1-levels').value = `${e.levels} of 256`;
  const q = { min: e.scale * (0 - e.zeroPoint), max: e.scale * (255 - e.zeroPoint) };
  $('t1-chart').replaceChildren(histogramChart(layer.hist, { ranges: [{ label: 'your range', ...q }], shade: q, title: `histogram of ${layer.name}`, width: widthOf($('t1-chart')) }));
  $('t1-note').textContent = `${layer.name} (${layer.opType} output): ${layer.total.toLocaleString('en-US')} values from 100 digits, from ${fmtNum(b.min)} to ${fmtNum(b.max)}`
    + `${layer.values.length < layer.total ? `; the errors are measured on every ${Math.ceil(layer.total / layer.values.length)}th value` : ''}. Counts on a log scale; grey: clipped.`;
}

// ---- 2. the four methods ------------------------------------------------------------------------

function renderSection2() {
  const layer = currentLayer();
  if (!layer) return;
  const rows = [];
  const ranges = [];
  Object.entries(METHODS).forEach(([key, m], i) => {
    layer.methods ??= {};
    // Ranges from all the values; the MSE search (100 trial quantizations) on the sample.
    layer.methods[key] ??= key === 'mse' ? mseRange(layer.values, 100, layer.bounds) : m.range(layer.full);
    const r = layer.methods[key];
    const e = rangeError(layer.values, r.min, r.max);
    const core = state.coreRanges.get(key)?.get(layer.name);
    ranges.push({ label: m.label, min: e.scale * -e.zeroPoint, max: e.scale * (255 - e.zeroPoint), color: COLORS[i] });
    rows.push(el('tr', { 'data-method': key },
      el('td', {}, m.label),
      el('td', {}, `${fmtNum(r.min)} … ${fmtNum(r.max)}`),
      el('td', { class: 'num' }, fmtDb(e.sqnrDb)),
      el('td', { class: 'num' }, fmtPct(e.clipped, 3)),
      el('td', {}, core ? `${fmtNum(core.min)} … ${fmtNum(core.max)}` : (state.coreRanges.size ? 'not quantized on its own' : '…'))));
  });
  $('t2-table').replaceChildren(
    el('tr', {}, el('th', {}, 'method'), el('th', {}, 'range (this page)'), el('th', {}, 'SQNR'), el('th', {}, 'clipped'), el('th', {}, "webptq's core")),
    ...rows,
  );
  $('t2-chart').replaceChildren(histogramChart(layer.hist, { ranges, title: `four methods on ${layer.name}`, width: widthOf($('t2-chart')) }));
}

/** Asks the core for each method's ranges on the same 100 digits (four quick quantizations in the worker). */
async function loadCoreRanges(calibration) {
  for (const method of Object.keys(METHODS)) {
    const { report } = await state.worker.quantize(state.bytes, { calibration, method });
    state.coreRanges.set(method, new Map(report.activations.filter((a) => a.range).map((a) => [a.name, representedRange(a.params)])));
  }
  renderSection2();
}

// ---- 3. per-tensor vs per-channel ---------------------------------------------------------------

function renderSection3() {
  const w = state.weights.get($('t3-weight').value);
  if (!w) return;
  const per = $('t3-per-channel').checked;
  const mine = weightError(w.data, w.dims, per);
  const other = weightError(w.data, w.dims, !per);
  $('t3-sqnr').value = fmtDb(mine.sqnrDb);
  $('t3-worst').value = fmtDb(Math.min(...mine.channels.map((c) => c.sqnrDb)));
  $('t3-other').value = `${fmtDb(other.sqnrDb)} ${per ? 'per tensor' : 'per channel'}`;
  $('t3-scales').value = per ? `${w.dims[0]} (one per channel)` : '1';
  const rows = mine.channels.map((c, i) => ({ label: `channel ${i}`, value: c.sqnrDb }));
  const hi = Math.max(...weightError(w.data, w.dims, true).channels.map((c) => c.sqnrDb)) * 1.05;
  $('t3-chart').replaceChildren(barChart(rows, { max: hi, title: `per-channel SQNR of ${$('t3-weight').value}`, width: widthOf($('t3-chart')) }));
}

// ---- 4. the drawing pad -------------------------------------------------------------------------

function setupSection4() {
  initBars($('t4-float-bars'));
  initBars($('t4-int8-bars'));
  setupPad({
    pad: $('t4-pad'),
    thumb: $('t4-thumb'),
    clear: $('t4-clear'),
    onDrawing: async (pixels) => (state.float && state.int8
      ? { float: await runDigit(state.float, pixels), int8: await runDigit(state.int8, pixels) }
      : null),
    show: (r) => {
      for (const k of ['float', 'int8']) {
        showBars($(`t4-${k}-bars`), r?.[k].probs ?? null);
        $(`t4-${k}-digit`).textContent = r ? String(r[k].digit) : '?';
        $(`t4-${k}-info`).textContent = r ? `${fmtPct(r[k].probs[r[k].digit])} sure, ${fmtMs(r[k].ms)}` : '';
      }
    },
    onError: (e) => setStatus(describeError(e), true),
  });
}

// ---- 5. keep float ------------------------------------------------------------------------------

async function keepFloatResult(n, calibration) {
  if (state.keep.has(n)) return state.keep.get(n);
  const w = state.worker;
  const options = { calibration, method: 'minmax', perChannel: false, ...(n > 0 ? { keepFloat: n } : {}) };
  const { bytes, report } = await w.quantize(state.bytes, options);
  const session = await w.InferenceSession.create(bytes);
  try {
    const from = samples.CALIBRATION_DIGITS;
    const feeds = { input: samples.digitBatch(state.digits, from, from + samples.HELD_OUT_DIGITS) };
    const [q, f] = await Promise.all([session.run(feeds), state.float.run(feeds)]);
    const qa = q[session.outputNames[0]].data;
    const fa = f[state.float.outputNames[0]].data;
    let agree = 0;
    for (let i = 0; i < samples.HELD_OUT_DIGITS; i++) agree += argmax(qa.subarray(i * 10, i * 10 + 10)) === argmax(fa.subarray(i * 10, i * 10 + 10));
    const out = (report.keepFloat?.outputsAfter ?? report.outputs)[0];
    const result = { n, nodes: report.keepFloat?.nodes ?? [], sqnrDb: out.sqnrDb, agree: agree / samples.HELD_OUT_DIGITS, bytes: bytes.length, floatBytes: report.floatBytes, report };
    state.keep.set(n, result);
    return result;
  } finally {
    await session.release();
  }
}

let keepToken = 0;
async function renderSection5(calibration) {
  const n = Number($('t5-keep').value);
  $('t5-keep-out').value = String(n);
  const token = ++keepToken;
  $('t5-sqnr').value = '…';
  const r = await keepFloatResult(n, calibration);
  if (token !== keepToken) return;
  $('t5-nodes').value = r.nodes.length ? r.nodes.join(', ') : 'none';
  $('t5-sqnr').value = fmtDb(r.sqnrDb);
  $('t5-agree').value = fmtPct(r.agree);
  $('t5-size').value = `${fmtBytes(r.floatBytes)} → ${fmtBytes(r.bytes)}`;
  const lossy = r.report.mostLossy.map((l) => ({ label: `${l.node} (${l.opType})`, value: l.ownSqnrDb, mark: r.nodes.includes(l.node) }));
  const all = [...state.keep.values()].sort((a, b) => a.n - b.n).map((x) => ({ label: `${x.n} kept float`, value: x.sqnrDb, mark: x.n === n }));
  $('t5-chart').replaceChildren(
    el('p', { class: 'hint' }, 'Output SQNR for each N tried so far:'), barChart(all, { title: 'output SQNR by layers kept float', width: widthOf($('t5-chart')) }),
    el('p', { class: 'hint' }, 'The layers ranked by the error each adds by itself (own SQNR; lower is worse; kept float in orange):'), barChart(lossy, { title: 'own SQNR per layer', width: widthOf($('t5-chart')) }),
  );
}

// ---- start --------------------------------------------------------------------------------------

async function start() {
  setupSection4();
  const [worker, digits, bytes] = await Promise.all([
    createWorker(),
    samples.mnistDigits(),
    fetch(samples.MNIST_MODEL).then(async (r) => new Uint8Array(await r.arrayBuffer())),
  ]);
  Object.assign(state, { worker, digits, bytes });
  $('engine').textContent = `wasm build in the worker: ${worker.wasmFlavour}`;
  const calibration = samples.mnistCalibration(digits, 'input');

  // Every node's output of the float model on the 100 calibration digits.
  const nodes = readNodes(bytes).filter((n) => ['Conv', 'Relu', 'Gemm', 'MaxPool'].includes(n.opType));
  const names = nodes.map((n) => n.outputs[0]);
  const probe = await worker.InferenceSession.create(withOutputs(bytes, names));
  const all = new Map(names.map((n) => [n, []]));
  for (const feeds of calibration) {
    const out = await probe.run(feeds);
    for (const n of names) all.get(n).push(out[n].data);
  }
  await probe.release();
  for (const node of nodes) {
    const parts = all.get(node.outputs[0]);
    const values = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) {
      values.set(p, o);
      o += p.length;
    }
    const sub = subsample(values);
    state.layers.set(node.outputs[0], { name: node.outputs[0], opType: node.opType, full: values, values: sub, total: values.length, bounds: sliderBounds(values), hist: histogram(values, 160) });
  }
  $('t1-layer').replaceChildren(...nodes.map((n) => el('option', { value: n.outputs[0] }, `${n.outputs[0]} (${n.opType})`)));
  const onLayer = () => {
    const { min, max } = currentLayer().bounds;
    setRange(min, max);
    renderSection1();
    renderSection2();
  };
  $('t1-layer').addEventListener('change', onLayer);
  $('t1-lo').addEventListener('input', () => {
    currentLayer().lo = fromSlider($('t1-lo'), currentLayer().bounds.lo);
    renderSection1();
  });
  $('t1-hi').addEventListener('input', () => {
    currentLayer().hi = fromSlider($('t1-hi'), currentLayer().bounds.hi);
    renderSection1();
  });
  onLayer();

  state.weights = new Map([...readFloatInitializers(bytes)].filter(([, w]) => w.dims.length >= 2));
  $('t3-weight').replaceChildren(...[...state.weights].map(([name, w]) => el('option', { value: name }, `${name} [${w.dims.join('×')}]`)));
  $('t3-weight').addEventListener('change', renderSection3);
  $('t3-per-channel').addEventListener('change', renderSection3);
  renderSection3();

  setStatus('Quantizing the model in the worker (four calibration methods, then the int8 model for section 4)…');
  state.float = await worker.InferenceSession.create(bytes);
  await loadCoreRanges(calibration);
  const { bytes: int8 } = await worker.quantize(bytes, { calibration });
  state.int8 = await worker.InferenceSession.create(int8);
  $('t5-keep').addEventListener('input', () => void renderSection5(calibration).catch((e) => setStatus(describeError(e), true)));
  await renderSection5(calibration);
  setStatus(`Ready: every figure below was computed in this tab from the MNIST CNN (${fmtBytes(bytes.length)}) and 100 real digits.`);
  return { layers: [...state.layers.keys()] };
}

const ready = start().catch((e) => {
  setStatus(describeError(e), true);
  return { error: e };
});

window.webptqTutorial = { ready, state };
