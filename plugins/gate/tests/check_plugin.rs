//! `gait gate eval --check-plugin`: the example check library
//! (`examples/plugins/deny-after-hours`, built by `cargo test` through the dev-dependency) is
//! signed with a throwaway key by the `minisign` tool and loaded through the binary. Trusted
//! and signed, it tightens the verdict; unsigned, tampered, signed by an unknown key or
//! panicking, it blocks with `check_plugin_failed` and the gate process survives.
//!
//! Needs `/usr/bin/minisign` (Debian package `minisign`). Without it the tests print a message
//! and pass, unless `CI` is set, where they fail.

use assert_cmd::Command;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

const ALLOW_ALL: &str = "default_verdict: allow\n";
const BLOCK_ALL: &str = "default_verdict: block\n";

fn have_minisign() -> bool {
    let ok = std::process::Command::new("minisign")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "minisign is required in CI (apt-get install minisign)"
        );
        eprintln!("skipping: the minisign tool is not installed (apt-get install minisign)");
    }
    ok
}

/// The example check library built by cargo next to this test's executable.
fn example_library() -> PathBuf {
    let name = format!(
        "{}deny_after_hours{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    [deps.join(&name), deps.parent().unwrap().join(&name)]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not built next to {}; run `cargo test -p gait-gate` or `cargo build -p deny-after-hours`",
                deps.display()
            )
        })
}

