//! The regress plugin's typed errors. Each carries the category chosen where the problem was
//! detected (never inferred from wording) and, for bad input, a hint telling the user what to
//! do next. They become [`GaitError`]s, and so exit codes, only at the binary's edge.

use gait_sdk::{Category, GaitError};
use serde_json::json;

/// Every way a regress command can fail.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RegressError {
    /// Bad arguments or bad input files (exit 6).
    #[error("{message}")]
    Invalid {
        message: String,
        hint: Option<String>,
    },
    /// A deprecated flag spelling (exit 6 with a `migration` object).
    #[error("deprecated flag spelling: {old} -> {new}")]
    DeprecatedFlag { old: String, new: String },
    /// Evidence failed an integrity check (exit 2).
    #[error("{0}")]
    Verification(String),
    /// Local I/O failed (exit 1).
    #[error("{0}")]
    Io(String),
    /// Another gait process holds the workspace lock (exit 1, retryable).
    #[error("{0}")]
    Contention(String),
    /// A plugin or program this command relies on is missing (exit 7).
    #[error("{message}")]
    Dependency { message: String, hint: String },
    /// A regression run failed where failure is an error (`tour`, exit 5).
    #[error("{0}")]
    RegressFailed(String),
}

impl RegressError {
    pub fn invalid(message: impl Into<String>) -> Self {
        RegressError::Invalid {
            message: message.into(),
            hint: None,
        }
    }

    pub fn invalid_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        RegressError::Invalid {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// Adds a hint to an invalid-input error that has none yet.
    pub fn or_hint(self, hint: &str) -> Self {
        match self {
            RegressError::Invalid {
                message,
                hint: None,
            } => RegressError::Invalid {
                message,
                hint: Some(hint.to_string()),
            },
            other => other,
        }
    }

    /// Prefixes the message, keeping the category and hint.
    pub fn context(self, prefix: &str) -> Self {
        match self {
            RegressError::Invalid { message, hint } => RegressError::Invalid {
                message: format!("{prefix}: {message}"),
                hint,
            },
            RegressError::Verification(m) => RegressError::Verification(format!("{prefix}: {m}")),
            RegressError::Io(m) => RegressError::Io(format!("{prefix}: {m}")),
            other => other,
        }
    }

    pub fn category(&self) -> Category {
        match self {
            RegressError::Invalid { .. } | RegressError::DeprecatedFlag { .. } => {
                Category::InvalidInput
            }
            RegressError::Verification(_) => Category::VerificationFailed,
            RegressError::Io(_) => Category::IoFailure,
            RegressError::Contention(_) => Category::StateContention,
            RegressError::Dependency { .. } => Category::DependencyMissing,
            RegressError::RegressFailed(_) => Category::RegressFailed,
        }
    }
}

impl From<RegressError> for GaitError {
    fn from(e: RegressError) -> Self {
        let g = GaitError::new(e.category(), e.to_string());
        match e {
            RegressError::Invalid {
                hint: Some(hint), ..
            }
            | RegressError::Dependency { hint, .. } => g.with_hint(hint),
            RegressError::DeprecatedFlag { old, new } => {
                g.with_hint(format!("use `{new}` instead")).with_extra(
                    "migration",
                    json!({"kind": "flag", "deprecated_flag": old, "replacement_flag": new}),
                )
            }
            _ => g,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_decide_exit_codes() {
        let e: GaitError = RegressError::invalid_hint("bad", "fix it").into();
        assert_eq!(e.exit_code(), 6);
        assert_eq!(e.envelope()["hint"], "fix it");
        let e: GaitError = RegressError::RegressFailed("x".into()).into();
        assert_eq!(e.exit_code(), 5);
        assert_eq!(e.envelope()["error_code"], "regress_failed");
        let e: GaitError = RegressError::DeprecatedFlag {
            old: "--save-as".into(),
            new: "--out".into(),
        }
        .into();
        assert_eq!(e.exit_code(), 6);
        assert_eq!(e.envelope()["migration"]["replacement_flag"], "--out");
        assert_eq!(e.envelope()["hint"], "use `--out` instead");
    }
}
