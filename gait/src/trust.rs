//! The seam where plugin trust verification plugs in.
//!
//! Every discovered plugin that is not shadowed passes through [`Admission::admit`] before
//! the launcher runs it for any reason (manifest probe or dispatch). A rejected plugin is
//! never executed, is listed by `gait plugin list` with status `rejected`, and does not claim
//! its name, so a trusted plugin of the same name later in precedence can still serve.
//!
//! Today the launcher installs [`AdmitAll`]. Signature verification (a later issue) should
//! implement [`Admission`] — for example by checking a detached signature next to the
//! executable against a trust store — and be returned from [`default_admission`]. Keep the
//! check cheap on the dispatch path: it runs for each plugin the launcher probes or execs.

use crate::discovery::Candidate;
use std::fmt;

/// Why a plugin was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustError {
    pub reason: String,
}

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not trusted: {}", self.reason)
    }
}

impl std::error::Error for TrustError {}

/// Decides whether a discovered plugin may be run.
pub trait Admission {
    fn admit(&self, candidate: &Candidate) -> Result<(), TrustError>;
}

/// Admits every plugin: the policy until signature verification lands.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdmitAll;

impl Admission for AdmitAll {
    fn admit(&self, _candidate: &Candidate) -> Result<(), TrustError> {
        Ok(())
    }
}

/// The admission policy the launcher uses.
pub fn default_admission() -> Box<dyn Admission> {
    Box::new(AdmitAll)
}
