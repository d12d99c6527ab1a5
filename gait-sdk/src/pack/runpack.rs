//! Runpacks: the zip of `run.json`, `intents.jsonl`, `results.jsonl`, `refs.json` and
//! `manifest.json` that records one agent run. This module owns the typed records and their
//! Go-shaped projections, the record algorithm (digests, receipts, capture modes, manifest
//! digest, signing), verification, and strict reading. It does no zip I/O itself: callers hand
//! it entry bytes and an [`EntrySource`].

use crate::gojson::GoValue;
use crate::jcs;
use crate::signing::{verify_value, KeyPair, PublicKey, Signature};
use crate::time::GoTime;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub const RUN_SCHEMA: &str = "gait.runpack.run";
pub const INTENT_SCHEMA: &str = "gait.runpack.intent";
pub const RESULT_SCHEMA: &str = "gait.runpack.result";
pub const REFS_SCHEMA: &str = "gait.runpack.refs";
pub const MANIFEST_SCHEMA: &str = "gait.runpack.manifest";
pub const SCHEMA_VERSION: &str = "1.0.0";
/// `producer_version` the reference stamps when the input gives none (kept for digest parity).
pub const DEFAULT_PRODUCER_VERSION: &str = "0.0.0-dev";
pub const PAYLOAD_FILES: [&str; 4] = ["intents.jsonl", "refs.json", "results.jsonl", "run.json"];
/// Largest JSON entry read into memory from a runpack.
pub const MAX_ENTRY_BYTES: u64 = 64 * 1024 * 1024;

/// Runpack failures. `Verification` means integrity (exit 2); `Invalid` means bad input (6).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RunpackError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Verification(String),
    #[error("{0}")]
    Io(String),
}

type R<T> = Result<T, RunpackError>;

fn invalid<T>(m: impl Into<String>) -> R<T> {
    Err(RunpackError::Invalid(m.into()))
}

/// Read access to the entries of an opened archive.
pub trait EntrySource {
    /// Every entry name, sorted, without duplicates (duplicates are rejected on open).
    fn entry_names(&self) -> Vec<String>;
    /// Lower-case hex SHA-256 of an entry's decompressed bytes.
    fn entry_sha256(&mut self, name: &str) -> R<String>;
    /// An entry's decompressed bytes, refusing more than `max` bytes.
    fn read_entry(&mut self, name: &str, max: u64) -> R<Vec<u8>>;
}

/// In-memory entries (used for building and in tests).
impl EntrySource for BTreeMap<String, Vec<u8>> {
    fn entry_names(&self) -> Vec<String> {
        self.keys().cloned().collect()
    }
    fn entry_sha256(&mut self, name: &str) -> R<String> {
        self.get(name)
            .map(|b| jcs::sha256_hex(b))
            .ok_or_else(|| RunpackError::Invalid(format!("missing {name}")))
    }
    fn read_entry(&mut self, name: &str, max: u64) -> R<Vec<u8>> {
        let b = self
            .get(name)
            .ok_or_else(|| RunpackError::Invalid(format!("missing {name}")))?;
        if b.len() as u64 > max {
            return invalid(format!("{name} exceeds {max} bytes"));
        }
        Ok(b.clone())
    }
}

fn t(v: &GoValue, name: &str) -> String {
    match v.field(name) {
        Some(GoValue::String(s)) => s.clone(),
        _ => String::new(),
    }
}

fn time_of(v: &GoValue, name: &str) -> R<GoTime> {
    match v.field(name) {
        None => Ok(GoTime::zero()),
        Some(GoValue::String(s)) if s.is_empty() => Ok(GoTime::zero()),
        Some(GoValue::String(s)) => {
            GoTime::parse_rfc3339(s).map_err(|e| RunpackError::Invalid(e.to_string()))
        }
        Some(o) => invalid(format!(
            "json: cannot unmarshal {} into field {name} of type time.Time",
            o.kind()
        )),
    }
}

fn int_of(v: &GoValue, name: &str) -> i64 {
    match v.field(name) {
        Some(GoValue::Number { int: Some(i), .. }) => *i,
        _ => 0,
    }
}

fn obj_of(v: &GoValue, name: &str) -> Option<Map<String, Value>> {
    match v.field(name) {
        Some(o @ GoValue::Object(_)) => match o.to_value() {
            Value::Object(m) => Some(m),
            _ => None,
        },
        _ => None,
    }
}

/// The header every runpack record carries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Header {
    pub schema_id: String,
    pub schema_version: String,
    pub created_at: GoTime,
    pub producer_version: String,
    pub run_id: String,
}

