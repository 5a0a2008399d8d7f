//! `gemm_f32_{MR}x8__wasm_simd128`: the [`GemmF32Ukernel`](crate::ukernel::GemmF32Ukernel)
//! contract with `f32x4` accumulators: MR rows x 2 vectors, one splat of A per row and two loads
//! of B per k step (the XNNPACK "loadsplat" scheme). MR = 6 needs 12 accumulators + 2 B + 1 A
//! registers, which fits the 16 XMM registers V8 maps wasm to on x86 (32 on ARM).
#![allow(non_snake_case)] // XNNPACK-style names: tile, then the ISA after a double underscore.
use crate::ukernel::TileArgs;
use core::arch::wasm32::*;

/// `c + a·b`: with `FUSED` (relaxed-SIMD builds only) `f32x4.relaxed_madd`, which engines may
/// compute fused (one rounding, x86 FMA3 / ARM `fmla`) or not; else a multiply then an add.
#[inline(always)]
fn muladd<const FUSED: bool>(a: v128, b: v128, c: v128) -> v128 {
    #[cfg(target_feature = "relaxed-simd")]
    if FUSED {
        return f32x4_relaxed_madd(a, b, c);
    }
    f32x4_add(c, f32x4_mul(a, b))
}

/// The body of every `gemm_f32_{MR}x8` SIMD kernel; `FUSED` picks [`muladd`]'s form.
///
/// # Safety
/// See [`GemmF32Ukernel`](crate::ukernel::GemmF32Ukernel).
#[inline(always)]
pub(crate) unsafe fn gemm_f32_mx8<const MR: usize, const FUSED: bool>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    t: &TileArgs,
) {
    unsafe {
        let mut acc0 = [f32x4_splat(0.0); MR];
        let mut acc1 = [f32x4_splat(0.0); MR];
        if let Some(cb) = t.col_bias {
            let b0 = v128_load(cb.as_ptr() as *const v128);
            let b1 = v128_load(cb.as_ptr().add(4) as *const v128);
            for i in 0..MR {
                acc0[i] = b0;
                acc1[i] = b1;
            }
        }
        if let Some(rb) = t.row_bias {
            for i in 0..MR {
                let v = f32x4_splat(*rb.as_ptr().add(i));
                acc0[i] = f32x4_add(acc0[i], v);
                acc1[i] = f32x4_add(acc1[i], v);
            }
        }
        let mut ap = a;
        let mut bp = b;
        let mut p = 0;
        // Two k steps per iteration (fewer loop branches; V8 does not unroll).
        while p + 2 <= kc {
            let b0 = v128_load(bp as *const v128);
            let b1 = v128_load(bp.add(4) as *const v128);
            for i in 0..MR {
                let av = v128_load32_splat(ap.add(i) as *const u32);
                acc0[i] = muladd::<FUSED>(av, b0, acc0[i]);
                acc1[i] = muladd::<FUSED>(av, b1, acc1[i]);
            }
            let b0 = v128_load(bp.add(8) as *const v128);
            let b1 = v128_load(bp.add(12) as *const v128);
            for i in 0..MR {
                let av = v128_load32_splat(ap.add(MR + i) as *const u32);
                acc0[i] = muladd::<FUSED>(av, b0, acc0[i]);
                acc1[i] = muladd::<FUSED>(av, b1, acc1[i]);
            }
            ap = ap.add(2 * MR);
            bp = bp.add(16);
            p += 2;
        }
        if p < kc {
            let b0 = v128_load(bp as *const v128);
            let b1 = v128_load(bp.add(4) as *const v128);
            for i in 0..MR {
                let av = v128_load32_splat(ap.add(i) as *const u32);
                acc0[i] = muladd::<FUSED>(av, b0, acc0[i]);
                acc1[i] = muladd::<FUSED>(av, b1, acc1[i]);
            }
        }
        if t.load_c {
            for i in 0..MR {
                let cp = c.add(i * ldc);
                acc0[i] = f32x4_add(acc0[i], v128_load(cp as *const v128));
                acc1[i] = f32x4_add(acc1[i], v128_load(cp.add(4) as *const v128));
            }
        }
        if let Some((lo, hi)) = t.clamp {
            // pmin/pmax map to single minps/maxps on x86 (XNNPACK's "x86" variants do the same);
            // with the accumulator first they are `sgemm::clip` (NaN passes), as the Clip op.
            let (lo, hi) = (f32x4_splat(lo), f32x4_splat(hi));
            for i in 0..MR {
                acc0[i] = f32x4_pmin(f32x4_pmax(acc0[i], lo), hi);
                acc1[i] = f32x4_pmin(f32x4_pmax(acc1[i], lo), hi);
            }
        }
        for i in 0..MR {
            let cp = c.add(i * ldc);
            v128_store(cp as *mut v128, acc0[i]);
            v128_store(cp.add(4) as *mut v128, acc1[i]);
        }
    }
}

