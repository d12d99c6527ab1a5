//! `gait gate context-envelope create`: builds a ContextSpec v1 envelope
//! (`gait.context.envelope`, gate-extended §4.1) from local files, so users never write the
//! JSON by hand. The records are normalized and digested by `gait_sdk::context::Envelope`,
//! the same code `gate eval --context-envelope` reads them with.

use crate::error::GateError;
use gait_sdk::cli::CommandOutput;
use gait_sdk::context::{Envelope, ENVELOPE_SCHEMA, ENVELOPE_VERSION};
use gait_sdk::error::exit;
use gait_sdk::jcs::sha256_hex;
use gait_sdk::time::GoTime;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::path::Path;

/// Default output path.
pub const DEFAULT_OUT: &str = "context_envelope.json";
/// Default `source_type` of a file record.
pub const DEFAULT_SOURCE_TYPE: &str = "file";

/// Inputs of `gait gate context-envelope create`.
#[derive(Debug, Clone, Default)]
pub struct CreateArgs {
    /// `context_set_id` (required).
    pub id: String,
    /// `best_effort` (default) or `required`.
    pub evidence_mode: String,
    /// `path[:source_type[:locator]]`, one record each (at least one).
    pub files: Vec<String>,
    /// `redaction_mode` of every record (default `none`).
    pub redaction_mode: String,
    /// `immutability` of every record (default `unknown`).
    pub immutability: String,
    /// Output path (default `context_envelope.json`).
    pub out: String,
    /// `created_at` and every `retrieved_at`.
    pub now: GoTime,
}

/// One `--file` value split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    pub path: String,
    pub source_type: String,
    pub locator: String,
}

/// Parses `path[:source_type[:locator]]`; empty parts take their defaults (`file`, the path).
pub fn parse_file_spec(spec: &str) -> Result<FileSpec, GateError> {
    let mut parts = spec.splitn(3, ':');
    let path = parts.next().unwrap_or("").trim().to_string();
    if path.is_empty() {
        return Err(GateError::invalid(format!(
            "--file {spec:?}: a path is required (path[:source_type[:locator]])"
        )));
    }
    let source_type = match parts.next().map(str::trim) {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => DEFAULT_SOURCE_TYPE.to_string(),
    };
    let locator = match parts.next().map(str::trim) {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => path.clone(),
    };
    Ok(FileSpec {
        path,
        source_type,
        locator,
    })
}

/// Builds the envelope value (before normalization) for the given files.
///
/// Each record has `ref_id` = the path as given, `content_digest` = SHA-256 of the file's
/// bytes and `query_digest` = SHA-256 of the locator (the "query" that retrieved it).
pub fn build(args: &CreateArgs) -> Result<Envelope, GateError> {
    let id = args.id.trim();
    if id.is_empty() {
        return Err(GateError::invalid("--id is required"));
    }
    if args.files.is_empty() {
        return Err(GateError::invalid("at least one --file is required"));
    }
    let mode = match args.evidence_mode.trim().to_lowercase().as_str() {
        "" | "best_effort" => "best_effort",
        "required" => "required",
        other => {
            return Err(GateError::invalid(format!(
                "--evidence-mode must be best_effort or required (got {other})"
            )))
        }
    };
    let redaction = match args.redaction_mode.trim() {
        "" => "none",
        r => r,
    };
    let stamp = args.now.utc().to_rfc3339_nano();
    let mut seen = BTreeSet::new();
    let mut records = Vec::with_capacity(args.files.len());
    for spec in &args.files {
        let f = parse_file_spec(spec)?;
        if !seen.insert(f.path.clone()) {
            return Err(GateError::invalid(format!(
                "--file {:?} is given twice",
                f.path
            )));
        }
        let meta = std::fs::metadata(&f.path)
            .map_err(|e| GateError::invalid(format!("--file {:?}: {e}", f.path)))?;
        if !meta.is_file() {
            return Err(GateError::invalid(format!(
                "--file {:?} is not a regular file",
                f.path
            )));
        }
        let bytes = std::fs::read(&f.path)
            .map_err(|e| GateError::invalid(format!("--file {:?}: {e}", f.path)))?;
        records.push(json!({
            "ref_id": f.path,
            "source_type": f.source_type,
            "source_locator": f.locator,
            "query_digest": sha256_hex(f.locator.as_bytes()),
            "content_digest": sha256_hex(&bytes),
            "retrieved_at": stamp,
            "redaction_mode": redaction,
            "immutability": args.immutability.trim(),
        }));
    }
    let raw = json!({
        "schema_id": ENVELOPE_SCHEMA,
        "schema_version": ENVELOPE_VERSION,
        "created_at": stamp,
        "context_set_id": id,
        "evidence_mode": mode,
        "records": Value::Array(records),
    });
    Envelope::parse(&raw.to_string()).map_err(|e| GateError::invalid(e.to_string()))
}

