//! The child-process wrappers `gait trace|test|enforce -- <argv…>` and `gait trace verify`.
//!
//! A wrapper runs one child command in its own process group with `GAIT_WRAPPER_MODE` set,
//! captures (does not echo) its output, and looks in that output for the explicit trace
//! references an integration prints (`trace_path=<file>`, `runpack_path=<file>`). The traces
//! are validated and counted by verdict; `enforce` also turns the verdicts into an exit code.
//! Wrappers never intercept anything themselves: a child that does not report a trace is an
//! error, because the gate must be wired in explicitly.

use crate::error::GateError;
use gait_sdk::error::{exit, Category};
use gait_sdk::signing::{self, KeySource, Signature};
use gait_sdk::time::{format_go_duration, parse_go_duration};
use serde_json::{json, Map, Value};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Most bytes kept of each of the child's stdout and stderr; the rest is read and dropped
/// (so the child never blocks on a full pipe) and a warning says so.
pub const MAX_CAPTURE_BYTES: usize = 4 * 1024 * 1024;
/// Time between SIGTERM and SIGKILL to the child's process group on timeout.
pub const KILL_GRACE: Duration = Duration::from_secs(2);
/// Default `--timeout`.
pub const DEFAULT_TIMEOUT: &str = "30s";
/// Largest trace file read.
pub const MAX_TRACE_BYTES: u64 = gait_sdk::fsutil::MAX_INPUT_BYTES;

/// Also the order of `verdict_counts`.
pub use gait_sdk::gate_trace::VERDICTS;
pub const BOUNDARY_CONTRACT: &str = "explicit_trace_reference";
pub const MISSING_TRACE_MESSAGE: &str = "child command did not emit a Gait trace reference; wrappers require an explicit Gait interception seam";

/// Which wrapper runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Trace,
    Test,
    Enforce,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Trace => "trace",
            Mode::Test => "test",
            Mode::Enforce => "enforce",
        }
    }
}

/// Parsed wrapper flags.
#[derive(Debug, Clone)]
pub struct WrapperArgs {
    pub mode: Mode,
    pub cwd: String,
    pub timeout: String,
    pub child: Vec<String>,
}

// ------------------------------------------------------------------ trace validation (§2.4)

/// Checks a decoded trace record against the gate trace contract and returns its verdict.
pub fn validate_trace_record(v: &Value) -> Result<String, String> {
    use gait_sdk::gate_trace::{check, TraceProblem};
    let Value::Object(m) = v else {
        return Err("trace is not a JSON object".into());
    };
    check(|k| m.get(k).and_then(Value::as_str).map(str::to_owned)).map_err(|p| match p {
        TraceProblem::SchemaId(got) => format!("schema_id must be gait.gate.trace (got {got:?})"),
        TraceProblem::Missing(k) => format!("{k} is required"),
        TraceProblem::BadDigest(k) => format!("{k} must be 64 lowercase hex characters"),
        TraceProblem::Verdict(got) => {
            format!("verdict must be one of allow, block, dry_run, require_approval (got {got:?})")
        }
    })
}

/// Reads and validates a trace file; errors are prefixed with the path.
pub fn read_trace(path: &str) -> Result<(Value, String), String> {
    let bytes = gait_sdk::fsutil::read_capped(Path::new(path), MAX_TRACE_BYTES)
        .map_err(|e| format!("{path}: {e}"))?;
    let v: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{path}: parse trace json: {e}"))?;
    let verdict = validate_trace_record(&v).map_err(|e| format!("{path}: {e}"))?;
    Ok((v, verdict))
}

// ------------------------------------------------------------------ output scanning

/// Longest output line examined for a trace reference; longer lines are skipped.
pub const MAX_REFERENCE_LINE: usize = 64 * 1024;
/// Most reference lines kept from one stream.
pub const MAX_REFERENCE_LINES: usize = 10_000;

fn is_reference(line: &str) -> bool {
    let t = line.trim();
    t.starts_with("trace_path=") || t.starts_with("runpack_path=")
}

/// `trace_path=` and `runpack_path=` values in output lines: trimmed, unique, sorted.
pub fn references_in<'a>(lines: impl Iterator<Item = &'a str>) -> (Vec<String>, Vec<String>) {
    let mut traces = Vec::new();
    let mut runpacks = Vec::new();
    for line in lines {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("trace_path=") {
            traces.push(v.trim().to_string());
        } else if let Some(v) = t.strip_prefix("runpack_path=") {
            runpacks.push(v.trim().to_string());
        }
    }
    for v in [&mut traces, &mut runpacks] {
        v.retain(|s| !s.is_empty());
        v.sort();
        v.dedup();
    }
    (traces, runpacks)
}

