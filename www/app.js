// The demo page: load a model (the built-in MNIST CNN, a fixture model of the local cache, a URL
// or dropped files), choose calibration samples and options, press Quantize, and see what int8
// gained and lost, all measured in this tab: sizes, float and int8 latency, top-1 agreement,
// accuracy on held-back digits (for a text encoder: the cosine of each typed sentence's int8
// embedding to the float one), per-layer SQNR, a layer's activation histogram with each
// method's clipping range, and a Download of the quantized .onnx. Everything heavy runs in the
// package's worker (createWorker), so the page stays responsive; no byte of a model is sent
// anywhere. The package is imported straight from js/ (no build step).
import { createWorker, Tensor, wasmFeatures } from '../js/index.js';
import { groupUnsupported } from '../js/model.js';
import {
  $, el, fmtBytes, fmtMs, fmtDb, fmtPct, describeError, setStatus as setLine, argmax, median, timeRuns,
} from './ui.js';
import { barChart, histogramChart, widthOf, COLORS } from './charts.js';
import { setupPad, initBars, showBars, toMnist, readDigit as runDigit } from './pad.js';
import { withOutputs } from './onnx-proto.js';
import { histogram, extremes, representedRange } from './quant-math.js';
import * as samples from './samples.js';
import * as text from './text.js';
import { saveHandoff, plainBatches } from './handoff.js';

const setStatus = (text, isError = false) => setLine($('status'), text, isError);

// ---- model info ---------------------------------------------------------------------------------

const fmtShape = (shape) => (shape ? `[${shape.map((d) => (d === null ? '?' : d)).join(', ')}]` : 'any');

const wrap = (table) => el('div', { class: 'table-wrap' }, table);

function valuesTable(values) {
  const t = el('table', {}, el('tr', {}, el('th', {}, 'name'), el('th', {}, 'type'), el('th', {}, 'shape')));
  for (const v of values) t.append(el('tr', {}, el('td', {}, v.name), el('td', {}, v.type ?? '?'), el('td', {}, fmtShape(v.shape))));
  return wrap(t);
}

