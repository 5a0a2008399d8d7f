//! The one error type of the crate.
//!
//! Every failure a user can cause (a bad file, an unsupported op, a feed of the wrong shape)
//! becomes an [`Error`] with a stable [`Error::code`] and a message that names the node, the op
//! and the shapes involved. Ops raise errors without knowing which node they run for; the runtime
//! adds that context with [`Error::in_node`]. Nothing in the crate panics on bad input.
use thiserror::Error as ThisError;

/// Shorthand for `std::result::Result<T, webptq::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where an error happened: a node's name and op type, both possibly unknown (empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Site {
    pub node: String,
    pub op: String,
}

impl std::fmt::Display for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.node.is_empty(), self.op.is_empty()) {
            (true, true) => Ok(()),
            (false, true) => write!(f, "node '{}': ", self.node),
            (true, false) => write!(f, "{}: ", self.op),
            (false, false) => write!(f, "node '{}' ({}): ", self.node, self.op),
        }
    }
}

/// One node whose op this build cannot run: what JS receives as `err.unsupported[i]`
/// (`{ opType, domain, node }`) and what `model.info().unsupported` lists.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnsupportedOp {
    pub op_type: String,
    /// The node's domain, normalized: empty for the default ONNX domain.
    pub domain: String,
    /// The node's name (or its label when unnamed).
    pub node: String,
    /// Why, when it is not simply a missing op (e.g. a body graph reads an outer value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl UnsupportedOp {
    pub fn new(op_type: impl Into<String>, domain: impl Into<String>, node: impl Into<String>) -> Self {
        UnsupportedOp { op_type: op_type.into(), domain: domain.into(), node: node.into(), reason: None }
    }
    pub fn because(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
    /// "Op" or "domain.Op".
    pub fn qualified_op(&self) -> String {
        if self.domain.is_empty() {
            self.op_type.clone()
        } else {
            format!("{}.{}", self.domain, self.op_type)
        }
    }
}

/// "Op (node 'name')" or "domain.Op (node 'name')", then the reason if any.
impl std::fmt::Display for UnsupportedOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (node '{}')", self.qualified_op(), self.node)?;
        if let Some(r) = &self.reason {
            write!(f, " {r}")?;
        }
        Ok(())
    }
}

fn join_unsupported(list: &[UnsupportedOp]) -> String {
    list.iter().map(|u| u.to_string()).collect::<Vec<_>>().join(", ")
}

#[derive(Debug, Clone, ThisError, PartialEq)]
pub enum Error {
    /// The bytes are not a usable ONNX model (truncated, not protobuf, inconsistent graph).
    #[error("invalid model: {0}")]
    InvalidModel(String),
    /// The graph has a cycle through the named node.
    #[error("invalid model: the graph has a cycle through node '{node}' ({op})")]
    Cycle { node: String, op: String },
    /// One or more nodes use ops this build cannot run; listed as "op (node 'name')".
    #[error("unsupported op{}: {}", if .0.len() == 1 { "" } else { "s" }, join_unsupported(.0))]
    UnsupportedOps(Vec<UnsupportedOp>),
    /// A tensor's shape does not fit what the op or the model requires.
    #[error("{site}shape mismatch: {detail}")]
    ShapeMismatch { site: Site, detail: String },
    /// A tensor has a data type the op or the model does not accept.
    #[error("{site}type mismatch: {detail}")]
    TypeMismatch { site: Site, detail: String },
    /// An attribute or input value is outside what the op defines.
    #[error("{site}invalid argument: {detail}")]
    InvalidArgument { site: Site, detail: String },
    /// A feed is missing, unknown, or does not match the model's declared input.
    #[error("invalid feed '{name}': {detail}")]
    InvalidFeed { name: String, detail: String },
    /// A tensor would be larger than the engine allows (protects against unbounded memory).
    #[error("{site}tensor too large: {detail}")]
    TooLarge { site: Site, detail: String },
    /// Options given by the caller contradict each other or are out of range.
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// The caller cancelled the work.
    #[error("cancelled")]
    Cancelled,
    /// A bug in webptq: an internal invariant does not hold. Never raised for bad user input
    /// (that is one of the variants above); reaches JS as `INTERNAL`.
    #[error("{site}internal error (a bug in webptq): {detail}")]
    Internal { site: Site, detail: String },
}

impl Error {
    /// A stable, machine-readable code for the JS `WebptqError.code` and the CLI.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidModel(_) | Error::Cycle { .. } => "INVALID_MODEL",
            Error::UnsupportedOps(_) => "UNSUPPORTED_OP",
            Error::ShapeMismatch { .. } => "SHAPE_MISMATCH",
            Error::TypeMismatch { .. } => "TYPE_MISMATCH",
            Error::InvalidArgument { .. } => "INVALID_ARGUMENT",
            Error::InvalidFeed { .. } => "INVALID_FEED",
            Error::TooLarge { .. } => "TOO_LARGE",
            Error::InvalidOptions(_) => "INVALID_OPTIONS",
            Error::Cancelled => "CANCELLED",
            Error::Internal { .. } => "INTERNAL",
        }
    }

    pub fn shape(detail: impl Into<String>) -> Self {
        Error::ShapeMismatch { site: Site::default(), detail: detail.into() }
    }
    pub fn dtype(detail: impl Into<String>) -> Self {
        Error::TypeMismatch { site: Site::default(), detail: detail.into() }
    }
    pub fn invalid(detail: impl Into<String>) -> Self {
        Error::InvalidArgument { site: Site::default(), detail: detail.into() }
    }
    pub fn too_large(detail: impl Into<String>) -> Self {
        Error::TooLarge { site: Site::default(), detail: detail.into() }
    }
    /// A broken internal invariant (a bug), never bad input.
    pub fn internal(detail: impl Into<String>) -> Self {
        Error::Internal { site: Site::default(), detail: detail.into() }
    }
    pub fn model(detail: impl Into<String>) -> Self {
        Error::InvalidModel(detail.into())
    }

    /// Adds the node name and op type to an error raised inside an op (keeps any site it has).
    pub fn in_node(mut self, node: &str, op: &str) -> Self {
        if let Error::ShapeMismatch { site, .. }
        | Error::TypeMismatch { site, .. }
        | Error::InvalidArgument { site, .. }
        | Error::TooLarge { site, .. }
        | Error::Internal { site, .. } = &mut self
        {
            if site.node.is_empty() && site.op.is_empty() {
                *site = Site { node: node.to_string(), op: op.to_string() };
            }
        }
        self
    }
}

/// Builds an error with `format!` arguments: `bail!(shape, "x has {} dims", n)`.
#[macro_export]
macro_rules! bail {
    ($kind:ident, $($arg:tt)*) => {
        return Err($crate::Error::$kind(format!($($arg)*)))
    };
}

impl From<webptq_kernels::error::Error> for Error {
    fn from(e: webptq_kernels::error::Error) -> Self {
        use webptq_kernels::error::Error as K;
        match e {
            K::Shape(d) => Error::shape(d),
            K::Invalid(d) => Error::invalid(d),
            K::TooLarge(d) => Error::too_large(d),
        }
    }
}
