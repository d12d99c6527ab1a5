//! Typed errors of the UI plugin and their mapping onto the shared error contract.

use gait_sdk::GaitError;

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// A bad flag value (exit 6).
    #[error("{message}")]
    Invalid {
        message: String,
        hint: Option<&'static str>,
    },
    /// Binding or serving failed (exit 1, per the spec's `ui` exception).
    #[error("{0}")]
    Serve(String),
}

impl UiError {
    pub fn invalid(message: impl Into<String>, hint: &'static str) -> Self {
        UiError::Invalid {
            message: message.into(),
            hint: Some(hint),
        }
    }
}

impl From<UiError> for GaitError {
    fn from(e: UiError) -> Self {
        let msg = e.to_string();
        match e {
            UiError::Invalid { hint, .. } => {
                let g = GaitError::invalid(msg);
                match hint {
                    Some(h) => g.with_hint(h),
                    None => g,
                }
            }
            UiError::Serve(_) => GaitError::io(msg),
        }
    }
}
