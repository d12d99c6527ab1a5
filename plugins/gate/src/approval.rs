//! Approval tokens: minting (`gait approve`), validation during `gate eval`, and the
//! approval audit record.

use crate::error::GateError;
use crate::intent::{is_hex64, sorted_unique, sorted_unique_lower};
use crate::trace::{short_id, PRODUCER_VERSION};
use gait_sdk::gojson::GoValue;
use gait_sdk::signing::{verify_value, KeyPair, PublicKey, Signature};
use gait_sdk::time::GoTime;
use serde_json::{json, Map, Value};

pub const TOKEN_SCHEMA_ID: &str = "gait.gate.approval_token";
pub const SCHEMA_VERSION: &str = "1.0.0";

/// A (normalised) approval token.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApprovalToken {
    pub schema_id: String,
    pub schema_version: String,
    pub created_at: GoTime,
    pub producer_version: String,
    pub token_id: String,
    pub approver_identity: String,
    pub reason_code: String,
    pub intent_digest: String,
    pub policy_digest: String,
    pub delegation_binding_digest: String,
    pub scope: Vec<String>,
    pub max_targets: i64,
    pub max_ops: i64,
    pub expires_at: GoTime,
    pub signature: Option<Signature>,
}

impl ApprovalToken {
    /// The signed projection (everything but `signature`).
    pub fn projection(&self) -> Value {
        let mut m = Map::new();
        m.insert("schema_id".into(), json!(self.schema_id));
        m.insert("schema_version".into(), json!(self.schema_version));
        m.insert(
            "created_at".into(),
            json!(self.created_at.to_rfc3339_nano()),
        );
        m.insert("producer_version".into(), json!(self.producer_version));
        m.insert("token_id".into(), json!(self.token_id));
        m.insert("approver_identity".into(), json!(self.approver_identity));
        m.insert("reason_code".into(), json!(self.reason_code));
        m.insert("intent_digest".into(), json!(self.intent_digest));
        m.insert("policy_digest".into(), json!(self.policy_digest));
        if !self.delegation_binding_digest.is_empty() {
            m.insert(
                "delegation_binding_digest".into(),
                json!(self.delegation_binding_digest),
            );
        }
        m.insert("scope".into(), json!(self.scope));
        if self.max_targets != 0 {
            m.insert("max_targets".into(), json!(self.max_targets));
        }
        if self.max_ops != 0 {
            m.insert("max_ops".into(), json!(self.max_ops));
        }
        m.insert(
            "expires_at".into(),
            json!(self.expires_at.to_rfc3339_nano()),
        );
        Value::Object(m)
    }

    pub fn to_value(&self) -> Value {
        let mut v = self.projection();
        if let (Some(sig), Value::Object(m)) = (&self.signature, &mut v) {
            m.insert("signature".into(), sig.to_value());
        }
        v
    }

    /// Decodes a token file the way the reference does.
    pub fn parse(text: &str) -> Result<ApprovalToken, String> {
        let v = GoValue::parse(text).map_err(|e| e.to_string())?;
        if !matches!(v, GoValue::Object(_)) {
            return Err(format!(
                "json: cannot unmarshal {} into approval token",
                v.kind()
            ));
        }
        let p = "ApprovalToken";
        let time = |name: &str| -> Result<GoTime, String> {
            match v.field(name) {
                None => Ok(GoTime::zero()),
                Some(GoValue::String(s)) => GoTime::parse_rfc3339(s).map_err(|e| e.to_string()),
                Some(o) => Err(format!(
                    "json: cannot unmarshal {} into field {name} of type time.Time",
                    o.kind()
                )),
            }
        };
        Ok(ApprovalToken {
            schema_id: v.str_field("schema_id", p).map_err(|e| e.to_string())?,
            schema_version: v
                .str_field("schema_version", p)
                .map_err(|e| e.to_string())?,
            created_at: time("created_at")?,
            producer_version: v
                .str_field("producer_version", p)
                .map_err(|e| e.to_string())?,
            token_id: v.str_field("token_id", p).map_err(|e| e.to_string())?,
            approver_identity: v
                .str_field("approver_identity", p)
                .map_err(|e| e.to_string())?,
            reason_code: v.str_field("reason_code", p).map_err(|e| e.to_string())?,
            intent_digest: v.str_field("intent_digest", p).map_err(|e| e.to_string())?,
            policy_digest: v.str_field("policy_digest", p).map_err(|e| e.to_string())?,
            delegation_binding_digest: v
                .str_field("delegation_binding_digest", p)
                .map_err(|e| e.to_string())?,
            scope: v.str_list_field("scope", p).map_err(|e| e.to_string())?,
            max_targets: v.int_field("max_targets", p).map_err(|e| e.to_string())?,
            max_ops: v.int_field("max_ops", p).map_err(|e| e.to_string())?,
            expires_at: time("expires_at")?,
            signature: v.field("signature").and_then(Signature::from_go),
        })
    }

