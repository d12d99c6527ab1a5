//! One function per `gait job` subcommand. Each validates its input, applies the transition
//! table (jobs spec A6–A8) through a locked [`Txn`], and returns the `gait.job.output`
//! envelope members; errors are [`JobError`]s with their category.

use crate::policy;
use gait_sdk::cli::CommandOutput;
use gait_sdk::error::exit;
use gait_sdk::job::{self, Approval, Change, Checkpoint, Event, JobDir, JobError, JobState, Txn};
use gait_sdk::time::GoTime;
use serde_json::{json, Map, Value};

type R<T> = Result<T, JobError>;

pub const OUTPUT_SCHEMA: &str = "gait.job.output";
pub const CHECKPOINT_TYPES: &[&str] = &[
    "plan",
    "progress",
    "decision-needed",
    "blocked",
    "completed",
];
const SUMMARY_MAX_BYTES: usize = 512;

/// Environment of a worker started by `gait job run`.
pub const ENV_JOB_ID: &str = "GAIT_JOB_ID";
pub const ENV_JOB_ROOT: &str = "GAIT_JOB_ROOT";
pub const ENV_JOB_LEASE: &str = "GAIT_JOB_LEASE";
pub const ENV_LAST_CHECKPOINT: &str = "GAIT_JOB_LAST_CHECKPOINT";
pub const ENV_LAST_CHECKPOINT_TYPE: &str = "GAIT_JOB_LAST_CHECKPOINT_TYPE";
pub const ENV_LAST_CHECKPOINT_SUMMARY: &str = "GAIT_JOB_LAST_CHECKPOINT_SUMMARY";

/// What every command needs besides its own flags.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// `--root` as given (blank: `$GAIT_JOB_ROOT`, else `./gait-out/jobs`).
    pub root: String,
    /// The mutation time.
    pub now: GoTime,
    /// The lease this process works under (a worker of `gait job run`): its job id and lease
    /// id. A mutation of that job fails once another supervisor holds the job.
    pub fence: Option<(String, String)>,
}

impl Ctx {
    pub fn new(root: &str, now: GoTime) -> Ctx {
        Ctx {
            root: root.to_string(),
            now,
            fence: None,
        }
    }

    /// Reads the worker environment (`GAIT_JOB_ROOT` for a blank root, the lease fence).
    pub fn from_env(root: &str, now: GoTime) -> Ctx {
        let mut root = root.trim().to_string();
        if root.is_empty() {
            root = std::env::var(ENV_JOB_ROOT).unwrap_or_default();
        }
        let fence = match (std::env::var(ENV_JOB_ID), std::env::var(ENV_JOB_LEASE)) {
            (Ok(id), Ok(lease)) if !id.trim().is_empty() && !lease.trim().is_empty() => {
                Some((id.trim().to_string(), lease.trim().to_string()))
            }
            _ => None,
        };
        Ctx { root, now, fence }
    }

    pub fn job(&self, id: &str) -> R<JobDir> {
        JobDir::new(&self.root, id)
    }
}

fn base(operation: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("schema_id".into(), json!(OUTPUT_SCHEMA));
    m.insert("schema_version".into(), json!(job::SCHEMA_VERSION));
    m.insert("ok".into(), json!(true));
    m.insert("operation".into(), json!(operation));
    m
}

fn status_line(op: &str, st: &JobState) -> String {
    format!(
        "job {op}: id={} status={} stop_reason={} reason_code={}\n",
        st.job_id, st.status, st.stop_reason, st.status_reason_code
    )
}

fn job_output(op: &str, st: &JobState) -> CommandOutput {
    let mut m = base(op);
    m.insert("job_id".into(), json!(st.job_id));
    m.insert("job".into(), st.to_value());
    let mut text = status_line(op, st);
    if !st.checkpoints.is_empty() {
        text.push_str(&format!("checkpoints={}\n", st.checkpoints.len()));
    }
    CommandOutput::new(m, text, exit::OK)
}

