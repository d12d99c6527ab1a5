//! Credential brokers (gate-extended §5.4): `--credential-broker off|stub|env|command`, the
//! broker request digest, receipt checks and the `gait.gate.broker_credential_record`.

use crate::error::GateError;
use crate::intent::{sorted_unique_lower, Intent};
use crate::policy::Rule;
use crate::trace::{short_id, PRODUCER_VERSION};
use gait_sdk::jcs;
use gait_sdk::time::GoTime;
use serde_json::{json, Map, Value};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const RECORD_SCHEMA_ID: &str = "gait.gate.broker_credential_record";
pub const DEFAULT_ENV_PREFIX: &str = "GAIT_BROKER_TOKEN_";
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
const COMMAND_OUTPUT_CAP: usize = 16 * 1024;
const MAX_REF_LEN: usize = 256;

/// The configured broker kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    Off,
    Stub,
    Env,
    Command,
}

impl BrokerKind {
    /// Parses `--credential-broker` (empty means `off`).
    pub fn parse(s: &str) -> Result<BrokerKind, GateError> {
        match s.trim().to_lowercase().as_str() {
            "" | "off" => Ok(BrokerKind::Off),
            "stub" => Ok(BrokerKind::Stub),
            "env" => Ok(BrokerKind::Env),
            "command" => Ok(BrokerKind::Command),
            other => Err(GateError::invalid(format!(
                "unsupported credential broker: {other}"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BrokerKind::Off => "off",
            BrokerKind::Stub => "stub",
            BrokerKind::Env => "env",
            BrokerKind::Command => "command",
        }
    }
}

/// Broker configuration from flags and project config.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub kind: BrokerKind,
    pub env_prefix: String,
    pub command: String,
    pub command_args: Vec<String>,
    pub reference: String,
    pub scopes: Vec<String>,
}

/// What the broker is asked for.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub tool_name: String,
    pub identity: String,
    pub workspace: String,
    pub session_id: String,
    pub request_id: String,
    pub run_id: String,
    pub job_id: String,
    pub reference: String,
    pub scope: Vec<String>,
    pub target_binding: String,
}

impl Request {
    /// Builds the request for an intent; `reference`/`scopes` override or extend the rule's.
    pub fn new(
        intent: &Intent,
        rule_reference: &str,
        rule_scopes: &[String],
        cfg: &BrokerConfig,
    ) -> Request {
        let c = &intent.context;
        let reference = if cfg.reference.trim().is_empty() {
            rule_reference.trim().to_string()
        } else {
            cfg.reference.trim().to_string()
        };
        let mut scope: Vec<String> = rule_scopes.to_vec();
        scope.extend(cfg.scopes.iter().cloned());
        Request {
            tool_name: intent.tool_name.to_lowercase(),
            identity: c.identity.clone(),
            workspace: c.workspace.clone(),
            session_id: c.session_id.clone(),
            request_id: c.request_id.clone(),
            run_id: c.run_id.clone(),
            job_id: c.job_id.clone(),
            reference,
            scope: sorted_unique_lower(&scope),
            target_binding: intent.targets_digest(),
        }
    }

    /// The request object (Go field names; every key present), also sent to `command`.
    pub fn to_value(&self) -> Value {
        json!({
            "ToolName": self.tool_name,
            "Identity": self.identity,
            "Workspace": self.workspace,
            "SessionID": self.session_id,
            "RequestID": self.request_id,
            "RunID": self.run_id,
            "JobID": self.job_id,
            "Reference": self.reference,
            "Scope": self.scope,
            "TargetBinding": self.target_binding,
        })
    }

    pub fn digest(&self) -> String {
        // Strings and string arrays always canonicalize.
        jcs::digest_hex(&self.to_value()).unwrap_or_default()
    }
}

/// A credential issued by a broker.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Receipt {
    pub issued_by: String,
    pub source: String,
    pub access_type: String,
    pub issuer: String,
    pub subject: String,
    pub owner: String,
    pub scope: Vec<String>,
    pub credential_ref: String,
    pub target_binding: String,
    pub run_binding: String,
    pub job_binding: String,
    pub request_digest: String,
    pub issued_at: GoTime,
    pub expires_at: GoTime,
    pub ttl_seconds: i64,
}

