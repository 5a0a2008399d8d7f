//! f32 elementwise kernels over slices (XNNPACK's vunary / vbinary): the activations and
//! arithmetic that models spend time in, as loops the compiler vectorizes (`f32x4` under
//! simd128). Each op is picked by an enum once per call, outside the loop, so the crate holds
//! one loop per op, compiled at opt-level 3 with the other kernels.
//!
//! Every rule here is the float op's definition in webptq's ops (the f64 and float16 paths
//! there compute the same expressions); the conformance and parity tests check both.
use crate::math::{erf_f32, exp_f32, tanh_f32};

/// An f32 activation or math function of one input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryF32 {
    /// `x < 0 ? 0 : x` (NaN stays NaN).
    Relu,
    /// `x < 0 ? alpha·x : x`.
    LeakyRelu { alpha: f32 },
    /// `clamp(alpha·x + beta, 0, 1)`.
    HardSigmoid { alpha: f32, beta: f32 },
    /// `x · clamp(x/6 + 1/2, 0, 1)`.
    HardSwish,
    /// `1 / (1 + e^-x)` with the branch-free exp.
    Sigmoid,
    Tanh,
    Erf,
    /// `x/2 · (1 + erf(x/√2))`.
    Gelu,
    /// `x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))`.
    GeluTanh,
    /// std's exp (correctly rounded to within an ulp).
    Exp,
    Sqrt,
    Neg,
    Abs,
    /// `min(max(x, lo), hi)` with absent bounds left open; NaN stays NaN, and lo > hi gives hi.
    Clip { lo: Option<f32>, hi: Option<f32> },
}

#[inline(always)]
fn map(x: &[f32], out: &mut Vec<f32>, f: impl Fn(f32) -> f32) {
    out.extend(x.iter().map(|&v| f(v)));
}

/// Appends `op(x[i])` for every element of `x` to `out`.
pub fn unary_f32(op: UnaryF32, x: &[f32], out: &mut Vec<f32>) {
    out.reserve(x.len());
    match op {
        UnaryF32::Relu => map(x, out, |v| if v < 0.0 { 0.0 } else { v }),
        UnaryF32::LeakyRelu { alpha } => map(x, out, |v| if v < 0.0 { v * alpha } else { v }),
        UnaryF32::HardSigmoid { alpha, beta } => map(x, out, |v| (v * alpha + beta).clamp(0.0, 1.0)),
        UnaryF32::HardSwish => {
            let sixth = (1.0f64 / 6.0) as f32;
            map(x, out, |v| v * (v * sixth + 0.5).clamp(0.0, 1.0))
        }
        UnaryF32::Sigmoid => map(x, out, |v| 1.0 / (1.0 + exp_f32(-v))),
        UnaryF32::Tanh => map(x, out, tanh_f32),
        UnaryF32::Erf => map(x, out, erf_f32),
        UnaryF32::Gelu => {
            let k = std::f64::consts::FRAC_1_SQRT_2 as f32;
            map(x, out, |v| 0.5 * v * (1.0 + erf_f32(v * k)))
        }
        UnaryF32::GeluTanh => {
            let k = (2.0 / std::f64::consts::PI).sqrt() as f32;
            let c = 0.044715f64 as f32;
            map(x, out, |v| 0.5 * v * (1.0 + tanh_f32(k * (v + c * v * v * v))))
        }
        UnaryF32::Exp => map(x, out, f32::exp),
        UnaryF32::Sqrt => map(x, out, f32::sqrt),
        UnaryF32::Neg => map(x, out, |v| -v),
        UnaryF32::Abs => map(x, out, f32::abs),
        UnaryF32::Clip { lo, hi } => {
            let (l, h) = (lo.unwrap_or(f32::NEG_INFINITY), hi.unwrap_or(f32::INFINITY));
            // The comparisons keep NaN (both false) and give hi when l > h.
            map(x, out, |v| {
                let v = if v < l { l } else { v };
                if v > h {
                    h
                } else {
                    v
                }
            })
        }
    }
}

/// f32 arithmetic of two operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryF32 {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinaryF32 {
    /// The op on one pair of elements (for strided walks that no slice kernel covers).
    #[inline(always)]
    pub fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            BinaryF32::Add => a + b,
            BinaryF32::Sub => a - b,
            BinaryF32::Mul => a * b,
            BinaryF32::Div => a / b,
        }
    }
}

macro_rules! per_op {
    ($op:expr, |$o:ident| $body:expr) => {
        match $op {
            BinaryF32::Add => {
                const $o: BinaryF32 = BinaryF32::Add;
                $body
            }
            BinaryF32::Sub => {
                const $o: BinaryF32 = BinaryF32::Sub;
                $body
            }
            BinaryF32::Mul => {
                const $o: BinaryF32 = BinaryF32::Mul;
                $body
            }
            BinaryF32::Div => {
                const $o: BinaryF32 = BinaryF32::Div;
                $body
            }
        }
    };
}

/// Appends `a[i] op b[i]` to `out` (`a` and `b` of one length).
pub fn binary_f32(op: BinaryF32, a: &[f32], b: &[f32], out: &mut Vec<f32>) {
    out.reserve(a.len());
    per_op!(op, |OP| out.extend(a.iter().zip(b).map(|(&x, &y)| OP.apply(x, y))));
}

/// Appends `a[i] op b` to `out`.
pub fn binary_f32_scalar_right(op: BinaryF32, a: &[f32], b: f32, out: &mut Vec<f32>) {
    out.reserve(a.len());
    per_op!(op, |OP| out.extend(a.iter().map(|&x| OP.apply(x, b))));
}

/// Appends `a op b[i]` to `out`.
pub fn binary_f32_scalar_left(op: BinaryF32, a: f32, b: &[f32], out: &mut Vec<f32>) {
    out.reserve(b.len());
    per_op!(op, |OP| out.extend(b.iter().map(|&y| OP.apply(a, y))));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_nan_and_prefers_hi() {
        let mut out = vec![];
        unary_f32(UnaryF32::Clip { lo: Some(2.0), hi: Some(1.0) }, &[0.0, 5.0, f32::NAN], &mut out);
        assert_eq!(out[..2], [1.0, 1.0]);
        assert!(out[2].is_nan());
    }

    #[test]
    fn binary_forms_agree() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.37 - 4.0).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.5 - i as f32 * 0.11).collect();
        for op in [BinaryF32::Add, BinaryF32::Sub, BinaryF32::Mul, BinaryF32::Div] {
            let (mut full, mut right, mut left) = (vec![], vec![], vec![]);
            binary_f32(op, &a, &vec![b[3]; a.len()], &mut full);
            binary_f32_scalar_right(op, &a, b[3], &mut right);
            assert_eq!(full, right);
            full.clear();
            binary_f32(op, &vec![a[5]; b.len()], &b, &mut full);
            binary_f32_scalar_left(op, a[5], &b, &mut left);
            assert_eq!(full, left);
        }
    }
}