/// Fails when this process works for a lease of `job` that is no longer the job's lease.
fn check_fence(ctx: &Ctx, job: &JobDir, st: &JobState) -> R<()> {
    let Some((id, lease)) = &ctx.fence else {
        return Ok(());
    };
    if id != &job.id {
        return Ok(());
    }
    match &st.lease {
        Some(l) if &l.lease_id == lease => Ok(()),
        Some(l) => Err(JobError::Fenced(format!(
            "lease lost: job {} is now supervised by {} (lease {}), not lease {lease}",
            job.id, l.holder, l.lease_id
        ))),
        None => Err(JobError::Fenced(format!(
            "lease lost: job {} is no longer supervised under lease {lease}",
            job.id
        ))),
    }
}

fn transition_error(event_type: &str, status: &str) -> JobError {
    JobError::invalid(format!("invalid transition: {event_type} from {status}"))
}

// ---------------------------------------------------------------------------------------------
// submit

/// Flags of `job submit`.
#[derive(Debug, Clone, Default)]
pub struct SubmitArgs {
    pub id: String,
    pub actor: String,
    pub identity: String,
    pub env_fingerprint: String,
    pub policy: String,
    pub policy_digest: String,
    pub policy_ref: String,
}

/// The new state and its `submitted` change (shared with `job run`).
pub fn new_job(
    job: &JobDir,
    a: &SubmitArgs,
    digest: &str,
    reference: &str,
    now: GoTime,
) -> (JobState, Change) {
    let identity = if a.identity.trim().is_empty() {
        a.actor.trim()
    } else {
        a.identity.trim()
    };
    let fp = if a.env_fingerprint.trim().is_empty() {
        job::environment_fingerprint()
    } else {
        a.env_fingerprint.trim().to_string()
    };
    let invariants = job::safety_invariants(identity, digest, reference);
    let st = JobState {
        schema_id: job::STATE_SCHEMA.into(),
        schema_version: job::SCHEMA_VERSION.into(),
        created_at: now,
        updated_at: now,
        producer_version: job::DEFAULT_PRODUCER_VERSION.into(),
        job_id: job.id.clone(),
        status: "running".into(),
        stop_reason: "none".into(),
        status_reason_code: "submitted".into(),
        environment_fingerprint: fp.clone(),
        safety_invariant_version: job::SAFETY_INVARIANT_VERSION.into(),
        safety_invariant_hash: job::safety_invariant_hash(&invariants),
        safety_invariants: invariants,
        policy_digest: digest.to_string(),
        policy_ref: reference.to_string(),
        identity: identity.to_string(),
        revision: 0,
        checkpoints: Vec::new(),
        approvals: Vec::new(),
        lease: None,
    };
    let mut payload = Map::new();
    payload.insert("environment_fingerprint".into(), json!(fp));
    for (k, v) in [
        ("policy_digest", digest),
        ("policy_ref", reference),
        ("identity", identity),
    ] {
        if !v.is_empty() {
            payload.insert(k.into(), json!(v));
        }
    }
    let change = Change {
        event_type: "submitted".into(),
        actor: a.actor.trim().to_string(),
        reason_code: "submitted".into(),
        payload: Some(payload),
    };
    (st, change)
}

pub fn submit(ctx: &Ctx, a: &SubmitArgs) -> R<CommandOutput> {
    if a.id.trim().is_empty() {
        return Err(JobError::invalid("job_id is required"));
    }
    let job = ctx.job(&a.id)?;
    let (digest, reference) = policy::resolve_policy(&a.policy, &a.policy_digest, &a.policy_ref)?;
    let mut txn = Txn::begin(&job, true)?;
    if txn.state().is_some() {
        return Err(JobError::invalid(format!("job already exists: {}", job.id)));
    }
    let (st, change) = new_job(&job, a, &digest, &reference, ctx.now);
    txn.commit(st, change, ctx.now)?;
    Ok(job_output("submit", txn.existing()?))
}

