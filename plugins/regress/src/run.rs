//! `gait regress run` (spec §2.5, §2.6, §2.8): grade every configured fixture, write
//! `regress_result.json` and optionally JUnit XML, and report pass (exit 0) or drift (exit 5).
//!
//! Fixtures are graded in parallel (one worker per core); the result is sorted, so it does
//! not depend on scheduling.

use crate::config::{Config, ConfigFixture, DEFAULT_CONFIG};
use crate::error::RegressError;
use crate::fixture::{Fixture, FIXTURE_FILE};
use crate::graders::{self, Candidate, GradeFlags, GraderResult, Subject};
use crate::junit;
use crate::ojson::Doc;
use crate::source::{self, dir_shown, join_shown, Loaded};
use gait_sdk::cli::CommandOutput;
use gait_sdk::error::exit;
use gait_sdk::fsutil;
use gait_sdk::time::GoTime;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

pub const RESULT_SCHEMA: &str = "gait.regress.result";
pub const SCHEMA_VERSION: &str = "1.0.0";
pub const DEFAULT_OUTPUT: &str = "regress_result.json";
/// `created_at` when the first fixture's run has no time.
pub const EPOCH: &str = "1980-01-01T00:00:00Z";

type R<T> = Result<T, RegressError>;

/// Receives (fixtures done, total) while a run is graded. The binary renders it.
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Flags of `regress run`.
#[derive(Debug, Clone)]
pub struct RunArgs {
    pub config: String,
    pub output: String,
    pub junit: String,
    pub context_conformance: bool,
    pub allow_context_runtime_drift: bool,
    /// Accepted for compatibility: every grader is deterministic.
    pub allow_nondeterministic: bool,
}

impl Default for RunArgs {
    fn default() -> Self {
        RunArgs {
            config: DEFAULT_CONFIG.into(),
            output: DEFAULT_OUTPUT.into(),
            junit: String::new(),
            context_conformance: false,
            allow_context_runtime_drift: false,
            allow_nondeterministic: false,
        }
    }
}

/// What a run found and where it wrote it.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub fixture_set: String,
    pub created_at: String,
    pub results: Vec<GraderResult>,
    pub output: String,
    pub junit: Option<String>,
    pub config: String,
}

impl RunReport {
    pub fn pass(&self) -> bool {
        self.results.iter().all(|r| r.pass)
    }
    pub fn status(&self) -> &'static str {
        if self.pass() {
            "pass"
        } else {
            "fail"
        }
    }
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|r| !r.pass).count()
    }
    /// The first failing result's first reason code.
    pub fn top_failure_reason(&self) -> Option<String> {
        self.results.iter().find(|r| !r.pass).map(|r| {
            r.reason_codes
                .first()
                .cloned()
                .unwrap_or_else(|| "grader_failed".into())
        })
    }
    pub fn next_command(&self) -> String {
        if self.config == DEFAULT_CONFIG {
            "gait regress run --json".into()
        } else {
            format!("gait regress run --config {} --json", self.config)
        }
    }
    pub fn artifact_paths(&self) -> Vec<String> {
        let mut v = vec![self.output.clone()];
        v.extend(self.junit.clone());
        v
    }

    /// The members `regress run --json` prints (also embedded by `bootstrap`).
    pub fn summary(&self, m: &mut Map<String, Value>) {
        m.insert("ok".into(), json!(self.pass()));
        m.insert("status".into(), json!(self.status()));
        m.insert("fixture_set".into(), json!(self.fixture_set));
        m.insert("graders".into(), json!(self.results.len()));
        if !self.pass() {
            m.insert("failed".into(), json!(self.failed()));
            m.insert(
                "top_failure_reason".into(),
                json!(self.top_failure_reason()),
            );
            m.insert("next_command".into(), json!(self.next_command()));
        }
        m.insert("artifact_paths".into(), json!(self.artifact_paths()));
        m.insert("output".into(), json!(self.output));
        if let Some(j) = &self.junit {
            m.insert("junit".into(), json!(j));
        }
    }

    /// The `regress_result.json` document.
    pub fn result_doc(&self) -> Doc {
        let graders = self
            .results
            .iter()
            .map(|r| {
                let mut d = Doc::obj()
                    .with("name", r.name.as_str())
                    .with("status", r.status())
                    .with("reason_codes", r.reason_codes.clone());
                if let Some(c) = &r.context_conformance {
                    d.push("context_conformance", c.as_str());
                }
                d.with("details", Value::Object(r.details.clone()))
            })
            .collect();
        Doc::obj()
            .with("schema_id", RESULT_SCHEMA)
            .with("schema_version", SCHEMA_VERSION)
            .with("created_at", self.created_at.as_str())
            .with(
                "producer_version",
                format!("gait-rs/{}", env!("CARGO_PKG_VERSION")),
            )
            .with("fixture_set", self.fixture_set.as_str())
            .with("status", self.status())
            .with("graders", Doc::Arr(graders))
    }
}

