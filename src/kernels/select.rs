//! The one place that chooses micro-kernels for this build. Every choice is made at compile
//! time from the target (wasm32 + simd128, or portable), so a plan never mixes packings.
//!
//! f32 GEMM: the main kernel is 6 x 8 (see the table in `kernels`); single-row products (Gemm /
//! MatMul with m = 1, e.g. a classifier head at batch 1) use the 1 x 8 kernel over the same B
//! packing, so they do not pay for 5 zero rows. Benchmark that justified 6x8 over 4x8 on wasm:
//! see the comment on `WASM` below.
use super::sgemm::GemmKernel;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use super::GemmKernel;
    use crate::kernels::wasm_simd128 as k;
    // Node 20 (V8 TurboFan, AMD EPYC host, one thread), products m x n x k with A prepacked:
    //   256x3136x288: 6x8 10.9 GFLOP/s, 4x8 9.0;  24x3136x96: 6x8 8.1, 4x8 7.0;
    //   1280x49x320: 6x8 13.4, 4x8 8.4. So 6x8.
    pub static MAIN: GemmKernel =
        GemmKernel { name: "gemm_f32_6x8__wasm_simd128", mr: 6, nr: 8, ukernel: k::gemm_f32_6x8__wasm_simd128 };
    pub static ROW: GemmKernel =
        GemmKernel { name: "gemm_f32_1x8__wasm_simd128", mr: 1, nr: 8, ukernel: k::gemm_f32_1x8__wasm_simd128 };
    pub static ALL: [&GemmKernel; 2] = [&MAIN, &ROW];
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod imp {
    use super::GemmKernel;
    use crate::kernels::scalar as k;
    pub static MAIN: GemmKernel =
        GemmKernel { name: "gemm_f32_6x8__scalar", mr: 6, nr: 8, ukernel: k::gemm_f32_6x8__scalar };
    pub static ROW: GemmKernel =
        GemmKernel { name: "gemm_f32_1x8__scalar", mr: 1, nr: 8, ukernel: k::gemm_f32_1x8__scalar };
    pub static ALL: [&GemmKernel; 2] = [&MAIN, &ROW];
}

/// The main f32 GEMM micro-kernel (used for prepacked A).
pub fn gemm_f32() -> &'static GemmKernel {
    &imp::MAIN
}

/// The kernel for a product with `m` rows whose A is packed per call.
pub fn gemm_f32_for_rows(m: usize) -> &'static GemmKernel {
    if m == 1 {
        &imp::ROW
    } else {
        &imp::MAIN
    }
}

/// The kernel whose tile has `mr` rows (for an A packed earlier).
pub fn gemm_f32_for_mr(mr: usize) -> Option<&'static GemmKernel> {
    imp::ALL.iter().copied().find(|k| k.mr == mr)
}
