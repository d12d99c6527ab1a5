//! Durable job records (jobs spec, Part A): the job root and directory layout, `state.json`,
//! `events.jsonl` and `pending_mutation.json` field for field, the cross-process mutation lock,
//! atomic writes and the crash-recovery protocol.
//!
//! `gait-job` owns the commands and the transition rules; `gait-pack` reads jobs through this
//! module to build job packs. Nothing here prints or exits; every failure is a [`JobError`]
//! with a category.
//!
//! # Files of one job (`<root>/<job_id>/`)
//!
//! | file | content |
//! | --- | --- |
//! | `state.json` | [`JobState`], 2-space indented, fields in the reference's order |
//! | `events.jsonl` | one compact [`Event`] per line, append-only |
//! | `pending_mutation.json` | recovery marker, present only while a mutation is in flight |
//! | `state.json.lock`, `events.jsonl.lock` | lock files of the reference's protocol |
//!
//! # Locking
//!
//! A mutation holds two locks: an advisory `flock` on the job directory (released by the
//! kernel when the holder dies, so a killed `gait` never wedges a job) and, inside it, the
//! reference's exclusive-create `state.json.lock`, so both implementations exclude each other.
//! A `state.json.lock` that names a gait-rs owner while we hold the directory lock was left by
//! a killed process and is taken over at once; any other lock file follows the reference's
//! rules (stale after 30 s).

use crate::error::{Category, GaitError};
use crate::fsutil;
use crate::gojson::GoValue;
use crate::time::GoTime;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const STATE_SCHEMA: &str = "gait.job.runtime";
pub const EVENT_SCHEMA: &str = "gait.job.event";
pub const PENDING_SCHEMA: &str = "gait.job.pending_mutation";
pub const SCHEMA_VERSION: &str = "1.0.0";
pub const DEFAULT_ROOT: &str = "./gait-out/jobs";
pub const DEFAULT_PRODUCER_VERSION: &str = "0.0.0-dev";
pub const SAFETY_INVARIANT_VERSION: &str = "1";
pub const STATE_FILE: &str = "state.json";
pub const EVENTS_FILE: &str = "events.jsonl";
pub const PENDING_FILE: &str = "pending_mutation.json";
pub const STATE_LOCK: &str = "state.json.lock";
pub const EVENTS_LOCK: &str = "events.jsonl.lock";
pub const JOB_ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$";

/// Job statuses.
pub const STATUSES: &[&str] = &[
    "running",
    "paused",
    "decision_needed",
    "blocked",
    "completed",
    "cancelled",
    "emergency_stopped",
];
/// Stop reasons.
pub const STOP_REASONS: &[&str] = &[
    "none",
    "paused_by_user",
    "decision_needed",
    "blocked",
    "completed",
    "cancelled_by_user",
    "emergency_stopped",
    "env_fingerprint_mismatch",
];
/// Status reason codes.
pub const STATUS_REASON_CODES: &[&str] = &[
    "submitted",
    "decision_needed",
    "blocked",
    "completed",
    "paused",
    "cancelled",
    "emergency_stop_preempted",
    "approval_recorded",
    "resumed",
    "resumed_with_policy_transition",
    "resumed_with_env_override",
    "resumed_with_env_override_policy_transition",
];

/// How long a mutation waits for the job's lock before giving up (the reference's 2 s).
pub const LOCK_WAIT: Duration = Duration::from_secs(2);
/// A reference-written `state.json.lock` older than this is presumed abandoned.
pub const STATE_LOCK_STALE: Duration = Duration::from_secs(30);
/// A reference-written `events.jsonl.lock` older than this is presumed abandoned.
pub const EVENTS_LOCK_STALE: Duration = Duration::from_secs(120);
/// The append lock waits this long for a reference writer.
pub const EVENTS_LOCK_WAIT: Duration = Duration::from_secs(30);
/// Largest state, marker or event log read (64 MiB).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// What a gait-rs lock file starts with (a lock file that says so and exists while we hold the
/// directory lock was left by a killed process).
const OWNER_TAG: &str = "gait-rs";

/// Why a job operation failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Bad request or illegal transition (exit 6).
    #[error("{0}")]
    Invalid(String),
    /// The job directory or its state does not exist (exit 6).
    #[error("job not found")]
    NotFound { dir: PathBuf },
    /// A job file that does not parse; never repaired (exit 6).
    #[error("{message}")]
    Corrupt { message: String, path: PathBuf },
    /// The lock was not obtained in time (exit 1, retryable).
    #[error("state contention: lock timeout")]
    Contention,
    /// Another live `gait job run` holds the job's lease (exit 1, retryable).
    #[error("{0}")]
    LeaseHeld(String),
    /// This process acts for a lease that is no longer current (exit 8).
    #[error("{0}")]
    Fenced(String),
    /// Local I/O failure (exit 1).
    #[error("{0}")]
    Io(String),
    /// A required helper (the gait launcher, the gate plugin) is missing (exit 7).
    #[error("{0}")]
    Dependency(String),
}

impl JobError {
    pub fn invalid(m: impl Into<String>) -> Self {
        JobError::Invalid(m.into())
    }
    pub fn io(m: impl Into<String>) -> Self {
        JobError::Io(m.into())
    }
    pub fn category(&self) -> Category {
        match self {
            JobError::Invalid(_) | JobError::NotFound { .. } | JobError::Corrupt { .. } => {
                Category::InvalidInput
            }
            JobError::Contention | JobError::LeaseHeld(_) => Category::StateContention,
            JobError::Fenced(_) => Category::UnsafeOperation,
            JobError::Io(_) => Category::IoFailure,
            JobError::Dependency(_) => Category::DependencyMissing,
        }
    }
    /// A hint more specific than the category's default, when there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            JobError::NotFound { dir } => Some(format!(
                "no job state at {}; check --id and --root (`gait job list` shows the jobs under a root)",
                dir.display()
            )),
            JobError::Corrupt { path, .. } => Some(format!(
                "{} is damaged; nothing was changed and gait never repairs job files: restore it from a backup or a job pack, or fix it by hand",
                path.display()
            )),
            JobError::Contention => Some(
                "another gait process is changing this job; retry shortly".to_string(),
            ),
            JobError::LeaseHeld(_) => Some(
                "wait for the other `gait job run` to finish, or for its lease to expire".into(),
            ),
            JobError::Fenced(_) => Some(
                "a newer `gait job run` supervises this job; this worker should stop".into(),
            ),
            _ => None,
        }
    }
}

impl From<JobError> for GaitError {
    fn from(e: JobError) -> Self {
        let hint = e.hint();
        let mut g = GaitError::new(e.category(), e.to_string());
        if let Some(h) = hint {
            g = g.with_hint(h);
        }
        g
    }
}

fn io_err(what: &str, path: &Path, e: &io::Error) -> JobError {
    JobError::Io(format!(
        "{what} {}: {}",
        path.display(),
        fsutil::go_io_reason(e)
    ))
}

// ---------------------------------------------------------------------------------------------
// Ids and roots

/// Validates a job id (trimmed) against `^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`.
pub fn validate_job_id(raw: &str) -> Result<String, JobError> {
    let id = raw.trim();
    let b = id.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'));
    if !ok {
        return Err(JobError::invalid(format!(
            "job_id must match {JOB_ID_PATTERN}"
        )));
    }
    Ok(id.to_string())
}

/// The job root: blank means [`DEFAULT_ROOT`]; relative roots are made absolute against the
/// working directory.
pub fn resolve_root(root: &str) -> Result<PathBuf, JobError> {
    let r = root.trim();
    let r = if r.is_empty() { DEFAULT_ROOT } else { r };
    let p = Path::new(r);
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| JobError::io(format!("resolve job root: {e}")))?
            .join(p)
    };
    Ok(clean_path(&abs))
}

pub use crate::fsutil::clean_path;

/// One job's directory.
#[derive(Debug, Clone)]
pub struct JobDir {
    pub root: PathBuf,
    pub id: String,
    pub dir: PathBuf,
}

