//! Authorization packs (PackSpec §5.4 "authorization"): a `gait.gate.authorization_bundle`
//! that links a gate decision to its evidence files (trace, approval audit, credential
//! evidence, delegation audit, context evidence, outcome), packed with those files under
//! `evidence/`. Building resolves and digests every linked file; verifying re-checks every
//! link against the packed copies.

use crate::error::PackError;
use crate::runs::clean;
use gait_sdk::fsutil;
use gait_sdk::gojson::GoValue;
use gait_sdk::jcs;
use gait_sdk::pack::runpack::{EntrySource, RunpackError};
use gait_sdk::time::GoTime;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const BUNDLE_SCHEMA: &str = "gait.gate.authorization_bundle";
pub const BUNDLE_VERSION: &str = "1.0.0";
pub const PAYLOAD_NAME: &str = "authorization_bundle.json";
pub const EVIDENCE_DIR: &str = "evidence/";
const EPOCH_1980: &str = "1980-01-01T00:00:00Z";
/// Largest bundle or linked evidence file read while building.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The six `<name>_path` / `<name>_digest` evidence links, in declaration order.
pub const EVIDENCE_LINKS: [&str; 6] = [
    "trace",
    "approval_audit",
    "credential_evidence",
    "delegation_audit",
    "context_evidence",
    "outcome",
];
const OUTCOMES: [&str; 4] = ["allow", "block", "dry_run", "require_approval"];
/// Decision blocks carried through unchanged (their content is the gate's explain output).
const DECISION_OBJECTS: [&str; 3] = ["freeze_window", "kill_switch", "sandbox"];

type R<T> = Result<T, PackError>;

fn allowed_keys() -> Vec<String> {
    let mut keys: Vec<String> = [
        "schema_id",
        "schema_version",
        "created_at",
        "producer_version",
        "trace_id",
        "policy_digest",
        "intent_digest",
        "outcome_status",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for l in EVIDENCE_LINKS {
        keys.push(format!("{l}_path"));
        keys.push(format!("{l}_digest"));
    }
    keys.extend(DECISION_OBJECTS.iter().map(|s| s.to_string()));
    keys
}

/// A decoded, normalized authorization bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    pub created_at: String,
    pub producer_version: String,
    pub trace_id: String,
    pub policy_digest: String,
    pub intent_digest: String,
    pub outcome_status: String,
    /// `(link name, path, digest)` for each link that has a path or a digest.
    pub links: Vec<(String, String, String)>,
    pub decisions: Map<String, Value>,
}

fn strict_decode(text: &str) -> Result<GoValue, String> {
    let v = GoValue::parse(text).map_err(|e| e.to_string())?;
    let GoValue::Object(members) = &v else {
        return Err("json: cannot unmarshal non-object into authorization bundle".into());
    };
    let allowed = allowed_keys();
    for (k, _) in members {
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(k)) {
            return Err(format!("json: unknown field \"{k}\""));
        }
    }
    Ok(v)
}

fn string_member(v: &GoValue, name: &str) -> Result<String, String> {
    match v.field(name) {
        None | Some(GoValue::Null) => Ok(String::new()),
        Some(GoValue::String(s)) => Ok(s.clone()),
        Some(o) => Err(format!(
            "json: cannot unmarshal {} into field {name} of type string",
            o.kind()
        )),
    }
}

