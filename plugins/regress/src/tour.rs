//! `gait tour` (spec §3.2): the activation walkthrough. Demo, verify, turn the demo run into
//! a fixture, run it as a regression gate.
//!
//! The demo belongs to the pack plugin, so the tour runs `gait demo --json` through the
//! launcher (`GAIT_LAUNCHER`) rather than linking it: plugins cooperate through the CLI
//! contract only. Verification and the regress steps use the shared SDK in process.

use crate::error::RegressError;
use crate::init::init_fixture;
use crate::run::{self, Progress, RunArgs};
use crate::source::{self, Source};
use gait_sdk::cli::CommandOutput;
use gait_sdk::error::exit;
use gait_sdk::pack::runpack;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const DEMO_RUNPACK: &str = "gait-out/runpack_run_demo.zip";
pub const TOUR_RESULT: &str = "gait-out/tour_regress_result.json";
pub const TOUR_JUNIT: &str = "gait-out/tour_junit.xml";
const METRICS_OPT_IN: &str = "export GAIT_ADOPTION_LOG=./gait-out/adoption.jsonl";

type R<T> = Result<T, RegressError>;

pub use gait_sdk::manifest::launcher;

fn missing_demo(detail: String) -> RegressError {
    RegressError::Dependency {
        message: format!("tour needs `gait demo` from the pack plugin: {detail}"),
        hint: "install gait-pack beside gait, then check `gait plugin list`".into(),
    }
}

fn run_demo() -> R<()> {
    let gait = launcher().ok_or_else(|| missing_demo("the gait launcher was not found".into()))?;
    let out = Command::new(&gait)
        .args(["demo", "--json"])
        .output()
        .map_err(|e| missing_demo(format!("run {}: {e}", gait.display())))?;
    let v: Value = serde_json::from_slice(&out.stdout)
        .map_err(|_| missing_demo("`gait demo --json` did not answer with JSON".into()))?;
    if v["ok"] != json!(true) {
        let why = v["error"].as_str().unwrap_or("demo failed").to_string();
        return Err(match out.status.code() {
            Some(2) => RegressError::Verification(format!("demo step failed: {why}")),
            Some(6) | Some(7) | None => missing_demo(why),
            Some(_) => RegressError::Io(format!("demo step failed: {why}")),
        });
    }
    Ok(())
}

fn verify_demo() -> R<()> {
    let bytes = source::read_archive(Path::new(DEMO_RUNPACK))
        .map_err(|e| RegressError::Verification(format!("verify step failed: {e}")))?;
    let mut src = source::open_zip(&bytes)
        .map_err(|e| RegressError::Verification(format!("verify step failed: {e}")))?;
    let rep = runpack::verify(&mut src, None, false)
        .map_err(|e| RegressError::Verification(format!("verify step failed: {e}")))?;
    if !rep.ok(false) {
        return Err(RegressError::Verification("verify step failed".into()));
    }
    Ok(())
}

/// `gait tour`.
pub fn tour(progress: Progress) -> R<CommandOutput> {
    let started = std::time::Instant::now();
    run_demo()?;
    verify_demo()?;
    let created = init_fixture(
        &Source {
            path: PathBuf::from(DEMO_RUNPACK),
            shown: DEMO_RUNPACK.into(),
            chain: None,
            checkpoint_index: None,
        },
        "",
    )?;
    let report = run::execute(
        &RunArgs {
            output: TOUR_RESULT.into(),
            junit: TOUR_JUNIT.into(),
            ..Default::default()
        },
        progress,
    )?;
    if !report.pass() {
        return Err(RegressError::RegressFailed(format!(
            "regress step failed: status=fail failed={}",
            report.failed()
        )));
    }
    let next = vec![
        "gait demo --durable",
        "gait demo --policy",
        "gait doctor --summary",
    ];
    let hints = vec![
        "durable branch: run a resumable job lifecycle demo with checkpoints",
        "policy branch: run a deterministic high-risk block demo before enforce rollout",
    ];
    let mut m = Map::new();
    m.insert("mode".into(), json!("activation"));
    m.insert("run_id".into(), json!(created.run_id));
    m.insert("verify_path".into(), json!(DEMO_RUNPACK));
    m.insert("verify_status".into(), json!("ok"));
    m.insert("fixture_name".into(), json!(created.fixture_name));
    m.insert("fixture_dir".into(), json!(created.fixture_dir));
    m.insert("regress_status".into(), json!(report.status()));
    m.insert("next_commands".into(), json!(next));
    m.insert("branch_hints".into(), json!(hints));
    m.insert("metrics_opt_in".into(), json!(METRICS_OPT_IN));
    let ms = started.elapsed().as_millis() as u64;
    if ms > 0 {
        m.insert("duration_ms".into(), json!(ms));
    }
    let text = format!(
        "tour mode=activation\na1_demo=ok run_id={}\na2_verify=ok path={}\na3_regress_init=ok fixture={} dir={}\na4_regress_run={} failed={}\nnext={}\nbranch_hints={}\nmetrics_opt_in={}\n",
        created.run_id,
        DEMO_RUNPACK,
        created.fixture_name,
        created.fixture_dir,
        report.status(),
        report.failed(),
        next.join(" | "),
        hints.join(" | "),
        METRICS_OPT_IN
    );
    Ok(CommandOutput::new(m, text, exit::OK))
}