impl JobDir {
    /// Validates the id and resolves the root.
    pub fn new(root: &str, id: &str) -> Result<JobDir, JobError> {
        let id = validate_job_id(id)?;
        let root = resolve_root(root)?;
        Ok(JobDir {
            dir: root.join(&id),
            root,
            id,
        })
    }
    pub fn state_path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }
    pub fn events_path(&self) -> PathBuf {
        self.dir.join(EVENTS_FILE)
    }
    pub fn pending_path(&self) -> PathBuf {
        self.dir.join(PENDING_FILE)
    }
}

// ---------------------------------------------------------------------------------------------
// Ordered JSON (the reference writes struct field order; readers accept any order)

/// A JSON value whose object members keep the order they were built in.
#[derive(Debug, Clone, PartialEq)]
pub enum OJson {
    Str(String),
    Int(i64),
    Bool(bool),
    Arr(Vec<OJson>),
    Obj(Vec<(String, OJson)>),
    /// A free-form value (event payloads): objects are written with sorted keys, as Go does
    /// for maps.
    Any(Value),
}

impl OJson {
    pub fn to_value(&self) -> Value {
        match self {
            OJson::Str(s) => Value::String(s.clone()),
            OJson::Int(i) => Value::from(*i),
            OJson::Bool(b) => Value::Bool(*b),
            OJson::Arr(a) => Value::Array(a.iter().map(OJson::to_value).collect()),
            OJson::Obj(m) => {
                let mut map = Map::new();
                for (k, v) in m {
                    map.insert(k.clone(), v.to_value());
                }
                Value::Object(map)
            }
            OJson::Any(v) => v.clone(),
        }
    }

    /// Compact (`indent = None`) or indented rendering with Go's escaping.
    pub fn render(&self, indent: Option<usize>) -> String {
        let mut out = String::with_capacity(1024);
        write_ojson(&mut out, self, indent, 0);
        out
    }
}

fn newline(out: &mut String, indent: Option<usize>, depth: usize) {
    if let Some(n) = indent {
        out.push('\n');
        for _ in 0..n * depth {
            out.push(' ');
        }
    }
}

fn write_members<'a, I>(out: &mut String, items: I, indent: Option<usize>, depth: usize)
where
    I: ExactSizeIterator<Item = (&'a str, OJsonRef<'a>)>,
{
    if items.len() == 0 {
        out.push_str("{}");
        return;
    }
    out.push('{');
    for (i, (k, v)) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline(out, indent, depth + 1);
        write_go_string(out, k);
        out.push(':');
        if indent.is_some() {
            out.push(' ');
        }
        match v {
            OJsonRef::O(o) => write_ojson(out, o, indent, depth + 1),
            OJsonRef::V(v) => write_value(out, v, indent, depth + 1),
        }
    }
    newline(out, indent, depth);
    out.push('}');
}

enum OJsonRef<'a> {
    O(&'a OJson),
    V(&'a Value),
}

fn write_ojson(out: &mut String, v: &OJson, indent: Option<usize>, depth: usize) {
    match v {
        OJson::Str(s) => write_go_string(out, s),
        OJson::Int(i) => out.push_str(&i.to_string()),
        OJson::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        OJson::Arr(a) => {
            if a.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                write_ojson(out, item, indent, depth + 1);
            }
            newline(out, indent, depth);
            out.push(']');
        }
        OJson::Obj(m) => write_members(
            out,
            m.iter().map(|(k, v)| (k.as_str(), OJsonRef::O(v))),
            indent,
            depth,
        ),
        OJson::Any(v) => write_value(out, v, indent, depth),
    }
}

fn write_value(out: &mut String, v: &Value, indent: Option<usize>, depth: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_go_string(out, s),
        Value::Array(a) => {
            if a.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                write_value(out, item, indent, depth + 1);
            }
            newline(out, indent, depth);
            out.push(']');
        }
        Value::Object(m) => {
            // serde_json's map is sorted by key, as Go writes maps.
            write_members(
                out,
                m.iter().map(|(k, v)| (k.as_str(), OJsonRef::V(v))),
                indent,
                depth,
            )
        }
    }
}

/// A JSON string with Go's `encoding/json` escaping (`<`, `>`, `&`, U+2028, U+2029 escaped).
pub fn write_go_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

// ---------------------------------------------------------------------------------------------
// Records

/// A checkpoint (`state.json` `checkpoints[]`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Checkpoint {
    pub checkpoint_id: String,
    pub created_at: GoTime,
    pub checkpoint_type: String,
    pub summary: String,
    pub required_action: String,
    pub reason_code: String,
    pub actor: String,
}

/// An approval (`state.json` `approvals[]`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Approval {
    pub created_at: GoTime,
    pub actor: String,
    pub reason: String,
}

/// The lease of a supervising `gait job run` (a gait-rs extension member of `state.json`,
/// absent whenever no supervisor holds the job; the reference ignores it).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Lease {
    pub lease_id: String,
    pub holder: String,
    pub pid: i64,
    pub acquired_at: GoTime,
    pub renewed_at: GoTime,
    pub expires_at: GoTime,
}

/// `state.json`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobState {
    pub schema_id: String,
    pub schema_version: String,
    pub created_at: GoTime,
    pub updated_at: GoTime,
    pub producer_version: String,
    pub job_id: String,
    pub status: String,
    pub stop_reason: String,
    pub status_reason_code: String,
    pub environment_fingerprint: String,
    pub safety_invariant_version: String,
    pub safety_invariant_hash: String,
    pub safety_invariants: Vec<String>,
    pub policy_digest: String,
    pub policy_ref: String,
    pub identity: String,
    pub revision: i64,
    pub checkpoints: Vec<Checkpoint>,
    pub approvals: Vec<Approval>,
    pub lease: Option<Lease>,
}

/// One line of `events.jsonl`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Event {
    pub schema_id: String,
    pub schema_version: String,
    pub created_at: GoTime,
    pub job_id: String,
    pub revision: i64,
    pub event_type: String,
    pub actor: String,
    pub reason_code: String,
    pub payload: Option<Map<String, Value>>,
}

fn push_str(m: &mut Vec<(String, OJson)>, k: &str, v: &str) {
    m.push((k.to_string(), OJson::Str(v.to_string())));
}
fn push_opt(m: &mut Vec<(String, OJson)>, k: &str, v: &str) {
    if !v.is_empty() {
        push_str(m, k, v);
    }
}
fn time_str(t: &GoTime) -> String {
    t.to_rfc3339_nano()
}

impl Checkpoint {
    pub fn to_ojson(&self) -> OJson {
        let mut m = Vec::with_capacity(7);
        push_str(&mut m, "checkpoint_id", &self.checkpoint_id);
        push_str(&mut m, "created_at", &time_str(&self.created_at));
        push_str(&mut m, "type", &self.checkpoint_type);
        push_str(&mut m, "summary", &self.summary);
        push_opt(&mut m, "required_action", &self.required_action);
        push_str(&mut m, "reason_code", &self.reason_code);
        push_opt(&mut m, "actor", &self.actor);
        OJson::Obj(m)
    }
    pub fn to_value(&self) -> Value {
        self.to_ojson().to_value()
    }
}

impl Approval {
    pub fn to_ojson(&self) -> OJson {
        let mut m = Vec::with_capacity(3);
        push_str(&mut m, "created_at", &time_str(&self.created_at));
        push_str(&mut m, "actor", &self.actor);
        push_str(&mut m, "reason", &self.reason);
        OJson::Obj(m)
    }
}

