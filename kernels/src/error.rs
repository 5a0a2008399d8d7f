//! The kernels' own error: what a kernel can refuse (operand shapes that do not fit, an
//! argument out of range, a buffer too large). The main crate converts it into its
//! `webptq::Error` of the same kind, where the plan adds the node and op.
use thiserror::Error as ThisError;

/// Most bytes one kernel buffer may take (the same 2 GiB limit as one tensor).
pub const MAX_BYTES: usize = 1 << 31;

#[derive(Debug, Clone, ThisError, PartialEq)]
pub enum Error {
    /// Operand shapes or lengths that do not fit together.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A parameter outside what the kernel defines.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// A buffer larger than [`MAX_BYTES`].
    #[error("tensor too large: {0}")]
    TooLarge(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn shape(detail: impl Into<String>) -> Self {
        Error::Shape(detail.into())
    }
    pub fn invalid(detail: impl Into<String>) -> Self {
        Error::Invalid(detail.into())
    }
    pub fn too_large(detail: impl Into<String>) -> Self {
        Error::TooLarge(detail.into())
    }
}

/// `len` elements of `elem_bytes` each, or an error if that exceeds [`MAX_BYTES`].
pub fn check_buffer(len: usize, elem_bytes: usize, what: &str) -> Result<()> {
    match len.checked_mul(elem_bytes) {
        Some(b) if b <= MAX_BYTES => Ok(()),
        _ => Err(Error::too_large(format!("a {what} buffer of {len} elements needs more than the {MAX_BYTES} bytes allowed"))),
    }
}
