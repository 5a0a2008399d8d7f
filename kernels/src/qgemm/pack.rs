//! Packing for the int8 GEMM: panels of `mr` rows (the splatted operand) or `nr` columns (the
//! loaded one) in the layouts of [`QLayout`], the prepacked weights [`PackedQWeights`], and the
//! per-call packing of activations. See the parent module for the layouts' arithmetic.
use super::{check_zero_point, QGemmKernel, QGemmKernels, QLayout, QMat};
use crate::error::{Error, Result};

/// Bytes of one row of a row panel per depth group (both layouts).
pub(super) const A_BYTES: usize = 4;

/// A zeroed byte buffer aligned for i16 views (packed panels).
#[derive(Clone, Debug, Default)]
pub(super) struct Panels {
    words: Vec<u32>,
    len: usize,
}

impl Panels {
    pub(super) fn zeroed(len: usize) -> Result<Panels> {
        crate::error::check_buffer(len, 1, "8-bit packing")?;
        Ok(Panels { words: vec![0; len.div_ceil(4)], len })
    }
    pub(super) fn bytes(&self) -> &[u8] {
        // SAFETY: `words` holds at least `len` initialised bytes; u8 has alignment 1.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr() as *const u8, self.len) }
    }
    pub(super) fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr() as *mut u8, self.len) }
    }
    pub(super) fn i16s_mut(&mut self) -> &mut [i16] {
        // SAFETY: u32 storage is aligned for i16 and holds at least `len / 2` of them.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr() as *mut i16, self.len / 2) }
    }
}

/// Zero points: one for all, or one per row / column (`count`).
fn expand(v: &[i32], count: usize, what: &str) -> Result<Vec<i32>> {
    match v.len() {
        1 => Ok(vec![v[0]; count]),
        l if l == count => Ok(v.to_vec()),
        l => Err(Error::shape(format!("{what} has {l} values; expected 1 or {count}"))),
    }
}

/// Which operand of the product the packed weights are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `C = W x X`: weights `m x k` in panels of `mr` rows (convolutions: rows are channels).
    Left,
    /// `C = X x W`: weights `k x n` in panels of `nr` columns (MatMul: columns are channels).
    Right,
}

/// Weights packed once (at plan build time for constant weights) for one side and layout, with
/// the per-column terms the layout needs.
#[derive(Clone, Debug)]
pub struct PackedQWeights {
    pub(super) side: Side,
    pub(super) layout: QLayout,
    pub(super) k: usize,
    /// Rows (left) or columns (right) of weights.
    pub(super) count: usize,
    /// `mr` (left) or `nr` (right).
    pub(super) tile: usize,
    pub(super) data: Panels,
    /// Right, [`QLayout::I8I7C4`]: `Σ_k v[k][j]`, padded to whole panels with 0.
    pub(super) col_sum: Vec<i32>,
    /// Right, [`QLayout::I8I7C4`]: `d_b[j] = min_k w[k][j] − b_zp[j]`, padded with 0.
    pub(super) col_shift: Vec<i32>,
}

