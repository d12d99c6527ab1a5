//! Policy YAML: strict decoding, normalisation, the digest and `policy fmt`.
//!
//! Every input is checked twice: as policy YAML text, and (slot mode) with its first
//! character choosing a group of string-typed slots of an otherwise valid policy and the rest
//! of the input placed into them, quoted or plain, so the fuzzer reaches the string-level
//! normalisation rules directly.
//!
//! Invariants checked for every policy that parses:
//! * `format_policy` output parses again, to a policy with the same digest;
//! * formatting is idempotent: formatting the re-parsed policy gives the same text.
#![no_main]

use gait_gate::policy::{format_policy, parse_policy};
use libfuzzer_sys::fuzz_target;

fn check(text: &str) {
    let policy = match parse_policy(text) {
        Ok(p) => p,
        Err(e) => {
            // Error rendering (including the legacy migration envelope) must not panic.
            let _ = e.to_string();
            let _ = e.migration();
            return;
        }
    };
    let digest = policy.digest();
    let formatted = format_policy(&policy);
    let reparsed = parse_policy(&formatted)
        .unwrap_or_else(|e| panic!("formatted policy does not parse: {e}\n{formatted}"));
    assert_eq!(
        digest,
        reparsed.digest(),
        "formatted policy has a different digest\n{formatted}"
    );
    assert_eq!(
        formatted,
        format_policy(&reparsed),
        "policy fmt is not idempotent"
    );
}

/// YAML policies with `v` (already YAML syntax for one scalar) in each group of slots.
fn slots(v: &str) -> Vec<String> {
    let rule = |body: &str| {
        format!("default_verdict: block\nrules:\n  - name: r\n    effect: allow\n{body}")
    };
    vec![
        rule(&format!(
            "    priority: {v}\n    reason_codes: [{v}]\n    violations: [{v}]\n    broker_reference: {v}\n    allowed_credential_issuers: [{v}]\n    allowed_agent_ids: [{v}]\n"
        )),
        format!("rules:\n  - name: {v}\n    action: {v}\n"),
        rule(&format!(
            "    match:\n      tool_name: {v}\n      tool_names: [{v}]\n      target_values: [{v}]\n      identities: [{v}]\n      workspace_prefixes: [{v}]\n      destination_values: [{v}]\n      risk_classes: [{v}]\n      max_delegation_depth: {v}\n"
        )),
        rule(&format!("    match:\n      discovery_method: [{v}]\n      endpoint_class: [{v}]\n")),
        rule(&format!(
            "    sandbox:\n      allowed_writable_path_prefixes: [{v}]\n      required_read_only_roots: [{v}]\n      max_timeout_seconds: {v}\n"
        )),
        rule(&format!(
            "    endpoint:\n      path_allowlist: [{v}]\n      domain_denylist: [{v}]\n      reason_code: {v}\n      violation: {v}\n"
        )),
        rule(&format!(
            "    freeze_window:\n      timezone: {v}\n      reason: {v}\n      windows: [{{name: {v}, start: {v}, end: {v}}}]\n"
        )),
        rule(&format!(
            "    rate_limit: {{requests: {v}, window: {v}}}\n    destructive_budget: {{requests: 2, scope: {v}}}\n"
        )),
        rule(&format!(
            "    dataflow: {{destination_values: [{v}], reason_code: {v}, action: {v}}}\n"
        )),
        format!("mcp_trust:\n  snapshot: {v}\n  max_age: {v}\n  min_score: {v}\n  publisher_allowlist: [{v}]\n"),
        format!("mcp_trust:\n  snapshot: s.json\n  max_age: {v}\n"),
        format!("fail_closed:\n  enabled: true\n  risk_classes: [{v}]\nschema_version: {v}\n"),
    ]
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check(text);
    // Slot mode: the first character picks the group of slots and whether the rest of the
    // input goes in quoted or (when it has no line break) plain.
    let mut chars = text.chars();
    if let Some(first) = chars.next() {
        let rest = chars.as_str();
        let pick = first as usize;
        if rest.len() <= 1024 {
            let plain = pick % 2 == 1 && !rest.contains(['\n', '\r']);
            let value = if plain {
                rest.to_string()
            } else {
                serde_json::to_string(rest).expect("string serialises")
            };
            let all = slots(&value);
            check(&all[(pick / 2) % all.len()]);
        }
    }
});
