// The tutorial page: post-training quantization explained on real tensors of a real model: the
// built-in MNIST CNN on 100 digits, or the model the visitor had open in the demo with the
// calibration samples chosen there (tutorial.html?model=demo; handed over through this
// browser's IndexedDB, www/handoff.js). The float model runs in the package's worker with a layer
// added as a graph output (onnx-proto.js), so sections 1-2 quantize a real activation by hand
// (quant-math.js); section 3 quantizes the model's real conv/matmul weights; section 4 runs the
// MNIST CNN (always: it is a digit pad) in float and int8 on a drawn digit; section 5 quantizes
// again with the lossiest layers kept float and measures what that recovers.
import { createWorker, Tensor } from '../js/index.js';
import { readHandoff } from './handoff.js';
import {
  $, el, fmtBytes, fmtMs, fmtDb, fmtPct, describeError, setStatus as setLine, argmax,
} from './ui.js';
import { barChart, histogramChart, widthOf, COLORS, fmtNum } from './charts.js';
import { setupPad, initBars, showBars, readDigit as runDigit } from './pad.js';
import { readNodes, readLayerWeights, withOutputs } from './onnx-proto.js';
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

// Op types whose outputs section 1 offers (float activations the quantizer calibrates).
const LAYER_OPS = new Set(['Conv', 'ConvTranspose', 'Relu', 'Gemm', 'MatMul', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'Clip',
  'HardSwish', 'HardSigmoid', 'Sigmoid', 'Tanh', 'Gelu', 'Softmax', 'LeakyRelu', 'Add', 'Mul', 'BatchNormalization', 'LayerNormalization']);
// At most this many values of one layer are kept (from the first calibration batches).
const MAX_VALUES = 4_000_000;

const state = {
  worker: null,
  digits: null,
  bytes: null, // the model the sections study
  subject: null, // { name, mnist, calibration, samples }
  mnistBytes: null, // the pad's model (section 4)
  layers: new Map(), // name → { opType, values (subsampled), total }
  coreRanges: new Map(), // method → Map(activation name → represented range)
  float: null, // the studied model's float session
  mnistFloat: null, // the pad's sessions (section 4)
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
  $('t1-note').textContent = `${layer.name} (${layer.opType} output): ${layer.total.toLocaleString('en-US')} values from ${layer.from}, from ${fmtNum(b.min)} to ${fmtNum(b.max)}`
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

const MAX_BARS = 64;

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
  let rows = mine.channels.map((c, i) => ({ label: `channel ${i}`, value: c.sqnrDb }));
  const hi = Math.max(...weightError(w.data, w.dims, true).channels.map((c) => c.sqnrDb).filter(Number.isFinite)) * 1.05;
  const many = rows.length > MAX_BARS;
  if (many) rows = rows.sort((a, b) => a.value - b.value).slice(0, MAX_BARS);
  $('t3-chart').replaceChildren(
    ...(many ? [el('p', { class: 'hint' }, `The ${MAX_BARS} worst of ${mine.channels.length} channels:`)] : []),
    barChart(rows, { max: hi, title: `per-channel SQNR of ${$('t3-weight').value}`, width: widthOf($('t3-chart')) }),
  );
}

// ---- 4. the drawing pad -------------------------------------------------------------------------

