//! The example policies and templates in `examples/policies` (copied from the reference's
//! `policies/examples` and `policies/templates`), each run with `gate eval` against its
//! matching intents. Expected verdicts were obtained by running this (conformance-passing)
//! implementation and then reviewed by hand against each policy's rules (baselines: read
//! allow, write needs approval, delete blocks; freeze windows: inside 09:00–12:00
//! America/Toronto on 2026-03-10 the window acts, outside it the rule allows; …).

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies")
}

fn verdict(policy: &str, intent: &str, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let r = root();
    let mut args: Vec<String> = vec![
        "gate".into(),
        "eval".into(),
        "--policy".into(),
        r.join(policy).display().to_string(),
        "--intent".into(),
        r.join(intent).display().to_string(),
        "--trace-out".into(),
        dir.path().join("trace.json").display().to_string(),
        "--json".into(),
    ];
    for e in extra {
        args.push(match e.strip_prefix('@') {
            // A copy in the scratch dir: gate eval writes beside some of these files (the
            // kill-switch journal), and the examples must stay as committed.
            Some(rel) => {
                let src = r.join(rel);
                let copy = dir.path().join(src.file_name().unwrap());
                std::fs::copy(&src, &copy).unwrap();
                copy.display().to_string()
            }
            None => e.to_string(),
        });
    }
    let out = Command::cargo_bin("gait-gate")
        .unwrap()
        .current_dir(dir.path())
        .args(&args)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    v["verdict"]
        .as_str()
        .unwrap_or_else(|| panic!("no verdict for {policy} / {intent}: {v}"))
        .to_string()
}

/// `case!(test_name, policy, [(intent, [extra args], verdict)…])`; `@path` in the extra
/// args is relative to `examples/policies`.
macro_rules! case {
    ($name:ident, $policy:expr, [$(($intent:expr, [$($x:expr),*], $want:expr)),+ $(,)?]) => {
        #[test]
        fn $name() {
            $(
                assert_eq!(
                    verdict($policy, $intent, &[$($x),*]),
                    $want,
                    "{} with {}",
                    $policy,
                    $intent
                );
            )+
        }
    };
}

const READ: &str = "examples/intents/intent_read.json";
const WRITE: &str = "examples/intents/intent_write.json";
const DELETE: &str = "examples/intents/intent_delete.json";

macro_rules! baseline {
    ($name:ident, $policy:expr, $read:expr, $write:expr, $delete:expr) => {
        case!(
            $name,
            $policy,
            [
                (READ, [], $read),
                (WRITE, [], $write),
                (DELETE, [], $delete)
            ]
        );
    };
}

baseline!(
    base_low_risk,
    "examples/base_low_risk.yaml",
    "allow",
    "require_approval",
    "block"
);
baseline!(
    base_medium_risk,
    "examples/base_medium_risk.yaml",
    "allow",
    "require_approval",
    "block"
);
baseline!(
    base_high_risk,
    "examples/base_high_risk.yaml",
    "allow",
    "require_approval",
    "block"
);
baseline!(
    baseline_highrisk,
    "examples/baseline-highrisk.yaml",
    "allow",
    "require_approval",
    "block"
);
baseline!(
    knowledge_worker_safe,
    "examples/knowledge_worker_safe.yaml",
    "allow",
    "require_approval",
    "require_approval"
);
baseline!(
    template_baseline_lowrisk,
    "templates/baseline-lowrisk.yaml",
    "allow",
    "require_approval",
    "block"
);
baseline!(
    template_baseline_mediumrisk,
    "templates/baseline-mediumrisk.yaml",
    "allow",
    "require_approval",
    "block"
);
baseline!(
    template_baseline_highrisk,
    "templates/baseline-highrisk.yaml",
    "allow",
    "require_approval",
    "block"
);
baseline!(
    template_trust_readonly,
    "templates/trust-readonly.yaml",
    "allow",
    "block",
    "block"
);
baseline!(
    template_trust_observe,
    "templates/trust-observe.yaml",
    "allow",
    "allow",
    "block"
);
baseline!(
    template_trust_dryrun,
    "templates/trust-dryrun.yaml",
    "allow",
    "dry_run",
    "block"
);
baseline!(
    template_trust_approval_write,
    "templates/trust-approval-write.yaml",
    "allow",
    "require_approval",
    "block"
);
baseline!(
    template_trust_brokered_write,
    "templates/trust-brokered-write.yaml",
    "allow",
    "require_approval",
    "block"
);
baseline!(
    template_trust_block_destructive,
    "templates/trust-block-destructive.yaml",
    "allow",
    "block",
    "block"
);

