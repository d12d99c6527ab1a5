//! `gait demo`: the first thing a new user runs. The standard mode records and verifies a
//! small offline runpack; `--policy` writes a high-risk policy and intent and has the gate
//! plugin evaluate them, and `--durable` drives a job lifecycle through the job plugin, both
//! through the CLI contract (this plugin never links the gate or job code).

use crate::archive::{open_entries, write_zip};
use crate::error::PackError;
use crate::runs::ticket_footer;
use gait_sdk::cli::CommandOutput;
use gait_sdk::error::exit;
use gait_sdk::jcs;
use gait_sdk::pack::runpack::{
    self, Header, IntentRecord, Receipt, RecordInput, Refs, ResultRecord, Run, TimelineEvent,
};
use gait_sdk::time::GoTime;
use gait_sdk::{Category, GaitError};
use serde_json::{json, Map, Value};
use std::path::Path;
use std::process::Command;

const METRICS_OPT_IN: &str = "export GAIT_ADOPTION_LOG=./gait-out/adoption.jsonl";

fn t(s: &str) -> GoTime {
    GoTime::parse_rfc3339(s).expect("constant time")
}

/// The fixed demo run (spec: regress-and-ux §3.1).
pub fn demo_input() -> RecordInput {
    let start = t("2026-02-05T00:00:00Z");
    let header = |schema: &str| Header {
        schema_id: schema.into(),
        schema_version: "1.0.0".into(),
        created_at: start,
        producer_version: runpack::DEFAULT_PRODUCER_VERSION.into(),
        run_id: "run_demo".into(),
    };
    let tools = [
        (
            "tool.search",
            json!({"query": "gait demo: offline verification"}),
        ),
        ("tool.fetch", json!({"url": "https://example.local/demo"})),
        ("tool.summarize", json!({"input_ref": "ref_1"})),
    ];
    let intents = tools
        .iter()
        .enumerate()
        .map(|(i, (tool, args))| IntentRecord {
            header: header(runpack::INTENT_SCHEMA),
            intent_id: format!("intent_{}", i + 1),
            tool_name: tool.to_string(),
            args_digest: jcs::digest_hex(args).expect("finite"),
            args: args.as_object().cloned(),
        })
        .collect();
    let results = (1..=3)
        .map(|n| ResultRecord {
            header: header(runpack::RESULT_SCHEMA),
            intent_id: format!("intent_{n}"),
            status: "ok".into(),
            result_digest: jcs::digest_hex(
                &json!({"message": format!("demo result {n}"), "ok": true}),
            )
            .expect("finite"),
            result: None,
        })
        .collect();
    let receipts = tools
        .iter()
        .enumerate()
        .map(|(i, (tool, _))| Receipt {
            ref_id: format!("ref_{}", i + 1),
            source_type: "demo".into(),
            source_locator: tool.to_string(),
            query_digest: jcs::sha256_hex(format!("query-{}", i + 1).as_bytes()),
            content_digest: jcs::sha256_hex(format!("content-{}", i + 1).as_bytes()),
            retrieved_at: start,
            redaction_mode: "reference".into(),
            ..Default::default()
        })
        .collect();
    RecordInput {
        run: Run {
            header: header(runpack::RUN_SCHEMA),
            env_os: "demo".into(),
            env_arch: "demo".into(),
            env_runtime: "go".into(),
            timeline: Some(vec![
                TimelineEvent {
                    event: "start".into(),
                    ts: start,
                    ..Default::default()
                },
                TimelineEvent {
                    event: "finish".into(),
                    ts: t("2026-02-05T00:00:02Z"),
                    ..Default::default()
                },
            ]),
        },
        intents,
        results,
        refs: Refs {
            header: header(runpack::REFS_SCHEMA),
            receipts,
            ..Default::default()
        },
        capture_mode: "reference".into(),
        ..Default::default()
    }
}

fn next_standard() -> Value {
    json!([
        "gait verify run_demo --json",
        "gait regress bootstrap --from run_demo --json --junit ./gait-out/junit.xml",
        "gait demo --durable",
        "gait demo --policy"
    ])
}