function setupSection4() {
  initBars($('t4-float-bars'));
  initBars($('t4-int8-bars'));
  setupPad({
    pad: $('t4-pad'),
    thumb: $('t4-thumb'),
    clear: $('t4-clear'),
    onDrawing: async (pixels) => (state.mnistFloat && state.int8
      ? { float: await runDigit(state.mnistFloat, pixels), int8: await runDigit(state.int8, pixels) }
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
  const outs = report.keepFloat?.outputsAfter ?? report.outputs;
  // The first output with an error to show (a text model's first outputs may be ids passed through).
  const out = outs.find((o) => o.sqnrDb !== null && Number.isFinite(o.sqnrDb)) ?? outs[0];
  if (!state.subject.mnist) {
    // No labelled held-back set for the visitor's model: the agreement on the calibration samples.
    const result = { n, nodes: report.keepFloat?.nodes ?? [], sqnrDb: out.sqnrDb, agree: out.top1Agreement ?? null, bytes: bytes.length, floatBytes: report.floatBytes, report, output: out.name };
    state.keep.set(n, result);
    return result;
  }
  const session = await w.InferenceSession.create(bytes);
  try {
    const from = samples.CALIBRATION_DIGITS;
    const feeds = { input: samples.digitBatch(state.digits, from, from + samples.HELD_OUT_DIGITS) };
    const [q, f] = await Promise.all([session.run(feeds), state.float.run(feeds)]);
    const qa = q[session.outputNames[0]].data;
    const fa = f[state.float.outputNames[0]].data;
    let agree = 0;
    for (let i = 0; i < samples.HELD_OUT_DIGITS; i++) agree += argmax(qa.subarray(i * 10, i * 10 + 10)) === argmax(fa.subarray(i * 10, i * 10 + 10));
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
  $('t5-agree-label').textContent = state.subject.mnist ? 'agreement with float (500 digits)' : `top-1 agreement with float (${r.output}, calibration samples)`;
  $('t5-agree').value = r.agree === null ? '— (no classes)' : fmtPct(r.agree);
  $('t5-size').value = `${fmtBytes(r.floatBytes)} → ${fmtBytes(r.bytes)}`;
  const lossy = r.report.mostLossy.map((l) => ({ label: `${l.node} (${l.opType})`, value: l.ownSqnrDb, mark: r.nodes.includes(l.node) }));
  const all = [...state.keep.values()].sort((a, b) => a.n - b.n).map((x) => ({ label: `${x.n} kept float`, value: x.sqnrDb, mark: x.n === n }));
  $('t5-chart').replaceChildren(
    el('p', { class: 'hint' }, 'Output SQNR for each N tried so far:'), barChart(all, { title: 'output SQNR by layers kept float', width: widthOf($('t5-chart')) }),
    el('p', { class: 'hint' }, 'The layers ranked by the error each adds by itself (own SQNR; lower is worse; kept float in orange):'), barChart(lossy, { title: 'own SQNR per layer', width: widthOf($('t5-chart')) }),
  );
}

// ---- start --------------------------------------------------------------------------------------

/** The model the sections study: the demo's hand-off (tutorial.html?model=demo) or the MNIST CNN. */
async function subject() {
  if (new URLSearchParams(window.location.search).get('model') === 'demo') {
    const h = await readHandoff().catch(() => null);
    if (h?.bytes && h.calibration?.length) {
      const calibration = h.calibration.map((feeds) => Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new Tensor(t.type, t.data, t.dims)])));
      const n = calibration.reduce((a, feeds) => a + Object.values(feeds)[0].dims[0], 0);
      return { name: h.name, mnist: false, bytes: h.bytes, calibration, samples: `${n} calibration sample${n === 1 ? '' : 's'} from the demo (${h.samples})` };
    }
    setStatus('No model came from the demo (open it there with “Open in the tutorial”): showing the MNIST CNN.', true);
  }
  return { name: 'the MNIST CNN', mnist: true, bytes: state.mnistBytes, calibration: samples.mnistCalibration(state.digits, 'input'), samples: '100 real digits' };
}

/** One layer's float values on the calibration batches (up to MAX_VALUES, from the first batches). */
async function readLayers(names) {
  const probe = await state.worker.InferenceSession.create(withOutputs(state.bytes, names));
  const all = new Map(names.map((n) => [n, []]));
  let batches = 0;
  try {
    for (const feeds of state.subject.calibration) {
      const out = await probe.run(feeds);
      for (const n of names) {
        if (!(out[n]?.data instanceof Float32Array)) throw new Error(`layer '${n}' has no float32 output`);
        all.get(n).push(out[n].data);
      }
      batches += 1;
      if (Math.max(...[...all.values()].map((p) => p.reduce((a, x) => a + x.length, 0))) >= MAX_VALUES) break;
    }
  } finally {
    await probe.release();
  }
  const total = state.subject.calibration.length;
  for (const [name, parts] of all) {
    const values = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) {
      values.set(p, o);
      o += p.length;
    }
    const opType = state.layerOps.get(name);
    const from = state.subject.mnist ? '100 digits' : `${batches === total ? 'the' : `the first ${batches} of`} ${total} calibration batch${total === 1 ? '' : 'es'}`;
    state.layers.set(name, { name, opType, from, full: values, values: subsample(values), total: values.length, bounds: sliderBounds(values), hist: histogram(values, 160) });
  }
}

let layerSeq = 0;
/** Shows the chosen layer in sections 1-2, reading its values first if needed. */
async function onLayer() {
  const name = $('t1-layer').value;
  const seq = ++layerSeq;
  if (!state.layers.has(name)) {
    $('t1-note').textContent = `Reading ${name} on the calibration samples…`;
    try {
      await readLayers([name]);
    } catch (e) {
      if (seq !== layerSeq) return;
      // An integer output (shape arithmetic in a transformer, say) is no activation to quantize:
      // drop it from the menu and show the next layer.
      const option = $('t1-layer').selectedOptions[0];
      if (/has no float32 output/.test(String(e?.message)) && option && $('t1-layer').options.length > 1) {
        const next = option.nextElementSibling ?? option.previousElementSibling;
        option.remove();
        $('t1-layer').value = next.value;
        return onLayer();
      }
      $('t1-note').textContent = `Cannot read ${name}: ${describeError(e)}`;
      return;
    }
  }
  if (seq !== layerSeq) return;
  const { min, max } = currentLayer().bounds;
  setRange(min, max);
  renderSection1();
  renderSection2();
}

