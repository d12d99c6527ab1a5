//! The help contract and the generated CLI surface, through the built launcher: every command
//! of every bundled plugin answers `--help` with usage, and completions and man pages cover
//! the commands the plugins' own clap definitions declare.

#[allow(dead_code)]
mod support;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use support::binary;

const PLUGINS: &[&str] = &[
    "gait-gate",
    "gait-pack",
    "gait-regress",
    "gait-job",
    "gait-voice",
    "gait-ui",
];

fn gait(home: &Path, args: &[&str]) -> Output {
    Command::new(binary("gait"))
        .args(args)
        .current_dir(home)
        .env("HOME", home)
        .env("GAIT_CACHE_DIR", home.join("cache"))
        .env("GAIT_MANIFEST_TIMEOUT_MS", "30000")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every command path below the root of a plugin's description, with whether it is a group.
fn command_paths(v: &Value, prefix: &[String], out: &mut Vec<(Vec<String>, bool)>) {
    for sub in v["subcommands"].as_array().into_iter().flatten() {
        let mut path = prefix.to_vec();
        path.push(sub["name"].as_str().unwrap().to_string());
        let group = sub.get("subcommands").is_some();
        out.push((path.clone(), group));
        command_paths(sub, &path, out);
    }
}

fn spec(plugin: &str) -> Value {
    let out = Command::new(binary(plugin))
        .arg("--gait-cli-spec")
        .output()
        .unwrap();
    assert!(out.status.success(), "{plugin} --gait-cli-spec failed");
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{plugin} --gait-cli-spec is not JSON: {e}"));
    assert_eq!(v["cli_spec_version"], 1, "{plugin}");
    v["command"].clone()
}

#[test]
fn every_command_answers_help_with_usage() {
    let home = tempfile::tempdir().unwrap();
    let top = gait(home.path(), &["--help"]);
    assert_eq!(top.status.code(), Some(0), "{}", text(&top));
    for launcher_cmd in [
        &["doctor", "--help"][..],
        &["plugin", "--help"],
        &["completions", "--help"],
        &["man", "--help"],
        &["version", "--help"],
    ] {
        let o = gait(home.path(), launcher_cmd);
        assert_eq!(o.status.code(), Some(0), "{launcher_cmd:?}: {}", text(&o));
        assert!(text(&o).contains("Usage"), "{launcher_cmd:?}: {}", text(&o));
    }
    let mut checked = 0;
    for plugin in PLUGINS {
        let mut paths = Vec::new();
        command_paths(&spec(plugin), &[], &mut paths);
        assert!(!paths.is_empty(), "{plugin} declares no commands");
        for (path, group) in paths {
            let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
            args.push("--help");
            let o = gait(home.path(), &args);
            let shown = text(&o);
            assert!(
                shown.to_lowercase().contains("usage"),
                "gait {} printed no usage: {shown}",
                args.join(" ")
            );
            // Leaves exit 0; a group's --help may exit 6 as the reference's groups do (§1.6).
            let ok = if group {
                matches!(o.status.code(), Some(0 | 6))
            } else {
                o.status.code() == Some(0)
            };
            assert!(ok, "gait {} exited {:?}: {shown}", args.join(" "), o.status);
            checked += 1;
        }
    }
    assert!(checked > 60, "only {checked} commands found");
}

#[test]
fn completions_and_man_pages_cover_plugin_definitions() {
    let home = tempfile::tempdir().unwrap();
    let bash = gait(home.path(), &["completions", "bash"]);
    assert_eq!(bash.status.code(), Some(0), "{}", text(&bash));
    let script = String::from_utf8_lossy(&bash.stdout);
    // Nested commands and their flags come from the plugins' own definitions.
    for needle in [
        "gait__subcmd__gate__subcmd__eval",
        "gait__subcmd__job__subcmd__checkpoint__subcmd__add",
        "gait__subcmd__doctor",
        "--production-readiness",
        "--policy",
    ] {
        assert!(script.contains(needle), "bash completions lack {needle}");
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let o = gait(home.path(), &["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", text(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("gait"));
    }
    let bad = gait(home.path(), &["completions", "tcsh", "--json"]);
    assert_eq!(bad.status.code(), Some(6));
    let v: Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(v["error_code"], "invalid_input");

    let page = gait(home.path(), &["man"]);
    assert_eq!(page.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&page.stdout).contains(".TH gait 1"));
    let dir = home.path().join("man1");
    let o = gait(
        home.path(),
        &["man", "--out-dir", dir.to_str().unwrap(), "--json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let eval = std::fs::read_to_string(dir.join("gait-gate-eval.1")).unwrap();
    assert!(eval.contains(".TH gait-gate-eval 1"), "{eval}");
    assert!(eval.contains("policy"), "{eval}");
    assert!(dir.join("gait-job-checkpoint-add.1").is_file());
}
