//! ContextSpec v1 evidence envelopes (`gait.context.envelope`): the strict parse, the
//! normalization and the `context_set_digest` every consumer must agree on. `run record`
//! folds an envelope into a runpack's refs; `gate eval` binds one to an intent. This module
//! only reads and normalizes; it never decides what a missing envelope means.

use crate::gojson::GoValue;
use crate::jcs;
use crate::time::GoTime;
use serde_json::{json, Map, Value};

pub const ENVELOPE_SCHEMA: &str = "gait.context.envelope";
pub const ENVELOPE_VERSION: &str = "1.0.0";
/// Largest envelope file accepted.
pub const MAX_ENVELOPE_BYTES: u64 = 1024 * 1024;
const EPOCH_1980: &str = "1980-01-01T00:00:00Z";
const DEFAULT_PRODUCER: &str = "0.0.0-dev";

const ENVELOPE_KEYS: &[&str] = &[
    "schema_id",
    "schema_version",
    "created_at",
    "producer_version",
    "context_set_id",
    "context_set_digest",
    "evidence_mode",
    "records",
];
const RECORD_KEYS: &[&str] = &[
    "ref_id",
    "source_type",
    "source_locator",
    "query_digest",
    "content_digest",
    "retrieved_at",
    "redaction_mode",
    "immutability",
    "sensitivity_label",
    "freshness_sla_seconds",
    "retrieval_params",
];

/// Why an envelope was refused; the text is the user-facing message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ContextError(pub String);

type R<T> = Result<T, ContextError>;

fn err<T>(m: impl Into<String>) -> R<T> {
    Err(ContextError(m.into()))
}

/// A normalized envelope. `records` are Go-shaped, sorted, and what the digest covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub created_at: GoTime,
    pub producer_version: String,
    pub context_set_id: String,
    pub context_set_digest: String,
    pub evidence_mode: String,
    pub records: Vec<Value>,
}

fn strict(v: &GoValue, allowed: &[&str]) -> R<()> {
    let GoValue::Object(members) = v else {
        return err(format!(
            "parse context envelope: json: cannot unmarshal {} into an object",
            v.kind()
        ));
    };
    for (k, _) in members {
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(k)) {
            return err(format!(
                "parse context envelope: json: unknown field \"{k}\""
            ));
        }
    }
    Ok(())
}

fn text(v: &GoValue, name: &str) -> R<String> {
    match v.field(name) {
        None | Some(GoValue::Null) => Ok(String::new()),
        Some(GoValue::String(s)) => Ok(s.trim().to_string()),
        Some(o) => err(format!(
            "parse context envelope: json: cannot unmarshal {} into field {name} of type string",
            o.kind()
        )),
    }
}

fn time(v: &GoValue, name: &str) -> R<GoTime> {
    let raw = text(v, name)?;
    if raw.is_empty() {
        return Ok(GoTime::parse_rfc3339(EPOCH_1980).expect("constant"));
    }
    let t = GoTime::parse_rfc3339(&raw)
        .map_err(|e| ContextError(format!("parse context envelope: {name}: {e}")))?;
    Ok(if t.is_zero() {
        GoTime::parse_rfc3339(EPOCH_1980).expect("constant")
    } else {
        t.utc()
    })
}

