//! The graph IR and the passes that rewrite it. Owns structure; running it is `runtime`'s job.
mod attrs;
mod model;
pub mod passes;

pub use attrs::{Attr, Attrs};
pub use model::{format_dims, normalize_domain, Dim, Graph, Model, Node, OpsetId, Value, ValueId, OUTER_SCOPE};

/// The ops of `graph` that the standard registry cannot run, as "Op (node 'name')".
pub fn describe_unsupported(graph: &Graph) -> Vec<String> {
    let r = crate::ops::Registry::standard();
    graph.nodes.iter().filter(|n| !r.supports(&n.domain, &n.op_type)).map(crate::ops::describe_op).collect()
}
