//! The kernel micro-benchmark behind the `benchKernel` binding (`benches/kernels.mjs` prints its
//! table; the model benchmark calls it too). A product `m x n x k` is timed as a convolution
//! uses it: `m` output channels of constant weights (packed once, outside the timing), `n`
//! positions of activations (packed per call, inside), depth `k`; `n = 1` is a GEMV row.
//!
//! Names: `"sgemm"` (the build's f32 path; for `n = 1` the single-row kernel, the way MatMul runs
//! a row), `"qgemm"` (the build's int8 path as QLinearConv runs it: uint8 activations, int8
//! weights in `[−127, 127]` on the left, per-channel requantization to uint8; for `n = 1` as
//! QLinearMatMul runs a row), `"qgemm_i32"` (the same with the i32 output of ConvInteger /
//! MatMulInteger), or the name of any int8 micro-kernel of the build (`select::qgemm_kernels`),
//! run on the `"qgemm"` product (right-side weights for row kernels and the relaxed layout).
use super::qgemm::{qgemm, qgemm_left, PackedQWeights, QGemmKernel, QGemmKernels, QLayout, QLhs, QMat, QOut, QRhs, Requant};
use super::select;
use super::sgemm::{sgemm_ex, Epilogue, Lhs, MatRef, PackedA, PackedB, Rhs};
use crate::error::{Error, Result};

/// What one benchmark measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchResult {
    /// The micro-kernel that ran (the main one; GEMV rows name the row kernel).
    pub kernel: String,
    /// Total seconds for `iters` products.
    pub seconds: f64,
    /// `2 m n k iters / seconds`, in 10^9 operations per second (multiply and add counted
    /// apart, so int8 GOPS and f32 GFLOP/s compare directly).
    pub gops: f64,
}

/// `n` deterministic values `f(s)` of an xorshift sequence `s` started from `seed` (the
/// benchmark's operands, and the ops' test data).
pub fn xorshift<T>(n: usize, seed: u32, f: impl Fn(u32) -> T) -> Vec<T> {
    let mut s = seed.wrapping_mul(2654435761) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            f(s)
        })
        .collect()
}