fn human(m: &Map<String, Value>) -> String {
    let mut out = String::new();
    for k in [
        "mode",
        "run_id",
        "job_id",
        "job_status",
        "bundle",
        "pack_path",
        "ticket_footer",
        "verify",
        "policy_verdict",
        "matched_rule",
        "reason_codes",
        "simulated_failure",
        "next_commands",
        "metrics_opt_in",
    ] {
        let Some(v) = m.get(k) else { continue };
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        if text.is_empty() {
            continue;
        }
        let key = if k == "next_commands" { "next" } else { k };
        out.push_str(&format!("{key}={text}\n"));
    }
    out
}

fn standard(started: std::time::Instant) -> Result<CommandOutput, GaitError> {
    let recorded = runpack::record(demo_input(), "reference", t("2026-02-05T00:00:00Z"), None)
        .map_err(PackError::from)?;
    let path = Path::new("gait-out/runpack_run_demo.zip");
    write_zip(path, &recorded.entries)?;
    let mut src = open_entries(path)?;
    let rep = runpack::verify(src.as_mut(), None, false).map_err(PackError::from)?;
    if !rep.ok(false) {
        return Err(GaitError::verification("verification failed"));
    }
    let mut m = Map::new();
    m.insert("mode".into(), json!("standard"));
    m.insert("run_id".into(), json!("run_demo"));
    m.insert("bundle".into(), json!("./gait-out/runpack_run_demo.zip"));
    m.insert(
        "ticket_footer".into(),
        json!(ticket_footer("run_demo", &rep.manifest_digest)),
    );
    m.insert("verify".into(), json!("ok"));
    m.insert("next_commands".into(), next_standard());
    m.insert("metrics_opt_in".into(), json!(METRICS_OPT_IN));
    let ms = started.elapsed().as_millis() as u64;
    if ms > 0 {
        m.insert("duration_ms".into(), json!(ms));
    }
    let text = human(&m);
    Ok(CommandOutput::new(m, text, exit::OK))
}

use gait_sdk::manifest::launcher;

const DEMO_POLICY: &str = "schema_id: gait.gate.policy\nschema_version: 1.0.0\ndefault_verdict: allow\nrules:\n  - name: block-destructive-tool-delete\n    priority: 10\n    effect: block\n    match:\n      tool_names: [tool.delete]\n      risk_classes: [high]\n    reason_codes: [destructive_tool_blocked]\n";

fn demo_intent() -> Value {
    json!({
        "schema_id": "gait.gate.intent_request", "schema_version": "1.0.0",
        "created_at": "2026-02-14T00:00:00Z", "producer_version": runpack::DEFAULT_PRODUCER_VERSION,
        "tool_name": "tool.delete", "args": {"path": "/tmp/demo/delete-me.txt"},
        "targets": [{"kind": "path", "value": "/tmp/demo/delete-me.txt", "operation": "delete", "endpoint_class": "fs.delete", "destructive": true}],
        "context": {"identity": "demo.user", "workspace": "/tmp/demo", "risk_class": "high"}
    })
}

