//! [`Percentile`]: the range that keeps a given percentage of the values, read off the shared
//! histogram (`docs/calibration.md`, "Percentile").
//!
//! Two ways to cut, as onnxruntime offers (its `CalibTensorRangeSymmetric` option):
//! - [`Tails::Both`] (the default here and in onnxruntime): cut `(100 - p)/2` percent from each
//!   tail of x, over a [`Domain::Signed`] histogram. Skewed data (post-ReLU, GELU) keep their
//!   asymmetric shape; the cut follows where the data actually are.
//! - [`Tails::Abs`]: the p-th percentile `t` of |x|, giving `[-t, t] ∩ [min, max]`. Suits a
//!   symmetric quantizer; on symmetric data it matches `Both`.
//!
//! Inside a bin the quantile is interpolated linearly (onnxruntime takes the bin's lower edge),
//! and both ends are clamped to the observed `[min, max]`, so `p = 100` gives exactly MinMax.
use super::histogram::{Domain, Histogram};
use super::{Counts, Observer, Range, DEFAULT_BINS};
use crate::error::{Error, Result};

/// Which tails a [`Percentile`] cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tails {
    /// `(100 - p)/2` percent below and above.
    Both,
    /// `100 - p` percent of the largest |x|, the range symmetric before clamping.
    Abs,
}

/// onnxruntime's default percentile.
pub const DEFAULT_PERCENTILE: f64 = 99.999;

#[derive(Debug, Clone, PartialEq)]
pub struct Percentile {
    percentile: f64,
    tails: Tails,
    hist: Histogram,
}

impl Percentile {
    /// `percentile` in (0, 100]; `bins` as for [`Histogram::new`].
    pub fn new(percentile: f64, tails: Tails, bins: usize) -> Result<Percentile> {
        if !(percentile > 0.0 && percentile <= 100.0) {
            return Err(Error::InvalidOptions(format!(
                "the percentile must be in (0, 100], got {percentile}"
            )));
        }
        let domain = match tails {
            Tails::Both => Domain::Signed,
            Tails::Abs => Domain::Abs,
        };
        Ok(Percentile { percentile, tails, hist: Histogram::new(domain, bins)? })
    }

    /// Two tails, [`DEFAULT_BINS`] bins.
    pub fn with_percentile(percentile: f64) -> Result<Percentile> {
        Percentile::new(percentile, Tails::Both, DEFAULT_BINS)
    }

    pub fn percentile(&self) -> f64 {
        self.percentile
    }
    pub fn tails(&self) -> Tails {
        self.tails
    }
    pub fn histogram(&self) -> &Histogram {
        &self.hist
    }
}

impl Default for Percentile {
    fn default() -> Self {
        Percentile {
            percentile: DEFAULT_PERCENTILE,
            tails: Tails::Both,
            hist: Histogram::with_default_bins(Domain::Signed),
        }
    }
}

impl Observer for Percentile {
    fn observe(&mut self, values: &[f32]) {
        self.hist.observe(values);
    }

    fn merge(&mut self, other: &Percentile) -> Result<()> {
        if self.tails != other.tails {
            return Err(Error::InvalidOptions(format!(
                "cannot merge a {:?}-tailed percentile observer into a {:?}-tailed one",
                other.tails, self.tails
            )));
        }
        self.hist.merge(&other.hist)
    }

    fn range(&self) -> Range {
        let t = self.hist.tally();
        if !t.has_data() {
            return Range::ZERO;
        }
        let keep = self.percentile / 100.0;
        match self.tails {
            Tails::Both => {
                let cut = (1.0 - keep) / 2.0;
                Range::from_f64(self.hist.quantile(cut), self.hist.quantile(1.0 - cut))
            }
            Tails::Abs => t.clip_symmetric(self.hist.quantile(keep)),
        }
    }

