//! Legacy guard evidence packs (`gait.guard.pack_manifest` 1.0.0): reading the manifest into
//! its typed projection and verifying listed hashes and signatures. `pack verify` accepts these
//! packs for compatibility; a future `guard` plugin builds them with the same projection.
//!
//! Guard manifests are decoded leniently (unknown members are dropped, as a typed decoder
//! would), so the signature covers exactly the typed fields. There is no undeclared-file or
//! pack-id check: the format never had one.

use super::runpack::{check_signatures, EntrySource, HashMismatch, RunpackError, SignatureReport};
use crate::gojson::GoValue;
use crate::signing::{PublicKey, Signature};
use crate::time::GoTime;
use serde_json::{json, Map, Value};

pub const GUARD_MANIFEST_SCHEMA: &str = "gait.guard.pack_manifest";
pub const GUARD_SCHEMA_VERSION: &str = "1.0.0";
pub const GUARD_MANIFEST_NAME: &str = "pack_manifest.json";

type R<T> = Result<T, RunpackError>;

fn invalid<T>(m: impl Into<String>) -> R<T> {
    Err(RunpackError::Invalid(m.into()))
}

/// True when `text` is a JSON object whose `schema_id` names a guard manifest.
pub fn is_guard_manifest(text: &str) -> bool {
    GoValue::parse(text).is_ok_and(
        |v| matches!(v.field("schema_id"), Some(GoValue::String(s)) if s == GUARD_MANIFEST_SCHEMA),
    )
}

/// One listed file of a guard pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardEntry {
    pub path: String,
    pub sha256: String,
    pub entry_type: String,
}

/// A guard pack manifest: the typed projection (without signatures) plus what verify needs.
#[derive(Debug, Clone)]
pub struct GuardManifest {
    pub pack_id: String,
    pub run_id: String,
    pub contents: Vec<GuardEntry>,
    pub signatures: Vec<Signature>,
    /// The typed record without `signatures`: what a signature covers.
    pub unsigned: Value,
}

fn string_of(v: &GoValue, name: &str) -> R<String> {
    match v.field(name) {
        None | Some(GoValue::Null) => Ok(String::new()),
        Some(GoValue::String(s)) => Ok(s.clone()),
        Some(o) => invalid(format!(
            "parse guard manifest: json: cannot unmarshal {} into field {name} of type string",
            o.kind()
        )),
    }
}

fn time_of(v: &GoValue, name: &str) -> R<String> {
    let raw = string_of(v, name)?;
    let t = if raw.is_empty() {
        GoTime::zero()
    } else {
        GoTime::parse_rfc3339(&raw)
            .map_err(|e| RunpackError::Invalid(format!("parse guard manifest: {name}: {e}")))?
    };
    Ok(t.to_rfc3339_nano())
}

fn int_of(v: &GoValue, name: &str) -> R<i64> {
    match v.field(name) {
        None | Some(GoValue::Null) => Ok(0),
        Some(GoValue::Number { int: Some(i), .. }) => Ok(*i),
        Some(o) => invalid(format!(
            "parse guard manifest: json: cannot unmarshal {} into field {name} of type int64",
            o.kind()
        )),
    }
}

/// Projects each element of an array member through `item`; absent or null stays null,
/// because the typed record's list members are not omitted when empty.
fn list_of(v: &GoValue, name: &str, item: impl FnMut(&GoValue) -> R<Value>) -> R<Value> {
    match v.field(name) {
        None | Some(GoValue::Null) => Ok(Value::Null),
        Some(GoValue::Array(items)) => {
            Ok(Value::Array(items.iter().map(item).collect::<R<Vec<_>>>()?))
        }
        Some(o) => invalid(format!(
            "parse guard manifest: json: cannot unmarshal {} into field {name} of type array",
            o.kind()
        )),
    }
}