/// Issues a credential; `Err` carries a short cause (the caller blocks with
/// `broker_credential_missing`).
pub fn issue(cfg: &BrokerConfig, req: &Request, now: GoTime) -> Result<Receipt, String> {
    match cfg.kind {
        BrokerKind::Off => Err("no credential broker configured".into()),
        BrokerKind::Stub => Ok(stub(req, now)),
        BrokerKind::Env => env_receipt(cfg, req, &|k| std::env::var(k).ok()),
        BrokerKind::Command => command_receipt(cfg, req),
    }
}

fn stub(req: &Request, now: GoTime) -> Receipt {
    let id = short_id(&format!(
        "{}|{}|{}|{}|{}|{}|{}",
        req.tool_name,
        req.identity,
        req.workspace,
        req.session_id,
        req.request_id,
        req.reference,
        req.scope.join(",")
    ));
    let issued_at = now.utc();
    Receipt {
        issued_by: "stub".into(),
        source: "stub".into(),
        access_type: "jit".into(),
        issuer: "stub".into(),
        subject: req.identity.clone(),
        owner: req.identity.clone(),
        scope: req.scope.clone(),
        credential_ref: format!("stub:{id}"),
        target_binding: req.target_binding.clone(),
        request_digest: req.digest(),
        expires_at: issued_at
            .add(jiff::SignedDuration::from_secs(300))
            .unwrap_or(issued_at),
        issued_at,
        ttl_seconds: 300,
        ..Default::default()
    }
}

/// The environment variable the `env` broker reads.
pub fn env_var_name(prefix: &str, req: &Request) -> String {
    let base = if req.reference.is_empty() {
        &req.tool_name
    } else {
        &req.reference
    };
    let key: String = base
        .to_uppercase()
        .chars()
        .map(|c| {
            if c.is_ascii_uppercase() || c.is_ascii_digit() {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}{key}")
}

fn env_receipt(
    cfg: &BrokerConfig,
    req: &Request,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Receipt, String> {
    let prefix = if cfg.env_prefix.trim().is_empty() {
        DEFAULT_ENV_PREFIX
    } else {
        cfg.env_prefix.trim()
    };
    let var = env_var_name(prefix, req);
    let value = get(&var)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("credential env var {var} is not set"))?;
    let companion = |suffix: &str| {
        get(&format!("{var}_{suffix}"))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let or = |v: String, d: &str| if v.is_empty() { d.to_string() } else { v };
    let time = |suffix: &str| -> Result<GoTime, String> {
        let v = companion(suffix);
        if v.is_empty() {
            Ok(GoTime::zero())
        } else {
            GoTime::parse_rfc3339(&v).map_err(|e| format!("{var}_{suffix}: {e}"))
        }
    };
    let ttl = companion("TTL_SECONDS");
    let ttl_seconds = if ttl.is_empty() {
        0
    } else {
        ttl.parse::<i64>()
            .map_err(|_| format!("{var}_TTL_SECONDS must be an integer"))?
    };
    let scope_text = companion("SCOPE");
    let scope = if scope_text.is_empty() {
        req.scope.clone()
    } else {
        sorted_unique_lower(
            &scope_text
                .split(',')
                .map(str::to_string)
                .collect::<Vec<_>>(),
        )
    };
    Ok(Receipt {
        issued_by: "env".into(),
        source: or(companion("SOURCE").to_lowercase(), "env"),
        access_type: or(companion("ACCESS_TYPE").to_lowercase(), "unknown"),
        issuer: or(companion("ISSUER"), "env"),
        subject: or(companion("SUBJECT"), &req.identity),
        owner: or(companion("OWNER"), &req.identity),
        scope,
        credential_ref: format!("env:{var}:{}", &jcs::sha256_hex(value.as_bytes())[..16]),
        target_binding: or(companion("TARGET_BINDING"), &req.target_binding),
        run_binding: companion("RUN_BINDING"),
        job_binding: companion("JOB_BINDING"),
        request_digest: req.digest(),
        issued_at: time("ISSUED_AT")?,
        expires_at: time("EXPIRES_AT")?,
        ttl_seconds,
    })
}

fn command_receipt(cfg: &BrokerConfig, req: &Request) -> Result<Receipt, String> {
    let cmd = cfg.command.trim();
    if cmd.is_empty() {
        return Err("--credential-command is required for the command broker".into());
    }
    if let Ok(list) = std::env::var("GAIT_CREDENTIAL_COMMAND_ALLOWLIST") {
        let allowed: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if !allowed.is_empty() && !allowed.contains(&cmd) {
            return Err(format!("credential command not allowlisted: {cmd}"));
        }
    }
    let args: Vec<&str> = cfg
        .command_args
        .iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .collect();
    let mut child = Command::new(cmd)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("start credential command: {e}"))?;
    let input = req.to_value().to_string();
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| "credential command stdout unavailable".to_string())?;
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut stdout)
            .take(COMMAND_OUTPUT_CAP as u64 + 1)
            .read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("credential command timed out".into());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("wait for credential command: {e}")),
        }
    };
    let out = reader
        .join()
        .map_err(|_| "read credential command output".to_string())?;
    if !status.success() {
        return Err(format!("credential command failed: {status}"));
    }
    if out.len() > COMMAND_OUTPUT_CAP {
        return Err("credential command output exceeds 16 KiB".into());
    }
    let v: Value = serde_json::from_slice(&out)
        .map_err(|e| format!("parse credential command output: {e}"))?;
    parse_receipt(&v)
}

