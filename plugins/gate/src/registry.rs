//! Approved-script registry (gate-extended §1.5–§1.9): the registry file, entry
//! normalization/signing/verification, and fast-path matching for `gate eval`.

use crate::intent::{is_hex64, Intent};
use crate::trace::PRODUCER_VERSION;
use gait_sdk::fsutil;
use gait_sdk::signing::{verify_value, KeyPair, PublicKey, Signature};
use gait_sdk::time::GoTime;
use serde_json::{json, Map, Value};
use std::path::Path;

pub const ENTRY_SCHEMA_ID: &str = "gait.gate.approved_script_entry";
pub const SCHEMA_VERSION: &str = "1.0.0";

/// Registry errors (messages are user-facing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    Read(String),
    #[error("{0}")]
    Verify(String),
}

/// One approved-script entry (normalized).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    pub created_at: GoTime,
    pub producer_version: String,
    pub pattern_id: String,
    pub policy_digest: String,
    pub script_hash: String,
    pub tool_sequence: Vec<String>,
    pub scope: Vec<String>,
    pub approver_identity: String,
    pub expires_at: GoTime,
    pub signature: Option<Signature>,
}

fn norm_list(items: &[String]) -> Vec<String> {
    let mut v: Vec<String> = items
        .iter()
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    v.sort();
    v.dedup();
    v
}

impl Entry {
    /// The signed projection (everything but `signature`).
    pub fn projection(&self) -> Value {
        let mut m = Map::new();
        m.insert("schema_id".into(), json!(ENTRY_SCHEMA_ID));
        m.insert("schema_version".into(), json!(SCHEMA_VERSION));
        m.insert(
            "created_at".into(),
            json!(self.created_at.utc().to_rfc3339_nano()),
        );
        m.insert("producer_version".into(), json!(self.producer_version));
        m.insert("pattern_id".into(), json!(self.pattern_id));
        m.insert("policy_digest".into(), json!(self.policy_digest));
        m.insert("script_hash".into(), json!(self.script_hash));
        m.insert("tool_sequence".into(), json!(self.tool_sequence));
        if !self.scope.is_empty() {
            m.insert("scope".into(), json!(self.scope));
        }
        m.insert("approver_identity".into(), json!(self.approver_identity));
        m.insert(
            "expires_at".into(),
            json!(self.expires_at.utc().to_rfc3339_nano()),
        );
        Value::Object(m)
    }

    pub fn to_value(&self) -> Value {
        let mut v = self.projection();
        if let (Some(sig), Value::Object(m)) = (&self.signature, &mut v) {
            m.insert("signature".into(), sig.to_value());
        }
        v
    }

    /// Parses and normalizes one entry (§1.6).
    pub fn from_value(v: &Value) -> Result<Entry, String> {
        let o = v.as_object().ok_or("entry must be an object")?;
        let s = |k: &str| -> Result<String, String> {
            match o.get(k) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(format!("{k} must be a string")),
            }
        };
        let list = |k: &str| -> Result<Vec<String>, String> {
            match o.get(k) {
                None | Some(Value::Null) => Ok(vec![]),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| format!("{k} must hold strings"))
                    })
                    .collect(),
                Some(_) => Err(format!("{k} must be an array")),
            }
        };
        let time = |k: &str| -> Result<GoTime, String> {
            let t = s(k)?;
            if t.trim().is_empty() {
                Ok(GoTime::zero())
            } else {
                GoTime::parse_rfc3339(t.trim())
                    .map(|t| t.utc())
                    .map_err(|e| format!("{k}: {e}"))
            }
        };
        let schema_id = s("schema_id")?;
        if !schema_id.trim().is_empty() && schema_id.trim() != ENTRY_SCHEMA_ID {
            return Err(format!("unsupported schema_id: {}", schema_id.trim()));
        }
        let schema_version = s("schema_version")?;
        if !schema_version.trim().is_empty() && schema_version.trim() != SCHEMA_VERSION {
            return Err(format!(
                "unsupported schema_version: {}",
                schema_version.trim()
            ));
        }
        let pattern_id = s("pattern_id")?.trim().to_string();
        if pattern_id.is_empty() {
            return Err("pattern_id is required".into());
        }
        let approver_identity = s("approver_identity")?.trim().to_string();
        if approver_identity.is_empty() {
            return Err("approver_identity is required".into());
        }
        let policy_digest = s("policy_digest")?.trim().to_lowercase();
        if !is_hex64(&policy_digest) {
            return Err("policy_digest must be sha256 hex".into());
        }
        let script_hash = s("script_hash")?.trim().to_lowercase();
        if !is_hex64(&script_hash) {
            return Err("script_hash must be sha256 hex".into());
        }
        let tool_sequence = norm_list(&list("tool_sequence")?);
        if tool_sequence.is_empty() {
            return Err("tool_sequence is required".into());
        }
        let mut created_at = time("created_at")?;
        if created_at.is_zero() {
            created_at =
                GoTime::parse_rfc3339("1980-01-01T00:00:00Z").map_err(|e| e.to_string())?;
        }
        let expires_at = time("expires_at")?;
        if expires_at <= created_at {
            return Err("expires_at must be after created_at".into());
        }
        Ok(Entry {
            created_at,
            producer_version: s("producer_version")?,
            pattern_id,
            policy_digest,
            script_hash,
            tool_sequence,
            scope: norm_list(&list("scope")?),
            approver_identity,
            expires_at,
            signature: o.get("signature").and_then(|v| {
                gait_sdk::gojson::GoValue::parse(&v.to_string())
                    .ok()
                    .and_then(|g| Signature::from_go(&g))
            }),
        })
    }

    /// Verifies the entry at `now` (§1.6).
    pub fn verify(&self, key: &PublicKey, now: GoTime) -> Result<(), String> {
        let sig = self.signature.as_ref().ok_or("signature is required")?;
        if self.expires_at <= now {
            return Err("approved script entry is expired".into());
        }
        verify_value(&self.projection(), sig, key)
            .map_err(|e| format!("verify approved script entry signature: {e}"))
    }

    pub fn sign(&mut self, key: &KeyPair) -> Result<(), gait_sdk::signing::KeyError> {
        self.signature = Some(key.sign_value(&self.projection())?);
        Ok(())
    }
}