const EP_ALLOW: &str = "examples/endpoint/fixtures/intent_allow.json";
const EP_BLOCK: &str = "examples/endpoint/fixtures/intent_block.json";
const EP_DESTRUCTIVE: &str = "examples/endpoint/fixtures/intent_destructive.json";

case!(
    endpoint_allow_safe,
    "examples/endpoint/allow_safe_endpoints.yaml",
    [
        (EP_ALLOW, [], "allow"),
        (EP_BLOCK, [], "block"),
        (EP_DESTRUCTIVE, [], "allow")
    ]
);
case!(
    endpoint_block_denied,
    "examples/endpoint/block_denied_endpoints.yaml",
    [
        (EP_ALLOW, [], "allow"),
        (EP_BLOCK, [], "block"),
        (EP_DESTRUCTIVE, [], "require_approval")
    ]
);
case!(
    endpoint_require_approval_destructive,
    "examples/endpoint/require_approval_destructive.yaml",
    [
        (EP_ALLOW, [], "allow"),
        (EP_BLOCK, [], "allow"),
        (EP_DESTRUCTIVE, [], "require_approval")
    ]
);

const DEPLOY: &str = "examples/freeze_windows/intent_prod_deploy.json";
case!(
    freeze_window_block,
    "examples/freeze_windows/production_block.yaml",
    [
        (
            DEPLOY,
            ["--evaluation-time", "2026-03-10T14:00:00Z"],
            "block"
        ),
        (
            DEPLOY,
            ["--evaluation-time", "2026-03-10T17:00:00Z"],
            "allow"
        ),
    ]
);
case!(
    freeze_window_require_approval,
    "examples/freeze_windows/production_require_approval.yaml",
    [
        (
            DEPLOY,
            ["--evaluation-time", "2026-03-10T14:00:00Z"],
            "require_approval"
        ),
        (
            DEPLOY,
            ["--evaluation-time", "2026-03-10T17:00:00Z"],
            "allow"
        ),
    ]
);

case!(
    sandbox_allow_sandboxed_exec,
    "examples/sandbox/allow_sandboxed_exec.yaml",
    [
        ("examples/sandbox/intent_proc_exec_valid.json", [], "allow"),
        (
            "examples/sandbox/intent_proc_exec_missing_sandbox.json",
            [],
            "block"
        ),
        (
            "examples/sandbox/intent_proc_exec_permissive_network.json",
            [],
            "block"
        ),
    ]
);

case!(
    kill_switch_allow_exec,
    "examples/kill_switch/allow_exec.yaml",
    [(
        "examples/kill_switch/intent_exec.json",
        [
            "--kill-switch-state",
            "@examples/kill_switch/kill_switch_state_identity.json"
        ],
        "block"
    ),]
);

const SCRIPT_WRITE: &str = "examples/trust_graduation/script_write_intent.json";
case!(
    trust_graduation_observe,
    "examples/trust_graduation/observe.yaml",
    [(SCRIPT_WRITE, [], "allow")]
);
case!(
    trust_graduation_dry_run,
    "examples/trust_graduation/dry_run.yaml",
    [(SCRIPT_WRITE, [], "dry_run")]
);
case!(
    trust_graduation_read_only,
    "examples/trust_graduation/read_only_allow.yaml",
    [(SCRIPT_WRITE, [], "block")]
);
case!(
    trust_graduation_approval_gated_write,
    "examples/trust_graduation/approval_gated_write.yaml",
    [(SCRIPT_WRITE, [], "require_approval")]
);
case!(
    trust_graduation_brokered_write,
    "examples/trust_graduation/brokered_write.yaml",
    [(SCRIPT_WRITE, [], "block")]
);
case!(
    trust_graduation_blocked_destructive,
    "examples/trust_graduation/blocked_destructive.yaml",
    [(SCRIPT_WRITE, [], "block")]
);

// Skill intents are Gait's own fixtures (the reference ships none): `intent_write.json` with
// a `skill_provenance` of publisher `acme` / source `registry`, and `unknown` / `git`.
const SKILL_TRUSTED: &str = "examples/skills/intent_skill_trusted.json";
const SKILL_UNTRUSTED: &str = "examples/skills/intent_skill_unknown_git.json";
case!(
    skills_allow_trusted,
    "examples/skills/allow_trusted.yaml",
    [(SKILL_TRUSTED, [], "allow"), (SKILL_UNTRUSTED, [], "block")]
);
case!(
    skills_block_untrusted,
    "examples/skills/block_untrusted.yaml",
    [(SKILL_TRUSTED, [], "allow"), (SKILL_UNTRUSTED, [], "block")]
);
case!(
    skills_require_approval_untrusted_source,
    "examples/skills/require_approval_untrusted_source.yaml",
    [
        (SKILL_TRUSTED, [], "allow"),
        (SKILL_UNTRUSTED, [], "require_approval")
    ]
);
