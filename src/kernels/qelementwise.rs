//! Elementwise 8-bit kernels: QLinearAdd, QLinearMul, and requantization to other parameters
//! (QLinearConcat's inputs), over equal-length operands or one operand and a broadcast scalar.
//! Oracles: [`super::reference::add_q8_ref`], [`super::reference::mul_q8_ref`].
//!
//! - Add (onnxruntime's formula, in f32): `y = quantize((s_a (a - z_a) + s_b (b - z_b)) / s_y)`,
//!   each dequantized term rounded once to f32, then the sum, then the quotient, then rounded
//!   half to even: the SIMD kernel does the same f32 operations in the same order, so it is
//!   bit-exact (f32x4 arithmetic is IEEE, and nothing is fused).
//! - Mul: `y = requantize((a - z_a)(b - z_b), s_a s_b / s_y)` ([`Requant`]).
//! - Requantize: Add with a zero second term (`x + 0.0 = x`, so `quantize(dequantize(x))`).
//!
//! Both end in the output clamp `[lo, hi]` (a fused ReLU narrows it). Broadcasting beyond "one
//! side is a scalar" belongs to the caller, which splits the output into runs.
use super::q8::{Named, Requant, Q8};
use super::select;
use crate::error::{Error, Result};

/// QLinearAdd's parameters (zero points as values of the data type, not biased).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AddParams {
    pub a_scale: f32,
    pub a_zp: i32,
    pub b_scale: f32,
    pub b_zp: i32,
    pub y_scale: f32,
    pub y_zp: i32,
    pub lo: i32,
    pub hi: i32,
}

/// QLinearMul's parameters: the zero points of A and B, and the output rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MulParams {
    pub a_zp: i32,
    pub b_zp: i32,
    pub rq: Requant,
}

/// The second operand: as many values as the first, or one value for all.
#[derive(Debug, Clone, Copy)]
pub enum Operand<'a, Q> {
    Slice(&'a [Q]),
    Scalar(Q),
}

/// A micro-kernel over `n` elements: `out[i] = f(a[i], b[i])` on the raw bytes of the data type
/// (parameters as for the op, zero points not biased), `b[0]` for every `i` when `b_splat`.
///
/// # Safety
/// `a` readable and `out` writable for `n` bytes; `b` readable for `n` bytes (1 if `b_splat`).
pub type BinaryQ8Ukernel<A> = unsafe fn(n: usize, a: *const u8, b: *const u8, b_splat: bool, args: &A, out: *mut u8);

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

/// QLinearAdd: `out = a + b` (see the module overview).
pub fn add_q8<Q: Q8>(a: &[Q], b: Operand<Q>, p: &AddParams, out: &mut [Q]) -> Result<()> {
    let p = AddParams { lo: p.lo.max(Q::MIN), hi: p.hi.min(Q::MAX), ..*p };
    if p.lo > p.hi {
        return Err(Error::invalid(format!("empty output clamp [{}, {}]", p.lo, p.hi)));
    }
    run(a, b, out, select::add_q8::<Q>(), &p)
}

/// QLinearMul: `out = a · b` (see the module overview).
pub fn mul_q8<Q: Q8>(a: &[Q], b: Operand<Q>, p: &MulParams, out: &mut [Q]) -> Result<()> {
    let p = MulParams { rq: p.rq.clamped(Q::MIN, Q::MAX)?, ..*p };
    run(a, b, out, select::mul_q8::<Q>(p.rq.simd_ok()), &p)
}

/// `out = quantize(dequantize(x, x_scale, x_zp), y_scale, y_zp)` in f32: Add with a zero second
/// term.
pub fn requantize_q8<Q: Q8>(x: &[Q], x_scale: f32, x_zp: i32, y_scale: f32, y_zp: i32, out: &mut [Q]) -> Result<()> {
    let zero = Q::from_i32_in_range(0);
    let p = AddParams { a_scale: x_scale, a_zp: x_zp, b_scale: 0.0, b_zp: 0, y_scale, y_zp, lo: Q::MIN, hi: Q::MAX };
    add_q8(x, Operand::Scalar(zero), &p, out)
}
