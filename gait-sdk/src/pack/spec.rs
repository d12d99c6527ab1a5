//! PackSpec v1: the manifest (`pack_manifest.json`), the proof-record chain
//! (`proof_records.jsonl`), building a pack's entries from payload files, and verifying a
//! pack. Payload rules per pack type are supplied by the caller through [`PayloadContract`],
//! so the job, call and authorization types plug in without changing this module.

use super::runpack::{check_signatures, EntrySource, HashMismatch, RunpackError, SignatureReport};
use crate::gojson::GoValue;
use crate::jcs;
use crate::signing::{KeyPair, PublicKey, Signature};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub const MANIFEST_NAME: &str = "pack_manifest.json";
pub const PROOF_NAME: &str = "proof_records.jsonl";
pub const PACK_MANIFEST_SCHEMA: &str = "gait.pack.manifest";
pub const SCHEMA_VERSION: &str = "1.0.0";
/// Every pack gait builds is stamped with this time, so builds are reproducible.
pub const PACK_CREATED_AT: &str = "1980-01-01T00:00:00Z";
pub const PACK_TYPES: &[&str] = &["run", "job", "call", "authorization"];

type R<T> = Result<T, RunpackError>;

fn verr<T>(m: impl Into<String>) -> R<T> {
    Err(RunpackError::Verification(m.into()))
}

/// One `contents` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackEntry {
    pub path: String,
    pub sha256: String,
    pub entry_type: String,
}

/// `pack_manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackManifest {
    pub schema_id: String,
    pub schema_version: String,
    pub created_at: String,
    pub producer_version: String,
    pub pack_id: String,
    pub pack_type: String,
    pub source_ref: String,
    pub contents: Vec<PackEntry>,
    pub signatures: Vec<Signature>,
}

/// Entry type from the lower-cased file suffix.
pub fn entry_type(path: &str) -> &'static str {
    let p = path.to_lowercase();
    if p.ends_with(".jsonl") {
        "jsonl"
    } else if p.ends_with(".json") {
        "json"
    } else if p.ends_with(".zip") {
        "zip"
    } else {
        "blob"
    }
}

const MANIFEST_KEYS: &[&str] = &[
    "schema_id",
    "schema_version",
    "created_at",
    "producer_version",
    "pack_id",
    "pack_type",
    "source_ref",
    "contents",
    "signatures",
];

fn strict_keys(v: &GoValue, allowed: &[&str], what: &str) -> R<()> {
    let GoValue::Object(members) = v else {
        return verr(format!("parse manifest: {what} must be an object"));
    };
    for (k, _) in members {
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(k)) {
            return verr(format!("parse manifest: json: unknown field \"{k}\""));
        }
    }
    Ok(())
}

fn s(v: &GoValue, name: &str) -> R<String> {
    match v.field(name) {
        None => Ok(String::new()),
        Some(GoValue::String(x)) => Ok(x.clone()),
        Some(o) => verr(format!(
            "parse manifest: json: cannot unmarshal {} into field {name} of type string",
            o.kind()
        )),
    }
}

