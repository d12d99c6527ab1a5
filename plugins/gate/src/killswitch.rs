//! Kill-switch state (`gait.gate.kill_switch_state`): strict loading, matching an intent
//! against the enabled entries, and the journal line a match appends.

use crate::intent::{clean_path_pub, Intent, TARGET_KINDS};
use gait_sdk::time::GoTime;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

pub const STATE_SCHEMA_ID: &str = "gait.gate.kill_switch_state";
pub const JOURNAL_FILE: &str = "kill_switch_journal.jsonl";
const MAX_STATE_BYTES: u64 = 4 << 20;

/// Why a state file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StateError(pub String);

/// One stop entry; empty selectors do not take part.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    pub entry_id: String,
    pub enabled: bool,
    pub agent_id: String,
    pub identity: String,
    pub tool_name: String,
    pub target_kind: String,
    pub target_value: String,
    pub environment: String,
    pub path_prefixes: Vec<String>,
    pub workspace_prefixes: Vec<String>,
    pub expires_at: GoTime,
}

/// A loaded, validated state (entries sorted by id).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    pub entries: Vec<Entry>,
}

/// A kill-switch match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// `kill_switch_active` plus the selector codes, sorted.
    pub reason_codes: Vec<String>,
    pub matched_entry_ids: Vec<String>,
}

fn field<'a>(m: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    m.get(name).or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn string(m: &Map<String, Value>, name: &str) -> Result<String, StateError> {
    match field(m, name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.trim().to_string()),
        Some(_) => Err(StateError(format!("{name} must be a string"))),
    }
}

fn time(m: &Map<String, Value>, name: &str, required: bool) -> Result<GoTime, StateError> {
    let s = string(m, name)?;
    if s.is_empty() {
        if required {
            return Err(StateError(format!("{name} is required")));
        }
        return Ok(GoTime::zero());
    }
    let t = GoTime::parse_rfc3339(&s).map_err(|e| StateError(format!("{name}: {e}")))?;
    if required && t.is_zero() {
        return Err(StateError(format!("{name} is required")));
    }
    Ok(t)
}

fn prefixes(m: &Map<String, Value>, name: &str) -> Result<Vec<String>, StateError> {
    let items = match field(m, name) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(StateError(format!("{name} must be an array"))),
    };
    let mut out = BTreeSet::new();
    for v in items {
        let s = v
            .as_str()
            .ok_or_else(|| StateError(format!("{name} must hold strings")))?
            .trim();
        if !s.is_empty() {
            let keep_slash = s.len() > 1 && s.ends_with('/');
            let mut c = clean_path_pub(s);
            if keep_slash && !c.ends_with('/') {
                c.push('/');
            }
            out.insert(c);
        }
    }
    Ok(out.into_iter().collect())
}

/// Parses and validates a state document.
pub fn parse(text: &str) -> Result<State, StateError> {
    let root: Value =
        serde_json::from_str(text).map_err(|e| StateError(format!("parse state: {e}")))?;
    let Value::Object(m) = &root else {
        return Err(StateError("state must be a JSON object".into()));
    };
    let schema = string(m, "schema_id")?;
    if !schema.is_empty() && schema != STATE_SCHEMA_ID {
        return Err(StateError(format!("unsupported schema_id {schema:?}")));
    }
    let version = string(m, "schema_version")?;
    if !version.is_empty() && version != "1.0.0" {
        return Err(StateError(format!(
            "unsupported schema_version {version:?}"
        )));
    }
    time(m, "created_at", true)?;
    time(m, "updated_at", true)?;
    let raw = match field(m, "entries") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(StateError("entries must be an array".into())),
    };
    let mut entries = Vec::with_capacity(raw.len());
    for (i, v) in raw.iter().enumerate() {
        let Value::Object(e) = v else {
            return Err(StateError(format!("entries[{i}] must be an object")));
        };
        let wrap = |err: StateError| StateError(format!("entries[{i}]: {err}"));
        let enabled = match field(e, "enabled") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(wrap(StateError("enabled must be a boolean".into()))),
        };
        let entry = Entry {
            entry_id: string(e, "entry_id").map_err(wrap)?,
            enabled,
            agent_id: string(e, "agent_id").map_err(wrap)?,
            identity: string(e, "identity").map_err(wrap)?,
            tool_name: string(e, "tool_name").map_err(wrap)?.to_lowercase(),
            target_kind: string(e, "target_kind").map_err(wrap)?.to_lowercase(),
            target_value: string(e, "target_value").map_err(wrap)?,
            environment: string(e, "environment").map_err(wrap)?.to_lowercase(),
            path_prefixes: prefixes(e, "path_prefixes").map_err(wrap)?,
            workspace_prefixes: prefixes(e, "workspace_prefixes").map_err(wrap)?,
            expires_at: time(e, "expires_at", false).map_err(wrap)?,
        };
        time(e, "created_at", true).map_err(wrap)?;
        if !entry.target_kind.is_empty() && !TARGET_KINDS.contains(&entry.target_kind.as_str()) {
            return Err(wrap(StateError(format!(
                "unsupported target_kind {:?}",
                entry.target_kind
            ))));
        }
        let has_selector = !entry.entry_id.is_empty()
            || !entry.agent_id.is_empty()
            || !entry.identity.is_empty()
            || !entry.tool_name.is_empty()
            || !entry.target_kind.is_empty()
            || !entry.target_value.is_empty()
            || !entry.environment.is_empty()
            || !entry.path_prefixes.is_empty()
            || !entry.workspace_prefixes.is_empty();
        if !has_selector {
            return Err(wrap(StateError(
                "entry requires at least one selector".into(),
            )));
        }
        entries.push(entry);
    }
    entries.sort_by(|a, b| a.entry_id.cmp(&b.entry_id));
    Ok(State { entries })
}

