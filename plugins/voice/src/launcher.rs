//! Running other plugins' commands through the `gait` launcher (the CLI contract).

use crate::error::VoiceError;
use gait_sdk::Category;
use serde_json::Value;
use std::process::Command;

pub use gait_sdk::manifest::launcher;

/// A finished child command: its output and exit code.
#[derive(Debug, Clone)]
pub struct Finished {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub code: i32,
}

/// Runs `gait <args…>`; `needs` names the plugin for the error message.
pub fn run(args: &[String], needs: &str) -> Result<Finished, VoiceError> {
    let gait = launcher().ok_or_else(|| {
        VoiceError::Dependency(format!(
            "this command needs the gait launcher and the {needs} plugin"
        ))
    })?;
    let out = Command::new(&gait)
        .args(args)
        .output()
        .map_err(|e| VoiceError::Dependency(format!("run {}: {e}", gait.display())))?;
    Ok(Finished {
        stdout: out.stdout,
        stderr: out.stderr,
        code: out.status.code().unwrap_or(1),
    })
}

/// Runs `gait <args…> --json` and decodes its one-line JSON answer. A JSON error answer
/// (`ok:false` with an exit code other than `accept`) becomes a [`VoiceError::Delegated`]
/// with the child's category.
pub fn run_json(args: &[String], needs: &str, accept: &[i32]) -> Result<(Value, i32), VoiceError> {
    let f = run(args, needs)?;
    let v: Value = serde_json::from_slice(&f.stdout).map_err(|_| {
        VoiceError::Dependency(format!(
            "the {needs} plugin did not answer `gait {}` with JSON",
            args.iter().take(2).cloned().collect::<Vec<_>>().join(" ")
        ))
    })?;
    if accept.contains(&f.code) {
        return Ok((v, f.code));
    }
    let message = v["error"]
        .as_str()
        .unwrap_or("the delegated command failed")
        .to_string();
    let category = match f.code {
        2 => Category::VerificationFailed,
        3 => Category::PolicyBlocked,
        4 => Category::ApprovalRequired,
        6 => Category::InvalidInput,
        7 => Category::DependencyMissing,
        8 => Category::UnsafeOperation,
        _ => Category::IoFailure,
    };
    Err(VoiceError::Delegated { category, message })
}
