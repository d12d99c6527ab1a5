//! What the launcher's integration tests share: a sandbox with its own HOME, PATH, plugin,
//! cache and trust directories, fake plugins written as shell scripts, and output helpers.
#![allow(dead_code)]

use assert_cmd::Command;
use gait_sdk::trust::{sha256_file, TrustStore};
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Env {
    root: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        let root = tempfile::tempdir().unwrap();
        for d in ["home", "plugins", "path1", "path2", "cache", "trust"] {
            fs::create_dir(root.path().join(d)).unwrap();
        }
        Env { root }
    }

    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.path().join(name).canonicalize().unwrap()
    }

    pub fn cache_file(&self) -> PathBuf {
        self.dir("cache").join("plugin-manifests.json")
    }

    /// A plugin answering `--gait-manifest` with `commands`, otherwise printing `[tag]`, then
    /// each argument as `[arg]`, then `GAIT_LAUNCHER`, and exiting with `code`.
    pub fn plugin(
        &self,
        dir: &str,
        name: &str,
        commands: &[&str],
        tag: &str,
        code: i32,
    ) -> PathBuf {
        let cmds: Vec<String> = commands
            .iter()
            .map(|c| format!(r#"{{"name":"{c}","about":"{c} help"}}"#))
            .collect();
        let manifest = format!(
            r#"{{"schema_id":"gait.plugin.manifest","contract_version":1,"name":"{name}","version":"2.3.4","about":"{name} plugin","commands":[{}]}}"#,
            cmds.join(",")
        );
        let body = format!(
            "#!/bin/sh\nif [ \"$1\" = --gait-manifest ]; then\n  printf '%s\\n' '{manifest}'\n  exit 0\nfi\n{}",
            echo_args(tag, code)
        );
        self.script(dir, &format!("gait-{name}"), &body)
    }

    /// Writes an executable script and trusts exactly its content, the way
    /// `gait plugin trust <path>` would (the trust rules themselves are tested in trust.rs).
    pub fn script(&self, dir: &str, file: &str, body: &str) -> PathBuf {
        let p = self.untrusted_script(dir, file, body);
        let mut store = TrustStore::load(&self.dir("trust")).unwrap();
        store
            .persist_file(&p, &sha256_file(&p).unwrap(), "test")
            .unwrap();
        p
    }

    pub fn untrusted_script(&self, dir: &str, file: &str, body: &str) -> PathBuf {
        let p = self.dir(dir).join(file);
        fs::write(&p, body).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    pub fn gait(&self) -> Command {
        let mut cmd = Command::cargo_bin("gait").unwrap();
        let path = format!(
            "{}:{}:/usr/bin:/bin",
            self.dir("path1").display(),
            self.dir("path2").display()
        );
        cmd.env_clear()
            .env("HOME", self.dir("home"))
            .env("PATH", path)
            .env("GAIT_PLUGIN_DIR", self.dir("plugins"))
            .env("GAIT_CACHE_DIR", self.dir("cache"))
            .env("GAIT_TRUST_DIR", self.dir("trust"))
            .timeout(Duration::from_secs(30));
        cmd
    }

    pub fn plugin_list(&self) -> Value {
        let out = self
            .gait()
            .args(["plugin", "list", "--json"])
            .assert()
            .success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    }
}

pub fn echo_args(tag: &str, code: i32) -> String {
    format!("echo '[{tag}]'\nfor a in \"$@\"; do echo \"[$a]\"; done\necho \"launcher=$GAIT_LAUNCHER\"\nexit {code}\n")
}

pub fn stdout(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stdout).into_owned()
}

pub fn stderr(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

/// The entry of `plugin list --json` for the plugin at `path`.
pub fn entry<'a>(list: &'a Value, path: &Path) -> &'a Value {
    let path = path.display().to_string();
    list["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["path"] == path.as_str())
        .unwrap_or_else(|| panic!("{path} not listed in {list}"))
}