/// Reads a registry file (§1.5): a missing file or blank content is empty.
pub fn read(path: &str) -> Result<Vec<Entry>, RegistryError> {
    let path = path.trim();
    if path.is_empty() {
        return Err(RegistryError::Read("registry path is required".into()));
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => {
            return Err(RegistryError::Read(format!(
                "read approved script registry: {e}"
            )))
        }
    };
    parse(&text)
}

/// Parses registry file content (§1.5): blank content is empty; otherwise
/// `{"entries":[…]}` or a bare array of entries, each normalized (§1.6).
pub fn parse(text: &str) -> Result<Vec<Entry>, RegistryError> {
    if text.trim().is_empty() {
        return Ok(vec![]);
    }
    let v: Value = serde_json::from_str(text)
        .map_err(|e| RegistryError::Read(format!("parse approved script registry: {e}")))?;
    let items =
        match &v {
            Value::Object(o) if o.contains_key("entries") => match o.get("entries") {
                Some(Value::Array(a)) => a.clone(),
                _ => {
                    return Err(RegistryError::Read(
                        "parse approved script registry: entries must be an array".into(),
                    ))
                }
            },
            Value::Array(a) => a.clone(),
            _ => return Err(RegistryError::Read(
                "parse approved script registry: expected {\"entries\":[…]} or an array of entries"
                    .into(),
            )),
        };
    items
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Entry::from_value(e)
                .map_err(|m| RegistryError::Read(format!("approved script entries[{i}]: {m}")))
        })
        .collect()
}

/// Writes the registry (sorted by pattern id, then created_at), atomically at 0600.
pub fn write(path: &str, entries: &[Entry]) -> std::io::Result<()> {
    let mut sorted = entries.to_vec();
    sorted.sort_by(|a, b| {
        (&a.pattern_id, a.created_at.to_rfc3339_nano())
            .cmp(&(&b.pattern_id, b.created_at.to_rfc3339_nano()))
    });
    let doc = json!({"entries": sorted.iter().map(Entry::to_value).collect::<Vec<_>>()});
    fsutil::write_atomic(
        Path::new(path.trim()),
        gait_sdk::output::to_json_pretty(&doc).as_bytes(),
        0o600,
    )
}

/// Inserts or replaces (same `pattern_id`, in place) an entry.
pub fn upsert(entries: &mut Vec<Entry>, entry: Entry) {
    match entries
        .iter_mut()
        .find(|e| e.pattern_id == entry.pattern_id)
    {
        Some(e) => *e = entry,
        None => entries.push(entry),
    }
}