// ---------------------------------------------------------------------------------------------
// reads

pub fn status(ctx: &Ctx, id: &str) -> R<CommandOutput> {
    let job = ctx.job(id)?;
    let st = job::load(&job)?;
    Ok(job_output("status", &st))
}

pub fn inspect(ctx: &Ctx, id: &str) -> R<CommandOutput> {
    let job = ctx.job(id)?;
    let st = job::load(&job)?;
    let events = job::read_events(&job)?;
    let mut out = job_output("inspect", &st);
    if !events.is_empty() {
        out.json.insert(
            "events".into(),
            Value::Array(events.iter().map(Event::to_value).collect()),
        );
        out.text.push_str(&format!("events={}\n", events.len()));
    }
    Ok(out)
}

pub fn checkpoint_list(ctx: &Ctx, id: &str) -> R<CommandOutput> {
    let job = ctx.job(id)?;
    let st = job::load(&job)?;
    let mut cps = st.checkpoints.clone();
    cps.sort_by(|a, b| a.checkpoint_id.cmp(&b.checkpoint_id));
    let mut m = base("checkpoint list");
    m.insert("job_id".into(), json!(id.trim()));
    let mut text = format!("job checkpoint list: id={}\n", id.trim());
    if !cps.is_empty() {
        m.insert(
            "checkpoints".into(),
            Value::Array(cps.iter().map(Checkpoint::to_value).collect()),
        );
        for c in &cps {
            text.push_str(&format!(
                "checkpoint: {} ({}) {}\n",
                c.checkpoint_id, c.checkpoint_type, c.summary
            ));
        }
        text.push_str(&format!("checkpoints={}\n", cps.len()));
    }
    Ok(CommandOutput::new(m, text, exit::OK))
}

pub fn checkpoint_show(ctx: &Ctx, id: &str, checkpoint: &str) -> R<CommandOutput> {
    let job = ctx.job(id)?;
    let st = job::load(&job)?;
    let want = checkpoint.trim();
    let cp = st
        .checkpoints
        .iter()
        .find(|c| c.checkpoint_id == want)
        .ok_or_else(|| JobError::invalid(format!("checkpoint not found: {want}")))?;
    let mut m = base("checkpoint show");
    m.insert("job_id".into(), json!(id.trim()));
    m.insert("checkpoint".into(), cp.to_value());
    let text = format!(
        "job checkpoint show: id={}\ncheckpoint: {} ({})\nsummary: {}\n",
        id.trim(),
        cp.checkpoint_id,
        cp.checkpoint_type,
        cp.summary
    );
    Ok(CommandOutput::new(m, text, exit::OK))
}

// ---------------------------------------------------------------------------------------------
// checkpoint add

#[derive(Debug, Clone, Default)]
pub struct CheckpointArgs {
    pub id: String,
    pub checkpoint_type: String,
    pub summary: String,
    pub required_action: String,
    pub actor: String,
}

