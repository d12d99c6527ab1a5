//! `gait-regress`: turn an incident into a deterministic CI gate.
//!
//! A runpack (or a run pack or voice callpack carrying one) becomes a fixture under
//! `fixtures/<name>/` listed in `gait.yaml`; `gait regress run` grades every fixture and
//! writes `regress_result.json` and JUnit XML, exiting 0 when nothing drifted and 5 when
//! something did. `gait capture` records which artifact an incident is about, and
//! `gait tour` walks a new user through demo → verify → fixture → regress run.
//!
//! The library parses, validates and grades, and returns typed [`error::RegressError`]s; it
//! never prints and never exits. The binary parses flags, calls one function per command
//! and hands the result to `gait_sdk::cli::emit`. Modules follow the data: `source`
//! (resolving `--from`, reading archives), `config` (`gait.yaml`, JSON or YAML read with
//! `gait_sdk::yaml`), `fixture` (`fixture.json`), `trajectory`, `diff` and `graders` (pure grading), `run`, `junit`,
//! `init`, `capture`, `tour` (the commands), and `ojson` (ordered JSON files).

#![forbid(unsafe_code)]

pub mod capture;
pub mod config;
pub mod diff;
pub mod error;
pub mod fixture;
pub mod graders;
pub mod init;
pub mod junit;
pub mod ojson;
pub mod run;
pub mod source;
pub mod tour;
pub mod trajectory;

pub use error::RegressError;