/// 6 x 8 tile, wasm SIMD128.
///
/// # Safety
/// See [`GemmF32Ukernel`](crate::ukernel::GemmF32Ukernel).
#[cfg_attr(target_feature = "relaxed-simd", allow(dead_code))] // the relaxed build fuses (wasm_relaxed)
pub unsafe fn gemm_f32_6x8__wasm_simd128(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, t: &TileArgs) {
    unsafe { gemm_f32_mx8::<6, false>(kc, a, b, c, ldc, t) }
}

/// 4 x 8 tile, wasm SIMD128. Not selected (6 x 8 measured faster, see `select`); kept for
/// benchmarking.
///
/// # Safety
/// See [`GemmF32Ukernel`](crate::ukernel::GemmF32Ukernel).
#[allow(dead_code)]
pub unsafe fn gemm_f32_4x8__wasm_simd128(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, t: &TileArgs) {
    unsafe { gemm_f32_mx8::<4, false>(kc, a, b, c, ldc, t) }
}

/// 1 x 8 tile (single-row products: GEMV), wasm SIMD128.
///
/// # Safety
/// See [`GemmF32Ukernel`](crate::ukernel::GemmF32Ukernel).
pub unsafe fn gemm_f32_1x8__wasm_simd128(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, t: &TileArgs) {
    unsafe { gemm_f32_mx8::<1, false>(kc, a, b, c, ldc, t) }
}

/// Each SIMD kernel against the portable kernel of the same tile, full tiles, every epilogue
/// (runs under wasm only; the blocked driver is covered by the shared tests in `sgemm`).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar;
    use crate::ukernel::GemmF32Ukernel;

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| (((i * 7919 + seed * 104729) % 2001) as f32 - 1000.0) / 1000.0).collect()
    }

    fn compare(mr: usize, simd: GemmF32Ukernel, reference: GemmF32Ukernel) {
        for kc in [0usize, 1, 2, 3, 8, 17] {
            for mode in 0..4 {
                let a = values(kc * mr, kc + 1);
                let b = values(kc * 8, kc + 2);
                let rb = values(mr, 3);
                let cb = values(8, 4);
                let args = TileArgs {
                    load_c: mode & 1 == 1,
                    row_bias: if mode == 2 { Some(&rb) } else { None },
                    col_bias: if mode == 3 { Some(&cb) } else { None },
                    clamp: if mode >= 2 { Some((-0.25, 0.5)) } else { None },
                };
                let ldc = 11;
                let mut c1 = values(mr * ldc, 9);
                let mut c2 = c1.clone();
                unsafe {
                    simd(kc, a.as_ptr(), b.as_ptr(), c1.as_mut_ptr(), ldc, &args);
                    reference(kc, a.as_ptr(), b.as_ptr(), c2.as_mut_ptr(), ldc, &args);
                }
                for (x, y) in c1.iter().zip(&c2) {
                    assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "mr={mr} kc={kc} mode={mode}: {x} != {y}");
                }
            }
        }
    }

    #[test]
    fn simd_kernels_match_portable() {
        compare(6, gemm_f32_6x8__wasm_simd128, scalar::gemm_f32_6x8__scalar);
        compare(1, gemm_f32_1x8__wasm_simd128, scalar::gemm_f32_1x8__scalar);
    }
}
