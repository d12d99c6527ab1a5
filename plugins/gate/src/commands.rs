//! The gate plugin's commands as library functions: each takes parsed flags and returns the
//! result to render (JSON members, text, exit code) or a typed error. Nothing here prints.

use crate::approval::{self, ApprovalToken, AuditEntry, AuditInput, MintRequest, TokenContext};
use crate::broker::{self, BrokerConfig, BrokerKind};
use crate::check_plugin;
use crate::config;
use crate::delegation;
use crate::error::GateError;
use crate::eval::{self, strip_context_claims, EvalOptions, Evaluation};
use crate::intent::{sorted_unique, Intent};
use crate::killswitch;
use crate::policy::{self, Policy};
use crate::ratelimit;
use crate::registry;
use crate::trace::{self, short_id, TraceInput};
use crate::wrkr;
use gait_sdk::cli::CommandOutput;
use gait_sdk::error::exit;
use gait_sdk::fsutil;
use gait_sdk::signing::{self, KeySource};
use gait_sdk::time::{parse_go_duration, GoTime};
use serde_json::{json, Map, Value};
use std::path::Path;

/// Time stamped on results of intents without `created_at`.
pub const DEFAULT_CREATED_AT: &str = "1980-01-01T00:00:00Z";

fn verdict_exit(verdict: &str) -> i32 {
    match verdict {
        "block" => exit::POLICY_BLOCKED,
        "require_approval" => exit::APPROVAL_REQUIRED,
        _ => exit::OK,
    }
}

fn read_text(path: &str, what: &str) -> Result<String, GateError> {
    fsutil::read_text_input(Path::new(path))
        .map_err(|e| GateError::invalid(format!("read {what}: {e}")))
}

/// Reads and parses a policy file.
pub fn load_policy(path: &str) -> Result<Policy, GateError> {
    let text = read_text(path, "policy")?;
    Ok(policy::parse_policy(&text)?)
}

/// Reads and decodes an intent file (not yet normalised).
pub fn load_intent(path: &str) -> Result<Intent, GateError> {
    let text = read_text(path, "intent")?;
    Ok(Intent::parse_json(&text)?)
}

fn created_at_of(intent: &Intent) -> GoTime {
    intent
        .created_at
        .filter(|t| !t.is_zero())
        .map(|t| t.utc())
        .unwrap_or_else(|| GoTime::parse_rfc3339(DEFAULT_CREATED_AT).expect("constant parses"))
}

fn put_list(m: &mut Map<String, Value>, k: &str, v: &[String]) {
    if !v.is_empty() {
        m.insert(k.into(), json!(v));
    }
}

fn put_str(m: &mut Map<String, Value>, k: &str, v: &str) {
    if !v.is_empty() {
        m.insert(k.into(), json!(v));
    }
}

// ------------------------------------------------------------------ policy test

/// `gait policy test <policy> <intent>`.
pub fn policy_test(policy_path: &str, intent_path: &str) -> Result<CommandOutput, GateError> {
    let policy = load_policy(policy_path)?;
    let raw = load_intent(intent_path)?;
    let normalized = raw.normalize()?;
    let mut prepared = normalized.clone();
    strip_context_claims(&mut prepared);
    let ev = eval::evaluate(
        &policy,
        &prepared,
        &EvalOptions {
            now: GoTime::now_utc(),
            wrkr: None,
        },
    );
    let summary = test_summary(&ev);
    let mut m = Map::new();
    m.insert("schema_id".into(), json!("gait.policytest.result"));
    m.insert("schema_version".into(), json!("1.0.0"));
    m.insert(
        "created_at".into(),
        json!(created_at_of(&normalized).to_rfc3339_nano()),
    );
    m.insert("policy_digest".into(), json!(policy.digest()));
    m.insert("intent_digest".into(), json!(normalized.intent_digest()));
    m.insert("verdict".into(), json!(ev.verdict));
    put_list(&mut m, "reason_codes", &ev.reason_codes);
    put_list(&mut m, "violations", &ev.violations);
    put_str(&mut m, "matched_rule", &ev.matched_rule);
    m.insert("summary".into(), json!(summary));
    Ok(CommandOutput::new(
        m,
        summary.clone(),
        verdict_exit(&ev.verdict),
    ))
}

fn test_summary(ev: &Evaluation) -> String {
    let csv = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(",")
        }
    };
    let s = format!(
        "policy test verdict={} reasons={} violations={}",
        ev.verdict,
        csv(&ev.reason_codes),
        csv(&ev.violations)
    );
    if s.len() <= 240 {
        return s;
    }
    let extra = s.len() - 240;
    let suffix = format!("...(+{extra})");
    let mut cut = 240 - suffix.len();
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}", &s[..cut])
}

// ------------------------------------------------------------------ policy validate / fmt / init / simulate

pub fn policy_validate(path: &str) -> Result<CommandOutput, GateError> {
    let p = load_policy(path)?;
    let digest = p.digest();
    let summary = format!(
        "policy validate ok: default={} rules={} digest={digest}",
        p.default_verdict,
        p.rules.len()
    );
    let mut m = Map::new();
    m.insert("schema_id".into(), json!(p.schema_id));
    m.insert("schema_version".into(), json!(p.schema_version));
    m.insert("policy_digest".into(), json!(digest));
    m.insert("default_verdict".into(), json!(p.default_verdict));
    if !p.rules.is_empty() {
        m.insert("rule_count".into(), json!(p.rules.len()));
    }
    m.insert("summary".into(), json!(summary));
    Ok(CommandOutput::new(m, summary, exit::OK))
}

pub fn policy_fmt(path: &str, write: bool) -> Result<CommandOutput, GateError> {
    let original = read_text(path, "policy")?;
    let p = policy::parse_policy(&original)?;
    let formatted = policy::format_policy(&p);
    let changed = formatted != original;
    let mut m = Map::new();
    m.insert("path".into(), json!(path));
    m.insert("policy_digest".into(), json!(p.digest()));
    m.insert("default_verdict".into(), json!(p.default_verdict));
    if !p.rules.is_empty() {
        m.insert("rule_count".into(), json!(p.rules.len()));
    }
    if changed {
        m.insert("changed".into(), json!(true));
    }
    let text = if write {
        if changed {
            fsutil::write_atomic(Path::new(path), formatted.as_bytes(), 0o644)
                .map_err(|e| GateError::Io(format!("write policy: {e}")))?;
            m.insert("written".into(), json!(true));
            format!("formatted {path}")
        } else {
            format!("{path} already formatted")
        }
    } else {
        m.insert("formatted".into(), json!(formatted.clone()));
        formatted
    };
    Ok(CommandOutput::new(m, text, exit::OK))
}

const TEMPLATES: &[(&str, &str)] = &[
    (
        "baseline-lowrisk",
        include_str!("../templates/baseline-lowrisk.yaml"),
    ),
    (
        "baseline-mediumrisk",
        include_str!("../templates/baseline-mediumrisk.yaml"),
    ),
    (
        "baseline-highrisk",
        include_str!("../templates/baseline-highrisk.yaml"),
    ),
];

/// The canonical template name for a template name or alias (case-insensitive).
pub fn template_name(input: &str) -> Option<&'static str> {
    match input.trim().to_lowercase().as_str() {
        "baseline-lowrisk" | "baseline_low_risk" | "low" => Some("baseline-lowrisk"),
        "baseline-mediumrisk" | "baseline_medium_risk" | "medium" => Some("baseline-mediumrisk"),
        "baseline-highrisk" | "baseline_high_risk" | "high" => Some("baseline-highrisk"),
        _ => None,
    }
}

/// The body of a canonical template name (as returned by [`template_name`]).
pub fn template_body(name: &str) -> &'static str {
    TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
        .unwrap_or("")
}

pub fn policy_init(template: &str, out: &str, force: bool) -> Result<CommandOutput, GateError> {
    let name = template_name(template)
        .ok_or_else(|| GateError::invalid(format!("unknown template: {}", template.trim())))?;
    let body = TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
        .expect("template listed");
    let out_path = Path::new(out);
    if out_path.exists() && !force {
        return Err(GateError::invalid(format!(
            "output path already exists (use --force to overwrite): {out}"
        )));
    }
    fsutil::write_atomic(out_path, body.as_bytes(), 0o644)
        .map_err(|e| GateError::Io(format!("write policy: {e}")))?;
    let mut m = Map::new();
    m.insert("template".into(), json!(name));
    m.insert("policy_path".into(), json!(out));
    m.insert(
        "next_commands".into(),
        json!([
            format!("gait policy validate {out} --json"),
            format!("gait policy fmt {out} --write --json"),
            "gait doctor --json"
        ]),
    );
    Ok(CommandOutput::new(
        m,
        format!("policy written: {out} (template {name})"),
        exit::OK,
    ))
}

