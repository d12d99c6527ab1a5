//! The registry commands of `gait plugin`: search, install, update, remove, verify, lock,
//! sync and sign, on top of the `gait-registry` library.

use gait_sdk::cli::CommandOutput;
use gait_sdk::GaitError;
use std::ffi::OsString;

pub fn run(sub: &str, _args: &[OsString], _json: bool) -> Result<CommandOutput, GaitError> {
    Err(GaitError::invalid(format!(
        "gait plugin {sub} is not supported yet by this gait release"
    )))
}
