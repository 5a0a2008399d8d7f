//! f32 matrix multiply: `C = (accumulate ? C : 0) + A x B (+ bias)`, optionally clamped.
//!
//! The classic GotoBLAS / BLIS structure: both operands are packed into panels (A into panels of
//! `MR` rows, B into panels of `NR` columns, each panel k-major so the micro-kernel reads both
//! sequentially), then a register-tile micro-kernel computes one `MR x NR` tile of C per call.
//! Loops are blocked over k ([`KC`]) so a B micro-panel stays in L1, and over m ([`MC`]) so the
//! A block stays in L2. Leftover rows and columns are zero-padded in the panels and computed
//! into a temporary tile, so micro-kernels only ever see full tiles.
//!
//! Constant operands (conv and Gemm weights) are packed once, at plan build time, with
//! [`PackedA::pack`] / [`PackedB::pack`] and passed as [`Lhs::Packed`] / [`Rhs::Packed`].
//! Everything else is packed per call.
//!
//! The micro-kernels live in `scalar/` and `wasm_simd128/`; [`super::select`] picks them once
//! (a [`GemmKernels`], kept by the op with its packed weights) and every entry takes that choice.
//! Their contract is [`GemmF32Ukernel`].
use crate::error::{Error, Result};
pub use crate::ukernel::{clip, GemmF32Ukernel, GemmKernel, GemmKernels, TileArgs};

/// Depth of a k block: a B micro-panel (`KC x NR` floats, 16 KiB for NR = 8) and an A
/// micro-panel (`MR x KC`, 12 KiB for MR = 6) stay in a 32 KiB L1. Measured against 256
/// (`benchKernel` and MiniLM-L3's MatMuls, medians of `session.profile`): equal or up to 5%
/// faster on every shape of the kernel table, and 18% less MatMul time on MiniLM (12 rows,
/// depth 384: one k block instead of two, so C is written once and A packed once).
pub const KC: usize = 512;
/// Rows of an m block: the A block (`MC x KC` floats, 192 KiB) stays in L2. A multiple of every MR.
pub const MC: usize = 96;


/// Largest MR / NR of any kernel (sizes the temporary edge tile).
pub const MAX_MR: usize = 8;
pub const MAX_NR: usize = 16;

/// A read-only strided f32 matrix: element `(i, j)` is `data[i * rs + j * cs]`. Transposing is
/// free ([`MatRef::t`]), so Gemm's `transA` / `transB` never copy.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> MatRef<'a> {
    /// A strided view; errors if an element would lie outside `data`.
    pub fn new(data: &'a [f32], rows: usize, cols: usize, rs: usize, cs: usize) -> Result<MatRef<'a>> {
        if rows > 0 && cols > 0 {
            let last = (rows - 1)
                .checked_mul(rs)
                .and_then(|v| (cols - 1).checked_mul(cs).and_then(|w| v.checked_add(w)))
                .ok_or_else(|| Error::too_large(format!("a {rows} x {cols} matrix view overflows")))?;
            if last >= data.len() {
                return Err(Error::shape(format!(
                    "a {rows} x {cols} matrix with strides ({rs}, {cs}) needs {} elements, the buffer has {}",
                    last + 1,
                    data.len()
                )));
            }
        }
        Ok(MatRef { data, rows, cols, rs, cs })
    }
    /// A dense row-major `rows x cols` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Result<MatRef<'a>> {
        MatRef::new(data, rows, cols, cols, 1)
    }
    /// The transposed view.
    pub fn t(self) -> MatRef<'a> {
        MatRef { data: self.data, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }
    pub fn rows(&self) -> usize {
        self.rows
    }
    pub fn cols(&self) -> usize {
        self.cols
    }
    #[inline]
    fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.rs + j * self.cs]
    }
}

/// The left operand packed into panels of `mr` rows (k-major within a panel, rows past `m`
/// zero). Build once for a constant A.
#[derive(Clone, Debug)]
pub struct PackedA {
    m: usize,
    k: usize,
    mr: usize,
    data: Vec<f32>,
}

