//! The shared test suite of the 8-bit kernels: every kernel `select` hands out in this build,
//! through its driver, against its oracle in `reference`, bit for bit, on edge shapes (rows
//! and channel counts below, at and above the 8/16-wide steps, strides 1/2/3, dilations, pads,
//! 1x1 to 7x7 kernels), both 8-bit types, zero points at both ends and in the middle,
//! per-channel weights, saturating multipliers, fused-ReLU clamps, the non-finite multipliers
//! that send kernels to their scalar path, and table lookups (every byte, in place too).
//!
//! Native `cargo test` runs it on the portable kernels; the wasm builds run the same suite on
//! the SIMD128 kernels through the bindings' `qmiscSelfTest` (tests/js/qkernels.test.mjs).
use super::dwconv::Dw2d;
use super::q8::{Requant, Q8};
use super::qdwconv::{dwconv2d_q8, regular_taps, Pairing, QDwScratch, QDwWeights};
use super::qelementwise::{add_q8, mul_q8, requantize_q8, AddParams, MulParams, Operand, RequantizeParams};
use super::qlut::lut_x8;
use super::qpool::{avgpool2d_q8, global_avgpool_nhwc_q8, global_avgpool_q8, maxpool2d_q8, AvgPoolParams, QPoolScratch};
use super::reference as oracle;
use super::select;
use crate::error::{Error, Result};
use crate::quant_math::QInt;
use std::collections::BTreeSet;

/// What the suite ran.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Whether this build's 8-bit kernels are SIMD128.
    pub simd128: bool,
    /// Names of the micro-kernels the cases reached.
    pub kernels: Vec<String>,
    /// Cases compared (each a whole plane or vector of outputs).
    pub cases: usize,
}

/// Deterministic pseudo-random numbers (xorshift32).
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        let mut s = self.0;
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        self.0 = s;
        s
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() as usize) % n.max(1)
    }
    /// A value of `Q` (a quarter of them at the type's ends).
    fn q<Q: QInt>(&mut self) -> Q {
        let v = match self.below(8) {
            0 => Q::MIN,
            1 => Q::MAX,
            _ => Q::MIN + self.below((Q::MAX - Q::MIN + 1) as usize) as i32,
        };
        Q::from_i32_in_range(v)
    }
    fn vec<Q: QInt>(&mut self, n: usize) -> Vec<Q> {
        (0..n).map(|_| self.q()).collect()
    }
    /// A positive scale spanning several orders of magnitude.
    fn scale(&mut self) -> f32 {
        let e = self.below(9) as i32 - 6;
        (1.0 + self.below(1000) as f32 / 997.0) * 2f32.powi(e)
    }
}

/// Zero points of `Q` at both ends and in the middle (0/128/255 for uint8).
fn zero_points<Q: Q8>() -> [i32; 3] {
    [Q::MIN, Q::MIN + 128, Q::MAX]
}

fn mismatch<T: std::fmt::Debug + PartialEq>(what: &str, got: &[T], want: &[T]) -> Result<()> {
    match got.iter().zip(want).position(|(g, w)| g != w) {
        None if got.len() == want.len() => Ok(()),
        i => Err(Error::invalid(format!(
            "{what}: output differs from the oracle at {i:?}: got {:?}, want {:?}",
            i.and_then(|i| got.get(i)),
            i.and_then(|i| want.get(i))
        ))),
    }
}

struct Suite {
    rng: Rng,
    kernels: BTreeSet<&'static str>,
    cases: usize,
}

