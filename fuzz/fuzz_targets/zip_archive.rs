//! Hostile zip archives: the hardened reader and both verifiers built on it.
//!
//! Whatever the bytes, opening, listing, hashing and reading entries must return errors and
//! never panic, allocate past the limits, or loop; runpack verification, PackSpec verification
//! and legacy guard verification over the same archive must do the same.
#![no_main]

use gait_sdk::pack::runpack::{self, EntrySource, RunpackError};
use gait_sdk::pack::{guard, spec};
use gait_sdk::zip::{ZipLimits, ZipReader};
use libfuzzer_sys::fuzz_target;
use std::io::Cursor;

struct Source(ZipReader<Cursor<Vec<u8>>>);

impl EntrySource for Source {
    fn entry_names(&self) -> Vec<String> {
        let mut n: Vec<String> = self
            .0
            .entries()
            .iter()
            .filter(|e| !e.is_dir())
            .map(|e| e.name.clone())
            .collect();
        n.sort();
        n
    }
    fn entry_sha256(&mut self, name: &str) -> Result<String, RunpackError> {
        self.0
            .entry_sha256(name)
            .map(|d| gait_sdk::jcs::hex_lower(&d))
            .map_err(|e| RunpackError::Verification(e.to_string()))
    }
    fn read_entry(&mut self, name: &str, max: u64) -> Result<Vec<u8>, RunpackError> {
        self.0
            .read_entry(name, max)
            .map_err(|e| RunpackError::Verification(e.to_string()))
    }
}

struct NoContract;
impl spec::PayloadContract for NoContract {
    fn check(&self, _: &spec::PackManifest, _: &mut dyn EntrySource) -> Result<(), RunpackError> {
        Ok(())
    }
}

fn limits() -> ZipLimits {
    // Small limits so the fuzzer explores the limit checks instead of allocating.
    ZipLimits {
        max_entries: 64,
        max_entry_size: 1 << 20,
        max_total_size: 4 << 20,
        ..ZipLimits::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(mut r) = ZipReader::from_bytes(data.to_vec(), limits()) else {
        return;
    };
    let names: Vec<String> = r.entries().iter().map(|e| e.name.clone()).collect();
    for n in &names {
        let _ = r.entry_sha256(n);
        let _ = r.read_entry(n, 1 << 16);
    }
    let _ = r.sha256_all();
    let mut src = Source(r);
    let _ = runpack::verify(&mut src, None, false);
    let _ = runpack::read_strict(&mut src);
    let _ = spec::verify(&mut src, &NoContract, None, false);
    let _ = guard::verify(&mut src, None, false);
});
