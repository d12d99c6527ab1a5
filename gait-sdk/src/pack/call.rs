//! Voice mode's evidence: commitment intents, call records and callpacks (PackSpec packs of
//! type `call`). `gait-voice` builds callpacks with this module and `gait-pack` verifies and
//! inspects them with the same code, so the format has one definition.
//!
//! - [`CommitmentIntent`]: what an adapter wants to say (B2), decoded leniently by
//!   `voice token mint` and strictly inside callpacks;
//! - [`CallRecord::parse`]: the call record and every build rule (B7 steps 1–7);
//! - [`check_runpack`], [`build_pack`]: B7 step 8 and the callpack entries (B8);
//! - [`check_contract`]: the callpack payload contract that `pack verify` enforces (B9).
//!
//! Every rejection carries a stable reason code ([`CallError::code`]) beside the message.

use super::runpack::{self, EntrySource, RunpackError};
use super::spec::{self, BuiltPack, PackManifest};
use crate::gojson::GoValue;
use crate::jcs;
use crate::signing::KeyPair;
use crate::time::GoTime;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub const COMMITMENT_SCHEMA: &str = "gait.voice.commitment_intent";
pub const CALL_RECORD_SCHEMA: &str = "gait.voice.call_record";
pub const CALL_EVENT_SCHEMA: &str = "gait.voice.call_event";
pub const CALLPACK_MANIFEST_SCHEMA: &str = "gait.voice.callpack_manifest";
pub const CALL_PAYLOAD_SCHEMA: &str = "gait.pack.call";
pub const SCHEMA_VERSION: &str = "1.0.0";
pub const DEFAULT_PRODUCER_VERSION: &str = "0.0.0-dev";

pub const CLASSES: [&str; 6] = [
    "refund",
    "quote",
    "eligibility",
    "schedule",
    "cancel",
    "account_change",
];
pub const PRIVACY_MODES: [&str; 2] = ["hash_only", "dispute_encrypted"];
pub const VERDICTS: [&str; 4] = ["allow", "block", "dry_run", "require_approval"];
/// Event types every call record must contain.
pub const REQUIRED_EVENT_TYPES: [&str; 7] = [
    "asr.final",
    "commitment.declared",
    "gate.decision",
    "tts.request",
    "tts.emitted",
    "tool.intent",
    "tool.result",
];

pub const CALL_PAYLOAD: &str = "call_payload.json";
pub const CALLPACK_MANIFEST: &str = "callpack_manifest.json";
pub const CALL_EVENTS: &str = "call_events.jsonl";
pub const COMMITMENTS: &str = "commitments.jsonl";
pub const GATE_DECISIONS: &str = "gate_decisions.jsonl";
pub const SPEAK_RECEIPTS: &str = "speak_receipts.jsonl";
pub const REFERENCE_DIGESTS: &str = "reference_digests.json";
pub const SOURCE_RUNPACK: &str = "source/runpack.zip";
/// The callpack's payload entries (besides `pack_manifest.json` and `proof_records.jsonl`).
pub const ENTRIES: [&str; 8] = [
    CALL_PAYLOAD,
    CALLPACK_MANIFEST,
    CALL_EVENTS,
    COMMITMENTS,
    GATE_DECISIONS,
    SPEAK_RECEIPTS,
    REFERENCE_DIGESTS,
    SOURCE_RUNPACK,
];

/// Cap on a call record or one callpack entry read into memory.
pub const MAX_RECORD_BYTES: u64 = 32 * 1024 * 1024;

/// A rejected commitment, call record or callpack: a stable reason code and the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CallError {
    pub code: &'static str,
    pub message: String,
}

impl CallError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        CallError {
            code,
            message: message.into(),
        }
    }
    /// The stable reason code (`call_record_…`, `commitment_…`, `callpack_…`).
    pub fn code(&self) -> &'static str {
        self.code
    }
    fn prefixed(mut self, prefix: &str) -> Self {
        self.message = format!("{prefix}: {}", self.message);
        self
    }
}

type R<T> = Result<T, CallError>;

fn err<T>(code: &'static str, m: impl Into<String>) -> R<T> {
    Err(CallError::new(code, m))
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Lower-cased, trimmed; must be 64 hex when set.
fn digest_field(v: &str, what: &str, code: &'static str) -> R<String> {
    let d = v.trim().to_lowercase();
    if !d.is_empty() && !is_hex64(&d) {
        return err(code, format!("{what} must be sha256 hex when set"));
    }
    Ok(d)
}

fn sorted_unique(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = items.into_iter().filter(|s| !s.is_empty()).collect();
    v.sort();
    v.dedup();
    v
}

// ------------------------------------------------------------------ strict decoding

/// Field accessor over a decoded object; `strict` rejects unknown members.
struct Obj<'a> {
    v: &'a GoValue,
    what: &'static str,
}

impl<'a> Obj<'a> {
    fn new(v: &'a GoValue, allowed: &[&str], strict: bool, what: &'static str) -> R<Self> {
        let GoValue::Object(members) = v else {
            return err(
                "invalid_json",
                format!("json: cannot unmarshal {} into {what}", v.kind()),
            );
        };
        if strict {
            for (k, _) in members {
                if !allowed.iter().any(|a| a.eq_ignore_ascii_case(k)) {
                    return err("unknown_field", format!("json: unknown field \"{k}\""));
                }
            }
        }
        Ok(Obj { v, what })
    }
    fn s(&self, k: &str) -> R<String> {
        self.v
            .str_field(k, self.what)
            .map_err(|e| CallError::new("invalid_json", e.to_string()))
    }
    fn i(&self, k: &str) -> R<i64> {
        self.v
            .int_field(k, self.what)
            .map_err(|e| CallError::new("invalid_json", e.to_string()))
    }
    fn b(&self, k: &str) -> R<bool> {
        self.v
            .bool_field(k, self.what)
            .map_err(|e| CallError::new("invalid_json", e.to_string()))
    }
    fn list(&self, k: &str) -> R<Vec<String>> {
        self.v
            .str_list_field(k, self.what)
            .map_err(|e| CallError::new("invalid_json", e.to_string()))
    }
    fn time(&self, k: &str) -> R<Option<GoTime>> {
        let s = self.s(k)?;
        if s.is_empty() {
            return Ok(None);
        }
        let t = GoTime::parse_rfc3339(&s)
            .map_err(|e| CallError::new("invalid_json", format!("parsing time {s:?}: {e}")))?;
        Ok((!t.is_zero()).then(|| t.utc()))
    }
}