/// A geometry from input size, kernel, strides, dilations, begin and end pads; `extra` adds
/// output rows/columns whose windows run past the end padding (as `ceil_mode` does).
#[allow(clippy::too_many_arguments)]
fn geometry(ih: usize, iw: usize, k: (usize, usize), s: (usize, usize), d: (usize, usize), pb: (usize, usize), pe: (usize, usize), extra: usize) -> Option<Dw2d> {
    let (wh, ww) = ((k.0 - 1) * d.0 + 1, (k.1 - 1) * d.1 + 1);
    if ih + pb.0 + pe.0 < wh || iw + pb.1 + pe.1 < ww {
        return None;
    }
    Some(Dw2d {
        ih,
        iw,
        kh: k.0,
        kw: k.1,
        sh: s.0,
        sw: s.1,
        dh: d.0,
        dw: d.1,
        ph: pb.0,
        pw: pb.1,
        oh: (ih + pb.0 + pe.0 - wh) / s.0 + 1 + extra,
        ow: (iw + pb.1 + pe.1 - ww) / s.1 + 1 + extra,
    })
}

/// The window geometries the conv and pool cases use.
fn geometries() -> Vec<(Dw2d, (usize, usize))> {
    let mut out = Vec::new();
    let sizes = [(7, 7), (8, 9), (1, 5), (12, 3), (14, 14), (17, 23)];
    let kernels = [(3, 3), (5, 5), (1, 1), (3, 2), (2, 5), (7, 7)];
    // (strides, dilations, begin pads, end pads, extra)
    let shapes = [
        ((1, 1), (1, 1), (1, 1), (1, 1), 0),
        ((2, 2), (1, 1), (1, 1), (1, 1), 0),
        ((2, 2), (1, 1), (2, 2), (2, 2), 0),
        ((2, 2), (1, 1), (0, 0), (1, 1), 0),
        ((1, 1), (2, 2), (2, 2), (2, 2), 0),
        ((3, 3), (1, 1), (0, 0), (0, 0), 0),
        ((2, 2), (2, 2), (1, 2), (0, 1), 0),
        ((1, 2), (1, 1), (2, 1), (2, 1), 0),
        ((2, 1), (1, 1), (1, 0), (1, 0), 0),
        ((2, 2), (1, 1), (0, 0), (0, 0), 1),
        ((1, 1), (1, 1), (3, 3), (0, 0), 0),
    ];
    for &(ih, iw) in &sizes {
        for &k in &kernels {
            for &(s, d, pb, pe, extra) in &shapes {
                if let Some(g) = geometry(ih, iw, k, s, d, pb, pe, extra) {
                    out.push((g, pe));
                }
            }
        }
    }
    out
}

impl Suite {
    fn dwconv<X: Q8, W: Q8, Y: Q8>(&mut self, g: &Dw2d) -> Result<()> {
        let channels = [1, 3, 17][self.rng.below(3)];
        let x: Vec<X> = self.rng.vec(channels * g.ih * g.iw);
        let w: Vec<W> = self.rng.vec(channels * g.kh * g.kw);
        let x_zp = zero_points::<X>()[self.rng.below(3)];
        // Per-channel weight zero points and multipliers.
        let w_zp: Vec<i32> = (0..channels).map(|c| if c % 2 == 0 { 0 } else { zero_points::<W>()[self.rng.below(3)] }).collect();
        let y_zp = zero_points::<Y>()[self.rng.below(3)];
        let mut pairings = vec![Pairing::for_columns(g.sw, g.dw)];
        if pairings[0] == Pairing::Cols {
            pairings.push(Pairing::Rows);
        }
        let mut scratch = QDwScratch::default();
        for pairing in pairings {
            let packed = QDwWeights::pack(&w, &w_zp, channels, g.kh, g.kw, pairing)?;
            let mut rqs = Vec::with_capacity(channels);
            let mut bias = Vec::with_capacity(channels);
            for c in 0..channels {
                let m = match (c + self.cases) % 8 {
                    0 => 1.5,               // saturates
                    1 if c > 0 => f32::NAN, // scalar path
                    2 => 3.0e6,             // products beyond 2^22 (clamped before rounding)
                    3 => 0.5,               // many exact ties (round half to even)
                    _ => self.rng.scale() / 64.0,
                };
                let mut rq = Requant::new::<Y>(m, y_zp);
                if self.rng.below(3) == 0 {
                    rq = rq.clamped(y_zp, Y::MAX)?; // fused ReLU
                }
                rqs.push(rq);
                bias.push(match self.rng.below(4) {
                    0 => 0,
                    1 => i32::MAX - 5, // wraps
                    _ => self.rng.next() as i32 >> 12,
                });
            }
            let kernels = select::dwconv_q8(packed.kh, packed.kw, packed.pairing, regular_taps(pairing, g.sw, g.dw));
            for rq in &rqs {
                self.kernels.insert(kernels.conv.pick(rq.simd_ok()).get::<Y>().name);
            }
            self.kernels.insert(kernels.pack.name);
            let mut got = vec![Y::default(); channels * g.oh * g.ow];
            dwconv2d_q8(&kernels, g, &x, x_zp, &packed, &bias, &rqs, &mut got, &mut scratch)?;
            for c in 0..channels {
                let xs = &x[c * g.ih * g.iw..][..g.ih * g.iw];
                let ws = &w[c * g.kh * g.kw..][..g.kh * g.kw];
                let mut want = vec![Y::default(); g.oh * g.ow];
                oracle::dwconv2d_q8_ref(g, xs, x_zp, ws, w_zp[c], bias[c], &rqs[c], &mut want);
                let got = &got[c * g.oh * g.ow..][..g.oh * g.ow];
                mismatch(&format!("depthwise {g:?} {pairing:?} channel {c} {:?}", rqs[c]), got, &want)?;
                self.cases += 1;
            }
        }
        Ok(())
    }

