//! Delegation tokens (gate-extended §3.2): minting (`gait delegate mint`), verification
//! (`gait delegate verify`), chain validation during `gate eval` (§3.3) and the delegation
//! audit record.

use crate::error::GateError;
use crate::intent::{is_hex64, sorted_unique, sorted_unique_lower, Intent};
use crate::trace::{short_id, PRODUCER_VERSION};
use gait_sdk::gojson::GoValue;
use gait_sdk::signing::{verify_value, KeyPair, PublicKey, Signature};
use gait_sdk::time::GoTime;
use serde_json::{json, Map, Value};

pub const TOKEN_SCHEMA_ID: &str = "gait.gate.delegation_token";
pub const AUDIT_SCHEMA_ID: &str = "gait.gate.delegation_audit_record";
pub const SCHEMA_VERSION: &str = "1.0.0";

/// A delegation token as read from (or written to) a file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DelegationToken {
    pub schema_id: String,
    pub schema_version: String,
    pub created_at: GoTime,
    pub producer_version: String,
    pub token_id: String,
    pub delegator_identity: String,
    pub delegate_identity: String,
    pub scope: Vec<String>,
    pub scope_class: String,
    pub intent_digest: String,
    pub policy_digest: String,
    pub expires_at: GoTime,
    pub signature: Option<Signature>,
}