impl Bundle {
    /// Strict decode and normalization (`default_producer` fills a blank producer version).
    pub fn parse(text: &str, default_producer: &str) -> Result<Bundle, String> {
        let v = strict_decode(text)?;
        let get = |n: &str| string_member(&v, n);
        if get("schema_id")? != BUNDLE_SCHEMA {
            return Err(format!(
                "unsupported authorization bundle schema_id: {}",
                get("schema_id")?
            ));
        }
        if get("schema_version")? != BUNDLE_VERSION {
            return Err(format!(
                "unsupported authorization bundle schema_version: {}",
                get("schema_version")?
            ));
        }
        let created_raw = get("created_at")?;
        let created = if created_raw.is_empty() {
            GoTime::zero()
        } else {
            GoTime::parse_rfc3339(&created_raw).map_err(|e| format!("created_at: {e}"))?
        };
        let created_at = if created.is_zero() {
            EPOCH_1980.to_string()
        } else {
            created.utc().to_rfc3339_nano()
        };
        let mut producer_version = get("producer_version")?.trim().to_string();
        if producer_version.is_empty() {
            producer_version = default_producer.to_string();
        }
        let trace_id = get("trace_id")?.trim().to_string();
        if trace_id.is_empty() {
            return Err("authorization bundle trace_id is required".into());
        }
        let digest = |n: &str| -> Result<String, String> {
            let d = get(n)?.trim().to_lowercase();
            if !jcs::is_sha256_hex(&d) {
                return Err(format!("authorization bundle {n} must be sha256 hex"));
            }
            Ok(d)
        };
        let policy_digest = digest("policy_digest")?;
        let intent_digest = digest("intent_digest")?;
        let outcome_status = get("outcome_status")?.trim().to_lowercase();
        if !outcome_status.is_empty() && !OUTCOMES.contains(&outcome_status.as_str()) {
            return Err(format!(
                "authorization bundle outcome_status must be one of allow, block, dry_run, require_approval (got {outcome_status})"
            ));
        }
        let mut links = Vec::new();
        for l in EVIDENCE_LINKS {
            let path = get(&format!("{l}_path"))?.trim().to_string();
            let digest = get(&format!("{l}_digest"))?.trim().to_lowercase();
            if !digest.is_empty() && !jcs::is_sha256_hex(&digest) {
                return Err(format!(
                    "authorization bundle {l}_digest must be sha256 hex"
                ));
            }
            if !path.is_empty() || !digest.is_empty() {
                links.push((l.to_string(), path, digest));
            }
        }
        let mut decisions = Map::new();
        for d in DECISION_OBJECTS {
            match v.field(d) {
                None | Some(GoValue::Null) => {}
                Some(o @ GoValue::Object(_)) => {
                    decisions.insert(d.to_string(), o.to_value());
                }
                Some(o) => {
                    return Err(format!(
                        "json: cannot unmarshal {} into field {d} of type object",
                        o.kind()
                    ))
                }
            }
        }
        Ok(Bundle {
            created_at,
            producer_version,
            trace_id,
            policy_digest,
            intent_digest,
            outcome_status,
            links,
            decisions,
        })
    }

    pub fn link(&self, name: &str) -> Option<&(String, String, String)> {
        self.links.iter().find(|(l, _, _)| l == name)
    }

    /// The names of the links a valid bundle must carry: the trace, plus the outcome when an
    /// outcome status is stated.
    pub fn required_links(&self) -> Vec<&'static str> {
        let mut r = vec!["trace"];
        if !self.outcome_status.is_empty() {
            r.push("outcome");
        }
        r
    }

    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("schema_id".into(), json!(BUNDLE_SCHEMA));
        m.insert("schema_version".into(), json!(BUNDLE_VERSION));
        m.insert("created_at".into(), json!(self.created_at));
        m.insert("producer_version".into(), json!(self.producer_version));
        m.insert("trace_id".into(), json!(self.trace_id));
        m.insert("policy_digest".into(), json!(self.policy_digest));
        m.insert("intent_digest".into(), json!(self.intent_digest));
        for (l, p, d) in &self.links {
            if !p.is_empty() {
                m.insert(format!("{l}_path"), json!(p));
            }
            if !d.is_empty() {
                m.insert(format!("{l}_digest"), json!(d));
            }
        }
        if !self.outcome_status.is_empty() {
            m.insert("outcome_status".into(), json!(self.outcome_status));
        }
        for (k, v) in &self.decisions {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }

    /// `gait.pack.authorization`: the summary `pack inspect` shows.
    pub fn summary(&self) -> Value {
        let mut m = Map::new();
        m.insert("schema_id".into(), json!("gait.pack.authorization"));
        m.insert("schema_version".into(), json!("1.0.0"));
        m.insert("created_at".into(), json!(self.created_at));
        m.insert("trace_id".into(), json!(self.trace_id));
        m.insert("policy_digest".into(), json!(self.policy_digest));
        m.insert("intent_digest".into(), json!(self.intent_digest));
        if !self.outcome_status.is_empty() {
            m.insert("outcome_status".into(), json!(self.outcome_status));
        }
        m.insert(
            "linked_evidence_count".into(),
            json!(self.links.iter().filter(|(_, p, _)| !p.is_empty()).count()),
        );
        m.insert(
            "required_evidence_count".into(),
            json!(self.required_links().len()),
        );
        Value::Object(m)
    }
}

/// Normalizes a link path: `\` becomes `/`, then it is cleaned; absolute paths (including
/// drive-letter forms) and any path that still climbs out with `..` are refused.
pub fn normalize_link_path(raw: &str) -> Result<String, String> {
    let slashed = raw.trim().replace('\\', "/");
    let bytes = slashed.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if slashed.starts_with('/') || drive {
        return Err(format!("evidence path must be relative: {raw}"));
    }
    let c = clean(&slashed);
    if c == "." || c.is_empty() {
        return Err(format!("evidence path is empty: {raw:?}"));
    }
    if c == ".." || c.starts_with("../") {
        return Err(format!(
            "evidence path must not traverse parent directories: {raw}"
        ));
    }
    Ok(c)
}

