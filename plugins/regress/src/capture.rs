//! `gait capture` (spec §2.4): record which artifact an incident is about as a small receipt
//! that `gait regress add --from <receipt>` turns into a fixture.

use crate::error::RegressError;
use crate::ojson::Doc;
use crate::source::{self, resolve_chain, resolve_source, MAX_JSON_BYTES};
use gait_sdk::cli::CommandOutput;
use gait_sdk::error::exit;
use gait_sdk::fsutil;
use gait_sdk::gojson::GoValue;
use serde_json::{json, Map, Value};
use std::path::Path;

pub const RECEIPT_SCHEMA: &str = "gait.capture.receipt";
pub const SCHEMA_VERSION: &str = "1.0.0";
pub const DEFAULT_OUT: &str = "gait-out/capture.json";

type R<T> = Result<T, RegressError>;

/// A capture receipt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    pub from: String,
    /// `runpack` or `trace`.
    pub artifact_type: String,
    pub artifact_path: String,
    pub session_chain_path: Option<String>,
    pub run_id: Option<String>,
    pub output_path: String,
}

impl Receipt {
    /// Reads `path` as a receipt; `None` when it is not one (wrong schema, no artifact).
    pub fn load(path: &Path) -> Option<Receipt> {
        let bytes = fsutil::read_capped(path, MAX_JSON_BYTES).ok()?;
        let v = GoValue::parse(std::str::from_utf8(&bytes).ok()?).ok()?;
        let s = |k: &str| v.str_field(k, "receipt").ok();
        if s("schema_id")? != RECEIPT_SCHEMA || s("schema_version")? != SCHEMA_VERSION {
            return None;
        }
        let artifact_path = s("artifact_path")?.trim().to_string();
        if artifact_path.is_empty() {
            return None;
        }
        let opt = |k: &str| s(k).map(|x| x.trim().to_string()).filter(|x| !x.is_empty());
        Some(Receipt {
            from: s("from")?,
            artifact_type: s("artifact_type")?.trim().to_string(),
            artifact_path,
            session_chain_path: opt("session_chain_path"),
            run_id: opt("run_id"),
            output_path: s("output_path")?,
        })
    }

    fn members(&self) -> Vec<(&'static str, Value)> {
        let mut v = vec![
            ("schema_id", json!(RECEIPT_SCHEMA)),
            ("schema_version", json!(SCHEMA_VERSION)),
            ("ok", json!(true)),
            ("from", json!(self.from)),
            ("artifact_type", json!(self.artifact_type)),
            ("artifact_path", json!(self.artifact_path)),
        ];
        if let Some(c) = &self.session_chain_path {
            v.push(("session_chain_path", json!(c)));
        }
        if let Some(r) = &self.run_id {
            v.push(("run_id", json!(r)));
        }
        v.push(("output_path", json!(self.output_path)));
        v
    }
}

/// Checks the members a gate trace record must have; the reason when it is not one.
pub fn check_trace(v: &GoValue) -> Result<(), String> {
    use gait_sdk::gate_trace::{check, TraceProblem};
    // Go-style access (case-insensitive names), every member trimmed as the reference reads it.
    check(|k| match v.field(k) {
        Some(GoValue::String(x)) => Some(x.trim().to_string()),
        _ => None,
    })
    .map(|_| ())
    .map_err(|p| match p {
        TraceProblem::SchemaId(_) => "schema_id is not gait.gate.trace".into(),
        TraceProblem::Missing(k) => format!("{k} is required"),
        TraceProblem::BadDigest(k) => format!("{k} must be 64 lower-case hex characters"),
        TraceProblem::Verdict(got) => format!("unsupported verdict {got:?}"),
    })
}

fn trace_problem(path: &Path) -> String {
    let Ok(bytes) = fsutil::read_capped(path, MAX_JSON_BYTES) else {
        return "cannot be read".into();
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return "is not UTF-8".into();
    };
    match GoValue::parse(&text) {
        Err(e) => format!("is not JSON: {e}"),
        Ok(v) => check_trace(&v).err().unwrap_or_default(),
    }
}

