//! The kernel contracts, in one place: every micro-kernel's function-pointer type, the
//! parameters it takes, and the descriptors [`crate::select`] hands out (XNNPACK's
//! `microfnptr.h` / `microparams.h`). This module depends only on [`crate::error`] and [`crate::quant_math`]; the
//! ISA folders (`scalar/`, `wasm_simd128/`, `wasm_relaxed/`) implement these types, `select`
//! picks among the implementations, and the drivers (`sgemm`, `qgemm`, `qdwconv`, `qpool`,
//! `qelementwise`, `qlut`) take the chosen descriptor as an argument and never choose while
//! running. The drivers re-export what their callers need, so `qgemm::QLayout` and
//! `ukernel::QLayout` are the same type.
//!
//! One output rule for integer accumulators: [`Requant`] (docs/quantization.md §8), with one
//! multiplier ([`Requant<f32>`]: depthwise conv, pools) or one per channel
//! ([`Requant<&[f32]>`]: the int8 GEMM's output).
use crate::error::{Error, Result};
use crate::quant_math::{self, QInt};

// ---------------------------------------------------------------------------------------------
// 8-bit element types and the output rule

/// An 8-bit quantized element type (uint8 or int8).
pub trait Q8: QInt + PartialEq + std::fmt::Debug {
    /// XOR that maps the type onto bytes in the same order: 0 for u8, 0x80 for i8.
    const FLIP: u8;
    /// What [`Self::FLIP`] adds to values and zero points: 0 or 128.
    const BIAS: i32;
    /// The elements as bytes (the same memory).
    fn bytes(s: &[Self]) -> &[u8];
    /// The elements as mutable bytes (the same memory).
    fn bytes_mut(s: &mut [Self]) -> &mut [u8];
    /// The value a stored byte holds (`b` as `Self`, no bias).
    fn from_byte(b: u8) -> Self;
}

impl Q8 for u8 {
    const FLIP: u8 = 0;
    const BIAS: i32 = 0;
    fn bytes(s: &[u8]) -> &[u8] {
        s
    }
    fn bytes_mut(s: &mut [u8]) -> &mut [u8] {
        s
    }
    fn from_byte(b: u8) -> u8 {
        b
    }
}

impl Q8 for i8 {
    const FLIP: u8 = 0x80;
    const BIAS: i32 = 128;
    fn bytes(s: &[i8]) -> &[u8] {
        // SAFETY: i8 and u8 have the same size, alignment and validity (every bit pattern).
        unsafe { std::slice::from_raw_parts(s.as_ptr() as *const u8, s.len()) }
    }
    fn bytes_mut(s: &mut [i8]) -> &mut [u8] {
        // SAFETY: as above; the borrow is exclusive.
        unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr() as *mut u8, s.len()) }
    }
    fn from_byte(b: u8) -> i8 {
        b as i8
    }
}


/// The requantization of an i32 accumulator to an 8-bit output, docs/quantization.md §8 (and
/// §12) with a fused clamp:
///
/// ```text
/// y = clamp(saturate(round_half_even(f32(acc) · multiplier) + zero_point), lo, hi)
/// ```
///
/// the product rounded to f32 ([`crate::quant_math::requantize`]); `[lo, hi]` lies within the
/// output type's range and is narrower for a fused ReLU / Clip. `M` is the multiplier's form:
/// one `f32` (the default; depthwise conv channels, pools), or `&[f32]` with one value for all
/// channels or one per channel (the int8 GEMM's output, whose driver reads the channel's value).
///
/// Not a `Requant`: QLinearAdd / QLinearMul ([`AddParams`], [`MulParams`]) add the zero point
/// *before* rounding, and QLinearConcat's rescale ([`RequantizeParams`]) divides by the output
/// scale as QuantizeLinear does; they are the parameters of those ops' formulas, which a
/// multiplier cannot express bit for bit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Requant<M = f32> {
    pub multiplier: M,
    pub zero_point: i32,
    pub lo: i32,
    pub hi: i32,
}

