//! Calibration: the activation ranges that static quantization reads.
//!
//! Three parts, as in onnxruntime's `calibrate.py` (design convention 3):
//!
//! 1. **Data source.** Batches of feeds, supplied by the caller: a JS async iterable, `.npy` files
//!    or images from the CLI. This module never reads files; it receives one batch at a time
//!    ([`Calibrator::run_batch`], or [`calibrate`] over any iterator of batches).
//! 2. **Observers.** One per chosen value, fed every tensor a run produces for that value through
//!    the runtime's observer hook ([`Calibrator::hook`]). Each implements [`Observer`]: it streams
//!    (memory does not grow with the number of samples), merges with another observer of the same
//!    kind (batches seen by separate workers), and reports a [`Range`]. The methods:
//!    [`MinMax`] (optionally a moving average), and three that share one streaming
//!    [`Histogram`]: [`Percentile`], [`Entropy`] (KL divergence) and [`Mse`].
//! 3. **The table.** [`CalibrationTable`]: value name → [`Range`] plus [`Counts`]; what the
//!    quantizer reads, serializable so JS can show it.
//!
//! The maths of each method is in `docs/calibration.md`; each file cites its section.
//!
//! What this module does not do: it does not make ranges quantizable. A [`Range`] is the
//! observed (or clipped) span of the data and may exclude zero (all-positive data gives
//! `min > 0`) or be a single point (`min == max`, constant data). Widening it to contain zero and
//! giving a zero-width range a valid scale is the quantizer's job (`docs/quantization.md`).
//!
//! Non-finite values (NaN, ±Inf) never reach a range: observers skip them and count them in
//! [`Counts::nonfinite`], so the quantizer can warn or refuse. A value with no finite data at all
//! reports `Range { min: 0, max: 0 }` and `Counts::values == 0`, which the quantizer must treat as
//! "no calibration data", not as a real range.
mod entropy;
mod histogram;
mod minmax;
mod mse;
mod percentile;
mod table;

pub use entropy::{Entropy, DEFAULT_QUANTIZED_BINS};
pub use histogram::{Domain, Histogram};
pub use minmax::{MinMax, DEFAULT_AVERAGING_CONSTANT};
pub use mse::{Mse, DEFAULT_LEVELS};
pub use percentile::{Percentile, Tails, DEFAULT_PERCENTILE};
pub use table::{calibrate, CalibrationMethod, CalibrationTable, Calibrator, TableEntry};

use crate::error::Result;

/// Default number of histogram bins (onnxruntime's and TensorRT's 2048).
pub const DEFAULT_BINS: usize = 2048;
/// Most histogram bins an option may ask for (8 MiB of counts per observed value).
pub const MAX_BINS: usize = 1 << 20;

/// The span of a value's data that quantization should represent. Both ends are finite f32 and
/// `min <= max`; zero is not necessarily inside (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Range {
    pub min: f32,
    pub max: f32,
}

impl Range {
    /// The range of a value with no finite data.
    pub const ZERO: Range = Range { min: 0.0, max: 0.0 };

    /// A range from f64 ends computed by a method. Ends are rounded to f32; a non-finite end
    /// (which no method produces from finite data) becomes 0; ends out of order are swapped.
    pub(crate) fn from_f64(lo: f64, hi: f64) -> Range {
        let fix = |v: f64| {
            let v = v as f32;
            // `+ 0.0` turns -0.0 into 0.0, so tables do not print "-0".
            if v.is_finite() {
                v + 0.0
            } else {
                0.0
            }
        };
        let (a, b) = (fix(lo), fix(hi));
        if a <= b {
            Range { min: a, max: b }
        } else {
            Range { min: b, max: a }
        }
    }

    /// `max - min` in f64 (never overflows).
    pub fn width(&self) -> f64 {
        self.max as f64 - self.min as f64
    }
}