impl PackedQWeights {
    /// Right-side weights `b` (`k x n`) with zero points `zero_point` (1 value or `n`), for
    /// `kernels` (their layout and `nr`; chosen once by `select::qgemm`). A
    /// [`QLayout::I8I7C4`] packing falls back to [`QLayout::I16C2`] when a column spans all 256
    /// levels: then the product runs on `select::qgemm_for(packed.layout())`.
    pub fn pack(b: QMat, zero_point: &[i32], kernels: &QGemmKernels) -> Result<PackedQWeights> {
        let layout = kernels.layout();
        let (k, n) = (b.rows, b.cols);
        let zp = expand(zero_point, n, "b_zero_point")?;
        for &z in &zp {
            check_zero_point(z, &b, "b_zero_point")?;
        }
        let nr = kernels.main.nr;
        let n_pad = n.div_ceil(nr) * nr;
        let layout = match layout {
            QLayout::I8I7C4 if !fits_7bit_split(&b) => QLayout::I16C2,
            l => l,
        };
        let kg = k.div_ceil(layout.group());
        let len = n_pad
            .checked_mul(kg)
            .and_then(|v| v.checked_mul(layout.b_bytes()))
            .ok_or_else(|| Error::too_large(format!("packing a {k} x {n} matrix overflows")))?;
        let mut data = Panels::zeroed(len)?;
        let mut col_sum = vec![0i32; n_pad];
        let mut col_shift = vec![0i32; n_pad];
        match layout {
            QLayout::I16C2 => pack_cols_i16(&b, &zp, 0, n, nr, kg, data.i16s_mut()),
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
        Ok(PackedQWeights { side: Side::Right, layout, k, count: n, tile: nr, data, col_sum, col_shift })
    }

    /// Left-side weights `w` (`m x k`, rows are output channels) with zero points `zero_point`
    /// (1 value or `m`) for `kernel` (its `mr`; chosen once by `select::qgemm_left`), in the
    /// [`QLayout::I16C2`] layout (the relaxed layout splits the right-hand operand only).
    pub fn pack_left(w: QMat, zero_point: &[i32], kernel: &QGemmKernel) -> Result<PackedQWeights> {
        if kernel.layout != QLayout::I16C2 {
            return Err(Error::invalid(format!("{} cannot take weights on the left (its layout splits the right operand)", kernel.name)));
        }
        let (m, k) = (w.rows, w.cols);
        let zp = expand(zero_point, m, "w_zero_point")?;
        for &z in &zp {
            check_zero_point(z, &w, "w_zero_point")?;
        }
        let mr = kernel.mr;
        let kg = k.div_ceil(2);
        let len = m
            .div_ceil(mr)
            .checked_mul(mr * kg * A_BYTES)
            .ok_or_else(|| Error::too_large(format!("packing a {m} x {k} matrix overflows")))?;
        let mut data = Panels::zeroed(len)?;
        pack_rows(QLayout::I16C2, &w, &zp, 0, m, mr, kg, &mut data, &mut []);
        Ok(PackedQWeights { side: Side::Left, layout: QLayout::I16C2, k, count: m, tile: mr, data, col_sum: vec![], col_shift: vec![] })
    }

    /// The depth `k`.
    pub fn depth(&self) -> usize {
        self.k
    }
    /// Output channels: rows of left-side weights, columns of right-side ones.
    pub fn channels(&self) -> usize {
        self.count
    }
    pub fn side(&self) -> Side {
        self.side
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

/// Packs rows `i0 .. i0 + rows` of `a` into row panels of `mr` (`kg` depth groups each) in
/// `buf`: [`QLayout::I16C2`] values minus their row's zero point (`zp`: 1 or one per row of
/// `a`), or [`QLayout::I8I7C4`] signed values (`zp` unused: the column terms carry it) with
/// their row sums in `row_sum`. Padding depth is written as zero; padding rows of the last
/// panel keep stale values, which only reach discarded tile rows.
#[allow(clippy::too_many_arguments)]
pub(super) fn pack_rows(layout: QLayout, a: &QMat, zp: &[i32], i0: usize, rows: usize, mr: usize, kg: usize, buf: &mut Panels, row_sum: &mut [i32]) {
    match layout {
        QLayout::I16C2 => {
            // a − zp = (byte ^ flip) − (zp + bias): branch-free for both signednesses.
            let (flip, bias) = if a.signed { (0x80u8, 128) } else { (0, 0) };
            let zp_at = |r: usize| zp.get(if zp.len() == 1 { 0 } else { i0 + r }).copied().unwrap_or(0) + bias;
            if zp.len() == 1 {
                let off = zp_at(0);
                pack_row_panels::<2, i16>(a, i0, rows, mr, kg, buf.i16s_mut(), |_, byte| ((byte ^ flip) as i32 - off) as i16, |_, _| {});
            } else {
                pack_row_panels::<2, i16>(a, i0, rows, mr, kg, buf.i16s_mut(), |r, byte| ((byte ^ flip) as i32 - zp_at(r)) as i16, |_, _| {});
            }
        }
        QLayout::I8I7C4 => {
            // Signed: a − a_off with a_off = 128 for uint8 (the top bit flipped), 0 for int8.
            let flip = if a.signed { 0 } else { 0x80u8 };
            row_sum[..rows].fill(0);
            // |Σ| ≤ 128·k, and the wrapping add keeps any k exact modulo 2^32 like the
            // accumulator.
            let sum = |r: usize, v: u8| row_sum[r] = row_sum[r].wrapping_add(v as i8 as i32);
            pack_row_panels::<4, u8>(a, i0, rows, mr, kg, buf.bytes_mut(), move |_, b: u8| b ^ flip, sum);
        }
    }
}

/// Writes rows `i0 .. i0 + rows` of `a` into panels of `mr` rows: panel `ip` holds, per depth
/// group `q`, `mr` runs of `G` converted values (`dst[(ip·kg + q)·mr·G + r·G + t]` is row
/// `ip·mr + r`, depth `q·G + t`); depth past `k` is zero. `conv(r, byte)` converts a value of
/// row `r` (relative to `i0`); `seen(r, v)` sees every stored value (row sums).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn pack_row_panels<const G: usize, T: Copy + Default>(
    a: &QMat,
    i0: usize,
    rows: usize,
    mr: usize,
    kg: usize,
    dst: &mut [T],
    conv: impl Fn(usize, u8) -> T,
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
            // Columns contiguous: per depth value, `pr` consecutive bytes.
            for (q, group) in panel.chunks_exact_mut(mr * G).enumerate() {
                for t in 0..G {
                    let p = q * G + t;
                    if p < k {
                        let src = &a.data[p * a.cs + i0 + r0..][..pr];
                        for (r, &byte) in src.iter().enumerate() {
                            let v = conv(r0 + r, byte);
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
                    for (t, slot) in group[r * G..r * G + G].iter_mut().enumerate() {
                        let p = q * G + t;
                        *slot = if p < k { conv(r0 + r, a.data[base + p * a.cs]) } else { T::default() };
                        if p < k {
                            seen(r0 + r, *slot);
                        }
                    }
                }
            }
        }
    }
}

/// One depth pair of 8 columns: `d[2j + t] = (row_t[j] ^ flip) − off` (a byte shuffle and two
/// widenings in wasm SIMD128; the loop elsewhere).
#[inline(always)]
fn interleave_pair(r0: &[u8; 8], r1: &[u8; 8], flip: u8, off: i32, d: &mut [i16; 16]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        // off is a zero point plus 0 or 128: in [-128, 383], an i16.
        crate::wasm_simd128::interleave_pair_x8(r0, r1, flip, off as i16, d)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    for j in 0..8 {
        d[2 * j] = ((r0[j] ^ flip) as i32 - off) as i16;
        d[2 * j + 1] = ((r1[j] ^ flip) as i32 - off) as i16;
    }
}

/// Packs columns `j0 .. j0 + cols` of `b` (`k x n`) into [`QLayout::I16C2`] column panels of
/// `nr` (`dst[(jp·kg + q)·nr·2 + j·2 + t]` is column `jp·nr + j`, depth `2q + t`), each value
/// minus its column's zero point (`zp`: 1 or one per column of `b`). Padding columns and depth
/// are zero.
pub(super) fn pack_cols_i16(b: &QMat, zp: &[i32], j0: usize, cols: usize, nr: usize, kg: usize, dst: &mut [i16]) {
    let k = b.rows;
    let (flip, bias) = if b.signed { (0x80u8, 128) } else { (0, 0) };
    let zp_at = |j: usize| zp.get(if zp.len() == 1 { 0 } else { j0 + j }).copied().unwrap_or(0) + bias;
    let panel_len = kg * nr * 2;
    if panel_len == 0 {
        return;
    }
    for (jp, panel) in dst.chunks_exact_mut(panel_len).take(cols.div_ceil(nr)).enumerate() {
        let c0 = jp * nr;
        let pc = nr.min(cols - c0);
        if b.cs == 1 && pc == 8 && nr == 8 && zp.len() == 1 {
            // The per-call case (activations, row-major): two rows of 8 bytes interleaved into
            // 16 i16 per depth pair (one shuffle and two widenings in SIMD128).
            let off = zp_at(0);
            for (q, d) in panel.chunks_exact_mut(16).enumerate() {
                let p = 2 * q;
                let row = |p: usize| -> [u8; 8] {
                    let mut r = [0u8; 8];
                    if p < k {
                        r.copy_from_slice(&b.data[p * b.rs + j0 + c0..][..8]);
                    }
                    r
                };
                // p < k always (kg = ceil(k / 2)); p + 1 may be the padding.
                let Ok(d) = <&mut [i16; 16]>::try_from(d) else { continue };
                if p + 1 < k {
                    interleave_pair(&row(p), &row(p + 1), flip, off, d);
                } else {
                    let r0 = row(p);
                    for j in 0..8 {
                        d[2 * j] = ((r0[j] ^ flip) as i32 - off) as i16;
                        d[2 * j + 1] = 0;
                    }
                }
            }
        } else {
            for (q, group) in panel.chunks_exact_mut(nr * 2).enumerate() {
                group.fill(0);
                for t in 0..2 {
                    let p = 2 * q + t;
                    if p < k {
                        for j in 0..pc {
                            let byte = b.data[p * b.rs + (j0 + c0 + j) * b.cs];
                            group[2 * j + t] = ((byte ^ flip) as i32 - zp_at(c0 + j)) as i16;
                        }
                    }
                }
            }
        }
    }
}
