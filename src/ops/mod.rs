//! Float (and reference integer) ops, one file per family, each registering its builders in the
//! [`Registry`]. Ops are the oracle for the optimized kernels: clarity over speed, except where a
//! family calls into `kernels`.
mod broadcast;
mod control_flow;
mod conv;
mod detection;
mod einsum;
mod dynamic_lstm;
pub mod conv_geometry;
mod cast;
mod elementwise;
mod generator;
mod quant;
mod pad;
mod plan;
mod reduce;
mod matmul;
mod normalization;
mod pooling;
mod recurrent;
mod registry;
mod resize;
mod shape;
mod unary;
mod wide;
mod math;
mod rearrange;
mod scatter_gather;
mod selection;
mod take;

pub use broadcast::broadcast_shapes;
pub(crate) use quant::lookup::Table as LookupTable;
/// The block-wise N-bit weight layout of MatMulNBits, shared with `quantize::weight_only`.
pub(crate) use quant::nbits;
pub use plan::{ValueHook, Plan};
pub use registry::{unsupported_op, normalize_axis, optional, required, BuildContext, BuildFn, FnOp, Int8Inputs, Op, OpProps, QuantRule, Registry, WEBPTQ_DOMAIN};

/// Registers every op family. Adding a family = one file + one line here.
pub(crate) fn register_all(r: &mut Registry) {
    generator::register(r);
    quant::register(r);
    shape::register(r);
    reduce::register(r);
    pad::register(r);
    resize::register(r);
    matmul::register(r);
    conv::register(r);
    pooling::register(r);
    normalization::register(r);
    elementwise::register(r);
    unary::register(r);
    cast::register(r);
    recurrent::register(r);
    control_flow::register(r);
    dynamic_lstm::register(r);
    einsum::register(r);
    detection::register(r);
    math::register(r);
    rearrange::register(r);
    scatter_gather::register(r);
    selection::register(r);
}