fn collect_fixtures(spec: &str) -> Result<Vec<String>, GateError> {
    let mut out = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let p = Path::new(item);
        if p.is_dir() {
            let mut stack = vec![p.to_path_buf()];
            while let Some(dir) = stack.pop() {
                let entries = std::fs::read_dir(&dir).map_err(|e| {
                    GateError::invalid(format!(
                        "read fixtures dir {}: {}",
                        dir.display(),
                        fsutil::go_io_reason(&e)
                    ))
                })?;
                for e in entries.flatten() {
                    let path = e.path();
                    let ft = e
                        .file_type()
                        .map_err(|err| GateError::Io(err.to_string()))?;
                    if ft.is_dir() {
                        stack.push(path);
                    } else if ft.is_file() && path.extension().is_some_and(|x| x == "json") {
                        out.push(path.to_string_lossy().into_owned());
                    }
                }
            }
        } else {
            out.push(item.to_string());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

pub fn policy_simulate(
    candidate: &str,
    baseline: &str,
    fixtures: &str,
) -> Result<CommandOutput, GateError> {
    if candidate.trim().is_empty() || baseline.trim().is_empty() {
        return Err(GateError::invalid(
            "missing required --policy <candidate.yaml> and --baseline <baseline.yaml>",
        ));
    }
    if fixtures.trim().is_empty() {
        return Err(GateError::invalid(
            "missing required --fixtures <csv files/dirs>",
        ));
    }
    let cand = load_policy(candidate)?;
    let base = load_policy(baseline)?;
    let files = collect_fixtures(fixtures)?;
    let now = EvalOptions {
        now: GoTime::now_utc(),
        wrkr: None,
    };
    let mut changed = Vec::new();
    let mut base_counts = std::collections::BTreeMap::<String, i64>::new();
    let mut cand_counts = std::collections::BTreeMap::<String, i64>::new();
    let (mut relaxed, mut tightened_to_block) = (false, false);
    for f in &files {
        let mut intent = load_intent(f)?.normalize()?;
        strip_context_claims(&mut intent);
        let b = eval::evaluate(&base, &intent, &now);
        let c = eval::evaluate(&cand, &intent, &now);
        *base_counts.entry(b.verdict.clone()).or_default() += 1;
        *cand_counts.entry(c.verdict.clone()).or_default() += 1;
        if b.verdict != c.verdict
            || b.reason_codes != c.reason_codes
            || b.violations != c.violations
            || b.matched_rule != c.matched_rule
        {
            if b.verdict != "allow" && c.verdict == "allow" {
                relaxed = true;
            }
            if c.verdict == "block" && b.verdict != "block" {
                tightened_to_block = true;
            }
            let mut e = Map::new();
            e.insert("fixture_path".into(), json!(f));
            e.insert("intent_digest".into(), json!(intent.intent_digest()));
            e.insert("changed".into(), json!(true));
            e.insert("baseline_verdict".into(), json!(b.verdict));
            e.insert("candidate_verdict".into(), json!(c.verdict));
            put_list(&mut e, "baseline_reason_codes", &b.reason_codes);
            put_list(&mut e, "candidate_reason_codes", &c.reason_codes);
            put_list(&mut e, "baseline_violations", &b.violations);
            put_list(&mut e, "candidate_violations", &c.violations);
            put_str(&mut e, "baseline_matched_rule", &b.matched_rule);
            put_str(&mut e, "candidate_matched_rule", &c.matched_rule);
            changed.push(Value::Object(e));
        }
    }
    let recommendation = if changed.is_empty() {
        "enforce"
    } else if relaxed {
        "observe"
    } else if tightened_to_block {
        "require_approval"
    } else {
        "enforce"
    };
    let counts = |m: &std::collections::BTreeMap<String, i64>| -> Value {
        m.iter()
            .map(|(v, c)| json!({"verdict": v, "count": c}))
            .collect()
    };
    let summary = format!(
        "policy simulate fixtures={} changed={} recommendation={recommendation}",
        files.len(),
        changed.len()
    );
    let mut m = Map::new();
    m.insert("baseline_policy_digest".into(), json!(base.digest()));
    m.insert("candidate_policy_digest".into(), json!(cand.digest()));
    m.insert("fixtures_total".into(), json!(files.len()));
    if !changed.is_empty() {
        m.insert("changed_fixtures".into(), json!(changed.len()));
        m.insert("changed".into(), Value::Array(changed));
    }
    m.insert("baseline_verdicts".into(), counts(&base_counts));
    m.insert("candidate_verdicts".into(), counts(&cand_counts));
    m.insert("recommendation".into(), json!(recommendation));
    m.insert("summary".into(), json!(summary));
    Ok(CommandOutput::new(m, summary, exit::OK))
}

// ------------------------------------------------------------------ approve

/// Flags of `gait approve`.
#[derive(Debug, Clone, Default)]
pub struct ApproveArgs {
    pub intent_digest: String,
    pub policy_digest: String,
    pub delegation_binding_digest: String,
    pub ttl: String,
    pub scope: String,
    pub approver: String,
    pub reason_code: String,
    pub max_targets: i64,
    pub max_ops: i64,
    pub out: String,
    pub key_mode: String,
    pub private_key: String,
    pub private_key_env: String,
}

pub fn approve(a: &ApproveArgs) -> Result<CommandOutput, GateError> {
    let ttl = parse_go_duration(a.ttl.trim())
        .ok()
        .filter(|d| *d > 0)
        .ok_or_else(|| GateError::invalid("invalid --ttl, expected positive duration"))?;
    if sorted_unique(&a.scope.split(',').map(str::to_string).collect::<Vec<_>>()).is_empty() {
        return Err(GateError::invalid("scope is required"));
    }
    let signer = signing::resolve_signer(
        &a.key_mode,
        &KeySource::new(&a.private_key, &a.private_key_env),
    )?;
    let req = MintRequest {
        intent_digest: a.intent_digest.clone(),
        policy_digest: a.policy_digest.clone(),
        delegation_binding_digest: a.delegation_binding_digest.clone(),
        ttl_nanos: ttl,
        scope: a.scope.split(',').map(str::to_string).collect(),
        approver: a.approver.clone(),
        reason_code: a.reason_code.clone(),
        max_targets: a.max_targets,
        max_ops: a.max_ops,
    };
    let token = approval::mint(&req, &signer.key, GoTime::now_utc())?;
    let out = if a.out.trim().is_empty() {
        format!("approval_{}.json", token.token_id)
    } else {
        a.out.trim().to_string()
    };
    fsutil::write_atomic(
        Path::new(&out),
        gait_sdk::output::to_json_pretty(&token.to_value()).as_bytes(),
        0o600,
    )
    .map_err(|e| GateError::Io(format!("write approval token: {e}")))?;
    let mut m = Map::new();
    m.insert("token_id".into(), json!(token.token_id));
    m.insert("token_path".into(), json!(out));
    m.insert(
        "expires_at".into(),
        json!(token.expires_at.utc().to_rfc3339()),
    );
    m.insert("reason_code".into(), json!(token.reason_code));
    m.insert("scope".into(), json!(token.scope));
    if token.max_targets > 0 {
        m.insert("max_targets".into(), json!(token.max_targets));
    }
    if token.max_ops > 0 {
        m.insert("max_ops".into(), json!(token.max_ops));
    }
    m.insert("key_id".into(), json!(signer.key.key_id()));
    put_list(&mut m, "warnings", &signer.warnings);
    m.insert("description".into(), json!("signed approval token created"));
    Ok(CommandOutput::new(
        m,
        format!("approval token created: {out}"),
        exit::OK,
    ))
}

/// The evaluation recorded for an approved-script registry match (§1.9 step 6).
fn pre_approved_evaluation(prepared: &Intent, entry: &registry::Entry) -> Evaluation {
    let steps = prepared.script.as_deref().unwrap_or_default();
    let mut risks: Vec<&str> = steps.iter().map(|s| eval::step_risk(&s.targets)).collect();
    risks.sort_unstable();
    let composite = if risks.contains(&"high") {
        "high"
    } else if risks.contains(&"medium") {
        "medium"
    } else {
        "low"
    };
    Evaluation {
        verdict: "allow".into(),
        reason_codes: vec!["approved_script_match".into()],
        script: Some(eval::ScriptOutcome {
            step_count: steps.len(),
            composite_risk_class: composite.into(),
            step_verdicts: steps
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    json!({"index": i, "tool_name": s.tool_name, "verdict": "allow", "reason_codes": ["approved_script_match"]})
                })
                .collect(),
            matched_rule_ids: vec![],
        }),
        pre_approved: true,
        pattern_id: entry.pattern_id.clone(),
        registry_reason: "approved_script_match".into(),
        ..Default::default()
    }
}

// ------------------------------------------------------------------ approve-script

/// Flags of `gait approve-script`.
#[derive(Debug, Clone, Default)]
pub struct ApproveScriptArgs {
    pub policy: String,
    pub intent: String,
    pub registry: String,
    pub approver: String,
    pub pattern_id: String,
    pub ttl: String,
    pub scope: String,
    pub key_mode: String,
    pub private_key: String,
    pub private_key_env: String,
}