    /// The token as [`check_token`] validates and verifies it: strings trimmed, digests
    /// lower-cased, scope sorted and unique, empty schema fields defaulted.
    pub fn normalized(&self) -> ApprovalToken {
        let mut n = self.clone();
        if n.schema_id.trim().is_empty() {
            n.schema_id = TOKEN_SCHEMA_ID.into();
        }
        if n.schema_version.trim().is_empty() {
            n.schema_version = SCHEMA_VERSION.into();
        }
        n.token_id = n.token_id.trim().into();
        n.approver_identity = n.approver_identity.trim().into();
        n.reason_code = n.reason_code.trim().into();
        n.intent_digest = n.intent_digest.trim().to_lowercase();
        n.policy_digest = n.policy_digest.trim().to_lowercase();
        n.delegation_binding_digest = n.delegation_binding_digest.trim().to_lowercase();
        n.scope = sorted_unique_lower(&n.scope);
        n
    }

    fn structurally_valid(&self) -> bool {
        self.schema_id == TOKEN_SCHEMA_ID
            && self.schema_version == SCHEMA_VERSION
            && !self.token_id.is_empty()
            && !self.approver_identity.is_empty()
            && !self.reason_code.is_empty()
            && is_hex64(&self.intent_digest)
            && is_hex64(&self.policy_digest)
            && (self.delegation_binding_digest.is_empty()
                || is_hex64(&self.delegation_binding_digest))
            && !self.scope.is_empty()
            && self.max_targets >= 0
            && self.max_ops >= 0
            && !self.created_at.is_zero()
            && !self.expires_at.is_zero()
    }
}

/// Inputs of `gait approve`.
pub struct MintRequest {
    pub intent_digest: String,
    pub policy_digest: String,
    pub delegation_binding_digest: String,
    pub ttl_nanos: i128,
    pub scope: Vec<String>,
    pub approver: String,
    pub reason_code: String,
    pub max_targets: i64,
    pub max_ops: i64,
}

