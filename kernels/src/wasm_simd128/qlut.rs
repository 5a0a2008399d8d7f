//! `lut_x8__wasm_simd128`: 16 lookups per step in the 16 slices of the table with
//! `i8x16.swizzle` (see [`crate::qlut`]).
#![allow(non_snake_case)] // XNNPACK-style names: operation, then the ISA after a double underscore.
use core::arch::wasm32::*;

/// # Safety
/// See [`LutX8Ukernel`](crate::ukernel::LutX8Ukernel).
pub unsafe fn lut_x8__wasm_simd128(n: usize, x: *const u8, flip: u8, table: &[u8; 256], y: *mut u8) {
    let f = u8x16_splat(flip);
    let sixteen = u8x16_splat(16);
    // SAFETY: the table holds 16 slices of 16 bytes.
    let slices: [v128; 16] = core::array::from_fn(|j| unsafe { v128_load(table.as_ptr().add(16 * j) as *const v128) });
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n; the whole vector is read before y is written (x may be y).
        let mut idx = v128_xor(unsafe { v128_load(x.add(i) as *const v128) }, f);
        let mut out = i8x16_swizzle(slices[0], idx);
        for s in &slices[1..] {
            idx = i8x16_sub(idx, sixteen);
            out = v128_or(out, i8x16_swizzle(*s, idx));
        }
        unsafe { v128_store(y.add(i) as *mut v128, out) };
        i += 16;
    }
    // SAFETY: i <= n; the tail stays in bounds.
    unsafe { crate::scalar::lut_x8__scalar(n - i, x.add(i), flip, table, y.add(i)) }
}

