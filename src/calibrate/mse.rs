//! [`Mse`]: the clip threshold that minimizes the expected squared quantization error over a
//! histogram of |x| (`docs/calibration.md`, "MSE").
//!
//! For a threshold `t` the range is `R(t) = [-t, t] ∩ [min, max]`, widened to contain zero as
//! the quantizer will, and quantized with `levels` levels (step `Δ = width(R)/(levels-1)`).
//! The expected error is rounding noise for the values inside plus clipping error for those
//! outside:
//!
//! ```text
//! E(t) = n_in(t)·Δ(t)²/12 + Σ_{|x|>t} (|x| - t)²
//! ```
//!
//! evaluated at every bin edge `t = i·width` (and at `t = max|x|`, no clipping) from prefix sums,
//! so the whole search is O(bins). Values inside a bin are taken as spread uniformly over it, so a
//! clipped bin contributes `c·((m - t)² + w²/12)` with `m` its centre. Exact zeros are left out
//! of `n_in`: zero is exactly representable, so they carry no rounding noise.
use super::histogram::{Domain, Histogram};
use super::{Counts, Observer, Range};
use crate::error::{Error, Result};

/// Levels of an 8-bit quantizer.
pub const DEFAULT_LEVELS: u32 = 256;

#[derive(Debug, Clone, PartialEq)]
pub struct Mse {
    levels: u32,
    hist: Histogram,
}

impl Mse {
    /// A histogram of `bins` bins over |x| (2..=[`super::MAX_BINS`]); `levels >= 2`.
    pub fn new(bins: usize, levels: u32) -> Result<Mse> {
        if levels < 2 {
            return Err(Error::InvalidOptions(format!("MSE calibration needs at least 2 levels, got {levels}")));
        }
        Ok(Mse { levels, hist: Histogram::new(Domain::Abs, bins)? })
    }

    pub fn levels(&self) -> u32 {
        self.levels
    }
    pub fn histogram(&self) -> &Histogram {
        &self.hist
    }

    /// The chosen |x| threshold (before intersecting with `[min, max]`) and its expected error
    /// per value; `(0, 0)` before any data.
    pub fn threshold(&self) -> (f64, f64) {
        let tally = self.hist.tally();
        let total = self.hist.total();
        let w = self.hist.width();
        if total == 0 || w == 0.0 {
            return (0.0, 0.0);
        }
        let (min, max) = (tally.min as f64, tally.max as f64);
        let steps = (self.levels - 1) as f64;
        // Step of the quantizer for threshold t: R(t) widened to contain zero.
        let step = |t: f64| ((t.min(max)).max(0.0) - ((-t).max(min)).min(0.0)) / steps;
        let counts = self.hist.counts();
        let occupied = self.hist.occupied();
        // Suffix sums over bins i.. : count, Σ c·m, Σ c·m² with m the bin centre.
        let (mut s0, mut s1, mut s2) = (0.0f64, 0.0f64, 0.0f64);
        // No clipping at all: t = max|x|.
        let amax = tally.abs_max();
        // Exact zeros stay exact (zero is representable): no rounding noise, never clipped.
        let zeros = self.hist.zeros() as f64;
        let d = step(amax);
        let mut best = (amax, (total as f64 - zeros) * d * d / 12.0);
        for i in (1..occupied).rev() {
            let c = counts[i] as f64;
            let m = (i as f64 + 0.5) * w;
            s0 += c;
            s1 += c * m;
            s2 += c * m * m;
            let t = i as f64 * w;
            if t >= amax {
                // Clips nothing: the same as the candidate above, which knows the true extremes
                // (the top bin's values are not spread over the whole bin).
                continue;
            }
            let d = step(t);
            let inside = total as f64 - zeros - s0;
            let clipped = (s2 - 2.0 * t * s1 + t * t * s0).max(0.0) + s0 * w * w / 12.0;
            let err = inside * d * d / 12.0 + clipped;
            if err < best.1 {
                best = (t, err);
            }
        }
        (best.0, best.1 / total as f64)
    }
}