impl Lease {
    pub fn to_ojson(&self) -> OJson {
        let mut m = Vec::with_capacity(6);
        push_str(&mut m, "lease_id", &self.lease_id);
        push_str(&mut m, "holder", &self.holder);
        m.push(("pid".into(), OJson::Int(self.pid)));
        push_str(&mut m, "acquired_at", &time_str(&self.acquired_at));
        push_str(&mut m, "renewed_at", &time_str(&self.renewed_at));
        push_str(&mut m, "expires_at", &time_str(&self.expires_at));
        OJson::Obj(m)
    }
    fn from_go(v: &GoValue) -> Result<Lease, String> {
        Ok(Lease {
            lease_id: s(v, "lease_id", "lease")?,
            holder: s(v, "holder", "lease")?,
            pid: v.int_field("pid", "lease").map_err(|e| e.to_string())?,
            acquired_at: t(v, "acquired_at", "lease")?,
            renewed_at: t(v, "renewed_at", "lease")?,
            expires_at: t(v, "expires_at", "lease")?,
        })
    }
}

impl JobState {
    /// The reference's fields in its order (what `job_state.json` in a pack holds and what
    /// `--json` prints as `job`), optionally followed by our `lease`.
    pub fn to_ojson(&self, with_lease: bool) -> OJson {
        let mut m = Vec::with_capacity(20);
        push_str(&mut m, "schema_id", &self.schema_id);
        push_str(&mut m, "schema_version", &self.schema_version);
        push_str(&mut m, "created_at", &time_str(&self.created_at));
        push_str(&mut m, "updated_at", &time_str(&self.updated_at));
        push_str(&mut m, "producer_version", &self.producer_version);
        push_str(&mut m, "job_id", &self.job_id);
        push_str(&mut m, "status", &self.status);
        push_str(&mut m, "stop_reason", &self.stop_reason);
        push_str(&mut m, "status_reason_code", &self.status_reason_code);
        push_str(
            &mut m,
            "environment_fingerprint",
            &self.environment_fingerprint,
        );
        push_opt(
            &mut m,
            "safety_invariant_version",
            &self.safety_invariant_version,
        );
        push_opt(&mut m, "safety_invariant_hash", &self.safety_invariant_hash);
        if !self.safety_invariants.is_empty() {
            m.push((
                "safety_invariants".into(),
                OJson::Arr(
                    self.safety_invariants
                        .iter()
                        .map(|s| OJson::Str(s.clone()))
                        .collect(),
                ),
            ));
        }
        push_opt(&mut m, "policy_digest", &self.policy_digest);
        push_opt(&mut m, "policy_ref", &self.policy_ref);
        push_opt(&mut m, "identity", &self.identity);
        m.push(("revision".into(), OJson::Int(self.revision)));
        m.push((
            "checkpoints".into(),
            OJson::Arr(self.checkpoints.iter().map(Checkpoint::to_ojson).collect()),
        ));
        if !self.approvals.is_empty() {
            m.push((
                "approvals".into(),
                OJson::Arr(self.approvals.iter().map(Approval::to_ojson).collect()),
            ));
        }
        if with_lease {
            if let Some(l) = &self.lease {
                m.push(("lease".into(), l.to_ojson()));
            }
        }
        OJson::Obj(m)
    }

    /// The state as a JSON value (with the lease, when one is held).
    pub fn to_value(&self) -> Value {
        self.to_ojson(true).to_value()
    }

    /// The reference's fields only (for packs).
    pub fn to_reference_value(&self) -> Value {
        self.to_ojson(false).to_value()
    }

    /// `state.json` bytes: indented, field order, trailing newline.
    pub fn file_bytes(&self) -> Vec<u8> {
        let mut s = self.to_ojson(true).render(Some(2));
        s.push('\n');
        s.into_bytes()
    }

    /// Decodes a state the way the reference's lenient reader does (unknown members ignored,
    /// names matched without regard to case). Read-time defaults are not applied here.
    pub fn from_go(v: &GoValue) -> Result<JobState, String> {
        if !matches!(v, GoValue::Object(_)) {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type runtime.JobState",
                v.kind()
            ));
        }
        let checkpoints = v
            .array_field("checkpoints", "")
            .map_err(|e| e.to_string())?
            .iter()
            .filter(|c| !c.is_null())
            .map(checkpoint_from_go)
            .collect::<Result<Vec<_>, _>>()?;
        let approvals = v
            .array_field("approvals", "")
            .map_err(|e| e.to_string())?
            .iter()
            .filter(|c| !c.is_null())
            .map(approval_from_go)
            .collect::<Result<Vec<_>, _>>()?;
        let lease = match v.object_field("lease", "").map_err(|e| e.to_string())? {
            Some(l) => Some(Lease::from_go(l)?),
            None => None,
        };
        Ok(JobState {
            schema_id: s(v, "schema_id", "")?,
            schema_version: s(v, "schema_version", "")?,
            created_at: t(v, "created_at", "")?,
            updated_at: t(v, "updated_at", "")?,
            producer_version: s(v, "producer_version", "")?,
            job_id: s(v, "job_id", "")?,
            status: s(v, "status", "")?,
            stop_reason: s(v, "stop_reason", "")?,
            status_reason_code: s(v, "status_reason_code", "")?,
            environment_fingerprint: s(v, "environment_fingerprint", "")?,
            safety_invariant_version: s(v, "safety_invariant_version", "")?,
            safety_invariant_hash: s(v, "safety_invariant_hash", "")?,
            safety_invariants: v
                .str_list_field("safety_invariants", "")
                .map_err(|e| e.to_string())?,
            policy_digest: s(v, "policy_digest", "")?,
            policy_ref: s(v, "policy_ref", "")?,
            identity: s(v, "identity", "")?,
            revision: v.int_field("revision", "").map_err(|e| e.to_string())?,
            checkpoints,
            approvals,
            lease,
        })
    }

    /// Parses `state.json` text leniently and applies the read-time defaults (A3).
    pub fn parse_lenient(text: &str) -> Result<JobState, String> {
        let v = GoValue::parse(text).map_err(|e| e.to_string())?;
        let mut st = JobState::from_go(&v)?;
        st.apply_read_defaults()?;
        Ok(st)
    }

    /// Strict decoding, as the reference's `pack verify` reads a packed state: unknown members
    /// (at any level) are errors.
    pub fn parse_strict(text: &str) -> Result<JobState, String> {
        let v = GoValue::parse(text).map_err(|e| e.to_string())?;
        check_known(&v, STATE_FIELDS)?;
        for c in v
            .array_field("checkpoints", "")
            .map_err(|e| e.to_string())?
        {
            check_known(c, CHECKPOINT_FIELDS)?;
        }
        for a in v.array_field("approvals", "").map_err(|e| e.to_string())? {
            check_known(a, APPROVAL_FIELDS)?;
        }
        JobState::from_go(&v)
    }

    /// Read-time defaults: a missing job id is an error; the invariant version defaults to
    /// `1` and empty invariants and hash are derived. Applied in memory only.
    pub fn apply_read_defaults(&mut self) -> Result<(), String> {
        if self.job_id.trim().is_empty() {
            return Err("invalid job state: missing job_id".into());
        }
        if self.safety_invariant_version.trim().is_empty() {
            self.safety_invariant_version = SAFETY_INVARIANT_VERSION.into();
        }
        if self.safety_invariants.is_empty() {
            self.safety_invariants =
                safety_invariants(&self.identity, &self.policy_digest, &self.policy_ref);
        }
        if self.safety_invariant_hash.trim().is_empty() {
            self.safety_invariant_hash = safety_invariant_hash(&self.safety_invariants);
        }
        Ok(())
    }

    /// The most recent checkpoint.
    pub fn last_checkpoint(&self) -> Option<&Checkpoint> {
        self.checkpoints.last()
    }
}

const STATE_FIELDS: &[&str] = &[
    "schema_id",
    "schema_version",
    "created_at",
    "updated_at",
    "producer_version",
    "job_id",
    "status",
    "stop_reason",
    "status_reason_code",
    "environment_fingerprint",
    "safety_invariant_version",
    "safety_invariant_hash",
    "safety_invariants",
    "policy_digest",
    "policy_ref",
    "identity",
    "revision",
    "checkpoints",
    "approvals",
];
const CHECKPOINT_FIELDS: &[&str] = &[
    "checkpoint_id",
    "created_at",
    "type",
    "summary",
    "required_action",
    "reason_code",
    "actor",
];
const APPROVAL_FIELDS: &[&str] = &["created_at", "actor", "reason"];
const EVENT_FIELDS: &[&str] = &[
    "schema_id",
    "schema_version",
    "created_at",
    "job_id",
    "revision",
    "type",
    "actor",
    "reason_code",
    "payload",
];