impl DelegationToken {
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
        m.insert("delegator_identity".into(), json!(self.delegator_identity));
        m.insert("delegate_identity".into(), json!(self.delegate_identity));
        m.insert("scope".into(), json!(self.scope));
        for (k, v) in [
            ("scope_class", &self.scope_class),
            ("intent_digest", &self.intent_digest),
            ("policy_digest", &self.policy_digest),
        ] {
            if !v.is_empty() {
                m.insert(k.into(), json!(v));
            }
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

    /// Decodes a token file.
    pub fn parse(text: &str) -> Result<DelegationToken, String> {
        let v = GoValue::parse(text).map_err(|e| e.to_string())?;
        if !matches!(v, GoValue::Object(_)) {
            return Err(format!(
                "json: cannot unmarshal {} into delegation token",
                v.kind()
            ));
        }
        let p = "DelegationToken";
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
        let s = |name: &str| v.str_field(name, p).map_err(|e| e.to_string());
        Ok(DelegationToken {
            schema_id: s("schema_id")?,
            schema_version: s("schema_version")?,
            created_at: time("created_at")?,
            producer_version: s("producer_version")?,
            token_id: s("token_id")?,
            delegator_identity: s("delegator_identity")?,
            delegate_identity: s("delegate_identity")?,
            scope: v.str_list_field("scope", p).map_err(|e| e.to_string())?,
            scope_class: s("scope_class")?,
            intent_digest: s("intent_digest")?,
            policy_digest: s("policy_digest")?,
            expires_at: time("expires_at")?,
            signature: v.field("signature").and_then(Signature::from_go),
        })
    }

    /// The normalized token, or `None` when it is structurally invalid.
    pub fn normalized(&self) -> Option<DelegationToken> {
        let mut n = self.clone();
        if n.schema_id.trim().is_empty() {
            n.schema_id = TOKEN_SCHEMA_ID.into();
        }
        if n.schema_version.trim().is_empty() {
            n.schema_version = SCHEMA_VERSION.into();
        }
        n.schema_id = n.schema_id.trim().into();
        n.schema_version = n.schema_version.trim().into();
        n.token_id = n.token_id.trim().into();
        n.delegator_identity = n.delegator_identity.trim().into();
        n.delegate_identity = n.delegate_identity.trim().into();
        n.scope = sorted_unique_lower(&n.scope);
        n.scope_class = n.scope_class.trim().to_lowercase();
        n.intent_digest = n.intent_digest.trim().to_lowercase();
        n.policy_digest = n.policy_digest.trim().to_lowercase();
        let ok = n.schema_id == TOKEN_SCHEMA_ID
            && n.schema_version == SCHEMA_VERSION
            && !n.token_id.is_empty()
            && !n.delegator_identity.is_empty()
            && !n.delegate_identity.is_empty()
            && !n.scope.is_empty()
            && (n.intent_digest.is_empty() || is_hex64(&n.intent_digest))
            && (n.policy_digest.is_empty() || is_hex64(&n.policy_digest))
            && !n.created_at.is_zero()
            && !n.expires_at.is_zero();
        ok.then_some(n)
    }
}

/// Inputs of `gait delegate mint`.
pub struct MintRequest {
    pub delegator: String,
    pub delegate: String,
    pub scope: Vec<String>,
    pub scope_class: String,
    pub intent_digest: String,
    pub policy_digest: String,
    pub ttl_nanos: i128,
}

/// Validates a mint request and signs the token.
pub fn mint(req: &MintRequest, key: &KeyPair, now: GoTime) -> Result<DelegationToken, GateError> {
    let delegator = req.delegator.trim().to_string();
    let delegate = req.delegate.trim().to_string();
    if delegator.is_empty() || delegate.is_empty() {
        return Err(GateError::invalid(
            "delegator and delegate identities are required",
        ));
    }
    let scope = sorted_unique_lower(&req.scope);
    if scope.is_empty() {
        return Err(GateError::invalid("scope is required"));
    }
    let intent_digest = req.intent_digest.trim().to_lowercase();
    if !intent_digest.is_empty() && !is_hex64(&intent_digest) {
        return Err(GateError::invalid(
            "intent_digest must be sha256 hex when set",
        ));
    }
    let policy_digest = req.policy_digest.trim().to_lowercase();
    if !policy_digest.is_empty() && !is_hex64(&policy_digest) {
        return Err(GateError::invalid(
            "policy_digest must be sha256 hex when set",
        ));
    }
    let scope_class = req.scope_class.trim().to_lowercase();
    let created_at = now.utc();
    let bad_ttl = || GateError::invalid("invalid --ttl, expected positive duration");
    let ttl =
        jiff::SignedDuration::from_nanos(i64::try_from(req.ttl_nanos).map_err(|_| bad_ttl())?);
    let expires_at = created_at.add(ttl).ok_or_else(bad_ttl)?;
    let token_id = short_id(&format!(
        "{delegator}:{delegate}:{}:{scope_class}:{intent_digest}:{policy_digest}:{}",
        scope.join(","),
        expires_at.utc().to_rfc3339_nano()
    ));
    let mut token = DelegationToken {
        schema_id: TOKEN_SCHEMA_ID.into(),
        schema_version: SCHEMA_VERSION.into(),
        created_at,
        producer_version: PRODUCER_VERSION.into(),
        token_id,
        delegator_identity: delegator,
        delegate_identity: delegate,
        scope,
        scope_class,
        intent_digest,
        policy_digest,
        expires_at,
        signature: None,
    };
    token.signature = Some(key.sign_value(&token.projection())?);
    Ok(token)
}

/// What a token is checked against; empty strings and slices are not checked.
#[derive(Default)]
pub struct Expect<'a> {
    pub delegator: &'a str,
    pub delegate: &'a str,
    pub scopes: &'a [String],
    pub intent_digest: &'a str,
    pub policy_digest: &'a str,
}

/// A failed token check: the reason code and a short message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFailure {
    pub code: &'static str,
    pub message: String,
}

fn fail(code: &'static str, message: impl Into<String>) -> TokenFailure {
    TokenFailure {
        code,
        message: message.into(),
    }
}

