//! Integer (int8) matrix multiply with a fused requantizing epilogue:
//!
//! ```text
//! acc[i][j] = bias + Σ_k (A[i][k] − a_zp) · (B[k][j] − b_zp)                (wrapping i32)
//! C[i][j]   = acc                                                         (i32 output), or
//! C[i][j]   = clamp(round_half_even(acc · M) + y_zp, min, max)            (u8 / i8 output)
//! ```
//!
//! One operand is the weights (uint8 or int8, one zero point per output channel or per
//! tensor), packed once into [`PackedQWeights`] when they are constant; the other is the
//! activations (uint8 or int8, one zero point), packed per call. The weights sit on either side:
//!
//! - [`qgemm`] (`C = X x W`, weights on the right, `k x n`): MatMul. Bias, weight zero points
//!   and multipliers are per column; output row-major.
//! - [`qgemm_left`] (`C = W x X`, weights on the left, `m x k`): convolutions, whose weights
//!   `[M, C·kH·kW]` times the unfolded input `[C·kH·kW, positions]` is the NCHW output itself.
//!   Bias, zero points and multipliers are per row. The activations are packed one panel of 8
//!   positions at a time (two input rows interleaved per depth pair, which vectorizes), and the
//!   rows of output channels are stored straight into the output.
//!
//! `M` (the multiplier, f32) is per channel or per tensor; `acc · M` is formed in f32, exactly as
//! [`crate::quant_math::requantize_clamped`] defines it (docs/quantization.md §8), so every kernel
//! matches the scalar oracle [`crate::reference::gemm_q8_ref`] bit for bit. A narrower
//! `[min, max]` is a fused ReLU / Clip.
//!
//! Packing decides the micro-kernel family ([`QLayout`]):
//!
//! - [`QLayout::I16C2`]: both operands minus their zero points, widened to i16 and interleaved in
//!   depth pairs, for `i32x4.dot_i16x8_s`. The zero points are gone after packing, so no
//!   correction terms are needed; `(±255)·(±255)·2` fits an i32 lane of the dot product.
//! - [`QLayout::I8I7C4`] (right-side weights only): for relaxed SIMD's int8 dot product, whose
//!   second operand is only defined on `[0, 127]`. A becomes signed i8 (`a ^ 0x80 = a − 128` for
//!   uint8); each column of B is shifted by its minimum, `v = w − min_k w ∈ [0, 254]`, and split
//!   into two 7-bit parts `lo = min(v, 127)`, `hi = v − lo`, so 16 products take two dot products
//!   and no widening. What the shifts remove comes back through the row sums of A (per call) and
//!   the column sums of `v` (at packing): with `s = a − a_off`, `d_a = a_off − a_zp` and
//!   `d_b[j] = min_k w − b_zp[j]`,
//!   `Σ (a − a_zp)(w − b_zp) = Σ s·v + d_b[j]·Σ s + d_a·Σ v + K·d_a·d_b[j]`, exact in wrapping
//!   i32. A column whose values span all 256 levels cannot be split (two 7-bit parts reach 254
//!   only); such weights are packed as [`QLayout::I16C2`] instead (symmetric weights, docs §3,
//!   never span more than 255 levels).
//!
//! The blocked loops follow [`super::sgemm`]: the whole depth per tile (no k blocking: a panel of
//! `k x 8` i16 is `16 k` bytes, in L1 up to k ≈ 2000 and streamed from L2 beyond); rows of the
//! per-call operand in blocks of [`MC`] (right) or one column panel at a time (left); edge tiles
//! and strided outputs go through a temporary tile. Outputs are strided views.
mod pack;

use crate::error::{Error, Result};
use pack::{pack_cols_i16, pack_rows, Panels, A_BYTES};
pub use pack::{PackedQWeights, Side};
pub use crate::ukernel::{QGemmKernel, QGemmKernels, QGemmUkernel, QLayout, QTileArgs, Requant, TileOut};

/// Rows of an m block of the per-call left operand (the packed block, `MC x k` pairs of i16,
/// stays in L2). A multiple of every MR.
pub const MC: usize = 96;
/// Largest MR / NR of any kernel (sizes the temporary edge tile).
pub const MAX_MR: usize = 8;
pub const MAX_NR: usize = 16;
/// The larger of the two.
const MAX_TILE: usize = 16;

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

fn check_zero_point(zp: i32, m: &QMat, what: &str) -> Result<()> {
    let (lo, hi) = m.range();
    if zp < lo || zp > hi {
        return Err(Error::invalid(format!("{what} {zp} is outside the operand type's range [{lo}, {hi}]")));
    }
    Ok(())
}

