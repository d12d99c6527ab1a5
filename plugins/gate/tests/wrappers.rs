//! The child-process wrappers `trace|test|enforce -- <argv…>` and `trace verify`
//! (regress-and-ux §7.1, conformance check 14), through the built `gait-gate` binary.
#![cfg(unix)]

use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn gate(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gait-gate"))
        .args(args)
        .current_dir(dir)
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

/// A real block trace, written by `gate eval --trace-out t.json`.
fn block_trace(dir: &Path) {
    std::fs::write(
        dir.join("block.yaml"),
        "schema_id: gait.gate.policy\nschema_version: 1.0.0\ndefault_verdict: block\n",
    )
    .unwrap();
    let intent = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/gate/intent_read.json");
    let (code, _, err) = gate(
        dir,
        &[
            "gate",
            "eval",
            "--policy",
            "block.yaml",
            "--intent",
            intent.to_str().unwrap(),
            "--trace-out",
            "t.json",
        ],
    );
    assert_eq!(code, 3, "{err}");
}

/// A synthetic trace record with the given verdict (wrappers validate, they do not verify).
fn synthetic(dir: &Path, name: &str, verdict: &str) {
    let v = json!({
        "schema_id": "gait.gate.trace", "schema_version": "1.0.0",
        "created_at": "2026-01-01T00:00:00Z", "producer_version": "test",
        "trace_id": name, "tool_name": "tool.x",
        "args_digest": "a".repeat(64), "intent_digest": "b".repeat(64),
        "policy_digest": "c".repeat(64), "verdict": verdict,
    });
    std::fs::write(dir.join(name), v.to_string()).unwrap();
}

/// Conformance check 14 of regress-and-ux §9.
#[test]
fn conformance_check_14() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    block_trace(p);

    let (code, v) = gate_json(p, &["trace", "--json", "--", "sh", "-c", "echo hi"]);
    assert_eq!(code, 6, "{v}");
    assert_eq!(v["failure_reason"], "missing_trace_reference");
    assert_eq!(v["stdout"], "hi\n");
    assert_eq!(v["ok"], false);
    assert_eq!(v["error_code"], "invalid_input");
    assert_eq!(
        v["error"],
        "child command did not emit a Gait trace reference; wrappers require an explicit Gait interception seam"
    );
    assert_eq!(v["boundary_contract"], "explicit_trace_reference");
    assert_eq!(v["trace_reference_required"], true);
    assert_eq!(v["mode"], "trace");
    assert_eq!(v["command"], json!(["sh", "-c", "echo hi"]));
    assert_eq!(v["cwd"], ".");

    let (code, v) = gate_json(
        p,
        &[
            "enforce",
            "--json",
            "--",
            "sh",
            "-c",
            "echo trace_path=t.json",
        ],
    );
    assert_eq!(code, 3, "{v}");
    assert_eq!(
        v["verdict_counts"],
        json!([{"count": 1, "verdict": "block"}])
    );
    assert_eq!(v["trace_paths"], json!(["t.json"]));
    assert_eq!(v["ok"], false);
    assert!(v.get("error").is_none(), "a verdict is not an error: {v}");

    let (code, out, _) = gate(p, &["trace", "--", "sh", "-c", "echo trace_path=t.json"]);
    assert_eq!(code, 0);
    assert_eq!(out, "trace ok: child_exit=0 traces=1\n");

    std::fs::write(p.join("bogus.json"), "{\"schema_id\":\"nope\"}").unwrap();
    let (code, v) = gate_json(
        p,
        &[
            "test",
            "--json",
            "--",
            "sh",
            "-c",
            "echo trace_path=bogus.json; exit 4",
        ],
    );
    assert_eq!(code, 4, "{v}");
    assert_eq!(v["child_exit_code"], 4);
    let warnings = v["warnings"].as_array().unwrap();
    assert!(
        warnings[0].as_str().unwrap().starts_with("trace ignored: "),
        "{v}"
    );
    let (code, out, _) = gate(
        p,
        &[
            "test",
            "--",
            "sh",
            "-c",
            "echo trace_path=bogus.json; exit 4",
        ],
    );
    assert_eq!(code, 4);
    assert!(
        out.starts_with("test finished: child_exit=4 traces=0\n"),
        "{out}"
    );

    let started = Instant::now();
    let (code, v) = gate_json(
        p,
        &["trace", "--timeout", "1s", "--json", "--", "sleep", "5"],
    );
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["failure_reason"], "child_timed_out");
    assert_eq!(v["timed_out"], true);
    assert_eq!(v["error"], "child command timed out after 1s");
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[test]
fn enforce_exit_rules() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    for (n, verdict) in [
        ("allow.json", "allow"),
        ("block.json", "block"),
        ("dry.json", "dry_run"),
        ("approve.json", "require_approval"),
    ] {
        synthetic(p, n, verdict);
    }
    let run = |script: &str| gate_json(p, &["enforce", "--json", "--", "sh", "-c", script]);
    assert_eq!(run("echo trace_path=allow.json").0, 0);
    assert_eq!(run("echo trace_path=dry.json").0, 3);
    assert_eq!(run("echo trace_path=approve.json").0, 4);
    // block and dry_run outrank require_approval
    let (code, v) = run("echo trace_path=approve.json; echo trace_path=block.json >&2");
    assert_eq!(code, 3);
    assert_eq!(
        v["verdict_counts"],
        json!([{"count": 1, "verdict": "block"}, {"count": 1, "verdict": "require_approval"}])
    );
    // A failing child's exit code wins over the verdicts.
    let (code, v) = run("echo trace_path=block.json; exit 5");
    assert_eq!(code, 5);
    assert_eq!(v["child_exit_code"], 5);
    // An invalid trace under enforce blocks, even with a valid allow trace beside it.
    std::fs::write(p.join("bad.json"), "not json").unwrap();
    let (code, v) = run("echo trace_path=allow.json; echo trace_path=bad.json");
    assert_eq!(code, 3);
    assert_eq!(v["failure_reason"], "invalid_trace_artifact");
    assert_eq!(v["error_code"], "policy_blocked");
    // …while trace and test only warn.
    let (code, v) = gate_json(
        p,
        &[
            "trace",
            "--json",
            "--",
            "sh",
            "-c",
            "echo trace_path=allow.json; echo trace_path=missing.json",
        ],
    );
    assert_eq!(code, 0);
    assert!(v["warnings"][0].as_str().unwrap().contains("missing.json"));
    // runpack references are reported but are not traces.
    let (code, v) = run("echo runpack_path=r.zip");
    assert_eq!(code, 6);
    assert_eq!(v["runpack_paths"], json!(["r.zip"]));
    assert_eq!(v["failure_reason"], "missing_trace_reference");
}