/** Renders a ModelInfo (what inspect() returns) into the info panel. */
export function renderInfo(info, container = $('info')) {
  container.replaceChildren();
  const facts = el('dl', { class: 'facts' });
  const fact = (k, v) => facts.append(el('dt', {}, k), el('dd', {}, v));
  fact('opset', Object.entries(info.opsets).map(([d, v]) => `${d} ${v}`).join(', '));
  fact('IR version', info.irVersion);
  fact('producer', info.producer || '—');
  fact('nodes', info.nodeCount);
  // The core counts the initializers and the tensors of Constant nodes (where some exporters keep every weight).
  const constants = info.opCounts.Constant ?? 0;
  const params = `${info.parameterCount.toLocaleString('en-US')} (${fmtBytes(info.parameterBytes)})`;
  fact('parameters', constants ? `${params}, in the initializers and ${constants} Constant node${constants === 1 ? '' : 's'}` : `${params} in initializers`);
  container.append(facts);
  container.append(el('h3', {}, `Inputs (${info.inputs.length})`), valuesTable(info.inputs));
  container.append(el('h3', {}, `Outputs (${info.outputs.length})`), valuesTable(info.outputs));
  const ops = Object.entries(info.opCounts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const t = el('table', { id: 'op-counts' }, el('tr', {}, el('th', {}, 'op'), el('th', {}, 'count')));
  for (const [op, n] of ops) t.append(el('tr', {}, el('td', {}, op), el('td', { class: 'num' }, n)));
  container.append(el('h3', {}, `Ops (${ops.length} types)`), wrap(t));
  if (info.unsupportedOps.length) {
    const groups = groupUnsupported(info.unsupported);
    const ut = el('table', { class: 'unsupported' }, el('tr', {}, el('th', {}, 'op'), el('th', {}, 'nodes'), el('th', {}, 'e.g.')));
    for (const g of groups) ut.append(el('tr', {}, el('td', {}, g.op), el('td', { class: 'num' }, g.count), el('td', {}, g.nodes[0] ?? '')));
    container.append(el('h3', { class: 'unsupported' }, `Not supported yet (${groups.length} op${groups.length === 1 ? '' : 's'}, ${info.unsupportedOps.length} node${info.unsupportedOps.length === 1 ? '' : 's'})`), wrap(ut));
  } else {
    container.append(el('p', { class: 'ok' }, 'Every op is supported: this build can run and quantize the model.'));
  }
}

// ---- state --------------------------------------------------------------------------------------

const state = {
  worker: null,
  workerReady: null, // createWorker(), started first thing
  loads: 0, // openModel calls so far: a later one wins over an earlier one still loading
  catalog: { models: [], images: [], imagesSource: '' },
  digits: null,
  mnist: { float: null, int8: null }, // sessions of the built-in model, for the drawing pad
  current: null, // { model, bytes, info, name, entry, tokenizerFiles, tokenizer }
  textEdited: false, // the visitor typed in the sentences box: a new model keeps them
  result: null, // { bytes, report, options, calibration, methodRanges }
  job: null, // the AbortController of the running job
  probe: null, // { name, values } the last layer read
};

/** Runs one job at a time with a progress bar and the Cancel button; resolves to its value, or null if cancelled. */
async function runJob(label, fn) {
  state.job?.abort();
  const job = new AbortController();
  state.job = job;
  $('cancel').disabled = false;
  $('quantize').disabled = true;
  progress(label, 0, null);
  try {
    return await fn(job.signal);
  } catch (e) {
    if (e?.code === 'CANCELLED' || job.signal.aborted) {
      setStatus(`${label}: cancelled.`);
      progress('cancelled', 0, 1);
      return null;
    }
    throw e;
  } finally {
    if (state.job === job) {
      state.job = null;
      $('cancel').disabled = true;
      $('quantize').disabled = !state.current;
    }
  }
}

function progress(stage, done, total) {
  const bar = $('progress');
  if (total) bar.value = Math.min(1, done / total);
  else bar.removeAttribute('value');
  $('progress-text').textContent = total ? `${stage} ${done}/${total}` : `${stage}…`;
}

function loadProgress(p) {
  $('load-progress-row').hidden = false;
  const bar = $('load-progress');
  if (p.total) bar.value = p.done / p.total;
  else bar.removeAttribute('value');
  $('load-progress-text').textContent = `${p.file ? `${p.file}: ` : ''}${fmtBytes(p.done)}${p.total ? ` of ${fmtBytes(p.total)}` : ''}`;
}

// ---- loading a model ----------------------------------------------------------------------------

async function releaseCurrent() {
  const old = state.current;
  state.current = null;
  state.result = null;
  state.probe = null;
  $('results').hidden = true;
  if (old) await old.model.release().catch(() => {});
}

/** Loads a model into the worker and shows it; `entry` is its fixture catalog entry, if any. */
async function openModel(source, name, { entry = null, externalData, tokenizerFiles = null } = {}) {
  const seq = ++state.loads;
  $('model-name').textContent = name;
  $('info').replaceChildren(el('p', { class: 'hint' }, 'Reading…'));
  const job = new AbortController();
  state.job?.abort();
  state.job = job;
  await releaseCurrent();
  $('quantize').disabled = true;
  $('cancel').disabled = false;
  try {
    setStatus(`Loading ${name}…`);
    const worker = await state.workerReady;
    const model = await worker.loadModel(source, { onProgress: loadProgress, signal: job.signal, externalData });
    const bytes = await model.toBytes();
    if (seq !== state.loads) {
      await model.release();
      return null;
    }
    const info = model.info();
    state.current = { model, bytes, info, name, entry, tokenizerFiles, tokenizer: null };
    renderInfo(info);
    setupCalibration();
    const unsupported = info.unsupportedOps.length;
    setStatus(unsupported
      ? `${name}: ${unsupported} node${unsupported === 1 ? '' : 's'} this build cannot run (see Model details); it cannot be calibrated here.`
      : `${name} loaded (${fmtBytes(bytes.length)}) in the worker (${worker.wasmFlavour} build). Press Quantize.`, unsupported > 0);
    if (unsupported) $('info-details').open = true;
    return info;
  } catch (e) {
    if (seq !== state.loads) return null;
    if (e?.code === 'CANCELLED') setStatus(`Loading ${name}: cancelled.`);
    else {
      $('info').replaceChildren(el('p', { class: 'unsupported' }, `Cannot read ${name}: ${describeError(e)}`));
      setStatus(`Cannot read ${name}: ${describeError(e)}`, true);
    }
    return null;
  } finally {
    if (state.job === job) state.job = null;
    $('cancel').disabled = true;
    $('quantize').disabled = !state.current;
    $('to-tutorial').disabled = !state.current;
    $('load-progress-row').hidden = true;
  }
}

function openBuiltin() {
  return openModel(samples.MNIST_MODEL.href, 'www/models/mnist-cnn.onnx', { entry: { kind: 'mnist' } });
}

function addFixtureModels() {
  for (const m of state.catalog.models) $('model-select').append(el('option', { value: m.file }, `${m.label} — fixture cache`));
}

function setupModelPicker() {
  const select = $('model-select');
  select.addEventListener('change', () => {
    if (select.value === 'builtin') return void openBuiltin();
    const m = state.catalog.models.find((x) => x.file === select.value);
    if (m) void openModel(m.url, m.file, { entry: m });
  });
  $('url-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const url = $('model-url').value.trim();
    if (url) void openModel(url, url);
  });
  const openFiles = (files) => {
    // A text model's tokenizer.json (and tokenizer_config.json) may come beside the .onnx.
    const json = [...files].filter((f) => f.name.toLowerCase().endsWith('.json'));
    const list = [...files].filter((f) => !json.includes(f));
    const onnx = list.find((f) => f.name.toLowerCase().endsWith('.onnx')) ?? list[0];
    if (!onnx) return;
    const externalData = {};
    for (const f of list) if (f !== onnx) externalData[f.name] = f;
    void openModel(onnx, `${onnx.name} (${fmtBytes(onnx.size)})`, {
      externalData: list.length > 1 ? externalData : undefined,
      tokenizerFiles: json.length ? json : null,
    });
  };
  const drop = $('drop');
  for (const type of ['dragover', 'drop']) window.addEventListener(type, (ev) => ev.preventDefault());
  drop.addEventListener('dragenter', () => drop.classList.add('over'));
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    drop.classList.remove('over');
    if (ev.dataTransfer?.files?.length) openFiles(ev.dataTransfer.files);
  });
  drop.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      $('file').click();
    }
  });
  $('file').addEventListener('change', (ev) => {
    if (ev.target.files?.length) openFiles(ev.target.files);
  });
}

// ---- calibration data ---------------------------------------------------------------------------

const isMnistShaped = (info) => info.inputs.length === 1 && info.inputs[0].type === 'float32'
  && JSON.stringify(info.inputs[0].shape?.slice(1)) === '[1,28,28]';

