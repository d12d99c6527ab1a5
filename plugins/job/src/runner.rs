//! `gait job run`: the job runtime the reference does not have. It submits the job (or resumes
//! it), takes the job's lease, runs the command as a child process, relays pause, stop and
//! cancel from other terminals to it (SIGTERM, then SIGKILL after `--grace`), renews the lease
//! with a heartbeat, and records start, exit status and duration as events.
//!
//! The lease lives in `state.json` (member `lease`, a gait-rs extension that the reference
//! ignores). A second `gait job run` on the same job is refused while the lease is live; once
//! it has expired (the first supervisor was killed, or the machine rebooted) the second takes
//! over and restarts the command with the last checkpoint in its environment. The lease id is
//! also a fencing token: the worker gets it as `GAIT_JOB_LEASE`, and its `gait job …`
//! mutations fail (exit 8) once another supervisor holds the job, so an orphaned worker of a
//! killed supervisor cannot write into a job that has moved on.

use crate::commands::{
    self, apply_resume, can_resume, new_job, resume_inputs, Ctx, ResumeArgs, SubmitArgs,
    ENV_JOB_ID, ENV_JOB_LEASE, ENV_JOB_ROOT, ENV_LAST_CHECKPOINT, ENV_LAST_CHECKPOINT_SUMMARY,
    ENV_LAST_CHECKPOINT_TYPE,
};
use gait_sdk::cli::CommandOutput;
use gait_sdk::error::exit;
use gait_sdk::job::{self, Change, JobError, JobState, Lease, Txn};
use gait_sdk::time::GoTime;
use serde_json::{json, Map, Value};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

type R<T> = Result<T, JobError>;

pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// Flags of `gait job run`.
#[derive(Debug, Clone, Default)]
pub struct RunArgs {
    /// Submit and resume flags (identity, policy, fingerprint, reason…).
    pub resume: ResumeArgs,
    pub grace: Duration,
    pub lease_ttl: Duration,
    pub command: Vec<String>,
}

fn lease_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("lease_{:016x}", h.finish())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

fn plus(t: GoTime, d: Duration) -> GoTime {
    t.add(jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX))
        .unwrap_or(t)
}

fn now() -> GoTime {
    GoTime::now_utc()
}

fn lease_live(l: &Lease, at: GoTime) -> bool {
    l.expires_at.timestamp() > at.timestamp()
}

/// Takes (or renews) the lock with retries: a supervisor must not give up its bookkeeping on a
/// moment of contention.
fn begin_patiently(job: &job::JobDir, create: bool, patience: Duration) -> R<Txn> {
    let started = Instant::now();
    loop {
        match Txn::begin(job, create) {
            Err(JobError::Contention) if started.elapsed() < patience => continue,
            other => return other,
        }
    }
}

/// How the supervisor got the job.
fn claim(ctx: &Ctx, a: &RunArgs, job: &job::JobDir) -> R<(JobState, Lease, &'static str)> {
    let inp = resume_inputs(&a.resume)?;
    let mut txn = Txn::begin(job, true)?;
    let at = ctx.now;
    let mode = match txn.state().cloned() {
        None => {
            let s = SubmitArgs {
                id: a.resume.id.clone(),
                actor: a.resume.actor.clone(),
                identity: a.resume.identity.clone(),
                env_fingerprint: a.resume.env_fingerprint.clone(),
                ..Default::default()
            };
            let (st, change) = new_job(job, &s, &inp.digest, &inp.reference, at);
            txn.commit(st, change, at)?;
            "submitted"
        }
        Some(st) => {
            if let Some(l) = &st.lease {
                if lease_live(l, now()) {
                    return Err(JobError::LeaseHeld(format!(
                        "job {} is already being run by {} (pid {}, lease {}, expires {})",
                        job.id,
                        l.holder,
                        l.pid,
                        l.lease_id,
                        l.expires_at.to_rfc3339()
                    )));
                }
            }
            if st.status == "running" {
                if st.lease.is_some() {
                    "taken_over"
                } else {
                    "attached"
                }
            } else if can_resume(&st.status) {
                let mut next = st.clone();
                let change = apply_resume(&mut next, &a.resume, &inp)?;
                txn.commit(next, change, at)?;
                "resumed"
            } else {
                return Err(JobError::invalid(format!(
                    "job {} is {}: there is nothing to run (only running, paused, decision_needed and blocked jobs can run)",
                    job.id, st.status
                )));
            }
        }
    };
    let st = txn.existing()?.clone();
    let previous_lease = st.lease.clone();
    let real_now = now();
    let lease = Lease {
        lease_id: lease_id(),
        holder: format!("{}:{}", hostname(), std::process::id()),
        pid: i64::from(std::process::id()),
        acquired_at: real_now,
        renewed_at: real_now,
        expires_at: plus(real_now, a.lease_ttl),
    };
    let mut next = st.clone();
    next.lease = Some(lease.clone());
    let mut p = Map::new();
    p.insert("lease_id".into(), json!(lease.lease_id));
    p.insert("holder".into(), json!(lease.holder));
    p.insert("command".into(), json!(a.command));
    p.insert("mode".into(), json!(mode));
    if let Some(prev) = previous_lease {
        p.insert("previous_lease_id".into(), json!(prev.lease_id));
    }
    if let Some(c) = st.last_checkpoint() {
        p.insert("last_checkpoint".into(), json!(c.checkpoint_id));
    }
    txn.commit(
        next,
        Change {
            event_type: "run_started".into(),
            actor: a.resume.actor.trim().to_string(),
            reason_code: "run_started".into(),
            payload: Some(p),
        },
        at,
    )?;
    Ok((txn.existing()?.clone(), lease, mode))
}

