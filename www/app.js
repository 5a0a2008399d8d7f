// The demo page: runs the built-in MNIST model on a digit drawn by the user and inspects dropped
// .onnx files, with the package imported straight from js/ (no build step). Everything happens in
// this tab; the model bytes are never sent anywhere.
import { InferenceSession, Tensor, inspect, wasmFlavour, wasmFeatures } from '../js/index.js';
import { groupUnsupported, describeUnsupported } from '../js/model.js';

const MODEL_URL = new URL('models/mnist-cnn.onnx', import.meta.url);
const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
};

function setStatus(text, isError = false) {
  const s = $('status');
  s.textContent = text;
  s.classList.toggle('error', isError);
}

function describeError(e) {
  if (e && e.code === 'UNSUPPORTED_OP') return `${e.code}: unsupported ops: ${describeUnsupported(e.message)}`;
  return e && e.code ? `${e.code}: ${e.message}` : String(e?.message ?? e);
}

// ---- model info ---------------------------------------------------------------------------------

const fmtShape = (shape) => (shape ? `[${shape.map((d) => (d === null ? '?' : d)).join(', ')}]` : 'any');

function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

function valuesTable(values) {
  const t = el('table', {}, el('tr', {}, el('th', {}, 'name'), el('th', {}, 'type'), el('th', {}, 'shape')));
  for (const v of values) t.append(el('tr', {}, el('td', {}, v.name), el('td', {}, v.type ?? '?'), el('td', {}, fmtShape(v.shape))));
  return t;
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
  fact('parameters', `${info.parameterCount.toLocaleString('en-US')} (${fmtBytes(info.parameterBytes)})`);
  container.append(facts);
  container.append(el('h3', {}, `Inputs (${info.inputs.length})`), valuesTable(info.inputs));
  container.append(el('h3', {}, `Outputs (${info.outputs.length})`), valuesTable(info.outputs));
  const ops = Object.entries(info.opCounts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const t = el('table', { id: 'op-counts' }, el('tr', {}, el('th', {}, 'op'), el('th', {}, 'count')));
  for (const [op, n] of ops) t.append(el('tr', {}, el('td', {}, op), el('td', { class: 'num' }, n)));
  container.append(el('h3', {}, `Ops (${ops.length} types)`), t);
  if (info.unsupportedOps.length) {
    const groups = groupUnsupported(info.unsupportedOps);
    const ut = el('table', { class: 'unsupported' }, el('tr', {}, el('th', {}, 'op'), el('th', {}, 'nodes'), el('th', {}, 'e.g.')));
    for (const g of groups) ut.append(el('tr', {}, el('td', {}, g.op), el('td', { class: 'num' }, g.count), el('td', {}, g.nodes[0] ?? '')));
    container.append(el('h3', { class: 'unsupported' }, `Not supported yet (${groups.length} op${groups.length === 1 ? '' : 's'}, ${info.unsupportedOps.length} node${info.unsupportedOps.length === 1 ? '' : 's'})`), ut);
  } else {
    container.append(el('p', { class: 'ok' }, 'Every op is supported: this build can run the model.'));
  }
}

// ---- turning a drawing into an MNIST input -------------------------------------------------------

/**
 * MNIST-style preprocessing of a white-on-black drawing: crop to the ink, scale so the longer side
 * is 20 px (area averaging), place in 28x28 and shift so the centre of mass is in the middle.
 * Returns 784 floats in 0..1, or null for an empty drawing.
 * @param {ImageData} img
 */
export function toMnist(img) {
  const { width: W, height: H, data } = img;
  let x0 = W;
  let y0 = H;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (data[(y * W + x) * 4] > 20) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return null;
  const side = Math.max(x1 - x0 + 1, y1 - y0 + 1);
  const s = 20 / side;
  const ox = 14 - ((x1 - x0 + 1) * s) / 2;
  const oy = 14 - ((y1 - y0 + 1) * s) / 2;
  const sum = new Float64Array(28 * 28);
  for (let y = y0; y <= y1; y++) {
    const ty = Math.floor((y - y0) * s + oy);
    for (let x = x0; x <= x1; x++) {
      const tx = Math.floor((x - x0) * s + ox);
      sum[ty * 28 + tx] += data[(y * W + x) * 4] / 255;
    }
  }
  const perPixel = 1 / (s * s);
  let mass = 0;
  let cx = 0;
  let cy = 0;
  for (let i = 0; i < 784; i++) {
    const v = Math.min(1, sum[i] / perPixel);
    sum[i] = v;
    mass += v;
    cx += v * (i % 28);
    cy += v * Math.floor(i / 28);
  }
  const dx = Math.round(13.5 - cx / mass);
  const dy = Math.round(13.5 - cy / mass);
  const out = new Float32Array(784);
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      const sx = x - dx;
      const sy = y - dy;
      if (sx >= 0 && sx < 28 && sy >= 0 && sy < 28) out[y * 28 + x] = sum[sy * 28 + sx];
    }
  }
  return out;
}

function softmax(logits) {
  const m = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}

// ---- the model ----------------------------------------------------------------------------------

let session = null;

/** Runs the model on 784 pixels (0..1); resolves to { digit, probs }. */
async function predict(pixels) {
  if (!session) throw new Error('the model is not loaded');
  const input = new Tensor('float32', pixels, [1, 1, 28, 28]);
  const out = await session.run({ [session.inputNames[0]]: input });
  const probs = softmax(Array.from(out[session.outputNames[0]].data));
  const digit = probs.indexOf(Math.max(...probs));
  return { digit, probs };
}