/// A configured fixture whose metadata has been read.
struct Prepared {
    cf: ConfigFixture,
    fixture: Fixture,
    runpack: PathBuf,
    runpack_shown: String,
    dir: PathBuf,
    dir_shown: String,
}

const HINT_READD: &str = "re-create the fixture with `gait regress add --from <run_id|path> --name <fixture>`, or remove its entry from gait.yaml";

fn prepare(cf: &ConfigFixture) -> R<Prepared> {
    let runpack = PathBuf::from(&cf.runpack);
    let runpack_shown = source::clean_slash(&cf.runpack);
    if !runpack.is_file() {
        return Err(RegressError::invalid_hint(
            format!("fixture runpack missing for {}: {}", cf.name, runpack_shown),
            HINT_READD,
        ));
    }
    let dir = runpack
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let dir_shown = dir_shown(&runpack_shown);
    let fixture = Fixture::read(
        &dir.join(FIXTURE_FILE),
        &join_shown(&dir_shown, FIXTURE_FILE),
    )?;
    if fixture.name != cf.name {
        return Err(RegressError::invalid_hint(
            format!(
                "fixture name mismatch for {}: {} names {:?}",
                cf.name,
                join_shown(&dir_shown, FIXTURE_FILE),
                fixture.name
            ),
            "the name in fixture.json must match the gait.yaml entry",
        ));
    }
    if !cf.run_id.is_empty() && cf.run_id != fixture.run_id {
        return Err(RegressError::invalid_hint(
            format!(
                "fixture run_id mismatch for {}: gait.yaml has {}, fixture.json has {}",
                cf.name, cf.run_id, fixture.run_id
            ),
            "make the run_id in gait.yaml and fixture.json agree, or re-create the fixture with `gait regress add`",
        ));
    }
    Ok(Prepared {
        cf: cf.clone(),
        fixture,
        runpack,
        runpack_shown,
        dir,
        dir_shown,
    })
}

fn load_candidate(p: &Prepared) -> Candidate {
    let rel = &p.fixture.candidate_runpack;
    if rel.is_empty() {
        return Candidate::Same;
    }
    let shown = join_shown(&p.dir_shown, rel);
    let path = if Path::new(rel).is_absolute() {
        PathBuf::from(rel)
    } else {
        p.dir.join(rel)
    };
    if !path.is_file() {
        return Candidate::Missing { shown };
    }
    match source::read_archive(&path).and_then(|b| source::load_runpack(&b, "candidate runpack")) {
        Ok(loaded) => Candidate::Loaded {
            shown,
            loaded: Box::new(loaded),
        },
        Err(e) => Candidate::Invalid {
            shown,
            error: e.to_string(),
        },
    }
}

fn load_fixture_runpack(p: &Prepared) -> R<Loaded> {
    let loaded = source::read_archive(&p.runpack)
        .and_then(|b| source::load_runpack(&b, "fixture runpack"))
        .map_err(|e| {
            RegressError::invalid_hint(
                format!("fixture {} ({}): {e}", p.cf.name, p.runpack_shown),
                format!(
                    "check it with `gait verify {}`; then re-create the fixture with `gait regress add --from <run_id|path> --name {}`",
                    p.runpack_shown, p.cf.name
                ),
            )
        })?;
    if loaded.report.run_id != p.fixture.run_id {
        return Err(RegressError::invalid_hint(
            format!(
                "fixture run_id mismatch for {}: runpack has {}, fixture.json has {}",
                p.cf.name, loaded.report.run_id, p.fixture.run_id
            ),
            HINT_READD,
        ));
    }
    Ok(loaded)
}

