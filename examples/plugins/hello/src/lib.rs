//! `gait-hello`: the smallest complete Gait plugin, as a template for third parties.
//!
//! A plugin is a library plus a thin binary. The library (this file) does the work and
//! returns typed errors; it never prints or exits. The binary (`main.rs`) answers
//! `--gait-manifest`, parses flags with clap, calls the library and hands the result to
//! `gait_sdk::cli::emit`, the one place a result or error becomes output and an exit code.

#![forbid(unsafe_code)]

use gait_sdk::cli::CommandOutput;
use gait_sdk::error::exit;
use gait_sdk::GaitError;
use serde_json::{json, Map};

/// Longest name greeted, in characters.
pub const MAX_NAME: usize = 64;

/// Why a greeting could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    #[error("--name must not be empty")]
    EmptyName,
    #[error("--name is longer than {MAX_NAME} characters")]
    LongName,
    #[error("--name must not contain control characters")]
    ControlCharacter,
}

impl From<HelloError> for GaitError {
    fn from(e: HelloError) -> Self {
        GaitError::invalid(e.to_string()).with_hint("try `gait hello --name Ada`")
    }
}

/// The greeting for `name` (trimmed).
pub fn greeting(name: &str) -> Result<String, HelloError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(HelloError::EmptyName);
    }
    if name.chars().count() > MAX_NAME {
        return Err(HelloError::LongName);
    }
    if name.chars().any(char::is_control) {
        return Err(HelloError::ControlCharacter);
    }
    Ok(format!("Hello, {name}!"))
}

/// `gait hello`: the command's result, ready for `emit`.
pub fn hello(name: &str) -> Result<CommandOutput, HelloError> {
    let text = greeting(name)?;
    let mut m = Map::new();
    m.insert("greeting".into(), json!(text));
    m.insert("name".into(), json!(name.trim()));
    Ok(CommandOutput::new(m, text, exit::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets_and_validates() {
        assert_eq!(greeting(" Ada ").unwrap(), "Hello, Ada!");
        assert_eq!(greeting(" "), Err(HelloError::EmptyName));
        assert_eq!(greeting(&"x".repeat(65)), Err(HelloError::LongName));
        assert_eq!(greeting("a\nb"), Err(HelloError::ControlCharacter));
        let out = hello("Ada").unwrap();
        assert_eq!(out.json["greeting"], "Hello, Ada!");
        assert_eq!(GaitError::from(HelloError::EmptyName).exit_code(), 6);
    }
}