    fn counts(&self) -> Counts {
        self.hist.observed_counts()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::testdata;

    fn observed(p: f64, tails: Tails, data: &[f32]) -> Percentile {
        let mut o = Percentile::new(p, tails, DEFAULT_BINS).unwrap();
        for c in data.chunks(10_000) {
            o.observe(c);
        }
        o
    }

    #[test]
    fn uniform_data_closed_form() {
        // U(-1, 1): cutting 0.5% per tail gives ±0.99; the 99th percentile of |x| is 0.99.
        let data = testdata::uniform(1_000_000, -1.0, 1.0, 21);
        for tails in [Tails::Both, Tails::Abs] {
            let r = observed(99.0, tails, &data).range();
            assert!((r.min + 0.99).abs() < 2e-3 && (r.max - 0.99).abs() < 2e-3, "{tails:?}: {r:?}");
        }
        // U(0, 10), 90%: Both cuts 5% per tail -> [0.5, 9.5]; Abs -> [min, 9.0].
        let data = testdata::uniform(1_000_000, 0.0, 10.0, 22);
        let r = observed(90.0, Tails::Both, &data).range();
        assert!((r.min - 0.5).abs() < 0.02 && (r.max - 9.5).abs() < 0.02, "{r:?}");
        let r = observed(90.0, Tails::Abs, &data).range();
        let min = data.iter().copied().fold(f32::INFINITY, f32::min);
        assert!(r.min == min && (r.max - 9.0).abs() < 0.02, "{r:?}");
    }

    #[test]
    fn hundred_percent_is_minmax() {
        let data = testdata::normal(100_000, 1.5, 23);
        let min = data.iter().copied().fold(f32::INFINITY, f32::min);
        let max = data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for tails in [Tails::Both, Tails::Abs] {
            let r = observed(100.0, tails, &data).range();
            assert_eq!(r, Range { min, max }, "{tails:?}");
        }
    }

    #[test]
    fn small_example_by_hand() {
        // 0.5, 1.5, ..., 99.5: 100 values, one per unit interval. Width 1/16 (99/2048 rounded
        // up to a power of two), so value v sits alone in [v, v + 1/16). Cutting 1.5% per tail:
        // the CDF reaches 1.5 values halfway through the 2nd value's bin (1.5 + 1/32), and
        // 98.5 values halfway through the 99th's (98.5 + 1/32).
        let data: Vec<f32> = (0..100).map(|i| i as f32 + 0.5).collect();
        let r = observed(97.0, Tails::Both, &data).range();
        assert_eq!(r, Range { min: 1.53125, max: 98.53125 });
        // |x| at 89.5%: halfway through the 90th value's bin (89.5 + 1/32); the lower end is
        // the observed minimum, since -t < min.
        let r = observed(89.5, Tails::Abs, &data).range();
        assert_eq!(r, Range { min: 0.5, max: 89.53125 });
    }

    #[test]
    fn default_is_99_999_two_tailed() {
        let p = Percentile::default();
        assert_eq!((p.percentile(), p.tails()), (99.999, Tails::Both));
        assert_eq!(p.histogram().bins(), 2048);
        assert_eq!(Percentile::with_percentile(99.999).unwrap(), p);
    }

    #[test]
    fn gaussian_with_outliers_is_clipped() {
        let mut data = testdata::normal(1_000_000, 1.0, 24);
        data.extend_from_slice(&[40.0, -35.0, 50.0]);
        let r = observed(99.99, Tails::Both, &data).range();
        // 0.005% per tail of N(0,1): z = 3.89.
        assert!(r.max > 3.7 && r.max < 4.1 && r.min < -3.7 && r.min > -4.1, "{r:?}");
    }

    #[test]
    fn relu_like_data_keeps_zero_as_lower_end() {
        let data: Vec<f32> = testdata::normal(200_000, 1.0, 25).iter().map(|v| v.max(0.0)).collect();
        for tails in [Tails::Both, Tails::Abs] {
            let r = observed(99.9, tails, &data).range();
            assert_eq!(r.min, 0.0, "{tails:?}");
            assert!(r.max > 2.5 && r.max < 3.5, "{tails:?}: {r:?}");
        }
    }

    #[test]
    fn merge_of_halves_equals_observing_all() {
        let data = testdata::normal(100_000, 1.0, 26);
        let (a, b) = data.split_at(30_000);
        for tails in [Tails::Both, Tails::Abs] {
            let mut all = Percentile::new(99.9, tails, 2048).unwrap();
            all.observe(a);
            all.observe(b);
            let mut left = Percentile::new(99.9, tails, 2048).unwrap();
            left.observe(a);
            let mut right = Percentile::new(99.9, tails, 2048).unwrap();
            right.observe(b);
            left.merge(&right).unwrap();
            assert_eq!(left, all);
            assert_eq!(left.range(), all.range());
        }
        let mut both = Percentile::default();
        assert!(both.merge(&Percentile::new(99.0, Tails::Abs, 2048).unwrap()).is_err());
    }

    #[test]
    fn nan_skipped_and_counted() {
        let mut p = Percentile::with_percentile(50.0).unwrap();
        p.observe(&[f32::NAN, 1.0, 2.0, f32::INFINITY, 3.0]);
        let r = p.range();
        assert!(r.min.is_finite() && r.max.is_finite() && r.min >= 1.0 && r.max <= 3.0, "{r:?}");
        assert_eq!(p.counts(), Counts { batches: 1, values: 3, nonfinite: 2 });
        let mut empty = Percentile::default();
        empty.observe(&[f32::NAN]);
        assert_eq!(empty.range(), Range::ZERO);
    }

    #[test]
    fn rejects_out_of_range_percentiles() {
        for p in [0.0, -1.0, 100.001, f64::NAN, f64::INFINITY] {
            assert!(matches!(Percentile::with_percentile(p), Err(Error::InvalidOptions(_))), "{p}");
        }
        assert!(Percentile::with_percentile(1e-9).is_ok());
        assert!(Percentile::new(99.0, Tails::Both, 0).is_err());
    }
}