/// `D(file)` for `.json` files (the canonical form of the parsed document), the plain SHA-256
/// of the bytes otherwise.
pub fn evidence_digest(path: &str, bytes: &[u8]) -> Result<String, String> {
    if path.to_lowercase().ends_with(".json") {
        let text = std::str::from_utf8(bytes).map_err(|_| format!("{path}: not valid UTF-8"))?;
        let v = GoValue::parse(text).map_err(|e| format!("{path}: {e}"))?;
        jcs::digest_hex(&v.to_value()).map_err(|e| format!("{path}: {e}"))
    } else {
        Ok(jcs::sha256_hex(bytes))
    }
}

/// What `pack build --type authorization` packs: the payload and the evidence entries.
pub struct BuiltAuthorization {
    pub bundle: Bundle,
    pub entries: BTreeMap<String, Vec<u8>>,
}

/// Reads `bundle_path`, resolves and digests every linked file, and returns the pack payload.
pub fn build_payload(bundle_path: &Path, default_producer: &str) -> R<BuiltAuthorization> {
    let bytes = fsutil::read_capped(bundle_path, MAX_FILE_BYTES).map_err(|e| {
        PackError::invalid(format!(
            "read authorization bundle {}: {e}",
            bundle_path.display()
        ))
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        PackError::invalid("parse authorization bundle: not valid UTF-8 (hint: save it as UTF-8)")
    })?;
    let mut bundle = Bundle::parse(text, default_producer)
        .map_err(|e| PackError::invalid(format!("parse authorization bundle: {e}")))?;
    let base = bundle_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base_real = base.canonicalize().map_err(|e| {
        PackError::invalid(format!("resolve bundle directory {}: {e}", base.display()))
    })?;
    let mut entries = BTreeMap::new();
    for (name, path, digest) in bundle.links.iter_mut() {
        if path.is_empty() {
            return Err(PackError::invalid(format!(
                "authorization bundle {name}_digest is set without {name}_path"
            )));
        }
        let rel = normalize_link_path(path)
            .map_err(|e| PackError::invalid(format!("authorization bundle {name}_path: {e}")))?;
        let file: PathBuf = base.join(&rel);
        // A symlink must not lead the build outside the bundle's directory.
        let real = file.canonicalize().map_err(|e| {
            PackError::invalid(format!("read {name} evidence {}: {e}", file.display()))
        })?;
        if !real.starts_with(&base_real) {
            return Err(PackError::invalid(format!(
                "{name} evidence {} resolves outside the bundle directory",
                file.display()
            )));
        }
        let content = fsutil::read_capped(&file, MAX_FILE_BYTES).map_err(|e| {
            PackError::invalid(format!("read {name} evidence {}: {e}", file.display()))
        })?;
        let computed = evidence_digest(&rel, &content)
            .map_err(|e| PackError::invalid(format!("digest {name} evidence: {e}")))?;
        if !digest.is_empty() && !digest.eq_ignore_ascii_case(&computed) {
            return Err(PackError::invalid(format!(
                "authorization bundle {name}_digest does not match {rel}: expected={digest} actual={computed}"
            )));
        }
        *digest = computed;
        *path = rel.clone();
        let entry = format!("{EVIDENCE_DIR}{rel}");
        if entries.insert(entry.clone(), content).is_some() {
            // Two links naming one file is fine; the bytes are the same file.
        }
    }
    for req in bundle.required_links() {
        if bundle.link(req).is_none() {
            return Err(PackError::invalid(format!(
                "authorization bundle requires {req}_path"
            )));
        }
    }
    entries.insert(
        PAYLOAD_NAME.to_string(),
        jcs::canonical_bytes(&bundle.to_value()).expect("finite JSON"),
    );
    Ok(BuiltAuthorization { bundle, entries })
}

fn verr<T>(m: impl Into<String>) -> Result<T, RunpackError> {
    Err(RunpackError::Verification(m.into()))
}

/// Reads the payload of an authorization pack strictly (for inspect: `None` when it fails).
pub fn read_payload(src: &mut dyn EntrySource) -> Option<Bundle> {
    let bytes = src.read_entry(PAYLOAD_NAME, 16 * 1024 * 1024).ok()?;
    Bundle::parse(std::str::from_utf8(&bytes).ok()?, "").ok()
}

