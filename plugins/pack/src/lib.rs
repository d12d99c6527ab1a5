//! `gait-pack` owns Gait's evidence commands: recording runs as runpacks, verifying them,
//! replaying, inspecting and diffing runs, building, verifying, inspecting, diffing and
//! exporting PackSpec v1 packs, the `gait demo`, and the secondary commands `gait report top`
//! (`report`), `gait incident pack` (`incident`) and `gait migrate` (`migrate`; see
//! docs/secondary-commands.md). Artifact formats and their verification
//! live in `gait-sdk` (feature `pack`) so other plugins read the same files; this crate holds
//! the commands and the run-specific logic.
//!
//! It never prints or exits (the binary renders through `gait-sdk`), and it reaches other
//! plugins only through the CLI contract, never by linking them.

#![forbid(unsafe_code)]

pub mod archive;
pub mod authorization;
pub mod chain;
pub mod demo;
pub mod error;
pub mod incident;
pub mod migrate;
pub mod packs;
pub mod report;
pub mod runs;
pub mod sessions;