/// Checks a token in the spec order (§3.2); returns the normalized token when valid.
pub fn check_token(
    token: &DelegationToken,
    key: Option<&PublicKey>,
    expect: &Expect,
    now: GoTime,
) -> Result<DelegationToken, TokenFailure> {
    let n = token
        .normalized()
        .ok_or_else(|| fail("delegation_token_invalid", "invalid token"))?;
    let key = key.ok_or_else(|| {
        fail(
            "delegation_token_signature_invalid",
            "verify key not configured",
        )
    })?;
    let sig = n
        .signature
        .as_ref()
        .ok_or_else(|| fail("delegation_token_signature_missing", "signature missing"))?;
    verify_value(&n.projection(), sig, key)
        .map_err(|e| fail("delegation_token_signature_invalid", e.to_string()))?;
    if now >= n.expires_at {
        return Err(fail("delegation_token_expired", "token expired"));
    }
    let exp_delegator = expect.delegator.trim();
    if !exp_delegator.is_empty() && exp_delegator != n.delegator_identity {
        return Err(fail(
            "delegation_token_delegator_mismatch",
            "delegator mismatch",
        ));
    }
    let exp_delegate = expect.delegate.trim();
    if !exp_delegate.is_empty() && exp_delegate != n.delegate_identity {
        return Err(fail(
            "delegation_token_delegate_mismatch",
            "delegate mismatch",
        ));
    }
    let want_intent = expect.intent_digest.trim().to_lowercase();
    if !want_intent.is_empty() && !n.intent_digest.is_empty() && want_intent != n.intent_digest {
        return Err(fail("delegation_token_intent_mismatch", "intent mismatch"));
    }
    let want_policy = expect.policy_digest.trim().to_lowercase();
    if !want_policy.is_empty() && !n.policy_digest.is_empty() && want_policy != n.policy_digest {
        return Err(fail("delegation_token_policy_mismatch", "policy mismatch"));
    }
    let required = sorted_unique_lower(expect.scopes);
    if !required.is_empty() {
        let mut have = n.scope.clone();
        if !n.scope_class.is_empty() {
            have.push(n.scope_class.clone());
        }
        if !have.iter().any(|s| s == "*") && !required.iter().any(|r| have.contains(r)) {
            return Err(fail("delegation_token_scope_mismatch", "scope mismatch"));
        }
    }
    Ok(n)
}

/// One audit entry: a chain link without a token, or an examined token.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    pub token_id: String,
    pub delegator_identity: String,
    pub delegate_identity: String,
    pub scope: Vec<String>,
    pub expires_at: GoTime,
    pub error_code: Option<String>,
}

impl AuditEntry {
    fn from_token(t: &DelegationToken, error_code: Option<&str>) -> AuditEntry {
        AuditEntry {
            token_id: t.token_id.trim().into(),
            delegator_identity: t.delegator_identity.trim().into(),
            delegate_identity: t.delegate_identity.trim().into(),
            scope: sorted_unique_lower(&t.scope),
            expires_at: t.expires_at,
            error_code: error_code.map(str::to_string),
        }
    }

    fn to_value(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in [
            ("token_id", &self.token_id),
            ("delegator_identity", &self.delegator_identity),
            ("delegate_identity", &self.delegate_identity),
        ] {
            if !v.is_empty() {
                m.insert(k.into(), json!(v));
            }
        }
        if !self.scope.is_empty() {
            m.insert("scope".into(), json!(self.scope));
        }
        m.insert(
            "expires_at".into(),
            json!(self.expires_at.utc().to_rfc3339_nano()),
        );
        m.insert("valid".into(), json!(self.error_code.is_none()));
        if let Some(c) = &self.error_code {
            m.insert("error_code".into(), json!(c));
        }
        Value::Object(m)
    }
}

/// The outcome of chain validation during `gate eval`.
#[derive(Debug, Clone, Default)]
pub struct ChainOutcome {
    pub granted: bool,
    /// Valid token ids, sorted.
    pub valid_ids: Vec<String>,
    /// Reason codes to add (sorted later by the caller).
    pub reasons: Vec<String>,
    pub entries: Vec<AuditEntry>,
}

