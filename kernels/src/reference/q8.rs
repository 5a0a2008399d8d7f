//! Oracles of the 8-bit kernels: plain loops over the values (no biasing, no packing, no
//! planes), every rounding through [`crate::quant_math`] exactly as the reference ops of
//! `ops::quant` compute it. The optimized kernels must match these bit for bit.
use crate::dwconv::Dw2d;
use crate::q8::{Q8, Requant};
use crate::qelementwise::{AddParams, MulParams, RequantizeParams};
use crate::qpool::AvgPoolParams;
use crate::quant_math::{self, QInt};

/// The input position of tap `k` of output `o` along one axis, if it lies inside `[0, n)`.
fn inside(o: usize, k: usize, stride: usize, dilation: usize, pad: usize, n: usize) -> Option<usize> {
    let v = (o * stride + k * dilation) as isize - pad as isize;
    (v >= 0 && (v as usize) < n).then_some(v as usize)
}

/// One channel of an 8-bit depthwise convolution (QLinearConv with one input and one output
/// channel per group): `acc = bias + Σ (x - x_zp)(w - w_zp)` over the taps inside the input
/// (padding contributes 0), wrapping in i32, then `rq`.
#[allow(clippy::too_many_arguments)]
pub fn dwconv2d_q8_ref<X: QInt, W: QInt, Y: QInt>(
    p: &Dw2d,
    x: &[X],
    x_zp: i32,
    w: &[W],
    w_zp: i32,
    bias: i32,
    rq: &Requant,
    out: &mut [Y],
) {
    for oy in 0..p.oh {
        for ox in 0..p.ow {
            let mut acc = bias;
            for ki in 0..p.kh {
                for kj in 0..p.kw {
                    if let (Some(y), Some(xx)) =
                        (inside(oy, ki, p.sh, p.dh, p.ph, p.ih), inside(ox, kj, p.sw, p.dw, p.pw, p.iw))
                    {
                        let xv = x[y * p.iw + xx].to_i32() - x_zp;
                        let wv = w[ki * p.kw + kj].to_i32() - w_zp;
                        acc = acc.wrapping_add(xv.wrapping_mul(wv));
                    }
                }
            }
            out[oy * p.ow + ox] = rq.apply(acc);
        }
    }
}

/// QLinearAdd of one pair: `round_half_even((dequantize(a) + dequantize(b)) / y_scale + y_zp)`
/// in f32 (com.microsoft QLinearAdd as onnxruntime's MLAS computes it), saturated, then clamped
/// to `[lo, hi]`.
#[inline]
pub fn add_q8_one<Q: Q8>(a: Q, b: Q, p: &AddParams) -> Q {
    let real = quant_math::dequantize(a.to_i32(), p.a_scale, p.a_zp) + quant_math::dequantize(b.to_i32(), p.b_scale, p.b_zp);
    let q = quant_math::saturate::<Q>(quant_math::round_to_i64(f64::from(real / p.y_scale + p.y_zp as f32)));
    Q::from_i32_in_range(q.to_i32().clamp(p.lo, p.hi))
}

/// QLinearMul of one pair: `round_half_even(f32((a - a_zp)(b - b_zp)) · M + y_zp)` in f32,
/// saturated, clamped.
#[inline]
pub fn mul_q8_one<Q: Q8>(a: Q, b: Q, p: &MulParams) -> Q {
    let acc = (a.to_i32() - p.a_zp) * (b.to_i32() - p.b_zp);
    let q = quant_math::saturate::<Q>(quant_math::round_to_i64(f64::from(acc as f32 * p.multiplier + p.y_zp as f32)));
    Q::from_i32_in_range(q.to_i32().clamp(p.lo, p.hi))
}

/// Requantization of one value (QLinearConcat): `quantize(dequantize(x))` in f32.
#[inline]
pub fn requantize_q8_one<Q: Q8>(x: Q, p: &RequantizeParams) -> Q {
    quant_math::quantize(quant_math::dequantize(x.to_i32(), p.x_scale, p.x_zp), p.y_scale, p.y_zp)
}

/// [`add_q8_one`] over equal-length operands.
pub fn add_q8_ref<Q: Q8>(a: &[Q], b: &[Q], p: &AddParams, out: &mut [Q]) {
    for ((o, &av), &bv) in out.iter_mut().zip(a).zip(b) {
        *o = add_q8_one(av, bv, p);
    }
}

/// [`mul_q8_one`] over equal-length operands.
pub fn mul_q8_ref<Q: Q8>(a: &[Q], b: &[Q], p: &MulParams, out: &mut [Q]) {
    for ((o, &av), &bv) in out.iter_mut().zip(a).zip(b) {
        *o = mul_q8_one(av, bv, p);
    }
}

/// QLinearGlobalAveragePool of one plane: `requantize(Σ (x - x_zp), multiplier)` with the sum in
/// i64, clamped to `[lo, hi]` of `rq` (whose multiplier is `x_scale / (y_scale · n)`).
pub fn global_avgpool_q8_ref<Q: Q8>(x: &[Q], x_zp: i32, rq: &Requant) -> Q {
    rq.apply_wide(x.iter().map(|v| (v.to_i32() - x_zp) as i64).sum())
}

/// One plane of an 8-bit 2-D average pool: per window, `acc = Σ (x - x_zp)` over the taps inside
/// the input and `count` = those taps (or, with `count_include_pad`, the taps inside the padded
/// input `[-pad_begin, n + pad_end)`), then `requantize(acc, x_scale / (y_scale · count))`, the
/// multiplier formed in f32 like QLinearGlobalAveragePool's.
pub fn avgpool2d_q8_ref<Q: Q8>(g: &Dw2d, pads_end: (usize, usize), x: &[Q], p: &AvgPoolParams, out: &mut [Q]) {
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let (mut acc, mut count) = (0i32, 0usize);
            for ki in 0..g.kh {
                for kj in 0..g.kw {
                    let y = (oy * g.sh + ki * g.dh) as isize - g.ph as isize;
                    let xx = (ox * g.sw + kj * g.dw) as isize - g.pw as isize;
                    let in_y = y >= 0 && (y as usize) < g.ih;
                    let in_x = xx >= 0 && (xx as usize) < g.iw;
                    if in_y && in_x {
                        acc += x[y as usize * g.iw + xx as usize].to_i32() - p.x_zp;
                        count += 1;
                    } else if p.count_include_pad
                        && y < (g.ih + pads_end.0) as isize
                        && xx < (g.iw + pads_end.1) as isize
                    {
                        count += 1;
                    }
                }
            }
            let m = p.x_scale / (p.y_scale * count as f32);
            out[oy * g.ow + ox] = Requant { multiplier: m, ..p.out }.apply(acc);
        }
    }
}

/// One plane of an 8-bit 2-D max pool: the largest value inside each window, `Q::MIN` for a
/// window entirely in the padding.
pub fn maxpool2d_q8_ref<Q: Q8>(g: &Dw2d, x: &[Q], out: &mut [Q]) {
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let mut best = Q::MIN;
            for ki in 0..g.kh {
                for kj in 0..g.kw {
                    if let (Some(y), Some(xx)) =
                        (inside(oy, ki, g.sh, g.dh, g.ph, g.ih), inside(ox, kj, g.sw, g.dw, g.pw, g.iw))
                    {
                        best = best.max(x[y * g.iw + xx].to_i32());
                    }
                }
            }
            out[oy * g.ow + ox] = Q::from_i32_in_range(best);
        }
    }
}