fn s(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .map(|x| x.trim().to_string())
        .unwrap_or_default()
}

/// Parses a command broker reply: a plain receipt or a provider receipt.
pub fn parse_receipt(v: &Value) -> Result<Receipt, String> {
    if !v.is_object() {
        return Err("credential receipt must be a JSON object".into());
    }
    let time = |k: &str| -> Result<GoTime, String> {
        let t = s(v, k);
        if t.is_empty() {
            Ok(GoTime::zero())
        } else {
            GoTime::parse_rfc3339(&t).map_err(|e| format!("{k}: {e}"))
        }
    };
    let scope: Vec<String> = v
        .get("scope")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let provider = s(v, "provider").to_lowercase();
    let mut r = Receipt {
        issued_by: s(v, "issued_by"),
        source: s(v, "source").to_lowercase(),
        access_type: s(v, "access_type").to_lowercase(),
        issuer: s(v, "issuer"),
        subject: s(v, "subject"),
        owner: s(v, "owner"),
        scope: sorted_unique_lower(&scope),
        credential_ref: s(v, "credential_ref"),
        target_binding: s(v, "target_binding").to_lowercase(),
        run_binding: s(v, "run_binding"),
        job_binding: s(v, "job_binding"),
        request_digest: s(v, "request_digest").to_lowercase(),
        issued_at: time("issued_at")?,
        expires_at: time("expires_at")?,
        ttl_seconds: v.get("ttl_seconds").and_then(Value::as_i64).unwrap_or(0),
    };
    if !provider.is_empty() {
        const PROVIDERS: [&str; 8] = [
            "aws_sts",
            "github_oidc",
            "vault_dynamic",
            "gcp_sts",
            "azure_federated",
            "okta_cyberark",
            "command",
            "file",
        ];
        if !PROVIDERS.contains(&provider.as_str()) {
            return Err(format!("unsupported credential provider: {provider}"));
        }
        if r.source.is_empty() {
            r.source = provider.clone();
        }
        if r.access_type.is_empty() {
            r.access_type = "jit".into();
        }
        if r.credential_ref.is_empty() {
            let join = |a: String, b: String| {
                if b.is_empty() {
                    a
                } else {
                    format!("{a}:{b}")
                }
            };
            let first = |ks: &[&str]| {
                ks.iter()
                    .map(|k| s(v, k))
                    .find(|x| !x.is_empty())
                    .unwrap_or_default()
            };
            let id = match provider.as_str() {
                "aws_sts" => first(&["assumed_role_arn", "session_arn"]),
                "github_oidc" => join(s(v, "repository"), s(v, "workflow_ref")),
                "vault_dynamic" => s(v, "lease_id"),
                "gcp_sts" => first(&["principal", "workload_identity_provider"]),
                "azure_federated" => join(
                    s(v, "service_principal_id"),
                    s(v, "federated_credential_id"),
                ),
                "okta_cyberark" => s(v, "broker_session_id"),
                _ => String::new(),
            };
            if !id.is_empty() {
                r.credential_ref = format!("{provider}:{id}");
            }
        }
    }
    if r.credential_ref.is_empty() {
        return Err("credential receipt has no credential_ref".into());
    }
    if r.credential_ref.len() > MAX_REF_LEN {
        return Err("credential_ref exceeds 256 characters".into());
    }
    if looks_secret(&r.credential_ref) {
        return Err("credential receipt looks like it carries a secret".into());
    }
    Ok(r)
}

