//! PackSpec commands: `pack build`, `pack verify`, `pack inspect`, `pack diff`,
//! `pack export`. The generic machinery is `gait_sdk::pack::spec`; this module adds the run
//! pack's payload, its contract, legacy runpacks, lineage, drift and exports.

use crate::archive::{open_bytes, open_entries, read_all, write_zip, zip_bytes};
use crate::authorization;
use crate::error::PackError;
use crate::runs::{
    load_runpack, output_path, pack_signer, refs_drift, verify_report_members, VerifyKeys,
};
use gait_sdk::cli::CommandOutput;
use gait_sdk::error::exit;
use gait_sdk::gojson::GoValue;
use gait_sdk::jcs;
use gait_sdk::pack::guard;
use gait_sdk::pack::runpack::{self, read_strict, EntrySource, Runpack, RunpackError};
use gait_sdk::pack::spec::{self, PackManifest, PayloadContract, MANIFEST_NAME};
use gait_sdk::signing::KeySource;
use gait_sdk::time::GoTime;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

type R<T> = Result<T, PackError>;

pub const OUTPUT_SCHEMA: &str = "gait.pack.output";
const RUN_PAYLOAD: &str = "run_payload.json";
const ENVELOPE: &str = "context_envelope.json";
const SOURCE_RUNPACK: &str = "source/runpack.zip";
const EPOCH_1980: &str = "1980-01-01T00:00:00Z";

fn base(operation: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("schema_id".into(), json!(OUTPUT_SCHEMA));
    m.insert("schema_version".into(), json!("1.0.0"));
    m.insert("operation".into(), json!(operation));
    m
}

/// The ContextSpec envelope built from a run's refs (`None` without receipts).
pub fn context_envelope(rp: &Runpack) -> R<Option<Value>> {
    let refs = &rp.refs;
    if refs.receipts.is_empty() {
        return Ok(None);
    }
    let mut records = refs.receipts.clone();
    records.sort_by(|a, b| {
        (
            &a.ref_id,
            &a.source_type,
            &a.source_locator,
            &a.content_digest,
        )
            .cmp(&(
                &b.ref_id,
                &b.source_type,
                &b.source_locator,
                &b.content_digest,
            ))
    });
    let recs: Vec<Value> = records.iter().map(|r| r.to_value()).collect();
    let digest = jcs::digest_hex(&Value::Array(recs.clone())).expect("finite");
    if !refs.context_set_digest.is_empty() && refs.context_set_digest != digest {
        return Err(PackError::invalid("context_set_digest mismatch"));
    }
    let created = if refs.header.created_at.is_zero() {
        GoTime::parse_rfc3339(EPOCH_1980).expect("constant")
    } else {
        refs.header.created_at.utc()
    };
    let producer = if refs.header.producer_version.is_empty() {
        runpack::DEFAULT_PRODUCER_VERSION.to_string()
    } else {
        refs.header.producer_version.clone()
    };
    let mode = if refs.context_evidence_mode.is_empty() {
        "best_effort".to_string()
    } else {
        refs.context_evidence_mode.clone()
    };
    Ok(Some(json!({
        "schema_id": "gait.context.envelope", "schema_version": "1.0.0",
        "created_at": created.to_rfc3339_nano(), "producer_version": producer,
        "context_set_id": rp.run.header.run_id, "context_set_digest": digest,
        "evidence_mode": mode, "records": recs,
    })))
}

/// The `run_payload.json` of a run pack.
pub fn run_payload(rp: &Runpack) -> Value {
    let created = if rp.run.header.created_at.is_zero() {
        GoTime::parse_rfc3339(EPOCH_1980).expect("constant")
    } else {
        rp.run.header.created_at.utc()
    };
    let mut m = Map::new();
    m.insert("schema_id".into(), json!("gait.pack.run"));
    m.insert("schema_version".into(), json!("1.0.0"));
    m.insert("created_at".into(), json!(created.to_rfc3339_nano()));
    m.insert("run_id".into(), json!(rp.run.header.run_id));
    m.insert("capture_mode".into(), json!(rp.manifest.capture_mode));
    m.insert("manifest_digest".into(), json!(rp.manifest.manifest_digest));
    m.insert("intents_count".into(), json!(rp.intents.len()));
    m.insert("results_count".into(), json!(rp.results.len()));
    m.insert("refs_count".into(), json!(rp.refs.receipts.len()));
    if !rp.refs.context_set_digest.is_empty() {
        m.insert(
            "context_set_digest".into(),
            json!(rp.refs.context_set_digest),
        );
    }
    if !rp.refs.receipts.is_empty() {
        m.insert("context_ref_count".into(), json!(rp.refs.receipts.len()));
    }
    if !rp.refs.context_evidence_mode.is_empty() {
        m.insert(
            "context_evidence_mode".into(),
            json!(rp.refs.context_evidence_mode),
        );
    }
    if !rp.refs.receipts.is_empty() {
        let modes: std::collections::BTreeSet<String> = rp
            .refs
            .receipts
            .iter()
            .map(|r| {
                if r.redaction_mode.trim().is_empty() {
                    "unknown".to_string()
                } else {
                    r.redaction_mode.trim().to_lowercase()
                }
            })
            .collect();
        let mode = if modes.len() == 1 {
            modes.into_iter().next().expect("one")
        } else {
            "mixed".to_string()
        };
        m.insert("context_privacy_mode".into(), json!(mode));
    }
    Value::Object(m)
}

/// Flags of `pack build`.
#[derive(Debug, Default, Clone)]
pub struct BuildArgs {
    pub pack_type: String,
    pub from: String,
    pub out: String,
    pub key_mode: String,
    pub private_key: String,
    pub private_key_env: String,
    pub producer_version: String,
    /// `--job-root` for `--type job` (default `./gait-out/jobs`).
    pub job_root: String,
}

pub fn build(a: &BuildArgs) -> R<CommandOutput> {
    let pack_type = if a.pack_type.trim().is_empty() {
        "run".to_string()
    } else {
        a.pack_type.trim().to_lowercase()
    };
    if !spec::PACK_TYPES.contains(&pack_type.as_str()) {
        return Err(PackError::invalid(format!(
            "unsupported --type value \"{pack_type}\" (expected run, job, call or authorization)"
        )));
    }
    if a.from.trim().is_empty() {
        return Err(PackError::invalid("--from is required"));
    }
    let signer = pack_signer(
        &a.key_mode,
        &KeySource::new(&a.private_key, &a.private_key_env),
    )?;
    let producer = if a.producer_version.is_empty() {
        runpack::DEFAULT_PRODUCER_VERSION
    } else {
        &a.producer_version
    };
    if pack_type == "authorization" {
        return build_authorization(a, producer, signer.as_ref());
    }
    if pack_type == "job" {
        return build_job(a, producer, signer.as_ref());
    }
    if pack_type == "call" {
        return build_call(a, producer, signer.as_ref());
    }
    if pack_type != "run" {
        return Err(PackError::invalid(format!(
            "pack type {pack_type} is not supported yet by this gait release (it arrives with the voice plugin)"
        )));
    }
    // A session chain packs its latest checkpoint.
    let from = if a.from.trim().to_lowercase().ends_with(".json") {
        crate::sessions::latest_checkpoint_runpack(Path::new(a.from.trim()))?
            .to_string_lossy()
            .into_owned()
    } else {
        a.from.clone()
    };
    let (path, rp) = load_runpack(&from)?;
    let mut src = open_entries(&path)?;
    let original = read_all(src.as_mut(), runpack::MAX_ENTRY_BYTES)?;
    let mut payload = BTreeMap::new();
    payload.insert(SOURCE_RUNPACK.to_string(), zip_bytes(&original)?);
    payload.insert(
        RUN_PAYLOAD.to_string(),
        jcs::canonical_bytes(&run_payload(&rp)).expect("finite"),
    );
    if let Some(env) = context_envelope(&rp)? {
        payload.insert(
            ENVELOPE.to_string(),
            jcs::canonical_bytes(&env).expect("finite"),
        );
    }
    let built = spec::build(
        "run",
        &rp.run.header.run_id,
        producer,
        payload,
        signer.as_ref().map(|s| &s.key),
    )?;
    let out = pack_out_path(&a.out, &path, &built.manifest.pack_id)?;
    write_zip(Path::new(&out), &built.entries)?;
    Ok(build_output(
        &out,
        &built.manifest.pack_id,
        "run",
        &rp.run.header.run_id,
        signer.as_ref(),
    ))
}

