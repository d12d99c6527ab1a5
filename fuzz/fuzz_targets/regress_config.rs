//! `gait.yaml` (JSON or YAML) and `fixture.json` from a regress suite: hostile text must
//! give errors, never panics or runaway allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = gait_regress::config::Config::parse(text, "gait.yaml");
    let _ = gait_regress::fixture::Fixture::parse(text, "fixture.json");
    let _ = gait_sdk::yaml::parse_json(text);
});