/// Fails with Go's message on the first member not in `allowed` (case-insensitive).
pub fn check_known(v: &GoValue, allowed: &[&str]) -> Result<(), String> {
    if let GoValue::Object(members) = v {
        for (k, _) in members {
            if !allowed.iter().any(|a| a.eq_ignore_ascii_case(k)) {
                return Err(format!("json: unknown field \"{k}\""));
            }
        }
    }
    Ok(())
}

fn s(v: &GoValue, name: &str, path: &str) -> Result<String, String> {
    v.str_field(name, path).map_err(|e| e.to_string())
}

fn t(v: &GoValue, name: &str, _path: &str) -> Result<GoTime, String> {
    match v.field(name) {
        None => Ok(GoTime::zero()),
        Some(GoValue::String(x)) => GoTime::parse_rfc3339(x).map_err(|e| e.to_string()),
        Some(other) => Err(format!(
            "json: cannot unmarshal {} into Go struct field .{name} of type time.Time",
            other.kind()
        )),
    }
}

fn checkpoint_from_go(v: &GoValue) -> Result<Checkpoint, String> {
    if !matches!(v, GoValue::Object(_)) {
        return Err(format!(
            "json: cannot unmarshal {} into Go struct field JobState.checkpoints",
            v.kind()
        ));
    }
    Ok(Checkpoint {
        checkpoint_id: s(v, "checkpoint_id", "checkpoints")?,
        created_at: t(v, "created_at", "checkpoints")?,
        checkpoint_type: s(v, "type", "checkpoints")?,
        summary: s(v, "summary", "checkpoints")?,
        required_action: s(v, "required_action", "checkpoints")?,
        reason_code: s(v, "reason_code", "checkpoints")?,
        actor: s(v, "actor", "checkpoints")?,
    })
}

fn approval_from_go(v: &GoValue) -> Result<Approval, String> {
    if !matches!(v, GoValue::Object(_)) {
        return Err(format!(
            "json: cannot unmarshal {} into Go struct field JobState.approvals",
            v.kind()
        ));
    }
    Ok(Approval {
        created_at: t(v, "created_at", "approvals")?,
        actor: s(v, "actor", "approvals")?,
        reason: s(v, "reason", "approvals")?,
    })
}

impl Event {
    pub fn to_ojson(&self) -> OJson {
        let mut m = Vec::with_capacity(9);
        push_str(&mut m, "schema_id", &self.schema_id);
        push_str(&mut m, "schema_version", &self.schema_version);
        push_str(&mut m, "created_at", &time_str(&self.created_at));
        push_str(&mut m, "job_id", &self.job_id);
        m.push(("revision".into(), OJson::Int(self.revision)));
        push_str(&mut m, "type", &self.event_type);
        push_opt(&mut m, "actor", &self.actor);
        push_opt(&mut m, "reason_code", &self.reason_code);
        if let Some(p) = &self.payload {
            if !p.is_empty() {
                m.push(("payload".into(), OJson::Any(Value::Object(p.clone()))));
            }
        }
        OJson::Obj(m)
    }
    pub fn to_value(&self) -> Value {
        self.to_ojson().to_value()
    }
    /// One `events.jsonl` line, newline included.
    pub fn line(&self) -> String {
        let mut s = self.to_ojson().render(None);
        s.push('\n');
        s
    }
    pub fn from_go(v: &GoValue) -> Result<Event, String> {
        if !matches!(v, GoValue::Object(_)) {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type runtime.Event",
                v.kind()
            ));
        }
        let payload = match v.object_field("payload", "").map_err(|e| e.to_string())? {
            Some(p) => match go_numbers(p.to_value()) {
                Value::Object(m) => Some(m),
                _ => None,
            },
            None => None,
        };
        Ok(Event {
            schema_id: s(v, "schema_id", "")?,
            schema_version: s(v, "schema_version", "")?,
            created_at: t(v, "created_at", "")?,
            job_id: s(v, "job_id", "")?,
            revision: v.int_field("revision", "").map_err(|e| e.to_string())?,
            event_type: s(v, "type", "")?,
            actor: s(v, "actor", "")?,
            reason_code: s(v, "reason_code", "")?,
            payload,
        })
    }
    pub fn parse_lenient(text: &str) -> Result<Event, String> {
        let v = GoValue::parse(text).map_err(|e| e.to_string())?;
        Event::from_go(&v)
    }
    pub fn parse_strict(text: &str) -> Result<Event, String> {
        let v = GoValue::parse(text).map_err(|e| e.to_string())?;
        check_known(&v, EVENT_FIELDS)?;
        Event::from_go(&v)
    }
}

/// Payload numbers are doubles (as in a Go `map[string]any`); integral ones are kept as
/// integers so they print as Go prints them (`3114`, not `3114.0`).
fn go_numbers(v: Value) -> Value {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
                Value::from(f as i64)
            }
            _ => Value::Number(n),
        },
        Value::Array(a) => Value::Array(a.into_iter().map(go_numbers).collect()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, go_numbers(v))).collect()),
        other => other,
    }
}

/// `pending_mutation.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingMutation {
    pub created_at: GoTime,
    pub job_id: String,
    pub previous_state: Option<JobState>,
    pub updated_state: JobState,
    pub event: Event,
}

impl PendingMutation {
    pub fn file_bytes(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(7);
        push_str(&mut m, "schema_id", PENDING_SCHEMA);
        push_str(&mut m, "schema_version", SCHEMA_VERSION);
        push_str(&mut m, "created_at", &time_str(&self.created_at));
        push_str(&mut m, "job_id", &self.job_id);
        if let Some(p) = &self.previous_state {
            m.push(("previous_state".into(), p.to_ojson(true)));
        }
        m.push(("updated_state".into(), self.updated_state.to_ojson(true)));
        m.push(("event".into(), self.event.to_ojson()));
        let mut s = OJson::Obj(m).render(Some(2));
        s.push('\n');
        s.into_bytes()
    }

