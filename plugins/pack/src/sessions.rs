//! Sessions: `gait run session start|append|status|checkpoint|compact` and
//! `gait verify session-chain` (spec: artifacts §4.10).
//!
//! A session journal `J` is JSONL. Its first line is the header, then one line per gate
//! decision (`event`, sequence 1, 2, … without gaps) and one per checkpoint, each shaped
//! `{"record_type":"<type>","<type>":{…}}` in declaration order (plain JSON, not JCS).
//! Beside it live `J.state.json` (a summary rebuilt from the journal on every write; the
//! journal is always the source of truth) and `J.lock` (held while anything is written).
//! Every write replaces the file atomically, so a reader never sees half a line.
//!
//! A checkpoint records the events since the previous checkpoint as a reference-capture
//! runpack `<run_id>_cp_<NNNN>`, links it into the journal with
//! `checkpoint_digest = sha256_hex("<manifest>:<prev>:<index>:<start>:<end>")`, and rewrites
//! the session chain file (`gait.runpack.session_chain`) with every checkpoint so far.
//! Compaction drops events whose checkpoint runpack verifies; checkpoints are never dropped.

use crate::archive::{open_entries, write_zip};
use crate::error::PackError;
use crate::runs::{clean, optional_signer, output_path, VerifyKeys};
use gait_sdk::cli::CommandOutput;
use gait_sdk::error::exit;
use gait_sdk::fsutil::{self, LockError, LockFile, ReadError};
use gait_sdk::gojson::GoValue;
use gait_sdk::jcs;
use gait_sdk::pack::runpack::{
    self, Header, IntentRecord, RecordInput, Refs, ResultRecord, Run, RunpackError, TimelineEvent,
};
use gait_sdk::signing::KeySource;
use gait_sdk::time::GoTime;
use gait_sdk::{Category, GaitError};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const JOURNAL_SCHEMA: &str = "gait.runpack.session_journal";
pub const EVENT_SCHEMA: &str = "gait.runpack.session_event";
pub const CHECKPOINT_SCHEMA: &str = "gait.runpack.session_checkpoint";
pub const CHAIN_SCHEMA: &str = "gait.runpack.session_chain";
pub const STATE_SCHEMA: &str = "gait.runpack.session_state";
pub const SCHEMA_VERSION: &str = "1.0.0";
/// The verdicts an event may carry.
pub const VERDICTS: [&str; 4] = ["allow", "block", "dry_run", "require_approval"];
/// Largest journal read into memory; compaction keeps journals well below this.
pub const MAX_JOURNAL_BYTES: u64 = 64 * 1024 * 1024;
/// Largest chain file read.
pub const MAX_CHAIN_BYTES: u64 = fsutil::MAX_INPUT_BYTES;
/// Longest session or run id accepted.
const MAX_ID_LEN: usize = 256;
const LOCK_WAIT: Duration = Duration::from_secs(3);
const LOCK_RETRY: Duration = Duration::from_millis(15);
const LOCK_STALE: Duration = Duration::from_secs(15);

const HINT_START: &str =
    "start the session first: gait run session start --journal <path> --session-id <id> --run-id <run_id>";
const HINT_DAMAGED: &str =
    "session journals are append-only; restore the journal from a backup or start a new journal";
const HINT_CHAIN: &str =
    "pass the session chain JSON written by `gait run session checkpoint` (gait.runpack.session_chain)";

// ---------------------------------------------------------------------------------------------
// Errors

/// A session failure: a [`PackError`] (which fixes the exit code) plus an optional hint for
/// the JSON envelope. `contention` marks a lock that could not be taken (exit 1, retryable).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct SessionError {
    pub error: PackError,
    pub hint: Option<String>,
    pub contention: bool,
}

impl SessionError {
    fn invalid(m: impl Into<String>) -> Self {
        PackError::invalid(m).into()
    }
    fn with_hint(mut self, h: impl Into<String>) -> Self {
        self.hint = Some(h.into());
        self
    }
    pub fn category(&self) -> Category {
        if self.contention {
            Category::StateContention
        } else {
            self.error.category()
        }
    }
}

impl From<PackError> for SessionError {
    fn from(error: PackError) -> Self {
        SessionError {
            error,
            hint: None,
            contention: false,
        }
    }
}

impl From<RunpackError> for SessionError {
    fn from(e: RunpackError) -> Self {
        PackError::from(e).into()
    }
}

impl From<SessionError> for GaitError {
    fn from(e: SessionError) -> Self {
        let mut g = if e.contention {
            GaitError::contention(e.error.to_string())
        } else {
            GaitError::from(e.error)
        };
        if let Some(h) = e.hint {
            g = g.with_hint(h);
        }
        g
    }
}

type R<T> = Result<T, SessionError>;

fn damaged(m: impl Into<String>) -> SessionError {
    SessionError::invalid(m).with_hint(HINT_DAMAGED)
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> SessionError {
    PackError::Io(format!(
        "{what} {}: {}",
        path.display(),
        fsutil::go_io_reason(&e)
    ))
    .into()
}

// ---------------------------------------------------------------------------------------------
// JSON in declaration order (Go struct encoding), compact or two-space indented.

/// A JSON value whose object members keep the order they were added in.
#[derive(Debug, Clone, PartialEq)]
enum Oj {
    Obj(Vec<(String, Oj)>),
    Arr(Vec<Oj>),
    Val(Value),
}

impl Oj {
    /// Free-form values (Go maps) are written with sorted keys.
    fn from_value(v: &Value) -> Oj {
        match v {
            Value::Object(m) => Oj::Obj(
                m.iter()
                    .map(|(k, v)| (k.clone(), Oj::from_value(v)))
                    .collect(),
            ),
            Value::Array(a) => Oj::Arr(a.iter().map(Oj::from_value).collect()),
            other => Oj::Val(other.clone()),
        }
    }
    fn to_value(&self) -> Value {
        match self {
            Oj::Obj(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_value())).collect()),
            Oj::Arr(a) => Value::Array(a.iter().map(Oj::to_value).collect()),
            Oj::Val(v) => v.clone(),
        }
    }
    fn compact(&self) -> String {
        let mut out = String::with_capacity(512);
        write_oj(&mut out, self, false, 0);
        out
    }
    /// Two-space indented, with a trailing newline.
    fn pretty(&self) -> String {
        let mut out = String::with_capacity(1024);
        write_oj(&mut out, self, true, 0);
        out.push('\n');
        out
    }
}

fn write_oj(out: &mut String, v: &Oj, indent: bool, depth: usize) {
    let newline = |out: &mut String, depth: usize| {
        if indent {
            out.push('\n');
            for _ in 0..depth {
                out.push_str("  ");
            }
        }
    };
    match v {
        Oj::Obj(m) if m.is_empty() => out.push_str("{}"),
        Oj::Obj(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_go_string(out, k);
                out.push(':');
                if indent {
                    out.push(' ');
                }
                write_oj(out, x, indent, depth + 1);
            }
            newline(out, depth);
            out.push('}');
        }
        Oj::Arr(a) if a.is_empty() => out.push_str("[]"),
        Oj::Arr(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_oj(out, x, indent, depth + 1);
            }
            newline(out, depth);
            out.push(']');
        }
        Oj::Val(Value::String(s)) => write_go_string(out, s),
        Oj::Val(x @ (Value::Object(_) | Value::Array(_))) => {
            write_oj(out, &Oj::from_value(x), indent, depth)
        }
        Oj::Val(x) => out.push_str(&x.to_string()),
    }
}

/// A JSON string as Go's encoder writes it (HTML-safe, U+2028/2029 escaped).
fn write_go_string(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
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

/// Builds an ordered object; `*_opt` members are omitted when empty (Go `omitempty`).
#[derive(Default)]
struct Fields(Vec<(String, Oj)>);

impl Fields {
    fn put(mut self, k: &str, v: Value) -> Self {
        self.0.push((k.to_string(), Oj::from_value(&v)));
        self
    }
    fn str(self, k: &str, v: &str) -> Self {
        self.put(k, json!(v))
    }
    fn time(self, k: &str, t: &GoTime) -> Self {
        self.put(k, json!(t.to_rfc3339_nano()))
    }
    fn str_opt(self, k: &str, v: &str) -> Self {
        if v.is_empty() {
            self
        } else {
            self.str(k, v)
        }
    }
    fn list_opt(self, k: &str, v: &[String]) -> Self {
        if v.is_empty() {
            self
        } else {
            self.put(k, json!(v))
        }
    }
    fn value_opt(self, k: &str, v: Option<&Value>) -> Self {
        match v {
            Some(x) if !x.is_null() && x != &json!({}) => self.put(k, x.clone()),
            _ => self,
        }
    }
    fn child(mut self, k: &str, v: Oj) -> Self {
        self.0.push((k.to_string(), v));
        self
    }
    fn done(self) -> Oj {
        Oj::Obj(self.0)
    }
}

fn record_line(record_type: &str, payload: Oj) -> String {
    Fields::default()
        .str("record_type", record_type)
        .child(record_type, payload)
        .done()
        .compact()
}

// ---------------------------------------------------------------------------------------------
// Records

fn text_of(v: &GoValue, name: &str, ctx: &str) -> Result<String, String> {
    v.str_field(name, ctx).map_err(|e| e.to_string())
}

fn int_of(v: &GoValue, name: &str, ctx: &str) -> Result<i64, String> {
    v.int_field(name, ctx).map_err(|e| e.to_string())
}

fn list_of(v: &GoValue, name: &str, ctx: &str) -> Result<Vec<String>, String> {
    v.str_list_field(name, ctx).map_err(|e| e.to_string())
}

fn time_of(v: &GoValue, name: &str, ctx: &str) -> Result<GoTime, String> {
    let s = text_of(v, name, ctx)?;
    if s.is_empty() {
        return Ok(GoTime::zero());
    }
    GoTime::parse_rfc3339(&s).map_err(|e| format!("{ctx}.{name}: {e}"))
}

fn object_of(v: &GoValue, name: &str, ctx: &str) -> Result<Option<Value>, String> {
    v.object_field(name, ctx)
        .map(|o| o.map(GoValue::to_value))
        .map_err(|e| e.to_string())
}

/// The journal's first line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JournalHeader {
    pub schema_id: String,
    pub schema_version: String,
    pub created_at: GoTime,
    pub producer_version: String,
    pub session_id: String,
    pub run_id: String,
    pub started_at: GoTime,
}

