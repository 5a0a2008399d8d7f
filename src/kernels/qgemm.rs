//! Integer (int8) matrix multiply with a fused requantizing epilogue:
//!
//! ```text
//! acc[i][j] = bias[j] + Σ_k (A[i][k] − a_zp) · (B[k][j] − b_zp[j])        (wrapping i32)
//! C[i][j]   = acc                                                         (i32 output), or
//! C[i][j]   = clamp(round_half_even(acc · M[j]) + y_zp, min, max)         (u8 / i8 output)
//! ```
//!
//! A (activations, uint8 or int8, one zero point) is packed per call; B (weights, uint8 or int8,
//! one zero point per column or per tensor) is packed once into [`PackedQWeights`] when it is a
//! constant. `M[j]` is per column or per tensor and the product `acc · M` is formed in f64, exactly
//! as [`crate::quant_math::requantize_clamped`] defines it (docs/quantization.md §8), so every
//! kernel matches the scalar oracle [`crate::kernels::reference::gemm_q8_ref`] bit for bit. A
//! narrower `[min, max]` is a fused ReLU / Clip.
//!
//! Packing decides the micro-kernel family ([`QLayout`]):
//!
//! - [`QLayout::I16C2`]: both operands minus their zero points, widened to i16 and interleaved in
//!   k-pairs, for `i32x4.dot_i16x8_s`. The zero points are gone after packing, so no correction
//!   terms are needed; `(±255)·(±255)·2` fits an i32 lane of the dot product.
//! - [`QLayout::I8I7C4`]: for relaxed SIMD's `i32x4.relaxed_dot_i8x16_i7x16_add_s`, whose second
//!   operand is only defined on `[0, 127]`. A becomes signed i8 (`a ^ 0x80 = a − 128` for uint8);
//!   each column of B is shifted by its minimum, `v = w − min_k w ∈ [0, 254]`, and split into two
//!   7-bit parts `lo = min(v, 127)`, `hi = v − lo`, so each 16 products take two dot products and no
//!   widening. What the shifts remove comes back through the row sums of A (per call) and the
//!   column sums of `v` (at packing): with `s = a − a_off`, `d_a = a_off − a_zp` and
//!   `d_b[j] = min_k w − b_zp[j]`,
//!   `Σ (a − a_zp)(w − b_zp) = Σ s·v + d_b[j]·Σ s + d_a·Σ v + K·d_a·d_b[j]`, exact in wrapping
//!   i32. A column whose values span all 256 levels cannot be split (two 7-bit parts reach 254
//!   only); such weights are packed as [`QLayout::I16C2`] instead (symmetric weights, docs §3,
//!   never span more than 255 levels).
//!
//! The blocked loops follow [`super::sgemm`]: rows of A in blocks of [`MC`], packed per block;
//! the whole depth per tile (no k blocking: a B panel of `k x 8` values is `16 k` bytes, in L1 up
//! to k ≈ 2000 and streamed from L2 beyond); edge tiles go through a temporary tile. Outputs are
//! strided, so a conv can write its `[positions, channels]` product straight into NCHW.
use super::select;
use crate::error::{Error, Result};

/// Rows of an m block (the packed A block, `MC x k` pairs of i16, stays in L2). A multiple of
/// every MR.
pub const MC: usize = 96;
/// Largest MR / NR of any kernel (sizes the temporary edge tile).
pub const MAX_MR: usize = 8;
pub const MAX_NR: usize = 16;

/// How a kernel family wants its operands packed (see the module overview).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QLayout {
    /// i16 values minus zero points, k-pairs: A `[k/2][MR][2]`, B `[k/2][NR][2]`.
    I16C2,
    /// Signed i8 A and two 7-bit parts of shifted B, k-quads: A `[k/4][MR][4]`, B
    /// `[k/4]{lo: [NR][4], hi: [NR][4]}`.
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
    /// Bytes of one column (B) per depth group.
    fn b_bytes(self) -> usize {
        match self {
            QLayout::I16C2 => 4,
            QLayout::I8I7C4 => 8,
        }
    }
}

