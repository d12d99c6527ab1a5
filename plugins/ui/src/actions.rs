//! The fixed action allowlist behind `POST /api/exec`, and running the `gait` launcher.
//!
//! A request names an action id and a few arguments; each id maps to one fixed argv, and
//! each argument must be one of a fixed set of values (or, for `verify`, a path the server
//! itself listed). Nothing from the request is ever passed through a shell or appended as
//! free text, so the UI can only run what this table allows.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an action may run (spec §6: two minutes).
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(120);
/// Each of a child's stdout and stderr is kept up to this size; the rest is drained unread.
pub const OUTPUT_CAP: usize = 4 << 20;

/// The §6 action ids, then this UI's additions.
pub const ACTIONS: &[&str] = &[
    "demo",
    "verify_demo",
    "receipt_demo",
    "regress_init",
    "regress_run",
    "policy_block_test",
    "demo_durable",
    "verify",
];

pub const POLICY_PATHS: &[&str] = &[
    "examples/policy/base_high_risk.yaml",
    "examples/policy/base_medium_risk.yaml",
    "examples/policy/base_low_risk.yaml",
];
pub const INTENT_PATHS: &[&str] = &[
    "examples/policy/intents/intent_delete.json",
    "examples/policy/intents/intent_read.json",
    "examples/policy/intents/intent_write.json",
    "examples/policy/intents/intent_tainted_egress.json",
    "examples/policy/intents/intent_delegated_egress_valid.json",
    "examples/policy/intents/intent_delegated_egress_invalid.json",
];
pub const DEFAULT_RUN_ID: &str = "run_demo";

/// What kind of artifact a listed path is, which decides how it is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    Runpack,
    Pack,
}

impl ArtifactKind {
    /// The launcher argv (after `gait`) that verifies `path`.
    pub fn verify_args(self, path: &str) -> Vec<String> {
        let mut v: Vec<String> = match self {
            ArtifactKind::Runpack => vec!["verify".into()],
            ArtifactKind::Pack => vec!["pack".into(), "verify".into()],
        };
        v.push(path.to_string());
        v.push("--json".into());
        v
    }
}

/// A request the allowlist accepted: the normalised id and the launcher argv after `gait`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub command: String,
    pub args: Vec<String>,
}

/// A request the allowlist refused (HTTP 400, `exit_code` 6).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct Refused {
    pub command: String,
    pub error: String,
}

