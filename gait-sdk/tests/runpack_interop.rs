//! Runpacks written by the reference implementation verify here, and re-recording their
//! contents reproduces the reference's manifest digest byte for byte.

#![cfg(feature = "pack")]

use gait_sdk::pack::runpack::{read_strict, verify};
use std::collections::BTreeMap;
use std::path::Path;

fn entries(dir: &str) -> BTreeMap<String, Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn reference_runpack_verifies_and_reads_strictly() {
    let mut e = entries("ref_runpack_lumen_152");
    let rep = verify(&mut e, None, false).unwrap();
    assert!(rep.ok(false), "{rep:?}");
    assert_eq!(
        rep.manifest_digest,
        "700607fee6c8a7be4dfd4fd7bca0dae6ea92435cb66525a7b1386825a54b83bf"
    );
    let rp = read_strict(&mut e).unwrap();
    assert_eq!(rp.intents.len(), 1);
    assert_eq!(rp.refs.receipts.len(), 3);
    assert_eq!(rp.manifest.compute_digest(), rep.manifest_digest);
}

#[test]
fn tampered_reference_runpack_fails() {
    let mut e = entries("ref_runpack_lumen_152");
    let refs = e.get_mut("refs.json").unwrap();
    let pos = refs.iter().position(|b| *b == b'3').unwrap();
    refs[pos] = b'4';
    let rep = verify(&mut e, None, false).unwrap();
    assert!(!rep.ok(false));
    assert_eq!(rep.hash_mismatches[0].path, "refs.json");
}
