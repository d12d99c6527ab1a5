//! Intent JSON: decoding, normalisation and the digest projections.
//!
//! Every input is checked twice: as intent JSON text, and (slot mode) with its first
//! character choosing a group of string-typed slots of an otherwise valid intent and the rest
//! of the input placed into them, so the fuzzer reaches the string-level normalisation rules
//! without first having to build a whole valid intent.
//!
//! Invariants checked for every intent that decodes and normalises:
//! * normalisation is idempotent: `normalize(normalize(x)) == normalize(x)`, with equal
//!   `intent_digest`, `args_digest`, `targets_digest` and delegation binding digest;
//! * the digest projection is itself a valid intent describing the same request: serialising
//!   it, decoding and normalising again yields the same `intent_digest`.
#![no_main]

use gait_gate::intent::Intent;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fn check(text: &str) {
    let Ok(intent) = Intent::parse_json(text) else {
        return;
    };
    let _ = intent.raw_risk_class();
    let Ok(once) = intent.normalize() else {
        return;
    };
    let digest = once.intent_digest();
    let args = once.args_digest();
    let targets = once.targets_digest();
    let binding = once.delegation_binding_digest();
    let _ = once.is_destructive();

    let twice = once
        .normalize()
        .unwrap_or_else(|e| panic!("normalised intent fails to normalise again: {e}\n{once:#?}"));
    assert_eq!(once, twice, "normalisation is not idempotent");
    assert_eq!(digest, twice.intent_digest(), "intent_digest changed");
    assert_eq!(args, twice.args_digest(), "args_digest changed");
    assert_eq!(targets, twice.targets_digest(), "targets_digest changed");
    assert_eq!(binding, twice.delegation_binding_digest());

    let projection = serde_json::to_string(&once.digest_projection()).expect("projection");
    let again = Intent::parse_json(&projection)
        .unwrap_or_else(|e| panic!("projection does not decode: {e}\n{projection}"))
        .normalize()
        .unwrap_or_else(|e| panic!("projection does not normalise: {e}\n{projection}"));
    assert_eq!(
        digest,
        again.intent_digest(),
        "projection re-decodes to a different digest\n{projection}"
    );
}

/// A valid intent with `extra` merged into the top level and `context` into the context.
fn intent_with(extra: Value, context: Value) -> String {
    let mut ctx = json!({"identity": "u", "workspace": "/w", "risk_class": "low"});
    if let (Value::Object(c), Value::Object(add)) = (&mut ctx, context) {
        c.extend(add);
    }
    let mut root = json!({"tool_name": "tool.write", "context": ctx});
    if let (Value::Object(r), Value::Object(add)) = (&mut root, extra) {
        r.extend(add);
    }
    root.to_string()
}

fn slots(s: &str) -> Vec<String> {
    let none = || json!({});
    vec![
        intent_with(
            json!({"tool_name": s, "args": {s: s, "n": [s, {"k": s}]}}),
            none(),
        ),
        intent_with(
            json!({"targets": [{"kind": "host", "value": s}, {"kind": "url", "value": s}, {"kind": "path", "value": s}]}),
            none(),
        ),
        intent_with(
            json!({"targets": [{"kind": "path", "value": "/x", "operation": s, "sensitivity": s}]}),
            none(),
        ),
        intent_with(
            json!({"targets": [{"kind": "other", "value": "x", "discovery_method": s}]}),
            none(),
        ),
        intent_with(
            json!({"targets": [{"kind": "host", "value": "x", "endpoint_domain": s, "endpoint_class": "net.http"}]}),
            none(),
        ),
        intent_with(
            json!({"arg_provenance": [{"arg_path": s, "source": "user", "source_ref": s}]}),
            none(),
        ),
        intent_with(
            json!({"script": {"steps": [{"tool_name": s, "args": {s: s}, "targets": [{"kind": "path", "value": s}]}]}}),
            none(),
        ),
        intent_with(
            json!({"skill_provenance": {"skill_name": s, "source": "registry", "publisher": s, "skill_version": s}}),
            none(),
        ),
        intent_with(
            json!({"delegation": {"requester_identity": "b", "scope_class": s, "token_refs": [s], "issued_at": s,
                   "chain": [{"delegator_identity": "a", "delegate_identity": "b", "expires_at": s}]}}),
            none(),
        ),
        intent_with(
            json!({}),
            json!({"identity": s, "workspace": s, "credential_scopes": [s], "context_refs": [s], "auth_context": {s: s}}),
        ),
        intent_with(
            json!({}),
            json!({"sandbox": {"writable_paths": [s], "read_only_roots": [s, "/usr"], "evidence_ref": s}}),
        ),
        intent_with(
            json!({}),
            json!({"agent_identity": {"lifecycle_states": [s], "owner": s, "issued_at": s, "expires_at": s}}),
        ),
    ]
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check(text);
    // Slot mode: the first character picks the group of slots, the rest is the string.
    let mut chars = text.chars();
    if let Some(first) = chars.next() {
        let rest = chars.as_str();
        if rest.len() <= 1024 {
            let all = slots(rest);
            check(&all[first as usize % all.len()]);
        }
    }
});