/// How much data an observer has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Calls to [`Observer::observe`] (tensors observed), including empty ones.
    pub batches: u64,
    /// Finite values that went into the statistics.
    pub values: u64,
    /// NaN and ±Inf values skipped.
    pub nonfinite: u64,
}

impl Counts {
    fn merge(&mut self, other: &Counts) {
        self.batches += other.batches;
        self.values += other.values;
        self.nonfinite += other.nonfinite;
    }
}

/// A streaming collector of one value's statistics.
///
/// `observe` is called once per batch (one tensor from one run) and must use memory independent
/// of how many values or batches it has seen. `merge` combines an observer built with the same
/// options that saw other batches (another worker, another part of the data); for every method
/// except the moving average, observing A then B, B then A, or A and B separately and merging
/// give the same range. `range` may be called at any time and is cheap to call once per value
/// (the histogram searches are O(bins²) at worst, see `docs/calibration.md`).
pub trait Observer {
    /// Adds one batch of values. Non-finite values are skipped and counted.
    fn observe(&mut self, values: &[f32]);
    /// Adds what `other` has seen. Errors ([`crate::Error::InvalidOptions`]) if the two were
    /// built with options that cannot be combined (e.g. one-tailed and two-tailed percentiles).
    fn merge(&mut self, other: &Self) -> Result<()>
    where
        Self: Sized;
    /// The calibrated range so far ([`Range::ZERO`] before any finite value).
    fn range(&self) -> Range;
    /// What has been seen so far.
    fn counts(&self) -> Counts;
}

/// Exact extremes and counts of the finite values seen: shared by every observer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Tally {
    /// Smallest finite value (+inf before any).
    pub min: f32,
    /// Largest finite value (-inf before any).
    pub max: f32,
    pub counts: Counts,
}

/// One batch's extremes and counts, from [`Tally::scan`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scan {
    pub min: f32,
    pub max: f32,
    pub finite: u64,
    pub nonfinite: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Tally { min: f32::INFINITY, max: f32::NEG_INFINITY, counts: Counts::default() }
    }
}

impl Tally {
    pub fn scan(values: &[f32]) -> Scan {
        let mut s = Scan { min: f32::INFINITY, max: f32::NEG_INFINITY, finite: 0, nonfinite: 0 };
        for &v in values {
            if v.is_finite() {
                s.min = s.min.min(v);
                s.max = s.max.max(v);
                s.finite += 1;
            } else {
                s.nonfinite += 1;
            }
        }
        s
    }

    /// Records a scanned batch.
    pub fn add(&mut self, s: &Scan) {
        self.counts.batches += 1;
        self.counts.values += s.finite;
        self.counts.nonfinite += s.nonfinite;
        if s.finite > 0 {
            self.min = self.min.min(s.min);
            self.max = self.max.max(s.max);
        }
    }

    pub fn merge(&mut self, other: &Tally) {
        self.counts.merge(&other.counts);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    pub fn has_data(&self) -> bool {
        self.counts.values > 0
    }

    /// `[min, max]`, or [`Range::ZERO`] before any finite value.
    pub fn range(&self) -> Range {
        if self.has_data() {
            Range::from_f64(self.min as f64, self.max as f64)
        } else {
            Range::ZERO
        }
    }

    /// Largest |x| seen (0 before any finite value).
    pub fn abs_max(&self) -> f64 {
        if self.has_data() {
            (self.min as f64).abs().max((self.max as f64).abs())
        } else {
            0.0
        }
    }

    /// The symmetric clip `[-t, t]` intersected with the observed `[min, max]`: how the
    /// |x|-based methods turn a threshold into a range (onnxruntime does the same).
    pub fn clip_symmetric(&self, t: f64) -> Range {
        if !self.has_data() {
            return Range::ZERO;
        }
        let t = if t.is_finite() { t.abs() } else { self.abs_max() };
        let lo = (-t).max(self.min as f64);
        let hi = t.min(self.max as f64);
        // t >= min|x| always holds for a threshold taken from the data, so lo <= hi; if a caller
        // passes a smaller t, the nearest point of [min, max] to zero is the honest answer.
        if lo > hi {
            let p = if self.min > 0.0 { self.min } else { self.max } as f64;
            return Range::from_f64(p, p);
        }
        Range::from_f64(lo, hi)
    }
}

/// Deterministic test data: a tiny xorshift generator (no `rand` dependency).
#[cfg(test)]
pub(crate) mod testdata {
    pub struct XorShift(u64);