impl JournalHeader {
    fn read(v: &GoValue) -> Result<JournalHeader, String> {
        let c = "header";
        Ok(JournalHeader {
            schema_id: text_of(v, "schema_id", c)?,
            schema_version: text_of(v, "schema_version", c)?,
            created_at: time_of(v, "created_at", c)?,
            producer_version: text_of(v, "producer_version", c)?,
            session_id: text_of(v, "session_id", c)?,
            run_id: text_of(v, "run_id", c)?,
            started_at: time_of(v, "started_at", c)?,
        })
    }
    fn to_oj(&self) -> Oj {
        Fields::default()
            .str("schema_id", &self.schema_id)
            .str("schema_version", &self.schema_version)
            .time("created_at", &self.created_at)
            .str("producer_version", &self.producer_version)
            .str("session_id", &self.session_id)
            .str("run_id", &self.run_id)
            .time("started_at", &self.started_at)
            .done()
    }
}

/// One gate decision in the journal (`gait.runpack.session_event`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionEvent {
    pub schema_id: String,
    pub schema_version: String,
    pub created_at: GoTime,
    pub producer_version: String,
    pub session_id: String,
    pub run_id: String,
    pub sequence: i64,
    pub intent_id: String,
    pub tool_name: String,
    pub intent_digest: String,
    pub policy_digest: String,
    pub policy_id: String,
    pub policy_version: String,
    pub matched_rule_ids: Vec<String>,
    pub trace_id: String,
    pub trace_path: String,
    pub verdict: String,
    pub reason_codes: Vec<String>,
    pub violations: Vec<String>,
    pub relationship: Option<Value>,
    pub safety_invariant_version: String,
    pub safety_invariant_hash: String,
}

impl SessionEvent {
    fn read(v: &GoValue) -> Result<SessionEvent, String> {
        let c = "event";
        Ok(SessionEvent {
            schema_id: text_of(v, "schema_id", c)?,
            schema_version: text_of(v, "schema_version", c)?,
            created_at: time_of(v, "created_at", c)?,
            producer_version: text_of(v, "producer_version", c)?,
            session_id: text_of(v, "session_id", c)?,
            run_id: text_of(v, "run_id", c)?,
            sequence: int_of(v, "sequence", c)?,
            intent_id: text_of(v, "intent_id", c)?,
            tool_name: text_of(v, "tool_name", c)?,
            intent_digest: text_of(v, "intent_digest", c)?,
            policy_digest: text_of(v, "policy_digest", c)?,
            policy_id: text_of(v, "policy_id", c)?,
            policy_version: text_of(v, "policy_version", c)?,
            matched_rule_ids: list_of(v, "matched_rule_ids", c)?,
            trace_id: text_of(v, "trace_id", c)?,
            trace_path: text_of(v, "trace_path", c)?,
            verdict: text_of(v, "verdict", c)?,
            reason_codes: list_of(v, "reason_codes", c)?,
            violations: list_of(v, "violations", c)?,
            relationship: object_of(v, "relationship", c)?,
            safety_invariant_version: text_of(v, "safety_invariant_version", c)?,
            safety_invariant_hash: text_of(v, "safety_invariant_hash", c)?,
        })
    }
    fn to_oj(&self) -> Oj {
        Fields::default()
            .str("schema_id", &self.schema_id)
            .str("schema_version", &self.schema_version)
            .time("created_at", &self.created_at)
            .str("producer_version", &self.producer_version)
            .str("session_id", &self.session_id)
            .str("run_id", &self.run_id)
            .put("sequence", json!(self.sequence))
            .str_opt("intent_id", &self.intent_id)
            .str_opt("tool_name", &self.tool_name)
            .str_opt("intent_digest", &self.intent_digest)
            .str_opt("policy_digest", &self.policy_digest)
            .str_opt("policy_id", &self.policy_id)
            .str_opt("policy_version", &self.policy_version)
            .list_opt("matched_rule_ids", &self.matched_rule_ids)
            .str_opt("trace_id", &self.trace_id)
            .str_opt("trace_path", &self.trace_path)
            .str_opt("verdict", &self.verdict)
            .list_opt("reason_codes", &self.reason_codes)
            .list_opt("violations", &self.violations)
            .value_opt("relationship", self.relationship.as_ref())
            .str_opt("safety_invariant_version", &self.safety_invariant_version)
            .str_opt("safety_invariant_hash", &self.safety_invariant_hash)
            .done()
    }
    pub fn to_value(&self) -> Value {
        self.to_oj().to_value()
    }
}

/// A checkpoint (`gait.runpack.session_checkpoint`), in the journal and in the chain.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Checkpoint {
    pub schema_id: String,
    pub schema_version: String,
    pub created_at: GoTime,
    pub producer_version: String,
    pub session_id: String,
    pub run_id: String,
    pub checkpoint_index: i64,
    pub sequence_start: i64,
    pub sequence_end: i64,
    pub runpack_path: String,
    pub manifest_digest: String,
    /// Empty for the first checkpoint.
    pub prev_checkpoint_digest: String,
    pub checkpoint_digest: String,
    pub relationship: Option<Value>,
    /// Journal only: the chain schema has no such members.
    pub safety_invariant_version: String,
    pub safety_invariant_hash: String,
}

/// `sha256_hex("<manifest_digest>:<prev_checkpoint_digest>:<index>:<seq_start>:<seq_end>")`.
pub fn checkpoint_digest(
    manifest_digest: &str,
    prev_checkpoint_digest: &str,
    index: i64,
    sequence_start: i64,
    sequence_end: i64,
) -> String {
    jcs::sha256_hex(
        format!(
            "{manifest_digest}:{prev_checkpoint_digest}:{index}:{sequence_start}:{sequence_end}"
        )
        .as_bytes(),
    )
}

/// The run id of checkpoint `index`: `<run_id>_cp_<NNNN>`.
pub fn checkpoint_run_id(run_id: &str, index: i64) -> String {
    format!("{run_id}_cp_{index:04}")
}

impl Checkpoint {
    fn read(v: &GoValue, ctx: &str) -> Result<Checkpoint, String> {
        let c = ctx;
        Ok(Checkpoint {
            schema_id: text_of(v, "schema_id", c)?,
            schema_version: text_of(v, "schema_version", c)?,
            created_at: time_of(v, "created_at", c)?,
            producer_version: text_of(v, "producer_version", c)?,
            session_id: text_of(v, "session_id", c)?,
            run_id: text_of(v, "run_id", c)?,
            checkpoint_index: int_of(v, "checkpoint_index", c)?,
            sequence_start: int_of(v, "sequence_start", c)?,
            sequence_end: int_of(v, "sequence_end", c)?,
            runpack_path: text_of(v, "runpack_path", c)?,
            manifest_digest: text_of(v, "manifest_digest", c)?,
            prev_checkpoint_digest: text_of(v, "prev_checkpoint_digest", c)?,
            checkpoint_digest: text_of(v, "checkpoint_digest", c)?,
            relationship: object_of(v, "relationship", c)?,
            safety_invariant_version: text_of(v, "safety_invariant_version", c)?,
            safety_invariant_hash: text_of(v, "safety_invariant_hash", c)?,
        })
    }
    fn to_oj(&self, in_chain: bool) -> Oj {
        let f = Fields::default()
            .str("schema_id", &self.schema_id)
            .str("schema_version", &self.schema_version)
            .time("created_at", &self.created_at)
            .str("producer_version", &self.producer_version)
            .str("session_id", &self.session_id)
            .str("run_id", &self.run_id)
            .put("checkpoint_index", json!(self.checkpoint_index))
            .put("sequence_start", json!(self.sequence_start))
            .put("sequence_end", json!(self.sequence_end))
            .str("runpack_path", &self.runpack_path)
            .str("manifest_digest", &self.manifest_digest)
            .str_opt("prev_checkpoint_digest", &self.prev_checkpoint_digest)
            .str("checkpoint_digest", &self.checkpoint_digest)
            .value_opt("relationship", self.relationship.as_ref());
        if in_chain {
            return f.done();
        }
        f.str_opt("safety_invariant_version", &self.safety_invariant_version)
            .str_opt("safety_invariant_hash", &self.safety_invariant_hash)
            .done()
    }
    /// The checkpoint as it appears in a chain file.
    pub fn to_value(&self) -> Value {
        self.to_oj(true).to_value()
    }
    /// The digest recomputed from this checkpoint's own members.
    pub fn recomputed_digest(&self) -> String {
        checkpoint_digest(
            &self.manifest_digest,
            &self.prev_checkpoint_digest,
            self.checkpoint_index,
            self.sequence_start,
            self.sequence_end,
        )
    }
}

// ---------------------------------------------------------------------------------------------
// The journal

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    Header,
    Event(i64),
    Checkpoint,
}

/// A parsed, validated journal.
#[derive(Debug, Clone)]
pub struct Journal {
    pub header: JournalHeader,
    pub events: Vec<SessionEvent>,
    pub checkpoints: Vec<Checkpoint>,
    /// Each record's raw line, kept verbatim for compaction.
    lines: Vec<(LineKind, String)>,
    /// Size of the file it was parsed from.
    pub bytes: usize,
}

