//! The policy file: strict YAML decoding with positioned diagnostics, normalisation and
//! validation, the `policy_digest` projection, and canonical formatting (`policy fmt`).

use crate::intent::{
    sorted_unique, sorted_unique_lower, CREDENTIAL_ACCESS_TYPES, CREDENTIAL_SOURCES,
    DISCOVERY_METHODS, ENDPOINT_CLASSES,
};
use crate::yaml::{self, Node};
use gait_sdk::jcs;
use gait_sdk::time::{format_go_duration, parse_go_duration};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

pub const POLICY_SCHEMA_ID: &str = "gait.gate.policy";
pub const POLICY_SCHEMA_VERSION: &str = "1.0.0";
pub const VERDICTS: &[&str] = &["allow", "block", "dry_run", "require_approval"];

/// A policy failed to parse or validate.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum PolicyError {
    /// YAML syntax, unknown or duplicate keys, wrong types (`parse policy yaml: …`).
    #[error("parse policy yaml: {0}")]
    Parse(String),
    /// Draft-proposal keys with migration guidance.
    #[error("parse policy yaml: {message}")]
    Legacy {
        message: String,
        fields: Vec<String>,
        replacements: Vec<LegacyField>,
    },
    /// Semantic validation (unprefixed, as the reference prints it).
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct LegacyField {
    pub field: String,
    pub replacement_fields: Vec<String>,
    pub note: String,
}

type R<T> = Result<T, PolicyError>;

