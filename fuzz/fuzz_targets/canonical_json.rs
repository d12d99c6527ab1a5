//! Canonical JSON (RFC 8785) and Go-shaped JSON decoding.
//!
//! Every input is checked as JSON text, and also as a member name and string value.
//!
//! Invariants checked for every input that parses as JSON:
//! * canonicalisation succeeds and is idempotent: canonicalising, re-parsing the canonical
//!   bytes and canonicalising again gives identical bytes (and the same digest);
//! * `canonical_string` and `canonical_bytes` agree;
//! * `GoValue::parse` accepts exactly what `serde_json` accepts, and its `map[string]any`
//!   view canonicalises to the same bytes (last duplicate wins, numbers are doubles).
#![no_main]

use gait_sdk::gojson::GoValue;
use gait_sdk::jcs;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check(text);
    // The input as a member name and string value too: escaping and UTF-16 key order.
    if text.len() <= 1024 {
        let wrapped = serde_json::json!({text: [text, {"a": text}], "\u{10000}": text});
        check(&wrapped.to_string());
    }
});

fn check(text: &str) {
    let parsed: Result<Value, _> = serde_json::from_str(text);
    let go = GoValue::parse(text);
    assert_eq!(
        parsed.is_ok(),
        go.is_ok(),
        "serde_json and GoValue disagree on acceptance: {:?} vs {:?}",
        parsed.as_ref().err(),
        go.as_ref().err()
    );
    let Ok(value) = parsed else {
        return;
    };
    let first = jcs::canonical_bytes(&value).expect("parsed JSON is finite");
    let text1 = std::str::from_utf8(&first).expect("canonical bytes are UTF-8");
    assert_eq!(jcs::canonical_string(&value).unwrap(), text1);
    let reparsed: Value = serde_json::from_slice(&first)
        .unwrap_or_else(|e| panic!("canonical bytes do not re-parse: {e}\n{text1}"));
    let second = jcs::canonical_bytes(&reparsed).expect("re-parsed JSON is finite");
    assert_eq!(
        text1,
        std::str::from_utf8(&second).unwrap(),
        "JCS is not idempotent"
    );
    assert_eq!(
        jcs::digest_hex(&value).unwrap(),
        jcs::digest_hex(&reparsed).unwrap()
    );

    let go = go.unwrap();
    let _ = go.kind();
    let via_go = jcs::canonical_bytes(&go.to_value()).expect("GoValue view is finite");
    assert_eq!(
        text1,
        std::str::from_utf8(&via_go).unwrap(),
        "GoValue view canonicalises differently"
    );
}
