//! `gait gate context-envelope create`: the envelope it writes is accepted by
//! `gate eval --context-envelope` and satisfies a rule requiring context evidence; bad input
//! exits 6 with a hint.

use assert_cmd::Command;
use serde_json::Value;
use std::fs;

const POLICY: &str = "default_verdict: block\nrules:\n  - name: needs-evidence\n    effect: allow\n    match: {tool_names: [tool.read]}\n    require_context_evidence: true\n    required_context_evidence_mode: required\n";
const INTENT: &str = r#"{"tool_name":"tool.read","args":{},"context":{"identity":"u","workspace":"/w","risk_class":"low"}}"#;

fn run(dir: &std::path::Path, args: &[&str]) -> (i32, Value) {
    let out = Command::cargo_bin("gait-gate")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    let code = out.status.code().expect("exit code");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (code, v)
}

#[test]
fn created_envelope_round_trips_through_gate_eval() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("policy.yaml"), POLICY).unwrap();
    fs::write(d.join("intent.json"), INTENT).unwrap();
    fs::write(d.join("readme.md"), "# notes\n").unwrap();
    fs::write(d.join("ticket.txt"), "ticket body").unwrap();
    let (code, created) = run(
        d,
        &[
            "gate",
            "context-envelope",
            "create",
            "--id",
            "ctx-1",
            "--evidence-mode",
            "required",
            "--file",
            "readme.md",
            "--file",
            "ticket.txt:ticket:JIRA-7",
            "--out",
            "ctx/env.json",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{created}");
    assert_eq!(created["ok"], true);
    assert_eq!(created["record_count"], 2);
    let digest = created["context_set_digest"].as_str().unwrap().to_string();
    assert_eq!(digest.len(), 64);

    let eval = |extra: &[&str]| {
        let mut a = vec![
            "gate",
            "eval",
            "--policy",
            "policy.yaml",
            "--intent",
            "intent.json",
            "--json",
        ];
        a.extend_from_slice(extra);
        run(d, &a)
    };
    let (code, without) = eval(&[]);
    assert_eq!(code, 3, "no envelope blocks: {without}");
    let (code, with) = eval(&["--context-envelope", "ctx/env.json"]);
    assert_eq!(code, 0, "{with}");
    assert_eq!(with["verdict"], "allow", "{with}");
    assert!(
        with.to_string().contains(&digest),
        "the eval output or trace reference names the created digest: {with}"
    );
}

#[test]
fn bad_create_input_exits_6_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for args in [
        vec!["--file", "absent.txt", "--id", "x"],
        vec!["--file", "absent.txt"],
        vec!["--id", "x"],
    ] {
        let mut a = vec!["gate", "context-envelope", "create", "--json"];
        a.extend(args.iter().copied());
        let (code, v) = run(d, &a);
        assert_eq!(code, 6, "{v}");
        assert_eq!(v["ok"], false);
        assert!(!v["hint"].as_str().unwrap_or("").is_empty(), "{v}");
    }
    assert!(!d.join("context_envelope.json").exists());
}