/// The spec's `^[a-zA-Z0-9._:-]{1,120}$`, minus a leading `-`, which the child would read as
/// a flag (`--help`, `--config=…`).
fn valid_run_id(id: &str) -> bool {
    (1..=120).contains(&id.len())
        && !id.starts_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

fn owned(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Maps a request onto its fixed argv. `listed` answers whether a path is an artifact the
/// server lists right now, and of which kind.
pub fn plan(
    command: &str,
    args: &BTreeMap<String, String>,
    listed: &dyn Fn(&str) -> Option<ArtifactKind>,
) -> Result<Plan, Refused> {
    let id = command.trim().to_ascii_lowercase();
    let refuse = |error: String| Refused {
        command: id.clone(),
        error,
    };
    let arg = |k: &str| args.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let argv = match id.as_str() {
        "demo" => owned(&["demo", "--json"]),
        "demo_durable" => owned(&["demo", "--durable", "--json"]),
        "verify_demo" => owned(&["verify", DEFAULT_RUN_ID, "--json"]),
        "receipt_demo" => owned(&["run", "receipt", "--from", DEFAULT_RUN_ID, "--json"]),
        "regress_init" => {
            let run_id = arg("run_id").unwrap_or(DEFAULT_RUN_ID);
            if !valid_run_id(run_id) {
                return Err(refuse(format!("invalid run_id {run_id:?}")));
            }
            owned(&["regress", "init", "--from", run_id, "--json"])
        }
        "regress_run" => owned(&[
            "regress",
            "run",
            "--json",
            "--junit",
            "./gait-out/junit.xml",
        ]),
        "policy_block_test" => {
            let policy = arg("policy_path")
                .map(|p| p.replace('\\', "/"))
                .unwrap_or_else(|| POLICY_PATHS[0].to_string());
            if !POLICY_PATHS.contains(&policy.as_str()) {
                return Err(refuse(format!("unsupported policy_path {policy:?}")));
            }
            let intent = arg("intent_path")
                .map(|p| p.replace('\\', "/"))
                .unwrap_or_else(|| INTENT_PATHS[0].to_string());
            if !INTENT_PATHS.contains(&intent.as_str()) {
                return Err(refuse(format!("unsupported intent_path {intent:?}")));
            }
            vec![
                "policy".into(),
                "test".into(),
                policy,
                intent,
                "--json".into(),
            ]
        }
        "verify" => {
            let path = arg("path").unwrap_or("");
            match listed(path) {
                Some(kind) => kind.verify_args(path),
                None => return Err(refuse(format!("unsupported path {path:?}"))),
            }
        }
        _ => return Err(refuse(format!("unsupported command {command:?}"))),
    };
    Ok(Plan {
        command: id,
        args: argv,
    })
}

/// The `gait` launcher to run actions with: `GAIT_LAUNCHER` (set when the launcher started
/// this plugin), else the `gait` beside this binary; always absolute.
pub fn find_launcher() -> Option<PathBuf> {
    std::path::absolute(gait_sdk::manifest::launcher()?).ok()
}

/// A finished (or timed-out) child.
#[derive(Debug, Clone, Default)]
pub struct Finished {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Exit code; `None` when killed by a signal or the timeout.
    pub code: Option<i32>,
    pub timed_out: bool,
    pub duration: Duration,
}

/// How long to wait for a child's pipes to close after it exited: a grandchild that kept
/// them open must not hold the HTTP reply.
const PIPE_GRACE: Duration = Duration::from_secs(2);

type Sink = Arc<Mutex<Vec<u8>>>;

fn drain(mut r: impl Read + Send + 'static, sink: Sink, done: mpsc::Sender<()>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let mut kept = sink.lock().unwrap_or_else(|p| p.into_inner());
                    let room = OUTPUT_CAP.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        let _ = done.send(());
    });
}

