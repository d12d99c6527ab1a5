//! The graders a regression run applies to each fixture (spec §2.5.2). All are
//! deterministic: they read the fixture's runpack and its candidate and never run tools.

use crate::diff::{self, RunDiff};
use crate::fixture::Fixture;
use crate::source::Loaded;
use crate::trajectory;
use gait_sdk::pack::runpack::{self, Runpack};
use serde_json::{json, Map, Value};

pub const SCHEMA_VALIDATION: &str = "schema_validation";
pub const EXPECTED_EXIT_CODE: &str = "expected_exit_code";
pub const TRAJECTORY: &str = "trajectory";
pub const DIFF: &str = "diff";
pub const CONTEXT_CONFORMANCE: &str = "context_conformance";

/// One grader's verdict on one fixture.
#[derive(Debug, Clone, PartialEq)]
pub struct GraderResult {
    /// `<fixture>/<grader>`.
    pub name: String,
    pub pass: bool,
    /// Trimmed, unique, sorted.
    pub reason_codes: Vec<String>,
    /// `none`, `runtime_only`, `semantic` or `missing` (context grader only).
    pub context_conformance: Option<String>,
    pub details: Map<String, Value>,
}

impl GraderResult {
    pub fn status(&self) -> &'static str {
        if self.pass {
            "pass"
        } else {
            "fail"
        }
    }
}

/// What the candidate of a fixture is.
#[derive(Debug, Clone)]
pub enum Candidate {
    /// No `candidate_runpack`: the fixture's own runpack (which therefore passes).
    Same,
    /// `candidate_runpack` names no file.
    Missing {
        shown: String,
    },
    /// The file is not a readable runpack.
    Invalid {
        shown: String,
        error: String,
    },
    Loaded {
        shown: String,
        loaded: Box<Loaded>,
    },
}

/// Everything the graders need about one fixture.
pub struct Subject<'a> {
    pub fixture: &'a Fixture,
    pub loaded: &'a Loaded,
    /// The fixture runpack as reported (`fixtures/<name>/runpack.zip`).
    pub runpack_shown: &'a str,
    pub candidate: &'a Candidate,
}

/// Flags of `regress run` that change grading.
#[derive(Debug, Clone, Copy, Default)]
pub struct GradeFlags {
    pub context_conformance: bool,
    pub allow_context_runtime_drift: bool,
}

struct Outcome {
    pass: bool,
    codes: Vec<String>,
    context: Option<&'static str>,
    details: Map<String, Value>,
}

fn outcome(pass: bool, codes: &[&str], details: Map<String, Value>) -> Outcome {
    Outcome {
        pass,
        codes: codes.iter().map(|c| c.to_string()).collect(),
        context: None,
        details,
    }
}

impl Subject<'_> {
    fn candidate_shown(&self) -> &str {
        match self.candidate {
            Candidate::Same => self.runpack_shown,
            Candidate::Missing { shown }
            | Candidate::Invalid { shown, .. }
            | Candidate::Loaded { shown, .. } => shown,
        }
    }

    fn candidate_runpack(&self) -> Option<&Runpack> {
        match self.candidate {
            Candidate::Same => Some(&self.loaded.runpack),
            Candidate::Loaded { loaded, .. } => Some(&loaded.runpack),
            _ => None,
        }
    }

    fn base_details(&self) -> Map<String, Value> {
        let mut d = Map::new();
        d.insert("candidate_runpack".into(), json!(self.candidate_shown()));
        d
    }
}