    impl XorShift {
        pub fn new(seed: u64) -> Self {
            XorShift(seed.max(1))
        }
        pub fn next_u64(&mut self) -> u64 {
            // xorshift64* (Vigna): passes the statistical tests a calibration test needs.
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        /// Uniform in [0, 1).
        pub fn uniform(&mut self) -> f64 {
            (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
        }
        /// Standard normal (Box-Muller).
        pub fn normal(&mut self) -> f64 {
            let u1 = 1.0 - self.uniform(); // (0, 1]
            let u2 = self.uniform();
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        }
    }

    pub fn uniform(n: usize, lo: f64, hi: f64, seed: u64) -> Vec<f32> {
        let mut r = XorShift::new(seed);
        (0..n).map(|_| (lo + (hi - lo) * r.uniform()) as f32).collect()
    }

    pub fn normal(n: usize, sigma: f64, seed: u64) -> Vec<f32> {
        let mut r = XorShift::new(seed);
        (0..n).map(|_| (sigma * r.normal()) as f32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_skips_and_counts_nonfinite() {
        let mut t = Tally::default();
        t.add(&Tally::scan(&[1.0, f32::NAN, -2.0, f32::INFINITY, f32::NEG_INFINITY]));
        assert_eq!(t.counts, Counts { batches: 1, values: 2, nonfinite: 3 });
        assert_eq!(t.range(), Range { min: -2.0, max: 1.0 });
    }

    #[test]
    fn no_data_is_zero_range() {
        let mut t = Tally::default();
        assert_eq!(t.range(), Range::ZERO);
        t.add(&Tally::scan(&[f32::NAN]));
        t.add(&Tally::scan(&[]));
        assert_eq!(t.range(), Range::ZERO);
        assert_eq!(t.counts, Counts { batches: 2, values: 0, nonfinite: 1 });
    }

    #[test]
    fn range_from_f64_is_ordered_finite_and_has_no_negative_zero() {
        let r = Range::from_f64(2.0, -1.0);
        assert_eq!(r, Range { min: -1.0, max: 2.0 });
        let r = Range::from_f64(-0.0, f64::NAN);
        assert!(r.min.is_sign_positive() && r.max == 0.0);
        let r = Range::from_f64(-1e300, 1e300);
        assert_eq!(r, Range::ZERO, "out of f32 range ends are not finite, so they are zeroed");
    }

    #[test]
    fn clip_symmetric_intersects_with_observed_extremes() {
        let mut t = Tally::default();
        t.add(&Tally::scan(&[-0.5, 3.0, 10.0]));
        assert_eq!(t.clip_symmetric(4.0), Range { min: -0.5, max: 4.0 });
        assert_eq!(t.clip_symmetric(0.25), Range { min: -0.25, max: 0.25 });
        let mut pos = Tally::default();
        pos.add(&Tally::scan(&[2.0, 5.0]));
        assert_eq!(pos.clip_symmetric(3.0), Range { min: 2.0, max: 3.0 });
        assert_eq!(pos.clip_symmetric(1.0), Range { min: 2.0, max: 2.0 });
    }

    #[test]
    fn xorshift_is_deterministic_and_roughly_normal() {
        let a = testdata::normal(100_000, 1.0, 7);
        assert_eq!(a, testdata::normal(100_000, 1.0, 7));
        let mean = a.iter().map(|&v| v as f64).sum::<f64>() / a.len() as f64;
        let var = a.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / a.len() as f64;
        assert!(mean.abs() < 0.02 && (var - 1.0).abs() < 0.02, "mean {mean} var {var}");
    }
}