    fn elementwise<Q: Q8>(&mut self) -> Result<()> {
        let ew = select::qelementwise();
        for n in [0usize, 1, 7, 15, 16, 17, 31, 33, 100] {
            for case in 0..6 {
                let a: Vec<Q> = self.rng.vec(n);
                let b: Vec<Q> = self.rng.vec(n);
                let zps = zero_points::<Q>();
                let (za, zb, zy) = (zps[case % 3], zps[(case + 1) % 3], zps[self.rng.below(3)]);
                let (lo, hi) = if case == 4 { (zy, Q::MAX) } else { (Q::MIN, Q::MAX) };
                let mut add = AddParams {
                    a_scale: self.rng.scale(),
                    a_zp: za,
                    b_scale: self.rng.scale(),
                    b_zp: zb,
                    y_scale: self.rng.scale(),
                    y_zp: zy,
                    lo,
                    hi,
                };
                if case == 5 {
                    add.y_scale = 0.0; // ±inf and NaN quotients
                }
                let multiplier = match case {
                    5 => f32::INFINITY, // ±inf and NaN (0 · inf) products
                    3 => 0.5,           // ties
                    _ => self.rng.scale() / 4.0,
                };
                let mul = MulParams { a_zp: za, b_zp: zb, multiplier, y_zp: zy, lo, hi };
                let scalar = b.first().copied().unwrap_or_default();
                let splat = vec![scalar; n];
                for (bop, bvals) in [(Operand::Slice(&b), &b), (Operand::Scalar(scalar), &splat)] {
                    let mut got = vec![Q::default(); n];
                    let mut want = got.clone();
                    add_q8(&ew, &a, bop, &add, &mut got)?;
                    oracle::add_q8_ref(&a, bvals, &add, &mut want);
                    mismatch(&format!("add n={n} {add:?}"), &got, &want)?;
                    mul_q8(&ew, &a, bop, &mul, &mut got)?;
                    oracle::mul_q8_ref(&a, bvals, &mul, &mut want);
                    mismatch(&format!("mul n={n} {mul:?}"), &got, &want)?;
                    self.cases += 2;
                }
                // Requantization (QLinearConcat).
                let rp = RequantizeParams { x_scale: add.a_scale, x_zp: za, y_scale: add.y_scale, y_zp: zy };
                let mut got = vec![Q::default(); n];
                requantize_q8(&ew, &a, &rp, &mut got)?;
                let want: Vec<Q> = a.iter().map(|&v| oracle::requantize_q8_one(v, &rp)).collect();
                mismatch(&format!("requantize n={n} {rp:?}"), &got, &want)?;
                self.kernels.insert(ew.add.get::<Q>().name);
                self.kernels.insert(ew.mul.get::<Q>().name);
                self.kernels.insert(ew.requantize.get::<Q>().name);
                self.cases += 1;
            }
        }
        // Every pair of values once.
        let a: Vec<Q> = (0..65536).map(|i| Q::from_i32_in_range(Q::MIN + (i & 255))).collect();
        let b: Vec<Q> = (0..65536).map(|i| Q::from_i32_in_range(Q::MIN + (i >> 8))).collect();
        let zp = zero_points::<Q>()[1];
        let add = AddParams { a_scale: 0.037, a_zp: zp, b_scale: 0.011, b_zp: Q::MIN, y_scale: 0.029, y_zp: zp + 3, lo: Q::MIN, hi: Q::MAX };
        let mul = MulParams { a_zp: zp, b_zp: Q::MIN, multiplier: 0.0123, y_zp: zp - 1, lo: Q::MIN, hi: Q::MAX };
        let (mut got, mut want) = (vec![Q::default(); a.len()], vec![Q::default(); a.len()]);
        add_q8(&ew, &a, Operand::Slice(&b), &add, &mut got)?;
        oracle::add_q8_ref(&a, &b, &add, &mut want);
        mismatch("add, all pairs", &got, &want)?;
        mul_q8(&ew, &a, Operand::Slice(&b), &mul, &mut got)?;
        oracle::mul_q8_ref(&a, &b, &mul, &mut want);
        mismatch("mul, all pairs", &got, &want)?;
        self.cases += 2;
        Ok(())
    }