/// Applies `work` to every item on up to one thread per core, calling `done` after each.
fn parallel<T: Sync, U: Send>(
    items: &[T],
    work: impl Fn(&T) -> U + Sync,
    done: impl Fn() + Sync,
) -> Vec<U> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
        .min(items.len().max(1));
    if threads <= 1 {
        return items
            .iter()
            .map(|i| {
                let u = work(i);
                done();
                u
            })
            .collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<U>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let u = work(item);
                *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(u);
                done();
            });
        }
    });
    slots
        .into_iter()
        .filter_map(|s| s.into_inner().unwrap_or_else(|p| p.into_inner()))
        .collect()
}

fn created_at(t: &GoTime) -> String {
    if t.is_zero() {
        EPOCH.into()
    } else {
        t.utc().to_rfc3339_nano()
    }
}

/// Grades every fixture of the config and writes the result files.
pub fn execute(args: &RunArgs, progress: Progress) -> R<RunReport> {
    let config_arg = if args.config.trim().is_empty() {
        DEFAULT_CONFIG.to_string()
    } else {
        args.config.trim().to_string()
    };
    let output = if args.output.trim().is_empty() {
        DEFAULT_OUTPUT.to_string()
    } else {
        args.output.trim().to_string()
    };
    let junit = Some(args.junit.trim().to_string()).filter(|j| !j.is_empty());
    if junit.as_deref() == Some(output.as_str()) {
        return Err(RegressError::invalid_hint(
            "--output and --junit name the same file",
            "write the JUnit report to its own file, e.g. --junit gait-out/junit.xml",
        ));
    }
    let config = Config::read(Path::new(&config_arg), &config_arg)?;
    let mut entries = config.fixtures.clone();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    if entries.is_empty() {
        return Err(RegressError::invalid_hint(
            "no fixtures configured",
            "add one with `gait regress add --from <run_id|path>`",
        ));
    }
    let prepared = entries.iter().map(prepare).collect::<R<Vec<_>>>()?;
    let flags = GradeFlags {
        context_conformance: args.context_conformance,
        allow_context_runtime_drift: args.allow_context_runtime_drift,
    };
    let with_context = graders::context_enabled(flags, prepared.iter().map(|p| &p.fixture));
    let total = prepared.len();
    let done = AtomicUsize::new(0);
    progress(0, total);
    let graded = parallel(
        &prepared,
        |p| -> R<(Vec<GraderResult>, GoTime)> {
            let loaded = load_fixture_runpack(p)?;
            let candidate = load_candidate(p);
            let subject = Subject {
                fixture: &p.fixture,
                loaded: &loaded,
                runpack_shown: &p.runpack_shown,
                candidate: &candidate,
            };
            let results = graders::grade(&subject, flags, with_context);
            Ok((results, loaded.runpack.run.header.created_at))
        },
        || progress(done.fetch_add(1, Ordering::Relaxed) + 1, total),
    );
    let mut results = Vec::new();
    let mut first_time = None;
    for g in graded {
        let (r, t) = g?;
        first_time.get_or_insert(t);
        results.extend(r);
    }
    results.sort_by(|a, b| a.name.cmp(&b.name));
    let report = RunReport {
        fixture_set: config.fixture_set().to_string(),
        created_at: created_at(&first_time.unwrap_or_else(GoTime::zero)),
        results,
        output,
        junit,
        config: config_arg,
    };
    write_report(&report)?;
    Ok(report)
}

