//! Acceptance tests for `gait voice`, driven through the built `gait` launcher: a refund the
//! policy allows gets a SayToken and a refused one does not; token expiry against a pinned
//! clock; callpacks built, verified by `gait pack verify` and bootstrapped into a regression;
//! bad call records rejected with precise reason codes, never a panic.

use gait_acceptance::binary;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Ws {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    home: PathBuf,
}

fn ws() -> Ws {
    for b in ["gait-gate", "gait-pack", "gait-regress", "gait-voice"] {
        binary(b);
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("ws");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/voice");
    let copy = |from: &str, to: &str| {
        let t = dir.join(to);
        std::fs::create_dir_all(t.parent().unwrap()).unwrap();
        std::fs::copy(corpus.join(from), t).unwrap();
    };
    copy("v-0007-mint-rules/policy.yaml", "policy.yaml");
    copy("v-0007-mint-rules/refund.json", "refund.json");
    copy("v-0007-mint-rules/quote.json", "quote.json");
    copy("v-0007-mint-rules/cancel.json", "cancel.json");
    copy("v-0007-mint-rules/keys/a_private.key", "keys/a_private.key");
    copy("v-0007-mint-rules/keys/a_public.key", "keys/a_public.key");
    copy(
        "v-0012-pack-build-hash-only/call_record.json",
        "call_record.json",
    );
    copy(
        "v-0012-pack-build-hash-only/evidence/runpack.zip",
        "evidence/runpack.zip",
    );
    Ws {
        _tmp: tmp,
        dir,
        home,
    }
}

impl Ws {
    fn run(&self, args: &[&str], code: i32) -> Value {
        let out = Command::new(binary("gait"))
            .args(args)
            .current_dir(&self.dir)
            .env("HOME", &self.home)
            .env("GAIT_CACHE_DIR", self.home.join("cache"))
            .env("GAIT_MANIFEST_TIMEOUT_MS", "30000")
            .stdin(Stdio::null())
            .output()
            .expect("run gait");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(
            out.status.code(),
            Some(code),
            "gait {args:?}\nstdout: {stdout}\nstderr: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "panic: {stderr}");
        serde_json::from_str(stdout.trim()).unwrap_or(Value::Null)
    }

    fn record(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.dir.join("call_record.json")).unwrap())
            .unwrap()
    }

    fn write_json(&self, rel: &str, v: &Value) {
        std::fs::write(self.dir.join(rel), serde_json::to_vec_pretty(v).unwrap()).unwrap();
    }
}

const KEY: [&str; 4] = ["--key-mode", "prod", "--private-key", "keys/a_private.key"];

fn mint(w: &Ws, intent: &str, out: &str, extra: &[&str], code: i32) -> Value {
    let mut args = vec![
        "voice",
        "token",
        "mint",
        "--intent",
        intent,
        "--policy",
        "policy.yaml",
        "--out",
        out,
        "--trace-out",
    ];
    let trace = format!("trace_{out}");
    args.push(&trace);
    args.extend(KEY);
    args.extend(extra);
    args.push("--json");
    w.run(&args, code)
}