/// Validates a mint request (reference order) and signs the token.
pub fn mint(req: &MintRequest, key: &KeyPair, now: GoTime) -> Result<ApprovalToken, GateError> {
    let intent_digest = req.intent_digest.trim().to_lowercase();
    let policy_digest = req.policy_digest.trim().to_lowercase();
    let binding = req.delegation_binding_digest.trim().to_lowercase();
    if !is_hex64(&intent_digest) {
        return Err(GateError::invalid("intent_digest must be sha256 hex"));
    }
    if !is_hex64(&policy_digest) {
        return Err(GateError::invalid("policy_digest must be sha256 hex"));
    }
    if !binding.is_empty() && !is_hex64(&binding) {
        return Err(GateError::invalid(
            "delegation_binding_digest must be sha256 hex when set",
        ));
    }
    if req.approver.trim().is_empty() {
        return Err(GateError::invalid("approver identity is required"));
    }
    if req.reason_code.trim().is_empty() {
        return Err(GateError::invalid("reason code is required"));
    }
    let scope = sorted_unique_lower(&req.scope);
    if scope.is_empty() {
        return Err(GateError::invalid("scope must include at least one value"));
    }
    if req.max_targets < 0 {
        return Err(GateError::invalid("max_targets must be >= 0"));
    }
    if req.max_ops < 0 {
        return Err(GateError::invalid("max_ops must be >= 0"));
    }
    let created_at = now.utc();
    let ttl = jiff::SignedDuration::from_nanos(
        i64::try_from(req.ttl_nanos)
            .map_err(|_| GateError::invalid("invalid --ttl, expected positive duration"))?,
    );
    let expires_at = created_at
        .add(ttl)
        .ok_or_else(|| GateError::invalid("invalid --ttl, expected positive duration"))?;
    let token_id = short_id(&format!(
        "{intent_digest}:{policy_digest}:{}:{}:{}:{}:{}:{}",
        req.approver.trim(),
        req.reason_code.trim(),
        scope.join(","),
        req.max_targets,
        req.max_ops,
        expires_at.utc().to_rfc3339_nano()
    ));
    let mut token = ApprovalToken {
        schema_id: TOKEN_SCHEMA_ID.into(),
        schema_version: SCHEMA_VERSION.into(),
        created_at,
        producer_version: PRODUCER_VERSION.into(),
        token_id,
        approver_identity: req.approver.trim().into(),
        reason_code: req.reason_code.trim().into(),
        intent_digest,
        policy_digest,
        delegation_binding_digest: binding,
        scope,
        max_targets: req.max_targets,
        max_ops: req.max_ops,
        expires_at,
        signature: None,
    };
    token.signature = Some(key.sign_value(&token.projection())?);
    Ok(token)
}

/// What a token is checked against.
pub struct TokenContext<'a> {
    pub intent_digest: &'a str,
    pub policy_digest: &'a str,
    pub delegation_binding: Option<&'a str>,
    pub required_scope: &'a [String],
    pub target_count: i64,
    pub op_count: i64,
    pub now: GoTime,
    pub key: &'a PublicKey,
}

/// Returns `None` when the token is valid, else the reason code of the first failing check.
pub fn check_token(token: &ApprovalToken, ctx: &TokenContext) -> Option<&'static str> {
    let n = token.normalized();
    if !n.structurally_valid() {
        return Some("approval_token_invalid");
    }
    let Some(sig) = &n.signature else {
        return Some("approval_token_signature_missing");
    };
    if verify_value(&n.projection(), sig, ctx.key).is_err() {
        return Some("approval_token_signature_invalid");
    }
    if n.intent_digest != ctx.intent_digest {
        return Some("approval_token_intent_mismatch");
    }
    if n.policy_digest != ctx.policy_digest {
        return Some("approval_token_policy_mismatch");
    }
    if let Some(binding) = ctx.delegation_binding {
        if n.delegation_binding_digest != binding {
            return Some("approval_token_delegation_binding_mismatch");
        }
    }
    if ctx.now >= n.expires_at {
        return Some("approval_token_expired");
    }
    if !n.scope.iter().any(|s| s == "*") && !ctx.required_scope.iter().all(|r| n.scope.contains(r))
    {
        return Some("approval_token_scope_mismatch");
    }
    if n.max_targets > 0 && ctx.target_count > n.max_targets {
        return Some("approval_token_max_targets_exceeded");
    }
    if n.max_ops > 0 && ctx.op_count > n.max_ops {
        return Some("approval_token_max_ops_exceeded");
    }
    None
}

/// One examined token, as the audit record lists it.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub token: ApprovalToken,
    pub error_code: Option<String>,
}