fn invalid<T>(msg: impl Into<String>) -> R<T> {
    Err(PolicyError::Invalid(msg.into()))
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailClosed {
    pub enabled: bool,
    pub risk_classes: Vec<String>,
    pub required_fields: Vec<String>,
    pub required_high_risk_fields: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scripts {
    pub max_steps: i64,
    pub require_approval_above: i64,
    pub block_mixed_risk: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct McpTrust {
    pub enabled: bool,
    pub snapshot: String,
    pub action: String,
    pub required_risk_classes: Vec<String>,
    pub min_score: f64,
    pub max_age: String,
    pub publisher_allowlist: Vec<String>,
    pub require_registry: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolAnnotations {
    pub read_only_hint: Option<bool>,
    pub destructive_hint: Option<bool>,
    pub idempotent_hint: Option<bool>,
    pub open_world_hint: Option<bool>,
}

impl ToolAnnotations {
    pub fn any(&self) -> bool {
        self.read_only_hint.is_some()
            || self.destructive_hint.is_some()
            || self.idempotent_hint.is_some()
            || self.open_world_hint.is_some()
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Match {
    pub tool_names: Vec<String>,
    pub risk_classes: Vec<String>,
    pub target_kinds: Vec<String>,
    pub target_values: Vec<String>,
    pub endpoint_classes: Vec<String>,
    pub discovery_methods: Vec<String>,
    pub tool_annotations: ToolAnnotations,
    pub skill_publishers: Vec<String>,
    pub skill_sources: Vec<String>,
    pub data_classes: Vec<String>,
    pub destination_kinds: Vec<String>,
    pub destination_values: Vec<String>,
    pub destination_ops: Vec<String>,
    pub provenance_sources: Vec<String>,
    pub identities: Vec<String>,
    pub workspace_prefixes: Vec<String>,
    pub context_tool_names: Vec<String>,
    pub context_data_classes: Vec<String>,
    pub context_endpoint_classes: Vec<String>,
    pub context_autonomy_levels: Vec<String>,
    pub require_delegation: bool,
    pub allowed_delegator_identities: Vec<String>,
    pub allowed_delegate_identities: Vec<String>,
    pub delegation_scopes: Vec<String>,
    pub max_delegation_depth: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoint {
    pub enabled: bool,
    pub path_allowlist: Vec<String>,
    pub path_denylist: Vec<String>,
    pub domain_allowlist: Vec<String>,
    pub domain_denylist: Vec<String>,
    pub egress_classes: Vec<String>,
    pub action: String,
    pub destructive_action: String,
    pub reason_code: String,
    pub violation: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FreezeWindowSpan {
    pub name: String,
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FreezeWindow {
    pub enabled: bool,
    pub timezone: String,
    pub effect: String,
    pub reason: String,
    pub environments: Vec<String>,
    pub risk_classes: Vec<String>,
    pub windows: Vec<FreezeWindowSpan>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SandboxRule {
    pub enabled: bool,
    pub allowed_network_modes: Vec<String>,
    pub allowed_writable_path_prefixes: Vec<String>,
    pub required_read_only_roots: Vec<String>,
    pub allowed_env_exposure_modes: Vec<String>,
    pub max_timeout_seconds: i64,
    pub allowed_filesystem_isolations: Vec<String>,
    pub allowed_user_modes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: i64,
    pub window: String,
    pub scope: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataflow {
    pub enabled: bool,
    pub tainted_sources: Vec<String>,
    pub destination_kinds: Vec<String>,
    pub destination_values: Vec<String>,
    pub destination_ops: Vec<String>,
    pub action: String,
    pub reason_code: String,
    pub violation: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rule {
    pub name: String,
    pub priority: i64,
    pub effect: String,
    pub matcher: Match,
    pub endpoint: Endpoint,
    pub reason_codes: Vec<String>,
    pub violations: Vec<String>,
    pub require_declared_agent: bool,
    pub allowed_agent_ids: Vec<String>,
    pub denied_agent_ids: Vec<String>,
    pub required_agent_manifest_digest: String,
    pub allowed_agent_manifest_publishers: Vec<String>,
    pub allowed_agent_manifest_sources: Vec<String>,
    pub required_agent_lifecycle_states: Vec<String>,
    pub require_agent_owner: bool,
    pub require_unexpired_agent: bool,
    pub block_standing_credentials: bool,
    pub allowed_credential_sources: Vec<String>,
    pub allowed_credential_issuers: Vec<String>,
    pub allowed_credential_access_types: Vec<String>,
    pub max_credential_ttl_seconds: i64,
    pub require_jit_credential: bool,
    pub min_approvals: i64,
    pub require_distinct_approvers: bool,
    pub require_context_evidence: bool,
    pub required_context_evidence_mode: String,
    pub max_context_age_seconds: i64,
    pub require_broker_credential: bool,
    pub broker_reference: String,
    pub broker_scopes: Vec<String>,
    pub freeze_window: FreezeWindow,
    pub sandbox: SandboxRule,
    pub rate_limit: RateLimit,
    pub destructive_budget: RateLimit,
    pub dataflow: Dataflow,
}

impl Rule {
    pub fn has_agent_constraints(&self) -> bool {
        self.require_declared_agent
            || !self.allowed_agent_ids.is_empty()
            || !self.denied_agent_ids.is_empty()
            || !self.required_agent_manifest_digest.is_empty()
            || !self.allowed_agent_manifest_publishers.is_empty()
            || !self.allowed_agent_manifest_sources.is_empty()
            || !self.required_agent_lifecycle_states.is_empty()
            || self.require_agent_owner
            || self.require_unexpired_agent
    }

    pub fn has_credential_constraints(&self) -> bool {
        self.block_standing_credentials
            || !self.allowed_credential_sources.is_empty()
            || !self.allowed_credential_issuers.is_empty()
            || !self.allowed_credential_access_types.is_empty()
            || self.max_credential_ttl_seconds > 0
            || self.require_jit_credential
    }

    pub fn has_context_constraints(&self) -> bool {
        self.require_context_evidence
            || self.required_context_evidence_mode == "required"
            || self.max_context_age_seconds > 0
    }
}

/// A normalised, validated policy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    pub schema_id: String,
    pub schema_version: String,
    pub default_verdict: String,
    pub scripts: Scripts,
    pub fail_closed: FailClosed,
    pub mcp_trust: McpTrust,
    pub rules: Vec<Rule>,
}

// ------------------------------------------------------------ strict decoding

struct Fields<'a> {
    map: HashMap<&'a str, &'a Node>,
}

impl<'a> Fields<'a> {
    fn of(node: &'a Node, allowed: &[&str]) -> R<Fields<'a>> {
        let mut map = HashMap::new();
        match node {
            Node::Map { entries, .. } => {
                for (k, v) in entries {
                    let key = match k {
                        Node::Scalar { value, .. } => value.as_str(),
                        other => {
                            return Err(PolicyError::Parse(format!(
                                "{} mapping key must be a scalar, got {}",
                                other.pos(),
                                other.kind()
                            )))
                        }
                    };
                    if !allowed.contains(&key) {
                        return Err(PolicyError::Parse(format!(
                            "{} unknown field \"{key}\"",
                            k.pos()
                        )));
                    }
                    map.insert(key, v);
                }
            }
            n if n.is_null() => {}
            other => {
                return Err(PolicyError::Parse(format!(
                    "{} cannot unmarshal {} into a mapping",
                    other.pos(),
                    other.kind()
                )))
            }
        }
        Ok(Fields { map })
    }

    fn get(&self, k: &str) -> Option<&'a Node> {
        self.map.get(k).copied().filter(|n| !n.is_null())
    }

    fn has(&self, k: &str) -> bool {
        self.get(k).is_some()
    }

    fn string(&self, k: &str) -> R<String> {
        match self.get(k) {
            None => Ok(String::new()),
            Some(Node::Scalar { value, .. }) => Ok(value.clone()),
            Some(other) => Err(type_error(other, k, "string")),
        }
    }

    fn boolean(&self, k: &str) -> R<bool> {
        match self.get(k) {
            None => Ok(false),
            Some(n @ Node::Scalar { value, .. }) => match value.as_str() {
                "true" | "True" | "TRUE" => Ok(true),
                "false" | "False" | "FALSE" => Ok(false),
                _ => Err(type_error(n, k, "bool")),
            },
            Some(other) => Err(type_error(other, k, "bool")),
        }
    }

    fn int(&self, k: &str) -> R<i64> {
        Ok(self.opt_int(k)?.unwrap_or(0))
    }

    fn opt_int(&self, k: &str) -> R<Option<i64>> {
        match self.get(k) {
            None => Ok(None),
            Some(n @ Node::Scalar { value, .. }) => value
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| type_error(n, k, "int")),
            Some(other) => Err(type_error(other, k, "int")),
        }
    }

    fn float(&self, k: &str) -> R<f64> {
        match self.get(k) {
            None => Ok(0.0),
            Some(n @ Node::Scalar { value, .. }) => value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| type_error(n, k, "float64")),
            Some(other) => Err(type_error(other, k, "float64")),
        }
    }

    fn list(&self, k: &str) -> R<Vec<String>> {
        match self.get(k) {
            None => Ok(Vec::new()),
            Some(Node::Seq { items, .. }) => items
                .iter()
                .filter(|n| !n.is_null())
                .map(|n| match n {
                    Node::Scalar { value, .. } => Ok(value.clone()),
                    other => Err(type_error(other, k, "string")),
                })
                .collect(),
            Some(other) => Err(type_error(other, k, "[]string")),
        }
    }

    fn opt_bool(&self, k: &str) -> R<Option<bool>> {
        if self.has(k) {
            self.boolean(k).map(Some)
        } else {
            Ok(None)
        }
    }
}

fn type_error(node: &Node, key: &str, want: &str) -> PolicyError {
    let got = match node {
        Node::Scalar { value, .. } => format!("\"{value}\""),
        other => other.kind().to_string(),
    };
    PolicyError::Parse(format!(
        "{} cannot unmarshal {got} into field {key} of type {want}",
        node.pos()
    ))
}

const TOP_KEYS: &[&str] = &[
    "schema_id",
    "schema_version",
    "default_verdict",
    "default_action",
    "scripts",
    "fail_closed",
    "mcp_trust",
    "rules",
];
const RULE_KEYS: &[&str] = &[
    "name",
    "priority",
    "effect",
    "action",
    "match",
    "endpoint",
    "reason_codes",
    "violations",
    "require_declared_agent",
    "allowed_agent_ids",
    "denied_agent_ids",
    "required_agent_manifest_digest",
    "allowed_agent_manifest_publishers",
    "allowed_agent_manifest_sources",
    "required_agent_lifecycle_states",
    "require_agent_owner",
    "require_unexpired_agent",
    "block_standing_credentials",
    "allowed_credential_sources",
    "allowed_credential_issuers",
    "allowed_credential_access_types",
    "max_credential_ttl_seconds",
    "require_jit_credential",
    "min_approvals",
    "require_distinct_approvers",
    "require_context_evidence",
    "required_context_evidence_mode",
    "max_context_age_seconds",
    "require_broker_credential",
    "broker_reference",
    "broker_scopes",
    "freeze_window",
    "sandbox",
    "rate_limit",
    "destructive_budget",
    "dataflow",
];
const MATCH_KEYS: &[&str] = &[
    "tool_name",
    "tool_names",
    "risk_classes",
    "target_kinds",
    "target_values",
    "endpoint_class",
    "endpoint_classes",
    "discovery_method",
    "tool_annotations",
    "skill_publishers",
    "skill_sources",
    "data_classes",
    "destination_kinds",
    "destination_values",
    "destination_operations",
    "provenance_sources",
    "identities",
    "workspace_prefixes",
    "context_tool_names",
    "context_data_classes",
    "context_endpoint_classes",
    "context_autonomy_levels",
    "require_delegation",
    "allowed_delegator_identities",
    "allowed_delegate_identities",
    "delegation_scopes",
    "max_delegation_depth",
];

const LEGACY_FIELDS: &[(&str, &[&str], &str)] = &[
    (
        "version",
        &["schema_id", "schema_version"],
        "set schema_id=gait.gate.policy and schema_version=1.0.0",
    ),
    (
        "name",
        &[],
        "remove the top-level policy name; rule names remain under rules[].name when needed",
    ),
    ("boundaries", &["rules", "mcp_trust"], ""),
    ("defaults", &["default_verdict", "fail_closed"], ""),
    (
        "trust_sources",
        &["mcp_trust.snapshot"],
        "render external trust data to a local snapshot before evaluation",
    ),
    (
        "unknown_server",
        &["mcp_trust.action"],
        "enforce unknown servers through local snapshot coverage and a fail-closed action",
    ),
];

/// Hint given with legacy-proposal errors.
pub const LEGACY_HINT: &str = "use the repo-root `.gait.yaml` contract: `schema_id`, `schema_version`, `default_verdict`, optional `fail_closed`, optional `mcp_trust`, and `rules`";

fn legacy_check(root: &Node) -> R<()> {
    let Node::Map { entries, .. } = root else {
        return Ok(());
    };
    let present: Vec<&str> = entries
        .iter()
        .filter_map(|(k, _)| match k {
            Node::Scalar { value, .. } => Some(value.as_str()),
            _ => None,
        })
        .collect();
    let found: Vec<&(&str, &[&str], &str)> = LEGACY_FIELDS
        .iter()
        .filter(|(f, _, _)| present.contains(f))
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    let details: Vec<String> = found
        .iter()
        .map(|(f, reps, note)| {
            if reps.is_empty() {
                format!("{f}->{note}")
            } else if note.is_empty() {
                format!("{f}->{}", reps.join("|"))
            } else {
                format!("{f}->{} ({note})", reps.join("|"))
            }
        })
        .collect();
    let fields: Vec<String> = found.iter().map(|(f, _, _)| f.to_string()).collect();
    Err(PolicyError::Legacy {
        message: format!(
            "legacy policy proposal fields are not supported [{}]: {}",
            fields.join(", "),
            details.join("; ")
        ),
        fields,
        replacements: found
            .iter()
            .map(|(f, reps, note)| LegacyField {
                field: f.to_string(),
                replacement_fields: reps.iter().map(|s| s.to_string()).collect(),
                note: note.to_string(),
            })
            .collect(),
    })
}

impl PolicyError {
    /// The `migration` member of the error envelope for legacy-proposal errors.
    pub fn migration(&self) -> Option<Value> {
        let PolicyError::Legacy {
            fields,
            replacements,
            ..
        } = self
        else {
            return None;
        };
        let reps: Vec<Value> = replacements
            .iter()
            .map(|r| {
                let mut m = Map::new();
                m.insert("field".into(), json!(r.field));
                if !r.replacement_fields.is_empty() {
                    m.insert("replacement_fields".into(), json!(r.replacement_fields));
                }
                if !r.note.is_empty() {
                    m.insert("note".into(), json!(r.note));
                }
                Value::Object(m)
            })
            .collect();
        Some(
            json!({"kind": "policy_fields", "deprecated_fields": fields, "field_replacements": reps}),
        )
    }
}

/// Parses, normalises and validates policy YAML text.
pub fn parse_policy(text: &str) -> R<Policy> {
    let root = yaml::parse(text).map_err(|e| PolicyError::Parse(e.to_string()))?;
    let Some(root) = root else {
        return normalize_top(&Fields {
            map: HashMap::new(),
        });
    };
    legacy_check(&root)?;
    if let Some((key, at, first)) = yaml::find_duplicate_key(&root) {
        return Err(PolicyError::Parse(format!(
            "{at} mapping key \"{key}\" already defined at {first}"
        )));
    }
    let top = Fields::of(&root, TOP_KEYS)?;
    normalize_top(&top)
}

fn lower_trim(s: &str) -> String {
    s.trim().to_lowercase()
}

fn normalize_top(top: &Fields) -> R<Policy> {
    // Decode every section first so structural errors win over semantic ones, as in a
    // decode-then-validate pipeline.
    let scripts_f = match top.get("scripts") {
        Some(n) => Some(Fields::of(
            n,
            &["max_steps", "require_approval_above", "block_mixed_risk"],
        )?),
        None => None,
    };
    let fail_f = match top.get("fail_closed") {
        Some(n) => Some(Fields::of(
            n,
            &[
                "enabled",
                "risk_classes",
                "required_fields",
                "required_high_risk_fields",
            ],
        )?),
        None => None,
    };
    let mcp_f = match top.get("mcp_trust") {
        Some(n) => Some(Fields::of(
            n,
            &[
                "enabled",
                "snapshot",
                "action",
                "required_risk_classes",
                "min_score",
                "max_age",
                "publisher_allowlist",
                "require_registry",
            ],
        )?),
        None => None,
    };
    let mut raw_rules = Vec::new();
    match top.get("rules") {
        None => {}
        Some(Node::Seq { items, .. }) => {
            for item in items {
                raw_rules.push(decode_rule(item)?);
            }
        }
        Some(other) => return Err(type_error(other, "rules", "[]Rule")),
    }

    let mut p = Policy::default();
    let sid = top.string("schema_id")?.trim().to_string();
    p.schema_id = if sid.is_empty() {
        POLICY_SCHEMA_ID.into()
    } else {
        sid
    };
    if p.schema_id != POLICY_SCHEMA_ID {
        return invalid(format!("unsupported policy schema_id: {}", p.schema_id));
    }
    let sv = top.string("schema_version")?.trim().to_string();
    p.schema_version = if sv.is_empty() {
        POLICY_SCHEMA_VERSION.into()
    } else {
        sv
    };
    if p.schema_version != POLICY_SCHEMA_VERSION {
        return invalid(format!(
            "unsupported policy schema_version: {}",
            p.schema_version
        ));
    }
    let dv = lower_trim(&top.string("default_verdict")?);
    let da = lower_trim(&top.string("default_action")?);
    if !dv.is_empty() && !da.is_empty() && dv != da {
        return invalid("default_action must match default_verdict when both are set");
    }
    p.default_verdict = if !dv.is_empty() {
        dv
    } else if !da.is_empty() {
        da
    } else {
        "require_approval".into()
    };
    if !VERDICTS.contains(&p.default_verdict.as_str()) {
        return invalid(format!("invalid default_verdict: {}", p.default_verdict));
    }
    if let Some(s) = scripts_f {
        p.scripts = Scripts {
            max_steps: s.int("max_steps")?,
            require_approval_above: s.int("require_approval_above")?,
            block_mixed_risk: s.boolean("block_mixed_risk")?,
        };
        if p.scripts.max_steps < 0 {
            return invalid("scripts.max_steps must be >= 0");
        }
        if p.scripts.require_approval_above < 0 {
            return invalid("scripts.require_approval_above must be >= 0");
        }
    }
    if let Some(f) = fail_f {
        let mut fc = FailClosed {
            enabled: f.boolean("enabled")?,
            risk_classes: sorted_unique_lower(&f.list("risk_classes")?),
            required_fields: sorted_unique_lower(&f.list("required_fields")?),
            required_high_risk_fields: sorted_unique_lower(&f.list("required_high_risk_fields")?),
        };
        if fc.enabled && fc.risk_classes.is_empty() {
            fc.risk_classes = vec!["critical".into(), "high".into()];
        }
        const REQ: &[&str] = &[
            "targets",
            "arg_provenance",
            "endpoint_class",
            "delegation",
            "context_evidence",
        ];
        if let Some(bad) = fc
            .required_fields
            .iter()
            .find(|x| !REQ.contains(&x.as_str()))
        {
            return invalid(format!("unsupported fail_closed required_field: {bad}"));
        }
        const HR: &[&str] = &[
            "agent_id",
            "agent_identity",
            "run_id",
            "workflow_id",
            "repo",
            "environment",
            "credential_ref",
            "credential_source",
            "credential_access_type",
            "credential_issuer",
            "credential_ttl_seconds",
            "approval_ref",
            "wrkr_inventory_ref",
            "agent_action_bom_ref",
        ];
        if let Some(bad) = fc
            .required_high_risk_fields
            .iter()
            .find(|x| !HR.contains(&x.as_str()))
        {
            return invalid(format!(
                "unsupported fail_closed required_high_risk_field: {bad}"
            ));
        }
        p.fail_closed = fc;
    }
    if let Some(m) = mcp_f {
        let mut t = McpTrust {
            enabled: m.boolean("enabled")?,
            snapshot: m.string("snapshot")?.trim().to_string(),
            action: lower_trim(&m.string("action")?),
            required_risk_classes: sorted_unique_lower(&m.list("required_risk_classes")?),
            min_score: m.float("min_score")?,
            max_age: m.string("max_age")?.trim().to_string(),
            publisher_allowlist: sorted_unique_lower(&m.list("publisher_allowlist")?),
            require_registry: m.boolean("require_registry")?,
        };
        let configured = t.enabled
            || !t.snapshot.is_empty()
            || !t.action.is_empty()
            || !t.required_risk_classes.is_empty()
            || t.min_score > 0.0
            || !t.max_age.is_empty()
            || !t.publisher_allowlist.is_empty()
            || t.require_registry;
        if configured {
            t.enabled = true;
            if t.snapshot.is_empty() {
                return invalid("mcp_trust.snapshot is required when mcp_trust is configured");
            }
            if t.action.is_empty() {
                t.action = "block".into();
            }
            if t.action != "block" && t.action != "require_approval" {
                return invalid(format!("unsupported mcp_trust.action: {}", t.action));
            }
            if t.required_risk_classes.is_empty() {
                t.required_risk_classes = vec!["critical".into(), "high".into()];
            }
            if !(0.0..=1.0).contains(&t.min_score) {
                return invalid("mcp_trust.min_score must be between 0 and 1");
            }
            if !t.max_age.is_empty() {
                match parse_go_duration(&t.max_age) {
                    Ok(ns) if ns > 0 => t.max_age = format_go_duration(ns),
                    _ => return invalid(format!("invalid mcp_trust.max_age: {}", t.max_age)),
                }
            }
            p.mcp_trust = t;
        }
    }
    let mut rules = Vec::with_capacity(raw_rules.len());
    for raw in raw_rules {
        rules.push(normalize_rule(raw)?);
    }
    rules.sort_by(|a, b| {
        a.priority
            .cmp(&b.priority)
            .then_with(|| a.name.cmp(&b.name))
    });
    p.rules = rules;
    Ok(p)
}

/// A rule as decoded, before normalisation.
struct RawRule {
    rule: Rule,
    action: String,
    tool_name: String,
    endpoint_class_alias: Vec<String>,
    freeze_any: bool,
    sandbox_any: bool,
    budget_any: bool,
    dataflow_any: bool,
    endpoint_any: bool,
}

fn decode_rule(node: &Node) -> R<RawRule> {
    let f = Fields::of(node, RULE_KEYS)?;
    let mut r = Rule {
        name: f.string("name")?,
        priority: f.int("priority")?,
        effect: f.string("effect")?,
        reason_codes: f.list("reason_codes")?,
        violations: f.list("violations")?,
        require_declared_agent: f.boolean("require_declared_agent")?,
        allowed_agent_ids: f.list("allowed_agent_ids")?,
        denied_agent_ids: f.list("denied_agent_ids")?,
        required_agent_manifest_digest: f.string("required_agent_manifest_digest")?,
        allowed_agent_manifest_publishers: f.list("allowed_agent_manifest_publishers")?,
        allowed_agent_manifest_sources: f.list("allowed_agent_manifest_sources")?,
        required_agent_lifecycle_states: f.list("required_agent_lifecycle_states")?,
        require_agent_owner: f.boolean("require_agent_owner")?,
        require_unexpired_agent: f.boolean("require_unexpired_agent")?,
        block_standing_credentials: f.boolean("block_standing_credentials")?,
        allowed_credential_sources: f.list("allowed_credential_sources")?,
        allowed_credential_issuers: f.list("allowed_credential_issuers")?,
        allowed_credential_access_types: f.list("allowed_credential_access_types")?,
        max_credential_ttl_seconds: f.int("max_credential_ttl_seconds")?,
        require_jit_credential: f.boolean("require_jit_credential")?,
        min_approvals: f.int("min_approvals")?,
        require_distinct_approvers: f.boolean("require_distinct_approvers")?,
        require_context_evidence: f.boolean("require_context_evidence")?,
        required_context_evidence_mode: f.string("required_context_evidence_mode")?,
        max_context_age_seconds: f.int("max_context_age_seconds")?,
        require_broker_credential: f.boolean("require_broker_credential")?,
        broker_reference: f.string("broker_reference")?,
        broker_scopes: f.list("broker_scopes")?,
        ..Rule::default()
    };
    let action = f.string("action")?;
    let mut tool_name = String::new();
    let mut endpoint_class_alias = Vec::new();
    if let Some(m) = f.get("match") {
        let mf = Fields::of(m, MATCH_KEYS)?;
        tool_name = mf.string("tool_name")?;
        endpoint_class_alias = mf.list("endpoint_class")?;
        let ann = match mf.get("tool_annotations") {
            Some(a) => {
                let af = Fields::of(
                    a,
                    &[
                        "readOnlyHint",
                        "destructiveHint",
                        "idempotentHint",
                        "openWorldHint",
                    ],
                )?;
                ToolAnnotations {
                    read_only_hint: af.opt_bool("readOnlyHint")?,
                    destructive_hint: af.opt_bool("destructiveHint")?,
                    idempotent_hint: af.opt_bool("idempotentHint")?,
                    open_world_hint: af.opt_bool("openWorldHint")?,
                }
            }
            None => ToolAnnotations::default(),
        };
        r.matcher = Match {
            tool_names: mf.list("tool_names")?,
            risk_classes: mf.list("risk_classes")?,
            target_kinds: mf.list("target_kinds")?,
            target_values: mf.list("target_values")?,
            endpoint_classes: mf.list("endpoint_classes")?,
            discovery_methods: mf.list("discovery_method")?,
            tool_annotations: ann,
            skill_publishers: mf.list("skill_publishers")?,
            skill_sources: mf.list("skill_sources")?,
            data_classes: mf.list("data_classes")?,
            destination_kinds: mf.list("destination_kinds")?,
            destination_values: mf.list("destination_values")?,
            destination_ops: mf.list("destination_operations")?,
            provenance_sources: mf.list("provenance_sources")?,
            identities: mf.list("identities")?,
            workspace_prefixes: mf.list("workspace_prefixes")?,
            context_tool_names: mf.list("context_tool_names")?,
            context_data_classes: mf.list("context_data_classes")?,
            context_endpoint_classes: mf.list("context_endpoint_classes")?,
            context_autonomy_levels: mf.list("context_autonomy_levels")?,
            require_delegation: mf.boolean("require_delegation")?,
            allowed_delegator_identities: mf.list("allowed_delegator_identities")?,
            allowed_delegate_identities: mf.list("allowed_delegate_identities")?,
            delegation_scopes: mf.list("delegation_scopes")?,
            max_delegation_depth: mf.opt_int("max_delegation_depth")?,
        };
    }
    let mut endpoint_any = false;
    if let Some(e) = f.get("endpoint") {
        let ef = Fields::of(
            e,
            &[
                "enabled",
                "path_allowlist",
                "path_denylist",
                "domain_allowlist",
                "domain_denylist",
                "egress_classes",
                "action",
                "destructive_action",
                "reason_code",
                "violation",
            ],
        )?;
        r.endpoint = Endpoint {
            enabled: ef.boolean("enabled")?,
            path_allowlist: ef.list("path_allowlist")?,
            path_denylist: ef.list("path_denylist")?,
            domain_allowlist: ef.list("domain_allowlist")?,
            domain_denylist: ef.list("domain_denylist")?,
            egress_classes: ef.list("egress_classes")?,
            action: ef.string("action")?,
            destructive_action: ef.string("destructive_action")?,
            reason_code: ef.string("reason_code")?,
            violation: ef.string("violation")?,
        };
        endpoint_any = true;
    }
    let mut freeze_any = false;
    if let Some(fw) = f.get("freeze_window") {
        let ff = Fields::of(
            fw,
            &[
                "enabled",
                "timezone",
                "effect",
                "reason",
                "environments",
                "risk_classes",
                "windows",
            ],
        )?;
        let mut windows = Vec::new();
        match ff.get("windows") {
            None => {}
            Some(Node::Seq { items, .. }) => {
                for w in items {
                    let wf = Fields::of(w, &["name", "start", "end"])?;
                    windows.push(FreezeWindowSpan {
                        name: wf.string("name")?,
                        start: wf.string("start")?,
                        end: wf.string("end")?,
                    });
                }
            }
            Some(other) => return Err(type_error(other, "windows", "[]FreezeWindowSpan")),
        }
        r.freeze_window = FreezeWindow {
            enabled: ff.boolean("enabled")?,
            timezone: ff.string("timezone")?,
            effect: ff.string("effect")?,
            reason: ff.string("reason")?,
            environments: ff.list("environments")?,
            risk_classes: ff.list("risk_classes")?,
            windows,
        };
        freeze_any = !ff.map.is_empty();
    }
    let mut sandbox_any = false;
    if let Some(s) = f.get("sandbox") {
        let sf = Fields::of(
            s,
            &[
                "enabled",
                "allowed_network_modes",
                "allowed_writable_path_prefixes",
                "required_read_only_roots",
                "allowed_env_exposure_modes",
                "max_timeout_seconds",
                "allowed_filesystem_isolations",
                "allowed_user_modes",
            ],
        )?;
        r.sandbox = SandboxRule {
            enabled: sf.boolean("enabled")?,
            allowed_network_modes: sf.list("allowed_network_modes")?,
            allowed_writable_path_prefixes: sf.list("allowed_writable_path_prefixes")?,
            required_read_only_roots: sf.list("required_read_only_roots")?,
            allowed_env_exposure_modes: sf.list("allowed_env_exposure_modes")?,
            max_timeout_seconds: sf.int("max_timeout_seconds")?,
            allowed_filesystem_isolations: sf.list("allowed_filesystem_isolations")?,
            allowed_user_modes: sf.list("allowed_user_modes")?,
        };
        sandbox_any = sf.map.values().any(|n| !n.is_null());
    }
    let decode_limit = |node: Option<&Node>| -> R<(RateLimit, bool)> {
        match node {
            None => Ok((RateLimit::default(), false)),
            Some(n) => {
                let lf = Fields::of(n, &["requests", "window", "scope"])?;
                let any = lf.map.values().any(|n| !n.is_null());
                Ok((
                    RateLimit {
                        requests: lf.int("requests")?,
                        window: lf.string("window")?,
                        scope: lf.string("scope")?,
                    },
                    any,
                ))
            }
        }
    };
    r.rate_limit = decode_limit(f.get("rate_limit"))?.0;
    let (budget, budget_any) = decode_limit(f.get("destructive_budget"))?;
    r.destructive_budget = budget;
    let mut dataflow_any = false;
    if let Some(d) = f.get("dataflow") {
        let df = Fields::of(
            d,
            &[
                "enabled",
                "tainted_sources",
                "destination_kinds",
                "destination_values",
                "destination_operations",
                "action",
                "reason_code",
                "violation",
            ],
        )?;
        r.dataflow = Dataflow {
            enabled: df.boolean("enabled")?,
            tainted_sources: df.list("tainted_sources")?,
            destination_kinds: df.list("destination_kinds")?,
            destination_values: df.list("destination_values")?,
            destination_ops: df.list("destination_operations")?,
            action: df.string("action")?,
            reason_code: df.string("reason_code")?,
            violation: df.string("violation")?,
        };
        dataflow_any = true;
    }
    Ok(RawRule {
        rule: r,
        action,
        tool_name,
        endpoint_class_alias,
        freeze_any,
        sandbox_any,
        budget_any,
        dataflow_any,
        endpoint_any,
    })
}

fn check_known(items: &[String], allowed: &[&str], what: &str, name: &str) -> R<()> {
    if let Some(bad) = items.iter().find(|x| !allowed.contains(&x.as_str())) {
        return invalid(format!("unsupported {what} \"{bad}\" for {name}"));
    }
    Ok(())
}

fn normalize_rule(raw: RawRule) -> R<Rule> {
    let RawRule {
        rule: mut r,
        action,
        tool_name,
        endpoint_class_alias,
        freeze_any,
        sandbox_any,
        budget_any,
        dataflow_any,
        endpoint_any,
    } = raw;
    r.name = r.name.trim().to_string();
    if r.name.is_empty() {
        return invalid("rule name is required");
    }
    let n = r.name.clone();
    let effect = lower_trim(&r.effect);
    let action = lower_trim(&action);
    if effect.is_empty() && action.is_empty() {
        return invalid(format!("rule effect is required for {n}"));
    }
    if !effect.is_empty() && !action.is_empty() && effect != action {
        return invalid(format!("rule action must match effect for {n}"));
    }
    r.effect = if effect.is_empty() { action } else { effect };
    if !VERDICTS.contains(&r.effect.as_str()) {
        return invalid(format!("invalid rule effect \"{}\" for {n}", r.effect));
    }

    // match
    let m = &mut r.matcher;
    let mut tools = m.tool_names.clone();
    if !tool_name.trim().is_empty() {
        tools.push(tool_name);
    }
    m.tool_names = sorted_unique_lower(&tools);
    m.risk_classes = sorted_unique_lower(&m.risk_classes);
    m.target_kinds = sorted_unique_lower(&m.target_kinds);
    m.target_values = sorted_unique(&m.target_values);
    let mut classes = m.endpoint_classes.clone();
    classes.extend(endpoint_class_alias);
    m.endpoint_classes = sorted_unique_lower(&classes);
    check_known(
        &m.endpoint_classes,
        ENDPOINT_CLASSES,
        "match endpoint_class",
        &n,
    )?;
    m.discovery_methods = sorted_unique_lower(
        &m.discovery_methods
            .iter()
            .map(|s| s.replace(['-', ' '], "_"))
            .collect::<Vec<_>>(),
    );
    check_known(
        &m.discovery_methods,
        DISCOVERY_METHODS,
        "match discovery_method",
        &n,
    )?;
    m.skill_publishers = sorted_unique_lower(&m.skill_publishers);
    m.skill_sources = sorted_unique_lower(&m.skill_sources);
    m.data_classes = sorted_unique_lower(&m.data_classes);
    m.destination_kinds = sorted_unique_lower(&m.destination_kinds);
    m.destination_values = sorted_unique(&m.destination_values);
    m.destination_ops = sorted_unique_lower(&m.destination_ops);
    m.provenance_sources = sorted_unique_lower(&m.provenance_sources);
    m.identities = sorted_unique(&m.identities);
    m.workspace_prefixes = sorted_unique(&m.workspace_prefixes);
    m.context_tool_names = sorted_unique_lower(&m.context_tool_names);
    m.context_data_classes = sorted_unique_lower(&m.context_data_classes);
    m.context_endpoint_classes = sorted_unique_lower(&m.context_endpoint_classes);
    m.context_autonomy_levels = sorted_unique_lower(&m.context_autonomy_levels);
    m.allowed_delegator_identities = sorted_unique(&m.allowed_delegator_identities);
    m.allowed_delegate_identities = sorted_unique(&m.allowed_delegate_identities);
    m.delegation_scopes = sorted_unique_lower(&m.delegation_scopes);
    if m.max_delegation_depth.is_some_and(|d| d < 0) {
        return invalid(format!("max_delegation_depth must be >= 0 for {n}"));
    }

    r.reason_codes = sorted_unique(&r.reason_codes);
    r.violations = sorted_unique(&r.violations);

    // agent keys
    r.allowed_agent_ids = sorted_unique(&r.allowed_agent_ids);
    r.denied_agent_ids = sorted_unique(&r.denied_agent_ids);
    r.required_agent_manifest_digest = lower_trim(&r.required_agent_manifest_digest);
    if !r.required_agent_manifest_digest.is_empty()
        && !jcs::is_sha256_hex(&r.required_agent_manifest_digest)
    {
        return invalid(format!(
            "required_agent_manifest_digest must be sha256 hex for {n}"
        ));
    }
    r.allowed_agent_manifest_publishers = sorted_unique_lower(&r.allowed_agent_manifest_publishers);
    r.allowed_agent_manifest_sources = sorted_unique_lower(&r.allowed_agent_manifest_sources);
    r.required_agent_lifecycle_states = sorted_unique_lower(&r.required_agent_lifecycle_states);

    // credential keys
    r.allowed_credential_sources = sorted_unique_lower(&r.allowed_credential_sources);
    check_known(
        &r.allowed_credential_sources,
        CREDENTIAL_SOURCES,
        "allowed_credential_source",
        &n,
    )?;
    r.allowed_credential_issuers = sorted_unique(&r.allowed_credential_issuers);
    r.allowed_credential_access_types = sorted_unique_lower(&r.allowed_credential_access_types);
    check_known(
        &r.allowed_credential_access_types,
        CREDENTIAL_ACCESS_TYPES,
        "allowed_credential_access_type",
        &n,
    )?;
    if r.max_credential_ttl_seconds < 0 {
        return invalid(format!("max_credential_ttl_seconds must be >= 0 for {n}"));
    }
    if r.min_approvals < 0 {
        return invalid(format!("min_approvals must be >= 0 for {n}"));
    }
    if r.min_approvals > 1 {
        r.require_distinct_approvers = true;
    }

    // context evidence
    r.required_context_evidence_mode = lower_trim(&r.required_context_evidence_mode);
    if r.require_context_evidence && r.required_context_evidence_mode.is_empty() {
        r.required_context_evidence_mode = "required".into();
    }
    if !r.required_context_evidence_mode.is_empty()
        && r.required_context_evidence_mode != "required"
    {
        return invalid(format!(
            "required_context_evidence_mode must be required for {n}"
        ));
    }
    if r.max_context_age_seconds < 0 {
        return invalid(format!("max_context_age_seconds must be >= 0 for {n}"));
    }

    // broker
    r.broker_reference = r.broker_reference.trim().to_string();
    r.broker_scopes = sorted_unique_lower(&r.broker_scopes);

    // endpoint
    if endpoint_any {
        let e = &mut r.endpoint;
        e.path_allowlist = sorted_unique(&e.path_allowlist);
        e.path_denylist = sorted_unique(&e.path_denylist);
        e.domain_allowlist = sorted_unique_lower(&e.domain_allowlist);
        e.domain_denylist = sorted_unique_lower(&e.domain_denylist);
        e.egress_classes = sorted_unique_lower(&e.egress_classes);
        e.action = lower_trim(&e.action);
        e.destructive_action = lower_trim(&e.destructive_action);
        e.reason_code = e.reason_code.trim().to_string();
        e.violation = e.violation.trim().to_string();
        for c in &e.egress_classes {
            if !ENDPOINT_CLASSES.contains(&c.as_str()) {
                return invalid(format!("unsupported endpoint.egress_class \"{c}\" for {n}"));
            }
            if !c.starts_with("net.") {
                return invalid(format!(
                    "endpoint.egress_class must be network class for {n}"
                ));
            }
        }
        let configured = e.enabled
            || !e.path_allowlist.is_empty()
            || !e.path_denylist.is_empty()
            || !e.domain_allowlist.is_empty()
            || !e.domain_denylist.is_empty()
            || !e.egress_classes.is_empty()
            || !e.destructive_action.is_empty();
        if configured {
            e.enabled = true;
            if e.action.is_empty() {
                e.action = "block".into();
            }
            if e.action != "block" && e.action != "require_approval" {
                return invalid(format!(
                    "unsupported endpoint.action \"{}\" for {n}",
                    e.action
                ));
            }
            if !e.destructive_action.is_empty()
                && e.destructive_action != "block"
                && e.destructive_action != "require_approval"
            {
                return invalid(format!(
                    "unsupported endpoint.destructive_action \"{}\" for {n}",
                    e.destructive_action
                ));
            }
            if e.reason_code.is_empty() {
                e.reason_code = "endpoint_constraint_violation".into();
            }
            if e.violation.is_empty() {
                e.violation = "endpoint_constraint_violation".into();
            }
        }
    }

    // freeze window
    if freeze_any {
        let fw = &mut r.freeze_window;
        fw.enabled = true;
        fw.timezone = fw.timezone.trim().to_string();
        fw.effect = lower_trim(&fw.effect);
        fw.reason = fw.reason.trim().to_string();
        fw.environments = sorted_unique_lower(&fw.environments);
        fw.risk_classes = sorted_unique_lower(&fw.risk_classes);
        if fw.timezone.is_empty() {
            return invalid(format!("freeze_window.timezone is required for {n}"));
        }
        if fw.windows.is_empty() {
            return invalid(format!("freeze_window.windows is required for {n}"));
        }
        if fw.effect.is_empty() {
            fw.effect = "block".into();
        }
        if fw.effect != "block" && fw.effect != "require_approval" {
            return invalid(format!(
                "unsupported freeze_window.effect \"{}\" for {n}",
                fw.effect
            ));
        }
        for (i, w) in fw.windows.iter_mut().enumerate() {
            w.name = w.name.trim().to_string();
            w.start = w.start.trim().to_string();
            w.end = w.end.trim().to_string();
            if w.name.is_empty() {
                w.name = format!("window-{}", i + 1);
            }
            if w.start.is_empty() || w.end.is_empty() {
                return invalid(format!(
                    "freeze_window window start and end are required for {n}"
                ));
            }
        }
    }

    // sandbox
    if sandbox_any {
        let s = &mut r.sandbox;
        s.allowed_network_modes = sorted_unique_lower(&s.allowed_network_modes);
        check_known(
            &s.allowed_network_modes,
            &["disabled", "egress_allowlist", "full"],
            "sandbox.allowed_network_mode",
            &n,
        )?;
        // A path whose cleaned form keeps surrounding whitespace would clean differently after
        // `policy fmt` (`x/../ ./a` → ` ./a` → `a`), changing the digest: rejected.
        let clean = |items: &[String], field: &str| -> R<Vec<String>> {
            let mut out = Vec::with_capacity(items.len());
            for p in items {
                match crate::intent::clean_trimmed_path(p) {
                    Some(c) => out.push(c),
                    None => {
                        return invalid(format!(
                            "sandbox.{field} path {p:?} cleans to leading or trailing whitespace for {n}"
                        ))
                    }
                }
            }
            Ok(sorted_unique(&out))
        };
        s.allowed_writable_path_prefixes = clean(
            &s.allowed_writable_path_prefixes,
            "allowed_writable_path_prefixes",
        )?;
        s.required_read_only_roots =
            clean(&s.required_read_only_roots, "required_read_only_roots")?;
        s.allowed_env_exposure_modes = sorted_unique_lower(&s.allowed_env_exposure_modes);
        check_known(
            &s.allowed_env_exposure_modes,
            &["allowlist", "full", "none"],
            "sandbox.allowed_env_exposure_mode",
            &n,
        )?;
        s.allowed_filesystem_isolations = sorted_unique_lower(&s.allowed_filesystem_isolations);
        check_known(
            &s.allowed_filesystem_isolations,
            &["container", "none", "workspace"],
            "sandbox.allowed_filesystem_isolation",
            &n,
        )?;
        s.allowed_user_modes = sorted_unique_lower(&s.allowed_user_modes);
        check_known(
            &s.allowed_user_modes,
            &["default", "root", "unprivileged"],
            "sandbox.allowed_user_mode",
            &n,
        )?;
        if s.max_timeout_seconds < 0 {
            return invalid(format!("sandbox.max_timeout_seconds must be >= 0 for {n}"));
        }
        s.enabled = true;
    }

    // rate limit & destructive budget
    normalize_limit(&mut r.rate_limit, "rate_limit", &n, false)?;
    normalize_limit(
        &mut r.destructive_budget,
        "destructive_budget",
        &n,
        budget_any,
    )?;

    // dataflow
    if dataflow_any {
        let d = &mut r.dataflow;
        d.tainted_sources = sorted_unique_lower(&d.tainted_sources);
        d.destination_kinds = sorted_unique_lower(&d.destination_kinds);
        d.destination_values = sorted_unique(&d.destination_values);
        d.destination_ops = sorted_unique_lower(&d.destination_ops);
        d.action = lower_trim(&d.action);
        d.reason_code = d.reason_code.trim().to_string();
        d.violation = d.violation.trim().to_string();
        if d.enabled
            || !d.tainted_sources.is_empty()
            || !d.destination_kinds.is_empty()
            || !d.destination_values.is_empty()
            || !d.destination_ops.is_empty()
        {
            d.enabled = true;
            if d.tainted_sources.is_empty() {
                d.tainted_sources = vec!["external".into(), "tool_output".into()];
            }
            if d.action.is_empty() {
                d.action = "require_approval".into();
            }
            if d.action != "block" && d.action != "require_approval" {
                return invalid(format!(
                    "unsupported dataflow.action \"{}\" for {n}",
                    d.action
                ));
            }
            if d.reason_code.is_empty() {
                d.reason_code = "dataflow_tainted_destination".into();
            }
            if d.violation.is_empty() {
                d.violation = "tainted_dataflow".into();
            }
        }
    }
    Ok(r)
}

fn normalize_limit(l: &mut RateLimit, what: &str, name: &str, any_set: bool) -> R<()> {
    l.window = lower_trim(&l.window);
    l.scope = lower_trim(&l.scope);
    if l.requests < 0 {
        return invalid(format!("{what}.requests must be >= 0 for {name}"));
    }
    if any_set && l.requests < 1 {
        return invalid(format!("{what}.requests must be >= 1 for {name}"));
    }
    if l.requests > 0 {
        if l.window.is_empty() {
            l.window = "minute".into();
        }
        if l.window != "minute" && l.window != "hour" {
            return invalid(format!(
                "unsupported {what}.window \"{}\" for {name}",
                l.window
            ));
        }
        if l.scope.is_empty() {
            l.scope = "tool_identity".into();
        }
        if !["tool", "identity", "tool_identity"].contains(&l.scope.as_str()) {
            return invalid(format!(
                "unsupported {what}.scope \"{}\" for {name}",
                l.scope
            ));
        }
    }
    Ok(())
}

// ------------------------------------------------------------ digest projection

fn opt_list(m: &mut Map<String, Value>, k: &str, v: &[String]) {
    if !v.is_empty() {
        m.insert(k.into(), json!(v));
    }
}

fn opt_true(m: &mut Map<String, Value>, k: &str, v: bool) {
    if v {
        m.insert(k.into(), json!(true));
    }
}

fn opt_pos(m: &mut Map<String, Value>, k: &str, v: i64) {
    if v > 0 {
        m.insert(k.into(), json!(v));
    }
}

fn opt_str(m: &mut Map<String, Value>, k: &str, v: &str) {
    if !v.is_empty() {
        m.insert(k.into(), json!(v));
    }
}

fn null_if_empty(v: &[String]) -> Value {
    if v.is_empty() {
        Value::Null
    } else {
        json!(v)
    }
}

fn match_projection(m: &Match) -> Value {
    let mut o = Map::new();
    o.insert("ToolNames".into(), json!(m.tool_names));
    o.insert("RiskClasses".into(), json!(m.risk_classes));
    o.insert("TargetKinds".into(), json!(m.target_kinds));
    o.insert("TargetValues".into(), json!(m.target_values));
    o.insert("ProvenanceSources".into(), json!(m.provenance_sources));
    o.insert("Identities".into(), json!(m.identities));
    o.insert("WorkspacePrefixes".into(), json!(m.workspace_prefixes));
    opt_list(&mut o, "EndpointClasses", &m.endpoint_classes);
    opt_list(&mut o, "DiscoveryMethods", &m.discovery_methods);
    opt_list(&mut o, "SkillPublishers", &m.skill_publishers);
    opt_list(&mut o, "SkillSources", &m.skill_sources);
    opt_list(&mut o, "DataClasses", &m.data_classes);
    opt_list(&mut o, "DestinationKinds", &m.destination_kinds);
    opt_list(&mut o, "DestinationValues", &m.destination_values);
    opt_list(&mut o, "DestinationOps", &m.destination_ops);
    opt_list(&mut o, "ContextToolNames", &m.context_tool_names);
    opt_list(&mut o, "ContextDataClasses", &m.context_data_classes);
    opt_list(
        &mut o,
        "ContextEndpointClasses",
        &m.context_endpoint_classes,
    );
    opt_list(&mut o, "ContextAutonomyLevels", &m.context_autonomy_levels);
    opt_true(&mut o, "RequireDelegation", m.require_delegation);
    opt_list(
        &mut o,
        "AllowedDelegatorIdentities",
        &m.allowed_delegator_identities,
    );
    opt_list(
        &mut o,
        "AllowedDelegateIdentities",
        &m.allowed_delegate_identities,
    );
    opt_list(&mut o, "DelegationScopes", &m.delegation_scopes);
    if let Some(d) = m.max_delegation_depth {
        o.insert("MaxDelegationDepth".into(), json!(d));
    }
    if m.tool_annotations.any() {
        let mut a = Map::new();
        let t = &m.tool_annotations;
        for (k, v) in [
            ("ReadOnlyHint", t.read_only_hint),
            ("DestructiveHint", t.destructive_hint),
            ("IdempotentHint", t.idempotent_hint),
            ("OpenWorldHint", t.open_world_hint),
        ] {
            if let Some(b) = v {
                a.insert(k.into(), json!(b));
            }
        }
        o.insert("ToolAnnotations".into(), Value::Object(a));
    }
    Value::Object(o)
}

fn limit_projection(l: &RateLimit) -> Value {
    json!({"Requests": l.requests, "Window": l.window, "Scope": l.scope})
}

fn rule_projection(r: &Rule) -> Value {
    let mut o = Map::new();
    o.insert("Name".into(), json!(r.name));
    o.insert("Priority".into(), json!(r.priority));
    o.insert("Effect".into(), json!(r.effect));
    o.insert("Match".into(), match_projection(&r.matcher));
    o.insert("ReasonCodes".into(), json!(r.reason_codes));
    o.insert("Violations".into(), json!(r.violations));
    opt_true(&mut o, "RequireDeclaredAgent", r.require_declared_agent);
    opt_list(&mut o, "AllowedAgentIDs", &r.allowed_agent_ids);
    opt_list(&mut o, "DeniedAgentIDs", &r.denied_agent_ids);
    opt_str(
        &mut o,
        "RequiredAgentManifestDigest",
        &r.required_agent_manifest_digest,
    );
    opt_list(
        &mut o,
        "AllowedAgentManifestPublishers",
        &r.allowed_agent_manifest_publishers,
    );
    opt_list(
        &mut o,
        "AllowedAgentManifestSources",
        &r.allowed_agent_manifest_sources,
    );
    opt_list(
        &mut o,
        "RequiredAgentLifecycleStates",
        &r.required_agent_lifecycle_states,
    );
    opt_true(&mut o, "RequireAgentOwner", r.require_agent_owner);
    opt_true(&mut o, "RequireUnexpiredAgent", r.require_unexpired_agent);
    opt_true(
        &mut o,
        "BlockStandingCredentials",
        r.block_standing_credentials,
    );
    opt_list(
        &mut o,
        "AllowedCredentialSources",
        &r.allowed_credential_sources,
    );
    opt_list(
        &mut o,
        "AllowedCredentialIssuers",
        &r.allowed_credential_issuers,
    );
    opt_list(
        &mut o,
        "AllowedCredentialAccessTypes",
        &r.allowed_credential_access_types,
    );
    opt_pos(
        &mut o,
        "MaxCredentialTTLSeconds",
        r.max_credential_ttl_seconds,
    );
    opt_true(&mut o, "RequireJITCredential", r.require_jit_credential);
    opt_pos(&mut o, "MinApprovals", r.min_approvals);
    opt_true(
        &mut o,
        "RequireDistinctApprovers",
        r.require_distinct_approvers,
    );
    opt_true(&mut o, "RequireContextEvidence", r.require_context_evidence);
    opt_str(
        &mut o,
        "RequiredContextEvidenceMode",
        &r.required_context_evidence_mode,
    );
    opt_pos(&mut o, "MaxContextAgeSeconds", r.max_context_age_seconds);
    opt_true(
        &mut o,
        "RequireBrokerCredential",
        r.require_broker_credential,
    );
    opt_str(&mut o, "BrokerReference", &r.broker_reference);
    opt_list(&mut o, "BrokerScopes", &r.broker_scopes);
    let fw = &r.freeze_window;
    if fw.enabled {
        let windows: Vec<Value> = fw
            .windows
            .iter()
            .map(|w| json!({"Name": w.name, "Start": w.start, "End": w.end}))
            .collect();
        o.insert(
            "FreezeWindow".into(),
            json!({"Enabled": true, "Timezone": fw.timezone, "Effect": fw.effect, "Reason": fw.reason,
                   "Environments": fw.environments, "RiskClasses": fw.risk_classes, "Windows": windows}),
        );
    }
    let s = &r.sandbox;
    if s.enabled {
        o.insert(
            "Sandbox".into(),
            json!({"Enabled": true, "AllowedNetworkModes": s.allowed_network_modes,
                   "AllowedWritablePathPrefixes": null_if_empty(&s.allowed_writable_path_prefixes),
                   "RequiredReadOnlyRoots": null_if_empty(&s.required_read_only_roots),
                   "AllowedEnvExposureModes": s.allowed_env_exposure_modes, "MaxTimeoutSeconds": s.max_timeout_seconds,
                   "AllowedFilesystemIsolations": s.allowed_filesystem_isolations, "AllowedUserModes": s.allowed_user_modes}),
        );
    }
    if r.rate_limit.requests > 0 {
        o.insert("RateLimit".into(), limit_projection(&r.rate_limit));
    }
    if r.destructive_budget.requests > 0 {
        o.insert(
            "DestructiveBudget".into(),
            limit_projection(&r.destructive_budget),
        );
    }
    let d = &r.dataflow;
    if d.enabled {
        let mut dm = Map::new();
        dm.insert("Enabled".into(), json!(true));
        dm.insert("TaintedSources".into(), json!(d.tainted_sources));
        opt_list(&mut dm, "DestinationKinds", &d.destination_kinds);
        opt_list(&mut dm, "DestinationValues", &d.destination_values);
        opt_list(&mut dm, "DestinationOperations", &d.destination_ops);
        dm.insert("Action".into(), json!(d.action));
        dm.insert("ReasonCode".into(), json!(d.reason_code));
        dm.insert("Violation".into(), json!(d.violation));
        o.insert("Dataflow".into(), Value::Object(dm));
    }
    let e = &r.endpoint;
    if e.enabled {
        o.insert(
            "Endpoint".into(),
            json!({"Enabled": true, "PathAllowlist": e.path_allowlist, "PathDenylist": e.path_denylist,
                   "DomainAllowlist": e.domain_allowlist, "DomainDenylist": e.domain_denylist,
                   "EgressClasses": e.egress_classes, "Action": e.action, "DestructiveAction": e.destructive_action,
                   "ReasonCode": e.reason_code, "Violation": e.violation}),
        );
    }
    Value::Object(o)
}

impl Policy {
    /// The synthetic object `policy_digest` is computed over (Go field names).
    pub fn digest_projection(&self) -> Value {
        let mut o = Map::new();
        o.insert("SchemaID".into(), json!(self.schema_id));
        o.insert("SchemaVersion".into(), json!(self.schema_version));
        o.insert("DefaultVerdict".into(), json!(self.default_verdict));
        let fc = &self.fail_closed;
        let mut f = Map::new();
        f.insert("Enabled".into(), json!(fc.enabled));
        f.insert("RiskClasses".into(), json!(fc.risk_classes));
        f.insert("RequiredFields".into(), json!(fc.required_fields));
        opt_list(
            &mut f,
            "RequiredHighRiskFields",
            &fc.required_high_risk_fields,
        );
        o.insert("FailClosed".into(), Value::Object(f));
        o.insert(
            "Rules".into(),
            Value::Array(self.rules.iter().map(rule_projection).collect()),
        );
        let s = &self.scripts;
        if s.max_steps != 0 || s.require_approval_above != 0 || s.block_mixed_risk {
            o.insert(
                "Scripts".into(),
                json!({"MaxSteps": s.max_steps, "RequireApprovalAbove": s.require_approval_above, "BlockMixedRisk": s.block_mixed_risk}),
            );
        }
        let t = &self.mcp_trust;
        if t.enabled {
            o.insert(
                "MCPTrust".into(),
                json!({"Enabled": true, "SnapshotPath": t.snapshot, "Action": t.action, "RequiredRiskClasses": t.required_risk_classes,
                       "MinScore": t.min_score, "MaxAge": t.max_age, "PublisherAllowlist": t.publisher_allowlist,
                       "RequireRegistry": t.require_registry}),
            );
        }
        Value::Object(o)
    }

    pub fn digest(&self) -> String {
        jcs::digest_hex(&self.digest_projection()).expect("policy projection is finite JSON")
    }
}

// ------------------------------------------------------------ formatting

fn yq(s: &str) -> String {
    // JSON string syntax is valid YAML double-quoted syntax.
    serde_json::to_string(s).expect("string serialises")
}

fn ylist(v: &[String]) -> String {
    format!(
        "[{}]",
        v.iter().map(|s| yq(s)).collect::<Vec<_>>().join(", ")
    )
}

fn yopt_bool(v: Option<bool>) -> String {
    v.map_or("null".into(), |b| b.to_string())
}

/// Canonical YAML of the normalised policy (`gait policy fmt`): every field in model order.
pub fn format_policy(p: &Policy) -> String {
    let mut s = String::new();
    let mut line = |indent: usize, text: String| {
        s.push_str(&" ".repeat(indent));
        s.push_str(&text);
        s.push('\n');
    };
    line(0, format!("schema_id: {}", yq(&p.schema_id)));
    line(0, format!("schema_version: {}", yq(&p.schema_version)));
    line(0, format!("default_verdict: {}", yq(&p.default_verdict)));
    line(0, "default_action: \"\"".into());
    line(0, "scripts:".into());
    line(2, format!("max_steps: {}", p.scripts.max_steps));
    line(
        2,
        format!(
            "require_approval_above: {}",
            p.scripts.require_approval_above
        ),
    );
    line(
        2,
        format!("block_mixed_risk: {}", p.scripts.block_mixed_risk),
    );
    line(0, "fail_closed:".into());
    line(2, format!("enabled: {}", p.fail_closed.enabled));
    line(
        2,
        format!("risk_classes: {}", ylist(&p.fail_closed.risk_classes)),
    );
    line(
        2,
        format!("required_fields: {}", ylist(&p.fail_closed.required_fields)),
    );
    line(
        2,
        format!(
            "required_high_risk_fields: {}",
            ylist(&p.fail_closed.required_high_risk_fields)
        ),
    );
    let t = &p.mcp_trust;
    line(0, "mcp_trust:".into());
    line(2, format!("enabled: {}", t.enabled));
    line(2, format!("snapshot: {}", yq(&t.snapshot)));
    line(2, format!("action: {}", yq(&t.action)));
    line(
        2,
        format!("required_risk_classes: {}", ylist(&t.required_risk_classes)),
    );
    line(2, format!("min_score: {:?}", t.min_score));
    line(2, format!("max_age: {}", yq(&t.max_age)));
    line(
        2,
        format!("publisher_allowlist: {}", ylist(&t.publisher_allowlist)),
    );
    line(2, format!("require_registry: {}", t.require_registry));
    if p.rules.is_empty() {
        line(0, "rules: []".into());
    } else {
        line(0, "rules:".into());
    }
    for r in &p.rules {
        let m = &r.matcher;
        line(0, format!("- name: {}", yq(&r.name)));
        let i = 2;
        line(i, format!("priority: {}", r.priority));
        line(i, format!("effect: {}", yq(&r.effect)));
        line(i, "action: \"\"".into());
        line(i, "match:".into());
        for (k, v) in [
            ("tool_names", &m.tool_names),
            ("risk_classes", &m.risk_classes),
            ("target_kinds", &m.target_kinds),
            ("target_values", &m.target_values),
            ("endpoint_classes", &m.endpoint_classes),
            ("discovery_method", &m.discovery_methods),
        ] {
            line(i + 2, format!("{k}: {}", ylist(v)));
        }
        let a = &m.tool_annotations;
        line(i + 2, "tool_annotations:".into());
        line(
            i + 4,
            format!("readOnlyHint: {}", yopt_bool(a.read_only_hint)),
        );
        line(
            i + 4,
            format!("destructiveHint: {}", yopt_bool(a.destructive_hint)),
        );
        line(
            i + 4,
            format!("idempotentHint: {}", yopt_bool(a.idempotent_hint)),
        );
        line(
            i + 4,
            format!("openWorldHint: {}", yopt_bool(a.open_world_hint)),
        );
        for (k, v) in [
            ("skill_publishers", &m.skill_publishers),
            ("skill_sources", &m.skill_sources),
            ("data_classes", &m.data_classes),
            ("destination_kinds", &m.destination_kinds),
            ("destination_values", &m.destination_values),
            ("destination_operations", &m.destination_ops),
            ("provenance_sources", &m.provenance_sources),
            ("identities", &m.identities),
            ("workspace_prefixes", &m.workspace_prefixes),
            ("context_tool_names", &m.context_tool_names),
            ("context_data_classes", &m.context_data_classes),
            ("context_endpoint_classes", &m.context_endpoint_classes),
            ("context_autonomy_levels", &m.context_autonomy_levels),
        ] {
            line(i + 2, format!("{k}: {}", ylist(v)));
        }
        line(
            i + 2,
            format!("require_delegation: {}", m.require_delegation),
        );
        line(
            i + 2,
            format!(
                "allowed_delegator_identities: {}",
                ylist(&m.allowed_delegator_identities)
            ),
        );
        line(
            i + 2,
            format!(
                "allowed_delegate_identities: {}",
                ylist(&m.allowed_delegate_identities)
            ),
        );
        line(
            i + 2,
            format!("delegation_scopes: {}", ylist(&m.delegation_scopes)),
        );
        line(
            i + 2,
            format!(
                "max_delegation_depth: {}",
                m.max_delegation_depth
                    .map_or("null".into(), |d| d.to_string())
            ),
        );
        let e = &r.endpoint;
        line(i, "endpoint:".into());
        line(i + 2, format!("enabled: {}", e.enabled));
        for (k, v) in [
            ("path_allowlist", &e.path_allowlist),
            ("path_denylist", &e.path_denylist),
            ("domain_allowlist", &e.domain_allowlist),
            ("domain_denylist", &e.domain_denylist),
            ("egress_classes", &e.egress_classes),
        ] {
            line(i + 2, format!("{k}: {}", ylist(v)));
        }
        line(i + 2, format!("action: {}", yq(&e.action)));
        line(
            i + 2,
            format!("destructive_action: {}", yq(&e.destructive_action)),
        );
        line(i + 2, format!("reason_code: {}", yq(&e.reason_code)));
        line(i + 2, format!("violation: {}", yq(&e.violation)));
        line(i, format!("reason_codes: {}", ylist(&r.reason_codes)));
        line(i, format!("violations: {}", ylist(&r.violations)));
        line(
            i,
            format!("require_declared_agent: {}", r.require_declared_agent),
        );
        line(
            i,
            format!("allowed_agent_ids: {}", ylist(&r.allowed_agent_ids)),
        );
        line(
            i,
            format!("denied_agent_ids: {}", ylist(&r.denied_agent_ids)),
        );
        line(
            i,
            format!(
                "required_agent_manifest_digest: {}",
                yq(&r.required_agent_manifest_digest)
            ),
        );
        line(
            i,
            format!(
                "allowed_agent_manifest_publishers: {}",
                ylist(&r.allowed_agent_manifest_publishers)
            ),
        );
        line(
            i,
            format!(
                "allowed_agent_manifest_sources: {}",
                ylist(&r.allowed_agent_manifest_sources)
            ),
        );
        line(
            i,
            format!(
                "required_agent_lifecycle_states: {}",
                ylist(&r.required_agent_lifecycle_states)
            ),
        );
        line(i, format!("require_agent_owner: {}", r.require_agent_owner));
        line(
            i,
            format!("require_unexpired_agent: {}", r.require_unexpired_agent),
        );
        line(
            i,
            format!(
                "block_standing_credentials: {}",
                r.block_standing_credentials
            ),
        );
        line(
            i,
            format!(
                "allowed_credential_sources: {}",
                ylist(&r.allowed_credential_sources)
            ),
        );
        line(
            i,
            format!(
                "allowed_credential_issuers: {}",
                ylist(&r.allowed_credential_issuers)
            ),
        );
        line(
            i,
            format!(
                "allowed_credential_access_types: {}",
                ylist(&r.allowed_credential_access_types)
            ),
        );
        line(
            i,
            format!(
                "max_credential_ttl_seconds: {}",
                r.max_credential_ttl_seconds
            ),
        );
        line(
            i,
            format!("require_jit_credential: {}", r.require_jit_credential),
        );
        line(i, format!("min_approvals: {}", r.min_approvals));
        line(
            i,
            format!(
                "require_distinct_approvers: {}",
                r.require_distinct_approvers
            ),
        );
        line(
            i,
            format!("require_context_evidence: {}", r.require_context_evidence),
        );
        line(
            i,
            format!(
                "required_context_evidence_mode: {}",
                yq(&r.required_context_evidence_mode)
            ),
        );
        line(
            i,
            format!("max_context_age_seconds: {}", r.max_context_age_seconds),
        );
        line(
            i,
            format!("require_broker_credential: {}", r.require_broker_credential),
        );
        line(i, format!("broker_reference: {}", yq(&r.broker_reference)));
        line(i, format!("broker_scopes: {}", ylist(&r.broker_scopes)));
        let fw = &r.freeze_window;
        if fw.enabled {
            line(i, "freeze_window:".into());
            line(i + 2, "enabled: true".into());
            line(i + 2, format!("timezone: {}", yq(&fw.timezone)));
            line(i + 2, format!("effect: {}", yq(&fw.effect)));
            line(i + 2, format!("reason: {}", yq(&fw.reason)));
            line(i + 2, format!("environments: {}", ylist(&fw.environments)));
            line(i + 2, format!("risk_classes: {}", ylist(&fw.risk_classes)));
            line(i + 2, "windows:".into());
            for w in &fw.windows {
                line(i + 2, format!("- name: {}", yq(&w.name)));
                line(i + 4, format!("start: {}", yq(&w.start)));
                line(i + 4, format!("end: {}", yq(&w.end)));
            }
        } else {
            line(i, "freeze_window: null".into());
        }
        let sb = &r.sandbox;
        if sb.enabled {
            line(i, "sandbox:".into());
            line(i + 2, "enabled: true".into());
            line(
                i + 2,
                format!(
                    "allowed_network_modes: {}",
                    ylist(&sb.allowed_network_modes)
                ),
            );
            line(
                i + 2,
                format!(
                    "allowed_writable_path_prefixes: {}",
                    ylist(&sb.allowed_writable_path_prefixes)
                ),
            );
            line(
                i + 2,
                format!(
                    "required_read_only_roots: {}",
                    ylist(&sb.required_read_only_roots)
                ),
            );
            line(
                i + 2,
                format!(
                    "allowed_env_exposure_modes: {}",
                    ylist(&sb.allowed_env_exposure_modes)
                ),
            );
            line(
                i + 2,
                format!("max_timeout_seconds: {}", sb.max_timeout_seconds),
            );
            line(
                i + 2,
                format!(
                    "allowed_filesystem_isolations: {}",
                    ylist(&sb.allowed_filesystem_isolations)
                ),
            );
            line(
                i + 2,
                format!("allowed_user_modes: {}", ylist(&sb.allowed_user_modes)),
            );
        } else {
            line(i, "sandbox: null".into());
        }
        for (k, l) in [
            ("rate_limit", &r.rate_limit),
            ("destructive_budget", &r.destructive_budget),
        ] {
            if l.requests > 0 {
                line(i, format!("{k}:"));
                line(i + 2, format!("requests: {}", l.requests));
                line(i + 2, format!("window: {}", yq(&l.window)));
                line(i + 2, format!("scope: {}", yq(&l.scope)));
            } else {
                line(i, format!("{k}: null"));
            }
        }
        let d = &r.dataflow;
        if d.enabled {
            line(i, "dataflow:".into());
            line(i + 2, "enabled: true".into());
            line(
                i + 2,
                format!("tainted_sources: {}", ylist(&d.tainted_sources)),
            );
            line(
                i + 2,
                format!("destination_kinds: {}", ylist(&d.destination_kinds)),
            );
            line(
                i + 2,
                format!("destination_values: {}", ylist(&d.destination_values)),
            );
            line(
                i + 2,
                format!("destination_operations: {}", ylist(&d.destination_ops)),
            );
            line(i + 2, format!("action: {}", yq(&d.action)));
            line(i + 2, format!("reason_code: {}", yq(&d.reason_code)));
            line(i + 2, format!("violation: {}", yq(&d.violation)));
        } else {
            line(i, "dataflow: null".into());
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_policy_digest_matches_spec_projection() {
        let p = parse_policy("default_verdict: allow\n").unwrap();
        assert_eq!(
            jcs::canonical_string(&p.digest_projection()).unwrap(),
            r#"{"DefaultVerdict":"allow","FailClosed":{"Enabled":false,"RequiredFields":[],"RiskClasses":[]},"Rules":[],"SchemaID":"gait.gate.policy","SchemaVersion":"1.0.0"}"#
        );
    }

    #[test]
    fn mcp_trust_max_age_canonicalised() {
        let p = parse_policy(
            "default_verdict: block\nmcp_trust:\n  snapshot: s.json\n  max_age: 24h\n",
        )
        .unwrap();
        assert_eq!(
            p.digest(),
            "f199977f6f824ae9a61e2d0ecb3d3c64983efba98f10f9a56aa9cd9ef8149764"
        );
    }

    #[test]
    fn unknown_and_duplicate_keys_are_positioned() {
        let e = parse_policy("rules:\n  - name: r\n    effect: allow\n    match:\n      tool_names: [a]\n      tool: x\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "parse policy yaml: [6:7] unknown field \"tool\""
        );
        let e = parse_policy("default_verdict: allow\ndefault_verdict: block\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "parse policy yaml: [2:1] mapping key \"default_verdict\" already defined at [1:1]"
        );
    }

    #[test]
    fn legacy_fields_give_migration() {
        let e = parse_policy("version: 1\nname: x\n").unwrap_err();
        assert!(e.to_string().starts_with("parse policy yaml: legacy policy proposal fields are not supported [version, name]: version->schema_id|schema_version (set schema_id"));
        assert_eq!(
            e.migration().unwrap()["deprecated_fields"],
            json!(["version", "name"])
        );
    }

    #[test]
    fn fuzz_regression_sandbox_prefixes_have_a_normal_form() {
        // `x/../ ./a` cleaned to ` ./a`, was trimmed to `./a` and written by `policy fmt`, which
        // re-parsed as `a`: a different digest (the policy_yaml fuzz target's invariant).
        let src = |p: &str| {
            format!("rules:\n  - name: r\n    effect: allow\n    sandbox:\n      allowed_writable_path_prefixes: ['{p}']\n")
        };
        let e = parse_policy(&src("x/../ ./a")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "sandbox.allowed_writable_path_prefixes path \"x/../ ./a\" cleans to leading or trailing whitespace for r"
        );
        let p = parse_policy(&src(" ./tmp/../work/./x ")).unwrap();
        assert_eq!(
            p.rules[0].sandbox.allowed_writable_path_prefixes,
            ["work/x"]
        );
        let again = parse_policy(&format_policy(&p)).unwrap();
        assert_eq!(again.digest(), p.digest());
    }

    #[test]
    fn fuzz_regression_long_max_age_fraction() {
        // 30 fraction digits overflowed the duration parser (a panic in debug builds).
        let p = parse_policy(
            "default_verdict: block\nmcp_trust:\n  snapshot: s.json\n  max_age: 1.999999999999999999999999999999h\n",
        )
        .unwrap();
        assert_eq!(p.mcp_trust.max_age, "2h0m0s");
        let again = parse_policy(&format_policy(&p)).unwrap();
        assert_eq!(again.digest(), p.digest());
    }

    #[test]
    fn formatted_policy_round_trips_to_same_digest() {
        let src = "default_verdict: block\nrules:\n  - name: 'Block-Delete Ops'\n    priority: 3\n    action: block\n    match: {tool_name: X, workspace_prefixes: ['C:/repo']}\n    endpoint: {path_denylist: ['/etc/**']}\n    rate_limit: {requests: 2}\n    freeze_window: {timezone: UTC, windows: [{start: '2026-01-01T00:00:00', end: '2026-01-02T00:00:00'}]}\n";
        let p = parse_policy(src).unwrap();
        let again = parse_policy(&format_policy(&p)).unwrap();
        assert_eq!(again.digest(), p.digest());
        assert_eq!(format_policy(&again), format_policy(&p));
    }
}