/// Flags of `gait capture`.
#[derive(Debug, Clone, Default)]
pub struct CaptureArgs {
    pub from: String,
    pub checkpoint: String,
    pub out: String,
    /// The deprecated spelling of `--out`.
    pub save_as: Option<String>,
}

/// `gait capture`.
pub fn capture(a: &CaptureArgs) -> R<CommandOutput> {
    if a.save_as.is_some() {
        return Err(RegressError::DeprecatedFlag {
            old: "--save-as".into(),
            new: "--out".into(),
        });
    }
    let from = a.from.trim();
    if from.is_empty() {
        return Err(RegressError::invalid_hint(
            "missing required --from <run_id|runpack.zip|trace.json|session_chain.json>",
            source::HINT_FROM,
        ));
    }
    let out = if a.out.trim().is_empty() {
        DEFAULT_OUT.to_string()
    } else {
        a.out.trim().replace('\\', "/")
    };
    let as_path = Path::new(from);
    let mut receipt = Receipt {
        from: from.to_string(),
        output_path: out.clone(),
        ..Default::default()
    };
    if from.to_lowercase().ends_with(".json") && as_path.is_file() {
        if let Some(cp) = resolve_chain(as_path, &a.checkpoint)? {
            let bytes = source::read_archive(&cp.runpack)?;
            let loaded = source::load_runpack(&source::materialise(bytes)?, "checkpoint runpack")?;
            receipt.artifact_type = "runpack".into();
            receipt.artifact_path = cp.runpack_shown;
            receipt.session_chain_path = Some(from.to_string());
            receipt.run_id = Some(loaded.report.run_id);
        } else {
            let problem = trace_problem(as_path);
            if !problem.is_empty() {
                return Err(RegressError::invalid_hint(
                    format!("{from} is neither a session chain nor a gate trace: {problem}"),
                    "capture a run id, a runpack zip, a session chain or a trace written by `gait gate eval`",
                ));
            }
            receipt.artifact_type = "trace".into();
            receipt.artifact_path = from.to_string();
        }
    } else {
        let src = resolve_source(from, &a.checkpoint)?;
        let bytes = source::read_archive(&src.path)?;
        let loaded = source::load_runpack(&source::materialise(bytes)?, "source runpack")?;
        receipt.artifact_type = "runpack".into();
        receipt.artifact_path = src.shown;
        receipt.run_id = Some(loaded.report.run_id);
    }
    let mut doc = Doc::obj();
    for (k, v) in receipt.members() {
        doc.push(k, v);
    }
    fsutil::write_atomic(Path::new(&out), doc.to_pretty().as_bytes(), 0o600)
        .map_err(|e| RegressError::Io(format!("write capture receipt {out}: {e}")))?;
    let m: Map<String, Value> = receipt
        .members()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let text = format!(
        "capture ok: type={} path={}\nreceipt: {}\n",
        receipt.artifact_type, receipt.artifact_path, out
    );
    Ok(CommandOutput::new(m, text, exit::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_checks() {
        let h = "a".repeat(64);
        let ok = format!(
            r#"{{"schema_id":"gait.gate.trace","schema_version":"1.0.0","created_at":"t","producer_version":"p","trace_id":"x","tool_name":"t","args_digest":"{h}","intent_digest":"{h}","policy_digest":"{h}","verdict":"block"}}"#
        );
        assert!(check_trace(&GoValue::parse(&ok).unwrap()).is_ok());
        let bad = ok.replace("block", "maybe");
        assert!(check_trace(&GoValue::parse(&bad).unwrap()).is_err());
        let bad = ok.replace(&h, &"A".repeat(64));
        assert!(check_trace(&GoValue::parse(&bad).unwrap()).is_err());
    }

    #[test]
    fn save_as_is_deprecated() {
        let e = capture(&CaptureArgs {
            from: "run_demo".into(),
            save_as: Some("x".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "deprecated flag spelling: --save-as -> --out"
        );
    }
}