/// [`references_in`] over the lines of the captured stdout and stderr.
pub fn references(stdout: &str, stderr: &str) -> (Vec<String>, Vec<String>) {
    references_in(stdout.lines().chain(stderr.lines()))
}

/// One captured stream.
#[derive(Debug, Default)]
struct Captured {
    kept: Vec<u8>,
    truncated: bool,
    error: Option<String>,
    /// Reference lines seen anywhere in the stream, including past the capture cap, so a
    /// chatty child's trace reference is not lost with the dropped output.
    reference_lines: Vec<String>,
}

/// Reads a pipe to its end, keeping at most [`MAX_CAPTURE_BYTES`].
fn drain(mut r: impl Read) -> Captured {
    let mut c = Captured::default();
    let mut line: Vec<u8> = Vec::new();
    let mut overlong = false;
    let mut buf = [0u8; 64 * 1024];
    let take_line = |line: &mut Vec<u8>, overlong: &mut bool, refs: &mut Vec<String>| {
        if !*overlong && refs.len() < MAX_REFERENCE_LINES {
            let text = String::from_utf8_lossy(line);
            if is_reference(&text) {
                refs.push(text.into_owned());
            }
        }
        line.clear();
        *overlong = false;
    };
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let room = MAX_CAPTURE_BYTES - c.kept.len();
                if n > room {
                    c.truncated = true;
                }
                c.kept.extend_from_slice(&buf[..n.min(room)]);
                for &b in &buf[..n] {
                    if b == b'\n' {
                        take_line(&mut line, &mut overlong, &mut c.reference_lines);
                    } else if line.len() < MAX_REFERENCE_LINE {
                        line.push(b);
                    } else {
                        overlong = true;
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                c.error = Some(e.to_string());
                break;
            }
        }
    }
    take_line(&mut line, &mut overlong, &mut c.reference_lines);
    c
}

// ------------------------------------------------------------------ process groups

#[cfg(unix)]
fn signal_group(pgid: u32, kill: bool) {
    use rustix::process::{kill_process_group, Pid, Signal};
    if let Some(pid) = i32::try_from(pgid).ok().and_then(Pid::from_raw) {
        let sig = if kill { Signal::KILL } else { Signal::TERM };
        // ESRCH (the group is already gone) is the expected race here.
        let _ = kill_process_group(pid, sig);
    }
}

#[cfg(not(unix))]
fn signal_group(_pgid: u32, _kill: bool) {}

// ------------------------------------------------------------------ running

/// How the child ended.
#[derive(Debug, Clone, Default)]
pub struct ChildRun {
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub start_error: Option<String>,
    pub wait_error: Option<String>,
    pub stdout: String,
    pub stderr: String,
    /// Reference lines of stdout then stderr (see [`Captured::reference_lines`]).
    pub reference_lines: Vec<String>,
    pub warnings: Vec<String>,
    pub duration_ms: u64,
}

