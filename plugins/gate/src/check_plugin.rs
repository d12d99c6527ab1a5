//! Custom gate checks as dynamic plugins: `gait gate eval --check-plugin <lib>` (repeatable).
//!
//! Each library is loaded in process through [`gait_sdk::dynamic::DynamicPlugin`], which
//! refuses it unless `<lib>.minisig` verifies with a key from the trust store
//! (`$GAIT_TRUST_DIR`, else `~/.gait/trust`) or from `--check-plugin-trust-key`. The check
//! receives, once, the policy's decision:
//!
//! ```json
//! {"abi":1,"tool_name":"…","intent":{…normalized intent…},"verdict":"allow","reason_codes":[…]}
//! ```
//!
//! and answers `{"verdict":"allow"|"block"|"require_approval"|"dry_run","reason_codes":[…]}`.
//!
//! Checks can only tighten: the decision becomes the most restrictive of the policy's verdict
//! and every check's verdict. Their reason codes are recorded with the prefix `check_plugin:`
//! (a non-`allow` verdict without codes records `check_plugin:<verdict>`). Any failure —
//! unsigned, untrusted key, tampered library, wrong ABI, panic, error return, malformed
//! answer, unreadable trust store — fails closed: the verdict becomes `block` with reason code
//! `check_plugin_failed`, and the failure kind is recorded. The trace schema has no
//! `reason_codes` member and admits no new members, so the trace records all of this in
//! `violations` (`check_plugin:<code>`, `check_plugin_failed`, `check_plugin_failed:<kind>`);
//! the command's output also lists each plugin under `check_plugins` and the first failure's
//! message as `check_plugin_error`.
//!
//! Nothing here runs, and the trust store is not read, unless a check plugin is given.

use crate::error::GateError;
use crate::eval::{max_verdict, Evaluation};
use crate::intent::Intent;
use gait_sdk::dynamic::{DynamicError, DynamicPlugin};
use gait_sdk::trust::{TrustStore, TrustedKey};
use serde_json::{json, Map, Value};
use std::path::Path;

/// Version of the check input document (`"abi"` member).
pub const CHECK_INPUT_ABI: u32 = 1;
/// Prefix of reason codes that come from a check plugin.
pub const REASON_PREFIX: &str = "check_plugin:";
/// Reason code of any check plugin failure.
pub const FAILED: &str = "check_plugin_failed";
/// Most reason codes accepted from one check.
const MAX_CODES: usize = 64;
/// Longest reason code accepted from a check.
const MAX_CODE_LEN: usize = 128;

const VERDICTS: [&str; 4] = ["allow", "block", "require_approval", "dry_run"];

/// What the checks did, for the command output.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// One object per plugin, in the order given.
    pub plugins: Vec<Value>,
    /// The first failure's message.
    pub error: Option<String>,
}

impl CheckReport {
    /// Adds `check_plugins` (and `check_plugin_error`) to the JSON output and a line per
    /// plugin to the text output.
    pub fn render(&self, out: &mut Map<String, Value>, text: &mut String) {
        out.insert("check_plugins".into(), Value::Array(self.plugins.clone()));
        if let Some(e) = &self.error {
            out.insert("check_plugin_error".into(), json!(e));
        }
        for p in &self.plugins {
            let path = p["path"].as_str().unwrap_or("");
            match p["error"].as_str() {
                Some(e) => text.push_str(&format!("check plugin: {path} failed: {e}\n")),
                None => text.push_str(&format!(
                    "check plugin: {path} verdict={}\n",
                    p["verdict"].as_str().unwrap_or("")
                )),
            }
        }
    }
}

/// Why one check failed (before the failure is turned into a `block`).
#[derive(Debug)]
struct Failure {
    kind: &'static str,
    message: String,
}

