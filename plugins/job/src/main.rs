//! `gait-job`: flag parsing and rendering for `gait job …`. Behaviour lives in the library;
//! errors become exit codes only through `gait_sdk::cli::emit`.

use clap::{Args, Parser, Subcommand};
use gait_job::commands::{self, CheckpointArgs, Ctx, ResumeArgs, Simple, SubmitArgs};
use gait_job::runner::{self, RunArgs};
use gait_sdk::cli::{emit, parse_args, CommandOutput, ParseOutcome};
use gait_sdk::manifest::PluginManifest;
use gait_sdk::time::{parse_go_duration, GoTime};
use gait_sdk::GaitError;
use serde_json::json;
use std::time::Duration;

const ABOUT: &str = "Durable jobs: submit, checkpoint, pause, stop, approve, resume, cancel, inspect and list jobs, and run them under supervision";
const JOB_EXAMPLES: &str = "Examples:
  gait job submit --id nightly --actor alice
  gait job checkpoint add --id nightly --type progress --summary \"batch=3\"
  gait job pause --id nightly            (then: gait job resume --id nightly)
  gait job run --id nightly -- ./worker.sh
  gait job list
See docs/jobs.md. Exit codes: 0 ok, 1 lock contention (retryable) or I/O, 6 invalid input, 7 missing gate plugin, 8 lease lost.";
const EXPLAIN: &str = "gait job records durable, checkpointed jobs (submit, checkpoint, pause, approve, resume, cancel) and runs them under a supervisor that resumes from the last checkpoint.";

#[derive(Parser, Debug)]
#[command(name = "gait", bin_name = "gait", version, about = ABOUT, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand, Debug)]
enum Top {
    /// Durable jobs: a locked, crash-safe lifecycle record per job under `--root`.
    #[command(subcommand, after_help = JOB_EXAMPLES)]
    Job(JobCmd),
}

#[derive(Args, Debug, Default, Clone)]
struct JsonFlag {
    /// Print machine-readable JSON (`gait.job.output`).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false", hide_default_value = true, hide_possible_values = true)]
    json: bool,
}

/// Flags every job subcommand takes.
#[derive(Args, Debug, Default, Clone)]
struct Common {
    /// Job id: ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$.
    #[arg(long, default_value = "", hide_default_value = true)]
    id: String,
    /// Job root (default: $GAIT_JOB_ROOT, else ./gait-out/jobs).
    #[arg(long, default_value = "", hide_default_value = true)]
    root: String,
    /// Record this time instead of the clock (RFC 3339; reproducible demos and tests).
    #[arg(long, default_value = "", hide = true)]
    now: String,
    #[command(flatten)]
    json: JsonFlag,
}

#[derive(Args, Debug, Default, Clone)]
struct PolicyFlags {
    /// Gate policy file: its digest (computed by `gait policy validate`) binds the job.
    #[arg(long, default_value = "", hide_default_value = true)]
    policy: String,
    /// Policy digest to bind (must equal the computed one when --policy is given).
    #[arg(long, default_value = "", hide_default_value = true)]
    policy_digest: String,
    /// Policy reference to record (default: the --policy path).
    #[arg(long, default_value = "", hide_default_value = true)]
    policy_ref: String,
}

#[derive(Args, Debug, Default, Clone)]
struct ResumeFlags {
    /// Who acts (recorded on the event).
    #[arg(long, default_value = "", hide_default_value = true)]
    actor: String,
    /// Identity to validate (must equal the job's bound identity).
    #[arg(long, default_value = "", hide_default_value = true)]
    identity: String,
    /// Why the job resumes (default: resume).
    #[arg(long, default_value = "", hide_default_value = true)]
    reason: String,
    /// Environment fingerprint to compare with the job's (default: computed).
    #[arg(long, default_value = "", hide_default_value = true)]
    env_fingerprint: String,
    /// Resume even when the environment fingerprint differs.
    #[arg(long)]
    allow_env_mismatch: bool,
    #[command(flatten)]
    policy: PolicyFlags,
    /// Where the identity was validated (recorded on the event).
    #[arg(long, default_value = "", hide_default_value = true)]
    identity_validation_source: String,
    /// Revocation list: JSON array, {"revoked_identities": [...]}, or one identity per line.
    #[arg(long, default_value = "", hide_default_value = true)]
    identity_revocations: String,
    /// Treat the identity as revoked.
    #[arg(long)]
    identity_revoked: bool,
}

impl ResumeFlags {
    fn args(self, id: &str) -> ResumeArgs {
        ResumeArgs {
            id: id.to_string(),
            actor: self.actor,
            identity: self.identity,
            reason: self.reason,
            env_fingerprint: self.env_fingerprint,
            allow_env_mismatch: self.allow_env_mismatch,
            policy: self.policy.policy,
            policy_digest: self.policy.policy_digest,
            policy_ref: self.policy.policy_ref,
            identity_validation_source: self.identity_validation_source,
            identity_revocations: self.identity_revocations,
            identity_revoked: self.identity_revoked,
        }
    }
}