/// Validates the intent's delegation chain against the given tokens (§3.3).
pub fn validate_chain(
    intent: &Intent,
    tokens: &[DelegationToken],
    key: &PublicKey,
    scopes: &[String],
    intent_digest: &str,
    policy_digest: &str,
    now: GoTime,
) -> ChainOutcome {
    let mut out = ChainOutcome::default();
    if tokens.is_empty() {
        out.reasons.push("delegation_token_missing".into());
        return out;
    }
    // Required links: the chain entries, or one link ending at the requester.
    let links: Vec<(String, String)> = match &intent.delegation {
        Some(d) if !d.chain.is_empty() => d
            .chain
            .iter()
            .map(|l| (l.delegator_identity.clone(), l.delegate_identity.clone()))
            .collect(),
        Some(d) => vec![(String::new(), d.requester_identity.clone())],
        None => vec![(String::new(), intent.context.identity.clone())],
    };
    fn expect_for<'a>(
        link: &'a (String, String),
        scopes: &'a [String],
        intent_digest: &'a str,
        policy_digest: &'a str,
    ) -> Expect<'a> {
        Expect {
            delegator: &link.0,
            delegate: &link.1,
            scopes,
            intent_digest,
            policy_digest,
        }
    }
    let mut used = vec![false; tokens.len()];
    let mut matched = vec![false; links.len()];
    for (li, link) in links.iter().enumerate() {
        for (ti, t) in tokens.iter().enumerate() {
            if used[ti] {
                continue;
            }
            if let Ok(n) = check_token(
                t,
                Some(key),
                &expect_for(link, scopes, intent_digest, policy_digest),
                now,
            ) {
                used[ti] = true;
                matched[li] = true;
                out.valid_ids.push(n.token_id.clone());
                out.entries.push(AuditEntry::from_token(&n, None));
                break;
            }
        }
    }
    for (li, link) in links.iter().enumerate() {
        if !matched[li] {
            out.entries.push(AuditEntry {
                delegator_identity: link.0.clone(),
                delegate_identity: link.1.clone(),
                error_code: Some("delegation_token_missing".into()),
                ..Default::default()
            });
        }
    }
    let unmatched: Vec<&(String, String)> = links
        .iter()
        .zip(&matched)
        .filter(|(_, m)| !**m)
        .map(|(l, _)| l)
        .collect();
    for (ti, t) in tokens.iter().enumerate() {
        if used[ti] {
            continue;
        }
        let code = unmatched
            .iter()
            .find_map(|l| {
                check_token(
                    t,
                    Some(key),
                    &expect_for(l, scopes, intent_digest, policy_digest),
                    now,
                )
                .err()
            })
            .map_or("delegation_token_chain_mismatch", |f| f.code);
        out.entries.push(AuditEntry::from_token(t, Some(code)));
    }
    out.valid_ids = sorted_unique(&out.valid_ids);
    if matched.iter().all(|m| *m) {
        out.granted = true;
        out.reasons.push("delegation_granted".into());
    } else {
        out.reasons.push("delegation_chain_insufficient".into());
        for e in &out.entries {
            if let Some(c) = &e.error_code {
                out.reasons.push(c.clone());
            }
        }
    }
    out
}

/// Inputs of the delegation audit record.
pub struct AuditInput<'a> {
    pub created_at: GoTime,
    pub trace_id: &'a str,
    pub tool_name: &'a str,
    pub intent_digest: &'a str,
    pub policy_digest: &'a str,
    pub required: bool,
    pub valid: usize,
    pub delegation_ref: &'a str,
    pub entries: Vec<AuditEntry>,
}

fn relationship(a: &AuditInput, entries: &[AuditEntry]) -> Value {
    let mut agents = Vec::new();
    let mut chain: Vec<(String, String)> = Vec::new();
    let mut edges: Vec<(String, String)> = Vec::new();
    for e in entries {
        if !e.delegator_identity.is_empty() {
            agents.push(e.delegator_identity.clone());
            chain.push(("delegator".into(), e.delegator_identity.clone()));
        }
        if !e.delegate_identity.is_empty() {
            agents.push(e.delegate_identity.clone());
            chain.push(("delegate".into(), e.delegate_identity.clone()));
        }
        if !e.delegator_identity.is_empty() && !e.delegate_identity.is_empty() {
            edges.push((e.delegator_identity.clone(), e.delegate_identity.clone()));
        }
    }
    let agents = sorted_unique(&agents);
    let mut rel =
        crate::approval::audit_relationship(a.trace_id, a.tool_name, a.policy_digest, &agents);
    chain.sort();
    chain.dedup();
    edges.sort();
    edges.dedup();
    if let Value::Object(m) = &mut rel {
        if !chain.is_empty() {
            m.insert(
                "agent_chain".into(),
                Value::Array(
                    chain
                        .iter()
                        .map(|(role, id)| json!({"identity": id, "role": role}))
                        .collect(),
                ),
            );
        }
        let mut all_edges: Vec<Value> = edges
            .iter()
            .map(|(from, to)| {
                json!({"kind": "delegates_to", "from": {"kind": "agent", "id": from}, "to": {"kind": "agent", "id": to}})
            })
            .collect();
        if let Some(Value::Array(existing)) = m.get("edges") {
            all_edges.extend(existing.iter().cloned());
        }
        m.insert("edges".into(), Value::Array(all_edges));
    }
    rel
}

