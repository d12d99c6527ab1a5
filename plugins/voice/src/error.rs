//! Typed errors of the voice plugin and their mapping onto the shared error contract.

use gait_sdk::pack::call::CallError;
use gait_sdk::{Category, GaitError};
use serde_json::{Map, Value};

#[derive(Debug, Clone, thiserror::Error)]
pub enum VoiceError {
    /// Bad input (exit 6); `reason_code` names the rule that rejected it, when there is one.
    #[error("{message}")]
    Invalid {
        message: String,
        reason_code: Option<&'static str>,
    },
    /// A SayToken check failed (exit 2); `code` is the `say_token_…` error code.
    #[error("{code}: {detail}")]
    Token { code: &'static str, detail: String },
    /// The gate did not allow the commitment (exit 3 or 4), with the decision's fields.
    #[error("commitment intent was not allowed by policy")]
    NotAllowed {
        approval_required: bool,
        fields: Map<String, Value>,
    },
    /// A plugin this command needs is not available (exit 7).
    #[error("{0}")]
    Dependency(String),
    /// Local I/O (exit 1).
    #[error("{0}")]
    Io(String),
    /// Another plugin failed with this category and message.
    #[error("{message}")]
    Delegated { category: Category, message: String },
}

impl VoiceError {
    pub fn invalid(m: impl Into<String>) -> Self {
        VoiceError::Invalid {
            message: m.into(),
            reason_code: None,
        }
    }
    /// A rejected call record, commitment or callpack, keeping its reason code.
    pub fn call(e: CallError, prefix: &str) -> Self {
        let message = if prefix.is_empty() {
            e.message
        } else {
            format!("{prefix}: {}", e.message)
        };
        VoiceError::Invalid {
            message,
            reason_code: Some(e.code),
        }
    }
}

impl From<gait_sdk::signing::KeyError> for VoiceError {
    fn from(e: gait_sdk::signing::KeyError) -> Self {
        VoiceError::invalid(e.to_string())
    }
}

impl From<VoiceError> for GaitError {
    fn from(e: VoiceError) -> Self {
        let msg = e.to_string();
        match e {
            VoiceError::Invalid { reason_code, .. } => {
                let g = GaitError::invalid(msg);
                match reason_code {
                    Some(c) => g.with_extra("reason_code", Value::String(c.into())),
                    None => g,
                }
            }
            VoiceError::Token { code, .. } => GaitError::verification(msg)
                .with_extra("error_code", Value::String(code.into()))
                .with_hint("re-mint the token or check the bindings you verify against"),
            VoiceError::NotAllowed {
                approval_required,
                fields,
            } => {
                let cat = if approval_required {
                    Category::ApprovalRequired
                } else {
                    Category::PolicyBlocked
                };
                let mut g = GaitError::new(cat, msg);
                for (k, v) in fields {
                    g = g.with_extra(&k, v);
                }
                g
            }
            VoiceError::Dependency(_) => GaitError::new(Category::DependencyMissing, msg)
                .with_hint(
                "install gait with its bundled plugins (gait-gate, gait-pack) beside gait-voice",
            ),
            VoiceError::Io(_) => GaitError::io(msg),
            VoiceError::Delegated { category, .. } => GaitError::new(category, msg),
        }
    }
}
