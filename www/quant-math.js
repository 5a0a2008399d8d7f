// The quantization arithmetic the tutorial shows, in JavaScript on real tensors: the one
// equation of docs/quantization.md (real = scale * (q - zero_point), zero exact, round half to
// even, saturate) with the scale and zero point of §2 (asymmetric) and §3 (symmetric) exactly as
// the core computes them (src/quantize/params.rs, f32 arithmetic included), the error measures
// (MSE, SQNR, clipped share), a histogram, the four textbook ways of choosing a clipping range
// (min/max, percentile, entropy, MSE) and per-tensor vs per-channel weight scales. These are
// teaching versions: the core's calibrators (src/calibrate/) stream and merge histograms; the
// page shows the core's own choice next to these where it matters.

const f32 = Math.fround;

/** Round half to even, as ONNX QuantizeLinear (and the core's round_to_i64) do. */
export function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const validScale = (s) => Number.isFinite(s) && s >= 1.1754943508222875e-38;

/**
 * Scale and zero point mapping [lo, hi] (widened to contain 0) onto [qmin, qmax]; symmetric: zero
 * point in the middle of the type. Matches the core bit for bit (f32 scale).
 */
export function scaleZeroPoint(lo, hi, { qmin = 0, qmax = 255, symmetric = false } = {}) {
  const rmin = Math.min(Number.isFinite(lo) ? f32(lo) : 0, 0);
  const rmax = Math.max(Number.isFinite(hi) ? f32(hi) : 0, 0);
  let scale;
  let zeroPoint;
  if (symmetric) {
    zeroPoint = Math.floor((qmin + qmax + 1) / 2);
    const half = Math.min(zeroPoint - qmin, qmax - zeroPoint);
    scale = f32(Math.max(Math.abs(rmin), Math.abs(rmax)) / half);
  } else {
    scale = f32((rmax - rmin) / (qmax - qmin));
    zeroPoint = Math.min(qmax, Math.max(qmin, roundHalfEven(qmin - rmin / scale)));
  }
  if (!validScale(scale)) return { scale: 1, zeroPoint: symmetric ? zeroPoint : Math.min(qmax, Math.max(qmin, 0)) };
  return { scale, zeroPoint };
}

/** q = saturate(round_half_even(x / scale) + zero_point), the division in f32. */
export function quantizeValue(x, scale, zeroPoint, qmin = 0, qmax = 255) {
  const q = roundHalfEven(f32(f32(x) / scale)) + zeroPoint;
  return q < qmin ? qmin : q > qmax ? qmax : q;
}

/** x̂ = (q - zero_point) * scale, one f32 rounding. */
export const dequantizeValue = (q, scale, zeroPoint) => f32((q - zeroPoint) * scale);

/**
 * The error of quantizing `values` with (scale, zeroPoint): mean squared error, SQNR in dB
 * (10 log10(Σx² / Σ(x − x̂)²); Infinity when there is no error), the share of values outside the
 * representable range (clipped), and the number of distinct levels used.
 */
export function quantError(values, scale, zeroPoint, qmin = 0, qmax = 255) {
  let signal = 0;
  let noise = 0;
  let clipped = 0;
  const lo = dequantizeValue(qmin, scale, zeroPoint);
  const hi = dequantizeValue(qmax, scale, zeroPoint);
  const used = new Uint8Array(qmax - qmin + 1);
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    const q = quantizeValue(x, scale, zeroPoint, qmin, qmax);
    used[q - qmin] = 1;
    const d = x - dequantizeValue(q, scale, zeroPoint);
    signal += x * x;
    noise += d * d;
    if (x < lo - scale / 2 || x > hi + scale / 2) clipped += 1;
  }
  const n = Math.max(values.length, 1);
  return {
    mse: noise / n,
    sqnrDb: noise === 0 ? Infinity : 10 * Math.log10(signal / noise),
    clipped: clipped / n,
    levels: used.reduce((a, b) => a + b, 0),
  };
}

/** The error of quantizing `values` to uint8 over [lo, hi] (asymmetric), with its parameters. */
export function rangeError(values, lo, hi) {
  const { scale, zeroPoint } = scaleZeroPoint(lo, hi);
  return { scale, zeroPoint, ...quantError(values, scale, zeroPoint) };
}

/** The range a set of per-tensor parameters as the core reports them ({ scale, zeroPoint, dtype }) represents. */
export function representedRange(p) {
  const [qmin, qmax] = p.dtype === 'int8' ? [-128, 127] : [0, 255];
  return { min: p.scale[0] * (qmin - p.zeroPoint[0]), max: p.scale[0] * (qmax - p.zeroPoint[0]) };
}

/** Smallest and largest finite value. */
export function extremes(values) {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

/** `bins` equal bins over [min, max]: { min, max, width, counts }. */
export function histogram(values, bins = 256, range = extremes(values)) {
  const { min, max } = range;
  const width = max > min ? (max - min) / bins : 1;
  const counts = new Float64Array(bins);
  for (const v of values) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor((v - min) / width)));
    counts[b] += 1;
  }
  return { min, max, width, counts };
}

/** Min and max: nothing clipped, the widest steps. */
export const minmaxRange = (values) => extremes(values);

