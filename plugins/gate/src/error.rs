//! The gate plugin's typed errors and their mapping onto the shared error categories.

use crate::intent::IntentError;
use crate::policy::{PolicyError, LEGACY_HINT};
use gait_sdk::{Category, GaitError};

/// Everything a gate command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// Bad flags, bad files, bad values: exit 6.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Policy(#[from] PolicyError),
    #[error("normalize intent: {0}")]
    Intent(IntentError),
    #[error("{0}")]
    ParseIntent(IntentError),
    /// Reading or writing local files failed: exit 1.
    #[error("{0}")]
    Io(String),
    /// Evaluation refused in fail-closed mode (`ok:false`, exit 3, no trace).
    #[error("{0}")]
    Blocked(String),
    /// A delegation token did not verify (`gait delegate verify`): exit 2.
    #[error("{code}: {message}")]
    DelegationVerify {
        code: String,
        message: String,
        token_id: String,
        token_path: String,
    },
    /// Another process holds a lock: exit 1, retryable.
    #[error("{0}")]
    Contention(String),
}

impl GateError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        GateError::Invalid(msg.into())
    }
}

impl From<IntentError> for GateError {
    fn from(e: IntentError) -> Self {
        match e {
            IntentError::Parse(_) => GateError::ParseIntent(e),
            IntentError::Normalize(_) => GateError::Intent(e),
        }
    }
}

impl From<gait_sdk::signing::KeyError> for GateError {
    fn from(e: gait_sdk::signing::KeyError) -> Self {
        GateError::Invalid(e.to_string())
    }
}

impl From<GateError> for GaitError {
    fn from(e: GateError) -> Self {
        let message = e.to_string();
        match e {
            GateError::Policy(p) => match p.migration() {
                Some(m) => GaitError::invalid(message)
                    .with_hint(LEGACY_HINT)
                    .with_extra("migration", m),
                None => GaitError::invalid(message),
            },
            GateError::Io(_) => GaitError::new(Category::IoFailure, message),
            GateError::Blocked(_) => GaitError::new(Category::PolicyBlocked, message),
            GateError::DelegationVerify {
                code,
                token_id,
                token_path,
                ..
            } => {
                let mut g = GaitError::verification(message)
                    .with_extra("error_code", serde_json::json!(code))
                    .with_extra("token_path", serde_json::json!(token_path));
                if !token_id.is_empty() {
                    g = g.with_extra("token_id", serde_json::json!(token_id));
                }
                g
            }
            GateError::Contention(_) => GaitError::new(Category::StateContention, message),
            _ => GaitError::invalid(message),
        }
    }
}
