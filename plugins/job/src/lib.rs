//! `gait-job` owns durable jobs: the `gait job …` commands over the job records of
//! `gait_sdk::job` (submit, status, checkpoints, pause, stop, approve, resume, cancel,
//! inspect, list), the transition table and the policy- and identity-bound resume, and
//! `gait job run`, a supervisor that actually runs a job's command, relays pause, stop and
//! cancel to it, and holds a lease so two supervisors never run one job.
//!
//! It never prints or exits (the binary renders through `gait_sdk::cli::emit`), and it reaches
//! the gate plugin only through the CLI contract (`gait policy validate` via `GAIT_LAUNCHER`),
//! never by linking it.

#![forbid(unsafe_code)]

pub mod commands;
pub mod policy;
pub mod runner;

pub use gait_sdk::job::JobError;
