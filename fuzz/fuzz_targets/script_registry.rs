//! Approved-script registry file (gate-extended §1.5–§1.6): parsing, normalisation,
//! signing and verification of entries.
//!
//! Invariants checked for every registry that parses:
//! * a parsed entry written back (`to_value`) re-parses to an equal entry (what
//!   `approve-script` writes, `gate eval` reads back unchanged);
//! * an entry signed over its projection verifies (before its expiry), also after a
//!   write/read round trip;
//! * verifying an entry with its own (possibly bogus) signature never panics.
#![no_main]

use gait_gate::registry::{parse, Entry};
use gait_sdk::signing::KeyPair;
use gait_sdk::time::GoTime;
use libfuzzer_sys::fuzz_target;

/// A fixed Ed25519 test key (the conformance corpus's `k_private.key`).
const TEST_KEY: &str =
    "Y7C3PqMS2UIFvq7M17jIJk62gKoxRAv2I6DKm4E4jj2XfmWXzz2byV1IWZisPoSSbSDycg6GwGC7E+Pfs5oWLA==";

fn round_trip(e: &Entry) -> Entry {
    let v = serde_json::to_value(e.to_value()).expect("entry serialises");
    Entry::from_value(&v).unwrap_or_else(|m| panic!("written entry does not parse: {m}\n{v}"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(entries) = parse(text) else {
        return;
    };
    let key = KeyPair::from_base64(TEST_KEY).expect("test key");
    let public = key.public();
    for e in entries {
        let _ = e.verify(&public, e.created_at);
        let again = round_trip(&e);
        assert_eq!(again.signature.is_some(), e.signature.is_some());
        let mut signed = e.clone();
        signed.signature = None;
        if signed.sign(&key).is_err() {
            continue;
        }
        signed
            .verify(&public, signed.created_at)
            .unwrap_or_else(|m| panic!("freshly signed entry does not verify: {m}"));
        let back = round_trip(&signed);
        assert_eq!(
            back.projection(),
            signed.projection(),
            "projection round-trips"
        );
        back.verify(&public, signed.created_at)
            .unwrap_or_else(|m| panic!("signed entry does not verify after round trip: {m}"));
    }
});