/// `gait approve-script`: sign an approved-script entry into a registry (§1.7).
pub fn approve_script(a: &ApproveScriptArgs) -> Result<CommandOutput, GateError> {
    if [&a.policy, &a.intent, &a.registry, &a.approver]
        .iter()
        .any(|v| v.trim().is_empty())
    {
        return Err(GateError::invalid(
            "--policy, --intent, --registry, and --approver are required",
        ));
    }
    let ttl_text = if a.ttl.trim().is_empty() {
        "168h"
    } else {
        a.ttl.trim()
    };
    let ttl = parse_go_duration(ttl_text)
        .ok()
        .filter(|d| *d > 0)
        .and_then(|d| i64::try_from(d).ok())
        .ok_or_else(|| GateError::invalid("invalid --ttl duration"))?;
    let policy = load_policy(&a.policy)?;
    let policy_digest = policy.digest();
    let intent = load_intent(&a.intent)?.normalize()?;
    if intent.script.is_none() {
        return Err(GateError::invalid("intent must include script.steps"));
    }
    let key_mode = if a.key_mode.trim().is_empty() {
        "dev"
    } else {
        a.key_mode.as_str()
    };
    let signer = signing::resolve_signer(
        key_mode,
        &KeySource::new(&a.private_key, &a.private_key_env),
    )?;
    let mut entry = registry::new_entry(
        &intent,
        &policy_digest,
        &a.pattern_id,
        &a.approver,
        &csv(&a.scope),
        jiff::SignedDuration::from_nanos(ttl),
        GoTime::now_utc(),
    )
    .ok_or_else(|| GateError::invalid("invalid --ttl duration"))?;
    entry.sign(&signer.key)?;
    let mut entries = registry::read(&a.registry).map_err(|e| GateError::invalid(e.to_string()))?;
    registry::upsert(&mut entries, entry.clone());
    registry::write(&a.registry, &entries)
        .map_err(|e| GateError::Io(format!("write approved script registry: {e}")))?;
    let path = a.registry.trim().to_string();
    let mut m = Map::new();
    m.insert("pattern_id".into(), json!(entry.pattern_id));
    m.insert("policy_digest".into(), json!(entry.policy_digest));
    m.insert("script_hash".into(), json!(entry.script_hash));
    m.insert("tool_sequence".into(), json!(entry.tool_sequence));
    m.insert("registry_path".into(), json!(path));
    m.insert(
        "expires_at".into(),
        json!(entry.expires_at.utc().to_rfc3339_nano()),
    );
    put_list(&mut m, "warnings", &signer.warnings);
    Ok(CommandOutput::new(
        m,
        format!(
            "approve-script: pattern={} registry={path}\npolicy_digest={} script_hash={}",
            entry.pattern_id, entry.policy_digest, entry.script_hash
        ),
        exit::OK,
    ))
}

/// `gait list-scripts`: list registry entries (§1.8); signatures are not checked.
pub fn list_scripts(registry_path: &str) -> Result<CommandOutput, GateError> {
    let path = registry_path.trim();
    if path.is_empty() {
        return Err(GateError::invalid("--registry is required"));
    }
    let entries = registry::read(path).map_err(|e| GateError::invalid(e.to_string()))?;
    let now = GoTime::now_utc();
    let mut m = Map::new();
    m.insert("registry".into(), json!(path));
    let mut text = format!("list-scripts: {} entries in {path}", entries.len());
    if !entries.is_empty() {
        m.insert("count".into(), json!(entries.len()));
        let list: Vec<Value> = entries
            .iter()
            .map(|e| {
                let expired = e.expires_at <= now;
                let expires = e.expires_at.utc().to_rfc3339_nano();
                text.push_str(&format!(
                    "\n- {} ({}) approver={} expires={expires}",
                    e.pattern_id,
                    if expired { "expired" } else { "active" },
                    e.approver_identity
                ));
                let mut o = Map::new();
                o.insert("pattern_id".into(), json!(e.pattern_id));
                o.insert("approver_identity".into(), json!(e.approver_identity));
                o.insert("policy_digest".into(), json!(e.policy_digest));
                o.insert("script_hash".into(), json!(e.script_hash));
                o.insert("tool_sequence".into(), json!(e.tool_sequence));
                if !e.scope.is_empty() {
                    o.insert("scope".into(), json!(e.scope));
                }
                o.insert("expires_at".into(), json!(expires));
                o.insert("expired".into(), json!(expired));
                Value::Object(o)
            })
            .collect();
        m.insert("entries".into(), Value::Array(list));
    }
    Ok(CommandOutput::new(m, text, exit::OK))
}

// ------------------------------------------------------------------ delegate

/// Flags of `gait delegate mint`.
#[derive(Debug, Clone, Default)]
pub struct DelegateMintArgs {
    pub delegator: String,
    pub delegate: String,
    pub scope: String,
    pub scope_class: String,
    pub intent_digest: String,
    pub policy_digest: String,
    pub ttl: String,
    pub out: String,
    pub key_mode: String,
    pub private_key: String,
    pub private_key_env: String,
}

fn csv(s: &str) -> Vec<String> {
    s.split(',').map(str::to_string).collect()
}

fn delegation_fields(m: &mut Map<String, Value>, t: &delegation::DelegationToken, path: &str) {
    m.insert("token_id".into(), json!(t.token_id.trim()));
    m.insert("token_path".into(), json!(path));
    m.insert(
        "delegator_identity".into(),
        json!(t.delegator_identity.trim()),
    );
    m.insert(
        "delegate_identity".into(),
        json!(t.delegate_identity.trim()),
    );
    m.insert(
        "scope".into(),
        json!(crate::intent::sorted_unique_lower(&t.scope)),
    );
    let class = t.scope_class.trim().to_lowercase();
    if !class.is_empty() {
        m.insert("scope_class".into(), json!(class));
    }
    m.insert("expires_at".into(), json!(t.expires_at.utc().to_rfc3339()));
}

/// `gait delegate mint`: sign a delegation token (§3.4).
pub fn delegate_mint(a: &DelegateMintArgs) -> Result<CommandOutput, GateError> {
    let ttl = parse_go_duration(a.ttl.trim())
        .ok()
        .filter(|d| *d > 0)
        .ok_or_else(|| GateError::invalid("invalid --ttl, expected positive duration"))?;
    if sorted_unique(&csv(&a.scope)).is_empty() {
        return Err(GateError::invalid("scope is required"));
    }
    let key_mode = if a.key_mode.trim().is_empty() {
        "dev"
    } else {
        a.key_mode.as_str()
    };
    let signer = signing::resolve_signer(
        key_mode,
        &KeySource::new(&a.private_key, &a.private_key_env),
    )?;
    let req = delegation::MintRequest {
        delegator: a.delegator.clone(),
        delegate: a.delegate.clone(),
        scope: csv(&a.scope),
        scope_class: a.scope_class.clone(),
        intent_digest: a.intent_digest.clone(),
        policy_digest: a.policy_digest.clone(),
        ttl_nanos: ttl,
    };
    let token = delegation::mint(&req, &signer.key, GoTime::now_utc())?;
    let out = if a.out.trim().is_empty() {
        format!("delegation_{}.json", token.token_id)
    } else {
        a.out.trim().to_string()
    };
    fsutil::write_atomic(
        Path::new(&out),
        gait_sdk::output::to_json_pretty(&token.to_value()).as_bytes(),
        0o600,
    )
    .map_err(|e| GateError::Io(format!("write delegation token: {e}")))?;
    let mut m = Map::new();
    delegation_fields(&mut m, &token, &out);
    m.insert("key_id".into(), json!(signer.key.key_id()));
    put_list(&mut m, "warnings", &signer.warnings);
    m.insert(
        "description".into(),
        json!("signed delegation token created"),
    );
    Ok(CommandOutput::new(
        m,
        format!("delegation token created: {out}"),
        exit::OK,
    ))
}

/// Flags of `gait delegate verify`.
#[derive(Debug, Clone, Default)]
pub struct DelegateVerifyArgs {
    pub token: String,
    pub public_key: String,
    pub public_key_env: String,
    pub private_key: String,
    pub private_key_env: String,
    pub delegator: String,
    pub delegate: String,
    pub scope: String,
    pub intent_digest: String,
    pub policy_digest: String,
}

/// `gait delegate verify`: check a delegation token (§3.4); a failed check exits 2.
pub fn delegate_verify(a: &DelegateVerifyArgs) -> Result<CommandOutput, GateError> {
    let path = a.token.trim().to_string();
    if path.is_empty() {
        return Err(GateError::invalid("--token is required"));
    }
    let key = signing::resolve_verify_key(
        &KeySource::new(&a.public_key, &a.public_key_env),
        &KeySource::new(&a.private_key, &a.private_key_env),
    )?
    .ok_or_else(|| GateError::invalid("public key not configured"))?;
    let text = read_text(&path, "delegation token")?;
    let token = delegation::DelegationToken::parse(&text)
        .map_err(|e| GateError::invalid(format!("parse delegation token: {e}")))?;
    let scopes = sorted_unique(&csv(&a.scope));
    let expect = delegation::Expect {
        delegator: &a.delegator,
        delegate: &a.delegate,
        scopes: &scopes,
        intent_digest: &a.intent_digest,
        policy_digest: &a.policy_digest,
    };
    let n =
        delegation::check_token(&token, Some(&key), &expect, GoTime::now_utc()).map_err(|f| {
            GateError::DelegationVerify {
                code: f.code.to_string(),
                message: f.message,
                token_id: token.token_id.trim().to_string(),
                token_path: path.clone(),
            }
        })?;
    let mut m = Map::new();
    delegation_fields(&mut m, &n, &path);
    m.insert("key_id".into(), json!(key.key_id()));
    m.insert("description".into(), json!("delegation token verified"));
    Ok(CommandOutput::new(
        m,
        format!("delegation token ok: {path}"),
        exit::OK,
    ))
}