    pub fn parse(text: &str) -> Result<PendingMutation, String> {
        let v = GoValue::parse(text).map_err(|e| e.to_string())?;
        if !matches!(v, GoValue::Object(_)) {
            return Err(format!("json: cannot unmarshal {} into Go value", v.kind()));
        }
        let previous_state = match v
            .object_field("previous_state", "")
            .map_err(|e| e.to_string())?
        {
            Some(p) => Some(JobState::from_go(p)?),
            None => None,
        };
        let updated_state = match v
            .object_field("updated_state", "")
            .map_err(|e| e.to_string())?
        {
            Some(p) => JobState::from_go(p)?,
            None => JobState::default(),
        };
        let event = match v.object_field("event", "").map_err(|e| e.to_string())? {
            Some(p) => Event::from_go(p)?,
            None => Event::default(),
        };
        Ok(PendingMutation {
            created_at: t(&v, "created_at", "")?,
            job_id: s(&v, "job_id", "")?,
            previous_state,
            updated_state,
            event,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Safety invariants and the environment fingerprint

/// The sorted invariant list (A9).
pub fn safety_invariants(identity: &str, policy_digest: &str, policy_ref: &str) -> Vec<String> {
    let mut v = vec![
        "control_boundary=runtime_go".to_string(),
        "default_privacy=reference_receipts".to_string(),
        "fail_closed=true".to_string(),
    ];
    for (k, val) in [
        ("identity", identity),
        ("policy_digest", policy_digest),
        ("policy_ref", policy_ref),
    ] {
        if !val.trim().is_empty() {
            v.push(format!("{k}={}", val.trim()));
        }
    }
    v.sort();
    v
}

/// SHA-256 hex of the trimmed, non-empty, sorted entries joined by `|`.
pub fn safety_invariant_hash(list: &[String]) -> String {
    let mut items: Vec<&str> = list
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    items.sort_unstable();
    crate::jcs::sha256_hex(items.join("|").as_bytes())
}

/// Go's spelling of the OS and architecture.
pub fn go_os_arch() -> (&'static str, &'static str) {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    (os, arch)
}

/// The environment fingerprint formula: `envfp:` + SHA-256 of the sorted `key=value` entries
/// joined by `|`. With `go_version` the entries are the reference's (`goos`, `goarch`,
/// `goversion`, `shell`); without it the runtime version is left out (the portable default).
pub fn environment_fingerprint_with(
    os: &str,
    arch: &str,
    go_version: Option<&str>,
    shell: &str,
) -> String {
    let mut parts = vec![
        format!("goos={os}"),
        format!("goarch={arch}"),
        format!("shell={}", shell.trim()),
    ];
    if let Some(v) = go_version {
        parts.push(format!("goversion={v}"));
    }
    parts.sort();
    let mut h = Sha256::new();
    h.update(parts.join("|").as_bytes());
    format!("envfp:{}", crate::jcs::hex_lower(&h.finalize()))
}

/// Environment variable that makes the computed fingerprint the reference's exactly, for a Go
/// runtime version (`go1.27.3`).
pub const FINGERPRINT_GOVERSION_ENV: &str = "GAIT_JOB_FINGERPRINT_GOVERSION";

/// This machine's fingerprint: the portable formula, or the reference's when
/// [`FINGERPRINT_GOVERSION_ENV`] names a Go version.
pub fn environment_fingerprint() -> String {
    let (os, arch) = go_os_arch();
    let shell = std::env::var("SHELL").unwrap_or_default();
    let gov = std::env::var(FINGERPRINT_GOVERSION_ENV)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    environment_fingerprint_with(os, arch, gov.as_deref(), &shell)
}

// ---------------------------------------------------------------------------------------------
// Reading

fn read_file_text(path: &Path) -> Result<Option<String>, JobError> {
    match fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("stat", path, &e)),
        Ok(m) if m.is_dir() => {
            return Err(JobError::Corrupt {
                message: format!("{} is a directory", path.display()),
                path: path.to_path_buf(),
            })
        }
        Ok(_) => {}
    }
    let bytes = match fsutil::read_capped(path, MAX_FILE_BYTES) {
        Ok(b) => b,
        Err(fsutil::ReadError::Io(m)) => {
            if !path.exists() {
                return Ok(None);
            }
            return Err(JobError::Io(m));
        }
        Err(e) => {
            return Err(JobError::Corrupt {
                message: e.to_string(),
                path: path.to_path_buf(),
            })
        }
    };
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| JobError::Corrupt {
            message: format!("{} is not valid UTF-8", path.display()),
            path: path.to_path_buf(),
        })
}

/// Reads `state.json` (lenient, read-time defaults applied); `None` when it does not exist.
pub fn read_state(job: &JobDir) -> Result<Option<JobState>, JobError> {
    let path = job.state_path();
    let Some(text) = read_file_text(&path)? else {
        return Ok(None);
    };
    JobState::parse_lenient(&text)
        .map(Some)
        .map_err(|e| JobError::Corrupt {
            message: if e.starts_with("invalid job state") {
                e
            } else {
                format!("parse job state: {e}")
            },
            path,
        })
}

/// Reads every event (blank lines skipped); an unparsable line is an error naming it.
pub fn read_events(job: &JobDir) -> Result<Vec<Event>, JobError> {
    let path = job.events_path();
    let Some(text) = read_file_text(&path)? else {
        return Ok(Vec::new());
    };
    parse_events(&text).map_err(|message| JobError::Corrupt { message, path })
}

/// Parses `events.jsonl` text.
pub fn parse_events(text: &str) -> Result<Vec<Event>, String> {
    let mut out = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            Event::parse_lenient(line)
                .map_err(|e| format!("parse job event: line {}: {e}", i + 1))?,
        );
    }
    Ok(out)
}

/// How a job's durable records disagree, as `gait doctor` names it; `None` when they agree.
/// Read-only and lock-free: it reports, never repairs (recovery is the job plugin's business).
/// Unreadable records count as divergence of the record that could not be read.
pub fn divergence(job: &JobDir) -> Option<&'static str> {
    if job.pending_path().exists() {
        return Some("pending_mutation");
    }
    let events = read_events(job);
    let state = read_state(job);
    let last_event = match &events {
        Ok(list) => list.iter().map(|e| e.revision).max(),
        Err(_) => return Some("event_log_unreadable"),
    };
    match (state, last_event) {
        (Err(_), _) => Some("state_unreadable"),
        (Ok(None), Some(_)) => Some("missing_state_with_events"),
        (Ok(None), None) => None,
        (Ok(Some(s)), last) => {
            let last = last.unwrap_or(0);
            if s.revision > last {
                Some("state_ahead_of_event_log")
            } else if s.revision < last {
                Some("event_log_ahead_of_state")
            } else {
                None
            }
        }
    }
}

/// Reads the state for a read command: when a recovery marker is present, recovery runs first
/// under the lock; otherwise no lock is taken. A job directory without state is not found.
pub fn load(job: &JobDir) -> Result<JobState, JobError> {
    if job.pending_path().exists() {
        let _lock = JobLock::acquire(&job.dir, LOCK_WAIT)?;
        recover(job)?;
    }
    read_state(job)?.ok_or_else(|| JobError::NotFound {
        dir: job.dir.clone(),
    })
}

// ---------------------------------------------------------------------------------------------
// Writing

fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The reference's atomic write: temp `.<name>.tmp-*` in the same directory, write, fsync,
/// mode 0600, rename over the target, directory fsync.
pub fn write_atomic_0600(path: &Path, bytes: &[u8]) -> Result<(), JobError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp-"))
        .tempfile_in(dir)
        .map_err(|e| io_err("create temp file in", dir, &e))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| io_err("write", path, &e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = tmp
            .as_file()
            .set_permissions(fs::Permissions::from_mode(0o600));
    }
    tmp.persist(path)
        .map_err(|e| io_err("rename to", path, &e.error))?;
    sync_dir(dir);
    Ok(())
}

/// Replaces `path` by a fully written temp file (mode 0600) without syncing; returns the new
/// file for the caller to sync.
fn replace_unsynced(path: &Path, bytes: &[u8]) -> Result<fs::File, JobError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp-"))
        .tempfile_in(dir)
        .map_err(|e| io_err("create temp file in", dir, &e))?;
    tmp.write_all(bytes)
        .map_err(|e| io_err("write", path, &e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = tmp
            .as_file()
            .set_permissions(fs::Permissions::from_mode(0o600));
    }
    tmp.persist(path)
        .map_err(|e| io_err("rename to", path, &e.error))
}

/// Syncs the new state file, the event log and the job directory concurrently.
fn sync_together(state: &fs::File, events: &fs::File, dir: &Path) -> io::Result<()> {
    let dir = fs::File::open(dir)?;
    std::thread::scope(|s| {
        let a = s.spawn(|| state.sync_all());
        let b = s.spawn(|| dir.sync_all());
        let c = events.sync_data();
        let a = a
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("sync thread panicked")));
        // Directory fsync is best effort (some file systems refuse it), as for atomic writes.
        let _ = b.join();
        a.and(c)
    })
}

fn remove_if_exists(path: &Path) -> Result<(), JobError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("remove", path, &e)),
    }
}

