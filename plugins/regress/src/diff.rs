//! Comparing a fixture's runpack with a candidate's (full privacy, artifacts spec §4.8), and
//! the stub replay that decides a run's exit code (§4.7). Written from the spec so this
//! plugin needs no link to gait-pack.

use gait_sdk::jcs;
use gait_sdk::pack::runpack::{Refs, Runpack};
use gait_sdk::time::GoTime;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// How two runpacks differ.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunDiff {
    pub manifest_changed: bool,
    /// Manifest paths listed on one side only.
    pub files_changed: Vec<String>,
    pub intents_changed: bool,
    pub results_changed: bool,
    pub refs_changed: bool,
    /// Context drift: `none`, `runtime_only` or `semantic`.
    pub classification: &'static str,
}

impl RunDiff {
    /// The changed file names the diff grader reports: one-sided manifest paths plus each
    /// record file whose content differs; sorted, unique.
    pub fn changed_files(&self) -> Vec<String> {
        let mut set: BTreeSet<String> = self.files_changed.iter().cloned().collect();
        for (changed, file) in [
            (self.manifest_changed, "manifest.json"),
            (self.intents_changed, "intents.jsonl"),
            (self.results_changed, "results.jsonl"),
            (self.refs_changed, "refs.json"),
        ] {
            if changed {
                set.insert(file.to_string());
            }
        }
        set.into_iter().collect()
    }
}

fn blank_header(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        for k in ["run_id", "producer_version", "created_at"] {
            if m.contains_key(k) {
                m.insert(k.into(), json!(""));
            }
        }
    }
    v
}

fn digest(v: &Value) -> String {
    jcs::digest_hex(v).unwrap_or_default()
}

fn refs_digest(r: &Refs) -> String {
    digest(&blank_header(r.to_value()))
}

/// Context drift between two runs' refs: (classification, refs changed).
pub fn refs_drift(l: &Refs, r: &Refs) -> (&'static str, bool) {
    if refs_digest(l) == refs_digest(r) {
        return ("none", false);
    }
    if !l.context_set_digest.is_empty()
        && l.context_set_digest == r.context_set_digest
        && l.context_evidence_mode == r.context_evidence_mode
        && l.context_ref_count == r.context_ref_count
    {
        return ("none", true);
    }
    let runtime_blanked = |x: &Refs| {
        let mut c = x.clone();
        c.context_set_digest.clear();
        let epoch =
            GoTime::parse_rfc3339("1980-01-01T00:00:00Z").unwrap_or_else(|_| GoTime::zero());
        for rc in &mut c.receipts {
            rc.retrieved_at = epoch;
        }
        refs_digest(&c)
    };
    if runtime_blanked(l) == runtime_blanked(r) {
        ("runtime_only", true)
    } else {
        ("semantic", true)
    }
}

fn manifest_key(rp: &Runpack) -> String {
    let mut m = rp.manifest.clone();
    m.header.run_id.clear();
    m.header.producer_version.clear();
    m.header.created_at = GoTime::zero();
    m.manifest_digest.clear();
    m.signatures.clear();
    for f in &mut m.files {
        f.sha256.clear();
    }
    digest(&m.to_value(false))
}

fn intent_digests(rp: &Runpack) -> BTreeMap<&str, String> {
    rp.intents
        .iter()
        .map(|i| (i.intent_id.as_str(), digest(&blank_header(i.to_value()))))
        .collect()
}

fn result_digests(rp: &Runpack) -> BTreeMap<&str, String> {
    rp.results
        .iter()
        .map(|r| (r.intent_id.as_str(), digest(&blank_header(r.to_value()))))
        .collect()
}

/// Full-privacy diff of two runpacks.
pub fn diff(l: &Runpack, r: &Runpack) -> RunDiff {
    let files = |rp: &Runpack| {
        rp.manifest
            .files
            .iter()
            .map(|f| f.path.clone())
            .collect::<BTreeSet<_>>()
    };
    let (lf, rf) = (files(l), files(r));
    let (classification, refs_changed) = refs_drift(&l.refs, &r.refs);
    RunDiff {
        manifest_changed: manifest_key(l) != manifest_key(r),
        files_changed: lf.symmetric_difference(&rf).cloned().collect(),
        intents_changed: intent_digests(l) != intent_digests(r),
        results_changed: result_digests(l) != result_digests(r),
        refs_changed,
        classification,
    }
}

