//! `gait migrate`, `gait report top`, `gait incident pack` and `gait run receipt` end to end
//! through the `gait-pack` binary: happy paths, every bad input (exit 6, nothing written),
//! verification of incident packs and tamper detection (exit 2).

use assert_cmd::Command;
use gait_sdk::zip::{ZipBuilder, ZipLimits, ZipReader};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn run_raw(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("gait-pack")
        .unwrap()
        .current_dir(dir)
        .env("HOME", dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run(dir: &Path, args: &[&str]) -> (i32, Value) {
    let (code, stdout, _) = run_raw(dir, args);
    (code, serde_json::from_str(&stdout).unwrap_or(Value::Null))
}

fn conformance(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/conformance")
        .join(rel)
}

/// Every file under `dir` (relative paths), to prove a failed command wrote nothing.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

fn assert_invalid_writes_nothing(dir: &Path, args: &[&str]) -> Value {
    let before = tree(dir);
    let (code, v) = run(dir, args);
    assert_eq!(code, 6, "{args:?}: {v}");
    assert_eq!(v["ok"], false, "{args:?}: {v}");
    assert_eq!(v["error_code"], "invalid_input", "{args:?}: {v}");
    assert!(v["hint"].as_str().is_some_and(|h| !h.is_empty()), "{v}");
    assert_eq!(tree(dir), before, "{args:?} must not write anything");
    v
}

const RUN_TIME: &str = "2026-03-01T10:00:00Z";

/// A raw-capture run with a blocked delete, an approval-gated email and a plain search.
fn record_incident_run(dir: &Path) {
    let input = json!({
        "run": {"run_id": "run_incident", "created_at": RUN_TIME,
                "timeline": [{"event": "tool_call", "ts": "2026-03-01T10:05:00Z", "ref": "intent_1"}]},
        "intents": [
            {"intent_id": "intent_1", "tool_name": "tool.delete", "args": {"path": "/srv/data"}},
            {"intent_id": "intent_2", "tool_name": "tool.send_email", "args": {"to": "x@example.com"}},
            {"intent_id": "intent_3", "tool_name": "tool.search", "args": {"q": "status"}}
        ],
        "results": [
            {"intent_id": "intent_1", "status": "error", "result": {"verdict": "block"}},
            {"intent_id": "intent_2", "status": "error",
             "result": {"verdict": "require_approval", "violations": ["approval_not_granted"]}},
            {"intent_id": "intent_3", "status": "ok", "result": {"hits": 3}}
        ],
        "capture_mode": "raw"
    });
    std::fs::write(dir.join("run.json"), input.to_string()).unwrap();
    let (code, v) = run(dir, &["run", "record", "run.json", "--json"]);
    assert_eq!(code, 0, "{v}");
}

fn trace(dir: &Path, name: &str, id: &str, tool: &str, verdict: &str, observed: &str) {
    let t = json!({
        "schema_id": "gait.gate.trace", "schema_version": "1.0.0",
        "created_at": observed, "observed_at": observed, "producer_version": "0.0.0-dev",
        "trace_id": id, "event_id": id, "tool_name": tool, "args_digest": "a".repeat(64),
        "intent_digest": "b".repeat(64), "policy_digest": "c".repeat(64),
        "policy_id": "gait.gate.policy", "policy_version": "1.0.0", "verdict": verdict,
        "run_id": "run_incident"
    });
    std::fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
    std::fs::write(dir.join(name), serde_json::to_string_pretty(&t).unwrap()).unwrap();
}

// ---------------------------------------------------------------- migrate

#[test]
fn migrating_the_demo_runpack_is_no_change() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(run(d, &["demo", "--json"]).0, 0);
    let (code, v) = run(d, &["migrate", "run_demo", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["status"], "no_change");
    assert_eq!(v["artifact"], "runpack");
    assert_eq!(v["run_id"], "run_demo");
    assert_eq!(v["input"], "gait-out/runpack_run_demo.zip");
    assert_eq!(v["output"], "gait-out/runpack_run_demo_migrated.zip");
    assert!(
        std::fs::read(d.join("gait-out/runpack_run_demo.zip")).unwrap()
            == std::fs::read(d.join("gait-out/runpack_run_demo_migrated.zip")).unwrap(),
        "no_change means identical bytes"
    );
    // --input and an explicit --target v1 are the same command.
    let (code, v) = run(
        d,
        &[
            "migrate",
            "--input",
            "./gait-out/runpack_run_demo.zip",
            "--target",
            "v1",
            "--out",
            "m/again.zip",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["output"], "m/again.zip");
    let (code, v) = run(d, &["verify", "m/again.zip", "--json"]);
    assert_eq!(code, 0, "{v}");
}

#[test]
fn reference_runpacks_round_trip_and_keep_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let reference = conformance("artifacts/v-0035-ref-runpack-0/ref/runpack_run_lumen_152.zip");
    let (code, before) = run(d, &["verify", reference.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{before}");
    let (code, v) = run(
        d,
        &[
            "migrate",
            reference.to_str().unwrap(),
            "--out",
            "lumen.zip",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{v}");
    assert!(
        v["status"] == "no_change" || v["status"] == "migrated",
        "{v}"
    );
    assert!(
        v.get("changed_entries").is_none(),
        "entries survive unchanged: {v}"
    );
    let (code, after) = run(d, &["verify", "lumen.zip", "--json"]);
    assert_eq!(code, 0, "{after}");
    assert_eq!(after["manifest_digest"], before["manifest_digest"]);
    // Migrating the migrated file changes nothing.
    let (code, v) = run(
        d,
        &["migrate", "lumen.zip", "--out", "lumen2.zip", "--json"],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["status"], "no_change");

    let signed_dir = conformance("artifacts/v-0038-ref-runpack-signed");
    let signed = signed_dir.join("signed_a.zip");
    let (code, v) = run(
        d,
        &[
            "migrate",
            signed.to_str().unwrap(),
            "--out",
            "signed.zip",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{v}");
    assert!(v.get("warnings").is_none(), "{v}");
    let key = signed_dir.join("keys/a_public.key");
    let (code, v) = run(
        d,
        &[
            "verify",
            "signed.zip",
            "--require-signature",
            "--public-key",
            key.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(code, 0, "the signature still verifies: {v}");
}

#[test]
fn migrate_bad_input_exits_6_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(run(d, &["demo", "--json"]).0, 0);
    assert_eq!(
        run(
            d,
            &["pack", "build", "--from", "run_demo", "--out", "p.zip", "--json"]
        )
        .0,
        0
    );
    let v = assert_invalid_writes_nothing(
        d,
        &[
            "migrate",
            "gait-out/runpack_run_demo.zip",
            "--out",
            "./gait-out/runpack_run_demo.zip",
            "--json",
        ],
    );
    assert_eq!(v["error"], "--out must differ from the input runpack");
    let v = assert_invalid_writes_nothing(d, &["migrate", "run_demo", "--target", "v2", "--json"]);
    assert_eq!(v["error"], "unsupported --target: v2");
    assert_invalid_writes_nothing(d, &["migrate", "--json"]);
    let v = assert_invalid_writes_nothing(d, &["migrate", "run_missing", "--json"]);
    assert_eq!(v["error"], "runpack not found for run_id: run_missing");
    assert_invalid_writes_nothing(d, &["migrate", "nope/x.zip", "--json"]);
    let v = assert_invalid_writes_nothing(d, &["migrate", "p.zip", "--json"]);
    assert!(
        v["error"].as_str().unwrap().contains("runpack zips only"),
        "{v}"
    );
    std::fs::write(d.join("not.zip"), b"hello").unwrap();
    assert_invalid_writes_nothing(d, &["migrate", "not.zip", "--json"]);
    assert_invalid_writes_nothing(d, &["migrate", "a", "b", "--json"]);
}

#[test]
fn migrate_refuses_a_tampered_runpack_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(run(d, &["demo", "--json"]).0, 0);
    rewrite_zip(
        &d.join("gait-out/runpack_run_demo.zip"),
        &d.join("t.zip"),
        "intents.jsonl",
        |b| {
            String::from_utf8(b)
                .unwrap()
                .replace("tool.search", "tool.delete")
                .into_bytes()
        },
    );
    let before = tree(d);
    let (code, v) = run(d, &["migrate", "t.zip", "--json"]);
    assert_eq!(code, 2, "{v}");
    assert_eq!(v["error_code"], "verification_failed");
    assert_eq!(tree(d), before);
}

// ---------------------------------------------------------------- report top

#[test]
fn report_top_ranks_blocked_and_gated_actions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(run(d, &["demo", "--json"]).0, 0);
    record_incident_run(d);
    trace(
        d,
        "traces/t1.json",
        "trace_1",
        "tool.delete",
        "block",
        "2026-03-01T11:00:00Z",
    );
    trace(
        d,
        "traces/t2.json",
        "trace_2",
        "db.write",
        "dry_run",
        "2026-03-01T11:01:00Z",
    );
    trace(
        d,
        "traces/t3.json",
        "trace_3",
        "tool.search",
        "allow",
        "2026-03-01T11:02:00Z",
    );
    std::fs::write(d.join("traces/notes.json"), b"{\"hello\":1}").unwrap();
    let (code, v) = run(
        d,
        &[
            "report",
            "top",
            "run_demo",
            "--runs",
            "run_incident",
            "--traces",
            "traces",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["output_path"], "gait-out/report_top_actions.json");
    assert_eq!(v["run_count"], 2);
    assert_eq!(v["trace_count"], 3);
    // tool.delete, tool.send_email, tool.search, db.write + the demo's three tools
    // (tool.search shared) = 6 distinct actions.
    assert_eq!(v["action_count"], 6);
    let top = v["top_actions"].as_array().unwrap();
    let names: Vec<&str> = top
        .iter()
        .map(|a| a["tool_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["tool.delete", "tool.send_email", "db.write"]);
    assert_eq!(
        top[0]["risk_score"], 101,
        "block+high+failed = 100, one repeat"
    );
    assert_eq!(top[0]["verdicts"], json!({"block": 2}));
    assert_eq!(top[0]["trace_ids"], json!(["trace_1"]));
    assert_eq!(top[1]["risk_score"], 75);
    assert_eq!(top[1]["violations"], json!(["approval_not_granted"]));
    assert_eq!(top[2]["worst_verdict"], "dry_run");
    let file: Value =
        serde_json::from_slice(&std::fs::read(d.join("gait-out/report_top_actions.json")).unwrap())
            .unwrap();
    assert_eq!(file["schema_id"], "gait.report.top");
    assert_eq!(file["schema_version"], "1.0.0");
    assert_eq!(file, v["report"]);
    // Deterministic: the same inputs give the same file.
    let first = std::fs::read(d.join("gait-out/report_top_actions.json")).unwrap();
    let (code, _) = run(
        d,
        &[
            "report",
            "top",
            "--runs",
            "run_demo,run_incident",
            "--traces",
            "traces",
            "--out",
            "again.json",
        ],
    );
    assert_eq!(code, 0);
    assert!(
        std::fs::read(d.join("again.json")).unwrap() == first,
        "input order changed the report"
    );
    // A directory of runpacks (a copy counts once); --limit above 20 is clamped.
    std::fs::copy(
        d.join("gait-out/runpack_run_demo.zip"),
        d.join("gait-out/runpack_copy.zip"),
    )
    .unwrap();
    let (code, v) = run(
        d,
        &[
            "report", "top", "--runs", "gait-out", "--limit", "50", "--out", "r.json", "--json",
        ],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["run_count"], 2);
    assert_eq!(v["report"]["limit"], 20);
    assert!(
        v["warnings"][0].as_str().unwrap().contains("clamped"),
        "{v}"
    );
    // Only risk-free actions: nothing listed, counts kept.
    let (code, v) = run(
        d,
        &["report", "top", "run_demo", "--out", "demo.json", "--json"],
    );
    assert_eq!(code, 0, "{v}");
    assert!(v.get("top_actions").is_none(), "{v}");
    assert_eq!(v["action_count"], 3);
}

#[test]
fn report_top_bad_input_exits_6_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(run(d, &["demo", "--json"]).0, 0);
    std::fs::write(d.join("notes.json"), b"{\"hello\":1}").unwrap();
    let v =
        assert_invalid_writes_nothing(d, &["report", "top", "run_demo", "--limit", "0", "--json"]);
    assert_eq!(v["error"], "--limit must be >= 1 (got 0)");
    assert_invalid_writes_nothing(d, &["report", "top", "run_demo", "--limit", "-3", "--json"]);
    assert_invalid_writes_nothing(d, &["report", "top", "run_demo", "--limit", "x", "--json"]);
    let v = assert_invalid_writes_nothing(d, &["report", "top", "--json"]);
    assert_eq!(v["error"], "missing required --runs <csv|run_id|dir>");
    assert_invalid_writes_nothing(d, &["report", "top", "run_nope", "--json"]);
    assert_invalid_writes_nothing(
        d,
        &[
            "report",
            "top",
            "run_demo",
            "--traces",
            "notes.json",
            "--json",
        ],
    );
    assert_invalid_writes_nothing(
        d,
        &[
            "report",
            "top",
            "run_demo",
            "--traces",
            "missing.json",
            "--json",
        ],
    );
    assert_invalid_writes_nothing(
        d,
        &[
            "report",
            "top",
            "run_demo",
            "--out",
            "../escape.json",
            "--json",
        ],
    );
}

// ---------------------------------------------------------------- incident pack

#[test]
fn incident_pack_holds_the_window_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    record_incident_run(d);
    trace(
        d,
        "gait-out/trace_a.json",
        "trace_a",
        "tool.delete",
        "block",
        "2026-03-01T09:00:00Z",
    );
    trace(
        d,
        "trace_b.json",
        "trace_b",
        "tool.send_email",
        "require_approval",
        "2026-03-02T10:04:59Z",
    );
    // Outside the 24h window around [10:00, 10:05] on 2026-03-01.
    trace(
        d,
        "gait-out/trace_old.json",
        "trace_old",
        "tool.delete",
        "block",
        "2026-02-27T10:00:00Z",
    );
    trace(
        d,
        "trace_late.json",
        "trace_late",
        "tool.delete",
        "block",
        "2026-03-02T10:05:01Z",
    );
    std::fs::write(
        d.join("regress_result.json"),
        json!({"schema_id": "gait.regress.result", "schema_version": "1.0.0",
               "created_at": "2026-03-01T12:00:00Z", "producer_version": "0.0.0-dev",
               "fixture_set": "default", "status": "fail", "graders": []})
        .to_string(),
    )
    .unwrap();
    let (code, v) = run(
        d,
        &[
            "incident",
            "pack",
            "--from",
            "run_incident",
            "--template",
            "soc2",
            "--case-id",
            "INC-42",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["pack_path"], "gait-out/incident_pack_run_incident.zip");
    assert_eq!(v["run_id"], "run_incident");
    assert_eq!(v["template_id"], "soc2");
    assert_eq!(v["case_id"], "INC-42");
    assert_eq!(v["trace_count"], 2);
    assert_eq!(v["regress_count"], 1);
    assert_eq!(v["policy_digests"], json!(["c".repeat(64)]));
    assert_eq!(v["window_from"], "2026-02-28T10:00:00Z");
    assert_eq!(v["window_to"], "2026-03-02T10:05:00Z");
    let pack = d.join("gait-out/incident_pack_run_incident.zip");
    let (code, ver) = run(d, &["pack", "verify", pack.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{ver}");
    assert_eq!(ver["pack_type"], "run");
    assert_eq!(ver["pack_id"], v["pack_id"]);
    // incident.json, two traces, one regress result, run_payload.json, source/runpack.zip.
    assert_eq!(ver["verify"]["proof_records_verified"], 6);
    // Deterministic.
    let (code, again) = run(
        d,
        &[
            "incident",
            "pack",
            "--from",
            "gait-out/runpack_run_incident.zip",
            "--template",
            "soc2",
            "--case-id",
            "INC-42",
            "--out",
            "again.zip",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{again}");
    assert_eq!(again["pack_id"], v["pack_id"]);
    // The incident context lists what was packed.
    let mut z = ZipReader::open(&pack, ZipLimits::default()).unwrap();
    let ctx: Value =
        serde_json::from_slice(&z.read_entry("incident/incident.json", 1 << 20).unwrap()).unwrap();
    assert_eq!(ctx["schema_id"], "gait.incident.context");
    let ids: Vec<&str> = ctx["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["trace_a", "trace_b"]);
    assert_eq!(ctx["window"], "24h0m0s");
    // Narrower window: only trace_a (09:00, one hour before the run) is left.
    let (code, v) = run(
        d,
        &[
            "incident",
            "pack",
            "--from",
            "run_incident",
            "--window",
            "90m",
            "--out",
            "n.zip",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["trace_count"], 1);
    assert!(v.get("regress_count").is_none());
    // Signed with a dev key, still verifies.
    let (code, v) = run(
        d,
        &[
            "incident",
            "pack",
            "--from",
            "run_incident",
            "--key-mode",
            "dev",
            "--out",
            "s.zip",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["signature_status"], "signed");
    assert_eq!(run(d, &["pack", "verify", "s.zip", "--json"]).0, 0);
}

/// Copies a zip, passing one entry's bytes through `f`.
fn rewrite_zip(from: &Path, to: &Path, entry: &str, f: impl Fn(Vec<u8>) -> Vec<u8>) {
    let mut z = ZipReader::open(from, ZipLimits::default()).unwrap();
    let names: Vec<String> = z.entries().iter().map(|e| e.name.clone()).collect();
    let mut b = ZipBuilder::new();
    for n in names {
        let mut bytes = z.read_entry(&n, 1 << 26).unwrap();
        if n == entry {
            bytes = f(bytes);
        }
        b.add_bytes(&n, bytes).unwrap();
    }
    std::fs::write(to, b.to_vec().unwrap()).unwrap();
}

#[test]
fn a_tampered_incident_pack_fails_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    record_incident_run(d);
    trace(
        d,
        "gait-out/trace_a.json",
        "trace_a",
        "tool.delete",
        "block",
        "2026-03-01T09:00:00Z",
    );
    let (code, v) = run(
        d,
        &[
            "incident",
            "pack",
            "--from",
            "run_incident",
            "--out",
            "i.zip",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["trace_count"], 1);
    // A trace's verdict rewritten inside the pack.
    rewrite_zip(
        &d.join("i.zip"),
        &d.join("t1.zip"),
        "incident/traces/001_trace_a.json",
        |b| {
            String::from_utf8(b)
                .unwrap()
                .replace("\"block\"", "\"allow\"")
                .into_bytes()
        },
    );
    let (code, v) = run(d, &["pack", "verify", "t1.zip", "--json"]);
    assert_eq!(code, 2, "{v}");
    assert_eq!(v["ok"], false);
    assert_eq!(
        v["verify"]["hash_mismatches"][0]["path"],
        "incident/traces/001_trace_a.json"
    );
    // The incident context edited.
    rewrite_zip(
        &d.join("i.zip"),
        &d.join("t2.zip"),
        "incident/incident.json",
        |b| {
            String::from_utf8(b)
                .unwrap()
                .replace("trace_a", "trace_z")
                .into_bytes()
        },
    );
    assert_eq!(run(d, &["pack", "verify", "t2.zip", "--json"]).0, 2);
}

#[test]
fn incident_pack_bad_input_exits_6_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    record_incident_run(d);
    let v = assert_invalid_writes_nothing(
        d,
        &[
            "incident",
            "pack",
            "--from",
            "run_incident",
            "--render-pdf",
            "--json",
        ],
    );
    assert_eq!(
        v["error"],
        "--render-pdf is not supported by this gait release"
    );
    assert_invalid_writes_nothing(d, &["incident", "pack", "--json"]);
    assert_invalid_writes_nothing(d, &["incident", "pack", "--from", "run_nope", "--json"]);
    assert_invalid_writes_nothing(
        d,
        &[
            "incident",
            "pack",
            "--from",
            "run_incident",
            "--template",
            "hipaa",
            "--json",
        ],
    );
    for w in ["0s", "-1h", "soon"] {
        assert_invalid_writes_nothing(
            d,
            &[
                "incident",
                "pack",
                "--from",
                "run_incident",
                "--window",
                w,
                "--json",
            ],
        );
    }
    assert_invalid_writes_nothing(
        d,
        &[
            "incident",
            "pack",
            "--from",
            "run_incident",
            "--case-id",
            "a/b",
            "--json",
        ],
    );
    assert_invalid_writes_nothing(
        d,
        &[
            "incident",
            "pack",
            "--from",
            "run_incident",
            "--out",
            "../x.zip",
            "--json",
        ],
    );
    assert_invalid_writes_nothing(
        d,
        &[
            "incident",
            "pack",
            "--from",
            "run_incident",
            "--key-mode",
            "weird",
            "--json",
        ],
    );
}

// ---------------------------------------------------------------- groups, explain, receipt

#[test]
fn groups_explain_and_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for args in [
        &["report"][..],
        &["incident"],
        &["report", "--help"],
        &["incident", "--help"],
        &["report", "bogus"],
    ] {
        let (code, _, err) = run_raw(d, args);
        assert_eq!(code, 6, "{args:?}");
        assert!(err.contains("Usage:"), "{args:?}: {err}");
    }
    for args in [
        &["report", "top", "--help"][..],
        &["migrate", "--help"],
        &["incident", "pack", "--help"],
    ] {
        let (code, out, _) = run_raw(d, args);
        assert_eq!(code, 0, "{args:?}");
        assert!(out.contains("Usage: gait"), "{out}");
    }
    let (code, out, _) = run_raw(d, &["report", "top", "--explain", "--json"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("gait report "), "{out}");
    let (code, out, _) = run_raw(d, &["incident", "pack", "--from", "x", "--explain"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("gait incident "), "{out}");
    let (code, out, _) = run_raw(d, &["migrate", "--explain"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("gait migrate "), "{out}");
    let (code, out, _) = run_raw(d, &["--gait-manifest"]);
    assert_eq!(code, 0);
    let m: Value = serde_json::from_str(&out).unwrap();
    let text = m.to_string();
    for c in ["\"report\"", "\"incident\"", "\"migrate\""] {
        assert!(text.contains(c), "{c} missing from {m}");
    }
}

#[test]
fn run_receipt_matches_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(run(d, &["demo", "--json"]).0, 0);
    let (code, v) = run(d, &["run", "receipt", "--from", "run_demo", "--json"]);
    assert_eq!(code, 0, "{v}");
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "correlation_id",
            "manifest_digest",
            "ok",
            "path",
            "run_id",
            "ticket_footer"
        ]
    );
    assert_eq!(v["path"], "gait-out/runpack_run_demo.zip");
    assert!(v["ticket_footer"]
        .as_str()
        .unwrap()
        .starts_with("GAIT run_id=run_demo manifest=sha256:"));
    let (code, v) = run(d, &["run", "receipt", "--json"]);
    assert_eq!(code, 6, "{v}");
}