fn parse_json(text: &str) -> R<GoValue> {
    GoValue::parse(text).map_err(|e| CallError::new("invalid_json", e.to_string()))
}

// ------------------------------------------------------------------ commitment intent (B2)

/// `context` of a commitment intent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitmentContext {
    pub identity: String,
    pub workspace: String,
    pub risk_class: String,
    pub session_id: String,
    pub request_id: String,
    pub environment_fingerprint: String,
}

const CONTEXT_KEYS: [&str; 6] = [
    "identity",
    "workspace",
    "risk_class",
    "session_id",
    "request_id",
    "environment_fingerprint",
];

impl CommitmentContext {
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in [
            ("identity", &self.identity),
            ("workspace", &self.workspace),
            ("risk_class", &self.risk_class),
            ("session_id", &self.session_id),
            ("request_id", &self.request_id),
            ("environment_fingerprint", &self.environment_fingerprint),
        ] {
            if !v.is_empty() {
                m.insert(k.into(), json!(v));
            }
        }
        Value::Object(m)
    }
}

/// `gait.voice.commitment_intent` 1.0.0. After [`CommitmentIntent::normalize`] every field is
/// in its canonical form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitmentIntent {
    pub schema_id: String,
    pub schema_version: String,
    pub created_at: Option<GoTime>,
    pub producer_version: String,
    pub call_id: String,
    pub turn_index: i64,
    pub call_seq: i64,
    pub commitment_class: String,
    pub utterance_digest: String,
    pub context: CommitmentContext,
    pub currency: String,
    pub quote_min_cents: i64,
    pub quote_max_cents: i64,
    pub refund_ceiling_cents: i64,
    pub approval_required: bool,
    pub approval_artifact_refs: Vec<String>,
    pub evidence_reference_digests: Vec<String>,
}

const COMMITMENT_KEYS: [&str; 17] = [
    "schema_id",
    "schema_version",
    "created_at",
    "producer_version",
    "call_id",
    "turn_index",
    "call_seq",
    "commitment_class",
    "utterance_digest",
    "context",
    "currency",
    "quote_min_cents",
    "quote_max_cents",
    "refund_ceiling_cents",
    "approval_required",
    "approval_artifact_refs",
    "evidence_reference_digests",
];

/// Lower-cased, trimmed class; an unknown class is an error.
pub fn normalize_class(c: &str) -> R<String> {
    let class = c.trim().to_lowercase();
    if !CLASSES.contains(&class.as_str()) {
        return err(
            "unknown_commitment_class",
            format!("unsupported commitment_class: {}", c.trim()),
        );
    }
    Ok(class)
}

impl CommitmentIntent {
    /// Decodes a commitment intent (`strict`: unknown members are an error).
    pub fn from_go(v: &GoValue, strict: bool) -> R<Self> {
        let o = Obj::new(v, &COMMITMENT_KEYS, strict, "commitment intent")?;
        let mut context = CommitmentContext::default();
        if let Some(c) = v.field("context") {
            let c = Obj::new(c, &CONTEXT_KEYS, strict, "commitment context")?;
            context = CommitmentContext {
                identity: c.s("identity")?,
                workspace: c.s("workspace")?,
                risk_class: c.s("risk_class")?,
                session_id: c.s("session_id")?,
                request_id: c.s("request_id")?,
                environment_fingerprint: c.s("environment_fingerprint")?,
            };
        }
        Ok(CommitmentIntent {
            schema_id: o.s("schema_id")?,
            schema_version: o.s("schema_version")?,
            created_at: o.time("created_at")?,
            producer_version: o.s("producer_version")?,
            call_id: o.s("call_id")?,
            turn_index: o.i("turn_index")?,
            call_seq: o.i("call_seq")?,
            commitment_class: o.s("commitment_class")?,
            utterance_digest: o.s("utterance_digest")?,
            context,
            currency: o.s("currency")?,
            quote_min_cents: o.i("quote_min_cents")?,
            quote_max_cents: o.i("quote_max_cents")?,
            refund_ceiling_cents: o.i("refund_ceiling_cents")?,
            approval_required: o.b("approval_required")?,
            approval_artifact_refs: o.list("approval_artifact_refs")?,
            evidence_reference_digests: o.list("evidence_reference_digests")?,
        })
    }

    /// Parses JSON text (lenient: unknown members ignored, names case-insensitive).
    pub fn parse_lenient(text: &str) -> R<Self> {
        Self::from_go(&parse_json(text)?, false)
    }

    /// Normalises in the reference's order; the first failure is returned.
    pub fn normalize(&self) -> R<Self> {
        let mut n = self.clone();
        n.schema_id = default_or(&n.schema_id, COMMITMENT_SCHEMA, "schema_id")?;
        n.schema_version = default_or(&n.schema_version, SCHEMA_VERSION, "schema_version")?;
        if n.created_at.is_none() {
            return err("created_at_required", "created_at is required");
        }
        n.producer_version = n.producer_version.trim().to_string();
        if n.producer_version.is_empty() {
            n.producer_version = DEFAULT_PRODUCER_VERSION.into();
        }
        n.call_id = n.call_id.trim().to_string();
        if n.call_id.is_empty() {
            return err("call_id_required", "call_id is required");
        }
        if n.turn_index < 0 {
            return err("turn_index_negative", "turn_index must be >= 0");
        }
        if n.call_seq < 1 {
            return err("call_seq_invalid", "call_seq must be >= 1");
        }
        n.commitment_class = normalize_class(&n.commitment_class)?;
        n.utterance_digest =
            digest_field(&n.utterance_digest, "utterance_digest", "digest_invalid")?;
        let c = &mut n.context;
        for s in [
            &mut c.identity,
            &mut c.workspace,
            &mut c.risk_class,
            &mut c.session_id,
            &mut c.request_id,
            &mut c.environment_fingerprint,
        ] {
            *s = s.trim().to_string();
        }
        c.risk_class = c.risk_class.to_lowercase();
        if c.identity.is_empty() || c.workspace.is_empty() || c.risk_class.is_empty() {
            return err(
                "context_required",
                "context identity, workspace, and risk_class are required",
            );
        }
        n.currency = n.currency.trim().to_uppercase();
        if n.quote_min_cents < 0 || n.quote_max_cents < 0 || n.refund_ceiling_cents < 0 {
            return err("bound_negative", "bound values must be >= 0");
        }
        if n.quote_max_cents > 0 && n.quote_min_cents > n.quote_max_cents {
            return err(
                "quote_bounds_invalid",
                "quote_max_cents must be >= quote_min_cents",
            );
        }
        n.approval_artifact_refs = sorted_unique(
            n.approval_artifact_refs
                .iter()
                .map(|s| s.trim().to_string()),
        );
        n.evidence_reference_digests = sorted_unique(
            n.evidence_reference_digests
                .iter()
                .map(|s| s.trim().to_lowercase())
                .filter(|s| is_hex64(s)),
        );
        Ok(n)
    }