fn schema_validation(s: &Subject) -> Outcome {
    let rep = &s.loaded.report;
    let rp = &s.loaded.runpack;
    let mut codes = Vec::new();
    if !rep.missing_files.is_empty() {
        codes.push("missing_files");
    }
    if !rep.hash_mismatches.is_empty() {
        codes.push("hash_mismatch");
    }
    let ok = |h: &runpack::Header, id: &str| {
        h.schema_id == id && h.schema_version == runpack::SCHEMA_VERSION
    };
    if !ok(&rp.manifest.header, runpack::MANIFEST_SCHEMA) {
        codes.push("manifest_schema_invalid");
    }
    if !ok(&rp.run.header, runpack::RUN_SCHEMA) {
        codes.push("run_schema_invalid");
    }
    if !ok(&rp.refs.header, runpack::REFS_SCHEMA) {
        codes.push("refs_schema_invalid");
    }
    if !rp
        .intents
        .iter()
        .all(|i| ok(&i.header, runpack::INTENT_SCHEMA))
    {
        codes.push("intent_schema_invalid");
    }
    if !rp
        .results
        .iter()
        .all(|r| ok(&r.header, runpack::RESULT_SCHEMA))
    {
        codes.push("result_schema_invalid");
    }
    let mut d = Map::new();
    d.insert(
        "missing_files".into(),
        if rep.missing_files.is_empty() {
            Value::Null
        } else {
            json!(rep.missing_files)
        },
    );
    d.insert("hash_mismatches".into(), json!(rep.hash_mismatches.len()));
    d.insert("intent_records".into(), json!(rp.intents.len()));
    d.insert("result_records".into(), json!(rp.results.len()));
    d.insert("reference_receipts".into(), json!(rp.refs.receipts.len()));
    outcome(codes.is_empty(), &codes, d)
}

fn expected_exit_code(s: &Subject) -> Outcome {
    let expected = s.fixture.expected_replay_exit_code;
    let mut d = Map::new();
    d.insert("expected_exit_code".into(), json!(expected));
    match diff::replay_missing(&s.loaded.runpack) {
        Err(e) => {
            d.insert("error".into(), json!(e));
            outcome(false, &["replay_error"], d)
        }
        Ok(missing) => {
            let actual = if missing.is_empty() { 0 } else { 2 };
            d.insert("actual_exit_code".into(), json!(actual));
            d.insert("missing_results".into(), json!(missing));
            if actual == expected {
                outcome(true, &[], d)
            } else {
                outcome(false, &["unexpected_exit_code"], d)
            }
        }
    }
}

/// A reason code for a candidate that cannot be compared, with its details.
fn candidate_problem(s: &Subject, invalid_code: &'static str) -> Option<Outcome> {
    let mut d = s.base_details();
    match s.candidate {
        Candidate::Missing { .. } => {
            d.insert("error".into(), json!("candidate runpack not found"));
            Some(outcome(false, &["candidate_path_invalid"], d))
        }
        Candidate::Invalid { error, .. } => {
            d.insert("error".into(), json!(error));
            Some(outcome(false, &[invalid_code], d))
        }
        _ => None,
    }
}

fn trajectory_grader(s: &Subject) -> Outcome {
    if let Some(o) = candidate_problem(s, "candidate_runpack_invalid") {
        return o;
    }
    let Some(cand) = s.candidate_runpack() else {
        return outcome(false, &["candidate_runpack_invalid"], s.base_details());
    };
    let t = trajectory::compare(
        &s.fixture.expected_tool_sequence,
        &s.fixture.expected_verdict_sequence,
        &trajectory::tool_sequence(cand),
        &trajectory::verdict_sequence(cand),
    );
    let mut d = s.base_details();
    d.extend(t.details);
    Outcome {
        pass: t.pass,
        codes: t.reason_codes,
        context: None,
        details: d,
    }
}

fn run_diff(s: &Subject) -> Option<RunDiff> {
    match s.candidate {
        // Comparing a runpack with itself changes nothing.
        Candidate::Same => Some(RunDiff {
            classification: "none",
            ..Default::default()
        }),
        Candidate::Loaded { loaded, .. } => Some(diff::diff(&s.loaded.runpack, &loaded.runpack)),
        _ => None,
    }
}

fn diff_grader(s: &Subject, d: Option<&RunDiff>) -> Outcome {
    if let Some(o) = candidate_problem(s, "diff_error") {
        return o;
    }
    let Some(rd) = d else {
        return outcome(false, &["diff_error"], s.base_details());
    };
    let mut allowed = s.fixture.diff_allow_changed_files.clone();
    allowed.sort();
    allowed.dedup();
    let changed = rd.changed_files();
    let unexpected: Vec<String> = changed
        .iter()
        .filter(|c| !allowed.contains(c))
        .cloned()
        .collect();
    let mut det = s.base_details();
    det.insert("allowed_files".into(), json!(allowed));
    det.insert("changed_files".into(), json!(changed));
    if unexpected.is_empty() {
        outcome(true, &[], det)
    } else {
        det.insert("unexpected_files".into(), json!(unexpected));
        outcome(false, &["unexpected_diff"], det)
    }
}

