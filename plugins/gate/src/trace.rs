//! The signed trace record of a gate decision and the relationship envelope it carries.

use crate::eval::Evaluation;
use crate::intent::{agent_identity_value, skill_value, Intent};
use gait_sdk::jcs;
use gait_sdk::signing::KeyPair;
use gait_sdk::time::GoTime;
use serde_json::{json, Map, Value};

pub const PRODUCER_VERSION: &str = concat!("gait-rs/", env!("CARGO_PKG_VERSION"));

/// First 12 bytes (24 hex) of SHA-256 over `input`.
pub fn short_id(input: &str) -> String {
    jcs::sha256_hex(input.as_bytes())[..24].to_string()
}

fn entity(kind: &str, id: &str) -> Value {
    json!({"kind": kind, "id": id})
}

fn edge(kind: &str, from: Value, to: Value) -> Value {
    json!({"kind": kind, "from": from, "to": to})
}

fn sort_values(v: &mut [Value], key: impl Fn(&Value) -> Vec<String>) {
    v.sort_by_key(|a| key(a));
}

fn s(v: &Value, path: &[&str]) -> String {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str().unwrap_or("").to_string()
}

/// The trace's relationship envelope.
pub fn trace_relationship(
    intent: &Intent,
    policy_digest: &str,
    trace_id: &str,
    matched_rule_ids: &[String],
) -> Value {
    let identity = &intent.context.identity;
    let tool = &intent.tool_name;
    let mut m = Map::new();
    if !intent.context.session_id.is_empty() {
        m.insert(
            "parent_ref".into(),
            entity("session", &intent.context.session_id),
        );
    }
    let mut entities = vec![
        entity("policy", policy_digest),
        entity("tool", tool),
        entity("trace", trace_id),
    ];
    if !identity.is_empty() {
        entities.push(entity("agent", identity));
    }
    sort_values(&mut entities, |e| vec![s(e, &["kind"]), s(e, &["id"])]);
    entities.dedup();
    let mut related: Vec<String> = entities.iter().map(|e| s(e, &["id"])).collect();
    m.insert("entity_refs".into(), Value::Array(entities));
    let mut policy_ref = Map::new();
    policy_ref.insert("policy_id".into(), json!(crate::policy::POLICY_SCHEMA_ID));
    policy_ref.insert(
        "policy_version".into(),
        json!(crate::policy::POLICY_SCHEMA_VERSION),
    );
    policy_ref.insert("policy_digest".into(), json!(policy_digest));
    if !matched_rule_ids.is_empty() {
        policy_ref.insert("matched_rule_ids".into(), json!(matched_rule_ids));
    }
    m.insert("policy_ref".into(), Value::Object(policy_ref));
    let mut chain = Vec::new();
    let mut edges = Vec::new();
    if !identity.is_empty() {
        chain.push(json!({"identity": identity, "role": "requester"}));
        edges.push(edge(
            "calls",
            entity("agent", identity),
            entity("tool", tool),
        ));
    }
    if let Some(d) = &intent.delegation {
        for l in &d.chain {
            chain.push(json!({"identity": l.delegator_identity, "role": "delegator"}));
            chain.push(json!({"identity": l.delegate_identity, "role": "delegate"}));
            edges.push(edge(
                "delegates_to",
                entity("agent", &l.delegator_identity),
                entity("agent", &l.delegate_identity),
            ));
        }
    }
    edges.push(edge(
        "governed_by",
        entity("tool", tool),
        entity("policy", policy_digest),
    ));
    sort_values(&mut chain, |c| vec![s(c, &["role"]), s(c, &["identity"])]);
    chain.dedup();
    if !chain.is_empty() {
        m.insert("agent_chain".into(), Value::Array(chain));
    }
    sort_values(&mut edges, |e| {
        vec![
            s(e, &["kind"]),
            s(e, &["from", "kind"]),
            s(e, &["from", "id"]),
            s(e, &["to", "kind"]),
            s(e, &["to", "id"]),
        ]
    });
    edges.dedup();
    m.insert("edges".into(), Value::Array(edges));
    related.sort();
    related.dedup();
    related.retain(|r| !r.is_empty());
    m.insert("related_entity_ids".into(), json!(related));
    Value::Object(m)
}

/// Everything the trace needs beyond the evaluation.
pub struct TraceInput<'a> {
    pub intent: &'a Intent,
    pub evaluation: &'a Evaluation,
    pub final_verdict: &'a str,
    pub violations: &'a [String],
    pub policy_digest: &'a str,
    pub intent_digest: &'a str,
    pub trace_id: &'a str,
    pub created_at: GoTime,
    pub observed_at: GoTime,
    pub correlation_id: &'a str,
    pub approval_ref: &'a str,
    pub latency_ms: f64,
    pub delegation_ref: Option<Value>,
}

