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

// ---------------------------------------------------------------------------------------------
// 8-bit kernels (qdwconv, qelementwise, qpool). Under wasm SIMD128 the SIMD kernel whenever its
// preconditions hold (`simd`: finite requantization multipliers, a window small enough for
// 16-bit sums); the portable kernel otherwise, and in native builds. Depthwise 3x3 and 5x5 get
// unrolled kernels per column stride (row pairs for stride 1, column pairs for stride 2): against
// one generic row kernel with an offset per tap (and with whole-row stores) they took
// 1x144x56x56 3x3 s1 from 1.0x to 1.5x of the f32 kernel's speed and 1x672x14x14 5x5 s1 from
// 0.9x to 1.3x (benches/q8_ops.mjs, Node 20, SIMD128, f64 requantization at the time; the f32
// requantization then gave the figures in the `kernels` table).

use super::q8::{Named, Q8};
use super::qdwconv::{DwQ8Ukernel, PackQ8Ukernel};
use super::qelementwise::{AddParams, BinaryQ8Ukernel, MulParams, RequantizeParams, UnaryQ8Ukernel};
use super::qpool::{AvgPoolQ8Ukernel, MaxPoolQ8Ukernel, SumU8Ukernel};
use super::scalar as portable;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use super::wasm_simd128 as simd128;

/// Whether this build has the SIMD128 8-bit kernels.
const SIMD128: bool = cfg!(all(target_arch = "wasm32", target_feature = "simd128"));

macro_rules! pick {
    ($simd:expr, $name:literal, $k:ident $(::<$t:ty>)?, $fallback:expr) => {{
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        if $simd {
            return Named { name: $name, ukernel: simd128::$k $(::<$t>)? };
        }
        let _ = $simd;
        $fallback
    }};
}

/// The 8-bit depthwise conv kernel for packed weights `w` (unrolled 3x3 and 5x5 kernels for
/// regular tap groups, see [`super::qdwconv::DwQ8Ukernel`]).
pub fn dwconv_q8<Y: Q8>(w: &super::qdwconv::QDwWeights, regular: bool, simd: bool) -> Named<DwQ8Ukernel> {
    use super::qdwconv::Pairing::{Cols, Rows};
    let fallback: Named<DwQ8Ukernel> = Named { name: "dwconv_q8__scalar", ukernel: portable::dwconv_q8__scalar::<Y> };
    match (w.kh, w.kw, w.pairing, regular) {
        (3, 3, Rows, true) => pick!(simd, "dwconv_q8_3x3s1__wasm_simd128", dwconv_q8_3x3s1__wasm_simd128::<Y>, fallback),
        (3, 3, Cols, true) => pick!(simd, "dwconv_q8_3x3s2__wasm_simd128", dwconv_q8_3x3s2__wasm_simd128::<Y>, fallback),
        (5, 5, Rows, true) => pick!(simd, "dwconv_q8_5x5s1__wasm_simd128", dwconv_q8_5x5s1__wasm_simd128::<Y>, fallback),
        (5, 5, Cols, true) => pick!(simd, "dwconv_q8_5x5s2__wasm_simd128", dwconv_q8_5x5s2__wasm_simd128::<Y>, fallback),
        _ => pick!(simd, "dwconv_q8_kxk__wasm_simd128", dwconv_q8_kxk__wasm_simd128::<Y>, fallback),
    }
}

/// Packing of the depthwise conv's input planes (centered i16, row pairs interleaved).
pub fn pack_q8() -> Named<PackQ8Ukernel> {
    pick!(true, "pack_q8__wasm_simd128", pack_q8__wasm_simd128, Named { name: "pack_q8__scalar", ukernel: portable::pack_q8__scalar })
}

/// QLinearAdd (always exact in SIMD: f32 lanes).
pub fn add_q8<Q: Q8>() -> Named<BinaryQ8Ukernel<AddParams>> {
    pick!(true, "add_q8__wasm_simd128", add_q8__wasm_simd128::<Q>, Named { name: "add_q8__scalar", ukernel: portable::add_q8__scalar::<Q> })
}

/// QLinearMul (always exact in SIMD: f32 lanes).
pub fn mul_q8<Q: Q8>() -> Named<BinaryQ8Ukernel<MulParams>> {
    pick!(true, "mul_q8__wasm_simd128", mul_q8__wasm_simd128::<Q>, Named { name: "mul_q8__scalar", ukernel: portable::mul_q8__scalar::<Q> })
}

/// Requantization to other parameters (QLinearConcat).
pub fn requantize_q8<Q: Q8>() -> Named<UnaryQ8Ukernel<RequantizeParams>> {
    pick!(
        true,
        "requantize_q8__wasm_simd128",
        requantize_q8__wasm_simd128::<Q>,
        Named { name: "requantize_q8__scalar", ukernel: portable::requantize_q8__scalar::<Q> }
    )
}

/// 8-bit MaxPool rows.
pub fn maxpool_q8() -> Named<MaxPoolQ8Ukernel> {
    pick!(true, "maxpool_q8__wasm_simd128", maxpool_q8__wasm_simd128, Named { name: "maxpool_q8__scalar", ukernel: portable::maxpool_q8__scalar })
}

/// 8-bit AveragePool rows.
pub fn avgpool_q8<Q: Q8>(simd: bool) -> Named<AvgPoolQ8Ukernel> {
    pick!(simd, "avgpool_q8__wasm_simd128", avgpool_q8__wasm_simd128::<Q>, Named { name: "avgpool_q8__scalar", ukernel: portable::avgpool_q8__scalar::<Q> })
}

/// Byte sums (GlobalAveragePool).
pub fn sum_u8() -> Named<SumU8Ukernel> {
    pick!(true, "sum_u8__wasm_simd128", sum_u8__wasm_simd128, Named { name: "sum_u8__scalar", ukernel: portable::sum_u8__scalar })
}

/// Whether the 8-bit kernels above have SIMD versions in this build.
pub fn q8_simd() -> bool {
    SIMD128
}