/// Default output path: `<dir of from>/pack_<id>.zip`, else `--out`.
fn pack_out_path(out: &str, from: &Path, pack_id: &str) -> R<String> {
    if out.trim().is_empty() {
        let dir = from
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| ".".into());
        output_path(&format!("{dir}/pack_{pack_id}.zip"))
    } else {
        output_path(out)
    }
}

fn build_output(
    out: &str,
    pack_id: &str,
    pack_type: &str,
    source_ref: &str,
    signer: Option<&gait_sdk::signing::Signer>,
) -> CommandOutput {
    let mut m = base("build");
    m.insert("ok".into(), json!(true));
    m.insert("path".into(), json!(out));
    m.insert("pack_id".into(), json!(pack_id));
    m.insert("pack_type".into(), json!(pack_type));
    m.insert("source_ref".into(), json!(source_ref));
    if let Some(s) = signer {
        if !s.warnings.is_empty() {
            m.insert("warnings".into(), json!(s.warnings));
        }
    }
    let text = format!("pack built: {out}\npack_id: {pack_id}\n");
    CommandOutput::new(m, text, exit::OK)
}

/// `pack build --type authorization --from bundle.json`.
fn build_authorization(
    a: &BuildArgs,
    producer: &str,
    signer: Option<&gait_sdk::signing::Signer>,
) -> R<CommandOutput> {
    let from = Path::new(a.from.trim());
    let built = authorization::build_payload(from, producer)?;
    let pack = spec::build(
        "authorization",
        &built.bundle.trace_id,
        &built.bundle.producer_version,
        built.entries,
        signer.map(|s| &s.key),
    )?;
    let out = pack_out_path(&a.out, from, &pack.manifest.pack_id)?;
    write_zip(Path::new(&out), &pack.entries)?;
    Ok(build_output(
        &out,
        &pack.manifest.pack_id,
        "authorization",
        &built.bundle.trace_id,
        signer,
    ))
}

/// Payload rules by pack type.
pub(crate) struct Contracts;

fn strict_object(bytes: &[u8], allowed: &[&str], what: &str) -> Result<GoValue, RunpackError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| RunpackError::Verification(format!("{what}: not valid UTF-8")))?;
    let v = GoValue::parse(text).map_err(|e| RunpackError::Verification(format!("{what}: {e}")))?;
    let GoValue::Object(members) = &v else {
        return Err(RunpackError::Verification(format!("{what}: not an object")));
    };
    for (k, _) in members {
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(k)) {
            return Err(RunpackError::Verification(format!(
                "{what}: json: unknown field \"{k}\""
            )));
        }
    }
    Ok(v)
}

impl PayloadContract for Contracts {
    fn check(
        &self,
        manifest: &PackManifest,
        src: &mut dyn EntrySource,
    ) -> Result<(), RunpackError> {
        let bad = |m: String| Err(RunpackError::Verification(m));
        if manifest.pack_type == "authorization" {
            return authorization::check_contract(&manifest.source_ref, src);
        }
        if manifest.pack_type == "job" {
            return check_job_contract(&manifest.source_ref, src);
        }
        // --- call (voice): the callpack contract lives in gait_sdk::pack::call
        if manifest.pack_type == "call" {
            return gait_sdk::pack::call::check_contract(manifest, src);
        }
        // --- end call
        if manifest.pack_type != "run" {
            return Ok(());
        }
        let names = src.entry_names();
        for n in [RUN_PAYLOAD, SOURCE_RUNPACK] {
            if !names.iter().any(|x| x == n) {
                return bad(format!("run pack missing {n}"));
            }
        }
        let bytes = src.read_entry(RUN_PAYLOAD, 16 * 1024 * 1024)?;
        let v = strict_object(
            &bytes,
            &[
                "schema_id",
                "schema_version",
                "created_at",
                "run_id",
                "capture_mode",
                "manifest_digest",
                "intents_count",
                "results_count",
                "refs_count",
                "context_set_digest",
                "context_ref_count",
                "context_evidence_mode",
                "context_privacy_mode",
            ],
            "run payload",
        )?;
        let s = |k: &str| match v.field(k) {
            Some(GoValue::String(x)) => x.clone(),
            _ => String::new(),
        };
        if s("schema_id") != "gait.pack.run" || s("schema_version") != "1.0.0" {
            return bad("run payload schema mismatch".into());
        }
        if GoTime::parse_rfc3339(&s("created_at"))
            .map(|t| t.is_zero())
            .unwrap_or(true)
        {
            return bad("run payload created_at is required".into());
        }
        if s("run_id").trim().is_empty() || s("run_id") != manifest.source_ref {
            return bad("run payload run_id must match source_ref".into());
        }
        if !["reference", "raw"].contains(&s("capture_mode").as_str()) {
            return bad("run payload capture_mode must be reference or raw".into());
        }
        if !jcs::is_sha256_hex(&s("manifest_digest")) {
            return bad("run payload manifest_digest must be sha256 hex".into());
        }
        for k in ["intents_count", "results_count", "refs_count"] {
            if let Some(GoValue::Number { float, .. }) = v.field(k) {
                if *float < 0.0 {
                    return bad(format!("run payload {k} must be >= 0"));
                }
            }
        }
        let digest = s("context_set_digest");
        if !digest.is_empty() && !jcs::is_sha256_hex(&digest) {
            return bad("run payload context_set_digest must be sha256 hex".into());
        }
        let mode = s("context_evidence_mode");
        if !["", "best_effort", "required"].contains(&mode.as_str()) {
            return bad("run payload context_evidence_mode is invalid".into());
        }
        Ok(())
    }
}

fn list_path(args: &[String], flag: &str) -> R<String> {
    if !flag.trim().is_empty() {
        return Ok(flag.trim().to_string());
    }
    match args {
        [p] => Ok(p.clone()),
        _ => Err(PackError::invalid("expected <pack.zip>")),
    }
}

/// What `pack verify` found (shared with export).
pub struct PackCheck {
    pub pack_id: String,
    pub pack_type: String,
    pub source_ref: String,
    pub ok: bool,
    pub verify: Map<String, Value>,
    pub files_checked: usize,
    pub hash_mismatches: usize,
    pub missing_files: usize,
    pub undeclared_files: usize,
    pub signature_status: String,
    pub signatures_total: usize,
    pub signatures_valid: usize,
}