fn object(v: &GoValue, name: &str) -> R<()> {
    if matches!(v, GoValue::Object(_)) {
        Ok(())
    } else {
        invalid(format!(
            "parse guard manifest: json: cannot unmarshal {} into {name}",
            v.kind()
        ))
    }
}

fn strings_of(v: &GoValue, name: &str) -> R<Value> {
    list_of(v, name, |s| match s {
        GoValue::String(x) => Ok(json!(x)),
        o => invalid(format!(
            "parse guard manifest: json: cannot unmarshal {} into field {name} of type string",
            o.kind()
        )),
    })
}

impl GuardManifest {
    /// Lenient typed decode of a guard manifest; the schema id and version must match.
    pub fn parse(text: &str) -> R<GuardManifest> {
        let v = GoValue::parse(text)
            .map_err(|e| RunpackError::Invalid(format!("parse guard manifest: {e}")))?;
        object(&v, "guard manifest")?;
        let schema_id = string_of(&v, "schema_id")?;
        let schema_version = string_of(&v, "schema_version")?;
        if schema_id != GUARD_MANIFEST_SCHEMA {
            return invalid(format!("unsupported guard manifest schema_id: {schema_id}"));
        }
        if schema_version != GUARD_SCHEMA_VERSION {
            return invalid(format!(
                "unsupported guard manifest schema_version: {schema_version}"
            ));
        }
        let mut m = Map::new();
        m.insert("schema_id".into(), json!(schema_id));
        m.insert("schema_version".into(), json!(schema_version));
        m.insert("created_at".into(), json!(time_of(&v, "created_at")?));
        m.insert(
            "producer_version".into(),
            json!(string_of(&v, "producer_version")?),
        );
        let pack_id = string_of(&v, "pack_id")?;
        let run_id = string_of(&v, "run_id")?;
        m.insert("pack_id".into(), json!(pack_id));
        m.insert("run_id".into(), json!(run_id));
        let case_id = string_of(&v, "case_id")?;
        if !case_id.is_empty() {
            m.insert("case_id".into(), json!(case_id));
        }
        m.insert("template_id".into(), json!(string_of(&v, "template_id")?));
        m.insert("generated_at".into(), json!(time_of(&v, "generated_at")?));
        m.insert(
            "control_index".into(),
            list_of(&v, "control_index", |c| {
                object(c, "control_index entry")?;
                Ok(json!({
                    "control_id": string_of(c, "control_id")?,
                    "title": string_of(c, "title")?,
                    "evidence_paths": strings_of(c, "evidence_paths")?,
                }))
            })?,
        );
        m.insert(
            "evidence_pointers".into(),
            list_of(&v, "evidence_pointers", |p| {
                object(p, "evidence_pointers entry")?;
                Ok(json!({
                    "pointer_id": string_of(p, "pointer_id")?,
                    "path": string_of(p, "path")?,
                    "type": string_of(p, "type")?,
                    "sha256": string_of(p, "sha256")?,
                }))
            })?,
        );
        if let Some(w) = v.field("incident_window").filter(|w| !w.is_null()) {
            object(w, "incident_window")?;
            let mut win = Map::new();
            win.insert("from".into(), json!(time_of(w, "from")?));
            win.insert("to".into(), json!(time_of(w, "to")?));
            win.insert("window_seconds".into(), json!(int_of(w, "window_seconds")?));
            let anchor = string_of(w, "selection_anchor")?;
            if !anchor.is_empty() {
                win.insert("selection_anchor".into(), json!(anchor));
            }
            m.insert("incident_window".into(), Value::Object(win));
        }
        let rendered = list_of(&v, "rendered_artifacts", |r| {
            object(r, "rendered_artifacts entry")?;
            Ok(json!({
                "format": string_of(r, "format")?,
                "path": string_of(r, "path")?,
                "sha256": string_of(r, "sha256")?,
            }))
        })?;
        if rendered.as_array().is_some_and(|a| !a.is_empty()) {
            m.insert("rendered_artifacts".into(), rendered);
        }
        let mut contents = Vec::new();
        let contents_value = list_of(&v, "contents", |c| {
            object(c, "contents entry")?;
            let e = GuardEntry {
                path: string_of(c, "path")?,
                sha256: string_of(c, "sha256")?,
                entry_type: string_of(c, "type")?,
            };
            let out = json!({"path": e.path, "sha256": e.sha256, "type": e.entry_type});
            contents.push(e);
            Ok(out)
        })?;
        m.insert("contents".into(), contents_value);
        let mut signatures = Vec::new();
        match v.field("signatures") {
            None | Some(GoValue::Null) => {}
            Some(GoValue::Array(items)) => {
                for s in items {
                    object(s, "signature")?;
                    signatures.push(Signature::from_go(s).unwrap_or_default());
                }
            }
            Some(o) => {
                return invalid(format!(
                "parse guard manifest: json: cannot unmarshal {} into field signatures of type array",
                o.kind()
            ))
            }
        }
        Ok(GuardManifest {
            pack_id,
            run_id,
            contents,
            signatures,
            unsigned: Value::Object(m),
        })
    }
}

