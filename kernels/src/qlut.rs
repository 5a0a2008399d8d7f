//! 8-bit table lookup: `y[i] = table[x[i] ^ flip]` over bytes, the kernel of QLinearLookup
//! (`ops::quant::lookup`; `flip` = 0x80 maps int8 values onto table order). The SIMD128 kernel
//! looks up 16 bytes at once in the table's 16 slices of 16 entries with `i8x16.swizzle`,
//! which returns 0 for an index outside 0..16: the index minus 16·j is in range for exactly one
//! slice j, so the OR of the 16 swizzles is the entry (XNNPACK's x8-lut design).
pub use crate::ukernel::{LutX8Ukernel, Named};

/// `table[x ^ flip]` for every byte of `x` into `y` (the same length) on `k` (chosen once by
/// `select::lut_x8`).
pub fn lut_x8(k: Named<LutX8Ukernel>, x: &[u8], flip: u8, table: &[u8; 256], y: &mut [u8]) {
    let n = x.len().min(y.len());
    // SAFETY: both slices hold at least n bytes.
    unsafe { (k.ukernel)(n, x.as_ptr(), flip, table, y.as_mut_ptr()) }
}
