//! The kernels' shared test suite, compiled into every build so that the SIMD kernels, which only
//! run in wasm, are tested where they run: natively `cargo test` runs it on the portable kernels,
//! and `src/bindings` exports it (`kernelSelfTest`) for the Node test `tests/js/kernels.test.mjs`,
//! which runs it in both wasm builds.
//!
//! - [`qgemm_selftest`]: every int8 kernel of the build ([`select::qgemm_kernels`]) and the
//!   default selection against [`gemm_q8_ref`] + [`requantize_clamped`], bit for bit, on edge
//!   shapes (k below, at and above each depth group, leftover rows and columns, m = 1), zero
//!   points at both ends and in the middle, per-tensor and per-column zero points and
//!   multipliers, extreme operand values (−128, 0, 127, 255), saturating and NaN / ∞
//!   multipliers, ties, narrowed clamps, wrapping biases, prepacked and per-call weights, and
//!   row-major and transposed outputs (checking that nothing outside the matrix is written).
//! - [`sgemm_selftest`]: the f32 GEMM of this build (including the relaxed build's fused
//!   multiply-add, hence a tolerance) against [`gemm_f32_ref`].
use super::qgemm::{qgemm, qgemm_left, PackedQWeights, QGemmKernel, QGemmKernels, QLayout, QLhs, QMat, QOut, QRhs, Requant, MC};
use super::reference::{gemm_f32_ref, gemm_q8_ref};
use super::select;
use super::sgemm::{sgemm_ex, Bias, Epilogue, Lhs, MatRef, PackedA, PackedB, Rhs};
use crate::error::{Error, Result};
use crate::quant_math::requantize_clamped;

/// A small deterministic generator (xorshift32).
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
    /// Uniform in `[lo, hi]`.
    fn range(&mut self, lo: i32, hi: i32) -> i32 {
        lo + (self.next() % (hi - lo + 1) as u32) as i32
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.next() as usize % v.len()]
    }
    fn chance(&mut self, one_in: u32) -> bool {
        self.next() % one_in == 0
    }
}

/// One operand's element type and values.
struct Operand {
    signed: bool,
    bytes: Vec<u8>,
}

impl Operand {
    fn value(&self, idx: usize) -> i32 {
        if self.signed {
            self.bytes[idx] as i8 as i32
        } else {
            self.bytes[idx] as i32
        }
    }
}

/// Values of a `len` operand: uniform, only the two ends of the type, or mostly one end.
fn operand(rng: &mut Rng, len: usize, signed: bool, style: u32) -> Operand {
    let (lo, hi) = if signed { (-128, 127) } else { (0, 255) };
    let bytes = (0..len)
        .map(|_| {
            let v = match style {
                0 => rng.range(lo, hi),
                1 => rng.pick(&[lo, hi]),
                _ => {
                    if rng.chance(5) {
                        rng.range(lo, hi)
                    } else {
                        rng.pick(&[lo, hi, 0])
                    }
                }
            };
            v as u8
        })
        .collect();
    Operand { signed, bytes }
}

/// Zero points worth testing for a type: both ends, the middle, or any.
fn zero_point(rng: &mut Rng, signed: bool) -> i32 {
    if signed {
        match rng.next() % 4 {
            0 => -128,
            1 => 0,
            2 => 127,
            _ => rng.range(-128, 127),
        }
    } else {
        match rng.next() % 4 {
            0 => 0,
            1 => 128,
            2 => 255,
            _ => rng.range(0, 255),
        }
    }
}

/// For weights meant for a relaxed (`I8I7C4`) kernel: per column, removes one end of the type
/// so that the column spans at most 255 levels (the other end stays, so both −128 and 127, or
/// 0 and 255, are still exercised).
fn fit_7bit_split(rng: &mut Rng, b: &mut Operand, k: usize, n: usize) {
    let (lo, hi) = if b.signed { (-128, 127) } else { (0, 255) };
    for j in 0..n {
        let (from, to) = if rng.chance(2) { (lo, lo + 1) } else { (hi, hi - 1) };
        for p in 0..k {
            if b.value(p * n + j) == from {
                b.bytes[p * n + j] = to as u8;
            }
        }
    }
}

