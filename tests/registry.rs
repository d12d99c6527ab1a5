//! The plugin registry through the built `gait` binary: registries built with
//! scripts/build-registry.sh from small shell-script plugins and a throwaway key, then
//! install, verify, lock and sync, drift, refusals, interrupted installs, and signature
//! interoperability with the real `minisign` tool.
//!
//! Every test runs in its own temp dir with HOME, GAIT_PLUGIN_DIR, GAIT_TRUST_DIR and
//! GAIT_CACHE_DIR pointed inside it, and with no terminal on stdin.

use gait_acceptance::binary;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn script_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scripts")
        .join("build-registry.sh")
}

/// A shell-script plugin answering `--gait-manifest`.
fn plugin_script(name: &str, version: &str, marker: &str) -> String {
    format!(
        "#!/bin/sh\n# {marker}\nif [ \"$1\" = --gait-manifest ]; then\n  echo '{{\"schema_id\":\"gait.plugin.manifest\",\"contract_version\":\"1.0.0\",\"name\":\"{name}\",\"version\":\"{version}\",\"about\":\"The {name} \\\"test\\\" plugin\",\"commands\":[{{\"name\":\"{name}\",\"about\":\"run {name}\"}}]}}'\n  exit 0\nfi\necho \"{name} {version}\"\n"
    )
}

struct Env {
    tmp: tempfile::TempDir,
    secret: PathBuf,
    public: PathBuf,
    key_id: String,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let mut env = Env {
            secret: tmp.path().join("publisher.key"),
            public: tmp.path().join("publisher.pub"),
            key_id: String::new(),
            tmp,
        };
        let out = env.ok(&[
            "plugin",
            "sign",
            "--generate-key",
            env.path("publisher").to_str().unwrap(),
            "--json",
        ]);
        env.key_id = out["key_id"].as_str().unwrap().to_string();
        env
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    fn plugin_dir(&self) -> PathBuf {
        self.path("plugins")
    }

    fn cmd(&self, plugin_dir: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(binary("gait"));
        c.args(args)
            .current_dir(self.tmp.path())
            .env("HOME", self.path("home"))
            .env("GAIT_PLUGIN_DIR", plugin_dir)
            .env("GAIT_TRUST_DIR", self.path("trust"))
            .env("GAIT_CACHE_DIR", self.path("cache"))
            .env_remove("GAIT_REGISTRY")
            .env_remove("GAIT_SIGN_PASSWORD")
            .env_remove("GAIT_TEST_INSTALL_PAUSE_MS")
            .stdin(Stdio::null());
        c
    }

    fn run_in(&self, plugin_dir: &Path, args: &[&str]) -> Output {
        self.cmd(plugin_dir, args).output().unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_in(&self.plugin_dir(), args)
    }

    /// Runs with `--json` and expects exit 0; returns the JSON.
    fn ok(&self, args: &[&str]) -> Value {
        self.ok_in(&self.plugin_dir(), args)
    }

    fn ok_in(&self, plugin_dir: &Path, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        if !a.contains(&"--json") {
            a.push("--json");
        }
        let out = self.run_in(plugin_dir, &a);
        assert_eq!(code(&out), 0, "gait {a:?}: {}", show(&out));
        json(&out)
    }

