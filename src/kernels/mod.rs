//! Hand-written compute kernels. Each kernel has a scalar reference (the oracle) and SIMD
//! versions tested against it; `select` picks one per build. Names follow XNNPACK:
//! operands and accumulator, tile, then the ISA after a double underscore.
