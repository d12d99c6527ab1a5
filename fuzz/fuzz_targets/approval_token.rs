//! Approval token JSON: decoding, normalisation, signing and verification.
//!
//! Every input is checked twice: as token JSON text, and (slot mode) with its first character
//! choosing a group of string-typed slots of an otherwise valid token and the rest of the
//! input placed into them.
//!
//! Invariants checked for every token that decodes:
//! * the token file format round-trips: writing `to_value()` and decoding it again gives an
//!   equal token (what `gait approve` writes, `gate eval` must read back unchanged);
//! * normalisation is idempotent;
//! * a token signed over its normalised projection verifies: `check_token` against a context
//!   built from the token itself never reports a signature, digest, binding, scope or limit
//!   failure, both for the token as decoded and after a write/read round trip;
//! * checking the original token (with its own signature) against that context never panics.
#![no_main]

use gait_gate::approval::{check_token, ApprovalToken, TokenContext};
use gait_sdk::signing::KeyPair;
use gait_sdk::time::GoTime;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

/// A fixed Ed25519 test key (seed ‖ public, the conformance corpus's `k_private.key`), so
/// every finding reproduces.
const TEST_KEY: &str =
    "Y7C3PqMS2UIFvq7M17jIJk62gKoxRAv2I6DKm4E4jj2XfmWXzz2byV1IWZisPoSSbSDycg6GwGC7E+Pfs5oWLA==";

fn round_trip(t: &ApprovalToken) -> ApprovalToken {
    let text = serde_json::to_string(&t.to_value()).expect("token serialises");
    ApprovalToken::parse(&text)
        .unwrap_or_else(|e| panic!("written token does not decode: {e}\n{text}"))
}

/// Valid tokens with `s` in each group of string slots.
fn slots(s: &str) -> Vec<String> {
    let base = || {
        json!({"schema_id": "gait.gate.approval_token", "schema_version": "1.0.0",
               "created_at": "2026-01-01T00:00:00Z", "expires_at": "2099-01-01T00:00:00Z",
               "token_id": "t", "approver_identity": "a", "reason_code": "r",
               "intent_digest": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
               "policy_digest": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
               "scope": ["tool:x"]})
    };
    let groups: [&[&str]; 6] = [
        &[
            "token_id",
            "approver_identity",
            "reason_code",
            "producer_version",
        ],
        &["created_at"],
        &["expires_at"],
        &[
            "intent_digest",
            "policy_digest",
            "delegation_binding_digest",
        ],
        &["schema_id", "schema_version"],
        &["scope"],
    ];
    groups
        .iter()
        .map(|fields| {
            let mut t = base();
            for f in *fields {
                t[*f] = if *f == "scope" {
                    json!([s, "x"])
                } else {
                    json!(s)
                };
            }
            t.to_string()
        })
        .collect()
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

fn check(text: &str) {
    let Ok(token) = ApprovalToken::parse(text) else {
        return;
    };
    assert_eq!(round_trip(&token), token, "token file does not round-trip");

    let n = token.normalized();
    assert_eq!(n.normalized(), n, "token normalisation is not idempotent");

    let key = KeyPair::from_base64(TEST_KEY).expect("test key");
    let public = key.public();
    let ctx = |t: &ApprovalToken| -> (String, String, String, Vec<String>, i64, i64) {
        (
            t.intent_digest.clone(),
            t.policy_digest.clone(),
            t.delegation_binding_digest.clone(),
            t.scope.clone(),
            t.max_targets,
            t.max_ops,
        )
    };
    let (intent, policy, binding, scope, max_targets, max_ops) = ctx(&n);
    let context = TokenContext {
        intent_digest: &intent,
        policy_digest: &policy,
        delegation_binding: Some(&binding),
        required_scope: &scope,
        target_count: max_targets,
        op_count: max_ops,
        now: GoTime::zero(),
        key: &public,
    };

    // The token as decoded, with whatever signature it carried: must not panic.
    let _ = check_token(&token, &context);

    let sig = key.sign_value(&n.projection()).expect("projection signs");
    let mut signed = token.clone();
    signed.signature = Some(sig.clone());
    let mut signed_n = n.clone();
    signed_n.signature = Some(sig);

    let verdict = check_token(&signed_n, &context);
    assert!(
        matches!(
            verdict,
            None | Some("approval_token_invalid") | Some("approval_token_expired")
        ),
        "self-signed normalised token fails with {verdict:?}"
    );
    assert_eq!(
        check_token(&signed, &context),
        verdict,
        "checking depends on normalisation"
    );
    let reread = round_trip(&signed);
    assert_eq!(
        check_token(&reread, &context),
        verdict,
        "written and re-read token checks differently"
    );
}