pub fn check_pack(path: &Path, keys: &VerifyKeys) -> R<PackCheck> {
    let (key, required) = keys.resolve()?;
    let mut src = open_entries(path)?;
    let names = src.entry_names();
    if !names.iter().any(|n| n == MANIFEST_NAME) {
        if !names.iter().any(|n| n == "manifest.json") {
            return Err(PackError::invalid("missing pack_manifest.json"));
        }
        let rep = runpack::verify(src.as_mut(), key.as_ref(), required)?;
        let ok = rep.ok(required);
        let mut v = Map::new();
        v.insert("pack_id".into(), json!(rep.manifest_digest));
        v.insert("pack_type".into(), json!("run"));
        v.insert("source_ref".into(), json!(rep.run_id));
        verify_report_members(&rep, &mut v);
        v.insert("legacy_type".into(), json!("runpack"));
        return Ok(PackCheck {
            pack_id: rep.manifest_digest.clone(),
            pack_type: "run".into(),
            source_ref: rep.run_id.clone(),
            ok,
            verify: v,
            files_checked: rep.files_checked,
            hash_mismatches: rep.hash_mismatches.len(),
            missing_files: rep.missing_files.len(),
            undeclared_files: 0,
            signature_status: rep.signatures.status.clone(),
            signatures_total: rep.signatures.total,
            signatures_valid: rep.signatures.valid,
        });
    }
    if let Some(check) = check_guard_pack(src.as_mut(), key.as_ref(), required)? {
        return Ok(check);
    }
    let rep = spec::verify(src.as_mut(), &Contracts, key.as_ref(), required)?;
    let ok = rep.ok(required);
    let man = rep.manifest.clone().expect("verify sets the manifest");
    let mut v = Map::new();
    v.insert("pack_id".into(), json!(man.pack_id));
    v.insert("pack_type".into(), json!(man.pack_type));
    v.insert("source_ref".into(), json!(man.source_ref));
    v.insert("files_checked".into(), json!(rep.files_checked));
    if rep.proof_records_verified > 0 {
        v.insert(
            "proof_records_verified".into(),
            json!(rep.proof_records_verified),
        );
    }
    if !rep.missing_files.is_empty() {
        v.insert("missing_files".into(), json!(rep.missing_files));
    }
    if !rep.hash_mismatches.is_empty() {
        v.insert(
            "hash_mismatches".into(),
            Value::Array(
                rep.hash_mismatches
                    .iter()
                    .map(|h| json!({"path": h.path, "expected": h.expected, "actual": h.actual}))
                    .collect(),
            ),
        );
    }
    if !rep.undeclared_files.is_empty() {
        v.insert("undeclared_files".into(), json!(rep.undeclared_files));
    }
    v.insert("signature_status".into(), json!(rep.signatures.status));
    if !rep.signatures.errors.is_empty() {
        v.insert("signature_errors".into(), json!(rep.signatures.errors));
    }
    if rep.signatures.total > 0 {
        v.insert("signatures_total".into(), json!(rep.signatures.total));
    }
    if rep.signatures.valid > 0 {
        v.insert("signatures_valid".into(), json!(rep.signatures.valid));
    }
    Ok(PackCheck {
        pack_id: man.pack_id.clone(),
        pack_type: man.pack_type.clone(),
        source_ref: man.source_ref.clone(),
        ok,
        verify: v,
        files_checked: rep.files_checked,
        hash_mismatches: rep.hash_mismatches.len(),
        missing_files: rep.missing_files.len(),
        undeclared_files: rep.undeclared_files.len(),
        signature_status: rep.signatures.status.clone(),
        signatures_total: rep.signatures.total,
        signatures_valid: rep.signatures.valid,
    })
}

/// A `pack_manifest.json` that is not PackSpec but names the guard schema is a legacy guard
/// evidence pack: verified by its listed hashes and signatures only.
fn check_guard_pack(
    src: &mut dyn EntrySource,
    key: Option<&gait_sdk::signing::PublicKey>,
    required: bool,
) -> R<Option<PackCheck>> {
    let raw = src.read_entry(MANIFEST_NAME, 16 * 1024 * 1024)?;
    let Ok(text) = std::str::from_utf8(&raw) else {
        return Ok(None);
    };
    if PackManifest::parse(text).is_ok() || !guard::is_guard_manifest(text) {
        return Ok(None);
    }
    let rep = guard::verify(src, key, required)?;
    let ok = rep.ok(required);
    let as_runpack = runpack::VerifyReport {
        run_id: rep.run_id.clone(),
        manifest_digest: rep.pack_id.clone(),
        files_checked: rep.files_checked,
        missing_files: rep.missing_files.clone(),
        hash_mismatches: rep.hash_mismatches.clone(),
        signatures: rep.signatures.clone(),
    };
    let mut v = Map::new();
    v.insert("pack_id".into(), json!(rep.pack_id));
    v.insert("pack_type".into(), json!("guard"));
    v.insert("source_ref".into(), json!(rep.run_id));
    verify_report_members(&as_runpack, &mut v);
    v.insert("files_checked".into(), json!(rep.files_checked));
    v.insert("legacy_type".into(), json!("guard"));
    Ok(Some(PackCheck {
        pack_id: rep.pack_id.clone(),
        pack_type: "guard".into(),
        source_ref: rep.run_id.clone(),
        ok,
        verify: v,
        files_checked: rep.files_checked,
        hash_mismatches: rep.hash_mismatches.len(),
        missing_files: rep.missing_files.len(),
        undeclared_files: 0,
        signature_status: rep.signatures.status.clone(),
        signatures_total: rep.signatures.total,
        signatures_valid: rep.signatures.valid,
    }))
}

pub fn verify(args: &[String], path_flag: &str, keys: &VerifyKeys) -> R<CommandOutput> {
    let path = list_path(args, path_flag)?;
    let c = check_pack(Path::new(&path), keys)?;
    let mut m = base("verify");
    m.insert("ok".into(), json!(c.ok));
    m.insert("path".into(), json!(path));
    m.insert("pack_id".into(), json!(c.pack_id));
    m.insert("pack_type".into(), json!(c.pack_type));
    m.insert("source_ref".into(), json!(c.source_ref));
    m.insert("verify".into(), Value::Object(c.verify));
    let text = format!(
        "pack verify: {}\npath: {path}\npack_id: {}\n",
        if c.ok { "ok" } else { "failed" },
        c.pack_id
    );
    Ok(CommandOutput::new(
        m,
        text,
        if c.ok {
            exit::OK
        } else {
            exit::VERIFICATION_FAILED
        },
    ))
}

/// A pack opened for inspection, diff or export.
struct Opened {
    manifest: Option<PackManifest>,
    raw_manifest: Vec<u8>,
    runpack: Option<Runpack>,
    run_payload: Option<Value>,
    authorization: Option<authorization::Bundle>,
    job_payload: Option<Value>,
    job_lineage: Option<Value>,
    /// `call_payload.json` of a callpack when it decodes strictly (voice).
    call_payload: Option<Value>,
    /// A callpack's embedded `source/runpack.zip` (export metrics; no lineage) (voice).
    call_runpack: Option<Runpack>,
    legacy_manifest_digest: String,
}

