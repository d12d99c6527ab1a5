//! Every artifact the CLI writes validates against the embedded v1 JSON Schemas, so the
//! reference's verifiers (which check the same schemas) accept them.

use gait_acceptance::binary;
use gait_sdk::schema::validate;
use gait_sdk::zip::{ZipLimits, ZipReader};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn gait(dir: &Path, args: &[&str]) -> Value {
    let out = Command::new(binary("gait"))
        .current_dir(dir)
        .env("HOME", dir)
        .args(args)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{args:?}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn check(schema: &str, doc: &Value, what: &str) {
    if let Err(e) = validate(schema, doc) {
        panic!("{what} does not validate against {schema}: {e}");
    }
}

fn zip_json(path: &Path, entry: &str) -> Vec<Value> {
    let mut z = ZipReader::open(path, ZipLimits::default()).unwrap();
    let bytes = z.read_entry(entry, 64 << 20).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    if entry.ends_with(".jsonl") {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    } else {
        vec![serde_json::from_str(&text).unwrap()]
    }
}

fn check_runpack(path: &Path) {
    for (entry, schema) in [
        ("run.json", "runpack/run"),
        ("intents.jsonl", "runpack/intent"),
        ("results.jsonl", "runpack/result"),
        ("refs.json", "runpack/refs"),
        ("manifest.json", "runpack/manifest"),
    ] {
        for doc in zip_json(path, entry) {
            check(schema, &doc, &format!("{} {entry}", path.display()));
        }
    }
}

#[test]
fn runpacks_packs_and_gate_records_validate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let keys = gait(d, &["keys", "init", "--out-dir", "keys", "--json"]);
    let private = keys["private_key_path"].as_str().unwrap().to_string();

    // Runpacks: the demo (reference capture) and a signed raw capture.
    assert_eq!(gait(d, &["demo", "--json"])["verify"], "ok");
    check_runpack(&d.join("gait-out/runpack_run_demo.zip"));
    let input =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/inputs/tck_run_record_input.json");
    let rec = gait(
        d,
        &[
            "run",
            "record",
            "--input",
            input.to_str().unwrap(),
            "--capture-mode",
            "raw",
            "--out-dir",
            "raw",
            "--key-mode",
            "prod",
            "--private-key",
            &private,
            "--json",
        ],
    );
    assert_eq!(rec["signature_status"], "signed", "{rec}");
    check_runpack(&d.join("raw/runpack_run_tck.zip"));

    // A signed run pack and its payloads.
    let built = gait(
        d,
        &[
            "pack",
            "build",
            "--from",
            "run_demo",
            "--out",
            "p.zip",
            "--key-mode",
            "prod",
            "--private-key",
            &private,
            "--json",
        ],
    );
    assert_eq!(built["ok"], true, "{built}");
    let pack = d.join("p.zip");
    check(
        "pack/manifest",
        &zip_json(&pack, "pack_manifest.json")[0],
        "pack_manifest.json",
    );
    check(
        "pack/run",
        &zip_json(&pack, "run_payload.json")[0],
        "run_payload.json",
    );
    check(
        "context/envelope",
        &zip_json(&pack, "context_envelope.json")[0],
        "context_envelope.json",
    );
    let diff = gait(
        d,
        &[
            "pack",
            "diff",
            "p.zip",
            "p.zip",
            "--output",
            "diff.json",
            "--json",
        ],
    );
    assert_eq!(diff["ok"], true);
    check(
        "pack/diff",
        &serde_json::from_str(&std::fs::read_to_string(d.join("diff.json")).unwrap()).unwrap(),
        "diff.json",
    );
    check("pack/diff", &diff["diff"]["Result"], "pack diff --json");

    // Gate: trace, approval audit records, approval token.
    std::fs::write(d.join("policy.yaml"), "default_verdict: require_approval\n").unwrap();
    std::fs::write(
        d.join("intent.json"),
        r#"{"tool_name":"tool.write","args":{"path":"/tmp/x"},"targets":[{"kind":"path","value":"/tmp/x","operation":"write"}],"context":{"identity":"alice","workspace":"/w","risk_class":"high","session_id":"s1"}}"#,
    )
    .unwrap();
    let ev = gait(
        d,
        &[
            "gate",
            "eval",
            "--policy",
            "policy.yaml",
            "--intent",
            "intent.json",
            "--key-mode",
            "prod",
            "--private-key",
            &private,
            "--json",
        ],
    );
    let trace: Value = serde_json::from_str(
        &std::fs::read_to_string(d.join(ev["trace_path"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    check("gate/trace_record", &trace, "trace");
    let mut audit: Value = serde_json::from_str(
        &std::fs::read_to_string(d.join(ev["approval_audit_path"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    // The one known exception (docs/compatibility.md): with no token examined the reference
    // writes `"entries": null`, which its own schema rejects; we keep `null` for interop.
    assert_eq!(audit["entries"], Value::Null);
    audit["entries"] = Value::Array(Vec::new());
    check("gate/approval_audit_record", &audit, "approval audit");
    let tok = gait(
        d,
        &[
            "approve",
            "--intent-digest",
            ev["intent_digest"].as_str().unwrap(),
            "--policy-digest",
            ev["policy_digest"].as_str().unwrap(),
            "--ttl",
            "1h",
            "--scope",
            "tool:tool.write",
            "--approver",
            "bob",
            "--reason-code",
            "CHG-1",
            "--key-mode",
            "prod",
            "--private-key",
            &private,
            "--json",
        ],
    );
    let token: Value = serde_json::from_str(
        &std::fs::read_to_string(d.join(tok["token_path"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    check("gate/approval_token", &token, "approval token");
    let granted = gait(
        d,
        &[
            "gate",
            "eval",
            "--policy",
            "policy.yaml",
            "--intent",
            "intent.json",
            "--key-mode",
            "prod",
            "--private-key",
            &private,
            "--approval-token",
            tok["token_path"].as_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(granted["verdict"], "allow", "{granted}");
    let audit: Value = serde_json::from_str(
        &std::fs::read_to_string(d.join(granted["approval_audit_path"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    check(
        "gate/approval_audit_record",
        &audit,
        "approval audit with entries",
    );

    // An authorization pack linking that decision's trace and approval audit.
    let bundle = serde_json::json!({
        "schema_id": "gait.gate.authorization_bundle", "schema_version": "1.0.0",
        "created_at": "2026-02-01T00:00:00Z", "producer_version": "",
        "trace_id": granted["trace_id"], "policy_digest": granted["policy_digest"],
        "intent_digest": granted["intent_digest"], "trace_path": granted["trace_path"],
        "approval_audit_path": granted["approval_audit_path"],
    });
    std::fs::write(d.join("bundle.json"), bundle.to_string()).unwrap();
    let built = gait(
        d,
        &[
            "pack",
            "build",
            "--type",
            "authorization",
            "--from",
            "bundle.json",
            "--out",
            "authz.zip",
            "--key-mode",
            "prod",
            "--private-key",
            &private,
            "--json",
        ],
    );
    assert_eq!(built["ok"], true, "{built}");
    let authz = d.join("authz.zip");
    check(
        "gate/authorization_bundle",
        &zip_json(&authz, "authorization_bundle.json")[0],
        "authorization_bundle.json",
    );
    // The one known manifest exception (docs/compatibility.md): the v1 schema's pack_type enum
    // lacks `authorization`, which the reference's code (and so ours) writes.
    let mut manifest = zip_json(&authz, "pack_manifest.json")[0].clone();
    assert_eq!(manifest["pack_type"], "authorization");
    assert!(validate("pack/manifest", &manifest).is_err());
    manifest["pack_type"] = Value::from("run");
    check(
        "pack/manifest",
        &manifest,
        "authorization pack_manifest.json",
    );
}
