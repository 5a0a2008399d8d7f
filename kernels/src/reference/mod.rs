//! Scalar reference kernels: the oracles. Plain loops, no blocking, no packing; every optimized
//! kernel is tested against these on edge shapes. The 8-bit oracles are in `q8`.
mod q8;
pub use q8::*;

/// `C[m x n] = (accumulate ? C : 0) + A[m x k] * B[k x n] (+ bias)`, then clamped, with every
/// matrix strided: element `(i, j)` of A is `a[i * a_rs + j * a_cs]`, likewise B; C is row-major
/// with row stride `ldc`. `row_bias` has `m` values (one per row), `col_bias` `n` (one per column).
/// Sums in f32 in k order.
#[allow(clippy::too_many_arguments)]
pub fn gemm_f32_ref(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    a_rs: usize,
    a_cs: usize,
    b: &[f32],
    b_rs: usize,
    b_cs: usize,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    row_bias: Option<&[f32]>,
    col_bias: Option<&[f32]>,
    clamp: Option<(f32, f32)>,
) {
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0f32;
            for p in 0..k {
                acc += a[i * a_rs + p * a_cs] * b[p * b_rs + j * b_cs];
            }
            let mut v = if accumulate { c[i * ldc + j] + acc } else { acc };
            if let Some(rb) = row_bias {
                v += rb[i];
            }
            if let Some(cb) = col_bias {
                v += cb[j];
            }
            if let Some((lo, hi)) = clamp {
                v = crate::sgemm::clip(v, lo, hi);
            }
            c[i * ldc + j] = v;
        }
    }
}

/// One channel of a 2-D depthwise convolution, plain loops: `out[oy][ox] = bias + sum over
/// (ki, kj) of w[ki][kj] * in[oy*sh + ki*dh - ph][ox*sw + kj*dw - pw]` (zero outside the input),
/// then clamped. The oracle of [`crate::dwconv`].
pub fn dwconv2d_f32_ref(p: &crate::dwconv::Dw2d, input: &[f32], w: &[f32], bias: f32, out: &mut [f32], clamp: Option<(f32, f32)>) {
    for oy in 0..p.oh {
        for ox in 0..p.ow {
            let mut acc = bias;
            for ki in 0..p.kh {
                for kj in 0..p.kw {
                    let y = (oy * p.sh + ki * p.dh) as isize - p.ph as isize;
                    let x = (ox * p.sw + kj * p.dw) as isize - p.pw as isize;
                    if y >= 0 && x >= 0 && (y as usize) < p.ih && (x as usize) < p.iw {
                        acc += w[ki * p.kw + kj] * input[y as usize * p.iw + x as usize];
                    }
                }
            }
            if let Some((lo, hi)) = clamp {
                acc = crate::sgemm::clip(acc, lo, hi);
            }
            out[oy * p.ow + ox] = acc;
        }
    }
}

/// The integer GEMM oracle: `acc[i][j] = bias[j] + Σ_p (A(i, p) − a_zp) · (B(p, j) − b_zp[j])`,
/// wrapping i32 (as the ONNX integer ops accumulate), row-major `m x n`. `a` and `b` give the
/// 8-bit operands' values as i32. The requantizing epilogue of [`crate::qgemm`] is
/// [`crate::quant_math::requantize_clamped`] applied to these accumulators.
#[allow(clippy::too_many_arguments)]
pub fn gemm_q8_ref(
    m: usize,
    n: usize,
    k: usize,
    a: impl Fn(usize, usize) -> i32,
    a_zp: i32,
    b: impl Fn(usize, usize) -> i32,
    b_zp: &[i32],
    bias: Option<&[i32]>,
) -> Vec<i32> {
    let mut c = vec![0i32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = bias.map_or(0, |b| b[j]);
            for p in 0..k {
                acc = acc.wrapping_add((a(i, p) - a_zp).wrapping_mul(b(p, j) - b_zp[j]));
            }
            c[i * n + j] = acc;
        }
    }
    c
}