/// Runs `program args…` in `cwd` with the inherited environment, no stdin, and a deadline;
/// a child still running at the deadline is killed.
pub fn run(program: &Path, args: &[String], cwd: &Path, timeout: Duration) -> io::Result<Finished> {
    let start = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let (tx, rx) = mpsc::channel();
    let out: Sink = Arc::default();
    let err: Sink = Arc::default();
    let mut pipes = 0;
    if let Some(s) = child.stdout.take() {
        drain(s, out.clone(), tx.clone());
        pipes += 1;
    }
    if let Some(s) = child.stderr.take() {
        drain(s, err.clone(), tx.clone());
        pipes += 1;
    }
    drop(tx);
    let mut pause = Duration::from_micros(500);
    let (status, timed_out) = loop {
        if let Some(st) = child.try_wait()? {
            break (Some(st), false);
        }
        if start.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            break (None, true);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    let grace = Instant::now() + PIPE_GRACE;
    for _ in 0..pipes {
        let left = grace.saturating_duration_since(Instant::now());
        if rx.recv_timeout(left).is_err() {
            break;
        }
    }
    let take = |s: &Sink| std::mem::take(&mut *s.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(Finished {
        stdout: take(&out),
        stderr: take(&err),
        code: status.and_then(|s| s.code()),
        timed_out,
        duration: start.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_list(_: &str) -> Option<ArtifactKind> {
        None
    }
    fn args(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
    fn argv(p: &Plan) -> String {
        p.args.join(" ")
    }

    #[test]
    fn the_six_fixed_actions() {
        let e = BTreeMap::new();
        let cases = [
            ("demo", "demo --json"),
            ("DEMO", "demo --json"),
            (" Verify_Demo ", "verify run_demo --json"),
            ("receipt_demo", "run receipt --from run_demo --json"),
            ("regress_init", "regress init --from run_demo --json"),
            ("regress_run", "regress run --json --junit ./gait-out/junit.xml"),
            (
                "policy_block_test",
                "policy test examples/policy/base_high_risk.yaml examples/policy/intents/intent_delete.json --json",
            ),
            ("demo_durable", "demo --durable --json"),
        ];
        for (id, want) in cases {
            let p = plan(id, &e, &no_list).unwrap();
            assert_eq!(argv(&p), want, "{id}");
            assert_eq!(p.command, id.trim().to_ascii_lowercase());
        }
    }

    #[test]
    fn unknown_commands_are_refused() {
        for id in ["rm", "", "demo;rm -rf /", "verify demo", "sh"] {
            let r = plan(id, &BTreeMap::new(), &no_list).unwrap_err();
            assert_eq!(r.error, format!("unsupported command {id:?}"));
        }
        let r = plan("rm", &BTreeMap::new(), &no_list).unwrap_err();
        assert_eq!(r.command, "rm");
        assert_eq!(r.error, "unsupported command \"rm\"");
    }

    #[test]
    fn arguments_come_from_fixed_sets() {
        let p = plan(
            "regress_init",
            &args(&[("run_id", "run_x:1.2-3")]),
            &no_list,
        )
        .unwrap();
        assert_eq!(argv(&p), "regress init --from run_x:1.2-3 --json");
        for bad in ["a b", "../x", "--help", "x;y", &"a".repeat(121)] {
            let r = plan("regress_init", &args(&[("run_id", bad)]), &no_list).unwrap_err();
            assert_eq!(r.error, format!("invalid run_id {bad:?}"));
        }
        let p = plan(
            "policy_block_test",
            &args(&[
                ("policy_path", "examples\\policy\\base_low_risk.yaml"),
                ("intent_path", "examples/policy/intents/intent_read.json"),
            ]),
            &no_list,
        )
        .unwrap();
        assert_eq!(p.args[2], "examples/policy/base_low_risk.yaml");
        let r = plan(
            "policy_block_test",
            &args(&[("policy_path", "/etc/passwd")]),
            &no_list,
        )
        .unwrap_err();
        assert_eq!(r.error, "unsupported policy_path \"/etc/passwd\"");
        let r = plan(
            "policy_block_test",
            &args(&[("intent_path", "x.json")]),
            &no_list,
        )
        .unwrap_err();
        assert_eq!(r.error, "unsupported intent_path \"x.json\"");
    }

    #[test]
    fn verify_takes_only_listed_paths() {
        let listed = |p: &str| match p {
            "gait-out/runpack_a.zip" => Some(ArtifactKind::Runpack),
            "gait-out/pack_b.zip" => Some(ArtifactKind::Pack),
            _ => None,
        };
        let p = plan(
            "verify",
            &args(&[("path", "gait-out/runpack_a.zip")]),
            &listed,
        )
        .unwrap();
        assert_eq!(argv(&p), "verify gait-out/runpack_a.zip --json");
        let p = plan("verify", &args(&[("path", "gait-out/pack_b.zip")]), &listed).unwrap();
        assert_eq!(argv(&p), "pack verify gait-out/pack_b.zip --json");
        for bad in ["", "/etc/passwd", "gait-out/../x.zip", "--help"] {
            let r = plan("verify", &args(&[("path", bad)]), &listed).unwrap_err();
            assert_eq!(r.error, format!("unsupported path {bad:?}"));
        }
    }

    #[test]
    fn run_captures_output_and_enforces_the_deadline() {
        let sh = Path::new("/bin/sh");
        if !sh.is_file() {
            return;
        }
        let dir = std::env::temp_dir();
        let f = run(
            sh,
            &["-c".into(), "echo hi; exit 3".into()],
            &dir,
            ACTION_TIMEOUT,
        )
        .unwrap();
        assert_eq!(f.stdout, b"hi\n");
        assert_eq!(f.code, Some(3));
        let f = run(
            sh,
            &["-c".into(), "exec sleep 5".into()],
            &dir,
            Duration::from_millis(100),
        )
        .unwrap();
        assert!(f.timed_out);
        assert_eq!(f.code, None);
        assert!(f.duration < Duration::from_secs(4));
    }
}