/// Builds the trace record (without signature) in the projection verifiers re-create.
pub fn build_trace(t: &TraceInput) -> Value {
    let i = t.intent;
    let c = &i.context;
    let mut m = Map::new();
    let mut put = |k: &str, v: &str| {
        if !v.is_empty() {
            m.insert(k.into(), json!(v));
        }
    };
    put("producer_version", PRODUCER_VERSION);
    put("trace_id", t.trace_id);
    put("correlation_id", t.correlation_id);
    put("tool_name", &i.tool_name);
    put("args_digest", &i.args_digest());
    put("intent_digest", t.intent_digest);
    put("agent_id", &c.agent_id);
    for (k, v) in [
        ("run_id", &c.run_id),
        ("workflow_id", &c.workflow_id),
        ("repo", &c.repo),
        ("environment", &c.environment),
        ("credential_ref", &c.credential_ref),
        ("credential_source", &c.credential_source),
        ("credential_access_type", &c.credential_access_type),
        ("credential_issuer", &c.credential_issuer),
        ("credential_subject", &c.credential_subject),
        ("credential_owner", &c.credential_owner),
        ("credential_target_binding", &c.credential_target_binding),
        ("credential_run_binding", &c.credential_run_binding),
        ("credential_job_binding", &c.credential_job_binding),
        ("approval_ref", &c.approval_ref),
        ("wrkr_inventory_ref", &c.wrkr_inventory_ref),
        ("agent_action_bom_ref", &c.agent_action_bom_ref),
        ("context_set_digest", &c.context_set_digest),
        ("context_evidence_mode", &c.context_evidence_mode),
        ("approval_token_ref", &t.approval_ref.to_string()),
    ] {
        put(k, v);
    }
    put("policy_id", crate::policy::POLICY_SCHEMA_ID);
    put("policy_version", crate::policy::POLICY_SCHEMA_VERSION);
    m.insert("schema_id".into(), json!("gait.gate.trace"));
    m.insert("schema_version".into(), json!("1.0.0"));
    m.insert("created_at".into(), json!(t.created_at.to_rfc3339_nano()));
    m.insert("observed_at".into(), json!(t.observed_at.to_rfc3339_nano()));
    m.insert("policy_digest".into(), json!(t.policy_digest));
    m.insert("verdict".into(), json!(t.final_verdict));
    m.insert(
        "event_id".into(),
        json!(short_id(&format!(
            "{}:{}",
            t.trace_id,
            t.observed_at.to_rfc3339_nano()
        ))),
    );
    if let Some(a) = &c.agent_identity {
        m.insert("agent_identity".into(), agent_identity_value(a));
    }
    if c.credential_ttl_seconds != 0 {
        m.insert(
            "credential_ttl_seconds".into(),
            json!(c.credential_ttl_seconds),
        );
    }
    if !c.context_refs.is_empty() {
        m.insert("context_ref_count".into(), json!(c.context_refs.len()));
    }
    if !t.violations.is_empty() {
        m.insert("violations".into(), json!(t.violations));
    }
    if t.latency_ms > 0.0 {
        m.insert("latency_ms".into(), json!(t.latency_ms));
    }
    let ev = t.evaluation;
    let mut matched_rule_ids = Vec::new();
    if let Some(sc) = &ev.script {
        m.insert("script".into(), json!(true));
        m.insert("step_count".into(), json!(sc.step_count));
        m.insert("script_hash".into(), json!(i.script_hash));
        m.insert(
            "composite_risk_class".into(),
            json!(sc.composite_risk_class),
        );
        m.insert(
            "step_verdicts".into(),
            Value::Array(sc.step_verdicts.clone()),
        );
        if !sc.matched_rule_ids.is_empty() {
            m.insert("matched_rule_ids".into(), json!(sc.matched_rule_ids));
            matched_rule_ids = sc.matched_rule_ids.clone();
        }
    }
    if ev.pre_approved {
        m.insert("pre_approved".into(), json!(true));
    }
    for (k, v) in [
        ("pattern_id", &ev.pattern_id),
        ("registry_reason", &ev.registry_reason),
    ] {
        if !v.is_empty() {
            m.insert(k.into(), json!(v));
        }
    }
    if let Some(f) = &ev.freeze_window {
        m.insert("freeze_window".into(), f.to_value());
    }
    if let Some(sb) = &ev.sandbox {
        m.insert("sandbox".into(), sb.to_value());
    }
    if !ev.context_source.is_empty() {
        m.insert("context_source".into(), json!(ev.context_source));
    }
    if let Some(k) = &ev.kill_switch {
        m.insert("kill_switch".into(), k.clone());
    }
    if let Some(d) = &t.delegation_ref {
        m.insert("delegation_ref".into(), d.clone());
    }
    if let Some(sp) = &i.skill_provenance {
        m.insert("skill_provenance".into(), skill_value(sp));
    }
    m.insert(
        "relationship".into(),
        trace_relationship(i, t.policy_digest, t.trace_id, &matched_rule_ids),
    );
    Value::Object(m)
}

/// Signs a record (which must not yet hold `signature`) and returns it with the signature.
pub fn sign_record(mut record: Value, key: &KeyPair) -> Result<Value, gait_sdk::signing::KeyError> {
    let sig = key.sign_value(&record)?;
    if let Value::Object(m) = &mut record {
        m.insert("signature".into(), sig.to_value());
    }
    Ok(record)
}

/// The trace's `delegation_ref`, present whenever the intent has a delegation.
pub fn delegation_ref(
    intent: &Intent,
    valid_token_ids: &[String],
    reason_codes: &[String],
) -> Option<Value> {
    let d = intent.delegation.as_ref()?;
    let mut m = Map::new();
    let token_ref = if !valid_token_ids.is_empty() {
        valid_token_ids.join(",")
    } else {
        d.token_refs.first().cloned().unwrap_or_default()
    };
    if !token_ref.is_empty() {
        m.insert("delegation_token_ref".into(), json!(token_ref));
    }
    m.insert("requester_identity".into(), json!(d.requester_identity));
    if !d.chain.is_empty() {
        m.insert("delegation_depth".into(), json!(d.chain.len()));
    }
    if !d.scope_class.is_empty() {
        m.insert("scope_class".into(), json!(d.scope_class));
    }
    m.insert(
        "chain_digest".into(),
        json!(intent.delegation_binding_digest()),
    );
    let codes: Vec<&String> = reason_codes
        .iter()
        .filter(|r| r.starts_with("delegation_"))
        .collect();
    if !codes.is_empty() {
        m.insert("reason_codes".into(), json!(codes));
    }
    Some(Value::Object(m))
}