    /// The normalised record as JSON (empty optional members omitted).
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("schema_id".into(), json!(self.schema_id));
        m.insert("schema_version".into(), json!(self.schema_version));
        if let Some(t) = self.created_at {
            m.insert("created_at".into(), json!(t.to_rfc3339_nano()));
        }
        m.insert("producer_version".into(), json!(self.producer_version));
        m.insert("call_id".into(), json!(self.call_id));
        m.insert("turn_index".into(), json!(self.turn_index));
        m.insert("call_seq".into(), json!(self.call_seq));
        m.insert("commitment_class".into(), json!(self.commitment_class));
        put_s(&mut m, "utterance_digest", &self.utterance_digest);
        m.insert("context".into(), self.context.to_value());
        put_s(&mut m, "currency", &self.currency);
        put_i(&mut m, "quote_min_cents", self.quote_min_cents);
        put_i(&mut m, "quote_max_cents", self.quote_max_cents);
        put_i(&mut m, "refund_ceiling_cents", self.refund_ceiling_cents);
        if self.approval_required {
            m.insert("approval_required".into(), json!(true));
        }
        put_l(
            &mut m,
            "approval_artifact_refs",
            &self.approval_artifact_refs,
        );
        put_l(
            &mut m,
            "evidence_reference_digests",
            &self.evidence_reference_digests,
        );
        Value::Object(m)
    }

    /// The derived gate intent (B3): tool `voice.commitment.<class>`, one `speak` target.
    pub fn gate_intent(&self) -> Value {
        let mut args = Map::new();
        args.insert("call_id".into(), json!(self.call_id));
        args.insert("turn_index".into(), json!(self.turn_index));
        args.insert("call_seq".into(), json!(self.call_seq));
        args.insert("commitment_class".into(), json!(self.commitment_class));
        put_s(&mut args, "utterance_digest", &self.utterance_digest);
        put_s(&mut args, "currency", &self.currency);
        put_i(&mut args, "quote_min_cents", self.quote_min_cents);
        put_i(&mut args, "quote_max_cents", self.quote_max_cents);
        put_i(&mut args, "refund_ceiling_cents", self.refund_ceiling_cents);
        if self.approval_required {
            args.insert("approval_required".into(), json!(true));
        }
        put_l(
            &mut args,
            "approval_artifact_refs",
            &self.approval_artifact_refs,
        );
        put_l(
            &mut args,
            "evidence_reference_digests",
            &self.evidence_reference_digests,
        );
        let c = &self.context;
        let mut m = Map::new();
        m.insert("schema_id".into(), json!("gait.gate.intent_request"));
        m.insert("schema_version".into(), json!("1.0.0"));
        if let Some(t) = self.created_at {
            m.insert("created_at".into(), json!(t.to_rfc3339_nano()));
        }
        m.insert("producer_version".into(), json!(self.producer_version));
        m.insert(
            "tool_name".into(),
            json!(format!("voice.commitment.{}", self.commitment_class)),
        );
        m.insert("args".into(), Value::Object(args));
        m.insert(
            "targets".into(),
            json!([{"kind": "other", "value": self.commitment_class, "operation": "speak", "endpoint_class": "ui.type"}]),
        );
        m.insert(
            "context".into(),
            json!({"identity": c.identity, "workspace": c.workspace, "risk_class": c.risk_class,
                   "session_id": c.session_id, "request_id": c.request_id,
                   "environment_fingerprint": c.environment_fingerprint}),
        );
        Value::Object(m)
    }
}

fn default_or(v: &str, expected: &str, what: &str) -> R<String> {
    let t = v.trim();
    if t.is_empty() {
        return Ok(expected.into());
    }
    if t != expected {
        return err("schema_unsupported", format!("unsupported {what}: {t}"));
    }
    Ok(t.into())
}

fn put_s(m: &mut Map<String, Value>, k: &str, v: &str) {
    if !v.is_empty() {
        m.insert(k.into(), json!(v));
    }
}
fn put_i(m: &mut Map<String, Value>, k: &str, v: i64) {
    if v != 0 {
        m.insert(k.into(), json!(v));
    }
}
fn put_l(m: &mut Map<String, Value>, k: &str, v: &[String]) {
    if !v.is_empty() {
        m.insert(k.into(), json!(v));
    }
}

// ------------------------------------------------------------------ call record items (B7)

/// `gait.voice.call_event`.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEvent {
    pub schema_id: String,
    pub schema_version: String,
    pub created_at: Option<GoTime>,
    pub call_id: String,
    pub call_seq: i64,
    pub turn_index: i64,
    pub event_type: String,
    pub commitment_class: String,
    pub intent_digest: String,
    pub policy_digest: String,
    pub payload_digest: String,
    pub say_token_id: String,
    pub attributes: Option<Value>,
}

const EVENT_KEYS: [&str; 13] = [
    "schema_id",
    "schema_version",
    "created_at",
    "call_id",
    "call_seq",
    "turn_index",
    "event_type",
    "commitment_class",
    "intent_digest",
    "policy_digest",
    "payload_digest",
    "say_token_id",
    "attributes",
];

fn check_call_id(actual: &str, expected: &str, what: &str) -> R<()> {
    if actual != expected {
        return err(
            "foreign_call_id",
            format!("{what} call_id mismatch: expected={expected} actual={actual}"),
        );
    }
    Ok(())
}

fn check_seq_turn(call_seq: i64, turn_index: i64, what: &str) -> R<()> {
    if call_seq < 1 {
        return err("call_seq_invalid", format!("{what} call_seq must be >= 1"));
    }
    if turn_index < 0 {
        return err(
            "turn_index_negative",
            format!("{what} turn_index must be >= 0"),
        );
    }
    Ok(())
}