/// The authorization payload contract: the bundle decodes strictly, names the pack's
/// `source_ref`, carries the required links, and every link's packed file matches its digest.
pub fn check_contract(source_ref: &str, src: &mut dyn EntrySource) -> Result<(), RunpackError> {
    let names = src.entry_names();
    if !names.iter().any(|n| n == PAYLOAD_NAME) {
        return verr(format!("authorization pack missing {PAYLOAD_NAME}"));
    }
    let bytes = src.read_entry(PAYLOAD_NAME, 16 * 1024 * 1024)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| RunpackError::Verification("authorization payload: not valid UTF-8".into()))?;
    let bundle = Bundle::parse(text, "x")
        .map_err(|e| RunpackError::Verification(format!("authorization payload: {e}")))?;
    if bundle.trace_id != source_ref {
        return verr("authorization payload trace_id must match source_ref");
    }
    for req in bundle.required_links() {
        match bundle.link(req) {
            Some((_, p, d)) if !p.is_empty() && !d.is_empty() => {}
            _ => {
                return verr(format!(
                    "authorization payload requires {req}_path and {req}_digest"
                ))
            }
        }
    }
    for (name, path, digest) in &bundle.links {
        if path.is_empty() || digest.is_empty() {
            return verr(format!(
                "authorization payload {name} link requires both path and digest"
            ));
        }
        let rel = normalize_link_path(path)
            .map_err(|e| RunpackError::Verification(format!("authorization payload: {e}")))?;
        let entry = format!("{EVIDENCE_DIR}{rel}");
        if !names.contains(&entry) {
            return verr(format!("authorization pack missing {entry}"));
        }
        // Only JSON evidence needs its content (for the canonical digest); anything else is
        // the plain hash, which the archive streams (and has usually computed already).
        let computed = if rel.to_lowercase().ends_with(".json") {
            let content = src.read_entry(&entry, MAX_FILE_BYTES)?;
            evidence_digest(&rel, &content)
                .map_err(|e| RunpackError::Verification(format!("authorization evidence {e}")))?
        } else {
            src.entry_sha256(&entry)?
        };
        if !computed.eq_ignore_ascii_case(digest) {
            return verr(format!(
                "authorization evidence digest mismatch for {name}: expected={digest} actual={computed}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn bundle_text(extra: &str) -> String {
        format!(
            r#"{{"schema_id":"gait.gate.authorization_bundle","schema_version":"1.0.0","created_at":"2026-02-01T10:00:00+02:00","trace_id":"trace_1","policy_digest":"{}","intent_digest":"{D}"{extra}}}"#,
            D.to_uppercase()
        )
    }

    #[test]
    fn normalizes_time_digests_and_producer() {
        let b = Bundle::parse(&bundle_text(""), "9.9.9").unwrap();
        assert_eq!(b.created_at, "2026-02-01T08:00:00Z");
        assert_eq!(b.policy_digest, D);
        assert_eq!(b.producer_version, "9.9.9");
        let b = Bundle::parse(&bundle_text(r#","created_at":"0001-01-01T00:00:00Z""#), "x");
        // a duplicate member: the last one wins, as in a Go decoder
        assert_eq!(b.unwrap().created_at, EPOCH_1980);
    }

    #[test]
    fn rejects_unknown_keys_bad_digests_and_outcomes() {
        assert!(Bundle::parse(&bundle_text(r#","extra":1"#), "x")
            .unwrap_err()
            .contains("unknown field"));
        assert!(Bundle::parse(&bundle_text(r#","trace_digest":"zz""#), "x").is_err());
        assert!(Bundle::parse(&bundle_text(r#","outcome_status":"maybe""#), "x").is_err());
        assert!(Bundle::parse(&bundle_text(r#","trace_id":"  ""#), "x").is_err());
        assert!(Bundle::parse("[]", "x").is_err());
    }

    #[test]
    fn link_paths_are_cleaned_and_confined() {
        assert_eq!(normalize_link_path("a\\b/./c.json").unwrap(), "a/b/c.json");
        assert_eq!(normalize_link_path("a/../b.json").unwrap(), "b.json");
        for bad in [
            "/etc/passwd",
            "../x.json",
            "a/../../x",
            "C:/x",
            "c:\\x",
            "",
            ".",
        ] {
            assert!(normalize_link_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_evidence_is_digested_canonically() {
        let a = evidence_digest("t.json", br#"{ "b":1, "a":2 }"#).unwrap();
        let b = evidence_digest("t.json", br#"{"a":2,"b":1}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            evidence_digest("t.txt", b"abc").unwrap(),
            jcs::sha256_hex(b"abc")
        );
        assert!(evidence_digest("t.json", b"{").is_err());
    }
}