fn open_pack(path: &Path) -> R<Opened> {
    let mut src = open_entries(path)?;
    let names = src.entry_names();
    if !names.iter().any(|n| n == MANIFEST_NAME) {
        if !names.iter().any(|n| n == "manifest.json") {
            return Err(PackError::invalid("missing pack_manifest.json"));
        }
        let raw = src.read_entry("manifest.json", 16 * 1024 * 1024)?;
        let rp = read_strict(src.as_mut())?;
        return Ok(Opened {
            manifest: None,
            raw_manifest: raw,
            run_payload: Some(run_payload(&rp)),
            authorization: None,
            job_payload: None,
            job_lineage: None,
            call_payload: None,
            call_runpack: None,
            legacy_manifest_digest: rp.manifest.manifest_digest.clone(),
            runpack: Some(rp),
        });
    }
    let raw = src.read_entry(MANIFEST_NAME, 16 * 1024 * 1024)?;
    let manifest = PackManifest::parse(std::str::from_utf8(&raw).unwrap_or("")).map_err(|e| {
        PackError::invalid(format!(
            "parse pack manifest: {}",
            e.to_string().trim_start_matches("parse manifest: ")
        ))
    })?;
    let mut runpack = None;
    let mut run_payload = None;
    let mut authorization = None;
    if manifest.pack_type == "authorization" {
        authorization = authorization::read_payload(src.as_mut());
    }
    let (job_payload, job_lineage) = if manifest.pack_type == "job" {
        read_job_parts(src.as_mut(), &names)
    } else {
        (None, None)
    };
    // --- call (voice)
    let (call_payload, call_runpack) = if manifest.pack_type == "call" {
        let inner = if names.iter().any(|n| n == SOURCE_RUNPACK) {
            let b = src.read_entry(SOURCE_RUNPACK, runpack::MAX_ENTRY_BYTES)?;
            open_bytes(b)
                .ok()
                .and_then(|mut i| read_strict(i.as_mut()).ok())
        } else {
            None
        };
        (gait_sdk::pack::call::read_payload(src.as_mut()), inner)
    } else {
        (None, None)
    };
    // --- end call
    if manifest.pack_type == "run" {
        if names.iter().any(|n| n == RUN_PAYLOAD) {
            let b = src.read_entry(RUN_PAYLOAD, 16 * 1024 * 1024)?;
            run_payload = serde_json::from_slice::<Value>(&b).ok();
        }
        if names.iter().any(|n| n == SOURCE_RUNPACK) {
            let b = src.read_entry(SOURCE_RUNPACK, runpack::MAX_ENTRY_BYTES)?;
            if let Ok(mut inner) = open_bytes(b) {
                runpack = read_strict(inner.as_mut()).ok();
            }
        }
    }
    Ok(Opened {
        manifest: Some(manifest),
        raw_manifest: raw,
        runpack,
        run_payload,
        authorization,
        job_payload,
        job_lineage,
        call_payload,
        call_runpack,
        legacy_manifest_digest: String::new(),
    })
}

fn run_lineage(rp: &Runpack) -> Value {
    let mut items: Vec<Value> = rp
        .intents
        .iter()
        .map(|i| {
            let mut m = Map::new();
            m.insert("intent_id".into(), json!(i.intent_id));
            if !i.tool_name.is_empty() {
                m.insert("tool_name".into(), json!(i.tool_name));
            }
            if let Some(r) = rp.results.iter().find(|r| r.intent_id == i.intent_id) {
                if !r.status.is_empty() {
                    m.insert("status".into(), json!(r.status));
                }
            }
            Value::Object(m)
        })
        .collect();
    items.sort_by(|a, b| a["intent_id"].as_str().cmp(&b["intent_id"].as_str()));
    json!({
        "timeline_events": rp.run.timeline.as_ref().map_or(0, Vec::len),
        "receipt_count": rp.refs.receipts.len(),
        "intent_results": items,
    })
}

pub fn inspect(args: &[String], path_flag: &str) -> R<CommandOutput> {
    let path = list_path(args, path_flag)?;
    let o = open_pack(Path::new(&path))?;
    let mut inspect = Map::new();
    let (pack_id, pack_type, source_ref) = match &o.manifest {
        Some(man) => {
            inspect.insert("manifest".into(), man.to_value(true));
            (
                man.pack_id.clone(),
                man.pack_type.clone(),
                man.source_ref.clone(),
            )
        }
        None => {
            inspect.insert("legacy_type".into(), json!("runpack"));
            let rp = o.runpack.as_ref().expect("legacy has a runpack");
            (
                o.legacy_manifest_digest.clone(),
                "run".to_string(),
                rp.run.header.run_id.clone(),
            )
        }
    };
    inspect.insert("pack_id".into(), json!(pack_id));
    inspect.insert("pack_type".into(), json!(pack_type));
    inspect.insert("source_ref".into(), json!(source_ref));
    if let Some(p) = &o.run_payload {
        inspect.insert("run_payload".into(), p.clone());
    }
    if let Some(rp) = &o.runpack {
        inspect.insert("run_lineage".into(), run_lineage(rp));
    }
    if let Some(p) = &o.job_payload {
        inspect.insert("job_payload".into(), p.clone());
    }
    if let Some(l) = &o.job_lineage {
        inspect.insert("job_lineage".into(), l.clone());
    }
    if let Some(p) = &o.call_payload {
        inspect.insert("call_payload".into(), p.clone());
    }
    if let Some(b) = &o.authorization {
        inspect.insert("authorization_bundle".into(), b.to_value());
        inspect.insert("authorization_payload".into(), b.summary());
    }
    let mut m = base("inspect");
    m.insert("ok".into(), json!(true));
    m.insert("path".into(), json!(path));
    m.insert("pack_id".into(), json!(pack_id));
    m.insert("pack_type".into(), json!(pack_type));
    m.insert("source_ref".into(), json!(source_ref));
    m.insert("inspect".into(), Value::Object(inspect));
    let text = format!("pack {pack_id}\ntype: {pack_type}\nsource_ref: {source_ref}\n");
    Ok(CommandOutput::new(m, text, exit::OK))
}

struct Side {
    pack_id: String,
    pack_type: String,
    files: BTreeMap<String, String>,
    manifest_digest: String,
    runpack: Option<Runpack>,
    payload: Option<Value>,
}

fn side(path: &Path) -> R<Side> {
    let o = open_pack(path)?;
    match &o.manifest {
        Some(man) => Ok(Side {
            pack_id: man.pack_id.clone(),
            pack_type: man.pack_type.clone(),
            files: man
                .contents
                .iter()
                .map(|c| (c.path.clone(), c.sha256.clone()))
                .collect(),
            manifest_digest: serde_json::from_slice::<Value>(&o.raw_manifest)
                .ok()
                .and_then(|v| jcs::digest_hex(&v).ok())
                .unwrap_or_default(),
            runpack: o.runpack,
            payload: o.run_payload,
        }),
        None => {
            let rp = o.runpack.expect("legacy has a runpack");
            Ok(Side {
                pack_id: o.legacy_manifest_digest.clone(),
                pack_type: "run".into(),
                files: rp
                    .manifest
                    .files
                    .iter()
                    .map(|f| (f.path.clone(), f.sha256.clone()))
                    .collect(),
                manifest_digest: o.legacy_manifest_digest.clone(),
                payload: o.run_payload,
                runpack: Some(rp),
            })
        }
    }
}

