//! Running models: a [`Session`] applies the passes its options ask for, binds the graph to a
//! [`Plan`] (`ops::Plan`: nodes bound to ops once, values freed after their last use), checks
//! feeds and runs it. The plan lives in `ops` because control-flow ops run their bodies through
//! it; re-exported here, where callers expect it.
mod session;

pub use crate::ops::{ValueHook, Plan};
pub use session::{Session, SessionOptions};