impl PackedA {
    /// Packs `a` (`m x k`) for the main kernel of `kernels` (chosen by `select::gemm_f32`).
    pub fn pack(a: MatRef, kernels: &GemmKernels) -> Result<PackedA> {
        Self::pack_for(a, kernels.main.mr)
    }
    fn pack_for(a: MatRef, mr: usize) -> Result<PackedA> {
        let (m, k) = (a.rows, a.cols);
        let len = m
            .div_ceil(mr)
            .checked_mul(mr)
            .and_then(|v| v.checked_mul(k))
            .ok_or_else(|| Error::too_large(format!("packing a {m} x {k} matrix overflows")))?;
        crate::error::check_buffer(len, 4, "f32 packing")?;
        let mut data = vec![0f32; len];
        if k == 0 {
            return Ok(PackedA { m, k, mr, data });
        }
        for (ip, panel) in data.chunks_exact_mut(k * mr).enumerate() {
            let rows = mr.min(m - ip * mr);
            for i in 0..rows {
                let r = ip * mr + i;
                if a.cs == 1 {
                    let src = &a.data[r * a.rs..r * a.rs + k];
                    for (p, &v) in src.iter().enumerate() {
                        panel[p * mr + i] = v;
                    }
                } else {
                    for p in 0..k {
                        panel[p * mr + i] = a.at(r, p);
                    }
                }
            }
        }
        Ok(PackedA { m, k, mr, data })
    }
    pub fn rows(&self) -> usize {
        self.m
    }
    pub fn cols(&self) -> usize {
        self.k
    }
}

/// The right operand packed into panels of `nr` columns (k-major, columns past `n` zero).
/// Build once for a constant B.
#[derive(Clone, Debug)]
pub struct PackedB {
    k: usize,
    n: usize,
    nr: usize,
    data: Vec<f32>,
}

impl PackedB {
    /// Packs `b` (`k x n`) for `kernels` (their common `nr`).
    pub fn pack(b: MatRef, kernels: &GemmKernels) -> Result<PackedB> {
        let nr = kernels.main.nr;
        let (k, n) = (b.rows, b.cols);
        let len = n
            .div_ceil(nr)
            .checked_mul(nr)
            .and_then(|v| v.checked_mul(k))
            .ok_or_else(|| Error::too_large(format!("packing a {k} x {n} matrix overflows")))?;
        crate::error::check_buffer(len, 4, "f32 packing")?;
        let mut data = vec![0f32; len];
        if k > 0 {
            for (jp, panel) in data.chunks_exact_mut(k * nr).enumerate() {
                let j0 = jp * nr;
                let cols = nr.min(n - j0);
                for (p, dst) in panel.chunks_exact_mut(nr).enumerate() {
                    if b.cs == 1 {
                        let s = p * b.rs + j0;
                        dst[..cols].copy_from_slice(&b.data[s..s + cols]);
                    } else {
                        for (j, d) in dst[..cols].iter_mut().enumerate() {
                            *d = b.at(p, j0 + j);
                        }
                    }
                }
            }
        }
        Ok(PackedB { k, n, nr, data })
    }
    pub fn rows(&self) -> usize {
        self.k
    }
    pub fn cols(&self) -> usize {
        self.n
    }
}

/// The left operand: a view (packed per call) or prepacked.
#[derive(Clone, Copy, Debug)]
pub enum Lhs<'a> {
    Mat(MatRef<'a>),
    Packed(&'a PackedA),
}

/// The right operand: a view (packed per call) or prepacked.
#[derive(Clone, Copy, Debug)]
pub enum Rhs<'a> {
    Mat(MatRef<'a>),
    Packed(&'a PackedB),
}

impl Lhs<'_> {
    fn dims(&self) -> (usize, usize) {
        match self {
            Lhs::Mat(a) => (a.rows, a.cols),
            Lhs::Packed(p) => (p.m, p.k),
        }
    }
}
impl Rhs<'_> {
    fn dims(&self) -> (usize, usize) {
        match self {
            Rhs::Mat(b) => (b.rows, b.cols),
            Rhs::Packed(p) => (p.k, p.n),
        }
    }
}