fn ours(st: &JobState, lease: &Lease) -> bool {
    st.lease
        .as_ref()
        .is_some_and(|l| l.lease_id == lease.lease_id)
}

#[cfg(unix)]
fn terminate(child: &Child) {
    use rustix::process::{kill_process, Pid, Signal};
    let _ = kill_process(Pid::from_child(child), Signal::TERM);
}

#[cfg(not(unix))]
fn terminate(child: &mut Child) {
    let _ = child.kill();
}

fn describe(status: &ExitStatus) -> (Option<i32>, Option<i32>) {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        (status.code(), status.signal())
    }
    #[cfg(not(unix))]
    {
        (status.code(), None)
    }
}

/// Why the supervisor asked the worker to stop.
struct Interrupt {
    status: String,
    at: Instant,
    killed: bool,
}

/// `gait job run --id <id> [flags] -- <command…>`.
pub fn run(ctx: &Ctx, a: &RunArgs) -> R<CommandOutput> {
    if a.command.is_empty() || a.command[0].trim().is_empty() {
        return Err(JobError::invalid(
            "a command to run is required after `--` (gait job run --id <id> -- <command…>)",
        ));
    }
    if a.resume.id.trim().is_empty() {
        return Err(JobError::invalid("job_id is required"));
    }
    if a.lease_ttl < Duration::from_millis(300) {
        return Err(JobError::invalid("--lease-ttl must be at least 300ms"));
    }
    let job = ctx.job(&a.resume.id)?;
    let (st, mut lease, mode) = claim(ctx, a, &job)?;
    let last = st.last_checkpoint().cloned();
    let started = Instant::now();
    let mut cmd = Command::new(&a.command[0]);
    cmd.args(&a.command[1..])
        .env(ENV_JOB_ID, &job.id)
        .env(ENV_JOB_ROOT, &job.root)
        .env(ENV_JOB_LEASE, &lease.lease_id)
        .env(
            ENV_LAST_CHECKPOINT,
            last.as_ref().map_or("", |c| c.checkpoint_id.as_str()),
        )
        .env(
            ENV_LAST_CHECKPOINT_TYPE,
            last.as_ref().map_or("", |c| c.checkpoint_type.as_str()),
        )
        .env(
            ENV_LAST_CHECKPOINT_SUMMARY,
            last.as_ref().map_or("", |c| c.summary.as_str()),
        );
    if let Some(g) = crate::policy::launcher() {
        cmd.env("GAIT_LAUNCHER", g);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let msg = format!(
                "start {}: {}",
                a.command[0],
                gait_sdk::fsutil::go_io_reason(&e)
            );
            finish(&job, &lease, None, started.elapsed(), None, Some(&msg))?;
            return Err(JobError::invalid(msg));
        }
    };
    let renew_every = a.lease_ttl / 3;
    let mut last_renew = Instant::now();
    let mut interrupt: Option<Interrupt> = None;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {}
            Err(e) => return Err(JobError::io(format!("wait for the job's command: {e}"))),
        }
        std::thread::sleep(POLL);
        // Pause, stop and cancel arrive as state changes written by other processes.
        if let Ok(Some(cur)) = job::read_state(&job) {
            if !ours(&cur, &lease) && !job.pending_path().exists() {
                let _ = child.kill();
                let _ = child.wait();
                return Err(JobError::Fenced(format!(
                    "lease lost: job {} was taken over by another supervisor; the command was stopped",
                    job.id
                )));
            }
            if interrupt.is_none()
                && matches!(
                    cur.status.as_str(),
                    "paused" | "emergency_stopped" | "cancelled"
                )
            {
                terminate(&child);
                interrupt = Some(Interrupt {
                    status: cur.status.clone(),
                    at: Instant::now(),
                    killed: false,
                });
            }
        }
        if let Some(i) = interrupt.as_mut() {
            if !i.killed && i.at.elapsed() >= a.grace {
                let _ = child.kill();
                i.killed = true;
            }
        }
        if last_renew.elapsed() >= renew_every {
            if let Ok(mut txn) = Txn::begin(&job, false) {
                match txn.state() {
                    Some(cur) if ours(cur, &lease) => {
                        let t = now();
                        lease.renewed_at = t;
                        lease.expires_at = plus(t, a.lease_ttl);
                        if txn.rewrite_lease(Some(lease.clone())).is_ok() {
                            last_renew = Instant::now();
                        }
                    }
                    _ => {}
                }
            }
        }
    };
    let elapsed = started.elapsed();
    let signalled = interrupt.as_ref().map(|i| {
        (
            i.status.clone(),
            if i.killed { "SIGKILL" } else { "SIGTERM" },
        )
    });
    let st = finish(&job, &lease, Some(status), elapsed, signalled.clone(), None)?;
    let (code, signal) = describe(&status);
    let mut out = commands_output(&st);
    let mut run = Map::new();
    run.insert("mode".into(), json!(mode));
    run.insert("lease_id".into(), json!(lease.lease_id));
    run.insert("duration_ms".into(), json!(elapsed.as_millis() as u64));
    if let Some(c) = code {
        run.insert("exit_code".into(), json!(c));
    }
    if let Some(s) = signal {
        run.insert("signal".into(), json!(s));
    }
    if let Some((why, sig)) = &signalled {
        run.insert("interrupted_by".into(), json!(why));
        run.insert("sent_signal".into(), json!(sig));
    }
    out.text.push_str(&format!(
        "run: mode={mode} exit={} duration_ms={}\n",
        code.map(|c| c.to_string())
            .or_else(|| signal.map(|s| format!("signal {s}")))
            .unwrap_or_default(),
        elapsed.as_millis()
    ));
    out.json.insert("run".into(), Value::Object(run));
    let failed = st.status == "blocked" && st.status_reason_code == "run_failed";
    if failed {
        out.json.insert("ok".into(), json!(false));
        out.exit = exit::INTERNAL;
    }
    Ok(out)
}