/// Validates a checkpoint and applies it to `st` (A7); returns the change.
pub fn apply_checkpoint(
    st: &mut JobState,
    a: &CheckpointArgs,
    now: GoTime,
) -> R<(Checkpoint, Change)> {
    let ty = a.checkpoint_type.trim();
    let ty = if ty.is_empty() { "progress" } else { ty };
    if !CHECKPOINT_TYPES.contains(&ty) {
        return Err(JobError::invalid(
            "invalid checkpoint: type must be one of plan|progress|decision-needed|blocked|completed",
        ));
    }
    let summary = a.summary.trim();
    if summary.is_empty() {
        return Err(JobError::invalid("invalid checkpoint: summary is required"));
    }
    if summary.len() > SUMMARY_MAX_BYTES {
        return Err(JobError::invalid(format!(
            "invalid checkpoint: summary exceeds max length {SUMMARY_MAX_BYTES}"
        )));
    }
    let required_action = if ty == "decision-needed" {
        let r = a.required_action.trim();
        if r.is_empty() {
            return Err(JobError::invalid(
                "invalid checkpoint: required_action is required for decision-needed checkpoints",
            ));
        }
        r.to_string()
    } else {
        String::new()
    };
    let reason_code = format!("checkpoint_{}", ty.replace('-', "_"));
    let cp = Checkpoint {
        checkpoint_id: format!("cp_{:04}", st.checkpoints.len() + 1),
        created_at: now,
        checkpoint_type: ty.to_string(),
        summary: summary.to_string(),
        required_action: required_action.clone(),
        reason_code: reason_code.clone(),
        actor: a.actor.trim().to_string(),
    };
    let (status, stop, code) = match ty {
        "decision-needed" => ("decision_needed", "decision_needed", "decision_needed"),
        "blocked" => ("blocked", "blocked", "blocked"),
        "completed" => ("completed", "completed", "completed"),
        _ => ("", "", ""),
    };
    if !status.is_empty() {
        st.status = status.into();
        st.stop_reason = stop.into();
        st.status_reason_code = code.into();
    }
    st.checkpoints.push(cp.clone());
    let mut payload = Map::new();
    payload.insert("checkpoint_id".into(), json!(cp.checkpoint_id));
    payload.insert("checkpoint_type".into(), json!(ty));
    payload.insert("required_action".into(), json!(required_action));
    Ok((
        cp,
        Change {
            event_type: "checkpoint_added".into(),
            actor: a.actor.trim().to_string(),
            reason_code,
            payload: Some(payload),
        },
    ))
}

pub fn checkpoint_add(ctx: &Ctx, a: &CheckpointArgs) -> R<CommandOutput> {
    let job = ctx.job(&a.id)?;
    let mut txn = Txn::begin(&job, false)?;
    let mut st = txn.existing()?.clone();
    check_fence(ctx, &job, &st)?;
    let (cp, change) = apply_checkpoint(&mut st, a, ctx.now)?;
    txn.commit(st, change, ctx.now)?;
    let st = txn.existing()?;
    let mut out = job_output("checkpoint add", st);
    out.json.insert("checkpoint".into(), cp.to_value());
    out.text.push_str(&format!(
        "checkpoint: {} ({})\n",
        cp.checkpoint_id, cp.checkpoint_type
    ));
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// pause, stop, cancel, approve

/// A status-changing command of the transition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simple {
    Pause,
    Stop,
    Cancel,
}

impl Simple {
    pub fn operation(self) -> &'static str {
        match self {
            Simple::Pause => "pause",
            Simple::Stop => "stop",
            Simple::Cancel => "cancel",
        }
    }
    fn event_type(self) -> &'static str {
        match self {
            Simple::Pause => "paused",
            Simple::Stop => "emergency_stop_acknowledged",
            Simple::Cancel => "cancelled",
        }
    }
    fn legal_from(self) -> &'static [&'static str] {
        match self {
            Simple::Pause => &["running", "decision_needed"],
            Simple::Stop => &["running", "paused", "decision_needed", "blocked"],
            Simple::Cancel => &[
                "running",
                "paused",
                "decision_needed",
                "blocked",
                "emergency_stopped",
            ],
        }
    }
    /// (status, stop_reason, status_reason_code)
    fn target(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Simple::Pause => ("paused", "paused_by_user", "paused"),
            Simple::Stop => (
                "emergency_stopped",
                "emergency_stopped",
                "emergency_stop_preempted",
            ),
            Simple::Cancel => ("cancelled", "cancelled_by_user", "cancelled"),
        }
    }
}

