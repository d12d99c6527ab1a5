//! JSON artifacts read from packs: the PackSpec manifest (strict), the legacy guard manifest
//! (lenient, typed) and the ContextSpec envelope. Parsing must never panic; a manifest that
//! parses must re-serialise to JSON whose pack_id recomputes deterministically.
#![no_main]

use gait_sdk::context::Envelope;
use gait_sdk::pack::guard::GuardManifest;
use gait_sdk::pack::spec::PackManifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = PackManifest::parse(text) {
        let a = m.compute_pack_id();
        let again = PackManifest::parse(&m.to_value(true).to_string());
        if let Ok(again) = again {
            assert_eq!(
                again.compute_pack_id(),
                a,
                "pack_id is stable across a round trip"
            );
        }
    }
    if let Ok(g) = GuardManifest::parse(text) {
        let _ = gait_sdk::jcs::digest_hex(&g.unsigned);
    }
    if let Ok(e) = Envelope::parse(text) {
        let again =
            Envelope::parse(&e.to_value().to_string()).expect("normalized envelope re-parses");
        assert_eq!(again.context_set_digest, e.context_set_digest);
    }
});