/** The sample sources that fit the current model, best first. */
function calibrationChoices() {
  const { info, entry } = state.current;
  const choices = [];
  if (isMnistShaped(info)) choices.push(['mnist', `${samples.CALIBRATION_DIGITS} built-in MNIST digits (${samples.HELD_OUT_DIGITS} more held back to measure accuracy)`]);
  if (text.textInputs(info)) choices.push(['text', 'sentences you type or paste (tokenized in this tab)']);
  if (samples.imageInput(info)) {
    if (state.catalog.images.length) choices.push(['photos', `${state.catalog.images.length} built-in photos (${state.catalog.imagesSource})`]);
    choices.push(['files', 'images you choose']);
  }
  choices.push(['random', 'random data (see the warning)']);
  return choices;
}

function setupCalibration() {
  const select = $('calib-source');
  select.replaceChildren(...calibrationChoices().map(([v, label]) => el('option', { value: v }, label)));
  const img = samples.imageInput(state.current.info);
  if (img) {
    const pp = state.current.entry?.preprocess ?? samples.guessPreprocess(img);
    $('pp-size').value = Array.isArray(pp.size) ? (pp.size[0] === pp.size[1] ? pp.size[0] : pp.size.join('x')) : pp.size;
    $('pp-resize').value = String(pp.resize);
    $('pp-scale').value = String(pp.scale);
    $('pp-mean').value = [pp.mean].flat().join(', ');
    $('pp-std').value = [pp.std].flat().join(', ');
    $('pp-layout').value = pp.layout;
    $('pp-channels').value = pp.channels;
  }
  $('text-tokenizer').value = '';
  $('tokenizer-source').textContent = '';
  $('text-summary').textContent = '';
  if (text.textInputs(state.current.info)) void setupText(state.current);
  showCalibrationFields();
}

// ---- sentences for text models ------------------------------------------------------------------

/** Fills the sentences box (the fixture's own sentences, or examples) and loads the tokenizer. */
async function setupText(cur) {
  if (!state.textEdited) {
    let sentences = text.EXAMPLE_SENTENCES;
    if (cur.entry?.sentences) sentences = await samples.fixtureSentences(cur.entry.sentences).catch(() => sentences);
    if (state.current !== cur || state.textEdited) return;
    $('text-sentences').value = sentences.join('\n');
  }
  await tokenizerFor(cur).catch(() => {}); // the summary line says what went wrong
  if (state.current === cur) showTextSummary();
}

/** Where the current model's tokenizer.json comes from, in words; null when it has none yet. */
function tokenizerOrigin(cur) {
  if (cur.tokenizerFiles) return cur.tokenizerFiles.map((f) => f.name).join(' + ');
  if (cur.entry?.tokenizer) return `${cur.entry.tokenizer} (fixture cache)`;
  return null;
}

/** The current model's tokenizer (see text.loadTokenizer), loaded once per model and source. */
function tokenizerFor(cur) {
  if (cur.tokenizer) return cur.tokenizer;
  const loading = (async () => {
    $('tokenizer-source').textContent = 'Loading the tokenizer…';
    if (cur.tokenizerFiles) {
      const files = cur.tokenizerFiles;
      const config = files.find((f) => /tokenizer_config\.json$/i.test(f.name));
      const main = files.find((f) => f !== config);
      if (!main) throw new Error(`${config.name} alone is not enough: choose the tokenizer.json beside it`);
      return text.loadTokenizer(await main.text(), main.name, config ? await config.text() : null);
    }
    if (cur.entry?.tokenizer) {
      const { url, label } = samples.fixtureTokenizer(cur.entry.tokenizer);
      const res = await fetch(url);
      if (!res.ok) throw new Error(`cannot fetch ${label}: HTTP ${res.status}`);
      return text.loadTokenizer(await res.text(), label);
    }
    throw new Error('this model came without a tokenizer.json: choose the one it was trained with above (or drop it beside the .onnx)');
  })();
  cur.tokenizer = loading;
  loading.catch(() => {
    if (cur.tokenizer === loading) cur.tokenizer = null; // the next try (a file chosen, a key typed) loads again
  });
  return loading;
}

/** Tokenizes the sentences box for the current model: { sentences, encoded, tok }. */
async function encodeTyped(cur) {
  const tok = await tokenizerFor(cur);
  const sentences = text.splitSentences($('text-sentences').value);
  const encoded = text.encodeSentences(tok, sentences, { length: text.textInputs(cur.info).length });
  return { sentences, encoded, tok };
}

let summarySeq = 0;
/** The line under the sentences box: how many sentences, their tokens, the length they are padded to. */
async function showTextSummary() {
  const cur = state.current;
  if (!cur || !text.textInputs(cur.info)) return;
  const seq = ++summarySeq;
  const origin = tokenizerOrigin(cur);
  try {
    const { sentences, encoded, tok } = await encodeTyped(cur);
    if (seq !== summarySeq || state.current !== cur) return;
    $('tokenizer-source').textContent = `Tokenizer: ${origin ?? tok.source}, ${tok.json.model.type ?? 'model'} with ${text.vocabSize(tok).toLocaleString('en-US')} tokens, run by @huggingface/tokenizers in this tab.`;
    const fixed = text.textInputs(cur.info).length;
    const lo = Math.min(...encoded.lengths);
    const hi = Math.max(...encoded.lengths);
    $('text-summary').textContent = `${sentences.length} sentence${sentences.length === 1 ? '' : 's'}, ${lo === hi ? lo : `${lo}–${hi}`} tokens each; padded with ${encoded.pad.token} (id ${encoded.pad.id}) to ${encoded.length}`
      + ` (${fixed ? 'the model\'s sequence length' : 'the longest'})${encoded.truncated ? `; ${encoded.truncated} cut to ${encoded.length}` : ''}. They stay on this device.`;
    $('text-summary').classList.remove('error');
  } catch (e) {
    if (seq !== summarySeq || state.current !== cur) return;
    if (!cur.tokenizer) $('tokenizer-source').textContent = origin ? `Tokenizer: ${origin}.` : 'No tokenizer.json yet.';
    $('text-summary').textContent = describeError(e);
    $('text-summary').classList.add('error');
  }
}

