//! [`Entropy`]: the threshold whose quantized distribution loses the least information, by
//! KL divergence over a histogram of |x|, as TensorRT (Migacz, "8-bit Inference with TensorRT",
//! GTC 2017) and onnxruntime's `HistogramCalibrater(method="entropy")` do
//! (`docs/calibration.md`, "Entropy").
//!
//! For each candidate `i` (bins kept, from `quantized_bins` to the last non-empty bin):
//! P = the first `i` bins with every count beyond folded into bin `i-1` (clipping);
//! Q = those `i` bins (without the outliers, as TensorRT does) merged into `quantized_bins`
//! levels and spread back evenly over the bins where P is non-zero. Both are smoothed so no bin
//! is zero, and the `i` with the smallest KL(P‖Q) gives the threshold `t = i · width`. The range
//! is `[-t, t] ∩ [min, max]`.
//!
//! Differences from the reference implementations, all documented in `docs/calibration.md`:
//! the levels split the kept bins proportionally (`j·i/levels`), where TensorRT and onnxruntime
//! give every level `i / levels` bins and the remainder to the last; the histogram is over |x|
//! (TensorRT) where onnxruntime uses a symmetric signed histogram; exact zeros are left out
//! (see [`Entropy::threshold`]); smoothing is relative to the smallest non-zero entry, so it
//! never makes an entry negative.
use super::histogram::{Domain, Histogram};
use super::{Counts, Observer, Range};
use crate::error::{Error, Result};

/// TensorRT's and onnxruntime's default number of quantized bins (levels of |x|).
pub const DEFAULT_QUANTIZED_BINS: usize = 128;
/// Past this many candidates the search strides, then refines around the best (bounds the
/// O(bins²) cost for very large bin counts; the default 2048 bins never stride).
const MAX_CANDIDATES: usize = 2048;
/// Smoothing mass per empty bin, relative to the smallest non-empty one (onnxruntime's eps).
const SMOOTHING: f64 = 1e-4;

#[derive(Debug, Clone, PartialEq)]
pub struct Entropy {
    quantized_bins: usize,
    hist: Histogram,
}

impl Entropy {
    /// A histogram of `bins` bins over |x| (2..=[`super::MAX_BINS`]) and
    /// `1 <= quantized_bins <= bins`.
    pub fn new(bins: usize, quantized_bins: usize) -> Result<Entropy> {
        if quantized_bins == 0 || quantized_bins > bins {
            return Err(Error::InvalidOptions(format!(
                "entropy calibration needs 1 <= quantized bins <= bins, got {quantized_bins} quantized of {bins}"
            )));
        }
        Ok(Entropy { quantized_bins, hist: Histogram::new(Domain::Abs, bins)? })
    }

    pub fn quantized_bins(&self) -> usize {
        self.quantized_bins
    }
    pub fn histogram(&self) -> &Histogram {
        &self.hist
    }

    /// The chosen |x| threshold (before intersecting with `[min, max]`); 0 before any data.
    ///
    /// Exact zeros are left out of the distributions: zero is exactly representable, so they
    /// lose nothing, and a spike of them (half of a ReLU output) would otherwise dominate the
    /// divergence of the first level and pull the threshold far in (pytorch-quantization's
    /// `skip_zeros`).
    pub fn threshold(&self) -> f64 {
        let mut counts = self.hist.counts().to_vec();
        counts[0] -= self.hist.zeros();
        let keep = best_bins(&counts, self.quantized_bins);
        keep as f64 * self.hist.width()
    }
}

impl Default for Entropy {
    fn default() -> Self {
        Entropy { quantized_bins: DEFAULT_QUANTIZED_BINS, hist: Histogram::with_default_bins(Domain::Abs) }
    }
}

impl Observer for Entropy {
    fn observe(&mut self, values: &[f32]) {
        self.hist.observe(values);
    }

    fn merge(&mut self, other: &Entropy) -> Result<()> {
        self.hist.merge(&other.hist)
    }

    fn range(&self) -> Range {
        let t = self.hist.tally();
        if !t.has_data() {
            return Range::ZERO;
        }
        if self.hist.width() == 0.0 {
            return t.range(); // only zeros
        }
        // Fewer values than bins: the histogram is mostly empty bins, not a distribution, and the
        // divergence would be measured against the smoothing. A model's logits or pooled
        // features (a few values per sample) then lost most of their range (docs/calibration.md,
        // "Entropy"): keep the observed range, as MinMax.
        if t.counts.values < self.hist.bins() as u64 {
            return t.range();
        }
        t.clip_symmetric(self.threshold())
    }

    fn counts(&self) -> Counts {
        self.hist.observed_counts()
    }
}

