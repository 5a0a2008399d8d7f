//! [`MinMax`]: the smallest and largest finite value seen, or a moving average of per-batch
//! extremes (`docs/calibration.md`, "MinMax").
use super::{Counts, Observer, Range, Tally};
use crate::error::{Error, Result};

/// onnxruntime's default `averaging_constant`.
pub const DEFAULT_AVERAGING_CONSTANT: f32 = 0.01;

/// `MinMax::default()`: plain extremes, no moving average.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MinMax {
    moving_average: Option<f32>,
    tally: Tally,
    /// Moving averages of the per-batch min and max, and how many batches (with finite data)
    /// went into them.
    average: Option<(f64, f64)>,
    averaged: u64,
}

impl MinMax {
    /// `moving_average: Some(c)` with `0 < c <= 1` averages per-batch extremes as onnxruntime
    /// does: `m <- m + c·(m_batch - m)`, the first batch setting `m`. `None`: plain extremes.
    pub fn new(moving_average: Option<f32>) -> Result<MinMax> {
        if let Some(c) = moving_average {
            if !(c > 0.0 && c <= 1.0) {
                return Err(Error::InvalidOptions(format!(
                    "the moving-average constant must be in (0, 1], got {c}"
                )));
            }
        }
        Ok(MinMax { moving_average, tally: Tally::default(), average: None, averaged: 0 })
    }

    pub fn moving_average(&self) -> Option<f32> {
        self.moving_average
    }
}

impl Observer for MinMax {
    fn observe(&mut self, values: &[f32]) {
        let scan = Tally::scan(values);
        self.tally.add(&scan);
        if let Some(c) = self.moving_average {
            if scan.finite > 0 {
                let (bmin, bmax) = (scan.min as f64, scan.max as f64);
                let c = c as f64;
                self.average = Some(match self.average {
                    None => (bmin, bmax),
                    Some((m, mm)) => (m + c * (bmin - m), mm + c * (bmax - mm)),
                });
                self.averaged += 1;
            }
        }
    }

    /// Plain extremes merge exactly. A moving average depends on the order of batches, so two
    /// averages merge approximately: their mean weighted by how many batches each averaged.
    fn merge(&mut self, other: &MinMax) -> Result<()> {
        if self.moving_average.is_some() != other.moving_average.is_some() {
            return Err(Error::InvalidOptions(
                "cannot merge a moving-average MinMax observer with a plain one".into(),
            ));
        }
        self.tally.merge(&other.tally);
        self.average = match (self.average, other.average) {
            (a, None) => a,
            (None, b) => b,
            (Some((a0, a1)), Some((b0, b1))) => {
                let (wa, wb) = (self.averaged as f64, other.averaged as f64);
                let n = wa + wb;
                Some(((wa * a0 + wb * b0) / n, (wa * a1 + wb * b1) / n))
            }
        };
        self.averaged += other.averaged;
        Ok(())
    }

    fn range(&self) -> Range {
        match (self.moving_average, self.average) {
            (Some(_), Some((lo, hi))) => Range::from_f64(lo, hi),
            _ => self.tally.range(),
        }
    }

    fn counts(&self) -> Counts {
        self.tally.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::testdata;

    #[test]
    fn extremes_by_hand() {
        let mut m = MinMax::default();
        m.observe(&[0.5, -2.0, 3.0]);
        m.observe(&[]);
        m.observe(&[1.0, 7.5]);
        assert_eq!(m.range(), Range { min: -2.0, max: 7.5 });
        assert_eq!(m.counts(), Counts { batches: 3, values: 5, nonfinite: 0 });
    }

    #[test]
    fn nan_and_inf_are_skipped_and_counted() {
        let mut m = MinMax::default();
        m.observe(&[f32::NAN, 1.0, f32::INFINITY, -1.0, f32::NEG_INFINITY]);
        m.observe(&[f32::NAN]);
        assert_eq!(m.range(), Range { min: -1.0, max: 1.0 });
        assert_eq!(m.counts(), Counts { batches: 2, values: 2, nonfinite: 4 });
        let mut only_nan = MinMax::new(Some(0.5)).unwrap();
        only_nan.observe(&[f32::NAN; 3]);
        assert_eq!(only_nan.range(), Range::ZERO);
        assert_eq!(only_nan.counts().values, 0);
    }

    #[test]
    fn moving_average_formula() {
        // c = 0.5; batch minima -1, -3, -2 and maxima 1, 5, 2 (a batch of only NaN is skipped):
        // min: -1 -> -1 + 0.5(-3 + 1) = -2 -> -2 + 0.5(-2 + 2) = -2
        // max:  1 ->  1 + 0.5(5 - 1) = 3 ->  3 + 0.5(2 - 3) = 2.5
        let mut m = MinMax::new(Some(0.5)).unwrap();
        m.observe(&[-1.0, 0.0, 1.0]);
        m.observe(&[f32::NAN]);
        m.observe(&[-3.0, 5.0]);
        m.observe(&[2.0, -2.0]);
        assert_eq!(m.range(), Range { min: -2.0, max: 2.5 });
        // c = 1 keeps only the last batch.
        let mut last = MinMax::new(Some(1.0)).unwrap();
        last.observe(&[-10.0, 10.0]);
        last.observe(&[-1.0, 2.0]);
        assert_eq!(last.range(), Range { min: -1.0, max: 2.0 });
    }

    #[test]
    fn merge_of_halves_equals_observing_all() {
        let data = testdata::normal(10_000, 2.0, 5);
        let (a, b) = data.split_at(4321);
        let mut all = MinMax::default();
        all.observe(a);
        all.observe(b);
        let mut left = MinMax::default();
        left.observe(a);
        let mut right = MinMax::default();
        right.observe(b);
        left.merge(&right).unwrap();
        assert_eq!(left, all);
    }

    #[test]
    fn moving_averages_merge_weighted_by_batches() {
        let mut a = MinMax::new(Some(0.5)).unwrap();
        a.observe(&[-1.0, 1.0]);
        a.observe(&[-1.0, 1.0]);
        a.observe(&[-1.0, 1.0]);
        let mut b = MinMax::new(Some(0.5)).unwrap();
        b.observe(&[-5.0, 3.0]);
        a.merge(&b).unwrap();
        // (3·(-1) + 1·(-5)) / 4 = -2; (3·1 + 1·3) / 4 = 1.5
        assert_eq!(a.range(), Range { min: -2.0, max: 1.5 });
        let mut empty = MinMax::new(Some(0.5)).unwrap();
        empty.merge(&b).unwrap();
        assert_eq!(empty.range(), b.range());
        assert!(a.merge(&MinMax::default()).is_err());
    }

    #[test]
    fn rejects_bad_constants() {
        for c in [0.0, -0.1, 1.5, f32::NAN, f32::INFINITY] {
            assert!(matches!(MinMax::new(Some(c)), Err(Error::InvalidOptions(_))), "{c}");
        }
    }
}
