//! The zip writer's determinism and interoperability, and the reader's behaviour on hostile
//! archives: every rejection is a typed error, never a panic.

use gait_sdk::zip::{
    write_zip_atomic, zip_to_vec, EntryOptions, Method, ZipBuilder, ZipError, ZipLimits, ZipReader,
};
use gait_sdk::GaitError;
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

// ---------------------------------------------------------------------------------------------
// Helpers

fn limits() -> ZipLimits {
    ZipLimits::default()
}

fn open(bytes: Vec<u8>) -> Result<ZipReader<io::Cursor<Vec<u8>>>, ZipError> {
    ZipReader::from_bytes(bytes, limits())
}

fn open_err(bytes: Vec<u8>) -> ZipError {
    match open(bytes) {
        Ok(_) => panic!("archive was accepted"),
        Err(e) => e,
    }
}

/// Opens the archive and reads every entry; returns the first error.
fn read_all(bytes: Vec<u8>, limits: ZipLimits) -> Result<Vec<(String, [u8; 32])>, ZipError> {
    ZipReader::from_bytes(bytes, limits)?.sha256_all()
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn python3() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Runs a Python script with `args`; returns stdout. Panics on failure.
fn python(script: &str, args: &[&Path]) -> Vec<u8> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// One hand-made entry: local header + data (no descriptor) and a central record, with every
/// field open to tampering.
#[derive(Clone)]
struct Craft {
    name: Vec<u8>,
    local_name: Option<Vec<u8>>,
    data: Vec<u8>,
    /// Overrides the compressed bytes (otherwise derived from `data` and `method`).
    raw: Option<Vec<u8>>,
    method: u16,
    crc: Option<u32>,
    declared_size: Option<u32>,
    made_by: u16,
    external: u32,
    flags: u16,
    /// When false, only the central record is written, pointing at `offset`.
    write_local: bool,
    offset: Option<u32>,
}

impl Craft {
    fn new(name: &str, data: &[u8]) -> Craft {
        Craft {
            name: name.as_bytes().to_vec(),
            local_name: None,
            data: data.to_vec(),
            raw: None,
            method: 8,
            crc: None,
            declared_size: None,
            made_by: 0x0314,
            external: 0o100644 << 16,
            flags: 0,
            write_local: true,
            offset: None,
        }
    }
    fn stored(mut self) -> Craft {
        self.method = 0;
        self
    }
    fn bytes_name(name: &[u8], data: &[u8]) -> Craft {
        let mut c = Craft::new("x", data);
        c.name = name.to_vec();
        c
    }
}

fn craft(entries: &[Craft]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let comp = e.raw.clone().unwrap_or_else(|| match e.method {
            8 => deflate(&e.data),
            _ => e.data.clone(),
        });
        let crc = e.crc.unwrap_or_else(|| crc32fast::hash(&e.data));
        let size = e.declared_size.unwrap_or(e.data.len() as u32);
        let offset = e.offset.unwrap_or(out.len() as u32);
        if e.write_local {
            let lname = e.local_name.clone().unwrap_or_else(|| e.name.clone());
            out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
            for v in [20u16, e.flags, e.method, 0, 0x21] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            for v in [crc, comp.len() as u32, size] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&(lname.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&lname);
            out.extend_from_slice(&comp);
        }
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        for v in [e.made_by, 20, e.flags, e.method, 0, 0x21] {
            central.extend_from_slice(&v.to_le_bytes());
        }
        for v in [crc, comp.len() as u32, size] {
            central.extend_from_slice(&v.to_le_bytes());
        }
        for v in [e.name.len() as u16, 0, 0, 0, 0] {
            central.extend_from_slice(&v.to_le_bytes());
        }
        central.extend_from_slice(&e.external.to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(&e.name);
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    for v in [0u16, 0, entries.len() as u16, entries.len() as u16] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn sample_entries() -> Vec<(String, Vec<u8>)> {
    vec![
        ("run.json".into(), br#"{"run_id":"run_demo"}"#.to_vec()),
        (
            "intents.jsonl".into(),
            b"{\"a\":1}\n{\"a\":2}\n".repeat(100),
        ),
        ("refs.json".into(), b"{}".to_vec()),
        (
            "dir/nested/file.bin".into(),
            (0..=255u8).cycle().take(70_000).collect(),
        ),
        ("empty".into(), Vec::new()),
        ("ünïcode.txt".into(), "ü".repeat(10).into_bytes()),
    ]
}

fn sha(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

// ---------------------------------------------------------------------------------------------
// Writer: determinism, round trip, interop

#[test]
fn same_entries_give_identical_bytes_whatever_the_order() {
    let entries = sample_entries();
    let a = zip_to_vec(&entries).unwrap();
    let mut reversed = entries.clone();
    reversed.reverse();
    let b = zip_to_vec(&reversed).unwrap();
    assert_eq!(a, b);

    // Readers, files and byte slices with the same content give the same bytes too.
    let dir = tempfile::tempdir().unwrap();
    let mut builder = ZipBuilder::new();
    for (i, (name, data)) in entries.iter().enumerate() {
        match i % 3 {
            0 => {
                builder.add_bytes(name, data.clone()).unwrap();
            }
            1 => {
                builder
                    .add_reader(name, io::Cursor::new(data.clone()), EntryOptions::default())
                    .unwrap();
            }
            _ => {
                let p = dir.path().join(format!("src{i}"));
                std::fs::write(&p, data).unwrap();
                builder.add_file(name, p, EntryOptions::default()).unwrap();
            }
        }
    }
    assert_eq!(builder.to_vec().unwrap(), a);

    let out = dir.path().join("pack.zip");
    write_zip_atomic(&out, &entries).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), a);

    // Different content gives different bytes.
    let mut changed = entries.clone();
    changed[2].1 = b"{ }".to_vec();
    assert_ne!(zip_to_vec(&changed).unwrap(), a);
}

#[test]
fn round_trip_preserves_names_content_and_order() {
    let entries = sample_entries();
    let zip = zip_to_vec(&entries).unwrap();
    let mut r = open(zip).unwrap();
    let names: Vec<_> = r.entries().iter().map(|e| e.name.clone()).collect();
    let mut sorted: Vec<_> = entries.iter().map(|(n, _)| n.clone()).collect();
    sorted.sort();
    assert_eq!(names, sorted, "entries are sorted by byte order");
    for (name, data) in &entries {
        assert_eq!(&r.read_entry(name, 1 << 20).unwrap(), data);
        assert_eq!(r.entry_sha256(name).unwrap(), sha(data));
        let e = r.entry(name).unwrap();
        assert_eq!(e.uncompressed_size, data.len() as u64);
        assert_eq!(e.method, Method::Deflated);
        assert_eq!(e.mode, Some(0o100644));
    }
    let all = r.sha256_all().unwrap();
    assert_eq!(all.len(), entries.len());
}

#[test]
fn executable_entries_get_mode_0755() {
    let mut b = ZipBuilder::new();
    b.add_bytes_with("run.sh", &b"#!/bin/sh\n"[..], EntryOptions::executable())
        .unwrap();
    b.add_bytes("data", &b"x"[..]).unwrap();
    let r = open(b.to_vec().unwrap()).unwrap();
    assert_eq!(r.entry("run.sh").unwrap().mode, Some(0o100755));
    assert!(r.entry("run.sh").unwrap().is_executable());
    assert!(!r.entry("data").unwrap().is_executable());
}

#[test]
fn python_zipfile_reads_our_archives() {
    if !python3() {
        eprintln!("python3 not found: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ours.zip");
    let mut b = ZipBuilder::new();
    for (name, data) in sample_entries() {
        b.add_bytes(&name, data).unwrap();
    }
    b.add_bytes_with("bin/tool", &b"#!/bin/sh\n"[..], EntryOptions::executable())
        .unwrap();
    b.write_atomic(&p).unwrap();
    let script = r#"
import hashlib, json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
assert z.comment == b""
out = {}
for i in z.infolist():
    assert i.date_time == (1980, 1, 1, 0, 0, 0), i.date_time
    assert i.compress_type == zipfile.ZIP_DEFLATED
    assert i.create_system == 3 and i.create_version == 20 and i.extract_version == 20
    assert i.flag_bits & 0x8
    assert (i.flag_bits & 0x800 != 0) == (not i.filename.isascii())
    assert i.extra == b"UT\x05\x00\x01\x00\xa6\xce\x12", i.extra
    out[i.filename] = [hashlib.sha256(z.read(i)).hexdigest(), i.external_attr >> 16]
print(json.dumps(out))
"#;
    let out = python(script, &[&p]);
    let got: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let mut want = serde_json::Map::new();
    for (name, data) in sample_entries() {
        want.insert(
            name,
            serde_json::json!([gait_sdk::jcs::hex_lower(&sha(&data)), 0o100644]),
        );
    }
    want.insert(
        "bin/tool".into(),
        serde_json::json!([gait_sdk::jcs::hex_lower(&sha(b"#!/bin/sh\n")), 0o100755]),
    );
    assert_eq!(got, serde_json::Value::Object(want));
}

#[test]
fn we_read_archives_written_by_python_zipfile() {
    if !python3() {
        eprintln!("python3 not found: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let stored = dir.path().join("stored.zip");
    let deflated = dir.path().join("deflated.zip");
    let script = r#"
import sys, zipfile
for path, method in ((sys.argv[1], zipfile.ZIP_STORED), (sys.argv[2], zipfile.ZIP_DEFLATED)):
    with zipfile.ZipFile(path, "w", compression=method) as z:
        z.writestr("manifest.json", '{"schema_id":"gait.pack"}')
        z.writestr("data/big.txt", "abc\n" * 100000)
        z.writestr("empty", b"")
        z.writestr("dir/", b"")
        z.writestr("naïve.txt", "é")
        z.comment = b"archive comment"
"#;
    python(script, &[&stored, &deflated]);
    for (path, method) in [(&stored, Method::Stored), (&deflated, Method::Deflated)] {
        let mut r = ZipReader::open(path, limits()).unwrap();
        assert_eq!(r.entries().len(), 5);
        assert_eq!(r.entry("data/big.txt").unwrap().method, method);
        assert!(r.entry("dir/").unwrap().is_dir());
        assert_eq!(
            r.read_entry("manifest.json", 1024).unwrap(),
            br#"{"schema_id":"gait.pack"}"#
        );
        assert_eq!(
            r.entry_sha256("data/big.txt").unwrap(),
            sha(&b"abc\n".repeat(100_000))
        );
        assert_eq!(r.read_entry("naïve.txt", 10).unwrap(), "é".as_bytes());
        assert_eq!(r.read_entry("empty", 0).unwrap(), b"");
        r.sha256_all().unwrap();
    }

    // Written to a pipe, Python uses data descriptors (flag 0x08) like we do.
    let piped = python(
        r#"
import sys, zipfile
with zipfile.ZipFile(sys.stdout.buffer, "w", compression=zipfile.ZIP_DEFLATED) as z:
    with z.open("streamed.txt", "w") as f:
        f.write(b"streamed " * 1000)
    z.writestr("second", b"2")
"#,
        &[],
    );
    let mut r = open(piped).unwrap();
    assert_eq!(
        r.read_entry("streamed.txt", 1 << 20).unwrap(),
        b"streamed ".repeat(1000)
    );
    assert_eq!(r.read_entry("second", 1).unwrap(), b"2");
}

// ---------------------------------------------------------------------------------------------
// Reader: hostile archives

#[test]
fn crafted_baseline_is_accepted() {
    let zip = craft(&[
        Craft::new("a.txt", b"alpha"),
        Craft::new("b.txt", b"beta").stored(),
    ]);
    let got = read_all(zip, limits()).unwrap();
    assert_eq!(got[0], ("a.txt".to_string(), sha(b"alpha")));
    assert_eq!(got[1], ("b.txt".to_string(), sha(b"beta")));
}

#[test]
fn duplicate_names_after_trimming_are_listed_sorted() {
    let zip = craft(&[
        Craft::new("b.txt", b"1"),
        Craft::new("a.txt", b"2"),
        Craft::new("a.txt ", b"3"),
        Craft::new(" b.txt", b"4"),
        Craft::new("c.txt", b"5"),
        Craft::new("a.txt", b"6"),
    ]);
    let e = open_err(zip);
    assert_eq!(
        e,
        ZipError::DuplicateEntries {
            names: vec!["a.txt".into(), "b.txt".into()]
        }
    );
    assert_eq!(
        e.to_string(),
        "zip contains duplicate entries: a.txt, b.txt"
    );
    assert!(e.is_integrity_error());
    let g: GaitError = e.into();
    assert_eq!(g.exit_code(), 2);
}

#[test]
fn unsafe_names_are_rejected_with_distinct_errors() {
    type Check = fn(&ZipError) -> bool;
    let cases: Vec<(Craft, Check)> = vec![
        (
            Craft::new("../evil", b"x"),
            |e| matches!(e, ZipError::ParentSegment { name } if name == "../evil"),
        ),
        (Craft::new("a/../../b", b"x"), |e| {
            matches!(e, ZipError::ParentSegment { .. })
        }),
        (
            Craft::new("/abs", b"x"),
            |e| matches!(e, ZipError::AbsolutePath { name } if name == "/abs"),
        ),
        (Craft::new("C:/windows", b"x"), |e| {
            matches!(e, ZipError::AbsolutePath { .. })
        }),
        (
            Craft::new("a\\b", b"x"),
            |e| matches!(e, ZipError::BackslashInName { name } if name == "a\\b"),
        ),
        (Craft::new("a\0b", b"x"), |e| {
            matches!(e, ZipError::NulInName { .. })
        }),
        (Craft::new("", b"x"), |e| matches!(e, ZipError::EmptyName)),
        (Craft::bytes_name(&[b'a', 0xFF, b'b'], b"x"), |e| {
            matches!(e, ZipError::NonUtf8Name { .. })
        }),
        (Craft::new(&"n".repeat(5000), b"x"), |e| {
            matches!(e, ZipError::NameTooLong { limit: 4096, .. })
        }),
    ];
    for (c, check) in cases {
        let shown = String::from_utf8_lossy(&c.name)
            .chars()
            .take(20)
            .collect::<String>();
        let e = open_err(craft(&[Craft::new("ok", b"fine"), c]));
        assert!(check(&e), "{shown:?}: {e:?}");
        assert!(e.is_integrity_error());
    }
    // ".." inside a segment is fine.
    open(craft(&[Craft::new("a/..b/c..", b"x")])).unwrap();
}

#[test]
fn symlink_entries_are_rejected() {
    let mut link = Craft::new("link", b"/etc/passwd").stored();
    link.external = 0o120777 << 16;
    let e = open_err(craft(&[link.clone()]));
    assert_eq!(
        e,
        ZipError::Symlink {
            name: "link".into()
        }
    );
    assert_eq!(e.to_string(), "zip entry \"link\" is a symbolic link");
    // The same attribute bits from a non-Unix host mean nothing.
    link.made_by = 0x0014;
    let r = open(craft(&[link])).unwrap();
    assert_eq!(r.entries()[0].mode, None);
}

#[test]
fn entry_count_is_limited() {
    let entries: Vec<_> = (0..5).map(|i| Craft::new(&format!("f{i}"), b"x")).collect();
    let zip = craft(&entries);
    let small = ZipLimits {
        max_entries: 3,
        ..limits()
    };
    assert_eq!(
        ZipReader::from_bytes(zip.clone(), small).unwrap_err(),
        ZipError::TooManyEntries { count: 5, limit: 3 }
    );
    read_all(zip, limits()).unwrap();
}

#[test]
fn entry_and_total_sizes_are_limited() {
    let zip = craft(&[
        Craft::new("a", &[1u8; 100]),
        Craft::new("b", &[2u8; 100]),
        Craft::new("c", &[3u8; 100]),
    ]);
    let per_entry = ZipLimits {
        max_entry_size: 99,
        ..limits()
    };
    let e = ZipReader::from_bytes(zip.clone(), per_entry).unwrap_err();
    assert_eq!(
        e,
        ZipError::EntryTooLarge {
            name: "a".into(),
            size: 100,
            limit: 99
        }
    );
    let total = ZipLimits {
        max_total_size: 250,
        ..limits()
    };
    let e = ZipReader::from_bytes(zip.clone(), total).unwrap_err();
    assert_eq!(
        e,
        ZipError::TotalTooLarge {
            total: 300,
            limit: 250
        }
    );

    // The actual size is bounded too: data longer than declared stops at the declared size.
    let mut liar = Craft::new("liar", &[0u8; 5000]);
    liar.declared_size = Some(99);
    let e = read_all(craft(&[liar]), per_entry).unwrap_err();
    assert_eq!(
        e,
        ZipError::SizeMismatch {
            name: "liar".into(),
            declared: 99,
            found: "more than 99".into()
        }
    );
}

#[test]
fn zip_bombs_are_rejected() {
    let zeros = vec![0u8; 50 * 1024 * 1024];
    let compressed = deflate(&zeros);
    let mut bomb = Craft::new("bomb", b"");
    bomb.raw = Some(compressed.clone());
    bomb.declared_size = Some(zeros.len() as u32);
    bomb.crc = Some(crc32fast::hash(&zeros));
    let e = open_err(craft(&[bomb.clone()]));
    match &e {
        ZipError::CompressionRatio {
            name,
            uncompressed,
            limit,
            ..
        } => {
            assert_eq!(name, "bomb");
            assert_eq!(*uncompressed, 50 * 1024 * 1024);
            assert_eq!(*limit, 200);
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("possible zip bomb"), "{e}");

    // With a raised ratio limit it is a valid (if silly) archive.
    let lax = ZipLimits {
        max_compression_ratio: 10_000,
        ..limits()
    };
    let got = read_all(craft(&[bomb.clone()]), lax).unwrap();
    assert_eq!(got[0].1, sha(&zeros));

    // A bomb that under-declares its size inflates no further than it declared.
    bomb.declared_size = Some(4096);
    let e = read_all(craft(&[bomb]), limits()).unwrap_err();
    assert!(
        matches!(e, ZipError::SizeMismatch { declared: 4096, .. }),
        "{e:?}"
    );
}

#[test]
fn crc_and_size_mismatches_are_detected() {
    let mut bad_crc = Craft::new("a", b"hello world");
    bad_crc.crc = Some(crc32fast::hash(b"hello world") ^ 1);
    let e = read_all(craft(&[bad_crc.clone()]), limits()).unwrap_err();
    assert!(
        matches!(&e, ZipError::CrcMismatch { name, .. } if name == "a"),
        "{e:?}"
    );
    assert!(e
        .to_string()
        .starts_with("zip entry \"a\": checksum mismatch"));
    // Opening alone does not read data; hashing the entry does.
    let mut r = open(craft(&[bad_crc.stored()])).unwrap();
    assert!(matches!(
        r.entry_sha256("a"),
        Err(ZipError::CrcMismatch { .. })
    ));

    // A flipped data byte in a stored entry.
    let mut zip = craft(&[Craft::new("s", b"stored data").stored()]);
    zip[31] ^= 0x20;
    assert!(matches!(
        read_all(zip, limits()),
        Err(ZipError::CrcMismatch { .. })
    ));

    // A flipped byte in deflated data: corrupt stream or checksum failure, never a panic.
    let text = b"the quick brown fox jumps over the lazy dog ".repeat(50);
    for i in 0..deflate(&text).len() {
        let mut zip = craft(&[Craft::new("d", &text)]);
        zip[31 + i] ^= 0x55;
        match read_all(zip, limits()) {
            Err(ZipError::CrcMismatch { .. })
            | Err(ZipError::CorruptData { .. })
            | Err(ZipError::SizeMismatch { .. }) => {}
            other => panic!("byte {i}: {other:?}"),
        }
    }

    // Declared larger than the data.
    let mut short = Craft::new("short", b"abc");
    short.declared_size = Some(10);
    assert_eq!(
        read_all(craft(&[short]), limits()).unwrap_err(),
        ZipError::SizeMismatch {
            name: "short".into(),
            declared: 10,
            found: "3".into()
        }
    );
    // Stored entries must declare equal sizes.
    let mut stored = Craft::new("st", b"abc").stored();
    stored.declared_size = Some(4);
    assert!(matches!(
        open_err(craft(&[stored])),
        ZipError::SizeMismatch { .. }
    ));
}

#[test]
fn truncated_archives_are_rejected() {
    let zip = zip_to_vec(&sample_entries()).unwrap();
    for cut in [0, 10, 21, zip.len() / 2, zip.len() - 1] {
        assert_eq!(
            open_err(zip[..cut].to_vec()),
            ZipError::NotAZip,
            "cut {cut}"
        );
    }
    // Bytes missing from the middle: the directory no longer fits before the end record.
    let mut holed = zip.clone();
    holed.drain(100..110);
    assert!(
        matches!(open_err(holed), ZipError::Truncated { .. }),
        "hole"
    );
    // An entry whose compressed size runs into the central directory.
    let mut long = Craft::new("a", b"abc").stored();
    long.raw = Some(b"abc".to_vec());
    let mut zip = craft(&[long]);
    let c = zip.len() - 22 - 47;
    zip[c + 20] = 200; // compressed size
    zip[c + 24] = 200; // uncompressed size
    assert!(matches!(open_err(zip), ZipError::Truncated { .. }));
    // Not a zip at all.
    assert_eq!(open_err(b"just some text".repeat(10)), ZipError::NotAZip);
    assert_eq!(open_err(Vec::new()), ZipError::NotAZip);
}

#[test]
fn overlapping_entries_are_rejected() {
    // "b"'s local header and data live inside "a"'s stored data: one payload, two entries.
    let inner = craft(&[Craft::new("b", b"payload").stored()]);
    let b_local_len = 30 + 1 + 7;
    let a = Craft::new("a", &inner[..b_local_len]).stored();
    let mut b = Craft::new("b", b"payload").stored();
    b.write_local = false;
    b.offset = Some(30 + 1);
    let e = open_err(craft(&[a, b]));
    assert_eq!(
        e,
        ZipError::OverlappingEntries {
            first: "a".into(),
            second: "b".into()
        }
    );

    // Two central records sharing one local header (needs the same name, so a duplicate).
    let mut twin = Craft::new("a ", b"x").stored();
    twin.write_local = false;
    twin.offset = Some(0);
    assert!(matches!(
        open_err(craft(&[Craft::new("a", b"x").stored(), twin])),
        ZipError::DuplicateEntries { .. }
    ));
}

#[test]
fn local_header_must_match_central_directory() {
    let mut c = Craft::new("manifest.json", b"{}");
    c.local_name = Some(b"manifest.jsoN".to_vec());
    let e = open_err(craft(&[c]));
    assert!(
        matches!(&e, ZipError::LocalHeaderMismatch { name, .. } if name == "manifest.json"),
        "{e:?}"
    );
    // A central offset that does not point at a local header.
    let mut c = Craft::new("b", b"x");
    c.offset = Some(3);
    let e = open_err(craft(&[Craft::new("a", b"zzzzzz").stored(), c]));
    assert!(matches!(e, ZipError::LocalHeaderMismatch { .. }), "{e:?}");
}

#[test]
fn unsupported_methods_and_encryption_are_rejected() {
    let mut bz = Craft::new("a", b"x");
    bz.method = 12;
    assert_eq!(
        open_err(craft(&[bz])),
        ZipError::UnsupportedMethod {
            name: "a".into(),
            method: 12
        }
    );
    let mut enc = Craft::new("a", b"x");
    enc.flags = 0x0001;
    assert_eq!(
        open_err(craft(&[enc])),
        ZipError::Encrypted { name: "a".into() }
    );
}

#[test]
fn data_descriptor_must_match() {
    let mut zip = zip_to_vec(&[("a", b"hello")]).unwrap();
    let sig = 0x0807_4b50u32.to_le_bytes();
    let at = zip.windows(4).position(|w| w == sig).unwrap();
    zip[at + 4] ^= 0xFF;
    assert!(matches!(open_err(zip), ZipError::DescriptorMismatch { .. }));
}

#[test]
fn end_records_are_checked() {
    let zip = craft(&[Craft::new("a", b"x")]);
    let eocd = zip.len() - 22;
    let mut multi = zip.clone();
    multi[eocd + 4] = 1;
    assert_eq!(open_err(multi), ZipError::MultiDisk);
    let mut size = zip.clone();
    size[eocd + 12] -= 1;
    assert!(matches!(open_err(size), ZipError::Malformed { .. }));
    let mut count = zip.clone();
    count[eocd + 8] = 2;
    count[eocd + 10] = 2;
    assert!(matches!(open_err(count), ZipError::Malformed { .. }));
}

#[test]
fn io_errors_are_not_integrity_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = ZipReader::open(&dir.path().join("missing.zip"), limits()).unwrap_err();
    assert!(!e.is_integrity_error());
    assert!(
        e.to_string()
            .ends_with("missing.zip: no such file or directory"),
        "{e}"
    );
    assert_eq!(GaitError::from(e).exit_code(), 1);
    let e = ZipReader::open(dir.path(), limits()).unwrap_err();
    assert!(!e.is_integrity_error());
    assert!(e.to_string().ends_with("is a directory"), "{e}");

    let junk = dir.path().join("junk.zip");
    std::fs::write(&junk, b"not a zip").unwrap();
    let e = ZipReader::open(&junk, limits()).unwrap_err();
    assert!(e.is_integrity_error());
    assert_eq!(GaitError::from(e).exit_code(), 2);
}

#[test]
fn bounded_reads_and_lookup() {
    let zip = zip_to_vec(&[("a", vec![1u8; 1000])]).unwrap();
    let mut r = open(zip).unwrap();
    assert_eq!(
        r.read_entry("a", 999).unwrap_err(),
        ZipError::ReadLimit {
            name: "a".into(),
            size: 1000,
            limit: 999
        }
    );
    assert_eq!(r.read_entry("a", 1000).unwrap().len(), 1000);
    assert_eq!(
        r.entry_sha256("b").unwrap_err(),
        ZipError::EntryNotFound { name: "b".into() }
    );
    // Streaming an entry by hand.
    let mut buf = Vec::new();
    r.open_entry("a").unwrap().read_to_end(&mut buf).unwrap();
    assert_eq!(buf, vec![1u8; 1000]);
}

#[test]
fn for_each_entry_streams_and_verifies_everything() {
    let entries = sample_entries();
    let mut r = open(zip_to_vec(&entries).unwrap()).unwrap();
    let mut seen = Vec::new();
    r.for_each_entry(|entry, reader| -> Result<(), GaitError> {
        // Read only a prefix; the rest is verified anyway.
        let mut first = [0u8; 1];
        let _ = reader
            .read(&mut first)
            .map_err(|e| GaitError::io(e.to_string()))?;
        seen.push(entry.name.clone());
        Ok(())
    })
    .unwrap();
    assert_eq!(seen.len(), entries.len());

    // A callback that swallows the read error still gets the verification failure.
    let mut bad = Craft::new("bad", b"content");
    bad.crc = Some(0);
    let mut r = open(craft(&[Craft::new("good", b"x"), bad])).unwrap();
    let mut visited = 0;
    let e = r
        .for_each_entry(|_, reader| -> Result<(), ZipError> {
            visited += 1;
            let _ = io::copy(reader, &mut io::sink());
            Ok(())
        })
        .unwrap_err();
    assert_eq!(visited, 2);
    assert!(matches!(e, ZipError::CrcMismatch { .. }), "{e:?}");

    // Errors carried in io::Error convert back to the typed error.
    let mut r = open(craft(&[{
        let mut c = Craft::new("c", b"abc");
        c.crc = Some(1);
        c
    }]))
    .unwrap();
    let err = io::copy(&mut r.open_entry("c").unwrap(), &mut io::sink()).unwrap_err();
    assert!(matches!(
        ZipError::from_io(err, "read"),
        ZipError::CrcMismatch { .. }
    ));
}

// ---------------------------------------------------------------------------------------------
// Properties

fn valid_sample() -> Vec<u8> {
    let mut b = ZipBuilder::new();
    b.add_bytes("a.json", &b"{\"k\":\"v\"}"[..]).unwrap();
    b.add_bytes("b/c.txt", b"text ".repeat(40)).unwrap();
    b.to_vec().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let _ = read_all(bytes, limits());
    }

    #[test]
    fn arbitrary_bytes_with_a_valid_tail_never_panic(
        head in prop::collection::vec(any::<u8>(), 0..512),
        tail_from in 0usize..200,
    ) {
        let zip = valid_sample();
        let mut bytes = head;
        let from = tail_from.min(zip.len());
        bytes.extend_from_slice(&zip[from..]);
        let _ = read_all(bytes, limits());
    }

    #[test]
    fn mutated_archives_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in prop::option::of(any::<prop::sample::Index>()),
        stored in any::<bool>(),
    ) {
        let mut zip = if stored {
            craft(&[Craft::new("s", b"stored bytes").stored(), Craft::new("d", &[7u8; 300])])
        } else {
            valid_sample()
        };
        for (at, v) in edits {
            let i = at.index(zip.len());
            zip[i] = v;
        }
        if let Some(c) = cut {
            let c = c.index(zip.len());
            zip.truncate(c);
        }
        let _ = read_all(zip, limits());
    }

    #[test]
    fn writer_is_deterministic_and_round_trips(
        files in prop::collection::btree_map(
            "[a-z0-9_.-]{1,8}(/[a-z0-9_-]{1,8}){0,2}",
            prop::collection::vec(any::<u8>(), 0..600),
            0..8,
        ),
        seed in any::<u64>(),
    ) {
        let files: Vec<(String, Vec<u8>)> = files
            .into_iter()
            .filter(|(n, _)| !n.split('/').any(|s| s == "." || s == ".."))
            .collect();
        let a = zip_to_vec(&files).unwrap();
        let mut shuffled = files.clone();
        let len = shuffled.len().max(1);
        shuffled.rotate_left((seed as usize) % len);
        prop_assert_eq!(&zip_to_vec(&shuffled).unwrap(), &a);
        let got = read_all(a, limits()).unwrap();
        let want: Vec<(String, [u8; 32])> =
            files.iter().map(|(n, d)| (n.clone(), sha(d))).collect();
        prop_assert_eq!(got, want);
    }
}