// ------------------------------------------------------------------ keys

pub fn keys_init(out_dir: &str, prefix: &str, force: bool) -> Result<CommandOutput, GateError> {
    write_key_pair(out_dir, prefix, force)
}

pub fn keys_rotate(out_dir: &str, prefix: &str) -> Result<CommandOutput, GateError> {
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    write_key_pair(out_dir, &format!("{prefix}_{stamp}"), false)
}

fn write_key_pair(out_dir: &str, prefix: &str, force: bool) -> Result<CommandOutput, GateError> {
    let prefix = prefix.trim();
    if prefix.is_empty() || prefix.contains('/') || prefix.contains('\\') {
        return Err(GateError::invalid(
            "key prefix must be a plain file name prefix",
        ));
    }
    let dir = Path::new(out_dir);
    let private_path = dir.join(format!("{prefix}_private.key"));
    let public_path = dir.join(format!("{prefix}_public.key"));
    if !force {
        if private_path.exists() {
            return Err(GateError::invalid(format!(
                "private key path already exists (use --force): {}",
                private_path.display()
            )));
        }
        if public_path.exists() {
            return Err(GateError::invalid(format!(
                "public key path already exists (use --force): {}",
                public_path.display()
            )));
        }
    }
    let key = signing::KeyPair::generate()?;
    fsutil::write_atomic(
        &private_path,
        format!("{}\n", key.private_base64()).as_bytes(),
        0o600,
    )
    .map_err(|e| GateError::Io(format!("write private key: {e}")))?;
    fsutil::write_atomic(
        &public_path,
        format!("{}\n", key.public().to_base64()).as_bytes(),
        0o600,
    )
    .map_err(|e| GateError::Io(format!("write public key: {e}")))?;
    let mut m = Map::new();
    m.insert("prefix".into(), json!(prefix));
    m.insert("key_id".into(), json!(key.key_id()));
    m.insert(
        "private_key_path".into(),
        json!(private_path.display().to_string()),
    );
    m.insert(
        "public_key_path".into(),
        json!(public_path.display().to_string()),
    );
    let text = format!(
        "key pair written\nkey_id: {}\nprivate key: {}\npublic key: {}",
        key.key_id(),
        private_path.display(),
        public_path.display()
    );
    Ok(CommandOutput::new(m, text, exit::OK))
}

pub fn keys_verify(private: &KeySource, public: &KeySource) -> Result<CommandOutput, GateError> {
    if !private.is_set() {
        return Err(GateError::invalid(
            "keys verify requires --private-key or --private-key-env",
        ));
    }
    let key = private.load_private()?.expect("source is set");
    let public_source = if public.is_set() {
        let pk = public.load_public()?.expect("source is set");
        if pk != key.public() {
            return Err(GateError::invalid("public key does not match private key"));
        }
        public.describe()
    } else {
        "derived".to_string()
    };
    let mut m = Map::new();
    m.insert("key_id".into(), json!(key.key_id()));
    m.insert("private_key_source".into(), json!(private.describe()));
    m.insert("public_key_source".into(), json!(public_source));
    Ok(CommandOutput::new(
        m,
        format!("key pair ok: key_id={}", key.key_id()),
        exit::OK,
    ))
}

// ------------------------------------------------------------------ gate eval

/// Flags of `gait gate eval` (core and extended).
#[derive(Debug, Clone, Default)]
pub struct GateEvalArgs {
    pub policy: String,
    pub intent: String,
    pub trace_out: String,
    pub key_mode: String,
    pub private_key: String,
    pub private_key_env: String,
    pub profile: String,
    pub approval_token: String,
    pub approval_token_chain: String,
    pub approval_token_ref: String,
    pub approval_audit_out: String,
    pub approval_public_key: String,
    pub approval_public_key_env: String,
    pub approval_private_key: String,
    pub approval_private_key_env: String,
    pub rate_limit_state: String,
    pub evaluation_time: String,
    pub simulate: bool,
    pub explain: bool,
    pub config: String,
    pub no_config: bool,
    pub credential_broker: String,
    pub credential_env_prefix: String,
    pub credential_ref: String,
    pub credential_scopes: String,
    pub credential_command: String,
    pub credential_command_args: String,
    pub credential_evidence_out: String,
    pub approved_script_registry: String,
    pub approved_script_public_key: String,
    pub approved_script_public_key_env: String,
    pub delegation_token: String,
    pub delegation_token_chain: String,
    pub delegation_audit_out: String,
    pub delegation_public_key: String,
    pub delegation_public_key_env: String,
    pub delegation_private_key: String,
    pub delegation_private_key_env: String,
    /// `--kill-switch-state` (or `gate.kill_switch_state`).
    pub kill_switch_state: String,
    /// `--wrkr-inventory` (or `gate.wrkr_inventory_path`).
    pub wrkr_inventory: String,
    /// `--context-envelope`.
    pub context_envelope: String,
    pub correlation_id: String,
    // --- check plugins (see check_plugin.rs) ---
    /// `--check-plugin` libraries, in order.
    pub check_plugins: Vec<String>,
    /// `--check-plugin-trust-key` keys (files or base64 key lines).
    pub check_plugin_trust_keys: Vec<String>,
}

fn validate_trace_path(p: &str) -> Result<String, GateError> {
    let trimmed = p.trim();
    let cleaned = crate::intent::clean_path_pub(trimmed);
    if trimmed.is_empty() || cleaned == "." || cleaned == "/" {
        return Err(GateError::invalid("trace path is required"));
    }
    if !cleaned.starts_with('/') && cleaned.split('/').any(|s| s == "..") {
        return Err(GateError::invalid(
            "relative trace path must not traverse parent directories",
        ));
    }
    Ok(cleaned)
}

fn fill(flag: &mut String, defaults: &config::GateDefaults, key: &str) {
    if flag.trim().is_empty() {
        *flag = defaults.get(key).to_string();
    }
}

fn explain_value(
    ev: &Evaluation,
    intent: &Intent,
    created_at: GoTime,
    required: i64,
    valid: i64,
    proof: Value,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("schema_id".into(), json!("gait.gate.policy_explain"));
    m.insert("schema_version".into(), json!("1.0.0"));
    m.insert("created_at".into(), json!(created_at.to_rfc3339_nano()));
    m.insert("producer_version".into(), json!(trace::PRODUCER_VERSION));
    m.insert("verdict".into(), json!(ev.verdict));
    put_str(&mut m, "matched_rule", &ev.matched_rule);
    if !ev.matched_rules.is_empty() {
        let rules: Vec<Value> = ev
            .matched_rules
            .iter()
            .map(|r| json!({"effect": r.effect, "name": r.name, "priority": r.priority}))
            .collect();
        m.insert("matched_rules".into(), Value::Array(rules));
    }
    put_list(&mut m, "reason_codes", &ev.reason_codes);
    put_list(&mut m, "violations", &ev.violations);
    if let Some(k) = &ev.kill_switch {
        m.insert("kill_switch".into(), k.clone());
    }
    let missing: Vec<String> = sorted_unique(
        &ev.reason_codes
            .iter()
            .filter_map(|r| {
                if let Some(x) = r.strip_prefix("fail_closed_missing_") {
                    return Some(x.to_string());
                }
                match r.as_str() {
                    "credential_evidence_missing" => Some("credential_evidence".into()),
                    "sandbox_metadata_missing" => Some("sandbox".into()),
                    "sandbox_evidence_missing" => Some("sandbox_evidence".into()),
                    "kill_switch_state_unavailable" => Some("kill_switch_state".into()),
                    "broker_credential_missing" => Some("broker_credential".into()),
                    _ => None,
                }
            })
            .collect::<Vec<_>>(),
    );
    put_list(&mut m, "missing_fields", &missing);
    let fc: Vec<String> = ev
        .reason_codes
        .iter()
        .filter(|r| r.starts_with("fail_closed_"))
        .cloned()
        .collect();
    put_list(&mut m, "fail_closed_reason_codes", &fc);
    if ev.verdict == "require_approval" {
        m.insert("approval_required".into(), json!(true));
    }
    if required > 0 {
        m.insert("required_approvals".into(), json!(required));
    }
    if valid > 0 {
        m.insert("valid_approvals".into(), json!(valid));
    }
    if ev.require_broker_credential {
        m.insert("require_broker_credential".into(), json!(true));
    }
    put_str(&mut m, "broker_reference", &ev.broker_reference);
    put_list(&mut m, "broker_scopes", &ev.broker_scopes);
    if ev.require_delegation {
        m.insert("require_delegation".into(), json!(true));
    }
    put_list(
        &mut m,
        "required_delegation_scopes",
        &ev.required_delegation_scopes,
    );
    if let Some(f) = &ev.freeze_window {
        m.insert("freeze_window".into(), f.to_value());
    }
    if let Some(s) = &ev.sandbox {
        m.insert("sandbox".into(), s.to_value());
    }
    let c = &intent.context;
    let posture = if c.credential_ref.is_empty()
        && c.credential_source.is_empty()
        && c.credential_access_type.is_empty()
        && c.credential_issuer.is_empty()
        && c.credential_ttl_seconds == 0
    {
        json!({"present": false})
    } else {
        let mut p = Map::new();
        p.insert("present".into(), json!(!c.credential_ref.is_empty()));
        put_str(&mut p, "source", &c.credential_source);
        put_str(&mut p, "access_type", &c.credential_access_type);
        put_str(&mut p, "issuer", &c.credential_issuer);
        if c.credential_ttl_seconds != 0 {
            p.insert("ttl_seconds".into(), json!(c.credential_ttl_seconds));
        }
        put_str(&mut p, "credential_ref", &c.credential_ref);
        Value::Object(p)
    };
    m.insert("credential_posture".into(), posture);
    let status = if c.context_evidence_mode == "required" {
        if c.context_set_digest.is_empty() || c.context_refs.is_empty() {
            "missing"
        } else {
            "verified"
        }
    } else if !c.context_set_digest.is_empty() || !c.context_refs.is_empty() {
        "present"
    } else {
        "not_required"
    };
    m.insert("context_evidence_status".into(), json!(status));
    m.insert("proof_refs".into(), proof);
    m
}

