//! `gait doctor` end to end: the built launcher in a sandbox with its own HOME, PATH, plugin,
//! cache and trust directories.

mod common;

use common::*;
use serde_json::Value;
use std::fs;
use std::path::Path;

fn doctor(env: &Env, workdir: &Path, args: &[&str]) -> (i32, Value) {
    let out = env
        .gait()
        .current_dir(workdir)
        .arg("doctor")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("doctor printed no JSON ({e}): {text}"));
    (out.status.code().unwrap(), v)
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report}"))
}

fn names(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn empty_directory_warns_about_the_output_dir_only() {
    let env = Env::new();
    let work = tempfile::tempdir().unwrap();
    let (code, r) = doctor(&env, work.path(), &[]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["ok"], true);
    assert_eq!(r["schema_id"], "gait.doctor.result");
    assert_eq!(r["schema_version"], "1.0.0");
    assert_eq!(r["onboarding_mode"], "installed_binary");
    assert_eq!(r["status"], "warn", "{r}");
    assert_eq!(
        r["fix_commands"],
        serde_json::json!(["mkdir -p 'gait-out'"]),
        "{r}"
    );
    // The reference's universal checks, in its order, then the plugin-setup checks.
    assert_eq!(
        names(&r),
        [
            "workdir",
            "output_dir",
            "job_runtime_durability",
            "temp_dir",
            "registry_cache",
            "gate_rate_limit_lock",
            "onboarding_binary",
            "key_source_ambiguity",
            "key_permissions",
            "key_config",
            "plugin_discovery",
            "plugin_trust",
            "plugin_contract",
            "plugin_health",
            "plugin_shadowing",
            "plugin_lock",
        ]
    );
    assert_eq!(r["binary_path_source"], "invoked_executable");
    assert!(r["binary_version"].as_str().unwrap().starts_with("gait "));
    assert!(r["summary"]
        .as_str()
        .unwrap()
        .starts_with("doctor: onboarding_mode=installed_binary status=warn failed=0 warned=1"));
    // Nothing was left behind by the write probes.
    assert_eq!(fs::read_dir(work.path()).unwrap().count(), 0);
}

#[test]
fn production_readiness_fails_with_exit_2_and_lists_every_gap() {
    let env = Env::new();
    let work = tempfile::tempdir().unwrap();
    let (code, r) = doctor(&env, work.path(), &["--production-readiness"]);
    assert_eq!(code, 2, "{r}");
    assert_eq!(r["ok"], false);
    let failed: Vec<&str> = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed.len(), 5, "{failed:?}");
    assert_eq!(check(&r, "production_service_boundary")["status"], "pass");
    assert!(r.get("binary_path").is_none());

    // The shipped template passes.
    fs::create_dir(work.path().join(".gait")).unwrap();
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/config/oss_prod_template.yaml"),
        work.path().join(".gait/config.yaml"),
    )
    .unwrap();
    fs::create_dir(work.path().join("gait-out")).unwrap();
    let (code, r) = doctor(&env, work.path(), &["--production-readiness"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["status"], "pass", "{r}");
}

#[test]
fn unsupported_key_mode_fails_the_check_but_not_doctor() {
    let env = Env::new();
    let work = tempfile::tempdir().unwrap();
    let (code, r) = doctor(&env, work.path(), &["--key-mode", "bogus"]);
    assert_eq!(code, 0);
    assert_eq!(r["ok"], true);
    assert_eq!(r["status"], "fail");
    let c = check(&r, "key_config");
    assert_eq!(c["message"], "unsupported key mode: bogus");
    assert_eq!(c["fix_command"], "use --key-mode dev or --key-mode prod");

    let (_, r) = doctor(
        &env,
        work.path(),
        &["--private-key", "k", "--private-key-env", "K"],
    );
    assert_eq!(check(&r, "key_source_ambiguity")["status"], "fail");
}

#[test]
fn loose_private_key_permissions_are_flagged_with_chmod() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("k.key");
    fs::write(&key, "not a key").unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let (_, r) = doctor(
        &env,
        work.path(),
        &["--key-mode", "prod", "--private-key", "k.key"],
    );
    let perms = check(&r, "key_permissions");
    assert_eq!(perms["status"], "warn");
    assert_eq!(perms["fix_command"], "chmod 600 'k.key'");
    assert_eq!(check(&r, "key_config")["status"], "fail");
}