/// Reads and parses the state file at `path`.
pub fn load(path: &str) -> Result<State, StateError> {
    let p = path.trim();
    let bytes = gait_sdk::fsutil::read_capped(std::path::Path::new(p), MAX_STATE_BYTES)
        .map_err(|e| StateError(format!("read kill switch state: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| StateError("read kill switch state: not UTF-8".into()))?;
    parse(&text)
}

fn under(value: &str, prefix: &str) -> bool {
    if prefix.ends_with('/') {
        return value.starts_with(prefix);
    }
    value == prefix
        || value
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Matches a prepared intent (for scripts: tool `script`, every step's targets) at `now`.
pub fn evaluate(state: &State, intent: &Intent, now: GoTime) -> Option<Match> {
    let mut targets: Vec<&crate::intent::Target> = intent.targets.iter().collect();
    if let Some(steps) = &intent.script {
        targets.extend(steps.iter().flat_map(|s| s.targets.iter()));
    }
    let c = &intent.context;
    let workspace = clean_path_pub(c.workspace.trim()).replace('\\', "/");
    let mut codes = BTreeSet::new();
    let mut ids = Vec::new();
    for e in &state.entries {
        if !e.enabled || (!e.expires_at.is_zero() && e.expires_at.timestamp() <= now.timestamp()) {
            continue;
        }
        let mut local = Vec::new();
        let mut ok = true;
        let mut check = |cond: bool, hit: bool, code: &str| {
            if cond {
                if hit {
                    local.push(code.to_string());
                } else {
                    ok = false;
                }
            }
        };
        check(
            !e.agent_id.is_empty(),
            c.agent_id == e.agent_id,
            "kill_switch_agent_id_active",
        );
        check(
            !e.identity.is_empty(),
            c.identity == e.identity,
            "kill_switch_identity_active",
        );
        check(
            !e.tool_name.is_empty(),
            intent.tool_name == e.tool_name,
            "kill_switch_tool_name_active",
        );
        check(
            !e.environment.is_empty(),
            c.environment.to_lowercase() == e.environment,
            "kill_switch_environment_active",
        );
        let wants_target = !e.target_kind.is_empty() || !e.target_value.is_empty();
        check(
            wants_target,
            targets.iter().any(|t| {
                (e.target_kind.is_empty() || t.kind == e.target_kind)
                    && (e.target_value.is_empty() || t.value == e.target_value)
            }),
            "kill_switch_target_active",
        );
        check(
            !e.path_prefixes.is_empty(),
            targets
                .iter()
                .any(|t| t.kind == "path" && e.path_prefixes.iter().any(|p| under(&t.value, p))),
            "kill_switch_path_active",
        );
        check(
            !e.workspace_prefixes.is_empty(),
            !workspace.is_empty() && e.workspace_prefixes.iter().any(|p| under(&workspace, p)),
            "kill_switch_workspace_active",
        );
        if ok {
            codes.extend(local);
            ids.push(e.entry_id.clone());
        }
    }
    if ids.is_empty() {
        return None;
    }
    codes.insert("kill_switch_active".into());
    ids.sort();
    ids.dedup();
    Some(Match {
        reason_codes: codes.into_iter().collect(),
        matched_entry_ids: ids,
    })
}

/// The decision object for the output, explain and trace.
pub fn decision(m: Option<&Match>, now: GoTime) -> Value {
    let Some(m) = m else {
        return json!({"status": "inactive", "evaluated_at": now.utc().to_rfc3339_nano()});
    };
    let code = m
        .reason_codes
        .iter()
        .find(|c| *c != "kill_switch_active")
        .cloned()
        .unwrap_or_else(|| "kill_switch_active".into());
    json!({
        "status": "active",
        "reason_code": code,
        "reason_codes": m.reason_codes,
        "matched_entry_ids": m.matched_entry_ids,
        "evaluated_at": now.utc().to_rfc3339_nano(),
    })
}

/// The decision when the state could not be read in fail-closed mode.
pub fn unavailable_decision(now: GoTime) -> Value {
    json!({
        "status": "unavailable",
        "reason_code": "kill_switch_state_unavailable",
        "reason_codes": ["kill_switch_state_unavailable"],
        "evaluated_at": now.utc().to_rfc3339_nano(),
    })
}

/// Path of the journal beside the state file.
pub fn journal_path(state_path: &str) -> std::path::PathBuf {
    let p = std::path::Path::new(state_path.trim());
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.join(JOURNAL_FILE),
        _ => std::path::PathBuf::from(JOURNAL_FILE),
    }
}

/// One journal line (without the newline).
pub fn journal_line(intent: &Intent, created_at: GoTime, trace_id: &str, m: &Match) -> String {
    let mut o = Map::new();
    o.insert("schema_id".into(), json!("gait.gate.kill_switch_journal"));
    o.insert("schema_version".into(), json!("1.0.0"));
    o.insert("created_at".into(), json!(created_at.to_rfc3339_nano()));
    o.insert(
        "producer_version".into(),
        json!(crate::trace::PRODUCER_VERSION),
    );
    o.insert("source".into(), json!("gate_eval"));
    o.insert("trace_id".into(), json!(trace_id));
    for (k, v) in [
        ("tool_name", &intent.tool_name),
        ("agent_id", &intent.context.agent_id),
        ("identity", &intent.context.identity),
    ] {
        if !v.is_empty() {
            o.insert(k.into(), json!(v));
        }
    }
    o.insert("reason_codes".into(), json!(m.reason_codes));
    o.insert("matched_entry_ids".into(), json!(m.matched_entry_ids));
    serde_json::to_string(&Value::Object(o)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#""schema_id":"gait.gate.kill_switch_state","schema_version":"1.0.0","created_at":"2026-05-01T00:00:00Z","updated_at":"2026-05-02T00:00:00Z""#;

    fn intent() -> Intent {
        Intent::parse_json(r#"{"tool_name":"tool.read","args":{},"targets":[{"kind":"path","value":"/repo/app/x","operation":"read"}],"context":{"identity":"alice","workspace":"/repo/app","risk_class":"low","environment":"PROD"}}"#)
            .unwrap()
            .normalize()
            .unwrap()
    }

    #[test]
    fn id_only_entry_matches_everything() {
        let s = parse(&format!(
            r#"{{{BASE},"entries":[{{"entry_id":"all","enabled":true,"created_at":"2026-05-01T00:00:00Z"}}]}}"#
        ))
        .unwrap();
        let m = evaluate(&s, &intent(), GoTime::now_utc()).unwrap();
        assert_eq!(m.reason_codes, vec!["kill_switch_active"]);
        assert_eq!(m.matched_entry_ids, vec!["all"]);
    }

    #[test]
    fn selectors_and_together() {
        let s = parse(&format!(
            r#"{{{BASE},"entries":[{{"entry_id":"a","enabled":true,"created_at":"2026-05-01T00:00:00Z","identity":"alice","path_prefixes":["/repo/app/"]}},{{"entry_id":"b","enabled":true,"created_at":"2026-05-01T00:00:00Z","identity":"bob"}},{{"entry_id":"c","enabled":false,"created_at":"2026-05-01T00:00:00Z"}}]}}"#
        ))
        .unwrap();
        let m = evaluate(&s, &intent(), GoTime::now_utc()).unwrap();
        assert_eq!(
            m.reason_codes,
            vec![
                "kill_switch_active",
                "kill_switch_identity_active",
                "kill_switch_path_active"
            ]
        );
        assert_eq!(m.matched_entry_ids, vec!["a"]);
    }

    #[test]
    fn bad_states_fail() {
        for e in [
            r#"{"entry_id":"x","enabled":true}"#,
            r#"{"enabled":true,"created_at":"2026-05-01T00:00:00Z"}"#,
            r#"{"entry_id":"x","enabled":true,"created_at":"2026-05-01T00:00:00Z","target_kind":"planet"}"#,
        ] {
            assert!(
                parse(&format!(r#"{{{BASE},"entries":[{e}]}}"#)).is_err(),
                "{e}"
            );
        }
        assert!(parse("{").is_err());
        assert!(parse(r#"{"entries":[]}"#).is_err());
    }
}