impl Journal {
    /// Parses and checks a journal: a single header first, event sequences contiguous (after
    /// any compacted prefix covered by checkpoints), checkpoints contiguous and linked.
    pub fn parse(text: &str) -> R<Journal> {
        let mut header: Option<JournalHeader> = None;
        let mut events: Vec<SessionEvent> = Vec::new();
        let mut checkpoints: Vec<Checkpoint> = Vec::new();
        let mut lines = Vec::new();
        let mut last_event = 0i64;
        let mut covered = 0i64;
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let v = GoValue::parse(line)
                .map_err(|e| damaged(format!("session journal line {n}: {e}")))?;
            if !matches!(v, GoValue::Object(_)) {
                return Err(damaged(format!(
                    "session journal line {n}: expected a JSON object"
                )));
            }
            let rt = text_of(&v, "record_type", "record")
                .map_err(|e| damaged(format!("session journal line {n}: {e}")))?;
            if !matches!(rt.as_str(), "header" | "event" | "checkpoint") {
                return Err(damaged(format!(
                    "session journal line {n}: unknown record_type {rt:?} (expected header, event or checkpoint)"
                )));
            }
            let payload = match v.field(&rt) {
                Some(p @ GoValue::Object(_)) => p,
                _ => {
                    return Err(damaged(format!(
                        "session journal line {n}: record_type {rt} needs a {rt} object"
                    )))
                }
            };
            let bad = |e: String| damaged(format!("session journal line {n}: {e}"));
            if rt == "header" {
                if header.is_some() || !lines.is_empty() {
                    return Err(damaged(format!(
                        "session journal line {n}: the header must be the first and only header record"
                    )));
                }
                let h = JournalHeader::read(payload).map_err(bad)?;
                if h.schema_id != JOURNAL_SCHEMA || h.schema_version != SCHEMA_VERSION {
                    return Err(damaged(format!(
                        "session journal line {n}: unsupported header {} {} (expected {JOURNAL_SCHEMA} {SCHEMA_VERSION})",
                        h.schema_id, h.schema_version
                    )));
                }
                check_session_id(&h.session_id).map_err(|e| bad(e.to_string()))?;
                check_run_id(&h.run_id).map_err(|e| bad(e.to_string()))?;
                header = Some(h);
                lines.push((LineKind::Header, line.to_string()));
                continue;
            }
            let Some(h) = &header else {
                return Err(damaged(format!(
                    "session journal line {n}: {rt} record before the header"
                )));
            };
            if rt == "event" {
                let e = SessionEvent::read(payload).map_err(bad)?;
                if e.session_id != h.session_id || e.run_id != h.run_id {
                    return Err(bad(format!(
                        "event for session {:?} run {:?} in the journal of session {:?} run {:?}",
                        e.session_id, e.run_id, h.session_id, h.run_id
                    )));
                }
                let expected = last_event.max(covered) + 1;
                if e.sequence != expected {
                    let what = if e.sequence > expected {
                        "sequence gap"
                    } else {
                        "duplicate or out-of-order sequence"
                    };
                    return Err(bad(format!(
                        "{what}: expected event sequence {expected}, found {}",
                        e.sequence
                    )));
                }
                last_event = e.sequence;
                lines.push((LineKind::Event(e.sequence), line.to_string()));
                events.push(e);
                continue;
            }
            let cp = Checkpoint::read(payload, "checkpoint").map_err(bad)?;
            let index = checkpoints.len() as i64 + 1;
            if cp.checkpoint_index != index {
                return Err(bad(format!(
                    "expected checkpoint_index {index}, found {}",
                    cp.checkpoint_index
                )));
            }
            if cp.sequence_start != covered + 1 || cp.sequence_end < cp.sequence_start {
                return Err(bad(format!(
                    "checkpoint {index} covers sequences {}-{}, expected a range starting at {}",
                    cp.sequence_start,
                    cp.sequence_end,
                    covered + 1
                )));
            }
            // Events before a checkpoint may have been compacted away, but a checkpoint
            // never covers events that were not appended yet.
            if !events.is_empty() && cp.sequence_end > last_event {
                return Err(bad(format!(
                    "checkpoint {index} covers sequence {} beyond the last event {last_event}",
                    cp.sequence_end
                )));
            }
            let prev = checkpoints
                .last()
                .map(|p| p.checkpoint_digest.as_str())
                .unwrap_or("");
            if !cp.prev_checkpoint_digest.eq_ignore_ascii_case(prev) {
                return Err(bad(format!(
                    "checkpoint {index} prev_checkpoint_digest does not link to the previous checkpoint"
                )));
            }
            if !cp
                .recomputed_digest()
                .eq_ignore_ascii_case(&cp.checkpoint_digest)
            {
                return Err(bad(format!(
                    "checkpoint {index} checkpoint_digest mismatch"
                )));
            }
            covered = cp.sequence_end;
            lines.push((LineKind::Checkpoint, line.to_string()));
            checkpoints.push(cp);
        }
        let Some(header) = header else {
            return Err(damaged("session journal has no header record"));
        };
        Ok(Journal {
            header,
            events,
            checkpoints,
            lines,
            bytes: text.len(),
        })
    }

    /// The highest sequence assigned so far (0 for a new session).
    pub fn last_sequence(&self) -> i64 {
        let e = self.events.last().map_or(0, |e| e.sequence);
        e.max(self.checkpointed_through())
    }

    /// The last sequence covered by a checkpoint (0 when there is none).
    pub fn checkpointed_through(&self) -> i64 {
        self.checkpoints.last().map_or(0, |c| c.sequence_end)
    }

    /// Events not covered by a checkpoint yet.
    pub fn pending(&self) -> Vec<&SessionEvent> {
        let through = self.checkpointed_through();
        self.events
            .iter()
            .filter(|e| e.sequence > through)
            .collect()
    }

    fn status_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("session_id".into(), json!(self.header.session_id));
        m.insert("run_id".into(), json!(self.header.run_id));
        m.insert(
            "started_at".into(),
            json!(self.header.started_at.to_rfc3339_nano()),
        );
        m.insert("last_sequence".into(), json!(self.last_sequence()));
        m.insert("event_count".into(), json!(self.events.len()));
        m.insert("pending_events".into(), json!(self.pending().len()));
        m.insert("checkpoint_count".into(), json!(self.checkpoints.len()));
        m.insert(
            "checkpointed_through".into(),
            json!(self.checkpointed_through()),
        );
        if let Some(c) = self.checkpoints.last() {
            m.insert("last_checkpoint_index".into(), json!(c.checkpoint_index));
            m.insert("last_checkpoint_digest".into(), json!(c.checkpoint_digest));
            m.insert("last_checkpoint_runpack".into(), json!(c.runpack_path));
        }
        Value::Object(m)
    }
}

fn check_session_id(id: &str) -> R<()> {
    if id.trim().is_empty() {
        return Err(
            SessionError::invalid("session_id is required").with_hint("pass --session-id <id>")
        );
    }
    if id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
        return Err(SessionError::invalid(format!(
            "invalid session_id {id:?}: at most {MAX_ID_LEN} bytes, no control characters"
        )));
    }
    Ok(())
}

