//! The graph IR and the passes that rewrite it. Owns structure; running it is `runtime`'s job.
mod attrs;
mod model;
pub mod passes;

pub use attrs::{Attr, Attrs};
pub use model::{format_dims, normalize_domain, Dim, Graph, Model, Node, OpsetId, Value, ValueId};