fn minisign(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("minisign")
        .current_dir(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "minisign {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A minisign key pair without password: `<name>.pub`, `<name>.key`, and its key id.
fn keypair(dir: &Path, name: &str) -> String {
    let (p, s) = (format!("{name}.pub"), format!("{name}.key"));
    minisign(dir, &["-G", "-W", "-p", &p, "-s", &s]);
    let text = fs::read_to_string(dir.join(&p)).unwrap();
    text.lines()
        .next()
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .to_string()
}

fn sign(dir: &Path, key: &str, file: &str) {
    minisign(dir, &["-S", "-s", &format!("{key}.key"), "-m", file]);
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// A temp dir with key pairs `trusted` and `other`, the example library copied in as
    /// `libcheck.so` and signed by `trusted`, and an empty trust store.
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        keypair(dir.path(), "trusted");
        keypair(dir.path(), "other");
        fs::copy(example_library(), dir.path().join("libcheck.so")).unwrap();
        sign(dir.path(), "trusted", "libcheck.so");
        fs::create_dir_all(dir.path().join("trust")).unwrap();
        fs::write(dir.path().join("allow.yaml"), ALLOW_ALL).unwrap();
        fs::write(dir.path().join("block.yaml"), BLOCK_ALL).unwrap();
        Fixture { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn intent(&self, tool: &str, risk: &str) -> String {
        let name = format!("intent_{tool}_{risk}.json");
        fs::write(
            self.path().join(&name),
            format!(
                r#"{{"tool_name":"{tool}","args":{{}},"context":{{"identity":"u","workspace":"/w","risk_class":"{risk}"}}}}"#
            ),
        )
        .unwrap();
        name
    }

    /// Runs `gate eval --json` with `extra` flags; returns exit code, output and the trace.
    fn eval(&self, policy: &str, intent: &str, extra: &[&str]) -> (i32, Value, Value) {
        let _ = fs::remove_file(self.path().join("trace.json"));
        let out = Command::cargo_bin("gait-gate")
            .unwrap()
            .current_dir(self.path())
            .env("GAIT_TRUST_DIR", self.path().join("trust"))
            .args([
                "gate",
                "eval",
                "--policy",
                policy,
                "--intent",
                intent,
                "--trace-out",
                "trace.json",
                "--no-config",
                "--json",
            ])
            .args(extra)
            .output()
            .unwrap();
        let code = out
            .status
            .code()
            .expect("the gate exits normally (no signal, no abort)");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let trace = fs::read(self.path().join("trace.json"))
            .map(|b| serde_json::from_slice(&b).unwrap())
            .unwrap_or(Value::Null);
        (code, v, trace)
    }

    fn trust_flag(&self) -> [String; 2] {
        [
            "--check-plugin-trust-key".into(),
            self.path().join("trusted.pub").display().to_string(),
        ]
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn assert_failed(code: i32, v: &Value, trace: &Value, kind: &str) {
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["verdict"], "block", "{v}");
    assert!(
        strings(&v["reason_codes"]).contains(&"check_plugin_failed".to_string()),
        "{v}"
    );
    assert_eq!(v["check_plugins"][0]["status"], "failed", "{v}");
    assert_eq!(v["check_plugins"][0]["error_kind"], kind, "{v}");
    assert!(!v["check_plugin_error"].as_str().unwrap_or("").is_empty());
    assert_eq!(trace["verdict"], "block");
    let violations = strings(&trace["violations"]);
    assert!(violations.contains(&"check_plugin_failed".to_string()));
    assert!(violations.contains(&format!("check_plugin_failed:{kind}")));
}

#[test]
fn trusted_signed_check_tightens_the_verdict() {
    if !have_minisign() {
        return;
    }
    let f = Fixture::new();
    let trust = f.trust_flag();
    let mut flags = vec!["--check-plugin", "libcheck.so"];
    flags.extend(trust.iter().map(String::as_str));

    // Without the check the policy allows everything.
    let pay = f.intent("payments.refund", "low");
    let (code, v, _) = f.eval("allow.yaml", &pay, &[]);
    assert_eq!((code, v["verdict"].as_str()), (0, Some("allow")));
    assert!(v.get("check_plugins").is_none());

    let (code, v, trace) = f.eval("allow.yaml", &pay, &flags);
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["verdict"], "block");
    assert!(strings(&v["reason_codes"]).contains(&"check_plugin:payments_tool_blocked".into()));
    let p = &v["check_plugins"][0];
    assert_eq!(p["status"], "ok");
    assert_eq!(p["verdict"], "block");
    // Key ids are upper-case hex as minisign prints them (no zero padding).
    assert!(p["key_id"]
        .as_str()
        .unwrap()
        .chars()
        .all(|c| c.is_ascii_hexdigit()));
    assert_eq!(p["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(trace["verdict"], "block");
    assert!(strings(&trace["violations"]).contains(&"check_plugin:payments_tool_blocked".into()));

    // High risk: the check asks for approval (exit 4, no token given).
    let high = f.intent("tool.write", "high");
    let (code, v, _) = f.eval("allow.yaml", &high, &flags);
    assert_eq!(code, 4, "{v}");
    assert_eq!(v["verdict"], "require_approval");
    assert!(
        strings(&v["reason_codes"]).contains(&"check_plugin:high_risk_requires_approval".into())
    );

    // No objection: the policy's allow stands, and the check's code is recorded.
    let read = f.intent("tool.read", "low");
    let (code, v, trace) = f.eval("allow.yaml", &read, &flags);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verdict"], "allow");
    assert!(strings(&trace["violations"]).contains(&"check_plugin:no_objection".into()));

    // A check can never loosen: the policy blocks, the check allows, the verdict is block.
    let (code, v, _) = f.eval("block.yaml", &read, &flags);
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["verdict"], "block");
    assert_eq!(v["check_plugins"][0]["verdict"], "allow");
}

#[test]
fn keys_in_the_trust_store_are_trusted() {
    if !have_minisign() {
        return;
    }
    let f = Fixture::new();
    let pay = f.intent("payments.refund", "low");
    // Not trusted yet.
    let (code, v, trace) = f.eval("allow.yaml", &pay, &["--check-plugin", "libcheck.so"]);
    assert_failed(code, &v, &trace, "untrusted_key");
    // `$GAIT_TRUST_DIR/keys/<KEYID>.pub`.
    let id = fs::read_to_string(f.path().join("trusted.pub"))
        .unwrap()
        .lines()
        .next()
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .to_string();
    fs::create_dir_all(f.path().join("trust/keys")).unwrap();
    fs::copy(
        f.path().join("trusted.pub"),
        f.path().join(format!("trust/keys/{id}.pub")),
    )
    .unwrap();
    let (code, v, _) = f.eval("allow.yaml", &pay, &["--check-plugin", "libcheck.so"]);
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["check_plugins"][0]["status"], "ok", "{v}");
    assert_eq!(v["check_plugins"][0]["key_id"], id.as_str());
}

#[test]
fn unsigned_tampered_and_untrusted_libraries_block() {
    if !have_minisign() {
        return;
    }
    let f = Fixture::new();
    let trust = f.trust_flag();
    let read = f.intent("tool.read", "low");
    let run = |lib: &str| {
        let mut flags = vec!["--check-plugin", lib];
        flags.extend(trust.iter().map(String::as_str));
        f.eval("allow.yaml", &read, &flags)
    };

    // Unsigned.
    fs::copy(
        f.path().join("libcheck.so"),
        f.path().join("libunsigned.so"),
    )
    .unwrap();
    let (code, v, trace) = run("libunsigned.so");
    assert_failed(code, &v, &trace, "unsigned");

    // Tampered: one byte flipped, old signature kept.
    let mut bytes = fs::read(f.path().join("libcheck.so")).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(f.path().join("libtampered.so"), bytes).unwrap();
    fs::copy(
        f.path().join("libcheck.so.minisig"),
        f.path().join("libtampered.so.minisig"),
    )
    .unwrap();
    let (code, v, trace) = run("libtampered.so");
    assert_failed(code, &v, &trace, "bad_signature");

    // Signed by a key nobody trusts.
    fs::copy(f.path().join("libcheck.so"), f.path().join("libother.so")).unwrap();
    sign(f.path(), "other", "libother.so");
    let (code, v, trace) = run("libother.so");
    assert_failed(code, &v, &trace, "untrusted_key");

    // A library that does not exist (so has no signature either).
    let (code, v, trace) = run("libmissing.so");
    assert_failed(code, &v, &trace, "unsigned");

    // One bad check among good ones still blocks.
    let mut flags = vec![
        "--check-plugin",
        "libcheck.so",
        "--check-plugin",
        "libother.so",
    ];
    flags.extend(trust.iter().map(String::as_str));
    let (code, v, _) = f.eval("allow.yaml", &read, &flags);
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["check_plugins"][0]["status"], "ok");
    assert_eq!(v["check_plugins"][1]["status"], "failed");
}

#[test]
fn a_panicking_check_blocks_and_the_gate_survives() {
    if !have_minisign() {
        return;
    }
    let f = Fixture::new();
    let trust = f.trust_flag();
    let mut flags = vec!["--check-plugin", "libcheck.so"];
    flags.extend(trust.iter().map(String::as_str));
    let intent = f.intent("test.panic", "low");
    let (code, v, trace) = f.eval("allow.yaml", &intent, &flags);
    assert_failed(code, &v, &trace, "panic");
    assert!(
        v["check_plugin_error"]
            .as_str()
            .unwrap()
            .contains("panic requested"),
        "{v}"
    );
}

#[test]
fn bad_check_flags_are_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("p.yaml"), ALLOW_ALL).unwrap();
    fs::write(
        dir.path().join("i.json"),
        r#"{"tool_name":"t","args":{},"context":{"identity":"u","workspace":"/w","risk_class":"low"}}"#,
    )
    .unwrap();
    for extra in [
        vec![
            "--check-plugin",
            "x.so",
            "--check-plugin-trust-key",
            "garbage",
        ],
        vec!["--check-plugin-trust-key", "RWQ="],
        vec!["--check-plugin", ""],
    ] {
        let out = Command::cargo_bin("gait-gate")
            .unwrap()
            .current_dir(dir.path())
            .env("GAIT_TRUST_DIR", dir.path().join("trust"))
            .args([
                "gate",
                "eval",
                "--policy",
                "p.yaml",
                "--intent",
                "i.json",
                "--no-config",
                "--json",
            ])
            .args(&extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(6), "{extra:?}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["error_code"], "invalid_input", "{v}");
        assert!(v["error"].as_str().unwrap().contains("check-plugin"), "{v}");
        assert!(!v["hint"].as_str().unwrap_or("").is_empty(), "{v}");
        assert!(!dir.path().join("trace.json").exists());
    }
}