function setupTextFields() {
  $('text-sentences').addEventListener('input', () => {
    state.textEdited = true;
    void showTextSummary();
  });
  $('text-tokenizer').addEventListener('change', (ev) => {
    const cur = state.current;
    const files = [...(ev.target.files ?? [])];
    if (!cur || !files.length) return;
    cur.tokenizerFiles = files;
    cur.tokenizer = null;
    void showTextSummary();
  });
}

function showCalibrationFields() {
  const v = $('calib-source').value;
  $('preprocess').hidden = !(v === 'photos' || v === 'files');
  $('calib-files-row').hidden = v !== 'files';
  $('random-warning').hidden = v !== 'random';
  // An image model (not a digit reader) where this copy of the site has no photos: say so rather than offer none silently.
  $('photos-note').hidden = !(state.current && samples.imageInput(state.current.info) && !isMnistShaped(state.current.info) && !state.catalog.images.length);
  $('text-fields').hidden = v !== 'text';
  const n = v === 'files' ? chosenImages().length : null;
  $('calib-summary').textContent = v === 'files' ? `${n} image${n === 1 ? '' : 's'} chosen; they stay on this device.` : '';
}

/** The images chosen as files or in a folder (a folder's other files left out). */
const chosenImages = () => [...$('calib-files').files, ...$('calib-folder').files].filter((f) => f.type.startsWith('image/') || /\.(jpe?g|png|webp|gif|bmp)$/i.test(f.name));

const numbers = (s) => s.split(/[\s,x]+/).filter(Boolean).map(Number);

function readPreprocess() {
  const one = (a) => (a.length === 1 ? a[0] : a);
  const size = numbers($('pp-size').value);
  const resize = $('pp-resize').value;
  return {
    size: size.length === 1 ? size[0] : size,
    resize: /^\d+$/.test(resize) ? Number(resize) : resize,
    scale: Number($('pp-scale').value),
    mean: one(numbers($('pp-mean').value)),
    std: one(numbers($('pp-std').value)),
    layout: $('pp-layout').value,
    channels: $('pp-channels').value,
  };
}

/** The calibration batches for the current model and choice: { batches, text? (the tokenized sentences) }. */
async function calibrationBatches(signal) {
  const cur = state.current;
  const { info } = cur;
  const v = $('calib-source').value;
  if (v === 'mnist') return { batches: samples.mnistCalibration(await samples.mnistDigits(), info.inputs[0].name) };
  if (v === 'text') {
    const typed = await encodeTyped(cur);
    return { batches: text.textFeeds(typed.encoded, text.textInputs(info)), text: typed };
  }
  if (v === 'photos' || v === 'files') {
    const sources = v === 'photos' ? state.catalog.images : chosenImages();
    if (!sources.length) throw new Error('choose some images first');
    return { batches: await samples.imageCalibration(sources, samples.imageInput(info).name, readPreprocess(), { signal }) };
  }
  return { batches: samples.randomCalibration(info) };
}

// ---- options ------------------------------------------------------------------------------------

function readOptions() {
  const mode = $('opt-mode').value;
  const o = { mode, perChannel: $('opt-per-channel').checked };
  if (mode === 'static') {
    o.format = $('opt-format').value;
    o.method = $('opt-method').value;
    o.activationType = $('opt-activation').value;
    const keep = Number($('opt-keep-float').value);
    if (keep > 0) o.keepFloat = keep;
  }
  const ex = $('opt-exclude').value.split(/[\s,]+/).filter(Boolean);
  if (ex.length) o.excludeOpTypes = ex;
  if (mode === 'weight-only' || mode === 'fp16') delete o.perChannel;
  return o;
}

function setupOptions() {
  const sync = () => {
    const isStatic = $('opt-mode').value === 'static';
    for (const id of ['opt-format', 'opt-method', 'opt-activation', 'opt-keep-float']) $(id).disabled = !isStatic;
    $('opt-per-channel').disabled = !['static', 'dynamic'].includes($('opt-mode').value);
  };
  $('opt-mode').addEventListener('change', sync);
  sync();
}

// ---- quantize and measure -----------------------------------------------------------------------

/** The first `n` rows of each feed (the first axis is the batch). */
function firstRows(feeds, n = 1) {
  const out = {};
  for (const [k, t] of Object.entries(feeds)) {
    const per = t.dims.slice(1).reduce((a, b) => a * b, 1);
    const rows = Math.min(n, t.dims[0]);
    out[k] = new Tensor(t.type, t.data.slice(0, per * rows), [rows, ...t.dims.slice(1)]);
  }
  return out;
}

