//! `gait-registry` owns Gait's plugin distribution: the signed registry index, installing,
//! updating and removing plugins in the plugin directory, the install record the launcher
//! verifies installed plugins against, and the `gait.lock` file CI pins versions with.
//!
//! It never executes a plugin and never prints: commands in the launcher render its results.
//! Trust decisions (keys, signatures) come from `gait_sdk::trust`.
//!
//! - [`index`]: the registry index format, strict parsing, signature check, semver resolution;
//! - [`keys`]: trusting a signing key during a command (`--trust-key`, a terminal prompt);
//! - [`install`]: atomic installs and removals under the plugin directory lock;
//! - [`installed`]: the install record (`installed.toml`);
//! - [`verify`]: every installed plugin against the record and the trust store;
//! - [`lockfile`]: `gait.lock` and the sync plan;
//! - [`sign`]: the publisher side (minisign signing and key generation);
//! - [`ops`]: the commands as library calls returning reports.

#![forbid(unsafe_code)]

pub mod error;
pub mod index;
pub mod install;
pub mod installed;
pub mod keys;
pub mod lockfile;
pub mod ops;
pub mod sign;
pub mod verify;

pub use error::{RegistryError, Result};
