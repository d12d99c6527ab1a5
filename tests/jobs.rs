//! Durable jobs through the built `gait` launcher: concurrency of checkpoint writers, bad input
//! and corrupt files, lock contention, and `gait job run` supervising real child processes
//! (completion, failure, pause/cancel relayed as signals, lease takeover after a crash).

use gait_acceptance::binary;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Env {
    _tmp: tempfile::TempDir,
    work: PathBuf,
    home: PathBuf,
}

fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    Env {
        _tmp: tmp,
        work,
        home,
    }
}

impl Env {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(binary("gait"));
        c.args(args)
            .current_dir(&self.work)
            .env("HOME", &self.home)
            .env("GAIT_CACHE_DIR", self.home.join("cache"))
            .env("GAIT_MANIFEST_TIMEOUT_MS", "30000")
            .env_remove("GAIT_JOB_ROOT")
            .env_remove("GAIT_JOB_ID")
            .env_remove("GAIT_JOB_LEASE");
        c
    }
    fn run(&self, args: &[&str]) -> (i32, Value, Output) {
        let out = self.cmd(args).output().unwrap();
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap_or(-1), v, out)
    }
    fn ok(&self, args: &[&str]) -> Value {
        let (code, v, out) = self.run(args);
        assert_eq!(
            code,
            0,
            "{args:?}: {v} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        v
    }
    fn job_dir(&self, id: &str) -> PathBuf {
        self.work.join("gait-out/jobs").join(id)
    }
    fn events(&self, id: &str) -> Vec<Value> {
        std::fs::read_to_string(self.job_dir(id).join("events.jsonl"))
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
    fn state(&self, id: &str) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.job_dir(id).join("state.json")).unwrap())
            .unwrap()
    }
}

#[test]
fn eight_writers_fifty_checkpoints_each() {
    let e = env();
    e.ok(&["job", "submit", "--id", "busy", "--json"]);
    // Warm the launcher's manifest cache so the writers do not all probe at once.
    e.ok(&["job", "status", "--id", "busy", "--json"]);
    let started = Instant::now();
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let mut cmds = Vec::new();
            for i in 0..50 {
                let summary = format!("w{w}-{i}");
                let mut c = e.cmd(&[
                    "job",
                    "checkpoint",
                    "add",
                    "--id",
                    "busy",
                    "--type",
                    "progress",
                    "--summary",
                    &summary,
                    "--json",
                ]);
                c.stdout(Stdio::piped()).stderr(Stdio::piped());
                cmds.push((summary, c));
            }
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                for (summary, mut c) in cmds {
                    let out = c.output().unwrap();
                    if !out.status.success() {
                        failures.push(format!(
                            "{summary}: exit {:?}: {}",
                            out.status.code(),
                            String::from_utf8_lossy(&out.stdout)
                        ));
                    }
                }
                failures
            })
        })
        .collect();
    let failures: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    eprintln!(
        "8 x 50 checkpoint add: {:?}, {} failures",
        started.elapsed(),
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    let st = e.state("busy");
    let cps = st["checkpoints"].as_array().unwrap();
    assert_eq!(cps.len(), 400);
    assert_eq!(st["revision"], 401);
    let mut summaries: Vec<&str> = cps.iter().map(|c| c["summary"].as_str().unwrap()).collect();
    summaries.sort();
    summaries.dedup();
    assert_eq!(summaries.len(), 400, "a checkpoint was lost or duplicated");
    for (i, c) in cps.iter().enumerate() {
        assert_eq!(c["checkpoint_id"], format!("cp_{:04}", i + 1));
    }
    let events = e.events("busy");
    assert_eq!(events.len(), 401, "events lost or duplicated");
    let revs: Vec<i64> = events
        .iter()
        .map(|e| e["revision"].as_i64().unwrap())
        .collect();
    assert!(
        revs.windows(2).all(|w| w[1] == w[0] + 1),
        "revisions must strictly increase by one"
    );
    assert_eq!(revs[0], 1);
    let ids: Vec<&str> = events[1..]
        .iter()
        .map(|e| e["payload"]["checkpoint_id"].as_str().unwrap())
        .collect();
    let want: Vec<String> = (1..=400).map(|i| format!("cp_{i:04}")).collect();
    assert_eq!(ids, want);
    let dir = e.job_dir("busy");
    for leftover in [
        "pending_mutation.json",
        "state.json.lock",
        "events.jsonl.lock",
    ] {
        assert!(!dir.join(leftover).exists(), "{leftover} left behind");
    }
}