impl Header {
    fn read(v: &GoValue) -> R<Header> {
        Ok(Header {
            schema_id: t(v, "schema_id"),
            schema_version: t(v, "schema_version"),
            created_at: time_of(v, "created_at")?,
            producer_version: t(v, "producer_version"),
            run_id: t(v, "run_id"),
        })
    }
    fn write(&self, m: &mut Map<String, Value>) {
        m.insert("schema_id".into(), json!(self.schema_id));
        m.insert("schema_version".into(), json!(self.schema_version));
        m.insert(
            "created_at".into(),
            json!(self.created_at.to_rfc3339_nano()),
        );
        m.insert("producer_version".into(), json!(self.producer_version));
        m.insert("run_id".into(), json!(self.run_id));
    }
    fn inherit(&mut self, run: &Header, schema_id: &str) {
        if self.schema_id.is_empty() {
            self.schema_id = schema_id.into();
        }
        if self.schema_version.is_empty() {
            self.schema_version = SCHEMA_VERSION.into();
        }
        if self.created_at.is_zero() {
            self.created_at = run.created_at;
        }
        if self.producer_version.is_empty() {
            self.producer_version = run.producer_version.clone();
        }
        if self.run_id.is_empty() {
            self.run_id = run.run_id.clone();
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimelineEvent {
    pub event: String,
    pub ts: GoTime,
    pub reference: String,
    pub relationship: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Run {
    pub header: Header,
    pub env_os: String,
    pub env_arch: String,
    pub env_runtime: String,
    /// `None` renders as `null`, as the reference does for an absent timeline.
    pub timeline: Option<Vec<TimelineEvent>>,
}

impl Run {
    pub fn read(v: &GoValue) -> R<Run> {
        let env = v.field("env");
        let env_s = |k: &str| env.map(|e| t(e, k)).unwrap_or_default();
        let timeline = match v.field("timeline") {
            Some(GoValue::Array(items)) => Some(
                items
                    .iter()
                    .map(|e| {
                        Ok(TimelineEvent {
                            event: t(e, "event"),
                            ts: time_of(e, "ts")?,
                            reference: t(e, "ref"),
                            relationship: e.field("relationship").map(GoValue::to_value),
                        })
                    })
                    .collect::<R<Vec<_>>>()?,
            ),
            _ => None,
        };
        Ok(Run {
            header: Header::read(v)?,
            env_os: env_s("os"),
            env_arch: env_s("arch"),
            env_runtime: env_s("runtime"),
            timeline,
        })
    }
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        self.header.write(&mut m);
        m.insert(
            "env".into(),
            json!({"os": self.env_os, "arch": self.env_arch, "runtime": self.env_runtime}),
        );
        m.insert(
            "timeline".into(),
            match &self.timeline {
                None => Value::Null,
                Some(events) => Value::Array(
                    events
                        .iter()
                        .map(|e| {
                            let mut em = Map::new();
                            em.insert("event".into(), json!(e.event));
                            em.insert("ts".into(), json!(e.ts.to_rfc3339_nano()));
                            if !e.reference.is_empty() {
                                em.insert("ref".into(), json!(e.reference));
                            }
                            if let Some(r) = &e.relationship {
                                if !r.is_null() && r != &json!({}) {
                                    em.insert("relationship".into(), r.clone());
                                }
                            }
                            Value::Object(em)
                        })
                        .collect(),
                ),
            },
        );
        Value::Object(m)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntentRecord {
    pub header: Header,
    pub intent_id: String,
    pub tool_name: String,
    pub args_digest: String,
    pub args: Option<Map<String, Value>>,
}

impl IntentRecord {
    pub fn read(v: &GoValue) -> R<IntentRecord> {
        Ok(IntentRecord {
            header: Header::read(v)?,
            intent_id: t(v, "intent_id"),
            tool_name: t(v, "tool_name"),
            args_digest: t(v, "args_digest"),
            args: obj_of(v, "args"),
        })
    }
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        self.header.write(&mut m);
        m.insert("intent_id".into(), json!(self.intent_id));
        m.insert("tool_name".into(), json!(self.tool_name));
        m.insert("args_digest".into(), json!(self.args_digest));
        if let Some(a) = self.args.as_ref().filter(|a| !a.is_empty()) {
            m.insert("args".into(), Value::Object(a.clone()));
        }
        Value::Object(m)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultRecord {
    pub header: Header,
    pub intent_id: String,
    pub status: String,
    pub result_digest: String,
    pub result: Option<Map<String, Value>>,
}

impl ResultRecord {
    pub fn read(v: &GoValue) -> R<ResultRecord> {
        Ok(ResultRecord {
            header: Header::read(v)?,
            intent_id: t(v, "intent_id"),
            status: t(v, "status"),
            result_digest: t(v, "result_digest"),
            result: obj_of(v, "result"),
        })
    }
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        self.header.write(&mut m);
        m.insert("intent_id".into(), json!(self.intent_id));
        m.insert("status".into(), json!(self.status));
        m.insert("result_digest".into(), json!(self.result_digest));
        if let Some(r) = self.result.as_ref().filter(|r| !r.is_empty()) {
            m.insert("result".into(), Value::Object(r.clone()));
        }
        Value::Object(m)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Receipt {
    pub ref_id: String,
    pub source_type: String,
    pub source_locator: String,
    pub query_digest: String,
    pub content_digest: String,
    pub retrieved_at: GoTime,
    pub redaction_mode: String,
    pub immutability: String,
    pub freshness_sla_seconds: i64,
    pub sensitivity_label: String,
    pub retrieval_params: Option<Map<String, Value>>,
}

impl Receipt {
    pub fn read(v: &GoValue) -> R<Receipt> {
        Ok(Receipt {
            ref_id: t(v, "ref_id"),
            source_type: t(v, "source_type"),
            source_locator: t(v, "source_locator"),
            query_digest: t(v, "query_digest"),
            content_digest: t(v, "content_digest"),
            retrieved_at: time_of(v, "retrieved_at")?,
            redaction_mode: t(v, "redaction_mode"),
            immutability: t(v, "immutability"),
            freshness_sla_seconds: int_of(v, "freshness_sla_seconds"),
            sensitivity_label: t(v, "sensitivity_label"),
            retrieval_params: obj_of(v, "retrieval_params"),
        })
    }
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("ref_id".into(), json!(self.ref_id));
        m.insert("source_type".into(), json!(self.source_type));
        m.insert("source_locator".into(), json!(self.source_locator));
        m.insert("query_digest".into(), json!(self.query_digest));
        m.insert("content_digest".into(), json!(self.content_digest));
        m.insert(
            "retrieved_at".into(),
            json!(self.retrieved_at.to_rfc3339_nano()),
        );
        m.insert("redaction_mode".into(), json!(self.redaction_mode));
        if !self.immutability.is_empty() {
            m.insert("immutability".into(), json!(self.immutability));
        }
        if self.freshness_sla_seconds != 0 {
            m.insert(
                "freshness_sla_seconds".into(),
                json!(self.freshness_sla_seconds),
            );
        }
        if !self.sensitivity_label.is_empty() {
            m.insert("sensitivity_label".into(), json!(self.sensitivity_label));
        }
        if let Some(p) = self.retrieval_params.as_ref().filter(|p| !p.is_empty()) {
            m.insert("retrieval_params".into(), Value::Object(p.clone()));
        }
        Value::Object(m)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Refs {
    pub header: Header,
    pub context_set_digest: String,
    pub context_evidence_mode: String,
    pub context_ref_count: i64,
    pub receipts: Vec<Receipt>,
}

impl Refs {
    pub fn read(v: &GoValue) -> R<Refs> {
        let receipts = match v.field("receipts") {
            Some(GoValue::Array(items)) => {
                items.iter().map(Receipt::read).collect::<R<Vec<_>>>()?
            }
            _ => Vec::new(),
        };
        Ok(Refs {
            header: Header::read(v)?,
            context_set_digest: t(v, "context_set_digest"),
            context_evidence_mode: t(v, "context_evidence_mode"),
            context_ref_count: int_of(v, "context_ref_count"),
            receipts,
        })
    }
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        self.header.write(&mut m);
        if !self.context_set_digest.is_empty() {
            m.insert("context_set_digest".into(), json!(self.context_set_digest));
        }
        if !self.context_evidence_mode.is_empty() {
            m.insert(
                "context_evidence_mode".into(),
                json!(self.context_evidence_mode),
            );
        }
        if self.context_ref_count != 0 {
            m.insert("context_ref_count".into(), json!(self.context_ref_count));
        }
        m.insert(
            "receipts".into(),
            Value::Array(self.receipts.iter().map(Receipt::to_value).collect()),
        );
        Value::Object(m)
    }

    /// Reference normalisation: lower-cased modes and digests, UTC times, sorted receipts.
    pub fn normalize(&mut self) -> R<()> {
        self.context_evidence_mode = self.context_evidence_mode.trim().to_lowercase();
        if !["", "best_effort", "required"].contains(&self.context_evidence_mode.as_str()) {
            return invalid(format!(
                "unsupported context_evidence_mode: {}",
                self.context_evidence_mode
            ));
        }
        self.context_set_digest = self.context_set_digest.trim().to_lowercase();
        if !self.context_set_digest.is_empty() && !jcs::is_sha256_hex(&self.context_set_digest) {
            return invalid("context_set_digest must be sha256 hex");
        }
        for r in &mut self.receipts {
            r.query_digest = r.query_digest.trim().to_lowercase();
            r.content_digest = r.content_digest.trim().to_lowercase();
            r.immutability = r.immutability.trim().to_lowercase();
            if r.immutability.is_empty() {
                r.immutability = "unknown".into();
            }
            r.retrieved_at = if r.retrieved_at.is_zero() {
                GoTime::parse_rfc3339("1980-01-01T00:00:00Z").expect("constant")
            } else {
                r.retrieved_at.utc()
            };
        }
        self.receipts.sort_by(|a, b| a.ref_id.cmp(&b.ref_id));
        if self.context_ref_count == 0 {
            self.context_ref_count = self.receipts.len() as i64;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ManifestFile {
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Manifest {
    pub header: Header,
    pub capture_mode: String,
    pub files: Vec<ManifestFile>,
    pub manifest_digest: String,
    pub signatures: Vec<Signature>,
}

impl Manifest {
    pub fn read(v: &GoValue) -> R<Manifest> {
        let files = match v.field("files") {
            Some(GoValue::Array(items)) => items
                .iter()
                .map(|f| ManifestFile {
                    path: t(f, "path"),
                    sha256: t(f, "sha256"),
                })
                .collect(),
            _ => Vec::new(),
        };
        let signatures = match v.field("signatures") {
            Some(GoValue::Array(items)) => items.iter().filter_map(Signature::from_go).collect(),
            _ => Vec::new(),
        };
        Ok(Manifest {
            header: Header::read(v)?,
            capture_mode: t(v, "capture_mode"),
            files,
            manifest_digest: t(v, "manifest_digest"),
            signatures,
        })
    }
    /// The typed projection; `with_signatures` adds `signatures` when there are any.
    pub fn to_value(&self, with_signatures: bool) -> Value {
        let mut m = Map::new();
        self.header.write(&mut m);
        m.insert("capture_mode".into(), json!(self.capture_mode));
        m.insert(
            "files".into(),
            Value::Array(
                self.files
                    .iter()
                    .map(|f| json!({"path": f.path, "sha256": f.sha256}))
                    .collect(),
            ),
        );
        m.insert("manifest_digest".into(), json!(self.manifest_digest));
        if with_signatures && !self.signatures.is_empty() {
            m.insert(
                "signatures".into(),
                Value::Array(self.signatures.iter().map(Signature::to_value).collect()),
            );
        }
        Value::Object(m)
    }
    /// D(manifest with `manifest_digest:""` and no signatures).
    pub fn compute_digest(&self) -> String {
        let mut blank = self.clone();
        blank.manifest_digest.clear();
        jcs::digest_hex(&blank.to_value(false)).expect("finite JSON")
    }
}

/// A complete run as recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Runpack {
    pub run: Run,
    pub intents: Vec<IntentRecord>,
    pub results: Vec<ResultRecord>,
    pub refs: Refs,
    pub manifest: Manifest,
}

fn jsonl(records: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        out.extend_from_slice(&jcs::canonical_bytes(r).expect("finite JSON"));
        out.push(b'\n');
    }
    out
}

/// The parsed `run record` input file.
#[derive(Debug, Clone, Default)]
pub struct RecordInput {
    pub run: Run,
    pub intents: Vec<IntentRecord>,
    pub results: Vec<ResultRecord>,
    pub refs: Refs,
    pub capture_mode: String,
    pub intent_args: BTreeMap<String, Value>,
    pub result_payloads: BTreeMap<String, Value>,
}

impl RecordInput {
    pub fn parse(text: &str) -> R<RecordInput> {
        let v = GoValue::parse(text)
            .map_err(|e| RunpackError::Invalid(format!("parse run record input: {e}")))?;
        if !matches!(v, GoValue::Object(_)) {
            return invalid("parse run record input: expected a JSON object");
        }
        let list = |name: &str| match v.field(name) {
            Some(GoValue::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        let norm = v.field("normalization");
        let map_of = |name: &str| -> BTreeMap<String, Value> {
            match norm.and_then(|n| n.field(name)) {
                Some(o @ GoValue::Object(_)) => match o.to_value() {
                    Value::Object(m) => m.into_iter().collect(),
                    _ => BTreeMap::new(),
                },
                _ => BTreeMap::new(),
            }
        };
        Ok(RecordInput {
            run: match v.field("run") {
                Some(r) => Run::read(r)?,
                None => Run::default(),
            },
            intents: list("intents")
                .iter()
                .map(IntentRecord::read)
                .collect::<R<_>>()?,
            results: list("results")
                .iter()
                .map(ResultRecord::read)
                .collect::<R<_>>()?,
            refs: match v.field("refs") {
                Some(r) => Refs::read(r)?,
                None => Refs::default(),
            },
            capture_mode: t(&v, "capture_mode"),
            intent_args: map_of("intent_args"),
            result_payloads: map_of("result_payloads"),
        })
    }
}

/// What `record` produced.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub runpack: Runpack,
    /// Entry name → JCS bytes, ready to zip.
    pub entries: BTreeMap<String, Vec<u8>>,
    /// True when raw payloads or normalisation maps were supplied.
    pub had_payloads: bool,
}

fn digest_for(
    id: &str,
    given: &str,
    normalized: Option<&Value>,
    raw: Option<&Map<String, Value>>,
    what: &str,
    norm_key: &str,
) -> R<String> {
    if let Some(n) = normalized.filter(|n| !matches!(n, Value::Null) && n != &&json!({})) {
        if !n.is_object() {
            return invalid(format!("normalization.{norm_key}[{id}] must be an object"));
        }
        let d = jcs::digest_hex(n).map_err(|e| RunpackError::Invalid(e.to_string()))?;
        if given.trim().is_empty() {
            return Ok(d);
        }
        if !given.trim().eq_ignore_ascii_case(&d) {
            return invalid(format!("intent {id} {what} digest mismatch"));
        }
        return Ok(given.trim().to_lowercase());
    }
    if !given.trim().is_empty() {
        return Ok(given.trim().to_string());
    }
    match raw {
        Some(m) => Ok(jcs::digest_hex(&Value::Object(m.clone()))
            .map_err(|e| RunpackError::Invalid(e.to_string()))?),
        None => invalid(format!(
            "intent {id} requires {what}_digest or normalization.{norm_key}"
        )),
    }
}

/// Runs the record algorithm: fills digests, checks receipts, applies the capture mode,
/// computes the manifest digest and (optionally) signs it.
pub fn record(
    mut input: RecordInput,
    capture_mode: &str,
    now: GoTime,
    key: Option<&KeyPair>,
) -> R<Recorded> {
    let run = &mut input.run;
    if run.header.run_id.trim().is_empty() {
        return invalid("run_id is required");
    }
    run.header.schema_id = if run.header.schema_id.is_empty() {
        RUN_SCHEMA.into()
    } else {
        run.header.schema_id.clone()
    };
    if run.header.schema_version.is_empty() {
        run.header.schema_version = SCHEMA_VERSION.into();
    }
    if run.header.created_at.is_zero() {
        run.header.created_at = now.utc();
    }
    if run.header.producer_version.is_empty() {
        run.header.producer_version = DEFAULT_PRODUCER_VERSION.into();
    }
    if run.env_os.is_empty() {
        run.env_os = std::env::consts::OS.into();
    }
    if run.env_arch.is_empty() {
        run.env_arch = go_arch(std::env::consts::ARCH).into();
    }
    if run.env_runtime.is_empty() {
        run.env_runtime = "rust".into();
    }
    let run_header = run.header.clone();
    let had_payloads = !input.intent_args.is_empty()
        || !input.result_payloads.is_empty()
        || input.intents.iter().any(|i| i.args.is_some())
        || input.results.iter().any(|r| r.result.is_some());
    for i in &mut input.intents {
        i.header.inherit(&run_header, INTENT_SCHEMA);
        let na = input.intent_args.get(&i.intent_id);
        i.args_digest = digest_for(
            &i.intent_id,
            &i.args_digest,
            na,
            i.args.as_ref(),
            "args",
            "intent_args",
        )?;
    }
    for r in &mut input.results {
        r.header.inherit(&run_header, RESULT_SCHEMA);
        let np = input.result_payloads.get(&r.intent_id);
        r.result_digest = digest_for(
            &r.intent_id,
            &r.result_digest,
            np,
            r.result.as_ref(),
            "result",
            "result_payloads",
        )?;
    }
    input.refs.header.inherit(&run_header, REFS_SCHEMA);
    for rc in &mut input.refs.receipts {
        let is_trace = rc.source_type.trim().eq_ignore_ascii_case("gait.trace")
            && rc.ref_id.starts_with("trace_");
        if is_trace {
            let target = &rc.ref_id["trace_".len()..];
            let Some(intent) = input.intents.iter().find(|i| i.intent_id == target) else {
                return invalid(format!(
                    "receipt {} refers to unknown intent {target}",
                    rc.ref_id
                ));
            };
            let q = jcs::digest_hex(
                &json!({"tool_name": intent.tool_name, "args_digest": intent.args_digest}),
            )
            .expect("finite");
            let result_digest = input
                .results
                .iter()
                .find(|r| r.intent_id == target)
                .map(|r| r.result_digest.clone())
                .unwrap_or_default();
            if rc.query_digest.trim().is_empty() {
                rc.query_digest = q;
            } else if !rc.query_digest.trim().eq_ignore_ascii_case(&q) {
                return invalid(format!("receipt {} query_digest mismatch", rc.ref_id));
            }
            if rc.content_digest.trim().is_empty() {
                rc.content_digest = result_digest;
            } else if !rc
                .content_digest
                .trim()
                .eq_ignore_ascii_case(&result_digest)
            {
                return invalid(format!("receipt {} content_digest mismatch", rc.ref_id));
            }
        } else if rc.query_digest.trim().is_empty() || rc.content_digest.trim().is_empty() {
            return invalid(format!(
                "receipt {} requires query_digest and content_digest",
                rc.ref_id
            ));
        }
    }
    input.refs.normalize()?;
    if capture_mode == "reference" {
        for i in &mut input.intents {
            i.args = None;
        }
        for r in &mut input.results {
            r.result = None;
        }
    }
    let run_bytes = jcs::canonical_bytes(&input.run.to_value()).expect("finite");
    let intents_bytes = jsonl(
        &input
            .intents
            .iter()
            .map(IntentRecord::to_value)
            .collect::<Vec<_>>(),
    );
    let results_bytes = jsonl(
        &input
            .results
            .iter()
            .map(ResultRecord::to_value)
            .collect::<Vec<_>>(),
    );
    let refs_bytes = jcs::canonical_bytes(&input.refs.to_value()).expect("finite");
    let mut entries = BTreeMap::new();
    entries.insert("intents.jsonl".to_string(), intents_bytes);
    entries.insert("refs.json".to_string(), refs_bytes);
    entries.insert("results.jsonl".to_string(), results_bytes);
    entries.insert("run.json".to_string(), run_bytes);
    let mut manifest = Manifest {
        header: Header {
            schema_id: MANIFEST_SCHEMA.into(),
            schema_version: SCHEMA_VERSION.into(),
            created_at: input.run.header.created_at,
            producer_version: input.run.header.producer_version.clone(),
            run_id: input.run.header.run_id.clone(),
        },
        capture_mode: capture_mode.into(),
        files: entries
            .iter()
            .map(|(p, b)| ManifestFile {
                path: p.clone(),
                sha256: jcs::sha256_hex(b),
            })
            .collect(),
        manifest_digest: String::new(),
        signatures: Vec::new(),
    };
    manifest.manifest_digest = manifest.compute_digest();
    if let Some(k) = key {
        let sig = k
            .sign_value(&manifest.to_value(false))
            .map_err(|e| RunpackError::Invalid(e.to_string()))?;
        manifest.signatures.push(sig);
    }
    entries.insert(
        "manifest.json".to_string(),
        jcs::canonical_bytes(&manifest.to_value(true)).expect("finite"),
    );
    Ok(Recorded {
        runpack: Runpack {
            run: input.run,
            intents: input.intents,
            results: input.results,
            refs: input.refs,
            manifest,
        },
        entries,
        had_payloads,
    })
}

/// Go's GOARCH spelling for the machine architecture.
pub fn go_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// A hash mismatch found by verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashMismatch {
    pub path: String,
    pub expected: String,
    pub actual: String,
}

/// The signature part of a verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignatureReport {
    /// `missing`, `skipped`, `verified` or `failed`.
    pub status: String,
    pub errors: Vec<String>,
    pub total: usize,
    pub valid: usize,
}

impl SignatureReport {
    /// The signature rule every verifier shares: a required signature must have verified;
    /// otherwise only a failed one fails.
    pub fn satisfies(&self, require_signature: bool) -> bool {
        if require_signature {
            self.status == "verified"
        } else {
            self.status != "failed"
        }
    }
}

/// Verifies signatures over `unsigned` (the record without `signatures`).
pub fn check_signatures(
    unsigned: &Value,
    sigs: &[Signature],
    key: Option<&PublicKey>,
    required: bool,
    always_report_failure: bool,
) -> SignatureReport {
    let mut rep = SignatureReport {
        total: sigs.len(),
        ..Default::default()
    };
    if sigs.is_empty() {
        rep.status = "missing".into();
        if required {
            rep.errors.push("manifest has no signatures".into());
        }
        return rep;
    }
    let Some(key) = key else {
        rep.status = "skipped".into();
        rep.errors.push("public key not configured".into());
        return rep;
    };
    for s in sigs {
        match verify_value(unsigned, s, key) {
            Ok(()) => rep.valid += 1,
            Err(crate::signing::VerifyError::Invalid) => {
                rep.errors.push("signature verification failed".into())
            }
            Err(e) => rep.errors.push(e.to_string()),
        }
    }
    rep.status = if rep.valid > 0 {
        "verified".into()
    } else {
        "failed".into()
    };
    if rep.valid == 0
        && always_report_failure
        && !rep
            .errors
            .iter()
            .any(|e| e == "signature verification failed")
    {
        rep.errors.push("signature verification failed".into());
    }
    rep.errors.sort();
    rep.errors.dedup();
    rep
}

/// The outcome of verifying a runpack.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    pub run_id: String,
    pub manifest_digest: String,
    pub files_checked: usize,
    pub missing_files: Vec<String>,
    pub hash_mismatches: Vec<HashMismatch>,
    pub signatures: SignatureReport,
}

impl VerifyReport {
    pub fn ok(&self, require_signature: bool) -> bool {
        self.missing_files.is_empty()
            && self.hash_mismatches.is_empty()
            && self.signatures.satisfies(require_signature)
    }
}

fn read_json(src: &mut dyn EntrySource, name: &str) -> R<GoValue> {
    let bytes = src.read_entry(name, MAX_ENTRY_BYTES)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| RunpackError::Invalid(format!("{name} is not valid UTF-8")))?;
    GoValue::parse(&text).map_err(|e| RunpackError::Invalid(format!("parse {name}: {e}")))
}

/// Verifies a runpack's manifest, file hashes, manifest digest and signatures.
pub fn verify(
    src: &mut dyn EntrySource,
    key: Option<&PublicKey>,
    require_signature: bool,
) -> R<VerifyReport> {
    let names = src.entry_names();
    if !names.iter().any(|n| n == "manifest.json") {
        return invalid("missing manifest.json");
    }
    let raw = read_json(src, "manifest.json")?;
    let manifest = Manifest::read(&raw)?;
    if manifest.header.schema_id != MANIFEST_SCHEMA {
        return invalid(format!(
            "unsupported manifest schema_id: {}",
            manifest.header.schema_id
        ));
    }
    if manifest.header.schema_version != SCHEMA_VERSION {
        return invalid(format!(
            "unsupported manifest schema_version: {}",
            manifest.header.schema_version
        ));
    }
    if manifest.header.run_id.trim().is_empty() {
        return invalid("manifest run_id is required");
    }
    let mut rep = VerifyReport {
        run_id: manifest.header.run_id.clone(),
        manifest_digest: manifest.manifest_digest.clone(),
        ..Default::default()
    };
    for f in &manifest.files {
        rep.files_checked += 1;
        if !names.contains(&f.path) {
            rep.missing_files.push(f.path.clone());
            continue;
        }
        let actual = src.entry_sha256(&f.path)?;
        if !actual.eq_ignore_ascii_case(f.sha256.trim()) {
            rep.hash_mismatches.push(HashMismatch {
                path: f.path.clone(),
                expected: f.sha256.clone(),
                actual,
            });
        }
    }
    for p in PAYLOAD_FILES {
        if !manifest.files.iter().any(|f| f.path == p) {
            rep.missing_files.push(p.to_string());
        }
    }
    let computed = manifest.compute_digest();
    if !computed.eq_ignore_ascii_case(manifest.manifest_digest.trim()) {
        rep.hash_mismatches.push(HashMismatch {
            path: "manifest.json".into(),
            expected: manifest.manifest_digest.clone(),
            actual: computed,
        });
    }
    // Signatures cover the raw manifest minus `signatures`, so unknown members stay covered.
    let mut unsigned = raw.to_value();
    if let Value::Object(m) = &mut unsigned {
        m.retain(|k, _| !k.eq_ignore_ascii_case("signatures"));
    }
    rep.signatures = check_signatures(
        &unsigned,
        &manifest.signatures,
        key,
        require_signature,
        false,
    );
    rep.missing_files.sort();
    rep.missing_files.dedup();
    rep.hash_mismatches.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(rep)
}

fn read_jsonl<T>(
    src: &mut dyn EntrySource,
    name: &str,
    parse: impl Fn(&GoValue) -> R<T>,
) -> R<Vec<T>> {
    let bytes = src.read_entry(name, MAX_ENTRY_BYTES)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| RunpackError::Invalid(format!("{name} is not valid UTF-8")))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v = GoValue::parse(line)
            .map_err(|e| RunpackError::Invalid(format!("parse {name} line {}: {e}", i + 1)))?;
        out.push(parse(&v)?);
    }
    Ok(out)
}

/// Strict read: every entry present and listed, every hash and the manifest digest right.
pub fn read_strict(src: &mut dyn EntrySource) -> R<Runpack> {
    let names = src.entry_names();
    for n in [
        "manifest.json",
        "run.json",
        "intents.jsonl",
        "results.jsonl",
        "refs.json",
    ] {
        if !names.iter().any(|x| x == n) {
            return invalid(format!("missing {n}"));
        }
    }
    let rep = verify(src, None, false)?;
    if !rep.missing_files.is_empty() {
        return invalid(format!(
            "missing runpack files: {}",
            rep.missing_files.join(", ")
        ));
    }
    if !rep.hash_mismatches.is_empty() {
        return invalid("runpack hash mismatch");
    }
    let manifest = Manifest::read(&read_json(src, "manifest.json")?)?;
    let run = Run::read(&read_json(src, "run.json")?)?;
    let intents = read_jsonl(src, "intents.jsonl", IntentRecord::read)?;
    let results = read_jsonl(src, "results.jsonl", ResultRecord::read)?;
    let mut refs = Refs::read(&read_json(src, "refs.json")?)?;
    refs.normalize()?;
    if refs.context_evidence_mode == "required" && refs.context_set_digest.is_empty() {
        return invalid("context evidence mode required but context_set_digest is missing");
    }
    Ok(Runpack {
        run,
        intents,
        results,
        refs,
        manifest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCK: &str = r#"{"run":{"schema_id":"gait.runpack.run","schema_version":"1.0.0","created_at":"2026-02-14T00:00:00Z","producer_version":"0.0.0-dev","run_id":"run_tck","env":{"os":"darwin","arch":"arm64","runtime":"go"},"timeline":[{"event":"tool_call","ts":"2026-02-14T00:00:00Z","ref":"intent_1"}]},
      "intents":[{"intent_id":"intent_1","tool_name":"echo","args_digest":"1111111111111111111111111111111111111111111111111111111111111111","args":{"message":"hello"}}],
      "results":[{"intent_id":"intent_1","status":"ok","result_digest":"2222222222222222222222222222222222222222222222222222222222222222","result":{"ok":true}}],
      "refs":{"receipts":[{"ref_id":"ref_1","source_type":"http","source_locator":"https://example.com","query_digest":"3333333333333333333333333333333333333333333333333333333333333333","content_digest":"4444444444444444444444444444444444444444444444444444444444444444","retrieved_at":"2026-02-14T00:00:00Z","redaction_mode":"metadata"}]},
      "capture_mode":"reference"}"#;

    #[test]
    fn record_then_verify_and_tamper() {
        let input = RecordInput::parse(TCK).unwrap();
        let rec = record(input, "reference", GoTime::now_utc(), None).unwrap();
        let mut entries = rec.entries.clone();
        let rep = verify(&mut entries, None, false).unwrap();
        assert!(rep.ok(false), "{rep:?}");
        assert_eq!(rep.files_checked, 4);
        assert_eq!(rep.signatures.status, "missing");
        let rp = read_strict(&mut entries).unwrap();
        assert_eq!(rp.intents[0].args, None, "reference capture strips args");
        entries.get_mut("intents.jsonl").unwrap()[3] ^= 1;
        let rep = verify(&mut entries, None, false).unwrap();
        assert_eq!(rep.hash_mismatches.len(), 1);
        assert!(read_strict(&mut entries).is_err());
    }

    #[test]
    fn signed_manifest_verifies_only_with_its_key() {
        let k = KeyPair::generate().unwrap();
        let rec = record(
            RecordInput::parse(TCK).unwrap(),
            "reference",
            GoTime::now_utc(),
            Some(&k),
        )
        .unwrap();
        let mut entries = rec.entries.clone();
        let rep = verify(&mut entries, Some(&k.public()), true).unwrap();
        assert_eq!(rep.signatures.status, "verified");
        let other = KeyPair::generate().unwrap();
        let rep = verify(&mut entries, Some(&other.public()), true).unwrap();
        assert_eq!(rep.signatures.status, "failed");
        assert!(!rep.ok(true));
    }
}