impl PackManifest {
    /// Strict parse with every check of PackSpec §5.2; failures are verification errors.
    pub fn parse(text: &str) -> R<PackManifest> {
        let v = GoValue::parse(text)
            .map_err(|e| RunpackError::Verification(format!("parse manifest: {e}")))?;
        strict_keys(&v, MANIFEST_KEYS, "manifest")?;
        let mut contents = Vec::new();
        let contents_null = !matches!(v.field("contents"), Some(GoValue::Array(_)));
        if let Some(GoValue::Array(items)) = v.field("contents") {
            for c in items {
                strict_keys(c, &["path", "sha256", "type"], "contents entry")?;
                contents.push(PackEntry {
                    path: s(c, "path")?,
                    sha256: s(c, "sha256")?,
                    entry_type: s(c, "type")?,
                });
            }
        }
        let mut signatures = Vec::new();
        if let Some(GoValue::Array(items)) = v.field("signatures") {
            for sig in items {
                strict_keys(sig, &["alg", "key_id", "sig", "signed_digest"], "signature")?;
                signatures.push(Signature::from_go(sig).unwrap_or_default());
            }
        }
        let m = PackManifest {
            schema_id: s(&v, "schema_id")?,
            schema_version: s(&v, "schema_version")?,
            created_at: s(&v, "created_at")?,
            producer_version: s(&v, "producer_version")?,
            pack_id: s(&v, "pack_id")?,
            pack_type: s(&v, "pack_type")?,
            source_ref: s(&v, "source_ref")?,
            contents,
            signatures,
        };
        if m.schema_id != PACK_MANIFEST_SCHEMA {
            return verr(format!(
                "parse manifest: unsupported manifest schema_id: {}",
                m.schema_id
            ));
        }
        if m.schema_version != SCHEMA_VERSION {
            return verr(format!(
                "parse manifest: unsupported manifest schema_version: {}",
                m.schema_version
            ));
        }
        if !PACK_TYPES.contains(&m.pack_type.as_str()) {
            return verr(format!(
                "parse manifest: invalid pack_type: {}",
                m.pack_type
            ));
        }
        if m.source_ref.trim().is_empty() {
            return verr("parse manifest: source_ref is required");
        }
        let created = crate::time::GoTime::parse_rfc3339(&m.created_at)
            .map_err(|e| RunpackError::Verification(format!("parse manifest: {e}")))?;
        if created.is_zero() {
            return verr("parse manifest: created_at is required");
        }
        if m.producer_version.trim().is_empty() {
            return verr("parse manifest: producer_version is required");
        }
        if !jcs::is_sha256_hex(m.pack_id.trim()) {
            return verr("parse manifest: pack_id must be sha256 hex");
        }
        if contents_null {
            return verr("parse manifest: contents is required");
        }
        for c in &m.contents {
            if c.path.trim().is_empty()
                || c.entry_type.trim().is_empty()
                || !jcs::is_sha256_hex(&c.sha256)
            {
                return verr("parse manifest: contents entries require path, type and sha256 hex");
            }
        }
        for sig in &m.signatures {
            if sig.alg.is_empty()
                || sig.key_id.is_empty()
                || sig.sig.is_empty()
                || (!sig.signed_digest.is_empty() && !jcs::is_sha256_hex(&sig.signed_digest))
            {
                return verr("parse manifest: signature requires alg, key_id, sig and a sha256 signed_digest");
            }
        }
        Ok(m)
    }

    /// The typed projection; `pack_id` as given, `signatures` only when `with_signatures`.
    pub fn to_value(&self, with_signatures: bool) -> Value {
        let mut m = Map::new();
        m.insert("schema_id".into(), json!(self.schema_id));
        m.insert("schema_version".into(), json!(self.schema_version));
        m.insert("created_at".into(), json!(self.created_at));
        m.insert("producer_version".into(), json!(self.producer_version));
        m.insert("pack_id".into(), json!(self.pack_id));
        m.insert("pack_type".into(), json!(self.pack_type));
        m.insert("source_ref".into(), json!(self.source_ref));
        m.insert(
            "contents".into(),
            Value::Array(
                self.contents
                    .iter()
                    .map(|c| json!({"path": c.path, "sha256": c.sha256, "type": c.entry_type}))
                    .collect(),
            ),
        );
        if with_signatures && !self.signatures.is_empty() {
            m.insert(
                "signatures".into(),
                Value::Array(self.signatures.iter().map(Signature::to_value).collect()),
            );
        }
        Value::Object(m)
    }

    /// `pack_id` = D(manifest with `pack_id:""` and no signatures).
    pub fn compute_pack_id(&self) -> String {
        let mut blank = self.clone();
        blank.pack_id.clear();
        jcs::digest_hex(&blank.to_value(false)).expect("finite JSON")
    }
}