/// Reads, strictly parses and verifies a `--context-envelope` file.
pub fn load_envelope(path: &str) -> Result<gait_sdk::context::Envelope, GateError> {
    use gait_sdk::context;
    let p = path.trim();
    context::check_envelope_path(p).map_err(|e| GateError::invalid(e.to_string()))?;
    let bytes = fsutil::read_capped(Path::new(p), context::MAX_ENVELOPE_BYTES)
        .map_err(|e| GateError::invalid(format!("read context envelope: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| GateError::invalid("read context envelope: not valid UTF-8"))?;
    context::Envelope::parse(&text).map_err(|e| {
        // A supplied digest that is not sha256 hex gets its own message.
        let supplied = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("context_set_digest")?.as_str().map(str::to_string))
            .map(|s| s.trim().to_lowercase())
            .unwrap_or_default();
        if e.0 == "context_set_digest mismatch"
            && !supplied.is_empty()
            && !gait_sdk::jcs::is_sha256_hex(&supplied)
        {
            GateError::invalid("context_set_digest must be sha256 hex")
        } else if e.0.starts_with("context record ") && e.0.ends_with("_digest must be sha256 hex")
        {
            GateError::invalid("context record digests must be sha256 hex")
        } else {
            GateError::invalid(e.to_string())
        }
    })
}

fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(format!("{line}\n").as_bytes())?;
    f.sync_all()
}

/// `gait gate eval`: evaluate, enforce limits and approvals, sign and write the trace.
pub fn gate_eval(mut a: GateEvalArgs) -> Result<CommandOutput, GateError> {
    let started = std::time::Instant::now();
    if !a.no_config {
        let path = if a.config.trim().is_empty() {
            config::DEFAULT_CONFIG_PATH.to_string()
        } else {
            a.config.clone()
        };
        let d = config::load(&path)?;
        fill(&mut a.policy, &d, "policy");
        fill(&mut a.profile, &d, "profile");
        fill(&mut a.key_mode, &d, "key_mode");
        fill(&mut a.private_key, &d, "private_key");
        fill(&mut a.private_key_env, &d, "private_key_env");
        fill(&mut a.approval_public_key, &d, "approval_public_key");
        fill(
            &mut a.approval_public_key_env,
            &d,
            "approval_public_key_env",
        );
        fill(&mut a.approval_private_key, &d, "approval_private_key");
        fill(
            &mut a.approval_private_key_env,
            &d,
            "approval_private_key_env",
        );
        fill(&mut a.rate_limit_state, &d, "rate_limit_state");
        fill(&mut a.trace_out, &d, "trace_path");
        fill(&mut a.credential_broker, &d, "credential_broker");
        fill(&mut a.kill_switch_state, &d, "kill_switch_state");
        fill(&mut a.wrkr_inventory, &d, "wrkr_inventory_path");
        fill(&mut a.credential_ref, &d, "credential_ref");
        fill(&mut a.credential_command, &d, "credential_command");
        fill(&mut a.credential_env_prefix, &d, "credential_env_prefix");
        fill(&mut a.credential_scopes, &d, "credential_scopes");
        fill(
            &mut a.credential_command_args,
            &d,
            "credential_command_args",
        );
        fill(
            &mut a.credential_evidence_out,
            &d,
            "credential_evidence_path",
        );
    }
    if a.policy.trim().is_empty() || a.intent.trim().is_empty() {
        return Err(GateError::invalid(
            "both --policy and --intent are required",
        ));
    }
    let profile = if a.profile.trim().is_empty() {
        "standard".to_string()
    } else {
        a.profile.trim().to_lowercase()
    };
    if profile != "standard" && profile != "oss-prod" {
        return Err(GateError::invalid(format!(
            "unsupported --profile value \"{}\" (expected standard or oss-prod)",
            a.profile.trim()
        )));
    }
    let eval_now = if a.evaluation_time.trim().is_empty() {
        GoTime::now_utc()
    } else {
        GoTime::parse_rfc3339(a.evaluation_time.trim())
            .map_err(|e| GateError::invalid(format!("invalid --evaluation-time: {e}")))?
    };
    let oss_prod = profile == "oss-prod";
    let private_source = KeySource::new(&a.private_key, &a.private_key_env);
    if oss_prod {
        if a.simulate {
            return Err(GateError::invalid(
                "oss-prod profile does not allow --simulate",
            ));
        }
        if a.key_mode.trim().to_lowercase() != "prod" {
            return Err(GateError::invalid(
                "oss-prod profile requires --key-mode prod",
            ));
        }
        if !private_source.is_set() {
            return Err(GateError::invalid(
                "oss-prod profile requires --private-key or --private-key-env",
            ));
        }
    }
    let policy = load_policy(&a.policy)?;
    if oss_prod && policy.default_verdict == "allow" {
        return Err(GateError::invalid(
            "oss-prod profile rejects policy default_verdict=allow; use default_verdict: block or require_approval",
        ));
    }
    let raw_intent = load_intent(&a.intent)?;
    let mut pipeline_warnings: Vec<String> = Vec::new();
    let fail_closed_mode =
        oss_prod || matches!(raw_intent.raw_risk_class().as_str(), "high" | "critical");
    // Context envelope: every problem is an input error.
    let envelope = if a.context_envelope.trim().is_empty() {
        None
    } else {
        Some(load_envelope(&a.context_envelope)?)
    };
    // Kill-switch state: unreadable state blocks in fail-closed mode, else is an input error.
    let mut ks_state = None;
    let mut ks_unavailable = false;
    if !a.kill_switch_state.trim().is_empty() {
        match killswitch::load(&a.kill_switch_state) {
            Ok(s) => ks_state = Some(s),
            Err(_) if fail_closed_mode => ks_unavailable = true,
            Err(e) => return Err(GateError::invalid(format!("kill switch state: {e}"))),
        }
    }
    let broker_kind = BrokerKind::parse(&a.credential_broker)?;
    if oss_prod {
        let high_risk_rule = policy.rules.iter().any(|r| {
            r.effect != "block"
                && r.matcher
                    .risk_classes
                    .iter()
                    .any(|c| c == "high" || c == "critical")
                && !r.require_broker_credential
        });
        if high_risk_rule {
            return Err(GateError::invalid("oss-prod profile requires high-risk allow/approval rules to set require_broker_credential: true"));
        }
        if broker_kind == BrokerKind::Off
            && policy.rules.iter().any(|r| r.require_broker_credential)
        {
            return Err(GateError::invalid(
                "oss-prod profile requires --credential-broker for high-risk policies",
            ));
        }
    }
    // Wrkr inventory: unavailable blocks in fail-closed mode, else warns.
    let inventory = if a.wrkr_inventory.trim().is_empty() {
        None
    } else {
        // Only the intent's (and its steps') tools are ever looked up, so only those items
        // are kept (the whole file is still validated); if the intent does not normalize,
        // everything is kept and the error surfaces later.
        let wanted = raw_intent.normalize().ok().map(|n| {
            let mut w: std::collections::HashSet<String> = [n.tool_name.clone()].into();
            for s in n.script.iter().flatten() {
                w.insert(s.tool_name.clone());
            }
            w
        });
        match wrkr::load_for(&wrkr::clean(&a.wrkr_inventory), wanted.as_ref()) {
            Ok(inv) => Some(std::sync::Arc::new(inv)),
            Err(e) if fail_closed_mode => {
                return Err(GateError::Blocked(format!(
                    "wrkr inventory unavailable in fail-closed mode: {e}"
                )))
            }
            Err(_) => {
                pipeline_warnings.push(
                    "wrkr inventory unavailable; continuing without context enrichment".into(),
                );
                None
            }
        }
    };
    // Approved-script registry and fast path (§1.9).
    let mut registry_warning: Option<String> = None;
    let mut registry_reason = String::new();
    let mut fast_match: Option<(registry::Entry, Intent)> = None;
    if !a.approved_script_registry.trim().is_empty() {
        let fc = |msg: String| -> Result<(), GateError> {
            if fail_closed_mode {
                Err(GateError::Blocked(msg))
            } else {
                Ok(())
            }
        };
        let mut entries = match registry::read(&a.approved_script_registry) {
            Ok(e) => e,
            Err(e) => {
                fc(format!(
                    "approved script registry unavailable in fail-closed mode: {e}"
                ))?;
                registry_warning = Some(
                    "approved script registry unavailable; continuing without fast-path pre-approval"
                        .into(),
                );
                Vec::new()
            }
        };
        if registry_warning.is_none() {
            let key = signing::resolve_verify_key(
                &KeySource::new(
                    &a.approved_script_public_key,
                    &a.approved_script_public_key_env,
                ),
                &KeySource::new("", ""),
            )?;
            let key = match key {
                Some(k) => Some(k),
                None => signing::resolve_verify_key(
                    &KeySource::new(&a.approval_public_key, &a.approval_public_key_env),
                    &KeySource::new(&a.approval_private_key, &a.approval_private_key_env),
                )?,
            };
            match key {
                None => {
                    fc("approved script registry verification unavailable in fail-closed mode: verify key required".into())?;
                    registry_warning = Some(
                        "approved script fast-path disabled because registry verify key is not configured"
                            .into(),
                    );
                    entries.clear();
                }
                Some(k) => {
                    let wall_now = GoTime::now_utc();
                    if let Some((i, e)) = entries
                        .iter()
                        .enumerate()
                        .find_map(|(i, en)| en.verify(&k, wall_now).err().map(|e| (i, e)))
                    {
                        fc(format!(
                            "approved script registry verification failed at entry {i}: {e}"
                        ))?;
                        registry_warning = Some(
                            "approved script registry entry failed verification; fast-path disabled"
                                .into(),
                        );
                        entries.clear();
                    }
                }
            }
        }
        if !entries.is_empty() && registry::policy_needs_context_evidence(&policy) {
            registry_warning = Some(
                "approved script fast-path disabled because policy requires authenticated context evidence"
                    .into(),
            );
            entries.clear();
        }
        if !entries.is_empty() {
            match raw_intent.normalize() {
                Err(e) => {
                    fc(format!(
                        "approved script fast-path evaluation failed in fail-closed mode: {e}"
                    ))?;
                    registry_warning = Some(
                        "approved script fast-path evaluation failed; continuing with policy evaluation"
                            .into(),
                    );
                }
                Ok(n) => {
                    let (hit, reason) =
                        registry::find_match(&entries, &n, &policy.digest(), GoTime::now_utc());
                    registry_reason = reason.to_string();
                    if let Some(e) = hit {
                        fast_match = Some((e.clone(), n));
                    }
                }
            }
        }
    }
    if let Some(w) = &registry_warning {
        pipeline_warnings.push(w.clone());
    }
    if fast_match.is_some() {
        // A match bypasses the kill switch, Wrkr and every later pipeline stage.
        ks_state = None;
        ks_unavailable = false;
    }
    let inventory = if fast_match.is_some() {
        None
    } else {
        inventory
    };
    let trace_path = if a.trace_out.trim().is_empty() {
        None
    } else {
        Some(validate_trace_path(&a.trace_out)?)
    };
    // --- check plugins: flags are input errors (exit 6) before anything is evaluated.
    let check_keys = check_plugin::parse_flags(&a.check_plugins, &a.check_plugin_trust_keys)?;

    // Evaluate the prepared intent.
    let mut prepared = match &fast_match {
        Some((_, n)) => n.clone(),
        None => raw_intent.normalize()?,
    };
    if fast_match.is_none() {
        match &envelope {
            Some(env) => eval::bind_context(&mut prepared, env, eval_now)
                .map_err(|e| GateError::invalid(format!("normalize intent: {e}")))?,
            None => strip_context_claims(&mut prepared),
        }
    }
    let wrkr_enriched = match (&inventory, &prepared.script) {
        (Some(inv), None) => inv.enrich(&mut prepared),
        (Some(inv), Some(steps)) => steps.iter().any(|s| inv.items.contains_key(&s.tool_name)),
        (None, _) => false,
    };
    let mut ev = match &fast_match {
        Some((entry, _)) => pre_approved_evaluation(&prepared, entry),
        None => eval::evaluate(
            &policy,
            &prepared,
            &EvalOptions {
                now: eval_now,
                wrkr: inventory.clone(),
            },
        ),
    };
    if fast_match.is_none() {
        ev.registry_reason = registry_reason.clone();
    }
    let mut sources = Vec::new();
    if envelope.is_some() {
        sources.push("context_envelope".to_string());
    }
    if let (true, Some(inv)) = (wrkr_enriched, &inventory) {
        sources.push(inv.source_name());
    }
    ev.context_source = sorted_unique(&sources).join(",");
    let mut ks_match = None;
    if ks_unavailable && !ev.fail_closed_triggered {
        ev = Evaluation {
            verdict: "block".into(),
            reason_codes: vec!["kill_switch_state_unavailable".into()],
            violations: vec!["kill_switch_state_unavailable".into()],
            kill_switch: Some(killswitch::unavailable_decision(eval_now)),
            ..Default::default()
        };
    }
    // The verdict before the kill switch: a match blocks, but an approval the rules required
    // is still recorded in the approval audit.
    let rules_verdict = ev.verdict.clone();
    if let (Some(state), false, false) = (&ks_state, ev.fail_closed_triggered, ks_unavailable) {
        let m = killswitch::evaluate(state, &prepared, eval_now);
        ev.kill_switch = Some(killswitch::decision(m.as_ref(), eval_now));
        if let Some(m) = &m {
            ev.verdict = "block".into();
            ev.reason_codes.extend(m.reason_codes.iter().cloned());
            ev.reason_codes = sorted_unique(&ev.reason_codes);
            ev.violations.push("kill_switch_active".into());
            ev.violations = sorted_unique(&ev.violations);
        }
        ks_match = m;
    }
    // --- check plugins: can only tighten `ev`; any failure blocks. Skipped (no trust store
    // read, nothing loaded) when none is given.
    let checks = (!a.check_plugins.is_empty())
        .then(|| check_plugin::apply(&a.check_plugins, check_keys, &prepared, &mut ev));
    let policy_digest = policy.digest();
    let intent_digest = prepared.intent_digest();
    let wall = GoTime::now_utc();
    let created_at = if fast_match.is_some() {
        wall
    } else {
        created_at_of(&prepared)
    };

    let mut verdict = ev.verdict.clone();
    let mut reasons: Vec<String> = ev.reason_codes.clone();
    let mut violations: Vec<String> = ev.violations.clone();
    let mut out = Map::new();

    // Rate limits and destructive budgets apply whatever the verdict.
    let state_path = if a.rate_limit_state.trim().is_empty() {
        ratelimit::DEFAULT_STATE_PATH.to_string()
    } else {
        a.rate_limit_state.trim().to_string()
    };
    if let Some(limit) = &ev.rate_limit {
        let o = ratelimit::charge(
            &state_path,
            limit,
            &prepared.tool_name,
            &prepared.context.identity,
            wall,
        )?;
        out.insert("rate_limit_scope".into(), json!(o.scope));
        out.insert("rate_limit_key".into(), json!(o.key));
        out.insert("rate_limit_used".into(), json!(o.used));
        if o.remaining > 0 {
            out.insert("rate_limit_remaining".into(), json!(o.remaining));
        }
        if !o.allowed {
            verdict = "block".into();
            reasons.push("rate_limit_exceeded".into());
            violations.push("rate_limit_exceeded".into());
        }
    }
    if let Some(budget) = &ev.destructive_budget {
        if prepared.is_destructive() {
            let tool = format!("destructive_budget|{}", prepared.tool_name).to_lowercase();
            let o =
                ratelimit::charge(&state_path, budget, &tool, &prepared.context.identity, wall)?;
            out.insert("destructive_budget_scope".into(), json!(o.scope));
            out.insert("destructive_budget_key".into(), json!(o.key));
            out.insert("destructive_budget_used".into(), json!(o.used));
            if o.remaining > 0 {
                out.insert("destructive_budget_remaining".into(), json!(o.remaining));
            }
            if !o.allowed {
                verdict = "block".into();
                reasons.push("destructive_budget_exceeded".into());
                violations.push("destructive_budget_exceeded".into());
            }
        }
    }

    let signer = signing::resolve_signer(&a.key_mode, &private_source)?;

    // Delegation (§3.3): runs when the outcome requires it.
    let mut delegation: Option<delegation::ChainOutcome> = None;
    if ev.require_delegation {
        let dpub = KeySource::new(&a.delegation_public_key, &a.delegation_public_key_env);
        let dpriv = KeySource::new(&a.delegation_private_key, &a.delegation_private_key_env);
        let apub = KeySource::new(&a.approval_public_key, &a.approval_public_key_env);
        let apriv = KeySource::new(&a.approval_private_key, &a.approval_private_key_env);
        let explicit = dpub.is_set() || dpriv.is_set() || apub.is_set() || apriv.is_set();
        if oss_prod && !explicit {
            return Err(GateError::invalid(
                "oss-prod profile requires explicit delegation verify key (--delegation-public-key/--delegation-public-key-env or delegation private key source)",
            ));
        }
        let key = match signing::resolve_verify_key(&dpub, &dpriv)? {
            Some(k) => k,
            None => {
                signing::resolve_verify_key(&apub, &apriv)?.unwrap_or_else(|| signer.key.public())
            }
        };
        let mut paths: Vec<String> = a
            .delegation_token_chain
            .split(',')
            .map(str::to_string)
            .collect();
        paths.push(a.delegation_token.clone());
        let paths = sorted_unique(&paths);
        let mut tokens = Vec::new();
        for p in &paths {
            let text = read_text(p, "delegation token")?;
            tokens.push(
                delegation::DelegationToken::parse(&text)
                    .map_err(|e| GateError::invalid(format!("parse delegation token: {e}")))?,
            );
        }
        let o = delegation::validate_chain(
            &prepared,
            &tokens,
            &key,
            &ev.required_delegation_scopes,
            &intent_digest,
            &policy_digest,
            wall,
        );
        reasons.extend(o.reasons.iter().cloned());
        if !o.granted {
            verdict = "block".into();
            violations.push("delegation_not_granted".into());
        }
        out.insert("delegation_required".into(), json!(true));
        if !o.valid_ids.is_empty() {
            out.insert("valid_delegations".into(), json!(o.valid_ids.len()));
        }
        if o.granted {
            out.insert("delegation_ref".into(), json!(o.valid_ids.join(",")));
        }
        delegation = Some(o);
    }

    // Approvals.
    let mut required_approvals = 0i64;
    let mut valid_approvals = 0i64;
    let mut approval_ref = a.approval_token_ref.trim().to_string();
    let mut audit_entries: Vec<AuditEntry> = Vec::new();
    let mut approvers: Vec<String> = Vec::new();
    let mut approval_step_ran = false;
    if verdict == "require_approval" {
        approval_step_ran = true;
        required_approvals = ev.min_approvals.max(1);
        let mut scope = vec![format!("tool:{}", prepared.tool_name)];
        if prepared.context.phase == "apply" && prepared.is_destructive() {
            scope.push("phase:apply".into());
            scope.push("destructive:apply".into());
        }
        let scope = crate::intent::sorted_unique_lower(&scope);
        let approval_public = KeySource::new(&a.approval_public_key, &a.approval_public_key_env);
        let approval_private = KeySource::new(&a.approval_private_key, &a.approval_private_key_env);
        if oss_prod && !approval_public.is_set() && !approval_private.is_set() {
            return Err(GateError::invalid(
                "oss-prod profile requires explicit approval verify key (--approval-public-key/--approval-public-key-env or approval private key source)",
            ));
        }
        let verify_key = signing::resolve_verify_key(&approval_public, &approval_private)?
            .unwrap_or_else(|| signer.key.public());
        let mut paths: Vec<String> = a
            .approval_token_chain
            .split(',')
            .map(str::to_string)
            .collect();
        paths.push(a.approval_token.clone());
        let paths = sorted_unique(&paths);
        if paths.is_empty() {
            reasons.push("approval_token_missing".into());
            violations.push("approval_not_granted".into());
        } else {
            let (target_count, op_count) = match &prepared.script {
                Some(steps) => {
                    let t: i64 = steps.iter().map(|s| s.targets.len() as i64).sum();
                    (
                        if t > 0 {
                            t
                        } else {
                            prepared.targets.len() as i64
                        },
                        steps.len() as i64,
                    )
                }
                None => (
                    prepared.targets.len() as i64,
                    (prepared.targets.len() as i64).max(1),
                ),
            };
            let binding = prepared
                .delegation
                .as_ref()
                .map(|_| prepared.delegation_binding_digest());
            let ctx = TokenContext {
                intent_digest: &intent_digest,
                policy_digest: &policy_digest,
                delegation_binding: binding.as_deref(),
                required_scope: &scope,
                target_count,
                op_count,
                now: wall,
                key: &verify_key,
            };
            let mut valid_ids = Vec::new();
            for p in &paths {
                let text = read_text(p, "approval token")?;
                let token = ApprovalToken::parse(&text)
                    .map_err(|e| GateError::invalid(format!("parse approval token: {e}")))?;
                let code = approval::check_token(&token, &ctx);
                match code {
                    None => {
                        valid_ids.push(token.token_id.trim().to_string());
                        approvers.push(token.approver_identity.trim().to_string());
                    }
                    Some(c) => reasons.push(c.to_string()),
                }
                audit_entries.push(AuditEntry {
                    token,
                    error_code: code.map(str::to_string),
                });
            }
            valid_approvals = valid_ids.len() as i64;
            let distinct = sorted_unique(&approvers).len() as i64;
            let insufficient = valid_approvals < required_approvals;
            let not_distinct = ev.require_distinct_approvers
                && required_approvals > 1
                && distinct < required_approvals;
            if insufficient {
                reasons.push("approval_chain_insufficient".into());
            }
            if not_distinct {
                reasons.push("approval_distinct_approvers_required".into());
            }
            if insufficient || not_distinct {
                violations.push("approval_not_granted".into());
            } else {
                verdict = "allow".into();
                reasons.push("approval_granted".into());
                approval_ref = sorted_unique(&valid_ids).join(",");
            }
        }
    }

    // Broker credentials (§5.4): once the verdict is `allow` after approvals.
    let mut brokered: Option<(broker::Request, broker::Receipt)> = None;
    if ev.require_broker_credential && verdict == "allow" {
        if broker_kind == BrokerKind::Off {
            verdict = "block".into();
            reasons.push("broker_credential_required".into());
            violations.push("broker_credential_missing".into());
        } else {
            let cfg = BrokerConfig {
                kind: broker_kind,
                env_prefix: a.credential_env_prefix.clone(),
                command: a.credential_command.clone(),
                command_args: a
                    .credential_command_args
                    .split(',')
                    .map(str::to_string)
                    .collect(),
                reference: a.credential_ref.clone(),
                scopes: a
                    .credential_scopes
                    .split(',')
                    .map(str::to_string)
                    .filter(|s| !s.trim().is_empty())
                    .collect(),
            };
            let req =
                broker::Request::new(&prepared, &ev.broker_reference, &ev.broker_scopes, &cfg);
            match broker::issue(&cfg, &req, wall) {
                Err(_) => {
                    verdict = "block".into();
                    reasons.push("broker_credential_missing".into());
                    violations.push("broker_credential_missing".into());
                }
                Ok(receipt) => {
                    let names: Vec<&str> =
                        ev.matched_rules.iter().map(|r| r.name.as_str()).collect();
                    let rules: Vec<&policy::Rule> = policy
                        .rules
                        .iter()
                        .filter(|r| r.require_broker_credential && names.contains(&r.name.as_str()))
                        .collect();
                    let codes = broker::check_receipt(
                        &receipt,
                        &req,
                        &rules,
                        &prepared,
                        broker_kind == BrokerKind::Command,
                    );
                    if codes.is_empty() {
                        reasons.push("broker_credential_present".into());
                    } else {
                        verdict = "block".into();
                        reasons.extend(codes.iter().cloned());
                        violations.extend(codes);
                    }
                    broker::output_fields(&receipt, &mut out);
                    brokered = Some((req, receipt));
                }
            }
        }
    }

    let mut reasons = sorted_unique(&reasons);
    let mut violations = sorted_unique(&violations);
    let mut warnings = signer.warnings.clone();
    warnings.extend(pipeline_warnings);
    if a.simulate {
        out.insert("simulate_mode".into(), json!(true));
        out.insert("simulated_verdict".into(), json!(verdict));
        out.insert("simulated_reason_codes".into(), json!(reasons));
        reasons.push("simulate_mode_non_enforcing".into());
        if verdict == "block" || verdict == "require_approval" {
            out.insert("would_have_blocked".into(), json!(true));
            reasons.push(format!("simulated_{verdict}"));
            violations.clear();
            verdict = "allow".into();
        }
        reasons = sorted_unique(&reasons);
    }
    warnings = sorted_unique(&warnings);

    let trace_id = short_id(&format!("{policy_digest}:{intent_digest}:{verdict}"));
    let trace_path = trace_path.unwrap_or_else(|| format!("trace_{trace_id}.json"));
    if !approval_step_ran
        && (rules_verdict == "require_approval" || (ev.script.is_some() && ev.min_approvals > 0))
    {
        // Blocked before the approval step (rate limit, delegation): the evaluation still
        // required approvals, and the audit record says so.
        required_approvals = ev.min_approvals.max(1);
    }
    let evidence_path = brokered.as_ref().map(|_| {
        if a.credential_evidence_out.trim().is_empty() {
            format!("credential_evidence_{trace_id}.json")
        } else {
            a.credential_evidence_out.trim().to_string()
        }
    });
    let audit_needed = required_approvals > 0 || !audit_entries.is_empty();
    let audit_path = if audit_needed {
        Some(if a.approval_audit_out.trim().is_empty() {
            format!("approval_audit_{trace_id}.json")
        } else {
            a.approval_audit_out.trim().to_string()
        })
    } else {
        None
    };

    if let Some(o) = delegation
        .as_ref()
        .filter(|o| ev.require_delegation || !o.entries.is_empty())
    {
        let p = if a.delegation_audit_out.trim().is_empty() {
            format!("delegation_audit_{trace_id}.json")
        } else {
            a.delegation_audit_out.trim().to_string()
        };
        let granted_ref = if o.granted {
            o.valid_ids.join(",")
        } else {
            String::new()
        };
        let audit = delegation::audit_record(delegation::AuditInput {
            created_at,
            trace_id: &trace_id,
            tool_name: &prepared.tool_name,
            intent_digest: &intent_digest,
            policy_digest: &policy_digest,
            required: ev.require_delegation,
            valid: o.valid_ids.len(),
            delegation_ref: &granted_ref,
            entries: o.entries.clone(),
        });
        fsutil::write_atomic(
            Path::new(&p),
            gait_sdk::output::to_json_pretty(&audit).as_bytes(),
            0o600,
        )
        .map_err(|e| GateError::Io(format!("write delegation audit: {e}")))?;
        out.insert("delegation_audit_path".into(), json!(p));
    }
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let valid_delegation_ids: Vec<String> = delegation
        .as_ref()
        .filter(|o| o.granted)
        .map(|o| o.valid_ids.clone())
        .unwrap_or_default();
    let delegation_ref = trace::delegation_ref(&prepared, &valid_delegation_ids, &reasons);
    let record = trace::build_trace(&TraceInput {
        intent: &prepared,
        evaluation: &ev,
        final_verdict: &verdict,
        violations: &violations,
        policy_digest: &policy_digest,
        intent_digest: &intent_digest,
        trace_id: &trace_id,
        created_at,
        observed_at: wall,
        correlation_id: &a.correlation_id,
        approval_ref: &approval_ref,
        latency_ms,
        delegation_ref,
    });
    let mut record = record;
    if let (Some((req, receipt)), Value::Object(m)) = (&brokered, &mut record) {
        broker::trace_fields(receipt, req, m);
    }
    let signed = trace::sign_record(record, &signer.key)?;
    let trace_bytes = gait_sdk::output::to_json_pretty(&signed);
    let audit_bytes = audit_path.as_ref().map(|_| {
        gait_sdk::output::to_json_pretty(&approval::audit_record(AuditInput {
            created_at,
            trace_id: &trace_id,
            tool_name: &prepared.tool_name,
            intent_digest: &intent_digest,
            policy_digest: &policy_digest,
            required: required_approvals,
            valid: valid_approvals,
            approvers: approvers.clone(),
            entries: audit_entries,
        }))
    });
    // The trace and its approval audit are one piece of evidence: written together.
    let mut writes: Vec<(&Path, &[u8], u32)> =
        vec![(Path::new(&trace_path), trace_bytes.as_bytes(), 0o600)];
    if let (Some(p), Some(b)) = (&audit_path, &audit_bytes) {
        writes.push((Path::new(p), b.as_bytes(), 0o600));
    }
    fsutil::write_atomic_batch(&writes).map_err(|e| {
        GateError::Io(if writes.len() > 1 {
            format!("write trace and approval audit: {e}")
        } else {
            format!("write trace: {e}")
        })
    })?;

    if let (Some((req, receipt)), Some(p)) = (&brokered, &evidence_path) {
        let rec = broker::record(broker::RecordInput {
            created_at,
            trace_id: &trace_id,
            broker: broker_kind,
            request: req,
            receipt,
        });
        fsutil::write_atomic(
            Path::new(p),
            gait_sdk::output::to_json_pretty(&rec).as_bytes(),
            0o600,
        )
        .map_err(|e| GateError::Io(format!("write credential evidence: {e}")))?;
        out.insert("credential_evidence_path".into(), json!(p));
    }
    if let Some(m) = &ks_match {
        let line = killswitch::journal_line(&prepared, created_at, &trace_id, m);
        append_line(&killswitch::journal_path(&a.kill_switch_state), &line)
            .map_err(|e| GateError::Io(format!("write kill switch journal: {e}")))?;
    }
    let exit_code = verdict_exit(&verdict);
    if a.explain {
        let mut proof = Map::new();
        proof.insert("trace_id".into(), json!(trace_id));
        proof.insert("trace_path".into(), json!(trace_path));
        if let Some(p) = &evidence_path {
            proof.insert("credential_evidence_path".into(), json!(p));
        }
        if let Some(p) = &audit_path {
            proof.insert("approval_audit_path".into(), json!(p));
        }
        let m = explain_value(
            &ev,
            &prepared,
            created_at,
            required_approvals,
            valid_approvals,
            Value::Object(proof),
        );
        return Ok(CommandOutput::new(m, String::new(), exit_code));
    }

    out.insert("profile".into(), json!(profile));
    out.insert("verdict".into(), json!(verdict));
    put_list(&mut out, "reason_codes", &reasons);
    put_list(&mut out, "violations", &violations);
    put_str(&mut out, "approval_ref", &approval_ref);
    if required_approvals > 0 {
        out.insert("required_approvals".into(), json!(required_approvals));
    }
    if valid_approvals > 0 {
        out.insert("valid_approvals".into(), json!(valid_approvals));
    }
    if let Some(p) = &audit_path {
        out.insert("approval_audit_path".into(), json!(p));
    }
    out.insert("trace_id".into(), json!(trace_id));
    out.insert("trace_path".into(), json!(trace_path));
    out.insert("policy_digest".into(), json!(policy_digest));
    out.insert("intent_digest".into(), json!(intent_digest));
    put_str(&mut out, "matched_rule", &ev.matched_rule);
    out.insert("phase".into(), json!(prepared.context.phase));
    put_list(&mut out, "warnings", &warnings);
    if let Some(f) = &ev.freeze_window {
        out.insert("freeze_window".into(), f.to_value());
    }
    if let Some(s) = &ev.sandbox {
        out.insert("sandbox".into(), s.to_value());
    }
    if let Some(k) = &ev.kill_switch {
        out.insert("kill_switch".into(), k.clone());
    }
    let c = &prepared.context;
    put_str(&mut out, "context_set_digest", &c.context_set_digest);
    put_str(&mut out, "context_evidence_mode", &c.context_evidence_mode);
    if !c.context_refs.is_empty() {
        out.insert("context_ref_count".into(), json!(c.context_refs.len()));
    }
    put_str(&mut out, "context_source", &ev.context_source);
    if ev.pre_approved {
        out.insert("pre_approved".into(), json!(true));
    }
    put_str(&mut out, "pattern_id", &ev.pattern_id);
    put_str(&mut out, "registry_reason", &ev.registry_reason);
    if let Some(sc) = &ev.script {
        out.insert("script".into(), json!(true));
        out.insert("step_count".into(), json!(sc.step_count));
        out.insert("script_hash".into(), json!(prepared.script_hash));
        out.insert(
            "composite_risk_class".into(),
            json!(sc.composite_risk_class),
        );
        out.insert(
            "step_verdicts".into(),
            Value::Array(sc.step_verdicts.clone()),
        );
    }
    let mut text = format!("gate eval: verdict={verdict}\ntrace: {trace_path}\n");
    if !reasons.is_empty() {
        text.push_str(&format!("reasons: {}\n", reasons.join(",")));
    }
    if !violations.is_empty() {
        text.push_str(&format!("violations: {}\n", violations.join(",")));
    }
    if approval_step_ran {
        text.push_str(&format!(
            "approvals: {valid_approvals}/{required_approvals}\n"
        ));
    }
    if let Some(p) = &audit_path {
        text.push_str(&format!("approval audit: {p}\n"));
    }
    for w in &warnings {
        text.push_str(&format!("warning: {w}\n"));
    }
    // --- check plugins
    if let Some(report) = &checks {
        report.render(&mut out, &mut text);
    }
    Ok(CommandOutput::new(out, text, exit_code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_truncates_like_reference() {
        let ev = Evaluation {
            verdict: "require_approval".into(),
            reason_codes: (0..30).map(|i| format!("reason_code_number_{i}")).collect(),
            ..Default::default()
        };
        let s = test_summary(&ev);
        assert_eq!(s.len(), 240);
        assert!(s.contains("...(+"));
    }

    #[test]
    fn trace_paths_are_checked() {
        assert!(validate_trace_path("../x.json").is_err());
        assert!(validate_trace_path(" ").is_err());
        assert_eq!(validate_trace_path("./a/../t.json").unwrap(), "t.json");
    }
}
