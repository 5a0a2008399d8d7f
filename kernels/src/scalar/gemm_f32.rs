//! `gemm_f32_{MR}x{NR}__scalar`: the [`GemmF32Ukernel`](crate::ukernel::GemmF32Ukernel)
//! contract in portable Rust, one const-generic body for every tile.
#![allow(non_snake_case)] // XNNPACK-style names: tile, then the ISA after a double underscore.
use crate::ukernel::TileArgs;

/// # Safety
/// See [`GemmF32Ukernel`](crate::ukernel::GemmF32Ukernel).
unsafe fn gemm_f32_scalar<const MR: usize, const NR: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    t: &TileArgs,
) {
    // SAFETY: the caller guarantees kc*MR and kc*NR readable values.
    let (a, b) = unsafe { (std::slice::from_raw_parts(a, kc * MR), std::slice::from_raw_parts(b, kc * NR)) };
    let mut acc = [[0f32; NR]; MR];
    if let Some(cb) = t.col_bias {
        for row in acc.iter_mut() {
            row.copy_from_slice(&cb[..NR]);
        }
    }
    if let Some(rb) = t.row_bias {
        for (row, &v) in acc.iter_mut().zip(rb) {
            row.iter_mut().for_each(|x| *x += v);
        }
    }
    for (ak, bk) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        for i in 0..MR {
            let av = ak[i];
            for j in 0..NR {
                acc[i][j] += av * bk[j];
            }
        }
    }
    for (i, row) in acc.iter_mut().enumerate() {
        // SAFETY: the caller guarantees MR rows of NR values at stride ldc.
        let out = unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc), NR) };
        if t.load_c {
            row.iter_mut().zip(out.iter()).for_each(|(x, &o)| *x += o);
        }
        if let Some((lo, hi)) = t.clamp {
            row.iter_mut().for_each(|x| *x = crate::ukernel::clip(*x, lo, hi));
        }
        out.copy_from_slice(row);
    }
}

/// 6 x 8 tile, portable.
///
/// # Safety
/// See [`GemmF32Ukernel`](crate::ukernel::GemmF32Ukernel).
pub unsafe fn gemm_f32_6x8__scalar(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, t: &TileArgs) {
    unsafe { gemm_f32_scalar::<6, 8>(kc, a, b, c, ldc, t) }
}

/// 1 x 8 tile (single-row products: GEMV), portable.
///
/// # Safety
/// See [`GemmF32Ukernel`](crate::ukernel::GemmF32Ukernel).
pub unsafe fn gemm_f32_1x8__scalar(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, t: &TileArgs) {
    unsafe { gemm_f32_scalar::<1, 8>(kc, a, b, c, ldc, t) }
}
