//! `gait-sdk` is the shared contract of the Gait plugin CLI and the crate third parties build
//! `gait-<x>` extensions with. It owns canonical JSON (RFC 8785) and digests, Go-shaped
//! decoding and time rendering that digests depend on, Ed25519 keys and the signature
//! envelope, the error model with its single category → exit-code mapping, JSON output
//! conventions, hostile-input file reading and atomic writes, the plugin manifest protocol,
//! and (feature `schema`) the embedded v1 JSON Schemas.
//!
//! It must not know about any one domain (gates, packs, jobs, voice): domain logic lives in
//! plugins, which cooperate only through the contracts defined here. It never prints except
//! through [`cli::emit`] and never exits the process.
//!
//! # Writing a `gait-<x>` plugin
//!
//! A plugin is any executable named `gait-<x>` that the launcher finds (next to `gait`, in
//! `$GAIT_PLUGIN_DIR`, or on `PATH`) and trusts (see `docs/plugins.md`). It follows one JSON
//! contract, in any language:
//!
//! 1. `gait-<x> --gait-manifest` prints a [`manifest::PluginManifest`] (name, version,
//!    [`manifest::CONTRACT_VERSION`], and the top-level commands it serves) and exits 0;
//! 2. `gait <cmd> <args…>` runs `gait-<x> <cmd> <args…>` for a command the manifest declares;
//! 3. with `--json` it prints one line of JSON: the result with `"ok":true`, or the error
//!    envelope of [`GaitError::envelope`]; exit codes are those of [`error::exit`].
//!
//! In Rust, keep the work in a library that returns typed errors, and let `main` answer
//! `--gait-manifest`, parse flags with [`cli::parse_args`], and hand the result to
//! [`cli::emit`]. Two complete examples live in the repository: `examples/plugins/hello/` (a
//! Rust `gait-hello` serving `gait hello [--name N] [--json]`) and
//! `examples/plugins/gait-hello-sh` (the same contract in POSIX sh). Sign the executable with
//! minisign so users can trust it by key. For in-process extension points (feature
//! `dynamic`), see the `dynamic` module and `examples/plugins/deny-after-hours/`.

// `unsafe` is forbidden everywhere except in `dynamic` (feature `dynamic`), the one module whose
// FFI needs it; with that feature the crate denies it, and only that module allows it.
#![cfg_attr(not(feature = "dynamic"), forbid(unsafe_code))]
#![cfg_attr(feature = "dynamic", deny(unsafe_code))]

pub mod cli;
pub mod cli_spec;
pub mod context;
#[cfg(feature = "dynamic")]
pub mod dynamic;
pub mod error;
pub mod fsutil;
pub mod gate_trace;
pub mod gojson;
pub mod jcs;
#[cfg(feature = "job")]
pub mod job;
pub mod manifest;
pub mod output;
#[cfg(feature = "pack")]
pub mod pack;
#[cfg(feature = "schema")]
pub mod schema;
pub mod schema_names;
#[cfg(feature = "signing")]
pub mod signing;
pub mod time;
#[cfg(feature = "trust")]
pub mod trust;
#[cfg(feature = "yaml")]
pub mod yaml;
#[cfg(feature = "zip")]
pub mod zip;

pub use error::{Category, GaitError};
