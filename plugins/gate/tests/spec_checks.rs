//! The "Conformance checks" table of gate-core.md, run through the built `gait-gate` binary:
//! verdicts, reason codes and the exact policy and intent digests the reference produced.

use assert_cmd::Command;
use serde_json::Value;
use std::path::PathBuf;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/spec")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn policy_test(policy: &str, intent: &str) -> (i32, Value) {
    let out = Command::cargo_bin("gait-gate")
        .unwrap()
        .args([
            "policy",
            "test",
            &fixture(policy),
            &fixture(intent),
            "--json",
        ])
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

struct Check {
    policy: &'static str,
    intent: &'static str,
    exit: i32,
    reasons: &'static [&'static str],
    violations: &'static [&'static str],
    policy_digest: Option<&'static str>,
    intent_digest: Option<&'static str>,
}

#[test]
fn gate_core_conformance_table() {
    let checks = [
        Check {
            policy: "allow.yaml",
            intent: "pt_intent.json",
            exit: 0,
            reasons: &["default_allow"],
            violations: &[],
            policy_digest: Some("65819d9cf07c7619aa8aaf2bd4e8d6f8e3f86b139b49a68c535fd14d77a5009f"),
            intent_digest: Some("dfc167dcb3d79e877289e4f145a956f3c68368bf9fa2913dd046ce89fe01967e"),
        },
        Check {
            policy: "block.yaml",
            intent: "pt_intent.json",
            exit: 3,
            reasons: &["default_block"],
            violations: &[],
            policy_digest: Some("3592f5ae672a396845ca29c14ade912f99cb1fca99cecb8edd9cfec74eae8a35"),
            intent_digest: None,
        },
        Check {
            policy: "require_approval.yaml",
            intent: "pt_intent.json",
            exit: 4,
            reasons: &["default_require_approval"],
            violations: &[],
            policy_digest: Some("07a528a879e4f0e0cd5a0e2ca801924746b47dac624862207ef21d4ec266f8f9"),
            intent_digest: None,
        },
        Check {
            policy: "base_low_risk.yaml",
            intent: "intent_read.json",
            exit: 0,
            reasons: &["safe_read_allowed"],
            violations: &[],
            policy_digest: Some("aa9e4371c827fc38f26c95588061b8376f20ef6524917ebab69bcc41aa3ed5c9"),
            intent_digest: Some("7cb7de9dfb5207f7cdea2f0b0a9e8e3ece290df366c766165e1995b7ed39e88f"),
        },
        Check {
            policy: "base_low_risk.yaml",
            intent: "intent_delete.json",
            exit: 3,
            reasons: &[
                "destructive_apply_requires_approval",
                "destructive_tool_blocked",
            ],
            violations: &["destructive_operation"],
            policy_digest: None,
            intent_digest: Some("bb0a019bb5c1677041c780acde04ac38e2bb65e960f6574a5c8da439f70ffd56"),
        },
        Check {
            policy: "base_medium_risk.yaml",
            intent: "intent_write.json",
            exit: 4,
            reasons: &["approval_required_for_write"],
            violations: &["approval_required"],
            policy_digest: Some("878ec724f40b96d97dbf669a907c70622073d513952bfb6d40e483754eb564ce"),
            intent_digest: Some("f12c18a5f051100e452f23863d3721284e9cef39ded18a6418b114f90a37b74c"),
        },
        Check {
            policy: "base_high_risk.yaml",
            intent: "intent_write.json",
            exit: 4,
            reasons: &["approval_required_for_write"],
            violations: &["approval_required"],
            policy_digest: Some("41b506a8ca148efc6033d567c214be8ffde2a2f2fb51c4533310b777a888b339"),
            intent_digest: None,
        },
        Check {
            policy: "base_high_risk.yaml",
            intent: "intent_tainted_egress.json",
            exit: 3,
            reasons: &["blocked_tainted_egress"],
            violations: &["tainted_data_exfiltration"],
            policy_digest: None,
            intent_digest: Some("3d61f934270abefba410ebc25d041b8509f98c6f429607c0376803b999127537"),
        },
        Check {
            policy: "block_denied_endpoints.yaml",
            intent: "endpoint_intent_block.json",
            exit: 3,
            reasons: &[
                "endpoint_path_denied",
                "endpoint_policy_violation",
                "matched_rule_endpoint_deny",
            ],
            violations: &["endpoint_path_denied", "endpoint_policy_violation"],
            policy_digest: Some("2c40a4674ab591d53b4e72c280c91f5ae35c119dc004d320c3c054730be788f2"),
            intent_digest: None,
        },
        Check {
            policy: "require_approval_destructive.yaml",
            intent: "endpoint_intent_destructive.json",
            exit: 4,
            reasons: &[
                "destructive_apply_requires_approval",
                "endpoint_destructive_guard",
                "endpoint_destructive_operation",
                "matched_rule_endpoint_destructive_approval",
            ],
            violations: &["destructive_operation", "endpoint_destructive_guard"],
            policy_digest: None,
            intent_digest: None,
        },
        Check {
            policy: "allow_safe_endpoints.yaml",
            intent: "endpoint_intent_allow.json",
            exit: 0,
            reasons: &["matched_rule_endpoint_safe_allow"],
            violations: &[],
            policy_digest: Some("52dd8ea582e6a14537f3e4833127e46ebc58336a972ff934aff387dce8842a44"),
            intent_digest: None,
        },
    ];
    for c in &checks {
        let (code, v) = policy_test(c.policy, c.intent);
        let ctx = format!("{} + {}: {v}", c.policy, c.intent);
        assert_eq!(code, c.exit, "{ctx}");
        let reasons: Vec<&str> = v["reason_codes"]
            .as_array()
            .map(|a| a.iter().map(|x| x.as_str().unwrap()).collect())
            .unwrap_or_default();
        assert_eq!(reasons, c.reasons, "{ctx}");
        let violations: Vec<&str> = v["violations"]
            .as_array()
            .map(|a| a.iter().map(|x| x.as_str().unwrap()).collect())
            .unwrap_or_default();
        assert_eq!(violations, c.violations, "{ctx}");
        if let Some(d) = c.policy_digest {
            assert_eq!(v["policy_digest"], d, "{ctx}");
        }
        if let Some(d) = c.intent_digest {
            assert_eq!(v["intent_digest"], d, "{ctx}");
        }
    }
}

