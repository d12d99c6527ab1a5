//! `gait-voice` gates what a voice agent may promise on a call, and captures the call as
//! evidence (jobs-voice.md Part B):
//!
//! - `token`: SayTokens, the signed permission to speak one commitment (mint, verify);
//! - `commands`: `voice token mint|verify` and `voice pack build`, one function per command;
//! - `launcher`: cooperation with other plugins through the CLI contract (`GAIT_LAUNCHER`):
//!   the gate decides commitments (`gait gate commitment-eval`), `gait-pack` verifies,
//!   inspects and diffs callpacks;
//! - the callpack format and contract live in `gait_sdk::pack::call`, shared with `gait-pack`.
//!
//! The library never prints or exits; the binary renders through `gait_sdk::cli::emit`.

#![forbid(unsafe_code)]

pub mod commands;
pub mod error;
pub mod launcher;
pub mod token;

pub use error::VoiceError;

/// Producer version stamped on SayTokens.
pub const PRODUCER_VERSION: &str = concat!("gait-rs/", env!("CARGO_PKG_VERSION"));