async function quantizeNow() {
  const cur = state.current;
  if (!cur) return;
  const w = state.worker;
  const result = await runJob('Quantize', async (signal) => {
    setStatus(`Quantizing ${cur.name} in the worker…`);
    progress('calibration data', 0, null);
    const { batches: calibration, text: typed } = await calibrationBatches(signal);
    const options = readOptions();
    const t0 = performance.now();
    const { bytes, report } = await w.quantize(cur.model, {
      ...options, calibration, signal, onProgress: (p) => progress(p.stage, p.done, p.total),
    });
    const quantizeMs = performance.now() - t0;
    progress('measuring latency', 0, null);
    const feed = firstRows(calibration[0]);
    const float = await w.InferenceSession.create(cur.model);
    const quant = await w.InferenceSession.create(bytes);
    try {
      const runs = cur.bytes.length > 4e6 ? 5 : 25;
      const floatMs = await timeRuns(float, feed, runs);
      if (signal.aborted) throw Object.assign(new Error('cancelled'), { code: 'CANCELLED' });
      const quantMs = await timeRuns(quant, feed, runs);
      let heldOut = null;
      if ($('calib-source').value === 'mnist') {
        progress(`${samples.HELD_OUT_DIGITS} held-back digits`, 0, null);
        heldOut = await heldOutAccuracy(float, quant, cur.info.inputs[0].name);
      }
      let sentences = null;
      if (typed) {
        progress('cosine per sentence', 0, null);
        sentences = await sentenceCosines(float, quant, calibration, typed);
      }
      return { bytes, report, options, calibration, quantizeMs, floatMs, quantMs, heldOut, sentences, methodRanges: new Map() };
    } finally {
      await float.release();
      if (cur.entry?.kind === 'mnist') {
        await state.mnist.int8?.release();
        state.mnist.int8 = quant;
      } else {
        await quant.release();
      }
    }
  }).catch((e) => {
    setStatus(`Quantize failed: ${describeError(e)}`, true);
    progress('failed', 0, 1);
    return null;
  });
  if (!result || state.current !== cur) return;
  state.result = result;
  progress('done', 1, 1);
  renderResults(result);
  setStatus(`Quantized ${cur.name}: ${fmtBytes(result.report.floatBytes)} → ${fmtBytes(result.bytes.length)}. The results below were measured in this tab.`);
}

/** Accuracy of both sessions on the held-back digits, and how often they agree. */
async function heldOutAccuracy(float, quant, input) {
  const d = await samples.mnistDigits();
  const from = samples.CALIBRATION_DIGITS;
  const to = from + samples.HELD_OUT_DIGITS;
  const feeds = { [input]: samples.digitBatch(d, from, to) };
  const [a, b] = await Promise.all([float.run(feeds), quant.run(feeds)]);
  const fa = a[float.outputNames[0]].data;
  const qa = b[quant.outputNames[0]].data;
  let fRight = 0;
  let qRight = 0;
  let agree = 0;
  for (let i = 0; i < to - from; i++) {
    const pf = argmax(fa.subarray(i * 10, i * 10 + 10));
    const pq = argmax(qa.subarray(i * 10, i * 10 + 10));
    const label = d.y[from + i];
    fRight += pf === label;
    qRight += pq === label;
    agree += pf === pq;
  }
  const n = to - from;
  return { n, float: fRight / n, quant: qRight / n, agree: agree / n };
}

/**
 * The cosine of each sentence's embedding in the quantized model to the float one: both models
 * run the calibration batches (the typed sentences); the embedding is the model's
 * [batch, hidden] float output, or the attention-masked mean of a [batch, seq, hidden] one.
 */
async function sentenceCosines(float, quant, batches, typed) {
  const rows = [];
  let output = null;
  let offset = 0;
  for (const feeds of batches) {
    const n = Object.values(feeds)[0].dims[0];
    const mask = typed.encoded.mask.slice(offset, offset + n);
    const [a, b] = await Promise.all([float.run(feeds), quant.run(feeds)]);
    const fe = text.embeddings(a, mask);
    const qe = text.embeddings(b, mask, fe.name);
    output = fe;
    for (let i = 0; i < n; i++) {
      rows.push({ sentence: typed.sentences[offset + i], tokens: typed.encoded.lengths[offset + i], cosine: text.cosine(fe.vectors[i], qe.vectors[i]) });
    }
    offset += n;
  }
  return { rows, output: output.name, pooled: output.pooled, encoded: typed.encoded, tokenizer: typed.tok.source };
}

/** The report's activations in the order the graph computes them (the model's inputs first). */
export function inGraphOrder(report) {
  const order = new Map();
  for (const n of report.nodes) {
    for (const t of n.inputs) if (!order.has(t.name)) order.set(t.name, order.size);
    for (const t of n.outputs) if (!order.has(t.name)) order.set(t.name, order.size);
  }
  const at = (a) => order.get(a.name) ?? Infinity;
  return [...report.activations].sort((a, b) => at(a) - at(b));
}

/** The bar scale of the SQNR chart: the largest finite figure, capped at 80 dB so one near-exact value (an 8-bit image input) does not flatten the rest. */
function sqnrScale(rows) {
  const finite = rows.map((r) => r.value).filter((v) => v !== null && Number.isFinite(v));
  return Math.min(80, Math.max(1, ...finite)) * 1.05;
}

function figure(id, term, value, detail) {
  return [el('dt', {}, term), el('dd', { id }, el('span', { class: 'big' }, value), detail ? el('span', { class: 'hint' }, ` ${detail}`) : null)];
}