impl CallEvent {
    fn decode(v: &GoValue) -> R<Self> {
        let o = Obj::new(v, &EVENT_KEYS, true, "call event")?;
        let attributes = match v.field("attributes") {
            None => None,
            Some(a @ GoValue::Object(_)) => Some(a.to_value()),
            Some(other) => {
                return err(
                    "invalid_json",
                    format!(
                        "json: cannot unmarshal {} into call event attributes",
                        other.kind()
                    ),
                )
            }
        };
        Ok(CallEvent {
            schema_id: o.s("schema_id")?,
            schema_version: o.s("schema_version")?,
            created_at: o.time("created_at")?,
            call_id: o.s("call_id")?,
            call_seq: o.i("call_seq")?,
            turn_index: o.i("turn_index")?,
            event_type: o.s("event_type")?,
            commitment_class: o.s("commitment_class")?,
            intent_digest: o.s("intent_digest")?,
            policy_digest: o.s("policy_digest")?,
            payload_digest: o.s("payload_digest")?,
            say_token_id: o.s("say_token_id")?,
            attributes,
        })
    }

    fn normalize(mut self, call_id: &str) -> R<Self> {
        self.schema_id = default_or(&self.schema_id, CALL_EVENT_SCHEMA, "call event schema_id")?;
        self.schema_version = default_or(
            &self.schema_version,
            SCHEMA_VERSION,
            "call event schema_version",
        )?;
        if self.created_at.is_none() {
            return err("created_at_required", "call event created_at is required");
        }
        self.call_id = self.call_id.trim().to_string();
        check_call_id(&self.call_id, call_id, "call event")?;
        check_seq_turn(self.call_seq, self.turn_index, "call event")?;
        self.event_type = self.event_type.trim().to_string();
        if self.event_type.is_empty() {
            return err("event_type_required", "call event event_type is required");
        }
        if !self.commitment_class.trim().is_empty() {
            self.commitment_class = normalize_class(&self.commitment_class)?;
        } else {
            self.commitment_class.clear();
        }
        self.intent_digest = digest_field(
            &self.intent_digest,
            "call event intent_digest",
            "digest_invalid",
        )?;
        self.policy_digest = digest_field(
            &self.policy_digest,
            "call event policy_digest",
            "digest_invalid",
        )?;
        self.payload_digest = digest_field(
            &self.payload_digest,
            "call event payload_digest",
            "digest_invalid",
        )?;
        self.say_token_id = self.say_token_id.trim().to_string();
        Ok(self)
    }

    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("schema_id".into(), json!(self.schema_id));
        m.insert("schema_version".into(), json!(self.schema_version));
        if let Some(t) = self.created_at {
            m.insert("created_at".into(), json!(t.to_rfc3339_nano()));
        }
        m.insert("call_id".into(), json!(self.call_id));
        m.insert("call_seq".into(), json!(self.call_seq));
        m.insert("turn_index".into(), json!(self.turn_index));
        m.insert("event_type".into(), json!(self.event_type));
        put_s(&mut m, "commitment_class", &self.commitment_class);
        put_s(&mut m, "intent_digest", &self.intent_digest);
        put_s(&mut m, "policy_digest", &self.policy_digest);
        put_s(&mut m, "payload_digest", &self.payload_digest);
        put_s(&mut m, "say_token_id", &self.say_token_id);
        if let Some(a) = &self.attributes {
            if a.as_object().is_some_and(|o| !o.is_empty()) {
                m.insert("attributes".into(), a.clone());
            }
        }
        Value::Object(m)
    }
}

/// One gate decision taken during the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateDecision {
    pub call_id: String,
    pub call_seq: i64,
    pub turn_index: i64,
    pub commitment_class: String,
    pub verdict: String,
    pub reason_codes: Vec<String>,
    pub intent_digest: String,
    pub policy_digest: String,
    pub approval_ref: String,
}

const DECISION_KEYS: [&str; 9] = [
    "call_id",
    "call_seq",
    "turn_index",
    "commitment_class",
    "verdict",
    "reason_codes",
    "intent_digest",
    "policy_digest",
    "approval_ref",
];

impl GateDecision {
    fn decode(v: &GoValue) -> R<Self> {
        let o = Obj::new(v, &DECISION_KEYS, true, "gate decision")?;
        Ok(GateDecision {
            call_id: o.s("call_id")?,
            call_seq: o.i("call_seq")?,
            turn_index: o.i("turn_index")?,
            commitment_class: o.s("commitment_class")?,
            verdict: o.s("verdict")?,
            reason_codes: o.list("reason_codes")?,
            intent_digest: o.s("intent_digest")?,
            policy_digest: o.s("policy_digest")?,
            approval_ref: o.s("approval_ref")?,
        })
    }

    fn normalize(mut self, call_id: &str) -> R<Self> {
        self.call_id = self.call_id.trim().to_string();
        check_call_id(&self.call_id, call_id, "gate decision")?;
        check_seq_turn(self.call_seq, self.turn_index, "gate decision")?;
        if self.commitment_class.trim().is_empty() {
            return err(
                "commitment_class_required",
                "gate decision commitment_class is required",
            );
        }
        self.commitment_class = normalize_class(&self.commitment_class)?;
        self.verdict = self.verdict.trim().to_lowercase();
        if !VERDICTS.contains(&self.verdict.as_str()) {
            return err(
                "verdict_invalid",
                format!("unsupported gate decision verdict: {}", self.verdict),
            );
        }
        self.reason_codes = sorted_unique(self.reason_codes.iter().map(|s| s.trim().to_string()));
        self.intent_digest = digest_field(
            &self.intent_digest,
            "gate decision intent_digest",
            "digest_invalid",
        )?;
        self.policy_digest = digest_field(
            &self.policy_digest,
            "gate decision policy_digest",
            "digest_invalid",
        )?;
        self.approval_ref = self.approval_ref.trim().to_string();
        Ok(self)
    }

    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("call_id".into(), json!(self.call_id));
        m.insert("call_seq".into(), json!(self.call_seq));
        m.insert("turn_index".into(), json!(self.turn_index));
        m.insert("commitment_class".into(), json!(self.commitment_class));
        m.insert("verdict".into(), json!(self.verdict));
        put_l(&mut m, "reason_codes", &self.reason_codes);
        put_s(&mut m, "intent_digest", &self.intent_digest);
        put_s(&mut m, "policy_digest", &self.policy_digest);
        put_s(&mut m, "approval_ref", &self.approval_ref);
        Value::Object(m)
    }
}