impl Requant {
    /// The full range of `Q`, no extra clamp.
    pub fn new<Q: QInt>(multiplier: f32, zero_point: i32) -> Requant {
        Requant { multiplier, zero_point, lo: Q::MIN, hi: Q::MAX }
    }

    /// The scalar rule, through [`quant_math::requantize`].
    #[inline]
    pub fn apply<Q: QInt>(&self, acc: i32) -> Q {
        let q = quant_math::requantize::<Q>(acc, self.multiplier, self.zero_point).to_i32();
        Q::from_i32_in_range(q.clamp(self.lo, self.hi))
    }

    /// The same rule for a wider accumulator (a sum over a whole plane), through
    /// [`quant_math::scale_accumulator`].
    #[inline]
    pub fn apply_wide<Q: QInt>(&self, acc: i64) -> Q {
        let q = quant_math::saturate::<Q>(quant_math::scale_accumulator(acc, self.multiplier).saturating_add(self.zero_point as i64));
        Q::from_i32_in_range(q.to_i32().clamp(self.lo, self.hi))
    }

    /// Whether the SIMD form applies: a finite multiplier (so `f32(acc) · M` is never NaN) and
    /// bounds inside the 8-bit ranges. Otherwise kernels take their scalar path.
    pub fn simd_ok(&self) -> bool {
        self.multiplier.is_finite() && self.lo >= -128 && self.hi <= 255 && self.lo <= self.hi
    }
}

impl<'a> Requant<&'a [f32]> {
    /// Per-channel multipliers (1 value for all, or one per channel) into `Q`'s full range.
    pub fn per_channel<Q: QInt>(multiplier: &'a [f32], zero_point: i32) -> Requant<&'a [f32]> {
        Requant { multiplier, zero_point, lo: Q::MIN, hi: Q::MAX }
    }

}

impl<M> Requant<M> {
    /// Narrows the bounds to `[lo, hi]` (a fused ReLU: `lo = zero_point`); an error if the
    /// result is empty.
    pub fn clamped(self, lo: i32, hi: i32) -> Result<Requant<M>> {
        let (lo, hi) = (self.lo.max(lo), self.hi.min(hi));
        if lo > hi {
            return Err(Error::invalid(format!("empty output clamp [{lo}, {hi}]")));
        }
        Ok(Requant { lo, hi, ..self })
    }
}

// ---------------------------------------------------------------------------------------------
// f32 GEMM

/// What an f32 GEMM micro-kernel does around its k loop, for one tile.
#[derive(Clone, Copy, Default)]
pub struct TileArgs<'a> {
    /// Add the tile's current contents of C (else start from zero).
    pub load_c: bool,
    /// `MR` values added to the rows (padded by the driver at the edges).
    pub row_bias: Option<&'a [f32]>,
    /// `NR` values added to the columns.
    pub col_bias: Option<&'a [f32]>,
    /// Clamp the result to `[lo, hi]` (fused ReLU / ReLU6 / Clip) by [`clip`].
    pub clamp: Option<(f32, f32)>,
}

/// The clamp of every fused activation, exactly ONNX Clip's (and Relu's with `[0, ∞]`): below
/// `lo` becomes `lo`, above `hi` becomes `hi`, anything else (NaN, −0.0) passes. So a Conv with
/// a fused Relu / Clip equals the Conv followed by the op, bit for bit. The SIMD kernels compute
/// it as `pmin(pmax(v, lo), hi)` (`pmax(v, lo) = v < lo ? lo : v`).
#[inline(always)]
pub fn clip(v: f32, lo: f32, hi: f32) -> f32 {
    let v = if v < lo { lo } else { v };
    if v > hi {
        hi
    } else {
        v
    }
}