fn payload_context(p: &Option<Value>) -> (String, String, i64) {
    let Some(v) = p else {
        return (String::new(), String::new(), 0);
    };
    (
        v["context_set_digest"].as_str().unwrap_or("").to_string(),
        v["context_evidence_mode"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        v["context_ref_count"].as_i64().unwrap_or(0),
    )
}

/// The `gait.pack.diff` result for two packs.
pub fn diff_result(left: &Path, right: &Path) -> R<Value> {
    let l = side(left)?;
    let r = side(right)?;
    let added: Vec<String> = r
        .files
        .keys()
        .filter(|k| !l.files.contains_key(*k))
        .cloned()
        .collect();
    let removed: Vec<String> = l
        .files
        .keys()
        .filter(|k| !r.files.contains_key(*k))
        .cloned()
        .collect();
    let changed_files: Vec<String> = l
        .files
        .iter()
        .filter(|(k, v)| r.files.get(*k).is_some_and(|rv| rv != *v))
        .map(|(k, _)| k.clone())
        .collect();
    let manifest_delta = l.manifest_digest != r.manifest_digest || l.pack_type != r.pack_type;
    let mut classification = "none";
    let mut context_changed = false;
    let mut runtime_only = false;
    if l.pack_type == "run" && r.pack_type == "run" {
        match (&l.runpack, &r.runpack) {
            (Some(a), Some(b)) => {
                let (c, changed) = refs_drift(&a.refs, &b.refs);
                classification = c;
                context_changed = changed && c != "none";
                runtime_only = c == "runtime_only";
            }
            _ => {
                let (lc, rc) = (payload_context(&l.payload), payload_context(&r.payload));
                let has = |c: &(String, String, i64)| !c.0.is_empty() || c.2 != 0;
                if (has(&lc) || has(&rc)) && lc != rc {
                    classification = "semantic";
                    context_changed = true;
                }
            }
        }
    }
    let changed = manifest_delta
        || !added.is_empty()
        || !removed.is_empty()
        || !changed_files.is_empty()
        || context_changed;
    let mut s = Map::new();
    s.insert("changed".into(), json!(changed));
    if !added.is_empty() {
        s.insert("added_files".into(), json!(added));
    }
    if !removed.is_empty() {
        s.insert("removed_files".into(), json!(removed));
    }
    if !changed_files.is_empty() {
        s.insert("changed_files".into(), json!(changed_files));
    }
    s.insert("manifest_delta".into(), json!(manifest_delta));
    if context_changed {
        s.insert("context_changed".into(), json!(true));
    }
    if runtime_only {
        s.insert("context_runtime_only_changes".into(), json!(true));
    }
    s.insert("context_drift_classification".into(), json!(classification));
    Ok(json!({
        "schema_id": "gait.pack.diff", "schema_version": "1.0.0", "created_at": EPOCH_1980,
        "left_pack_id": l.pack_id, "right_pack_id": r.pack_id,
        "left_pack_type": l.pack_type, "right_pack_type": r.pack_type,
        "summary": Value::Object(s),
    }))
}

pub fn diff(args: &[String], output: &str) -> R<CommandOutput> {
    let [left, right] = args else {
        return Err(PackError::invalid("expected <left.zip> <right.zip>"));
    };
    let result = diff_result(Path::new(left), Path::new(right))?;
    let changed = result["summary"]["changed"].as_bool().unwrap_or(true);
    let mut m = base("diff");
    m.insert("ok".into(), json!(!changed));
    if !output.trim().is_empty() {
        let out = output_path(output)?;
        gait_sdk::fsutil::write_atomic(
            Path::new(&out),
            gait_sdk::output::to_json_line(&result).as_bytes(),
            0o600,
        )
        .map_err(|e| PackError::Io(format!("write diff: {e}")))?;
        m.insert("path".into(), json!(out));
    }
    m.insert("diff".into(), json!({"Result": result}));
    let text = format!(
        "pack diff: {}\n",
        if changed { "changed" } else { "unchanged" }
    );
    Ok(CommandOutput::new(
        m,
        text,
        if changed {
            exit::VERIFICATION_FAILED
        } else {
            exit::OK
        },
    ))
}

/// Flags of `pack export`.
#[derive(Debug, Default, Clone)]
pub struct ExportArgs {
    pub path: String,
    pub otel_out: String,
    pub postgres_sql_out: String,
    pub postgres_table: String,
    pub postgres_include_ddl: bool,
}

fn valid_ident(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

fn metrics(rp: Option<&Runpack>) -> (i64, i64, i64, i64, i64, f64) {
    let Some(rp) = rp else {
        return (0, 0, 0, 0, 0, 0.0);
    };
    let total = if rp.results.is_empty() {
        rp.intents.len()
    } else {
        rp.results.len()
    } as i64;
    let success = rp
        .results
        .iter()
        .filter(|r| r.status.eq_ignore_ascii_case("ok"))
        .count() as i64;
    let mut blocked = 0;
    let mut approval = 0;
    let mut regress = 0;
    for r in &rp.results {
        let p = r.result.clone().unwrap_or_default();
        let verdict = p
            .get("verdict")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_lowercase();
        match verdict.as_str() {
            "block" => blocked += 1,
            "require_approval" | "approval_required" | "needs_approval" | "needsapproval" => {
                approval += 1
            }
            _ => {}
        }
        let num = |k: &str| p.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        let st = |k: &str| {
            p.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim()
                .to_lowercase()
        };
        let failing = |s: String| ["fail", "failed", "regress_failed"].contains(&s.as_str());
        let reason = p
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_lowercase();
        if num("regress_failures") > 0.0
            || num("failed") > 0.0
            || failing(st("regress_status"))
            || failing(st("status"))
            || failing(st("result_status"))
            || (reason.contains("regress") && (reason.contains("fail") || reason.contains("drift")))
        {
            regress += 1;
        }
    }
    let rate = if total == 0 {
        0.0
    } else {
        success as f64 / total as f64
    };
    (total, success, blocked, approval, regress, rate)
}

fn go_float(f: f64) -> String {
    let mut s = String::new();
    let _ = jcs::write_number(&mut s, f);
    s
}

pub fn export(a: &ExportArgs) -> R<CommandOutput> {
    if a.otel_out.trim().is_empty() && a.postgres_sql_out.trim().is_empty() {
        return Err(PackError::invalid(
            "at least one export output is required (--otel-out or --postgres-sql-out)",
        ));
    }
    let table = if a.postgres_table.trim().is_empty() {
        "gait_pack_index".to_string()
    } else {
        a.postgres_table.trim().to_string()
    };
    let parts: Vec<&str> = table.split('.').collect();
    if parts.len() > 2 || !parts.iter().all(|p| valid_ident(p)) {
        return Err(PackError::invalid(format!(
            "invalid --postgres-table: {table}"
        )));
    }
    let path = Path::new(a.path.trim());
    let check = check_pack(path, &VerifyKeys::default())?;
    let o = open_pack(path)?;
    // D(raw manifest): `manifest.json` for a legacy runpack, `pack_manifest.json` otherwise.
    let manifest_digest = serde_json::from_slice::<Value>(&o.raw_manifest)
        .ok()
        .and_then(|v| jcs::digest_hex(&v).ok())
        .unwrap_or_default();
    let created = o
        .manifest
        .as_ref()
        .map(|m| m.created_at.clone())
        .or_else(|| {
            o.run_payload
                .as_ref()
                .and_then(|p| p["created_at"].as_str().map(str::to_string))
        })
        .unwrap_or_else(|| EPOCH_1980.to_string());
    let created_t = GoTime::parse_rfc3339(&created)
        .unwrap_or_else(|_| GoTime::parse_rfc3339(EPOCH_1980).expect("constant"));
    let (total, success, blocked, approval, regress, rate) =
        metrics(o.runpack.as_ref().or(o.call_runpack.as_ref()));
    let record = json!({
        "pack_id": check.pack_id, "pack_type": check.pack_type, "source_ref": check.source_ref,
        "manifest_digest": manifest_digest, "files_checked": check.files_checked,
        "hash_mismatches": check.hash_mismatches, "missing_files": check.missing_files,
        "undeclared_files": check.undeclared_files, "signature_status": check.signature_status,
        "signatures_total": check.signatures_total, "signatures_valid": check.signatures_valid,
        "created_at": created_t.utc().to_rfc3339_nano(),
        "metrics": {"tool_calls_total": total, "tool_calls_success": success, "tool_calls_success_rate": rate,
                    "policy_blocked": blocked, "approval_required": approval, "regress_failures": regress},
    });
    let mut m = base("export");
    m.insert("ok".into(), json!(true));
    m.insert("path".into(), json!(a.path.trim()));
    m.insert("pack_id".into(), json!(check.pack_id));
    m.insert("pack_type".into(), json!(check.pack_type));
    m.insert("source_ref".into(), json!(check.source_ref));
    if !a.otel_out.trim().is_empty() {
        let out = output_path(&a.otel_out)?;
        let ids_src = if jcs::is_sha256_hex(&check.pack_id) {
            check.pack_id.clone()
        } else if jcs::is_sha256_hex(&manifest_digest) {
            manifest_digest.clone()
        } else {
            jcs::sha256_hex(format!("{}|{}", check.pack_type, check.source_ref).as_bytes())
        };
        let (trace_id, span_id) = (&ids_src[0..32], &ids_src[32..48]);
        let t = created_t.timestamp().as_nanosecond() as i64;
        let attrs = json!({
            "gait.pack_id": check.pack_id, "gait.pack_type": check.pack_type, "gait.source_ref": check.source_ref,
            "gait.manifest_digest": manifest_digest, "gait.files_checked": check.files_checked,
            "gait.hash_mismatches": check.hash_mismatches, "gait.missing_files": check.missing_files,
            "gait.undeclared_files": check.undeclared_files, "gait.signature_status": check.signature_status,
            "gait.signatures_total": check.signatures_total, "gait.signatures_valid": check.signatures_valid,
            "gait.integrity_ok": check.ok, "gait.tool_calls_total": total, "gait.tool_calls_ok": success,
            "gait.policy_blocked": blocked, "gait.approval_required": approval, "gait.regress_failures": regress,
        });
        let mut lines = vec![
            json!({"record_type": "span", "name": "gait.pack.verify", "trace_id": trace_id, "span_id": span_id,
                   "start_time_unix_nano": t, "end_time_unix_nano": t, "status": {"code": if check.ok { "ok" } else { "error" }},
                   "instrumentation_scope": "gait.pack.export", "attributes": attrs}),
            json!({"record_type": "event", "time_unix_nano": t, "severity_text": "INFO", "body": "gait.pack.export.metadata",
                   "trace_id": trace_id, "span_id": span_id, "attributes": attrs}),
        ];
        for (name, v) in [
            ("gait.pack.tool_calls_total", total),
            ("gait.pack.tool_calls_success_total", success),
        ] {
            lines.push(json!({"record_type": "metric", "time_unix_nano": t, "name": name, "unit": "1", "attributes": attrs, "value_int": v}));
        }
        lines.push(json!({"record_type": "metric", "time_unix_nano": t, "name": "gait.pack.tool_calls_success_rate", "unit": "ratio", "attributes": attrs, "value_double": rate}));
        for (name, v) in [
            ("gait.pack.policy_blocked_total", blocked),
            ("gait.pack.approval_required_total", approval),
            ("gait.pack.regress_failures_total", regress),
        ] {
            lines.push(json!({"record_type": "metric", "time_unix_nano": t, "name": name, "unit": "1", "attributes": attrs, "value_int": v}));
        }
        let mut body = String::new();
        for l in &lines {
            body.push_str(&gait_sdk::output::to_json_line(l).replace(
                &format!("\"value_double\":{}", json!(rate)),
                &format!("\"value_double\":{}", go_float(rate)),
            ));
            body.push('\n');
        }
        use std::io::Write;
        if let Some(parent) = Path::new(&out).parent() {
            gait_sdk::fsutil::create_dir_all_mode(parent, 0o750)
                .map_err(|e| PackError::Io(e.to_string()))?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&out)
            .map_err(|e| PackError::Io(format!("open {out}: {e}")))?;
        f.write_all(body.as_bytes())
            .map_err(|e| PackError::Io(format!("write {out}: {e}")))?;
        m.insert("otel_path".into(), json!(out));
    }
    if !a.postgres_sql_out.trim().is_empty() {
        let out = output_path(&a.postgres_sql_out)?;
        let quoted = parts
            .iter()
            .map(|p| format!("\"{p}\""))
            .collect::<Vec<_>>()
            .join(".");
        let lt = parts.last().expect("one part").to_lowercase();
        let q = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let cols: Vec<(&str, &str, String)> = vec![
            ("pack_id", "TEXT PRIMARY KEY", q(&check.pack_id)),
            ("pack_type", "TEXT NOT NULL", q(&check.pack_type)),
            ("source_ref", "TEXT NOT NULL", q(&check.source_ref)),
            ("manifest_digest", "TEXT NOT NULL", q(&manifest_digest)),
            (
                "files_checked",
                "INTEGER NOT NULL",
                check.files_checked.to_string(),
            ),
            (
                "hash_mismatches",
                "INTEGER NOT NULL",
                check.hash_mismatches.to_string(),
            ),
            (
                "missing_files",
                "INTEGER NOT NULL",
                check.missing_files.to_string(),
            ),
            (
                "undeclared_files",
                "INTEGER NOT NULL",
                check.undeclared_files.to_string(),
            ),
            (
                "signature_status",
                "TEXT NOT NULL",
                q(&check.signature_status),
            ),
            (
                "signatures_total",
                "INTEGER NOT NULL",
                check.signatures_total.to_string(),
            ),
            (
                "signatures_valid",
                "INTEGER NOT NULL",
                check.signatures_valid.to_string(),
            ),
            ("tool_calls_total", "INTEGER NOT NULL", total.to_string()),
            (
                "tool_calls_success",
                "INTEGER NOT NULL",
                success.to_string(),
            ),
            (
                "tool_calls_success_rate",
                "DOUBLE PRECISION NOT NULL",
                format!("{rate:.6}"),
            ),
            ("policy_blocked", "INTEGER NOT NULL", blocked.to_string()),
            (
                "approval_required",
                "INTEGER NOT NULL",
                approval.to_string(),
            ),
            ("regress_failures", "INTEGER NOT NULL", regress.to_string()),
            (
                "created_at",
                "TIMESTAMPTZ NOT NULL",
                format!("'{}'::timestamptz", created_t.utc().to_rfc3339_nano()),
            ),
        ];
        let mut sql = String::new();
        if a.postgres_include_ddl {
            sql.push_str(&format!("CREATE TABLE IF NOT EXISTS {quoted} (\n"));
            let defs: Vec<String> = cols.iter().map(|(c, t, _)| format!("  {c} {t}")).collect();
            sql.push_str(&defs.join(",\n"));
            sql.push_str("\n);\n");
            sql.push_str(&format!("CREATE INDEX IF NOT EXISTS \"idx_{lt}_pack_type_created_at\" ON {quoted} (pack_type, created_at DESC);\n"));
            sql.push_str(&format!(
                "CREATE INDEX IF NOT EXISTS \"idx_{lt}_source_ref\" ON {quoted} (source_ref);\n\n"
            ));
        }
        sql.push_str(&format!("INSERT INTO {quoted} (\n"));
        sql.push_str(
            &cols
                .iter()
                .map(|(c, _, _)| format!("  {c}"))
                .collect::<Vec<_>>()
                .join(",\n"),
        );
        sql.push_str("\n) VALUES (\n");
        sql.push_str(
            &cols
                .iter()
                .map(|(_, _, v)| format!("  {v}"))
                .collect::<Vec<_>>()
                .join(",\n"),
        );
        sql.push_str("\n)\nON CONFLICT (pack_id) DO UPDATE SET\n");
        let updates: Vec<String> = cols
            .iter()
            .skip(1)
            .map(|(c, _, _)| format!("  {c} = EXCLUDED.{c}"))
            .collect();
        sql.push_str(&updates.join(",\n"));
        sql.push_str(";\n");
        gait_sdk::fsutil::write_atomic(Path::new(&out), sql.as_bytes(), 0o600)
            .map_err(|e| PackError::Io(format!("write {out}: {e}")))?;
        m.insert("postgres_sql_path".into(), json!(out));
    }
    m.insert("export".into(), record);
    let text = format!("pack export: {}\n", check.pack_id);
    Ok(CommandOutput::new(m, text, exit::OK))
}

// ---------------------------------------------------------------------------------------------
// Job packs (jobs spec A12). The job records and their reading live in `gait_sdk::job`.

const JOB_PAYLOAD: &str = "job_payload.json";
const JOB_STATE: &str = "job_state.json";
const JOB_EVENTS: &str = "job_events.jsonl";
const JOB_PAYLOAD_FIELDS: &[&str] = &[
    "schema_id",
    "schema_version",
    "created_at",
    "job_id",
    "status",
    "stop_reason",
    "status_reason_code",
    "environment_fingerprint",
    "safety_invariant_version",
    "safety_invariant_hash",
    "checkpoint_count",
    "approval_count",
];

fn job_error(e: gait_sdk::job::JobError) -> PackError {
    use gait_sdk::job::JobError;
    match e {
        JobError::Io(m) => PackError::Io(m),
        JobError::Contention | JobError::LeaseHeld(_) => PackError::Io(e.to_string()),
        other => PackError::invalid(other.to_string()),
    }
}

/// Where `--from` points: a job directory, a `state.json`, or an id under `--job-root`.
fn job_source(from: &str, job_root: &str) -> R<gait_sdk::job::JobDir> {
    use gait_sdk::job::JobDir;
    let p = Path::new(from.trim());
    let name = |q: &Path| q.file_name().map(|n| n.to_string_lossy().into_owned());
    let (root, id) = if p.is_dir() {
        let abs = gait_sdk::job::clean_path(&std::env::current_dir().unwrap_or_default().join(p));
        (
            abs.parent().map(Path::to_path_buf).unwrap_or_default(),
            name(&abs).unwrap_or_default(),
        )
    } else if p.is_file()
        && name(p).is_some_and(|n| n.eq_ignore_ascii_case(gait_sdk::job::STATE_FILE))
    {
        let abs = gait_sdk::job::clean_path(&std::env::current_dir().unwrap_or_default().join(p));
        let dir = abs.parent().map(Path::to_path_buf).unwrap_or_default();
        (
            dir.parent().map(Path::to_path_buf).unwrap_or_default(),
            name(&dir).unwrap_or_default(),
        )
    } else {
        (
            gait_sdk::job::resolve_root(job_root).map_err(job_error)?,
            from.trim().to_string(),
        )
    };
    JobDir::new(&root.to_string_lossy(), &id).map_err(job_error)
}

/// `job_payload.json` of a job state (defaults already applied).
pub fn job_payload(st: &gait_sdk::job::JobState) -> Value {
    let created = if st.created_at.is_zero() {
        GoTime::parse_rfc3339(EPOCH_1980).expect("constant")
    } else {
        st.created_at.utc()
    };
    let mut m = Map::new();
    m.insert("schema_id".into(), json!("gait.pack.job"));
    m.insert("schema_version".into(), json!("1.0.0"));
    m.insert("created_at".into(), json!(created.to_rfc3339_nano()));
    m.insert("job_id".into(), json!(st.job_id));
    m.insert("status".into(), json!(st.status));
    m.insert("stop_reason".into(), json!(st.stop_reason));
    m.insert("status_reason_code".into(), json!(st.status_reason_code));
    m.insert(
        "environment_fingerprint".into(),
        json!(st.environment_fingerprint),
    );
    if !st.safety_invariant_version.is_empty() {
        m.insert(
            "safety_invariant_version".into(),
            json!(st.safety_invariant_version),
        );
    }
    if !st.safety_invariant_hash.is_empty() {
        m.insert(
            "safety_invariant_hash".into(),
            json!(st.safety_invariant_hash),
        );
    }
    m.insert("checkpoint_count".into(), json!(st.checkpoints.len()));
    m.insert("approval_count".into(), json!(st.approvals.len()));
    Value::Object(m)
}

/// `pack build --type job`.
fn build_job(
    a: &BuildArgs,
    producer: &str,
    signer: Option<&gait_sdk::signing::Signer>,
) -> R<CommandOutput> {
    let job = job_source(&a.from, &a.job_root)?;
    let mut st = gait_sdk::job::load(&job).map_err(job_error)?;
    let events = gait_sdk::job::read_events(&job).map_err(job_error)?;
    for (field, default) in [
        (&mut st.status, "running"),
        (&mut st.stop_reason, "none"),
        (&mut st.status_reason_code, "submitted"),
    ] {
        if field.trim().is_empty() {
            *field = default.to_string();
        }
    }
    if st.environment_fingerprint.trim().is_empty() {
        st.environment_fingerprint = gait_sdk::job::environment_fingerprint();
    }
    let mut payload = BTreeMap::new();
    payload.insert(
        JOB_PAYLOAD.to_string(),
        jcs::canonical_bytes(&job_payload(&st)).expect("finite"),
    );
    payload.insert(
        JOB_STATE.to_string(),
        jcs::canonical_bytes(&st.to_reference_value()).expect("finite"),
    );
    let mut lines = Vec::new();
    for e in &events {
        lines.extend(
            jcs::canonical_bytes(&e.to_value()).map_err(|e| PackError::invalid(e.to_string()))?,
        );
        lines.push(b'\n');
    }
    payload.insert(JOB_EVENTS.to_string(), lines);
    let built = spec::build("job", &st.job_id, producer, payload, signer.map(|s| &s.key))?;
    let out = if a.out.trim().is_empty() {
        output_path(&format!("./gait-out/pack_{}.zip", built.manifest.pack_id))?
    } else {
        output_path(&a.out)?
    };
    write_zip(Path::new(&out), &built.entries)?;
    Ok(build_output(
        &out,
        &built.manifest.pack_id,
        "job",
        &st.job_id,
        signer,
    ))
}

/// The job payload rules that `pack verify` applies to payload and state alike.
fn check_job_fields(
    what: &str,
    v: &GoValue,
    invariant_hash_rule: bool,
) -> Result<(), RunpackError> {
    let bad = |m: String| Err(RunpackError::Verification(m));
    let s = |k: &str| match v.field(k) {
        Some(GoValue::String(x)) => x.clone(),
        _ => String::new(),
    };
    if GoTime::parse_rfc3339(&s("created_at"))
        .map(|t| t.is_zero())
        .unwrap_or(true)
    {
        return bad(format!("{what} created_at is required"));
    }
    if s("job_id").trim().is_empty() {
        return bad(format!("{what} job_id is required"));
    }
    if !gait_sdk::job::STATUSES.contains(&s("status").as_str()) {
        return bad(format!("{what} status is invalid: {:?}", s("status")));
    }
    for k in [
        "stop_reason",
        "status_reason_code",
        "environment_fingerprint",
    ] {
        if s(k).trim().is_empty() {
            return bad(format!("{what} {k} is required"));
        }
    }
    if invariant_hash_rule && !s("safety_invariant_version").is_empty() {
        let h = s("safety_invariant_hash");
        if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return bad(format!(
                "{what} safety_invariant_hash must be 64 hex characters"
            ));
        }
    }
    Ok(())
}

fn check_job_contract(source_ref: &str, src: &mut dyn EntrySource) -> Result<(), RunpackError> {
    let bad = |m: String| Err(RunpackError::Verification(m));
    let names = src.entry_names();
    for n in [JOB_PAYLOAD, JOB_STATE, JOB_EVENTS] {
        if !names.iter().any(|x| x == n) {
            return bad(format!("missing {n}"));
        }
    }
    let bytes = src.read_entry(JOB_PAYLOAD, 16 * 1024 * 1024)?;
    let payload = strict_object(&bytes, JOB_PAYLOAD_FIELDS, "parse job_payload.json")?;
    let ps = |k: &str| match payload.field(k) {
        Some(GoValue::String(x)) => x.clone(),
        _ => String::new(),
    };
    if ps("schema_id") != "gait.pack.job" || ps("schema_version") != "1.0.0" {
        return bad("job payload schema mismatch".into());
    }
    check_job_fields("job payload", &payload, true)?;
    let count = |k: &str| -> Result<i64, RunpackError> {
        match payload.field(k) {
            None => Ok(0),
            Some(GoValue::Number { int: Some(i), .. }) if *i >= 0 => Ok(*i),
            Some(_) => Err(RunpackError::Verification(format!(
                "job payload {k} must be a non-negative integer"
            ))),
        }
    };
    let (checkpoints, approvals) = (count("checkpoint_count")?, count("approval_count")?);
    let bytes = src.read_entry(JOB_STATE, 64 * 1024 * 1024)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| RunpackError::Verification("parse job_state.json: not valid UTF-8".into()))?;
    let state = gait_sdk::job::JobState::parse_strict(text)
        .map_err(|e| RunpackError::Verification(format!("parse job_state.json: {e}")))?;
    let state_go = GoValue::parse(text)
        .map_err(|e| RunpackError::Verification(format!("parse job_state.json: {e}")))?;
    check_job_fields("job state", &state_go, true)?;
    let bytes = src.read_entry(JOB_EVENTS, 64 * 1024 * 1024)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        RunpackError::Verification("parse job_events.jsonl: not valid UTF-8".into())
    })?;
    let job_id = ps("job_id");
    for (i, line) in text.split('\n').enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let ev = gait_sdk::job::Event::parse_strict(line).map_err(|e| {
            RunpackError::Verification(format!("parse job_events.jsonl line {}: {e}", i + 1))
        })?;
        if ev.job_id != job_id {
            return bad(format!(
                "job_events.jsonl line {}: job_id {:?} does not match the payload's {job_id:?}",
                i + 1,
                ev.job_id
            ));
        }
    }
    if job_id != source_ref {
        return bad("job payload job_id must match source_ref".into());
    }
    if state.job_id != job_id {
        return bad("job state job_id must match the job payload".into());
    }
    if state.checkpoints.len() as i64 != checkpoints {
        return bad("job payload checkpoint_count does not match job_state.json".into());
    }
    if state.approvals.len() as i64 != approvals {
        return bad("job payload approval_count does not match job_state.json".into());
    }
    Ok(())
}