fn assert_error(v: &Value, code: i32, got: i32, needle: &str) {
    assert_eq!(got, code, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["schema_id"], "gait.job.output");
    let msg = v["error"].as_str().unwrap_or("");
    assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
    assert!(v["hint"].as_str().is_some_and(|h| !h.is_empty()), "{v}");
}

#[test]
fn bad_input_is_refused_and_nothing_is_overwritten() {
    let e = env();
    let (c, v, _) = e.run(&["job", "status", "--id", "../etc", "--json"]);
    assert_error(&v, 6, c, "job_id must match");
    let (c, v, _) = e.run(&["job", "pause", "--id", "ghost", "--json"]);
    assert_error(&v, 6, c, "job not found");
    let (c, v, _) = e.run(&[
        "job",
        "checkpoint",
        "add",
        "--id",
        "ghost",
        "--summary",
        "x",
        "--json",
    ]);
    assert_error(&v, 6, c, "job not found");
    assert!(
        !e.job_dir("ghost").exists(),
        "a failed mutation created a job"
    );

    e.ok(&["job", "submit", "--id", "j", "--json"]);
    e.ok(&["job", "cancel", "--id", "j", "--json"]);
    let (c, v, _) = e.run(&["job", "pause", "--id", "j", "--json"]);
    assert_error(&v, 6, c, "invalid transition: paused from cancelled");
    // The reference exits 1 for this one (its message contains "blocked"); we exit 6.
    e.ok(&["job", "submit", "--id", "b", "--json"]);
    e.ok(&[
        "job",
        "checkpoint",
        "add",
        "--id",
        "b",
        "--type",
        "blocked",
        "--summary",
        "x",
        "--json",
    ]);
    let (c, v, _) = e.run(&["job", "pause", "--id", "b", "--json"]);
    assert_error(&v, 6, c, "invalid transition: paused from blocked");

    // A corrupt state.json: every command fails with 6, and the file is left as it was.
    let state = e.job_dir("j").join("state.json");
    std::fs::write(&state, b"{\"job_id\": \"j\", \"revision\": ").unwrap();
    for args in [
        &["job", "status", "--id", "j", "--json"][..],
        &[
            "job",
            "checkpoint",
            "add",
            "--id",
            "j",
            "--summary",
            "x",
            "--json",
        ],
        &["job", "cancel", "--id", "j", "--json"],
    ] {
        let (c, v, _) = e.run(args);
        assert_error(&v, 6, c, "parse job state");
    }
    assert_eq!(
        std::fs::read(&state).unwrap(),
        b"{\"job_id\": \"j\", \"revision\": "
    );

    // A truncated events.jsonl: reads that need events fail, appends are refused, nothing
    // is repaired.
    let events = e.job_dir("b").join("events.jsonl");
    let mut bytes = std::fs::read(&events).unwrap();
    bytes.truncate(bytes.len() - 10);
    std::fs::write(&events, &bytes).unwrap();
    let before_state = std::fs::read(e.job_dir("b").join("state.json")).unwrap();
    let (c, v, _) = e.run(&["job", "inspect", "--id", "b", "--json"]);
    assert_error(&v, 6, c, "parse job event");
    let (c, v, _) = e.run(&[
        "job",
        "checkpoint",
        "add",
        "--id",
        "b",
        "--summary",
        "more",
        "--json",
    ]);
    assert_error(&v, 6, c, "partial line");
    assert_eq!(std::fs::read(&events).unwrap(), bytes);
    assert_eq!(
        std::fs::read(e.job_dir("b").join("state.json")).unwrap(),
        before_state
    );
    assert!(!e.job_dir("b").join("pending_mutation.json").exists());
    // Status still reads (it needs no events).
    e.ok(&["job", "status", "--id", "b", "--json"]);
}