/// Runs the command: builds the envelope and writes it (0600, atomically).
pub fn create(args: &CreateArgs) -> Result<CommandOutput, GateError> {
    let env = build(args)?;
    let out = match args.out.trim() {
        "" => DEFAULT_OUT,
        o => o,
    };
    let path = Path::new(out);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        gait_sdk::fsutil::create_dir_all_mode(parent, 0o750)
            .map_err(|e| GateError::Io(format!("write context envelope: {e}")))?;
    }
    gait_sdk::fsutil::write_atomic(
        path,
        gait_sdk::output::to_json_pretty(&env.to_value()).as_bytes(),
        0o600,
    )
    .map_err(|e| GateError::Io(format!("write context envelope: {e}")))?;
    let mut m = Map::new();
    m.insert("path".into(), json!(out));
    m.insert("context_set_id".into(), json!(env.context_set_id));
    m.insert("context_set_digest".into(), json!(env.context_set_digest));
    m.insert("evidence_mode".into(), json!(env.evidence_mode));
    m.insert("record_count".into(), json!(env.records.len()));
    let text = format!(
        "context envelope: {out}\ncontext_set_digest: {}\nrecords: {}\n",
        env.context_set_digest,
        env.records.len()
    );
    Ok(CommandOutput::new(m, text, exit::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_specs_take_defaults() {
        assert_eq!(
            parse_file_spec("a.txt").unwrap(),
            FileSpec {
                path: "a.txt".into(),
                source_type: "file".into(),
                locator: "a.txt".into()
            }
        );
        let f = parse_file_spec("a.txt:doc:https://x/y:z").unwrap();
        assert_eq!(f.source_type, "doc");
        assert_eq!(f.locator, "https://x/y:z");
        assert!(parse_file_spec(":doc").is_err());
    }

    #[test]
    fn envelope_digests_files_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.txt");
        let b = dir.path().join("b.txt");
        std::fs::write(&a, "hello").unwrap();
        std::fs::write(&b, "world").unwrap();
        let args = CreateArgs {
            id: " set-1 ".into(),
            evidence_mode: "Required".into(),
            files: vec![
                format!("{}:ticket:JIRA-1", b.display()),
                a.display().to_string(),
            ],
            out: dir.path().join("out/env.json").display().to_string(),
            now: GoTime::parse_rfc3339("2026-03-01T12:00:00+01:00").unwrap(),
            ..Default::default()
        };
        let out = create(&args).unwrap();
        assert_eq!(out.exit, 0);
        let text = std::fs::read_to_string(dir.path().join("out/env.json")).unwrap();
        let env = Envelope::parse(&text).unwrap();
        assert_eq!(
            out.json["context_set_digest"],
            json!(env.context_set_digest)
        );
        assert_eq!(env.context_set_id, "set-1");
        assert_eq!(env.evidence_mode, "required");
        assert_eq!(env.records.len(), 2);
        let ra = &env.records[0];
        assert_eq!(ra["ref_id"], json!(a.display().to_string()));
        assert_eq!(ra["source_type"], json!("file"));
        assert_eq!(ra["content_digest"], json!(sha256_hex(b"hello")));
        assert_eq!(ra["retrieved_at"], json!("2026-03-01T11:00:00Z"));
        assert_eq!(ra["redaction_mode"], json!("none"));
        let rb = &env.records[1];
        assert_eq!(rb["source_type"], json!("ticket"));
        assert_eq!(rb["source_locator"], json!("JIRA-1"));
        assert_eq!(rb["query_digest"], json!(sha256_hex(b"JIRA-1")));
        // The written digest is the one the strict reader recomputes.
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["context_set_digest"], json!(env.context_set_digest));
    }

    #[test]
    fn bad_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.txt");
        std::fs::write(&a, "x").unwrap();
        let base = CreateArgs {
            id: "s".into(),
            files: vec![a.display().to_string()],
            now: GoTime::parse_rfc3339("2026-03-01T00:00:00Z").unwrap(),
            ..Default::default()
        };
        let cases = [
            CreateArgs {
                id: " ".into(),
                ..base.clone()
            },
            CreateArgs {
                files: vec![],
                ..base.clone()
            },
            CreateArgs {
                evidence_mode: "strict".into(),
                ..base.clone()
            },
            CreateArgs {
                immutability: "frozen".into(),
                ..base.clone()
            },
            CreateArgs {
                files: vec![a.display().to_string(), a.display().to_string()],
                ..base.clone()
            },
            CreateArgs {
                files: vec![dir.path().join("absent").display().to_string()],
                ..base.clone()
            },
            CreateArgs {
                files: vec![dir.path().display().to_string()],
                ..base.clone()
            },
        ];
        for c in cases {
            assert!(matches!(build(&c), Err(GateError::Invalid(_))), "{c:?}");
        }
    }
}
