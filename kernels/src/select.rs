//! The one place that chooses micro-kernels for this build. Every choice is made at compile
//! time from the target (wasm32 + simd128 [+ relaxed-simd], or portable), so a plan never mixes
//! packings.
//!
//! f32 GEMM: the main kernel is 6 x 8 (see the table in `kernels`); single-row products (Gemm /
//! MatMul with m = 1, e.g. a classifier head at batch 1) use the 1 x 8 kernel over the same B
//! packing, so they do not pay for 5 zero rows. The relaxed build uses the same tiles with
//! `f32x4.relaxed_madd`.
//!
//! int8 GEMM: weights are packed for the preferred layout of the build ([`qgemm`]); a product
//! with one row uses that layout's 1 x 8 kernel; weights packed in the other layout run on its
//! kernels ([`qgemm_for`]). Callers choose once, when a plan is built, and hand the choice to the
//! drivers with every call; no driver calls this module while running. Both wasm builds prefer the SIMD128 `I16C2` kernels (figures below;
//! docs/kernels.md explains why the relaxed-SIMD int8 kernels lose on x86 without VNNI).
//!
//! Figures: `node benches/kernels.mjs --all --rounds 10` on the shipped builds (`scripts/build.sh`),
//! Node 20.20 / V8 11.3, AMD EPYC (Zen 4, no AVX-VNNI), one thread, best of interleaved runs;
//! m x n x k as a conv: m output channels (weights), n positions, depth k; GOPS = GFLOP/s =
//! 2mnk / s. See the comment on each build's `imp`.
use crate::ukernel::{GemmKernel, GemmKernels, QGemmKernel, QGemmKernels, QLayout};

