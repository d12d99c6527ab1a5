//! The one error model every Gait plugin shares, and the one mapping from error category to
//! exit code.
//!
//! Library code returns typed errors that convert into [`GaitError`] with a category chosen by
//! the code that knows what went wrong, never by the wording of a message.

use serde_json::{Map, Value};

/// Process exit codes of the documented contract.
pub mod exit {
    pub const OK: i32 = 0;
    pub const INTERNAL: i32 = 1;
    pub const VERIFICATION_FAILED: i32 = 2;
    pub const POLICY_BLOCKED: i32 = 3;
    pub const APPROVAL_REQUIRED: i32 = 4;
    pub const REGRESS_FAILED: i32 = 5;
    pub const INVALID_INPUT: i32 = 6;
    pub const DEPENDENCY_MISSING: i32 = 7;
    pub const UNSAFE_OPERATION: i32 = 8;
}

/// What kind of failure an error is; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    InvalidInput,
    VerificationFailed,
    PolicyBlocked,
    ApprovalRequired,
    RegressFailed,
    DependencyMissing,
    UnsafeOperation,
    IoFailure,
    StateContention,
    NetworkTransient,
    Internal,
}

impl Category {
    pub fn exit_code(self) -> i32 {
        match self {
            Category::InvalidInput => exit::INVALID_INPUT,
            Category::VerificationFailed => exit::VERIFICATION_FAILED,
            Category::PolicyBlocked => exit::POLICY_BLOCKED,
            Category::ApprovalRequired => exit::APPROVAL_REQUIRED,
            Category::RegressFailed => exit::REGRESS_FAILED,
            Category::DependencyMissing => exit::DEPENDENCY_MISSING,
            Category::UnsafeOperation => exit::UNSAFE_OPERATION,
            Category::IoFailure
            | Category::StateContention
            | Category::NetworkTransient
            | Category::Internal => exit::INTERNAL,
        }
    }

    /// `error_code` of the JSON envelope.
    pub fn error_code(self) -> &'static str {
        match self {
            Category::InvalidInput => "invalid_input",
            Category::VerificationFailed => "verification_failed",
            Category::PolicyBlocked => "policy_blocked",
            Category::ApprovalRequired => "approval_required",
            Category::RegressFailed => "regress_failed",
            Category::DependencyMissing => "dependency_missing",
            Category::UnsafeOperation => "unsafe_operation",
            _ => "internal_failure",
        }
    }

    /// `error_category` of the JSON envelope.
    pub fn category_name(self) -> &'static str {
        match self {
            Category::InvalidInput => "invalid_input",
            Category::VerificationFailed => "verification_failed",
            Category::PolicyBlocked => "policy_blocked",
            Category::ApprovalRequired => "approval_required",
            Category::DependencyMissing => "dependency_missing",
            Category::StateContention => "state_contention",
            Category::NetworkTransient => "network_transient",
            Category::IoFailure => "io_failure",
            _ => "internal_failure",
        }
    }

    /// Whether retrying the same command may succeed.
    pub fn retryable(self) -> bool {
        matches!(self, Category::StateContention | Category::NetworkTransient)
    }

    pub fn default_hint(self) -> &'static str {
        match self {
            Category::InvalidInput => "check command usage and input schema",
            Category::VerificationFailed => "re-run verify after checking artifact integrity",
            Category::PolicyBlocked => "inspect reason_codes and adjust policy or intent",
            Category::ApprovalRequired => "provide a valid approval token and retry",
            Category::DependencyMissing => "install or configure the missing dependency and retry",
            Category::UnsafeOperation => {
                "pass explicit unsafe flags only for approved replay paths"
            }
            Category::StateContention => "another gait process holds the lock; retry shortly",
            _ => "retry after checking local environment and logs",
        }
    }
}

/// A categorised, user-facing error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct GaitError {
    pub category: Category,
    pub message: String,
    /// Overrides the category's default hint.
    pub hint: Option<String>,
    /// Extra members merged into the JSON envelope (for example `migration`).
    pub extra: Map<String, Value>,
}

impl GaitError {
    pub fn new(category: Category, message: impl Into<String>) -> Self {
        GaitError {
            category,
            message: message.into(),
            hint: None,
            extra: Map::new(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Category::InvalidInput, message)
    }
    pub fn io(message: impl Into<String>) -> Self {
        Self::new(Category::IoFailure, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Category::Internal, message)
    }
    pub fn verification(message: impl Into<String>) -> Self {
        Self::new(Category::VerificationFailed, message)
    }
    pub fn contention(message: impl Into<String>) -> Self {
        Self::new(Category::StateContention, message)
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn with_extra(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_string(), value);
        self
    }
    /// Prefixes the message, keeping category and extras.
    pub fn context(mut self, prefix: &str) -> Self {
        self.message = format!("{prefix}: {}", self.message);
        self
    }
    pub fn exit_code(&self) -> i32 {
        self.category.exit_code()
    }

    /// The JSON error envelope members (`ok:false`, `error`, `error_code`, …) without
    /// `correlation_id`, which the output layer adds.
    pub fn envelope(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("ok".into(), Value::Bool(false));
        m.insert("error".into(), Value::String(self.message.clone()));
        m.insert("error_code".into(), self.category.error_code().into());
        m.insert(
            "error_category".into(),
            self.category.category_name().into(),
        );
        m.insert("retryable".into(), Value::Bool(self.category.retryable()));
        m.insert(
            "hint".into(),
            Value::String(
                self.hint
                    .clone()
                    .unwrap_or_else(|| self.category.default_hint().to_string()),
            ),
        );
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        m
    }
}

impl From<crate::jcs::CanonicalError> for GaitError {
    fn from(e: crate::jcs::CanonicalError) -> Self {
        GaitError::invalid(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_maps_to_the_documented_exit_code() {
        assert_eq!(Category::InvalidInput.exit_code(), 6);
        assert_eq!(Category::VerificationFailed.exit_code(), 2);
        assert_eq!(Category::PolicyBlocked.exit_code(), 3);
        assert_eq!(Category::ApprovalRequired.exit_code(), 4);
        assert_eq!(Category::RegressFailed.exit_code(), 5);
        assert_eq!(Category::DependencyMissing.exit_code(), 7);
        assert_eq!(Category::UnsafeOperation.exit_code(), 8);
        assert_eq!(Category::StateContention.exit_code(), 1);
        assert!(Category::StateContention.retryable());
        assert!(!Category::InvalidInput.retryable());
    }

    #[test]
    fn envelope_has_contract_members() {
        let e = GaitError::invalid("both --policy and --intent are required");
        let env = e.envelope();
        assert_eq!(env["error_code"], "invalid_input");
        assert_eq!(env["hint"], "check command usage and input schema");
        assert_eq!(env["retryable"], false);
        assert_eq!(env["ok"], false);
    }
}