/// An f32 micro-kernel: computes one full `MR x NR` tile,
/// `C[i][j] = (load_c ? C[i][j] : 0) + row_bias[i] + col_bias[j] + sum_p a[p*MR + i] * b[p*NR + j]`
/// then clamps.
///
/// # Safety
/// `a` must be valid for `kc * MR` reads, `b` for `kc * NR` reads, `c` for `MR` rows of `NR`
/// elements at row stride `ldc`; `row_bias` / `col_bias`, when given, hold at least `MR` / `NR`
/// values.
pub type GemmF32Ukernel = unsafe fn(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, t: &TileArgs);

/// An f32 micro-kernel with its tile size and name.
pub struct GemmKernel {
    pub name: &'static str,
    pub mr: usize,
    pub nr: usize,
    pub ukernel: GemmF32Ukernel,
}

impl std::fmt::Debug for GemmKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// The f32 kernels a product runs on, chosen once (`select::gemm_f32`): `main` for A packed
/// ahead and for products of several rows, `row` (same `nr`) for a single row packed per call.
#[derive(Clone, Copy, Debug)]
pub struct GemmKernels {
    pub main: &'static GemmKernel,
    pub row: &'static GemmKernel,
}

impl GemmKernels {
    /// `kernel` for every product (tests and benchmarks).
    pub fn only(kernel: &'static GemmKernel) -> GemmKernels {
        GemmKernels { main: kernel, row: kernel }
    }
    /// The kernel for a product of `m` rows whose A is packed per call.
    pub fn for_rows(&self, m: usize) -> &'static GemmKernel {
        if m == 1 {
            self.row
        } else {
            self.main
        }
    }
    /// The kernel for an A packed ahead in panels of `mr` rows.
    pub fn for_mr(&self, mr: usize) -> Option<&'static GemmKernel> {
        [self.main, self.row].into_iter().find(|k| k.mr == mr)
    }
}

// ---------------------------------------------------------------------------------------------
// int8 GEMM

/// How an int8 GEMM kernel family wants its operands packed (see `qgemm`'s overview).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QLayout {
    /// i16 values minus zero points, depth pairs: rows `[k/2][MR][2]`, columns `[k/2][NR][2]`.
    I16C2,
    /// Signed i8 rows and two 7-bit parts of shifted columns, depth quads: rows `[k/4][MR][4]`,
    /// columns `[k/4]{lo: [NR][4], hi: [NR][4]}`.
    I8I7C4,
}

impl QLayout {
    /// Depth values per packed group.
    pub fn group(self) -> usize {
        match self {
            QLayout::I16C2 => 2,
            QLayout::I8I7C4 => 4,
        }
    }
    /// Bytes of one column panel per column and depth group.
    pub fn b_bytes(self) -> usize {
        match self {
            QLayout::I16C2 => 4,
            QLayout::I8I7C4 => 8,
        }
    }
}

/// How an int8 GEMM micro-kernel leaves its tile.
#[derive(Clone, Copy, Debug)]
pub enum TileOut<'a> {
    /// The i32 accumulators (ldc in i32 elements).
    I32,
    /// Requantized bytes (ldc in bytes) by `rq` ([`Requant`]) as uint8 or int8, the multiplier
    /// per row (`MR` values) when `per_row`, else per column (`NR` values). The driver passes
    /// finite multipliers only.
    Q8 { rq: Requant<&'a [f32]>, per_row: bool, signed: bool },
}

/// What an int8 GEMM micro-kernel adds to its accumulators before the output step:
/// `acc[i][j] += row_add[i] + col_add[j] (+ row_sum[i] · col_scale[j] when both are given)`.
#[derive(Clone, Copy, Debug)]
pub struct QTileArgs<'a> {
    /// `MR` values: bias per row (left-side weights).
    pub row_add: &'a [i32],
    /// `NR` values: bias per column plus the column corrections (right-side weights).
    pub col_add: &'a [i32],
    /// `MR` values ([`QLayout::I8I7C4`]: the row sums of the packed rows).
    pub row_sum: Option<&'a [i32]>,
    /// `NR` values ([`QLayout::I8I7C4`]: `d_b[j]`).
    pub col_scale: Option<&'a [i32]>,
    pub out: TileOut<'a>,
}

