//! The pack plugin's binary end to end: demo, verify, tampering, packs, replay interlocks.
//! (Also makes `cargo test --workspace` build `gait-pack`, which the acceptance tests drive.)

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

fn run(dir: &Path, args: &[&str]) -> (i32, Value) {
    let out = Command::cargo_bin("gait-pack")
        .unwrap()
        .current_dir(dir)
        .env("HOME", dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().expect("exit code"),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
    )
}

#[test]
fn demo_records_a_runpack_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (code, v) = run(dir.path(), &["demo", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verify"], "ok");
    let (code, v) = run(dir.path(), &["verify", "run_demo", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["files_checked"], 4);
    let (code, v) = run(
        dir.path(),
        &["verify", "run_demo", "--require-signature", "--json"],
    );
    assert_eq!(code, 2, "{v}");
    assert_eq!(
        v["signature_errors"],
        serde_json::json!(["manifest has no signatures"])
    );
}

#[test]
fn a_tampered_runpack_fails_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(run(dir.path(), &["demo", "--json"]).0, 0);
    let path = dir.path().join("gait-out/runpack_run_demo.zip");
    let mut bytes = std::fs::read(&path).unwrap();
    // Flip a byte inside the first entry's compressed data (after its 30-byte local header,
    // name and extra field).
    let name_len = u16::from_le_bytes([bytes[26], bytes[27]]) as usize;
    let extra_len = u16::from_le_bytes([bytes[28], bytes[29]]) as usize;
    bytes[30 + name_len + extra_len + 2] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let (code, v) = run(
        dir.path(),
        &["verify", "gait-out/runpack_run_demo.zip", "--json"],
    );
    assert_eq!(code, 2, "{v}");
    assert_eq!(v["ok"], false);
}

#[test]
fn pack_build_verify_inspect_and_diff() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(run(dir.path(), &["demo", "--json"]).0, 0);
    let (code, built) = run(
        dir.path(),
        &[
            "pack", "build", "--from", "run_demo", "--out", "p.zip", "--json",
        ],
    );
    assert_eq!(code, 0, "{built}");
    let (code, again) = run(
        dir.path(),
        &[
            "pack", "build", "--from", "run_demo", "--out", "q.zip", "--json",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(
        built["pack_id"], again["pack_id"],
        "builds are deterministic"
    );
    assert_eq!(
        std::fs::read(dir.path().join("p.zip")).unwrap(),
        std::fs::read(dir.path().join("q.zip")).unwrap()
    );
    let (code, v) = run(dir.path(), &["pack", "verify", "p.zip", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verify"]["proof_records_verified"], 3);
    let (code, v) = run(dir.path(), &["pack", "inspect", "p.zip", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["inspect"]["run_lineage"]["intent_results"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let (code, v) = run(
        dir.path(),
        &[
            "pack",
            "diff",
            "p.zip",
            "gait-out/runpack_run_demo.zip",
            "--json",
        ],
    );
    assert_eq!(code, 2, "a pack and its runpack differ: {v}");
}

#[test]
fn real_replay_needs_every_interlock() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(run(dir.path(), &["demo", "--json"]).0, 0);
    let (code, v) = run(
        dir.path(),
        &["run", "replay", "run_demo", "--real-tools", "--json"],
    );
    assert_eq!(code, 8, "{v}");
    assert_eq!(v["error_code"], "unsafe_operation");
    let (code, v) = run(dir.path(), &["run", "replay", "run_demo", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["mode"], "stub");
}

#[test]
fn not_a_zip_is_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.zip"), b"not a zip").unwrap();
    let (code, v) = run(dir.path(), &["pack", "verify", "x.zip", "--json"]);
    assert_eq!(code, 6, "{v}");
    assert_eq!(v["operation"], "verify");
}

#[test]
fn run_record_folds_a_context_envelope_into_the_refs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/inputs/tck_run_record_input.json");
    let input = input.to_str().unwrap();
    let digest = "3".repeat(64);
    let envelope = serde_json::json!({
        "schema_id": "gait.context.envelope", "schema_version": "1.0.0",
        "created_at": "2026-02-14T00:00:00Z", "context_set_id": "ctx_1",
        "evidence_mode": "required",
        "records": [
            {"ref_id": "doc_b", "source_type": "kb", "source_locator": "kb://b", "query_digest": digest, "content_digest": digest, "redaction_mode": "reference"},
            {"ref_id": "doc_a", "source_type": "kb", "source_locator": "kb://a", "query_digest": digest, "content_digest": digest, "redaction_mode": "reference", "retrieved_at": "2026-02-14T01:00:00+01:00"},
        ],
    });
    std::fs::write(d.join("env.json"), envelope.to_string()).unwrap();
    let (code, v) = run(
        d,
        &[
            "run",
            "record",
            "--input",
            input,
            "--context-envelope",
            "env.json",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{v}");
    let (code, p) = run(
        d,
        &[
            "pack",
            "build",
            "--from",
            "gait-out/runpack_run_tck.zip",
            "--out",
            "p.zip",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{p}");
    let (_, i) = run(d, &["pack", "inspect", "p.zip", "--json"]);
    let payload = &i["inspect"]["run_payload"];
    assert_eq!(payload["refs_count"], 2, "{i}");
    assert_eq!(payload["context_evidence_mode"], "required");
    let set_digest = payload["context_set_digest"].as_str().unwrap().to_string();
    assert_eq!(set_digest.len(), 64);
    assert_ne!(set_digest, digest);

    // Unreadable envelope: a warning in best_effort mode, exit 6 in required mode.
    std::fs::write(d.join("bad.json"), "{not json").unwrap();
    let (code, v) = run(
        d,
        &[
            "run",
            "record",
            "--input",
            input,
            "--context-envelope",
            "bad.json",
            "--out-dir",
            "o2",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{v}");
    assert!(v["warnings"].as_array().unwrap().iter().any(|w| w
        .as_str()
        .unwrap()
        .starts_with("context envelope ignored: ")));
    let (code, v) = run(
        d,
        &[
            "run",
            "record",
            "--input",
            input,
            "--context-envelope",
            "bad.json",
            "--context-evidence-mode",
            "required",
            "--out-dir",
            "o3",
            "--json",
        ],
    );
    assert_eq!(code, 6, "{v}");
    assert!(!d.join("o3").exists());
    let (code, v) = run(
        d,
        &[
            "run",
            "record",
            "--input",
            input,
            "--context-envelope",
            "../env.json",
            "--json",
        ],
    );
    assert_eq!(code, 6, "{v}");
    assert_eq!(
        v["error"],
        "context envelope path must be a local filesystem path"
    );
}
