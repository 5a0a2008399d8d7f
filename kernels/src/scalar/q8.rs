//! Portable 8-bit micro-kernels: the contracts of `qdwconv`, `qelementwise` and `qpool` in plain
//! Rust. Every output goes through the scalar rule ([`Requant::apply`] or the reference's
//! per-element functions), so these are also what the SIMD kernels fall back to when the SIMD
//! form does not apply (a non-finite multiplier, a window too large for 16-bit sums).
#![allow(non_snake_case)] // XNNPACK-style names: the ISA after a double underscore.
use crate::q8::Q8;
use crate::ukernel::{AddParams, DwRows, MulParams, PoolRows, Requant, RequantizeParams};
use crate::reference::{add_q8_one, mul_q8_one, requantize_q8_one};

/// # Safety
/// See [`DwQ8Ukernel`](crate::ukernel::DwQ8Ukernel).
pub unsafe fn dwconv_q8__scalar<Y: Q8>(k: &DwRows, out: *mut u8) {
    for i in 0..k.rows {
        for j in 0..k.n {
            let mut acc = k.bias;
            for (&off, &wt) in k.offs.iter().zip(k.w) {
                // SAFETY: the caller guarantees base + i·in_stride + off + 2·j + 1 is readable.
                let (a, b) = unsafe {
                    let p = k.base.add(i * k.in_stride + off + 2 * j);
                    (*p as i32, *p.add(1) as i32)
                };
                acc = acc.wrapping_add(a * (wt as i16 as i32) + b * ((wt >> 16) as i16 as i32));
            }
            // SAFETY: out holds rows·n bytes.
            unsafe { *out.add(i * k.n + j) = k.rq.apply::<Y>(acc).to_i32() as u8 };
        }
    }
}

/// # Safety
/// See [`PackQ8Ukernel`](crate::ukernel::PackQ8Ukernel).
pub unsafe fn pack_q8__scalar(n: usize, a: *const u8, b: *const u8, flip: u8, zp: i16, dst: *mut i16) {
    let center = |p: *const u8, i: usize| (unsafe { *p.add(i) } ^ flip) as i16 - zp;
    for i in 0..n {
        // SAFETY: the caller guarantees n bytes of a (and b) and 2n (n) values of dst.
        unsafe {
            if b.is_null() {
                *dst.add(i) = center(a, i);
            } else {
                *dst.add(2 * i) = center(a, i);
                *dst.add(2 * i + 1) = center(b, i);
            }
        }
    }
}

/// Applies `f` to the `n` element pairs of a binary micro-kernel call.
///
/// # Safety
/// See [`BinaryQ8Ukernel`](crate::ukernel::BinaryQ8Ukernel).
#[inline(always)]
unsafe fn binary<Q: Q8>(n: usize, a: *const u8, b: *const u8, b_splat: bool, out: *mut u8, f: impl Fn(Q, Q) -> Q) {
    for i in 0..n {
        // SAFETY: a and out hold n bytes, b n bytes or 1 (splat).
        unsafe {
            let bv = *b.add(if b_splat { 0 } else { i });
            *out.add(i) = f(Q::from_byte(*a.add(i)), Q::from_byte(bv)).to_i32() as u8;
        }
    }
}

/// # Safety
/// See [`BinaryQ8Ukernel`](crate::ukernel::BinaryQ8Ukernel).
pub unsafe fn add_q8__scalar<Q: Q8>(n: usize, a: *const u8, b: *const u8, b_splat: bool, p: &AddParams, out: *mut u8) {
    unsafe { binary::<Q>(n, a, b, b_splat, out, |x, y| add_q8_one(x, y, p)) }
}

/// # Safety
/// See [`BinaryQ8Ukernel`](crate::ukernel::BinaryQ8Ukernel).
pub unsafe fn mul_q8__scalar<Q: Q8>(n: usize, a: *const u8, b: *const u8, b_splat: bool, p: &MulParams, out: *mut u8) {
    unsafe { binary::<Q>(n, a, b, b_splat, out, |x, y| mul_q8_one(x, y, p)) }
}

/// Sets each output of a pool call to `f(taps)`, the taps of that output.
///
/// # Safety
/// See [`UnaryQ8Ukernel`](crate::ukernel::UnaryQ8Ukernel).
pub unsafe fn requantize_q8__scalar<Q: Q8>(n: usize, x: *const u8, p: &RequantizeParams, out: *mut u8) {
    for i in 0..n {
        // SAFETY: x and out hold n bytes.
        unsafe { *out.add(i) = requantize_q8_one(Q::from_byte(*x.add(i)), p).to_i32() as u8 };
    }
}

/// # Safety
/// See [`MaxPoolQ8Ukernel`](crate::ukernel::MaxPoolQ8Ukernel).
#[inline(always)]
unsafe fn each_output(r: &PoolRows, out: *mut u8, f: impl Fn(usize, &mut dyn Iterator<Item = u8>) -> u8) {
    for i in 0..r.rows {
        for j in 0..r.n {
            // SAFETY: the caller guarantees the reads and rows·n bytes of out.
            let mut taps = r.offs.iter().map(|&o| unsafe { *r.base.add(i * r.in_stride + o + j) });
            unsafe { *out.add(i * r.n + j) = f(j, &mut taps) };
        }
    }
}

/// # Safety
/// See [`MaxPoolQ8Ukernel`](crate::ukernel::MaxPoolQ8Ukernel).
pub unsafe fn maxpool_q8__scalar(r: &PoolRows, flip: u8, out: *mut u8) {
    unsafe { each_output(r, out, |_, taps| flip ^ taps.max().unwrap_or(0)) }
}

/// # Safety
/// See [`AvgPoolQ8Ukernel`](crate::ukernel::AvgPoolQ8Ukernel).
pub unsafe fn avgpool_q8__scalar<Q: Q8>(r: &PoolRows, k_zp: i32, mult: &[f32], rq: &Requant, out: *mut u8) {
    unsafe {
        each_output(r, out, |j, taps| {
            let sum: i32 = taps.map(i32::from).sum();
            Requant { multiplier: mult[j], ..*rq }.apply::<Q>(sum - k_zp).to_i32() as u8
        })
    }
}

/// # Safety
/// See [`LutX8Ukernel`](crate::ukernel::LutX8Ukernel).
pub unsafe fn lut_x8__scalar(n: usize, x: *const u8, flip: u8, table: &[u8; 256], y: *mut u8) {
    for i in 0..n {
        // SAFETY: x and y hold n bytes; reading x[i] before writing y[i] allows x == y.
        unsafe { *y.add(i) = table[(*x.add(i) ^ flip) as usize] };
    }
}

/// # Safety
/// See [`SumU8Ukernel`](crate::ukernel::SumU8Ukernel).
pub unsafe fn sum_u8__scalar(n: usize, x: *const u8, flip: u8) -> u64 {
    // SAFETY: x holds n bytes.
    let x = unsafe { std::slice::from_raw_parts(x, n) };
    x.iter().map(|&v| (v ^ flip) as u64).sum()
}
