//! `gait-ui` owns `gait ui`: a local web UI served only on loopback (unless the user opts out
//! with `--allow-non-loopback`), the spec's §6 JSON API (`/api/health`, `/api/state`,
//! `/api/exec`) plus read-only listings of runs, packs, jobs and traces, and the single page
//! embedded in the binary.
//!
//! It must not link another plugin's code or write artifacts itself: every action and every
//! verification runs the `gait` launcher as a child process with a fixed argv (never a shell,
//! never free text from the request), so the UI can do nothing the CLI would not. It must not
//! answer requests whose `Host`, `Origin` or `Sec-Fetch-Site` show they come from another web
//! origin ([`guard`]). The library never prints or exits; the binary renders startup output
//! and errors through `gait_sdk::cli::emit`.

#![forbid(unsafe_code)]

pub mod actions;
pub mod error;
pub mod guard;
pub mod http;
pub mod json;
pub mod listen;
pub mod server;
pub mod workspace;

pub use error::UiError;
