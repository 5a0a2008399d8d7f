//! [`Histogram`]: the streaming histogram that Percentile, Entropy and MSE share
//! (`docs/calibration.md`, "The shared histogram").
//!
//! A fixed number of bins (default 2048) over x ([`Domain::Signed`]) or over |x|
//! ([`Domain::Abs`]). Bins lie on a grid anchored at zero whose width is a power of two: bin
//! `g` covers `[g·2^e, (g+1)·2^e)`. When new data fall outside the bins, the width doubles
//! (pairs of bins merge, exactly) until everything fits; two histograms of different widths
//! merge the same way. Because the layout (width and first bin) depends only on the extremes of
//! all data seen, observing A then B, B then A, or A and B apart and merging give *identical*
//! counts. onnxruntime's `HistogramCollector` grows the number of bins instead, and re-bins by
//! re-histogramming; the fixed count keeps memory constant and the power-of-two grid keeps merges
//! exact. The price: at worst half the bins hold data (the width is at most twice the tightest).
use super::{Counts, Tally, DEFAULT_BINS, MAX_BINS};
use crate::error::{Error, Result};

/// What a [`Histogram`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    /// x itself: bins span `[min, max]` (two-tailed percentiles).
    Signed,
    /// |x|: bins span `[0, max|x|]`, starting at zero (symmetric thresholds: entropy, MSE).
    Abs,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    domain: Domain,
    counts: Vec<u64>,
    /// Bin width is 2^exp; `None` while every value seen is zero (all counts in bin 0).
    exp: Option<i32>,
    /// Grid index of `counts[0]`; always 0 for [`Domain::Abs`].
    origin: i64,
    /// Values exactly ±0, counted apart as well: zero is exactly representable after
    /// quantization, so the methods treat it as a point, not as spread over its bin.
    zeros: u64,
    tally: Tally,
}

/// 2^k as an f64, exactly (k is always within the normal range here).
fn pow2(k: i32) -> f64 {
    let k = k.clamp(-1022, 1023);
    f64::from_bits(((1023 + k) as u64) << 52)
}

/// floor(log2(v)) for a positive normal f64.
fn floor_log2(v: f64) -> i32 {
    ((v.to_bits() >> 52) & 0x7ff) as i32 - 1023
}

/// The grid cell of `v` at width 2^e: floor(v / 2^e). Exact: scaling by a power of two does not
/// round, and cells stay below 2^53 (see `layout`).
fn cell(v: f64, e: i32) -> i64 {
    (v * pow2(-e)).floor() as i64
}

/// The cell that cell `g` at width 2^from falls into at width 2^to (to >= from): floor division
/// by 2^(to-from), which an arithmetic shift computes for negative cells too.
fn coarsen(g: i64, from: Option<i32>, to: Option<i32>) -> i64 {
    match (from, to) {
        (Some(a), Some(b)) if b > a => g >> ((b - a).min(63) as u32),
        // `from == None` means only zeros were seen: cell 0 at any width.
        _ => g,
    }
}

impl Histogram {
    /// An empty histogram with `bins` bins (at least 2, at most [`MAX_BINS`]).
    pub fn new(domain: Domain, bins: usize) -> Result<Histogram> {
        if !(2..=MAX_BINS).contains(&bins) {
            return Err(Error::InvalidOptions(format!(
                "histogram bins must be between 2 and {MAX_BINS}, got {bins}"
            )));
        }
        Ok(Histogram { domain, counts: vec![0; bins], exp: None, origin: 0, zeros: 0, tally: Tally::default() })
    }

    /// [`DEFAULT_BINS`] bins.
    pub fn with_default_bins(domain: Domain) -> Histogram {
        Histogram { domain, counts: vec![0; DEFAULT_BINS], exp: None, origin: 0, zeros: 0, tally: Tally::default() }
    }

    pub fn domain(&self) -> Domain {
        self.domain
    }
    pub fn bins(&self) -> usize {
        self.counts.len()
    }
    /// Counts per bin; bin `i` covers `[lower(i), lower(i) + width())`.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }
    /// Bin width (0 while only zeros were seen).
    pub fn width(&self) -> f64 {
        self.exp.map_or(0.0, pow2)
    }
    /// Lower edge of bin `i` (for [`Domain::Abs`], `i * width()`).
    pub fn lower(&self, i: usize) -> f64 {
        (self.origin + i as i64) as f64 * self.width()
    }
    /// Finite values counted.
    pub fn total(&self) -> u64 {
        self.tally.counts.values
    }
    /// Values exactly zero (included in [`total`](Self::total) and in the bin starting at 0).
    pub fn zeros(&self) -> u64 {
        self.zeros
    }
    /// The bin whose lower edge is 0 (where the zeros are), if the bins reach it.
    pub fn zero_bin(&self) -> Option<usize> {
        usize::try_from(-self.origin).ok().filter(|&i| i < self.counts.len())
    }
    pub fn observed_counts(&self) -> Counts {
        self.tally.counts
    }
    pub(crate) fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Adds one batch; non-finite values are skipped and counted.
    pub fn observe(&mut self, values: &[f32]) {
        let scan = Tally::scan(values);
        self.tally.add(&scan);
        if scan.finite == 0 {
            return;
        }
        let (exp, origin) = self.layout(self.exp);
        self.relayout(exp, origin);
        let inv = exp.map_or(0.0, |e| pow2(-e));
        let last = self.counts.len() as i64 - 1;
        let abs = self.domain == Domain::Abs;
        for &x in values {
            if !x.is_finite() {
                continue;
            }
            if x == 0.0 {
                self.zeros += 1;
            }
            let v = if abs { x.abs() } else { x } as f64;
            let i = ((v * inv).floor() as i64 - origin).clamp(0, last);
            self.counts[i as usize] += 1;
        }
    }