#[test]
fn lock_contention_is_retryable_exit_1() {
    let e = env();
    e.ok(&["job", "submit", "--id", "held", "--json"]);
    // A fresh, empty lock file is what a live reference process holds.
    let lock = e.job_dir("held").join("state.json.lock");
    std::fs::write(&lock, b"").unwrap();
    let t0 = Instant::now();
    let (c, v, _) = e.run(&["job", "pause", "--id", "held", "--json"]);
    assert_eq!(c, 1, "{v}");
    assert_eq!(v["error"], "state contention: lock timeout");
    assert_eq!(v["error_category"], "state_contention");
    assert_eq!(v["retryable"], true);
    assert!(t0.elapsed() >= Duration::from_millis(1900));
    // Reads are not blocked; the lock file is the holder's to remove.
    e.ok(&["job", "status", "--id", "held", "--json"]);
    assert!(lock.exists());
    std::fs::remove_file(&lock).unwrap();
    e.ok(&["job", "pause", "--id", "held", "--json"]);
}

#[test]
fn job_list_shows_status_last_checkpoint_and_age() {
    let e = env();
    e.ok(&["job", "submit", "--id", "a1", "--json"]);
    e.ok(&[
        "job",
        "checkpoint",
        "add",
        "--id",
        "a1",
        "--summary",
        "halfway",
        "--json",
    ]);
    e.ok(&["job", "submit", "--id", "b2", "--json"]);
    e.ok(&["job", "pause", "--id", "b2", "--json"]);
    std::fs::create_dir_all(e.work.join("gait-out/jobs/empty")).unwrap();
    let v = e.ok(&["job", "list", "--json"]);
    let jobs = v["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 3, "{v}");
    assert_eq!(jobs[0]["job_id"], "a1");
    assert_eq!(jobs[0]["status"], "running");
    assert_eq!(jobs[0]["last_checkpoint"]["summary"], "halfway");
    assert!(jobs[0]["age_seconds"].as_i64().is_some());
    assert_eq!(jobs[1]["status"], "paused");
    assert!(jobs[1].get("last_checkpoint").is_none());
    assert_eq!(jobs[2]["error"], "job not found");
    let out = e.cmd(&["job", "list"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("a1  status=running  last_checkpoint=cp_0001 (progress) halfway"));
}

// ---------------------------------------------------------------------------------------------
// gait job run

/// A worker that resumes after its last checkpoint (`step=N`) and works up to step `total`,
/// recording each step it performs in `$WORK_LOG` and then checkpointing it.
const WORKER: &str = r#"#!/bin/sh
n=0
case "$GAIT_JOB_LAST_CHECKPOINT_SUMMARY" in step=*) n=${GAIT_JOB_LAST_CHECKPOINT_SUMMARY#step=} ;; esac
echo "start $n $GAIT_JOB_LAST_CHECKPOINT" >> "$WORK_LOG"
while [ "$n" -lt "$TOTAL" ]; do
  n=$((n + 1))
  sleep "$STEP_SLEEP"
  echo "did $n" >> "$WORK_LOG"
  "$GAIT_LAUNCHER" job checkpoint add --id "$GAIT_JOB_ID" --type progress --summary "step=$n" --json > /dev/null || exit 9
done
exit "${EXIT_WITH:-0}"
"#;

fn write_worker(e: &Env) -> PathBuf {
    let p = e.work.join("worker.sh");
    std::fs::write(&p, WORKER).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    p
}

fn checkpoints(e: &Env, id: &str) -> Vec<String> {
    e.state(id)["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["summary"].as_str().unwrap().to_string())
        .collect()
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(unix)]
#[test]
fn run_completes_and_failures_are_recorded() {
    let e = env();
    let worker = write_worker(&e);
    let log = e.work.join("work.log");
    let w = worker.to_str().unwrap();
    let mut c = e.cmd(&["job", "run", "--id", "ok1", "--json", "--", w]);
    c.env("WORK_LOG", &log)
        .env("TOTAL", "3")
        .env("STEP_SLEEP", "0");
    let out = c.output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["job"]["status"], "completed");
    assert_eq!(v["run"]["mode"], "submitted");
    assert_eq!(v["run"]["exit_code"], 0);
    assert!(v["job"].get("lease").is_none(), "lease released: {v}");
    assert_eq!(checkpoints(&e, "ok1"), ["step=1", "step=2", "step=3"]);
    let types: Vec<String> = e
        .events("ok1")
        .iter()
        .map(|x| x["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "submitted",
            "run_started",
            "checkpoint_added",
            "checkpoint_added",
            "checkpoint_added",
            "run_exited"
        ]
    );
    let last = e.events("ok1").pop().unwrap();
    assert_eq!(last["payload"]["exit_code"], 0);
    assert!(last["payload"]["duration_ms"].as_i64().is_some());

    // A failing command ends the job blocked with the exit status as its stop reason; the
    // pack of that job still verifies.
    let mut c = e.cmd(&["job", "run", "--id", "bad1", "--json", "--", w]);
    c.env("WORK_LOG", &log)
        .env("TOTAL", "1")
        .env("STEP_SLEEP", "0")
        .env("EXIT_WITH", "3");
    let out = c.output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{v}");
    assert_eq!(v["job"]["status"], "blocked");
    assert_eq!(v["job"]["stop_reason"], "run_failed_exit_3");
    assert_eq!(v["job"]["status_reason_code"], "run_failed");
    e.ok(&[
        "pack", "build", "--type", "job", "--from", "bad1", "--out", "bad1.zip", "--json",
    ]);
    e.ok(&["pack", "verify", "bad1.zip", "--json"]);
    // Completed jobs do not run again.
    let (code, v, _) = e.run(&["job", "run", "--id", "ok1", "--json", "--", w]);
    assert_eq!(code, 6, "{v}");
}

#[cfg(unix)]
#[test]
fn pause_and_cancel_reach_the_child() {
    let e = env();
    let worker = write_worker(&e);
    let log = e.work.join("work.log");
    let w = worker.to_str().unwrap();
    // Pause: SIGTERM ends the worker; the job stays paused and can run again later.
    let mut c = e.cmd(&[
        "job", "run", "--id", "p1", "--grace", "5s", "--json", "--", w,
    ]);
    c.env("WORK_LOG", &log)
        .env("TOTAL", "1000")
        .env("STEP_SLEEP", "0.1")
        .stdout(Stdio::piped());
    let child = c.spawn().unwrap();
    wait_until("a checkpoint", Duration::from_secs(30), || {
        e.job_dir("p1").join("state.json").exists() && !checkpoints(&e, "p1").is_empty()
    });
    e.ok(&["job", "pause", "--id", "p1", "--actor", "ops", "--json"]);
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["job"]["status"], "paused");
    assert_eq!(v["run"]["interrupted_by"], "paused");
    assert_eq!(v["run"]["sent_signal"], "SIGTERM");
    assert_eq!(v["run"]["signal"], 15);

    // Cancel with a worker that ignores SIGTERM: SIGKILL after the grace period.
    let stubborn = e.work.join("stubborn.sh");
    std::fs::write(
        &stubborn,
        "#!/bin/sh\ntrap '' TERM\n\"$GAIT_LAUNCHER\" job checkpoint add --id \"$GAIT_JOB_ID\" --summary started > /dev/null\nwhile :; do sleep 0.05; done\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&stubborn, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut c = e.cmd(&[
        "job",
        "run",
        "--id",
        "c1",
        "--grace",
        "500ms",
        "--json",
        "--",
        stubborn.to_str().unwrap(),
    ]);
    c.stdout(Stdio::piped());
    let child = c.spawn().unwrap();
    wait_until("a checkpoint", Duration::from_secs(30), || {
        e.job_dir("c1").join("state.json").exists() && !checkpoints(&e, "c1").is_empty()
    });
    let t0 = Instant::now();
    e.ok(&["job", "cancel", "--id", "c1", "--json"]);
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(450));
    assert_eq!(v["job"]["status"], "cancelled", "{v}");
    assert_eq!(v["run"]["sent_signal"], "SIGKILL");
    assert_eq!(v["run"]["signal"], 9);
}