/// Writes `regress_result.json` (and the JUnit file) atomically, as one batch.
fn write_report(report: &RunReport) -> R<()> {
    let result = report.result_doc().to_pretty();
    let xml = report
        .junit
        .as_ref()
        .map(|_| junit::render(&report.fixture_set, &report.results));
    let mut files: Vec<(&Path, &[u8], u32)> =
        vec![(Path::new(&report.output), result.as_bytes(), 0o600)];
    if let (Some(j), Some(x)) = (&report.junit, &xml) {
        files.push((Path::new(j), x.as_bytes(), 0o600));
    }
    fsutil::write_atomic_batch(&files)
        .map_err(|e| RegressError::Io(format!("write regress results: {e}")))
}

/// Human lines for a finished run.
pub fn text(report: &RunReport) -> String {
    let mut t = String::new();
    if report.pass() {
        t.push_str(&format!(
            "regress run ok: fixture_set={} graders={}\n",
            report.fixture_set,
            report.results.len()
        ));
    } else {
        t.push_str(&format!(
            "regress run failed: fixture_set={} failed={}\n",
            report.fixture_set,
            report.failed()
        ));
        if let Some(r) = report.top_failure_reason() {
            t.push_str(&format!("top_failure_reason: {r}\n"));
        }
        t.push_str(&format!("next: {}\n", report.next_command()));
        t.push_str(&format!(
            "artifacts: {}\n",
            report.artifact_paths().join(", ")
        ));
    }
    t.push_str(&format!("output: {}\n", report.output));
    if let Some(j) = &report.junit {
        t.push_str(&format!("junit: {j}\n"));
    }
    t
}

/// `gait regress run`.
pub fn run(args: &RunArgs, progress: Progress) -> R<CommandOutput> {
    let report = execute(args, progress)?;
    let mut m = Map::new();
    report.summary(&mut m);
    let code = if report.pass() {
        exit::OK
    } else {
        exit::REGRESS_FAILED
    };
    Ok(CommandOutput::new(m, text(&report), code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, pass: bool, codes: &[&str], cc: Option<&str>) -> GraderResult {
        let mut details = Map::new();
        details.insert("expected_at_mismatch".into(), json!("<missing>"));
        GraderResult {
            name: name.into(),
            pass,
            reason_codes: codes.iter().map(|c| c.to_string()).collect(),
            context_conformance: cc.map(str::to_string),
            details,
        }
    }

    fn report(results: Vec<GraderResult>) -> RunReport {
        RunReport {
            fixture_set: "default".into(),
            created_at: "2026-06-27T16:17:35.25Z".into(),
            results,
            output: DEFAULT_OUTPUT.into(),
            junit: Some("j.xml".into()),
            config: "ci/gait.yaml".into(),
        }
    }

    #[test]
    fn result_document_validates_and_keeps_declared_order() {
        let r = report(vec![
            result(
                "a/context_conformance",
                false,
                &["context_evidence_missing"],
                Some("missing"),
            ),
            result("a/diff", true, &[], None),
        ]);
        let text = r.result_doc().to_pretty();
        let v: Value = serde_json::from_str(&text).unwrap();
        gait_sdk::schema::validate("regress/regress_result", &v).unwrap();
        assert!(
            text.starts_with("{\n  \"schema_id\": \"gait.regress.result\",\n  \"schema_version\"")
        );
        assert!(text.contains("\\u003cmissing\\u003e"), "{text}");
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn summary_members() {
        let r = report(vec![
            result("a/diff", true, &[], None),
            result("a/trajectory", false, &[], None),
        ]);
        let mut m = Map::new();
        r.summary(&mut m);
        assert_eq!(m["ok"], false);
        assert_eq!(m["failed"], 1);
        assert_eq!(m["top_failure_reason"], "grader_failed");
        assert_eq!(
            m["next_command"],
            "gait regress run --config ci/gait.yaml --json"
        );
        assert_eq!(m["artifact_paths"], json!(["regress_result.json", "j.xml"]));
        assert!(text(&r).contains("artifacts: regress_result.json, j.xml"));
    }

    #[test]
    fn parallel_keeps_input_order() {
        let items: Vec<usize> = (0..200).collect();
        let seen = AtomicUsize::new(0);
        let out = parallel(
            &items,
            |i| i * 2,
            || {
                seen.fetch_add(1, Ordering::Relaxed);
            },
        );
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(seen.load(Ordering::Relaxed), 200);
    }
}
