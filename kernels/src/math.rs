//! Branch-free f32 elementary functions (exp, tanh, erf) for the vectorized elementwise kernels:
//! only arithmetic, min/max and selects, so a loop over them compiles to SIMD (`f32x4` under
//! simd128). The f64 erf that shares their Chebyshev coefficients stays in the float ops
//! (`webptq::ops::unary::erf64`), where the tests check these functions against it.
//!
//! std's f32 exp and our f64 erf are calls with branches inside, so a loop over them runs one
//! element at a time. These versions use only arithmetic, min/max and selects, which LLVM turns
//! into SIMD loops (SSE on the host, simd128 on wasm): Sigmoid, Softmax, Tanh, Erf and Gelu run
//! several times faster. All are tested against the f64 functions.

/// e^x for f32, relative error below 2e-7 (a few ulp); inf above 88.72, 0 below -103.9, NaN
/// for NaN. x = k ln2 + r with |r| <= ln2/2, e^r by its Taylor polynomial to degree 7
/// (truncation error below 6e-9), then scaled by 2^k in two steps so that large |k| stays exact.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    // ln 2 = LN2_HI + LN2_LO, with LN2_HI short enough that k * LN2_HI is exact.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding 1.5 * 2^23 rounds to the nearest integer without a call.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-104.0, 88.8);
    let t = x * std::f32::consts::LOG2_E + ROUND;
    let k = t - ROUND;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // k as an integer, read from t's bits (t = 1.5 * 2^23 + k has unit spacing), avoiding the
    // saturating float-to-int cast, which would not vectorize.
    let ki = t.to_bits() as i32 - ROUND.to_bits() as i32;
    let k1 = ki >> 1;
    let k2 = ki - k1;
    // k in [-150, 128]: each half is a normal power of two.
    let pow2 = |e: i32| f32::from_bits(((e + 127) as u32) << 23);
    p * pow2(k1) * pow2(k2)
}

/// tanh for f32, relative error below 3e-7. For |x| >= 1/4, (1 - e) / (1 + e) with
/// e = exp(-2|x|) (no overflow, and 1 - e >= 0.39 loses little to cancellation); below, the odd
/// Taylor series to x^11 (next term under 6e-11 relative). Both computed, one kept.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    let e = exp_f32(-2.0 * a);
    let big = (1.0 - e) / (1.0 + e);
    let a2 = a * a;
    let small = a
        * (1.0
            + a2 * (-1.0 / 3.0
                + a2 * (2.0 / 15.0 + a2 * (-17.0 / 315.0 + a2 * (62.0 / 2835.0 + a2 * (-1382.0 / 155_925.0))))));
    let r = if a < 0.25 { small } else { big };
    r.copysign(x)
}

/// erf for f32, absolute error below 3e-7: the two Chebyshev fits of [`erf64`], truncated to
/// f32 accuracy and evaluated in f32; both are computed and one kept (no branch).
#[inline(always)]
pub fn erf_f32(x: f32) -> f32 {
    // Beyond 4, erf rounds to 1 in f32.
    let a = x.abs().min(4.0);
    let a2 = a * a;
    let small = a * chebyshev_f32::<8>(&ERF_SMALL, (2.0 * a2 - 1.0).min(1.0));
    let mid = 1.0 - exp_f32(-a2) * chebyshev_f32::<14>(&ERFC_MID, ((2.0 * a - 5.0) / 3.0).max(-1.0));
    let r = if a < 1.0 { small } else { mid };
    if x.is_nan() {
        x
    } else {
        r.copysign(x)
    }
}

/// The first N terms of a Chebyshev series, in f32 (Clenshaw).
#[inline(always)]
fn chebyshev_f32<const N: usize>(c: &[f64], t: f32) -> f32 {
    let (mut b1, mut b2) = (0.0f32, 0.0f32);
    for k in (1..N).rev() {
        let b0 = 2.0 * t * b1 - b2 + c.get(k).copied().unwrap_or(0.0) as f32;
        b2 = b1;
        b1 = b0;
    }
    t * b1 - b2 + c.first().copied().unwrap_or(0.0) as f32
}


/// erf(x)/x on [0, 1] in the variable 2x^2 - 1.
#[allow(clippy::excessive_precision)]
pub const ERF_SMALL: [f64; 11] = [
    9.754769393826539e-1,
    -1.4226120510371362e-1,
    1.0035582187599625e-2,
    -5.768764699765949e-4,
    2.7419931252126163e-5,
    -1.1043175505265346e-6,
    3.8488755382815044e-8,
    -1.1808583666450547e-9,
    3.2334124266952815e-11,
    -7.989831019017402e-13,
    1.827427098533008e-14,
];

/// exp(x^2) * erfc(x) on [1, 4] in the variable (2x - 5) / 3.
#[allow(clippy::excessive_precision)]
pub const ERFC_MID: [f64; 21] = [
    2.4442575284923854e-1,
    -1.358986289159462e-1,
    3.563511414852926e-2,
    -8.884098618221415e-3,
    2.118423997558668e-3,
    -4.853987640819142e-4,
    1.0727375453257564e-4,
    -2.2936634479484944e-5,
    4.756874696224914e-6,
    -9.589944861628414e-7,
    1.8829006500631352e-7,
    -3.606320355120651e-8,
    6.747605280077451e-9,
    -1.2349098095961371e-9,
    2.2131210752895925e-10,
    -3.887643540423369e-11,
    6.703976263011668e-12,
    -1.1372403019294098e-12,
    1.8626211684136252e-13,
    -2.7842543085891217e-14,
    6.589173651150304e-15,
];
