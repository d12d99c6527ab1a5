//! Asking a plugin for its manifest (`gait-<name> --gait-manifest`).
//!
//! Plugins are arbitrary executables, so the probe is defensive: stdin is closed, stderr is
//! discarded, output is capped and the plugin is killed when it does not finish in time. A
//! plugin that hangs or floods must cost the launcher a bounded delay, never a hang.

use crate::config::ENV_LAUNCHER;
use gait_sdk::manifest::{PluginManifest, MANIFEST_FLAG, MANIFEST_SCHEMA_ID};
use std::io::{self, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Largest manifest output accepted.
pub const MANIFEST_OUTPUT_CAP: usize = 64 * 1024;

/// What probing a plugin revealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    Manifest(PluginManifest),
    /// The plugin ran but does not speak the manifest protocol (a plain script, a third-party
    /// tool): like cargo and git subcommands, it serves only the command named after it.
    NoManifest {
        reason: String,
    },
    /// The plugin cannot be used: it hung, flooded, crashed, could not be started, or claims
    /// the protocol but sent an invalid manifest.
    Broken {
        reason: String,
    },
}

/// Runs `path --gait-manifest` and classifies the answer.
pub fn probe(path: &Path, launcher: Option<&Path>, timeout: Duration) -> ProbeOutcome {
    match run_flag(path, MANIFEST_FLAG, launcher, timeout, MANIFEST_OUTPUT_CAP) {
        Ok((status, output)) => classify(status, &output),
        Err(RunFailure::Spawn(e)) => ProbeOutcome::Broken {
            reason: format!("cannot run: {e}"),
        },
        Err(RunFailure::Read(e)) => ProbeOutcome::Broken {
            reason: format!("reading manifest: {e}"),
        },
        Err(RunFailure::TooLarge) => ProbeOutcome::Broken {
            reason: format!("manifest output exceeds {MANIFEST_OUTPUT_CAP} bytes"),
        },
        Err(RunFailure::TimedOut) => timed_out(timeout),
    }
}

/// Why asking a plugin something failed.
#[derive(Debug)]
pub enum RunFailure {
    Spawn(io::Error),
    Read(io::Error),
    TooLarge,
    TimedOut,
}

/// Runs `path <flag>` with stdin closed and stderr discarded, and returns its exit status and
/// stdout, killing it when it overruns `timeout` or `cap` bytes.
pub fn run_flag(
    path: &Path,
    flag: &str,
    launcher: Option<&Path>,
    timeout: Duration,
    cap: usize,
) -> Result<(ExitStatus, Vec<u8>), RunFailure> {
    let deadline = Instant::now() + timeout;
    let mut child = spawn(path, flag, launcher).map_err(RunFailure::Spawn)?;
    let Some(mut stdout) = child.stdout.take() else {
        kill(&mut child);
        return Err(RunFailure::Read(io::Error::other("no stdout pipe")));
    };
    // The read happens on a helper thread so the deadline holds even when the plugin never
    // closes stdout. Should the plugin leave a grandchild holding the pipe, the thread stays
    // blocked, which is harmless: the launcher execs or exits shortly after.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let r = (&mut stdout).take(cap as u64 + 1).read_to_end(&mut buf);
        let _ = tx.send(r.map(|_| buf));
    });
    let remaining = deadline.saturating_duration_since(Instant::now());
    let output = match rx.recv_timeout(remaining) {
        Ok(Ok(buf)) => buf,
        Ok(Err(e)) => {
            kill(&mut child);
            return Err(RunFailure::Read(e));
        }
        Err(_) => {
            kill(&mut child);
            return Err(RunFailure::TimedOut);
        }
    };
    if output.len() > cap {
        kill(&mut child);
        return Err(RunFailure::TooLarge);
    }
    match wait_until(&mut child, deadline) {
        Some(status) => Ok((status, output)),
        None => {
            kill(&mut child);
            Err(RunFailure::TimedOut)
        }
    }
}

fn spawn(path: &Path, flag: &str, launcher: Option<&Path>) -> io::Result<Child> {
    let mut cmd = Command::new(path);
    cmd.arg(flag)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(l) = launcher {
        cmd.env(ENV_LAUNCHER, l);
    }
    retry_text_busy(|| cmd.spawn())
}

/// ETXTBSY: the executable is still open for writing somewhere — typically a plugin being
/// installed right now, or a file descriptor briefly inherited by a concurrent fork. It
/// clears within milliseconds, so retry a few times before calling the plugin broken.
pub fn retry_text_busy<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    const ETXTBSY: i32 = 26;
    let mut delay = Duration::from_millis(2);
    for _ in 0..5 {
        match f() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) => {
                std::thread::sleep(delay);
                delay *= 2;
            }
            other => return other,
        }
    }
    f()
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn timed_out(timeout: Duration) -> ProbeOutcome {
    ProbeOutcome::Broken {
        reason: format!(
            "{MANIFEST_FLAG} did not finish within {} ms",
            timeout.as_millis()
        ),
    }
}