/// Bytes of one row of a packed A panel per depth group (both layouts).
const A_BYTES: usize = 4;

/// How the micro-kernel leaves its tile.
#[derive(Clone, Copy, Debug)]
pub enum TileOut<'a> {
    /// The i32 accumulators (ldc in i32 elements).
    I32,
    /// Requantized bytes (ldc in bytes): `clamp(round_half_even(acc · multiplier[j]) +
    /// zero_point, min, max)` as uint8 or int8.
    Q8 { multiplier: &'a [f64], zero_point: i32, min: i32, max: i32, signed: bool },
}

/// What a micro-kernel adds to its accumulators before the output step:
/// `acc[i][j] += col_add[j] + row_sum[i] · col_scale[j]` (the last term only when both are given).
#[derive(Clone, Copy, Debug)]
pub struct QTileArgs<'a> {
    /// `NR` values: bias plus the column corrections.
    pub col_add: &'a [i32],
    /// `MR` values ([`QLayout::I8I7C4`]: the row sums of the packed A).
    pub row_sum: Option<&'a [i32]>,
    /// `NR` values ([`QLayout::I8I7C4`]: `d_b[j]`).
    pub col_scale: Option<&'a [i32]>,
    pub out: TileOut<'a>,
}

/// A micro-kernel: one full `MR x NR` tile over `kg` depth groups of packed A (`kg · MR · 4`
/// bytes) and packed B (`kg · NR · layout.b_bytes()` bytes), then [`QTileArgs`], then the output.
///
/// # Safety
/// `a` and `b` must be valid for those reads; `c` for `MR` rows of `NR` output elements at row
/// stride `ldc` elements; the slices in `t` hold at least `MR` / `NR` values.
pub type QGemmUkernel = unsafe fn(kg: usize, a: *const u8, b: *const u8, c: *mut u8, ldc: usize, t: &QTileArgs);

/// A micro-kernel with its tile, packing and name.
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

/// `&[i8]` as its bytes (same size and alignment).
pub fn i8_bytes(v: &[i8]) -> &[u8] {
    // SAFETY: i8 and u8 have the same size and alignment and every bit pattern is valid for both.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, v.len()) }
}

/// `&mut [i8]` as its bytes.
pub fn i8_bytes_mut(v: &mut [i8]) -> &mut [u8] {
    // SAFETY: as in `i8_bytes`; the borrow is carried over.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, v.len()) }
}

