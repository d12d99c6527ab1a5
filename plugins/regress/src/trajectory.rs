//! Tool and verdict sequences of a run (spec §2.5.3): what a fixture expects and what a
//! candidate did.

use gait_sdk::pack::runpack::Runpack;
use serde_json::{json, Map, Value};

/// Written on the short side of a mismatch when one sequence is a prefix of the other.
pub const MISSING: &str = "<missing>";

fn table(s: &str) -> Option<&'static str> {
    Some(match s {
        "allow" | "ok" | "pass" | "passed" | "success" => "allow",
        "block" | "blocked" | "deny" | "denied" => "block",
        "require_approval" | "approval_required" | "needs_approval" => "require_approval",
        "dry_run" | "dryrun" | "simulate" | "simulated" => "dry_run",
        "error" | "failed" | "failure" => "error",
        _ => return None,
    })
}

/// Normalises a verdict as written in a fixture or a result payload: lower-cased, trimmed,
/// `-` and spaces as `_`, then the alias table. `None` when it names no verdict.
pub fn normalize_verdict(v: &str) -> Option<&'static str> {
    let s = v.trim().to_lowercase().replace(['-', ' '], "_");
    match s.as_str() {
        "needsapproval" => Some("require_approval"),
        other => table(other),
    }
}

/// A result's recorded `status` mapped to a verdict: the same table without the `-`/space
/// rewrite (but `dry-run` is accepted); anything else is `error`.
fn status_verdict(status: &str) -> &'static str {
    let s = status.trim().to_lowercase();
    if s == "dry-run" {
        return "dry_run";
    }
    table(&s).unwrap_or("error")
}

/// Trimmed, non-empty tool names of the intents, in file order.
pub fn tool_sequence(rp: &Runpack) -> Vec<String> {
    rp.intents
        .iter()
        .map(|i| i.tool_name.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// One verdict per result, in file order: the payload's `verdict` when it normalises, else
/// the status.
pub fn verdict_sequence(rp: &Runpack) -> Vec<String> {
    rp.results
        .iter()
        .map(|r| {
            let from_payload = r
                .result
                .as_ref()
                .and_then(|p| p.get("verdict"))
                .and_then(Value::as_str)
                .and_then(normalize_verdict);
            from_payload
                .unwrap_or_else(|| status_verdict(&r.status))
                .to_string()
        })
        .collect()
}

/// The first difference between an expected and an actual sequence: (index, expected,
/// actual), with [`MISSING`] on the short side when one is a prefix of the other.
pub fn first_mismatch(expected: &[String], actual: &[String]) -> Option<(usize, String, String)> {
    if expected == actual {
        return None;
    }
    for (i, (e, a)) in expected.iter().zip(actual).enumerate() {
        if e != a {
            return Some((i, e.clone(), a.clone()));
        }
    }
    let n = expected.len().min(actual.len());
    let at = |s: &[String]| s.get(n).cloned().unwrap_or_else(|| MISSING.to_string());
    Some((n, at(expected), at(actual)))
}

/// Outcome of the trajectory comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    pub reason_codes: Vec<String>,
    pub pass: bool,
    pub details: Map<String, Value>,
}

/// Compares expectations with a candidate's sequences. Empty expectations are not checked.
pub fn compare(
    expected_tools: &[String],
    expected_verdicts: &[String],
    actual_tools: &[String],
    actual_verdicts: &[String],
) -> Trajectory {
    let mut details = Map::new();
    details.insert("expected_tool_sequence".into(), json!(expected_tools));
    details.insert("actual_tool_sequence".into(), json!(actual_tools));
    details.insert("expected_verdict_sequence".into(), json!(expected_verdicts));
    details.insert("actual_verdict_sequence".into(), json!(actual_verdicts));
    let mut codes = Vec::new();
    for (kind, code, exp, act) in [
        (
            "tool",
            "unexpected_tool_sequence",
            expected_tools,
            actual_tools,
        ),
        (
            "verdict",
            "unexpected_verdict_sequence",
            expected_verdicts,
            actual_verdicts,
        ),
    ] {
        if exp.is_empty() {
            continue;
        }
        if let Some((i, e, a)) = first_mismatch(exp, act) {
            codes.push(code.to_string());
            details.insert(format!("{kind}_sequence_mismatch_index"), json!(i));
            details.insert(format!("{kind}_sequence_expected_at_mismatch"), json!(e));
            details.insert(format!("{kind}_sequence_actual_at_mismatch"), json!(a));
        }
    }
    let pass = codes.is_empty();
    if pass {
        codes.push(
            if expected_tools.is_empty() && expected_verdicts.is_empty() {
                "trajectory_not_required"
            } else {
                "trajectory_match"
            }
            .to_string(),
        );
    }
    Trajectory {
        reason_codes: codes,
        pass,
        details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn verdict_aliases() {
        assert_eq!(
            normalize_verdict(" Needs-Approval "),
            Some("require_approval")
        );
        assert_eq!(normalize_verdict("needsapproval"), Some("require_approval"));
        assert_eq!(normalize_verdict("dry run"), Some("dry_run"));
        assert_eq!(normalize_verdict("DENIED"), Some("block"));
        assert_eq!(normalize_verdict("maybe"), None);
        assert_eq!(status_verdict("dry-run"), "dry_run");
        assert_eq!(status_verdict("needsapproval"), "error");
        assert_eq!(status_verdict("needs approval"), "error");
        assert_eq!(status_verdict(" OK "), "allow");
    }

    #[test]
    fn mismatch_positions() {
        assert_eq!(first_mismatch(&v(&["a"]), &v(&["a"])), None);
        assert_eq!(
            first_mismatch(&v(&["a", "b"]), &v(&["a", "b", "c"])),
            Some((2, MISSING.into(), "c".into()))
        );
        assert_eq!(
            first_mismatch(&v(&["a", "b"]), &v(&["a"])),
            Some((1, "b".into(), MISSING.into()))
        );
        assert_eq!(
            first_mismatch(&v(&["x", "b"]), &v(&["a", "b"])),
            Some((0, "x".into(), "a".into()))
        );
    }

    #[test]
    fn empty_expectations_are_not_checked() {
        let t = compare(&[], &[], &v(&["a"]), &v(&["allow"]));
        assert!(t.pass);
        assert_eq!(t.reason_codes, v(&["trajectory_not_required"]));
        let t = compare(&v(&["a"]), &[], &v(&["a"]), &v(&["block"]));
        assert_eq!(t.reason_codes, v(&["trajectory_match"]));
        let t = compare(&v(&["a"]), &v(&["allow"]), &v(&["b"]), &v(&["block"]));
        assert!(!t.pass);
        assert_eq!(
            t.reason_codes,
            v(&["unexpected_tool_sequence", "unexpected_verdict_sequence"])
        );
        assert_eq!(t.details["verdict_sequence_expected_at_mismatch"], "allow");
    }
}
