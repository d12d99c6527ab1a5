//! Hostile and malformed inputs: every case exits 6 with a useful message and a hint, never
//! panics, and leaves no trace or audit file behind.

use assert_cmd::Command;
use serde_json::Value;
use std::fs;
use std::path::Path;

const POLICY: &str = "default_verdict: allow\nrules:\n  - name: r\n    effect: block\n    match: {tool_names: [tool.delete]}\n";
const INTENT: &str = r#"{"tool_name":"tool.read","args":{},"context":{"identity":"u","workspace":"/w","risk_class":"low"}}"#;

fn eval_json(dir: &Path, policy: &str, intent: &str) -> (i32, Value) {
    let out = Command::cargo_bin("gait-gate")
        .unwrap()
        .current_dir(dir)
        .args([
            "gate", "eval", "--policy", policy, "--intent", intent, "--json",
        ])
        .output()
        .unwrap();
    let code = out.status.code().expect("exit code, not a signal");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (code, v)
}

fn assert_invalid(dir: &Path, policy: &str, intent: &str, needle: &str) {
    let (code, v) = eval_json(dir, policy, intent);
    assert_eq!(code, 6, "{v}");
    assert_eq!(v["ok"], false);
    assert_eq!(v["error_code"], "invalid_input");
    assert!(!v["hint"].as_str().unwrap_or("").is_empty());
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.contains(needle),
        "error {msg:?} should mention {needle:?}"
    );
    let leftovers: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.starts_with("trace_")
                || n.starts_with("approval_audit_")
                || n.starts_with(".gait-tmp")
        })
        .collect();
    assert!(leftovers.is_empty(), "partial files left: {leftovers:?}");
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("policy.yaml"), POLICY).unwrap();
    fs::write(dir.path().join("intent.json"), INTENT).unwrap();
    dir
}

#[test]
fn the_good_inputs_work() {
    let dir = setup();
    let (code, v) = eval_json(dir.path(), "policy.yaml", "intent.json");
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verdict"], "allow");
    assert!(dir.path().join(v["trace_path"].as_str().unwrap()).is_file());
}

#[test]
fn malformed_json_intent() {
    let dir = setup();
    fs::write(dir.path().join("bad.json"), "{\"tool_name\": ").unwrap();
    assert_invalid(dir.path(), "policy.yaml", "bad.json", "parse intent json");
}

#[test]
fn malformed_yaml_policy() {
    let dir = setup();
    fs::write(
        dir.path().join("bad.yaml"),
        "rules: [\n  - name: x\n  effect: {",
    )
    .unwrap();
    assert_invalid(dir.path(), "bad.yaml", "intent.json", "parse policy yaml");
}

#[test]
fn wrong_types() {
    let dir = setup();
    fs::write(
        dir.path().join("t.json"),
        r#"{"tool_name":42,"context":{"identity":"u","workspace":"/w","risk_class":"low"}}"#,
    )
    .unwrap();
    assert_invalid(dir.path(), "policy.yaml", "t.json", "parse intent json");
    fs::write(
        dir.path().join("t.yaml"),
        "rules:\n  - name: r\n    effect: allow\n    priority: high\n",
    )
    .unwrap();
    assert_invalid(dir.path(), "t.yaml", "intent.json", "priority");
    fs::write(dir.path().join("list.json"), "[1,2]").unwrap();
    assert_invalid(dir.path(), "policy.yaml", "list.json", "parse intent json");
}

#[test]
fn unknown_and_duplicate_policy_keys() {
    let dir = setup();
    fs::write(
        dir.path().join("u.yaml"),
        "default_verdict: allow\nrulez: []\n",
    )
    .unwrap();
    assert_invalid(
        dir.path(),
        "u.yaml",
        "intent.json",
        "[2:1] unknown field \"rulez\"",
    );
    fs::write(
        dir.path().join("d.yaml"),
        "default_verdict: allow\ndefault_verdict: block\n",
    )
    .unwrap();
    assert_invalid(
        dir.path(),
        "d.yaml",
        "intent.json",
        "already defined at [1:1]",
    );
}

#[test]
fn non_utf8_inputs() {
    let dir = setup();
    fs::write(dir.path().join("bin.json"), b"{\"tool_name\":\"\xff\xfe\"}").unwrap();
    assert_invalid(dir.path(), "policy.yaml", "bin.json", "not valid UTF-8");
    fs::write(dir.path().join("bin.yaml"), b"default_verdict: \xc3\x28\n").unwrap();
    assert_invalid(dir.path(), "bin.yaml", "intent.json", "not valid UTF-8");
}