/// One checked product.
struct Case {
    m: usize,
    n: usize,
    k: usize,
}

fn mismatch(kernel: &str, c: &Case, detail: String) -> Error {
    Error::invalid(format!("qgemm self-test: {kernel}, m={} n={} k={}: {detail}", c.m, c.n, c.k))
}

/// Runs one case with `kernel` (None: the default selection), weights on the left (`C = W x X`,
/// per-row parameters) or on the right (`C = X x W`, per-column parameters), and compares it
/// with the oracle.
fn check_case(kernel: Option<&'static QGemmKernel>, left: bool, c: &Case, rng: &mut Rng) -> Result<()> {
    let (m, n, k) = (c.m, c.n, c.k);
    let name = match (kernel, left) {
        (Some(k), false) => k.name.to_string(),
        (Some(k), true) => format!("{} (weights on the left)", k.name),
        (None, false) => "default selection".to_string(),
        (None, true) => "default selection (weights on the left)".to_string(),
    };
    // Weights: `channels` of them along the output's columns (right) or rows (left).
    let channels = if left { m } else { n };
    let (x_signed, x_style) = (rng.chance(2), rng.next() % 3);
    let x = operand(rng, if left { k * n } else { m * k }, x_signed, x_style);
    let (w_signed, w_style) = (rng.chance(2), rng.next() % 3);
    // Right: w is k x n row-major; left: w is m x k row-major.
    let mut w = operand(rng, k * channels, w_signed, w_style);
    if !left && kernel.is_some_and(|k| k.layout == QLayout::I8I7C4) {
        fit_7bit_split(rng, &mut w, k, n);
    }
    let x_zp = zero_point(rng, x.signed);
    let w_zp: Vec<i32> = if rng.chance(2) {
        vec![zero_point(rng, w.signed)]
    } else {
        (0..channels).map(|_| zero_point(rng, w.signed)).collect()
    };
    let w_zp_full: Vec<i32> = (0..channels).map(|j| if w_zp.len() == 1 { w_zp[0] } else { w_zp[j] }).collect();
    let bias: Option<Vec<i32>> = match rng.next() % 3 {
        0 => None,
        1 => Some((0..channels).map(|_| rng.range(-100_000, 100_000)).collect()),
        _ => Some((0..channels).map(|_| rng.pick(&[i32::MIN, i32::MAX, -1, 1])).collect()),
    };
    // want[i * n + j]; the left product is the oracle's product transposed.
    let want: Vec<i32> = if left {
        let t = gemm_q8_ref(n, m, k, |j, p| x.value(p * n + j), x_zp, |p, i| w.value(i * k + p), &w_zp_full, bias.as_deref());
        (0..m * n).map(|idx| t[(idx % n) * m + idx / n]).collect()
    } else {
        gemm_q8_ref(m, n, k, |i, p| x.value(i * k + p), x_zp, |p, j| w.value(p * n + j), &w_zp_full, bias.as_deref())
    };

    // The kernels as an op would hold them: chosen once, or the one under test for every shape.
    let kernels = kernel.map_or_else(select::qgemm, QGemmKernels::only);
    let left_kernel = kernel.unwrap_or_else(select::qgemm_left);
    // Row-major with padding, or transposed.
    let transposed = rng.chance(2);
    let (rs, cs, len) = if transposed { (1, m + 2, n * (m + 2)) } else { (n + 3, 1, m * (n + 3)) };
    // Half the cases prepack the weights, the others pass them to be packed per call.
    // Weights m x k (left) or k x n (right), row-major.
    let wv = if left { QMat::new(&w.bytes, w.signed, m, k, k, 1)? } else { QMat::new(&w.bytes, w.signed, k, n, n, 1)? };
    let packed = match (rng.chance(2), left, kernel) {
        (false, _, _) => None,
        (true, true, _) => Some(PackedQWeights::pack_left(wv, &w_zp, left_kernel)?),
        (true, false, _) => Some(PackedQWeights::pack(wv, &w_zp, &kernels)?),
    };
    // Prepacked weights run on the kernels of the layout they ended up in (as the ops do).
    let kernels = match (&packed, kernel) {
        (Some(p), None) if !left => select::qgemm_for(p.layout()),
        _ => kernels,
    };
    let go = |out: QOut| -> Result<()> {
        if left {
            let xv = QMat::new(&x.bytes, x.signed, k, n, n, 1)?;
            let lhs = match &packed {
                Some(p) => QLhs::Packed(p),
                None => QLhs::Mat { w: wv, zero_point: &w_zp },
            };
            qgemm_left(left_kernel, lhs, xv, x_zp, bias.as_deref(), out)
        } else {
            let xv = QMat::new(&x.bytes, x.signed, m, k, k, 1)?;
            let rhs = match &packed {
                Some(p) => QRhs::Packed(p),
                None => QRhs::Mat { b: wv, zero_point: &w_zp },
            };
            qgemm(&kernels, xv, x_zp, rhs, bias.as_deref(), out)
        }
    };
    let inside = |idx: usize| {
        let (i, j) = if transposed { (idx % cs, idx / cs) } else { (idx / rs, idx % rs) };
        (i < m && j < n).then_some((i, j))
    };
    const SENTINEL: u8 = 0x5a;
    match rng.next() % 3 {
        0 => {
            let mut got = vec![i32::from_le_bytes([SENTINEL; 4]); len];
            go(QOut::I32 { c: &mut got, rs, cs })?;
            for (idx, &g) in got.iter().enumerate() {
                let w = inside(idx).map_or(i32::from_le_bytes([SENTINEL; 4]), |(i, j)| want[i * n + j]);
                if g != w {
                    return Err(mismatch(&name, c, format!("i32 output element {idx} ({:?}) is {g}, expected {w}", inside(idx))));
                }
            }
        }
        _ => {
            let signed = rng.chance(2);
            let (lo, hi) = if signed { (-128, 127) } else { (0, 255) };
            let zp = zero_point(rng, signed);
            let (min, max) = if rng.chance(3) { (zp.max(lo), hi - rng.range(0, 20)) } else { (lo, hi) };
            let (min, max) = (min.min(max), max);
            let mult: Vec<f32> = {
                let one = |rng: &mut Rng| match rng.next() % 8 {
                    0 => 0.5,  // ties: half to even
                    1 => 0.25, // ties too
                    2 => 10.0, // saturates
                    3 => rng.next() as f32 / u32::MAX as f32 * 1e-5,
                    4 => rng.pick(&[f32::NAN, f32::INFINITY, -f32::INFINITY, 1.0]),
                    _ => rng.next() as f32 / u32::MAX as f32 * 0.02,
                };
                if rng.chance(2) {
                    vec![one(rng)]
                } else {
                    (0..channels).map(|_| one(rng)).collect()
                }
            };
            let requant = Requant { multiplier: mult.as_slice(), zero_point: zp, lo: min, hi: max };
            let mut got = vec![SENTINEL; len];
            go(QOut::Q8 { c: &mut got, signed, rs, cs, requant })?;
            for (idx, &g) in got.iter().enumerate() {
                let w = inside(idx).map_or(SENTINEL, |(i, j)| {
                    let ch = if left { i } else { j };
                    let mj = if mult.len() == 1 { mult[0] } else { mult[ch] };
                    requantize_clamped(want[i * n + j], mj, zp, min, max) as u8
                });
                if g != w {
                    return Err(mismatch(&name, c, format!("8-bit output element {idx} ({:?}) is {g}, expected {w}", inside(idx))));
                }
            }
        }
    }
    Ok(())
}

