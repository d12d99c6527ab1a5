//! `gait verify chain --run <id|path> [--trace t.json] [--pack evidence.zip]`: verifies the
//! evidence of one incident end to end — the runpack, the signed gate trace, and the evidence
//! pack built from the run — and reports each part plus their AND.
//!
//! Beyond the reference, the parts must also belong together: a pack whose run id differs from
//! the run's is a linkage error (docs/compatibility.md).

use crate::archive::open_entries;
use crate::error::PackError;
use crate::packs::check_pack;
use crate::runs::{resolve_runpack, verify_report_members, VerifyKeys};
use gait_sdk::cli::CommandOutput;
use gait_sdk::error::exit;
use gait_sdk::fsutil;
use gait_sdk::gojson::GoValue;
use gait_sdk::pack::runpack;
use gait_sdk::signing::{self, PublicKey, Signature};
use serde_json::{json, Map, Value};
use std::path::Path;

type R<T> = Result<T, PackError>;

/// Flags of `verify chain`.
#[derive(Debug, Default, Clone)]
pub struct ChainArgs {
    pub run: String,
    pub trace: String,
    pub pack: String,
    pub keys: VerifyKeys,
}

/// Largest trace file read.
const MAX_TRACE_BYTES: u64 = 16 * 1024 * 1024;

/// Verifies a signed gate trace record: the signature covers the record without `signature`.
pub fn verify_trace(path: &Path, key: &PublicKey) -> R<Map<String, Value>> {
    let bytes = fsutil::read_capped(path, MAX_TRACE_BYTES)
        .map_err(|e| PackError::invalid(format!("read trace {}: {e}", path.display())))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        PackError::invalid(format!("read trace {}: not valid UTF-8", path.display()))
    })?;
    let go = GoValue::parse(text)
        .map_err(|e| PackError::invalid(format!("parse trace {}: {e}", path.display())))?;
    let Value::Object(mut record) = go.to_value() else {
        return Err(PackError::invalid(format!(
            "parse trace {}: not a JSON object",
            path.display()
        )));
    };
    let schema = record
        .get("schema_id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if schema != "gait.gate.trace" {
        return Err(PackError::invalid(format!(
            "{} is not a gate trace record (schema_id {schema:?})",
            path.display()
        )));
    }
    let trace_id = record
        .get("trace_id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let sig = record.remove("signature");
    let mut out = Map::new();
    out.insert("path".into(), json!(path.to_string_lossy()));
    out.insert("trace_id".into(), json!(trace_id));
    let (status, errors) = match sig {
        None | Some(Value::Null) => ("missing", vec!["trace has no signature".to_string()]),
        Some(s) => {
            let sig: Signature = serde_json::from_value(s).unwrap_or_default();
            match signing::verify_value(&Value::Object(record), &sig, key) {
                Ok(()) => ("verified", vec![]),
                Err(signing::VerifyError::Invalid) => {
                    ("failed", vec!["signature verification failed".to_string()])
                }
                Err(e) => (
                    "failed",
                    vec![e.to_string(), "signature verification failed".to_string()],
                ),
            }
        }
    };
    out.insert("ok".into(), json!(status == "verified"));
    out.insert("signature_status".into(), json!(status));
    if !errors.is_empty() {
        out.insert("signature_errors".into(), json!(errors));
    }
    Ok(out)
}

pub fn verify_chain(a: &ChainArgs) -> R<CommandOutput> {
    let (key, required) = a.keys.resolve()?;
    if a.run.trim().is_empty() {
        return Err(PackError::invalid(
            "verify chain requires --run <run_id|path>",
        ));
    }
    if !a.trace.trim().is_empty() && key.is_none() {
        return Err(PackError::invalid(
            "verify chain --trace requires a verify key (--public-key, --public-key-env or a private key source)",
        ));
    }
    let run_path = resolve_runpack(&a.run)?;
    let mut src = open_entries(&run_path)?;
    let rep = runpack::verify(src.as_mut(), key.as_ref(), required)?;
    let run_ok = rep.ok(required);
    let mut run = Map::new();
    run.insert("ok".into(), json!(run_ok));
    run.insert("path".into(), json!(run_path.to_string_lossy()));
    run.insert("run_id".into(), json!(rep.run_id));
    run.insert("manifest_digest".into(), json!(rep.manifest_digest));
    verify_report_members(&rep, &mut run);
    let mut ok = run_ok;
    let mut m = Map::new();

    if !a.trace.trim().is_empty() {
        let t = verify_trace(Path::new(a.trace.trim()), key.as_ref().expect("checked"))?;
        ok &= t["ok"] == json!(true);
        m.insert("trace".into(), Value::Object(t));
    }
    if !a.pack.trim().is_empty() {
        let path = Path::new(a.pack.trim());
        let c = check_pack(path, &a.keys)?;
        let mut p = Map::new();
        p.insert("path".into(), json!(a.pack.trim()));
        p.insert("pack_id".into(), json!(c.pack_id));
        p.insert("pack_type".into(), json!(c.pack_type));
        let pack_run_id = if c.pack_type == "guard" || c.pack_type == "run" {
            c.source_ref.clone()
        } else {
            String::new()
        };
        p.insert("run_id".into(), json!(pack_run_id));
        for (k, v) in c.verify {
            if !matches!(k.as_str(), "pack_id" | "pack_type" | "source_ref") {
                p.insert(k, v);
            }
        }
        let mut pack_ok = c.ok;
        if pack_run_id != rep.run_id {
            pack_ok = false;
            p.insert(
                "linkage_errors".into(),
                json!([format!(
                    "pack run_id {pack_run_id:?} does not match run {:?}",
                    rep.run_id
                )]),
            );
        }
        p.insert("ok".into(), json!(pack_ok));
        ok &= pack_ok;
        m.insert("pack".into(), Value::Object(p));
    }
    m.insert("ok".into(), json!(ok));
    m.insert("run".into(), Value::Object(run));
    let mut text = format!(
        "verify chain: {}\nrun: {} ({})\n",
        if ok { "ok" } else { "failed" },
        rep.run_id,
        if run_ok { "ok" } else { "failed" }
    );
    for part in ["trace", "pack"] {
        if let Some(p) = m.get(part) {
            text.push_str(&format!(
                "{part}: {}\n",
                if p["ok"] == json!(true) {
                    "ok"
                } else {
                    "failed"
                }
            ));
        }
    }
    Ok(CommandOutput::new(
        m,
        text,
        if ok {
            exit::OK
        } else {
            exit::VERIFICATION_FAILED
        },
    ))
}
