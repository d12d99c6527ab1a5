//! `gait plugin <subcommand>` beyond `list`: trusting files and keys (this module) and the
//! registry commands (`registry_cmds`: search, install, update, remove, verify, lock, sync,
//! sign). These run only when asked for, so their flag parsing (clap) never touches the
//! dispatch hot path.

use gait_sdk::cli::CommandOutput;
use gait_sdk::GaitError;
use std::ffi::OsString;

/// Subcommands handled here (with `list`, answered by the launcher core).
pub const SUBCOMMANDS: &[&str] = &[
    "trust", "search", "install", "update", "remove", "verify", "lock", "sync", "sign",
];

/// Runs `gait plugin <sub> <args…>`; `json` reflects `--json` anywhere in the arguments.
pub fn run(sub: &str, args: &[OsString], json: bool) -> Result<CommandOutput, GaitError> {
    match sub {
        "trust" => crate::trust_cmd::run(args, json),
        _ => crate::registry_cmds::run(sub, args, json),
    }
}
