//! The registry's typed errors and their mapping onto the SDK error contract (exit codes).

use crate::installed::RecordError;
use gait_sdk::error::{Category, GaitError};
use gait_sdk::trust::TrustError;

/// Everything that can go wrong in the registry. The variant, never the wording, decides the
/// exit code: [`RegistryError::Invalid`] 6, [`RegistryError::Verification`] 2,
/// [`RegistryError::UntrustedKey`] 6, [`RegistryError::Io`] and [`RegistryError::Busy`] 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Unusable input: arguments, an index or lock file that does not parse or validate, a
    /// plugin or version that cannot be resolved, a key that cannot be read.
    #[error("{message}")]
    Invalid {
        message: String,
        hint: Option<String>,
    },
    /// A signature or hash does not verify, or installed plugins drifted from what was pinned.
    #[error("{message}")]
    Verification {
        message: String,
        hint: Option<String>,
    },
    /// `what` is signed by a key the trust store does not hold and nobody approved it.
    #[error("{what} is signed by minisign key {key_id}, which is not trusted")]
    UntrustedKey {
        what: String,
        key_id: String,
        /// Where the registry offers this public key, if it does.
        offered: Option<String>,
    },
    #[error("{0}")]
    Io(String),
    /// Another gait process holds the plugin directory lock.
    #[error("{message}")]
    Busy { message: String, hint: String },
}

pub type Result<T> = std::result::Result<T, RegistryError>;

impl RegistryError {
    pub fn invalid(message: impl Into<String>) -> Self {
        RegistryError::Invalid {
            message: message.into(),
            hint: None,
        }
    }
    pub fn invalid_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        RegistryError::Invalid {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
    pub fn verification(message: impl Into<String>) -> Self {
        RegistryError::Verification {
            message: message.into(),
            hint: None,
        }
    }
    pub fn verification_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        RegistryError::Verification {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
    pub fn io(message: impl Into<String>) -> Self {
        RegistryError::Io(message.into())
    }

    /// The SDK category (and so the exit code) of this error.
    pub fn category(&self) -> Category {
        match self {
            RegistryError::Invalid { .. } | RegistryError::UntrustedKey { .. } => {
                Category::InvalidInput
            }
            RegistryError::Verification { .. } => Category::VerificationFailed,
            RegistryError::Io(_) => Category::IoFailure,
            RegistryError::Busy { .. } => Category::StateContention,
        }
    }

    /// What the user can run to get past this error.
    pub fn hint(&self) -> Option<String> {
        match self {
            RegistryError::Invalid { hint, .. } | RegistryError::Verification { hint, .. } => {
                hint.clone()
            }
            RegistryError::UntrustedKey {
                key_id, offered, ..
            } => Some(untrusted_key_hint(key_id, offered.as_deref())),
            RegistryError::Busy { hint, .. } => Some(hint.clone()),
            RegistryError::Io(_) => None,
        }
    }

    /// Replaces the hint (of `Invalid` and `Verification` errors).
    pub fn with_hint(self, new_hint: impl Into<String>) -> Self {
        match self {
            RegistryError::Invalid { message, .. } => RegistryError::Invalid {
                message,
                hint: Some(new_hint.into()),
            },
            RegistryError::Verification { message, .. } => RegistryError::Verification {
                message,
                hint: Some(new_hint.into()),
            },
            other => other,
        }
    }

    /// Prefixes the message (keeps the variant).
    pub fn context(self, prefix: &str) -> Self {
        match self {
            RegistryError::Invalid { message, hint } => RegistryError::Invalid {
                message: format!("{prefix}: {message}"),
                hint,
            },
            RegistryError::Verification { message, hint } => RegistryError::Verification {
                message: format!("{prefix}: {message}"),
                hint,
            },
            RegistryError::Io(m) => RegistryError::Io(format!("{prefix}: {m}")),
            RegistryError::Busy { message, hint } => RegistryError::Busy {
                message: format!("{prefix}: {message}"),
                hint,
            },
            e @ RegistryError::UntrustedKey { .. } => e,
        }
    }
}

/// The hint for a key nobody approved: name the key id and the flag.
pub fn untrusted_key_hint(key_id: &str, offered: Option<&str>) -> String {
    match offered {
        Some(path) => format!(
            "check key id {key_id} with the publisher, then re-run with `--trust-key {path}` \
             (or run on a terminal to be asked)"
        ),
        None => format!(
            "re-run with `--trust-key <the publisher's minisign .pub file or base64 key>` for key \
             id {key_id} (or run on a terminal to be asked)"
        ),
    }
}

impl From<RegistryError> for GaitError {
    fn from(e: RegistryError) -> GaitError {
        let hint = e.hint();
        let mut g = GaitError::new(e.category(), e.to_string());
        if let RegistryError::UntrustedKey { key_id, .. } = &e {
            g = g.with_extra("key_id", serde_json::Value::String(key_id.clone()));
        }
        match hint {
            Some(h) => g.with_hint(h),
            None => g,
        }
    }
}

impl From<RecordError> for RegistryError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::Malformed(m) => RegistryError::verification_hint(
                format!("install record: {m}"),
                "the install record is damaged: inspect it, or remove it and reinstall your plugins",
            ),
            RecordError::Io(m) => RegistryError::Io(m),
        }
    }
}

impl From<TrustError> for RegistryError {
    fn from(e: TrustError) -> Self {
        match e {
            TrustError::Malformed(m) => RegistryError::invalid(m),
            TrustError::Io(m) => RegistryError::Io(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_and_hints() {
        let e = RegistryError::UntrustedKey {
            what: "index".into(),
            key_id: "69EAA7E6ABEC3C9D".into(),
            offered: None,
        };
        let g: GaitError = e.into();
        assert_eq!(g.exit_code(), 6);
        assert!(g.hint.as_deref().unwrap().contains("--trust-key"));
        assert!(g.hint.as_deref().unwrap().contains("69EAA7E6ABEC3C9D"));
        assert_eq!(
            GaitError::from(RegistryError::verification("x")).exit_code(),
            2
        );
        assert_eq!(GaitError::from(RegistryError::io("x")).exit_code(), 1);
        let e = RegistryError::invalid_hint("bad", "fix it").context("index.toml");
        assert_eq!(e.to_string(), "index.toml: bad");
        assert_eq!(e.hint().as_deref(), Some("fix it"));
    }
}
