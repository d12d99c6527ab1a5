//! `gait gate commitment-eval`: the gate side of voice mode (gate-extended §6).
//!
//! `gait voice token mint` (the `gait-voice` plugin) derives an ordinary gate intent from a
//! commitment intent and asks the gate for a decision through the CLI contract. A commitment
//! is evaluated as a plain intent: policy rules match it by `tool_names`
//! (`voice.commitment.<class>`), and nothing beyond the pure evaluation runs — no approval
//! tokens, rate limits, delegation, envelopes, inventory or kill switch. The decision is
//! recorded as a signed trace like `gate eval`'s; the verdict is only reported, the caller acts
//! on it (a SayToken only on `allow`).

use crate::commands::{load_intent, load_policy};
use crate::error::GateError;
use crate::eval::{self, strip_context_claims, EvalOptions};
use crate::intent::sorted_unique;
use crate::trace::{self, short_id, TraceInput};
use gait_sdk::cli::CommandOutput;
use gait_sdk::error::exit;
use gait_sdk::signing::{self, KeySource};
use gait_sdk::time::GoTime;
use serde_json::{json, Map};
use std::path::Path;

/// Inputs of `gate commitment-eval`.
#[derive(Debug, Clone, Default)]
pub struct CommitmentEvalArgs {
    pub policy: String,
    /// The derived gate intent (JSON file).
    pub intent: String,
    pub trace_out: String,
    pub key_mode: String,
    pub private_key: String,
    pub private_key_env: String,
    pub correlation_id: String,
}

/// Evaluates a derived commitment intent, writes the signed trace, reports the verdict
/// (exit 0 allow / dry_run, 3 block, 4 approval required, like `gate eval`).
pub fn commitment_eval(a: &CommitmentEvalArgs) -> Result<CommandOutput, GateError> {
    if a.policy.trim().is_empty() || a.intent.trim().is_empty() {
        return Err(GateError::invalid(
            "both --policy and --intent are required",
        ));
    }
    let signer = signing::resolve_signer(
        &a.key_mode,
        &KeySource::new(&a.private_key, &a.private_key_env),
    )?;
    let policy = load_policy(a.policy.trim())?;
    let raw = load_intent(a.intent.trim())?;
    let mut prepared = raw.normalize()?;
    strip_context_claims(&mut prepared);
    let now = GoTime::now_utc();
    let ev = eval::evaluate(&policy, &prepared, &EvalOptions { now, wrkr: None });
    let policy_digest = policy.digest();
    let intent_digest = prepared.intent_digest();
    let verdict = ev.verdict.clone();
    let reasons = sorted_unique(&ev.reason_codes);
    let violations = sorted_unique(&ev.violations);
    let trace_id = short_id(&format!("{policy_digest}:{intent_digest}:{verdict}"));
    let trace_path = if a.trace_out.trim().is_empty() {
        format!("trace_{trace_id}.json")
    } else {
        a.trace_out.trim().to_string()
    };
    let created_at = prepared
        .created_at
        .filter(|t| !t.is_zero())
        .map(|t| t.utc())
        .unwrap_or(now);
    let record = trace::build_trace(&TraceInput {
        intent: &prepared,
        evaluation: &ev,
        final_verdict: &verdict,
        violations: &violations,
        policy_digest: &policy_digest,
        intent_digest: &intent_digest,
        trace_id: &trace_id,
        created_at,
        observed_at: now,
        correlation_id: &a.correlation_id,
        approval_ref: "",
        latency_ms: 0.0,
        delegation_ref: None,
    });
    let signed = trace::sign_record(record, &signer.key)?;
    let path = Path::new(&trace_path);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        gait_sdk::fsutil::create_dir_all_mode(parent, 0o750)
            .map_err(|e| GateError::Io(format!("write trace: {e}")))?;
    }
    gait_sdk::fsutil::write_atomic(
        path,
        gait_sdk::output::to_json_pretty(&signed).as_bytes(),
        0o600,
    )
    .map_err(|e| GateError::Io(format!("write trace: {e}")))?;

    let mut out = Map::new();
    out.insert("verdict".into(), json!(verdict));
    if !reasons.is_empty() {
        out.insert("reason_codes".into(), json!(reasons));
    }
    if !violations.is_empty() {
        out.insert("violations".into(), json!(violations));
    }
    if !ev.matched_rule.is_empty() {
        out.insert("matched_rule".into(), json!(ev.matched_rule));
    }
    out.insert("trace_id".into(), json!(trace_id));
    out.insert("trace_path".into(), json!(trace_path));
    out.insert("policy_digest".into(), json!(policy_digest));
    out.insert("intent_digest".into(), json!(intent_digest));
    if !signer.warnings.is_empty() {
        out.insert("warnings".into(), json!(signer.warnings));
    }
    let code = match verdict.as_str() {
        "block" => exit::POLICY_BLOCKED,
        "require_approval" => exit::APPROVAL_REQUIRED,
        _ => exit::OK,
    };
    let text = format!("gate commitment-eval: verdict={verdict}\ntrace: {trace_path}\n");
    Ok(CommandOutput::new(out, text, code))
}