fn policy_mode() -> Result<CommandOutput, GaitError> {
    let policy_path = "gait-out/policy_demo_high_risk.yaml";
    let intent_path = "gait-out/intent_demo_delete.json";
    gait_sdk::fsutil::write_atomic(Path::new(policy_path), DEMO_POLICY.as_bytes(), 0o644)
        .map_err(|e| GaitError::io(format!("write {policy_path}: {e}")))?;
    gait_sdk::fsutil::write_atomic(
        Path::new(intent_path),
        gait_sdk::output::to_json_pretty(&demo_intent()).as_bytes(),
        0o644,
    )
    .map_err(|e| GaitError::io(format!("write {intent_path}: {e}")))?;
    let gait = launcher().ok_or_else(|| {
        GaitError::new(
            Category::DependencyMissing,
            "gait demo --policy needs the gait launcher and the gate plugin",
        )
        .with_hint("install gait-gate beside gait, then run `gait plugin list`")
    })?;
    let out = Command::new(&gait)
        .args(["policy", "test", policy_path, intent_path, "--json"])
        .output()
        .map_err(|e| {
            GaitError::new(
                Category::DependencyMissing,
                format!("run {}: {e}", gait.display()),
            )
        })?;
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|_| {
        GaitError::new(
            Category::DependencyMissing,
            "the gate plugin did not answer `gait policy test`",
        )
        .with_hint("install gait-gate and check `gait plugin list`")
    })?;
    let verdict = v["verdict"].as_str().unwrap_or("").to_string();
    if verdict != "block" {
        return Err(GaitError::verification(format!(
            "demo policy expected verdict block, got {verdict:?}"
        )));
    }
    let mut m = Map::new();
    m.insert("mode".into(), json!("policy"));
    m.insert("bundle".into(), json!(format!("./{intent_path}")));
    m.insert("pack_path".into(), json!(format!("./{policy_path}")));
    m.insert("verify".into(), json!("ok"));
    m.insert("policy_verdict".into(), json!(verdict));
    m.insert("matched_rule".into(), v["matched_rule"].clone());
    m.insert("reason_codes".into(), v["reason_codes"].clone());
    m.insert(
        "next_commands".into(),
        json!([
            format!("gait gate eval --policy ./{policy_path} --intent ./{intent_path} --simulate --json"),
            format!("gait gate eval --policy ./{policy_path} --intent ./{intent_path} --json"),
            "gait policy simulate --baseline examples/policy/base_medium_risk.yaml --policy examples/policy/base_high_risk.yaml --fixtures examples/policy/intents --json"
        ]),
    );
    m.insert("metrics_opt_in".into(), json!(METRICS_OPT_IN));
    let text = human(&m);
    Ok(CommandOutput::new(m, text, exit::OK))
}

const DURABLE_JOB: &str = "job_demo_durable";
const DURABLE_ROOT: &str = "./gait-out/jobs";
const DURABLE_PACK: &str = "./gait-out/pack_job_demo_durable.zip";

/// Runs `gait job <args> --root ./gait-out/jobs --now <at> --json` through the launcher and
/// returns (exit code, JSON answer).
fn job_cli(gait: &Path, at: &str, args: &[&str]) -> Result<(i32, Value), GaitError> {
    let out = Command::new(gait)
        .arg("job")
        .args(args)
        .args([
            "--id",
            DURABLE_JOB,
            "--root",
            DURABLE_ROOT,
            "--now",
            at,
            "--json",
        ])
        .output()
        .map_err(|e| {
            GaitError::new(
                Category::DependencyMissing,
                format!("run {}: {e}", gait.display()),
            )
        })?;
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|_| {
        GaitError::new(
            Category::DependencyMissing,
            format!("the job plugin did not answer `gait job {}`", args[0]),
        )
        .with_hint("install gait-job beside gait and check `gait plugin list`")
    })?;
    Ok((out.status.code().unwrap_or(1), v))
}

fn job_step(gait: &Path, at: &str, args: &[&str]) -> Result<Value, GaitError> {
    let (code, v) = job_cli(gait, at, args)?;
    if code != 0 {
        let msg = v["error"].as_str().unwrap_or("failed");
        return Err(GaitError::new(
            Category::Internal,
            format!("durable demo: gait job {}: {msg}", args.join(" ")),
        ));
    }
    Ok(v)
}