/// Times `iters` runs of `name` on an `m x n x k` product; `now` returns milliseconds.
pub fn bench_kernel(name: &str, m: usize, n: usize, k: usize, iters: usize, now: &mut dyn FnMut() -> f64) -> Result<BenchResult> {
    if m == 0 || n == 0 || k == 0 || iters == 0 {
        return Err(Error::invalid(format!("benchKernel needs m, n, k, iters > 0, got {m}, {n}, {k}, {iters}")));
    }
    let size = m.checked_mul(k).and_then(|v| v.checked_add(k.checked_mul(n)?)).and_then(|v| v.checked_add(m.checked_mul(n)?));
    if size.is_none_or(|s| s > 1 << 27) {
        return Err(Error::too_large(format!("benchKernel {m} x {n} x {k} is too large")));
    }
    let mut timed = |run: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
        run()?; // warm-up: first-call compilation tiers, page faults
        let t0 = now();
        for _ in 0..iters {
            run()?;
        }
        Ok((now() - t0) / 1000.0)
    };
    let (kernel, seconds) = match name {
        "sgemm" => {
            let w: Vec<f32> = xorshift(m * k, 1, |s| (s % 255) as u8).iter().map(|&v| v as f32 / 128.0 - 1.0).collect();
            let x: Vec<f32> = xorshift(k * n, 2, |s| (s % 255) as u8).iter().map(|&v| v as f32 / 255.0).collect();
            let mut y = vec![0f32; m * n];
            let ep = Epilogue::default();
            let f32k = select::gemm_f32();
            if n == 1 {
                // A row times the weights (k x m, i.e. W transposed), as MatMul runs it.
                let pb = PackedB::pack(MatRef::new(&w, k, m, 1, k)?, &f32k)?;
                let xv = MatRef::row_major(&x, 1, k)?;
                let s = timed(&mut || sgemm_ex(&f32k, Lhs::Mat(xv), Rhs::Packed(&pb), &mut y, m, &ep))?;
                (f32k.for_rows(1).name, s)
            } else {
                let pa = PackedA::pack(MatRef::row_major(&w, m, k)?, &f32k)?;
                let xv = MatRef::row_major(&x, k, n)?;
                let s = timed(&mut || sgemm_ex(&f32k, Lhs::Packed(&pa), Rhs::Mat(xv), &mut y, n, &ep))?;
                (f32k.main.name, s)
            }
        }
        _ => {
            let forced: Option<&'static QGemmKernel> = match name {
                "qgemm" | "qgemm_i32" => None,
                other => Some(select::qgemm_kernels().iter().copied().find(|k| k.name == other).ok_or_else(|| {
                    Error::invalid(format!(
                        "unknown kernel '{other}' (sgemm, qgemm, qgemm_i32, or one of: {})",
                        select::qgemm_kernels().iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
                    ))
                })?),
            };
            // Symmetric int8 weights (docs/quantization.md §3), uint8 activations, as a conv
            // holds them: weights m x k, activations k x n (an NCHW plane), output m x n.
            let w = xorshift(m * k, 3, |s| ((s % 255) as i32 - 127) as i8 as u8);
            let x = xorshift(k * n, 4, |s| (s % 256) as u8);
            let bias: Vec<i32> = (0..m as i32).map(|j| j * 37 - 1000).collect();
            let mult: Vec<f32> = (0..m).map(|j| 1e-3 * (1.0 + (j % 7) as f32 / 7.0)).collect();
            let mut y32 = vec![0i32; m * n];
            let mut y8 = vec![0u8; m * n];
            let requant = Requant { multiplier: mult.as_slice(), zero_point: 3, lo: 0, hi: 255 };
            let i32_out = name == "qgemm_i32";
            // Weights on the left (a conv) for whole panels of positions with the i16 layout;
            // on the right for a single row (GEMV, as MatMul runs it), row kernels and the
            // relaxed layout.
            let left = n > 1 && forced.is_none_or(|k| k.layout == QLayout::I16C2 && k.mr > 1);
            if left {
                let kern = forced.unwrap_or_else(select::qgemm_left);
                let pw = PackedQWeights::pack_left(QMat::new(&w, true, m, k, k, 1)?, &[0], kern)?;
                let xv = QMat::new(&x, false, k, n, n, 1)?;
                let s = timed(&mut || {
                    let out = if i32_out { QOut::I32 { c: &mut y32, rs: n, cs: 1 } } else { QOut::Q8 { c: &mut y8, signed: false, rs: n, cs: 1, requant } };
                    qgemm_left(kern, QLhs::Packed(&pw), xv, 128, Some(&bias), out)
                })?;
                (kern.name, s)
            } else {
                // C = X^T W^T: rows are positions, columns channels, stored transposed.
                let wv = QMat::new(&w, true, k, m, 1, k)?;
                let xv = QMat::new(&x, false, n, k, 1, n)?;
                let pb = PackedQWeights::pack(wv, &[0], &forced.map_or_else(select::qgemm, QGemmKernels::only))?;
                let kernels = forced.map_or_else(|| select::qgemm_for(pb.layout()), QGemmKernels::only);
                let kern = kernels.for_rows(n);
                let s = timed(&mut || {
                    let out = if i32_out { QOut::I32 { c: &mut y32, rs: 1, cs: n } } else { QOut::Q8 { c: &mut y8, signed: false, rs: 1, cs: n, requant } };
                    qgemm(&kernels, xv, 128, QRhs::Packed(&pb), Some(&bias), out)
                })?;
                (kern.name, s)
            }
        }
    };
    let ops = 2.0 * m as f64 * n as f64 * k as f64 * iters as f64;
    Ok(BenchResult { kernel: kernel.to_string(), seconds, gops: if seconds > 0.0 { ops / seconds / 1e9 } else { f64::INFINITY } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_every_name_and_rejects_bad_ones() {
        let mut t = 0.0;
        let mut clock = || {
            t += 1.0;
            t
        };
        for name in ["sgemm", "qgemm", "qgemm_i32"] {
            for n in [1, 9] {
                let r = bench_kernel(name, 10, n, 20, 2, &mut clock).unwrap();
                assert!(r.seconds > 0.0 && r.gops > 0.0, "{r:?}");
            }
        }
        for k in select::qgemm_kernels() {
            assert_eq!(bench_kernel(k.name, 10, 9, 20, 1, &mut clock).unwrap().kernel, k.name);
        }
        assert!(bench_kernel("nope", 10, 9, 20, 1, &mut clock).is_err());
        assert!(bench_kernel("qgemm", 0, 9, 20, 1, &mut clock).is_err());
        assert!(bench_kernel("qgemm", 1 << 20, 1 << 20, 20, 1, &mut clock).is_err());
    }
}