/// A bias added to the product.
#[derive(Clone, Copy, Debug, Default)]
pub enum Bias<'a> {
    #[default]
    None,
    /// One value per row of C (`m` values): a conv's per-output-channel bias.
    Row(&'a [f32]),
    /// One value per column of C (`n` values): Gemm's `C` of shape `[n]`.
    Col(&'a [f32]),
}

/// What happens around the product.
#[derive(Clone, Copy, Debug, Default)]
pub struct Epilogue<'a> {
    /// `C += A x B` instead of `C = A x B`.
    pub accumulate: bool,
    pub bias: Bias<'a>,
    /// Clamp to `[lo, hi]` after everything (fused ReLU / Clip).
    pub clamp: Option<(f32, f32)>,
}

/// Row-major convenience: `C[m x n] (ldc) = (accumulate ? C : 0) + A[m x k] (lda) x B[k x n]
/// (ldb) + bias`, bias per row (`m` values) when `bias_per_row`, else per column (`n` values).
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    kernels: &GemmKernels,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    bias: Bias,
) -> Result<()> {
    let a = MatRef::new(a, m, k, lda, 1)?;
    let b = MatRef::new(b, k, n, ldb, 1)?;
    sgemm_ex(kernels, Lhs::Mat(a), Rhs::Mat(b), c, ldc, &Epilogue { accumulate, bias, clamp: None })
}