/** Two-tailed percentile range: the values at (100 − p)/2 % and (100 + p)/2 % of the sorted data (0 kept in the range). */
export function percentileRange(values, p = 99.99) {
  const sorted = Float32Array.from(values).sort();
  const n = sorted.length;
  const at = (q) => sorted[Math.min(n - 1, Math.max(0, Math.round((q / 100) * (n - 1))))];
  const { min, max } = extremes(values);
  // One-sided data (a ReLU's output) keep their end at the minimum, as the core does.
  return { min: min >= 0 ? min : at((100 - p) / 2), max: max <= 0 ? max : at((100 + p) / 2) };
}

/**
 * A histogram of |x| with `bins` bins over [0, max|x|]. Exact zeros are left out: zero is exactly
 * representable whatever the range, so (as in the core) it is a point, not mass in the first bin
 * (a ReLU's many zeros would otherwise pull the threshold down to nothing).
 */
function absHistogram(values, bins) {
  let a = 0;
  for (const v of values) a = Math.max(a, Math.abs(v));
  const width = a > 0 ? a / bins : 1;
  const counts = new Float64Array(bins);
  for (const v of values) if (v !== 0) counts[Math.min(bins - 1, Math.floor(Math.abs(v) / width))] += 1;
  return { width, counts };
}

/**
 * The entropy (KL divergence) threshold of TensorRT's calibrator: the |x| threshold whose
 * 128-level quantization of the clipped histogram keeps it closest to the original (outliers folded
 * into the last bin). Returns a symmetric range, or [0, t] for data that are never negative.
 */
export function entropyRange(values, bins = 2048, levels = 128) {
  const { width, counts } = absHistogram(values, bins);
  let best = bins;
  let bestKl = Infinity;
  const stride = Math.max(1, Math.floor(bins / 512));
  for (let i = levels; i <= bins; i += stride) {
    // P: the histogram clipped at bin i, the outliers folded into its last bin.
    const p = counts.slice(0, i);
    for (let k = i; k < bins; k++) p[i - 1] += counts[k];
    // Q: the clipped histogram merged into `levels` groups, each spread over its nonzero bins.
    const q = new Float64Array(i);
    for (let g = 0; g < levels; g++) {
      const a = Math.floor((g * i) / levels);
      const b = Math.floor(((g + 1) * i) / levels);
      let sum = 0;
      let nonzero = 0;
      for (let k = a; k < b; k++) {
        sum += counts[k];
        if (counts[k] > 0) nonzero += 1;
      }
      for (let k = a; k < b; k++) if (counts[k] > 0) q[k] = sum / nonzero;
    }
    let pz = 0;
    let qz = 0;
    for (let k = 0; k < i; k++) {
      pz += p[k];
      qz += q[k];
    }
    let kl = 0;
    for (let k = 0; k < i; k++) {
      if (p[k] === 0) continue;
      const pk = p[k] / pz;
      const qk = q[k] > 0 ? q[k] / qz : 1e-9;
      kl += pk * Math.log(pk / qk);
    }
    if (kl < bestKl) {
      bestKl = kl;
      best = i;
    }
  }
  const t = best * width;
  const { min } = extremes(values);
  return { min: min >= 0 ? min : -t, max: t };
}

/**
 * The MSE range: the clipping range, among `steps` candidates shrinking from the extremes (those
 * of `values`, or given), whose uint8 quantization of `values` has the smallest mean squared error.
 */
export function mseRange(values, steps = 100, { min, max } = extremes(values)) {
  let best = { min, max };
  let bestMse = Infinity;
  for (let s = 1; s <= steps; s++) {
    const f = s / steps;
    const lo = min * f;
    const hi = max * f;
    const { mse } = rangeError(values, lo, hi);
    if (mse < bestMse) {
      bestMse = mse;
      best = { min: lo, max: hi };
    }
  }
  return best;
}

export const METHODS = {
  minmax: { label: 'MinMax', range: minmaxRange },
  percentile: { label: 'Percentile 99.99', range: (v) => percentileRange(v, 99.99) },
  entropy: { label: 'Entropy (KL)', range: entropyRange },
  mse: { label: 'MSE', range: mseRange },
};

/**
 * A weight [out, ...] quantized to int8 symmetrically, one scale for the tensor or one per output
 * channel (axis 0), as the core does for weights: the SQNR of each channel and of the whole.
 */
export function weightError(data, dims, perChannel) {
  const channels = dims[0];
  const per = data.length / channels;
  const ext = (a, b) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = a; i < b; i++) {
      lo = Math.min(lo, data[i]);
      hi = Math.max(hi, data[i]);
    }
    return [lo, hi];
  };
  const whole = ext(0, data.length);
  const channelsOut = [];
  let signal = 0;
  let noise = 0;
  for (let c = 0; c < channels; c++) {
    const [lo, hi] = perChannel ? ext(c * per, (c + 1) * per) : whole;
    const { scale, zeroPoint } = scaleZeroPoint(lo, hi, { qmin: -128, qmax: 127, symmetric: true });
    let s = 0;
    let n = 0;
    for (let i = c * per; i < (c + 1) * per; i++) {
      const x = data[i];
      const d = x - dequantizeValue(quantizeValue(x, scale, zeroPoint, -128, 127), scale, zeroPoint);
      s += x * x;
      n += d * d;
    }
    signal += s;
    noise += n;
    channelsOut.push({ scale, sqnrDb: n === 0 ? Infinity : 10 * Math.log10(s / n) });
  }
  return { channels: channelsOut, sqnrDb: noise === 0 ? Infinity : 10 * Math.log10(signal / noise) };
}