/// `job_payload` (when strictly decodable) and `job_lineage` of a job pack, for inspect.
fn read_job_parts(src: &mut dyn EntrySource, names: &[String]) -> (Option<Value>, Option<Value>) {
    let has = |n: &str| names.iter().any(|x| x == n);
    let payload = if has(JOB_PAYLOAD) {
        src.read_entry(JOB_PAYLOAD, 16 * 1024 * 1024)
            .ok()
            .filter(|b| strict_object(b, JOB_PAYLOAD_FIELDS, "job payload").is_ok())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    } else {
        None
    };
    let mut lineage = Map::new();
    let mut events = Vec::new();
    if has(JOB_EVENTS) {
        if let Ok(b) = src.read_entry(JOB_EVENTS, 64 * 1024 * 1024) {
            if let Ok(text) = std::str::from_utf8(&b) {
                events = text
                    .split('\n')
                    .filter(|l| !l.trim().is_empty())
                    .filter_map(|l| gait_sdk::job::Event::parse_lenient(l).ok())
                    .collect();
            }
        }
    }
    lineage.insert("event_count".into(), json!(events.len()));
    if let Some(last) = events.last() {
        if !last.event_type.is_empty() {
            lineage.insert("last_event_type".into(), json!(last.event_type));
        }
    }
    if has(JOB_STATE) {
        if let Ok(b) = src.read_entry(JOB_STATE, 64 * 1024 * 1024) {
            if let Some(st) = std::str::from_utf8(&b)
                .ok()
                .and_then(|t| gait_sdk::job::JobState::parse_lenient(t).ok())
            {
                let mut refs: Vec<&gait_sdk::job::Checkpoint> = st.checkpoints.iter().collect();
                refs.sort_by(|a, b| a.checkpoint_id.cmp(&b.checkpoint_id));
                if !refs.is_empty() {
                    lineage.insert(
                        "checkpoint_refs".into(),
                        Value::Array(
                            refs.iter()
                                .map(|c| json!({"checkpoint_id": c.checkpoint_id, "reason_code": c.reason_code, "type": c.checkpoint_type}))
                                .collect(),
                        ),
                    );
                }
            }
        }
    }
    (payload, Some(Value::Object(lineage)))
}