/// What verifying a guard pack found.
#[derive(Debug, Clone, Default)]
pub struct GuardVerifyReport {
    pub pack_id: String,
    pub run_id: String,
    pub files_checked: usize,
    pub missing_files: Vec<String>,
    pub hash_mismatches: Vec<HashMismatch>,
    pub signatures: SignatureReport,
}

impl GuardVerifyReport {
    pub fn ok(&self, require_signature: bool) -> bool {
        self.missing_files.is_empty()
            && self.hash_mismatches.is_empty()
            && self.signatures.satisfies(require_signature)
    }
}

/// Verifies a guard pack: each listed entry's presence and hash (streamed, so entry size is
/// bounded only by the archive reader's limits), then the signatures over the typed manifest.
pub fn verify(
    src: &mut dyn EntrySource,
    key: Option<&PublicKey>,
    require_signature: bool,
) -> R<GuardVerifyReport> {
    let names = src.entry_names();
    if !names.iter().any(|n| n == GUARD_MANIFEST_NAME) {
        return invalid("missing pack_manifest.json");
    }
    let raw = src.read_entry(GUARD_MANIFEST_NAME, 16 * 1024 * 1024)?;
    let text = String::from_utf8(raw)
        .map_err(|_| RunpackError::Invalid("parse guard manifest: not valid UTF-8".into()))?;
    let manifest = GuardManifest::parse(&text)?;
    let mut rep = GuardVerifyReport {
        pack_id: manifest.pack_id.clone(),
        run_id: manifest.run_id.clone(),
        ..Default::default()
    };
    for c in &manifest.contents {
        rep.files_checked += 1;
        if !names.contains(&c.path) {
            rep.missing_files.push(c.path.clone());
            continue;
        }
        let actual = src.entry_sha256(&c.path)?;
        if !actual.eq_ignore_ascii_case(c.sha256.trim()) {
            rep.hash_mismatches.push(HashMismatch {
                path: c.path.clone(),
                expected: c.sha256.clone(),
                actual,
            });
        }
    }
    rep.signatures = check_signatures(
        &manifest.unsigned,
        &manifest.signatures,
        key,
        require_signature,
        true,
    );
    rep.missing_files.sort();
    rep.missing_files.dedup();
    rep.hash_mismatches.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::KeyPair;
    use std::collections::BTreeMap;

    fn pack(key: Option<&KeyPair>) -> BTreeMap<String, Vec<u8>> {
        let summary = br#"{"run_id":"run_demo"}"#.to_vec();
        let mut unsigned = json!({
            "schema_id": GUARD_MANIFEST_SCHEMA, "schema_version": "1.0.0",
            "created_at": "2026-02-01T00:00:00Z", "producer_version": "0.0.0-dev",
            "pack_id": "pack_0123456789abcdef", "run_id": "run_demo", "template_id": "soc2",
            "generated_at": "2026-02-01T00:00:00Z",
            "control_index": [{"control_id": "CC8.1", "title": "t", "evidence_paths": ["runpack_summary.json"]}],
            "evidence_pointers": [{"pointer_id": "ev_001", "path": "runpack_summary.json", "type": "runpack", "sha256": crate::jcs::sha256_hex(&summary)}],
            "contents": [{"path": "runpack_summary.json", "sha256": crate::jcs::sha256_hex(&summary), "type": "runpack"}],
        });
        if let Some(k) = key {
            let d = crate::jcs::digest_hex(&unsigned).unwrap();
            let sig = k.sign_digest_hex(&d).unwrap();
            unsigned["signatures"] = json!([sig.to_value()]);
        }
        let mut m = BTreeMap::new();
        m.insert("runpack_summary.json".to_string(), summary);
        m.insert(
            GUARD_MANIFEST_NAME.to_string(),
            serde_json::to_vec(&unsigned).unwrap(),
        );
        m
    }

    #[test]
    fn signed_guard_pack_verifies_and_wrong_key_fails() {
        let k = KeyPair::generate().unwrap();
        let mut p = pack(Some(&k));
        let rep = verify(&mut p, Some(&k.public()), true).unwrap();
        assert!(rep.ok(true), "{rep:?}");
        assert_eq!(rep.signatures.status, "verified");
        assert_eq!(rep.files_checked, 1);

        let other = KeyPair::generate().unwrap();
        let rep = verify(&mut p, Some(&other.public()), false).unwrap();
        assert!(!rep.ok(false));
        assert_eq!(rep.signatures.status, "failed");
        assert!(rep
            .signatures
            .errors
            .contains(&"signature verification failed".to_string()));
    }

    #[test]
    fn tampered_entry_and_missing_entry_are_reported() {
        let mut p = pack(None);
        p.insert("runpack_summary.json".into(), b"{}".to_vec());
        let rep = verify(&mut p, None, false).unwrap();
        assert!(!rep.ok(false));
        assert_eq!(rep.hash_mismatches.len(), 1);
        p.remove("runpack_summary.json");
        let rep = verify(&mut p, None, false).unwrap();
        assert_eq!(rep.missing_files, vec!["runpack_summary.json".to_string()]);
    }

    #[test]
    fn unsigned_pack_passes_standard_but_not_required() {
        let mut p = pack(None);
        let rep = verify(&mut p, None, false).unwrap();
        assert!(rep.ok(false));
        assert_eq!(rep.signatures.status, "missing");
        assert!(!rep.ok(true));
    }

    #[test]
    fn signature_covers_typed_fields() {
        let k = KeyPair::generate().unwrap();
        let mut p = pack(Some(&k));
        let mut v: Value = serde_json::from_slice(&p[GUARD_MANIFEST_NAME]).unwrap();
        v["template_id"] = json!("pci");
        p.insert(GUARD_MANIFEST_NAME.into(), serde_json::to_vec(&v).unwrap());
        let rep = verify(&mut p, Some(&k.public()), false).unwrap();
        assert_eq!(rep.signatures.status, "failed");
    }

    #[test]
    fn wrong_schema_and_garbage_are_invalid() {
        assert!(GuardManifest::parse("[]").is_err());
        assert!(GuardManifest::parse(r#"{"schema_id":"gait.pack.manifest"}"#).is_err());
        assert!(GuardManifest::parse(
            r#"{"schema_id":"gait.guard.pack_manifest","schema_version":"1.0.0","contents":"x"}"#
        )
        .is_err());
        assert!(is_guard_manifest(
            r#"{"schema_id":"gait.guard.pack_manifest"}"#
        ));
        assert!(!is_guard_manifest("not json"));
    }
}