/// Opens `events.jsonl` for appending after checking that it does not end in a torn line.
fn open_events_for_append(path: &Path) -> Result<(fs::File, bool), JobError> {
    let existed = path.exists();
    let mut opts = fs::OpenOptions::new();
    opts.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| io_err("open", path, &e))?;
    let len = f.metadata().map_err(|e| io_err("stat", path, &e))?.len();
    if len > 0 {
        let mut last = [0u8; 1];
        f.seek(SeekFrom::End(-1))
            .and_then(|_| f.read_exact(&mut last))
            .map_err(|e| io_err("read", path, &e))?;
        if last[0] != b'\n' {
            return Err(JobError::Corrupt {
                message: format!(
                    "parse job event: {} ends with a partial line (a torn write); refusing to append",
                    path.display()
                ),
                path: path.to_path_buf(),
            });
        }
    }
    Ok((f, existed))
}

// ---------------------------------------------------------------------------------------------
// Locks

/// A held lock file of the reference's protocol (removed on drop).
#[derive(Debug)]
struct FileLock {
    path: PathBuf,
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn owner_contents() -> String {
    format!("{OWNER_TAG} pid={}\n", std::process::id())
}

/// Takes `<dir>/<name>` by exclusive creation while the caller holds the directory lock. A
/// lock file of ours found now is stale (its owner died holding it) and is replaced; one of
/// the reference's is waited for, up to `wait`, and taken over after `stale`.
fn take_file_lock(
    dir: &Path,
    name: &str,
    wait: Duration,
    stale: Duration,
) -> Result<FileLock, JobError> {
    let path = dir.join(name);
    let staging = dir.join(format!(".{name}.{OWNER_TAG}"));
    let started = Instant::now();
    loop {
        // Write the owner tag under a private name, then hard-link it into place: the lock
        // file appears complete or not at all, so a kill can never leave an anonymous one.
        let _ = fs::remove_file(&staging);
        let linked =
            fs::write(&staging, owner_contents()).and_then(|_| fs::hard_link(&staging, &path));
        let _ = fs::remove_file(&staging);
        match linked {
            Ok(()) => return Ok(FileLock { path }),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(JobError::NotFound {
                    dir: dir.to_path_buf(),
                })
            }
            Err(_) => {
                // No hard links here: fall back to exclusive creation.
                match fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                {
                    Ok(mut f) => {
                        let _ = f.write_all(owner_contents().as_bytes());
                        return Ok(FileLock { path });
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => {
                        return Err(JobError::Io(format!(
                            "acquire lock: open {}: {}",
                            path.display(),
                            fsutil::go_io_reason(&e)
                        )))
                    }
                }
            }
        }
        let ours = fs::read(&path)
            .map(|b| b.starts_with(OWNER_TAG.as_bytes()))
            .unwrap_or(false);
        let old = fs::metadata(&path)
            .and_then(|m| m.modified())
            .map(|t| t.elapsed().map(|a| a > stale).unwrap_or(false))
            .unwrap_or(false);
        if ours || old {
            let _ = fs::remove_file(&path);
            continue;
        }
        if started.elapsed() >= wait {
            return Err(JobError::Contention);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The mutation lock of one job: the directory `flock` plus `state.json.lock`.
#[derive(Debug)]
pub struct JobLock {
    // Field order is drop order: the lock file goes before the directory lock is released.
    _file: FileLock,
    _dir: Option<fs::File>,
}

impl JobLock {
    /// Acquires the lock, waiting at most `wait`.
    pub fn acquire(dir: &Path, wait: Duration) -> Result<JobLock, JobError> {
        let started = Instant::now();
        let handle = dir_lock(dir, wait)?;
        let left = wait.saturating_sub(started.elapsed());
        let file = take_file_lock(dir, STATE_LOCK, left, STATE_LOCK_STALE)?;
        Ok(JobLock {
            _file: file,
            _dir: handle,
        })
    }
}

#[cfg(unix)]
fn dir_lock(dir: &Path, wait: Duration) -> Result<Option<fs::File>, JobError> {
    use fs4::fs_std::FileExt;
    let f = match fs::File::open(dir) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(JobError::NotFound {
                dir: dir.to_path_buf(),
            })
        }
        Err(e) => {
            return Err(JobError::Io(format!(
                "acquire lock: open {}: {}",
                dir.display(),
                fsutil::go_io_reason(&e)
            )))
        }
    };
    let started = Instant::now();
    let mut pause = Duration::from_micros(500);
    loop {
        match f.try_lock_exclusive() {
            Ok(true) => return Ok(Some(f)),
            Ok(false) => {}
            // A file system without flock: rely on the lock file alone.
            Err(_) => return Ok(None),
        }
        if started.elapsed() >= wait {
            return Err(JobError::Contention);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(4));
    }
}

#[cfg(not(unix))]
fn dir_lock(dir: &Path, _wait: Duration) -> Result<Option<fs::File>, JobError> {
    if !dir.is_dir() {
        return Err(JobError::NotFound {
            dir: dir.to_path_buf(),
        });
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// Recovery and mutation

/// Finishes or undoes an interrupted mutation (A13). Call with the lock held.
pub fn recover(job: &JobDir) -> Result<(), JobError> {
    let path = job.pending_path();
    let Some(text) = read_file_text(&path)? else {
        return Ok(());
    };
    let marker = PendingMutation::parse(&text).map_err(|e| JobError::Corrupt {
        message: format!("parse pending mutation: {e}"),
        path: path.clone(),
    })?;
    let invalid = |why: &str| JobError::Corrupt {
        message: format!("invalid pending mutation: {why}"),
        path: path.clone(),
    };
    if marker.job_id.trim().is_empty() {
        return Err(invalid("missing job_id"));
    }
    if marker.job_id != job.id {
        return Err(invalid("job_id does not match the job directory"));
    }
    if marker.updated_state.job_id != marker.job_id {
        return Err(invalid("updated_state job_id mismatch"));
    }
    if let Some(p) = &marker.previous_state {
        if p.job_id != marker.job_id {
            return Err(invalid("previous_state job_id mismatch"));
        }
    }
    if marker.event.job_id != marker.job_id {
        return Err(invalid("event job_id mismatch"));
    }
    let events = read_events(job)?;
    let logged = events.iter().any(|e| e.revision == marker.event.revision);
    if logged {
        write_atomic_0600(&job.state_path(), &marker.updated_state.file_bytes())?;
    } else {
        match &marker.previous_state {
            Some(p) => write_atomic_0600(&job.state_path(), &p.file_bytes())?,
            None => remove_if_exists(&job.state_path())?,
        }
    }
    remove_if_exists(&path)?;
    sync_dir(&job.dir);
    Ok(())
}

/// What a mutation records besides the new state.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub event_type: String,
    pub actor: String,
    pub reason_code: String,
    pub payload: Option<Map<String, Value>>,
}

/// A locked job: recovery has run and the state is read; mutations commit one at a time.
pub struct Txn {
    job: JobDir,
    state: Option<JobState>,
    _lock: JobLock,
}

impl Txn {
    /// Locks the job (creating its directory when `create`), runs recovery and reads the
    /// state.
    pub fn begin(job: &JobDir, create: bool) -> Result<Txn, JobError> {
        Self::begin_with_wait(job, create, LOCK_WAIT)
    }

    pub fn begin_with_wait(job: &JobDir, create: bool, wait: Duration) -> Result<Txn, JobError> {
        if create {
            fsutil::create_dir_all_mode(&job.dir, 0o750)
                .map_err(|e| io_err("create job directory", &job.dir, &e))?;
        }
        let lock = JobLock::acquire(&job.dir, wait)?;
        recover(job)?;
        let state = read_state(job)?;
        Ok(Txn {
            job: job.clone(),
            state,
            _lock: lock,
        })
    }

    pub fn job(&self) -> &JobDir {
        &self.job
    }

    /// The current state (`None` before submit).
    pub fn state(&self) -> Option<&JobState> {
        self.state.as_ref()
    }

    /// The current state, or `job not found`.
    pub fn existing(&self) -> Result<&JobState, JobError> {
        self.state.as_ref().ok_or_else(|| JobError::NotFound {
            dir: self.job.dir.clone(),
        })
    }

    /// Commits `next` (revision and `updated_at` are set here) with one event, following the
    /// marker protocol: marker, state, event, marker removal. Returns the event.
    pub fn commit(
        &mut self,
        mut next: JobState,
        change: Change,
        now: GoTime,
    ) -> Result<Event, JobError> {
        let previous = self.state.clone();
        next.updated_at = now;
        next.revision = previous.as_ref().map_or(0, |p| p.revision) + 1;
        let event = Event {
            schema_id: EVENT_SCHEMA.into(),
            schema_version: SCHEMA_VERSION.into(),
            created_at: now,
            job_id: next.job_id.clone(),
            revision: next.revision,
            event_type: change.event_type,
            actor: change.actor,
            reason_code: change.reason_code,
            payload: change.payload,
        };
        let events_path = self.job.events_path();
        // Refuse before writing anything when the log ends in a torn line.
        let (mut events_file, _) = open_events_for_append(&events_path)?;
        let _events_lock = take_file_lock(
            &self.job.dir,
            EVENTS_LOCK,
            EVENTS_LOCK_WAIT,
            EVENTS_LOCK_STALE,
        )?;
        let marker = PendingMutation {
            created_at: now,
            job_id: self.job.id.clone(),
            previous_state: previous.clone(),
            updated_state: next.clone(),
            event: event.clone(),
        };
        let marker_path = self.job.pending_path();
        // 1. The marker, durable: its content, then its directory entry.
        write_atomic_0600(&marker_path, &marker.file_bytes())?;
        // 2. The state replaced and the event appended, then state, log and directory made
        //    durable together (three syncs in parallel: one journal commit, not three). The
        //    marker is removed only after all three succeeded, so a crash anywhere before
        //    leaves a marker that recovery resolves by the event log.
        let state_path = self.job.state_path();
        let state_file = match replace_unsynced(&state_path, &next.file_bytes()) {
            Ok(f) => f,
            Err(e) => {
                let _ = fs::remove_file(&marker_path);
                return Err(e);
            }
        };
        let appended = events_file
            .write_all(event.line().as_bytes())
            .map_err(|e| io_err("append", &events_path, &e))
            .and_then(|_| {
                sync_together(&state_file, &events_file, &self.job.dir)
                    .map_err(|e| io_err("sync", &self.job.dir, &e))
            });
        if let Err(e) = appended {
            let logged = read_events(&self.job)
                .map(|evs| evs.iter().any(|x| x.revision == event.revision))
                .unwrap_or(false);
            if !logged {
                match &previous {
                    Some(p) => {
                        let _ = write_atomic_0600(&state_path, &p.file_bytes());
                    }
                    None => {
                        let _ = fs::remove_file(&state_path);
                    }
                }
                let _ = fs::remove_file(&marker_path);
            }
            return Err(e);
        }
        remove_if_exists(&marker_path)?;
        self.state = Some(next);
        Ok(event)
    }

    /// Rewrites the state without an event or a new revision (lease bookkeeping only: the
    /// reference's fields must be unchanged).
    pub fn rewrite_lease(&mut self, lease: Option<Lease>) -> Result<(), JobError> {
        let mut st = self.existing()?.clone();
        st.lease = lease;
        write_atomic_0600(&self.job.state_path(), &st.file_bytes())?;
        self.state = Some(st);
        Ok(())
    }
}

/// Records that a tool call for an emergency-stopped job was refused (jobs spec A11, for
/// `mcp proxy|serve`): a `dispatch_blocked` event through the normal mutation, status
/// unchanged. `reason_code` defaults to `emergency_stop_preempted`, `dispatch_path` to
/// `runtime.dispatch`.
pub fn record_blocked_dispatch(
    job: &JobDir,
    actor: &str,
    reason_code: &str,
    dispatch_path: &str,
    now: GoTime,
) -> Result<JobState, JobError> {
    let mut txn = Txn::begin(job, false)?;
    let st = txn.existing()?.clone();
    if st.status != "emergency_stopped" || st.stop_reason != "emergency_stopped" {
        return Err(JobError::invalid(
            "invalid transition: blocked dispatch requires emergency stopped state",
        ));
    }
    let reason = if reason_code.trim().is_empty() {
        "emergency_stop_preempted"
    } else {
        reason_code.trim()
    };
    let path = if dispatch_path.trim().is_empty() {
        "runtime.dispatch"
    } else {
        dispatch_path.trim()
    };
    let mut payload = Map::new();
    payload.insert("dispatch_path".into(), Value::String(path.to_string()));
    txn.commit(
        st,
        Change {
            event_type: "dispatch_blocked".into(),
            actor: actor.trim().to_string(),
            reason_code: reason.to_string(),
            payload: Some(payload),
        },
        now,
    )?;
    Ok(txn.existing()?.clone())
}

/// Every job directory under a root (names that are valid job ids), sorted.
pub fn list_job_ids(root: &Path) -> Result<Vec<String>, JobError> {
    let rd = match fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("read job root", root, &e)),
    };
    let mut ids: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| validate_job_id(n).map(|v| &v == n).unwrap_or(false))
        .collect();
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_id_rules() {
        assert_eq!(validate_job_id(" j1 ").unwrap(), "j1");
        for bad in ["", "../x", "_a", "has space", &"a".repeat(129)] {
            assert!(validate_job_id(bad).is_err(), "{bad}");
        }
        assert!(validate_job_id(&"a".repeat(128)).is_ok());
        assert!(validate_job_id("a.b:c-d_e").is_ok());
    }