// ------------------------------------------------------------------ call (voice)
// `pack build --type call`: the callpack format and its rules are gait_sdk::pack::call,
// shared with `gait voice pack build`.

fn build_call(
    a: &BuildArgs,
    producer: &str,
    signer: Option<&gait_sdk::signing::Signer>,
) -> R<CommandOutput> {
    use gait_sdk::pack::call::{self, CallRecord};
    let from = Path::new(a.from.trim());
    let bytes = gait_sdk::fsutil::read_capped(from, call::MAX_RECORD_BYTES)
        .map_err(|e| PackError::invalid(format!("read call record: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| PackError::invalid("parse call record: not valid UTF-8"))?;
    let rec = CallRecord::parse(&text).map_err(|e| PackError::invalid(e.message))?;
    let dir = from
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let rp_bytes = gait_sdk::fsutil::read_capped(&dir.join(&rec.runpack_path), 1 << 30)
        .map_err(|e| PackError::invalid(format!("verify source runpack: {e}")))?;
    let mut src = open_bytes(rp_bytes.clone())
        .map_err(|e| PackError::invalid(format!("verify source runpack: {e}")))?;
    let run_id = call::check_runpack(src.as_mut()).map_err(|e| PackError::invalid(e.message))?;
    let built = call::build_pack(&rec, &run_id, rp_bytes, producer, signer.map(|s| &s.key))
        .map_err(|e| PackError::invalid(e.message))?;
    let out = pack_out_path(&a.out, from, &built.manifest.pack_id)?;
    write_zip(Path::new(&out), &built.entries)?;
    Ok(build_output(
        &out,
        &built.manifest.pack_id,
        "call",
        &rec.call_id,
        signer,
    ))
}
// --- end call