#[test]
fn child_environment_cwd_and_start_failure() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    synthetic(p, "allow.json", "allow");
    std::fs::create_dir(p.join("sub")).unwrap();
    // The child runs in --cwd; trace paths are read relative to gait's own directory.
    let (code, v) = gate_json(
        p,
        &[
            "test",
            "--cwd",
            "sub",
            "--json",
            "--",
            "sh",
            "-c",
            "echo mode=$GAIT_WRAPPER_MODE dir=$(basename $(pwd)); echo trace_path=allow.json",
        ],
    );
    assert_eq!(code, 0, "{v}");
    assert!(
        v["stdout"]
            .as_str()
            .unwrap()
            .starts_with("mode=test dir=sub\n"),
        "{v}"
    );
    assert_eq!(v["cwd"], "sub");
    let (code, v) = gate_json(p, &["enforce", "--json", "--", "/nonexistent/gait-child"]);
    assert_eq!(code, 1);
    assert_eq!(v["failure_reason"], "child_start_failed");
    // Without `--`, test/enforce take the remaining positionals as the child.
    let (code, v) = gate_json(p, &["test", "echo", "trace_path=allow.json", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["command"], json!(["echo", "trace_path=allow.json"]));
}

#[test]
fn usage_errors() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    // trace needs a literal `--`
    let (code, _, err) = gate(p, &["trace"]);
    assert_eq!(code, 6);
    assert!(err.contains("usage: gait trace"), "{err}");
    let (code, _, _) = gate(p, &["trace", "echo", "hi"]);
    assert_eq!(code, 6);
    // no child
    for mode in ["trace", "test", "enforce"] {
        let (code, v) = gate_json(p, &[mode, "--json", "--"]);
        assert_eq!(code, 6);
        assert_eq!(v["error"], "expected child command after --");
    }
    let (code, v) = gate_json(p, &["test", "--json"]);
    assert_eq!(code, 6);
    assert_eq!(v["error"], "expected child command after --");
    // timeout must be a Go duration > 0
    for bad in ["0s", "-1s", "5", "soon"] {
        let (code, v) = gate_json(p, &["test", "--timeout", bad, "--json", "--", "true"]);
        assert_eq!(code, 6, "{bad}: {v}");
    }
    // --explain anywhere, child arguments included, prints the command's line.
    let (code, out, _) = gate(p, &["test", "--", "echo", "--explain"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("gait test "), "{out}");
    let (code, out, _) = gate(p, &["trace", "--explain", "--json"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("gait trace "), "{out}");
}

#[test]
fn huge_output_is_capped_but_references_survive() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    synthetic(p, "allow.json", "allow");
    // ~12 MiB on stdout, then the reference; 1 MiB on stderr.
    let script = "head -c 12582912 /dev/zero | tr '\\0' 'a'; echo; echo trace_path=allow.json; \
                  head -c 1048576 /dev/zero | tr '\\0' 'b' >&2";
    let (code, v) = gate_json(p, &["trace", "--json", "--", "sh", "-c", script]);
    assert_eq!(code, 0, "{}", v["error"]);
    assert_eq!(v["stdout"].as_str().unwrap().len(), 4 * 1024 * 1024);
    assert_eq!(v["stderr"].as_str().unwrap().len(), 1024 * 1024);
    assert_eq!(v["trace_paths"], json!(["allow.json"]));
    let w = v["warnings"].as_array().unwrap();
    assert_eq!(w.len(), 1);
    assert!(
        w[0].as_str().unwrap().starts_with("stdout truncated"),
        "{w:?}"
    );
}

