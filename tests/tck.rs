//! The PackSpec TCK (artifacts spec §6), step by step, against the built `gait` launcher, plus
//! end-to-end checks of the other pack types `pack verify` accepts (authorization packs and
//! legacy guard packs). Steps that need plugins from later issues (`job`, `guard pack`) are
//! written out in full and `#[ignore]`d with the reason, so they start running (and can fail)
//! the day those commands exist.

use gait_acceptance::binary;
use gait_sdk::zip::{zip_to_vec, ZipLimits, ZipReader};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

struct Out {
    code: i32,
    stdout: Vec<u8>,
    json: Value,
}

fn gait(dir: &Path, args: &[&str]) -> Out {
    let out = Command::new(binary("gait"))
        .current_dir(dir)
        .env("HOME", dir)
        .args(args)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "{args:?}: not JSON: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        json,
    }
}

fn tck_input() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/inputs/tck_run_record_input.json")
        .to_string_lossy()
        .into_owned()
}

fn entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut z = ZipReader::open(path, ZipLimits::default()).unwrap();
    let names: Vec<String> = z.entries().iter().map(|e| e.name.clone()).collect();
    names
        .into_iter()
        .map(|n| {
            let b = z.read_entry(&n, 64 << 20).unwrap();
            (n, b)
        })
        .collect()
}

fn rezip(from: &Path, to: &Path, edit: impl Fn(&mut Vec<(String, Vec<u8>)>)) {
    let mut e = entries(from);
    edit(&mut e);
    std::fs::write(to, zip_to_vec(&e).unwrap()).unwrap();
}

/// Steps 1, 2, 4 (runpack part), 5 and 6 (run vs run).
#[test]
fn packspec_tck_run_packs() {
    let w = tempfile::tempdir().unwrap();
    let w = w.path();
    let input = tck_input();

    // 1. Run pack.
    let rec = gait(
        w,
        &[
            "run",
            "record",
            "--input",
            &input,
            "--out-dir",
            "gait-out",
            "--json",
        ],
    );
    assert_eq!(rec.code, 0, "{}", rec.json);
    let built = gait(
        w,
        &[
            "pack",
            "build",
            "--type",
            "run",
            "--from",
            "gait-out/runpack_run_tck.zip",
            "--out",
            "pack_run.zip",
            "--json",
        ],
    );
    assert_eq!(built.code, 0, "{}", built.json);
    let v = gait(w, &["pack", "verify", "pack_run.zip", "--json"]);
    assert_eq!((v.code, &v.json["ok"]), (0, &json!(true)), "{}", v.json);

    // 2. Wrong key.
    for prefix in ["tck_a", "tck_b"] {
        let k = gait(
            w,
            &[
                "keys",
                "init",
                "--out-dir",
                "keys",
                "--prefix",
                prefix,
                "--json",
            ],
        );
        assert_eq!(k.code, 0, "{}", k.json);
    }
    let signed = gait(
        w,
        &[
            "pack",
            "build",
            "--type",
            "run",
            "--from",
            "gait-out/runpack_run_tck.zip",
            "--out",
            "pack_signed.zip",
            "--key-mode",
            "prod",
            "--private-key",
            "keys/tck_a_private.key",
            "--json",
        ],
    );
    assert_eq!(signed.code, 0, "{}", signed.json);
    let v = gait(
        w,
        &[
            "pack",
            "verify",
            "pack_signed.zip",
            "--public-key",
            "keys/tck_b_public.key",
            "--json",
        ],
    );
    assert_ne!(v.code, 0);
    assert_eq!(v.json["ok"], false);
    assert_eq!(v.json["verify"]["signature_status"], "failed", "{}", v.json);
    // ... and the right key verifies it, also under the strict profile.
    let v = gait(
        w,
        &[
            "pack",
            "verify",
            "pack_signed.zip",
            "--profile",
            "strict",
            "--public-key",
            "keys/tck_a_public.key",
            "--json",
        ],
    );
    assert_eq!(v.code, 0, "{}", v.json);
    assert_eq!(v.json["verify"]["signature_status"], "verified");

    // 4. Legacy runpack.
    let v = gait(
        w,
        &["pack", "verify", "gait-out/runpack_run_tck.zip", "--json"],
    );
    assert_eq!(v.code, 0, "{}", v.json);
    assert_eq!(v.json["ok"], true);
    assert_eq!(v.json["verify"]["legacy_type"], "runpack");

    // 5. Tampering.
    let pack = w.join("pack_run.zip");
    type Edit = Box<dyn Fn(&mut Vec<(String, Vec<u8>)>)>;
    let cases: [(&str, Edit); 3] = [
        (
            "payload_newline.zip",
            Box::new(|e| {
                for (n, b) in e.iter_mut() {
                    if n == "run_payload.json" {
                        b.push(b'\n');
                    }
                }
            }),
        ),
        (
            "extra_entry.zip",
            Box::new(|e| e.push(("extra.txt".into(), b"extra".to_vec()))),
        ),
        (
            "schema_id.zip",
            Box::new(|e| {
                for (n, b) in e.iter_mut() {
                    if n == "pack_manifest.json" {
                        let s = String::from_utf8(b.clone()).unwrap();
                        *b = s
                            .replace("gait.pack.manifest", "gait.pack.invalid")
                            .into_bytes();
                    }
                }
            }),
        ),
    ];
    for (name, edit) in cases {
        rezip(&pack, &w.join(name), edit);
        let v = gait(w, &["pack", "verify", name, "--json"]);
        assert_ne!(v.code, 0, "{name} verified: {}", v.json);
        assert_eq!(v.json["ok"], false, "{name}");
    }

    // 6. Determinism (run vs signed run; the job side is in the ignored test below).
    let a = gait(
        w,
        &["pack", "diff", "pack_run.zip", "pack_signed.zip", "--json"],
    );
    let b = gait(
        w,
        &["pack", "diff", "pack_run.zip", "pack_signed.zip", "--json"],
    );
    assert_eq!(a.code, b.code);
    assert_eq!(a.stdout, b.stdout);
    assert!(a.json.get("diff").is_some(), "{}", a.json);
    assert_eq!(a.code, 2, "a signed and an unsigned pack differ");
}

