//! `gait plugin trust <path>` and `gait plugin trust --key <minisign.pub>`.

use gait_sdk::cli::CommandOutput;
use gait_sdk::GaitError;
use std::ffi::OsString;

pub fn run(_args: &[OsString], _json: bool) -> Result<CommandOutput, GaitError> {
    Err(GaitError::invalid(
        "gait plugin trust is not supported yet by this gait release",
    ))
}
