//! The example third-party plugins in `examples/plugins/` work with the built `gait` launcher:
//! the Rust `gait-hello` (built by `cargo test` as an example target of the `gait-hello`
//! package) and the POSIX shell `gait-hello-sh`. Each is copied into a temporary directory on
//! `PATH`, signed with a throwaway minisign key whose public key is in `$GAIT_TRUST_DIR/keys/`,
//! and must then be discovered, listed by `gait plugin list --json` and dispatched.
//!
//! Needs `/usr/bin/minisign` (Debian package `minisign`). Without it the tests print a message
//! and pass, unless `CI` is set, where they fail.

use gait_acceptance::{bin_dir, binary};
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const MINISIGN: &str = "/usr/bin/minisign";

fn have_minisign() -> bool {
    if Path::new(MINISIGN).is_file() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "minisign is required in CI (apt-get install minisign)"
    );
    eprintln!("skipping: the minisign tool is not installed (apt-get install minisign)");
    false
}

/// The Rust example plugin, built by cargo as an example target.
fn rust_hello() -> PathBuf {
    let p = bin_dir().join("examples").join("gait-hello");
    assert!(
        p.is_file(),
        "{} is not built; run `cargo test --workspace` or `cargo build -p gait-hello --examples`",
        p.display()
    );
    p
}

fn shell_hello() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/plugins/gait-hello-sh")
        .canonicalize()
        .unwrap()
}