/// Step 3 and step 6 as written: a job pack.
#[test]
fn packspec_tck_job_pack() {
    let w = tempfile::tempdir().unwrap();
    let w = w.path();
    for args in [
        &[
            "job", "submit", "--id", "job_tck", "--root", "jobs", "--json",
        ][..],
        &[
            "job",
            "checkpoint",
            "add",
            "--id",
            "job_tck",
            "--root",
            "jobs",
            "--type",
            "decision-needed",
            "--summary",
            "needs approval",
            "--required-action",
            "approve",
            "--json",
        ],
        &[
            "job", "approve", "--id", "job_tck", "--root", "jobs", "--actor", "alice", "--reason",
            "approved", "--json",
        ],
        &[
            "job", "resume", "--id", "job_tck", "--root", "jobs", "--json",
        ],
    ] {
        let o = gait(w, args);
        assert_eq!(o.code, 0, "{args:?}: {}", o.json);
    }
    let b = gait(
        w,
        &[
            "pack",
            "build",
            "--type",
            "job",
            "--from",
            "job_tck",
            "--job-root",
            "jobs",
            "--out",
            "pack_job.zip",
            "--json",
        ],
    );
    assert_eq!(b.code, 0, "{}", b.json);
    let v = gait(w, &["pack", "verify", "pack_job.zip", "--json"]);
    assert_eq!(v.json["ok"], true, "{}", v.json);
    let input = tck_input();
    gait(
        w,
        &[
            "run",
            "record",
            "--input",
            &input,
            "--out-dir",
            "gait-out",
            "--json",
        ],
    );
    gait(
        w,
        &[
            "pack",
            "build",
            "--from",
            "gait-out/runpack_run_tck.zip",
            "--out",
            "pack_run.zip",
            "--json",
        ],
    );
    let a = gait(
        w,
        &["pack", "diff", "pack_run.zip", "pack_job.zip", "--json"],
    );
    let b = gait(
        w,
        &["pack", "diff", "pack_run.zip", "pack_job.zip", "--json"],
    );
    assert_eq!((a.code, &a.stdout), (b.code, &b.stdout));
    assert!(a.json.get("diff").is_some());
}

