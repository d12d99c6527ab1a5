//! Resume inputs that come from outside the job: the gate policy digest (computed by the gate
//! plugin through `gait policy validate`, run via the launcher) and identity revocation lists.

use gait_sdk::fsutil;
use gait_sdk::job::{clean_path, JobError};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

pub use gait_sdk::manifest::launcher;

/// The gate policy digest of a policy file, from `gait policy validate <file> --json`.
pub fn policy_digest_of(path: &str) -> Result<String, JobError> {
    let gait = launcher().ok_or_else(|| {
        JobError::Dependency(
            "--policy needs the gait launcher and the gate plugin (gait-gate) to compute the policy digest"
                .into(),
        )
    })?;
    let out = Command::new(&gait)
        .args(["policy", "validate", path, "--json"])
        .output()
        .map_err(|e| JobError::Dependency(format!("run {}: {e}", gait.display())))?;
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|_| {
        JobError::Dependency("the gate plugin did not answer `gait policy validate`".into())
    })?;
    if v["ok"] != Value::Bool(true) {
        let msg = v["error"].as_str().unwrap_or("policy validation failed");
        return Err(JobError::invalid(format!("load policy: {msg}")));
    }
    match v["policy_digest"].as_str() {
        Some(d) if !d.is_empty() => Ok(d.to_string()),
        _ => Err(JobError::Dependency(
            "`gait policy validate` returned no policy_digest".into(),
        )),
    }
}

/// The policy a submit or resume binds: (`policy_digest`, `policy_ref`).
pub fn resolve_policy(
    policy: &str,
    digest: &str,
    reference: &str,
) -> Result<(String, String), JobError> {
    let mut digest = digest.trim().to_string();
    let mut reference = reference.trim().to_string();
    let policy = policy.trim();
    if !policy.is_empty() {
        let computed = policy_digest_of(policy)?;
        if !digest.is_empty() && digest != computed {
            return Err(JobError::invalid(format!(
                "policy digest mismatch: provided={digest} computed={computed}"
            )));
        }
        digest = computed;
        if reference.is_empty() {
            reference = clean_path(Path::new(policy)).to_string_lossy().into_owned();
        }
    }
    Ok((digest, reference))
}

/// Reads a revocation list: a JSON string array, a JSON object with `revoked_identities`
/// and/or `identities`, or lines (blank and `#` lines skipped).
pub fn read_revocations(path: &str) -> Result<Vec<String>, JobError> {
    let text = fsutil::read_text_input(Path::new(path.trim()))
        .map_err(|e| JobError::invalid(format!("read identity revocations: {e}")))?;
    Ok(parse_revocations(&text))
}

pub fn parse_revocations(text: &str) -> Vec<String> {
    let clean = |items: Vec<String>| -> Vec<String> {
        items
            .into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    if text.trim().is_empty() {
        return Vec::new();
    }
    if let Ok(list) = serde_json::from_str::<Vec<String>>(text) {
        return clean(list);
    }
    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(text) {
        let mut out = Vec::new();
        let mut shaped = true;
        for key in ["revoked_identities", "identities"] {
            match m.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::Array(a)) => {
                    for item in a {
                        match item {
                            Value::String(s) => out.push(s.clone()),
                            _ => shaped = false,
                        }
                    }
                }
                Some(_) => shaped = false,
            }
        }
        if shaped {
            return clean(out);
        }
    }
    clean(
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocation_formats() {
        assert_eq!(parse_revocations("# c\nw1\n\n w2 \n"), vec!["w1", "w2"]);
        assert_eq!(parse_revocations(r#"["a", " ", "b"]"#), vec!["a", "b"]);
        assert_eq!(
            parse_revocations(r#"{"revoked_identities":["a"],"identities":["b"],"x":1}"#),
            vec!["a", "b"]
        );
        assert!(parse_revocations("  \n").is_empty());
    }
}
