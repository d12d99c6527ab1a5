//! `gait doctor --production-readiness`: `.gait/config.yaml` against the oss-prod baseline
//! (`examples/config/oss_prod_template.yaml`).

use super::{sh_quote, Check};
use serde_json::Value;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;

const SCOPE: &str = "production_readiness";
const CONFIG_PATH: &str = ".gait/config.yaml";
/// Larger config files are refused unread: a project config is a few hundred bytes.
const MAX_CONFIG_BYTES: u64 = 1 << 20;
const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
const MAX_REQUEST_BYTES: i64 = 4 * 1024 * 1024;

fn text(v: &Value, section: &str, key: &str) -> String {
    match v.get(section).and_then(|s| s.get(key)) {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn boolean(v: &Value, section: &str, key: &str) -> bool {
    matches!(
        v.get(section).and_then(|s| s.get(key)),
        Some(Value::Bool(true))
    )
}

pub fn checks(workdir: &Path) -> Vec<Check> {
    let path = workdir.join(CONFIG_PATH);
    let fix_copy = format!(
        "cp examples/config/oss_prod_template.yaml {}",
        sh_quote(Path::new(CONFIG_PATH))
    );
    // A missing config is judged as an empty one, so every gap is listed at once; a config
    // that exists but cannot be read or parsed is the only thing worth reporting.
    let mut out = Vec::new();
    let raw = match gait_sdk::fsutil::read_capped(&path, MAX_CONFIG_BYTES) {
        Ok(bytes) => {
            out.push(Check::pass(
                "production_readiness_config",
                SCOPE,
                format!("project config {} loaded", path.display()),
            ));
            bytes
        }
        Err(_) if !path.exists() => {
            out.push(
                Check::fail(
                    "production_readiness_config",
                    SCOPE,
                    format!("project config {} does not exist", path.display()),
                )
                .fix(fix_copy.clone()),
            );
            Vec::new()
        }
        Err(e) => {
            return vec![Check::fail(
                "production_readiness_config",
                SCOPE,
                format!("project config {} not readable: {e}", path.display()),
            )
            .fix(fix_copy)]
        }
    };
    let config = match std::str::from_utf8(&raw)
        .map_err(|_| "not valid UTF-8".to_string())
        .and_then(|t| gait_sdk::yaml::parse_json(t).map_err(|e| e.to_string()))
    {
        Ok(Value::Null) => Value::Object(Default::default()),
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return vec![Check::fail(
                "production_readiness_config",
                SCOPE,
                format!("{} must be a YAML mapping", path.display()),
            )
            .fix(fix_copy)]
        }
        Err(e) => {
            return vec![Check::fail(
                "production_readiness_config",
                SCOPE,
                format!("parse {}: {e}", path.display()),
            )
            .fix(fix_copy)]
        }
    };
    let profile = text(&config, "gate", "profile").to_ascii_lowercase();
    out.push(if profile == "oss-prod" {
        Check::pass("production_profile", SCOPE, "gate.profile is oss-prod")
    } else {
        Check::fail(
            "production_profile",
            SCOPE,
            format!(
                "gate.profile is {:?}, production needs \"oss-prod\"",
                profile
            ),
        )
        .fix(format!("set gate.profile: oss-prod in {CONFIG_PATH}"))
    });
    let key_mode = text(&config, "gate", "key_mode").to_ascii_lowercase();
    out.push(if key_mode == "prod" {
        Check::pass("production_key_mode", SCOPE, "gate.key_mode is prod")
    } else {
        Check::fail(
            "production_key_mode",
            SCOPE,
            format!("gate.key_mode is {key_mode:?}, production needs \"prod\""),
        )
        .fix(format!("set gate.key_mode: prod in {CONFIG_PATH}"))
    });
    out.push(retention(&config));
    out.push(service_boundary(&config));
    let policy = text(&config, "gate", "policy");
    out.push(if profile == "oss-prod" && !policy.is_empty() {
        Check::pass(
            "production_context_strictness",
            SCOPE,
            format!("oss-prod with policy {policy}"),
        )
    } else {
        Check::fail(
            "production_context_strictness",
            SCOPE,
            "production needs gate.profile oss-prod and an explicit gate.policy",
        )
        .fix(format!(
            "set gate.profile: oss-prod and gate.policy: <policy.yaml> in {CONFIG_PATH}"
        ))
    });
    out
}

fn retention(config: &Value) -> Check {
    const N: &str = "production_retention";
    let mut problems = Vec::new();
    for key in ["trace_ttl", "session_ttl", "export_ttl"] {
        let v = text(config, "retention", key);
        if v.is_empty() {
            problems.push(format!("retention.{key} is missing"));
        } else if gait_sdk::time::parse_go_duration(&v).map_or(true, |n| n <= 0) {
            problems.push(format!("retention.{key} {v:?} is not a positive duration"));
        }
    }
    if problems.is_empty() {
        Check::pass(N, SCOPE, "retention TTLs set")
    } else {
        Check::fail(N, SCOPE, problems.join("; ")).fix(format!(
            "set retention.trace_ttl, session_ttl and export_ttl (e.g. 168h) in {CONFIG_PATH}"
        ))
    }
}

fn is_loopback(addr: &str) -> bool {
    let host = match addr.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
        None => return false,
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The MCP service boundary: loopback, or a token-authenticated listener; bounded requests;
/// strict HTTP verdict statuses; no client-chosen artifact paths.
fn service_boundary(config: &Value) -> Check {
    const N: &str = "production_service_boundary";
    let enabled = boolean(config, "mcp_serve", "enabled");
    let listen = text(config, "mcp_serve", "listen");
    if !enabled && listen.is_empty() {
        return Check::pass(N, SCOPE, "mcp_serve not configured");
    }
    let listen = if listen.is_empty() {
        DEFAULT_LISTEN.to_string()
    } else {
        listen
    };
    let fix =
        format!("align mcp_serve with examples/config/oss_prod_template.yaml in {CONFIG_PATH}");
    let parses = listen.parse::<SocketAddr>().is_ok()
        || (listen
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
            && listen.to_socket_addrs().is_ok());
    if !parses {
        return Check::fail(
            N,
            SCOPE,
            format!("mcp_serve.listen {listen:?} is not host:port"),
        )
        .fix(fix);
    }
    let auth_mode = text(config, "mcp_serve", "auth_mode").to_ascii_lowercase();
    let mut problems = Vec::new();
    if !is_loopback(&listen) && auth_mode != "token" {
        problems.push(format!(
            "non-loopback listen {listen} needs mcp_serve.auth_mode: token"
        ));
    }
    if auth_mode == "token" && text(config, "mcp_serve", "auth_token_env").is_empty() {
        problems.push("auth_mode token needs mcp_serve.auth_token_env".to_string());
    }
    if boolean(config, "mcp_serve", "allow_client_artifact_paths") {
        problems.push("mcp_serve.allow_client_artifact_paths must be false".to_string());
    }
    let max = text(config, "mcp_serve", "max_request_bytes")
        .parse::<i64>()
        .unwrap_or(0);
    if !(1..=MAX_REQUEST_BYTES).contains(&max) {
        problems.push(format!(
            "mcp_serve.max_request_bytes must be 1..{MAX_REQUEST_BYTES}"
        ));
    }
    let status = text(config, "mcp_serve", "http_verdict_status").to_ascii_lowercase();
    if status != "strict" {
        problems.push(format!(
            "mcp_serve.http_verdict_status is {status:?}, production needs \"strict\""
        ));
    }
    if problems.is_empty() {
        Check::pass(N, SCOPE, format!("mcp_serve boundary ok (listen={listen})"))
    } else {
        Check::fail(N, SCOPE, problems.join("; ")).fix(fix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = include_str!("../../../examples/config/oss_prod_template.yaml");

    fn run(config: Option<&str>) -> Vec<Check> {
        let dir = tempfile::tempdir().unwrap();
        if let Some(c) = config {
            std::fs::create_dir_all(dir.path().join(".gait")).unwrap();
            std::fs::write(dir.path().join(CONFIG_PATH), c).unwrap();
        }
        checks(dir.path())
    }

    #[test]
    fn the_shipped_template_is_production_ready() {
        let checks = run(Some(TEMPLATE));
        assert_eq!(checks.len(), 6);
        for c in &checks {
            assert_eq!(c.status, super::super::Status::Pass, "{c:?}");
        }
    }

    #[test]
    fn missing_config_is_judged_as_empty() {
        let checks = run(None);
        assert_eq!(checks.len(), 6);
        let failed = checks
            .iter()
            .filter(|c| c.status == super::super::Status::Fail)
            .count();
        assert_eq!(failed, 5);
        assert_eq!(checks[0].name, "production_readiness_config");
        assert_eq!(
            checks[0].fix_command.as_deref(),
            Some("cp examples/config/oss_prod_template.yaml '.gait/config.yaml'")
        );
    }

    #[test]
    fn an_empty_config_fails_five_checks_and_passes_the_boundary() {
        let checks = run(Some(""));
        let failed: Vec<&str> = checks
            .iter()
            .filter(|c| c.status == super::super::Status::Fail)
            .map(|c| c.name)
            .collect();
        assert_eq!(
            failed,
            [
                "production_profile",
                "production_key_mode",
                "production_retention",
                "production_context_strictness"
            ]
        );
        assert!(checks
            .iter()
            .any(|c| c.name == "production_service_boundary"
                && c.message == "mcp_serve not configured"));
    }

    #[test]
    fn exposed_listener_without_token_fails() {
        let c = TEMPLATE
            .replace("127.0.0.1:8787", "0.0.0.0:8787")
            .replace("auth_mode: token", "auth_mode: none");
        let checks = run(Some(&c));
        let boundary = checks
            .iter()
            .find(|c| c.name == "production_service_boundary")
            .unwrap();
        assert_eq!(boundary.status, super::super::Status::Fail);
        assert!(
            boundary.message.contains("auth_mode: token"),
            "{boundary:?}"
        );
    }

    #[test]
    fn bad_yaml_is_reported_not_fatal() {
        let checks = run(Some("gate: [unclosed\n"));
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].status, super::super::Status::Fail);
    }
}