/// An int8 GEMM micro-kernel: one full `MR x NR` tile over `kg` depth groups of a row panel
/// (`kg · MR · 4` bytes) and a column panel (`kg · NR · layout.b_bytes()` bytes), then
/// [`QTileArgs`], then the output.
///
/// # Safety
/// `a` and `b` must be valid for those reads; `c` for `MR` rows of `NR` output elements at row
/// stride `ldc` elements; the slices in `t` hold at least `MR` / `NR` values.
pub type QGemmUkernel = unsafe fn(kg: usize, a: *const u8, b: *const u8, c: *mut u8, ldc: usize, t: &QTileArgs);

/// An int8 GEMM micro-kernel with its tile, packing and name.
pub struct QGemmKernel {
    pub name: &'static str,
    pub mr: usize,
    pub nr: usize,
    pub layout: QLayout,
    pub ukernel: QGemmUkernel,
}

impl std::fmt::Debug for QGemmKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// The int8 kernels a product runs on, chosen once (`select::qgemm`, or `select::qgemm_for`
/// the layout prepacked weights ended up in): `main`, and `row` (same layout and `nr`) for a
/// product with one row of activations on the left.
#[derive(Clone, Copy, Debug)]
pub struct QGemmKernels {
    pub main: &'static QGemmKernel,
    pub row: &'static QGemmKernel,
}

impl QGemmKernels {
    /// `kernel` for every product (tests and benchmarks).
    pub fn only(kernel: &'static QGemmKernel) -> QGemmKernels {
        QGemmKernels { main: kernel, row: kernel }
    }
    /// The packing both kernels read.
    pub fn layout(&self) -> QLayout {
        self.main.layout
    }
    /// The kernel for a product with `m` rows of activations on the left.
    pub fn for_rows(&self, m: usize) -> &'static QGemmKernel {
        if m == 1 {
            self.row
        } else {
            self.main
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 8-bit depthwise conv

/// Which depthwise taps are multiplied together (see `qdwconv`'s overview).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pairing {
    /// Kernel rows `2p` and `2p + 1` (any stride and dilation).
    Rows,
    /// Kernel columns `2p` and `2p + 1` (column stride 2, column dilation 1).
    Cols,
}

impl Pairing {
    /// The pairing for a column stride and dilation.
    pub fn for_columns(stride: usize, dilation: usize) -> Pairing {
        if stride == 2 && dilation == 1 {
            Pairing::Cols
        } else {
            Pairing::Rows
        }
    }
}

/// Outputs a depthwise micro-kernel computes per step (reads past `n` are padded by the driver).
pub const DW_CHUNK: usize = 8;

/// One depthwise micro-kernel call: `rows` output rows of `n` values; output `j` of row `i` is
/// `rq(bias + Σ_t p[2j] · lo(w[t]) + p[2j + 1] · hi(w[t]))` with `p = base + i·in_stride +
/// offs[t]` (wrapping i32 sums), stored as a byte of the output type at `out + i·n + j`.
///
/// The unrolled `R x K` kernels (`K` taps per group, e.g. a kernel row's pairs) read only
/// `offs[r·K]` and rely on `offs[r·K + k] = offs[r·K] + 2k` (column stride 2 with column pairs,
/// or column stride and dilation 1).
pub struct DwRows<'a> {
    pub rows: usize,
    pub n: usize,
    pub base: *const i16,
    pub in_stride: usize,
    pub offs: &'a [usize],
    pub w: &'a [i32],
    pub bias: i32,
    pub rq: &'a Requant,
}

/// A depthwise micro-kernel: computes [`DwRows`] into `out`.
///
/// # Safety
/// For every row `i < rows` and tap `t`, `base + i·in_stride + offs[t]` must be readable for
/// `2 · n.next_multiple_of(DW_CHUNK)` i16 values; `w.len() == offs.len()`; `out` writable for
/// `rows · n` bytes.
pub type DwQ8Ukernel = unsafe fn(k: &DwRows, out: *mut u8);