/// Runs `argv` in `cwd` in a new process group, with output captured and a deadline.
pub fn run_child(mode: Mode, cwd: &str, argv: &[String], timeout: Duration) -> ChildRun {
    let started = Instant::now();
    let mut run = ChildRun::default();
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(cwd)
        .env("GAIT_WRAPPER_MODE", mode.name())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        // Own process group, so a timeout reaches everything the child started.
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            run.start_error = Some(format!(
                "start child command {:?}: {}",
                argv[0],
                gait_sdk::fsutil::go_io_reason(&e)
            ));
            run.duration_ms = started.elapsed().as_millis() as u64;
            return run;
        }
    };
    let pgid = child.id();
    let (otx, orx) = mpsc::channel();
    let (etx, erx) = mpsc::channel();
    let out_pipe = child.stdout.take();
    let err_pipe = child.stderr.take();
    if let Some(p) = out_pipe {
        thread::spawn(move || {
            let _ = otx.send(drain(p));
        });
    }
    if let Some(p) = err_pipe {
        thread::spawn(move || {
            let _ = etx.send(drain(p));
        });
    }
    let (wtx, wrx) = mpsc::channel();
    thread::spawn(move || {
        let _ = wtx.send(child.wait());
    });
    let deadline = started + timeout;
    let status = match wrx.recv_timeout(timeout) {
        Ok(s) => Some(s),
        Err(_) => {
            run.timed_out = true;
            signal_group(pgid, false);
            match wrx.recv_timeout(KILL_GRACE) {
                Ok(s) => Some(s),
                Err(_) => {
                    signal_group(pgid, true);
                    wrx.recv().ok()
                }
            }
        }
    };
    match status {
        Some(Ok(st)) => run.exit_code = Some(st.code().unwrap_or(-1)),
        Some(Err(e)) => run.wait_error = Some(format!("wait for child command: {e}")),
        None => run.wait_error = Some("wait for child command: waiter stopped".into()),
    }
    // The child has exited, but something it started may still hold the pipes open. Wait for
    // end-of-file until the deadline, then kill the group (which closes them) and take what
    // was read.
    let mut collect = |rx: mpsc::Receiver<Captured>, which: &str| {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(50));
        let got = rx.recv_timeout(left).or_else(|_| {
            signal_group(pgid, true);
            rx.recv_timeout(KILL_GRACE)
        });
        match got {
            Ok(c) => {
                if c.truncated {
                    run.warnings.push(format!(
                        "{which} truncated: kept the first {MAX_CAPTURE_BYTES} bytes"
                    ));
                }
                if let Some(e) = c.error {
                    run.wait_error
                        .get_or_insert_with(|| format!("read child {which}: {e}"));
                }
                run.reference_lines.extend(c.reference_lines);
                String::from_utf8_lossy(&c.kept).into_owned()
            }
            Err(_) => {
                run.warnings.push(format!(
                    "{which} not fully captured: a process of the child kept it open"
                ));
                String::new()
            }
        }
    };
    let stdout = collect(orx, "stdout");
    let stderr = collect(erx, "stderr");
    run.stdout = stdout;
    run.stderr = stderr;
    run.duration_ms = started.elapsed().as_millis() as u64;
    run
}

/// The wrapper's result: JSON members, human text, exit code, and the error (if any) that
/// the command layer turns into the JSON error envelope.
#[derive(Debug, Clone)]
pub struct WrapperReport {
    pub json: Map<String, Value>,
    pub text: String,
    pub exit: i32,
    pub error: Option<(Category, String)>,
}