#[test]
fn allowed_commitments_get_a_token_refused_ones_do_not() {
    let w = ws();
    let q = mint(&w, "quote.json", "quote_token.json", &["--ttl", "90s"], 0);
    assert_eq!(q["verdict"], "allow");
    assert!(w.dir.join("quote_token.json").is_file());
    let r = mint(&w, "refund.json", "refund_token.json", &[], 3);
    assert_eq!(r["verdict"], "block");
    assert_eq!(r["reason_codes"], json!(["refund_not_allowed"]));
    assert!(
        !w.dir.join("refund_token.json").exists(),
        "no token on block"
    );
    assert!(
        w.dir.join("trace_refund_token.json").is_file(),
        "trace on block"
    );
    let c = mint(&w, "cancel.json", "cancel_token.json", &[], 4);
    assert_eq!(c["error_code"], "approval_required");
    assert!(!w.dir.join("cancel_token.json").exists());

    // Verify with every binding, then with a clock past the expiry.
    let tok: Value =
        serde_json::from_str(&std::fs::read_to_string(w.dir.join("quote_token.json")).unwrap())
            .unwrap();
    let verify = |now: &str, code: i32| {
        w.run(
            &[
                "voice",
                "token",
                "verify",
                "--token",
                "quote_token.json",
                "--public-key",
                "keys/a_public.key",
                "--intent-digest",
                q["intent_digest"].as_str().unwrap(),
                "--policy-digest",
                q["policy_digest"].as_str().unwrap(),
                "--call-id",
                "call_alpha_631",
                "--turn-index",
                "3",
                "--call-seq",
                "7",
                "--commitment-class",
                "QUOTE",
                "--now",
                now,
                "--json",
            ],
            code,
        )
    };
    let created = tok["created_at"].as_str().unwrap();
    assert_eq!(verify(created, 0)["ok"], true);
    let expired = verify(tok["expires_at"].as_str().unwrap(), 2);
    assert_eq!(expired["error_code"], "say_token_expired");
    // A token for another call.
    let other = w.run(
        &[
            "voice",
            "token",
            "verify",
            "--token",
            "quote_token.json",
            "--public-key",
            "keys/a_public.key",
            "--call-id",
            "call_someone_else",
            "--now",
            created,
            "--json",
        ],
        2,
    );
    assert_eq!(other["error_code"], "say_token_call_binding_mismatch");
}

#[test]
fn callpack_builds_verifies_and_bootstraps_a_regression() {
    let w = ws();
    let b = w.run(
        &[
            "voice",
            "pack",
            "build",
            "--from",
            "call_record.json",
            "--out",
            "callpack.zip",
            "--json",
        ],
        0,
    );
    assert_eq!(b["pack_type"], "call");
    let v = w.run(&["pack", "verify", "callpack.zip", "--json"], 0);
    assert_eq!(v["verify"]["files_checked"], 9);
    let i = w.run(&["voice", "pack", "inspect", "callpack.zip", "--json"], 0);
    assert_eq!(i["inspect"]["call_payload"]["run_id"], "run_dune_373");
    let d = w.run(
        &[
            "voice",
            "pack",
            "diff",
            "callpack.zip",
            "callpack.zip",
            "--json",
        ],
        0,
    );
    assert_eq!(d["diff"]["Result"]["summary"]["changed"], false);
    let r = w.run(
        &["regress", "bootstrap", "--from", "callpack.zip", "--json"],
        0,
    );
    assert_eq!(r["run_id"], "run_dune_373");
    assert_eq!(r["status"], "pass");
}

#[test]
fn bad_call_records_are_rejected_with_reason_codes() {
    let w = ws();
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "unknown_commitment_class",
            Box::new(|r: &mut Value| r["commitments"][0]["commitment_class"] = json!("bribe")),
        ),
        (
            "turns_out_of_order",
            Box::new(|r: &mut Value| r["events"][5]["turn_index"] = json!(1)),
        ),
        (
            "speak_receipt_missing_token",
            Box::new(|r: &mut Value| r["speak_receipts"][0]["say_token_id"] = json!("")),
        ),
        (
            "foreign_call_id",
            Box::new(|r: &mut Value| r["speak_receipts"][0]["call_id"] = json!("call_other")),
        ),
        (
            "speak_without_prior_allow",
            Box::new(|r: &mut Value| r["gate_decisions"][0]["verdict"] = json!("block")),
        ),
        (
            "unknown_field",
            Box::new(|r: &mut Value| r["transcript"] = json!("hello")),
        ),
    ];
    for (code, mutate) in cases {
        let mut rec = w.record();
        mutate(&mut rec);
        w.write_json("bad.json", &rec);
        let out = w.run(
            &[
                "voice", "pack", "build", "--from", "bad.json", "--out", "bad.zip", "--json",
            ],
            6,
        );
        assert_eq!(out["reason_code"], code, "{out}");
        assert!(!w.dir.join("bad.zip").exists(), "nothing half-written");
    }
}