#[test]
fn directory_where_a_file_is_expected() {
    let dir = setup();
    fs::create_dir(dir.path().join("adir")).unwrap();
    assert_invalid(dir.path(), "adir", "intent.json", "is a directory");
    assert_invalid(dir.path(), "policy.yaml", "adir", "is a directory");
}

#[test]
fn oversized_inputs() {
    let dir = setup();
    let big = format!(
        "{{\"tool_name\":\"t\",\"args\":{{\"x\":\"{}\"}}}}",
        "a".repeat(16 * 1024 * 1024 + 1)
    );
    fs::write(dir.path().join("big.json"), &big).unwrap();
    assert_invalid(dir.path(), "policy.yaml", "big.json", "input limit");
    let big_yaml = format!(
        "# {}\ndefault_verdict: allow\n",
        "a".repeat(16 * 1024 * 1024 + 1)
    );
    fs::write(dir.path().join("big.yaml"), big_yaml).unwrap();
    assert_invalid(dir.path(), "big.yaml", "intent.json", "input limit");
}

#[test]
fn missing_files() {
    let dir = setup();
    assert_invalid(
        dir.path(),
        "nope.yaml",
        "intent.json",
        "read policy: open nope.yaml: no such file or directory",
    );
    assert_invalid(
        dir.path(),
        "policy.yaml",
        "nope.json",
        "read intent: open nope.json: no such file or directory",
    );
}

#[test]
fn deeply_nested_inputs_do_not_crash() {
    let dir = setup();
    let deep = format!(
        "{{\"tool_name\":\"t\",\"args\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    fs::write(dir.path().join("deep.json"), deep).unwrap();
    assert_invalid(dir.path(), "policy.yaml", "deep.json", "parse intent json");
    let deep_yaml = format!("rules: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    fs::write(dir.path().join("deep.yaml"), deep_yaml).unwrap();
    assert_invalid(dir.path(), "deep.yaml", "intent.json", "parse policy yaml");
}

#[test]
fn invalid_intent_values_exit_6_even_with_block_like_words() {
    let dir = setup();
    fs::write(
        dir.path().join("k.json"),
        r#"{"tool_name":"t","targets":[{"kind":"blocklist","value":"x"}],"context":{"identity":"u","workspace":"/w","risk_class":"low"}}"#,
    )
    .unwrap();
    assert_invalid(
        dir.path(),
        "policy.yaml",
        "k.json",
        "normalize intent: unsupported target kind: blocklist",
    );
    fs::write(
        dir.path().join("e.yaml"),
        "rules:\n  - name: r\n    effect: blocked\n",
    )
    .unwrap();
    assert_invalid(
        dir.path(),
        "e.yaml",
        "intent.json",
        "invalid rule effect \"blocked\" for r",
    );
}

#[test]
fn bad_kill_switch_state_and_envelope_are_input_errors() {
    let dir = setup();
    fs::write(dir.path().join("ks.json"), "{not json").unwrap();
    for (flag, value, want) in [
        ("--kill-switch-state", "ks.json", "kill switch state"),
        (
            "--context-envelope",
            "../env.json",
            "context envelope path must be a local filesystem path",
        ),
        (
            "--context-envelope",
            "missing.json",
            "read context envelope",
        ),
    ] {
        let out = Command::cargo_bin("gait-gate")
            .unwrap()
            .current_dir(dir.path())
            .args([
                "gate",
                "eval",
                "--policy",
                "policy.yaml",
                "--intent",
                "intent.json",
                "--json",
                flag,
                value,
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(6), "{flag}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(v["error"].as_str().unwrap().contains(want), "{v}");
    }
}

#[test]
fn unknown_credential_broker_is_an_input_error() {
    let dir = setup();
    let out = Command::cargo_bin("gait-gate")
        .unwrap()
        .current_dir(dir.path())
        .args([
            "gate",
            "eval",
            "--policy",
            "policy.yaml",
            "--intent",
            "intent.json",
            "--json",
            "--credential-broker",
            "vault",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"], "unsupported credential broker: vault", "{v}");
    assert!(v["hint"].as_str().is_some_and(|h| !h.is_empty()), "{v}");
}