/// Run ids become runpack run ids (`<run_id>_cp_<NNNN>`) and file names, so they must match
/// the runpack schema's `^run_[A-Za-z0-9_-]+$`.
fn check_run_id(id: &str) -> R<()> {
    if id.trim().is_empty() {
        return Err(
            SessionError::invalid("run_id is required").with_hint("pass --run-id run_<name>")
        );
    }
    let ok = id.len() <= MAX_ID_LEN
        && id.len() > "run_".len()
        && id.starts_with("run_")
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok {
        return Err(SessionError::invalid(format!(
            "invalid run_id {id:?}: expected run_<name> with letters, digits, '_' and '-'"
        ))
        .with_hint("checkpoint runpacks are named <run_id>_cp_<NNNN> and must match the runpack schema's run_id pattern"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Files: paths, lock, reading, writing

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `J.state.json`.
pub fn state_path(journal: &Path) -> PathBuf {
    with_suffix(journal, ".state.json")
}

/// `J.lock`.
pub fn lock_path(journal: &Path) -> PathBuf {
    with_suffix(journal, ".lock")
}

/// `<dir>/<journal base>_chain.json`: the journal's directory and file name without its
/// last extension.
pub fn default_chain_path(journal: &Path) -> PathBuf {
    let stem = journal
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "session".into());
    let name = format!("{stem}_chain.json");
    match journal.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.join(name),
        _ => PathBuf::from(name),
    }
}

fn journal_arg(journal: &str) -> R<PathBuf> {
    if journal.trim().is_empty() {
        return Err(SessionError::invalid("missing required --journal <path>")
            .with_hint("pass --journal <session.journal.jsonl>"));
    }
    Ok(PathBuf::from(clean(journal.trim())))
}

/// An existing journal file.
fn existing_journal(journal: &str) -> R<PathBuf> {
    let p = journal_arg(journal)?;
    if p.is_dir() {
        return Err(SessionError::invalid(format!(
            "session journal {} is a directory",
            p.display()
        )));
    }
    if !p.is_file() {
        return Err(
            SessionError::invalid(format!("session journal not found: {}", p.display()))
                .with_hint(HINT_START),
        );
    }
    Ok(p)
}

fn lock_journal(journal: &Path, wait: Duration) -> R<LockFile> {
    let body = serde_json::to_vec(&json!({
        "schema_id": "gait.runpack.session_lock", "schema_version": SCHEMA_VERSION,
        "pid": std::process::id(), "created_at": GoTime::now_utc().to_rfc3339_nano()
    }))
    .expect("lock body serialises");
    LockFile::acquire(&lock_path(journal), &body, wait, LOCK_RETRY, LOCK_STALE).map_err(|e| {
        match e {
            LockError::Timeout => SessionError {
                error: PackError::Io("acquire session journal lock: timeout".into()),
                hint: Some(format!(
                    "another gait process is writing this session; retry, or remove {} if no gait process is running",
                    lock_path(journal).display()
                )),
                contention: true,
            },
            LockError::Io { .. } => {
                PackError::Io(format!("acquire session journal lock: {e}")).into()
            }
        }
    })
}

fn read_journal(journal: &Path) -> R<Journal> {
    let bytes = fsutil::read_capped(journal, MAX_JOURNAL_BYTES).map_err(|e| match e {
        ReadError::TooLarge { .. } => SessionError::invalid(format!("read session journal: {e}"))
            .with_hint(
                "checkpoint and compact the session: gait run session compact --journal <path>",
            ),
        other => SessionError::invalid(format!("read session journal: {other}")),
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        damaged(format!(
            "session journal {} is not valid UTF-8",
            journal.display()
        ))
    })?;
    Journal::parse(&text)
}

fn write_file(path: &Path, bytes: &[u8]) -> R<()> {
    fsutil::write_atomic(path, bytes, 0o600).map_err(|e| io_err("write", path, e))
}

/// Appends one line to the journal by rewriting it atomically.
fn write_journal_with(journal: &Path, j: &Journal, line: &str) -> R<String> {
    let mut text = String::with_capacity(j.bytes + line.len() + 1);
    for (_, l) in &j.lines {
        text.push_str(l);
        text.push('\n');
    }
    text.push_str(line);
    text.push('\n');
    write_file(journal, text.as_bytes())?;
    Ok(text)
}

/// The chain path recorded by the last checkpoint, if the state file has one.
fn state_chain_path(journal: &Path) -> Option<String> {
    let text = fsutil::read_text_input(&state_path(journal)).ok()?;
    let v = GoValue::parse(&text).ok()?;
    let p = v.str_field("chain_path", "state").ok()?;
    (!p.is_empty()).then_some(p)
}

/// Rewrites `J.state.json` from the journal (keeping the known chain path).
fn write_state(journal: &Path, j: &Journal, chain_path: Option<&str>, now: GoTime) -> R<()> {
    let chain = chain_path
        .map(str::to_string)
        .or_else(|| state_chain_path(journal));
    let mut m = Map::new();
    m.insert("schema_id".into(), json!(STATE_SCHEMA));
    m.insert("schema_version".into(), json!(SCHEMA_VERSION));
    m.insert("updated_at".into(), json!(now.to_rfc3339_nano()));
    m.insert("journal".into(), json!(journal.display().to_string()));
    m.insert("session_id".into(), json!(j.header.session_id));
    m.insert("run_id".into(), json!(j.header.run_id));
    m.insert("last_sequence".into(), json!(j.last_sequence()));
    m.insert("checkpoint_count".into(), json!(j.checkpoints.len()));
    m.insert(
        "checkpointed_through".into(),
        json!(j.checkpointed_through()),
    );
    if let Some(c) = j.checkpoints.last() {
        m.insert("last_checkpoint_digest".into(), json!(c.checkpoint_digest));
    }
    if let Some(c) = chain {
        m.insert("chain_path".into(), json!(c));
    }
    write_file(
        &state_path(journal),
        gait_sdk::output::to_json_pretty(&Value::Object(m)).as_bytes(),
    )
}

fn output(
    operation: &str,
    journal: &Path,
    extra: Vec<(&str, Value)>,
    text: String,
) -> CommandOutput {
    let mut m = Map::new();
    m.insert("ok".into(), json!(true));
    m.insert("operation".into(), json!(operation));
    m.insert("journal".into(), json!(journal.display().to_string()));
    for (k, v) in extra {
        m.insert(k.into(), v);
    }
    CommandOutput::new(m, text, exit::OK)
}

// ---------------------------------------------------------------------------------------------
// start

/// Flags of `run session start`.
#[derive(Debug, Default, Clone)]
pub struct StartArgs {
    pub journal: String,
    pub session_id: String,
    pub run_id: String,
}

/// `gait run session start`: creates the journal with its header. Starting an existing
/// journal for the same session and run is a no-op; for another one it is an error.
pub fn start(a: &StartArgs) -> R<CommandOutput> {
    start_at(a, GoTime::now_utc())
}

fn start_at(a: &StartArgs, now: GoTime) -> R<CommandOutput> {
    journal_arg(&a.journal)?;
    let journal = PathBuf::from(output_path(&a.journal)?);
    let session_id = a.session_id.trim();
    let run_id = a.run_id.trim();
    check_session_id(session_id)?;
    check_run_id(run_id)?;
    if journal.is_dir() {
        return Err(SessionError::invalid(format!(
            "session journal {} is a directory",
            journal.display()
        )));
    }
    if let Some(parent) = journal.parent().filter(|p| !p.as_os_str().is_empty()) {
        fsutil::create_dir_all_mode(parent, 0o750).map_err(|e| io_err("mkdir", parent, e))?;
    }
    let _lock = lock_journal(&journal, LOCK_WAIT)?;
    if journal.exists() {
        let j = read_journal(&journal)?;
        if j.header.session_id != session_id || j.header.run_id != run_id {
            return Err(SessionError::invalid(format!(
                "session journal {} belongs to session {:?} run {:?}",
                journal.display(),
                j.header.session_id,
                j.header.run_id
            ))
            .with_hint("use a different --journal for a new session"));
        }
        let text = format!(
            "session already started: {session_id} (run {run_id}, last sequence {})\njournal: {}\n",
            j.last_sequence(),
            journal.display()
        );
        return Ok(output(
            "start",
            &journal,
            vec![("status", j.status_value())],
            text,
        ));
    }
    let header = JournalHeader {
        schema_id: JOURNAL_SCHEMA.into(),
        schema_version: SCHEMA_VERSION.into(),
        created_at: now,
        producer_version: runpack::DEFAULT_PRODUCER_VERSION.into(),
        session_id: session_id.into(),
        run_id: run_id.into(),
        started_at: now,
    };
    let text = format!("{}\n", record_line("header", header.to_oj()));
    let j = Journal::parse(&text)?;
    write_file(&journal, text.as_bytes())?;
    write_state(&journal, &j, None, now)?;
    let out = format!(
        "session started: {session_id} (run {run_id})\njournal: {}\n",
        journal.display()
    );
    Ok(output(
        "start",
        &journal,
        vec![("status", j.status_value())],
        out,
    ))
}

// ---------------------------------------------------------------------------------------------
// append

/// Flags of `run session append`. List flags are comma-separated.
#[derive(Debug, Default, Clone)]
pub struct AppendArgs {
    pub journal: String,
    pub tool: String,
    pub verdict: String,
    pub intent_id: String,
    pub intent_digest: String,
    pub policy_digest: String,
    pub policy_id: String,
    pub policy_version: String,
    pub matched_rule_ids: String,
    pub trace_id: String,
    pub trace_path: String,
    pub reason_codes: String,
    pub violations: String,
    pub safety_invariant_version: String,
    pub safety_invariant_hash: String,
}

fn csv(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn digest_flag(flag: &str, v: &str) -> R<String> {
    let v = v.trim().to_lowercase();
    if !v.is_empty() && !jcs::is_sha256_hex(&v) {
        return Err(SessionError::invalid(format!(
            "invalid --{flag}: expected 64 hex characters (sha256)"
        )));
    }
    Ok(v)
}

/// Normalises a verdict or explains which ones exist.
pub fn parse_verdict(v: &str) -> R<String> {
    let n = v.trim().to_lowercase();
    if n.is_empty() {
        return Err(SessionError::invalid("missing required --verdict")
            .with_hint("pass --verdict allow|block|dry_run|require_approval"));
    }
    if !VERDICTS.contains(&n.as_str()) {
        return Err(SessionError::invalid(format!(
            "unknown verdict {:?} (expected allow, block, dry_run or require_approval)",
            v.trim()
        ))
        .with_hint("pass --verdict allow|block|dry_run|require_approval"));
    }
    Ok(n)
}

/// `gait run session append`: records one gate decision as the next event.
pub fn append(a: &AppendArgs) -> R<CommandOutput> {
    append_at(a, GoTime::now_utc())
}

fn append_at(a: &AppendArgs, now: GoTime) -> R<CommandOutput> {
    journal_arg(&a.journal)?;
    let tool = a.tool.trim();
    if tool.is_empty() {
        return Err(SessionError::invalid("missing required --tool <tool_name>")
            .with_hint("pass the tool the gate decided on, e.g. --tool tool.write"));
    }
    let verdict = parse_verdict(&a.verdict)?;
    let intent_digest = digest_flag("intent-digest", &a.intent_digest)?;
    let policy_digest = digest_flag("policy-digest", &a.policy_digest)?;
    let safety_hash = digest_flag("safety-invariant-hash", &a.safety_invariant_hash)?;
    let journal = existing_journal(&a.journal)?;
    let _lock = lock_journal(&journal, LOCK_WAIT)?;
    let j = read_journal(&journal)?;
    let event = SessionEvent {
        schema_id: EVENT_SCHEMA.into(),
        schema_version: SCHEMA_VERSION.into(),
        created_at: now,
        producer_version: runpack::DEFAULT_PRODUCER_VERSION.into(),
        session_id: j.header.session_id.clone(),
        run_id: j.header.run_id.clone(),
        sequence: j.last_sequence() + 1,
        intent_id: a.intent_id.trim().into(),
        tool_name: tool.into(),
        intent_digest,
        policy_digest,
        policy_id: a.policy_id.trim().into(),
        policy_version: a.policy_version.trim().into(),
        matched_rule_ids: csv(&a.matched_rule_ids),
        trace_id: a.trace_id.trim().into(),
        trace_path: a.trace_path.trim().into(),
        verdict,
        reason_codes: csv(&a.reason_codes),
        violations: csv(&a.violations),
        relationship: None,
        safety_invariant_version: a.safety_invariant_version.trim().into(),
        safety_invariant_hash: safety_hash,
    };
    let text = write_journal_with(&journal, &j, &record_line("event", event.to_oj()))?;
    let updated = Journal::parse(&text)?;
    write_state(&journal, &updated, None, now)?;
    let out = format!(
        "session event {}: {} {}\njournal: {}\n",
        event.sequence,
        event.tool_name,
        event.verdict,
        journal.display()
    );
    Ok(output(
        "append",
        &journal,
        vec![("event", event.to_value())],
        out,
    ))
}

// ---------------------------------------------------------------------------------------------
// status

/// `gait run session status`: reads the journal (no lock: writes are atomic renames).
pub fn status(journal: &str) -> R<CommandOutput> {
    let journal = existing_journal(journal)?;
    let j = read_journal(&journal)?;
    let mut extra = vec![("status", j.status_value())];
    let chain = state_chain_path(&journal);
    if let Some(c) = &chain {
        extra.push(("chain_path", json!(c)));
    }
    let mut text = format!(
        "session: {} (run {})\njournal: {}\nlast sequence: {}\ncheckpoints: {} (through sequence {})\npending events: {}\n",
        j.header.session_id,
        j.header.run_id,
        journal.display(),
        j.last_sequence(),
        j.checkpoints.len(),
        j.checkpointed_through(),
        j.pending().len()
    );
    if let Some(c) = chain {
        text.push_str(&format!("chain: {c}\n"));
    }
    Ok(output("status", &journal, extra, text))
}

// ---------------------------------------------------------------------------------------------
// checkpoint

/// Flags of `run session checkpoint`.
#[derive(Debug, Default, Clone)]
pub struct CheckpointArgs {
    pub journal: String,
    /// Runpack path (default `gait-out/runpack_<run_id>_cp_<NNNN>.zip`).
    pub out: String,
    /// Chain path (default `<journal dir>/<journal base>_chain.json`).
    pub chain_out: String,
    pub key_mode: String,
    pub private_key: String,
    pub private_key_env: String,
}

/// The runpack input for one checkpoint: one intent and one result per event.
fn checkpoint_input(events: &[&SessionEvent], cp_run_id: &str, now: GoTime) -> R<RecordInput> {
    let head = |schema: &str, at: GoTime| Header {
        schema_id: schema.into(),
        schema_version: runpack::SCHEMA_VERSION.into(),
        created_at: if at.is_zero() { now } else { at.utc() },
        producer_version: runpack::DEFAULT_PRODUCER_VERSION.into(),
        run_id: cp_run_id.into(),
    };
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut intents = Vec::with_capacity(events.len());
    let mut results = Vec::with_capacity(events.len());
    let mut timeline = Vec::with_capacity(events.len());
    for e in events {
        // Event intent ids are kept when unique within the checkpoint; otherwise (and when
        // absent) the intent is named after its sequence.
        let mut intent_id = e.intent_id.trim().to_string();
        if intent_id.is_empty() || used.contains(&intent_id) {
            intent_id = format!("intent_{}", e.sequence);
            let mut k = 1;
            while used.contains(&intent_id) {
                k += 1;
                intent_id = format!("intent_{}_{k}", e.sequence);
            }
        }
        used.insert(intent_id.clone());
        let args = json!({
            "session_id": e.session_id,
            "sequence": e.sequence,
            "trace_id": e.trace_id,
            "trace_path": e.trace_path,
        });
        let args_digest = if e.intent_digest.trim().is_empty() {
            jcs::digest_hex(&args).map_err(|x| SessionError::invalid(x.to_string()))?
        } else {
            e.intent_digest.trim().to_lowercase()
        };
        let result = json!({
            "verdict": e.verdict,
            "reason_codes": e.reason_codes,
            "violations": e.violations,
            "trace_id": e.trace_id,
            "trace_path": e.trace_path,
        });
        let result_digest =
            jcs::digest_hex(&result).map_err(|x| SessionError::invalid(x.to_string()))?;
        let status = if matches!(
            e.verdict.trim().to_lowercase().as_str(),
            "block" | "require_approval"
        ) {
            "error"
        } else {
            "ok"
        };
        intents.push(IntentRecord {
            header: head(runpack::INTENT_SCHEMA, e.created_at),
            intent_id: intent_id.clone(),
            tool_name: e.tool_name.clone(),
            args_digest,
            args: args.as_object().cloned(),
        });
        results.push(ResultRecord {
            header: head(runpack::RESULT_SCHEMA, e.created_at),
            intent_id: intent_id.clone(),
            status: status.into(),
            result_digest,
            result: result.as_object().cloned(),
        });
        timeline.push(TimelineEvent {
            event: "session_event".into(),
            ts: if e.created_at.is_zero() {
                now
            } else {
                e.created_at.utc()
            },
            reference: intent_id,
            relationship: None,
        });
    }
    Ok(RecordInput {
        run: Run {
            header: head(runpack::RUN_SCHEMA, now),
            timeline: Some(timeline),
            ..Default::default()
        },
        intents,
        results,
        refs: Refs {
            header: head(runpack::REFS_SCHEMA, now),
            context_evidence_mode: "best_effort".into(),
            ..Default::default()
        },
        capture_mode: "reference".into(),
        ..Default::default()
    })
}

fn chain_oj(header: &JournalHeader, checkpoints: &[Checkpoint], now: GoTime) -> Oj {
    Fields::default()
        .str("schema_id", CHAIN_SCHEMA)
        .str("schema_version", SCHEMA_VERSION)
        .time("created_at", &now)
        .str("producer_version", runpack::DEFAULT_PRODUCER_VERSION)
        .str("session_id", &header.session_id)
        .str("run_id", &header.run_id)
        .child(
            "checkpoints",
            Oj::Arr(checkpoints.iter().map(|c| c.to_oj(true)).collect()),
        )
        .done()
}

/// `gait run session checkpoint`: writes the events since the last checkpoint as a
/// reference runpack, links it into the journal and rewrites the session chain.
pub fn checkpoint(a: &CheckpointArgs) -> R<CommandOutput> {
    checkpoint_at(a, GoTime::now_utc())
}

fn checkpoint_at(a: &CheckpointArgs, now: GoTime) -> R<CommandOutput> {
    journal_arg(&a.journal)?;
    let out_arg = if a.out.trim().is_empty() {
        None
    } else {
        Some(output_path(&a.out)?)
    };
    let chain_arg = if a.chain_out.trim().is_empty() {
        None
    } else {
        Some(output_path(&a.chain_out)?)
    };
    let signer = optional_signer(
        &a.key_mode,
        &KeySource::new(&a.private_key, &a.private_key_env),
    )?;
    let journal = existing_journal(&a.journal)?;
    let _lock = lock_journal(&journal, LOCK_WAIT)?;
    let j = read_journal(&journal)?;
    let pending = j.pending();
    let (Some(first), Some(last)) = (pending.first(), pending.last()) else {
        return Err(SessionError::invalid(format!(
            "no new session events to checkpoint (last checkpoint covers sequence {})",
            j.checkpointed_through()
        ))
        .with_hint("append events with `gait run session append` before checkpointing"));
    };
    let (start, end) = (first.sequence, last.sequence);
    let index = j.checkpoints.len() as i64 + 1;
    let cp_run_id = checkpoint_run_id(&j.header.run_id, index);
    check_run_id(&cp_run_id)?;
    let out = match out_arg {
        Some(o) => o,
        None => output_path(&format!("gait-out/runpack_{cp_run_id}.zip"))?,
    };
    let chain = match chain_arg {
        Some(c) => PathBuf::from(c),
        None => default_chain_path(&journal),
    };
    let out_path = PathBuf::from(&out);
    for (p, what) in [(&out_path, "--out"), (&chain, "--chain-out")] {
        if p == &journal || p == &state_path(&journal) || p == &lock_path(&journal) {
            return Err(SessionError::invalid(format!(
                "{what} must not overwrite the session journal or its side files"
            )));
        }
        if p.is_dir() {
            return Err(SessionError::invalid(format!(
                "{what} {} is a directory",
                p.display()
            )));
        }
    }
    if out_path == chain {
        return Err(SessionError::invalid(
            "--out and --chain-out must be different files",
        ));
    }
    let input = checkpoint_input(&pending, &cp_run_id, now)?;
    let recorded = runpack::record(input, "reference", now, signer.as_ref().map(|s| &s.key))?;
    write_zip(&out_path, &recorded.entries)?;
    // Self-check: what we wrote must verify.
    let mut written = open_entries(&out_path)?;
    if !runpack::verify(written.as_mut(), None, false)?.ok(false) {
        return Err(PackError::verification("checkpoint runpack failed verification").into());
    }
    let manifest_digest = recorded.runpack.manifest.manifest_digest.clone();
    let prev = j
        .checkpoints
        .last()
        .map(|c| c.checkpoint_digest.clone())
        .unwrap_or_default();
    let mut cp = Checkpoint {
        schema_id: CHECKPOINT_SCHEMA.into(),
        schema_version: SCHEMA_VERSION.into(),
        created_at: now,
        producer_version: runpack::DEFAULT_PRODUCER_VERSION.into(),
        session_id: j.header.session_id.clone(),
        run_id: j.header.run_id.clone(),
        checkpoint_index: index,
        sequence_start: start,
        sequence_end: end,
        runpack_path: out.clone(),
        manifest_digest,
        prev_checkpoint_digest: prev,
        checkpoint_digest: String::new(),
        relationship: None,
        safety_invariant_version: last.safety_invariant_version.clone(),
        safety_invariant_hash: last.safety_invariant_hash.clone(),
    };
    cp.checkpoint_digest = cp.recomputed_digest();
    // Chain before journal: if the journal write fails, the next checkpoint reuses this
    // index and rewrites both, so the two never disagree for long.
    let mut all = j.checkpoints.clone();
    all.push(cp.clone());
    write_file(&chain, chain_oj(&j.header, &all, now).pretty().as_bytes())?;
    let text = write_journal_with(&journal, &j, &record_line("checkpoint", cp.to_oj(false)))?;
    let updated = Journal::parse(&text)?;
    let chain_shown = chain.display().to_string();
    write_state(&journal, &updated, Some(&chain_shown), now)?;
    let mut extra = vec![
        ("chain_path", json!(chain_shown)),
        ("checkpoint", cp.to_value()),
    ];
    if let Some(w) = signer
        .as_ref()
        .map(|s| &s.warnings)
        .filter(|w| !w.is_empty())
    {
        extra.push(("warnings", json!(w)));
    }
    let text = format!(
        "session checkpoint {index}: sequences {start}-{end} -> {out}\nrun_id: {cp_run_id}\nchain: {chain_shown}\n"
    );
    Ok(output("checkpoint", &journal, extra, text))
}

// ---------------------------------------------------------------------------------------------
// compact

/// `gait run session compact`: drops events already covered by a checkpoint, after checking
/// that the checkpoint's runpack still verifies. The header and every checkpoint are kept.
pub fn compact(journal: &str) -> R<CommandOutput> {
    compact_at(journal, GoTime::now_utc())
}

fn compact_at(journal: &str, now: GoTime) -> R<CommandOutput> {
    let journal = existing_journal(journal)?;
    let _lock = lock_journal(&journal, LOCK_WAIT)?;
    let j = read_journal(&journal)?;
    let through = j.checkpointed_through();
    let removable: Vec<i64> = j
        .events
        .iter()
        .map(|e| e.sequence)
        .filter(|s| *s <= through)
        .collect();
    // Only drop events whose evidence is safe: their checkpoint runpack must verify.
    for cp in &j.checkpoints {
        if !removable
            .iter()
            .any(|s| (cp.sequence_start..=cp.sequence_end).contains(s))
        {
            continue;
        }
        let problems = check_checkpoint_runpack(cp, &journal, None, false);
        if let Some(p) = problems.first() {
            return Err(SessionError::from(PackError::verification(format!(
                "refusing to compact: checkpoint {}: {p}",
                cp.checkpoint_index
            )))
            .with_hint("restore the checkpoint runpack (or re-run checkpoint) before compacting"));
        }
    }
    let mut text = String::with_capacity(j.bytes);
    for (kind, l) in &j.lines {
        if matches!(kind, LineKind::Event(s) if *s <= through) {
            continue;
        }
        text.push_str(l);
        text.push('\n');
    }
    let changed = !removable.is_empty();
    let after = if changed {
        let parsed = Journal::parse(&text)?;
        write_file(&journal, text.as_bytes())?;
        parsed
    } else {
        j.clone()
    };
    write_state(&journal, &after, None, now)?;
    let compaction = json!({
        "events_before": j.events.len(),
        "events_after": after.events.len(),
        "events_removed": removable.len(),
        "checkpoints": after.checkpoints.len(),
        "checkpointed_through": through,
        "bytes_before": j.bytes,
        "bytes_after": if changed { text.len() } else { j.bytes },
    });
    let out = format!(
        "session compacted: {} events removed, {} kept, {} checkpoints\njournal: {}\n",
        removable.len(),
        after.events.len(),
        after.checkpoints.len(),
        journal.display()
    );
    Ok(output(
        "compact",
        &journal,
        vec![("compaction", compaction)],
        out,
    ))
}

// ---------------------------------------------------------------------------------------------
// Chains and their verification

/// A parsed session chain file.
#[derive(Debug, Clone, Default)]
pub struct SessionChain {
    pub schema_id: String,
    pub schema_version: String,
    pub created_at: GoTime,
    pub producer_version: String,
    pub session_id: String,
    pub run_id: String,
    pub checkpoints: Vec<Checkpoint>,
}

/// Reads a session chain. Unreadable, malformed, foreign or empty chains are invalid input.
pub fn read_chain(path: &Path) -> Result<SessionChain, PackError> {
    let shown = path.display().to_string();
    let text = fsutil::read_capped(path, MAX_CHAIN_BYTES)
        .map_err(|e| PackError::invalid(format!("read session chain: {e}")))
        .and_then(|b| {
            String::from_utf8(b).map_err(|_| {
                PackError::invalid(format!("session chain {shown} is not valid UTF-8"))
            })
        })?;
    let v = GoValue::parse(&text)
        .map_err(|e| PackError::invalid(format!("parse session chain {shown}: {e}")))?;
    if !matches!(v, GoValue::Object(_)) {
        return Err(PackError::invalid(format!(
            "parse session chain {shown}: expected a JSON object"
        )));
    }
    let bad = |e: String| PackError::invalid(format!("parse session chain {shown}: {e}"));
    let c = "chain";
    let schema_id = text_of(&v, "schema_id", c).map_err(bad)?;
    if schema_id != CHAIN_SCHEMA {
        return Err(PackError::invalid(format!(
            "{shown} is not a session chain (schema_id {schema_id:?}, expected {CHAIN_SCHEMA})"
        )));
    }
    let schema_version = text_of(&v, "schema_version", c).map_err(bad)?;
    if schema_version != SCHEMA_VERSION {
        return Err(PackError::invalid(format!(
            "unsupported session chain schema_version {schema_version:?} (expected {SCHEMA_VERSION})"
        )));
    }
    let items = v
        .array_field("checkpoints", c)
        .map_err(|e| bad(e.to_string()))?;
    let checkpoints = items
        .iter()
        .enumerate()
        .map(|(i, x)| {
            if !matches!(x, GoValue::Object(_)) {
                return Err(format!("checkpoints[{i}]: expected an object"));
            }
            Checkpoint::read(x, &format!("checkpoints[{i}]"))
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(bad)?;
    if checkpoints.is_empty() {
        return Err(PackError::invalid(format!(
            "session chain {shown} has no checkpoints"
        )));
    }
    Ok(SessionChain {
        schema_id,
        schema_version,
        created_at: time_of(&v, "created_at", c).map_err(bad)?,
        producer_version: text_of(&v, "producer_version", c).map_err(bad)?,
        session_id: text_of(&v, "session_id", c).map_err(bad)?,
        run_id: text_of(&v, "run_id", c).map_err(bad)?,
        checkpoints,
    })
}

/// Where a checkpoint's runpack is: `runpack_path` as written (relative to the working
/// directory), else relative to the chain's (or journal's) directory.
pub fn resolve_checkpoint_runpack(base_file: &Path, runpack_path: &str) -> Option<PathBuf> {
    let p = Path::new(runpack_path.trim());
    if runpack_path.trim().is_empty() {
        return None;
    }
    if p.is_file() {
        return Some(p.to_path_buf());
    }
    if p.is_absolute() {
        return None;
    }
    let alt = base_file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())?
        .join(p);
    alt.is_file().then_some(alt)
}

/// The runpack of the chain's latest checkpoint (highest `checkpoint_index`), for
/// `pack build --type run --from chain.json` and friends.
pub fn latest_checkpoint_runpack(chain_path: &Path) -> Result<PathBuf, PackError> {
    let chain = read_chain(chain_path)?;
    let latest = chain
        .checkpoints
        .iter()
        .enumerate()
        .max_by_key(|(i, c)| (c.checkpoint_index, *i))
        .map(|(_, c)| c)
        .ok_or_else(|| PackError::invalid("session chain has no checkpoints"))?;
    resolve_checkpoint_runpack(chain_path, &latest.runpack_path).ok_or_else(|| {
        PackError::invalid(format!(
            "checkpoint {} runpack not found: {}",
            latest.checkpoint_index, latest.runpack_path
        ))
    })
}

/// Verifies one checkpoint's runpack; returns its problems (empty when it is sound).
fn check_checkpoint_runpack(
    cp: &Checkpoint,
    base_file: &Path,
    key: Option<&gait_sdk::signing::PublicKey>,
    required: bool,
) -> Vec<String> {
    let Some(path) = resolve_checkpoint_runpack(base_file, &cp.runpack_path) else {
        return vec![format!("runpack not found: {}", cp.runpack_path)];
    };
    let rep = match open_entries(&path)
        .and_then(|mut src| runpack::verify(src.as_mut(), key, required).map_err(PackError::from))
    {
        Ok(r) => r,
        Err(e) => return vec![format!("runpack {}: {e}", path.display())],
    };
    let mut out = Vec::new();
    let shown = path.display();
    if !rep.missing_files.is_empty() {
        out.push(format!(
            "runpack {shown}: missing files: {}",
            rep.missing_files.join(", ")
        ));
    }
    for h in &rep.hash_mismatches {
        out.push(format!("runpack {shown}: hash mismatch: {}", h.path));
    }
    if !rep.signatures.satisfies(required) {
        let detail = if rep.signatures.errors.is_empty() {
            String::new()
        } else {
            format!(" ({})", rep.signatures.errors.join("; "))
        };
        out.push(format!(
            "runpack {shown}: signature status {}{detail}",
            rep.signatures.status
        ));
    }
    if !rep
        .manifest_digest
        .trim()
        .eq_ignore_ascii_case(cp.manifest_digest.trim())
    {
        out.push(format!(
            "runpack {shown}: manifest_digest {} does not match the checkpoint's {}",
            rep.manifest_digest, cp.manifest_digest
        ));
    }
    out
}

/// The outcome of `gait verify session-chain`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChainReport {
    pub chain_path: String,
    pub session_id: String,
    pub run_id: String,
    pub checkpoints_checked: usize,
    pub linkage_errors: Vec<String>,
    pub checkpoint_errors: Vec<String>,
}

impl ChainReport {
    pub fn ok(&self) -> bool {
        self.linkage_errors.is_empty() && self.checkpoint_errors.is_empty()
    }

    /// `{ok, chain_path, session_id, run_id, checkpoints_checked?, linkage_errors?,
    /// checkpoint_errors?}`; exit 0 when ok, else 2.
    pub fn to_output(&self) -> CommandOutput {
        let ok = self.ok();
        let mut m = Map::new();
        m.insert("ok".into(), json!(ok));
        m.insert("chain_path".into(), json!(self.chain_path));
        m.insert("session_id".into(), json!(self.session_id));
        m.insert("run_id".into(), json!(self.run_id));
        if self.checkpoints_checked > 0 {
            m.insert(
                "checkpoints_checked".into(),
                json!(self.checkpoints_checked),
            );
        }
        if !self.linkage_errors.is_empty() {
            m.insert("linkage_errors".into(), json!(self.linkage_errors));
        }
        if !self.checkpoint_errors.is_empty() {
            m.insert("checkpoint_errors".into(), json!(self.checkpoint_errors));
        }
        let mut text = format!(
            "session chain verify: {}\nchain: {}\nsession_id: {}\nrun_id: {}\ncheckpoints: {}\n",
            if ok { "ok" } else { "failed" },
            self.chain_path,
            self.session_id,
            self.run_id,
            self.checkpoints_checked
        );
        for e in &self.linkage_errors {
            text.push_str(&format!("linkage error: {e}\n"));
        }
        for e in &self.checkpoint_errors {
            text.push_str(&format!("checkpoint error: {e}\n"));
        }
        CommandOutput::new(
            m,
            text,
            if ok {
                exit::OK
            } else {
                exit::VERIFICATION_FAILED
            },
        )
    }
}

/// The linkage problems of a chain's checkpoints (numbered by position, from 1).
pub fn linkage_errors(chain: &SessionChain) -> Vec<String> {
    let mut errs = Vec::new();
    let mut prev: Option<&Checkpoint> = None;
    for (i, cp) in chain.checkpoints.iter().enumerate() {
        let n = i as i64 + 1;
        if cp.checkpoint_index != n {
            errs.push(format!(
                "checkpoint {n}: checkpoint_index {} breaks index continuity (expected {n})",
                cp.checkpoint_index
            ));
        }
        if cp.session_id != chain.session_id || cp.run_id != chain.run_id {
            errs.push(format!(
                "checkpoint {n}: session {:?} run {:?} does not match the chain's session {:?} run {:?}",
                cp.session_id, cp.run_id, chain.session_id, chain.run_id
            ));
        }
        match prev {
            None if !cp.prev_checkpoint_digest.is_empty() => errs.push(format!(
                "checkpoint {n}: prev_checkpoint_digest must be empty for the first checkpoint"
            )),
            Some(p)
                if !cp
                    .prev_checkpoint_digest
                    .trim()
                    .eq_ignore_ascii_case(p.checkpoint_digest.trim()) =>
            {
                errs.push(format!(
                    "checkpoint {n}: prev_checkpoint_digest does not match checkpoint {}'s checkpoint_digest",
                    n - 1
                ))
            }
            _ => {}
        }
        if cp.sequence_start < 1 || cp.sequence_end < cp.sequence_start {
            errs.push(format!(
                "checkpoint {n}: invalid sequence range {}-{}",
                cp.sequence_start, cp.sequence_end
            ));
        }
        let expected_start = prev.map_or(1, |p| p.sequence_end + 1);
        if let Some(p) = prev.filter(|p| cp.sequence_start <= p.sequence_end) {
            errs.push(format!(
                "checkpoint {n}: sequences {}-{} overlap checkpoint {} ({}-{})",
                cp.sequence_start,
                cp.sequence_end,
                n - 1,
                p.sequence_start,
                p.sequence_end
            ));
        } else if cp.sequence_start > expected_start {
            errs.push(format!(
                "checkpoint {n}: sequence gap: expected sequence_start {expected_start}, found {}",
                cp.sequence_start
            ));
        }
        let recomputed = cp.recomputed_digest();
        if !recomputed.eq_ignore_ascii_case(cp.checkpoint_digest.trim()) {
            errs.push(format!(
                "checkpoint {n}: checkpoint_digest {} does not match the recomputed {recomputed}",
                cp.checkpoint_digest
            ));
        }
        prev = Some(cp);
    }
    errs
}

/// `gait verify session-chain`: linkage of every checkpoint, then each checkpoint runpack
/// (file hashes, manifest digest, signatures per `keys`, and the manifest digest the
/// checkpoint recorded). Unreadable or empty chains are errors (exit 6).
pub fn verify_session_chain(
    chain_path: &Path,
    keys: &VerifyKeys,
) -> Result<ChainReport, PackError> {
    let (key, required) = keys.resolve()?;
    let chain = read_chain(chain_path)?;
    let mut rep = ChainReport {
        chain_path: chain_path.display().to_string(),
        session_id: chain.session_id.clone(),
        run_id: chain.run_id.clone(),
        checkpoints_checked: chain.checkpoints.len(),
        linkage_errors: linkage_errors(&chain),
        checkpoint_errors: Vec::new(),
    };
    for (i, cp) in chain.checkpoints.iter().enumerate() {
        for p in check_checkpoint_runpack(cp, chain_path, key.as_ref(), required) {
            rep.checkpoint_errors
                .push(format!("checkpoint {}: {p}", i + 1));
        }
    }
    Ok(rep)
}

/// The command form: `--chain P` (or one positional path).
pub fn verify_session_chain_command(chain: &str, keys: &VerifyKeys) -> R<CommandOutput> {
    if chain.trim().is_empty() {
        return Err(
            SessionError::invalid("missing required --chain <session_chain.json>")
                .with_hint(HINT_CHAIN),
        );
    }
    let path = PathBuf::from(chain.trim());
    verify_session_chain(&path, keys)
        .map(|r| r.to_output())
        .map_err(|e| {
            let s = SessionError::from(e);
            if s.error.category() == Category::InvalidInput {
                s.with_hint(HINT_CHAIN)
            } else {
                s
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> GoTime {
        GoTime::parse_rfc3339(s).unwrap()
    }

    struct Session {
        _dir: tempfile::TempDir,
        root: PathBuf,
        journal: String,
    }

    fn session() -> Session {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let journal = root.join("s.journal.jsonl").display().to_string();
        start_at(
            &StartArgs {
                journal: journal.clone(),
                session_id: "sess_1".into(),
                run_id: "run_sess".into(),
            },
            t("2026-02-05T00:00:00Z"),
        )
        .unwrap();
        Session {
            _dir: dir,
            root,
            journal,
        }
    }

    fn add(s: &Session, tool: &str, verdict: &str) -> CommandOutput {
        append_at(
            &AppendArgs {
                journal: s.journal.clone(),
                tool: tool.into(),
                verdict: verdict.into(),
                reason_codes: "r1, r2".into(),
                ..Default::default()
            },
            t("2026-02-05T00:00:01Z"),
        )
        .unwrap()
    }

    fn cp(s: &Session, n: u32) -> CommandOutput {
        checkpoint_at(
            &CheckpointArgs {
                journal: s.journal.clone(),
                out: s.root.join(format!("cp{n}.zip")).display().to_string(),
                ..Default::default()
            },
            t("2026-02-05T00:10:00Z"),
        )
        .unwrap()
    }

    fn journal_text(s: &Session) -> String {
        std::fs::read_to_string(&s.journal).unwrap()
    }

    #[test]
    fn checkpoint_digest_formula() {
        // Known answers, computed independently (Python hashlib).
        assert_eq!(
            checkpoint_digest("m", "p", 2, 4, 7),
            "b12f5a64cf3518e19cac48982d2a9f8319584f97c798eaf197062567e5f118e9"
        );
        assert_eq!(
            checkpoint_digest(&"3".repeat(64), "", 1, 1, 5),
            "8e480dec26e365bfe4d71277994bf01c1b64bceecc6921c4c7c9139b6b366df2"
        );
        assert_eq!(checkpoint_run_id("run_x", 3), "run_x_cp_0003");
        assert_eq!(checkpoint_run_id("run_x", 12345), "run_x_cp_12345");
    }

    #[test]
    fn lines_are_declaration_order_go_json() {
        let e = SessionEvent {
            schema_id: EVENT_SCHEMA.into(),
            schema_version: "1.0.0".into(),
            created_at: t("2026-02-05T00:00:01Z"),
            producer_version: "0.0.0-dev".into(),
            session_id: "s".into(),
            run_id: "run_r".into(),
            sequence: 1,
            tool_name: "a<b>&c".into(),
            verdict: "allow".into(),
            ..Default::default()
        };
        assert_eq!(
            record_line("event", e.to_oj()),
            r#"{"record_type":"event","event":{"schema_id":"gait.runpack.session_event","schema_version":"1.0.0","created_at":"2026-02-05T00:00:01Z","producer_version":"0.0.0-dev","session_id":"s","run_id":"run_r","sequence":1,"tool_name":"a\u003cb\u003e\u0026c","verdict":"allow"}}"#
        );
        let pretty = Fields::default()
            .str("b", "x")
            .child(
                "a",
                Oj::Arr(vec![Fields::default().put("z", json!(1)).done()]),
            )
            .child("e", Oj::Arr(vec![]))
            .done()
            .pretty();
        assert_eq!(
            pretty,
            "{\n  \"b\": \"x\",\n  \"a\": [\n    {\n      \"z\": 1\n    }\n  ],\n  \"e\": []\n}\n"
        );
    }

    #[test]
    fn start_append_checkpoint_compact_round_trip() {
        let s = session();
        let st = status(&s.journal).unwrap();
        assert_eq!(st.json["status"]["last_sequence"], 0);
        for (i, v) in ["allow", "block", "dry_run"].iter().enumerate() {
            let out = add(&s, "tool.write", v);
            assert_eq!(out.json["event"]["sequence"], i as i64 + 1);
            assert_eq!(out.json["event"]["reason_codes"], json!(["r1", "r2"]));
        }
        let c1 = cp(&s, 1);
        assert_eq!(c1.json["checkpoint"]["sequence_start"], 1);
        assert_eq!(c1.json["checkpoint"]["sequence_end"], 3);
        assert!(c1.json["checkpoint"]
            .get("prev_checkpoint_digest")
            .is_none());
        let chain_path = s.root.join("s.journal_chain.json");
        assert_eq!(
            c1.json["chain_path"],
            json!(chain_path.display().to_string())
        );
        add(&s, "tool.read", "require_approval");
        let c2 = cp(&s, 2);
        assert_eq!(
            c2.json["checkpoint"]["prev_checkpoint_digest"],
            c1.json["checkpoint"]["checkpoint_digest"]
        );
        assert_eq!(c2.json["checkpoint"]["checkpoint_index"], 2);
        assert_eq!(c2.json["checkpoint"]["sequence_start"], 4);

        // The checkpoint runpack: one intent and one result per event, reference capture.
        let mut src = open_entries(&s.root.join("cp1.zip")).unwrap();
        let rp = runpack::read_strict(src.as_mut()).unwrap();
        assert_eq!(rp.run.header.run_id, "run_sess_cp_0001");
        assert_eq!(rp.manifest.capture_mode, "reference");
        assert_eq!(rp.intents.len(), 3);
        let args = json!({"session_id": "sess_1", "sequence": 2, "trace_id": "", "trace_path": ""});
        assert_eq!(rp.intents[1].args_digest, jcs::digest_hex(&args).unwrap());
        assert!(rp.intents[1].args.is_none());
        let statuses: Vec<&str> = rp.results.iter().map(|r| r.status.as_str()).collect();
        assert_eq!(statuses, ["ok", "error", "ok"]);
        let result = json!({"verdict": "block", "reason_codes": ["r1", "r2"], "violations": [], "trace_id": "", "trace_path": ""});
        assert_eq!(
            rp.results[1].result_digest,
            jcs::digest_hex(&result).unwrap()
        );
        assert_eq!(
            c1.json["checkpoint"]["manifest_digest"],
            json!(rp.manifest.manifest_digest)
        );

        // The chain verifies.
        let rep = verify_session_chain(&chain_path, &VerifyKeys::default()).unwrap();
        assert!(rep.ok(), "{rep:?}");
        assert_eq!(rep.checkpoints_checked, 2);

        // Compaction drops the four checkpointed events and keeps both checkpoints.
        add(&s, "tool.x", "allow");
        let before = journal_text(&s);
        let out = compact_at(&s.journal, t("2026-02-05T00:20:00Z")).unwrap();
        assert_eq!(out.json["compaction"]["events_removed"], 4);
        assert_eq!(out.json["compaction"]["events_after"], 1);
        let after = journal_text(&s);
        assert!(after.len() < before.len());
        let j = Journal::parse(&after).unwrap();
        assert_eq!(j.checkpoints.len(), 2);
        assert_eq!(j.last_sequence(), 5);
        // Sequences continue after compaction, and a second compaction is a no-op.
        assert_eq!(add(&s, "tool.y", "allow").json["event"]["sequence"], 6);
        let again = compact_at(&s.journal, t("2026-02-05T00:21:00Z")).unwrap();
        assert_eq!(again.json["compaction"]["events_removed"], 0);
        let c3 = cp(&s, 3);
        assert_eq!(c3.json["checkpoint"]["sequence_start"], 5);
        assert_eq!(c3.json["checkpoint"]["sequence_end"], 6);
        assert!(verify_session_chain(&chain_path, &VerifyKeys::default())
            .unwrap()
            .ok());
        // State side file and default chain path.
        let state = std::fs::read_to_string(state_path(Path::new(&s.journal))).unwrap();
        let state: Value = serde_json::from_str(&state).unwrap();
        assert_eq!(state["last_sequence"], 6);
        assert_eq!(state["checkpoint_count"], 3);
        assert_eq!(
            latest_checkpoint_runpack(&chain_path).unwrap(),
            s.root.join("cp3.zip")
        );
        assert!(!lock_path(Path::new(&s.journal)).exists());
    }

    #[test]
    fn bad_input_is_rejected_without_writing() {
        let s = session();
        add(&s, "tool.a", "allow");
        let before = journal_text(&s);
        let e = append_at(
            &AppendArgs {
                journal: s.journal.clone(),
                tool: "t".into(),
                verdict: "maybe".into(),
                ..Default::default()
            },
            t("2026-02-05T00:00:02Z"),
        )
        .unwrap_err();
        assert_eq!(e.category(), Category::InvalidInput);
        assert!(e.to_string().contains("unknown verdict"), "{e}");
        assert!(e.hint.is_some());
        for bad in [
            AppendArgs {
                journal: s.journal.clone(),
                verdict: "allow".into(),
                ..Default::default()
            },
            AppendArgs {
                journal: s.journal.clone(),
                tool: "t".into(),
                verdict: "allow".into(),
                intent_digest: "xyz".into(),
                ..Default::default()
            },
            AppendArgs {
                journal: s.root.join("missing.jsonl").display().to_string(),
                tool: "t".into(),
                verdict: "allow".into(),
                ..Default::default()
            },
        ] {
            let e = append_at(&bad, t("2026-02-05T00:00:02Z")).unwrap_err();
            assert_eq!(e.category(), Category::InvalidInput, "{e}");
        }
        assert_eq!(journal_text(&s), before);
        assert!(!s.root.join("missing.jsonl").exists());

        // Nothing to checkpoint twice in a row.
        cp(&s, 1);
        let e = checkpoint_at(
            &CheckpointArgs {
                journal: s.journal.clone(),
                out: s.root.join("cp2.zip").display().to_string(),
                ..Default::default()
            },
            t("2026-02-05T00:10:00Z"),
        )
        .unwrap_err();
        assert_eq!(e.category(), Category::InvalidInput);
        assert!(!s.root.join("cp2.zip").exists());

        // Invalid ids at start; a journal of another session.
        for (sid, rid) in [("", "run_a"), ("s", ""), ("s", "demo"), ("s", "run_a/b")] {
            let e = start_at(
                &StartArgs {
                    journal: s.root.join("n.jsonl").display().to_string(),
                    session_id: sid.into(),
                    run_id: rid.into(),
                },
                t("2026-02-05T00:00:00Z"),
            )
            .unwrap_err();
            assert_eq!(e.category(), Category::InvalidInput, "{sid} {rid}");
        }
        assert!(!s.root.join("n.jsonl").exists());
        let e = start_at(
            &StartArgs {
                journal: s.journal.clone(),
                session_id: "other".into(),
                run_id: "run_sess".into(),
            },
            t("2026-02-05T00:00:00Z"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("belongs to session"), "{e}");
        // Same session again: a no-op.
        let again = start_at(
            &StartArgs {
                journal: s.journal.clone(),
                session_id: "sess_1".into(),
                run_id: "run_sess".into(),
            },
            t("2026-02-06T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(again.json["status"]["last_sequence"], 1);
    }

    #[test]
    fn damaged_journals_are_invalid_input() {
        let s = session();
        add(&s, "a", "allow");
        add(&s, "b", "allow");
        add(&s, "c", "allow");
        let text = journal_text(&s);
        let lines: Vec<&str> = text.lines().collect();
        // Drop event 2: a gap.
        let gap = format!("{}\n{}\n{}\n", lines[0], lines[1], lines[3]);
        let e = Journal::parse(&gap).unwrap_err();
        assert!(e.to_string().contains("sequence gap"), "{e}");
        // Duplicate event 2.
        let dup = format!("{}\n{}\n{}\n{}\n", lines[0], lines[1], lines[2], lines[2]);
        assert!(Journal::parse(&dup)
            .unwrap_err()
            .to_string()
            .contains("out-of-order"));
        // No header, two headers, unknown record type, not JSON.
        assert!(Journal::parse(&format!("{}\n", lines[1])).is_err());
        assert!(Journal::parse(&format!("{}\n{}\n", lines[0], lines[0])).is_err());
        assert!(Journal::parse(&format!(
            "{}\n{{\"record_type\":\"x\",\"x\":{{}}}}\n",
            lines[0]
        ))
        .is_err());
        assert!(Journal::parse(&format!("{}\n{{nope\n", lines[0])).is_err());
        // An append to a journal with a gap fails and leaves it untouched.
        std::fs::write(&s.journal, &gap).unwrap();
        let e = append_at(
            &AppendArgs {
                journal: s.journal.clone(),
                tool: "d".into(),
                verdict: "allow".into(),
                ..Default::default()
            },
            t("2026-02-05T00:00:02Z"),
        )
        .unwrap_err();
        assert_eq!(e.category(), Category::InvalidInput);
        assert_eq!(journal_text(&s), gap);
        // Blank lines are fine.
        assert_eq!(
            Journal::parse(&format!("{}\n\n{}\n", lines[0], lines[1]))
                .unwrap()
                .events
                .len(),
            1
        );
    }

    #[test]
    fn a_held_lock_is_contention() {
        let s = session();
        let held = lock_journal(Path::new(&s.journal), LOCK_WAIT).unwrap();
        let e = lock_journal(Path::new(&s.journal), Duration::from_millis(30)).unwrap_err();
        assert!(e.contention);
        assert_eq!(GaitError::from(e).exit_code(), 1);
        drop(held);
        assert!(lock_journal(Path::new(&s.journal), Duration::from_millis(30)).is_ok());
    }

    #[test]
    fn chain_tampering_is_reported() {
        let s = session();
        add(&s, "a", "allow");
        cp(&s, 1);
        add(&s, "b", "block");
        add(&s, "c", "allow");
        cp(&s, 2);
        let chain_path = s.root.join("s.journal_chain.json");
        let good = std::fs::read_to_string(&chain_path).unwrap();
        let mut chain = read_chain(&chain_path).unwrap();
        assert!(linkage_errors(&chain).is_empty());

        let mut c = chain.clone();
        c.checkpoints[1].checkpoint_digest = "0".repeat(64);
        let errs = linkage_errors(&c);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].contains("recomputed"));

        let mut c = chain.clone();
        c.checkpoints[1].sequence_start = 1;
        let errs = linkage_errors(&c);
        assert!(errs.iter().any(|e| e.contains("overlap")), "{errs:?}");

        let mut c = chain.clone();
        c.checkpoints[1].sequence_start = 3;
        assert!(linkage_errors(&c).iter().any(|e| e.contains("gap")));

        let mut c = chain.clone();
        c.checkpoints.remove(0);
        let errs = linkage_errors(&c);
        assert!(
            errs.iter().any(|e| e.contains("index continuity")),
            "{errs:?}"
        );
        assert!(
            errs.iter().any(|e| e.contains("first checkpoint")),
            "{errs:?}"
        );

        chain.checkpoints[0].manifest_digest = "1".repeat(64);
        let errs = linkage_errors(&chain);
        assert!(
            errs.iter().any(|e| e.starts_with("checkpoint 1:")),
            "{errs:?}"
        );
        // checkpoint 2 links to the old digest of checkpoint 1, which is still stored.
        assert_eq!(errs.len(), 1, "{errs:?}");

        // A corrupted runpack is a checkpoint error.
        std::fs::write(s.root.join("cp1.zip"), b"not a zip").unwrap();
        let rep = verify_session_chain(&chain_path, &VerifyKeys::default()).unwrap();
        assert!(!rep.ok());
        assert!(rep.linkage_errors.is_empty());
        assert_eq!(rep.checkpoint_errors.len(), 1, "{rep:?}");
        assert!(rep.checkpoint_errors[0].starts_with("checkpoint 1:"));
        let out = rep.to_output();
        assert_eq!(out.exit, exit::VERIFICATION_FAILED);
        assert_eq!(out.json["ok"], false);
        // Compaction refuses to drop events whose runpack is gone.
        add(&s, "d", "allow");
        let e = compact_at(&s.journal, t("2026-02-05T00:30:00Z")).unwrap_err();
        assert_eq!(e.category(), Category::VerificationFailed);

        // Unreadable and empty chains are invalid input.
        std::fs::write(
            &chain_path,
            good.replace("\"checkpoints\": [", "\"checkpoints\": [], \"x\": ["),
        )
        .unwrap();
        let e = verify_session_chain(&chain_path, &VerifyKeys::default()).unwrap_err();
        assert_eq!(e.category(), Category::InvalidInput);
        let e =
            verify_session_chain(&s.root.join("nope.json"), &VerifyKeys::default()).unwrap_err();
        assert_eq!(e.category(), Category::InvalidInput);
        std::fs::write(&chain_path, "{\"schema_id\":\"gait.runpack.run\"}").unwrap();
        assert!(read_chain(&chain_path).is_err());
    }

    #[test]
    fn signed_checkpoints_verify_with_the_key() {
        let s = session();
        let key = gait_sdk::signing::KeyPair::generate().unwrap();
        let key_file = s.root.join("k.key");
        std::fs::write(&key_file, key.private_base64()).unwrap();
        add(&s, "a", "allow");
        checkpoint_at(
            &CheckpointArgs {
                journal: s.journal.clone(),
                out: s.root.join("cp1.zip").display().to_string(),
                private_key: key_file.display().to_string(),
                ..Default::default()
            },
            t("2026-02-05T00:10:00Z"),
        )
        .unwrap();
        let chain = s.root.join("s.journal_chain.json");
        let keys = VerifyKeys {
            require_signature: true,
            private_key: key_file.display().to_string(),
            ..Default::default()
        };
        assert!(verify_session_chain(&chain, &keys).unwrap().ok());
        // An unsigned checkpoint fails when signatures are required, not otherwise.
        add(&s, "b", "allow");
        cp(&s, 2);
        let rep = verify_session_chain(&chain, &keys).unwrap();
        assert_eq!(rep.checkpoint_errors.len(), 1, "{rep:?}");
        assert!(rep.checkpoint_errors[0].starts_with("checkpoint 2:"));
        assert!(rep.checkpoint_errors[0].contains("signature"));
        assert!(verify_session_chain(&chain, &VerifyKeys::default())
            .unwrap()
            .ok());
    }

    #[test]
    fn runpack_paths_resolve_relative_to_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("d");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("r.zip"), b"x").unwrap();
        let chain = sub.join("c.json");
        assert_eq!(
            resolve_checkpoint_runpack(&chain, "r.zip"),
            Some(sub.join("r.zip"))
        );
        assert_eq!(resolve_checkpoint_runpack(&chain, "missing.zip"), None);
        assert_eq!(resolve_checkpoint_runpack(&chain, ""), None);
        assert_eq!(
            default_chain_path(Path::new("/a/b/s.journal.jsonl")),
            PathBuf::from("/a/b/s.journal_chain.json")
        );
        assert_eq!(
            default_chain_path(Path::new("j.jsonl")),
            PathBuf::from("j_chain.json")
        );
    }
}