function renderResults(r) {
  const { report } = r;
  $('results').hidden = false; // first, so the charts can take its width
  // The first float output (a text model's first output may be integer token ids passed through).
  const floats = new Set(state.current.info.outputs.filter((o) => o.type === 'float32').map((o) => o.name));
  const out = report.outputs.find((o) => floats.has(o.name)) ?? report.outputs[0];
  const isInt = r.options.mode === 'static' || r.options.mode === 'dynamic';
  const qname = isInt ? 'int8' : r.options.mode;
  const figs = [
    ...figure('fig-size', 'Size', `${fmtBytes(report.floatBytes)} → ${fmtBytes(r.bytes.length)}`, `ratio ${(r.bytes.length / report.floatBytes).toFixed(3)} (${fmtPct(r.bytes.length / report.floatBytes)} of the float file)`),
    ...figure('fig-latency', 'Latency, one sample', `float ${fmtMs(r.floatMs)} · ${qname} ${fmtMs(r.quantMs)}`, `×${(r.floatMs / r.quantMs).toFixed(2)} on this device (median of runs timed in the worker)`),
  ];
  // (A sentence embedder's hidden features are no classes: its figure is the cosine below.)
  if (out?.top1Agreement !== undefined && out?.top1Agreement !== null && !r.sentences) {
    figs.push(...figure('fig-agreement', 'Top-1 agreement with float', fmtPct(out.top1Agreement), `on the ${report.evaluatedBatches} evaluated calibration batch${report.evaluatedBatches === 1 ? '' : 'es'}`));
  }
  if (out) figs.push(...figure('fig-output-sqnr', `Output SQNR (${out.name})`, fmtDb(out.sqnrDb), `largest difference ${out.maxAbsError.toPrecision(3)}`));
  if (r.heldOut) {
    const h = r.heldOut;
    figs.push(...figure('fig-accuracy', `Accuracy on ${h.n} held-back digits`, `float ${fmtPct(h.float)} · ${qname} ${fmtPct(h.quant)}`, `they agree on ${fmtPct(h.agree)}`));
  }
  if (r.sentences) {
    const c = r.sentences.rows.map((x) => x.cosine);
    const mean = c.reduce((a, b) => a + b, 0) / c.length;
    figs.push(...figure('fig-cosine', 'Cosine to float, per sentence', `min ${Math.min(...c).toFixed(4)} · mean ${mean.toFixed(4)}`, `${c.length} sentence${c.length === 1 ? '' : 's'}, embedding ${r.sentences.pooled ? `= masked mean of ${r.sentences.output}` : r.sentences.output}`));
  }
  renderSentences(r.sentences, qname);
  if (report.keepFloat) {
    const kf = report.keepFloat;
    const before = kf.outputsBefore[0];
    const after = kf.outputsAfter[0];
    figs.push(...figure('fig-keep-float', 'Kept float', kf.nodes.join(', ') || 'none', before && after ? `output SQNR ${fmtDb(before.sqnrDb)} → ${fmtDb(after.sqnrDb)}` : ''));
  }
  figs.push(...figure('fig-time', 'Time to quantize', fmtMs(r.quantizeMs), `${report.calibration.batches} calibration batch${report.calibration.batches === 1 ? '' : 'es'}, ${report.nodes.filter((n) => n.decision === 'quantized').length} of ${report.nodes.length} nodes quantized`));
  $('figures').replaceChildren(...figs);
  const warnings = [...report.warnings];
  const huge = hugeRanges(report);
  if (huge.length) {
    const a = huge[0];
    warnings.push(`${huge.length} calibrated range${huge.length === 1 ? '' : 's'} reach${huge.length === 1 ? 'es' : ''} ${a.range.min.toPrecision(3)} … ${a.range.max.toPrecision(3)} (${a.name}${huge.length > 1 ? ' and more' : ''}):`
      + ' a fill value such as an attention mask\'s "minus infinity" added to the scores. 256 levels cannot hold it and the real values together, so they are lost;'
      + ' exclude the op types that carry it (for a transformer: Add, Softmax) or choose the dynamic mode, and quantize again.');
  }
  $('warnings').textContent = warnings.length ? `Warnings: ${warnings.join(' · ')}` : '';
  const base = state.current.name.replace(/\s*\(.*\)$/, '').split('/').pop().replace(/\.onnx$/i, '');
  r.fileName = `${base}.${r.options.mode === 'static' ? 'int8' : r.options.mode}.onnx`;
  $('download-name').textContent = `${r.fileName}, ${fmtBytes(r.bytes.length)}`;

  const lossy = new Set(report.mostLossy.slice(0, 3).map((l) => l.output));
  const rows = inGraphOrder(report).map((a) => ({ label: a.name, value: a.sqnrDb, mark: lossy.has(a.name) }));
  $('sqnr-chart').replaceChildren(rows.length ? barChart(rows, { title: 'per-layer SQNR', width: widthOf($('sqnr-chart')), max: sqnrScale(rows) }) : el('p', { class: 'hint' }, 'No quantized activations in this mode (only weights are quantized).'));
  const layers = report.activations.filter((a) => a.range);
  $('layer-select').replaceChildren(...layers.map((a) => el('option', { value: a.name }, a.name)));
  $('compare-methods').disabled = r.options.mode !== 'static' || !layers.length;
  $('results').hidden = false;
  if (layers.length) {
    $('layer-select').value = report.mostLossy[0]?.output && layers.some((a) => a.name === report.mostLossy[0].output) ? report.mostLossy[0].output : layers[0].name;
    void showLayer();
  } else {
    $('hist-chart').replaceChildren();
    $('hist-note').textContent = 'No calibrated activation ranges in this mode.';
  }
}

/**
 * The activations whose calibrated range reaches past ±1e30 (a fill value, not data) and that a
 * quantized node reads: there the fill shares 256 levels with the real values.
 */
export function hugeRanges(report) {
  const readByQuantized = new Set(report.nodes.filter((n) => n.decision === 'quantized').flatMap((n) => n.inputs.map((t) => t.name)));
  return report.activations.filter((a) => a.range && Math.max(Math.abs(a.range.min), Math.abs(a.range.max)) > 1e30 && readByQuantized.has(a.name));
}

