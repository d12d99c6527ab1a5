//! Policy evaluation: fail-closed checks, rule selection by priority tier, per-rule
//! constraints (dataflow, endpoint, context evidence, agent identity, credentials, freeze
//! windows, sandbox, destructive/phase), tier aggregation, and script steps.
//!
//! Evaluation is a pure function of a normalised policy, a prepared intent and a clock.

use crate::intent::{Intent, Target};
use crate::policy::{Policy, RateLimit, Rule};
use gait_sdk::time::GoTime;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// Restrictiveness rank: allow < dry_run < require_approval < block.
pub fn rank(verdict: &str) -> u8 {
    match verdict {
        "allow" => 0,
        "dry_run" => 1,
        "require_approval" => 2,
        _ => 3,
    }
}

/// The more restrictive of two verdicts; ties keep `current`.
pub fn max_verdict(current: &str, other: &str) -> String {
    if rank(other) > rank(current) {
        other.to_string()
    } else {
        current.to_string()
    }
}

/// What evaluation needs besides the policy and the intent.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Clock for freeze windows, agent expiry and context age.
    pub now: GoTime,
    /// Wrkr inventory used to enrich each script step (single intents are enriched before
    /// evaluation, since the enriched intent is the prepared one).
    pub wrkr: Option<std::sync::Arc<crate::wrkr::Inventory>>,
}

/// One matched rule as `--explain` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedRule {
    pub name: String,
    pub effect: String,
    pub priority: i64,
}