/// Builds `proof_records.jsonl` over `files` (path-sorted), optionally signing each record.
pub fn proof_records(
    pack_type: &str,
    source_ref: &str,
    producer_version: &str,
    files: &BTreeMap<String, Vec<u8>>,
    key: Option<&KeyPair>,
) -> Vec<u8> {
    let mut lines = Vec::new();
    let mut previous = String::new();
    for (path, bytes) in files {
        let event = json!({
            "pack_type": pack_type, "source_ref": source_ref, "producer_version": producer_version,
            "entry_path": path, "entry_type": entry_type(path), "entry_sha256": jcs::sha256_hex(bytes),
            "entry_size_bytes": bytes.len(), "entry_permissions": 420,
        });
        let base = json!({"timestamp": PACK_CREATED_AT, "source": "gait.pack", "source_product": "gait", "agent_id": "gait", "record_type": "tool_invocation", "event": event});
        let record_id = format!(
            "prf-{PACK_CREATED_AT}-{}",
            &jcs::digest_hex(&base).expect("finite")[..8]
        );
        let controls = json!({"permissions_enforced": false});
        let metadata = json!({"artifact_kind": "gait.pack.entry"});
        let hash_input = json!({"record_id": record_id, "record_version": "1.0", "timestamp": PACK_CREATED_AT, "source": "gait.pack",
            "source_product": "gait", "agent_id": "gait", "record_type": "tool_invocation", "event": event,
            "controls": controls, "metadata": metadata, "integrity": {"previous_record_hash": previous}});
        let record_hash = format!("sha256:{}", jcs::digest_hex(&hash_input).expect("finite"));
        let mut integrity = Map::new();
        integrity.insert("record_hash".into(), json!(record_hash));
        if !previous.is_empty() {
            integrity.insert("previous_record_hash".into(), json!(previous));
        }
        if let Some(k) = key {
            integrity.insert("signing_key_id".into(), json!(k.key_id()));
            integrity.insert(
                "signature".into(),
                json!(format!(
                    "base64:{}",
                    k.sign_bytes_base64(record_hash.as_bytes())
                )),
            );
        }
        let record = json!({"record_id": record_id, "record_version": "1.0", "timestamp": PACK_CREATED_AT, "source": "gait.pack",
            "source_product": "gait", "agent_id": "gait", "record_type": "tool_invocation", "event": event,
            "controls": controls, "metadata": metadata, "integrity": integrity});
        lines.push(jcs::canonical_string(&record).expect("finite"));
        previous = record_hash;
    }
    lines.join("\n").into_bytes()
}

/// Assembles a pack's entries: payload files, proof records and the signed manifest.
pub struct BuiltPack {
    pub manifest: PackManifest,
    pub entries: BTreeMap<String, Vec<u8>>,
}

pub fn build(
    pack_type: &str,
    source_ref: &str,
    producer_version: &str,
    payload: BTreeMap<String, Vec<u8>>,
    key: Option<&KeyPair>,
) -> R<BuiltPack> {
    let mut files = payload;
    let proofs = proof_records(pack_type, source_ref, producer_version, &files, key);
    files.insert(PROOF_NAME.into(), proofs);
    let mut manifest = PackManifest {
        schema_id: PACK_MANIFEST_SCHEMA.into(),
        schema_version: SCHEMA_VERSION.into(),
        created_at: PACK_CREATED_AT.into(),
        producer_version: producer_version.into(),
        pack_id: String::new(),
        pack_type: pack_type.into(),
        source_ref: source_ref.into(),
        contents: files
            .iter()
            .map(|(p, b)| PackEntry {
                path: p.clone(),
                sha256: jcs::sha256_hex(b),
                entry_type: entry_type(p).into(),
            })
            .collect(),
        signatures: Vec::new(),
    };
    manifest.pack_id = manifest.compute_pack_id();
    if let Some(k) = key {
        let sig = k
            .sign_value(&manifest.to_value(false))
            .map_err(|e| RunpackError::Invalid(e.to_string()))?;
        manifest.signatures.push(sig);
    }
    files.insert(
        MANIFEST_NAME.into(),
        jcs::canonical_bytes(&manifest.to_value(true)).expect("finite"),
    );
    Ok(BuiltPack {
        manifest,
        entries: files,
    })
}

