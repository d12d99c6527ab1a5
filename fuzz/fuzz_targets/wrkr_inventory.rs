//! Wrkr inventory file (gate-extended §2): parsing never panics, and every item it yields
//! is keyed by its own (non-empty, trimmed, lowercased) tool name.
#![no_main]

use gait_gate::wrkr::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(items) = parse(text) {
        for (name, item) in &items {
            assert_eq!(name, &item.tool_name, "items are keyed by tool name");
            assert!(!name.is_empty(), "no item with an empty tool name");
        }
    }
});