    fn pools<Q: Q8>(&mut self, g: &Dw2d, pads_end: (usize, usize)) -> Result<()> {
        let pk = select::qpool();
        let x: Vec<Q> = self.rng.vec(g.ih * g.iw);
        let mut scratch = QPoolScratch::default();
        let mut got = vec![Q::default(); g.oh * g.ow];
        let mut want = got.clone();
        maxpool2d_q8(&pk, g, &x, &mut got, &mut scratch)?;
        oracle::maxpool2d_q8_ref(g, &x, &mut want);
        mismatch(&format!("maxpool {g:?}"), &got, &want)?;
        self.kernels.insert(pk.max.name);
        for count_include_pad in [false, true] {
            let zps = zero_points::<Q>();
            let y_zp = zps[self.rng.below(3)];
            let mut out = Requant::new::<Q>(f32::NAN, y_zp);
            if self.rng.below(3) == 0 {
                out = out.clamped(y_zp, Q::MAX)?;
            }
            let p = AvgPoolParams {
                x_zp: zps[self.rng.below(3)],
                x_scale: self.rng.scale(),
                y_scale: self.rng.scale(),
                count_include_pad,
                out,
            };
            avgpool2d_q8(&pk, g, pads_end, &x, &p, &mut got, &mut scratch)?;
            oracle::avgpool2d_q8_ref(g, pads_end, &x, &p, &mut want);
            mismatch(&format!("avgpool {g:?} {p:?}"), &got, &want)?;
            // Which kernel the interior rows use (border rows of a fully padded window fall back).
            self.kernels.insert(pk.avg.pick(g.kh * g.kw <= super::qpool::MAX_U16_TAPS).get::<Q>().name);
        }
        self.cases += 3;
        Ok(())
    }