    #[test]
    fn default_invariant_hash_matches_reference() {
        let inv = safety_invariants("", "", "");
        assert_eq!(
            safety_invariant_hash(&inv),
            "075f96bf56c92d7a413eafe9b15fc5f7f7d814b83af4ef377e28951eac59aa88"
        );
        let inv = safety_invariants("demo.user", "", "");
        assert_eq!(
            safety_invariant_hash(&inv),
            "541a4854dda77c0b1edfc51e90ecad6f58f045717399eb89b86ac7475c0787ce"
        );
    }

    #[test]
    fn reference_fingerprint_vector() {
        assert_eq!(
            environment_fingerprint_with("linux", "amd64", Some("go1.27.3"), "/bin/bash"),
            "envfp:4ca56a9732f01ae9f36f1ea8404c9a0e53d52bc644ac04c4df1310a20bda7fa9"
        );
    }

    #[test]
    fn state_round_trips_in_field_order() {
        let text = r#"{"schema_id":"gait.job.runtime","schema_version":"1.0.0","created_at":"2026-03-01T08:00:00Z","updated_at":"2026-03-01T08:06:00.5Z","producer_version":"0.0.0-dev","job_id":"j","status":"paused","stop_reason":"paused_by_user","status_reason_code":"paused","environment_fingerprint":"envfp:x","identity":"a<b","revision":7,"checkpoints":null,"Extra":1}"#;
        let st = JobState::parse_lenient(text).unwrap();
        assert_eq!(st.safety_invariant_version, "1");
        assert!(st.checkpoints.is_empty());
        let out = String::from_utf8(st.file_bytes()).unwrap();
        assert!(out.starts_with("{\n  \"schema_id\": \"gait.job.runtime\",\n"));
        assert!(out.contains("\"identity\": \"a\\u003cb\""));
        assert!(out.contains("\"checkpoints\": []"));
        assert!(out.contains("\"updated_at\": \"2026-03-01T08:06:00.5Z\""));
        assert_eq!(JobState::parse_lenient(&out).unwrap(), st);
        assert!(JobState::parse_strict(text)
            .unwrap_err()
            .contains("unknown field \"Extra\""));
    }

