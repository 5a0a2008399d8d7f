// The draw-a-digit pad shared by the demo and the tutorial: a 280x280 canvas drawn with the
// mouse, a finger or a pen, the drawing turned into an MNIST input (toMnist) and shown at 28x28,
// and a callback with the 784 pixels after each stroke (calls never overlap: a stroke drawn
// while one is being handled is handled next; Clear drops the answer for the old drawing).
import { Tensor } from '../js/index.js';
import { el, softmax, argmax } from './ui.js';

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

/**
 * Wires a pad: `onDrawing(pixels | null)` (a Promise) runs after each stroke with the 784 pixels
 * (null for an empty pad); its result goes to `show(result, pixels)` unless the pad was cleared
 * meanwhile. Returns { clear() }.
 */
export function setupPad({ pad, thumb, clear: clearButton, onDrawing, show, onError }) {
  const ctx = pad.getContext('2d', { willReadFrequently: true });
  const tctx = thumb.getContext('2d');
  let generation = 0;
  const clear = () => {
    generation += 1;
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, pad.width, pad.height);
    tctx.fillStyle = '#000';
    tctx.fillRect(0, 0, 28, 28);
    show(null, null);
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
      if (pixels) {
        const img = tctx.createImageData(28, 28);
        pixels.forEach((v, i) => img.data.set([v * 255, v * 255, v * 255, 255], i * 4));
        tctx.putImageData(img, 0, 0);
      }
      const result = pixels ? await onDrawing(pixels) : null;
      if (gen === generation) show(result, pixels);
    } catch (e) {
      onError(e);
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
  clearButton.addEventListener('click', clear);
  return { clear };
}

/** Ten bars (digits 0-9) in an <ol>. */
export function initBars(ol) {
  ol.replaceChildren();
  for (let i = 0; i < 10; i++) {
    ol.append(el('li', {}, el('span', {}, i), el('span', { class: 'track' }, el('span', { class: 'fill' })), el('span', { class: 'pct' })));
  }
}

/** Shows probabilities on bars made by initBars (null empties them). */
export function showBars(ol, probs) {
  const top = probs ? probs.indexOf(Math.max(...probs)) : -1;
  [...ol.children].forEach((li, i) => {
    li.classList.toggle('top', i === top);
    li.querySelector('.fill').style.width = probs ? `${(probs[i] * 100).toFixed(1)}%` : '0';
    li.querySelector('.pct').textContent = probs ? `${(probs[i] * 100).toFixed(1)}%` : '';
  });
}

/** Runs a (worker) session of an MNIST model on 784 pixels: { digit, probs, ms }, ms timed in the worker. */
export async function readDigit(session, pixels) {
  const feeds = { [session.inputNames[0]]: new Tensor('float32', pixels, [1, 1, 28, 28]) };
  const [out, nodes] = await Promise.all([session.run(feeds), session.profile(feeds)]);
  const probs = softmax(Array.from(out[session.outputNames[0]].data));
  return { digit: argmax(probs), probs, ms: nodes.reduce((a, n) => a + n.ms, 0) };
}