/// The SIMD128 int8 kernels, shared by both wasm builds.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[cfg_attr(not(feature = "checks"), allow(dead_code))]
mod simd_q {
    use super::{QGemmKernel, QLayout};
    use crate::wasm_simd128 as k;
    pub static I16_4X8: QGemmKernel = QGemmKernel {
        name: "gemm_i16_i32_4x8c2__wasm_simd128",
        mr: 4,
        nr: 8,
        layout: QLayout::I16C2,
        ukernel: k::gemm_i16_i32_4x8c2__wasm_simd128,
    };
    pub static I16_6X8: QGemmKernel = QGemmKernel {
        name: "gemm_i16_i32_6x8c2__wasm_simd128",
        mr: 6,
        nr: 8,
        layout: QLayout::I16C2,
        ukernel: k::gemm_i16_i32_6x8c2__wasm_simd128,
    };
    pub static I16_1X8: QGemmKernel = QGemmKernel {
        name: "gemm_i16_i32_1x8c2__wasm_simd128",
        mr: 1,
        nr: 8,
        layout: QLayout::I16C2,
        ukernel: k::gemm_i16_i32_1x8c2__wasm_simd128,
    };
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128", not(target_feature = "relaxed-simd")))]
// Q_ALL / Q_I8I7 serve the `checks` build only, Q_SELECTED the others.
#[allow(dead_code)]
mod imp {
    use super::simd_q::{I16_1X8, I16_4X8, I16_6X8};
    use super::{GemmKernel, QGemmKernel};
    use crate::scalar as s;
    use crate::wasm_simd128 as k;
    // f32, A prepacked: 256x3136x288: 6x8 10.9 GFLOP/s, 4x8 9.0;  24x3136x96: 6x8 8.1, 4x8 7.0;
    //   1280x49x320: 6x8 13.4, 4x8 8.4. So 6x8.
    pub static F32_MAIN: GemmKernel =
        GemmKernel { name: "gemm_f32_6x8__wasm_simd128", mr: 6, nr: 8, ukernel: k::gemm_f32_6x8__wasm_simd128 };
    pub static F32_ROW: GemmKernel =
        GemmKernel { name: "gemm_f32_1x8__wasm_simd128", mr: 1, nr: 8, ukernel: k::gemm_f32_1x8__wasm_simd128 };
    pub static F32_ALL: [&GemmKernel; 2] = [&F32_MAIN, &F32_ROW];
    // int8, GOPS (f32 6x8 GFLOP/s in brackets):
    //   shape            i16 4x8c2   i16 6x8c2   (f32)
    //   256x3136x288       65.8        56.8      (25.0)
    //   24x3136x96         45.4        41.5      (18.9)
    //   1280x49x320        59.0        51.2      (24.5)
    //   384x128x384        69.3        59.8      (28.1)
    //   64x784x576         65.5        51.8      (19.1)
    //   1000x1x1280 (row)  41.4 (1x8c2)          (16.9, f32 1x8)
    // 4x8 over 6x8 (12 accumulators + 3 operands leave V8 no spare XMM register); one depth pair
    // per loop iteration (unrolling by 2 / 4 measured 3-10% / 20% slower).
    pub static Q_PREFERRED: (&QGemmKernel, &QGemmKernel) = (&I16_4X8, &I16_1X8);
    pub static Q_I16: (&QGemmKernel, &QGemmKernel) = (&I16_4X8, &I16_1X8);
    pub static Q_I8I7: (&QGemmKernel, &QGemmKernel) = (&s::I8I7_MAIN, &s::I8I7_ROW);
    pub static Q_SELECTED: [&QGemmKernel; 2] = [&I16_4X8, &I16_1X8];
    pub static Q_ALL: [&QGemmKernel; 7] =
        [&I16_4X8, &I16_6X8, &I16_1X8, &s::I16_MAIN, &s::I16_ROW, &s::I8I7_MAIN, &s::I8I7_ROW];
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128", target_feature = "relaxed-simd"))]
// Q_ALL / Q_I8I7 serve the `checks` build only, Q_SELECTED the others.
#[allow(dead_code)]
mod imp {
    use super::simd_q::{I16_1X8, I16_4X8, I16_6X8};
    use super::{GemmKernel, QGemmKernel, QLayout};
    use crate::scalar as s;
    use crate::wasm_relaxed as r;
    use crate::wasm_simd128 as k;
    // f32: relaxed_madd (FMA) in the 6x8 kernel: 256x3136x288 27.0 GFLOP/s (unfused 25.0),
    //   24x3136x96 19.7 (18.9), 1280x49x320 26.1 (24.5), 384x128x384 30.5 (28.1). The 1x8 row
    //   kernel stays unfused: fused, its two latency-bound chains ran 14.2 vs 16.9 (1000x1x1280).
    pub static F32_MAIN: GemmKernel =
        GemmKernel { name: "gemm_f32_6x8__wasm_relaxed", mr: 6, nr: 8, ukernel: r::gemm_f32_6x8__wasm_relaxed };
    pub static F32_ROW: GemmKernel =
        GemmKernel { name: "gemm_f32_1x8__wasm_simd128", mr: 1, nr: 8, ukernel: k::gemm_f32_1x8__wasm_simd128 };
    pub static F32_ALL: [&GemmKernel; 2] = [&F32_MAIN, &F32_ROW];
    pub static I8I7_4X8: QGemmKernel = QGemmKernel {
        name: "gemm_i8i7_i32_4x8c4__wasm_relaxed",
        mr: 4,
        nr: 8,
        layout: QLayout::I8I7C4,
        ukernel: r::gemm_i8i7_i32_4x8c4__wasm_relaxed,
    };
    pub static I8I7_6X8: QGemmKernel = QGemmKernel {
        name: "gemm_i8i7_i32_6x8c4__wasm_relaxed",
        mr: 6,
        nr: 8,
        layout: QLayout::I8I7C4,
        ukernel: r::gemm_i8i7_i32_6x8c4__wasm_relaxed,
    };
    pub static I8I7_1X8: QGemmKernel = QGemmKernel {
        name: "gemm_i8i7_i32_1x8c4__wasm_relaxed",
        mr: 1,
        nr: 8,
        layout: QLayout::I8I7C4,
        ukernel: r::gemm_i8i7_i32_1x8c4__wasm_relaxed,
    };
    // int8, GOPS:  shape         i16 4x8c2  i8i7 4x8c4  i8i7 6x8c4   (i8i7: right-side weights)
    //   256x3136x288                 66.4       40.8        40.7
    //   24x3136x96                   46.0       16.5        18.9
    //   1280x49x320                  56.5       43.7        42.1
    //   384x128x384                  68.3       43.7        43.6
    //   64x784x576                   65.2       31.3        34.3
    //   1000x1x1280 (1x8)            41.4       38.0
    // So the SIMD128 i16 kernels here too: on x86 without VNNI a relaxed int8 dot is pmaddubsw
    // plus a widening, two per 16 products (docs/kernels.md).
    pub static Q_PREFERRED: (&QGemmKernel, &QGemmKernel) = (&I16_4X8, &I16_1X8);
    pub static Q_I16: (&QGemmKernel, &QGemmKernel) = (&I16_4X8, &I16_1X8);
    pub static Q_I8I7: (&QGemmKernel, &QGemmKernel) = (&I8I7_4X8, &I8I7_1X8);
    pub static Q_SELECTED: [&QGemmKernel; 2] = [&I16_4X8, &I16_1X8];
    pub static Q_ALL: [&QGemmKernel; 10] = [
        &I16_4X8,
        &I16_6X8,
        &I16_1X8,
        &I8I7_4X8,
        &I8I7_6X8,
        &I8I7_1X8,
        &s::I16_MAIN,
        &s::I16_ROW,
        &s::I8I7_MAIN,
        &s::I8I7_ROW,
    ];
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
// Q_ALL / Q_I8I7 serve the `checks` build only, Q_SELECTED the others.
#[allow(dead_code)]
mod imp {
    use super::{GemmKernel, QGemmKernel};
    use crate::scalar as k;
    pub static F32_MAIN: GemmKernel =
        GemmKernel { name: "gemm_f32_6x8__scalar", mr: 6, nr: 8, ukernel: k::gemm_f32_6x8__scalar };
    pub static F32_ROW: GemmKernel =
        GemmKernel { name: "gemm_f32_1x8__scalar", mr: 1, nr: 8, ukernel: k::gemm_f32_1x8__scalar };
    pub static F32_ALL: [&GemmKernel; 2] = [&F32_MAIN, &F32_ROW];
    pub static Q_PREFERRED: (&QGemmKernel, &QGemmKernel) = (&k::I16_MAIN, &k::I16_ROW);
    pub static Q_I16: (&QGemmKernel, &QGemmKernel) = (&k::I16_MAIN, &k::I16_ROW);
    pub static Q_I8I7: (&QGemmKernel, &QGemmKernel) = (&k::I8I7_MAIN, &k::I8I7_ROW);
    pub static Q_SELECTED: [&QGemmKernel; 2] = [&k::I16_MAIN, &k::I16_ROW];
    pub static Q_ALL: [&QGemmKernel; 4] = [&k::I16_MAIN, &k::I16_ROW, &k::I8I7_MAIN, &k::I8I7_ROW];
}

/// The f32 GEMM kernels: the main tile (also for every prepacked A) and the single-row one.
pub fn gemm_f32() -> GemmKernels {
    GemmKernels { main: &imp::F32_MAIN, row: &imp::F32_ROW }
}

/// Every f32 kernel this build selects (benchmarks, self-test).
pub fn gemm_f32_kernels() -> &'static [&'static GemmKernel] {
    &imp::F32_ALL
}

/// The int8 GEMM kernels of the build's preferred layout: right-side weights are packed for it.
pub fn qgemm() -> QGemmKernels {
    let (main, row) = imp::Q_PREFERRED;
    QGemmKernels { main, row }
}

/// The int8 kernels for weights packed as `layout` (a relaxed packing falls back to
/// [`QLayout::I16C2`] for columns that span all 256 levels). Only the `checks` build (tests,
/// benchmarks) packs for a layout no kernel of [`qgemm`] reads, so only it carries the
/// unselected [`QLayout::I8I7C4`] kernels; without `checks` that layout gets the preferred
/// kernels, which the drivers refuse with an error (`qgemm::qgemm` checks layout and tile).
pub fn qgemm_for(layout: QLayout) -> QGemmKernels {
    let (main, row) = match layout {
        QLayout::I16C2 => imp::Q_I16,
        #[cfg(feature = "checks")]
        QLayout::I8I7C4 => imp::Q_I8I7,
        #[cfg(not(feature = "checks"))]
        QLayout::I8I7C4 => imp::Q_PREFERRED,
    };
    QGemmKernels { main, row }
}

/// The int8 kernel for weights on the left (convolutions): [`QLayout::I16C2`] only.
pub fn qgemm_left() -> &'static QGemmKernel {
    imp::Q_I16.0
}

/// With `checks` (self-test, benchmarks): every int8 kernel of this build's ISA, selected or
/// not. Without (the shipped builds, which leave the unselected kernels out): the selected
/// ones.
pub fn qgemm_kernels() -> &'static [&'static QGemmKernel] {
    #[cfg(feature = "checks")]
    return &imp::Q_ALL;
    #[cfg(not(feature = "checks"))]
    return &imp::Q_SELECTED;
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

use crate::q8::Q8;
use crate::scalar as portable;
use crate::ukernel::{
    AddParams, AvgPoolQ8Ukernel, BinaryQ8Ukernel, DwQ8Ukernel, LutX8Ukernel, MaxPoolQ8Ukernel, MulParams, Named, PackQ8Ukernel, Pairing, PerQ8,
    QDwKernels, QElementwiseKernels, QPoolKernels, RequantizeParams, SumU8Ukernel, UnaryQ8Ukernel, WithFallback,
};
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use crate::wasm_simd128 as simd128;

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

/// The 8-bit depthwise conv kernels for a `kh x kw` kernel packed with `pairing`; `regular`:
/// the taps of a group are 2 values apart (column stride 2 with column pairs, or column stride
/// and dilation 1), which the unrolled 3x3 and 5x5 kernels need (see [`DwQ8Ukernel`]). The
/// fallback serves channels whose requantization does not suit SIMD (`Requant::simd_ok`).
pub fn dwconv_q8(kh: usize, kw: usize, pairing: Pairing, regular: bool) -> QDwKernels {
    let conv = |simd: bool| PerQ8 { u8: dwconv_q8_one::<u8>(kh, kw, pairing, regular, simd), i8: dwconv_q8_one::<i8>(kh, kw, pairing, regular, simd) };
    QDwKernels { kh, kw, pairing, regular, conv: WithFallback { main: conv(true), fallback: conv(false) }, pack: pack_q8() }
}

fn dwconv_q8_one<Y: Q8>(kh: usize, kw: usize, pairing: Pairing, regular: bool, simd: bool) -> Named<DwQ8Ukernel> {
    use Pairing::{Cols, Rows};
    let fallback: Named<DwQ8Ukernel> = Named { name: "dwconv_q8__scalar", ukernel: portable::dwconv_q8__scalar::<Y> };
    match (kh, kw, pairing, regular) {
        (3, 3, Rows, true) => pick!(simd, "dwconv_q8_3x3s1__wasm_simd128", dwconv_q8_3x3s1__wasm_simd128::<Y>, fallback),
        (3, 3, Cols, true) => pick!(simd, "dwconv_q8_3x3s2__wasm_simd128", dwconv_q8_3x3s2__wasm_simd128::<Y>, fallback),
        (5, 5, Rows, true) => pick!(simd, "dwconv_q8_5x5s1__wasm_simd128", dwconv_q8_5x5s1__wasm_simd128::<Y>, fallback),
        (5, 5, Cols, true) => pick!(simd, "dwconv_q8_5x5s2__wasm_simd128", dwconv_q8_5x5s2__wasm_simd128::<Y>, fallback),
        _ => pick!(simd, "dwconv_q8_kxk__wasm_simd128", dwconv_q8_kxk__wasm_simd128::<Y>, fallback),
    }
}

/// Packing of the depthwise conv's input planes (centered i16, row pairs interleaved).
fn pack_q8() -> Named<PackQ8Ukernel> {
    pick!(true, "pack_q8__wasm_simd128", pack_q8__wasm_simd128, Named { name: "pack_q8__scalar", ukernel: portable::pack_q8__scalar })
}

/// QLinearAdd, QLinearMul and the requantization of QLinearConcat's inputs (always exact in
/// SIMD: f32 lanes).
pub fn qelementwise() -> QElementwiseKernels {
    QElementwiseKernels {
        add: PerQ8 { u8: add_q8::<u8>(), i8: add_q8::<i8>() },
        mul: PerQ8 { u8: mul_q8::<u8>(), i8: mul_q8::<i8>() },
        requantize: PerQ8 { u8: requantize_q8::<u8>(), i8: requantize_q8::<i8>() },
    }
}

fn add_q8<Q: Q8>() -> Named<BinaryQ8Ukernel<AddParams>> {
    pick!(true, "add_q8__wasm_simd128", add_q8__wasm_simd128::<Q>, Named { name: "add_q8__scalar", ukernel: portable::add_q8__scalar::<Q> })
}

fn mul_q8<Q: Q8>() -> Named<BinaryQ8Ukernel<MulParams>> {
    pick!(true, "mul_q8__wasm_simd128", mul_q8__wasm_simd128::<Q>, Named { name: "mul_q8__scalar", ukernel: portable::mul_q8__scalar::<Q> })
}

fn requantize_q8<Q: Q8>() -> Named<UnaryQ8Ukernel<RequantizeParams>> {
    pick!(
        true,
        "requantize_q8__wasm_simd128",
        requantize_q8__wasm_simd128::<Q>,
        Named { name: "requantize_q8__scalar", ukernel: portable::requantize_q8__scalar::<Q> }
    )
}

/// The 8-bit pools: MaxPool rows, AveragePool rows (the fallback for windows beyond 16-bit
/// sums and non-finite multipliers), byte sums (GlobalAveragePool).
pub fn qpool() -> QPoolKernels {
    let avg = |simd: bool| PerQ8 { u8: avgpool_q8::<u8>(simd), i8: avgpool_q8::<i8>(simd) };
    QPoolKernels { max: maxpool_q8(), avg: WithFallback { main: avg(true), fallback: avg(false) }, sum: sum_u8() }
}

fn maxpool_q8() -> Named<MaxPoolQ8Ukernel> {
    pick!(true, "maxpool_q8__wasm_simd128", maxpool_q8__wasm_simd128, Named { name: "maxpool_q8__scalar", ukernel: portable::maxpool_q8__scalar })
}

fn avgpool_q8<Q: Q8>(simd: bool) -> Named<AvgPoolQ8Ukernel> {
    pick!(simd, "avgpool_q8__wasm_simd128", avgpool_q8__wasm_simd128::<Q>, Named { name: "avgpool_q8__scalar", ukernel: portable::avgpool_q8__scalar::<Q> })
}

fn sum_u8() -> Named<SumU8Ukernel> {
    pick!(true, "sum_u8__wasm_simd128", sum_u8__wasm_simd128, Named { name: "sum_u8__scalar", ukernel: portable::sum_u8__scalar })
}

/// 8-bit table lookup (QLinearLookup).
pub fn lut_x8() -> Named<LutX8Ukernel> {
    pick!(true, "lut_x8__wasm_simd128", lut_x8__wasm_simd128, Named { name: "lut_x8__scalar", ukernel: portable::lut_x8__scalar })
}

/// Whether the 8-bit kernels above have SIMD versions in this build.
pub fn q8_simd() -> bool {
    SIMD128
}