/// Step 4, guard half, as written.
#[test]
#[ignore = "needs `gait guard pack` (integrations issue); legacy guard verification itself is tested below"]
fn packspec_tck_guard_pack() {
    let w = tempfile::tempdir().unwrap();
    let w = w.path();
    let input = tck_input();
    gait(
        w,
        &[
            "run",
            "record",
            "--input",
            &input,
            "--out-dir",
            "gait-out",
            "--json",
        ],
    );
    let g = gait(
        w,
        &[
            "guard",
            "pack",
            "--run",
            "gait-out/runpack_run_tck.zip",
            "--out",
            "evidence_pack_legacy.zip",
            "--json",
        ],
    );
    assert_eq!(g.code, 0, "{}", g.json);
    let v = gait(w, &["pack", "verify", "evidence_pack_legacy.zip", "--json"]);
    assert_eq!(v.json["ok"], true, "{}", v.json);
    assert_eq!(v.json["verify"]["legacy_type"], "guard");
}

/// A guard evidence pack made the way the guard spec (integrations §3.2) describes, signed over
/// its typed manifest.
fn write_guard_pack(path: &Path, private_key_b64: Option<&str>) {
    let summary = br#"{"capture_mode":"reference","intent_count":1,"manifest_digest":"x","receipt_count":1,"result_count":1,"run_id":"run_tck"}"#.to_vec();
    let sha = gait_sdk::jcs::sha256_hex(&summary);
    let mut manifest = json!({
        "schema_id": "gait.guard.pack_manifest", "schema_version": "1.0.0",
        "created_at": "2026-02-01T00:00:00Z", "producer_version": "0.0.0-dev",
        "pack_id": "pack_0123456789abcdef", "run_id": "run_tck", "template_id": "soc2",
        "generated_at": "2026-02-01T00:00:00Z",
        "control_index": [{"control_id": "CC8.1", "title": "Incident Evidence Integrity", "evidence_paths": ["runpack_summary.json"]}],
        "evidence_pointers": [{"pointer_id": "ev_001", "path": "runpack_summary.json", "type": "runpack", "sha256": sha}],
        "contents": [{"path": "runpack_summary.json", "sha256": sha, "type": "runpack"}],
    });
    if let Some(k) = private_key_b64 {
        let key = gait_sdk::signing::KeyPair::from_base64(k).unwrap();
        let sig = key
            .sign_digest_hex(&gait_sdk::jcs::digest_hex(&manifest).unwrap())
            .unwrap();
        manifest["signatures"] = json!([sig.to_value()]);
    }
    let bytes = zip_to_vec(&[
        (
            "pack_manifest.json",
            gait_sdk::jcs::canonical_bytes(&manifest).unwrap(),
        ),
        ("runpack_summary.json", summary),
    ])
    .unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn legacy_guard_packs_verify_and_tampering_fails() {
    let w = tempfile::tempdir().unwrap();
    let w = w.path();
    let k = gait(
        w,
        &[
            "keys",
            "init",
            "--out-dir",
            "keys",
            "--prefix",
            "g",
            "--json",
        ],
    );
    assert_eq!(k.code, 0);
    let private = std::fs::read_to_string(w.join("keys/g_private.key")).unwrap();
    write_guard_pack(&w.join("guard.zip"), Some(private.trim()));

    let v = gait(
        w,
        &[
            "pack",
            "verify",
            "guard.zip",
            "--require-signature",
            "--public-key",
            "keys/g_public.key",
            "--json",
        ],
    );
    assert_eq!(v.code, 0, "{}", v.json);
    assert_eq!(v.json["pack_type"], "guard");
    assert_eq!(v.json["source_ref"], "run_tck");
    assert_eq!(v.json["verify"]["legacy_type"], "guard");
    assert_eq!(v.json["verify"]["signature_status"], "verified");

    // A changed entry is a hash mismatch; a missing key with --require-signature fails.
    rezip(&w.join("guard.zip"), &w.join("tampered.zip"), |e| {
        for (n, b) in e.iter_mut() {
            if n == "runpack_summary.json" {
                b[2] ^= 1;
            }
        }
    });
    let v = gait(w, &["pack", "verify", "tampered.zip", "--json"]);
    assert_eq!(v.code, 2, "{}", v.json);
    assert_eq!(
        v.json["verify"]["hash_mismatches"][0]["path"],
        "runpack_summary.json"
    );
    let other = gait(
        w,
        &[
            "keys",
            "init",
            "--out-dir",
            "keys",
            "--prefix",
            "o",
            "--json",
        ],
    );
    assert_eq!(other.code, 0);
    let v = gait(
        w,
        &[
            "pack",
            "verify",
            "guard.zip",
            "--public-key",
            "keys/o_public.key",
            "--json",
        ],
    );
    assert_eq!(v.code, 2, "{}", v.json);
    assert_eq!(v.json["verify"]["signature_status"], "failed");

    // Inspect, diff and export do not read guard packs (exit 6, as the reference).
    let i = gait(w, &["pack", "inspect", "guard.zip", "--json"]);
    assert_eq!(i.code, 6, "{}", i.json);
    assert!(i.json["error"]
        .as_str()
        .unwrap()
        .starts_with("parse pack manifest:"));
}

#[test]
fn authorization_packs_link_gate_evidence() {
    let w = tempfile::tempdir().unwrap();
    let w = w.path();
    std::fs::create_dir(w.join("ev")).unwrap();
    std::fs::write(
        w.join("ev/policy.yaml"),
        "default_verdict: require_approval\n",
    )
    .unwrap();
    std::fs::write(
        w.join("ev/intent.json"),
        r#"{"tool_name":"tool.write","args":{"path":"/tmp/x"},"targets":[{"kind":"path","value":"/tmp/x","operation":"write"}],"context":{"identity":"alice","workspace":"/w","risk_class":"high"}}"#,
    )
    .unwrap();
    let ev = gait(
        &w.join("ev"),
        &[
            "gate",
            "eval",
            "--policy",
            "policy.yaml",
            "--intent",
            "intent.json",
            "--trace-out",
            "trace.json",
            "--json",
        ],
    );
    assert_eq!(ev.code, 4, "{}", ev.json);
    std::fs::write(w.join("ev/outcome.json"), &ev.stdout).unwrap();
    let bundle = json!({
        "schema_id": "gait.gate.authorization_bundle", "schema_version": "1.0.0",
        "created_at": "2026-02-01T12:00:00+01:00", "producer_version": "",
        "trace_id": ev.json["trace_id"], "policy_digest": ev.json["policy_digest"],
        "intent_digest": ev.json["intent_digest"],
        "trace_path": "trace.json",
        "approval_audit_path": ev.json["approval_audit_path"],
        "outcome_status": "require_approval", "outcome_path": ".\\outcome.json",
    });
    std::fs::write(w.join("ev/bundle.json"), bundle.to_string()).unwrap();
    let b = gait(
        w,
        &[
            "pack",
            "build",
            "--type",
            "authorization",
            "--from",
            "ev/bundle.json",
            "--json",
        ],
    );
    assert_eq!(b.code, 0, "{}", b.json);
    let out = b.json["path"].as_str().unwrap().to_string();
    assert!(
        out.starts_with("ev/pack_"),
        "default directory is the bundle's: {out}"
    );
    assert_eq!(b.json["source_ref"], ev.json["trace_id"]);

    let v = gait(w, &["pack", "verify", &out, "--json"]);
    assert_eq!(v.code, 0, "{}", v.json);
    assert_eq!(v.json["pack_type"], "authorization");

    let i = gait(w, &["pack", "inspect", &out, "--json"]);
    let payload = &i.json["inspect"]["authorization_payload"];
    assert_eq!(payload["linked_evidence_count"], 3, "{}", i.json);
    assert_eq!(payload["required_evidence_count"], 2);
    assert_eq!(payload["created_at"], "2026-02-01T11:00:00Z");
    let packed = &i.json["inspect"]["authorization_bundle"];
    assert_eq!(packed["outcome_path"], "outcome.json");
    assert!(gait_sdk::jcs::is_sha256_hex(
        packed["trace_digest"].as_str().unwrap()
    ));

    // Evidence swapped inside the pack, with the manifest rebuilt to match, still fails the
    // authorization contract: the bundle's digest no longer links.
    let pack = w.join(&out);
    let mut e = entries(&pack);
    e.retain(|(n, _)| n != "pack_manifest.json" && n != "proof_records.jsonl");
    for (n, b) in e.iter_mut() {
        if n == "evidence/trace.json" {
            *b = br#"{"forged":true}"#.to_vec();
        }
    }
    let payload: std::collections::BTreeMap<String, Vec<u8>> = e.into_iter().collect();
    let built = gait_sdk::pack::spec::build(
        "authorization",
        ev.json["trace_id"].as_str().unwrap(),
        "0.0.0-dev",
        payload,
        None,
    )
    .unwrap();
    let forged: Vec<(String, Vec<u8>)> = built.entries.into_iter().collect();
    std::fs::write(w.join("forged.zip"), zip_to_vec(&forged).unwrap()).unwrap();
    let v = gait(w, &["pack", "verify", "forged.zip", "--json"]);
    assert_eq!(v.code, 2, "{}", v.json);
    assert!(
        v.json["error"]
            .as_str()
            .unwrap()
            .contains("digest mismatch"),
        "{}",
        v.json
    );

    // Bad bundles are refused with exit 6 and nothing written.
    for (name, mutate) in [
        ("escape", json!({"trace_path": "../trace.json"})),
        ("absolute", json!({"trace_path": "/etc/hostname"})),
        ("wrong_digest", json!({"trace_digest": "0".repeat(64)})),
        ("unknown_key", json!({"surprise": true})),
        ("no_outcome", json!({"outcome_path": null})),
    ] {
        let mut b = bundle.clone();
        for (k, v) in mutate.as_object().unwrap() {
            if v.is_null() {
                b.as_object_mut().unwrap().remove(k);
            } else {
                b[k] = v.clone();
            }
        }
        std::fs::write(w.join("ev/bad.json"), b.to_string()).unwrap();
        let r = gait(
            w,
            &[
                "pack",
                "build",
                "--type",
                "authorization",
                "--from",
                "ev/bad.json",
                "--out",
                "bad.zip",
                "--json",
            ],
        );
        assert_eq!(r.code, 6, "{name}: {}", r.json);
        assert!(!w.join("bad.zip").exists(), "{name} wrote a pack");
    }
}

#[test]
fn verify_chain_checks_run_trace_and_pack_together() {
    let w = tempfile::tempdir().unwrap();
    let w = w.path();
    assert_eq!(gait(w, &["demo", "--json"]).code, 0);
    let k = gait(
        w,
        &["keys", "init", "--out-dir", "k", "--prefix", "c", "--json"],
    );
    assert_eq!(k.code, 0);
    std::fs::write(w.join("policy.yaml"), "default_verdict: allow\n").unwrap();
    std::fs::write(
        w.join("intent.json"),
        r#"{"tool_name":"tool.read","args":{"path":"/tmp/x"},"targets":[{"kind":"path","value":"/tmp/x","operation":"read"}],"context":{"identity":"alice","workspace":"/w","risk_class":"low"}}"#,
    )
    .unwrap();
    let ev = gait(
        w,
        &[
            "gate",
            "eval",
            "--policy",
            "policy.yaml",
            "--intent",
            "intent.json",
            "--trace-out",
            "trace.json",
            "--key-mode",
            "prod",
            "--private-key",
            "k/c_private.key",
            "--json",
        ],
    );
    assert_eq!(ev.code, 0, "{}", ev.json);
    let b = gait(
        w,
        &[
            "pack", "build", "--from", "run_demo", "--out", "p.zip", "--json",
        ],
    );
    assert_eq!(b.code, 0);
    let chain = |trace: &str, pack: &str| {
        gait(
            w,
            &[
                "verify",
                "chain",
                "--run",
                "run_demo",
                "--trace",
                trace,
                "--pack",
                pack,
                "--public-key",
                "k/c_public.key",
                "--json",
            ],
        )
    };
    let v = chain("trace.json", "p.zip");
    assert_eq!(v.code, 0, "{}", v.json);
    assert_eq!(v.json["trace"]["signature_status"], "verified");
    assert_eq!(v.json["pack"]["ok"], true);

    // A trace edited after signing fails the chain.
    let mut t: Value =
        serde_json::from_str(&std::fs::read_to_string(w.join("trace.json")).unwrap()).unwrap();
    t["verdict"] = json!("block");
    std::fs::write(w.join("forged_trace.json"), t.to_string()).unwrap();
    let v = chain("forged_trace.json", "p.zip");
    assert_eq!(v.code, 2, "{}", v.json);
    assert_eq!(v.json["trace"]["ok"], false);

    // A pack of another run does not link.
    let input = tck_input();
    gait(
        w,
        &[
            "run",
            "record",
            "--input",
            &input,
            "--out-dir",
            "gait-out",
            "--json",
        ],
    );
    gait(
        w,
        &[
            "pack",
            "build",
            "--from",
            "run_tck",
            "--out",
            "other.zip",
            "--json",
        ],
    );
    let v = chain("trace.json", "other.zip");
    assert_eq!(v.code, 2, "{}", v.json);
    assert!(v.json["pack"]["linkage_errors"][0]
        .as_str()
        .unwrap()
        .contains("does not match"));
}

/// The reference's own example authorization bundle (policies/examples/authorization_bundle)
/// builds into a pack that verifies, keeps the bundle's producer version, and carries every
/// linked file.
#[test]
fn reference_example_authorization_bundle_builds_and_verifies() {
    let w = tempfile::tempdir().unwrap();
    let w = w.path();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/authorization_bundle");
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), w.join(e.file_name())).unwrap();
    }
    let b = gait(
        w,
        &[
            "pack",
            "build",
            "--type",
            "authorization",
            "--from",
            "authorization_bundle.json",
            "--out",
            "p.zip",
            "--json",
        ],
    );
    assert_eq!(b.code, 0, "{}", b.json);
    assert_eq!(b.json["source_ref"], "trace-auth-demo");
    let v = gait(w, &["pack", "verify", "p.zip", "--json"]);
    assert_eq!(v.code, 0, "{}", v.json);
    assert_eq!(v.json["verify"]["files_checked"], 6);
    let names: Vec<String> = entries(&w.join("p.zip"))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for f in [
        "evidence/trace.json",
        "evidence/approval_audit.json",
        "evidence/credential_evidence.json",
        "evidence/outcome_receipt.json",
        "authorization_bundle.json",
    ] {
        assert!(names.contains(&f.to_string()), "{f} missing from {names:?}");
    }
    let manifest: Value = serde_json::from_slice(
        &entries(&w.join("p.zip"))
            .into_iter()
            .find(|(n, _)| n == "pack_manifest.json")
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(manifest["producer_version"], "0.0.0-example");
}
