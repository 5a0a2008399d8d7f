//! Elementwise 8-bit kernels: QLinearAdd, QLinearMul, and requantization to other parameters
//! (QLinearConcat's inputs), over equal-length operands or one operand and a broadcast scalar.
//! Oracles: [`super::reference::add_q8_ref`], [`super::reference::mul_q8_ref`].
//!
//! - Add (onnxruntime's MLAS formula, in f32):
//!   `y = round_half_even((s_a (a - z_a) + s_b (b - z_b)) / s_y + z_y)`, each dequantized term
//!   rounded once to f32, then the sum, the quotient and the zero point (added *before*
//!   rounding): the SIMD kernel does the same f32 operations in the same order, so it is
//!   bit-exact (f32x4 arithmetic is IEEE, and nothing is fused).
//! - Mul (the same): `y = round_half_even(f32((a - z_a)(b - z_b)) · M + z_y)`,
//!   `M = f32(s_a s_b / s_y)`.
//! - Requantize (QLinearConcat's inputs): `y = quantize(dequantize(x))`, i.e.
//!   `round_half_even((s_x (x - z_x)) / s_y) + z_y` in f32, the zero point added after rounding.
//!
//! Both end in the output clamp `[lo, hi]` (a fused ReLU narrows it). Broadcasting beyond "one
//! side is a scalar" belongs to the caller, which splits the output into runs.
use super::q8::{Named, Q8};
use crate::error::{Error, Result};
pub use crate::ukernel::{AddParams, BinaryQ8Ukernel, MulParams, QElementwiseKernels, RequantizeParams, UnaryQ8Ukernel};

/// The second operand: as many values as the first, or one value for all.
#[derive(Debug, Clone, Copy)]
pub enum Operand<'a, Q> {
    Slice(&'a [Q]),
    Scalar(Q),
}

fn run<Q: Q8, A>(a: &[Q], b: Operand<Q>, out: &mut [Q], kern: Named<BinaryQ8Ukernel<A>>, args: &A) -> Result<()> {
    let (bp, splat) = match b {
        Operand::Slice(s) if s.len() == a.len() => (Q::bytes(s).as_ptr(), false),
        Operand::Slice(s) => {
            return Err(Error::shape(format!("elementwise operands of {} and {} values", a.len(), s.len())))
        }
        Operand::Scalar(ref v) => (Q::bytes(std::slice::from_ref(v)).as_ptr(), true),
    };
    if out.len() != a.len() {
        return Err(Error::shape(format!("elementwise output of {} values for {} inputs", out.len(), a.len())));
    }
    // SAFETY: a, out (and b unless splat) hold n = a.len() values; a splat b holds 1.
    unsafe { (kern.ukernel)(a.len(), Q::bytes(a).as_ptr(), bp, splat, args, Q::bytes_mut(out).as_mut_ptr()) };
    Ok(())
}

/// Narrows the clamp `[lo, hi]` to `Q`'s range; an error if that leaves nothing.
fn clamp_range<Q: Q8>(lo: i32, hi: i32) -> Result<(i32, i32)> {
    let (lo, hi) = (lo.max(Q::MIN), hi.min(Q::MAX));
    if lo > hi {
        return Err(Error::invalid(format!("empty output clamp [{lo}, {hi}]")));
    }
    Ok((lo, hi))
}

/// QLinearAdd: `out = a + b` (see the module overview) on `k.add` (`k` chosen once by
/// `select::qelementwise`).
pub fn add_q8<Q: Q8>(k: &QElementwiseKernels, a: &[Q], b: Operand<Q>, p: &AddParams, out: &mut [Q]) -> Result<()> {
    let (lo, hi) = clamp_range::<Q>(p.lo, p.hi)?;
    run(a, b, out, k.add.get::<Q>(), &AddParams { lo, hi, ..*p })
}

/// QLinearMul: `out = a · b` (see the module overview) on `k.mul`.
pub fn mul_q8<Q: Q8>(k: &QElementwiseKernels, a: &[Q], b: Operand<Q>, p: &MulParams, out: &mut [Q]) -> Result<()> {
    let (lo, hi) = clamp_range::<Q>(p.lo, p.hi)?;
    run(a, b, out, k.mul.get::<Q>(), &MulParams { lo, hi, ..*p })
}

/// `out = quantize(dequantize(x, x_scale, x_zp), y_scale, y_zp)` in f32, on `k.requantize`.
pub fn requantize_q8<Q: Q8>(k: &QElementwiseKernels, x: &[Q], p: &RequantizeParams, out: &mut [Q]) -> Result<()> {
    if out.len() != x.len() {
        return Err(Error::shape(format!("requantize: output of {} values for {} inputs", out.len(), x.len())));
    }
    let kern = k.requantize.get::<Q>();
    // SAFETY: x and out hold n = x.len() values.
    unsafe { (kern.ukernel)(x.len(), Q::bytes(x).as_ptr(), p, Q::bytes_mut(out).as_mut_ptr()) };
    Ok(())
}