/** The per-sentence table of a text model's results (hidden for other models). */
function renderSentences(s, qname) {
  $('text-results').hidden = !s;
  if (!s) return;
  $('cosine-note').textContent = `(output ${s.output}${s.pooled ? ', mean over the real tokens' : ''}; 1 = same direction)`;
  const t = el('tr', {}, el('th', {}, 'sentence'), el('th', {}, 'tokens'), el('th', {}, `cosine ${qname} : float`));
  $('cosine-table').replaceChildren(t, ...s.rows.map((x) => el('tr', {}, el('td', {}, x.sentence), el('td', { class: 'num' }, x.tokens), el('td', { class: 'num' }, x.cosine.toFixed(4)))));
}

/** The float values of one activation on the first calibration batch, read with the layer added as a graph output. */
async function layerValues(name) {
  if (state.probe?.name === name && state.probe.model === state.current) return state.probe.values;
  const cur = state.current;
  const session = await state.worker.InferenceSession.create(withOutputs(cur.bytes, [name]));
  try {
    const out = await session.run(state.result.calibration[0]);
    const t = out[name];
    if (!t || !(t.data instanceof Float32Array)) throw new Error(`layer '${name}' has no float32 output`);
    state.probe = { name, model: cur, values: t.data };
    return t.data;
  } finally {
    await session.release();
  }
}

async function showLayer() {
  const r = state.result;
  const name = $('layer-select').value;
  if (!r || !name) return;
  $('hist-note').textContent = `Reading layer ${name}…`;
  try {
    const values = await layerValues(name);
    if (state.result !== r || $('layer-select').value !== name) return;
    const ranges = [];
    const method = r.options.method ?? 'minmax';
    const act = r.report.activations.find((a) => a.name === name);
    ranges.push({ label: `${method} (this run)`, ...representedRange(act.params), color: COLORS[0] });
    let i = 1;
    for (const [m, byName] of r.methodRanges) {
      const a = byName.get(name);
      if (m !== method && a) ranges.push({ label: m, ...representedRange(a.params), color: COLORS[i++ % COLORS.length] });
    }
    const ext = extremes(values);
    const hist = histogram(values, 160, ext);
    $('hist-chart').replaceChildren(histogramChart(hist, { ranges, shade: ranges[0], title: `activation histogram of ${name}`, width: widthOf($('hist-chart')) }));
    $('hist-note').textContent = `${values.length.toLocaleString('en-US')} values of ${name} on the first calibration batch (counts on a log scale), from ${ext.min.toPrecision(4)} to ${ext.max.toPrecision(4)}. `
      + 'Each bracket is the range the core\'s calibration picked, as stored in the quantized model (scale × (q − zero point) over the 256 levels); grey: what the first one clips.'
      + (r.methodRanges.size ? '' : ' Press “Compare the four methods” to calibrate with the others too.');
  } catch (e) {
    $('hist-chart').replaceChildren();
    $('hist-note').textContent = `Cannot read layer ${name}: ${describeError(e)}`;
  }
}

async function compareMethods() {
  const r = state.result;
  const cur = state.current;
  if (!r || !cur) return;
  const done = await runJob('Compare methods', async (signal) => {
    for (const m of ['minmax', 'percentile', 'entropy', 'mse']) {
      if (m === r.options.method || r.methodRanges.has(m)) continue;
      const { report } = await state.worker.quantize(cur.model, {
        ...r.options, method: m, keepFloat: undefined, calibration: r.calibration, signal, onProgress: (p) => progress(`${m}: ${p.stage}`, p.done, p.total),
      });
      r.methodRanges.set(m, new Map(report.activations.filter((a) => a.range).map((a) => [a.name, a])));
    }
    return true;
  }).catch((e) => {
    setStatus(`Compare failed: ${describeError(e)}`, true);
    return null;
  });
  if (done && state.result === r) {
    progress('done', 1, 1);
    void showLayer();
  }
}

/**
 * onnxruntime-web (served locally from vendor/, single-threaded, on this page's thread) runs the
 * float and the quantized model on the same sample: its latency next to ours, and whether its
 * quantized answer's top-1 is ours.
 */
async function compareOrt() {
  const r = state.result;
  const cur = state.current;
  if (!r || !cur) return;
  const button = $('compare-ort');
  button.disabled = true;
  setStatus('Running both models in onnxruntime-web (on this page\'s thread)…');
  try {
    const base = new URL('../vendor/onnxruntime-web/', import.meta.url);
    const ort = await import(new URL('ort.wasm.min.mjs', base).href);
    ort.env.wasm.wasmPaths = base.href;
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    ort.env.logLevel = 'error';
    const feed = firstRows(r.calibration[0]);
    const feeds = Object.fromEntries(Object.entries(feed).map(([k, t]) => [k, new ort.Tensor(t.type, t.data, t.dims)]));
    const time = async (bytes) => {
      const s = await ort.InferenceSession.create(bytes);
      try {
        let out = await s.run(feeds);
        const runs = cur.bytes.length > 4e6 ? 5 : 25;
        const ms = [];
        for (let i = 0; i < runs; i++) {
          const t0 = performance.now();
          out = await s.run(feeds);
          ms.push(performance.now() - t0);
        }
        return { ms: median(ms), out };
      } finally {
        await s.release();
      }
    };
    const float = await time(cur.bytes);
    const quant = await time(r.bytes);
    const name = Object.keys(quant.out).find((k) => quant.out[k].type === 'float32') ?? Object.keys(quant.out)[0];
    const ours = await state.worker.InferenceSession.create(r.bytes);
    let agree = null;
    try {
      const mine = (await ours.run(feed))[name];
      const c = mine.dims.at(-1);
      if (c > 1) {
        let same = 0;
        const rows = mine.data.length / c;
        for (let i = 0; i < rows; i++) same += argmax(mine.data.subarray(i * c, i * c + c)) === argmax(quant.out[name].data.subarray(i * c, i * c + c));
        agree = `its ${r.options.mode === 'static' ? 'int8' : r.options.mode} top-1 is webptq's on ${same}/${rows}`;
      }
    } finally {
      await ours.release();
    }
    if (state.result !== r) return;
    $('figures').append(...figure('fig-ort', 'onnxruntime-web, one sample', `float ${fmtMs(float.ms)} · quantized ${fmtMs(quant.ms)}`, `(1 thread, this page's thread)${agree ? `; ${agree}` : ''}`));
    setStatus(`onnxruntime-web ${ort.env.versions?.web ?? ''} ran both models here, from this server's copy.`);
  } catch (e) {
    setStatus(`onnxruntime-web could not run the models: ${describeError(e)}`, true);
  } finally {
    button.disabled = false;
  }
}

