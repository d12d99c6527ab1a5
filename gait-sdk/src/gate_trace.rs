//! The members every gate trace record (`gait.gate.trace`) must have, checked where another
//! plugin has to accept a trace it did not write: `gait capture` (regress) and the
//! `trace|test|enforce` wrappers (gate). Callers word the problems for their own output.
//!
//! It must not verify signatures or know how a trace was decoded: the caller supplies member
//! access (plain or Go-style case-insensitive JSON).

/// The verdicts a trace may record.
pub const VERDICTS: &[&str] = &["allow", "block", "dry_run", "require_approval"];

/// Members that must be non-blank.
pub const REQUIRED: &[&str] = &[
    "schema_version",
    "created_at",
    "producer_version",
    "trace_id",
    "tool_name",
];

/// Members that must be 64 lower-case hex digits.
pub const DIGESTS: &[&str] = &["args_digest", "intent_digest", "policy_digest"];

/// Why a record is not a gate trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceProblem {
    /// `schema_id` (trimmed) is not `gait.gate.trace`.
    SchemaId(String),
    Missing(&'static str),
    BadDigest(&'static str),
    /// The (trimmed) verdict is not one of [`VERDICTS`].
    Verdict(String),
}

fn is_lower_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Checks a record through `member` (a string member's value, `None` when absent or not a
/// string) and returns its verdict. Text members are trimmed; digests are taken as given.
pub fn check(member: impl Fn(&str) -> Option<String>) -> Result<String, TraceProblem> {
    let text = |k: &str| member(k).map(|s| s.trim().to_string()).unwrap_or_default();
    let schema_id = text("schema_id");
    if schema_id != "gait.gate.trace" {
        return Err(TraceProblem::SchemaId(schema_id));
    }
    if let Some(k) = REQUIRED.iter().find(|k| text(k).is_empty()) {
        return Err(TraceProblem::Missing(k));
    }
    if let Some(k) = DIGESTS
        .iter()
        .find(|k| !is_lower_hex64(&member(k).unwrap_or_default()))
    {
        return Err(TraceProblem::BadDigest(k));
    }
    let verdict = text("verdict");
    if !VERDICTS.contains(&verdict.as_str()) {
        return Err(TraceProblem::Verdict(verdict));
    }
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn record(overrides: &[(&str, &str)]) -> HashMap<String, String> {
        let hex = "a".repeat(64);
        let mut m: HashMap<String, String> = [
            ("schema_id", "gait.gate.trace"),
            ("schema_version", "1.0.0"),
            ("created_at", "2026-02-05T00:00:00Z"),
            ("producer_version", "x"),
            ("trace_id", "t"),
            ("tool_name", "tool.read"),
            ("args_digest", hex.as_str()),
            ("intent_digest", hex.as_str()),
            ("policy_digest", hex.as_str()),
            ("verdict", "block"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in overrides {
            m.insert(k.to_string(), v.to_string());
        }
        m
    }

    fn run(m: &HashMap<String, String>) -> Result<String, TraceProblem> {
        check(|k| m.get(k).cloned())
    }

    #[test]
    fn each_rule() {
        assert_eq!(run(&record(&[])), Ok("block".into()));
        assert_eq!(
            run(&record(&[("schema_id", "x")])),
            Err(TraceProblem::SchemaId("x".into()))
        );
        assert_eq!(
            run(&record(&[("trace_id", "  ")])),
            Err(TraceProblem::Missing("trace_id"))
        );
        assert_eq!(
            run(&record(&[("policy_digest", &"A".repeat(64))])),
            Err(TraceProblem::BadDigest("policy_digest"))
        );
        assert_eq!(
            run(&record(&[("verdict", "maybe")])),
            Err(TraceProblem::Verdict("maybe".into()))
        );
    }
}
