//! Rate limits and destructive budgets: counters in a JSON state file, updated under the
//! reference's lock-file protocol and written atomically.

use crate::error::GateError;
use crate::policy::RateLimit;
use gait_sdk::fsutil::{self, LockError, LockFile};
use gait_sdk::gojson::GoValue;
use gait_sdk::time::GoTime;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

pub const DEFAULT_STATE_PATH: &str = ".gait-out/gate_rate_limits.json";

/// The outcome of charging one request against a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitOutcome {
    pub allowed: bool,
    pub scope: String,
    pub key: String,
    pub used: i64,
    pub remaining: i64,
}

fn bucket(now: GoTime, window: &str) -> String {
    let secs = now.timestamp().as_second();
    let unit = if window == "hour" { 3600 } else { 60 };
    let truncated = secs - secs.rem_euclid(unit);
    GoTime::from_timestamp(jiff::Timestamp::from_second(truncated).expect("in range")).to_rfc3339()
}

/// Charges one request for `tool`/`identity` against `limit` in the state file at `path`.
pub fn charge(
    path: &str,
    limit: &RateLimit,
    tool: &str,
    identity: &str,
    now: GoTime,
) -> Result<LimitOutcome, GateError> {
    let scope_key = match limit.scope.as_str() {
        "tool" => tool.to_string(),
        "identity" => identity.to_string(),
        _ => format!("{tool}|{identity}"),
    };
    let b = bucket(now, &limit.window);
    let counter_key = format!("{}|{}|{}|{}", limit.window, limit.scope, b, scope_key);
    let state_path = Path::new(path);
    // Unlike the reference, create the state directory first so the default path works on a
    // fresh checkout (documented in docs/compatibility.md).
    if let Some(parent) = state_path.parent() {
        fsutil::create_dir_all_mode(parent, 0o750)
            .map_err(|e| GateError::Io(format!("create rate limit state dir: {e}")))?;
    }
    let lock_path = format!("{path}.lock");
    let lock_body = serde_json::to_vec(&json!({
        "schema_id": "gait.gate.rate_limit_lock", "schema_version": "1.0.0",
        "pid": std::process::id(), "created_at": GoTime::now_utc().to_rfc3339_nano()
    }))
    .expect("lock body serialises");
    let _lock = LockFile::acquire(
        Path::new(&lock_path),
        &lock_body,
        Duration::from_secs(3),
        Duration::from_millis(15),
        Duration::from_secs(15),
    )
    .map_err(|e| match e {
        LockError::Timeout => GateError::Contention("acquire rate limit lock: timeout".into()),
        LockError::Io { .. } => GateError::Io(format!("acquire rate limit lock: {e}")),
    })?;
    let mut counters: BTreeMap<String, i64> = BTreeMap::new();
    match fsutil::read_text_input(state_path) {
        Ok(text) => {
            let v = GoValue::parse(&text)
                .map_err(|e| GateError::invalid(format!("parse rate limit state: {e}")))?;
            for c in v
                .array_field("counters", "state")
                .map_err(|e| GateError::invalid(format!("parse rate limit state: {e}")))?
            {
                let key = c.str_field("key", "counter").unwrap_or_default();
                let count = c.int_field("count", "counter").unwrap_or(0);
                counters.insert(key, count);
            }
        }
        Err(fsutil::ReadError::Io(_)) if !state_path.exists() => {}
        Err(e) => return Err(GateError::invalid(format!("read rate limit state: {e}"))),
    }
    let window_prefix = format!("{}|", limit.window);
    counters.retain(|k, _| {
        let parts: Vec<&str> = k.split('|').collect();
        if parts.len() < 4 {
            return false;
        }
        // Same window, other bucket: expired.
        !(k.starts_with(&window_prefix) && parts[2] != b)
    });
    let used = counters.get(&counter_key).copied().unwrap_or(0);
    let outcome = if used >= limit.requests {
        LimitOutcome {
            allowed: false,
            scope: limit.scope.clone(),
            key: scope_key,
            used,
            remaining: 0,
        }
    } else {
        counters.insert(counter_key, used + 1);
        LimitOutcome {
            allowed: true,
            scope: limit.scope.clone(),
            key: scope_key,
            used: used + 1,
            remaining: limit.requests - used - 1,
        }
    };
    let list: Vec<Value> = counters
        .iter()
        .filter(|(_, c)| **c > 0)
        .map(|(k, c)| json!({"key": k, "count": c}))
        .collect();
    let state = json!({"schema_id": "gait.gate.rate_limit_state", "schema_version": "1.0.0", "counters": list});
    fsutil::write_atomic(
        state_path,
        gait_sdk::output::to_json_pretty(&state).as_bytes(),
        0o600,
    )
    .map_err(|e| GateError::Io(format!("write rate limit state: {e}")))?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_request_over_limit_is_denied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.json");
        let p = path.to_str().unwrap();
        let limit = RateLimit {
            requests: 1,
            window: "minute".into(),
            scope: "tool_identity".into(),
        };
        let now = GoTime::parse_rfc3339("2026-11-24T16:43:12Z").unwrap();
        let first = charge(p, &limit, "tool.write", "u", now).unwrap();
        assert!(first.allowed);
        assert_eq!(first.key, "tool.write|u");
        let second = charge(p, &limit, "tool.write", "u", now).unwrap();
        assert!(!second.allowed);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("minute|tool_identity|2026-11-24T16:43:00Z|tool.write|u"));
        let later = GoTime::parse_rfc3339("2026-11-24T16:44:01Z").unwrap();
        assert!(charge(p, &limit, "tool.write", "u", later).unwrap().allowed);
    }
}