/// Proof that the adapter spoke a gated commitment with a SayToken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakReceipt {
    pub call_id: String,
    pub call_seq: i64,
    pub turn_index: i64,
    pub commitment_class: String,
    pub say_token_id: String,
    pub spoken_digest: String,
    pub emitted_at: Option<GoTime>,
}

const RECEIPT_KEYS: [&str; 7] = [
    "call_id",
    "call_seq",
    "turn_index",
    "commitment_class",
    "say_token_id",
    "spoken_digest",
    "emitted_at",
];

impl SpeakReceipt {
    fn decode(v: &GoValue) -> R<Self> {
        let o = Obj::new(v, &RECEIPT_KEYS, true, "speak receipt")?;
        Ok(SpeakReceipt {
            call_id: o.s("call_id")?,
            call_seq: o.i("call_seq")?,
            turn_index: o.i("turn_index")?,
            commitment_class: o.s("commitment_class")?,
            say_token_id: o.s("say_token_id")?,
            spoken_digest: o.s("spoken_digest")?,
            emitted_at: o.time("emitted_at")?,
        })
    }

    fn normalize(mut self, call_id: &str) -> R<Self> {
        self.call_id = self.call_id.trim().to_string();
        check_call_id(&self.call_id, call_id, "speak receipt")?;
        check_seq_turn(self.call_seq, self.turn_index, "speak receipt")?;
        if self.commitment_class.trim().is_empty() {
            return err(
                "commitment_class_required",
                "speak receipt commitment_class is required",
            );
        }
        self.commitment_class = normalize_class(&self.commitment_class)?;
        self.say_token_id = self.say_token_id.trim().to_string();
        if self.say_token_id.is_empty() {
            return err(
                "speak_receipt_missing_token",
                format!(
                    "speak receipt say_token_id is required for call_seq={} turn_index={}",
                    self.call_seq, self.turn_index
                ),
            );
        }
        self.spoken_digest = self.spoken_digest.trim().to_lowercase();
        if !is_hex64(&self.spoken_digest) {
            return err(
                "digest_invalid",
                "speak receipt spoken_digest must be sha256 hex",
            );
        }
        if self.emitted_at.is_none() {
            return err(
                "emitted_at_required",
                "speak receipt emitted_at is required",
            );
        }
        Ok(self)
    }

    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("call_id".into(), json!(self.call_id));
        m.insert("call_seq".into(), json!(self.call_seq));
        m.insert("turn_index".into(), json!(self.turn_index));
        m.insert("commitment_class".into(), json!(self.commitment_class));
        m.insert("say_token_id".into(), json!(self.say_token_id));
        m.insert("spoken_digest".into(), json!(self.spoken_digest));
        if let Some(t) = self.emitted_at {
            m.insert("emitted_at".into(), json!(t.to_rfc3339_nano()));
        }
        Value::Object(m)
    }
}

/// `{ref_id, sha256}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReferenceDigest {
    pub ref_id: String,
    pub sha256: String,
}