/// The general entry: `C[m x n]` (row-major, row stride `ldc`) from `A` (`m x k`) and `B`
/// (`k x n`), each a strided view or prepacked (for `kernels`), on `kernels` (chosen once by
/// `select::gemm_f32`, kept by the op). Checks every size first; never panics.
pub fn sgemm_ex(kernels: &GemmKernels, a: Lhs, b: Rhs, c: &mut [f32], ldc: usize, ep: &Epilogue) -> Result<()> {
    let (m, k) = a.dims();
    let (k2, n) = b.dims();
    if k != k2 {
        return Err(Error::shape(format!("matrix product of {m} x {k} and {k2} x {n}: inner dims differ")));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if ldc < n {
        return Err(Error::shape(format!("ldc {ldc} is smaller than n {n}")));
    }
    let need = (m - 1).checked_mul(ldc).and_then(|v| v.checked_add(n));
    if need.is_none_or(|need| c.len() < need) {
        return Err(Error::shape(format!(
            "output buffer of {} elements is too small for {m} x {n} with row stride {ldc}",
            c.len()
        )));
    }
    match ep.bias {
        Bias::Row(v) if v.len() != m => {
            return Err(Error::shape(format!("row bias has {} values, expected {m}", v.len())))
        }
        Bias::Col(v) if v.len() != n => {
            return Err(Error::shape(format!("column bias has {} values, expected {n}", v.len())))
        }
        _ => {}
    }
    let packed_a_owned;
    let (pa, kernel) = match a {
        Lhs::Packed(p) => (p, kernels.for_mr(p.mr).unwrap_or(kernels.main)),
        Lhs::Mat(view) => {
            let kern = kernels.for_rows(m);
            packed_a_owned = PackedA::pack_for(view, kern.mr)?;
            (&packed_a_owned, kern)
        }
    };
    if kernel.mr != pa.mr {
        return Err(Error::invalid(format!("no micro-kernel for A packed with mr = {}", pa.mr)));
    }
    let packed_b_owned;
    let pb = match b {
        Rhs::Packed(p) => p,
        Rhs::Mat(view) => {
            packed_b_owned = PackedB::pack(view, kernels)?;
            &packed_b_owned
        }
    };
    if pb.nr != kernel.nr {
        return Err(Error::invalid(format!("B packed with nr = {} but the kernel needs {}", pb.nr, kernel.nr)));
    }
    run_blocked(kernel, pa, pb, c, ldc, ep);
    Ok(())
}

/// The blocked loops. All sizes were checked by [`sgemm_ex`].
fn run_blocked(kern: &GemmKernel, pa: &PackedA, pb: &PackedB, c: &mut [f32], ldc: usize, ep: &Epilogue) {
    let (m, n, k) = (pa.m, pb.n, pa.k);
    let (mr, nr) = (kern.mr, kern.nr);
    let m_panels = m.div_ceil(mr);
    let n_panels = n.div_ceil(nr);
    let mc_panels = (MC / mr).max(1);
    let k_blocks = k.div_ceil(KC).max(1);
    let mut edge = [0f32; MAX_MR * MAX_NR];
    let mut row_bias = [0f32; MAX_MR];
    let mut col_bias = [0f32; MAX_NR];
    for kb in 0..k_blocks {
        let k0 = kb * KC;
        let kc = KC.min(k - k0.min(k));
        let first = kb == 0;
        let last = kb + 1 == k_blocks;
        for ip0 in (0..m_panels).step_by(mc_panels) {
            for jp in 0..n_panels {
                let j0 = jp * nr;
                let cols = nr.min(n - j0);
                let b_panel = &pb.data[jp * k * nr + k0 * nr..];
                let col_b = match (first, ep.bias) {
                    (true, Bias::Col(v)) => {
                        col_bias[..cols].copy_from_slice(&v[j0..j0 + cols]);
                        col_bias[cols..nr].fill(0.0);
                        Some(&col_bias[..nr])
                    }
                    _ => None,
                };
                for ip in ip0..(ip0 + mc_panels).min(m_panels) {
                    let i0 = ip * mr;
                    let rows = mr.min(m - i0);
                    let a_panel = &pa.data[ip * k * mr + k0 * mr..];
                    let row_b = match (first, ep.bias) {
                        (true, Bias::Row(v)) => {
                            row_bias[..rows].copy_from_slice(&v[i0..i0 + rows]);
                            row_bias[rows..mr].fill(0.0);
                            Some(&row_bias[..mr])
                        }
                        _ => None,
                    };
                    let args = TileArgs {
                        load_c: !first || ep.accumulate,
                        row_bias: row_b,
                        col_bias: col_b,
                        clamp: if last { ep.clamp } else { None },
                    };
                    let c_off = i0 * ldc + j0;
                    if rows == mr && cols == nr {
                        // SAFETY: the panels hold kc*mr / kc*nr values from these offsets (k0 +
                        // kc <= k); C has mr full rows of nr from c_off (checked in sgemm_ex:
                        // (m-1)*ldc + n <= len, i0 + mr <= m, j0 + nr <= n).
                        unsafe {
                            (kern.ukernel)(kc, a_panel.as_ptr(), b_panel.as_ptr(), c[c_off..].as_mut_ptr(), ldc, &args)
                        }
                    } else {
                        let tile = &mut edge[..mr * nr];
                        if args.load_c {
                            for i in 0..rows {
                                tile[i * nr..i * nr + cols].copy_from_slice(&c[c_off + i * ldc..c_off + i * ldc + cols]);
                            }
                        }
                        // SAFETY: as above for the panels; the tile is mr x nr with stride nr.
                        unsafe { (kern.ukernel)(kc, a_panel.as_ptr(), b_panel.as_ptr(), tile.as_mut_ptr(), nr, &args) }
                        for i in 0..rows {
                            c[c_off + i * ldc..c_off + i * ldc + cols].copy_from_slice(&tile[i * nr..i * nr + cols]);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::gemm_f32_ref;
    use crate::select;

    /// Deterministic pseudo-random values in [-1, 1).
    pub(crate) fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(12345);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2000) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn check(m: usize, n: usize, k: usize, trans_a: bool, trans_b: bool, prepack: bool, ep_kind: usize) {
        let a = values(m * k, (m * 31 + k) as u32);
        let b = values(k * n, (n * 17 + k) as u32);
        let ldc = n + 3;
        let c0 = values(m * ldc, 7);
        let rb = values(m, 3);
        let cb = values(n, 5);
        let (av, a_rs, a_cs) = if trans_a {
            (MatRef::new(&a, k, m, m, 1).unwrap().t(), 1, m)
        } else {
            (MatRef::row_major(&a, m, k).unwrap(), k, 1)
        };
        let (bv, b_rs, b_cs) = if trans_b {
            (MatRef::new(&b, n, k, k, 1).unwrap().t(), 1, k)
        } else {
            (MatRef::row_major(&b, k, n).unwrap(), n, 1)
        };
        let ep = match ep_kind {
            0 => Epilogue::default(),
            1 => Epilogue { accumulate: true, bias: Bias::Row(&rb), clamp: None },
            _ => Epilogue { accumulate: false, bias: Bias::Col(&cb), clamp: Some((-0.5, 0.75)) },
        };
        let (rbias, cbias) = match ep.bias {
            Bias::Row(v) => (Some(v), None),
            Bias::Col(v) => (None, Some(v)),
            Bias::None => (None, None),
        };
        let mut want = c0.clone();
        gemm_f32_ref(m, n, k, &a, a_rs, a_cs, &b, b_rs, b_cs, &mut want, ldc, ep.accumulate, rbias, cbias, ep.clamp);
        let mut got = c0.clone();
        let (pa, pb);
        let (lhs, rhs) = if prepack {
            pa = PackedA::pack(av, &select::gemm_f32()).unwrap();
            pb = PackedB::pack(bv, &select::gemm_f32()).unwrap();
            (Lhs::Packed(&pa), Rhs::Packed(&pb))
        } else {
            (Lhs::Mat(av), Rhs::Mat(bv))
        };
        sgemm_ex(&select::gemm_f32(), lhs, rhs, &mut got, ldc, &ep).unwrap();
        for i in 0..m {
            for j in 0..ldc {
                let (g, w) = (got[i * ldc + j], want[i * ldc + j]);
                assert!(
                    (g - w).abs() <= 1e-4 * (1.0 + w.abs()) * (k as f32).sqrt().max(1.0),
                    "m={m} n={n} k={k} tA={trans_a} tB={trans_b} pre={prepack} ep={ep_kind}: ({i},{j}) {g} != {w}"
                );
            }
        }
    }

    #[test]
    fn matches_oracle_on_edge_shapes() {
        let kern = select::gemm_f32().main;
        let (mr, nr) = (kern.mr, kern.nr);
        let ms = [1, 2, mr - 1, mr, mr + 1, 2 * mr + 1, MC + 1];
        let ns = [1, nr - 1, nr, nr + 1, 3 * nr + 5];
        let ks = [0, 1, 3, 4, 7, KC, KC + 5];
        let mut case = 0;
        for &m in &ms {
            for &n in &ns {
                for &k in &ks {
                    case += 1;
                    check(m, n, k, case % 2 == 0, case % 3 == 0, case % 5 < 2, case % 3);
                }
            }
        }
    }

    #[test]
    fn row_major_entry_and_errors() {
        let a = values(6, 1);
        let b = values(12, 2);
        let mut c = vec![0f32; 8];
        sgemm(&select::gemm_f32(), 2, 4, 3, &a, 3, &b, 4, &mut c, 4, false, Bias::None).unwrap();
        let mut want = vec![0f32; 8];
        gemm_f32_ref(2, 4, 3, &a, 3, 1, &b, 4, 1, &mut want, 4, false, None, None, None);
        assert_eq!(c, want);
        assert!(sgemm(&select::gemm_f32(), 2, 4, 3, &a, 3, &b, 4, &mut c[..7], 4, false, Bias::None).is_err());
        assert!(sgemm(&select::gemm_f32(), 2, 4, 4, &a, 3, &b, 4, &mut c, 4, false, Bias::None).is_err());
        assert!(sgemm(&select::gemm_f32(), 2, 4, 3, &a, 3, &b, 4, &mut c, 4, false, Bias::Row(&[1.0])).is_err());
    }
}
