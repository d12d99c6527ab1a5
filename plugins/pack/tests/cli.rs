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
