//! `gait_launcher` is the library half of the `gait` launcher. It owns plugin discovery
//! (`gait-<name>` executables beside the launcher, in the plugin directory and on `PATH`),
//! routing a top-level command to the plugin whose manifest declares it, building the `exec`
//! that dispatches to that plugin, plugin listing, and the on-disk manifest cache.
//!
//! It must not contain domain logic and never interprets a plugin's arguments: everything
//! after the top-level command is handed to the plugin untouched. Library code returns typed
//! errors and rendered text; only `main.rs` prints, execs and exits.
//!
//! The launcher runs on every `gait` invocation, so the common path (a cached manifest for a
//! plugin beside the launcher) costs a directory listing, a few `stat`s and one small file
//! read before `exec`.

#![forbid(unsafe_code)]

pub mod cache;
pub mod cli;
pub mod config;
pub mod discovery;
pub mod dispatch;
pub mod doctor;
pub mod error;
pub mod manage;
pub mod probe;
pub mod registry;
pub mod registry_cmds;
pub mod shellgen;
pub mod suggest;
pub mod trust;
pub mod trust_cmd;

pub use config::Config;
pub use discovery::{Candidate, Source};
pub use error::LauncherError;
pub use registry::{PluginInfo, PluginState, Registry};