    /// Adds another histogram's counts, re-binning both onto the coarser common grid. The bin
    /// counts may differ (the result keeps `self`'s); the domains must match.
    pub fn merge(&mut self, other: &Histogram) -> Result<()> {
        if self.domain != other.domain {
            return Err(Error::InvalidOptions(format!(
                "cannot merge a histogram of {:?} values into one of {:?} values",
                other.domain, self.domain
            )));
        }
        self.tally.merge(&other.tally);
        self.zeros += other.zeros;
        if other.total() == 0 {
            return Ok(());
        }
        let (exp, origin) = self.layout(self.exp.max(other.exp));
        self.relayout(exp, origin);
        let last = self.counts.len() as i64 - 1;
        for (i, &c) in other.counts.iter().enumerate() {
            if c > 0 {
                let g = coarsen(other.origin + i as i64, other.exp, exp);
                self.counts[(g - origin).clamp(0, last) as usize] += c;
            }
        }
        Ok(())
    }

    /// The smallest grid (width 2^e with e >= `start`) whose `bins` consecutive cells hold every
    /// value seen (the tally's extremes), and its first cell.
    ///
    /// e is also kept at or above `floor(log2(max|x|)) - 40`, so cells stay far below 2^53 even
    /// for constant data (which fits any width). Both bounds grow with the data, so the result is
    /// a function of the data's extremes alone: this is what makes merges order-independent.
    fn layout(&self, start: Option<i32>) -> (Option<i32>, i64) {
        let t = &self.tally;
        let amax = t.abs_max();
        if amax == 0.0 {
            return (start, 0);
        }
        let (lo, hi) = match self.domain {
            Domain::Signed => (t.min as f64, t.max as f64),
            Domain::Abs => (0.0, amax),
        };
        let n = self.counts.len() as i64;
        let mut e = floor_log2(amax) - 40;
        if let Some(s) = start {
            e = e.max(s);
        }
        let span = hi - lo;
        if span > 0.0 {
            // A width of at most span/(2n) cannot fit, so starting here skips no answer.
            let ceil_log2_n = 64 - (n as u64 - 1).leading_zeros() as i32;
            e = e.max(floor_log2(span) - ceil_log2_n - 1);
        }
        loop {
            let (a, b) = (cell(lo, e), cell(hi, e));
            if b - a < n {
                return (Some(e), if self.domain == Domain::Signed { a } else { 0 });
            }
            e += 1;
        }
    }

    /// Moves the counts onto a grid at least as coarse as the current one.
    fn relayout(&mut self, exp: Option<i32>, origin: i64) {
        if exp == self.exp && origin == self.origin {
            return;
        }
        let last = self.counts.len() as i64 - 1;
        let mut moved = vec![0u64; self.counts.len()];
        for (i, &c) in self.counts.iter().enumerate() {
            if c > 0 {
                let g = coarsen(self.origin + i as i64, self.exp, exp);
                moved[(g - origin).clamp(0, last) as usize] += c;
            }
        }
        self.counts = moved;
        self.exp = exp;
        self.origin = origin;
    }

