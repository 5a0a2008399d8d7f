//! Scalar reference kernels: the oracles. Plain loops, no blocking, no packing; every optimized
//! kernel is tested against these on edge shapes.

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
                v = v.max(lo).min(hi);
            }
            c[i * ldc + j] = v;
        }
    }
}
