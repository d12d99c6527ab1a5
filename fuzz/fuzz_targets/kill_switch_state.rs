//! Kill-switch state file (`gait.gate.kill_switch_state`): parsing never panics, and the
//! entries of a state that parses are sorted by id.
#![no_main]

use gait_gate::killswitch::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(state) = parse(text) {
        for w in state.entries.windows(2) {
            assert!(w[0].entry_id <= w[1].entry_id, "entries are sorted by id");
        }
    }
});