/// The outcome of evaluating one intent (or one script) against a policy.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    pub verdict: String,
    pub reason_codes: Vec<String>,
    pub violations: Vec<String>,
    pub matched_rule: String,
    pub matched_rules: Vec<MatchedRule>,
    pub min_approvals: i64,
    pub require_distinct_approvers: bool,
    pub require_broker_credential: bool,
    pub broker_reference: String,
    pub broker_scopes: Vec<String>,
    pub require_delegation: bool,
    pub required_delegation_scopes: Vec<String>,
    pub rate_limit: Option<RateLimit>,
    pub destructive_budget: Option<RateLimit>,
    pub freeze_window: Option<FreezeDecision>,
    pub sandbox: Option<SandboxDecision>,
    pub fail_closed_triggered: bool,
    pub script: Option<ScriptOutcome>,
    /// Kill-switch decision (set by `gate eval` when a state file is given).
    pub kill_switch: Option<Value>,
    /// Where context claims came from (`context_envelope`, the Wrkr inventory path), as a
    /// sorted, unique CSV; empty when none.
    pub context_source: String,
    /// Approved-script fast path (§1.9): a registry match bypassed evaluation.
    pub pre_approved: bool,
    /// The matching registry entry's pattern id.
    pub pattern_id: String,
    /// Why the registry did (not) match; empty when no registry was given.
    pub registry_reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct ScriptOutcome {
    pub step_count: usize,
    pub composite_risk_class: String,
    pub step_verdicts: Vec<Value>,
    pub matched_rule_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FreezeDecision {
    pub status: String,
    pub effect: String,
    pub timezone: String,
    pub evaluated_at: GoTime,
    pub window_name: String,
    pub window_start: GoTime,
    pub window_end: GoTime,
    pub reason: String,
    pub reason_code: String,
}

impl FreezeDecision {
    fn rank(&self) -> (u8, u8) {
        let s = match self.status.as_str() {
            "invalid" => 3,
            "active" => 2,
            _ => 1,
        };
        (s, rank(&self.effect))
    }

    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("status".into(), json!(self.status));
        m.insert("effect".into(), json!(self.effect));
        m.insert("timezone".into(), json!(self.timezone));
        m.insert(
            "evaluated_at".into(),
            json!(self.evaluated_at.to_rfc3339_nano()),
        );
        if !self.window_name.is_empty() {
            m.insert("window_name".into(), json!(self.window_name));
        }
        m.insert(
            "window_start".into(),
            json!(self.window_start.to_rfc3339_nano()),
        );
        m.insert(
            "window_end".into(),
            json!(self.window_end.to_rfc3339_nano()),
        );
        if !self.reason.is_empty() {
            m.insert("reason".into(), json!(self.reason));
        }
        if !self.reason_code.is_empty() {
            m.insert("reason_code".into(), json!(self.reason_code));
        }
        Value::Object(m)
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SandboxDecision {
    pub status: String,
    pub network_mode: String,
    pub env_exposure_mode: String,
    pub timeout_seconds: i64,
    pub filesystem_isolation: String,
    pub user_mode: String,
    pub evidence_ref: String,
    pub evidence_digest: String,
    pub reason_codes: Vec<String>,
}

impl SandboxDecision {
    fn rank(&self) -> u8 {
        match self.status.as_str() {
            "missing" => 4,
            "disallowed" => 3,
            "invalid" => 2,
            _ => 1,
        }
    }

    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in [
            ("status", &self.status),
            ("network_mode", &self.network_mode),
            ("env_exposure_mode", &self.env_exposure_mode),
            ("filesystem_isolation", &self.filesystem_isolation),
            ("user_mode", &self.user_mode),
            ("evidence_ref", &self.evidence_ref),
            ("evidence_digest", &self.evidence_digest),
        ] {
            if !v.is_empty() {
                m.insert(k.into(), json!(v));
            }
        }
        if self.timeout_seconds != 0 {
            m.insert("timeout_seconds".into(), json!(self.timeout_seconds));
        }
        if !self.reason_codes.is_empty() {
            m.insert("reason_codes".into(), json!(self.reason_codes));
        }
        Value::Object(m)
    }
}

/// Removes context-evidence claims that only a verified envelope may make.
pub fn strip_context_claims(intent: &mut Intent) {
    let c = &mut intent.context;
    c.context_set_digest.clear();
    c.context_evidence_mode.clear();
    c.context_refs.clear();
    if let Some(a) = &mut c.auth_context {
        a.remove("context_age_seconds");
        if a.is_empty() {
            c.auth_context = None;
        }
    }
}

/// Binds a verified context envelope to a normalized intent (gate-extended §4.2): intent
/// claims that differ from the envelope make the intent not evaluable; otherwise the digest,
/// mode, refs and `auth_context.context_age_seconds` (at `now`) come from the envelope.
pub fn bind_context(
    intent: &mut Intent,
    env: &gait_sdk::context::Envelope,
    now: GoTime,
) -> Result<(), String> {
    let c = &mut intent.context;
    let claim = c.context_set_digest.trim().to_lowercase();
    if !claim.is_empty() && claim != env.context_set_digest {
        return Err("context envelope digest does not match context.context_set_digest".into());
    }
    let mode = c.context_evidence_mode.trim().to_lowercase();
    if !mode.is_empty() && mode != env.evidence_mode {
        return Err(
            "context envelope evidence_mode does not match context.context_evidence_mode".into(),
        );
    }
    c.context_set_digest = env.context_set_digest.clone();
    c.context_evidence_mode = env.evidence_mode.clone();
    c.context_refs = sorted(
        env.records
            .iter()
            .filter_map(|r| r.get("ref_id").and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    );
    let now_ns = now.timestamp().as_nanosecond();
    let age = |t: GoTime| -> i64 {
        let d = now_ns - t.timestamp().as_nanosecond();
        if d <= 0 {
            0
        } else {
            i64::try_from(d / 1_000_000_000).unwrap_or(i64::MAX)
        }
    };
    let max_age = if env.records.is_empty() {
        age(env.created_at)
    } else {
        env.records
            .iter()
            .map(|r| {
                r.get("retrieved_at")
                    .and_then(Value::as_str)
                    .and_then(|s| GoTime::parse_rfc3339(s).ok())
                    .map_or(0, age)
            })
            .max()
            .unwrap_or(0)
    };
    c.auth_context
        .get_or_insert_with(Map::new)
        .insert("context_age_seconds".into(), json!(max_age));
    Ok(())
}

fn sorted(v: impl IntoIterator<Item = String>) -> Vec<String> {
    v.into_iter()
        .filter(|s| !s.is_empty())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// `matched_rule_<name>` with the name escaped as Go's JSON encoder would, quotes stripped,
/// spaces and dashes turned into underscores, lower-cased.
pub fn matched_rule_reason(name: &str) -> String {
    let encoded = gait_sdk::output::to_json_line(&Value::String(name.to_string()));
    let inner = encoded.trim_matches('"');
    format!(
        "matched_rule_{}",
        inner.replace([' ', '-'], "_").to_lowercase()
    )
}

// ------------------------------------------------------------------ matching

fn any_target(intent: &Intent, f: impl Fn(&Target) -> bool) -> bool {
    intent.targets.iter().any(f)
}

fn auth_str(intent: &Intent, key: &str) -> Option<String> {
    match intent.context.auth_context.as_ref()?.get(key)? {
        Value::String(s) => Some(s.trim().to_lowercase()),
        _ => None,
    }
}

pub fn rule_matches(rule: &Rule, intent: &Intent) -> bool {
    let m = &rule.matcher;
    let c = &intent.context;
    let has = |list: &[String], v: &str| list.iter().any(|x| x == v);
    if !m.tool_names.is_empty() && !has(&m.tool_names, &intent.tool_name) {
        return false;
    }
    if !m.risk_classes.is_empty() && !has(&m.risk_classes, &c.risk_class) {
        return false;
    }
    if !m.identities.is_empty() && !has(&m.identities, &c.identity) {
        return false;
    }
    if !m.workspace_prefixes.is_empty()
        && !m
            .workspace_prefixes
            .iter()
            .any(|p| c.workspace.starts_with(p.as_str()))
    {
        return false;
    }
    for kinds in [&m.target_kinds, &m.destination_kinds] {
        if !kinds.is_empty() && !any_target(intent, |t| has(kinds, &t.kind)) {
            return false;
        }
    }
    for values in [&m.target_values, &m.destination_values] {
        if !values.is_empty() && !any_target(intent, |t| has(values, &t.value)) {
            return false;
        }
    }
    if !m.destination_ops.is_empty()
        && !any_target(intent, |t| has(&m.destination_ops, &t.operation))
    {
        return false;
    }
    if !m.endpoint_classes.is_empty()
        && !any_target(intent, |t| has(&m.endpoint_classes, &t.endpoint_class))
    {
        return false;
    }
    if !m.discovery_methods.is_empty()
        && !any_target(intent, |t| has(&m.discovery_methods, &t.discovery_method))
    {
        return false;
    }
    if !m.data_classes.is_empty() && !any_target(intent, |t| has(&m.data_classes, &t.sensitivity)) {
        return false;
    }
    let a = &m.tool_annotations;
    for (want, get) in [
        (
            a.read_only_hint,
            (|t: &Target| t.read_only_hint) as fn(&Target) -> bool,
        ),
        (a.destructive_hint, |t: &Target| t.destructive_hint),
        (a.idempotent_hint, |t: &Target| t.idempotent_hint),
        (a.open_world_hint, |t: &Target| t.open_world_hint),
    ] {
        if let Some(w) = want {
            if !any_target(intent, |t| get(t) == w) {
                return false;
            }
        }
    }
    if !m.skill_publishers.is_empty() || !m.skill_sources.is_empty() {
        let Some(s) = &intent.skill_provenance else {
            return false;
        };
        if !m.skill_publishers.is_empty() && !has(&m.skill_publishers, &s.publisher.to_lowercase())
        {
            return false;
        }
        if !m.skill_sources.is_empty() && !has(&m.skill_sources, &s.source.to_lowercase()) {
            return false;
        }
    }
    if !m.provenance_sources.is_empty()
        && !intent
            .arg_provenance
            .iter()
            .any(|p| has(&m.provenance_sources, &p.source))
    {
        return false;
    }
    for (list, key) in [
        (&m.context_tool_names, "wrkr.tool_name"),
        (&m.context_data_classes, "wrkr.data_class"),
        (&m.context_endpoint_classes, "wrkr.endpoint_class"),
        (&m.context_autonomy_levels, "wrkr.autonomy_level"),
    ] {
        if !list.is_empty() && !auth_str(intent, key).is_some_and(|v| has(list, &v)) {
            return false;
        }
    }
    let needs_delegation = m.require_delegation
        || !m.allowed_delegator_identities.is_empty()
        || !m.allowed_delegate_identities.is_empty()
        || !m.delegation_scopes.is_empty()
        || m.max_delegation_depth.is_some();
    if needs_delegation {
        let Some(d) = &intent.delegation else {
            return false;
        };
        if !m.allowed_delegator_identities.is_empty()
            && !d
                .chain
                .iter()
                .any(|l| has(&m.allowed_delegator_identities, &l.delegator_identity))
        {
            return false;
        }
        if !m.allowed_delegate_identities.is_empty()
            && !has(&m.allowed_delegate_identities, &d.requester_identity)
            && !d
                .chain
                .iter()
                .any(|l| has(&m.allowed_delegate_identities, &l.delegate_identity))
        {
            return false;
        }
        if !m.delegation_scopes.is_empty()
            && !has(&m.delegation_scopes, &d.scope_class)
            && !d
                .chain
                .iter()
                .any(|l| has(&m.delegation_scopes, &l.scope_class))
        {
            return false;
        }
        if let Some(max) = m.max_delegation_depth {
            if d.chain.len() as i64 > max {
                return false;
            }
        }
    }
    true
}

// ------------------------------------------------------------------ glob matching

/// POSIX-style glob: `*` and `?` never cross `/`, `[...]` classes, `\` escapes. A malformed
/// pattern never matches.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn inner(p: &[char], n: &[char]) -> Option<bool> {
        if p.is_empty() {
            return Some(n.is_empty());
        }
        match p[0] {
            '*' => {
                let rest = &p[1..];
                let mut i = 0;
                loop {
                    if inner(rest, &n[i..])? {
                        return Some(true);
                    }
                    if i >= n.len() || n[i] == '/' {
                        // Check the remainder is well-formed before reporting no match.
                        inner(rest, &[])?;
                        return Some(false);
                    }
                    i += 1;
                }
            }
            '?' => {
                if n.is_empty() || n[0] == '/' {
                    return Some(false);
                }
                inner(&p[1..], &n[1..])
            }
            '[' => {
                let mut i = 1;
                let negate = i < p.len() && (p[i] == '^' || p[i] == '!');
                if negate {
                    i += 1;
                }
                let mut matched = false;
                let mut first = true;
                let c = *n.first()?;
                loop {
                    if i >= p.len() {
                        return None;
                    }
                    if p[i] == ']' && !first {
                        i += 1;
                        break;
                    }
                    first = false;
                    let mut lo = p[i];
                    if lo == '\\' {
                        i += 1;
                        lo = *p.get(i)?;
                    }
                    i += 1;
                    let mut hi = lo;
                    if i + 1 < p.len() && p[i] == '-' && p[i + 1] != ']' {
                        hi = p[i + 1];
                        if hi == '\\' {
                            hi = *p.get(i + 2)?;
                            i += 1;
                        }
                        i += 2;
                    }
                    if lo <= c && c <= hi {
                        matched = true;
                    }
                }
                if matched == negate || c == '/' {
                    return Some(false);
                }
                inner(&p[i..], &n[1..])
            }
            '\\' => {
                let lit = *p.get(1)?;
                if n.first() == Some(&lit) {
                    inner(&p[2..], &n[1..])
                } else {
                    Some(false)
                }
            }
            ch => {
                if n.first() == Some(&ch) {
                    inner(&p[1..], &n[1..])
                } else {
                    Some(false)
                }
            }
        }
    }
    if pattern.len() > 4096 || name.len() > 4096 {
        return false;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    inner(&p, &n).unwrap_or(false)
}

fn path_matches(pattern: &str, value: &str) -> bool {
    if pattern == value {
        return true;
    }
    if let Some(prefix) = pattern.strip_suffix("/**") {
        if value == prefix || value.starts_with(&format!("{prefix}/")) {
            return true;
        }
    }
    glob_match(pattern, value)
}

fn domain_matches(pattern: &str, value: &str) -> bool {
    let p = pattern.to_lowercase();
    let v = value.to_lowercase();
    if p == v {
        return true;
    }
    if let Some(suffix) = p.strip_prefix("*.") {
        if v.ends_with(&format!(".{suffix}")) {
            return true;
        }
    }
    glob_match(&p, &v)
}

// ------------------------------------------------------------------ per-rule constraints

struct RuleResult {
    effect: String,
    reasons: Vec<String>,
    violations: Vec<String>,
    min_approvals: i64,
    freeze: Option<FreezeDecision>,
    sandbox: Option<SandboxDecision>,
}

fn add(list: &mut Vec<String>, code: &str) {
    list.push(code.to_string());
}

fn eval_rule(rule: &Rule, intent: &Intent, opts: &EvalOptions) -> RuleResult {
    let mut effect = rule.effect.clone();
    let mut reasons = if rule.reason_codes.is_empty() {
        vec![matched_rule_reason(&rule.name)]
    } else {
        rule.reason_codes.clone()
    };
    let mut violations = rule.violations.clone();

    // Dataflow replaces the rule effect, so a block rule may relax to require_approval.
    let d = &rule.dataflow;
    if d.enabled
        && intent
            .arg_provenance
            .iter()
            .any(|p| d.tainted_sources.contains(&p.source))
    {
        let no_filters = d.destination_kinds.is_empty()
            && d.destination_values.is_empty()
            && d.destination_ops.is_empty();
        let hit = if no_filters {
            intent
                .targets
                .iter()
                .any(|t| ["host", "url", "bucket", "queue", "topic"].contains(&t.kind.as_str()))
        } else {
            intent.targets.iter().any(|t| {
                (d.destination_kinds.is_empty() || d.destination_kinds.contains(&t.kind))
                    && (d.destination_values.is_empty() || d.destination_values.contains(&t.value))
                    && (d.destination_ops.is_empty() || d.destination_ops.contains(&t.operation))
            })
        };
        if hit {
            effect = d.action.clone();
            add(&mut reasons, &d.reason_code);
            add(&mut violations, &d.violation);
        }
    }

    let e = &rule.endpoint;
    if e.enabled {
        let mut findings: Vec<&str> = Vec::new();
        for t in &intent.targets {
            if t.kind == "path" {
                if e.path_denylist.iter().any(|p| path_matches(p, &t.value)) {
                    findings.push("endpoint_path_denied");
                }
                if !e.path_allowlist.is_empty()
                    && !e.path_allowlist.iter().any(|p| path_matches(p, &t.value))
                {
                    findings.push("endpoint_path_not_allowlisted");
                }
            }
            if !t.endpoint_domain.is_empty() {
                if e.domain_denylist
                    .iter()
                    .any(|p| domain_matches(p, &t.endpoint_domain))
                {
                    findings.push("endpoint_domain_denied");
                }
                if !e.domain_allowlist.is_empty()
                    && !e
                        .domain_allowlist
                        .iter()
                        .any(|p| domain_matches(p, &t.endpoint_domain))
                {
                    findings.push("endpoint_domain_not_allowlisted");
                }
            }
            if t.endpoint_class.starts_with("net.")
                && !e.egress_classes.is_empty()
                && !e.egress_classes.contains(&t.endpoint_class)
            {
                findings.push("endpoint_egress_class_not_allowed");
            }
        }
        for f in &findings {
            add(&mut reasons, f);
            add(&mut violations, f);
        }
        let mut endpoint_effect = e.action.clone();
        let mut destructive_hit = false;
        if !e.destructive_action.is_empty() && intent.is_destructive() {
            endpoint_effect = max_verdict(&e.action, &e.destructive_action);
            destructive_hit = true;
            add(&mut reasons, "endpoint_destructive_operation");
            add(&mut violations, "destructive_operation");
        }
        if !findings.is_empty() || destructive_hit {
            add(&mut reasons, &e.reason_code);
            add(&mut violations, &e.violation);
            effect = max_verdict(&effect, &endpoint_effect);
        }
    }

    let c = &intent.context;
    if rule.has_context_constraints() {
        let mut hit = false;
        if c.context_set_digest.is_empty() {
            add(&mut reasons, "context_evidence_missing");
            add(&mut reasons, "context_set_digest_missing");
            add(&mut violations, "missing_context_evidence");
            hit = true;
        }
        if rule.required_context_evidence_mode == "required"
            && c.context_evidence_mode != "required"
        {
            add(&mut reasons, "context_evidence_mode_mismatch");
            add(&mut violations, "context_evidence_mode_violation");
            hit = true;
        }
        if rule.max_context_age_seconds > 0 {
            let age = c
                .auth_context
                .as_ref()
                .and_then(|a| a.get("context_age_seconds"))
                .and_then(|v| match v {
                    Value::Number(n) => n.as_f64().map(|f| f.trunc() as i64),
                    Value::String(s) => s.trim().parse::<i64>().ok(),
                    _ => None,
                });
            if !age.is_some_and(|a| a >= 0 && a <= rule.max_context_age_seconds) {
                add(&mut reasons, "context_freshness_exceeded");
                add(&mut violations, "context_freshness_violation");
                hit = true;
            }
        }
        if hit {
            effect = max_verdict(&effect, "block");
        }
    }

    if rule.has_agent_constraints() {
        let mut hits: Vec<(&str, &str)> = Vec::new();
        let ai = c.agent_identity.as_ref();
        if rule.require_declared_agent && (c.agent_id.is_empty() || ai.is_none()) {
            hits.push(("agent_unknown", "agent_identity_missing"));
        }
        if (!c.agent_id.is_empty() && rule.denied_agent_ids.contains(&c.agent_id))
            || ai.is_some_and(|a| a.revoked)
        {
            hits.push(("agent_revoked", "agent_revoked"));
        }
        if !rule.allowed_agent_ids.is_empty() && !rule.allowed_agent_ids.contains(&c.agent_id) {
            hits.push(("agent_unknown", "agent_not_declared"));
        }
        if rule.require_agent_owner && ai.is_none_or(|a| a.owner.is_empty()) {
            hits.push(("agent_owner_missing", "agent_owner_missing"));
        }
        if !rule.required_agent_lifecycle_states.is_empty() {
            let have = ai.map(|a| a.lifecycle_states.clone()).unwrap_or_default();
            if !rule
                .required_agent_lifecycle_states
                .iter()
                .all(|s| have.contains(s))
            {
                hits.push((
                    "agent_lifecycle_state_invalid",
                    "agent_lifecycle_state_invalid",
                ));
            }
        }
        if rule.require_unexpired_agent
            && ai.is_none_or(|a| a.expires_at.is_zero() || a.expires_at <= opts.now)
        {
            hits.push(("agent_expired", "agent_expired"));
        }
        let manifest_mismatch = (!rule.required_agent_manifest_digest.is_empty()
            && ai.is_none_or(|a| a.manifest_digest != rule.required_agent_manifest_digest))
            || (!rule.allowed_agent_manifest_publishers.is_empty()
                && ai.is_none_or(|a| {
                    !rule
                        .allowed_agent_manifest_publishers
                        .contains(&a.publisher.to_lowercase())
                }))
            || (!rule.allowed_agent_manifest_sources.is_empty()
                && ai.is_none_or(|a| !rule.allowed_agent_manifest_sources.contains(&a.source)));
        if manifest_mismatch {
            hits.push(("agent_manifest_mismatch", "agent_manifest_mismatch"));
        }
        if !hits.is_empty() {
            for (r, v) in hits {
                add(&mut reasons, r);
                add(&mut violations, v);
            }
            effect = max_verdict(&effect, "block");
        }
    }

    if rule.has_credential_constraints() {
        let mut codes: Vec<&str> = Vec::new();
        if c.credential_ref.is_empty() {
            codes.push("credential_evidence_missing");
        }
        if c.credential_source.is_empty() {
            codes.push("credential_source_unknown");
        }
        if c.credential_access_type.is_empty() {
            codes.push("credential_access_type_unknown");
        }
        if rule.require_jit_credential {
            if c.credential_access_type.is_empty() {
                codes.push("credential_evidence_missing");
            } else if c.credential_access_type != "jit" {
                codes.push("credential_not_jit");
            }
        }
        if rule.block_standing_credentials
            && [
                "",
                "cloud_admin",
                "inherited",
                "standing",
                "static",
                "unknown",
            ]
            .contains(&c.credential_access_type.as_str())
        {
            codes.push("standing_credential_disallowed");
        }
        if !rule.allowed_credential_sources.is_empty()
            && (c.credential_source.is_empty()
                || !rule
                    .allowed_credential_sources
                    .contains(&c.credential_source))
        {
            codes.push("credential_source_disallowed");
        }
        if !rule.allowed_credential_issuers.is_empty()
            && (c.credential_issuer.is_empty()
                || !rule
                    .allowed_credential_issuers
                    .contains(&c.credential_issuer))
        {
            codes.push("credential_issuer_disallowed");
        }
        if !rule.allowed_credential_access_types.is_empty()
            && (c.credential_access_type.is_empty()
                || !rule
                    .allowed_credential_access_types
                    .contains(&c.credential_access_type))
        {
            codes.push("credential_access_type_disallowed");
        }
        if rule.max_credential_ttl_seconds > 0 {
            if c.credential_ttl_seconds <= 0 {
                codes.push("credential_evidence_missing");
            } else if c.credential_ttl_seconds > rule.max_credential_ttl_seconds {
                codes.push("credential_ttl_exceeded");
            }
        }
        if !c.credential_target_binding.is_empty()
            && c.credential_target_binding != intent.targets_digest()
        {
            codes.push("credential_target_binding_mismatch");
        }
        if !c.credential_run_binding.is_empty()
            && !c.run_id.is_empty()
            && c.credential_run_binding != c.run_id
        {
            codes.push("credential_run_binding_mismatch");
        }
        if !c.credential_job_binding.is_empty()
            && !c.job_id.is_empty()
            && c.credential_job_binding != c.job_id
        {
            codes.push("credential_job_binding_mismatch");
        }
        if !codes.is_empty() {
            for code in codes {
                add(&mut reasons, code);
                add(&mut violations, code);
            }
            effect = max_verdict(&effect, "block");
        }
    }

    let freeze = if rule.freeze_window.enabled {
        let d = evaluate_freeze(rule, intent, opts.now);
        if d.status == "active" || d.status == "invalid" {
            add(&mut reasons, &d.reason_code);
            add(&mut violations, &d.reason_code);
            let eff = if d.status == "invalid" {
                "block"
            } else {
                d.effect.as_str()
            };
            effect = max_verdict(&effect, eff);
        }
        Some(d)
    } else {
        None
    };

    let sandbox = if rule.sandbox.enabled {
        let d = evaluate_sandbox(rule, intent);
        if d.status != "valid" {
            for code in &d.reason_codes {
                add(&mut reasons, code);
                add(&mut violations, code);
            }
            effect = max_verdict(&effect, "block");
        }
        Some(d)
    } else {
        None
    };

    let sandbox_cancels = sandbox.as_ref().is_some_and(|s| s.status == "valid")
        && !intent.targets.is_empty()
        && intent
            .targets
            .iter()
            .all(|t| t.endpoint_class == "proc.exec");
    if intent.is_destructive() && !sandbox_cancels {
        if c.phase == "plan" {
            effect = max_verdict(&effect, "dry_run");
            add(&mut reasons, "plan_phase_non_destructive");
        } else {
            effect = max_verdict(&effect, "require_approval");
            add(&mut reasons, "destructive_apply_requires_approval");
        }
    }

    let mut min_approvals = rule.min_approvals;
    if min_approvals == 0 && effect == "require_approval" {
        min_approvals = 1;
    }
    RuleResult {
        effect,
        reasons,
        violations,
        min_approvals,
        freeze,
        sandbox,
    }
}

fn parse_local(s: &str) -> Option<jiff::civil::DateTime> {
    let b = s.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let n = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = &s[r];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    jiff::civil::DateTime::new(
        n(0..4)? as i16,
        n(5..7)? as i8,
        n(8..10)? as i8,
        n(11..13)? as i8,
        n(14..16)? as i8,
        n(17..19)? as i8,
        0,
    )
    .ok()
}

fn evaluate_freeze(rule: &Rule, intent: &Intent, now: GoTime) -> FreezeDecision {
    let fw = &rule.freeze_window;
    let mut d = FreezeDecision {
        status: "inactive".into(),
        effect: fw.effect.clone(),
        timezone: fw.timezone.clone(),
        evaluated_at: now.utc(),
        window_name: String::new(),
        window_start: GoTime::zero(),
        window_end: GoTime::zero(),
        reason: String::new(),
        reason_code: String::new(),
    };
    let env = intent.context.environment.to_lowercase();
    let risk = intent.context.risk_class.to_lowercase();
    if (!fw.environments.is_empty() && !fw.environments.contains(&env))
        || (!fw.risk_classes.is_empty() && !fw.risk_classes.contains(&risk))
    {
        return d;
    }
    let tz = match jiff::tz::TimeZone::get(&fw.timezone) {
        Ok(tz) => tz,
        Err(_) => {
            d.status = "invalid".into();
            d.reason_code = "freeze_window_invalid_timezone".into();
            d.reason = "freeze window timezone could not be loaded".into();
            return d;
        }
    };
    for w in &fw.windows {
        let bounds = parse_local(&w.start)
            .zip(parse_local(&w.end))
            .and_then(|(s, e)| {
                Some((
                    s.to_zoned(tz.clone()).ok()?.timestamp(),
                    e.to_zoned(tz.clone()).ok()?.timestamp(),
                ))
            });
        let Some((start, end)) = bounds.filter(|(s, e)| e > s) else {
            d.status = "invalid".into();
            d.reason_code = "freeze_window_invalid_window".into();
            d.reason = "freeze window has an invalid range".into();
            d.window_name = w.name.clone();
            d.window_start = GoTime::zero();
            d.window_end = GoTime::zero();
            return d;
        };
        let t = now.timestamp();
        if start <= t && t < end && d.status != "active" {
            d.status = "active".into();
            d.window_name = w.name.clone();
            d.window_start = GoTime::from_timestamp(start);
            d.window_end = GoTime::from_timestamp(end);
            d.reason = if fw.reason.is_empty() {
                w.name.clone()
            } else {
                fw.reason.clone()
            };
            d.reason_code = if fw.effect == "require_approval" {
                "freeze_window_active_require_approval".into()
            } else {
                "freeze_window_active_block".into()
            };
        }
    }
    d
}

fn under_prefix(path: &str, prefix: &str) -> bool {
    prefix == "/"
        || path == prefix
        || path.starts_with(&format!("{}/", prefix.trim_end_matches('/')))
}

fn evaluate_sandbox(rule: &Rule, intent: &Intent) -> SandboxDecision {
    let s = &rule.sandbox;
    let Some(sb) = &intent.context.sandbox else {
        return SandboxDecision {
            status: "missing".into(),
            reason_codes: vec!["sandbox_metadata_missing".into()],
            ..Default::default()
        };
    };
    let mut codes: Vec<String> = Vec::new();
    if sb.evidence_ref.is_empty() || sb.evidence_digest.is_empty() {
        codes.push("sandbox_evidence_missing".into());
    }
    for (allowed, value, name) in [
        (&s.allowed_network_modes, &sb.network_mode, "network_mode"),
        (
            &s.allowed_env_exposure_modes,
            &sb.env_exposure_mode,
            "env_exposure_mode",
        ),
        (
            &s.allowed_filesystem_isolations,
            &sb.filesystem_isolation,
            "filesystem_isolation",
        ),
        (&s.allowed_user_modes, &sb.user_mode, "user_mode"),
    ] {
        if allowed.is_empty() {
            continue;
        }
        if value.is_empty() {
            codes.push(format!("sandbox_{name}_missing"));
        } else if !allowed.contains(value) {
            codes.push(format!("sandbox_{name}_disallowed"));
        }
    }
    if s.max_timeout_seconds > 0 {
        if sb.timeout_seconds <= 0 {
            codes.push("sandbox_timeout_missing".into());
        } else if sb.timeout_seconds > s.max_timeout_seconds {
            codes.push("sandbox_timeout_exceeded".into());
        }
    }
    if !s.allowed_writable_path_prefixes.is_empty()
        && sb.writable_paths.iter().any(|p| {
            !s.allowed_writable_path_prefixes
                .iter()
                .any(|pre| under_prefix(p, pre))
        })
    {
        codes.push("sandbox_writable_path_disallowed".into());
    }
    if s.required_read_only_roots
        .iter()
        .any(|r| !sb.read_only_roots.contains(r))
    {
        codes.push("sandbox_read_only_root_missing".into());
    }
    let codes = sorted(codes);
    let status = if codes.is_empty() {
        "valid"
    } else if codes.iter().any(|c| c.ends_with("_missing")) {
        "missing"
    } else if codes
        .iter()
        .any(|c| c.ends_with("_disallowed") || c.ends_with("_exceeded"))
    {
        "disallowed"
    } else {
        "invalid"
    };
    SandboxDecision {
        status: status.into(),
        network_mode: sb.network_mode.clone(),
        env_exposure_mode: sb.env_exposure_mode.clone(),
        timeout_seconds: sb.timeout_seconds,
        filesystem_isolation: sb.filesystem_isolation.clone(),
        user_mode: sb.user_mode.clone(),
        evidence_ref: sb.evidence_ref.clone(),
        evidence_digest: sb.evidence_digest.clone(),
        reason_codes: codes,
    }
}

// ------------------------------------------------------------------ whole evaluation

fn pick_limit(current: Option<RateLimit>, candidate: &RateLimit) -> Option<RateLimit> {
    if candidate.requests <= 0 {
        return current;
    }
    match current {
        None => Some(candidate.clone()),
        Some(c) => {
            let key = |l: &RateLimit| {
                (
                    l.requests,
                    if l.window == "minute" { 0 } else { 1 },
                    l.scope.clone(),
                )
            };
            if key(candidate) < key(&c) {
                Some(candidate.clone())
            } else {
                Some(c)
            }
        }
    }
}

fn pick_freeze(
    current: Option<FreezeDecision>,
    candidate: Option<FreezeDecision>,
) -> Option<FreezeDecision> {
    match (current, candidate) {
        (None, c) | (c, None) => c,
        (Some(a), Some(b)) => {
            if b.rank() > a.rank() || (b.rank() == a.rank() && b.window_name < a.window_name) {
                Some(b)
            } else {
                Some(a)
            }
        }
    }
}

fn pick_sandbox(
    current: Option<SandboxDecision>,
    candidate: Option<SandboxDecision>,
) -> Option<SandboxDecision> {
    match (current, candidate) {
        (None, c) | (c, None) => c,
        (Some(a), Some(b)) => {
            if b.rank() > a.rank()
                || (b.rank() == a.rank() && b.evidence_digest < a.evidence_digest)
            {
                Some(b)
            } else {
                Some(a)
            }
        }
    }
}

/// Fail-closed findings (reason, violation) for a prepared intent.
fn fail_closed_findings(policy: &Policy, intent: &Intent) -> Vec<(String, String)> {
    let fc = &policy.fail_closed;
    if !fc.enabled || !fc.risk_classes.contains(&intent.context.risk_class) {
        return Vec::new();
    }
    let mut out: Vec<(String, String)> = Vec::new();
    let mut push = |r: &str, v: &str| out.push((r.to_string(), v.to_string()));
    let unknown_class = intent
        .targets
        .iter()
        .any(|t| t.endpoint_class.is_empty() || t.endpoint_class == "other");
    for f in &fc.required_fields {
        match f.as_str() {
            "targets" if intent.targets.is_empty() => {
                push("fail_closed_missing_targets", "missing_targets")
            }
            "arg_provenance" if intent.arg_provenance.is_empty() => push(
                "fail_closed_missing_arg_provenance",
                "missing_arg_provenance",
            ),
            "endpoint_class" if unknown_class => push(
                "fail_closed_missing_endpoint_class",
                "missing_endpoint_class",
            ),
            "delegation" if intent.delegation.is_none() => {
                push("fail_closed_missing_delegation", "missing_delegation")
            }
            "context_evidence" if intent.context.context_set_digest.is_empty() => {
                push("context_evidence_missing", "missing_context_evidence")
            }
            _ => {}
        }
    }
    let c = &intent.context;
    for f in &fc.required_high_risk_fields {
        let missing = match f.as_str() {
            "agent_id" => c.agent_id.is_empty(),
            "agent_identity" => c.agent_identity.is_none(),
            "run_id" => c.run_id.is_empty(),
            "workflow_id" => c.workflow_id.is_empty(),
            "repo" => c.repo.is_empty(),
            "environment" => c.environment.is_empty(),
            "credential_ref" => c.credential_ref.is_empty(),
            "credential_source" => c.credential_source.is_empty(),
            "credential_access_type" => c.credential_access_type.is_empty(),
            "credential_issuer" => c.credential_issuer.is_empty(),
            "credential_ttl_seconds" => c.credential_ttl_seconds <= 0,
            "approval_ref" => c.approval_ref.is_empty(),
            "wrkr_inventory_ref" => c.wrkr_inventory_ref.is_empty(),
            "agent_action_bom_ref" => c.agent_action_bom_ref.is_empty(),
            _ => false,
        };
        if missing {
            push(&format!("fail_closed_missing_{f}"), &format!("missing_{f}"));
        }
    }
    if unknown_class {
        push(
            "fail_closed_endpoint_class_unknown",
            "endpoint_class_unknown",
        );
    }
    out
}

/// Evaluates a single (non-script) prepared intent against the rules.
fn evaluate_single(policy: &Policy, intent: &Intent, opts: &EvalOptions) -> Evaluation {
    let mut tier: Vec<&Rule> = Vec::new();
    for rule in &policy.rules {
        if !rule_matches(rule, intent) {
            continue;
        }
        if let Some(first) = tier.first() {
            if rule.priority != first.priority {
                break;
            }
        }
        tier.push(rule);
    }
    if tier.is_empty() {
        let v = policy.default_verdict.clone();
        return Evaluation {
            reason_codes: vec![format!("default_{v}")],
            min_approvals: i64::from(v == "require_approval"),
            verdict: v,
            ..Default::default()
        };
    }
    let results: Vec<(&Rule, RuleResult)> = tier
        .iter()
        .map(|r| (*r, eval_rule(r, intent, opts)))
        .collect();
    let verdict = results.iter().fold("allow".to_string(), |acc, (_, r)| {
        max_verdict(&acc, &r.effect)
    });
    let mut ev = Evaluation {
        verdict: verdict.clone(),
        matched_rule: sorted(tier.iter().map(|r| r.name.clone())).join(","),
        matched_rules: tier
            .iter()
            .zip(&results)
            .map(|(r, _)| MatchedRule {
                name: r.name.clone(),
                effect: r.effect.clone(),
                priority: r.priority,
            })
            .collect(),
        ..Default::default()
    };
    let mut reasons = Vec::new();
    let mut violations = Vec::new();
    let mut broker_scopes = Vec::new();
    let mut delegation_scopes = Vec::new();
    for (rule, res) in results {
        ev.freeze_window = pick_freeze(ev.freeze_window.take(), res.freeze.clone());
        ev.sandbox = pick_sandbox(ev.sandbox.take(), res.sandbox.clone());
        if res.effect != verdict {
            continue;
        }
        reasons.extend(res.reasons);
        violations.extend(res.violations);
        ev.min_approvals = ev.min_approvals.max(res.min_approvals);
        ev.require_distinct_approvers |= rule.require_distinct_approvers;
        ev.require_broker_credential |= rule.require_broker_credential;
        if ev.broker_reference.is_empty() {
            ev.broker_reference = rule.broker_reference.clone();
        }
        broker_scopes.extend(rule.broker_scopes.clone());
        ev.require_delegation |= rule.matcher.require_delegation;
        delegation_scopes.extend(rule.matcher.delegation_scopes.clone());
        ev.rate_limit = pick_limit(ev.rate_limit.take(), &rule.rate_limit);
        ev.destructive_budget = pick_limit(ev.destructive_budget.take(), &rule.destructive_budget);
    }
    ev.reason_codes = sorted(reasons);
    ev.violations = sorted(violations);
    ev.broker_scopes = sorted(broker_scopes);
    ev.required_delegation_scopes = sorted(delegation_scopes);
    if ev.verdict != "require_approval" {
        ev.min_approvals = 0;
    }
    ev
}

pub fn step_risk(targets: &[Target]) -> &'static str {
    if targets.iter().any(|t| {
        t.endpoint_class == "fs.delete" || t.endpoint_class == "proc.exec" || t.destructive
    }) {
        "high"
    } else if targets
        .iter()
        .any(|t| ["fs.write", "net.http", "net.dns"].contains(&t.endpoint_class.as_str()))
    {
        "medium"
    } else {
        "low"
    }
}

/// Evaluates a prepared intent: fail-closed checks, then rules (per step for scripts).
pub fn evaluate(policy: &Policy, intent: &Intent, opts: &EvalOptions) -> Evaluation {
    let findings = fail_closed_findings(policy, intent);
    if !findings.is_empty() {
        return Evaluation {
            verdict: "block".into(),
            reason_codes: sorted(findings.iter().map(|(r, _)| r.clone())),
            violations: sorted(findings.iter().map(|(_, v)| v.clone())),
            fail_closed_triggered: true,
            ..Default::default()
        };
    }
    let Some(steps) = &intent.script else {
        return evaluate_single(policy, intent, opts);
    };
    let mut agg = Evaluation {
        verdict: "allow".into(),
        ..Default::default()
    };
    let mut reasons = Vec::new();
    let mut violations = Vec::new();
    let mut names = Vec::new();
    let mut broker_scopes = Vec::new();
    let mut delegation_scopes = Vec::new();
    let mut risks = BTreeSet::new();
    let mut step_verdicts = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let mut si = intent.clone();
        si.tool_name = step.tool_name.clone();
        si.args = step.args.clone();
        si.targets = step.targets.clone();
        si.arg_provenance = step.arg_provenance.clone();
        si.script = None;
        si.script_hash.clear();
        if let Some(inv) = &opts.wrkr {
            inv.enrich(&mut si);
        }
        let ev = evaluate_single(policy, &si, opts);
        let mut sv = Map::new();
        sv.insert("index".into(), json!(i));
        sv.insert("tool_name".into(), json!(step.tool_name));
        sv.insert("verdict".into(), json!(ev.verdict));
        if !ev.reason_codes.is_empty() {
            sv.insert("reason_codes".into(), json!(ev.reason_codes));
        }
        if !ev.violations.is_empty() {
            sv.insert("violations".into(), json!(ev.violations));
        }
        if !ev.matched_rule.is_empty() {
            sv.insert("matched_rule".into(), json!(ev.matched_rule));
            names.extend(ev.matched_rule.split(',').map(str::to_string));
        }
        step_verdicts.push(Value::Object(sv));
        risks.insert(step_risk(&step.targets));
        agg.verdict = max_verdict(&agg.verdict, &ev.verdict);
        reasons.extend(ev.reason_codes);
        violations.extend(ev.violations);
        agg.min_approvals = agg.min_approvals.max(ev.min_approvals);
        agg.require_distinct_approvers |= ev.require_distinct_approvers;
        agg.require_broker_credential |= ev.require_broker_credential;
        agg.require_delegation |= ev.require_delegation;
        if agg.broker_reference.is_empty() {
            agg.broker_reference = ev.broker_reference;
        }
        broker_scopes.extend(ev.broker_scopes);
        delegation_scopes.extend(ev.required_delegation_scopes);
        if let Some(l) = &ev.rate_limit {
            agg.rate_limit = pick_limit(agg.rate_limit.take(), l);
        }
        if let Some(l) = &ev.destructive_budget {
            agg.destructive_budget = pick_limit(agg.destructive_budget.take(), l);
        }
        agg.freeze_window = pick_freeze(agg.freeze_window.take(), ev.freeze_window);
        agg.sandbox = pick_sandbox(agg.sandbox.take(), ev.sandbox);
        agg.matched_rules.extend(ev.matched_rules);
    }
    let s = &policy.scripts;
    let max_steps = if s.max_steps == 0 {
        crate::intent::MAX_SCRIPT_STEPS as i64
    } else {
        s.max_steps
    };
    if steps.len() as i64 > max_steps {
        agg.verdict = "block".into();
        reasons.push("script_max_steps_exceeded".into());
        violations.push("script_max_steps_exceeded".into());
    }
    if s.require_approval_above > 0 && steps.len() as i64 > s.require_approval_above {
        agg.verdict = max_verdict(&agg.verdict, "require_approval");
        reasons.push("script_step_threshold_approval".into());
        agg.min_approvals = agg.min_approvals.max(1);
    }
    if s.block_mixed_risk && risks.len() > 1 {
        agg.verdict = "block".into();
        reasons.push("script_mixed_risk_blocked".into());
        violations.push("script_mixed_risk".into());
    }
    let composite = if risks.contains("high") {
        "high"
    } else if risks.contains("medium") {
        "medium"
    } else {
        "low"
    };
    agg.reason_codes = sorted(reasons);
    agg.violations = sorted(violations);
    let names = sorted(names);
    agg.matched_rule = names.join(",");
    agg.broker_scopes = sorted(broker_scopes);
    agg.required_delegation_scopes = sorted(delegation_scopes);
    agg.script = Some(ScriptOutcome {
        step_count: steps.len(),
        composite_risk_class: composite.into(),
        step_verdicts,
        matched_rule_ids: names,
    });
    agg.matched_rules
        .sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
    agg.matched_rules.dedup();
    // A script keeps the largest step approval requirement even when another step blocks:
    // the approval audit records it.
    agg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matched_rule_reason_escapes_like_go() {
        assert_eq!(
            matched_rule_reason("Block-Delete Ops"),
            "matched_rule_block_delete_ops"
        );
        assert_eq!(
            matched_rule_reason("check.tainted.263"),
            "matched_rule_check.tainted.263"
        );
    }

    #[test]
    fn globs() {
        assert!(glob_match("/repo/app/*", "/repo/app/x"));
        assert!(!glob_match("/repo/app/*", "/repo/app/x/y"));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[", "["));
        assert!(path_matches("/etc/**", "/etc"));
        assert!(path_matches("/etc/**", "/etc/a/b"));
        assert!(domain_matches("*.evil.test", "a.evil.test"));
        assert!(!domain_matches("*.evil.test", "evil.test"));
    }

    #[test]
    fn verdict_order() {
        assert_eq!(max_verdict("allow", "dry_run"), "dry_run");
        assert_eq!(max_verdict("block", "require_approval"), "block");
    }
}