fn minisign(args: &[&str], dir: &Path) {
    let out = Command::new(MINISIGN)
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "minisign {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A temporary home, trust store, cache, empty plugin directory and a `path/` directory.
struct Env {
    root: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let root = tempfile::tempdir().unwrap();
        for d in ["home", "plugins", "path", "cache", "trust/keys", "keys"] {
            fs::create_dir_all(root.path().join(d)).unwrap();
        }
        Env { root }
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.path().join(name).canonicalize().unwrap()
    }

    /// Generates a key pair named `name` in `keys/` and returns its key id.
    fn keypair(&self, name: &str) -> String {
        let keys = self.dir("keys");
        minisign(
            &[
                "-G",
                "-W",
                "-p",
                &format!("{name}.pub"),
                "-s",
                &format!("{name}.key"),
            ],
            &keys,
        );
        let text = fs::read_to_string(keys.join(format!("{name}.pub"))).unwrap();
        text.lines()
            .next()
            .and_then(|l| l.rsplit(' ').next())
            .unwrap()
            .to_string()
    }

    /// Trusts key `name`: `$GAIT_TRUST_DIR/keys/<KEYID>.pub`.
    fn trust_key(&self, name: &str, id: &str) {
        fs::copy(
            self.dir("keys").join(format!("{name}.pub")),
            self.dir("trust/keys").join(format!("{id}.pub")),
        )
        .unwrap();
    }

    /// Copies `plugin` onto `PATH` as `file` and signs it with key `key`.
    fn install(&self, plugin: &Path, file: &str, key: &str) -> PathBuf {
        let p = self.dir("path").join(file);
        fs::copy(plugin, &p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        let sk = self.dir("keys").join(format!("{key}.key"));
        minisign(
            &["-S", "-s", sk.to_str().unwrap(), "-m", p.to_str().unwrap()],
            &self.dir("keys"),
        );
        p
    }

    fn gait(&self, args: &[&str]) -> Output {
        Command::new(binary("gait"))
            .env_clear()
            .env("HOME", self.dir("home"))
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.dir("path").display()),
            )
            .env("GAIT_PLUGIN_DIR", self.dir("plugins"))
            .env("GAIT_CACHE_DIR", self.dir("cache"))
            .env("GAIT_TRUST_DIR", self.dir("trust"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn gait_json(&self, args: &[&str]) -> (i32, Value) {
        let out = self.gait(args);
        let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "gait {args:?}: stdout is not JSON ({e}): {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().expect("exit code"), v)
    }

    /// The `gait plugin list --json` entry for the plugin at `path`.
    fn listed(&self, path: &Path) -> Value {
        let (code, list) = self.gait_json(&["plugin", "list", "--json"]);
        assert_eq!(code, 0, "{list}");
        let path = path.display().to_string();
        list["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["path"] == path.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("{path} not listed in {list}"))
    }
}

fn command_names(entry: &Value) -> Vec<String> {
    entry["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

/// Discovered, listed as a signed PATH plugin serving `command`, shown by `gait --help`.
fn assert_listed(env: &Env, plugin: &Path, name: &str, command: &str, key_id: &str) {
    let e = env.listed(plugin);
    assert_eq!(e["name"], name, "{e}");
    assert_eq!(e["status"], "ok", "{e}");
    assert_eq!(e["source"], "path", "{e}");
    assert_eq!(e["manifest"], true, "{e}");
    assert_eq!(e["contract_version"], "1.0.0", "{e}");
    assert_eq!(command_names(&e), [command], "{e}");
    assert!(
        e["trust"].as_str().unwrap_or("").contains(key_id),
        "trusted through the signing key: {e}"
    );
    let help = env.gait(&["--help"]);
    assert!(
        String::from_utf8_lossy(&help.stdout).contains(command),
        "gait --help lists {command}"
    );
}

#[test]
fn rust_hello_plugin_is_discovered_listed_and_dispatched() {
    if !have_minisign() {
        return;
    }
    let env = Env::new();
    let id = env.keypair("publisher");
    env.trust_key("publisher", &id);
    let p = env.install(&rust_hello(), "gait-hello", "publisher");
    assert_listed(&env, &p, "hello", "hello", &id);

    let (code, v) = env.gait_json(&["hello", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["ok"], true);
    assert_eq!(v["greeting"], "Hello, world!");
    assert!(v["correlation_id"].is_string());

    let (code, v) = env.gait_json(&["hello", "--name", "Ada", "--json"]);
    assert_eq!((code, v["greeting"].as_str()), (0, Some("Hello, Ada!")));

    let out = env.gait(&["hello", "--name", "Ada"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, Ada!\n");

    // Bad input: the SDK's error envelope and exit 6, with a hint.
    let (code, v) = env.gait_json(&["hello", "--name", " ", "--json"]);
    assert_eq!(code, 6, "{v}");
    assert_eq!(v["ok"], false);
    assert_eq!(v["error_code"], "invalid_input");
    assert!(v["hint"].as_str().unwrap().contains("gait hello"), "{v}");
}

#[test]
fn shell_hello_plugin_speaks_the_same_contract() {
    if !have_minisign() {
        return;
    }
    let env = Env::new();
    let id = env.keypair("publisher");
    env.trust_key("publisher", &id);
    let p = env.install(&shell_hello(), "gait-hello-sh", "publisher");
    assert_listed(&env, &p, "hello-sh", "hello-sh", &id);

    let (code, v) = env.gait_json(&["hello-sh", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["ok"], true);
    assert_eq!(v["greeting"], "Hello, world!");

    let out = env.gait(&["hello-sh", "--name", "Ada"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, Ada!\n");

    let (code, v) = env.gait_json(&["hello-sh", "--name", "a\"b", "--json"]);
    assert_eq!(code, 6, "{v}");
    assert_eq!(v["ok"], false);
    assert_eq!(v["error_code"], "invalid_input");
    assert!(!v["hint"].as_str().unwrap().is_empty());
}

#[test]
fn unsigned_untrusted_or_tampered_examples_are_refused() {
    if !have_minisign() {
        return;
    }
    let env = Env::new();
    let id = env.keypair("publisher");
    env.keypair("stranger");

    // Signed by a key nobody trusts: refused, never run.
    let p = env.install(&shell_hello(), "gait-hello-sh", "stranger");
    let out = env.gait(&["hello-sh"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Hello"));
    assert_eq!(env.listed(&p)["status"], "rejected");

    // Re-signed by the trusted publisher: runs.
    env.trust_key("publisher", &id);
    let p = env.install(&shell_hello(), "gait-hello-sh", "publisher");
    let out = env.gait(&["hello-sh"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, world!\n");

    // Tampered after signing: refused.
    let body = fs::read_to_string(&p)
        .unwrap()
        .replace("Hello, %s!", "Pwned, %s!");
    fs::write(&p, body).unwrap();
    let out = env.gait(&["hello-sh"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Pwned"));

    // No signature at all: refused.
    fs::remove_file(format!("{}.minisig", p.display())).unwrap();
    let out = env.gait(&["hello-sh"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