/// Refuses values that look like raw secrets rather than references.
fn looks_secret(v: &str) -> bool {
    let l = v.to_lowercase();
    [
        "-----begin",
        "ghp_",
        "gho_",
        "github_pat_",
        "xoxb-",
        "akia",
        "password=",
        "secret=",
        "token=",
    ]
    .iter()
    .any(|p| l.contains(p))
}

/// Checks a receipt against the request, the matched rules and the intent (§5.4). Returns the
/// sorted, unique failure codes (empty when the credential is acceptable).
pub fn check_receipt(
    r: &Receipt,
    req: &Request,
    rules: &[&Rule],
    intent: &Intent,
    check_request_digest: bool,
) -> Vec<String> {
    let mut codes: Vec<&str> = Vec::new();
    if check_request_digest {
        if r.request_digest.is_empty() {
            codes.push("broker_request_digest_missing");
        } else if r.request_digest != req.digest() {
            codes.push("broker_request_digest_mismatch");
        }
    }
    if !r.scope.iter().any(|s| s == "*") && !req.scope.iter().all(|s| r.scope.contains(s)) {
        codes.push("broker_scope_mismatch");
    }
    for rule in rules {
        if rule.max_credential_ttl_seconds > 0
            && (r.ttl_seconds <= 0 || r.ttl_seconds > rule.max_credential_ttl_seconds)
        {
            codes.push("broker_ttl_exceeded");
        }
        if rule.require_jit_credential && r.access_type != "jit" {
            codes.push("credential_not_jit");
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
            .contains(&r.access_type.as_str())
        {
            codes.push("standing_credential_disallowed");
        }
        if !rule.allowed_credential_sources.is_empty()
            && !rule.allowed_credential_sources.contains(&r.source)
        {
            codes.push("credential_source_disallowed");
        }
        if !rule.allowed_credential_issuers.is_empty()
            && !rule.allowed_credential_issuers.contains(&r.issuer)
        {
            codes.push("credential_issuer_disallowed");
        }
        if !rule.allowed_credential_access_types.is_empty()
            && !rule
                .allowed_credential_access_types
                .contains(&r.access_type)
        {
            codes.push("credential_access_type_disallowed");
        }
    }
    let c = &intent.context;
    if !c.credential_ref.is_empty() && c.credential_ref != r.credential_ref {
        codes.push("broker_credential_ref_mismatch");
    }
    if !r.target_binding.is_empty() && r.target_binding != req.target_binding {
        codes.push("broker_target_binding_mismatch");
    }
    if !r.run_binding.is_empty() && !c.run_id.is_empty() && r.run_binding != c.run_id {
        codes.push("broker_run_binding_mismatch");
    }
    if !r.job_binding.is_empty() && !c.job_id.is_empty() && r.job_binding != c.job_id {
        codes.push("broker_job_binding_mismatch");
    }
    let mut out: Vec<String> = codes.into_iter().map(str::to_string).collect();
    out.sort();
    out.dedup();
    out
}

/// The `gate eval` output members for an issued credential.
pub fn output_fields(r: &Receipt, m: &mut Map<String, Value>) {
    m.insert("credential_ref".into(), json!(r.credential_ref));
    m.insert("credential_source".into(), json!(r.source));
    m.insert("credential_access_type".into(), json!(r.access_type));
    m.insert("credential_issuer".into(), json!(r.issuer));
    if r.ttl_seconds > 0 {
        m.insert("credential_ttl_seconds".into(), json!(r.ttl_seconds));
    }
}

/// The trace members for an issued credential.
pub fn trace_fields(r: &Receipt, req: &Request, m: &mut Map<String, Value>) {
    for (k, v) in [
        ("broker_credential_ref", &r.credential_ref),
        ("broker_credential_source", &r.source),
        ("broker_credential_access_type", &r.access_type),
        ("broker_credential_issuer", &r.issuer),
        ("broker_request_digest", &req.digest()),
        ("broker_target_binding", &r.target_binding),
        ("broker_run_binding", &r.run_binding),
        ("broker_job_binding", &r.job_binding),
    ] {
        if !v.is_empty() {
            m.insert(k.into(), json!(v));
        }
    }
}

/// Inputs of the evidence record.
pub struct RecordInput<'a> {
    pub created_at: GoTime,
    pub trace_id: &'a str,
    pub broker: BrokerKind,
    pub request: &'a Request,
    pub receipt: &'a Receipt,
}

