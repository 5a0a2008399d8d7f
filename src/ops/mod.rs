//! Float (and reference integer) ops, one file per family, each registering its builders in the
//! [`Registry`]. Ops are the oracle for the optimized kernels: clarity over speed, except where a
//! family calls into `kernels`.
mod broadcast;
mod cast;
mod elementwise;
mod generator;
mod registry;
mod unary;

pub use broadcast::broadcast_shapes;
pub use registry::{describe_op, normalize_axis, optional, required, BuildContext, BuildFn, FnOp, Op, Registry};

/// Registers every op family. Adding a family = one file + one line here.
pub(crate) fn register_all(r: &mut Registry) {
    generator::register(r);
    elementwise::register(r);
    unary::register(r);
    cast::register(r);
}
