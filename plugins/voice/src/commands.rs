//! One function per `gait voice` command; each returns a `CommandOutput` or a typed error.

use crate::error::VoiceError;
use crate::launcher;
use crate::token::{self, Bindings, SayToken};
use gait_sdk::cli::CommandOutput;
use gait_sdk::fsutil;
use gait_sdk::pack::call::{self, CallRecord, CommitmentIntent};
use gait_sdk::pack::runpack;
use gait_sdk::signing::{self, KeySource};
use gait_sdk::time::{parse_go_duration, GoTime};
use gait_sdk::zip::{ZipBuilder, ZipLimits, ZipReader};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

type R<T> = Result<T, VoiceError>;

pub const PACK_OUTPUT_SCHEMA: &str = "gait.pack.output";

// ------------------------------------------------------------------ token mint

/// Flags of `voice token mint`.
#[derive(Debug, Clone, Default)]
pub struct MintArgs {
    pub intent: String,
    pub policy: String,
    pub ttl: String,
    pub out: String,
    pub trace_out: String,
    pub key_mode: String,
    pub private_key: String,
    pub private_key_env: String,
}

fn read_text(path: &str, what: &str) -> R<String> {
    fsutil::read_text_input(Path::new(path.trim()))
        .map_err(|e| VoiceError::invalid(format!("read {what}: {e}")))
}

/// Shared members of mint output (success and refusal).
fn decision_members(intent: &CommitmentIntent, gate: &Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("operation".into(), json!("mint"));
    for k in [
        "verdict",
        "reason_codes",
        "violations",
        "trace_id",
        "trace_path",
        "policy_digest",
        "intent_digest",
    ] {
        if let Some(v) = gate.get(k).filter(|v| !v.is_null()) {
            m.insert(k.into(), v.clone());
        }
    }
    m.insert("call_id".into(), json!(intent.call_id));
    if intent.turn_index != 0 {
        m.insert("turn_index".into(), json!(intent.turn_index));
    }
    m.insert("call_seq".into(), json!(intent.call_seq));
    m.insert("commitment_class".into(), json!(intent.commitment_class));
    m
}

/// `gait voice token mint`: asks the gate for a decision on the commitment (which always
/// writes a signed trace) and mints a signed SayToken only on `allow`.
pub fn token_mint(a: &MintArgs) -> R<CommandOutput> {
    if a.intent.trim().is_empty() || a.policy.trim().is_empty() {
        return Err(VoiceError::invalid(
            "both --intent and --policy are required",
        ));
    }
    let ttl_text = if a.ttl.trim().is_empty() {
        "2m"
    } else {
        a.ttl.trim()
    };
    let ttl = match parse_go_duration(ttl_text) {
        Ok(n) if n > 0 => n,
        _ => {
            return Err(VoiceError::invalid(
                "invalid --ttl, expected positive duration",
            ))
        }
    };
    let text = read_text(&a.intent, "voice intent")?;
    let raw = CommitmentIntent::parse_lenient(&text)
        .map_err(|e| VoiceError::call(e, "parse voice intent json"))?;
    let intent = raw.normalize().map_err(|e| VoiceError::call(e, ""))?;
    // Key problems are input errors found before anything is evaluated or written.
    let source = KeySource::new(&a.private_key, &a.private_key_env);
    let signer = signing::resolve_signer(&a.key_mode, &source)?;

    // The gate decides, through the CLI contract.
    let dir = tempfile::tempdir().map_err(|e| VoiceError::Io(format!("temp dir: {e}")))?;
    let gate_intent = dir.path().join("commitment_intent_request.json");
    fsutil::write_atomic(
        &gate_intent,
        gait_sdk::output::to_json_pretty(&intent.gate_intent()).as_bytes(),
        0o600,
    )
    .map_err(|e| VoiceError::Io(format!("write derived intent: {e}")))?;
    let mut args: Vec<String> = vec![
        "gate".into(),
        "commitment-eval".into(),
        "--policy".into(),
        a.policy.trim().into(),
        "--intent".into(),
        gate_intent.to_string_lossy().into_owned(),
        "--json".into(),
    ];
    if !a.trace_out.trim().is_empty() {
        args.extend(["--trace-out".into(), a.trace_out.trim().into()]);
    }
    // The trace is signed with the same key as the token (prod); a dev trace gets its own
    // ephemeral key from the gate.
    let mode = a.key_mode.trim().to_lowercase();
    if mode == "prod" {
        args.extend(["--key-mode".into(), "prod".into()]);
        if !source.path.is_empty() {
            args.extend(["--private-key".into(), source.path.clone()]);
        } else {
            args.extend(["--private-key-env".into(), source.env.clone()]);
        }
    } else {
        args.extend(["--key-mode".into(), "dev".into()]);
    }
    let (gate, _code) = launcher::run_json(&args, "gate (gait-gate)", &[0, 3, 4])?;
    let verdict = gate["verdict"].as_str().unwrap_or("").to_string();
    let mut out = decision_members(&intent, &gate);
    if verdict != "allow" {
        return Err(VoiceError::NotAllowed {
            approval_required: verdict == "require_approval",
            fields: out,
        });
    }
    let intent_digest = gate["intent_digest"].as_str().unwrap_or("").to_string();
    let policy_digest = gate["policy_digest"].as_str().unwrap_or("").to_string();
    let tok = SayToken::mint(
        &intent,
        &intent_digest,
        &policy_digest,
        GoTime::now_utc(),
        ttl,
        crate::PRODUCER_VERSION,
        &signer.key,
    )?;
    let path = if a.out.trim().is_empty() {
        format!("say_token_{}.json", tok.token_id)
    } else {
        a.out.trim().to_string()
    };
    let p = Path::new(&path);
    if let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        fsutil::create_dir_all_mode(parent, 0o750)
            .map_err(|e| VoiceError::Io(format!("write say token: {e}")))?;
    }
    fsutil::write_atomic(p, &tok.to_file_bytes(), 0o600)
        .map_err(|e| VoiceError::Io(format!("write say token: {e}")))?;
    out.insert("ok".into(), json!(true));
    out.insert("token_id".into(), json!(tok.token_id));
    out.insert("token_path".into(), json!(path));
    let mut warnings: Vec<String> = signer.warnings.clone();
    if let Some(w) = gate["warnings"].as_array() {
        warnings.extend(w.iter().filter_map(|x| x.as_str().map(str::to_string)));
    }
    warnings.sort();
    warnings.dedup();
    if !warnings.is_empty() {
        out.insert("warnings".into(), json!(warnings));
    }
    Ok(CommandOutput::new(
        out,
        format!("voice token mint ok: {path}\n"),
        0,
    ))
}

