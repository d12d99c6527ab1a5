//! `fixtures/<name>/fixture.json`: what a fixture expects of a run (spec §2.1), and fixture
//! names.

use crate::error::RegressError;
use crate::ojson::Doc;
use crate::trajectory::normalize_verdict;
use gait_sdk::fsutil;
use gait_sdk::gojson::GoValue;
use serde_json::{json, Value};
use std::path::Path;

pub const FIXTURE_SCHEMA: &str = "gait.regress.fixture";
pub const SCHEMA_VERSION: &str = "1.0.0";
pub const FIXTURE_FILE: &str = "fixture.json";
pub const RUNPACK_FILE: &str = "runpack.zip";

type R<T> = Result<T, RegressError>;

/// `^[a-z0-9][a-z0-9._-]*$`, at most 128 bytes (a name becomes a directory).
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')
        })
}

/// A fixture name derived from a run id: lower-cased, `a-z0-9._-` kept, every run of other
/// characters one `-`, leading/trailing `-._` trimmed; `fixture` when nothing is left.
pub fn sanitize(run_id: &str) -> String {
    let mut out = String::new();
    let mut in_other = false;
    for c in run_id.to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
            out.push(c);
            in_other = false;
        } else if !in_other {
            out.push('-');
            in_other = true;
        }
    }
    let t = out.trim_matches(|c| matches!(c, '-' | '.' | '_'));
    let t: String = t.chars().take(128).collect();
    let t = t.trim_end_matches(['-', '.', '_']);
    if t.is_empty() {
        "fixture".into()
    } else {
        t.to_string()
    }
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The members gait knows; anything else is kept as written when gait rewrites the file.
const KNOWN: &[&str] = &[
    "schema_id",
    "schema_version",
    "name",
    "run_id",
    "runpack",
    "expected_replay_exit_code",
    "expected_tool_sequence",
    "expected_verdict_sequence",
    "candidate_runpack",
    "context_conformance",
    "allow_context_runtime_drift",
    "expected_context_set_digest",
    "diff_allow_changed_files",
    "session_chain",
    "checkpoint_index",
];

/// A fixture's metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fixture {
    pub name: String,
    pub run_id: String,
    pub runpack: String,
    pub expected_replay_exit_code: i64,
    pub expected_tool_sequence: Vec<String>,
    /// Normalised verdicts.
    pub expected_verdict_sequence: Vec<String>,
    pub candidate_runpack: String,
    /// Trimmed and lower-cased: ``, `required` or `none`.
    pub context_conformance: String,
    pub allow_context_runtime_drift: bool,
    pub expected_context_set_digest: String,
    pub diff_allow_changed_files: Vec<String>,
    pub session_chain: String,
    pub checkpoint_index: i64,
    /// Members gait does not know, in file order.
    pub extra: Vec<(String, Value)>,
}