/// Parses `--timeout`: a Go duration greater than zero.
pub fn parse_timeout(s: &str) -> Result<Duration, GateError> {
    let s = if s.trim().is_empty() {
        DEFAULT_TIMEOUT
    } else {
        s.trim()
    };
    let nanos = parse_go_duration(s)
        .map_err(|e| GateError::invalid(format!("invalid --timeout {s:?}: {e}")))?;
    if nanos <= 0 {
        return Err(GateError::invalid(format!(
            "invalid --timeout {s:?}: must be greater than 0"
        )));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// `gait trace|test|enforce [--cwd .] [--timeout 30s] -- <argv…>`.
pub fn run_wrapper(a: &WrapperArgs) -> Result<WrapperReport, GateError> {
    if a.child.is_empty() || a.child[0].is_empty() {
        return Err(GateError::invalid("expected child command after --"));
    }
    let timeout = parse_timeout(&a.timeout)?;
    let cwd = if a.cwd.trim().is_empty() {
        "."
    } else {
        a.cwd.trim()
    };
    let run = run_child(a.mode, cwd, &a.child, timeout);
    let (trace_paths, runpack_paths) =
        references_in(run.reference_lines.iter().map(String::as_str));
    let mut warnings = run.warnings.clone();
    let mut counts = [0usize; 4];
    let mut invalid: Option<String> = None;
    for p in &trace_paths {
        match read_trace(p) {
            Ok((_, verdict)) => {
                if let Some(i) = VERDICTS.iter().position(|v| *v == verdict) {
                    counts[i] += 1;
                }
            }
            Err(e) => {
                warnings.push(format!("trace ignored: {e}"));
                invalid.get_or_insert(e);
            }
        }
    }
    let child_exit = run.exit_code.unwrap_or(0);
    let traces = counts.iter().sum::<usize>();
    let mode = a.mode.name();
    // Outcome: the first rule that applies.
    let (exit_code, failure, error): (i32, &str, Option<(Category, String)>) = if run.timed_out {
        (
            exit::INTERNAL,
            "child_timed_out",
            Some((
                Category::Internal,
                format!(
                    "child command timed out after {}",
                    format_go_duration(timeout.as_nanos() as i128)
                ),
            )),
        )
    } else if let Some(e) = &run.start_error {
        (
            exit::INTERNAL,
            "child_start_failed",
            Some((Category::Internal, e.clone())),
        )
    } else if run.wait_error.is_some() && child_exit == 0 {
        let e = run.wait_error.clone().unwrap_or_default();
        (
            exit::INTERNAL,
            "child_wait_failed",
            Some((Category::Internal, e)),
        )
    } else if trace_paths.is_empty() {
        (
            exit::INVALID_INPUT,
            "missing_trace_reference",
            Some((Category::InvalidInput, MISSING_TRACE_MESSAGE.to_string())),
        )
    } else if a.mode == Mode::Enforce && invalid.is_some() {
        (
            exit::POLICY_BLOCKED,
            "invalid_trace_artifact",
            Some((
                Category::PolicyBlocked,
                format!(
                    "enforce requires valid trace artifacts: {}",
                    invalid.clone().unwrap_or_default()
                ),
            )),
        )
    } else if child_exit != 0 {
        // A child killed by a signal has no exit code (recorded as -1); report 1.
        (
            if child_exit < 0 {
                exit::INTERNAL
            } else {
                child_exit
            },
            "",
            None,
        )
    } else if a.mode == Mode::Enforce && (counts[1] > 0 || counts[2] > 0) {
        (exit::POLICY_BLOCKED, "", None)
    } else if a.mode == Mode::Enforce && counts[3] > 0 {
        (exit::APPROVAL_REQUIRED, "", None)
    } else {
        (exit::OK, "", None)
    };

    let mut m = Map::new();
    m.insert("ok".into(), json!(exit_code == 0));
    m.insert("mode".into(), json!(mode));
    m.insert("command".into(), json!(a.child));
    m.insert("cwd".into(), json!(cwd));
    m.insert("boundary_contract".into(), json!(BOUNDARY_CONTRACT));
    m.insert("trace_reference_required".into(), json!(true));
    if !failure.is_empty() {
        m.insert("failure_reason".into(), json!(failure));
    }
    if let Some(c) = run.exit_code.filter(|c| *c != 0) {
        m.insert("child_exit_code".into(), json!(c));
    }
    if run.timed_out {
        m.insert("timed_out".into(), json!(true));
    }
    if run.duration_ms > 0 {
        m.insert("duration_ms".into(), json!(run.duration_ms));
    }
    let vc: Vec<Value> = VERDICTS
        .iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .map(|(v, n)| json!({"verdict": v, "count": n}))
        .collect();
    if !vc.is_empty() {
        m.insert("verdict_counts".into(), Value::Array(vc));
    }
    if !trace_paths.is_empty() {
        m.insert("trace_paths".into(), json!(trace_paths));
    }
    if !runpack_paths.is_empty() {
        m.insert("runpack_paths".into(), json!(runpack_paths));
    }
    if !run.stdout.is_empty() {
        m.insert("stdout".into(), json!(run.stdout));
    }
    if !run.stderr.is_empty() {
        m.insert("stderr".into(), json!(run.stderr));
    }
    if !warnings.is_empty() {
        m.insert("warnings".into(), json!(warnings));
    }
    let mut text = if let Some((_, e)) = &error {
        format!("{mode} error: {e}\n")
    } else if exit_code == 0 {
        format!("{mode} ok: child_exit={child_exit} traces={traces}\n")
    } else {
        format!("{mode} finished: child_exit={child_exit} traces={traces}\n")
    };
    for w in &warnings {
        text.push_str(&format!("warning: {w}\n"));
    }
    Ok(WrapperReport {
        json: m,
        text,
        exit: exit_code,
        error,
    })
}

// ------------------------------------------------------------------ trace verify

/// Why `trace verify` failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOutcome {
    pub json: Map<String, Value>,
    pub text: String,
    /// `Some(message)` when the signature did not verify (exit 2).
    pub failure: Option<String>,
}

/// `gait trace verify <trace.json>`: validate the record, then check its Ed25519 signature.
pub fn verify_trace(path: &str, public: &KeySource) -> Result<VerifyOutcome, GateError> {
    let path = path.trim();
    if path.is_empty() {
        return Err(GateError::invalid("expected <trace.json>"));
    }
    if !public.is_set() {
        return Err(GateError::invalid(
            "a verify key is required: --public-key <path> or --public-key-env <VAR>",
        ));
    }
    let key = public.load_public()?.expect("source is set");
    let (mut record, verdict) =
        read_trace(path).map_err(|e| GateError::invalid(format!("invalid trace: {e}")))?;
    let trace_id = record["trace_id"].as_str().unwrap_or("").to_string();
    let sig_value = record.as_object_mut().and_then(|m| m.remove("signature"));
    let mut m = Map::new();
    m.insert("path".into(), json!(path));
    m.insert("trace_id".into(), json!(trace_id));
    m.insert("verdict".into(), json!(verdict));
    let failure = match sig_value {
        None | Some(Value::Null) => Some("trace has no signature".to_string()),
        Some(v) => match serde_json::from_value::<Signature>(v) {
            Err(e) => Some(format!("decode signature: {e}")),
            Ok(sig) => {
                m.insert("key_id".into(), json!(sig.key_id));
                match signing::verify_value(&record, &sig, &key) {
                    Ok(()) => None,
                    Err(e) => Some(format!("signature verification failed: {e}")),
                }
            }
        },
    };
    m.insert(
        "signature_status".into(),
        json!(if failure.is_none() {
            "verified"
        } else {
            "failed"
        }),
    );
    let text = match &failure {
        None => format!("trace verify ok: trace_id={trace_id} verdict={verdict}\n"),
        Some(e) => format!("trace verify failed: {e}\n"),
    };
    Ok(VerifyOutcome {
        json: m,
        text,
        failure,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Value {
        json!({
            "schema_id": "gait.gate.trace", "schema_version": "1.0.0",
            "created_at": "2026-01-01T00:00:00Z", "producer_version": "x",
            "trace_id": "t", "tool_name": "tool.x",
            "args_digest": "a".repeat(64), "intent_digest": "b".repeat(64),
            "policy_digest": "0".repeat(64), "verdict": "block",
        })
    }

    #[test]
    fn trace_records_are_validated() {
        assert_eq!(validate_trace_record(&good()).unwrap(), "block");
        let mut v = good();
        v["args_digest"] = json!("A".repeat(64));
        assert!(validate_trace_record(&v)
            .unwrap_err()
            .contains("args_digest"));
        let mut v = good();
        v["verdict"] = json!("maybe");
        assert!(validate_trace_record(&v).is_err());
        let mut v = good();
        v["schema_id"] = json!("gait.other");
        assert!(validate_trace_record(&v).is_err());
        let mut v = good();
        v.as_object_mut().unwrap().remove("tool_name");
        assert_eq!(
            validate_trace_record(&v).unwrap_err(),
            "tool_name is required"
        );
        assert!(validate_trace_record(&json!([1])).is_err());
    }

    #[test]
    fn references_are_trimmed_unique_sorted() {
        let (t, r) = references(
            "  trace_path= b.json \ntrace_path=a.json\nnoise trace_path=x\n",
            "trace_path=a.json\nrunpack_path=r.zip\ntrace_path=\n",
        );
        assert_eq!(t, vec!["a.json", "b.json"]);
        assert_eq!(r, vec!["r.zip"]);
    }

    #[test]
    fn drain_finds_references_past_the_cap() {
        let mut data = vec![b'a'; MAX_CAPTURE_BYTES + 10];
        data.extend_from_slice(b"\n  trace_path=late.json\nrunpack_path=r.zip");
        let c = drain(&data[..]);
        assert!(c.truncated);
        assert_eq!(c.kept.len(), MAX_CAPTURE_BYTES);
        assert_eq!(
            c.reference_lines,
            vec![
                "  trace_path=late.json".to_string(),
                "runpack_path=r.zip".to_string()
            ]
        );
        // An overlong line is not a reference even if it starts like one.
        let mut long = b"trace_path=".to_vec();
        long.extend(vec![b'x'; MAX_REFERENCE_LINE]);
        assert!(drain(&long[..]).reference_lines.is_empty());
    }

    #[test]
    fn timeouts_must_be_positive_go_durations() {
        assert_eq!(parse_timeout("").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_timeout("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("-1s").is_err());
        assert!(parse_timeout("10").is_err());
    }
}