/// A read-only strided 8-bit matrix (uint8 or int8): element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy, Debug)]
pub struct QMat<'a> {
    data: &'a [u8],
    signed: bool,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> QMat<'a> {
    /// A strided view of bytes read as int8 when `signed`; errors if an element would lie
    /// outside `data`.
    pub fn new(data: &'a [u8], signed: bool, rows: usize, cols: usize, rs: usize, cs: usize) -> Result<QMat<'a>> {
        check_strided(data.len(), rows, cols, rs, cs, "matrix")?;
        Ok(QMat { data, signed, rows, cols, rs, cs })
    }
    /// A dense row-major uint8 matrix.
    pub fn u8(data: &'a [u8], rows: usize, cols: usize) -> Result<QMat<'a>> {
        QMat::new(data, false, rows, cols, cols, 1)
    }
    /// A dense row-major int8 matrix.
    pub fn i8(data: &'a [i8], rows: usize, cols: usize) -> Result<QMat<'a>> {
        QMat::new(i8_bytes(data), true, rows, cols, cols, 1)
    }
    /// The transposed view.
    pub fn t(self) -> QMat<'a> {
        QMat { rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs, ..self }
    }
    pub fn rows(&self) -> usize {
        self.rows
    }
    pub fn cols(&self) -> usize {
        self.cols
    }
    pub fn is_signed(&self) -> bool {
        self.signed
    }
    /// The value range of the element type.
    fn range(&self) -> (i32, i32) {
        if self.signed {
            (-128, 127)
        } else {
            (0, 255)
        }
    }
    #[inline]
    fn get(&self, i: usize, j: usize) -> i32 {
        let v = self.data[i * self.rs + j * self.cs];
        if self.signed {
            v as i8 as i32
        } else {
            v as i32
        }
    }
}

/// Checks that every element `(i, j)` of a `rows x cols` view with strides `(rs, cs)` lies below
/// `len`.
fn check_strided(len: usize, rows: usize, cols: usize, rs: usize, cs: usize, what: &str) -> Result<()> {
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    let last = (rows - 1)
        .checked_mul(rs)
        .and_then(|v| (cols - 1).checked_mul(cs).and_then(|w| v.checked_add(w)))
        .ok_or_else(|| Error::too_large(format!("a {rows} x {cols} {what} view overflows")))?;
    if last >= len {
        return Err(Error::shape(format!(
            "a {rows} x {cols} {what} with strides ({rs}, {cs}) needs {} elements, the buffer has {len}",
            last + 1
        )));
    }
    Ok(())
}

/// A zeroed byte buffer aligned for i16 views (packed panels).
#[derive(Clone, Debug, Default)]
struct Panels {
    words: Vec<u32>,
    len: usize,
}

impl Panels {
    fn zeroed(len: usize) -> Result<Panels> {
        crate::tensor::checked_numel(&[len], crate::tensor::DType::U8)?;
        Ok(Panels { words: vec![0; len.div_ceil(4)], len })
    }
    fn bytes(&self) -> &[u8] {
        // SAFETY: `words` holds at least `len` initialised bytes; u8 has alignment 1.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr() as *const u8, self.len) }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr() as *mut u8, self.len) }
    }
    fn i16s_mut(&mut self) -> &mut [i16] {
        // SAFETY: u32 storage is aligned for i16 and holds at least `len / 2` of them.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr() as *mut i16, self.len / 2) }
    }
}

/// Zero points of B: one per column or one for all.
fn column_values(v: &[i32], n: usize, what: &str) -> Result<Vec<i32>> {
    match v.len() {
        1 => Ok(vec![v[0]; n]),
        l if l == n => Ok(v.to_vec()),
        l => Err(Error::shape(format!("{what} has {l} values; expected 1 or one per column ({n})"))),
    }
}

fn check_zero_point(zp: i32, m: &QMat, what: &str) -> Result<()> {
    let (lo, hi) = m.range();
    if zp < lo || zp > hi {
        return Err(Error::invalid(format!("{what} {zp} is outside the operand type's range [{lo}, {hi}]")));
    }
    Ok(())
}

/// B (`k x n`, the weights) packed for one [`QLayout`] in panels of `nr` columns, with the
/// per-column terms the layout needs. Build once for constant weights.
#[derive(Clone, Debug)]
pub struct PackedQWeights {
    k: usize,
    n: usize,
    nr: usize,
    layout: QLayout,
    data: Panels,
    /// [`QLayout::I8I7C4`]: `Σ_k v[k][j]`, padded to whole panels with 0.
    col_sum: Vec<i32>,
    /// [`QLayout::I8I7C4`]: `d_b[j] = min_k w[k][j] − b_zp[j]`, padded with 0.
    col_shift: Vec<i32>,
}

impl PackedQWeights {
    /// Packs `b` (`k x n`) with zero points `zero_point` (1 value or `n`) for the kernel family
    /// [`select::qgemm`] picks.
    pub fn pack(b: QMat, zero_point: &[i32]) -> Result<PackedQWeights> {
        Self::pack_for(b, zero_point, select::qgemm().layout)
    }

    /// Packs for `layout`; [`QLayout::I8I7C4`] falls back to [`QLayout::I16C2`] when a column
    /// spans all 256 levels (see the module overview).
    pub fn pack_for(b: QMat, zero_point: &[i32], layout: QLayout) -> Result<PackedQWeights> {
        let (k, n) = (b.rows, b.cols);
        let zp = column_values(zero_point, n, "b_zero_point")?;
        for &z in &zp {
            check_zero_point(z, &b, "b_zero_point")?;
        }
        let nr = select::qgemm().nr;
        let n_pad = n.div_ceil(nr) * nr;
        let layout = match layout {
            QLayout::I8I7C4 if !fits_7bit_split(&b) => QLayout::I16C2,
            l => l,
        };
        let g = layout.group();
        let kg = k.div_ceil(g);
        let len = n_pad
            .checked_mul(kg)
            .and_then(|v| v.checked_mul(layout.b_bytes()))
            .ok_or_else(|| Error::too_large(format!("packing a {k} x {n} matrix overflows")))?;
        let mut data = Panels::zeroed(len)?;
        let mut col_sum = vec![0i32; n_pad];
        let mut col_shift = vec![0i32; n_pad];
        match layout {
            QLayout::I16C2 => {
                let dst = data.i16s_mut();
                for j in 0..n {
                    let (jp, jj) = (j / nr, j % nr);
                    for p in 0..k {
                        let at = (jp * kg + p / 2) * nr * 2 + jj * 2 + p % 2;
                        // In [−255, 255]: both in the type's range (checked above).
                        dst[at] = (b.get(p, j) - zp[j]) as i16;
                    }
                }
            }
            QLayout::I8I7C4 => {
                let dst = data.bytes_mut();
                for j in 0..n {
                    let (jp, jj) = (j / nr, j % nr);
                    let base = (0..k).map(|p| b.get(p, j)).min().unwrap_or(0);
                    let mut sum = 0i32;
                    for p in 0..k {
                        let v = b.get(p, j) - base; // [0, 254], checked by fits_7bit_split
                        let lo = v.min(127);
                        let at = (jp * kg + p / 4) * nr * 8 + jj * 4 + p % 4;
                        dst[at] = lo as u8;
                        dst[at + nr * 4] = (v - lo) as u8;
                        sum = sum.wrapping_add(v);
                    }
                    col_sum[j] = sum;
                    col_shift[j] = base - zp[j];
                }
            }
        }
        Ok(PackedQWeights { k, n, nr, layout, data, col_sum, col_shift })
    }

    pub fn rows(&self) -> usize {
        self.k
    }
    pub fn cols(&self) -> usize {
        self.n
    }
    pub fn layout(&self) -> QLayout {
        self.layout
    }
}

/// True if every column of `b` spans at most 255 levels (max − min ≤ 254), so its shifted values
/// split into two 7-bit parts.
fn fits_7bit_split(b: &QMat) -> bool {
    (0..b.cols).all(|j| {
        let (lo, hi) = (0..b.rows).fold((i32::MAX, i32::MIN), |(lo, hi), p| {
            let v = b.get(p, j);
            (lo.min(v), hi.max(v))
        });
        b.rows == 0 || hi - lo <= 254
    })
}

/// The right operand: prepacked weights, or a view with its zero points (1 or `n` values),
/// packed per call.
#[derive(Clone, Copy, Debug)]
pub enum QRhs<'a> {
    Packed(&'a PackedQWeights),
    Mat { b: QMat<'a>, zero_point: &'a [i32] },
}

/// The requantization of a `u8` / `i8` output: `multiplier` has 1 value or one per column.
#[derive(Clone, Copy, Debug)]
pub struct Requant<'a> {
    pub multiplier: &'a [f64],
    pub zero_point: i32,
    pub min: i32,
    pub max: i32,
}