async function start() {
  setupSection4();
  const [worker, digits, mnistBytes] = await Promise.all([
    createWorker(),
    samples.mnistDigits(),
    fetch(samples.MNIST_MODEL).then(async (r) => new Uint8Array(await r.arrayBuffer())),
  ]);
  Object.assign(state, { worker, digits, mnistBytes });
  $('engine').textContent = `wasm build in the worker: ${worker.wasmFlavour}`;
  const subj = await subject();
  state.subject = subj;
  state.bytes = subj.bytes;
  const { calibration } = subj;
  $('t-model').textContent = subj.mnist
    ? 'The model: the built-in MNIST CNN, on 100 real digits. To study another model, open it in the demo and press “Open in the tutorial”.'
    : `The model: ${subj.name}, from the demo, on ${subj.samples}. Section 4's drawing pad always runs the MNIST CNN.`;
  $('t-mnist-link').hidden = subj.mnist;
  setStatus(`Running ${subj.name} on ${subj.samples}…`);

  // The float activations the sections can show: every node output of those op types.
  const nodes = readNodes(state.bytes).filter((n) => LAYER_OPS.has(n.opType) && n.outputs[0]);
  state.layerOps = new Map(nodes.map((n) => [n.outputs[0], n.opType]));
  const names = nodes.map((n) => n.outputs[0]);
  if (!names.length) throw new Error(`${subj.name} has no ${[...LAYER_OPS].slice(0, 6).join('/')}… node whose activations the tutorial could show`);
  // The MNIST CNN is small: all its layers at once. A larger model: each layer when chosen.
  if (subj.mnist) await readLayers(names);
  $('t1-layer').replaceChildren(...nodes.map((n) => el('option', { value: n.outputs[0] }, `${n.outputs[0]} (${n.opType})`)));
  $('t1-layer').addEventListener('change', () => void onLayer());
  $('t1-lo').addEventListener('input', () => {
    currentLayer().lo = fromSlider($('t1-lo'), currentLayer().bounds.lo);
    renderSection1();
  });
  $('t1-hi').addEventListener('input', () => {
    currentLayer().hi = fromSlider($('t1-hi'), currentLayer().bounds.hi);
    renderSection1();
  });
  await onLayer();

  state.weights = readLayerWeights(state.bytes);
  $('t3-weight').replaceChildren(...[...state.weights].map(([name, w]) => el('option', { value: name }, `${name} [${(w.stored ?? w.dims).join('×')}] (${w.op})`)));
  $('t3-note').textContent = state.weights.size ? '' : `${subj.name} has no Conv, Gemm or MatMul weight stored as a float initializer.`;
  $('t3-weight').addEventListener('change', renderSection3);
  $('t3-per-channel').addEventListener('change', renderSection3);
  renderSection3();

  setStatus(`Quantizing ${subj.name} in the worker (four calibration methods${subj.mnist ? ', then the int8 model for section 4' : ''})…`);
  if (subj.mnist) state.float = await worker.InferenceSession.create(state.bytes); // section 5's held-back digits
  await loadCoreRanges(calibration);
  // Section 4: the MNIST CNN in both precisions, whatever the other sections study.
  state.mnistFloat = subj.mnist ? state.float : await worker.InferenceSession.create(mnistBytes);
  const { bytes: int8 } = await worker.quantize(mnistBytes, { calibration: subj.mnist ? calibration : samples.mnistCalibration(digits, 'input') });
  state.int8 = await worker.InferenceSession.create(int8);
  $('t5-keep').addEventListener('input', () => void renderSection5(calibration).catch((e) => setStatus(describeError(e), true)));
  await renderSection5(calibration);
  setStatus(`Ready: every figure below was computed in this tab from ${subj.mnist ? `the MNIST CNN (${fmtBytes(state.bytes.length)})` : `${subj.name} (${fmtBytes(state.bytes.length)})`} and ${subj.samples}.`);
  return { layers: subj.mnist ? [...state.layers.keys()] : names, model: subj.name };
}

const ready = start().catch((e) => {
  setStatus(describeError(e), true);
  return { error: e };
});

window.webptqTutorial = { ready, state };