/// Waits for exit without blocking past `deadline`: stdout reaching EOF usually means the
/// process is exiting, but a hostile one can close stdout and keep running.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    let mut pause = Duration::from_micros(50);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => {}
            Err(_) => return None,
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// Classifies a finished probe by exit status and output.
pub fn classify(status: ExitStatus, output: &[u8]) -> ProbeOutcome {
    if let Some(sig) = status.signal() {
        return ProbeOutcome::Broken {
            reason: format!("{MANIFEST_FLAG} was killed by signal {sig}"),
        };
    }
    if !status.success() {
        return ProbeOutcome::NoManifest {
            reason: format!(
                "{MANIFEST_FLAG} exited with status {}",
                status.code().unwrap_or(-1)
            ),
        };
    }
    let Ok(text) = std::str::from_utf8(output) else {
        return no_manifest();
    };
    // Only output that claims to be a manifest is held to the manifest's rules; anything else
    // is a plugin that does not know the protocol.
    let claims_protocol = serde_json::from_str::<serde_json::Value>(text.trim())
        .ok()
        .is_some_and(|v| v.get("schema_id").and_then(|s| s.as_str()) == Some(MANIFEST_SCHEMA_ID));
    if !claims_protocol {
        return no_manifest();
    }
    match PluginManifest::parse(text) {
        // A manifest of another contract major is still a manifest: the registry marks the
        // plugin incompatible and names both versions.
        Ok(m) => ProbeOutcome::Manifest(m),
        Err(e) => ProbeOutcome::Broken {
            reason: format!("invalid manifest: {e}"),
        },
    }
}

fn no_manifest() -> ProbeOutcome {
    ProbeOutcome::NoManifest {
        reason: format!("{MANIFEST_FLAG} did not print a manifest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::tests::write_exec;

    fn exit(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    #[test]
    fn classification() {
        let m = PluginManifest::new("multi", "1.2.3", "", &[("alpha", "a")]);
        assert_eq!(
            classify(exit(0), m.to_json().as_bytes()),
            ProbeOutcome::Manifest(m.clone())
        );
        assert!(matches!(
            classify(exit(2), b"usage"),
            ProbeOutcome::NoManifest { .. }
        ));
        assert!(matches!(
            classify(exit(0), b"hello --gait-manifest\n"),
            ProbeOutcome::NoManifest { .. }
        ));
        assert!(matches!(
            classify(exit(0), b"{\"a\":1}"),
            ProbeOutcome::NoManifest { .. }
        ));
        assert!(matches!(
            classify(exit(0), b"\xff"),
            ProbeOutcome::NoManifest { .. }
        ));
        assert!(matches!(
            classify(ExitStatus::from_raw(9), b""),
            ProbeOutcome::Broken { .. }
        ));
        let mut bad = m.clone();
        bad.commands[0].name = "Bad Name".into();
        assert!(matches!(
            classify(exit(0), bad.to_json().as_bytes()),
            ProbeOutcome::Broken { .. }
        ));
        let mut future = m;
        future.contract_version = "2.0.0".into();
        assert!(matches!(
            classify(exit(0), future.to_json().as_bytes()),
            ProbeOutcome::Manifest(_)
        ));
    }

    #[test]
    fn hanging_and_flooding_plugins_are_bounded() {
        let d = tempfile::tempdir().unwrap();
        let hang = write_exec(d.path(), "gait-hang", "#!/bin/sh\nexec sleep 30\n");
        let start = Instant::now();
        let out = probe(&hang, None, Duration::from_millis(200));
        assert!(
            matches!(out, ProbeOutcome::Broken { ref reason } if reason.contains("200 ms")),
            "{out:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(5));

        let flood = write_exec(d.path(), "gait-flood", "#!/bin/sh\nexec yes\n");
        let out = probe(&flood, None, Duration::from_secs(5));
        assert!(
            matches!(out, ProbeOutcome::Broken { ref reason } if reason.contains("exceeds")),
            "{out:?}"
        );
    }

    #[test]
    fn real_plugin_answers() {
        let d = tempfile::tempdir().unwrap();
        let m = PluginManifest::new("ok", "0.1.0", "", &[("ok", "")]);
        let p = write_exec(
            d.path(),
            "gait-ok",
            &format!("#!/bin/sh\nprintf '%s\\n' '{}'\n", m.to_json()),
        );
        assert_eq!(
            probe(&p, None, Duration::from_secs(5)),
            ProbeOutcome::Manifest(m)
        );
        let missing = probe(&d.path().join("gait-missing"), None, Duration::from_secs(1));
        assert!(matches!(missing, ProbeOutcome::Broken { .. }));
    }
}