/// Right-side weights: prepacked, or a view with its zero points (1 or `n` values), packed per
/// call.
#[derive(Clone, Copy, Debug)]
pub enum QRhs<'a> {
    Packed(&'a PackedQWeights),
    Mat { b: QMat<'a>, zero_point: &'a [i32] },
}

/// Left-side weights: prepacked, or a view with its zero points (1 or `m` values), packed per
/// call.
#[derive(Clone, Copy, Debug)]
pub enum QLhs<'a> {
    Packed(&'a PackedQWeights),
    Mat { w: QMat<'a>, zero_point: &'a [i32] },
}

/// Where the product goes: element `(i, j)` at `c[i * rs + j * cs]`.
#[derive(Debug)]
pub enum QOut<'a> {
    I32 { c: &'a mut [i32], rs: usize, cs: usize },
    /// uint8 (or int8 when `signed`) bytes.
    Q8 { c: &'a mut [u8], signed: bool, rs: usize, cs: usize, requant: Requant<&'a [f32]> },
}

impl QOut<'_> {
    /// Checks the output for an `m x n` product whose channels (`channels` of them) carry the
    /// multipliers.
    fn check(&self, m: usize, n: usize, channels: usize) -> Result<()> {
        match self {
            QOut::I32 { c, rs, cs } => check_strided(c.len(), m, n, *rs, *cs, "output"),
            QOut::Q8 { c, signed, rs, cs, requant } => {
                check_strided(c.len(), m, n, *rs, *cs, "output")?;
                let (lo, hi) = if *signed { (-128, 127) } else { (0, 255) };
                if requant.lo > requant.hi || requant.lo < lo || requant.hi > hi {
                    return Err(Error::invalid(format!(
                        "requantization range [{}, {}] is not inside the output type's [{lo}, {hi}]",
                        requant.lo, requant.hi
                    )));
                }
                if requant.multiplier.len() != 1 && requant.multiplier.len() != channels {
                    return Err(Error::shape(format!(
                        "{} requantization multipliers; expected 1 or one per channel ({channels})",
                        requant.multiplier.len()
                    )));
                }
                Ok(())
            }
        }
    }

    /// The multipliers of `count` channels from `from`, padded to `tile` (per-tensor broadcast),
    /// made finite for the kernels: NaN becomes 0 and ±∞ becomes ±2^40. Neither changes a result
    /// of [`crate::quant_math::requantize_clamped`]: a NaN product rounds to 0 like `0 · acc`
    /// does, and `±∞ · acc` saturates like `±2^40 · acc` for every nonzero i32 `acc` (beyond any
    /// 8-bit bound), while `0 · ±∞` is NaN, i.e. 0, like `0 · 2^40`.
    fn multipliers(&self, from: usize, count: usize, tile: usize, buf: &mut [f32; MAX_TILE]) {
        if let QOut::Q8 { requant, .. } = self {
            let m = requant.multiplier;
            for (t, slot) in buf[..tile].iter_mut().enumerate() {
                let v = if m.len() == 1 { m[0] } else if t < count { m[from + t] } else { 0.0 };
                *slot = if v.is_nan() {
                    0.0
                } else if v.is_infinite() {
                    v.signum() * (1u64 << 40) as f32
                } else {
                    v
                };
            }
        }
    }
}

/// Checks a bias against its channel count.
fn check_bias(bias: Option<&[i32]>, channels: usize) -> Result<()> {
    match bias {
        Some(v) if v.len() != channels => Err(Error::shape(format!("bias has {} values, expected {channels}", v.len()))),
        _ => Ok(()),
    }
}

/// `C = X x W` (weights on the right; see the module overview) on `kernels` (chosen once by
/// `select::qgemm`, or `select::qgemm_for` the layout of prepacked weights; kept by the op):
/// `kernels.row` for a single row of `a`, `kernels.main` otherwise. `a` is `m x k` with zero
/// point `a_zp`; `b` prepacked for `kernels` or packed here for their layout; `bias` and the
/// multipliers are per column (`n` values) or, for the multipliers, one. Checks every size first;
/// never panics.
pub fn qgemm(kernels: &QGemmKernels, a: QMat, a_zp: i32, b: QRhs, bias: Option<&[i32]>, mut out: QOut) -> Result<()> {
    let (m, k) = (a.rows, a.cols);
    let (k2, n) = match b {
        QRhs::Packed(p) if p.side == Side::Right => (p.k, p.count),
        QRhs::Packed(_) => return Err(Error::invalid("qgemm needs weights packed for the right-hand side")),
        QRhs::Mat { b, .. } => (b.rows, b.cols),
    };
    if k != k2 {
        return Err(Error::shape(format!("matrix product of {m} x {k} and {k2} x {n}: inner dims differ")));
    }
    check_zero_point(a_zp, &a, "a_zero_point")?;
    check_bias(bias, n)?;
    out.check(m, n, n)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    let packed_owned;
    let pb = match b {
        QRhs::Packed(p) => p,
        QRhs::Mat { b, zero_point } => {
            packed_owned = PackedQWeights::pack(b, zero_point, kernels)?;
            &packed_owned
        }
    };
    let kern = kernels.for_rows(m);
    if kern.layout != pb.layout || kern.nr != pb.tile {
        return Err(Error::invalid(format!(
            "weights packed as {:?} with {} columns per panel do not suit {}",
            pb.layout, pb.tile, kern.name
        )));
    }
    run_right(kern, &a, a_zp, pb, bias, &mut out)
}