/// Per-pack-type payload rules checked by `verify` once the file set is intact.
pub trait PayloadContract {
    fn check(&self, manifest: &PackManifest, src: &mut dyn EntrySource) -> R<()>;
}

/// Outcome of `pack verify` on a PackSpec pack.
#[derive(Debug, Clone, Default)]
pub struct PackVerifyReport {
    pub manifest: Option<PackManifest>,
    pub files_checked: usize,
    pub missing_files: Vec<String>,
    pub hash_mismatches: Vec<HashMismatch>,
    pub undeclared_files: Vec<String>,
    pub proof_records_verified: usize,
    pub signatures: SignatureReport,
}

impl PackVerifyReport {
    pub fn ok(&self, require_signature: bool) -> bool {
        self.missing_files.is_empty()
            && self.hash_mismatches.is_empty()
            && self.undeclared_files.is_empty()
            && self.signatures.satisfies(require_signature)
    }
}

fn verify_proofs(
    text: &str,
    key: Option<&PublicKey>,
    check_sigs: bool,
    sig_errors: &mut Vec<String>,
) -> R<usize> {
    let mut previous = String::new();
    let mut count = 0;
    for (i, line) in text.split('\n').enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        let bad =
            |m: &str| RunpackError::Verification(format!("proof_records.jsonl: line {n} {m}"));
        let v: Value =
            serde_json::from_str(line).map_err(|e| bad(&format!("invalid json: {e}")))?;
        let obj = v.as_object().ok_or_else(|| bad("is not an object"))?;
        for k in [
            "record_id",
            "record_version",
            "timestamp",
            "source",
            "source_product",
            "record_type",
            "event",
            "controls",
            "integrity",
        ] {
            if !obj.contains_key(k) {
                return Err(bad(&format!("missing {k}")));
            }
        }
        if obj["record_type"] != "tool_invocation" {
            return Err(bad("unsupported record_type"));
        }
        let integ = obj["integrity"]
            .as_object()
            .ok_or_else(|| bad("integrity must be an object"))?;
        let hash = integ
            .get("record_hash")
            .and_then(Value::as_str)
            .unwrap_or("");
        let prev = integ
            .get("previous_record_hash")
            .and_then(Value::as_str)
            .unwrap_or("");
        let is_hash = |h: &str| {
            h.strip_prefix("sha256:").is_some_and(|x| {
                x.len() == 64
                    && x.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            })
        };
        if !is_hash(hash) || (!prev.is_empty() && !is_hash(prev)) {
            return Err(bad("record_hash malformed"));
        }
        let mut hash_input = obj.clone();
        hash_input.insert("integrity".into(), json!({"previous_record_hash": prev}));
        let recomputed = format!(
            "sha256:{}",
            jcs::digest_hex(&Value::Object(hash_input)).map_err(|e| bad(&e.to_string()))?
        );
        if recomputed != hash {
            return Err(bad("record_hash mismatch"));
        }
        if prev != previous {
            return Err(bad(
                "previous_record_hash does not link to the previous record",
            ));
        }
        if check_sigs {
            if let Some(k) = key {
                match integ.get("signature").and_then(Value::as_str) {
                    None | Some("") => {
                        sig_errors.push(format!("proof_records line {n} missing signature"))
                    }
                    Some(sig) => match sig.strip_prefix("base64:") {
                        None => sig_errors.push(format!(
                            "proof_records line {n} unsupported signature prefix"
                        )),
                        Some(b) => {
                            let kid = integ
                                .get("signing_key_id")
                                .and_then(Value::as_str)
                                .unwrap_or("");
                            if kid.is_empty() {
                                sig_errors
                                    .push(format!("proof_records line {n} missing signing_key_id"));
                            } else if kid != k.key_id() {
                                sig_errors.push(format!("proof_records line {n} signature verification: key id mismatch"));
                            } else if !k.verify_bytes_base64(hash.as_bytes(), b) {
                                sig_errors.push(format!(
                                    "proof_records line {n} signature verification failed"
                                ));
                            }
                        }
                    },
                }
            }
        }
        previous = hash.to_string();
        count += 1;
    }
    Ok(count)
}

