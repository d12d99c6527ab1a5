//! `gait-registry` owns Gait's plugin distribution: the signed registry index, installing,
//! updating and removing plugins in the plugin directory, the install record the launcher
//! verifies installed plugins against, and the `gait.lock` file CI pins versions with.
//!
//! It never executes a plugin and never prints: commands in the launcher render its results.
//! Trust decisions (keys, signatures) come from `gait_sdk::trust`.

#![forbid(unsafe_code)]

pub mod installed;