fn clean_list(items: Vec<String>) -> Vec<String> {
    items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

impl Fixture {
    /// Parses and validates fixture text; `shown` names the file in messages.
    pub fn parse(text: &str, shown: &str) -> R<Fixture> {
        let bad = |m: String| {
            RegressError::invalid_hint(
                format!("parse fixture {shown}: {m}"),
                "fix the file by hand, or re-create it with `gait regress add --from <run_id|path> --name <fixture>`",
            )
        };
        let v = GoValue::parse(text).map_err(|e| bad(e.to_string()))?;
        let GoValue::Object(members) = &v else {
            return Err(bad("expected a JSON object".into()));
        };
        let p = "fixture";
        let s = |k: &str| v.str_field(k, p).map_err(|e| bad(e.to_string()));
        let list = |k: &str| v.str_list_field(k, p).map_err(|e| bad(e.to_string()));
        let schema_id = s("schema_id")?;
        if !schema_id.is_empty() && schema_id != FIXTURE_SCHEMA {
            return Err(bad(format!("unsupported fixture schema_id: {schema_id}")));
        }
        let schema_version = s("schema_version")?;
        if !schema_version.is_empty() && schema_version != SCHEMA_VERSION {
            return Err(bad(format!(
                "unsupported fixture schema_version: {schema_version}"
            )));
        }
        let mut f = Fixture {
            name: s("name")?.trim().to_string(),
            run_id: s("run_id")?.trim().to_string(),
            runpack: s("runpack")?.trim().to_string(),
            expected_replay_exit_code: v
                .int_field("expected_replay_exit_code", p)
                .map_err(|e| bad(e.to_string()))?,
            expected_tool_sequence: clean_list(list("expected_tool_sequence")?),
            expected_verdict_sequence: Vec::new(),
            candidate_runpack: s("candidate_runpack")?.trim().to_string(),
            context_conformance: s("context_conformance")?.trim().to_lowercase(),
            allow_context_runtime_drift: v
                .bool_field("allow_context_runtime_drift", p)
                .map_err(|e| bad(e.to_string()))?,
            expected_context_set_digest: s("expected_context_set_digest")?.trim().to_string(),
            diff_allow_changed_files: clean_list(list("diff_allow_changed_files")?),
            session_chain: s("session_chain")?.trim().to_string(),
            checkpoint_index: v
                .int_field("checkpoint_index", p)
                .map_err(|e| bad(e.to_string()))?,
            extra: Vec::new(),
        };
        for (k, val) in members {
            if !KNOWN.iter().any(|n| n.eq_ignore_ascii_case(k)) {
                f.extra.retain(|(x, _)| x != k);
                f.extra.push((k.clone(), val.to_value()));
            }
        }
        if f.name.is_empty() || f.run_id.is_empty() || f.runpack.is_empty() {
            return Err(RegressError::invalid_hint(
                format!("fixture metadata incomplete: {shown}"),
                "fixture.json needs name, run_id and runpack; re-create it with `gait regress add`",
            ));
        }
        if f.expected_replay_exit_code < 0 {
            return Err(bad(
                "expected_replay_exit_code must be zero or positive".into()
            ));
        }
        if f.checkpoint_index < 0 {
            return Err(bad("checkpoint_index must be zero or positive".into()));
        }
        if !["", "required", "none"].contains(&f.context_conformance.as_str()) {
            return Err(bad(format!(
                "context_conformance must be required or none, not {:?}",
                f.context_conformance
            )));
        }
        if !f.expected_context_set_digest.is_empty() && !is_hex64(&f.expected_context_set_digest) {
            return Err(bad(
                "expected_context_set_digest must be 64 hex characters".into()
            ));
        }
        for raw in clean_list(list("expected_verdict_sequence")?) {
            match normalize_verdict(&raw) {
                Some(n) => f.expected_verdict_sequence.push(n.to_string()),
                None => {
                    return Err(RegressError::invalid_hint(
                        format!(
                            "fixture expected_verdict_sequence invalid: invalid verdict {raw:?} ({shown})"
                        ),
                        "use allow, block, require_approval, dry_run or error",
                    ))
                }
            }
        }
        Ok(f)
    }

    /// Reads and validates `<dir>/fixture.json`.
    pub fn read(path: &Path, shown: &str) -> R<Fixture> {
        let bytes = fsutil::read_capped(path, fsutil::MAX_INPUT_BYTES).map_err(|e| {
            RegressError::invalid_hint(
                format!("read fixture {shown}: {e}"),
                "re-create the fixture with `gait regress add --from <run_id|path> --name <fixture>`",
            )
        })?;
        let text = String::from_utf8(bytes)
            .map_err(|_| RegressError::invalid(format!("fixture {shown} is not valid UTF-8")))?;
        Fixture::parse(&text, shown)
    }

    /// The file's members in declared order, then the unknown members as they were.
    pub fn to_doc(&self) -> Doc {
        let mut d = Doc::obj()
            .with("schema_id", FIXTURE_SCHEMA)
            .with("schema_version", SCHEMA_VERSION)
            .with("name", self.name.as_str())
            .with("run_id", self.run_id.as_str())
            .with("runpack", self.runpack.as_str())
            .with(
                "expected_replay_exit_code",
                json!(self.expected_replay_exit_code),
            );
        if !self.expected_tool_sequence.is_empty() {
            d.push(
                "expected_tool_sequence",
                self.expected_tool_sequence.clone(),
            );
        }
        if !self.expected_verdict_sequence.is_empty() {
            d.push(
                "expected_verdict_sequence",
                self.expected_verdict_sequence.clone(),
            );
        }
        if !self.candidate_runpack.is_empty() {
            d.push("candidate_runpack", self.candidate_runpack.as_str());
        }
        if !self.context_conformance.is_empty() {
            d.push("context_conformance", self.context_conformance.as_str());
        }
        if self.allow_context_runtime_drift {
            d.push("allow_context_runtime_drift", json!(true));
        }
        if !self.expected_context_set_digest.is_empty() {
            d.push(
                "expected_context_set_digest",
                self.expected_context_set_digest.as_str(),
            );
        }
        if !self.diff_allow_changed_files.is_empty() {
            d.push(
                "diff_allow_changed_files",
                self.diff_allow_changed_files.clone(),
            );
        }
        if !self.session_chain.is_empty() {
            d.push("session_chain", self.session_chain.as_str());
        }
        if self.checkpoint_index > 0 {
            d.push("checkpoint_index", json!(self.checkpoint_index));
        }
        for (k, v) in &self.extra {
            d.push(k, v.clone());
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("run_demo"));
        assert!(valid_name("a.b-c_1"));
        assert!(!valid_name("Bad Name"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("../x"));
        assert!(!valid_name(""));
        assert_eq!(sanitize("Run Demo#1"), "run-demo-1");
        assert_eq!(sanitize("__x__"), "x");
        assert_eq!(sanitize("###"), "fixture");
        assert!(valid_name(&sanitize(&"é".repeat(300))) || sanitize(&"é".repeat(300)) == "fixture");
        assert!(valid_name(&sanitize(&"a#".repeat(300))));
    }

    #[test]
    fn parse_validates_and_keeps_unknown_members() {
        let f = Fixture::parse(
            r#"{"name":"a","run_id":"run_a","runpack":"runpack.zip","expected_verdict_sequence":["Needs-Approval"," "],"owner":"me","Context_Conformance":" REQUIRED "}"#,
            "fixtures/a/fixture.json",
        )
        .unwrap();
        assert_eq!(f.expected_verdict_sequence, vec!["require_approval"]);
        assert_eq!(f.context_conformance, "required");
        assert_eq!(f.extra, vec![("owner".to_string(), json!("me"))]);
        let text = f.to_doc().to_pretty();
        assert!(text.contains("\"owner\": \"me\""));
        let e = Fixture::parse(
            r#"{"name":"a","run_id":"r","runpack":"x","expected_verdict_sequence":["maybe"]}"#,
            "fixtures/a/fixture.json",
        )
        .unwrap_err();
        assert!(e
            .to_string()
            .ends_with("invalid verdict \"maybe\" (fixtures/a/fixture.json)"));
        for bad in [
            r#"{"name":"a","run_id":"","runpack":"x"}"#,
            r#"{"name":"a","run_id":"r","runpack":"x","expected_replay_exit_code":-1}"#,
            r#"{"name":"a","run_id":"r","runpack":"x","expected_replay_exit_code":"0"}"#,
            r#"{"name":"a","run_id":"r","runpack":"x","context_conformance":"maybe"}"#,
            r#"{"name":"a","run_id":"r","runpack":"x","expected_context_set_digest":"abc"}"#,
            r#"[1]"#,
            r#"{"#,
        ] {
            assert!(Fixture::parse(bad, "f").is_err(), "{bad}");
        }
    }
}
