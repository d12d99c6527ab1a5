//! `gait init` / `gait check` (regress-and-ux §5.2–§5.4) and project defaults with the
//! `oss-prod` profile (§5.5), through the built `gait-gate` binary (which the launcher execs
//! with the command name first, exactly as here).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn gate(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gait-gate"))
        .args(args)
        .current_dir(dir)
        .env_remove("GAIT_PRIVATE_KEY")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn gate_json(dir: &Path, args: &[&str]) -> (i32, Value) {
    let (code, out, err) = gate(dir, args);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out:?} {err:?}"));
    (code, v)
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const TOOLS_PY: &str = "from langchain.tools import tool\n\n@tool\ndef delete_user(user_id: str) -> str:\n    return user_id\n\n@tool\ndef update_record(record_id: str) -> str:\n    return record_id\n\n@tool\ndef lookup(query: str) -> str:\n    return query\n";

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// Conformance check 13 of regress-and-ux §9.
#[test]
fn conformance_check_13() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("tools.py"), TOOLS_PY).unwrap();

    let (code, v) = gate_json(d.path(), &["init", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["ok"], true);
    assert_eq!(v["template"], "baseline-highrisk");
    assert_eq!(v["policy_path"], ".gait.yaml");
    assert_eq!(strs(&v["detection"]["frameworks"]), vec!["langchain"]);
    assert_eq!(
        strs(&v["detection"]["tool_names"]),
        vec!["delete_user", "lookup", "update_record"]
    );
    let signals: Vec<&str> = v["detected_signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        signals,
        vec![
            "framework.langchain",
            "tool.destructive",
            "tool.state_change"
        ]
    );
    let rules = v["generated_rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0]["id"], "starter.block.destructive");
    assert_eq!(strs(&rules[0]["match_tool_names"]), vec!["delete_user"]);
    assert_eq!(rules[1]["id"], "starter.require_approval.state_change");
    assert_eq!(strs(&rules[1]["match_tool_names"]), vec!["update_record"]);
    assert!(v.get("unknown_signals").is_none());
    assert_eq!(v["contract"]["repo_policy_path"], ".gait.yaml");
    assert_eq!(v["contract"]["project_defaults_path"], ".gait/config.yaml");
    assert_eq!(v["contract"]["regress_config_path"], "gait.yaml");
    assert_eq!(
        v["contract"]["legacy_policy_scaffold_path"],
        "gait.policy.yaml"
    );
    assert_eq!(
        strs(&v["next_commands"]),
        vec![
            "gait check --policy .gait.yaml --json",
            "gait policy validate .gait.yaml --json",
            "gait doctor --json"
        ]
    );

    // The file: the documented header, a blank line, the template; mode 0600.
    let policy_path = d.path().join(".gait.yaml");
    let text = std::fs::read_to_string(&policy_path).unwrap();
    assert!(text.starts_with(
        "# gait init starter policy\n# repo_policy_path: .gait.yaml\n# project_defaults_path: .gait/config.yaml\n# regress_config_path: gait.yaml\n# detected_frameworks: langchain\n# detected_tools: delete_user, lookup, update_record\n# generated_rules:\n#   - id: starter.block.destructive\n#     rationale: detected likely destructive tool names\n#     suggested_yaml:\n#       - name: block-destructive-tools\n#         priority: 10\n#         effect: block\n#         match:\n#           tool_names: [delete_user]\n#         reason_codes: [destructive_tool_blocked]\n"
    ));
    assert!(text.contains(
        "reason_codes: [approval_required_for_state_change]\n\nschema_id: gait.gate.policy\n"
    ));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&policy_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Again: the file exists.
    let (code, v) = gate_json(d.path(), &["init", "--json"]);
    assert_eq!(code, 6);
    assert_eq!(
        v["error"],
        "output path already exists (use --force to overwrite): .gait.yaml"
    );
    assert_eq!(v["error_code"], "invalid_input");
    assert!(v["contract"].is_object());
    assert_eq!(std::fs::read_to_string(&policy_path).unwrap(), text);

    // check
    let (code, v) = gate_json(d.path(), &["check", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["ok"], true);
    assert_eq!(v["rule_count"], 8);
    assert_eq!(v["default_verdict"], "block");
    let findings = v["findings"].as_array().unwrap();
    let codes: Vec<&str> = findings
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        vec![
            "repo.tool_inventory_name_mismatch",
            "repo.generated_rules_available"
        ]
    );
    assert_eq!(
        strs(&findings[0]["evidence"]),
        vec!["delete_user", "update_record"]
    );
    assert_eq!(v["gap_warnings"].as_array().unwrap().len(), 1);
    assert_eq!(v["gap_warnings"][0], findings[0]["summary"]);
    assert_eq!(
        v["summary"],
        "policy ok: default_verdict=block rules=8 findings=2 gap_warnings=1"
    );
    assert!(v.get("generated_rules").is_none());

    let (code, out, _) = gate(d.path(), &["check"]);
    assert_eq!(code, 0);
    assert_eq!(out, "check ok: policy=.gait.yaml rules=8 warnings=1\n");
}

#[test]
fn init_templates_force_and_human_output() {
    let d = tempfile::tempdir().unwrap();
    let (code, out, _) = gate(
        d.path(),
        &["init", "--template", "LOW", "--out", "sub/dir/p.yaml"],
    );
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "init ok: policy=sub/dir/p.yaml template=baseline-lowrisk\n"
    );
    // Hoisted: flags may follow, and --force overwrites.
    std::fs::write(d.path().join("t.py"), TOOLS_PY).unwrap();
    let (code, out, _) = gate(
        d.path(),
        &[
            "init",
            "--out",
            "sub/dir/p.yaml",
            "--template",
            "medium",
            "--force",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "init ok: policy=sub/dir/p.yaml template=baseline-mediumrisk\ndetected frameworks: langchain\n"
    );
    let (code, v) = gate_json(d.path(), &["init", "--template", "Bogus", "--json"]);
    assert_eq!(code, 6);
    assert_eq!(v["error"], "unknown template: bogus");
    let (code, _, err) = gate(d.path(), &["init", "--out", "x.yaml", "extra"]);
    assert_eq!(code, 6);
    assert!(err.contains("unexpected positional arguments"), "{err}");
    assert!(!d.path().join("x.yaml").exists());
}

#[test]
fn check_errors_and_positional_policy() {
    let d = tempfile::tempdir().unwrap();
    let (code, v) = gate_json(d.path(), &["check", "--json"]);
    assert_eq!(code, 6);
    assert!(v["error"].as_str().unwrap().contains(".gait.yaml"), "{v}");
    assert!(v["contract"].is_object());
    std::fs::write(d.path().join("p.yaml"), "default_verdict: allow\n").unwrap();
    let (code, v) = gate_json(d.path(), &["check", "--policy", "", "p.yaml", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["policy_path"], "p.yaml");
    assert_eq!(v["gap_warnings"].as_array().unwrap().len(), 3);
    let codes: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        vec![
            "policy.no_rules",
            "policy.default_allow",
            "policy.no_non_allow_rules",
            "repo.no_supported_framework_detected",
            "repo.no_high_confidence_signals"
        ]
    );
    let (code, _, _) = gate(d.path(), &["check", "p.yaml"]);
    assert_eq!(code, 6, "positional only with --policy \"\"");
    std::fs::write(d.path().join("bad.yaml"), "rules: [").unwrap();
    let (code, _, _) = gate(d.path(), &["check", "--policy", "bad.yaml"]);
    assert_eq!(code, 6);
}

#[test]
fn explain_lines() {
    let d = tempfile::tempdir().unwrap();
    for cmd in ["init", "check"] {
        let (code, out, _) = gate(d.path(), &[cmd, "--explain", "--json"]);
        assert_eq!(code, 0);
        assert!(out.starts_with(&format!("gait {cmd} ")), "{out}");
    }
    assert!(!d.path().join(".gait.yaml").exists());
}

// ------------------------------------------------------------------ project defaults, oss-prod

#[test]
fn shipped_oss_prod_template_is_the_reference_copy() {
    let ours = std::fs::read_to_string(repo_root().join("examples/config/oss_prod_template.yaml"))
        .unwrap();
    assert!(ours.contains("profile: oss-prod"));
    assert!(ours.contains("key_mode: prod"));
    assert!(ours.contains("private_key_env: GAIT_PRIVATE_KEY"));
}

#[test]
fn oss_prod_template_rejects_simulate_and_dev_keys() {
    let root = repo_root();
    let cfg = "examples/config/oss_prod_template.yaml";
    let intent = "examples/gate/intent_read.json";
    let (code, v) = gate_json(
        &root,
        &[
            "gate",
            "eval",
            "--config",
            cfg,
            "--intent",
            intent,
            "--simulate",
            "--json",
        ],
    );
    assert_eq!(code, 6);
    assert_eq!(v["error"], "oss-prod profile does not allow --simulate");
    let (code, v) = gate_json(
        &root,
        &[
            "gate",
            "eval",
            "--config",
            cfg,
            "--intent",
            intent,
            "--key-mode",
            "dev",
            "--json",
        ],
    );
    assert_eq!(code, 6);
    assert_eq!(v["error"], "oss-prod profile requires --key-mode prod");
    // The explicit flag wins over the config; the config's profile still applies.
    let (code, v) = gate_json(
        &root,
        &[
            "gate",
            "eval",
            "--config",
            cfg,
            "--intent",
            intent,
            "--profile",
            "standard",
            "--simulate",
            "--json",
        ],
    );
    assert_ne!(
        v["error"], "oss-prod profile does not allow --simulate",
        "{v}"
    );
    let _ = code;
}

#[test]
fn project_config_paths() {
    let d = tempfile::tempdir().unwrap();
    // Missing explicit config → 6; missing default config is fine (then the usual error).
    let (code, v) = gate_json(
        d.path(),
        &[
            "gate",
            "eval",
            "--config",
            "nope.yaml",
            "--intent",
            "i.json",
            "--json",
        ],
    );
    assert_eq!(code, 6);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("read project config"),
        "{v}"
    );
    let (code, v) = gate_json(d.path(), &["gate", "eval", "--intent", "i.json", "--json"]);
    assert_eq!(code, 6);
    assert_eq!(v["error"], "both --policy and --intent are required");
    // Bad YAML and a non-mapping gate section → 6.
    std::fs::create_dir(d.path().join(".gait")).unwrap();
    std::fs::write(d.path().join(".gait/config.yaml"), "gate: [").unwrap();
    let (code, _) = gate_json(d.path(), &["gate", "eval", "--intent", "i.json", "--json"]);
    assert_eq!(code, 6);
    std::fs::write(d.path().join(".gait/config.yaml"), "gate: 3\n").unwrap();
    let (code, v) = gate_json(d.path(), &["gate", "eval", "--intent", "i.json", "--json"]);
    assert_eq!(code, 6);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("gate must be a mapping"),
        "{v}"
    );
    // Empty file = empty config; --no-config skips a broken one.
    std::fs::write(d.path().join(".gait/config.yaml"), "").unwrap();
    let (code, v) = gate_json(d.path(), &["gate", "eval", "--intent", "i.json", "--json"]);
    assert_eq!(code, 6);
    assert_eq!(v["error"], "both --policy and --intent are required");
    std::fs::write(d.path().join(".gait/config.yaml"), "gate: [").unwrap();
    let (code, v) = gate_json(
        d.path(),
        &[
            "gate",
            "eval",
            "--no-config",
            "--intent",
            "i.json",
            "--json",
        ],
    );
    assert_eq!(code, 6);
    assert_eq!(v["error"], "both --policy and --intent are required");
}