// ------------------------------------------------------------------ token verify

/// Flags of `voice token verify`.
#[derive(Debug, Clone, Default)]
pub struct VerifyArgs {
    pub token: String,
    pub public_key: String,
    pub public_key_env: String,
    pub private_key: String,
    pub private_key_env: String,
    pub bindings: Bindings,
    /// RFC 3339 clock for the expiry check (default: now).
    pub now: String,
}

/// The raw file values echoed by verify (empty/zero omitted).
fn echo(t: &SayToken, path: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("operation".into(), json!("verify"));
    m.insert("token_path".into(), json!(path));
    for (k, v) in [
        ("token_id", &t.token_id),
        ("call_id", &t.call_id),
        ("commitment_class", &t.commitment_class),
    ] {
        if !v.is_empty() {
            m.insert(k.into(), json!(v));
        }
    }
    if t.turn_index != 0 {
        m.insert("turn_index".into(), json!(t.turn_index));
    }
    if t.call_seq != 0 {
        m.insert("call_seq".into(), json!(t.call_seq));
    }
    m
}

/// A verify failure with the echoed token fields.
#[derive(Debug, Clone)]
pub struct VerifyFailure {
    pub error: VoiceError,
    pub fields: Map<String, Value>,
}

/// `gait voice token verify`: the checks of B6, in order.
pub fn token_verify(a: &VerifyArgs) -> Result<CommandOutput, VerifyFailure> {
    let plain = |error: VoiceError| VerifyFailure {
        error,
        fields: Map::new(),
    };
    if a.token.trim().is_empty() {
        return Err(plain(VoiceError::invalid("--token is required")));
    }
    let now = if a.now.trim().is_empty() {
        GoTime::now_utc()
    } else {
        GoTime::parse_rfc3339(a.now.trim())
            .map_err(|e| plain(VoiceError::invalid(format!("invalid --now: {e}"))))?
    };
    let key = signing::resolve_verify_key(
        &KeySource::new(&a.public_key, &a.public_key_env),
        &KeySource::new(&a.private_key, &a.private_key_env),
    )
    .map_err(|e| plain(e.into()))?
    .ok_or_else(|| plain(VoiceError::invalid("public key not configured")))?;
    let text = read_text(&a.token, "say token").map_err(plain)?;
    let tok = SayToken::parse(&text)
        .map_err(|e| plain(VoiceError::invalid(format!("parse say token: {e}"))))?;
    let path = a.token.trim().to_string();
    let mut fields = echo(&tok, &path);
    match token::verify(&tok, &key, &a.bindings, now) {
        Ok(_) => {
            for (k, v) in [
                ("intent_digest", &tok.intent_digest),
                ("policy_digest", &tok.policy_digest),
            ] {
                if !v.is_empty() {
                    fields.insert(k.into(), json!(v));
                }
            }
            Ok(CommandOutput::new(
                fields,
                format!("voice token verify ok: {path}\n"),
                0,
            ))
        }
        Err(error) => Err(VerifyFailure { error, fields }),
    }
}

