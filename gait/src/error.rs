//! The launcher's typed errors and their mapping onto the SDK error contract.

use gait_sdk::error::{Category, GaitError};
use std::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub enum LauncherError {
    /// The launcher's own arguments are wrong.
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// No plugin serves the command.
    UnknownCommand {
        command: String,
        suggestion: Option<String>,
    },
    /// The plugin named after the command exists but cannot be used.
    BrokenPlugin {
        name: String,
        path: PathBuf,
        reason: String,
    },
    /// The plugin named after the command was refused by the trust policy.
    Refused {
        name: String,
        error: crate::trust::TrustError,
    },
    /// The plugin named after the command speaks another contract major.
    Incompatible { name: String, reason: String },
    /// `exec` of the chosen plugin failed.
    Exec { path: PathBuf, error: io::Error },
}

impl fmt::Display for LauncherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LauncherError::Usage { message, .. } => f.write_str(message),
            LauncherError::UnknownCommand { command, .. } => {
                write!(f, "unknown command {command:?}")
            }
            LauncherError::BrokenPlugin { name, path, reason } => {
                write!(
                    f,
                    "plugin {name:?} ({}) cannot be used: {reason}",
                    path.display()
                )
            }
            LauncherError::Refused { name, error } => {
                write!(f, "refusing to run plugin {name:?}: {error}")
            }
            LauncherError::Incompatible { name, reason } => {
                write!(f, "refusing to run plugin {name:?}: {reason}")
            }
            LauncherError::Exec { path, error } => {
                write!(
                    f,
                    "exec {}: {}",
                    path.display(),
                    gait_sdk::fsutil::go_io_reason(error)
                )
            }
        }
    }
}

impl std::error::Error for LauncherError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LauncherError::Exec { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl LauncherError {
    pub fn category(&self) -> Category {
        match self {
            LauncherError::Usage { .. } | LauncherError::UnknownCommand { .. } => {
                Category::InvalidInput
            }
            LauncherError::BrokenPlugin { .. } | LauncherError::Incompatible { .. } => {
                Category::DependencyMissing
            }
            // Refusing to run what cannot be vouched for is a verification failure (exit 2),
            // whether the plugin is merely untrusted or was tampered with.
            LauncherError::Refused { .. } => Category::VerificationFailed,
            LauncherError::Exec { error, .. } if error.kind() == io::ErrorKind::NotFound => {
                Category::DependencyMissing
            }
            LauncherError::Exec { .. } => Category::Internal,
        }
    }

    pub fn exit_code(&self) -> i32 {
        self.category().exit_code()
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            LauncherError::Usage { hint, .. } => hint.clone(),
            LauncherError::UnknownCommand {
                suggestion: Some(s),
                ..
            } => Some(format!("did you mean {s:?}?")),
            LauncherError::UnknownCommand {
                suggestion: None, ..
            } => Some("run `gait --help` to list the installed commands".into()),
            LauncherError::BrokenPlugin { .. } => {
                Some("run `gait plugin list` for details; fix, update or remove the plugin".into())
            }
            LauncherError::Refused { error, .. } => Some(error.hint.clone()),
            LauncherError::Incompatible { .. } => {
                Some("run `gait plugin list` to see each plugin's contract version".into())
            }
            LauncherError::Exec { .. } => None,
        }
    }

    pub fn to_gait_error(&self) -> GaitError {
        let e = GaitError::new(self.category(), self.to_string());
        match self.hint() {
            Some(h) => e.with_hint(h),
            None => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_command_maps_to_invalid_input_with_suggestion() {
        let e = LauncherError::UnknownCommand {
            command: "gat".into(),
            suggestion: Some("gate".into()),
        };
        assert_eq!(e.to_string(), r#"unknown command "gat""#);
        assert_eq!(e.exit_code(), 6);
        let g = e.to_gait_error();
        assert_eq!(g.hint.as_deref(), Some(r#"did you mean "gate"?"#));
    }

    #[test]
    fn exec_not_found_is_dependency_missing() {
        let e = LauncherError::Exec {
            path: "/x/gait-y".into(),
            error: io::Error::from(io::ErrorKind::NotFound),
        };
        assert_eq!(e.exit_code(), 7);
        assert_eq!(e.to_string(), "exec /x/gait-y: no such file or directory");
        let e = LauncherError::Exec {
            path: "/x".into(),
            error: io::Error::from(io::ErrorKind::PermissionDenied),
        };
        assert_eq!(e.exit_code(), 1);
    }
}