fn context_grader(s: &Subject, d: Option<&RunDiff>, flags: GradeFlags) -> Outcome {
    let f = s.fixture;
    let enforce = flags.context_conformance
        || f.context_conformance == "required"
        || !f.expected_context_set_digest.is_empty();
    let allow_runtime = flags.allow_context_runtime_drift || f.allow_context_runtime_drift;
    let fixture_digest = s.loaded.runpack.refs.context_set_digest.clone();
    let mut det = s.base_details();
    det.insert("context_set_digest_fixture".into(), json!(fixture_digest));
    let with = |mut o: Outcome, class: &'static str| {
        o.context = Some(class);
        o
    };
    if let Some(o) = candidate_problem(s, "candidate_runpack_invalid") {
        return with(o, "missing");
    }
    let (Some(rd), Some(cand)) = (d, s.candidate_runpack()) else {
        return with(outcome(false, &["context_diff_error"], det), "missing");
    };
    let candidate_digest = cand.refs.context_set_digest.clone();
    let class = rd.classification;
    det.insert(
        "context_set_digest_candidate".into(),
        json!(candidate_digest),
    );
    det.insert("context_changed".into(), json!(class != "none"));
    det.insert(
        "context_runtime_only".into(),
        json!(class == "runtime_only"),
    );
    if !f.expected_context_set_digest.is_empty()
        && !candidate_digest.eq_ignore_ascii_case(&f.expected_context_set_digest)
        && class != "runtime_only"
    {
        return with(
            outcome(false, &["context_set_digest_mismatch"], det),
            "semantic",
        );
    }
    if !enforce {
        return with(
            outcome(true, &["context_conformance_not_required"], det),
            class,
        );
    }
    if candidate_digest.is_empty() {
        return with(
            outcome(false, &["context_evidence_missing"], det),
            "missing",
        );
    }
    if class == "semantic" {
        return with(outcome(false, &["context_semantic_drift"], det), "semantic");
    }
    if class == "runtime_only" && !allow_runtime {
        return with(
            outcome(false, &["context_runtime_drift_blocked"], det),
            "runtime_only",
        );
    }
    with(outcome(true, &["context_conformance_pass"], det), class)
}

/// Whether the context grader runs at all: the flag, or any fixture that asks for it.
pub fn context_enabled<'a>(
    flags: GradeFlags,
    fixtures: impl IntoIterator<Item = &'a Fixture>,
) -> bool {
    flags.context_conformance
        || fixtures.into_iter().any(|f| {
            !f.context_conformance.is_empty()
                || !f.expected_context_set_digest.is_empty()
                || f.allow_context_runtime_drift
        })
}

/// Runs every grader on one fixture; results come back sorted by name.
pub fn grade(s: &Subject, flags: GradeFlags, with_context: bool) -> Vec<GraderResult> {
    let rd = run_diff(s);
    let mut out = vec![
        (SCHEMA_VALIDATION, schema_validation(s)),
        (EXPECTED_EXIT_CODE, expected_exit_code(s)),
        (TRAJECTORY, trajectory_grader(s)),
        (DIFF, diff_grader(s, rd.as_ref())),
    ];
    if with_context {
        out.push((CONTEXT_CONFORMANCE, context_grader(s, rd.as_ref(), flags)));
    }
    let mut results: Vec<GraderResult> = out
        .into_iter()
        .map(|(grader, o)| finish(s.fixture, grader, o))
        .collect();
    results.sort_by(|a, b| a.name.cmp(&b.name));
    results
}

fn finish(f: &Fixture, grader: &str, o: Outcome) -> GraderResult {
    let mut codes: Vec<String> = o
        .codes
        .into_iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    codes.sort();
    codes.dedup();
    let mut details = o.details;
    details.insert("fixture".into(), json!(f.name));
    details.insert("run_id".into(), json!(f.run_id));
    GraderResult {
        name: format!("{}/{grader}", f.name),
        pass: o.pass,
        reason_codes: codes,
        context_conformance: o.context.map(str::to_string),
        details,
    }
}
