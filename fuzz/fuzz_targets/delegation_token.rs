//! Delegation token file (gate-extended §3.2): decoding, normalisation, signing and
//! verification.
//!
//! Invariants checked for every token that decodes:
//! * normalisation is idempotent;
//! * writing a normalised token (`to_value`) and decoding it again gives the same
//!   normalised token;
//! * a normalised token signed with the test key passes `check_token` with no expectations
//!   at a time before its expiry (and after a write/read round trip);
//! * checking the token with its own (possibly bogus) signature never panics.
#![no_main]

use gait_gate::delegation::{check_token, DelegationToken, Expect};
use gait_sdk::signing::KeyPair;
use libfuzzer_sys::fuzz_target;

/// A fixed Ed25519 test key (the conformance corpus's `k_private.key`).
const TEST_KEY: &str =
    "Y7C3PqMS2UIFvq7M17jIJk62gKoxRAv2I6DKm4E4jj2XfmWXzz2byV1IWZisPoSSbSDycg6GwGC7E+Pfs5oWLA==";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(token) = DelegationToken::parse(text) else {
        return;
    };
    let key = KeyPair::from_base64(TEST_KEY).expect("test key");
    let public = key.public();
    let none = Expect {
        delegator: "",
        delegate: "",
        scopes: &[],
        intent_digest: "",
        policy_digest: "",
    };
    let _ = check_token(&token, Some(&public), &none, token.created_at);
    let Some(n) = token.normalized() else {
        return;
    };
    assert_eq!(
        n.normalized().as_ref(),
        Some(&n),
        "normalisation is idempotent"
    );
    let written = n.to_value().to_string();
    let back = DelegationToken::parse(&written)
        .unwrap_or_else(|e| panic!("written token does not decode: {e}\n{written}"));
    let back_n = back.normalized().expect("written token normalises");
    assert_eq!(back_n.projection(), n.projection(), "token round-trips");
    if n.created_at >= n.expires_at {
        return;
    }
    let mut signed = n.clone();
    let Ok(sig) = key.sign_value(&signed.projection()) else {
        return;
    };
    signed.signature = Some(sig);
    check_token(&signed, Some(&public), &none, signed.created_at)
        .unwrap_or_else(|f| panic!("signed token fails: {} {}", f.code, f.message));
    let again = DelegationToken::parse(&signed.to_value().to_string()).expect("re-decodes");
    check_token(&again, Some(&public), &none, signed.created_at).unwrap_or_else(|f| {
        panic!(
            "signed token fails after round trip: {} {}",
            f.code, f.message
        )
    });
});
