//! The graph IR: values, nodes, initializers, attributes, topological order and rewrite helpers.
//! It knows no ops: running a graph is `runtime`'s job, rewriting it `passes`'s.
mod attrs;
mod model;

pub use attrs::{Attr, Attrs};
pub use model::{format_dims, normalize_domain, Dim, Graph, Model, Node, OpsetId, Value, ValueId, OUTER_SCOPE};

/// Transitional: the passes moved to the top-level [`crate::passes`] (above ops).
/// This path is kept for one release so that code written against `graph::passes` still builds.
#[doc(hidden)]
pub use crate::passes; // layers: transitional re-export