// ------------------------------------------------------------------ pack build

/// Flags of `voice pack build`.
#[derive(Debug, Clone, Default)]
pub struct BuildArgs {
    pub from: String,
    pub out: String,
    pub key_mode: String,
    pub private_key: String,
    pub private_key_env: String,
}

/// Reads a zip file's entries into memory (hardened reader: duplicates, traversal, limits).
fn zip_entries(bytes: Vec<u8>) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut z = ZipReader::from_bytes(bytes, ZipLimits::default()).map_err(|e| e.to_string())?;
    let names: Vec<String> = z
        .entries()
        .iter()
        .filter(|e| !e.is_dir())
        .map(|e| e.name.clone())
        .collect();
    let mut out = BTreeMap::new();
    for n in names {
        let b = z
            .read_entry(&n, runpack::MAX_ENTRY_BYTES)
            .map_err(|e| e.to_string())?;
        out.insert(n, b);
    }
    Ok(out)
}

/// `gait voice pack build`: checks the call record (B7) and writes the callpack (B8).
pub fn pack_build(a: &BuildArgs) -> R<CommandOutput> {
    if a.from.trim().is_empty() {
        return Err(VoiceError::invalid("--from <call_record.json> is required"));
    }
    let mode = a.key_mode.trim().to_lowercase();
    let signer = if mode.is_empty() || mode == "none" {
        if !a.private_key.trim().is_empty() || !a.private_key_env.trim().is_empty() {
            return Err(VoiceError::invalid(
                "--key-mode none does not accept explicit key sources",
            ));
        }
        None
    } else {
        Some(signing::resolve_signer(
            &mode,
            &KeySource::new(&a.private_key, &a.private_key_env),
        )?)
    };
    let from = PathBuf::from(a.from.trim());
    let bytes = fsutil::read_capped(&from, call::MAX_RECORD_BYTES)
        .map_err(|e| VoiceError::invalid(format!("read call record: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| VoiceError::invalid("parse call record: not valid UTF-8"))?;
    let rec = CallRecord::parse(&text).map_err(|e| VoiceError::call(e, ""))?;
    let dir = from
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let rp_path = dir.join(&rec.runpack_path);
    let rp_bytes = fsutil::read_capped(&rp_path, 1 << 30).map_err(|e| VoiceError::Invalid {
        message: format!("verify source runpack: {e}"),
        reason_code: Some("runpack_missing"),
    })?;
    let mut entries = zip_entries(rp_bytes.clone()).map_err(|e| VoiceError::Invalid {
        message: format!("verify source runpack: {e}"),
        reason_code: Some("runpack_invalid"),
    })?;
    let run_id = call::check_runpack(&mut entries).map_err(|e| VoiceError::call(e, ""))?;
    let built = call::build_pack(
        &rec,
        &run_id,
        rp_bytes,
        runpack::DEFAULT_PRODUCER_VERSION,
        signer.as_ref().map(|s| &s.key),
    )
    .map_err(|e| VoiceError::call(e, ""))?;
    let out = if a.out.trim().is_empty() {
        dir.join(format!("pack_{}.zip", built.manifest.pack_id))
            .to_string_lossy()
            .into_owned()
    } else {
        a.out.trim().to_string()
    };
    let mut z = ZipBuilder::new();
    for (name, b) in &built.entries {
        z.add_bytes(name, b.as_slice())
            .map_err(|e| VoiceError::Io(e.to_string()))?;
    }
    let out_path = Path::new(&out);
    if let Some(parent) = out_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fsutil::create_dir_all_mode(parent, 0o750)
            .map_err(|e| VoiceError::Io(format!("write {out}: {e}")))?;
    }
    z.write_atomic(out_path)
        .map_err(|e| VoiceError::Io(format!("write {out}: {e}")))?;
    let mut m = Map::new();
    m.insert("schema_id".into(), json!(PACK_OUTPUT_SCHEMA));
    m.insert("schema_version".into(), json!("1.0.0"));
    m.insert("operation".into(), json!("build"));
    m.insert("path".into(), json!(out));
    m.insert("pack_id".into(), json!(built.manifest.pack_id));
    m.insert("pack_type".into(), json!("call"));
    m.insert("source_ref".into(), json!(rec.call_id));
    if let Some(s) = &signer {
        if !s.warnings.is_empty() {
            m.insert("warnings".into(), json!(s.warnings));
        }
    }
    Ok(CommandOutput::new(m, format!("pack build ok: {out}\n"), 0))
}

/// `gait voice pack verify|inspect|diff`: the generic pack commands of `gait-pack`, run
/// through the launcher with the user's arguments.
pub fn pack_delegate(sub: &str, args: &[String]) -> R<launcher::Finished> {
    let mut all = vec!["pack".to_string(), sub.to_string()];
    all.extend(args.iter().cloned());
    launcher::run(&all, "pack (gait-pack)")
}