/// Builds a new signed entry for a normalized script intent.
pub fn new_entry(
    intent: &Intent,
    policy_digest: &str,
    pattern_id: &str,
    approver: &str,
    scope: &[String],
    ttl: jiff::SignedDuration,
    now: GoTime,
) -> Option<Entry> {
    let steps = intent.script.as_ref()?;
    let created_at = now.utc();
    let pattern_id = if pattern_id.trim().is_empty() {
        format!(
            "pattern_{}",
            &intent.script_hash[..12.min(intent.script_hash.len())]
        )
    } else {
        pattern_id.trim().to_string()
    };
    Some(Entry {
        created_at,
        producer_version: PRODUCER_VERSION.into(),
        pattern_id,
        policy_digest: policy_digest.to_lowercase(),
        script_hash: intent.script_hash.clone(),
        tool_sequence: norm_list(
            &steps
                .iter()
                .map(|s| s.tool_name.clone())
                .collect::<Vec<_>>(),
        ),
        scope: norm_list(scope),
        approver_identity: approver.trim().to_string(),
        expires_at: created_at.add(ttl)?,
        signature: None,
    })
}

/// True when the policy needs authenticated context evidence (fast path disabled).
pub fn policy_needs_context_evidence(policy: &crate::policy::Policy) -> bool {
    policy
        .fail_closed
        .required_fields
        .iter()
        .any(|f| f == "context_evidence")
        || policy.rules.iter().any(|r| r.has_context_constraints())
}

fn scope_holds(value: &str, intent: &Intent) -> bool {
    let Some((prefix, want)) = value.split_once(':') else {
        return false;
    };
    let want = want.trim().to_lowercase();
    match prefix.trim().to_lowercase().as_str() {
        "risk" => intent.context.risk_class.trim().to_lowercase() == want,
        "tool" => intent.tool_name == want,
        "workspace_prefix" => {
            let ws = intent.context.workspace.replace('\\', "/");
            let ws = ws.trim_end_matches('/');
            let want = want.trim_end_matches('/');
            !want.is_empty() && (ws == want || ws.starts_with(&format!("{want}/")))
        }
        "endpoint" => intent.script.as_ref().is_some_and(|steps| {
            steps
                .iter()
                .any(|s| s.targets.iter().any(|t| t.endpoint_class == want))
        }),
        _ => false,
    }
}