/// The number of leading bins to keep: the candidate with the smallest KL divergence. Returns
/// the occupied length when it is already at most `levels` (nothing to clip).
pub(crate) fn best_bins(hist: &[u64], levels: usize) -> usize {
    let occupied = hist.iter().rposition(|&c| c > 0).map_or(0, |p| p + 1);
    if occupied <= levels {
        return occupied;
    }
    let hist = &hist[..occupied];
    let mut prefix = Vec::with_capacity(occupied + 1);
    prefix.push(0u64);
    for &c in hist {
        prefix.push(prefix.last().unwrap() + c);
    }
    let total = prefix[occupied];
    let (mut p, mut q) = (Vec::new(), Vec::new());
    let mut kl = |i: usize| divergence(hist, i, total - prefix[i], levels, &mut p, &mut q);
    let candidates = occupied - levels + 1;
    let stride = candidates.div_ceil(MAX_CANDIDATES);
    // Scan from the widest threshold down; a strictly smaller divergence wins, so ties keep the
    // wider range (less clipping).
    let mut best = (f64::INFINITY, occupied);
    let mut scan = |from: usize, to: usize, step: usize, best: &mut (f64, usize)| {
        let mut i = to;
        loop {
            let d = kl(i);
            if d < best.0 {
                *best = (d, i);
            }
            if i < from + step {
                break;
            }
            i -= step;
        }
    };
    scan(levels, occupied, stride, &mut best);
    if stride > 1 {
        let around = best.1;
        let from = around.saturating_sub(stride - 1).max(levels);
        let to = (around + stride - 1).min(occupied);
        scan(from, to, 1, &mut best);
    }
    best.1
}

/// KL(P‖Q) for keeping the first `i` bins of `hist` (`outliers` = the count beyond them),
/// quantized to `levels` levels. `p` and `q` are scratch buffers. Infinite if Q has no mass.
pub(crate) fn divergence(hist: &[u64], i: usize, outliers: u64, levels: usize, p: &mut Vec<f64>, q: &mut Vec<f64>) -> f64 {
    p.clear();
    p.extend(hist[..i].iter().map(|&c| c as f64));
    p[i - 1] += outliers as f64;
    q.clear();
    q.resize(i, 0.0);
    for j in 0..levels {
        let (start, stop) = (j * i / levels, (j + 1) * i / levels);
        let mass: u64 = hist[start..stop].iter().sum();
        let nonzero = p[start..stop].iter().filter(|&&v| v > 0.0).count();
        if nonzero > 0 {
            let share = mass as f64 / nonzero as f64;
            for k in start..stop {
                if p[k] > 0.0 {
                    q[k] = share;
                }
            }
        }
    }
    if !smooth(p) || !smooth(q) {
        return f64::INFINITY;
    }
    let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
    p.iter().zip(q.iter()).map(|(&a, &b)| (a / sp) * ((a / sp) / (b / sq)).ln()).sum()
}