/// Where the product goes: element `(i, j)` at `c[i * rs + j * cs]`.
#[derive(Debug)]
pub enum QOut<'a> {
    I32 { c: &'a mut [i32], rs: usize, cs: usize },
    /// uint8 (or int8 when `signed`) bytes.
    Q8 { c: &'a mut [u8], signed: bool, rs: usize, cs: usize, requant: Requant<'a> },
}

/// `C = A x B` as described in the module overview, with the kernels [`select`] picks.
/// `a` is `m x k` with zero point `a_zp`; `bias` has `n` values. Checks every size first; never
/// panics.
pub fn qgemm(a: QMat, a_zp: i32, b: QRhs, bias: Option<&[i32]>, out: QOut) -> Result<()> {
    qgemm_using(None, a, a_zp, b, bias, out)
}

/// [`qgemm`] with a given micro-kernel (tests and benchmarks); B must be packed for its layout.
pub fn qgemm_with(kernel: &QGemmKernel, a: QMat, a_zp: i32, b: QRhs, bias: Option<&[i32]>, out: QOut) -> Result<()> {
    qgemm_using(Some(kernel), a, a_zp, b, bias, out)
}

pub(crate) fn qgemm_using(kernel: Option<&QGemmKernel>, a: QMat, a_zp: i32, b: QRhs, bias: Option<&[i32]>, mut out: QOut) -> Result<()> {
    let (m, k) = (a.rows, a.cols);
    let (k2, n) = match b {
        QRhs::Packed(p) => (p.k, p.n),
        QRhs::Mat { b, .. } => (b.rows, b.cols),
    };
    if k != k2 {
        return Err(Error::shape(format!("matrix product of {m} x {k} and {k2} x {n}: inner dims differ")));
    }
    check_zero_point(a_zp, &a, "a_zero_point")?;
    if let Some(v) = bias {
        if v.len() != n {
            return Err(Error::shape(format!("bias has {} values, expected {n}", v.len())));
        }
    }
    match &out {
        QOut::I32 { c, rs, cs } => check_strided(c.len(), m, n, *rs, *cs, "output")?,
        QOut::Q8 { c, signed, rs, cs, requant } => {
            check_strided(c.len(), m, n, *rs, *cs, "output")?;
            let (lo, hi) = if *signed { (-128, 127) } else { (0, 255) };
            if requant.min > requant.max || requant.min < lo || requant.max > hi {
                return Err(Error::invalid(format!(
                    "requantization range [{}, {}] is not inside the output type's [{lo}, {hi}]",
                    requant.min, requant.max
                )));
            }
            if requant.multiplier.len() != 1 && requant.multiplier.len() != n {
                return Err(Error::shape(format!(
                    "{} requantization multipliers; expected 1 or one per column ({n})",
                    requant.multiplier.len()
                )));
            }
        }
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    let packed_owned;
    let pb = match b {
        QRhs::Packed(p) => p,
        QRhs::Mat { b, zero_point } => {
            let layout = kernel.map_or(select::qgemm().layout, |k| k.layout);
            packed_owned = PackedQWeights::pack_for(b, zero_point, layout)?;
            &packed_owned
        }
    };
    let kern = match kernel {
        Some(kern) => kern,
        None => select::qgemm_for(pb.layout, m),
    };
    if kern.layout != pb.layout || kern.nr != pb.nr {
        return Err(Error::invalid(format!(
            "weights packed as {:?} with {} columns per panel do not suit {}",
            pb.layout, pb.nr, kern.name
        )));
    }
    run_blocked(kern, &a, a_zp, pb, bias, &mut out)
}

/// The per-call column terms: `col_add[j] = bias[j] (+ d_a·Σv[j] + K·d_a·d_b[j])`, padded.
fn column_terms(pb: &PackedQWeights, a: &QMat, a_zp: i32, bias: Option<&[i32]>) -> Vec<i32> {
    let mut col_add = vec![0i32; pb.col_sum.len()];
    if let Some(b) = bias {
        col_add[..b.len()].copy_from_slice(b);
    }
    if pb.layout == QLayout::I8I7C4 {
        let a_off = if a.signed { 0 } else { 128 };
        let d_a = a_off - a_zp;
        // K enters modulo 2^32 like every other term of the wrapping accumulator.
        let kk = (pb.k as u32 as i32).wrapping_mul(d_a);
        for ((c, &s), &d) in col_add.iter_mut().zip(&pb.col_sum).zip(&pb.col_shift) {
            *c = c.wrapping_add(d_a.wrapping_mul(s)).wrapping_add(kk.wrapping_mul(d));
        }
    }
    col_add
}

/// Packs rows `i0 .. i0 + rows` of A into `buf` (panels of `mr` rows, `kg` depth groups) and,
/// for [`QLayout::I8I7C4`], their row sums into `row_sum`. Padding depth is written as zero;
/// padding rows of the last panel keep stale values, which only reach discarded tile rows.
#[allow(clippy::too_many_arguments)]
fn pack_a(layout: QLayout, a: &QMat, a_zp: i32, i0: usize, rows: usize, mr: usize, kg: usize, buf: &mut Panels, row_sum: &mut [i32]) {
    match layout {
        QLayout::I16C2 => {
            // a − a_zp = (byte ^ flip) − off, branch-free for both signednesses.
            let (flip, off) = if a.signed { (0x80u8, 128 + a_zp) } else { (0, a_zp) };
            let conv = move |byte: u8| ((byte ^ flip) as i32 - off) as i16;
            pack_panels::<2, i16>(a, i0, rows, mr, kg, buf.i16s_mut(), conv, |_, _| {});
        }
        QLayout::I8I7C4 => {
            // Signed: a − a_off with a_off = 128 for uint8 (the top bit flipped), 0 for int8.
            let flip = if a.signed { 0 } else { 0x80u8 };
            row_sum[..rows].fill(0);
            // |Σ| ≤ 128·k: no overflow below k = 2^24 (the wrapping add keeps larger k exact
            // modulo 2^32 like the accumulator).
            let sum = |r: usize, v: u8| row_sum[r] = row_sum[r].wrapping_add(v as i8 as i32);
            pack_panels::<4, u8>(a, i0, rows, mr, kg, buf.bytes_mut(), move |b: u8| b ^ flip, sum);
        }
    }
}

/// Writes rows `i0 .. i0 + rows` of `a` into panels of `mr` rows: panel `ip` holds, per depth
/// group `q`, `mr` runs of `G` converted values (`dst[(ip·kg + q)·mr·G + r·G + t]` is row
/// `ip·mr + r`, depth `q·G + t`); depth past `k` is zero. `seen(r, v)` sees every stored value
/// of row `r` (row sums).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn pack_panels<const G: usize, T: Copy + Default>(
    a: &QMat,
    i0: usize,
    rows: usize,
    mr: usize,
    kg: usize,
    dst: &mut [T],
    conv: impl Fn(u8) -> T,
    mut seen: impl FnMut(usize, T),
) {
    let k = a.cols;
    let panel_len = kg * mr * G;
    if panel_len == 0 {
        return; // k = 0: nothing to pack (row sums stay 0)
    }
    for (ip, panel) in dst.chunks_exact_mut(panel_len).take(rows.div_ceil(mr)).enumerate() {
        let r0 = ip * mr;
        let pr = mr.min(rows - r0);
        if a.rs == 1 {
            // Columns contiguous (a conv's [channels, positions] plane read as positions x
            // depth): per depth value, `pr` consecutive bytes.
            for (q, group) in panel.chunks_exact_mut(mr * G).enumerate() {
                for t in 0..G {
                    let p = q * G + t;
                    if p < k {
                        let src = &a.data[p * a.cs + i0 + r0..][..pr];
                        for (r, &byte) in src.iter().enumerate() {
                            let v = conv(byte);
                            group[r * G + t] = v;
                            seen(r0 + r, v);
                        }
                    } else {
                        for r in 0..pr {
                            group[r * G + t] = T::default();
                        }
                    }
                }
            }
        } else {
            for r in 0..pr {
                let base = (i0 + r0 + r) * a.rs;
                for (q, group) in panel.chunks_exact_mut(mr * G).enumerate() {
                    let d = &mut group[r * G..r * G + G];
                    for (t, slot) in d.iter_mut().enumerate() {
                        let p = q * G + t;
                        *slot = if p < k { conv(a.data[base + p * a.cs]) } else { T::default() };
                        if p < k {
                            seen(r0 + r, *slot);
                        }
                    }
                }
            }
        }
    }
}

