//! End-to-end tests of the built `gait` binary against fake plugins written as shell scripts.
//!
//! The launcher's own directory (the cargo target dir) may hold real plugins built by other
//! crates, so every assertion is about plugins in the temporary directories, under names no
//! real plugin uses.

mod common;

use common::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[test]
fn dispatch_passes_command_args_and_exit_code_through() {
    let env = Env::new();
    env.plugin("plugins", "multi", &["alpha", "beta"], "multi", 3);
    let out = env
        .gait()
        .args(["alpha", "x", "y z", "--json", "--", "-v"])
        .assert()
        .code(3);
    let launcher = Path::new(env!("CARGO_BIN_EXE_gait"))
        .canonicalize()
        .unwrap();
    assert_eq!(
        stdout(&out),
        format!(
            "[multi]\n[alpha]\n[x]\n[y z]\n[--json]\n[--]\n[-v]\nlauncher={}\n",
            launcher.display()
        )
    );
    // One plugin serves several top-level commands; the command tells it which.
    let out = env.gait().arg("beta").assert().code(3);
    assert!(
        stdout(&out).starts_with("[multi]\n[beta]\n"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn plugin_dir_beats_path_and_path_is_searched_last() {
    let env = Env::new();
    let winner = env.plugin("plugins", "dupx", &["dupx"], "from-plugin-dir", 0);
    let loser = env.plugin("path1", "dupx", &["dupx", "onlyshadowed"], "from-path", 0);
    env.plugin("path2", "onpath", &["onpath"], "from-path2", 0);

    let out = env.gait().arg("dupx").assert().success();
    assert!(
        stdout(&out).starts_with("[from-plugin-dir]\n"),
        "{}",
        stdout(&out)
    );
    let out = env.gait().arg("onpath").assert().success();
    assert!(
        stdout(&out).starts_with("[from-path2]\n"),
        "{}",
        stdout(&out)
    );
    // A shadowed plugin serves nothing, not even commands only it declares.
    env.gait().arg("onlyshadowed").assert().code(6);

    let list = env.plugin_list();
    assert_eq!(entry(&list, &winner)["status"], "ok");
    assert_eq!(entry(&list, &winner)["source"], "plugin-dir");
    let shadowed = entry(&list, &loser);
    assert_eq!(shadowed["status"], "shadowed");
    assert_eq!(shadowed["source"], "path");
    assert_eq!(
        shadowed["shadowed_by"],
        winner.display().to_string().as_str()
    );
}

#[test]
fn unknown_command_exits_6_with_a_suggestion() {
    let env = Env::new();
    env.plugin("plugins", "multi", &["alpha", "beta"], "multi", 0);
    let out = env.gait().args(["alpah", "x"]).assert().code(6);
    let err = stderr(&out);
    assert!(
        err.contains(r#"gait error: unknown command "alpah""#),
        "{err}"
    );
    assert!(err.contains(r#"hint: did you mean "alpha"?"#), "{err}");
    assert!(stdout(&out).is_empty());

    let out = env.gait().args(["alpah", "--json"]).assert().code(6);
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"], r#"unknown command "alpah""#);
    assert_eq!(v["error_code"], "invalid_input");
    assert_eq!(v["hint"], r#"did you mean "alpha"?"#);
    assert!(v["correlation_id"].is_string());
}

#[test]
fn plugin_list_json_describes_each_plugin() {
    let env = Env::new();
    let multi = env.plugin("plugins", "multi", &["alpha", "beta"], "multi", 0);
    let hello = env.script(
        "path1",
        "gait-hello",
        &format!("#!/bin/sh\n{}", echo_args("hello", 0)),
    );
    env.script("plugins", "gait-notes.d", "#!/bin/sh\n");
    env.script("plugins", "gait-src.rs", "#!/bin/sh\n");
    fs::create_dir(env.dir("plugins").join("gait-adir")).unwrap();

    let list = env.plugin_list();
    assert_eq!(list["ok"], true);
    assert!(list["correlation_id"].is_string());
    let m = entry(&list, &multi);
    assert_eq!(m["name"], "multi");
    assert_eq!(m["version"], "2.3.4");
    assert_eq!(m["contract_version"], "1.0.0");
    assert_eq!(m["trust"], "trusted file");
    assert_eq!(m["source"], "plugin-dir");
    assert_eq!(m["status"], "ok");
    assert_eq!(m["manifest"], true);
    let cmds: Vec<&str> = m["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cmds, ["alpha", "beta"]);
    assert_eq!(m["commands"][0]["about"], "alpha help");

    let h = entry(&list, &hello);
    assert_eq!(h["status"], "ok");
    assert_eq!(h["manifest"], false);
    assert_eq!(h["version"], "unknown");
    assert_eq!(h["source"], "path");
    assert_eq!(h["commands"][0]["name"], "hello");

    let plugins_dir = env.dir("plugins").display().to_string();
    let in_plugin_dir: Vec<&str> = list["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["path"].as_str().unwrap().starts_with(&plugins_dir))
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(in_plugin_dir, ["multi"]);

    let out = env.gait().args(["plugin", "list"]).assert().success();
    let text = stdout(&out);
    assert!(text.starts_with("NAME "), "{text}");
    assert!(text.contains("alpha,beta"), "{text}");
}

#[test]
fn manifest_less_plugin_serves_its_own_name() {
    let env = Env::new();
    env.script(
        "path1",
        "gait-hello",
        &format!("#!/bin/sh\n{}", echo_args("hello", 4)),
    );
    let out = env.gait().args(["hello", "a", "b"]).assert().code(4);
    assert!(
        stdout(&out).starts_with("[hello]\n[hello]\n[a]\n[b]\n"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn hanging_plugin_is_reported_broken_without_hanging_the_launcher() {
    let env = Env::new();
    let hang = env.script("plugins", "gait-hangs", "#!/bin/sh\nexec sleep 60\n");
    env.plugin("path1", "multi", &["alpha"], "multi", 0);

    let start = Instant::now();
    let out = env
        .gait()
        .env("GAIT_MANIFEST_TIMEOUT_MS", "1000")
        .args(["plugin", "list", "--json"])
        .assert()
        .success();
    let list: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    let h = entry(&list, &hang);
    assert_eq!(h["status"], "broken");
    assert!(h["reason"].as_str().unwrap().contains("1000 ms"), "{h}");

    // The verdict is cached: the next call does not wait for the timeout again.
    let start = Instant::now();
    env.gait().arg("alpha").assert().success();
    let out = env.gait().arg("hangs").assert().code(7);
    assert!(
        start.elapsed() < Duration::from_millis(2000),
        "took {:?}",
        start.elapsed()
    );
    assert!(stderr(&out).contains("cannot be used"), "{}", stderr(&out));
}

#[test]
fn flooding_plugin_is_reported_broken() {
    let env = Env::new();
    let flood = env.script("plugins", "gait-floods", "#!/bin/sh\nexec yes\n");
    let list = env.plugin_list();
    let f = entry(&list, &flood);
    assert_eq!(f["status"], "broken");
    assert!(f["reason"].as_str().unwrap().contains("exceeds"), "{f}");
}

#[test]
fn corrupt_cache_is_ignored_and_rebuilt() {
    let env = Env::new();
    env.plugin("plugins", "multi", &["alpha"], "multi", 0);
    fs::write(env.cache_file(), "{ this is not json").unwrap();
    env.gait().arg("alpha").assert().success();
    let cache: Value = serde_json::from_slice(&fs::read(env.cache_file()).unwrap()).unwrap();
    assert_eq!(cache["schema_id"], "gait.launcher.manifest_cache");
    let key = env.dir("plugins").join("gait-multi").display().to_string();
    assert_eq!(cache["entries"][&key]["outcome"]["kind"], "manifest");
}

#[test]
fn changed_plugin_manifest_is_picked_up() {
    let env = Env::new();
    env.plugin("plugins", "multi", &["alpha"], "multi", 0);
    env.gait().arg("alpha").assert().success();
    env.gait().arg("gamma").assert().code(6);
    env.plugin("plugins", "multi", &["alpha", "gamma"], "multi", 0);
    env.gait().arg("gamma").assert().success();
}

#[test]
fn launcher_commands() {
    let env = Env::new();
    env.plugin("plugins", "multi", &["alpha", "beta"], "multi", 0);

    // Built from this checkout, the version names the commit (`git rev-parse`).
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let expected = match &head {
        Some(c) => format!("gait {} (commit {c})\n", env!("CARGO_PKG_VERSION")),
        None => format!("gait {}\n", env!("CARGO_PKG_VERSION")),
    };
    let out = env.gait().arg("--version").assert().success();
    assert_eq!(stdout(&out), expected);
    let out = env.gait().arg("-v").assert().success();
    assert_eq!(stdout(&out), expected);
    let out = env.gait().args(["--version", "--json"]).assert().success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["commit"].as_str(), head.as_deref());
    assert_eq!(v["contract_version"], gait_sdk::manifest::CONTRACT_VERSION);
    assert!(v["correlation_id"].is_string());

    for help in [&["--help"][..], &["-h"], &["help"]] {
        let out = env.gait().args(help).assert().success();
        let text = stdout(&out);
        assert!(text.contains("alpha help"), "{text}");
        assert!(text.contains("plugin list"), "{text}");
    }
    let out = env.gait().assert().code(6);
    assert!(stderr(&out).contains("Usage: gait"));

    let out = env.gait().args(["help", "alpha"]).assert().success();
    assert!(
        stdout(&out).starts_with("[multi]\n[alpha]\n[--help]\n"),
        "{}",
        stdout(&out)
    );

    let out = env.gait().arg("--explain").assert().success();
    assert_eq!(stdout(&out).lines().count(), 1);

    env.gait().arg("plugin").assert().code(6);
    env.gait().args(["plugin", "frobnicate"]).assert().code(6);
    env.gait().args(["plugin", "--help"]).assert().success();
    let out = env.gait().args(["help", "plugin"]).assert().success();
    assert!(stdout(&out).contains("plugin <subcommand>"));
    let out = env.gait().args(["help", "version"]).assert().success();
    assert!(stdout(&out).contains("gait version"));
    env.gait().arg("--bogus").assert().code(6);
}

#[test]
fn works_without_home_or_cache() {
    let env = Env::new();
    env.plugin("path1", "multi", &["alpha"], "multi", 0);
    let out = env
        .gait()
        .env_remove("HOME")
        .env_remove("GAIT_CACHE_DIR")
        .env_remove("GAIT_PLUGIN_DIR")
        .arg("alpha")
        .assert()
        .success();
    assert!(stdout(&out).starts_with("[multi]\n"));
}

// ---------------------------------------------------------------- trust

fn minisign() -> Option<&'static str> {
    if Path::new("/usr/bin/minisign").exists() {
        return Some("/usr/bin/minisign");
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "minisign is required in CI (.ci/run installs the Debian package)"
    );
    eprintln!("skipping: minisign not installed");
    None
}

/// A throwaway minisign key pair in `dir`: (secret key path, public key path, key id).
fn minisign_key(tool: &str, dir: &Path, name: &str) -> (PathBuf, PathBuf, String) {
    let (sk, pk) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    );
    let ok = std::process::Command::new(tool)
        .args(["-G", "-W", "-f", "-p"])
        .arg(&pk)
        .arg("-s")
        .arg(&sk)
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "minisign -G failed");
    let text = fs::read_to_string(&pk).unwrap();
    let id = text
        .lines()
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    (sk, pk, id)
}

fn minisign_sign(tool: &str, sk: &Path, file: &Path) {
    let ok = std::process::Command::new(tool)
        .args(["-S", "-s"])
        .arg(sk)
        .arg("-m")
        .arg(file)
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "minisign -S failed");
}

const TOOL_MANIFEST: &str = r#"{"schema_id":"gait.plugin.manifest","contract_version":"1.0.0","name":"zz-tool","version":"1.0.0","commands":[{"name":"zz-tool","about":"t"}]}"#;

fn tool_body(tag: &str) -> String {
    format!(
        "#!/bin/sh\nif [ \"$1\" = --gait-manifest ]; then echo '{TOOL_MANIFEST}'; exit 0; fi\necho {tag}\n"
    )
}

#[test]
fn untrusted_path_plugin_is_listed_but_refused_until_trusted() {
    let env = Env::new();
    let p = env.untrusted_script("path1", "gait-zz-tool", &tool_body("ran"));
    let out = env.gait().args(["zz-tool", "--json"]).assert().code(2);
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["error_category"], "verification_failed", "{v}");
    assert!(
        v["hint"].as_str().unwrap().contains("gait plugin trust"),
        "{v}"
    );
    assert!(!stdout(&out).contains("ran"));
    let list = env.plugin_list();
    assert_eq!(entry(&list, &p)["status"], "rejected");

    // `gait plugin trust <path>` records this exact content; then it runs.
    env.gait()
        .args(["plugin", "trust"])
        .arg(&p)
        .arg("--json")
        .assert()
        .success();
    let out = env.gait().arg("zz-tool").assert().success();
    assert!(stdout(&out).contains("ran"));

    // A replaced binary (same path) is checked again and refused.
    env.untrusted_script("path1", "gait-zz-tool", &tool_body("evil"));
    let out = env.gait().arg("zz-tool").assert().code(2);
    assert!(!stdout(&out).contains("evil"));
}

#[test]
fn signed_path_plugin_runs_with_a_trusted_key_and_tampering_is_refused() {
    let Some(tool) = minisign() else { return };
    let env = Env::new();
    let (sk, pk, id) = minisign_key(tool, &env.dir("home"), "pub1");
    let p = env.untrusted_script("path1", "gait-zz-tool", &tool_body("signed"));
    minisign_sign(tool, &sk, &p);

    // Signed by an unknown key: refused, and the hint names the key id.
    let out = env.gait().args(["zz-tool", "--json"]).assert().code(2);
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(v["error"].as_str().unwrap().contains(&id), "{v}");

    env.gait()
        .args(["plugin", "trust", "--key"])
        .arg(&pk)
        .assert()
        .success();
    let out = env.gait().arg("zz-tool").assert().success();
    assert!(stdout(&out).contains("signed"));
    let list = env.plugin_list();
    assert_eq!(entry(&list, &p)["trust"], format!("signed (key {id})"));

    // Tampered after signing (same size, so only the hash can tell): verification error.
    let body = tool_body("signed").replace("signed", "SIGNED");
    fs::write(&p, body).unwrap();
    let out = env.gait().args(["zz-tool", "--json"]).assert().code(2);
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("verification failed"),
        "{v}"
    );
    assert!(!stdout(&out).contains("SIGNED"));
}

#[test]
fn a_refused_installed_plugin_is_not_replaced_by_a_path_plugin() {
    let env = Env::new();
    // In the plugin directory but neither installed nor trusted...
    env.untrusted_script("plugins", "gait-zz-tool", &tool_body("installed"));
    // ...and a trusted plugin of the same name on PATH.
    let on_path = env.script("path1", "gait-zz-tool", &tool_body("path"));
    let out = env.gait().arg("zz-tool").assert().code(2);
    assert!(!stdout(&out).contains("path"));
    let list = env.plugin_list();
    assert_eq!(entry(&list, &on_path)["status"], "shadowed");
}

#[test]
fn contract_major_mismatch_is_refused_with_both_versions() {
    let env = Env::new();
    let manifest = TOOL_MANIFEST.replace("\"1.0.0\",\"name\"", "\"2.0.0\",\"name\"");
    env.script(
        "path1",
        "gait-zz-tool",
        &format!("#!/bin/sh\nif [ \"$1\" = --gait-manifest ]; then echo '{manifest}'; exit 0; fi\necho ran\n"),
    );
    let out = env.gait().args(["zz-tool", "--json"]).assert().failure();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let e = v["error"].as_str().unwrap();
    assert!(
        e.contains("2.0.0") && e.contains("1.0.0") && e.contains("zz-tool"),
        "{v}"
    );
    assert!(!stdout(&out).contains("ran"));
    let list = env.plugin_list();
    let p = env.dir("path1").join("gait-zz-tool");
    assert_eq!(entry(&list, &p)["status"], "incompatible");
}