/// Checks every int8 kernel of this build and the default selection on edge shapes; returns the
/// number of products checked, or the first mismatch as an error.
pub fn qgemm_selftest() -> Result<usize> {
    let mut rng = Rng(0x9e37_79b9);
    let mut cases = 0;
    let ks = [0usize, 1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 64, 257];
    let ns = [1usize, 7, 8, 9, 17, 24];
    let kernels: Vec<Option<&'static QGemmKernel>> =
        std::iter::once(None).chain(select::qgemm_kernels().iter().map(|&k| Some(k))).collect();
    for kernel in kernels {
        let mr = kernel.map_or(select::qgemm().main.mr, |k| k.mr);
        let mut ms = vec![1, 2, mr.saturating_sub(1).max(1), mr, mr + 1, 2 * mr + 3, MC + 5];
        ms.dedup();
        for &m in &ms {
            for &n in &ns {
                for &k in &ks {
                    // Keep the big shapes to a sample: the small ones carry the edge cases.
                    if m * n * k > 40_000 && rng.next() % 4 != 0 {
                        continue;
                    }
                    check_case(kernel, false, &Case { m, n, k }, &mut rng)?;
                    cases += 1;
                    // The same kernels with weights on the left (the i16 layout's second use).
                    if kernel.is_none_or(|k| k.layout == QLayout::I16C2) {
                        check_case(kernel, true, &Case { m, n, k }, &mut rng)?;
                        cases += 1;
                    }
                }
            }
        }
    }
    Ok(cases)
}

