//! PackSpec packs written by the reference verify here, and building a pack from the same
//! payload files reproduces the reference's proof records and `pack_id` exactly.

#![cfg(feature = "pack")]

use gait_sdk::pack::runpack::{EntrySource, RunpackError};
use gait_sdk::pack::spec::{
    build, verify, PackManifest, PayloadContract, MANIFEST_NAME, PROOF_NAME,
};
use std::collections::BTreeMap;
use std::path::Path;

struct NoContract;
impl PayloadContract for NoContract {
    fn check(&self, _: &PackManifest, _: &mut dyn EntrySource) -> Result<(), RunpackError> {
        Ok(())
    }
}

fn entries(dir: &str) -> BTreeMap<String, Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut out = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                let rel = e
                    .path()
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

#[test]
fn reference_pack_verifies() {
    let mut e = entries("ref_pack_run");
    let rep = verify(&mut e, &NoContract, None, false).unwrap();
    assert!(rep.ok(false), "{rep:?}");
    assert_eq!(rep.files_checked, 4);
    assert_eq!(rep.proof_records_verified, 3);
    assert_eq!(
        rep.manifest.unwrap().pack_id,
        "d15defe284b321ef6bdbfb50adaf5a0f89e0adaa6d6239847c8748231ede8398"
    );
}

#[test]
fn rebuilding_from_the_same_payload_reproduces_the_reference_pack() {
    let reference = entries("ref_pack_run");
    let mut payload = reference.clone();
    payload.remove(MANIFEST_NAME);
    payload.remove(PROOF_NAME);
    let built = build("run", "run_lumen_152", "0.0.0-dev", payload, None).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&built.entries[PROOF_NAME]),
        String::from_utf8_lossy(&reference[PROOF_NAME])
    );
    assert_eq!(
        built.manifest.pack_id,
        "d15defe284b321ef6bdbfb50adaf5a0f89e0adaa6d6239847c8748231ede8398"
    );
    assert_eq!(built.entries[MANIFEST_NAME], reference[MANIFEST_NAME]);
}

#[test]
fn flipping_any_byte_of_any_entry_fails_verification() {
    let k = gait_sdk::signing::KeyPair::generate().unwrap();
    let mut payload = BTreeMap::new();
    payload.insert("run_payload.json".to_string(), br#"{"a":1}"#.to_vec());
    payload.insert("source/blob.bin".to_string(), vec![1, 2, 3, 4]);
    let built = build("run", "run_x", "test", payload, Some(&k)).unwrap();
    let mut good = built.entries.clone();
    assert!(verify(&mut good, &NoContract, Some(&k.public()), true)
        .unwrap()
        .ok(true));
    for (name, bytes) in &built.entries {
        for i in 0..bytes.len() {
            let mut e = built.entries.clone();
            e.get_mut(name).unwrap()[i] ^= 0x01;
            let outcome = verify(&mut e, &NoContract, Some(&k.public()), true);
            assert!(
                !matches!(&outcome, Ok(r) if r.ok(true)),
                "flipping byte {i} of {name} went unnoticed"
            );
        }
    }
}