/// A packing micro-kernel: `dst[2i] = (a[i] ^ flip) - zp`, `dst[2i + 1] = (b[i] ^ flip) - zp`
/// for `i < n` (two byte rows, biased and centered, interleaved into i16 pairs); with `b`
/// null, `dst[i] = (a[i] ^ flip) - zp` (one row, not interleaved).
///
/// # Safety
/// `a` (and `b` unless null) readable for `n` bytes; `dst` writable for `2n` (`n`) values.
pub type PackQ8Ukernel = unsafe fn(n: usize, a: *const u8, b: *const u8, flip: u8, zp: i16, dst: *mut i16);

// ---------------------------------------------------------------------------------------------
// 8-bit pools

/// Outputs a pool micro-kernel computes per step (reads past `n` are padded by the driver).
pub const POOL_CHUNK: usize = 16;

/// One pool micro-kernel call: `rows` rows of `n` outputs; output `j` of row `i` reduces the
/// taps `base[i·in_stride + offs[t] + j]`.
pub struct PoolRows<'a> {
    pub rows: usize,
    pub n: usize,
    pub base: *const u8,
    pub in_stride: usize,
    pub offs: &'a [usize],
}

/// Max micro-kernel: `out[i·n + j] = flip ^ max_t tap`.
///
/// # Safety
/// `base + i·in_stride + offs[t]` readable for `n.next_multiple_of(POOL_CHUNK)` bytes for every
/// row `i < rows` and tap `t`; `offs` not empty; `out` writable for `rows · n` bytes.
pub type MaxPoolQ8Ukernel = unsafe fn(r: &PoolRows, flip: u8, out: *mut u8);

/// Average micro-kernel: `out[i·n + j] = rq'(Σ_t tap - k_zp)` where `rq'` is `rq` with the
/// multiplier `mult[j]`, stored as a byte of the output type.
///
/// # Safety
/// As [`MaxPoolQ8Ukernel`]; `mult` holds `n.next_multiple_of(POOL_CHUNK)` values.
pub type AvgPoolQ8Ukernel = unsafe fn(r: &PoolRows, k_zp: i32, mult: &[f32], rq: &Requant, out: *mut u8);

/// Sum micro-kernel: `Σ (x[i] ^ flip)` over `n` bytes.
///
/// # Safety
/// `x` readable for `n` bytes.
pub type SumU8Ukernel = unsafe fn(n: usize, x: *const u8, flip: u8) -> u64;

// ---------------------------------------------------------------------------------------------
// 8-bit elementwise

/// QLinearAdd's parameters (zero points as values of the data type, not biased):
/// `y = clamp(round_half_even((s_a (a - z_a) + s_b (b - z_b)) / s_y + z_y), lo, hi)` in f32.
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

/// QLinearMul's parameters (zero points as values of the data type); `multiplier` is
/// `s_a s_b / s_y` in f32: `y = clamp(round_half_even(f32((a - z_a)(b - z_b)) · M + z_y), lo, hi)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MulParams {
    pub a_zp: i32,
    pub b_zp: i32,
    pub multiplier: f32,
    pub y_zp: i32,
    pub lo: i32,
    pub hi: i32,
}

/// QLinearConcat's rescale of one input to the output's quantization (zero points as values of
/// the data type): `y = quantize(dequantize(x, x_scale, x_zp), y_scale, y_zp)` in f32, i.e.
/// `saturate(round_half_even(s_x (x - z_x) / s_y) + z_y)`. Two quantization parameters, not a
/// [`Requant`]: the division by `y_scale` is QuantizeLinear's and a folded multiplier would
/// round differently.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequantizeParams {
    pub x_scale: f32,
    pub x_zp: i32,
    pub y_scale: f32,
    pub y_zp: i32,
}

/// A unary 8-bit micro-kernel: `out[i] = f(x[i])` over `n` raw bytes.
///
/// # Safety
/// `x` readable and `out` writable for `n` bytes.
pub type UnaryQ8Ukernel<A> = unsafe fn(n: usize, x: *const u8, args: &A, out: *mut u8);

