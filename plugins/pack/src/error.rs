//! The pack plugin's errors and their categories: integrity problems are verification
//! failures (exit 2), bad requests are invalid input (6), local I/O is exit 1, and a refused
//! unsafe replay is exit 8.

use gait_sdk::pack::runpack::RunpackError;
use gait_sdk::{Category, GaitError};

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Verification(String),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Unsafe(String),
    /// Bad input with a specific hint (exit 6).
    #[error("{message}")]
    Usage { message: String, hint: String },
}

impl PackError {
    pub fn invalid(m: impl Into<String>) -> Self {
        PackError::Invalid(m.into())
    }
    /// Bad input (exit 6) with a hint saying how to fix it.
    pub fn usage(m: impl Into<String>, hint: impl Into<String>) -> Self {
        PackError::Usage {
            message: m.into(),
            hint: hint.into(),
        }
    }
    pub fn verification(m: impl Into<String>) -> Self {
        PackError::Verification(m.into())
    }
    pub fn category(&self) -> Category {
        match self {
            PackError::Invalid(_) | PackError::Usage { .. } => Category::InvalidInput,
            PackError::Verification(_) => Category::VerificationFailed,
            PackError::Io(_) => Category::IoFailure,
            PackError::Unsafe(_) => Category::UnsafeOperation,
        }
    }
}

impl From<RunpackError> for PackError {
    fn from(e: RunpackError) -> Self {
        match e {
            RunpackError::Invalid(m) => PackError::Invalid(m),
            RunpackError::Verification(m) => PackError::Verification(m),
            RunpackError::Io(m) => PackError::Io(m),
        }
    }
}

impl From<gait_sdk::signing::KeyError> for PackError {
    fn from(e: gait_sdk::signing::KeyError) -> Self {
        PackError::Invalid(e.to_string())
    }
}

impl From<PackError> for GaitError {
    fn from(e: PackError) -> Self {
        let cat = e.category();
        let mut g = GaitError::new(cat, e.to_string());
        if let PackError::Usage { hint, .. } = &e {
            g = g.with_hint(hint.clone());
        }
        if cat == Category::UnsafeOperation {
            // The reference reports refused unsafe replays as internal failures (exit 8).
            g = g.with_hint("pass explicit unsafe flags only for approved replay paths");
        }
        g
    }
}