/// The `gait.gate.broker_credential_record`.
pub fn record(a: RecordInput) -> Value {
    let r = a.receipt;
    let mut m = Map::new();
    m.insert("schema_id".into(), json!(RECORD_SCHEMA_ID));
    m.insert("schema_version".into(), json!("1.0.0"));
    m.insert("created_at".into(), json!(a.created_at.to_rfc3339_nano()));
    m.insert("producer_version".into(), json!(PRODUCER_VERSION));
    m.insert("trace_id".into(), json!(a.trace_id));
    m.insert("tool_name".into(), json!(a.request.tool_name));
    m.insert("identity".into(), json!(a.request.identity));
    m.insert("broker".into(), json!(a.broker.name()));
    m.insert("reference".into(), json!(a.request.reference));
    m.insert("credential_source".into(), json!(r.source));
    m.insert("credential_access_type".into(), json!(r.access_type));
    m.insert("credential_issuer".into(), json!(r.issuer));
    m.insert("credential_subject".into(), json!(r.subject));
    m.insert("credential_owner".into(), json!(r.owner));
    m.insert("scope".into(), json!(r.scope));
    m.insert("credential_ref".into(), json!(r.credential_ref));
    for (k, v) in [
        ("target_binding", &r.target_binding),
        ("run_binding", &r.run_binding),
        ("job_binding", &r.job_binding),
    ] {
        if !v.is_empty() {
            m.insert(k.into(), json!(v));
        }
    }
    m.insert("request_digest".into(), json!(a.request.digest()));
    m.insert("issued_at".into(), json!(r.issued_at.to_rfc3339_nano()));
    m.insert("expires_at".into(), json!(r.expires_at.to_rfc3339_nano()));
    if r.ttl_seconds > 0 {
        m.insert("ttl_seconds".into(), json!(r.ttl_seconds));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> Request {
        Request {
            tool_name: "tool.write".into(),
            identity: "alice".into(),
            reference: "deploy.prod".into(),
            scope: vec!["write".into()],
            ..Default::default()
        }
    }

    fn cfg() -> BrokerConfig {
        BrokerConfig {
            kind: BrokerKind::Env,
            env_prefix: String::new(),
            command: String::new(),
            command_args: vec![],
            reference: String::new(),
            scopes: vec![],
        }
    }

    #[test]
    fn broker_kinds_parse_and_unknown_is_invalid() {
        assert_eq!(BrokerKind::parse("").unwrap(), BrokerKind::Off);
        assert_eq!(BrokerKind::parse(" Stub ").unwrap(), BrokerKind::Stub);
        assert!(BrokerKind::parse("vault").is_err());
    }

    #[test]
    fn env_broker_reads_the_reference_variable() {
        assert_eq!(
            env_var_name(DEFAULT_ENV_PREFIX, &req()),
            "GAIT_BROKER_TOKEN_DEPLOY_PROD"
        );
        let get = |k: &str| (k == "GAIT_BROKER_TOKEN_DEPLOY_PROD").then(|| "v".to_string());
        let r = env_receipt(&cfg(), &req(), &get).unwrap();
        assert!(r
            .credential_ref
            .starts_with("env:GAIT_BROKER_TOKEN_DEPLOY_PROD:"));
        assert_eq!(r.access_type, "unknown");
        let none = |_: &str| None;
        assert!(env_receipt(&cfg(), &req(), &none).is_err());
    }

    #[test]
    fn provider_receipt_derives_the_reference() {
        let r = parse_receipt(&json!({"provider": "vault_dynamic", "lease_id": "db/creds/app"}))
            .unwrap();
        assert_eq!(r.credential_ref, "vault_dynamic:db/creds/app");
        assert_eq!(r.access_type, "jit");
        assert!(parse_receipt(&json!({"provider": "nope", "credential_ref": "x"})).is_err());
        assert!(parse_receipt(&json!({"credential_ref": "ghp_abcdef"})).is_err());
    }
}