#[test]
fn diverged_job_state_is_reported() {
    let env = Env::new();
    let work = tempfile::tempdir().unwrap();
    let job = work.path().join("gait-out/jobs/job_a");
    fs::create_dir_all(&job).unwrap();
    fs::write(
        job.join("events.jsonl"),
        r#"{"schema_id":"gait.job.event","schema_version":"1.0.0","created_at":"2026-02-14T00:00:00Z","job_id":"job_a","revision":1,"type":"submitted","actor":"a","reason_code":"submitted"}"#,
    )
    .unwrap();
    let pending = work.path().join("gait-out/jobs/job_b");
    fs::create_dir_all(&pending).unwrap();
    fs::write(pending.join("pending_mutation.json"), "{}").unwrap();
    let (code, r) = doctor(&env, work.path(), &[]);
    assert_eq!(code, 0);
    let c = check(&r, "job_runtime_durability");
    assert_eq!(c["status"], "fail");
    assert_eq!(
        c["message"],
        "durable job state divergence detected: job_a:missing_state_with_events,job_b:pending_mutation"
    );
    assert_eq!(
        c["fix_command"],
        "gait job status --id job_b --root 'gait-out/jobs'"
    );
}

#[test]
fn plugin_problems_come_with_their_fix() {
    let env = Env::new();
    let work = tempfile::tempdir().unwrap();
    // An untrusted plugin on PATH, and a trusted one shadowed by an installed namesake.
    let stray = env.untrusted_script("path1", "gait-zz-stray", &echo_args("stray", 0));
    env.plugin("plugins", "zz-twin", &["zz-twin"], "first", 0);
    let shadowed = env.plugin("path2", "zz-twin", &["zz-twin"], "second", 0);
    let (code, r) = doctor(&env, work.path(), &[]);
    assert_eq!(code, 0, "{r}");
    let trust = check(&r, "plugin_trust");
    assert_eq!(trust["status"], "fail", "{trust}");
    assert_eq!(
        trust["fix_command"],
        format!("gait plugin trust {}", stray.display())
    );
    let shadowing = check(&r, "plugin_shadowing");
    assert_eq!(shadowing["status"], "warn", "{shadowing}");
    assert_eq!(
        shadowing["fix_command"],
        format!("rm '{}'", shadowed.display())
    );
    let listed: Vec<&str> = r["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(listed.contains(&"zz-twin") && listed.contains(&"zz-stray"));

    // Following the fix clears the trust problem.
    env.gait()
        .args(["plugin", "trust"])
        .arg(&stray)
        .assert()
        .success();
    let (_, r) = doctor(&env, work.path(), &[]);
    assert_eq!(check(&r, "plugin_trust")["status"], "pass");
}

#[test]
fn lock_drift_is_reported_with_sync() {
    let env = Env::new();
    let work = tempfile::tempdir().unwrap();
    fs::write(
        work.path().join("gait.lock"),
        "format = 1\n\n[[plugin]]\nname = \"zz-pinned\"\nversion = \"1.0.0\"\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\ncontract_version = \"1.0.0\"\nregistry = \"/r\"\n",
    )
    .unwrap();
    let (_, r) = doctor(&env, work.path(), &[]);
    let c = check(&r, "plugin_lock");
    assert_eq!(c["status"], "fail", "{c}");
    assert_eq!(c["fix_command"], "gait plugin sync --locked");
    assert!(c["message"]
        .as_str()
        .unwrap()
        .contains("zz-pinned 1.0.0 is pinned but not installed"));
}

#[test]
fn text_output_summary_and_bad_flags() {
    let env = Env::new();
    let work = tempfile::tempdir().unwrap();
    let out = env
        .gait()
        .current_dir(work.path())
        .args(["doctor", "--summary"])
        .assert()
        .success();
    let text = stdout(&out);
    assert!(
        text.starts_with("doctor: onboarding_mode=installed_binary"),
        "{text}"
    );
    assert!(
        text.contains(
            "- output_dir: warn (output directory does not exist)\n  fix: mkdir -p 'gait-out'\n"
        ),
        "{text}"
    );
    assert!(
        !text.contains(": pass ("),
        "--summary lists only problems: {text}"
    );

    let out = env
        .gait()
        .current_dir(work.path())
        .args(["doctor", "--bogus", "--json"])
        .assert()
        .code(6);
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["error_code"], "invalid_input");
    env.gait().args(["doctor", "--help"]).assert().success();
}

#[test]
fn repo_checkout_adds_repository_checks() {
    let env = Env::new();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (_, r) = doctor(&env, &repo, &["--output-dir", "target"]);
    assert_eq!(r["onboarding_mode"], "repo_checkout", "{r}");
    assert_eq!(check(&r, "schema_files")["status"], "pass");
    assert_eq!(check(&r, "schema_files")["scope"], "repo_checkout");
}
