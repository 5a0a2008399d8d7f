//! Running graphs: [`Plan`] binds nodes to ops and frees values after their last use;
//! [`Session`] checks feeds and runs a plan.
mod plan;
mod session;

pub use plan::{Observer, Plan};
pub use session::{Session, SessionOptions};