    /// Builds a registry at `<tmp>/<name>` from script plugins `(name, version, marker)`.
    fn publish(&self, name: &str, plugins: &[(&str, &str, &str)]) -> PathBuf {
        let bins = self.path(&format!("bins-{name}"));
        let _ = std::fs::remove_dir_all(&bins);
        std::fs::create_dir_all(&bins).unwrap();
        for (p, v, marker) in plugins {
            let f = bins.join(format!("gait-{p}"));
            std::fs::write(&f, plugin_script(p, v, marker)).unwrap();
            set_mode(&f, 0o755);
        }
        let out_dir = self.path(name);
        let out = Command::new("bash")
            .arg(script_path())
            .args(["--bin-dir", bins.to_str().unwrap()])
            .args(["--gait", binary("gait").to_str().unwrap()])
            .arg(&out_dir)
            .arg(&self.secret)
            .env("GAIT_TRUST_DIR", self.path("publisher-trust"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "build-registry.sh: {}", show(&out));
        out_dir
    }

    fn trust_key_arg(&self) -> &str {
        self.public.to_str().unwrap()
    }
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(o)))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `gait plugin verify --json` as name → sha256 for ok plugins (panics on failures).
fn verified_shas(env: &Env, dir: &Path) -> Vec<(String, String)> {
    let v = env.ok_in(dir, &["plugin", "verify"]);
    let mut out: Vec<(String, String)> = v["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["status"], "ok", "{p}");
            (
                p["name"].as_str().unwrap().to_string(),
                p["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn install_records_and_verifies() {
    let env = Env::new();
    let reg = env.publish("reg", &[("hello", "0.1.0", "a"), ("world", "1.2.0", "a")]);

    let found = env.ok(&[
        "plugin",
        "search",
        "hel",
        "--registry",
        s(&reg),
        "--trust-key",
        env.trust_key_arg(),
    ]);
    assert_eq!(found["plugins"].as_array().unwrap().len(), 1);
    assert_eq!(found["plugins"][0]["latest"], "0.1.0");
    assert_eq!(
        found["plugins"][0]["description"],
        "The hello \"test\" plugin"
    );
    assert_eq!(found["key_id"], env.key_id.as_str());

    let out = env.ok(&["plugin", "install", "hello", "--registry", s(&reg)]);
    assert_eq!(out["plugin"]["version"], "0.1.0");
    assert_eq!(out["plugin"]["changed"], true);
    let file = env.plugin_dir().join("gait-hello");
    assert!(file.is_file());
    let record = std::fs::read_to_string(env.plugin_dir().join("installed.toml")).unwrap();
    assert!(record.contains("name = \"hello\""), "{record}");
    assert!(record.contains(out["plugin"]["sha256"].as_str().unwrap()));
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }
    let v = env.ok(&["plugin", "verify"]);
    assert_eq!(v["failed"], 0);
    assert_eq!(v["plugins"][0]["status"], "ok");
    assert_eq!(v["plugins"][0]["key_id"], env.key_id.as_str());

    // Text output names what happened; a repeat install is a no-op.
    let again = env.run(&["plugin", "install", "hello", "--registry", s(&reg)]);
    assert_eq!(code(&again), 0, "{}", show(&again));
    assert!(String::from_utf8_lossy(&again.stdout).contains("already installed"));

    // Tampering with the installed file: verify exits 2 and says so.
    std::fs::write(&file, plugin_script("hello", "0.1.0", "evil")).unwrap();
    let v = env.run(&["plugin", "verify", "--json"]);
    assert_eq!(code(&v), 2, "{}", show(&v));
    let j = json(&v);
    assert_eq!(j["ok"], false);
    assert_eq!(j["plugins"][0]["status"], "tampered");
    let text = env.run(&["plugin", "verify"]);
    assert_eq!(code(&text), 2);
    assert!(String::from_utf8_lossy(&text.stdout).contains("tampered"));

    // An unrecorded, unsigned file in the plugin directory is reported as unsigned.
    std::fs::write(&file, plugin_script("hello", "0.1.0", "a")).unwrap();
    let stray = env.plugin_dir().join("gait-stray");
    std::fs::write(&stray, plugin_script("stray", "0.0.1", "a")).unwrap();
    set_mode(&stray, 0o755);
    let v = json(&env.run(&["plugin", "verify", "--json"]));
    let stray_status = v["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "stray")
        .unwrap()["status"]
        .clone();
    assert_eq!(stray_status, "unsigned");
}

#[test]
fn untrusted_key_needs_trust_key_without_a_terminal() {
    let env = Env::new();
    let reg = env.publish("reg", &[("hello", "0.1.0", "a")]);
    let out = env.run(&["plugin", "install", "hello", "--registry", s(&reg)]);
    assert_eq!(code(&out), 6, "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&env.key_id), "{err}");
    assert!(err.contains("--trust-key"), "{err}");
    assert!(!env.plugin_dir().join("gait-hello").exists());
    assert!(!env.plugin_dir().join("installed.toml").exists());
    assert!(!env.path("trust").join("keys").exists());

    let out = env.run(&[
        "plugin",
        "install",
        "hello",
        "--registry",
        s(&reg),
        "--json",
    ]);
    assert_eq!(code(&out), 6);
    let j = json(&out);
    assert_eq!(j["key_id"], env.key_id.as_str());
    assert!(j["hint"].as_str().unwrap().contains("--trust-key"));

    // A malformed --trust-key is bad input before anything happens.
    let out = env.run(&[
        "plugin",
        "install",
        "hello",
        "--registry",
        s(&reg),
        "--trust-key",
        "not-a-key",
    ]);
    assert_eq!(code(&out), 6, "{}", show(&out));

    // --trust-key (the .pub file, or its base64 line) trusts and persists the key.
    let pub_text = std::fs::read_to_string(&env.public).unwrap();
    let b64 = pub_text.lines().nth(1).unwrap();
    let j = env.ok(&[
        "plugin",
        "install",
        "hello",
        "--registry",
        s(&reg),
        "--trust-key",
        b64,
    ]);
    assert_eq!(j["trusted_keys"][0]["key_id"], env.key_id.as_str());
    assert!(env
        .path("trust")
        .join("keys")
        .join(format!("{}.pub", env.key_id))
        .is_file());
    // Persisted: the next command needs no flag.
    env.ok(&["plugin", "search", "--registry", s(&reg)]);
    env.ok(&["plugin", "verify"]);
}

#[test]
fn unsigned_or_tampered_index_is_refused() {
    let env = Env::new();
    let reg = env.publish("reg", &[("hello", "0.1.0", "a")]);
    let index = reg.join("index.toml");
    let sig = reg.join("index.toml.minisig");
    let original = std::fs::read_to_string(&index).unwrap();
    let install = || {
        env.run(&[
            "plugin",
            "install",
            "hello",
            "--registry",
            s(&reg),
            "--trust-key",
            env.trust_key_arg(),
        ])
    };

    std::fs::write(&index, format!("{original}\n# added after signing\n")).unwrap();
    let out = install();
    assert_eq!(code(&out), 2, "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not verify"));

    std::fs::write(&index, &original).unwrap();
    let saved = std::fs::read(&sig).unwrap();
    std::fs::remove_file(&sig).unwrap();
    let out = install();
    assert_eq!(code(&out), 2, "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not signed"), "{err}");
    assert!(err.contains("gait plugin sign"), "{err}");

    std::fs::write(&sig, b"untrusted comment: x\ngarbage\n").unwrap();
    let out = install();
    assert_eq!(code(&out), 2, "{}", show(&out));

    // Signed by a different (trusted) key than the one that signed the index: the
    // signature is by a key nobody trusted.
    std::fs::write(&sig, &saved).unwrap();
    let other = env.path("other");
    env.ok(&["plugin", "sign", "--generate-key", s(&other)]);
    env.ok(&[
        "plugin",
        "sign",
        "--key",
        s(&env.path("other.key")),
        s(&index),
    ]);
    let out = install();
    assert_eq!(code(&out), 6, "{}", show(&out));

    // Nothing was installed by any of these.
    assert!(!env.plugin_dir().join("gait-hello").exists());
}

#[test]
fn lock_then_sync_reproduces_the_set_and_drift_fails() {
    let env = Env::new();
    let reg = env.publish("reg", &[("hello", "0.1.0", "a"), ("world", "1.2.0", "a")]);
    for p in ["hello", "world"] {
        env.ok(&[
            "plugin",
            "install",
            p,
            "--registry",
            s(&reg),
            "--trust-key",
            env.trust_key_arg(),
        ]);
    }
    let locked = env.ok(&["plugin", "lock", "--registry", s(&reg)]);
    assert_eq!(locked["plugins"].as_array().unwrap().len(), 2);
    let lock_path = env.path("gait.lock");
    let lock = std::fs::read_to_string(&lock_path).unwrap();
    assert!(
        lock.contains("name = \"hello\"") && lock.contains("version = \"1.2.0\""),
        "{lock}"
    );

    // A fresh plugin directory (as in CI) gets exactly the same files.
    let ci = env.path("ci-plugins");
    let synced = env.ok_in(&ci, &["plugin", "sync", "--locked", "--registry", s(&reg)]);
    assert_eq!(synced["installed"].as_array().unwrap().len(), 2);
    assert_eq!(
        verified_shas(&env, &ci),
        verified_shas(&env, &env.plugin_dir())
    );
    // GAIT_REGISTRY works as well as --registry, and a second sync changes nothing.
    let again = env
        .cmd(&ci, &["plugin", "sync", "--locked", "--json"])
        .env("GAIT_REGISTRY", &reg)
        .output()
        .unwrap();
    assert_eq!(code(&again), 0, "{}", show(&again));
    assert_eq!(json(&again)["installed"].as_array().unwrap().len(), 0);

    // Drift 1: the lock's sha256 edited.
    let hello_sha = verified_shas(&env, &ci)[0].1.clone();
    let edited = env.path("edited.lock");
    std::fs::write(&edited, lock.replace(&hello_sha, &"0".repeat(64))).unwrap();
    let fresh = env.path("fresh");
    let out = env.run_in(
        &fresh,
        &[
            "plugin",
            "sync",
            "--locked",
            "--lock",
            s(&edited),
            "--registry",
            s(&reg),
        ],
    );
    assert_eq!(code(&out), 2, "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("drift"));
    assert!(
        !fresh.join("gait-world").exists(),
        "nothing installed on drift"
    );

    // Drift 2: a different file published under the same version.
    let reg2 = env.publish(
        "reg2",
        &[("hello", "0.1.0", "changed"), ("world", "1.2.0", "a")],
    );
    let out = env.run_in(
        &fresh,
        &[
            "plugin",
            "sync",
            "--locked",
            "--registry",
            s(&reg2),
            "--json",
        ],
    );
    assert_eq!(code(&out), 2, "{}", show(&out));
    assert_eq!(json(&out)["error_code"], "verification_failed");

    // Drift 3: an installed plugin the lock does not pin.
    let one = env.path("one.lock");
    let hello_only: String = lock
        .split("[[plugin]]")
        .filter(|part| !part.contains("name = \"world\""))
        .collect::<Vec<_>>()
        .join("[[plugin]]");
    std::fs::write(&one, hello_only).unwrap();
    let out = env.run_in(
        &ci,
        &[
            "plugin",
            "sync",
            "--locked",
            "--lock",
            s(&one),
            "--registry",
            s(&reg),
        ],
    );
    assert_eq!(code(&out), 2, "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("world is installed"));
    // Without --locked, sync converges instead.
    env.ok_in(
        &ci,
        &["plugin", "sync", "--lock", s(&one), "--registry", s(&reg)],
    );
    assert!(!ci.join("gait-world").exists());

    // Unresolvable pins are bad input (exit 6).
    std::fs::write(&edited, lock.replace("\"1.2.0\"", "\"9.9.9\"")).unwrap();
    let out = env.run_in(
        &fresh,
        &[
            "plugin",
            "sync",
            "--locked",
            "--lock",
            s(&edited),
            "--registry",
            s(&reg),
        ],
    );
    assert_eq!(code(&out), 6, "{}", show(&out));
    std::fs::write(&edited, "format = 1\n[[plugin]]\nname = \"x\"\n").unwrap();
    let out = env.run_in(
        &fresh,
        &["plugin", "sync", "--locked", "--lock", s(&edited)],
    );
    assert_eq!(code(&out), 6, "{}", show(&out));
    let out = env.run_in(
        &fresh,
        &[
            "plugin",
            "sync",
            "--locked",
            "--lock",
            s(&env.path("none.lock")),
        ],
    );
    assert_eq!(code(&out), 6, "{}", show(&out));
}

#[test]
fn update_and_remove() {
    let env = Env::new();
    let reg = env.publish("reg", &[("hello", "0.1.0", "a")]);
    env.ok(&[
        "plugin",
        "install",
        "hello@^0.1",
        "--registry",
        s(&reg),
        "--trust-key",
        env.trust_key_arg(),
    ]);
    // Republish (same registry directory) with a newer version; update from the provenance.
    env.publish("reg", &[("hello", "0.2.0", "a")]);
    let up = env.ok(&["plugin", "update"]);
    assert_eq!(up["updated"][0]["version"], "0.2.0");
    assert_eq!(up["updated"][0]["previous_version"], "0.1.0");
    let record = std::fs::read_to_string(env.plugin_dir().join("installed.toml")).unwrap();
    assert_eq!(record.matches("[[plugin]]").count(), 1, "{record}");
    let up = env.ok(&["plugin", "update", "hello"]);
    assert_eq!(up["updated"].as_array().unwrap().len(), 0);

    let out = env.run(&["plugin", "update", "nope"]);
    assert_eq!(code(&out), 6, "{}", show(&out));
    let out = env.run(&["plugin", "install", "hello@^7", "--registry", s(&reg)]);
    assert_eq!(code(&out), 6, "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("available: 0.2.0"));

    let rm = env.ok(&["plugin", "remove", "hello"]);
    assert_eq!(rm["removed"]["version"], "0.2.0");
    assert!(!env.plugin_dir().join("gait-hello").exists());
    let out = env.run(&["plugin", "remove", "hello"]);
    assert_eq!(code(&out), 6, "{}", show(&out));
    let v = env.ok(&["plugin", "verify"]);
    assert_eq!(v["plugins"].as_array().unwrap().len(), 0);
}

#[test]
fn interrupted_install_leaves_the_old_version_working() {
    let env = Env::new();
    let reg = env.publish("reg", &[("hello", "0.1.0", "a")]);
    env.ok(&[
        "plugin",
        "install",
        "hello",
        "--registry",
        s(&reg),
        "--trust-key",
        env.trust_key_arg(),
    ]);
    let file = env.plugin_dir().join("gait-hello");
    let old = std::fs::read(&file).unwrap();
    env.publish("reg", &[("hello", "0.2.0", "a")]);

    let record = env.plugin_dir().join("installed.toml");
    let mut child = env
        .cmd(
            &env.plugin_dir(),
            &["plugin", "install", "hello", "--registry", s(&reg)],
        )
        .env("GAIT_TEST_INSTALL_PAUSE_MS", "20000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the new record entry is written (two entries for hello), then kill it.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(&record).unwrap_or_default();
        if text.matches("name = \"hello\"").count() == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the install never wrote its record entry: {text}"
        );
        assert!(child.try_wait().unwrap().is_none(), "install exited early");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // The old file is in place and verifies; the record holds both entries.
    assert_eq!(std::fs::read(&file).unwrap(), old);
    let v = env.ok(&["plugin", "verify"]);
    assert_eq!(v["plugins"][0]["status"], "ok");
    assert_eq!(v["plugins"][0]["version"], "0.1.0");
    let run = Command::new(&file).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "hello 0.1.0");

    // The dead install's lock does not block the retry, which completes and prunes.
    let t = Instant::now();
    let out = env.ok(&["plugin", "install", "hello", "--registry", s(&reg)]);
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "waited for a dead lock"
    );
    assert_eq!(out["plugin"]["version"], "0.2.0");
    let text = std::fs::read_to_string(&record).unwrap();
    assert_eq!(text.matches("name = \"hello\"").count(), 1, "{text}");
    let leftovers: Vec<String> = std::fs::read_dir(env.plugin_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    env.ok(&["plugin", "verify"]);
}

#[test]
fn sign_refuses_bad_input_and_writes_nothing() {
    let env = Env::new();
    let a = env.path("a.bin");
    std::fs::write(&a, b"a").unwrap();
    let out = env.run(&[
        "plugin",
        "sign",
        "--key",
        s(&env.secret),
        s(&a),
        s(&env.path("missing")),
    ]);
    assert_eq!(code(&out), 6, "{}", show(&out));
    assert!(!env.path("a.bin.minisig").exists());
    // A public key is not a secret key.
    let out = env.run(&["plugin", "sign", "--key", s(&env.public), s(&a)]);
    assert_eq!(code(&out), 6, "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a minisign secret key"));
    // Keys are never overwritten.
    let out = env.run(&[
        "plugin",
        "sign",
        "--generate-key",
        s(&env.path("publisher")),
    ]);
    assert_eq!(code(&out), 6, "{}", show(&out));
    let help = env.run(&["plugin", "sign", "--help"]);
    assert_eq!(code(&help), 0);
    assert!(String::from_utf8_lossy(&help.stdout).contains("minisign"));
    let out = env.run(&[
        "plugin",
        "install",
        "--registry",
        "/nonexistent/registry",
        "hello",
    ]);
    assert_eq!(code(&out), 6, "{}", show(&out));
    let out = env.run(&["plugin", "install", "hello"]);
    assert_eq!(code(&out), 6, "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("GAIT_REGISTRY"));
}

/// The real minisign tool, or None when it is missing (a panic in CI, where it must be).
fn minisign() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("minisign"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("the minisign tool is required in CI (apt-get install minisign)");
        }
        eprintln!(
            "SKIPPED: minisign interop checks need the `minisign` tool (apt-get install minisign)"
        );
    }
    found
}

#[test]
fn signatures_interoperate_with_the_minisign_tool() {
    let Some(minisign) = minisign() else {
        return;
    };
    let env = Env::new();
    let run = |args: &[&str]| {
        Command::new(&minisign)
            .args(args)
            .current_dir(env.tmp.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // Our signature (made with our key) verifies with `minisign -V`.
    let f = env.path("payload.bin");
    std::fs::write(&f, vec![7u8; 300_000]).unwrap();
    env.ok(&["plugin", "sign", "--key", s(&env.secret), s(&f)]);
    let out = run(&["-V", "-p", s(&env.public), "-m", s(&f)]);
    assert_eq!(code(&out), 0, "minisign -V: {}", show(&out));

    // A key made by `minisign -G -W` signs with `gait plugin sign`, verified by minisign.
    let out = run(&["-G", "-W", "-p", "tool.pub", "-s", "tool.key"]);
    assert_eq!(code(&out), 0, "minisign -G: {}", show(&out));
    std::fs::write(&f, b"second payload\n").unwrap();
    env.ok(&["plugin", "sign", "--key", s(&env.path("tool.key")), s(&f)]);
    let out = run(&["-V", "-p", "tool.pub", "-m", s(&f)]);
    assert_eq!(code(&out), 0, "minisign -V: {}", show(&out));

    // A registry whose files and index are signed by `minisign -S` installs with our
    // verification.
    let reg = env.publish("reg", &[("hello", "0.1.0", "a")]);
    let plugin = reg.join("plugins").join("gait-hello-0.1.0");
    for target in [plugin.as_path(), reg.join("index.toml").as_path()] {
        let out = run(&["-S", "-s", "tool.key", "-m", s(target)]);
        assert_eq!(code(&out), 0, "minisign -S: {}", show(&out));
    }
    let out = env.ok(&[
        "plugin",
        "install",
        "hello",
        "--registry",
        s(&reg),
        "--trust-key",
        s(&env.path("tool.pub")),
    ]);
    let tool_id = std::fs::read_to_string(env.path("tool.pub"))
        .unwrap()
        .split_whitespace()
        .nth(5)
        .unwrap_or_default()
        .to_string();
    assert_eq!(out["plugin"]["key_id"], tool_id.as_str());
    env.ok(&["plugin", "verify"]);
    // And `minisign -S` with a key we generated works too.
    let out = run(&["-S", "-s", s(&env.secret), "-m", s(&f)]);
    assert_eq!(code(&out), 0, "minisign -S with our key: {}", show(&out));
    let out = run(&["-V", "-p", s(&env.public), "-m", s(&f)]);
    assert_eq!(code(&out), 0, "{}", show(&out));
}