fn record(v: &GoValue) -> R<(Value, [String; 4])> {
    strict(v, RECORD_KEYS)?;
    let mut m = Map::new();
    let mut key: [String; 4] = Default::default();
    for (i, f) in ["ref_id", "source_type", "source_locator"]
        .iter()
        .enumerate()
    {
        let s = text(v, f)?;
        if s.is_empty() {
            return err(format!("context record {f} is required"));
        }
        key[i] = s.clone();
        m.insert(f.to_string(), json!(s));
    }
    for f in ["query_digest", "content_digest"] {
        let d = text(v, f)?.to_lowercase();
        if !jcs::is_sha256_hex(&d) {
            return err(format!("context record {f} must be sha256 hex"));
        }
        if f == "content_digest" {
            key[3] = d.clone();
        }
        m.insert(f.to_string(), json!(d));
    }
    m.insert(
        "retrieved_at".into(),
        json!(time(v, "retrieved_at")?.to_rfc3339_nano()),
    );
    let redaction = text(v, "redaction_mode")?;
    if redaction.is_empty() {
        return err("context record redaction_mode is required");
    }
    m.insert("redaction_mode".into(), json!(redaction));
    let mut immutability = text(v, "immutability")?.to_lowercase();
    if immutability.is_empty() {
        immutability = "unknown".into();
    }
    if !["unknown", "mutable", "immutable"].contains(&immutability.as_str()) {
        return err(format!(
            "context record immutability must be unknown, mutable or immutable (got {immutability})"
        ));
    }
    m.insert("immutability".into(), json!(immutability));
    let label = text(v, "sensitivity_label")?;
    if !label.is_empty() {
        m.insert("sensitivity_label".into(), json!(label));
    }
    match v.field("freshness_sla_seconds") {
        None | Some(GoValue::Null) => {}
        Some(GoValue::Number { int: Some(n), .. }) => {
            if *n < 0 {
                return err("context record freshness_sla_seconds must be >= 0");
            }
            if *n != 0 {
                m.insert("freshness_sla_seconds".into(), json!(n));
            }
        }
        Some(o) => {
            return err(format!(
                "parse context envelope: json: cannot unmarshal {} into field freshness_sla_seconds of type int64",
                o.kind()
            ))
        }
    }
    match v.field("retrieval_params") {
        None | Some(GoValue::Null) => {}
        Some(o @ GoValue::Object(members)) => {
            if !members.is_empty() {
                m.insert("retrieval_params".into(), o.to_value());
            }
        }
        Some(o) => {
            return err(format!(
                "parse context envelope: json: cannot unmarshal {} into field retrieval_params of type object",
                o.kind()
            ))
        }
    }
    Ok((Value::Object(m), key))
}

/// `context_set_digest` over already normalized, sorted records.
pub fn records_digest(records: &[Value]) -> String {
    jcs::digest_hex(&Value::Array(records.to_vec())).expect("finite JSON")
}

impl Envelope {
    /// Strict parse plus normalization; a supplied digest must match the computed one.
    pub fn parse(text_in: &str) -> R<Envelope> {
        let v = GoValue::parse(text_in)
            .map_err(|e| ContextError(format!("parse context envelope: {e}")))?;
        strict(&v, ENVELOPE_KEYS)?;
        let schema_id = text(&v, "schema_id")?;
        if !schema_id.is_empty() && schema_id != ENVELOPE_SCHEMA {
            return err(format!(
                "unsupported context envelope schema_id: {schema_id}"
            ));
        }
        let version = text(&v, "schema_version")?;
        if !version.is_empty() && version != ENVELOPE_VERSION {
            return err(format!(
                "unsupported context envelope schema_version: {version}"
            ));
        }
        let mut producer_version = text(&v, "producer_version")?;
        if producer_version.is_empty() {
            producer_version = DEFAULT_PRODUCER.into();
        }
        let context_set_id = text(&v, "context_set_id")?;
        if context_set_id.is_empty() {
            return err("context envelope context_set_id is required");
        }
        let mut evidence_mode = text(&v, "evidence_mode")?.to_lowercase();
        if evidence_mode.is_empty() {
            evidence_mode = "best_effort".into();
        }
        if evidence_mode != "best_effort" && evidence_mode != "required" {
            return err(format!(
                "context envelope evidence_mode must be best_effort or required (got {evidence_mode})"
            ));
        }
        let mut keyed = Vec::new();
        match v.field("records") {
            None | Some(GoValue::Null) => {}
            Some(GoValue::Array(items)) => {
                for r in items {
                    keyed.push(record(r)?);
                }
            }
            Some(o) => {
                return err(format!(
                    "parse context envelope: json: cannot unmarshal {} into field records of type array",
                    o.kind()
                ))
            }
        }
        keyed.sort_by(|a, b| a.1.cmp(&b.1));
        let records: Vec<Value> = keyed.into_iter().map(|(r, _)| r).collect();
        let computed = records_digest(&records);
        let supplied = text(&v, "context_set_digest")?.to_lowercase();
        if !supplied.is_empty() && (!jcs::is_sha256_hex(&supplied) || supplied != computed) {
            return err("context_set_digest mismatch");
        }
        Ok(Envelope {
            created_at: time(&v, "created_at")?,
            producer_version,
            context_set_id,
            context_set_digest: computed,
            evidence_mode,
            records,
        })
    }