function showPrediction(result) {
  const bars = $('bars');
  if (!result) {
    $('digit').textContent = '?';
    $('confidence').textContent = '';
    for (const li of bars.children) {
      li.classList.remove('top');
      li.querySelector('.fill').style.width = '0';
      li.querySelector('.pct').textContent = '';
    }
    return;
  }
  $('digit').textContent = String(result.digit);
  $('confidence').textContent = `${(result.probs[result.digit] * 100).toFixed(1)}% sure`;
  result.probs.forEach((p, i) => {
    const li = bars.children[i];
    li.classList.toggle('top', i === result.digit);
    li.querySelector('.fill').style.width = `${(p * 100).toFixed(1)}%`;
    li.querySelector('.pct').textContent = `${(p * 100).toFixed(1)}%`;
  });
}

// ---- drawing ------------------------------------------------------------------------------------

function setupPad() {
  const pad = $('pad');
  const ctx = pad.getContext('2d', { willReadFrequently: true });
  const thumb = $('thumb').getContext('2d');
  const bars = $('bars');
  for (let i = 0; i < 10; i++) {
    bars.append(el('li', {}, el('span', {}, i), el('span', { class: 'track' }, el('span', { class: 'fill' })), el('span', { class: 'pct' })));
  }
  let generation = 0; // bumped by Clear, so a prediction still running for the old drawing is dropped
  const clear = () => {
    generation += 1;
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, pad.width, pad.height);
    thumb.fillStyle = '#000';
    thumb.fillRect(0, 0, 28, 28);
    showPrediction(null);
  };
  clear();
  ctx.strokeStyle = '#fff';
  ctx.lineWidth = 20;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';

  let busy = false;
  let again = false;
  const update = async () => {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    const gen = generation;
    try {
      const pixels = toMnist(ctx.getImageData(0, 0, pad.width, pad.height));
      const img = thumb.createImageData(28, 28);
      if (pixels) {
        pixels.forEach((v, i) => {
          img.data.set([v * 255, v * 255, v * 255, 255], i * 4);
        });
        thumb.putImageData(img, 0, 0);
      }
      const result = pixels && session ? await predict(pixels) : null;
      if (gen === generation) showPrediction(result);
    } catch (e) {
      setStatus(describeError(e), true);
    } finally {
      busy = false;
      if (again) {
        again = false;
        void update();
      }
    }
  };

  let last = null;
  const pos = (ev) => {
    const r = pad.getBoundingClientRect();
    return [((ev.clientX - r.left) * pad.width) / r.width, ((ev.clientY - r.top) * pad.height) / r.height];
  };
  pad.addEventListener('pointerdown', (ev) => {
    pad.setPointerCapture(ev.pointerId);
    last = pos(ev);
    ctx.beginPath();
    ctx.arc(last[0], last[1], ctx.lineWidth / 2, 0, Math.PI * 2);
    ctx.fillStyle = '#fff';
    ctx.fill();
  });
  pad.addEventListener('pointermove', (ev) => {
    if (!last) return;
    const p = pos(ev);
    ctx.beginPath();
    ctx.moveTo(...last);
    ctx.lineTo(...p);
    ctx.stroke();
    last = p;
    void update();
  });
  const end = () => {
    if (!last) return;
    last = null;
    void update();
  };
  pad.addEventListener('pointerup', end);
  pad.addEventListener('pointercancel', end);
  $('clear').addEventListener('click', clear);
}

// ---- dropping a model ---------------------------------------------------------------------------

function setupDrop() {
  const drop = $('drop');
  const inspectFile = async (file) => {
    $('model-name').textContent = `${file.name} (${fmtBytes(file.size)})`;
    $('info').replaceChildren(el('p', { class: 'hint' }, 'Reading…'));
    try {
      renderInfo(await inspect(new Uint8Array(await file.arrayBuffer())));
    } catch (e) {
      $('info').replaceChildren(el('p', { class: 'unsupported' }, `Cannot read ${file.name}: ${describeError(e)}`));
    }
  };
  // Dropping anywhere must not navigate away from the page.
  for (const type of ['dragover', 'drop']) window.addEventListener(type, (ev) => ev.preventDefault());
  drop.addEventListener('dragenter', () => drop.classList.add('over'));
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    drop.classList.remove('over');
    const file = ev.dataTransfer?.files?.[0];
    if (file) void inspectFile(file);
  });
  $('file').addEventListener('change', (ev) => {
    const file = ev.target.files?.[0];
    if (file) void inspectFile(file);
  });
}

// ---- start --------------------------------------------------------------------------------------

async function start() {
  setupPad();
  setupDrop();
  const res = await fetch(MODEL_URL);
  if (!res.ok) throw new Error(`cannot fetch ${MODEL_URL.pathname}: HTTP ${res.status}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const info = await inspect(bytes);
  renderInfo(info);
  const f = wasmFeatures();
  $('engine').textContent = `wasm build: ${wasmFlavour()} (engine supports SIMD128: ${f.simd128 ? 'yes' : 'no'}, relaxed SIMD: ${f.relaxed ? 'yes' : 'no'})`;
  try {
    session = await InferenceSession.create(bytes);
  } catch (e) {
    setStatus(`The model cannot run in this build: ${describeError(e)}`, true);
    return { info, error: e };
  }
  setStatus(`Model loaded (${fmtBytes(bytes.length)}), running in WebAssembly (${wasmFlavour()} build). Draw a digit.`);
  return { info };
}

const ready = start().catch((e) => {
  setStatus(describeError(e), true);
  return { error: e };
});

// A small handle for the browser tests and the curious.
window.webptqDemo = { ready, predict, toMnist, renderInfo };