/// `gait demo --durable` (spec: jobs A14): a job lifecycle with a refused resume, an approval
/// and a completed checkpoint, driven through `gait job` (the job plugin), then packed and
/// verified. Times are fixed, so the files depend only on the CLI version.
fn durable_mode(started: std::time::Instant) -> Result<CommandOutput, GaitError> {
    let root = Path::new(DURABLE_ROOT);
    gait_sdk::fsutil::create_dir_all_mode(root, 0o750)
        .map_err(|e| GaitError::io(format!("create {DURABLE_ROOT}: {e}")))?;
    let dir = root.join(DURABLE_JOB);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| GaitError::io(format!("remove {}: {e}", dir.display())))?;
    }
    let gait = launcher().ok_or_else(|| {
        GaitError::new(
            Category::DependencyMissing,
            "gait demo --durable needs the gait launcher and the job plugin",
        )
        .with_hint("install gait-job beside gait, then run `gait plugin list`")
    })?;
    let fp = "envfp:demo-durable";
    job_step(
        &gait,
        "2026-02-14T00:00:00Z",
        &["submit", "--env-fingerprint", fp, "--actor", "demo.user"],
    )?;
    job_step(
        &gait,
        "2026-02-14T00:01:00Z",
        &[
            "checkpoint",
            "add",
            "--type",
            "decision-needed",
            "--summary",
            "approval required to continue",
            "--required-action",
            "security_review",
            "--actor",
            "demo.user",
        ],
    )?;
    let (code, v) = job_cli(
        &gait,
        "2026-02-14T00:02:00Z",
        &[
            "resume",
            "--reason",
            "resume_without_approval",
            "--env-fingerprint",
            fp,
            "--actor",
            "demo.user",
        ],
    )?;
    let refused = code != 0
        && v["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("approval required"));
    if !refused {
        return Err(GaitError::verification(
            "durable demo: resume without approval was not refused",
        ));
    }
    job_step(
        &gait,
        "2026-02-14T00:03:00Z",
        &[
            "approve",
            "--actor",
            "demo.approver",
            "--reason",
            "approved_for_resume",
        ],
    )?;
    job_step(
        &gait,
        "2026-02-14T00:04:00Z",
        &[
            "resume",
            "--reason",
            "approved_resume",
            "--env-fingerprint",
            fp,
            "--actor",
            "demo.user",
        ],
    )?;
    let done = job_step(
        &gait,
        "2026-02-14T00:05:00Z",
        &[
            "checkpoint",
            "add",
            "--type",
            "completed",
            "--summary",
            "durable demo complete",
            "--actor",
            "demo.user",
        ],
    )?;
    crate::packs::build(&crate::packs::BuildArgs {
        pack_type: "job".into(),
        from: DURABLE_JOB.into(),
        out: DURABLE_PACK.into(),
        key_mode: "none".into(),
        job_root: DURABLE_ROOT.into(),
        ..Default::default()
    })?;
    let check =
        crate::packs::check_pack(Path::new(DURABLE_PACK), &crate::runs::VerifyKeys::default())?;
    if !check.ok {
        return Err(GaitError::verification("durable pack verification failed"));
    }
    let mut m = Map::new();
    m.insert("mode".into(), json!("durable"));
    m.insert("run_id".into(), json!("run_demo"));
    m.insert("job_id".into(), json!(DURABLE_JOB));
    m.insert("job_status".into(), done["job"]["status"].clone());
    m.insert(
        "bundle".into(),
        json!(format!("{DURABLE_ROOT}/{DURABLE_JOB}/state.json")),
    );
    m.insert("pack_path".into(), json!(DURABLE_PACK));
    m.insert("verify".into(), json!("ok"));
    m.insert(
        "simulated_failure".into(),
        json!("resume blocked until approval"),
    );
    m.insert(
        "next_commands".into(),
        json!([
            format!("gait job inspect --id {DURABLE_JOB} --json"),
            format!("gait pack inspect {DURABLE_PACK} --json"),
            "gait demo --policy"
        ]),
    );
    m.insert("metrics_opt_in".into(), json!(METRICS_OPT_IN));
    let ms = started.elapsed().as_millis() as u64;
    if ms > 0 {
        m.insert("duration_ms".into(), json!(ms));
    }
    let text = human(&m);
    Ok(CommandOutput::new(m, text, exit::OK))
}

/// `gait demo [--durable|--policy]`.
pub fn demo(durable: bool, policy: bool) -> Result<CommandOutput, GaitError> {
    let started = std::time::Instant::now();
    if durable && policy {
        return Err(GaitError::invalid(
            "choose only one mode: --durable or --policy",
        ));
    }
    if durable {
        return durable_mode(started);
    }
    if policy {
        return policy_mode();
    }
    standard(started)
}