/// A binary 8-bit micro-kernel over `n` elements: `out[i] = f(a[i], b[i])` on the raw bytes of
/// the data type (parameters as for the op, zero points not biased), `b[0]` for every `i` when
/// `b_splat`.
///
/// # Safety
/// `a` readable and `out` writable for `n` bytes; `b` readable for `n` bytes (1 if `b_splat`).
pub type BinaryQ8Ukernel<A> = unsafe fn(n: usize, a: *const u8, b: *const u8, b_splat: bool, args: &A, out: *mut u8);

// ---------------------------------------------------------------------------------------------
// 8-bit table lookup

/// A lookup kernel: `y[i] = table[x[i] ^ flip]` for `i < n`.
///
/// # Safety
/// `x` and `y` must be valid for `n` bytes (they may be the same buffer).
pub type LutX8Ukernel = unsafe fn(n: usize, x: *const u8, flip: u8, table: &[u8; 256], y: *mut u8);

// ---------------------------------------------------------------------------------------------
// Descriptors of the 8-bit kernels (what `select` hands out, what drivers take)

/// A micro-kernel with its name.
#[derive(Clone, Copy)]
pub struct Named<K> {
    pub name: &'static str,
    pub ukernel: K,
}

impl<K> std::fmt::Debug for Named<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// A kernel instantiated for both 8-bit element types; the driver takes the one of its type
/// ([`PerQ8::get`]), so a choice made once serves uint8 and int8 tensors alike.
#[derive(Clone, Copy, Debug)]
pub struct PerQ8<K> {
    pub u8: K,
    pub i8: K,
}

impl<K: Copy> PerQ8<K> {
    /// The kernel for element type `Q`.
    #[inline]
    pub fn get<Q: Q8>(&self) -> K {
        if Q::FLIP == 0 {
            self.u8
        } else {
            self.i8
        }
    }
}

/// A kernel and the portable one that runs where its preconditions fail (a non-finite
/// multiplier, a window too large for 16-bit sums: see each driver). Both are chosen at once;
/// the driver only checks the precondition.
#[derive(Clone, Copy, Debug)]
pub struct WithFallback<K> {
    pub main: K,
    pub fallback: K,
}

impl<K: Copy> WithFallback<K> {
    /// `main` when its preconditions hold, else `fallback`.
    #[inline]
    pub fn pick(&self, main_ok: bool) -> K {
        if main_ok {
            self.main
        } else {
            self.fallback
        }
    }
}

/// The 8-bit depthwise conv's kernels for one kernel shape, pairing and stride class
/// (`select::dwconv_q8`): the row kernel per output type, and the input packing. The unrolled
/// kernels read a fixed tap pattern, so the driver checks `kh`, `kw`, `pairing` and `regular`
/// against the weights and geometry it runs before calling one.
#[derive(Clone, Copy, Debug)]
pub struct QDwKernels {
    pub kh: usize,
    pub kw: usize,
    pub pairing: Pairing,
    /// Tap groups 2 values apart (`qdwconv::regular_taps`).
    pub regular: bool,
    pub conv: WithFallback<PerQ8<Named<DwQ8Ukernel>>>,
    pub pack: Named<PackQ8Ukernel>,
}

/// The 8-bit pools' kernels (`select::qpool`).
#[derive(Clone, Copy, Debug)]
pub struct QPoolKernels {
    pub max: Named<MaxPoolQ8Ukernel>,
    pub avg: WithFallback<PerQ8<Named<AvgPoolQ8Ukernel>>>,
    pub sum: Named<SumU8Ukernel>,
}

/// The 8-bit elementwise kernels (`select::qelementwise`).
#[derive(Clone, Copy, Debug)]
pub struct QElementwiseKernels {
    pub add: PerQ8<Named<BinaryQ8Ukernel<AddParams>>>,
    pub mul: PerQ8<Named<BinaryQ8Ukernel<MulParams>>>,
    pub requantize: PerQ8<Named<UnaryQ8Ukernel<RequantizeParams>>>,
}