fn decode_refs(items: &[GoValue]) -> R<Vec<ReferenceDigest>> {
    let mut out = Vec::new();
    for it in items {
        let o = Obj::new(it, &["ref_id", "sha256"], true, "reference digest")?;
        let r = ReferenceDigest {
            ref_id: o.s("ref_id")?.trim().to_string(),
            sha256: o.s("sha256")?.trim().to_lowercase(),
        };
        if !r.ref_id.is_empty() && is_hex64(&r.sha256) {
            out.push(r);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn refs_value(refs: &[ReferenceDigest]) -> Value {
    if refs.is_empty() {
        return Value::Null;
    }
    Value::Array(
        refs.iter()
            .map(|r| json!({"ref_id": r.ref_id, "sha256": r.sha256}))
            .collect(),
    )
}

// ------------------------------------------------------------------ rules shared by build and verify

fn check_coverage(events: &[CallEvent]) -> R<()> {
    if events.is_empty() {
        return err("events_required", "call record events are required");
    }
    for w in events.windows(2) {
        if w[1].call_seq < w[0].call_seq {
            return err(
                "events_out_of_order",
                "call events must be sorted by call_seq",
            );
        }
    }
    for t in REQUIRED_EVENT_TYPES {
        if !events.iter().any(|e| e.event_type == t) {
            return err(
                "event_type_missing",
                format!("call events missing required type: {t}"),
            );
        }
    }
    Ok(())
}

fn check_gated_speech(events: &[CallEvent], receipts: &[SpeakReceipt]) -> R<()> {
    for e in events
        .iter()
        .filter(|e| e.event_type == "tts.emitted" && !e.commitment_class.is_empty())
    {
        if e.say_token_id.is_empty() {
            return err(
                "speak_without_token",
                format!(
                    "gated tts.emitted event missing say_token_id for call_seq={} turn_index={}",
                    e.call_seq, e.turn_index
                ),
            );
        }
        let Some(r) = receipts.iter().find(|r| {
            r.call_seq == e.call_seq
                && r.turn_index == e.turn_index
                && r.commitment_class == e.commitment_class
        }) else {
            return err(
                "speak_receipt_missing",
                format!(
                    "gated tts.emitted event missing speak receipt for call_seq={} turn_index={} class={}",
                    e.call_seq, e.turn_index, e.commitment_class
                ),
            );
        };
        if r.say_token_id != e.say_token_id {
            return err(
                "say_token_id_mismatch",
                format!(
                    "gated tts.emitted event say_token_id mismatch for call_seq={} turn_index={} class={}",
                    e.call_seq, e.turn_index, e.commitment_class
                ),
            );
        }
    }
    Ok(())
}

fn check_prior_allow(decisions: &[GateDecision], receipts: &[SpeakReceipt]) -> R<()> {
    for r in receipts {
        let mut best: Option<&GateDecision> = None;
        for d in decisions.iter().filter(|d| {
            d.commitment_class == r.commitment_class
                && d.turn_index == r.turn_index
                && d.call_seq <= r.call_seq
        }) {
            if best.is_none_or(|b| d.call_seq > b.call_seq) {
                best = Some(d);
            }
        }
        let where_ = format!(
            "turn_index={} call_seq={} class={}",
            r.turn_index, r.call_seq, r.commitment_class
        );
        match best {
            None => {
                return err(
                    "speak_without_prior_allow",
                    format!("speak receipt missing prior gate decision for {where_}"),
                )
            }
            Some(d) if d.verdict != "allow" => {
                return err(
                    "speak_without_prior_allow",
                    format!(
                    "speak receipt latest prior gate verdict is {} (expected allow) for {where_}",
                    d.verdict
                ),
                )
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn sort_key_class(seq: i64, class: &str) -> (i64, String) {
    (seq, class.to_string())
}

// ------------------------------------------------------------------ call record (B7)

/// A call record, normalised and checked by every build rule (B7 steps 1–7).
#[derive(Debug, Clone)]
pub struct CallRecord {
    pub created_at: GoTime,
    pub producer_version: String,
    pub call_id: String,
    pub runpack_path: String,
    pub privacy_mode: String,
    pub environment_fingerprint: String,
    pub events: Vec<CallEvent>,
    pub commitments: Vec<CommitmentIntent>,
    pub gate_decisions: Vec<GateDecision>,
    pub speak_receipts: Vec<SpeakReceipt>,
    pub reference_digests: Vec<ReferenceDigest>,
}

const RECORD_KEYS: [&str; 13] = [
    "schema_id",
    "schema_version",
    "created_at",
    "producer_version",
    "call_id",
    "runpack_path",
    "privacy_mode",
    "environment_fingerprint",
    "events",
    "commitments",
    "gate_decisions",
    "speak_receipts",
    "reference_digests",
];

fn array<'a>(v: &'a GoValue, k: &str, what: &str) -> R<&'a [GoValue]> {
    v.array_field(k, what)
        .map_err(|e| CallError::new("invalid_json", e.to_string()))
}

/// Privacy mode: lower-cased, default `hash_only`.
pub fn normalize_privacy(p: &str) -> R<String> {
    let p = p.trim().to_lowercase();
    if p.is_empty() {
        return Ok("hash_only".into());
    }
    if !PRIVACY_MODES.contains(&p.as_str()) {
        return err(
            "privacy_mode_invalid",
            format!("unsupported privacy_mode: {p} (expected hash_only or dispute_encrypted)"),
        );
    }
    Ok(p)
}

impl CallRecord {
    /// Parses and checks a call record (B7 steps 1–7). Beyond the reference, a turn index that
    /// goes backwards as `call_seq` grows is rejected (`turns_out_of_order`).
    pub fn parse(text: &str) -> R<CallRecord> {
        let v = parse_json(text).map_err(|e| e.prefixed("parse call record"))?;
        let o = Obj::new(&v, &RECORD_KEYS, true, "call record")
            .map_err(|e| e.prefixed("parse call record"))?;
        let header = (|| -> R<CallRecord> {
            default_or(&o.s("schema_id")?, CALL_RECORD_SCHEMA, "schema_id")?;
            default_or(&o.s("schema_version")?, SCHEMA_VERSION, "schema_version")?;
            let Some(created_at) = o.time("created_at")? else {
                return err("created_at_required", "call record created_at is required");
            };
            let mut producer_version = o.s("producer_version")?.trim().to_string();
            if producer_version.is_empty() {
                producer_version = DEFAULT_PRODUCER_VERSION.into();
            }
            let call_id = o.s("call_id")?.trim().to_string();
            if call_id.is_empty() {
                return err("call_id_required", "call record call_id is required");
            }
            let runpack_path = o.s("runpack_path")?.trim().to_string();
            if runpack_path.is_empty() {
                return err(
                    "runpack_path_required",
                    "call record runpack_path is required",
                );
            }
            Ok(CallRecord {
                created_at,
                producer_version,
                call_id,
                runpack_path,
                privacy_mode: normalize_privacy(&o.s("privacy_mode")?)?,
                environment_fingerprint: o.s("environment_fingerprint")?.trim().to_string(),
                events: Vec::new(),
                commitments: Vec::new(),
                gate_decisions: Vec::new(),
                speak_receipts: Vec::new(),
                reference_digests: Vec::new(),
            })
        })();
        let mut rec = header?;
        let id = rec.call_id.clone();
        // 2. events
        let mut events = Vec::new();
        for e in array(&v, "events", "call record")? {
            events.push(CallEvent::decode(e)?.normalize(&id)?);
        }
        events.sort_by(|a, b| (a.call_seq, &a.event_type).cmp(&(b.call_seq, &b.event_type)));
        check_coverage(&events)?;
        // This project's stricter build rule: turns never go backwards as the call advances.
        for w in events.windows(2) {
            if w[1].turn_index < w[0].turn_index {
                return err(
                    "turns_out_of_order",
                    format!(
                        "call events turns out of order: turn_index={} at call_seq={} follows turn_index={} at call_seq={}",
                        w[1].turn_index, w[1].call_seq, w[0].turn_index, w[0].call_seq
                    ),
                );
            }
        }
        // 3. commitments
        let mut commitments = Vec::new();
        for c in array(&v, "commitments", "call record")? {
            let c = CommitmentIntent::from_go(c, true)
                .and_then(|c| c.normalize())
                .map_err(|e| e.prefixed("normalize commitment"))?;
            check_call_id(&c.call_id, &id, "commitment")?;
            commitments.push(c);
        }
        commitments.sort_by_key(|c| sort_key_class(c.call_seq, &c.commitment_class));
        // 4. decisions and receipts
        let mut decisions = Vec::new();
        for d in array(&v, "gate_decisions", "call record")? {
            decisions.push(GateDecision::decode(d)?.normalize(&id)?);
        }
        decisions.sort_by_key(|d| sort_key_class(d.call_seq, &d.commitment_class));
        let mut receipts = Vec::new();
        for r in array(&v, "speak_receipts", "call record")? {
            receipts.push(SpeakReceipt::decode(r)?.normalize(&id)?);
        }
        receipts.sort_by_key(|r| sort_key_class(r.call_seq, &r.commitment_class));
        // 5. gated speech, 6. prior allow
        check_gated_speech(&events, &receipts)?;
        check_prior_allow(&decisions, &receipts)?;
        // 7. reference digests
        rec.reference_digests = decode_refs(array(&v, "reference_digests", "call record")?)?;
        rec.events = events;
        rec.commitments = commitments;
        rec.gate_decisions = decisions;
        rec.speak_receipts = receipts;
        Ok(rec)
    }

    fn counts(&self) -> [(&'static str, usize); 5] {
        [
            ("event_count", self.events.len()),
            ("commitment_count", self.commitments.len()),
            ("decision_count", self.gate_decisions.len()),
            ("speak_receipt_count", self.speak_receipts.len()),
            ("reference_digest_count", self.reference_digests.len()),
        ]
    }

    /// `call_payload.json`.
    pub fn payload(&self, run_id: &str) -> Value {
        let mut m = Map::new();
        m.insert("schema_id".into(), json!(CALL_PAYLOAD_SCHEMA));
        m.insert("schema_version".into(), json!(SCHEMA_VERSION));
        m.insert(
            "created_at".into(),
            json!(self.created_at.to_rfc3339_nano()),
        );
        m.insert("call_id".into(), json!(self.call_id));
        put_s(&mut m, "run_id", run_id);
        m.insert("privacy_mode".into(), json!(self.privacy_mode));
        for (k, n) in self.counts() {
            m.insert(k.into(), json!(n));
        }
        put_s(
            &mut m,
            "environment_fingerprint",
            &self.environment_fingerprint,
        );
        Value::Object(m)
    }

    /// `callpack_manifest.json`.
    pub fn callpack_manifest(&self) -> Value {
        let mut m = Map::new();
        m.insert("schema_id".into(), json!(CALLPACK_MANIFEST_SCHEMA));
        m.insert("schema_version".into(), json!(SCHEMA_VERSION));
        m.insert(
            "created_at".into(),
            json!(self.created_at.to_rfc3339_nano()),
        );
        m.insert("producer_version".into(), json!(self.producer_version));
        m.insert("call_id".into(), json!(self.call_id));
        m.insert("privacy_mode".into(), json!(self.privacy_mode));
        for (k, n) in self.counts() {
            m.insert(k.into(), json!(n));
        }
        put_s(
            &mut m,
            "environment_fingerprint",
            &self.environment_fingerprint,
        );
        Value::Object(m)
    }

    /// Every payload entry of the callpack (B8).
    pub fn payload_entries(
        &self,
        run_id: &str,
        runpack_bytes: Vec<u8>,
    ) -> BTreeMap<String, Vec<u8>> {
        fn jsonl(items: impl Iterator<Item = Value>) -> Vec<u8> {
            let mut out = Vec::new();
            for v in items {
                out.extend(jcs::canonical_bytes(&v).expect("finite"));
                out.push(b'\n');
            }
            out
        }
        let mut m = BTreeMap::new();
        let canon = |v: &Value| jcs::canonical_bytes(v).expect("finite");
        m.insert(CALL_PAYLOAD.into(), canon(&self.payload(run_id)));
        m.insert(CALLPACK_MANIFEST.into(), canon(&self.callpack_manifest()));
        m.insert(
            CALL_EVENTS.into(),
            jsonl(self.events.iter().map(CallEvent::to_value)),
        );
        m.insert(
            COMMITMENTS.into(),
            jsonl(self.commitments.iter().map(CommitmentIntent::to_value)),
        );
        m.insert(
            GATE_DECISIONS.into(),
            jsonl(self.gate_decisions.iter().map(GateDecision::to_value)),
        );
        m.insert(
            SPEAK_RECEIPTS.into(),
            jsonl(self.speak_receipts.iter().map(SpeakReceipt::to_value)),
        );
        m.insert(
            REFERENCE_DIGESTS.into(),
            canon(&refs_value(&self.reference_digests)),
        );
        m.insert(SOURCE_RUNPACK.into(), runpack_bytes);
        m
    }
}

/// B7 step 8: the embedded runpack must be intact (its signature is not required). Returns its
/// run id.
pub fn check_runpack(src: &mut dyn EntrySource) -> R<String> {
    let rep = runpack::verify(src, None, false)
        .map_err(|e| CallError::new("runpack_invalid", format!("verify source runpack: {e}")))?;
    if !rep.missing_files.is_empty() || !rep.hash_mismatches.is_empty() {
        return err("runpack_invalid", "source runpack failed integrity checks");
    }
    Ok(rep.run_id)
}

/// Builds the callpack's entries and signed manifest (`pack_type` `call`, `source_ref` the
/// call id).
pub fn build_pack(
    rec: &CallRecord,
    run_id: &str,
    runpack_bytes: Vec<u8>,
    producer_version: &str,
    key: Option<&KeyPair>,
) -> R<BuiltPack> {
    spec::build(
        "call",
        &rec.call_id,
        producer_version,
        rec.payload_entries(run_id, runpack_bytes),
        key,
    )
    .map_err(|e| CallError::new("build_failed", e.to_string()))
}

// ------------------------------------------------------------------ verification (B9)

const PAYLOAD_KEYS: [&str; 12] = [
    "schema_id",
    "schema_version",
    "created_at",
    "call_id",
    "run_id",
    "privacy_mode",
    "event_count",
    "commitment_count",
    "decision_count",
    "speak_receipt_count",
    "reference_digest_count",
    "environment_fingerprint",
];

struct Header {
    created_at: GoTime,
    call_id: String,
    privacy_mode: String,
    environment_fingerprint: String,
    counts: [i64; 5],
}

const COUNT_KEYS: [&str; 5] = [
    "event_count",
    "commitment_count",
    "decision_count",
    "speak_receipt_count",
    "reference_digest_count",
];

fn read_header(bytes: &[u8], what: &str, schema: &str, manifest: bool) -> R<Header> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| CallError::new("invalid_json", format!("{what}: not valid UTF-8")))?;
    let v = parse_json(text).map_err(|e| e.prefixed(&format!("parse {what}")))?;
    let mut keys: Vec<&str> = PAYLOAD_KEYS.to_vec();
    if manifest {
        keys.retain(|k| *k != "run_id");
        keys.push("producer_version");
    }
    let o = Obj::new(&v, &keys, true, "callpack header")
        .map_err(|e| e.prefixed(&format!("parse {what}")))?;
    if o.s("schema_id")? != schema || o.s("schema_version")? != SCHEMA_VERSION {
        return err("schema_unsupported", format!("{what} schema mismatch"));
    }
    let Some(created_at) = o.time("created_at")? else {
        return err(
            "created_at_required",
            format!("{what} created_at is required"),
        );
    };
    if manifest && o.s("producer_version")?.trim().is_empty() {
        return err(
            "producer_version_required",
            format!("{what} producer_version is required"),
        );
    }
    let call_id = o.s("call_id")?;
    if call_id.trim().is_empty() {
        return err("call_id_required", format!("{what} call_id is required"));
    }
    let privacy = o.s("privacy_mode")?;
    if !PRIVACY_MODES.contains(&privacy.trim().to_lowercase().as_str()) {
        return err(
            "privacy_mode_invalid",
            format!("{what} privacy_mode is invalid"),
        );
    }
    let mut counts = [0i64; 5];
    for (i, k) in COUNT_KEYS.iter().enumerate() {
        counts[i] = o.i(k)?;
        if counts[i] < 0 {
            return err("count_invalid", format!("{what} {k} must be >= 0"));
        }
    }
    Ok(Header {
        created_at,
        call_id,
        privacy_mode: privacy.trim().to_lowercase(),
        environment_fingerprint: o.s("environment_fingerprint")?.trim().to_string(),
        counts,
    })
}

fn lines(bytes: &[u8], name: &str) -> R<Vec<GoValue>> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| CallError::new("invalid_json", format!("{name}: not valid UTF-8")))?;
    let mut out = Vec::new();
    for (i, l) in text.split('\n').enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        out.push(parse_json(l).map_err(|e| e.prefixed(&format!("parse {name} line {}", i + 1)))?);
    }
    Ok(out)
}

/// The callpack payload contract (B9), run by `pack verify` once the file set is intact.
/// Failures are verification failures (exit 2).
pub fn check_contract(
    manifest: &PackManifest,
    src: &mut dyn EntrySource,
) -> Result<(), RunpackError> {
    check(manifest, src).map_err(|e| RunpackError::Verification(e.message))
}

fn read(src: &mut dyn EntrySource, name: &str) -> R<Vec<u8>> {
    src.read_entry(name, MAX_RECORD_BYTES)
        .map_err(|e| CallError::new("entry_unreadable", format!("read {name}: {e}")))
}

/// Like [`check_contract`], keeping the reason code.
pub fn check(manifest: &PackManifest, src: &mut dyn EntrySource) -> R<()> {
    let names = src.entry_names();
    for n in ENTRIES {
        if !names.iter().any(|x| x == n) {
            return err("entry_missing", format!("missing {n}"));
        }
    }
    let payload = read_header(
        &read(src, CALL_PAYLOAD)?,
        "call payload",
        CALL_PAYLOAD_SCHEMA,
        false,
    )?;
    if payload.call_id != manifest.source_ref {
        return err(
            "foreign_call_id",
            "call payload call_id must match source_ref",
        );
    }
    let cm = read_header(
        &read(src, CALLPACK_MANIFEST)?,
        "callpack manifest",
        CALLPACK_MANIFEST_SCHEMA,
        true,
    )?;
    if cm.call_id != payload.call_id {
        return err(
            "foreign_call_id",
            "callpack manifest call_id does not match call payload",
        );
    }
    let id = payload.call_id.clone();
    let mut events = Vec::new();
    for v in lines(&read(src, CALL_EVENTS)?, CALL_EVENTS)? {
        events.push(CallEvent::decode(&v)?.normalize(&id)?);
    }
    check_coverage(&events)?;
    let mut commitments = Vec::new();
    for v in lines(&read(src, COMMITMENTS)?, COMMITMENTS)? {
        commitments.push(
            CommitmentIntent::from_go(&v, true)
                .and_then(|c| c.normalize())
                .map_err(|e| e.prefixed("normalize commitment"))?,
        );
    }
    let mut decisions = Vec::new();
    for v in lines(&read(src, GATE_DECISIONS)?, GATE_DECISIONS)? {
        decisions.push(GateDecision::decode(&v)?.normalize(&id)?);
    }
    let mut receipts = Vec::new();
    for v in lines(&read(src, SPEAK_RECEIPTS)?, SPEAK_RECEIPTS)? {
        receipts.push(SpeakReceipt::decode(&v)?.normalize(&id)?);
    }
    check_gated_speech(&events, &receipts)?;
    let refs_bytes = read(src, REFERENCE_DIGESTS)?;
    let refs_text = std::str::from_utf8(&refs_bytes)
        .map_err(|_| CallError::new("invalid_json", "reference_digests.json: not valid UTF-8"))?;
    let refs =
        match parse_json(refs_text).map_err(|e| e.prefixed("parse reference_digests.json"))? {
            GoValue::Null => Vec::new(),
            GoValue::Array(items) => decode_refs(&items)?,
            other => {
                return err(
                    "invalid_json",
                    format!(
                        "parse reference_digests.json: json: cannot unmarshal {} into array",
                        other.kind()
                    ),
                )
            }
        };
    for c in &commitments {
        check_call_id(&c.call_id, &id, "commitment")?;
    }
    check_prior_allow(&decisions, &receipts)?;
    let actual = [
        events.len(),
        commitments.len(),
        decisions.len(),
        receipts.len(),
        refs.len(),
    ];
    let files = [
        CALL_EVENTS,
        COMMITMENTS,
        GATE_DECISIONS,
        SPEAK_RECEIPTS,
        REFERENCE_DIGESTS,
    ];
    for i in 0..5 {
        if payload.counts[i] != actual[i] as i64 {
            return err(
                "count_mismatch",
                format!(
                    "call payload {} does not match {}",
                    COUNT_KEYS[i],
                    files[i]
                        .trim_end_matches(".jsonl")
                        .trim_end_matches(".json")
                ),
            );
        }
    }
    if cm.counts != payload.counts {
        return err(
            "count_mismatch",
            "callpack manifest counts do not match call payload",
        );
    }
    if cm.privacy_mode != payload.privacy_mode {
        return err(
            "privacy_mode_mismatch",
            "callpack manifest privacy_mode does not match call payload",
        );
    }
    if cm.environment_fingerprint != payload.environment_fingerprint {
        return err(
            "environment_mismatch",
            "callpack manifest environment_fingerprint does not match call payload",
        );
    }
    if cm.created_at.timestamp() != payload.created_at.timestamp() {
        return err(
            "created_at_mismatch",
            "callpack manifest created_at does not match call payload",
        );
    }
    Ok(())
}

/// `call_payload.json` when it decodes strictly (for `pack inspect`).
pub fn read_payload(src: &mut dyn EntrySource) -> Option<Value> {
    let bytes = src.read_entry(CALL_PAYLOAD, MAX_RECORD_BYTES).ok()?;
    read_header(&bytes, "call payload", CALL_PAYLOAD_SCHEMA, false).ok()?;
    serde_json::from_slice(&bytes).ok()
}
