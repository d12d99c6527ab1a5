//! The intent request: decoding (Go-shaped), normalisation and the digest projections
//! (`args_digest`, `intent_digest`, `script_hash`).

use gait_sdk::gojson::{GoValue, TypeError};
use gait_sdk::jcs;
use gait_sdk::time::GoTime;
use serde_json::{json, Map, Value};

/// An intent failed to decode or normalise.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum IntentError {
    #[error("parse intent json: {0}")]
    Parse(String),
    #[error("{0}")]
    Normalize(String),
}

impl From<TypeError> for IntentError {
    fn from(e: TypeError) -> Self {
        IntentError::Parse(e.to_string())
    }
}

type R<T> = Result<T, IntentError>;

fn nerr<T>(msg: impl Into<String>) -> R<T> {
    Err(IntentError::Normalize(msg.into()))
}

pub const TARGET_KINDS: &[&str] = &[
    "path", "url", "host", "repo", "bucket", "table", "queue", "topic", "other",
];
pub const ENDPOINT_CLASSES: &[&str] = &[
    "fs.read",
    "fs.write",
    "fs.delete",
    "proc.exec",
    "net.http",
    "net.dns",
    "ui.click",
    "ui.type",
    "ui.navigate",
    "other",
];
pub const DISCOVERY_METHODS: &[&str] = &[
    "webmcp",
    "dynamic_mcp",
    "a2a",
    "mcp",
    "static_mcp",
    "manual",
    "unknown",
];
pub const PROVENANCE_SOURCES: &[&str] = &["user", "tool_output", "external", "system"];
pub const CREDENTIAL_SOURCES: &[&str] = &[
    "aws_iam_user",
    "aws_sts",
    "azure_federated",
    "command",
    "env",
    "gcp_sts",
    "github_oidc",
    "github_pat",
    "kubernetes_service_account",
    "stub",
    "unknown",
    "vault_dynamic",
];
pub const CREDENTIAL_ACCESS_TYPES: &[&str] = &[
    "cloud_admin",
    "inherited",
    "jit",
    "standing",
    "static",
    "unknown",
];
pub const MAX_SCRIPT_STEPS: usize = 64;

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub kind: String,
    pub value: String,
    pub operation: String,
    pub sensitivity: String,
    pub endpoint_class: String,
    pub endpoint_domain: String,
    pub destructive: bool,
    pub discovery_method: String,
    pub read_only_hint: bool,
    pub destructive_hint: bool,
    pub idempotent_hint: bool,
    pub open_world_hint: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ArgProvenance {
    pub arg_path: String,
    pub source: String,
    pub source_ref: String,
    pub integrity_digest: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkillProvenance {
    pub skill_name: String,
    pub skill_version: String,
    pub source: String,
    pub publisher: String,
    pub digest: String,
    pub signature_key_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DelegationLink {
    pub delegator_identity: String,
    pub delegate_identity: String,
    pub scope_class: String,
    pub token_ref: String,
    pub issued_at: GoTime,
    pub expires_at: GoTime,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delegation {
    pub requester_identity: String,
    pub scope_class: String,
    pub token_refs: Vec<String>,
    pub chain: Vec<DelegationLink>,
    pub issued_at: GoTime,
    pub expires_at: GoTime,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentIdentity {
    pub lifecycle_states: Vec<String>,
    pub owner: String,
    pub manifest_digest: String,
    pub publisher: String,
    pub source: String,
    pub issued_at: GoTime,
    pub approved_at: GoTime,
    pub expires_at: GoTime,
    pub revoked: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sandbox {
    pub network_mode: String,
    pub writable_paths: Vec<String>,
    pub read_only_roots: Vec<String>,
    pub env_exposure_mode: String,
    pub timeout_seconds: i64,
    pub filesystem_isolation: String,
    pub user_mode: String,
    pub evidence_ref: String,
    pub evidence_digest: String,
}

impl Sandbox {
    fn is_empty(&self) -> bool {
        *self == Sandbox::default()
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    pub identity: String,
    pub workspace: String,
    pub risk_class: String,
    pub phase: String,
    pub agent_id: String,
    pub agent_identity: Option<AgentIdentity>,
    pub run_id: String,
    pub workflow_id: String,
    pub repo: String,
    pub environment: String,
    pub job_id: String,
    pub session_id: String,
    pub request_id: String,
    pub credential_ref: String,
    pub credential_source: String,
    pub credential_access_type: String,
    pub credential_issuer: String,
    pub credential_subject: String,
    pub credential_owner: String,
    pub credential_target_binding: String,
    pub credential_run_binding: String,
    pub credential_job_binding: String,
    pub credential_ttl_seconds: i64,
    pub approval_ref: String,
    pub wrkr_inventory_ref: String,
    pub agent_action_bom_ref: String,
    pub sandbox: Option<Sandbox>,
    pub auth_context: Option<Map<String, Value>>,
    pub credential_scopes: Vec<String>,
    pub environment_fingerprint: String,
    pub context_set_digest: String,
    pub context_evidence_mode: String,
    pub context_refs: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScriptStep {
    pub tool_name: String,
    pub args: Map<String, Value>,
    pub targets: Vec<Target>,
    pub arg_provenance: Vec<ArgProvenance>,
}

/// A decoded (and, after [`Intent::normalize`], normalised) intent request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Intent {
    pub created_at: Option<GoTime>,
    pub producer_version: String,
    pub tool_name: String,
    pub args: Map<String, Value>,
    pub script: Option<Vec<ScriptStep>>,
    pub script_hash: String,
    pub targets: Vec<Target>,
    pub arg_provenance: Vec<ArgProvenance>,
    pub skill_provenance: Option<SkillProvenance>,
    pub delegation: Option<Delegation>,
    pub relationship: Option<Value>,
    pub context: Context,
}

// ---------------------------------------------------------------- decoding

fn time_field(v: &GoValue, name: &str, path: &str) -> R<GoTime> {
    match v.field(name) {
        None => Ok(GoTime::zero()),
        Some(GoValue::String(s)) => {
            GoTime::parse_rfc3339(s).map_err(|e| IntentError::Parse(format!("{path}.{name}: {e}")))
        }
        Some(other) => Err(IntentError::Parse(format!(
            "json: cannot unmarshal {} into field {path}.{name} of type time.Time",
            other.kind()
        ))),
    }
}

fn map_field(v: &GoValue, name: &str, path: &str) -> R<Option<Map<String, Value>>> {
    match v.field(name) {
        None => Ok(None),
        Some(o @ GoValue::Object(_)) => match o.to_value() {
            Value::Object(m) => Ok(Some(m)),
            _ => unreachable!("object converts to object"),
        },
        Some(other) => Err(IntentError::Parse(format!(
            "json: cannot unmarshal {} into field {path}.{name} of type map[string]interface {{}}",
            other.kind()
        ))),
    }
}

fn decode_targets(v: &GoValue, path: &str) -> R<Vec<Target>> {
    let mut out = Vec::new();
    for (i, t) in v.array_field("targets", path)?.iter().enumerate() {
        if t.is_null() {
            out.push(Target::default());
            continue;
        }
        if !matches!(t, GoValue::Object(_)) {
            return Err(IntentError::Parse(format!(
                "json: cannot unmarshal {} into field {path}.targets[{i}] of type Target",
                t.kind()
            )));
        }
        let p = format!("{path}.targets");
        out.push(Target {
            kind: t.str_field("kind", &p)?,
            value: t.str_field("value", &p)?,
            operation: t.str_field("operation", &p)?,
            sensitivity: t.str_field("sensitivity", &p)?,
            endpoint_class: t.str_field("endpoint_class", &p)?,
            endpoint_domain: t.str_field("endpoint_domain", &p)?,
            destructive: t.bool_field("destructive", &p)?,
            discovery_method: t.str_field("discovery_method", &p)?,
            read_only_hint: t.bool_field("read_only_hint", &p)?,
            destructive_hint: t.bool_field("destructive_hint", &p)?,
            idempotent_hint: t.bool_field("idempotent_hint", &p)?,
            open_world_hint: t.bool_field("open_world_hint", &p)?,
        });
    }
    Ok(out)
}

fn decode_provenance(v: &GoValue, path: &str) -> R<Vec<ArgProvenance>> {
    let mut out = Vec::new();
    for p in v.array_field("arg_provenance", path)? {
        if !matches!(p, GoValue::Object(_)) {
            if p.is_null() {
                out.push(ArgProvenance::default());
                continue;
            }
            return Err(IntentError::Parse(format!(
                "json: cannot unmarshal {} into field {path}.arg_provenance",
                p.kind()
            )));
        }
        let pp = format!("{path}.arg_provenance");
        out.push(ArgProvenance {
            arg_path: p.str_field("arg_path", &pp)?,
            source: p.str_field("source", &pp)?,
            source_ref: p.str_field("source_ref", &pp)?,
            integrity_digest: p.str_field("integrity_digest", &pp)?,
        });
    }
    Ok(out)
}

fn args_field(v: &GoValue, path: &str) -> R<Map<String, Value>> {
    Ok(map_field(v, "args", path)?.unwrap_or_default())
}

impl Intent {
    /// Decodes intent JSON text the way the reference does (unknown members ignored, names
    /// matched case-insensitively, last duplicate wins).
    pub fn parse_json(text: &str) -> R<Intent> {
        let root = GoValue::parse(text).map_err(|e| IntentError::Parse(e.to_string()))?;
        if !matches!(root, GoValue::Object(_)) {
            return Err(IntentError::Parse(format!(
                "json: cannot unmarshal {} into Go value of type gate.IntentRequest",
                root.kind()
            )));
        }
        Intent::from_go(&root)
    }

    pub fn from_go(root: &GoValue) -> R<Intent> {
        let p = "IntentRequest";
        let created_at = match root.field("created_at") {
            None => None,
            Some(_) => Some(time_field(root, "created_at", p)?),
        };
        let script = match root.object_field("script", p)? {
            None => None,
            Some(s) => {
                let mut steps = Vec::new();
                for (i, step) in s.array_field("steps", "script")?.iter().enumerate() {
                    let sp = format!("script.steps[{i}]");
                    if !matches!(step, GoValue::Object(_)) {
                        if step.is_null() {
                            steps.push(ScriptStep::default());
                            continue;
                        }
                        return Err(IntentError::Parse(format!(
                            "json: cannot unmarshal {} into field {sp}",
                            step.kind()
                        )));
                    }
                    steps.push(ScriptStep {
                        tool_name: step.str_field("tool_name", &sp)?,
                        args: args_field(step, &sp)?,
                        targets: decode_targets(step, &sp)?,
                        arg_provenance: decode_provenance(step, &sp)?,
                    });
                }
                Some(steps)
            }
        };
        let skill_provenance = match root.object_field("skill_provenance", p)? {
            None => None,
            Some(s) => {
                let sp = "skill_provenance";
                Some(SkillProvenance {
                    skill_name: s.str_field("skill_name", sp)?,
                    skill_version: s.str_field("skill_version", sp)?,
                    source: s.str_field("source", sp)?,
                    publisher: s.str_field("publisher", sp)?,
                    digest: s.str_field("digest", sp)?,
                    signature_key_id: s.str_field("signature_key_id", sp)?,
                })
            }
        };
        let delegation = match root.object_field("delegation", p)? {
            None => None,
            Some(d) => {
                let dp = "delegation";
                let mut chain = Vec::new();
                for (i, l) in d.array_field("chain", dp)?.iter().enumerate() {
                    let lp = format!("delegation.chain[{i}]");
                    if !matches!(l, GoValue::Object(_)) {
                        if l.is_null() {
                            chain.push(DelegationLink::default());
                            continue;
                        }
                        return Err(IntentError::Parse(format!(
                            "json: cannot unmarshal {} into field {lp}",
                            l.kind()
                        )));
                    }
                    chain.push(DelegationLink {
                        delegator_identity: l.str_field("delegator_identity", &lp)?,
                        delegate_identity: l.str_field("delegate_identity", &lp)?,
                        scope_class: l.str_field("scope_class", &lp)?,
                        token_ref: l.str_field("token_ref", &lp)?,
                        issued_at: time_field(l, "issued_at", &lp)?,
                        expires_at: time_field(l, "expires_at", &lp)?,
                    });
                }
                Some(Delegation {
                    requester_identity: d.str_field("requester_identity", dp)?,
                    scope_class: d.str_field("scope_class", dp)?,
                    token_refs: d.str_list_field("token_refs", dp)?,
                    chain,
                    issued_at: time_field(d, "issued_at", dp)?,
                    expires_at: time_field(d, "expires_at", dp)?,
                })
            }
        };
        let relationship = root.field("relationship").map(GoValue::to_value);
        let context = match root.object_field("context", p)? {
            None => Context::default(),
            Some(c) => decode_context(c)?,
        };
        Ok(Intent {
            created_at,
            producer_version: root.str_field("producer_version", p)?,
            tool_name: root.str_field("tool_name", p)?,
            args: args_field(root, p)?,
            script,
            script_hash: root.str_field("script_hash", p)?,
            targets: decode_targets(root, p)?,
            arg_provenance: decode_provenance(root, p)?,
            skill_provenance,
            delegation,
            relationship,
            context,
        })
    }
}

fn decode_context(c: &GoValue) -> R<Context> {
    let p = "context";
    let agent_identity = match c.object_field("agent_identity", p)? {
        None => None,
        Some(a) => {
            let ap = "context.agent_identity";
            Some(AgentIdentity {
                lifecycle_states: a.str_list_field("lifecycle_states", ap)?,
                owner: a.str_field("owner", ap)?,
                manifest_digest: a.str_field("manifest_digest", ap)?,
                publisher: a.str_field("publisher", ap)?,
                source: a.str_field("source", ap)?,
                issued_at: time_field(a, "issued_at", ap)?,
                approved_at: time_field(a, "approved_at", ap)?,
                expires_at: time_field(a, "expires_at", ap)?,
                revoked: a.bool_field("revoked", ap)?,
            })
        }
    };
    let sandbox = match c.object_field("sandbox", p)? {
        None => None,
        Some(s) => {
            let sp = "context.sandbox";
            Some(Sandbox {
                network_mode: s.str_field("network_mode", sp)?,
                writable_paths: s.str_list_field("writable_paths", sp)?,
                read_only_roots: s.str_list_field("read_only_roots", sp)?,
                env_exposure_mode: s.str_field("env_exposure_mode", sp)?,
                timeout_seconds: s.int_field("timeout_seconds", sp)?,
                filesystem_isolation: s.str_field("filesystem_isolation", sp)?,
                user_mode: s.str_field("user_mode", sp)?,
                evidence_ref: s.str_field("evidence_ref", sp)?,
                evidence_digest: s.str_field("evidence_digest", sp)?,
            })
        }
    };
    Ok(Context {
        identity: c.str_field("identity", p)?,
        workspace: c.str_field("workspace", p)?,
        risk_class: c.str_field("risk_class", p)?,
        phase: c.str_field("phase", p)?,
        agent_id: c.str_field("agent_id", p)?,
        agent_identity,
        run_id: c.str_field("run_id", p)?,
        workflow_id: c.str_field("workflow_id", p)?,
        repo: c.str_field("repo", p)?,
        environment: c.str_field("environment", p)?,
        job_id: c.str_field("job_id", p)?,
        session_id: c.str_field("session_id", p)?,
        request_id: c.str_field("request_id", p)?,
        credential_ref: c.str_field("credential_ref", p)?,
        credential_source: c.str_field("credential_source", p)?,
        credential_access_type: c.str_field("credential_access_type", p)?,
        credential_issuer: c.str_field("credential_issuer", p)?,
        credential_subject: c.str_field("credential_subject", p)?,
        credential_owner: c.str_field("credential_owner", p)?,
        credential_target_binding: c.str_field("credential_target_binding", p)?,
        credential_run_binding: c.str_field("credential_run_binding", p)?,
        credential_job_binding: c.str_field("credential_job_binding", p)?,
        credential_ttl_seconds: c.int_field("credential_ttl_seconds", p)?,
        approval_ref: c.str_field("approval_ref", p)?,
        wrkr_inventory_ref: c.str_field("wrkr_inventory_ref", p)?,
        agent_action_bom_ref: c.str_field("agent_action_bom_ref", p)?,
        sandbox,
        auth_context: map_field(c, "auth_context", p)?,
        credential_scopes: c.str_list_field("credential_scopes", p)?,
        environment_fingerprint: c.str_field("environment_fingerprint", p)?,
        context_set_digest: c.str_field("context_set_digest", p)?,
        context_evidence_mode: c.str_field("context_evidence_mode", p)?,
        context_refs: c.str_list_field("context_refs", p)?,
    })
}

// ---------------------------------------------------------------- helpers

/// Trim, drop empties, dedupe, sort by bytes.
pub fn sorted_unique(items: &[String]) -> Vec<String> {
    let mut v: Vec<String> = items
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Like [`sorted_unique`], lower-casing each item.
pub fn sorted_unique_lower(items: &[String]) -> Vec<String> {
    let lowered: Vec<String> = items.iter().map(|s| s.trim().to_lowercase()).collect();
    sorted_unique(&lowered)
}

pub fn is_hex64(s: &str) -> bool {
    jcs::is_sha256_hex(s)
}

fn normalize_json(v: &Value) -> R<Value> {
    Ok(match v {
        Value::String(s) => Value::String(s.trim().to_string()),
        Value::Array(items) => Value::Array(items.iter().map(normalize_json).collect::<R<_>>()?),
        Value::Object(m) => Value::Object(normalize_map(m)?),
        other => other.clone(),
    })
}

fn normalize_map(m: &Map<String, Value>) -> R<Map<String, Value>> {
    let mut out = Map::new();
    for (k, v) in m {
        let key = k.trim();
        if key.is_empty() {
            return nerr("normalize args: args contains empty key");
        }
        out.insert(key.to_string(), normalize_json(v)?);
    }
    Ok(out)
}

const CREDENTIAL_KEY_SAFE_SUFFIXES: &[&str] = &[
    "_ref",
    "_refs",
    "_digest",
    "_digests",
    "_hash",
    "_issuer",
    "_source",
    "_type",
    "_ttl",
    "_ttl_seconds",
    "_id",
    "_ids",
    "_name",
    "_names",
    "_scope",
    "_scopes",
];

fn key_suggests_credential(key: &str) -> bool {
    let k = key.to_lowercase();
    if CREDENTIAL_KEY_SAFE_SUFFIXES.iter().any(|s| k.ends_with(s)) {
        return false;
    }
    if k.contains("token")
        || k.contains("secret")
        || k.contains("password")
        || k.contains("credential")
    {
        return true;
    }
    contains_joined(&k, "api", "key") || contains_joined(&k, "access", "key")
}

/// Matches `<a>[_-]?<b>` anywhere in `s`.
fn contains_joined(s: &str, a: &str, b: &str) -> bool {
    let mut start = 0;
    while let Some(pos) = s[start..].find(a) {
        let rest = &s[start + pos + a.len()..];
        let rest = rest
            .strip_prefix('_')
            .or_else(|| rest.strip_prefix('-'))
            .map_or(rest, |r| r);
        if rest.starts_with(b) || s[start + pos + a.len()..].starts_with(b) {
            return true;
        }
        start += pos + 1;
    }
    false
}

/// Whether a string looks like raw secret material rather than a reference to one.
pub fn looks_like_credential_material(value: &str) -> bool {
    let v = value.trim();
    if v.is_empty() {
        return false;
    }
    let lower = v.to_lowercase();
    if ["env:", "stub:", "cmd:", "ref:", "sha256:"]
        .iter()
        .any(|p| lower.starts_with(p))
        || is_hex64(v)
    {
        return false;
    }
    if ["ghp_", "gho_", "github_pat_", "sk-", "AKIA", "ASIA"]
        .iter()
        .any(|p| v.starts_with(p))
    {
        return true;
    }
    v.len() >= 16
        && !v
            .bytes()
            .any(|b| b == b' ' || b == b'\t' || b == b'\r' || b == b'\n')
        && v.bytes().any(|b| b.is_ascii_alphabetic())
        && v.bytes().any(|b| b.is_ascii_digit())
}

fn check_credentials(v: &Value, path: &str) -> R<()> {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                let child = &m[k];
                let child_path = format!("{path}.{k}");
                if key_suggests_credential(k) {
                    if let Value::String(s) = child {
                        if looks_like_credential_material(s) {
                            return nerr(format!(
                                "{child_path} must not contain raw credential material; use credential references or digests instead"
                            ));
                        }
                    }
                }
                check_credentials(child, &child_path)?;
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_credentials(item, &format!("{path}[{i}]"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn tool_hint(tool: &str, words: &[&str]) -> bool {
    let last = tool.rsplit('/').next().unwrap_or(tool);
    words.iter().any(|w| last.contains(w))
}

fn infer_endpoint_class(kind: &str, op: &str, tool: &str) -> &'static str {
    match kind {
        "path" => {
            if [
                "read", "get", "list", "open", "cat", "head", "download", "stat",
            ]
            .contains(&op)
            {
                "fs.read"
            } else if [
                "write", "append", "put", "create", "update", "save", "copy", "move", "rename",
            ]
            .contains(&op)
            {
                "fs.write"
            } else if [
                "delete", "remove", "rm", "unlink", "rmdir", "drop", "truncate",
            ]
            .contains(&op)
            {
                "fs.delete"
            } else if tool_hint(tool, &["read", "list", "fetch", "search"]) {
                "fs.read"
            } else if tool_hint(tool, &["write", "update", "save", "create"]) {
                "fs.write"
            } else if tool_hint(tool, &["delete", "remove", "rm", "drop"]) {
                "fs.delete"
            } else {
                "other"
            }
        }
        "host" | "url" => {
            if ["dns", "resolve", "lookup"].contains(&op) {
                "net.dns"
            } else {
                "net.http"
            }
        }
        "other"
            if ["exec", "spawn", "run", "shell", "command"].contains(&op)
                || tool_hint(tool, &["exec", "shell", "command", "spawn", "run"]) =>
        {
            "proc.exec"
        }
        _ => "other",
    }
}

fn host_domain(value: &str) -> String {
    let v = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"))
        .unwrap_or(value);
    let v = v.split('/').next().unwrap_or("");
    let v = v.split(':').next().unwrap_or("");
    v.to_lowercase()
}

/// The host name of an RFC 3986 URL (no port, no brackets), lower-cased; empty when the URL
/// has no authority or cannot be parsed.
pub fn url_domain(value: &str) -> String {
    if value.bytes().any(|b| b < 0x20 || b == 0x7f || b == b' ') {
        return String::new();
    }
    let rest = match value.find(':') {
        Some(i)
            if i > 0
                && value[..i].bytes().enumerate().all(|(j, b)| {
                    b.is_ascii_alphabetic()
                        || (j > 0 && (b.is_ascii_digit() || b"+-.".contains(&b)))
                }) =>
        {
            &value[i + 1..]
        }
        Some(0) => return String::new(),
        _ => value,
    };
    let Some(after) = rest.strip_prefix("//") else {
        return String::new();
    };
    let authority = after.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(inner) = hostport.strip_prefix('[') {
        match inner.find(']') {
            Some(end) => &inner[..end],
            None => return String::new(),
        }
    } else {
        match hostport.rfind(':') {
            Some(i) if hostport[i + 1..].bytes().all(|b| b.is_ascii_digit()) => &hostport[..i],
            Some(_) => return String::new(),
            None => hostport,
        }
    };
    if host.contains('%') {
        return String::new();
    }
    host.to_lowercase()
}

const DESTRUCTIVE_OPS: &[&str] = &[
    "delete", "remove", "rm", "unlink", "rmdir", "drop", "truncate", "exec", "spawn",
];

fn normalize_targets(targets: &[Target], tool: &str) -> R<Vec<Target>> {
    let mut out = Vec::with_capacity(targets.len());
    for t in targets {
        let mut n = Target {
            kind: t.kind.trim().to_lowercase(),
            value: t.value.trim().to_string(),
            operation: t.operation.trim().to_lowercase(),
            sensitivity: t.sensitivity.trim().to_lowercase(),
            endpoint_class: t.endpoint_class.trim().to_lowercase(),
            endpoint_domain: t.endpoint_domain.trim().to_lowercase(),
            destructive: t.destructive,
            discovery_method: t
                .discovery_method
                .trim()
                .to_lowercase()
                .replace(['-', ' '], "_"),
            read_only_hint: t.read_only_hint,
            destructive_hint: t.destructive_hint,
            idempotent_hint: t.idempotent_hint,
            open_world_hint: t.open_world_hint,
        };
        if n.discovery_method.is_empty() {
            n.discovery_method = "unknown".into();
        }
        if n.kind.is_empty() || n.value.is_empty() {
            return nerr("targets require kind and value");
        }
        if !TARGET_KINDS.contains(&n.kind.as_str()) {
            return nerr(format!("unsupported target kind: {}", n.kind));
        }
        if n.endpoint_class.is_empty() {
            n.endpoint_class = infer_endpoint_class(&n.kind, &n.operation, tool).to_string();
        }
        if !ENDPOINT_CLASSES.contains(&n.endpoint_class.as_str()) {
            return nerr(format!("unsupported endpoint class: {}", n.endpoint_class));
        }
        if !DISCOVERY_METHODS.contains(&n.discovery_method.as_str()) {
            return nerr(format!(
                "unsupported discovery method: {}",
                n.discovery_method
            ));
        }
        if n.endpoint_domain.is_empty() {
            // Trimmed like a given domain, or normalising again would change it
            // (`abc :80` → `abc `, `http://abc\u{a0}/` → `abc\u{a0}`).
            n.endpoint_domain = match n.kind.as_str() {
                "host" => host_domain(&n.value),
                "url" => url_domain(&n.value),
                _ => String::new(),
            }
            .trim()
            .to_string();
        }
        n.destructive = n.destructive
            || n.destructive_hint
            || n.endpoint_class == "fs.delete"
            || n.endpoint_class == "proc.exec"
            || DESTRUCTIVE_OPS.contains(&n.operation.as_str());
        out.push(n);
    }
    // Derived Ord sorts by kind, value, operation, sensitivity, class, domain, then the flags
    // and discovery method in the reference's order (false before true).
    out.sort_by(|a, b| {
        (
            &a.kind,
            &a.value,
            &a.operation,
            &a.sensitivity,
            &a.endpoint_class,
            &a.endpoint_domain,
        )
            .cmp(&(
                &b.kind,
                &b.value,
                &b.operation,
                &b.sensitivity,
                &b.endpoint_class,
                &b.endpoint_domain,
            ))
            .then(a.destructive.cmp(&b.destructive))
            .then(a.discovery_method.cmp(&b.discovery_method))
            .then(a.read_only_hint.cmp(&b.read_only_hint))
            .then(a.destructive_hint.cmp(&b.destructive_hint))
            .then(a.idempotent_hint.cmp(&b.idempotent_hint))
            .then(a.open_world_hint.cmp(&b.open_world_hint))
    });
    out.dedup();
    Ok(out)
}

fn normalize_provenance(items: &[ArgProvenance]) -> R<Vec<ArgProvenance>> {
    let mut out = Vec::with_capacity(items.len());
    for p in items {
        let n = ArgProvenance {
            arg_path: p.arg_path.trim().to_string(),
            source: p.source.trim().to_lowercase(),
            source_ref: p.source_ref.trim().to_string(),
            integrity_digest: p.integrity_digest.trim().to_lowercase(),
        };
        if n.arg_path.is_empty() || n.source.is_empty() {
            return nerr("arg provenance requires arg_path and source");
        }
        if !PROVENANCE_SOURCES.contains(&n.source.as_str()) {
            return nerr(format!("unsupported provenance source: {}", n.source));
        }
        if !n.integrity_digest.is_empty() && !is_hex64(&n.integrity_digest) {
            return nerr(format!(
                "invalid provenance integrity_digest: {}",
                n.integrity_digest
            ));
        }
        out.push(n);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// `t` in UTC. The digest projection writes it as RFC 3339, which has four-digit years only:
/// a time that UTC moves out of 0000-9999 (`0000-01-01T00:00:00+01:00`) cannot be written
/// (Go's JSON encoding refuses it) and is rejected.
fn normalize_time_utc(t: GoTime, field: &str) -> R<GoTime> {
    let utc = t.utc();
    let year = jiff::tz::Offset::UTC.to_datetime(utc.timestamp()).year();
    if !(0..=9999).contains(&year) {
        return nerr(format!("{field} is outside of the years 0000-9999 in UTC"));
    }
    Ok(utc)
}

fn clean_path(p: &str) -> String {
    // Lexical cleaning as Go's path.Clean does for slash-separated paths.
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    if rooted {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

pub fn clean_path_pub(p: &str) -> String {
    clean_path(p)
}

/// `p` trimmed and cleaned, as normalised records keep paths; `None` when the cleaned path
/// still starts or ends with whitespace (`a /b/..` cleans to `a `). Trimming and cleaning such
/// a path again would change it, so it has no normal form.
pub fn clean_trimmed_path(p: &str) -> Option<String> {
    let cleaned = clean_path(p.trim());
    (cleaned.trim() == cleaned).then_some(cleaned)
}

fn normalize_sandbox(s: &Sandbox) -> R<Option<Sandbox>> {
    let lower_enum = |v: &str, field: &str, allowed: &[&str]| -> R<String> {
        let l = v.trim().to_lowercase();
        if !l.is_empty() && !allowed.contains(&l.as_str()) {
            return nerr(format!("context.sandbox.{field} is unsupported: {l}"));
        }
        Ok(l)
    };
    let paths = |items: &[String], field: &str| -> R<Vec<String>> {
        let mut out = Vec::new();
        for p in items {
            let t = p.trim();
            if t.is_empty() {
                continue;
            }
            let Some(cleaned) = clean_trimmed_path(t) else {
                return nerr(format!(
                    "context.sandbox.{field} must not contain paths that clean to leading or trailing whitespace"
                ));
            };
            // The cleaned form is checked too: `./x=1` cleans to `x=1`, which normalising
            // again would reject.
            for form in [t, cleaned.as_str()] {
                if let Some((name, _)) = form.split_once('=') {
                    if !name.is_empty() && !name.contains('/') {
                        return nerr(format!(
                            "context.sandbox.{field} must not contain NAME=value entries"
                        ));
                    }
                }
            }
            out.push(cleaned);
        }
        out.sort();
        out.dedup();
        Ok(out)
    };
    let n = Sandbox {
        network_mode: lower_enum(
            &s.network_mode,
            "network_mode",
            &["disabled", "egress_allowlist", "full"],
        )?,
        writable_paths: paths(&s.writable_paths, "writable_paths")?,
        read_only_roots: paths(&s.read_only_roots, "read_only_roots")?,
        env_exposure_mode: lower_enum(
            &s.env_exposure_mode,
            "env_exposure_mode",
            &["allowlist", "full", "none"],
        )?,
        timeout_seconds: s.timeout_seconds,
        filesystem_isolation: lower_enum(
            &s.filesystem_isolation,
            "filesystem_isolation",
            &["container", "none", "workspace"],
        )?,
        user_mode: lower_enum(
            &s.user_mode,
            "user_mode",
            &["default", "root", "unprivileged"],
        )?,
        evidence_ref: s.evidence_ref.trim().to_string(),
        evidence_digest: s.evidence_digest.trim().to_lowercase(),
    };
    if n.timeout_seconds < 0 {
        return nerr("context.sandbox.timeout_seconds must be >= 0");
    }
    if !n.evidence_digest.is_empty() && !is_hex64(&n.evidence_digest) {
        return nerr("context.sandbox.evidence_digest must be sha256 hex");
    }
    if !n.evidence_ref.is_empty() {
        let lower = n.evidence_ref.to_lowercase();
        let safe = ["ref:", "receipt:", "proof:", "sandbox:", "sha256:"]
            .iter()
            .any(|p| lower.starts_with(p));
        if !safe && looks_like_credential_material(&n.evidence_ref) {
            return nerr(
                "context.sandbox.evidence_ref must not contain secret-like sandbox material; use sandbox evidence refs or digests instead",
            );
        }
    }
    Ok(if n.is_empty() { None } else { Some(n) })
}

fn normalize_context(c: &Context) -> R<Context> {
    let t = |s: &str| s.trim().to_string();
    let mut n = Context {
        identity: t(&c.identity),
        workspace: t(&c.workspace).replace('\\', "/"),
        risk_class: c.risk_class.trim().to_lowercase(),
        phase: c.phase.trim().to_lowercase(),
        agent_id: t(&c.agent_id),
        agent_identity: None,
        run_id: t(&c.run_id),
        workflow_id: t(&c.workflow_id),
        repo: t(&c.repo),
        environment: t(&c.environment),
        job_id: t(&c.job_id),
        session_id: t(&c.session_id),
        request_id: t(&c.request_id),
        credential_ref: t(&c.credential_ref),
        credential_source: c.credential_source.trim().to_lowercase(),
        credential_access_type: c.credential_access_type.trim().to_lowercase(),
        credential_issuer: t(&c.credential_issuer),
        credential_subject: t(&c.credential_subject),
        credential_owner: t(&c.credential_owner),
        credential_target_binding: t(&c.credential_target_binding),
        credential_run_binding: t(&c.credential_run_binding),
        credential_job_binding: t(&c.credential_job_binding),
        credential_ttl_seconds: c.credential_ttl_seconds,
        approval_ref: t(&c.approval_ref),
        wrkr_inventory_ref: t(&c.wrkr_inventory_ref),
        agent_action_bom_ref: t(&c.agent_action_bom_ref),
        sandbox: None,
        auth_context: None,
        credential_scopes: sorted_unique(&c.credential_scopes),
        environment_fingerprint: t(&c.environment_fingerprint),
        context_set_digest: c.context_set_digest.trim().to_lowercase(),
        context_evidence_mode: c.context_evidence_mode.trim().to_lowercase(),
        context_refs: sorted_unique(&c.context_refs),
    };
    if n.identity.is_empty() {
        return nerr("context.identity is required");
    }
    if c.workspace.trim().is_empty() {
        return nerr("context.workspace is required");
    }
    if n.risk_class.is_empty() {
        return nerr("context.risk_class is required");
    }
    if let Some(auth) = &c.auth_context {
        let m = normalize_map(auth)?;
        check_credentials(&Value::Object(m.clone()), "context.auth_context")?;
        if !m.is_empty() {
            n.auth_context = Some(m);
        }
    }
    if let Some(a) = &c.agent_identity {
        let ai = AgentIdentity {
            lifecycle_states: sorted_unique(&a.lifecycle_states),
            owner: t(&a.owner),
            manifest_digest: a.manifest_digest.trim().to_lowercase(),
            publisher: t(&a.publisher),
            source: a.source.trim().to_lowercase(),
            issued_at: normalize_time_utc(a.issued_at, "context.agent_identity.issued_at")?,
            approved_at: normalize_time_utc(a.approved_at, "context.agent_identity.approved_at")?,
            expires_at: normalize_time_utc(a.expires_at, "context.agent_identity.expires_at")?,
            revoked: a.revoked,
        };
        if !ai.manifest_digest.is_empty() && !is_hex64(&ai.manifest_digest) {
            return nerr("context.agent_identity.manifest_digest must be sha256 hex");
        }
        if !ai.issued_at.is_zero() && !ai.approved_at.is_zero() && ai.approved_at < ai.issued_at {
            return nerr("context.agent_identity.approved_at must be >= issued_at");
        }
        if !ai.expires_at.is_zero()
            && ((!ai.issued_at.is_zero() && ai.expires_at <= ai.issued_at)
                || (!ai.approved_at.is_zero() && ai.expires_at <= ai.approved_at))
        {
            return nerr(
                "context.agent_identity.expires_at must be after issued_at and approved_at",
            );
        }
        n.agent_identity = Some(ai);
    }
    if !n.context_set_digest.is_empty() && !is_hex64(&n.context_set_digest) {
        return nerr("context.context_set_digest must be sha256 hex");
    }
    if n.credential_ttl_seconds < 0 {
        return nerr("context.credential_ttl_seconds must be >= 0");
    }
    if !n.credential_source.is_empty()
        && !CREDENTIAL_SOURCES.contains(&n.credential_source.as_str())
    {
        return nerr(format!(
            "context.credential_source is unsupported: {}",
            n.credential_source
        ));
    }
    if !n.credential_access_type.is_empty()
        && !CREDENTIAL_ACCESS_TYPES.contains(&n.credential_access_type.as_str())
    {
        return nerr(format!(
            "context.credential_access_type is unsupported: {}",
            n.credential_access_type
        ));
    }
    if !n.context_evidence_mode.is_empty()
        && n.context_evidence_mode != "best_effort"
        && n.context_evidence_mode != "required"
    {
        return nerr("context.context_evidence_mode must be best_effort or required");
    }
    if n.phase.is_empty() {
        n.phase = "apply".into();
    }
    if n.phase != "plan" && n.phase != "apply" {
        return nerr("context.phase must be plan or apply");
    }
    if let Some(s) = &c.sandbox {
        n.sandbox = normalize_sandbox(s)?;
    }
    Ok(n)
}

fn normalize_delegation(d: &Delegation) -> R<Delegation> {
    let mut n = Delegation {
        requester_identity: d.requester_identity.trim().to_string(),
        scope_class: d.scope_class.trim().to_lowercase(),
        token_refs: sorted_unique(&d.token_refs),
        chain: Vec::with_capacity(d.chain.len()),
        issued_at: normalize_time_utc(d.issued_at, "delegation.issued_at")?,
        expires_at: normalize_time_utc(d.expires_at, "delegation.expires_at")?,
    };
    if n.requester_identity.is_empty() {
        return nerr("delegation.requester_identity is required");
    }
    for (i, l) in d.chain.iter().enumerate() {
        let link = DelegationLink {
            delegator_identity: l.delegator_identity.trim().to_string(),
            delegate_identity: l.delegate_identity.trim().to_string(),
            scope_class: l.scope_class.trim().to_lowercase(),
            token_ref: l.token_ref.trim().to_string(),
            issued_at: normalize_time_utc(
                l.issued_at,
                &format!("delegation.chain[{i}].issued_at"),
            )?,
            expires_at: normalize_time_utc(
                l.expires_at,
                &format!("delegation.chain[{i}].expires_at"),
            )?,
        };
        if link.delegator_identity.is_empty() || link.delegate_identity.is_empty() {
            return nerr(format!(
                "delegation.chain[{i}] requires delegator_identity and delegate_identity"
            ));
        }
        if i > 0 && link.delegator_identity != n.chain[i - 1].delegate_identity {
            return nerr(format!(
                "delegation.chain[{i}] delegator_identity must match delegation.chain[{}].delegate_identity",
                i - 1
            ));
        }
        if !link.issued_at.is_zero()
            && !link.expires_at.is_zero()
            && link.expires_at <= link.issued_at
        {
            return nerr(format!(
                "delegation.chain[{i}].expires_at must be after issued_at"
            ));
        }
        n.chain.push(link);
    }
    if let Some(last) = n.chain.last() {
        if last.delegate_identity != n.requester_identity {
            return nerr(
                "delegation.chain last delegate_identity must match delegation.requester_identity",
            );
        }
    }
    if !n.issued_at.is_zero() && !n.expires_at.is_zero() && n.expires_at <= n.issued_at {
        return nerr("delegation.expires_at must be after issued_at");
    }
    Ok(n)
}

impl Intent {
    /// Normalises in the reference's order; the first error aborts. Idempotent.
    pub fn normalize(&self) -> R<Intent> {
        let mut n = self.clone();
        if let Some(steps) = &self.script {
            if steps.is_empty() {
                return nerr("script.steps must not be empty");
            }
            if steps.len() > MAX_SCRIPT_STEPS {
                return nerr(format!(
                    "script.steps exceeds max supported steps ({MAX_SCRIPT_STEPS})"
                ));
            }
            let mut out = Vec::with_capacity(steps.len());
            for (i, s) in steps.iter().enumerate() {
                let tool = s.tool_name.trim().to_lowercase();
                if tool.is_empty() {
                    return nerr(format!("script.steps[{i}].tool_name is required"));
                }
                let args = normalize_map(&s.args).map_err(|e| {
                    IntentError::Normalize(format!("normalize script.steps[{i}].args: {e}"))
                })?;
                check_credentials(
                    &Value::Object(args.clone()),
                    &format!("script.steps[{i}].args"),
                )?;
                let targets = normalize_targets(&s.targets, &tool).map_err(|e| {
                    IntentError::Normalize(format!("normalize script.steps[{i}].targets: {e}"))
                })?;
                let prov = normalize_provenance(&s.arg_provenance).map_err(|e| {
                    IntentError::Normalize(format!(
                        "normalize script.steps[{i}].arg_provenance: {e}"
                    ))
                })?;
                out.push(ScriptStep {
                    tool_name: tool,
                    args,
                    targets,
                    arg_provenance: prov,
                });
            }
            n.tool_name = "script".into();
            if self.targets.is_empty() {
                let mut all: Vec<Target> = out.iter().flat_map(|s| s.targets.clone()).collect();
                all.sort();
                all.dedup();
                n.targets = all;
            }
            if self.arg_provenance.is_empty() {
                let mut all: Vec<ArgProvenance> =
                    out.iter().flat_map(|s| s.arg_provenance.clone()).collect();
                all.sort();
                all.dedup();
                n.arg_provenance = all;
            }
            n.script = Some(out);
        } else {
            n.tool_name = self.tool_name.trim().to_lowercase();
        }
        if n.tool_name.is_empty() {
            return nerr("tool_name is required");
        }
        n.args = normalize_map(&self.args)?;
        check_credentials(&Value::Object(n.args.clone()), "args")?;
        n.targets = normalize_targets(&n.targets, &n.tool_name)?;
        n.arg_provenance = normalize_provenance(&n.arg_provenance)?;
        if let Some(s) = &self.skill_provenance {
            let sp = SkillProvenance {
                skill_name: s.skill_name.trim().to_string(),
                skill_version: s.skill_version.trim().to_string(),
                source: s.source.trim().to_lowercase(),
                publisher: s.publisher.trim().to_string(),
                digest: s.digest.trim().to_lowercase(),
                signature_key_id: s.signature_key_id.trim().to_string(),
            };
            if sp.skill_name.is_empty() || sp.source.is_empty() || sp.publisher.is_empty() {
                return nerr("skill provenance requires skill_name, source, and publisher");
            }
            if !sp.digest.is_empty() && !is_hex64(&sp.digest) {
                return nerr(format!("invalid skill provenance digest: {}", sp.digest));
            }
            n.skill_provenance = Some(sp);
        }
        n.context = normalize_context(&self.context)?;
        if let Some(d) = &self.delegation {
            n.delegation = Some(normalize_delegation(d)?);
        }
        n.script_hash = match &n.script {
            Some(steps) => jcs::digest_hex(&script_projection(steps))
                .map_err(|e| IntentError::Normalize(e.to_string()))?,
            None => String::new(),
        };
        Ok(n)
    }

    /// Normalises twice-safe: the raw (trimmed, lower-cased) risk class, used by fail-closed
    /// decisions taken before normalisation succeeds.
    pub fn raw_risk_class(&self) -> String {
        self.context.risk_class.trim().to_lowercase()
    }

    pub fn args_digest(&self) -> String {
        jcs::digest_hex(&Value::Object(self.args.clone())).expect("args are finite JSON")
    }

    /// The digest projection of a normalised intent.
    pub fn digest_projection(&self) -> Value {
        let mut m = Map::new();
        m.insert("tool_name".into(), json!(self.tool_name));
        m.insert("args".into(), Value::Object(self.args.clone()));
        if !self.script_hash.is_empty() {
            m.insert("script_hash".into(), json!(self.script_hash));
        }
        if let Some(steps) = &self.script {
            let mut proj = script_projection(steps);
            if let Value::Object(o) = &mut proj {
                m.insert("script".into(), Value::Object(std::mem::take(o)));
            }
        }
        m.insert(
            "targets".into(),
            Value::Array(self.targets.iter().map(target_value).collect()),
        );
        if !self.arg_provenance.is_empty() {
            m.insert(
                "arg_provenance".into(),
                Value::Array(self.arg_provenance.iter().map(provenance_value).collect()),
            );
        }
        if let Some(s) = &self.skill_provenance {
            m.insert("skill_provenance".into(), skill_value(s));
        }
        if let Some(d) = &self.delegation {
            m.insert("delegation".into(), delegation_value(d));
        }
        m.insert("context".into(), context_value(&self.context));
        Value::Object(m)
    }

    pub fn intent_digest(&self) -> String {
        jcs::digest_hex(&self.digest_projection()).expect("intent projection is finite JSON")
    }

    /// D(delegation) or "" when there is none.
    pub fn delegation_binding_digest(&self) -> String {
        self.delegation
            .as_ref()
            .map(|d| jcs::digest_hex(&delegation_value(d)).expect("finite"))
            .unwrap_or_default()
    }

    pub fn targets_digest(&self) -> String {
        jcs::digest_hex(&Value::Array(
            self.targets.iter().map(target_value).collect(),
        ))
        .expect("finite")
    }

    pub fn is_destructive(&self) -> bool {
        self.targets.iter().any(|t| t.destructive)
    }
}

fn put_str(m: &mut Map<String, Value>, k: &str, v: &str) {
    if !v.is_empty() {
        m.insert(k.into(), json!(v));
    }
}

fn put_bool(m: &mut Map<String, Value>, k: &str, v: bool) {
    if v {
        m.insert(k.into(), json!(true));
    }
}

fn put_list(m: &mut Map<String, Value>, k: &str, v: &[String]) {
    if !v.is_empty() {
        m.insert(k.into(), json!(v));
    }
}

pub fn target_value(t: &Target) -> Value {
    let mut m = Map::new();
    m.insert("kind".into(), json!(t.kind));
    m.insert("value".into(), json!(t.value));
    put_str(&mut m, "operation", &t.operation);
    put_str(&mut m, "sensitivity", &t.sensitivity);
    put_str(&mut m, "endpoint_class", &t.endpoint_class);
    put_str(&mut m, "endpoint_domain", &t.endpoint_domain);
    put_bool(&mut m, "destructive", t.destructive);
    put_str(&mut m, "discovery_method", &t.discovery_method);
    put_bool(&mut m, "read_only_hint", t.read_only_hint);
    put_bool(&mut m, "destructive_hint", t.destructive_hint);
    put_bool(&mut m, "idempotent_hint", t.idempotent_hint);
    put_bool(&mut m, "open_world_hint", t.open_world_hint);
    Value::Object(m)
}

pub fn provenance_value(p: &ArgProvenance) -> Value {
    let mut m = Map::new();
    m.insert("arg_path".into(), json!(p.arg_path));
    m.insert("source".into(), json!(p.source));
    put_str(&mut m, "source_ref", &p.source_ref);
    put_str(&mut m, "integrity_digest", &p.integrity_digest);
    Value::Object(m)
}

pub fn skill_value(s: &SkillProvenance) -> Value {
    let mut m = Map::new();
    m.insert("skill_name".into(), json!(s.skill_name));
    put_str(&mut m, "skill_version", &s.skill_version);
    m.insert("source".into(), json!(s.source));
    m.insert("publisher".into(), json!(s.publisher));
    put_str(&mut m, "digest", &s.digest);
    put_str(&mut m, "signature_key_id", &s.signature_key_id);
    Value::Object(m)
}

pub fn delegation_value(d: &Delegation) -> Value {
    let mut m = Map::new();
    m.insert("requester_identity".into(), json!(d.requester_identity));
    put_str(&mut m, "scope_class", &d.scope_class);
    put_list(&mut m, "token_refs", &d.token_refs);
    if !d.chain.is_empty() {
        let chain: Vec<Value> = d
            .chain
            .iter()
            .map(|l| {
                let mut lm = Map::new();
                lm.insert("delegator_identity".into(), json!(l.delegator_identity));
                lm.insert("delegate_identity".into(), json!(l.delegate_identity));
                put_str(&mut lm, "scope_class", &l.scope_class);
                put_str(&mut lm, "token_ref", &l.token_ref);
                lm.insert("issued_at".into(), json!(l.issued_at.to_rfc3339_nano()));
                lm.insert("expires_at".into(), json!(l.expires_at.to_rfc3339_nano()));
                Value::Object(lm)
            })
            .collect();
        m.insert("chain".into(), Value::Array(chain));
    }
    m.insert("issued_at".into(), json!(d.issued_at.to_rfc3339_nano()));
    m.insert("expires_at".into(), json!(d.expires_at.to_rfc3339_nano()));
    Value::Object(m)
}

pub fn agent_identity_value(a: &AgentIdentity) -> Value {
    let mut m = Map::new();
    put_list(&mut m, "lifecycle_states", &a.lifecycle_states);
    put_str(&mut m, "owner", &a.owner);
    put_str(&mut m, "manifest_digest", &a.manifest_digest);
    put_str(&mut m, "publisher", &a.publisher);
    put_str(&mut m, "source", &a.source);
    m.insert("issued_at".into(), json!(a.issued_at.to_rfc3339_nano()));
    m.insert("approved_at".into(), json!(a.approved_at.to_rfc3339_nano()));
    m.insert("expires_at".into(), json!(a.expires_at.to_rfc3339_nano()));
    put_bool(&mut m, "revoked", a.revoked);
    Value::Object(m)
}

pub fn sandbox_value(s: &Sandbox) -> Value {
    let mut m = Map::new();
    put_str(&mut m, "network_mode", &s.network_mode);
    put_list(&mut m, "writable_paths", &s.writable_paths);
    put_list(&mut m, "read_only_roots", &s.read_only_roots);
    put_str(&mut m, "env_exposure_mode", &s.env_exposure_mode);
    if s.timeout_seconds != 0 {
        m.insert("timeout_seconds".into(), json!(s.timeout_seconds));
    }
    put_str(&mut m, "filesystem_isolation", &s.filesystem_isolation);
    put_str(&mut m, "user_mode", &s.user_mode);
    put_str(&mut m, "evidence_ref", &s.evidence_ref);
    put_str(&mut m, "evidence_digest", &s.evidence_digest);
    Value::Object(m)
}

pub fn context_value(c: &Context) -> Value {
    let mut m = Map::new();
    m.insert("identity".into(), json!(c.identity));
    m.insert("workspace".into(), json!(c.workspace));
    m.insert("risk_class".into(), json!(c.risk_class));
    m.insert("phase".into(), json!(c.phase));
    put_str(&mut m, "agent_id", &c.agent_id);
    if let Some(a) = &c.agent_identity {
        m.insert("agent_identity".into(), agent_identity_value(a));
    }
    for (k, v) in [
        ("run_id", &c.run_id),
        ("workflow_id", &c.workflow_id),
        ("repo", &c.repo),
        ("environment", &c.environment),
        ("job_id", &c.job_id),
        ("session_id", &c.session_id),
        ("request_id", &c.request_id),
        ("credential_ref", &c.credential_ref),
        ("credential_source", &c.credential_source),
        ("credential_access_type", &c.credential_access_type),
        ("credential_issuer", &c.credential_issuer),
        ("credential_subject", &c.credential_subject),
        ("credential_owner", &c.credential_owner),
        ("credential_target_binding", &c.credential_target_binding),
        ("credential_run_binding", &c.credential_run_binding),
        ("credential_job_binding", &c.credential_job_binding),
    ] {
        put_str(&mut m, k, v);
    }
    if c.credential_ttl_seconds != 0 {
        m.insert(
            "credential_ttl_seconds".into(),
            json!(c.credential_ttl_seconds),
        );
    }
    put_str(&mut m, "approval_ref", &c.approval_ref);
    put_str(&mut m, "wrkr_inventory_ref", &c.wrkr_inventory_ref);
    put_str(&mut m, "agent_action_bom_ref", &c.agent_action_bom_ref);
    if let Some(s) = &c.sandbox {
        m.insert("sandbox".into(), sandbox_value(s));
    }
    if let Some(a) = &c.auth_context {
        if !a.is_empty() {
            m.insert("auth_context".into(), Value::Object(a.clone()));
        }
    }
    put_list(&mut m, "credential_scopes", &c.credential_scopes);
    put_str(
        &mut m,
        "environment_fingerprint",
        &c.environment_fingerprint,
    );
    put_str(&mut m, "context_set_digest", &c.context_set_digest);
    put_str(&mut m, "context_evidence_mode", &c.context_evidence_mode);
    put_list(&mut m, "context_refs", &c.context_refs);
    Value::Object(m)
}

fn script_projection(steps: &[ScriptStep]) -> Value {
    let steps: Vec<Value> = steps
        .iter()
        .map(|s| {
            let mut m = Map::new();
            m.insert("tool_name".into(), json!(s.tool_name));
            m.insert("args".into(), Value::Object(s.args.clone()));
            if !s.targets.is_empty() {
                m.insert(
                    "targets".into(),
                    Value::Array(s.targets.iter().map(target_value).collect()),
                );
            }
            if !s.arg_provenance.is_empty() {
                m.insert(
                    "arg_provenance".into(),
                    Value::Array(s.arg_provenance.iter().map(provenance_value).collect()),
                );
            }
            Value::Object(m)
        })
        .collect();
    json!({ "steps": steps })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(text: &str) -> String {
        Intent::parse_json(text)
            .unwrap()
            .normalize()
            .unwrap()
            .intent_digest()
    }

    #[test]
    fn spec_case_20_equivalent_intents_share_digests() {
        let a = r#"{"tool_name":"tool.write","args":{"path":" /tmp/x ","p":{"t":["a","b"],"x":1}},"targets":[{"kind":"path","value":" /tmp/x ","operation":"write"},{"kind":"host","value":"api.internal"}],"context":{"identity":"alice","workspace":"/w","risk_class":"HIGH"}}"#;
        let b = r#"{"created_at":"2026-01-01T00:00:00Z","producer_version":"x","context":{"risk_class":" high ","workspace":"/w","identity":" alice "},"targets":[{"kind":"host","value":"api.internal"},{"kind":"path","value":"/tmp/x","operation":"WRITE"},{"kind":"path","value":"/tmp/x","operation":"write"}],"args":{"p":{"x":1,"t":["a","b"]},"path":"/tmp/x"},"tool_name":"  TOOL.write "}"#;
        let want = "53449e08531bed29f6c556796e63dc4b5c3f18e7c6e2220f6b2929cf9fe2c3fc";
        assert_eq!(digest(a), want);
        assert_eq!(digest(b), want);
        let n = Intent::parse_json(a).unwrap().normalize().unwrap();
        assert_eq!(
            n.args_digest(),
            "88a7de21ba01e3d98850d9bc3dd3a9327801c3d9924d68aca43c949ccfca22c8"
        );
    }

    #[test]
    fn spec_case_21_domains_and_zero_agent_times() {
        let a = r#"{"tool_name":"tool.read","args":{},"targets":[{"kind":"host","value":"https://API.Example.com:8443/v1"},{"kind":"url","value":"https://API.Example.com:8443/v1"}],"context":{"identity":"u","workspace":"/w","risk_class":"low","agent_identity":{"owner":"o"}}}"#;
        assert_eq!(
            digest(a),
            "6a98a42bad676a2bd12fa1327c1b188a5bfbc851fc570dc1795c4d6e98057263"
        );
    }

    #[test]
    fn spec_case_22_numbers_and_html() {
        let a = r#"{"tool_name":"t","args":{"big":12345678901234567890,"f":1.50,"e":1e21,"s":1e-7,"n":-0,"h":"<a&b>"},"context":{"identity":"u","workspace":"/w","risk_class":"low"}}"#;
        assert_eq!(
            digest(a),
            "94721ac44bbb10720b0bb8f26ce986ab19de85a4a341b8a21287e2031a4df166"
        );
    }

    #[test]
    fn raw_credentials_are_rejected_but_references_pass() {
        let bad = r#"{"tool_name":"t","args":{"api_key":"sk-abc"},"context":{"identity":"u","workspace":"/w","risk_class":"low"}}"#;
        let e = Intent::parse_json(bad)
            .unwrap()
            .normalize()
            .unwrap_err()
            .to_string();
        assert_eq!(e, "args.api_key must not contain raw credential material; use credential references or digests instead");
        let ok = r#"{"tool_name":"t","args":{"api_key_ref":"sk-abc","api_key":"env:OPENAI"},"context":{"identity":"u","workspace":"/w","risk_class":"low"}}"#;
        assert!(Intent::parse_json(ok).unwrap().normalize().is_ok());
    }

    #[test]
    fn script_hash_matches_spec_example() {
        let a = r#"{"tool_name":"x","args":{},"script":{"steps":[{"tool_name":"tool.write","args":{"path":"/tmp/out.txt"},"targets":[{"kind":"path","value":"/tmp/out.txt","operation":"write"}]}]},"context":{"identity":"u","workspace":"/w","risk_class":"low"}}"#;
        let n = Intent::parse_json(a).unwrap().normalize().unwrap();
        assert_eq!(
            n.script_hash,
            "dac0acca75929be9f5c77880175b0e4ba9d5f16bfb601af09ffca57ed7ea36e0"
        );
        assert_eq!(n.tool_name, "script");
    }

    fn normalize_twice(text: &str) -> (Intent, Intent) {
        let once = Intent::parse_json(text).unwrap().normalize().unwrap();
        let twice = once.normalize().unwrap();
        (once, twice)
    }

    #[test]
    fn fuzz_regression_inferred_domains_are_trimmed() {
        // A host cut at `:` and a URL host ending in U+00A0 left whitespace on the inferred
        // domain, which the second normalisation trimmed (intent_json target).
        let a = "{\"tool_name\":\"t\",\"targets\":[{\"kind\":\"host\",\"value\":\"abc :80\"},{\"kind\":\"url\",\"value\":\"http://Abc\\u00a0/x\"}],\"context\":{\"identity\":\"u\",\"workspace\":\"/w\",\"risk_class\":\"low\"}}";
        let (once, twice) = normalize_twice(a);
        assert_eq!(once, twice);
        assert_eq!(once.intent_digest(), twice.intent_digest());
        let domains: Vec<&str> = once
            .targets
            .iter()
            .map(|t| t.endpoint_domain.as_str())
            .collect();
        assert_eq!(domains, ["abc", "abc"]);
    }

    #[test]
    fn fuzz_regression_sandbox_paths_have_a_normal_form() {
        // `./x=1` passed the NAME=value check but cleaned to `x=1`, which failed it on the
        // second normalisation; `a /b/..` cleaned to `a `, which the second one trimmed.
        let with = |path: &str| {
            format!(
                "{{\"tool_name\":\"t\",\"context\":{{\"identity\":\"u\",\"workspace\":\"/w\",\"risk_class\":\"low\",\"sandbox\":{{\"writable_paths\":[{}]}}}}}}",
                serde_json::to_string(path).unwrap()
            )
        };
        let err = |path: &str| {
            Intent::parse_json(&with(path))
                .unwrap()
                .normalize()
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("./x=1"),
            "context.sandbox.writable_paths must not contain NAME=value entries"
        );
        for p in ["a /b/..", "x/../ ./a", "a /"] {
            assert_eq!(
                err(p),
                "context.sandbox.writable_paths must not contain paths that clean to leading or trailing whitespace",
                "{p}"
            );
        }
        let (once, twice) = normalize_twice(&with(" ./tmp/../work/./x= "));
        assert_eq!(once, twice);
        let sandbox = once.context.sandbox.unwrap();
        assert_eq!(sandbox.writable_paths, ["work/x="]);
    }

    #[test]
    fn fuzz_regression_utc_times_stay_writable() {
        // `0000-01-01T00:00:00+01:00` is year -1 in UTC, which RFC 3339 cannot write: the
        // digest projection carried `-001-12-31T23:00:00Z`, which does not parse back.
        for (field, time) in [
            ("issued_at", "0000-01-01T00:00:00+01:00"),
            ("expires_at", "0000-01-01T00:30:00+00:31"),
        ] {
            let a = format!(
                "{{\"tool_name\":\"t\",\"delegation\":{{\"requester_identity\":\"a\",\"{field}\":\"{time}\"}},\"context\":{{\"identity\":\"u\",\"workspace\":\"/w\",\"risk_class\":\"low\"}}}}"
            );
            let e = Intent::parse_json(&a).unwrap().normalize().unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("delegation.{field} is outside of the years 0000-9999 in UTC")
            );
        }
        let ok = "{\"tool_name\":\"t\",\"delegation\":{\"requester_identity\":\"a\",\"issued_at\":\"0000-01-01T00:00:00-01:00\"},\"context\":{\"identity\":\"u\",\"workspace\":\"/w\",\"risk_class\":\"low\"}}";
        let (once, twice) = normalize_twice(ok);
        assert_eq!(once, twice);
    }

    #[test]
    fn normalisation_is_idempotent_on_examples() {
        let a = r#"{"tool_name":" T ","args":{" k ":" v "},"targets":[{"kind":"path","value":"/a","operation":"DELETE"}],"context":{"identity":"u","workspace":"C:\\w","risk_class":"HIGH","phase":""}}"#;
        let once = Intent::parse_json(a).unwrap().normalize().unwrap();
        let twice = once.normalize().unwrap();
        assert_eq!(once, twice);
        assert_eq!(once.context.workspace, "C:/w");
        assert!(once.is_destructive());
    }
}