/// The blocked loops. Sizes were checked by [`qgemm_using`].
fn run_blocked(kern: &QGemmKernel, a: &QMat, a_zp: i32, pb: &PackedQWeights, bias: Option<&[i32]>, out: &mut QOut) -> Result<()> {
    let (m, n, k) = (a.rows, pb.n, pb.k);
    let (mr, nr) = (kern.mr, kern.nr);
    let layout = kern.layout;
    let kg = k.div_ceil(layout.group());
    let n_panels = n.div_ceil(nr);
    let mc = (MC / mr).max(1) * mr;
    let block_rows = mc.min(m.div_ceil(mr) * mr);
    let mut a_buf = Panels::zeroed(block_rows * kg * A_BYTES)?;
    let mut row_sum = vec![0i32; block_rows];
    let col_add = column_terms(pb, a, a_zp, bias);
    let relaxed = layout == QLayout::I8I7C4;
    let mult: Vec<f64> = match out {
        QOut::Q8 { requant, .. } => (0..n_panels * nr)
            .map(|j| if requant.multiplier.len() == 1 { requant.multiplier[0] } else { requant.multiplier.get(j).copied().unwrap_or(0.0) })
            .collect(),
        QOut::I32 { .. } => Vec::new(),
    };
    let b_panel = kg * nr * layout.b_bytes();
    let mut edge = [0u32; MAX_MR * MAX_NR];
    for i0 in (0..m).step_by(mc) {
        let rows_blk = mc.min(m - i0);
        pack_a(layout, a, a_zp, i0, rows_blk, mr, kg, &mut a_buf, &mut row_sum);
        for jp in 0..n_panels {
            let j0 = jp * nr;
            let cols = nr.min(n - j0);
            let bp = &pb.data.bytes()[jp * b_panel..(jp + 1) * b_panel];
            for ip in 0..rows_blk.div_ceil(mr) {
                let rows = mr.min(rows_blk - ip * mr);
                let ap = &a_buf.bytes()[ip * kg * mr * A_BYTES..(ip + 1) * kg * mr * A_BYTES];
                let (i, full) = (i0 + ip * mr, rows == mr && cols == nr);
                let args = |o| QTileArgs {
                    col_add: &col_add[j0..j0 + nr],
                    row_sum: if relaxed { Some(&row_sum[ip * mr..ip * mr + mr]) } else { None },
                    col_scale: if relaxed { Some(&pb.col_shift[j0..j0 + nr]) } else { None },
                    out: o,
                };
                match out {
                    QOut::I32 { c, rs, cs } => {
                        let t = args(TileOut::I32);
                        if full && *cs == 1 && *rs >= n {
                            let c = &mut c[i * *rs + j0..];
                            // SAFETY: panels hold kg groups for mr rows / nr columns; C has mr rows
                            // of nr elements from here at stride rs (check_strided: (m-1)*rs + n-1
                            // < len, i + mr <= m, j0 + nr <= n), rows disjoint since rs >= n.
                            unsafe { (kern.ukernel)(kg, ap.as_ptr(), bp.as_ptr(), c.as_mut_ptr() as *mut u8, *rs, &t) }
                        } else {
                            // SAFETY: the tile holds mr x nr i32 at stride nr (mr <= MAX_MR, nr <= MAX_NR).
                            unsafe { (kern.ukernel)(kg, ap.as_ptr(), bp.as_ptr(), edge.as_mut_ptr() as *mut u8, nr, &t) }
                            scatter(&edge[..mr * nr], nr, rows, cols, c, i * *rs + j0 * *cs, *rs, *cs, |v| v as i32);
                        }
                    }
                    QOut::Q8 { c, signed, rs, cs, requant } => {
                        let t = args(TileOut::Q8 {
                            multiplier: &mult[j0..j0 + nr],
                            zero_point: requant.zero_point,
                            min: requant.min,
                            max: requant.max,
                            signed: *signed,
                        });
                        if full && *cs == 1 && *rs >= n {
                            let c = &mut c[i * *rs + j0..];
                            // SAFETY: as for I32, in bytes.
                            unsafe { (kern.ukernel)(kg, ap.as_ptr(), bp.as_ptr(), c.as_mut_ptr(), *rs, &t) }
                        } else {
                            let tile = edge.as_mut_ptr() as *mut u8;
                            // SAFETY: the tile holds mr x nr bytes at stride nr.
                            unsafe { (kern.ukernel)(kg, ap.as_ptr(), bp.as_ptr(), tile, nr, &t) }
                            // SAFETY: reading back the bytes just written, inside `edge`.
                            let bytes = unsafe { std::slice::from_raw_parts(tile as *const u8, mr * nr) };
                            scatter(bytes, nr, rows, cols, c, i * *rs + j0 * *cs, *rs, *cs, |v| v);
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Copies the leading `rows x cols` of a tile (row stride `ld`) to `c[at + r·rs + j·cs]`, by
/// runs along whichever output stride is 1. Indices were checked by [`check_strided`].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn scatter<S: Copy, D>(tile: &[S], ld: usize, rows: usize, cols: usize, c: &mut [D], at: usize, rs: usize, cs: usize, f: impl Fn(S) -> D) {
    if rs == 1 {
        // Transposed output (channels x positions): each column of the tile is a run.
        for j in 0..cols {
            let dst = &mut c[at + j * cs..at + j * cs + rows];
            for (r, d) in dst.iter_mut().enumerate() {
                *d = f(tile[r * ld + j]);
            }
        }
    } else if cs == 1 {
        for r in 0..rows {
            let dst = &mut c[at + r * rs..at + r * rs + cols];
            for (d, &v) in dst.iter_mut().zip(&tile[r * ld..r * ld + cols]) {
                *d = f(v);
            }
        }
    } else {
        for r in 0..rows {
            for j in 0..cols {
                c[at + r * rs + j * cs] = f(tile[r * ld + j]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_matches_the_oracle() {
        let cases = crate::kernels::selftest::qgemm_selftest().unwrap();
        assert!(cases > 1000, "{cases}");
    }

    #[test]
    fn relaxed_packing_falls_back_when_a_column_spans_256_levels() {
        // Column 0 holds -128 and 127.
        let w: Vec<i8> = vec![-128, 0, 127, 5];
        let b = QMat::i8(&w, 2, 2).unwrap();
        assert_eq!(PackedQWeights::pack_for(b, &[0], QLayout::I8I7C4).unwrap().layout(), QLayout::I16C2);
        let w: Vec<i8> = vec![-127, 127, 0, 5];
        let b = QMat::i8(&w, 2, 2).unwrap();
        assert_eq!(PackedQWeights::pack_for(b, &[0], QLayout::I8I7C4).unwrap().layout(), QLayout::I8I7C4);
    }

    #[test]
    fn errors_name_the_problem() {
        let a = [1u8; 6];
        let w = [1i8; 12];
        let am = QMat::u8(&a, 2, 3).unwrap();
        let bm = QMat::i8(&w, 3, 4).unwrap();
        let mut c = vec![0i32; 8];
        let rhs = QRhs::Mat { b: bm, zero_point: &[0] };
        assert!(qgemm(am, 0, rhs, None, QOut::I32 { c: &mut c, rs: 4, cs: 1 }).is_ok());
        assert_eq!(c, vec![3; 8]);
        assert!(qgemm(am, 0, rhs, None, QOut::I32 { c: &mut c[..7], rs: 4, cs: 1 }).is_err());
        assert!(qgemm(am, 256, rhs, None, QOut::I32 { c: &mut c, rs: 4, cs: 1 }).is_err());
        assert!(qgemm(am, 0, rhs, Some(&[1, 2]), QOut::I32 { c: &mut c, rs: 4, cs: 1 }).is_err());
        let bad = QRhs::Mat { b: bm, zero_point: &[0, 0] };
        assert!(qgemm(am, 0, bad, None, QOut::I32 { c: &mut c, rs: 4, cs: 1 }).is_err());
        let mut q = vec![0u8; 8];
        let rq = Requant { multiplier: &[1.0], zero_point: 0, min: -1, max: 255 };
        assert!(qgemm(am, 0, rhs, None, QOut::Q8 { c: &mut q, signed: false, rs: 4, cs: 1, requant: rq }).is_err());
        let bt = QMat::i8(&w, 4, 3).unwrap();
        assert!(qgemm(am, 0, QRhs::Mat { b: bt, zero_point: &[0] }, None, QOut::I32 { c: &mut c, rs: 4, cs: 1 }).is_err());
        assert!(QMat::u8(&a, 3, 3).is_err());
    }
}