pub fn simple(ctx: &Ctx, which: Simple, id: &str, actor: &str) -> R<CommandOutput> {
    let job = ctx.job(id)?;
    let mut txn = Txn::begin(&job, false)?;
    let mut st = txn.existing()?.clone();
    check_fence(ctx, &job, &st)?;
    if !which.legal_from().contains(&st.status.as_str()) {
        return Err(transition_error(which.event_type(), &st.status));
    }
    let (status, stop, code) = which.target();
    st.status = status.into();
    st.stop_reason = stop.into();
    st.status_reason_code = code.into();
    txn.commit(
        st,
        Change {
            event_type: which.event_type().into(),
            actor: actor.trim().to_string(),
            reason_code: code.into(),
            payload: None,
        },
        ctx.now,
    )?;
    Ok(job_output(which.operation(), txn.existing()?))
}

pub fn approve(ctx: &Ctx, id: &str, actor: &str, reason: &str) -> R<CommandOutput> {
    let job = ctx.job(id)?;
    let mut txn = Txn::begin(&job, false)?;
    let mut st = txn.existing()?.clone();
    check_fence(ctx, &job, &st)?;
    let actor = actor.trim();
    if actor.is_empty() {
        return Err(JobError::invalid("approval actor is required"));
    }
    let reason = if reason.trim().is_empty() {
        "approved"
    } else {
        reason.trim()
    };
    st.approvals.push(Approval {
        created_at: ctx.now,
        actor: actor.to_string(),
        reason: reason.to_string(),
    });
    st.status_reason_code = "approval_recorded".into();
    let mut payload = Map::new();
    payload.insert("reason".into(), json!(reason));
    txn.commit(
        st,
        Change {
            event_type: "approved".into(),
            actor: actor.to_string(),
            reason_code: "approval_recorded".into(),
            payload: Some(payload),
        },
        ctx.now,
    )?;
    Ok(job_output("approve", txn.existing()?))
}

// ---------------------------------------------------------------------------------------------
// resume

#[derive(Debug, Clone, Default)]
pub struct ResumeArgs {
    pub id: String,
    pub actor: String,
    pub identity: String,
    pub reason: String,
    pub env_fingerprint: String,
    pub allow_env_mismatch: bool,
    pub policy: String,
    pub policy_digest: String,
    pub policy_ref: String,
    pub identity_validation_source: String,
    pub identity_revocations: String,
    pub identity_revoked: bool,
}

/// Inputs of a resume resolved before the job is locked (policy digest, revocation list).
#[derive(Debug, Clone, Default)]
pub struct ResumeInputs {
    pub cli_policy: bool,
    pub digest: String,
    pub reference: String,
    pub revoked: Option<Vec<String>>,
}

pub fn resume_inputs(a: &ResumeArgs) -> R<ResumeInputs> {
    let cli_policy = !a.policy.trim().is_empty()
        || !a.policy_digest.trim().is_empty()
        || !a.policy_ref.trim().is_empty();
    let (digest, reference) = if cli_policy {
        policy::resolve_policy(&a.policy, &a.policy_digest, &a.policy_ref)?
    } else {
        (String::new(), String::new())
    };
    let revoked = if a.identity_revocations.trim().is_empty() {
        None
    } else {
        Some(policy::read_revocations(&a.identity_revocations)?)
    };
    Ok(ResumeInputs {
        cli_policy,
        digest,
        reference,
        revoked,
    })
}

/// Whether a resume needs an approval first (A8).
pub fn approval_needed(st: &JobState) -> bool {
    let d = st
        .checkpoints
        .iter()
        .filter(|c| c.checkpoint_type == "decision-needed")
        .count();
    let a = st.approvals.len();
    d > a || (st.status == "decision_needed" && d == 0)
}

pub fn can_resume(status: &str) -> bool {
    matches!(status, "paused" | "decision_needed" | "blocked")
}