#[test]
fn timeout_kills_the_whole_process_group() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    // A child that ignores SIGTERM and leaves a grandchild holding the pipes: SIGKILL to the
    // group 2 s after SIGTERM ends both.
    let started = Instant::now();
    let (code, v) = gate_json(
        p,
        &[
            "enforce",
            "--timeout",
            "500ms",
            "--json",
            "--",
            "sh",
            "-c",
            "trap '' TERM; echo started; sleep 30 & sleep 30",
        ],
    );
    let took = started.elapsed();
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["failure_reason"], "child_timed_out");
    assert_eq!(v["error"], "child command timed out after 500ms");
    assert_eq!(v["stdout"], "started\n");
    assert!(took >= Duration::from_millis(2400), "{took:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
}

#[test]
fn background_grandchild_does_not_hang_a_finished_child() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    synthetic(p, "allow.json", "allow");
    let started = Instant::now();
    let (code, v) = gate_json(
        p,
        &[
            "trace",
            "--timeout",
            "1s",
            "--json",
            "--",
            "sh",
            "-c",
            "echo trace_path=allow.json; sleep 30 &",
        ],
    );
    assert!(started.elapsed() < Duration::from_secs(6));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["trace_paths"], json!(["allow.json"]));
}

#[test]
fn trace_verify_checks_the_signature() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let (code, _, _) = gate(p, &["keys", "init", "--out-dir", "k"]);
    assert_eq!(code, 0);
    std::fs::write(
        p.join("block.yaml"),
        "schema_id: gait.gate.policy\nschema_version: 1.0.0\ndefault_verdict: block\n",
    )
    .unwrap();
    let intent = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/gate/intent_read.json");
    let (code, _, err) = gate(
        p,
        &[
            "gate",
            "eval",
            "--policy",
            "block.yaml",
            "--intent",
            intent.to_str().unwrap(),
            "--trace-out",
            "t.json",
            "--key-mode",
            "prod",
            "--private-key",
            "k/gait_private.key",
        ],
    );
    assert_eq!(code, 3, "{err}");
    let (code, v) = gate_json(
        p,
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
    assert_eq!(v["verdict"], "block");
    let (code, out, _) = gate(
        p,
        &[
            "trace",
            "verify",
            "--public-key",
            "k/gait_public.key",
            "t.json",
        ],
    );
    assert_eq!(code, 0);
    assert!(out.starts_with("trace verify ok: trace_id="), "{out}");

    // Tampered record → 2.
    let mut rec: Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("t.json")).unwrap()).unwrap();
    rec["verdict"] = json!("allow");
    std::fs::write(p.join("tampered.json"), rec.to_string()).unwrap();
    let (code, v) = gate_json(
        p,
        &[
            "trace",
            "verify",
            "tampered.json",
            "--public-key",
            "k/gait_public.key",
            "--json",
        ],
    );
    assert_eq!(code, 2, "{v}");
    assert_eq!(v["error_code"], "verification_failed");
    assert_eq!(v["signature_status"], "failed");
    // Another key → 2; no signature → 2.
    let (code, _, _) = gate(p, &["keys", "init", "--out-dir", "k2"]);
    assert_eq!(code, 0);
    let (code, _) = gate_json(
        p,
        &[
            "trace",
            "verify",
            "t.json",
            "--public-key",
            "k2/gait_public.key",
            "--json",
        ],
    );
    assert_eq!(code, 2);
    rec.as_object_mut().unwrap().remove("signature");
    std::fs::write(p.join("unsigned.json"), rec.to_string()).unwrap();
    let (code, v) = gate_json(
        p,
        &[
            "trace",
            "verify",
            "unsigned.json",
            "--public-key",
            "k/gait_public.key",
            "--json",
        ],
    );
    assert_eq!(code, 2);
    assert_eq!(v["error"], "trace has no signature");
    // Bad input → 6: no key, not a trace, missing file, no path.
    for args in [
        vec!["trace", "verify", "t.json", "--json"],
        vec![
            "trace",
            "verify",
            "block.yaml",
            "--public-key",
            "k/gait_public.key",
            "--json",
        ],
        vec![
            "trace",
            "verify",
            "nope.json",
            "--public-key",
            "k/gait_public.key",
            "--json",
        ],
        vec![
            "trace",
            "verify",
            "--public-key",
            "k/gait_public.key",
            "--json",
        ],
    ] {
        let (code, v) = gate_json(p, &args);
        assert_eq!(code, 6, "{args:?}: {v}");
    }
}