impl AuditEntry {
    fn to_value(&self) -> Value {
        let t = &self.token;
        let mut m = Map::new();
        if !t.token_id.trim().is_empty() {
            m.insert("token_id".into(), json!(t.token_id.trim()));
        }
        m.insert(
            "approver_identity".into(),
            json!(t.approver_identity.trim()),
        );
        m.insert("reason_code".into(), json!(t.reason_code.trim()));
        m.insert("scope".into(), json!(sorted_unique(&t.scope)));
        m.insert(
            "expires_at".into(),
            json!(t.expires_at.utc().to_rfc3339_nano()),
        );
        m.insert("valid".into(), json!(self.error_code.is_none()));
        if let Some(code) = &self.error_code {
            m.insert("error_code".into(), json!(code));
        }
        Value::Object(m)
    }

    fn sort_key(&self) -> (String, String, String, String, String) {
        let t = &self.token;
        (
            t.token_id.trim().to_string(),
            t.approver_identity.trim().to_string(),
            t.reason_code.trim().to_string(),
            t.expires_at.utc().to_rfc3339_nano(),
            sorted_unique(&t.scope).join(","),
        )
    }
}

/// Inputs of the approval audit record.
pub struct AuditInput<'a> {
    pub created_at: GoTime,
    pub trace_id: &'a str,
    pub tool_name: &'a str,
    pub intent_digest: &'a str,
    pub policy_digest: &'a str,
    pub required: i64,
    pub valid: i64,
    pub approvers: Vec<String>,
    pub entries: Vec<AuditEntry>,
}

/// The relationship envelope shared by approval and delegation audit records.
pub fn audit_relationship(
    trace_id: &str,
    tool_name: &str,
    policy_digest: &str,
    agents: &[String],
) -> Value {
    let mut entities = vec![
        json!({"kind": "policy", "id": policy_digest}),
        json!({"kind": "tool", "id": tool_name}),
        json!({"kind": "trace", "id": trace_id}),
    ];
    for ap in agents {
        entities.push(json!({"kind": "agent", "id": ap}));
    }
    entities.sort_by_key(|e| {
        (
            e["kind"].as_str().unwrap_or("").to_string(),
            e["id"].as_str().unwrap_or("").to_string(),
        )
    });
    entities.dedup();
    let mut related: Vec<String> = entities
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .collect();
    related.sort();
    related.dedup();
    json!({
        "parent_ref": {"kind": "trace", "id": trace_id},
        "entity_refs": entities,
        "policy_ref": {"policy_digest": policy_digest},
        "edges": [{"kind": "governed_by", "from": {"kind": "tool", "id": tool_name}, "to": {"kind": "policy", "id": policy_digest}}],
        "parent_record_id": trace_id,
        "related_entity_ids": related,
    })
}

pub fn audit_record(a: AuditInput) -> Value {
    let approvers = sorted_unique(&a.approvers);
    let relationship = audit_relationship(a.trace_id, a.tool_name, a.policy_digest, &approvers);
    let mut entries = a.entries;
    entries.sort_by_key(AuditEntry::sort_key);
    let mut m = Map::new();
    m.insert("schema_id".into(), json!("gait.gate.approval_audit_record"));
    m.insert("schema_version".into(), json!(SCHEMA_VERSION));
    m.insert("created_at".into(), json!(a.created_at.to_rfc3339_nano()));
    m.insert("producer_version".into(), json!(PRODUCER_VERSION));
    m.insert("trace_id".into(), json!(a.trace_id));
    m.insert("tool_name".into(), json!(a.tool_name));
    m.insert("intent_digest".into(), json!(a.intent_digest));
    m.insert("policy_digest".into(), json!(a.policy_digest));
    m.insert("required_approvals".into(), json!(a.required));
    m.insert("valid_approvals".into(), json!(a.valid));
    m.insert("approved".into(), json!(a.valid >= a.required));
    if !approvers.is_empty() {
        m.insert("approvers".into(), json!(approvers));
    }
    m.insert("relationship".into(), relationship);
    // The reference writes `null` when no token was examined; kept for interop.
    m.insert(
        "entries".into(),
        if entries.is_empty() {
            Value::Null
        } else {
            Value::Array(entries.iter().map(AuditEntry::to_value).collect())
        },
    );
    Value::Object(m)
}