function download() {
  const r = state.result;
  if (!r) return;
  const url = URL.createObjectURL(new Blob([r.bytes], { type: 'application/octet-stream' }));
  const a = el('a', { href: url, download: r.fileName, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// ---- the tutorial on this model ------------------------------------------------------------------

/**
 * Opens the tutorial on the current model: the built-in MNIST CNN is the tutorial's own; any
 * other model goes with the calibration samples chosen in §2 through IndexedDB (www/handoff.js).
 */
async function openInTutorial() {
  const cur = state.current;
  if (!cur) return;
  if (cur.entry?.kind === 'mnist') return void window.location.assign('tutorial.html');
  $('to-tutorial').disabled = true;
  try {
    setStatus(`Preparing ${cur.name} and its calibration samples for the tutorial…`);
    const { batches } = await calibrationBatches();
    await saveHandoff({ name: cur.name, bytes: cur.bytes, calibration: plainBatches(batches), samples: $('calib-source').selectedOptions[0]?.textContent ?? '' });
    if (state.current === cur) window.location.assign('tutorial.html?model=demo');
  } catch (e) {
    setStatus(`Cannot open the tutorial on ${cur.name}: ${describeError(e)}`, true);
  } finally {
    $('to-tutorial').disabled = !state.current;
  }
}

// ---- drawing ------------------------------------------------------------------------------------

/** The float model's answer for 784 pixels (0..1): { digit, probs }. */
async function predict(pixels) {
  if (!state.mnist.float) throw new Error('the model is not loaded');
  return runDigit(state.mnist.float, pixels);
}

function setupDrawing() {
  initBars($('bars'));
  setupPad({
    pad: $('pad'),
    thumb: $('thumb'),
    clear: $('clear'),
    onDrawing: async (pixels) => {
      if (!state.mnist.float) return null;
      const float = await predict(pixels);
      const int8 = state.mnist.int8 ? await runDigit(state.mnist.int8, pixels) : null;
      return { float, int8 };
    },
    show: (r) => {
      showBars($('bars'), r?.float.probs ?? null);
      $('digit').textContent = r ? String(r.float.digit) : '?';
      $('confidence').textContent = r ? `${fmtPct(r.float.probs[r.float.digit])} sure (float, ${fmtMs(r.float.ms)})` : '';
      $('int8-digit').textContent = r?.int8 ? `int8 model: ${r.int8.digit}, ${fmtPct(r.int8.probs[r.int8.digit])} sure (${fmtMs(r.int8.ms)})` : '';
    },
    onError: (e) => setStatus(describeError(e), true),
  });
}

// ---- start --------------------------------------------------------------------------------------

async function start() {
  state.workerReady = createWorker();
  setupDrawing();
  setupOptions();
  setupModelPicker();
  setupTextFields();
  $('calib-source').addEventListener('change', showCalibrationFields);
  $('calib-files').addEventListener('change', showCalibrationFields);
  $('calib-folder').addEventListener('change', showCalibrationFields);
  $('quantize').addEventListener('click', () => void quantizeNow());
  $('cancel').addEventListener('click', () => state.job?.abort());
  $('download').addEventListener('click', download);
  $('to-tutorial').addEventListener('click', () => void openInTutorial());
  $('compare-ort').addEventListener('click', () => void compareOrt());
  $('layer-select').addEventListener('change', () => void showLayer());
  $('compare-methods').addEventListener('click', () => void compareMethods());
  const [worker, catalog, digits] = await Promise.all([state.workerReady, samples.fixtureCatalog(), samples.mnistDigits()]);
  Object.assign(state, { worker, catalog, digits });
  addFixtureModels();
  const f = wasmFeatures();
  $('engine').textContent = `wasm build in the worker: ${worker.wasmFlavour} (this engine supports SIMD128: ${f.simd128 ? 'yes' : 'no'}, relaxed SIMD: ${f.relaxed ? 'yes' : 'no'})`;
  // The drawing pad always runs the built-in model, whatever model is open.
  state.mnist.float = await worker.InferenceSession.create(samples.MNIST_MODEL.href);
  if (state.loads > 0) return { info: await worker.inspect(samples.MNIST_MODEL.href) }; // the visitor opened a model already
  const info = await openBuiltin();
  if (!info) return { error: new Error($('status').textContent) };
  setStatus(`Model loaded (${fmtBytes(state.current.bytes.length)}), running in WebAssembly (${worker.wasmFlavour} build) in a worker. Press Quantize, or draw a digit.`);
  return { info };
}

const ready = start().catch((e) => {
  setStatus(describeError(e), true);
  return { error: e };
});

// A small handle for the browser tests and the curious.
window.webptqDemo = { ready, predict, toMnist, renderInfo, state };