#[derive(Subcommand, Debug)]
enum JobCmd {
    /// Create a job (status running, revision 1).
    Submit {
        #[command(flatten)]
        common: Common,
        /// Who submits (also the identity when --identity is not given).
        #[arg(long, default_value = "", hide_default_value = true)]
        actor: String,
        /// Identity the job is bound to.
        #[arg(long, default_value = "", hide_default_value = true)]
        identity: String,
        /// Environment fingerprint to record (default: computed for this machine).
        #[arg(long, default_value = "", hide_default_value = true)]
        env_fingerprint: String,
        #[command(flatten)]
        policy: PolicyFlags,
    },
    /// Show a job's state.
    Status {
        #[command(flatten)]
        common: Common,
    },
    /// Add, list and show checkpoints.
    #[command(subcommand)]
    Checkpoint(CheckpointCmd),
    /// Pause a running job (or one waiting for a decision).
    Pause {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value = "", hide_default_value = true)]
        actor: String,
    },
    /// Emergency stop: no further work until cancelled.
    Stop {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value = "", hide_default_value = true)]
        actor: String,
    },
    /// Record an approval (needed to resume after a decision-needed checkpoint).
    Approve {
        #[command(flatten)]
        common: Common,
        /// Approver (required).
        #[arg(long, default_value = "", hide_default_value = true)]
        actor: String,
        /// Why (default: approved).
        #[arg(long, default_value = "", hide_default_value = true)]
        reason: String,
    },
    /// Resume a paused, decision-needed or blocked job (policy- and identity-bound).
    Resume {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        flags: ResumeFlags,
    },
    /// Cancel a job.
    Cancel {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value = "", hide_default_value = true)]
        actor: String,
    },
    /// Show a job's state and its event log.
    Inspect {
        #[command(flatten)]
        common: Common,
    },
    /// List every job under the root with status, last checkpoint and age.
    List {
        /// Job root (default: $GAIT_JOB_ROOT, else ./gait-out/jobs).
        #[arg(long, default_value = "", hide_default_value = true)]
        root: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Run a command as the job: submit or resume it, hold its lease, relay pause/stop/cancel.
    ///
    /// The command gets GAIT_JOB_ID, GAIT_JOB_ROOT, GAIT_JOB_LEASE and
    /// GAIT_JOB_LAST_CHECKPOINT (with _TYPE and _SUMMARY) and adds checkpoints with
    /// `gait job checkpoint add`. Exit 0 when the job completed, 1 when the command failed.
    #[command(after_help = "Example:\n  gait job run --id nightly --grace 5s -- ./worker.sh")]
    Run {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        flags: ResumeFlags,
        /// Time between SIGTERM and SIGKILL when the job is paused, stopped or cancelled.
        #[arg(long, default_value = "10s")]
        grace: String,
        /// Lease lifetime; the heartbeat renews it every third of it.
        #[arg(long, default_value = "30s")]
        lease_ttl: String,
        /// The command and its arguments, after `--`.
        #[arg(last = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum CheckpointCmd {
    /// Add a checkpoint (plan, progress, decision-needed, blocked, completed).
    Add {
        #[command(flatten)]
        common: Common,
        /// plan | progress | decision-needed | blocked | completed.
        #[arg(long = "type", default_value = "progress")]
        checkpoint_type: String,
        /// What was done or is needed (at most 512 bytes).
        #[arg(long, default_value = "", hide_default_value = true)]
        summary: String,
        /// Required for decision-needed: what a human must do.
        #[arg(long, default_value = "", hide_default_value = true)]
        required_action: String,
        #[arg(long, default_value = "", hide_default_value = true)]
        actor: String,
    },
    /// List checkpoints, sorted by id.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Show one checkpoint.
    Show {
        #[command(flatten)]
        common: Common,
        /// Checkpoint id (cp_0001).
        #[arg(long, default_value = "", hide_default_value = true)]
        checkpoint: String,
    },
}

fn manifest() -> PluginManifest {
    PluginManifest::new(
        "job",
        env!("CARGO_PKG_VERSION"),
        ABOUT,
        &[("job", "Durable, checkpointed jobs and their supervisor")],
    )
}

fn job_err(op: &str, e: GaitError) -> GaitError {
    e.with_extra("schema_id", json!(commands::OUTPUT_SCHEMA))
        .with_extra("schema_version", json!("1.0.0"))
        .with_extra("operation", json!(op))
}

fn duration(flag: &str, v: &str) -> Result<Duration, GaitError> {
    let n = parse_go_duration(v.trim())
        .map_err(|e| GaitError::invalid(format!("invalid --{flag}: {}", e.0)))?;
    if n < 0 {
        return Err(GaitError::invalid(format!("--{flag} must not be negative")));
    }
    Ok(Duration::from_nanos(u64::try_from(n).unwrap_or(u64::MAX)))
}

fn ctx(c: &Common) -> Result<Ctx, GaitError> {
    let now = if c.now.trim().is_empty() {
        GoTime::now_utc()
    } else {
        GoTime::parse_rfc3339(c.now.trim())
            .map_err(|e| GaitError::invalid(format!("invalid --now: {e}")))?
            .utc()
    };
    Ok(Ctx::from_env(&c.root, now))
}

fn dispatch(cmd: JobCmd) -> (Result<CommandOutput, GaitError>, bool, &'static str) {
    fn go<F>(c: &Common, f: F) -> Result<CommandOutput, GaitError>
    where
        F: FnOnce(&Ctx) -> Result<CommandOutput, gait_job::JobError>,
    {
        let ctx = ctx(c)?;
        f(&ctx).map_err(Into::into)
    }
    match cmd {
        JobCmd::Submit {
            common,
            actor,
            identity,
            env_fingerprint,
            policy,
        } => {
            let a = SubmitArgs {
                id: common.id.clone(),
                actor,
                identity,
                env_fingerprint,
                policy: policy.policy,
                policy_digest: policy.policy_digest,
                policy_ref: policy.policy_ref,
            };
            (
                go(&common, |c| commands::submit(c, &a)),
                common.json.json,
                "submit",
            )
        }
        JobCmd::Status { common } => (
            go(&common, |c| commands::status(c, &common.id)),
            common.json.json,
            "status",
        ),
        JobCmd::Checkpoint(CheckpointCmd::Add {
            common,
            checkpoint_type,
            summary,
            required_action,
            actor,
        }) => {
            let a = CheckpointArgs {
                id: common.id.clone(),
                checkpoint_type,
                summary,
                required_action,
                actor,
            };
            (
                go(&common, |c| commands::checkpoint_add(c, &a)),
                common.json.json,
                "checkpoint add",
            )
        }
        JobCmd::Checkpoint(CheckpointCmd::List { common }) => (
            go(&common, |c| commands::checkpoint_list(c, &common.id)),
            common.json.json,
            "checkpoint list",
        ),
        JobCmd::Checkpoint(CheckpointCmd::Show { common, checkpoint }) => (
            go(&common, |c| {
                commands::checkpoint_show(c, &common.id, &checkpoint)
            }),
            common.json.json,
            "checkpoint show",
        ),
        JobCmd::Pause { common, actor } => (
            go(&common, |c| {
                commands::simple(c, Simple::Pause, &common.id, &actor)
            }),
            common.json.json,
            "pause",
        ),
        JobCmd::Stop { common, actor } => (
            go(&common, |c| {
                commands::simple(c, Simple::Stop, &common.id, &actor)
            }),
            common.json.json,
            "stop",
        ),
        JobCmd::Cancel { common, actor } => (
            go(&common, |c| {
                commands::simple(c, Simple::Cancel, &common.id, &actor)
            }),
            common.json.json,
            "cancel",
        ),
        JobCmd::Approve {
            common,
            actor,
            reason,
        } => (
            go(&common, |c| {
                commands::approve(c, &common.id, &actor, &reason)
            }),
            common.json.json,
            "approve",
        ),
        JobCmd::Resume { common, flags } => {
            let a = flags.args(&common.id);
            (
                go(&common, |c| commands::resume(c, &a)),
                common.json.json,
                "resume",
            )
        }
        JobCmd::Inspect { common } => (
            go(&common, |c| commands::inspect(c, &common.id)),
            common.json.json,
            "inspect",
        ),
        JobCmd::List { root, json } => {
            let c = Common {
                root,
                ..Default::default()
            };
            (go(&c, commands::list), json.json, "list")
        }
        JobCmd::Run {
            common,
            flags,
            grace,
            lease_ttl,
            command,
        } => {
            let r = (|| {
                let a = RunArgs {
                    resume: flags.args(&common.id),
                    grace: duration("grace", &grace)?,
                    lease_ttl: duration("lease-ttl", &lease_ttl)?,
                    command,
                };
                go(&common, |c| runner::run(c, &a))
            })();
            (r, common.json.json, "run")
        }
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if gait_sdk::cli_spec::answer_probe::<Cli>(&argv, manifest) {
        return;
    }
    // `--explain` anywhere in the job arguments (not in a `job run` command after `--`).
    if argv.get(1).map(String::as_str) == Some("job")
        && argv[2..]
            .iter()
            .take_while(|a| a.as_str() != "--")
            .any(|a| a == "--explain" || a == "-explain")
    {
        println!("{EXPLAIN}");
        return;
    }
    let cli = match parse_args::<Cli>(argv.clone(), "gait") {
        ParseOutcome::Parsed(c) => c,
        ParseOutcome::Exit(code) => std::process::exit(code),
    };
    let Top::Job(cmd) = cli.command;
    let (result, json, op) = dispatch(cmd);
    let result = result.map_err(|e| job_err(op, e));
    let label = format!("job {op}");
    let code = emit(result, json, &argv, &label);
    std::process::exit(code);
}