#[test]
fn project_config_fills_policy_and_trace_path() {
    let d = tempfile::tempdir().unwrap();
    let root = repo_root();
    std::fs::copy(
        root.join("examples/gate/policy.yaml"),
        d.path().join("policy.yaml"),
    )
    .unwrap();
    std::fs::copy(
        root.join("examples/gate/intent_read.json"),
        d.path().join("intent.json"),
    )
    .unwrap();
    std::fs::create_dir(d.path().join(".gait")).unwrap();
    std::fs::write(
        d.path().join(".gait/config.yaml"),
        "gate:\n  policy: \" policy.yaml \"\n  trace_path: traces/t.json\n  rate_limit_state: rl/state.json\nmcp_serve:\n  enabled: true\nretention:\n  trace_ttl: 168h\n",
    )
    .unwrap();
    let (code, v) = gate_json(
        d.path(),
        &["gate", "eval", "--intent", "intent.json", "--json"],
    );
    assert!(code == 0 || code == 3 || code == 4, "{v}");
    assert_eq!(v["trace_path"], "traces/t.json");
    assert!(d.path().join("traces/t.json").exists());
}

#[test]
fn oss_prod_template_evaluates_with_a_prod_key() {
    let d = tempfile::tempdir().unwrap();
    let root = repo_root();
    for (from, to) in [
        ("examples/config/oss_prod_template.yaml", "config.yaml"),
        ("examples/config/oss_prod_policy.yaml", "policy.yaml"),
        ("examples/gate/intent_read.json", "intent.json"),
    ] {
        std::fs::copy(root.join(from), d.path().join(to)).unwrap();
    }
    let (code, _, _) = gate(d.path(), &["keys", "init", "--out-dir", "k"]);
    assert_eq!(code, 0);
    let key = std::fs::read_to_string(d.path().join("k/gait_private.key")).unwrap();
    let base = [
        "gate",
        "eval",
        "--config",
        "config.yaml",
        "--policy",
        "policy.yaml",
        "--intent",
        "intent.json",
        "--trace-out",
        "t.json",
        "--json",
    ];
    // Without the key in the environment the prod key source cannot load.
    let (code, v) = gate_json(d.path(), &base);
    assert_eq!(code, 6);
    assert_eq!(v["error"], "private key env not set: GAIT_PRIVATE_KEY");
    let out = Command::new(env!("CARGO_BIN_EXE_gait-gate"))
        .args(base)
        .current_dir(d.path())
        .env("GAIT_PRIVATE_KEY", key.trim())
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["profile"], "oss-prod");
    assert_eq!(v["verdict"], "allow");
    assert!(
        v.get("warnings").is_none(),
        "prod keys: no dev-mode warning: {v}"
    );
    // And the trace verifies with the public key.
    let (code, v) = gate_json(
        d.path(),
        &[
            "trace",
            "verify",
            "t.json",
            "--public-key",
            "k/gait_public.key",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["signature_status"], "verified");
}