/// What a tool is stubbed as when replay has no recorded result for it.
pub fn stub_type(tool: &str) -> Option<&'static str> {
    let t = tool.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
    if has(&["http", "fetch", "url"]) {
        Some("http")
    } else if has(&["file", "path", "fs", "write"]) {
        Some("file")
    } else if has(&["db", "sql", "query", "table"]) {
        Some("db")
    } else if has(&["queue", "topic", "publish", "kafka"]) {
        Some("queue")
    } else {
        None
    }
}

/// Stub replay: the intents with neither a recorded result nor a stub (sorted), or an error
/// for duplicate intent ids or results.
pub fn replay_missing(rp: &Runpack) -> Result<Vec<String>, String> {
    let mut seen = BTreeSet::new();
    for i in &rp.intents {
        if !seen.insert(i.intent_id.as_str()) {
            return Err(format!("duplicate intent_id: {}", i.intent_id));
        }
    }
    let mut with_result = BTreeSet::new();
    for r in &rp.results {
        if !with_result.insert(r.intent_id.as_str()) {
            return Err(format!("duplicate result for intent_id: {}", r.intent_id));
        }
    }
    let mut missing: Vec<String> = rp
        .intents
        .iter()
        .filter(|i| {
            !with_result.contains(i.intent_id.as_str()) && stub_type(&i.tool_name).is_none()
        })
        .map(|i| i.intent_id.clone())
        .collect();
    missing.sort();
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gait_sdk::pack::runpack::{IntentRecord, Receipt, ResultRecord};

    fn run() -> Runpack {
        Runpack {
            intents: vec![
                IntentRecord {
                    intent_id: "i1".into(),
                    tool_name: "calc.add".into(),
                    ..Default::default()
                },
                IntentRecord {
                    intent_id: "i2".into(),
                    tool_name: "http.get".into(),
                    ..Default::default()
                },
            ],
            results: vec![ResultRecord {
                intent_id: "i2".into(),
                status: "ok".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn replay_finds_missing_results_and_duplicates() {
        let mut rp = run();
        assert_eq!(replay_missing(&rp).unwrap(), vec!["i1"]);
        rp.intents[0].tool_name = "db.query".into();
        assert!(replay_missing(&rp).unwrap().is_empty());
        rp.intents.push(rp.intents[0].clone());
        assert!(replay_missing(&rp)
            .unwrap_err()
            .contains("duplicate intent_id"));
    }

    #[test]
    fn diff_names_changed_files() {
        let a = run();
        assert_eq!(diff(&a, &a).changed_files(), Vec::<String>::new());
        let mut b = run();
        b.intents[0].tool_name = "other".into();
        b.header_tweak();
        let d = diff(&a, &b);
        assert_eq!(d.changed_files(), vec!["intents.jsonl"]);
        assert_eq!(d.classification, "none");
    }

    #[test]
    fn context_drift_classes() {
        let receipt = |t: &str| Receipt {
            ref_id: "r1".into(),
            query_digest: "q".into(),
            content_digest: "c".into(),
            retrieved_at: GoTime::parse_rfc3339(t).unwrap(),
            ..Default::default()
        };
        let mut l = Refs::default();
        l.receipts.push(receipt("2026-01-01T00:00:00Z"));
        let mut r = l.clone();
        assert_eq!(refs_drift(&l, &r), ("none", false));
        r.receipts[0] = receipt("2026-02-01T00:00:00Z");
        assert_eq!(refs_drift(&l, &r), ("runtime_only", true));
        r.receipts[0].content_digest = "other".into();
        assert_eq!(refs_drift(&l, &r), ("semantic", true));
    }

    trait Tweak {
        fn header_tweak(&mut self);
    }
    impl Tweak for Runpack {
        fn header_tweak(&mut self) {
            self.run.header.run_id = "run_other".into();
            self.intents[1].header.run_id = "run_other".into();
        }
    }
}