#[test]
fn long_summaries_are_truncated_like_the_reference() {
    let (_, v) = policy_test(
        "require_approval_destructive.yaml",
        "endpoint_intent_destructive.json",
    );
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .ends_with("endpoint_destructi...(+1)"),
        "{v}"
    );
}

#[test]
fn trace_signature_verifies_and_digest_covers_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("gait-gate")
        .unwrap()
        .current_dir(dir.path())
        .args([
            "gate",
            "eval",
            "--policy",
            &fixture("allow.yaml"),
            "--intent",
            &fixture("pt_intent.json"),
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["trace_id"], "bc8098b4666bf6fb681f3b5c");
    let trace: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(v["trace_path"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    assert!(trace.get("reason_codes").is_none());
    assert!(trace.get("matched_rule_ids").is_none());
    assert_eq!(trace["policy_id"], "gait.gate.policy");
    let mut unsigned = trace.clone();
    let sig = unsigned
        .as_object_mut()
        .unwrap()
        .remove("signature")
        .unwrap();
    assert_eq!(
        sig["signed_digest"],
        gait_sdk::jcs::digest_hex(&unsigned).unwrap()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(v["trace_path"].as_str().unwrap()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

fn run_json(dir: &std::path::Path, args: &[&str]) -> (i32, Value) {
    let out = Command::cargo_bin("gait-gate")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap(), v)
}

#[test]
fn prod_keys_sign_verifiable_traces_and_approvals_grant() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, keys) = run_json(d, &["keys", "init", "--out-dir", "keys", "--json"]);
    assert_eq!(code, 0, "{keys}");
    let private = keys["private_key_path"].as_str().unwrap().to_string();
    let public = keys["public_key_path"].as_str().unwrap().to_string();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(d.join(&private))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    // keys init never prints key material.
    assert!(!keys.to_string().contains(
        &std::fs::read_to_string(d.join(&private))
            .unwrap()
            .trim()
            .to_string()
    ));

    let policy = fixture("require_approval.yaml");
    let intent = fixture("pt_intent.json");
    let base = [
        "gate",
        "eval",
        "--policy",
        &policy,
        "--intent",
        &intent,
        "--json",
        "--key-mode",
        "prod",
        "--private-key",
        &private,
    ];
    let (code, first) = run_json(d, &base);
    assert_eq!(code, 4, "{first}");
    assert_eq!(
        first["reason_codes"],
        serde_json::json!(["approval_token_missing", "default_require_approval"])
    );
    assert_eq!(first["required_approvals"], 1);

    let trace: Value = serde_json::from_str(
        &std::fs::read_to_string(d.join(first["trace_path"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let mut unsigned = trace.clone();
    let sig: gait_sdk::signing::Signature = serde_json::from_value(
        unsigned
            .as_object_mut()
            .unwrap()
            .remove("signature")
            .unwrap(),
    )
    .unwrap();
    let pk = gait_sdk::signing::PublicKey::from_base64(
        &std::fs::read_to_string(d.join(&public)).unwrap(),
    )
    .unwrap();
    gait_sdk::signing::verify_value(&unsigned, &sig, &pk).unwrap();

    let (code, token) = run_json(
        d,
        &[
            "approve",
            "--intent-digest",
            first["intent_digest"].as_str().unwrap(),
            "--policy-digest",
            first["policy_digest"].as_str().unwrap(),
            "--ttl",
            "1h",
            "--scope",
            "tool:tool.write",
            "--approver",
            "alice",
            "--reason-code",
            "ticket",
            "--key-mode",
            "prod",
            "--private-key",
            &private,
            "--json",
        ],
    );
    assert_eq!(code, 0, "{token}");
    let token_path = token["token_path"].as_str().unwrap().to_string();
    let mut with_token: Vec<&str> = base.to_vec();
    with_token.extend(["--approval-token", &token_path]);
    let (code, granted) = run_json(d, &with_token);
    assert_eq!(code, 0, "{granted}");
    assert_eq!(granted["verdict"], "allow");
    assert_eq!(granted["approval_ref"], token["token_id"]);
    assert_eq!(
        granted["reason_codes"],
        serde_json::json!(["approval_granted", "default_require_approval"])
    );

    // Tampering with the token invalidates it.
    let mut t: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join(&token_path)).unwrap()).unwrap();
    t["reason_code"] = Value::String("other".into());
    std::fs::write(d.join("tampered.json"), t.to_string()).unwrap();
    let mut tampered: Vec<&str> = base.to_vec();
    tampered.extend(["--approval-token", "tampered.json"]);
    let (code, denied) = run_json(d, &tampered);
    assert_eq!(code, 4, "{denied}");
    assert!(denied["reason_codes"]
        .as_array()
        .unwrap()
        .contains(&Value::String("approval_token_signature_invalid".into())));
}