fn commands_output(st: &JobState) -> CommandOutput {
    let mut m = Map::new();
    m.insert("schema_id".into(), json!(commands::OUTPUT_SCHEMA));
    m.insert("schema_version".into(), json!(job::SCHEMA_VERSION));
    m.insert("operation".into(), json!("run"));
    m.insert("job_id".into(), json!(st.job_id));
    m.insert("job".into(), st.to_value());
    let text = format!(
        "job run: id={} status={} stop_reason={} reason_code={}\n",
        st.job_id, st.status, st.stop_reason, st.status_reason_code
    );
    CommandOutput::new(m, text, exit::OK)
}

/// Records the end of a run: `run_exited`, the final status, and the lease released.
fn finish(
    job: &job::JobDir,
    lease: &Lease,
    status: Option<ExitStatus>,
    elapsed: Duration,
    signalled: Option<(String, &'static str)>,
    start_error: Option<&str>,
) -> R<JobState> {
    let mut txn = begin_patiently(job, false, Duration::from_secs(30))?;
    let st = txn.existing()?.clone();
    if !ours(&st, lease) {
        return Err(JobError::Fenced(format!(
            "lease lost: job {} was taken over by another supervisor before this run ended",
            job.id
        )));
    }
    let mut next = st.clone();
    next.lease = None;
    let (code, signal) = status.as_ref().map(describe).unwrap_or((None, None));
    let mut p = Map::new();
    p.insert("lease_id".into(), json!(lease.lease_id));
    p.insert("duration_ms".into(), json!(elapsed.as_millis() as u64));
    if let Some(c) = code {
        p.insert("exit_code".into(), json!(c));
    }
    if let Some(s) = signal {
        p.insert("signal".into(), json!(s));
    }
    if let Some(e) = start_error {
        p.insert("error".into(), json!(e));
    }
    if let Some((why, sig)) = &signalled {
        p.insert("interrupted_by".into(), json!(why));
        p.insert("sent_signal".into(), json!(sig));
    }
    let reason_code = if st.status != "running" {
        "run_interrupted"
    } else if status.as_ref().is_some_and(ExitStatus::success) {
        next.status = "completed".into();
        next.stop_reason = "completed".into();
        next.status_reason_code = "completed".into();
        "run_completed"
    } else {
        next.status = "blocked".into();
        next.stop_reason = match (code, signal) {
            (Some(c), _) => format!("run_failed_exit_{c}"),
            (None, Some(s)) => format!("run_failed_signal_{s}"),
            _ => "run_failed_start".into(),
        };
        next.status_reason_code = "run_failed".into();
        "run_failed"
    };
    p.insert("final_status".into(), json!(next.status));
    txn.commit(
        next,
        Change {
            event_type: "run_exited".into(),
            actor: String::new(),
            reason_code: reason_code.into(),
            payload: Some(p),
        },
        now(),
    )?;
    Ok(txn.existing()?.clone())
}