/// Gives every zero entry a small mass taken evenly from the non-zero ones (onnxruntime's
/// `smooth_distribution`, with eps relative to the smallest non-zero entry and capped so no
/// entry drops below half its value). False if every entry is zero.
fn smooth(d: &mut [f64]) -> bool {
    let nonzero = d.iter().filter(|&&v| v > 0.0).count();
    if nonzero == 0 {
        return false;
    }
    let zeros = d.len() - nonzero;
    if zeros == 0 {
        return true;
    }
    let smallest = d.iter().copied().filter(|&v| v > 0.0).fold(f64::INFINITY, f64::min);
    let eps = smallest * SMOOTHING.min(0.5 * nonzero as f64 / zeros as f64);
    let take = eps * zeros as f64 / nonzero as f64;
    for v in d.iter_mut() {
        *v = if *v > 0.0 { *v - take } else { eps };
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::testdata;

    fn observed(data: &[f32]) -> Entropy {
        let mut e = Entropy::default();
        for c in data.chunks(50_000) {
            e.observe(c);
        }
        e
    }

    #[test]
    fn divergence_by_hand() {
        let hist = [4u64, 0, 2, 2];
        let (mut p, mut q) = (Vec::new(), Vec::new());
        // Keep all 4 bins, 2 levels: Q = [4, 0, 2, 2] = P, so KL = 0.
        assert!(divergence(&hist, 4, 0, 2, &mut p, &mut q).abs() < 1e-12);
        // Keep 3: P = [4, 0, 2+2]; levels [0,1) and [1,3) hold 4 and 2, the second spread over
        // the one non-zero bin of P: Q = [4, 0, 2]. KL = ½ln(½ / ⅔) + ½ln(½ / ⅓) = ½ln(9/8).
        let d = divergence(&hist, 3, 2, 2, &mut p, &mut q);
        assert!((d - 0.5 * (9.0f64 / 8.0).ln()).abs() < 1e-3, "{d}");
        // Keep 2: P = [4, 4], Q = [4, 0] (the outliers are not in Q): large.
        assert!(divergence(&hist, 2, 4, 2, &mut p, &mut q) > 3.0);
        assert_eq!(best_bins(&hist, 2), 4);
        // Nothing beyond `levels` bins: nothing to search.
        assert_eq!(best_bins(&[0, 3, 1, 0, 0], 3), 3);
        assert_eq!(best_bins(&[0, 0], 3), 0);
    }

    #[test]
    fn smoothing_keeps_everything_positive() {
        let mut d = vec![1.0, 0.0, 0.0, 0.0];
        assert!(smooth(&mut d));
        assert!(d.iter().all(|&v| v > 0.0));
        assert!((d.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let mut many_zeros = vec![0.0; 100_000];
        many_zeros[0] = 1.0;
        assert!(smooth(&mut many_zeros) && many_zeros[0] >= 0.5);
        assert!(!smooth(&mut [0.0, 0.0]));
    }

    #[test]
    fn gaussian_with_outliers_clips_between_3_sigma_and_the_max() {
        let mut data = testdata::normal(1_000_000, 1.0, 31);
        data.extend_from_slice(&[30.0, -28.0, 25.0]);
        let e = observed(&data);
        let r = e.range();
        assert!(r.max > 3.0 && r.max < 15.0, "{r:?}");
        assert_eq!(r.min, -r.max);
    }

    #[test]
    fn fewer_values_than_bins_keep_the_observed_range() {
        // Logits of a 2-class model over 20 images: 40 values, one far from the rest. A KL search
        // over 2,048 mostly empty bins clipped it to a fraction of its range.
        let mut logits = testdata::normal(39, 1.0, 34);
        logits.push(9.0);
        let e = observed(&logits);
        let (lo, hi) = logits.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        assert_eq!(e.range(), Range { min: lo, max: hi });
        // The same distribution with enough values to fill the histogram is still clipped.
        let mut many = testdata::normal(100_000, 1.0, 34);
        many.push(9.0);
        assert!(observed(&many).range().max < 9.0);
    }

    #[test]
    fn uniform_data_is_barely_clipped() {
        let data = testdata::uniform(500_000, -2.0, 2.0, 32);
        let r = observed(&data).range();
        assert!(r.max > 1.9 && r.min < -1.9, "{r:?}");
    }

    #[test]
    fn few_distinct_levels_keep_the_full_range() {
        // Data on 5 levels: the kept bins quantize without loss, nothing is clipped.
        let data: Vec<f32> = (0..10_000).map(|i| [-2.0, -1.0, 0.0, 0.5, 3.0][i % 5]).collect();
        let mut e = Entropy::new(2048, 128).unwrap();
        e.observe(&data);
        assert_eq!(e.range(), Range { min: -2.0, max: 3.0 });
        let mut zeros = Entropy::default();
        zeros.observe(&[0.0; 10]);
        assert_eq!(zeros.range(), Range::ZERO);
        assert_eq!(zeros.counts().values, 10);
    }

    #[test]
    fn relu_outputs_keep_their_lower_end_and_ignore_the_zero_spike() {
        // Half exact zeros, half |N(0,1)|: the threshold is that of |N(0,1)| alone.
        let normal = testdata::normal(300_000, 1.0, 33);
        let relu: Vec<f32> = normal.iter().map(|v| v.max(0.0)).collect();
        let positive: Vec<f32> = relu.iter().copied().filter(|&v| v > 0.0).collect();
        let (r, p) = (observed(&relu), observed(&positive));
        assert_eq!(r.range().min, 0.0);
        assert_eq!(r.threshold(), p.threshold());
        assert!(r.range().max > 2.5, "{:?}", r.range());
    }

    #[test]
    fn merge_of_halves_equals_observing_all() {
        let mut data = testdata::normal(200_000, 1.0, 34);
        data.push(20.0);
        let (a, b) = data.split_at(123_457);
        let mut all = Entropy::default();
        all.observe(a);
        all.observe(b);
        let mut left = Entropy::default();
        left.observe(a);
        let mut right = Entropy::default();
        right.observe(b);
        left.merge(&right).unwrap();
        assert_eq!(left, all);
        assert_eq!(left.range(), all.range());
    }

    #[test]
    fn nan_skipped_and_counted() {
        let mut e = Entropy::default();
        let mut data = testdata::normal(10_000, 1.0, 35);
        data[17] = f32::NAN;
        data[18] = f32::NEG_INFINITY;
        e.observe(&data);
        let r = e.range();
        assert!(r.min.is_finite() && r.max.is_finite() && r.min < 0.0 && r.max > 0.0);
        assert_eq!(e.counts(), Counts { batches: 1, values: 9_998, nonfinite: 2 });
    }

    #[test]
    fn large_bin_counts_stride_and_agree() {
        let mut data = testdata::normal(300_000, 1.0, 36);
        data.extend_from_slice(&[30.0, -28.0]);
        let mut fine = Entropy::new(8192, 512).unwrap();
        fine.observe(&data);
        let r = fine.range();
        assert!(r.max > 3.0 && r.max < 15.0, "{r:?}");
    }

    #[test]
    fn rejects_bad_options() {
        assert!(matches!(Entropy::new(0, 128), Err(Error::InvalidOptions(_))));
        assert!(Entropy::new(2048, 0).is_err());
        assert!(Entropy::new(64, 128).is_err());
        assert!(Entropy::new(128, 128).is_ok());
    }
}
