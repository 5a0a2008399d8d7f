// Small DOM and formatting helpers shared by the demo (app.js) and the tutorial (tutorial.js).
// Every string that may come from a model file goes into the page as a text node or an
// attribute value, never as HTML, so a name in a model cannot script the page.
import { describeUnsupported } from '../js/model.js';

export const $ = (id) => document.getElementById(id);

/** An element with attributes (values set as text) and children (strings become text nodes). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const SVG = 'http://www.w3.org/2000/svg';

/** An SVG element with attributes; children as for el(). */
export function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

export const fmtMs = (ms) => (ms < 1 ? `${ms.toFixed(3)} ms` : ms < 100 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(0)} ms`);

export const fmtDb = (db) => (db === null || db === Infinity ? '∞ (exact)' : `${db.toFixed(1)} dB`);

export const fmtPct = (x, digits = 1) => `${(x * 100).toFixed(digits)}%`;

export function describeError(e) {
  if (e && e.code === 'UNSUPPORTED_OP' && e.unsupported?.length) return `${e.code}: unsupported ops: ${describeUnsupported(e.unsupported)}`;
  return e && e.code ? `${e.code}: ${e.message}` : String(e?.message ?? e);
}

/** Sets a status line (role=status) and marks errors. */
export function setStatus(node, text, isError = false) {
  node.textContent = text;
  node.classList.toggle('error', isError);
}

export function softmax(logits) {
  const m = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}

export const argmax = (row) => {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
};

/** The median of some numbers. */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * The time of one run of a worker session, measured in the worker: the sum of the node times of
 * session.profile(), median of `runs` runs after one warm-up.
 */
export async function timeRuns(session, feeds, runs = 15) {
  await session.profile(feeds);
  const times = [];
  for (let i = 0; i < runs; i++) {
    const nodes = await session.profile(feeds);
    times.push(nodes.reduce((a, n) => a + n.ms, 0));
  }
  return median(times);
}