    pub fn to_value(&self) -> Value {
        json!({
            "schema_id": ENVELOPE_SCHEMA, "schema_version": ENVELOPE_VERSION,
            "created_at": self.created_at.to_rfc3339_nano(),
            "producer_version": self.producer_version,
            "context_set_id": self.context_set_id,
            "context_set_digest": self.context_set_digest,
            "evidence_mode": self.evidence_mode,
            "records": self.records,
        })
    }
}

/// The `--context-envelope` path rule: absolute, or relative without `..`.
pub fn check_envelope_path(path: &str) -> R<()> {
    let p = path.trim();
    let relative_escape = !p.starts_with('/') && p.replace('\\', "/").split('/').any(|s| s == "..");
    if p.is_empty() || relative_escape || p.contains("://") {
        return err("context envelope path must be a local filesystem path");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "1111111111111111111111111111111111111111111111111111111111111111";

    fn rec(id: &str) -> String {
        format!(
            r#"{{"ref_id":" {id} ","source_type":"http","source_locator":"https://x","query_digest":"{D1}","content_digest":"{}","retrieved_at":"2026-01-01T01:00:00+01:00","redaction_mode":"reference"}}"#,
            D1.to_uppercase()
        )
    }

    #[test]
    fn empty_envelope_has_the_reference_digest() {
        let e = Envelope::parse(r#"{"context_set_id":"c"}"#).unwrap();
        assert_eq!(
            e.context_set_digest,
            "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
        );
        assert_eq!(e.evidence_mode, "best_effort");
        assert_eq!(e.producer_version, "0.0.0-dev");
        assert_eq!(e.created_at.to_rfc3339_nano(), EPOCH_1980);
    }

    #[test]
    fn records_are_normalized_and_sorted() {
        let e = Envelope::parse(&format!(
            r#"{{"context_set_id":"c","records":[{},{}]}}"#,
            rec("b"),
            rec("a")
        ))
        .unwrap();
        assert_eq!(e.records[0]["ref_id"], "a");
        assert_eq!(e.records[0]["retrieved_at"], "2026-01-01T00:00:00Z");
        assert_eq!(e.records[0]["content_digest"], D1);
        assert_eq!(e.records[0]["immutability"], "unknown");
        // The digest is stable under input order and re-checked when supplied.
        let again = Envelope::parse(&format!(
            r#"{{"context_set_id":"c","context_set_digest":"{}","records":[{},{}]}}"#,
            e.context_set_digest.to_uppercase(),
            rec("a"),
            rec("b")
        ))
        .unwrap();
        assert_eq!(again.context_set_digest, e.context_set_digest);
        let wrong = Envelope::parse(&format!(
            r#"{{"context_set_id":"c","context_set_digest":"{D1}","records":[{}]}}"#,
            rec("a")
        ));
        assert_eq!(wrong.unwrap_err().0, "context_set_digest mismatch");
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        let e = Envelope::parse(r#"{"context_set_id":"c","extra":1}"#).unwrap_err();
        assert_eq!(e.0, "parse context envelope: json: unknown field \"extra\"");
        assert!(Envelope::parse(r#"{"records":[]}"#).is_err());
        assert!(Envelope::parse(r#"{"context_set_id":"c","evidence_mode":"maybe"}"#).is_err());
        let bad = rec("a").replace("\"http\"", "\"\"");
        assert!(
            Envelope::parse(&format!(r#"{{"context_set_id":"c","records":[{bad}]}}"#)).is_err()
        );
        let neg = rec("a").replace("}", r#","freshness_sla_seconds":-1}"#);
        assert!(
            Envelope::parse(&format!(r#"{{"context_set_id":"c","records":[{neg}]}}"#)).is_err()
        );
    }

    #[test]
    fn path_rule() {
        assert!(check_envelope_path("/abs/env.json").is_ok());
        assert!(check_envelope_path("rel/env.json").is_ok());
        assert!(check_envelope_path("../env.json").is_err());
        assert!(check_envelope_path("a/../../env.json").is_err());
        assert!(check_envelope_path("").is_err());
    }
}