/// The acceptance scenario: a worker writes checkpoints, its supervisor and the worker are
/// killed midway (as in a crash), a second `gait job run` is refused while the lease lives,
/// takes over once it has expired, and finishes the work from the last checkpoint.
#[cfg(unix)]
#[test]
fn killed_run_is_resumed_from_the_last_checkpoint() {
    use std::os::unix::process::CommandExt;
    let e = env();
    let worker = write_worker(&e);
    let log = e.work.join("work.log");
    let w = worker.to_str().unwrap();
    let start = |extra: &[(&str, &str)]| {
        let mut c = e.cmd(&[
            "job",
            "run",
            "--id",
            "crashy",
            "--lease-ttl",
            "4s",
            "--json",
            "--",
            w,
        ]);
        c.env("WORK_LOG", &log)
            .env("TOTAL", "12")
            .env("STEP_SLEEP", "0.15")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in extra {
            c.env(k, v);
        }
        c
    };
    let mut first = start(&[]);
    first.process_group(0);
    let mut first = first.spawn().unwrap();
    wait_until("4 checkpoints", Duration::from_secs(60), || {
        e.job_dir("crashy").join("state.json").exists() && checkpoints(&e, "crashy").len() >= 4
    });
    // Crash: SIGKILL the supervisor and its worker together.
    let pgid = first.id();
    let st = Command::new("sh")
        .args(["-c", &format!("kill -KILL -{pgid}")])
        .status()
        .unwrap();
    assert!(st.success());
    let _ = first.wait();
    let done_before = checkpoints(&e, "crashy");
    assert!(done_before.len() >= 4 && done_before.len() < 12);
    // The lease is still live: a second supervisor is refused (exit 1, retryable).
    let out = start(&[]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("already being run"),
        "{v}"
    );
    assert_eq!(v["retryable"], true);
    // Once it has expired, the next run takes over and finishes from the last checkpoint.
    std::thread::sleep(Duration::from_millis(4300));
    let out = start(&[]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{v} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(v["run"]["mode"], "taken_over");
    assert_eq!(v["job"]["status"], "completed");
    let all = checkpoints(&e, "crashy");
    // The checkpoints taken before the crash are kept, and the work continued after them.
    assert_eq!(&all[..done_before.len()], &done_before[..]);
    let want: Vec<String> = (1..=12).map(|i| format!("step={i}")).collect();
    assert_eq!(all, want, "every step checkpointed exactly once");
    let log = std::fs::read_to_string(&log).unwrap();
    let starts: Vec<&str> = log.lines().filter(|l| l.starts_with("start")).collect();
    assert_eq!(starts.len(), 2, "{log}");
    assert_eq!(
        starts[1],
        format!("start {} cp_{:04}", done_before.len(), done_before.len())
    );
    let types: Vec<String> = e
        .events("crashy")
        .iter()
        .map(|x| x["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types.iter().filter(|t| *t == "run_started").count(), 2);
    assert_eq!(types.last().unwrap(), "run_exited");
}

/// An orphaned worker of a superseded supervisor cannot write into the job (fencing).
#[cfg(unix)]
#[test]
fn stale_lease_holder_is_fenced() {
    let e = env();
    e.ok(&["job", "submit", "--id", "f1", "--json"]);
    let mut c = e.cmd(&[
        "job",
        "checkpoint",
        "add",
        "--id",
        "f1",
        "--summary",
        "late",
        "--json",
    ]);
    c.env("GAIT_JOB_ID", "f1")
        .env("GAIT_JOB_LEASE", "lease_gone");
    let out = c.output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(8), "{v}");
    assert!(v["error"].as_str().unwrap().starts_with("lease lost"));
    assert!(checkpoints(&e, "f1").is_empty());
}

/// A job pack's payload and manifest validate against the v1 schemas, for a completed job and
/// for one whose run failed.
#[cfg(unix)]
#[test]
fn job_pack_payload_matches_the_schema() {
    use gait_sdk::zip::{ZipLimits, ZipReader};
    let e = env();
    e.ok(&["job", "submit", "--id", "s1", "--actor", "ann", "--json"]);
    e.ok(&[
        "job",
        "checkpoint",
        "add",
        "--id",
        "s1",
        "--type",
        "completed",
        "--summary",
        "done",
        "--json",
    ]);
    let mut c = e.cmd(&[
        "job", "run", "--id", "s2", "--json", "--", "sh", "-c", "exit 4",
    ]);
    c.stdout(Stdio::piped());
    assert_eq!(c.output().unwrap().status.code(), Some(1));
    for id in ["s1", "s2"] {
        let out = format!("{id}.zip");
        e.ok(&[
            "pack", "build", "--type", "job", "--from", id, "--out", &out, "--json",
        ]);
        let mut z = ZipReader::open(&e.work.join(&out), ZipLimits::default()).unwrap();
        for (entry, schema) in [
            ("job_payload.json", "pack/job"),
            ("pack_manifest.json", "pack/manifest"),
        ] {
            let v: Value = serde_json::from_slice(&z.read_entry(entry, 1 << 20).unwrap()).unwrap();
            gait_sdk::schema::validate(schema, &v)
                .unwrap_or_else(|err| panic!("{id} {entry}: {err:?}\n{v}"));
        }
        let state: Value =
            serde_json::from_slice(&z.read_entry("job_state.json", 1 << 20).unwrap()).unwrap();
        assert!(state.get("lease").is_none());
    }
}