    /// Table lookups: every byte value, lengths around the 16-byte step, both flips, in place.
    fn lookups(&mut self) -> Result<()> {
        let table: [u8; 256] = core::array::from_fn(|_| self.rng.next() as u8);
        for n in [0usize, 1, 15, 16, 17, 31, 256, 1000] {
            let x: Vec<u8> = (0..n).map(|i| if n >= 256 { i as u8 } else { self.rng.next() as u8 }).collect();
            for flip in [0u8, 0x80] {
                let want: Vec<u8> = x.iter().map(|&b| table[(b ^ flip) as usize]).collect();
                let mut got = vec![0u8; n];
                lut_x8(select::lut_x8(), &x, flip, &table, &mut got);
                mismatch(&format!("lookup of {n} bytes, flip {flip:#x}"), &got, &want)?;
                let mut inplace = x.clone();
                let ptr = inplace.as_mut_ptr();
                // SAFETY: the kernels read each vector before writing it (x == y is allowed).
                unsafe { (select::lut_x8().ukernel)(n, ptr, flip, &table, ptr) };
                mismatch(&format!("lookup of {n} bytes in place, flip {flip:#x}"), &inplace, &want)?;
                self.cases += 2;
            }
        }
        self.kernels.insert(select::lut_x8().name);
        Ok(())
    }

    fn global_pools<Q: Q8>(&mut self) -> Result<()> {
        for size in [0usize, 1, 15, 16, 49, 100, 3136] {
            let planes = 5;
            let x: Vec<Q> = self.rng.vec(planes * size);
            let zps = zero_points::<Q>();
            let (x_zp, y_zp) = (zps[self.rng.below(3)], zps[self.rng.below(3)]);
            let m = self.rng.scale() / (self.rng.scale() * size as f32);
            let rq = Requant::new::<Q>(m, y_zp);
            let mut got = vec![Q::default(); planes];
            global_avgpool_q8(&select::qpool(), &x, planes, x_zp, &rq, &mut got)?;
            let want: Vec<Q> =
                (0..planes).map(|p| oracle::global_avgpool_q8_ref(&x[p * size..(p + 1) * size], x_zp, &rq)).collect();
            mismatch(&format!("global average pool, planes of {size}"), &got, &want)?;
            // The same data as one NHWC image of `size` positions and `planes` channels.
            let nhwc: Vec<Q> = (0..planes * size).map(|i| x[(i % planes) * size + i / planes]).collect();
            global_avgpool_nhwc_q8(&nhwc, 1, size, planes, x_zp, &rq, &mut got)?;
            mismatch(&format!("global average pool (channels last), planes of {size}"), &got, &want)?;
            self.kernels.insert(select::qpool().sum.name);
            self.cases += 2;
        }
        Ok(())
    }
}

/// Runs the suite; the first mismatch is an error naming the case.
pub fn run() -> Result<Report> {
    let mut s = Suite { rng: Rng(0x9e37_79b9), kernels: BTreeSet::new(), cases: 0 };
    for (i, (g, pe)) in geometries().iter().enumerate() {
        match i % 4 {
            0 => s.dwconv::<u8, i8, u8>(g)?,
            1 => s.dwconv::<i8, i8, i8>(g)?,
            2 => s.dwconv::<u8, u8, u8>(g)?,
            _ => s.dwconv::<i8, u8, i8>(g)?,
        }
        if i % 2 == 0 {
            s.pools::<u8>(g, *pe)?;
        } else {
            s.pools::<i8>(g, *pe)?;
        }
    }
    // A window larger than the 16-bit sums allow (scalar path).
    if let Some(g) = geometry(20, 19, (17, 17), (1, 1), (1, 1), (1, 1), (1, 1), 0) {
        s.pools::<u8>(&g, (1, 1))?;
        s.kernels.insert(select::qpool().avg.fallback.get::<u8>().name);
    }
    s.elementwise::<u8>()?;
    s.elementwise::<i8>()?;
    s.global_pools::<u8>()?;
    s.global_pools::<i8>()?;
    s.lookups()?;
    Ok(Report { simd128: select::q8_simd(), kernels: s.kernels.into_iter().map(String::from).collect(), cases: s.cases })
}

#[cfg(test)]
mod tests {
    #[test]
    fn kernels_match_their_oracles() {
        let report = super::run().unwrap();
        eprintln!("{report:?}");
        assert!(report.cases > 1000, "{report:?}");
    }
}