    #[test]
    fn mutation_and_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let job = JobDir::new(dir.path().to_str().unwrap(), "j1").unwrap();
        let now = GoTime::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        let mut txn = Txn::begin(&job, true).unwrap();
        let st = JobState {
            schema_id: STATE_SCHEMA.into(),
            schema_version: SCHEMA_VERSION.into(),
            job_id: "j1".into(),
            status: "running".into(),
            ..Default::default()
        };
        txn.commit(
            st.clone(),
            Change {
                event_type: "submitted".into(),
                ..Default::default()
            },
            now,
        )
        .unwrap();
        let mut st2 = txn.state().unwrap().clone();
        st2.status = "paused".into();
        txn.commit(
            st2.clone(),
            Change {
                event_type: "paused".into(),
                ..Default::default()
            },
            now,
        )
        .unwrap();
        drop(txn);
        assert!(!job.pending_path().exists());
        assert!(!job.dir.join(STATE_LOCK).exists());
        assert_eq!(read_events(&job).unwrap().len(), 2);
        // A marker for revision 3 whose event never landed rolls back.
        let cur = read_state(&job).unwrap().unwrap();
        let mut next = cur.clone();
        next.revision = 3;
        next.status = "cancelled".into();
        let marker = PendingMutation {
            created_at: now,
            job_id: "j1".into(),
            previous_state: Some(cur.clone()),
            updated_state: next.clone(),
            event: Event {
                job_id: "j1".into(),
                revision: 3,
                ..Default::default()
            },
        };
        write_atomic_0600(&job.pending_path(), &marker.file_bytes()).unwrap();
        write_atomic_0600(&job.state_path(), &next.file_bytes()).unwrap();
        assert_eq!(load(&job).unwrap().revision, 2);
        assert!(!job.pending_path().exists());
        // A stale gait-rs lock file is taken over at once.
        fs::write(job.dir.join(STATE_LOCK), owner_contents()).unwrap();
        let t0 = Instant::now();
        drop(Txn::begin(&job, false).unwrap());
        assert!(t0.elapsed() < Duration::from_secs(1));
        // A torn final line refuses mutations and is left alone.
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(job.events_path())
            .unwrap();
        f.write_all(b"{\"schema_id\":").unwrap();
        let mut txn = Txn::begin(&job, false).unwrap();
        let s = txn.state().unwrap().clone();
        assert!(matches!(
            txn.commit(s, Change::default(), now),
            Err(JobError::Corrupt { .. })
        ));
        assert_eq!(read_state(&job).unwrap().unwrap().revision, 2);
    }

    #[test]
    fn blocked_dispatch_needs_an_emergency_stop() {
        let dir = tempfile::tempdir().unwrap();
        let job = JobDir::new(dir.path().to_str().unwrap(), "m1").unwrap();
        let now = GoTime::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        let mut txn = Txn::begin(&job, true).unwrap();
        let st = JobState {
            job_id: "m1".into(),
            status: "running".into(),
            stop_reason: "none".into(),
            ..Default::default()
        };
        txn.commit(st, Change::default(), now).unwrap();
        drop(txn);
        assert!(record_blocked_dispatch(&job, "mcp-proxy", "", "mcp.proxy", now).is_err());
        let mut txn = Txn::begin(&job, false).unwrap();
        let mut st = txn.existing().unwrap().clone();
        st.status = "emergency_stopped".into();
        st.stop_reason = "emergency_stopped".into();
        txn.commit(st, Change::default(), now).unwrap();
        drop(txn);
        let st = record_blocked_dispatch(&job, "mcp-proxy", "", "mcp.proxy", now).unwrap();
        assert_eq!((st.status.as_str(), st.revision), ("emergency_stopped", 3));
        let ev = read_events(&job).unwrap().pop().unwrap();
        assert_eq!(ev.event_type, "dispatch_blocked");
        assert_eq!(ev.reason_code, "emergency_stop_preempted");
        assert_eq!(ev.payload.unwrap()["dispatch_path"], "mcp.proxy");
    }

    /// A `state.json` and an `events.jsonl` written by the reference re-render byte for byte.
    #[test]
    fn reference_files_round_trip_byte_for_byte() {
        let state = REF_STATE;
        let st = JobState::parse_lenient(state).unwrap();
        assert_eq!(String::from_utf8(st.file_bytes()).unwrap(), state);
        for line in REF_EVENTS.lines() {
            assert_eq!(
                Event::parse_lenient(line).unwrap().line(),
                format!("{line}\n")
            );
        }
    }

    const REF_STATE: &str = r#"{
  "schema_id": "gait.job.runtime",
  "schema_version": "1.0.0",
  "created_at": "2026-03-01T08:00:00Z",
  "updated_at": "2026-03-01T08:06:00Z",
  "producer_version": "0.0.0-dev",
  "job_id": "job_fjord_460",
  "status": "paused",
  "stop_reason": "paused_by_user",
  "status_reason_code": "paused",
  "environment_fingerprint": "envfp:stored-heron",
  "safety_invariant_version": "1",
  "safety_invariant_hash": "581b5c0ba606e573f3166ad21f5ffa35c77bd6f67cb6848fe7cde9fbca6480b9",
  "safety_invariants": [
    "control_boundary=runtime_go",
    "default_privacy=reference_receipts",
    "fail_closed=true",
    "identity=prep-user"
  ],
  "identity": "prep-user",
  "revision": 7,
  "checkpoints": [
    {
      "checkpoint_id": "cp_0001",
      "created_at": "2026-03-01T08:01:00Z",
      "type": "plan",
      "summary": "stored plan",
      "reason_code": "checkpoint_plan"
    },
    {
      "checkpoint_id": "cp_0002",
      "created_at": "2026-03-01T08:02:00Z",
      "type": "decision-needed",
      "summary": "needs a human",
      "required_action": "approve",
      "reason_code": "checkpoint_decision_needed"
    },
    {
      "checkpoint_id": "cp_0003",
      "created_at": "2026-03-01T08:05:00Z",
      "type": "progress",
      "summary": "half way",
      "reason_code": "checkpoint_progress"
    }
  ],
  "approvals": [
    {
      "created_at": "2026-03-01T08:03:00Z",
      "actor": "stored-approver",
      "reason": "ok"
    }
  ]
}
"#;
    const REF_EVENTS: &str = r#"{"schema_id":"gait.job.event","schema_version":"1.0.0","created_at":"2026-03-01T08:00:00Z","job_id":"job_fjord_460","revision":1,"type":"submitted","actor":"prep-user","reason_code":"submitted","payload":{"environment_fingerprint":"envfp:stored-heron","identity":"prep-user"}}
{"schema_id":"gait.job.event","schema_version":"1.0.0","created_at":"2026-03-01T08:01:00Z","job_id":"job_fjord_460","revision":2,"type":"checkpoint_added","reason_code":"checkpoint_plan","payload":{"checkpoint_id":"cp_0001","checkpoint_type":"plan","required_action":""}}
{"schema_id":"gait.job.event","schema_version":"1.0.0","created_at":"2026-03-01T08:02:00Z","job_id":"job_fjord_460","revision":3,"type":"checkpoint_added","reason_code":"checkpoint_decision_needed","payload":{"checkpoint_id":"cp_0002","checkpoint_type":"decision-needed","required_action":"approve"}}
{"schema_id":"gait.job.event","schema_version":"1.0.0","created_at":"2026-03-01T08:03:00Z","job_id":"job_fjord_460","revision":4,"type":"approved","actor":"stored-approver","reason_code":"approval_recorded","payload":{"reason":"ok"}}
{"schema_id":"gait.job.event","schema_version":"1.0.0","created_at":"2026-03-01T08:04:00Z","job_id":"job_fjord_460","revision":5,"type":"resumed","reason_code":"resumed","payload":{"actual_fingerprint":"envfp:stored-heron","expected_fingerprint":"envfp:stored-heron","identity":"prep-user","identity_validation_required":true,"reason":"resume"}}
{"schema_id":"gait.job.event","schema_version":"1.0.0","created_at":"2026-03-01T08:05:00Z","job_id":"job_fjord_460","revision":6,"type":"checkpoint_added","reason_code":"checkpoint_progress","payload":{"checkpoint_id":"cp_0003","checkpoint_type":"progress","required_action":""}}
{"schema_id":"gait.job.event","schema_version":"1.0.0","created_at":"2026-03-01T08:06:00Z","job_id":"job_fjord_460","revision":7,"type":"paused","reason_code":"paused"}
"#;
}