/// Checks the f32 GEMM of this build (its selected kernels, through `sgemm_ex`) against the
/// oracle, with a tolerance for the summation order and (relaxed build) fused multiply-adds.
pub fn sgemm_selftest() -> Result<usize> {
    let mut rng = Rng(0x1234_5678);
    let mut vals = |len: usize| -> Vec<f32> { (0..len).map(|_| rng.range(-1000, 1000) as f32 / 1000.0).collect() };
    let mut cases = 0;
    let kernels = select::gemm_f32();
    let (mr, nr) = (kernels.main.mr, kernels.main.nr);
    for m in [1, 2, mr - 1, mr, mr + 1, 2 * mr + 1, 97] {
        for n in [1, nr - 1, nr, nr + 1, 3 * nr + 5] {
            for k in [0usize, 1, 3, 8, 17, 300] {
                let (a, b, bias) = (vals(m * k), vals(k * n), vals(m));
                let ldc = n + 2;
                let mut want = vec![0f32; m * ldc];
                gemm_f32_ref(m, n, k, &a, k, 1, &b, n, 1, &mut want, ldc, false, Some(&bias), None, Some((-0.5, 4.0)));
                let av = MatRef::row_major(&a, m, k)?;
                let bv = MatRef::row_major(&b, k, n)?;
                let ep = Epilogue { accumulate: false, bias: Bias::Row(&bias), clamp: Some((-0.5, 4.0)) };
                let (pa, pb);
                let (lhs, rhs) = if cases % 2 == 0 {
                    pa = PackedA::pack(av, &kernels)?;
                    pb = PackedB::pack(bv, &kernels)?;
                    (Lhs::Packed(&pa), Rhs::Packed(&pb))
                } else {
                    (Lhs::Mat(av), Rhs::Mat(bv))
                };
                let mut got = vec![0f32; m * ldc];
                sgemm_ex(&kernels, lhs, rhs, &mut got, ldc, &ep)?;
                for (idx, (g, w)) in got.iter().zip(&want).enumerate() {
                    if (g - w).abs() > 1e-4 * (1.0 + w.abs()) * (k as f32).sqrt().max(1.0) {
                        return Err(Error::invalid(format!(
                            "sgemm self-test ({}): m={m} n={n} k={k}: element {idx} is {g}, expected {w}",
                            kernels.for_rows(m).name
                        )));
                    }
                }
                cases += 1;
            }
        }
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sgemm_matches_the_oracle() {
        assert!(super::sgemm_selftest().unwrap() > 100);
    }
}