/// The delegation audit record (`gait.gate.delegation_audit_record`).
pub fn audit_record(a: AuditInput) -> Value {
    let mut entries = a.entries.clone();
    entries.sort_by(|x, y| {
        (&x.delegator_identity, &x.delegate_identity, &x.token_id).cmp(&(
            &y.delegator_identity,
            &y.delegate_identity,
            &y.token_id,
        ))
    });
    let mut m = Map::new();
    m.insert("schema_id".into(), json!(AUDIT_SCHEMA_ID));
    m.insert("schema_version".into(), json!(SCHEMA_VERSION));
    m.insert("created_at".into(), json!(a.created_at.to_rfc3339_nano()));
    m.insert("producer_version".into(), json!(PRODUCER_VERSION));
    m.insert("trace_id".into(), json!(a.trace_id));
    m.insert("tool_name".into(), json!(a.tool_name));
    m.insert("intent_digest".into(), json!(a.intent_digest));
    m.insert("policy_digest".into(), json!(a.policy_digest));
    m.insert("delegation_required".into(), json!(a.required));
    m.insert("valid_delegations".into(), json!(a.valid));
    m.insert("delegated".into(), json!(a.valid > 0));
    if !a.delegation_ref.is_empty() {
        m.insert("delegation_ref".into(), json!(a.delegation_ref));
    }
    m.insert("relationship".into(), relationship(&a, &entries));
    m.insert(
        "entries".into(),
        Value::Array(entries.iter().map(AuditEntry::to_value).collect()),
    );
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> GoTime {
        GoTime::parse_rfc3339("2026-01-01T00:00:00Z").unwrap()
    }

    fn req() -> MintRequest {
        MintRequest {
            delegator: "a".into(),
            delegate: "b".into(),
            scope: vec![" Write ".into(), "read".into(), "write".into()],
            scope_class: " Admin ".into(),
            intent_digest: String::new(),
            policy_digest: String::new(),
            ttl_nanos: 3_600_000_000_000,
        }
    }

    #[test]
    fn minted_token_verifies_and_checks_in_order() {
        let key = KeyPair::generate().unwrap();
        let t = mint(&req(), &key, now()).unwrap();
        assert_eq!(t.scope, vec!["read", "write"]);
        assert_eq!(t.scope_class, "admin");
        let pk = key.public();
        assert!(check_token(&t, Some(&pk), &Expect::default(), now()).is_ok());
        let scopes = vec!["delete".to_string()];
        let e = Expect {
            scopes: &scopes,
            ..Default::default()
        };
        assert_eq!(
            check_token(&t, Some(&pk), &e, now()).unwrap_err().code,
            "delegation_token_scope_mismatch"
        );
        let later = GoTime::parse_rfc3339("2026-01-01T01:00:00Z").unwrap();
        assert_eq!(
            check_token(&t, Some(&pk), &e, later).unwrap_err().code,
            "delegation_token_expired"
        );
        let other = KeyPair::generate().unwrap().public();
        assert_eq!(
            check_token(&t, Some(&other), &e, now()).unwrap_err().code,
            "delegation_token_signature_invalid"
        );
        let parsed = DelegationToken::parse(&t.to_value().to_string()).unwrap();
        assert!(check_token(&parsed, Some(&pk), &Expect::default(), now()).is_ok());
    }

    #[test]
    fn mint_rejects_bad_input() {
        let key = KeyPair::generate().unwrap();
        let mut r = req();
        r.scope = vec![" ".into()];
        assert!(mint(&r, &key, now()).is_err());
        let mut r = req();
        r.intent_digest = "abc".into();
        assert!(mint(&r, &key, now()).is_err());
    }
}