impl From<DynamicError> for Failure {
    fn from(e: DynamicError) -> Self {
        Failure {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

/// Validates the check flags before anything is evaluated (bad flags are input errors, exit
/// 6), and parses the extra trust keys.
pub fn parse_flags(paths: &[String], trust_keys: &[String]) -> Result<Vec<TrustedKey>, GateError> {
    if paths.is_empty() {
        if !trust_keys.is_empty() {
            return Err(GateError::invalid(
                "--check-plugin-trust-key needs --check-plugin <library> (it only trusts check plugins)",
            ));
        }
        return Ok(Vec::new());
    }
    if paths.iter().any(|p| p.trim().is_empty()) {
        return Err(GateError::invalid(
            "--check-plugin needs the path of a signed check plugin library",
        ));
    }
    trust_keys
        .iter()
        .map(|k| {
            TrustedKey::from_arg(k).map_err(|e| {
                GateError::invalid(format!(
                    "invalid --check-plugin-trust-key: {e} (expected a minisign public key file or its base64 key line)"
                ))
            })
        })
        .collect()
}

fn valid_code(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= MAX_CODE_LEN
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:-".contains(&b))
}

/// Strictly decodes a check's answer: exactly `verdict` and optional `reason_codes`.
fn parse_answer(v: &Value) -> Result<(String, Vec<String>), Failure> {
    let bad = |m: String| Failure {
        kind: "bad_answer",
        message: format!("check answer: {m}"),
    };
    let obj = v
        .as_object()
        .ok_or_else(|| bad("not a JSON object".into()))?;
    if let Some(k) = obj.keys().find(|k| *k != "verdict" && *k != "reason_codes") {
        return Err(bad(format!("unknown member {k:?}")));
    }
    let verdict = obj
        .get("verdict")
        .and_then(Value::as_str)
        .filter(|v| VERDICTS.contains(v))
        .ok_or_else(|| {
            bad(format!(
                "verdict must be one of allow, block, require_approval, dry_run, got {}",
                obj.get("verdict").unwrap_or(&Value::Null)
            ))
        })?;
    let mut codes = Vec::new();
    match obj.get("reason_codes") {
        None => {}
        Some(Value::Array(items)) => {
            if items.len() > MAX_CODES {
                return Err(bad(format!("more than {MAX_CODES} reason codes")));
            }
            for item in items {
                match item.as_str() {
                    Some(c) if valid_code(c) => codes.push(c.to_string()),
                    _ => {
                        return Err(bad(format!(
                            "reason code {item} is not a lower-case code ([a-z0-9_.:-], at most {MAX_CODE_LEN} bytes)"
                        )))
                    }
                }
            }
        }
        Some(other) => return Err(bad(format!("reason_codes must be an array, got {other}"))),
    }
    Ok((verdict.to_string(), codes))
}

/// The document every check receives.
fn check_input(intent: &Intent, ev: &Evaluation) -> Value {
    json!({
        "abi": CHECK_INPUT_ABI,
        "tool_name": intent.tool_name,
        "intent": intent.digest_projection(),
        "verdict": ev.verdict,
        "reason_codes": ev.reason_codes,
    })
}

/// Runs every check plugin on the policy's evaluation and folds the results into `ev`
/// (verdict, reason codes, violations). `extra_keys` come from [`parse_flags`]. Never returns
/// an error for a plugin problem: those block.
pub fn apply(
    paths: &[String],
    extra_keys: Vec<TrustedKey>,
    intent: &Intent,
    ev: &mut Evaluation,
) -> CheckReport {
    if paths.is_empty() {
        return CheckReport::default();
    }
    let store = TrustStore::load_default()
        .map(|mut s| {
            for k in extra_keys {
                s.add(k);
            }
            s
        })
        .map_err(|e| e.to_string());
    apply_with(paths, &store, intent, ev)
}

fn apply_with(
    paths: &[String],
    store: &Result<TrustStore, String>,
    intent: &Intent,
    ev: &mut Evaluation,
) -> CheckReport {
    let mut report = CheckReport::default();
    let input = check_input(intent, ev);
    let mut verdict = ev.verdict.clone();
    let mut reasons = Vec::new();
    let mut violations = Vec::new();
    for path in paths {
        let mut entry = Map::new();
        entry.insert("path".into(), json!(path));
        let result = match store {
            Err(e) => Err(Failure {
                kind: "trust_store",
                message: format!("trust store: {e}"),
            }),
            Ok(store) => run_one(Path::new(path), store, &input, &mut entry),
        };
        match result {
            Ok((v, codes)) => {
                let mut codes: Vec<String> = codes
                    .iter()
                    .map(|c| format!("{REASON_PREFIX}{c}"))
                    .collect();
                if codes.is_empty() && v != "allow" {
                    codes.push(format!("{REASON_PREFIX}{v}"));
                }
                verdict = max_verdict(&verdict, &v);
                entry.insert("status".into(), json!("ok"));
                entry.insert("verdict".into(), json!(v));
                entry.insert("reason_codes".into(), json!(codes));
                reasons.extend(codes.iter().cloned());
                violations.extend(codes);
            }
            Err(f) => {
                verdict = "block".into();
                entry.insert("status".into(), json!("failed"));
                entry.insert("error_kind".into(), json!(f.kind));
                entry.insert("error".into(), json!(f.message));
                if report.error.is_none() {
                    report.error = Some(if f.message.contains(path.as_str()) {
                        f.message.clone()
                    } else {
                        format!("{path}: {}", f.message)
                    });
                }
                reasons.push(FAILED.to_string());
                violations.push(FAILED.to_string());
                violations.push(format!("{FAILED}:{}", f.kind));
            }
        }
        report.plugins.push(Value::Object(entry));
    }
    ev.verdict = verdict;
    ev.reason_codes.extend(reasons);
    ev.violations.extend(violations);
    report
}

fn run_one(
    path: &Path,
    store: &TrustStore,
    input: &Value,
    entry: &mut Map<String, Value>,
) -> Result<(String, Vec<String>), Failure> {
    let plugin = DynamicPlugin::load(path, store)?;
    entry.insert("sha256".into(), json!(plugin.sha256()));
    entry.insert("key_id".into(), json!(plugin.key_id()));
    let answer = plugin.call(input)?;
    parse_answer(&answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_decoded_strictly() {
        let ok = parse_answer(&json!({"verdict": "block", "reason_codes": ["a_b", "x:y"]}));
        assert_eq!(
            ok.unwrap(),
            ("block".into(), vec!["a_b".into(), "x:y".into()])
        );
        assert!(parse_answer(&json!({"verdict": "allow"})).is_ok());
        for bad in [
            json!("block"),
            json!({}),
            json!({"verdict": "Block"}),
            json!({"verdict": " block"}),
            json!({"verdict": "deny"}),
            json!({"verdict": "allow", "extra": 1}),
            json!({"verdict": "allow", "reason_codes": "x"}),
            json!({"verdict": "allow", "reason_codes": [1]}),
            json!({"verdict": "allow", "reason_codes": ["Upper"]}),
            json!({"verdict": "allow", "reason_codes": [""]}),
            json!({"verdict": "allow", "reason_codes": ["x".repeat(129)]}),
        ] {
            let e = parse_answer(&bad).expect_err("refused");
            assert_eq!(e.kind, "bad_answer", "{bad}");
        }
    }

    #[test]
    fn flags_are_checked() {
        assert!(parse_flags(&[], &[]).unwrap().is_empty());
        assert!(parse_flags(&[], &["k".into()]).is_err());
        assert!(parse_flags(&[" ".into()], &[]).is_err());
        assert!(parse_flags(&["x.so".into()], &["not a key".into()]).is_err());
    }

    #[test]
    fn failures_block_and_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("libmissing.so");
        let mut ev = Evaluation {
            verdict: "allow".into(),
            reason_codes: vec!["default_allow".into()],
            ..Default::default()
        };
        let intent = Intent {
            tool_name: "tool.read".into(),
            ..Default::default()
        };
        let store = Ok(TrustStore::default());
        let report = apply_with(&[lib.display().to_string()], &store, &intent, &mut ev);
        assert_eq!(ev.verdict, "block");
        assert!(ev.reason_codes.contains(&FAILED.to_string()));
        assert!(ev.violations.contains(&format!("{FAILED}:unsigned")));
        assert_eq!(report.plugins[0]["error_kind"], "unsigned");
        assert!(report.error.unwrap().contains("not signed"));

        let mut ev = Evaluation {
            verdict: "require_approval".into(),
            ..Default::default()
        };
        let store = Err("broken".to_string());
        let report = apply_with(&["a.so".into(), "b.so".into()], &store, &intent, &mut ev);
        assert_eq!(ev.verdict, "block");
        assert_eq!(report.plugins.len(), 2);
        assert_eq!(report.plugins[1]["error_kind"], "trust_store");
    }
}