/// Verifies a PackSpec pack (not a legacy runpack or guard pack).
pub fn verify(
    src: &mut dyn EntrySource,
    contract: &dyn PayloadContract,
    key: Option<&PublicKey>,
    require_signature: bool,
) -> R<PackVerifyReport> {
    let names = src.entry_names();
    let raw = src.read_entry(MANIFEST_NAME, 16 * 1024 * 1024)?;
    let text = String::from_utf8(raw)
        .map_err(|_| RunpackError::Verification("parse manifest: not valid UTF-8".into()))?;
    let manifest = PackManifest::parse(&text)?;
    let computed = manifest.compute_pack_id();
    if !computed.eq_ignore_ascii_case(manifest.pack_id.trim()) {
        return verr(format!(
            "pack_id mismatch: expected={computed} actual={}",
            manifest.pack_id
        ));
    }
    let mut rep = PackVerifyReport::default();
    let mut proof_ok = false;
    for c in &manifest.contents {
        rep.files_checked += 1;
        if !names.contains(&c.path) {
            rep.missing_files.push(c.path.clone());
            continue;
        }
        let actual = src.entry_sha256(&c.path)?;
        if actual.eq_ignore_ascii_case(&c.sha256) {
            if c.path == PROOF_NAME {
                proof_ok = true;
            }
        } else {
            rep.hash_mismatches.push(HashMismatch {
                path: c.path.clone(),
                expected: c.sha256.clone(),
                actual,
            });
        }
    }
    for n in &names {
        if n != MANIFEST_NAME && !manifest.contents.iter().any(|c| &c.path == n) {
            rep.undeclared_files.push(n.clone());
        }
    }
    let mut proof_sig_errors = Vec::new();
    if proof_ok {
        let bytes = src.read_entry(PROOF_NAME, 64 * 1024 * 1024)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            RunpackError::Verification("proof_records.jsonl: not valid UTF-8".into())
        })?;
        rep.proof_records_verified =
            verify_proofs(&text, key, require_signature, &mut proof_sig_errors)?;
    }
    if rep.missing_files.is_empty()
        && rep.hash_mismatches.is_empty()
        && rep.undeclared_files.is_empty()
    {
        contract.check(&manifest, src)?;
    }
    rep.signatures = check_signatures(
        &manifest.to_value(false),
        &manifest.signatures,
        key,
        require_signature,
        true,
    );
    if !proof_sig_errors.is_empty() {
        rep.signatures.errors.extend(proof_sig_errors);
        rep.signatures.errors.sort();
        rep.signatures.status = "failed".into();
    }
    rep.missing_files.sort();
    rep.undeclared_files.sort();
    rep.hash_mismatches.sort_by(|a, b| a.path.cmp(&b.path));
    rep.manifest = Some(manifest);
    Ok(rep)
}

impl KeyPair {
    /// Ed25519 over arbitrary bytes, base64 (proof records sign the hash text itself).
    pub fn sign_bytes_base64(&self, bytes: &[u8]) -> String {
        B64.encode(self.sign_raw(bytes))
    }
}

impl PublicKey {
    pub fn verify_bytes_base64(&self, bytes: &[u8], sig_b64: &str) -> bool {
        B64.decode(sig_b64)
            .ok()
            .is_some_and(|sig| self.verify_raw(bytes, &sig))
    }
}
