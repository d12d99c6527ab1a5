//! Wrkr inventory file (gate-extended §2): parsing never panics; every item it yields is
//! keyed by its own (non-empty, trimmed, lowercased) tool name; and the filtered parse
//! `gate eval` uses (`parse_for`, keeping only the looked-up tools) agrees with the full
//! parse: same success or failure, and the same item for every wanted tool.
#![no_main]

use gait_gate::wrkr::{parse, parse_for};
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let full = parse(text);
    if let Ok(items) = &full {
        for (name, item) in items {
            assert_eq!(name, &item.tool_name, "items are keyed by tool name");
            assert!(!name.is_empty(), "no item with an empty tool name");
        }
    }
    // Want every other tool of the full parse, plus one that is never present.
    let mut wanted: HashSet<String> = HashSet::new();
    wanted.insert("tool.absent".to_string());
    if let Ok(items) = &full {
        let mut names: Vec<&String> = items.keys().collect();
        names.sort();
        for n in names.iter().step_by(2) {
            wanted.insert((*n).clone());
        }
    }
    let part = parse_for(text, Some(&wanted));
    match (&full, &part) {
        (Ok(f), Ok(p)) => {
            for w in &wanted {
                assert_eq!(f.get(w), p.get(w), "filtered parse differs for {w:?}");
            }
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "same error"),
        _ => panic!("full and filtered parse disagree: {full:?} vs {part:?}"),
    }
});