impl Default for Mse {
    fn default() -> Self {
        Mse { levels: DEFAULT_LEVELS, hist: Histogram::with_default_bins(Domain::Abs) }
    }
}

impl Observer for Mse {
    fn observe(&mut self, values: &[f32]) {
        self.hist.observe(values);
    }

    fn merge(&mut self, other: &Mse) -> Result<()> {
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
        t.clip_symmetric(self.threshold().0)
    }

    fn counts(&self) -> Counts {
        self.hist.observed_counts()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::testdata;

    fn observed(data: &[f32]) -> Mse {
        let mut m = Mse::default();
        for c in data.chunks(50_000) {
            m.observe(c);
        }
        m
    }

    #[test]
    fn uniform_data_closed_form() {
        // U(-1, 1), 256 levels: E(t) ∝ t·(2t/255)²/12 + (1-t)³/3, whose minimum is where
        // (t/255)² = (1-t)², i.e. t = 255/256 = 0.99609 (a bin edge of the 2^-11 grid).
        let data = testdata::uniform(2_000_000, -1.0, 1.0, 41);
        let (t, _) = observed(&data).threshold();
        assert!((t - 255.0 / 256.0).abs() < 1.5e-3, "{t}");
    }

    /// argmin over t of the continuous objective for N(0,1): 2∫_t^∞ (x-t)²φ(x)dx + P(|x|<t)·Δ²/12,
    /// Δ = 2t/255, integrated numerically (trapezoid, dx = 1e-4).
    fn gaussian_optimum() -> f64 {
        let dx = 1e-4;
        let n = 120_000; // x up to 12
        let phi = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
        // Tail integrals from x_k to the end, accumulated backwards.
        let (mut i0, mut i1, mut i2) = (vec![0.0; n + 1], vec![0.0; n + 1], vec![0.0; n + 1]);
        for k in (0..n).rev() {
            let (a, b) = (k as f64 * dx, (k + 1) as f64 * dx);
            let f = |g: &dyn Fn(f64) -> f64| 0.5 * dx * (g(a) + g(b));
            i0[k] = i0[k + 1] + f(&|x| phi(x));
            i1[k] = i1[k + 1] + f(&|x| x * phi(x));
            i2[k] = i2[k + 1] + f(&|x| x * x * phi(x));
        }
        let mut best = (f64::INFINITY, 0.0);
        for k in (20_000..60_000).step_by(10) {
            let t = k as f64 * dx;
            let d = 2.0 * t / 255.0;
            let e = 2.0 * (i2[k] - 2.0 * t * i1[k] + t * t * i0[k]) + (1.0 - 2.0 * i0[k]) * d * d / 12.0;
            if e < best.0 {
                best = (e, t);
            }
        }
        best.1
    }

    #[test]
    fn gaussian_data_closed_form() {
        let t_star = gaussian_optimum();
        assert!(t_star > 3.5 && t_star < 4.5, "{t_star}");
        for seed in [45, 46, 47] {
            let (t, _) = observed(&testdata::normal(2_000_000, 1.0, seed)).threshold();
            assert!((t - t_star).abs() < 0.1, "seed {seed}: {t} vs {t_star}");
        }
    }

    #[test]
    fn expected_error_by_hand() {
        // 3 and -3 and eight 1s, 4 levels. At t = max|x| = 3: Δ = 6/3 = 2, E = 10·4/12.
        let mut data = vec![1.0f32; 8];
        data.extend_from_slice(&[3.0, -3.0]);
        let mut m = Mse::new(4, 4).unwrap();
        m.observe(&data);
        // Bins of width 1 over |x| in [0, 4): counts [0, 8, 0, 2].
        assert_eq!(m.histogram().counts(), &[0, 8, 0, 2]);
        // t = 2: Δ = 4/3, inside 8·(16/9)/12 = 1.185; clipped 2·((3.5-2)² + 1/12) = 4.667.
        // t = 1: Δ = 2/3, inside 0 (bin 1 is above the edge t = 1, clipped with the rest):
        //   8·((1.5-1)² + 1/12) + 2·((3.5-1)² + 1/12) = 2.667 + 12.667 = 15.33.
        // t = 3 (no clipping): 10·4/12 = 3.333, the smallest.
        let (t, e) = m.threshold();
        assert_eq!(t, 3.0);
        assert!((e - 10.0 * 4.0 / 12.0 / 10.0).abs() < 1e-12);
        assert_eq!(m.range(), Range { min: -3.0, max: 3.0 });
        // With 2 outliers among 1000 ones, clipping them pays: t = 2 (the edge below 3).
        let mut data = vec![1.0f32; 1000];
        data.extend_from_slice(&[3.0, -3.0]);
        let mut m = Mse::new(4, 4).unwrap();
        m.observe(&data);
        // t = 2: 1000·(16/9)/12 + 2·(2.25 + 1/12) = 148.1 + 4.67; t = 3: 1002/3 = 334.
        assert_eq!(m.threshold().0, 2.0);
        assert_eq!(m.range(), Range { min: -2.0, max: 2.0 });
    }

    #[test]
    fn gaussian_with_outliers_clips_between_3_sigma_and_the_max() {
        let mut data = testdata::normal(1_000_000, 1.0, 42);
        data.extend_from_slice(&[30.0, -28.0]);
        let m = observed(&data);
        let r = m.range();
        assert!(r.max > 3.0 && r.max < 15.0, "{r:?}");
        assert_eq!(r.min, -r.max);
        // Clipping beats keeping the outliers by a wide margin.
        let (_, err) = m.threshold();
        let full = (58.0f64 / 255.0).powi(2) / 12.0;
        assert!(err < full / 2.0, "{err} vs {full}");
    }

    #[test]
    fn relu_like_data_use_the_one_sided_step() {
        // Half the values are 0, the rest |N(0,1)|. The range [0, t] is quantized with
        // 255 steps over t (not 2t), so the optimum clips further out than for N(0,1).
        let data: Vec<f32> = testdata::normal(1_000_000, 1.0, 43).iter().map(|v| v.max(0.0)).collect();
        let r = observed(&data).range();
        assert_eq!(r.min, 0.0);
        assert!(r.max > 3.0, "{r:?}");
    }

    #[test]
    fn merge_of_halves_equals_observing_all() {
        let data = testdata::normal(100_000, 2.0, 44);
        let (a, b) = data.split_at(50_001);
        let mut all = Mse::default();
        all.observe(a);
        all.observe(b);
        let mut left = Mse::default();
        left.observe(a);
        let mut right = Mse::default();
        right.observe(b);
        left.merge(&right).unwrap();
        assert_eq!(left, all);
        assert_eq!(left.range(), all.range());
    }

    #[test]
    fn nan_skipped_zeros_and_rejects() {
        let mut m = Mse::default();
        m.observe(&[f32::NAN, 0.0, f32::INFINITY]);
        assert_eq!(m.range(), Range::ZERO);
        assert_eq!(m.counts(), Counts { batches: 1, values: 1, nonfinite: 2 });
        m.observe(&[-1.0, 2.0, f32::NAN]);
        // Clipping 2 by less than Δ/√12 (Δ = 3/255) costs less than its rounding noise, so the
        // optimum is the bin edge just below 2: 1023·2⁻⁹.
        assert_eq!(m.range(), Range { min: -1.0, max: 1023.0 / 512.0 });
        assert_eq!(m.counts().nonfinite, 3);
        assert!(matches!(Mse::new(2048, 1), Err(Error::InvalidOptions(_))));
        assert!(Mse::new(0, 256).is_err());
    }
}