/// `C = W x X` (weights on the left; see the module overview) on `kernel` (chosen once by
/// `select::qgemm_left`, [`QLayout::I16C2`] only; kept by the op). `w` prepacked for `kernel`
/// or packed here; `x` is `k x n` with zero point `x_zp`; `bias` and the multipliers are per
/// row (`m` values) or, for the multipliers, one. Checks every size first; never panics.
pub fn qgemm_left(kernel: &QGemmKernel, w: QLhs, x: QMat, x_zp: i32, bias: Option<&[i32]>, mut out: QOut) -> Result<()> {
    let (k2, n) = (x.rows, x.cols);
    let (m, k) = match w {
        QLhs::Packed(p) if p.side == Side::Left => (p.count, p.k),
        QLhs::Packed(_) => return Err(Error::invalid("qgemm_left needs weights packed for the left-hand side")),
        QLhs::Mat { w, .. } => (w.rows, w.cols),
    };
    if k != k2 {
        return Err(Error::shape(format!("matrix product of {m} x {k} and {k2} x {n}: inner dims differ")));
    }
    check_zero_point(x_zp, &x, "x_zero_point")?;
    check_bias(bias, m)?;
    out.check(m, n, m)?;
    if kernel.layout != QLayout::I16C2 {
        return Err(Error::invalid(format!("{} cannot take weights on the left (its layout splits the right operand)", kernel.name)));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    let packed_owned;
    let pw = match w {
        QLhs::Packed(p) => p,
        QLhs::Mat { w, zero_point } => {
            packed_owned = PackedQWeights::pack_left(w, zero_point, kernel)?;
            &packed_owned
        }
    };
    if kernel.mr != pw.tile {
        return Err(Error::invalid(format!("weights packed with {} rows per panel do not suit {}", pw.tile, kernel.name)));
    }
    run_left(kernel, pw, &x, x_zp, bias, &mut out)
}

/// The per-call column terms of right-side weights: `col_add[j] = bias[j] (+ d_a·Σv[j] +
/// K·d_a·d_b[j])`, padded.
fn column_terms(pb: &PackedQWeights, a: &QMat, a_zp: i32, bias: Option<&[i32]>) -> Vec<i32> {
    let mut col_add = vec![0i32; pb.count.div_ceil(pb.tile) * pb.tile];
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

/// One tile to compute and store.
struct Tile<'a> {
    a: &'a [u8],
    b: &'a [u8],
    kg: usize,
    /// Top-left element and valid extent.
    i: usize,
    j: usize,
    rows: usize,
    cols: usize,
    /// Total columns (direct stores need rows that do not overlap).
    n: usize,
}

/// Runs the micro-kernel on `t` and stores the tile: straight into C when it is full and C's
/// rows are contiguous, else through `edge` and [`scatter`]. `args.out` is replaced by the
/// output's own form.
fn store_tile(kern: &QGemmKernel, t: &Tile, args: QTileArgs, mult: &[f32], per_row: bool, out: &mut QOut, edge: &mut [u32; MAX_MR * MAX_NR]) {
    let (mr, nr) = (kern.mr, kern.nr);
    let full = t.rows == mr && t.cols == nr;
    match out {
        QOut::I32 { c, rs, cs } => {
            let args = QTileArgs { out: TileOut::I32, ..args };
            if full && *cs == 1 && *rs >= t.n {
                let c = &mut c[t.i * *rs + t.j..];
                // SAFETY: the panels hold kg groups for mr rows / nr columns; C has mr rows of
                // nr elements from here at stride rs (check_strided: (m-1)*rs + n-1 < len,
                // i + mr <= m, j + nr <= n), rows disjoint since rs >= n.
                unsafe { (kern.ukernel)(t.kg, t.a.as_ptr(), t.b.as_ptr(), c.as_mut_ptr() as *mut u8, *rs, &args) }
            } else {
                // SAFETY: the tile holds mr x nr i32 at stride nr (mr <= MAX_MR, nr <= MAX_NR).
                unsafe { (kern.ukernel)(t.kg, t.a.as_ptr(), t.b.as_ptr(), edge.as_mut_ptr() as *mut u8, nr, &args) }
                scatter(&edge[..mr * nr], nr, t.rows, t.cols, c, t.i * *rs + t.j * *cs, *rs, *cs, |v| v as i32);
            }
        }
        QOut::Q8 { c, signed, rs, cs, requant } => {
            let o = TileOut::Q8 { rq: Requant { multiplier: mult, ..*requant }, per_row, signed: *signed };
            let args = QTileArgs { out: o, ..args };
            if full && *cs == 1 && *rs >= t.n {
                let c = &mut c[t.i * *rs + t.j..];
                // SAFETY: as for I32, in bytes.
                unsafe { (kern.ukernel)(t.kg, t.a.as_ptr(), t.b.as_ptr(), c.as_mut_ptr(), *rs, &args) }
            } else {
                let tile = edge.as_mut_ptr() as *mut u8;
                // SAFETY: the tile holds mr x nr bytes at stride nr.
                unsafe { (kern.ukernel)(t.kg, t.a.as_ptr(), t.b.as_ptr(), tile, nr, &args) }
                // SAFETY: reading back the bytes just written, inside `edge`.
                let bytes = unsafe { std::slice::from_raw_parts(tile as *const u8, mr * nr) };
                scatter(bytes, nr, t.rows, t.cols, c, t.i * *rs + t.j * *cs, *rs, *cs, |v| v);
            }
        }
    }
}

/// The blocked loops with weights on the right. Sizes were checked by [`qgemm`].
fn run_right(kern: &QGemmKernel, a: &QMat, a_zp: i32, pb: &PackedQWeights, bias: Option<&[i32]>, out: &mut QOut) -> Result<()> {
    let (m, n, k) = (a.rows, pb.count, pb.k);
    let (mr, nr) = (kern.mr, kern.nr);
    let layout = kern.layout;
    let kg = k.div_ceil(layout.group());
    let mc = (MC / mr).max(1) * mr;
    let block_rows = mc.min(m.div_ceil(mr) * mr);
    let mut a_buf = Panels::zeroed(block_rows * kg * A_BYTES)?;
    let mut row_sum = vec![0i32; block_rows];
    let col_add = column_terms(pb, a, a_zp, bias);
    let zeros = [0i32; MAX_MR];
    let relaxed = layout == QLayout::I8I7C4;
    let b_panel = kg * nr * layout.b_bytes();
    let mut edge = [0u32; MAX_MR * MAX_NR];
    let mut mult = [0f32; MAX_TILE];
    for i0 in (0..m).step_by(mc) {
        let rows_blk = mc.min(m - i0);
        pack_rows(layout, a, &[a_zp], i0, rows_blk, mr, kg, &mut a_buf, &mut row_sum);
        let a_panel = kg * mr * A_BYTES;
        for jp in 0..n.div_ceil(nr) {
            let (j0, bp) = (jp * nr, &pb.data.bytes()[jp * b_panel..(jp + 1) * b_panel]);
            out.multipliers(j0, nr.min(n - j0), nr, &mut mult);
            for ip in 0..rows_blk.div_ceil(mr) {
                let ap = &a_buf.bytes()[ip * a_panel..(ip + 1) * a_panel];
                let t = Tile { a: ap, b: bp, kg, i: i0 + ip * mr, j: j0, rows: mr.min(rows_blk - ip * mr), cols: nr.min(n - j0), n };
                let args = QTileArgs {
                    row_add: &zeros[..mr],
                    col_add: &col_add[j0..j0 + nr],
                    row_sum: if relaxed { Some(&row_sum[ip * mr..ip * mr + mr]) } else { None },
                    col_scale: if relaxed { Some(&pb.col_shift[j0..j0 + nr]) } else { None },
                    out: TileOut::I32,
                };
                store_tile(kern, &t, args, &mult[..nr], false, out, &mut edge);
            }
        }
    }
    Ok(())
}

/// The loops with weights on the left: one column panel of `x` packed at a time (it stays in
/// L1), run against every row panel of the weights. Sizes were checked by
/// [`qgemm_left`].
fn run_left(kern: &QGemmKernel, pw: &PackedQWeights, x: &QMat, x_zp: i32, bias: Option<&[i32]>, out: &mut QOut) -> Result<()> {
    let (m, n, k) = (pw.count, x.cols, pw.k);
    let (mr, nr) = (kern.mr, kern.nr);
    let kg = k.div_ceil(2);
    let mut x_buf = Panels::zeroed(kg * nr * 4)?;
    let m_pad = m.div_ceil(mr) * mr;
    let mut row_add = vec![0i32; m_pad];
    if let Some(b) = bias {
        row_add[..m].copy_from_slice(b);
    }
    let mut mults = vec![[0f32; MAX_TILE]; m.div_ceil(mr)];
    for (ip, slot) in mults.iter_mut().enumerate() {
        out.multipliers(ip * mr, mr.min(m - ip * mr), mr, slot);
    }
    let zeros = [0i32; MAX_NR];
    let mut edge = [0u32; MAX_MR * MAX_NR];
    let a_panel = kg * mr * A_BYTES;
    for j0 in (0..n).step_by(nr) {
        let cols = nr.min(n - j0);
        pack_cols_i16(x, &[x_zp], j0, cols, nr, kg, x_buf.i16s_mut());
        for ip in 0..m.div_ceil(mr) {
            let ap = &pw.data.bytes()[ip * a_panel..(ip + 1) * a_panel];
            let t = Tile { a: ap, b: x_buf.bytes(), kg, i: ip * mr, j: j0, rows: mr.min(m - ip * mr), cols, n };
            let args = QTileArgs { row_add: &row_add[ip * mr..ip * mr + mr], col_add: &zeros[..nr], row_sum: None, col_scale: None, out: TileOut::I32 };
            store_tile(kern, &t, args, &mults[ip][..mr], true, out, &mut edge);
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
        // Transposed output: each column of the tile is a run.
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
        let cases = crate::selftest::qgemm_selftest().unwrap();
        assert!(cases > 1000, "{cases}");
    }

    #[test]
    fn relaxed_packing_falls_back_when_a_column_spans_256_levels() {
        // Column 0 holds -128 and 127.
        let w: Vec<i8> = vec![-128, 0, 127, 5];
        let b = QMat::i8(&w, 2, 2).unwrap();
        assert_eq!(PackedQWeights::pack(b, &[0], &crate::select::qgemm_for(QLayout::I8I7C4)).unwrap().layout(), QLayout::I16C2);
        let w: Vec<i8> = vec![-127, 127, 0, 5];
        let b = QMat::i8(&w, 2, 2).unwrap();
        assert_eq!(PackedQWeights::pack(b, &[0], &crate::select::qgemm_for(QLayout::I8I7C4)).unwrap().layout(), QLayout::I8I7C4);
    }

    #[test]
    fn errors_name_the_problem() {
        let k = crate::select::qgemm();
        let a = [1u8; 6];
        let w = [1i8; 12];
        let am = QMat::u8(&a, 2, 3).unwrap();
        let bm = QMat::i8(&w, 3, 4).unwrap();
        let mut c = vec![0i32; 8];
        let rhs = QRhs::Mat { b: bm, zero_point: &[0] };
        assert!(qgemm(&k, am, 0, rhs, None, QOut::I32 { c: &mut c, rs: 4, cs: 1 }).is_ok());
        assert_eq!(c, vec![3; 8]);
        assert!(qgemm(&k, am, 0, rhs, None, QOut::I32 { c: &mut c[..7], rs: 4, cs: 1 }).is_err());
        assert!(qgemm(&k, am, 256, rhs, None, QOut::I32 { c: &mut c, rs: 4, cs: 1 }).is_err());
        assert!(qgemm(&k, am, 0, rhs, Some(&[1, 2]), QOut::I32 { c: &mut c, rs: 4, cs: 1 }).is_err());
        let bad = QRhs::Mat { b: bm, zero_point: &[0, 0] };
        assert!(qgemm(&k, am, 0, bad, None, QOut::I32 { c: &mut c, rs: 4, cs: 1 }).is_err());
        let mut q = vec![0u8; 8];
        let rq = Requant { multiplier: &[1.0f32][..], zero_point: 0, lo: -1, hi: 255 };
        assert!(qgemm(&k, am, 0, rhs, None, QOut::Q8 { c: &mut q, signed: false, rs: 4, cs: 1, requant: rq }).is_err());
        let bt = QMat::i8(&w, 4, 3).unwrap();
        assert!(qgemm(&k, am, 0, QRhs::Mat { b: bt, zero_point: &[0] }, None, QOut::I32 { c: &mut c, rs: 4, cs: 1 }).is_err());
        assert!(QMat::u8(&a, 3, 3).is_err());
    }
}