/// Applies the policy- and identity-bound resume to `st` (A8, steps 1–13).
pub fn apply_resume(st: &mut JobState, a: &ResumeArgs, inp: &ResumeInputs) -> R<Change> {
    if !can_resume(&st.status) {
        return Err(JobError::invalid(
            "invalid transition: resume requires paused, decision_needed, or blocked state",
        ));
    }
    if approval_needed(st) {
        return Err(JobError::invalid(
            "approval required: approval required before resume",
        ));
    }
    let current_fp = if a.env_fingerprint.trim().is_empty() {
        job::environment_fingerprint()
    } else {
        a.env_fingerprint.trim().to_string()
    };
    let reason = if a.reason.trim().is_empty() {
        "resume"
    } else {
        a.reason.trim()
    };
    let policy_required =
        inp.cli_policy || !st.policy_digest.is_empty() || !st.policy_ref.is_empty();
    if policy_required && inp.digest.is_empty() {
        return Err(JobError::invalid(
            "policy evaluation required: policy digest is required when policy evaluation is enabled",
        ));
    }
    let prev_digest = st.policy_digest.clone();
    let prev_ref = st.policy_ref.clone();
    let policy_changed =
        !prev_digest.is_empty() && !inp.digest.is_empty() && prev_digest != inp.digest;
    let bound = st.identity.clone();
    let cli_identity = a.identity.trim().to_string();
    let provided = if cli_identity.is_empty() && inp.revoked.is_some() {
        bound.clone()
    } else {
        cli_identity.clone()
    };
    if !bound.is_empty() && !provided.is_empty() && bound != provided {
        return Err(JobError::invalid(format!(
            "identity binding mismatch: expected={bound} provided={provided}"
        )));
    }
    let identity = if bound.is_empty() {
        provided.clone()
    } else {
        bound.clone()
    };
    let identity_required = !cli_identity.is_empty() || inp.revoked.is_some() || !bound.is_empty();
    if identity_required && identity.is_empty() {
        return Err(JobError::invalid(
            "identity validation required: identity is required for resume validation",
        ));
    }
    let listed = inp
        .revoked
        .as_ref()
        .is_some_and(|l| l.iter().any(|x| x == &identity));
    if (a.identity_revoked || listed) && !identity.is_empty() {
        return Err(JobError::invalid(format!("identity revoked: {identity}")));
    }
    let expected_fp = st.environment_fingerprint.clone();
    let env_override = !expected_fp.is_empty() && expected_fp != current_fp;
    if env_override && !a.allow_env_mismatch {
        return Err(JobError::invalid(format!(
            "environment fingerprint mismatch: expected={expected_fp} actual={current_fp}"
        )));
    }
    // Every check passed: apply.
    if !inp.digest.is_empty() {
        st.policy_digest = inp.digest.clone();
    }
    if !inp.reference.is_empty() {
        st.policy_ref = inp.reference.clone();
    }
    if st.identity.is_empty() {
        st.identity = identity.clone();
    }
    let code = match (env_override, policy_changed) {
        (true, true) => "resumed_with_env_override_policy_transition",
        (true, false) => "resumed_with_env_override",
        (false, true) => "resumed_with_policy_transition",
        (false, false) => "resumed",
    };
    st.status = "running".into();
    st.stop_reason = "none".into();
    st.status_reason_code = code.into();
    let mut p = Map::new();
    p.insert("reason".into(), json!(reason));
    if !expected_fp.is_empty() {
        p.insert("expected_fingerprint".into(), json!(expected_fp));
    }
    p.insert("actual_fingerprint".into(), json!(current_fp));
    if policy_required {
        p.insert("policy_evaluation_required".into(), json!(true));
    }
    if !prev_digest.is_empty() || !st.policy_digest.is_empty() {
        p.insert("previous_policy_digest".into(), json!(prev_digest));
        p.insert("current_policy_digest".into(), json!(st.policy_digest));
        p.insert("policy_changed".into(), json!(policy_changed));
    }
    if !prev_ref.is_empty() || !st.policy_ref.is_empty() {
        p.insert("previous_policy_ref".into(), json!(prev_ref));
        p.insert("current_policy_ref".into(), json!(st.policy_ref));
    }
    if identity_required {
        p.insert("identity_validation_required".into(), json!(true));
    }
    if !identity.is_empty() {
        p.insert("identity".into(), json!(identity));
    }
    let mut source = a.identity_validation_source.trim().to_string();
    if source.is_empty() && inp.revoked.is_some() {
        source = "revocation_list".into();
    }
    if !source.is_empty() {
        p.insert("identity_validation_source".into(), json!(source));
    }
    Ok(Change {
        event_type: "resumed".into(),
        actor: a.actor.trim().to_string(),
        reason_code: code.into(),
        payload: Some(p),
    })
}