    /// The value of the histogrammed quantity (x or |x|) below which a fraction `q` of the
    /// finite values lie, clamped to the observed extremes; 0 before any data. Inside a bin,
    /// values are taken as spread uniformly, except exact zeros, which sit at 0 (the lower edge
    /// of their bin).
    pub fn quantile(&self, q: f64) -> f64 {
        let total = self.total();
        if total == 0 {
            return 0.0;
        }
        let t = &self.tally;
        let (lo, hi) = match self.domain {
            Domain::Signed => (t.min as f64, t.max as f64),
            Domain::Abs => (0.0, t.abs_max()),
        };
        let k = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) } * total as f64;
        let w = self.width();
        let zero_bin = self.zero_bin();
        let mut cum = 0.0;
        for (i, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let (mut c, mut cum_spread) = (c as f64, cum);
            if Some(i) == zero_bin && self.zeros > 0 {
                let z = self.zeros as f64;
                if cum + z >= k {
                    return 0.0f64.clamp(lo, hi);
                }
                c -= z;
                cum_spread += z;
            }
            if cum_spread + c >= k && c > 0.0 {
                let frac = ((k - cum_spread) / c).clamp(0.0, 1.0);
                return (self.lower(i) + frac * w).clamp(lo, hi);
            }
            cum = cum_spread + c;
        }
        hi
    }

    /// One past the last non-empty bin (0 if empty).
    pub fn occupied(&self) -> usize {
        self.counts.iter().rposition(|&c| c > 0).map_or(0, |p| p + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::testdata;

    fn hist(domain: Domain, bins: usize, batches: &[&[f32]]) -> Histogram {
        let mut h = Histogram::new(domain, bins).unwrap();
        for b in batches {
            h.observe(b);
        }
        h
    }

    #[test]
    fn bins_by_hand() {
        // |x| up to 3 with 4 bins: the smallest power-of-two width with 3 < 4w is w = 1.
        let h = hist(Domain::Abs, 4, &[&[0.0, 0.5, -1.0, 1.5, 2.0, -3.0]]);
        assert_eq!(h.width(), 1.0);
        assert_eq!(h.counts(), &[2, 2, 1, 1]);
        assert_eq!(h.lower(3), 3.0);
        // Signed [-3, 2] with 8 bins: w = 1 gives cells -3..=2 (6 cells); w = 0.5 needs 11.
        let h = hist(Domain::Signed, 8, &[&[0.0, 0.5, -1.0, 1.5, 2.0, -3.0]]);
        assert_eq!(h.width(), 1.0);
        assert_eq!(h.lower(0), -3.0);
        assert_eq!(h.counts(), &[1, 0, 1, 2, 1, 1, 0, 0]);
    }

    #[test]
    fn growing_range_merges_bins_exactly() {
        // First batch: |x| < 4 at w = 1; then 7.5 arrives: w = 2, pairs of bins merge.
        let mut h = hist(Domain::Abs, 4, &[&[0.5, 1.5, 2.5, 3.5]]);
        assert_eq!(h.counts(), &[1, 1, 1, 1]);
        h.observe(&[7.5]);
        assert_eq!(h.width(), 2.0);
        assert_eq!(h.counts(), &[2, 2, 0, 1]);
        let once = hist(Domain::Abs, 4, &[&[0.5, 1.5, 2.5, 3.5, 7.5]]);
        assert_eq!((h.counts(), h.width()), (once.counts(), once.width()));
    }

    #[test]
    fn signed_window_follows_the_data() {
        let mut h = hist(Domain::Signed, 4, &[&[10.0, 11.0, 12.0]]);
        assert_eq!((h.width(), h.lower(0)), (1.0, 10.0));
        h.observe(&[-1.0]);
        // [-1, 12] in 4 bins: w = 4 needs cells -1..=3 (five), w = 8 needs cells -1..=1.
        assert_eq!((h.width(), h.lower(0)), (8.0, -8.0));
        assert_eq!(h.counts(), &[1, 0, 3, 0]);
    }

    #[test]
    fn zeros_constants_and_nonfinite() {
        let mut h = hist(Domain::Signed, 16, &[&[0.0, -0.0, f32::NAN]]);
        assert_eq!(h.width(), 0.0);
        assert_eq!((h.counts()[0], h.zeros()), (2, 2));
        assert_eq!(h.observed_counts(), Counts { batches: 1, values: 2, nonfinite: 1 });
        h.observe(&[f32::INFINITY, 5.0]);
        assert_eq!(h.total(), 3);
        assert_eq!(h.counts().iter().sum::<u64>(), 3);
        assert!(h.width() > 0.0);
        assert_eq!(h.quantile(1.0), 5.0);
        // Constant data fit any width; the width is bounded below, cells stay small.
        let h = hist(Domain::Signed, 16, &[&[-7.25; 10]]);
        assert_eq!(h.counts().iter().sum::<u64>(), 10);
        assert_eq!(h.quantile(0.5), -7.25);
        let tiny = hist(Domain::Abs, 16, &[&[1e-40, -1e-45]]);
        assert_eq!(tiny.counts().iter().sum::<u64>(), 2);
        let huge = hist(Domain::Signed, 16, &[&[f32::MAX, f32::MIN, 0.0]]);
        assert_eq!(huge.counts().iter().sum::<u64>(), 3);
        assert_eq!(huge.quantile(0.0), f32::MIN as f64);
    }

    #[test]
    fn merge_of_parts_equals_observing_all_in_any_order() {
        let a = testdata::normal(50_000, 1.0, 1);
        let b: Vec<f32> = testdata::normal(50_000, 3.0, 2).iter().map(|v| v + 2.0).collect();
        for domain in [Domain::Signed, Domain::Abs] {
            let all = hist(domain, 2048, &[&a, &b]);
            assert_eq!(all, hist(domain, 2048, &[&b, &a]));
            let mut ha = hist(domain, 2048, &[&a]);
            let hb = hist(domain, 2048, &[&b]);
            ha.merge(&hb).unwrap();
            // The tallies count batches the same way (one each), so the whole state is equal.
            assert_eq!(ha, all);
            let mut hb2 = hb.clone();
            hb2.merge(&hist(domain, 2048, &[&a])).unwrap();
            assert_eq!(hb2, all);
            // Many small batches: the same.
            let mut chunks = Histogram::new(domain, 2048).unwrap();
            for c in a.chunks(997).chain(b.chunks(1009)) {
                chunks.observe(c);
            }
            assert_eq!(chunks.counts(), all.counts());
            assert_eq!(chunks.width(), all.width());
        }
    }

    #[test]
    fn uses_at_least_half_the_bins() {
        for (seed, scale) in [(3u64, 1.0), (4, 1e-3), (5, 1e4)] {
            let data = testdata::uniform(10_000, -scale, 3.0 * scale, seed);
            let h = hist(Domain::Signed, 2048, &[&data]);
            let used = h.occupied() - h.counts().iter().position(|&c| c > 0).unwrap();
            assert!(used >= 1024, "only {used} of 2048 bins span the data");
            let h = hist(Domain::Abs, 2048, &[&data]);
            assert!(h.occupied() > 1024);
        }
    }

    #[test]
    fn quantiles_interpolate_inside_bins() {
        let data = testdata::uniform(200_000, 0.0, 1.0, 9);
        let h = hist(Domain::Signed, 2048, &[&data]);
        for q in [0.01, 0.25, 0.5, 0.9, 0.999] {
            assert!((h.quantile(q) - q).abs() < 3e-3, "q {q}: {}", h.quantile(q));
        }
        assert_eq!(h.quantile(0.0), *data.iter().min_by(|a, b| a.total_cmp(b)).unwrap() as f64);
        assert_eq!(h.quantile(1.0), *data.iter().max_by(|a, b| a.total_cmp(b)).unwrap() as f64);
    }

    #[test]
    fn exact_zeros_are_a_point_in_quantiles() {
        // 6 zeros, then 2, 3, 4 (w = 1 with 8 bins over [0, 4]), and one 0.5 in the zero bin.
        let mut h = hist(Domain::Signed, 8, &[&[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 2.0, 3.0, 4.0]]);
        assert_eq!((h.width(), h.zero_bin(), h.zeros()), (1.0, Some(0), 6));
        assert_eq!(h.quantile(0.3), 0.0);
        assert_eq!(h.quantile(0.6), 0.0);
        // The 7th value is the 0.5 spread over [0, 1): k = 6.5 is halfway through it.
        assert_eq!(h.quantile(0.65), 0.5);
        h.observe(&[-8.0]);
        assert_eq!(h.zero_bin(), Some(4)); // w = 2, origin -4
        let (a, b) = (hist(Domain::Abs, 8, &[&[0.0, 1.0]]), hist(Domain::Abs, 8, &[&[-0.0, 2.0]]));
        let mut m = a.clone();
        m.merge(&b).unwrap();
        assert_eq!(m.zeros(), 2);
        assert_eq!(m, hist(Domain::Abs, 8, &[&[0.0, 1.0], &[-0.0, 2.0]]));
    }

    #[test]
    fn rejects_bad_bin_counts_and_mixed_domains() {
        assert!(matches!(Histogram::new(Domain::Abs, 0), Err(Error::InvalidOptions(_))));
        assert!(matches!(Histogram::new(Domain::Abs, 1), Err(Error::InvalidOptions(_))));
        assert!(Histogram::new(Domain::Abs, MAX_BINS + 1).is_err());
        let mut a = hist(Domain::Abs, 8, &[&[1.0]]);
        assert!(a.merge(&hist(Domain::Signed, 8, &[&[1.0]])).is_err());
    }

    #[test]
    fn merging_different_bin_counts_keeps_self_s() {
        let data = testdata::normal(10_000, 1.0, 11);
        let mut a = hist(Domain::Abs, 512, &data.chunks(5000).take(1).collect::<Vec<_>>());
        let b = hist(Domain::Abs, 2048, &data.chunks(5000).skip(1).collect::<Vec<_>>());
        a.merge(&b).unwrap();
        assert_eq!(a.bins(), 512);
        assert_eq!(a.counts().iter().sum::<u64>(), 10_000);
        assert_eq!(a.quantile(1.0), hist(Domain::Abs, 512, &[&data]).quantile(1.0));
    }
}
