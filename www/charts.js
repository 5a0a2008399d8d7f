// Hand-drawn SVG charts for the demo and the tutorial: a horizontal bar chart (per-layer SQNR)
// and a histogram with clipping ranges marked on it. Both scale with their container (viewBox,
// width 100%), so they fit a 360 px screen; labels are SVG text nodes (model names stay text).
import { svg } from './ui.js';

export const COLORS = ['#2f6fde', '#d9480f', '#2b8a3e', '#9c36b5', '#e67700', '#0b7285'];

/** The drawing width for a chart in `box`: its own width in CSS pixels, so text keeps its size. */
export const widthOf = (box) => Math.max(280, Math.min(900, Math.round(box.clientWidth - 10)));

/**
 * Horizontal bars: rows [{ label, value, mark? }] (value in dB; null draws "exact"). `max`
 * fixes the scale. Returns the <svg>.
 */
export function barChart(rows, { unit = 'dB', max, title, width: W = 640 } = {}) {
  const rowH = 18;
  const left = Math.min(190, Math.round(W * 0.36));
  const right = 70;
  const top = 6;
  const h = top + rows.length * rowH + 6;
  const finite = rows.map((r) => r.value).filter((v) => v !== null && Number.isFinite(v));
  const hi = max ?? Math.max(1, ...finite) * 1.05;
  const scale = (v) => ((Math.max(0, Math.min(hi, v)) / hi) * (W - left - right));
  const chart = svg('svg', { viewBox: `0 0 ${W} ${h}`, width: '100%', role: 'img', 'aria-label': title ?? 'bar chart', class: 'chart' });
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    const room = Math.floor((left - 10) / 6.5);
    const label = r.label.length > room ? `${r.label.slice(0, room - 1)}…` : r.label;
    const exact = r.value === null || r.value === Infinity;
    chart.append(
      svg('text', { x: left - 6, y: y + 13, 'text-anchor': 'end', class: 'chart-label' }, svg('title', {}, r.label), label),
      svg('rect', { x: left, y: y + 3, width: exact ? W - left - right : scale(r.value), height: rowH - 6, rx: 2, class: r.mark ? 'bar mark' : 'bar' }),
      svg('text', { x: W - right + 6, y: y + 13, class: 'chart-value' }, exact ? 'exact' : `${r.value.toFixed(1)} ${unit}`),
    );
  });
  return chart;
}

/**
 * A histogram ({ min, max, width, counts }, counts on a log scale when `log`) with ranges
 * [{ label, min, max }] drawn as coloured brackets; `shade` ({ min, max }) greys out what lies
 * outside it (what that range clips). Returns the <svg>.
 */
export function histogramChart(hist, { ranges = [], shade, log = true, title, width: W = 640 } = {}) {
  const h = Math.round(Math.min(200, W * 0.45)) + ranges.length * 16;
  const pad = { l: 10, r: 10, t: 8, b: 36 + ranges.length * 16 };
  const plotH = h - pad.t - pad.b;
  const lo = Math.min(hist.min, ...ranges.map((r) => r.min), shade?.min ?? Infinity);
  const hi = Math.max(hist.max, ...ranges.map((r) => r.max), shade?.max ?? -Infinity);
  const span = hi > lo ? hi - lo : 1;
  const x = (v) => pad.l + ((v - lo) / span) * (W - pad.l - pad.r);
  const f = (c) => (log ? Math.log1p(c) : c);
  const top = Math.max(...Array.from(hist.counts, f), 1);
  const chart = svg('svg', { viewBox: `0 0 ${W} ${h}`, width: '100%', role: 'img', 'aria-label': title ?? 'histogram', class: 'chart' });
  let d = '';
  hist.counts.forEach((c, i) => {
    if (c <= 0) return;
    const x0 = x(hist.min + i * hist.width);
    const x1 = Math.max(x0 + 0.6, x(hist.min + (i + 1) * hist.width));
    const bh = (f(c) / top) * plotH;
    d += `M${x0.toFixed(2)} ${(pad.t + plotH).toFixed(2)}V${(pad.t + plotH - bh).toFixed(2)}H${x1.toFixed(2)}V${(pad.t + plotH).toFixed(2)}Z`;
  });
  chart.append(svg('path', { d, class: 'hist' }));
  if (shade) {
    const a = x(shade.min);
    const b = x(shade.max);
    if (a > pad.l) chart.append(svg('rect', { x: pad.l, y: pad.t, width: a - pad.l, height: plotH, class: 'clipped' }));
    if (b < W - pad.r) chart.append(svg('rect', { x: b, y: pad.t, width: W - pad.r - b, height: plotH, class: 'clipped' }));
  }
  chart.append(svg('line', { x1: pad.l, x2: W - pad.r, y1: pad.t + plotH, y2: pad.t + plotH, class: 'axis' }));
  const tick = (v, anchor) => svg('text', { x: x(v), y: pad.t + plotH + 14, 'text-anchor': anchor, class: 'chart-value' }, fmtNum(v));
  chart.append(tick(lo, 'start'), tick(hi, 'end'));
  if (lo < 0 && hi > 0) chart.append(svg('line', { x1: x(0), x2: x(0), y1: pad.t, y2: pad.t + plotH, class: 'zero' }), tick(0, 'middle'));
  ranges.forEach((r, i) => {
    const y = pad.t + plotH + 30 + i * 16;
    const color = r.color ?? COLORS[i % COLORS.length];
    const a = x(r.min);
    const b = x(r.max);
    chart.append(
      svg('line', { x1: a, x2: a, y1: pad.t, y2: y, stroke: color, 'stroke-dasharray': '3 3', class: 'range-edge' }),
      svg('line', { x1: b, x2: b, y1: pad.t, y2: y, stroke: color, 'stroke-dasharray': '3 3', class: 'range-edge' }),
      svg('line', { x1: a, x2: b, y1: y, y2: y, stroke: color, 'stroke-width': 3 }),
      svg('text', { x: Math.max(pad.l, Math.min(a + 4, W - 230)), y: y - 3, class: 'chart-label', fill: color }, `${r.label}: ${fmtNum(r.min)} … ${fmtNum(r.max)}`),
    );
  });
  return chart;
}

export function fmtNum(v) {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1000 || a < 0.01) return v.toExponential(2);
  return v.toFixed(a >= 100 ? 1 : a >= 10 ? 2 : 3);
}