pub fn resume(ctx: &Ctx, a: &ResumeArgs) -> R<CommandOutput> {
    let job = ctx.job(&a.id)?;
    let inp = resume_inputs(a)?;
    let mut txn = Txn::begin(&job, false)?;
    let mut st = txn.existing()?.clone();
    check_fence(ctx, &job, &st)?;
    let change = apply_resume(&mut st, a, &inp)?;
    txn.commit(st, change, ctx.now)?;
    Ok(job_output("resume", txn.existing()?))
}

// ---------------------------------------------------------------------------------------------
// list

/// `gait job list`: every job under the root with status, last checkpoint and age.
pub fn list(ctx: &Ctx) -> R<CommandOutput> {
    let root = job::resolve_root(&ctx.root)?;
    let ids = job::list_job_ids(&root)?;
    let now = ctx.now.timestamp();
    let mut jobs = Vec::new();
    let mut text = String::new();
    for id in &ids {
        let dir = JobDir {
            root: root.clone(),
            id: id.clone(),
            dir: root.join(id),
        };
        let mut m = Map::new();
        m.insert("job_id".into(), json!(id));
        if dir.pending_path().exists() {
            m.insert("pending_recovery".into(), json!(true));
        }
        match job::read_state(&dir) {
            Ok(Some(st)) => {
                let age = now
                    .duration_since(st.created_at.timestamp())
                    .as_secs()
                    .max(0);
                let idle = now
                    .duration_since(st.updated_at.timestamp())
                    .as_secs()
                    .max(0);
                m.insert("status".into(), json!(st.status));
                m.insert("stop_reason".into(), json!(st.stop_reason));
                m.insert("status_reason_code".into(), json!(st.status_reason_code));
                m.insert("revision".into(), json!(st.revision));
                m.insert("created_at".into(), json!(st.created_at.to_rfc3339_nano()));
                m.insert("updated_at".into(), json!(st.updated_at.to_rfc3339_nano()));
                m.insert("age_seconds".into(), json!(age));
                m.insert("idle_seconds".into(), json!(idle));
                m.insert("checkpoint_count".into(), json!(st.checkpoints.len()));
                let last = st.last_checkpoint();
                if let Some(c) = last {
                    m.insert("last_checkpoint".into(), c.to_value());
                }
                if let Some(l) = &st.lease {
                    m.insert("lease".into(), l.to_ojson().to_value());
                }
                text.push_str(&format!(
                    "{id}  status={}  last_checkpoint={}  age={}\n",
                    st.status,
                    last.map(|c| format!(
                        "{} ({}) {}",
                        c.checkpoint_id, c.checkpoint_type, c.summary
                    ))
                    .unwrap_or_else(|| "-".into()),
                    human_age(age)
                ));
            }
            Ok(None) => {
                m.insert("error".into(), json!("job not found"));
                text.push_str(&format!("{id}  error=job not found (no state.json)\n"));
            }
            Err(e) => {
                m.insert("error".into(), json!(e.to_string()));
                text.push_str(&format!("{id}  error={e}\n"));
            }
        }
        jobs.push(Value::Object(m));
    }
    let mut m = base("list");
    m.insert("root".into(), json!(root.to_string_lossy()));
    m.insert("jobs".into(), Value::Array(jobs));
    if ids.is_empty() {
        text.push_str(&format!("no jobs under {}\n", root.display()));
    }
    Ok(CommandOutput::new(m, text, exit::OK))
}

fn human_age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}