/// Finds the first entry (file order) matching a normalized intent (§1.9 step 5).
/// Returns the match and the registry reason.
pub fn find_match<'a>(
    entries: &'a [Entry],
    intent: &Intent,
    policy_digest: &str,
    now: GoTime,
) -> (Option<&'a Entry>, &'static str) {
    let Some(steps) = &intent.script else {
        return (None, "not_script");
    };
    // Decision (docs/compatibility.md, "Fast-path tool_sequence"): the stored sequence is
    // sorted and de-duplicated (§1.6), so the steps are compared in the same normalized form.
    // The reference compares them in step order, so unsorted or repeating scripts never match
    // there; the step order itself stays bound by `script_hash` (§1.2).
    let seq = norm_list(
        &steps
            .iter()
            .map(|s| s.tool_name.clone())
            .collect::<Vec<_>>(),
    );
    let policy_digest = policy_digest.to_lowercase();
    let hit = entries.iter().find(|e| {
        e.policy_digest == policy_digest
            && e.script_hash == intent.script_hash
            && e.expires_at > now
            && e.tool_sequence == seq
            && e.scope.iter().all(|s| scope_holds(s, intent))
    });
    match hit {
        Some(e) => (Some(e), "approved_script_match"),
        None => (None, "approved_script_not_found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry_value() -> Value {
        json!({
            "pattern_id": "p", "approver_identity": "secops",
            "policy_digest": "A".repeat(64), "script_hash": "b".repeat(64),
            "tool_sequence": ["Tool.Write", "tool.read", "tool.read"],
            "created_at": "2026-01-01T00:00:00+00:00", "expires_at": "2099-01-01T00:00:00Z"
        })
    }

    #[test]
    fn entries_normalize_sign_and_verify() {
        let mut e = Entry::from_value(&entry_value()).unwrap();
        assert_eq!(e.tool_sequence, vec!["tool.read", "tool.write"]);
        assert_eq!(e.policy_digest, "a".repeat(64));
        let key = KeyPair::generate().unwrap();
        let now = GoTime::parse_rfc3339("2026-06-01T00:00:00Z").unwrap();
        assert_eq!(
            e.verify(&key.public(), now).unwrap_err(),
            "signature is required"
        );
        e.sign(&key).unwrap();
        e.verify(&key.public(), now).unwrap();
        let other = KeyPair::generate().unwrap().public();
        assert!(e.verify(&other, now).is_err());
    }

    #[test]
    fn bad_entries_and_shapes_are_refused() {
        let mut v = entry_value();
        v["policy_digest"] = json!("nope");
        assert_eq!(
            Entry::from_value(&v).unwrap_err(),
            "policy_digest must be sha256 hex"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        std::fs::write(&p, r#"{"entries":null}"#).unwrap();
        assert!(read(p.to_str().unwrap()).is_err());
        std::fs::write(&p, "  ").unwrap();
        assert!(read(p.to_str().unwrap()).unwrap().is_empty());
        assert!(read(dir.path().join("absent.json").to_str().unwrap())
            .unwrap()
            .is_empty());
    }

    fn unsorted_script_intent() -> Intent {
        let text = json!({
            "schema_id": "gait.gate.intent_request", "schema_version": "1.0.0",
            "created_at": "2026-02-05T00:00:00Z", "tool_name": "script", "args": {},
            "context": {"identity": "bob", "workspace": "/repo", "risk_class": "low"},
            "script": {"steps": [
                {"tool_name": "tool.write", "args": {"p": 1}},
                {"tool_name": "tool.read", "args": {"p": 2}},
                {"tool_name": "tool.write", "args": {"p": 3}}
            ]}
        })
        .to_string();
        Intent::parse_json(&text).unwrap().normalize().unwrap()
    }

    /// §1.9 decision, reference side: an entry as the reference writes it (sorted,
    /// de-duplicated `tool_sequence`, signed over D(entry minus signature)) verifies here, and
    /// matches a script whose steps are unsorted and repeating, which the reference's
    /// step-order comparison never matches.
    #[test]
    fn reference_entry_verifies_and_matches_unsorted_steps() {
        let intent = unsorted_script_intent();
        let key = KeyPair::generate().unwrap();
        let mut raw = json!({
            "schema_id": ENTRY_SCHEMA_ID, "schema_version": SCHEMA_VERSION,
            "created_at": "2026-01-01T00:00:00Z", "producer_version": "0.0.0-dev",
            "pattern_id": "pattern_ref", "policy_digest": "c".repeat(64),
            "script_hash": intent.script_hash, "tool_sequence": ["tool.read", "tool.write"],
            "approver_identity": "secops", "expires_at": "2099-01-01T00:00:00Z"
        });
        let sig = key.sign_value(&raw).unwrap();
        raw["signature"] = sig.to_value();
        let text = json!({ "entries": [raw] }).to_string();
        let entries = parse(&text).unwrap();
        let now = GoTime::parse_rfc3339("2026-06-01T00:00:00Z").unwrap();
        entries[0].verify(&key.public(), now).unwrap();
        let (hit, reason) = find_match(&entries, &intent, &"c".repeat(64), now);
        assert_eq!(reason, "approved_script_match");
        assert_eq!(hit.unwrap().pattern_id, "pattern_ref");
        // The order is still bound by script_hash: another hash is no match.
        let mut other = entries.clone();
        other[0].script_hash = "d".repeat(64);
        assert_eq!(
            find_match(&other, &intent, &"c".repeat(64), now).1,
            "approved_script_not_found"
        );
    }

    /// §1.9 decision, our side: an entry written by `approve-script` for unsorted steps stores
    /// the sorted, de-duplicated sequence and its signature verifies the reference's way: the
    /// signed digest is D(entry as written, minus `signature`).
    #[test]
    fn our_entry_verifies_the_reference_way() {
        let intent = unsorted_script_intent();
        let key = KeyPair::generate().unwrap();
        let now = GoTime::parse_rfc3339("2026-01-01T00:00:00.5Z").unwrap();
        let mut e = new_entry(
            &intent,
            &"C".repeat(64),
            "",
            " secops ",
            &["Risk:Low".to_string()],
            jiff::SignedDuration::from_hours(1),
            now,
        )
        .unwrap();
        e.sign(&key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("reg.json");
        write(p.to_str().unwrap(), &[e]).unwrap();
        let file: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let mut written = file["entries"][0].clone();
        assert_eq!(written["tool_sequence"], json!(["tool.read", "tool.write"]));
        assert_eq!(written["scope"], json!(["risk:low"]));
        let sig: Signature = serde_json::from_value(written["signature"].clone()).unwrap();
        written.as_object_mut().unwrap().remove("signature");
        let digest = gait_sdk::jcs::digest_hex(&written).unwrap();
        assert_eq!(sig.signed_digest, digest);
        gait_sdk::signing::verify_digest(&digest, &sig, &key.public()).unwrap();
        let back = read(p.to_str().unwrap()).unwrap();
        back[0].verify(&key.public(), now).unwrap();
        assert_eq!(
            find_match(&back, &intent, &"c".repeat(64), now).1,
            "approved_script_match"
        );
    }
}
