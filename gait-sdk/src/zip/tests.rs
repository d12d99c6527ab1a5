//! Byte-layout tests of the writer and reader internals (hostile-input tests live in
//! `tests/zip_hardening.rs`).

use super::*;
use std::io::Read;

fn find(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

fn python_ok(zip: &[u8], script: &str) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.zip");
    std::fs::write(&p, zip).unwrap();
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&p)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn local_and_central_headers_follow_go_conventions() {
    let mut b = ZipBuilder::new();
    b.add_bytes("b.sh", &b"#!/bin/sh\n"[..]).unwrap();
    b.add_bytes_with("bin/run", &b"x"[..], EntryOptions::executable())
        .unwrap();
    let zip = b.to_vec().unwrap();

    // Local header of the first entry (sorted: "b.sh" < "bin/run").
    assert_eq!(le32(&zip, 0), SIG_LOCAL);
    assert_eq!(le16(&zip, 4), 20);
    assert_eq!(le16(&zip, 6), 0x0008);
    assert_eq!(le16(&zip, 8), 8);
    assert_eq!(le16(&zip, 10), 0x0000);
    assert_eq!(le16(&zip, 12), 0x0021);
    assert_eq!(&zip[14..26], &[0u8; 12]);
    assert_eq!(le16(&zip, 26), 4);
    assert_eq!(le16(&zip, 28), 9);
    assert_eq!(&zip[30..34], b"b.sh");
    let ts = [0x55, 0x54, 0x05, 0x00, 0x01, 0x00, 0xA6, 0xCE, 0x12];
    assert_eq!(&zip[34..43], &ts);
    assert_eq!(u32::from_le_bytes([0x00, 0xA6, 0xCE, 0x12]), MTIME_UNIX);

    // Timestamp extra in both local (2) and central (2) headers.
    assert_eq!(find(&zip, &ts).len(), 4);
    // One data descriptor per entry.
    assert_eq!(find(&zip, &SIG_DESCRIPTOR.to_le_bytes()).len(), 2);

    let centrals = find(&zip, &SIG_CENTRAL.to_le_bytes());
    assert_eq!(centrals.len(), 2);
    let c0 = centrals[0];
    assert_eq!(le16(&zip, c0 + 4), 0x0314);
    assert_eq!(le16(&zip, c0 + 6), 20);
    assert_eq!(le16(&zip, c0 + 8), 0x0008);
    assert_eq!(le16(&zip, c0 + 12), 0x0000);
    assert_eq!(le16(&zip, c0 + 14), 0x0021);
    assert_eq!(le32(&zip, c0 + 16), crc32fast::hash(b"#!/bin/sh\n"));
    assert_eq!(le32(&zip, c0 + 24), 10);
    assert_eq!(le16(&zip, c0 + 30), 9);
    assert_eq!(le16(&zip, c0 + 32), 0);
    assert_eq!(le32(&zip, c0 + 38), 0x81A4_0000);
    assert_eq!(le32(&zip, c0 + 42), 0);
    assert_eq!(le32(&zip, centrals[1] + 38), 0x81ED_0000);

    // End record: two entries, no comment, no zip64.
    let eocd = zip.len() - EOCD_LEN;
    assert_eq!(le32(&zip, eocd), SIG_EOCD);
    assert_eq!(le16(&zip, eocd + 10), 2);
    assert_eq!(le32(&zip, eocd + 16) as usize, c0);
    assert_eq!(le16(&zip, eocd + 20), 0);
    assert!(find(&zip, &SIG_EOCD64.to_le_bytes()).is_empty());
}

#[test]
fn utf8_flag_only_for_names_that_need_it() {
    for (name, utf8) in [("plain.txt", false), ("héllo.txt", true), ("a~b", true)] {
        let zip = zip_to_vec(&[(name, b"x")]).unwrap();
        assert_eq!(le16(&zip, 6) & FLAG_UTF8 != 0, utf8, "{name}");
        let r = ZipReader::from_bytes(zip, ZipLimits::default()).unwrap();
        assert_eq!(r.entries()[0].name, name);
    }
}

#[test]
fn writer_rejects_unsafe_and_non_canonical_names() {
    for bad in [
        "", "/abs", "C:/x", "../evil", "a/../b", "a\\b", "a\0b", "dir/", "a//b", "./a", " a", "a ",
    ] {
        let err = ZipBuilder::new().add_bytes(bad, &b""[..]).err();
        assert!(
            matches!(err, Some(ZipWriteError::InvalidName { .. })),
            "{bad:?}: {err:?}"
        );
    }
    let long = "a".repeat(MAX_NAME_LEN + 1);
    assert!(ZipBuilder::new().add_bytes(&long, &b""[..]).is_err());
    assert!(ZipBuilder::new().add_bytes("a/b.c/..d", &b""[..]).is_ok());
}

#[test]
fn sequential_writer_enforces_order_and_uniqueness() {
    let mut w = ZipWriter::new(Vec::new());
    w.add_bytes("b", b"1", EntryOptions::default()).unwrap();
    assert!(matches!(
        w.add_bytes("b", b"2", EntryOptions::default()),
        Err(ZipWriteError::DuplicateEntry { .. })
    ));
    assert!(matches!(
        w.add_bytes("a", b"2", EntryOptions::default()),
        Err(ZipWriteError::OutOfOrder { .. })
    ));
    // The rejected calls wrote nothing; the writer is still usable.
    w.add_bytes("c", b"3", EntryOptions::default()).unwrap();
    let zip = w.finish().unwrap();
    let r = ZipReader::from_bytes(zip, ZipLimits::default()).unwrap();
    let names: Vec<_> = r.entries().iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["b", "c"]);

    let mut b = ZipBuilder::new();
    b.add_bytes("x", &b"1"[..]).unwrap();
    b.add_bytes("x", &b"2"[..]).unwrap();
    assert!(matches!(
        b.to_vec(),
        Err(ZipWriteError::DuplicateEntry { .. })
    ));
}

#[test]
fn failing_source_poisons_writer() {
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("boom"))
        }
    }
    let mut w = ZipWriter::new(Vec::new());
    let e = w
        .add_entry("a", Failing, EntryOptions::default())
        .unwrap_err();
    assert_eq!(e.to_string(), "read zip entry a: boom");
    assert_eq!(e.category(), crate::Category::IoFailure);
    assert_eq!(
        w.add_bytes("b", b"", EntryOptions::default()),
        Err(ZipWriteError::Poisoned)
    );
    assert!(w.finish().is_err());
}

#[test]
fn empty_and_multi_chunk_entries_round_trip() {
    // Pseudo-random bytes (incompressible) larger than several internal chunks, plus text.
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let noise: Vec<u8> = (0..300_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let text = "line of text\n".repeat(20_000).into_bytes();
    let zip = zip_to_vec(&[
        ("empty", &b""[..]),
        ("noise.bin", &noise[..]),
        ("text.txt", &text[..]),
    ])
    .unwrap();
    let mut r = ZipReader::from_bytes(zip.clone(), ZipLimits::default()).unwrap();
    assert_eq!(r.read_entry("empty", 0).unwrap(), b"");
    assert_eq!(r.read_entry("noise.bin", 1 << 20).unwrap(), noise);
    assert_eq!(r.read_entry("text.txt", 1 << 20).unwrap(), text);
    let e = r.entry("text.txt").unwrap();
    assert!(e.compressed_size < e.uncompressed_size / 20);
    assert_eq!(e.method, Method::Deflated);
    assert_eq!(e.mode, Some(0o100644));
    assert!(!e.is_executable());
    // The empty entry holds the fixed empty deflate stream.
    assert_eq!(&zip[30 + 5 + 9..30 + 5 + 9 + 2], &[0x03, 0x00]);
}

#[test]
fn forced_zip64_round_trips_and_python_reads_it() {
    let mut w = ZipWriter::new(Vec::new());
    w.force_zip64 = true;
    w.add_bytes("a.txt", b"hello", EntryOptions::default())
        .unwrap();
    w.add_bytes("b.txt", &[7u8; 70_000], EntryOptions::default())
        .unwrap();
    let zip = w.finish().unwrap();
    assert_eq!(find(&zip, &SIG_EOCD64.to_le_bytes()).len(), 1);
    assert_eq!(find(&zip, &SIG_LOCATOR64.to_le_bytes()).len(), 1);
    let eocd = zip.len() - EOCD_LEN;
    assert_eq!(le16(&zip, eocd + 10), 0xFFFF);
    assert_eq!(le32(&zip, eocd + 16), 0xFFFF_FFFF);
    let c = find(&zip, &SIG_CENTRAL.to_le_bytes())[0];
    assert_eq!(le16(&zip, c + 6), 45);
    assert_eq!(le32(&zip, c + 20), 0xFFFF_FFFF);

    let mut r = ZipReader::from_bytes(zip.clone(), ZipLimits::default()).unwrap();
    assert_eq!(r.read_entry("a.txt", 100).unwrap(), b"hello");
    assert_eq!(r.read_entry("b.txt", 100_000).unwrap(), vec![7u8; 70_000]);

    let script = "import sys, zipfile\n\
                  z = zipfile.ZipFile(sys.argv[1])\n\
                  assert z.testzip() is None\n\
                  print(z.read('a.txt').decode(), len(z.read('b.txt')))";
    if let Some(out) = python_ok(&zip, script) {
        assert_eq!(out.trim(), "hello 70000");
    }
}

#[test]
fn many_entries_switch_to_zip64_end_records() {
    let n = 65_535usize;
    let names: Vec<String> = (0..n).map(|i| format!("{i:05}")).collect();
    let mut w = ZipWriter::new(Vec::new());
    for name in &names {
        w.add_bytes(name, b"", EntryOptions::default()).unwrap();
    }
    let zip = w.finish().unwrap();
    assert_eq!(
        find(&zip[zip.len() - 200..], &SIG_EOCD64.to_le_bytes()).len(),
        1
    );
    let limits = ZipLimits {
        max_entries: 70_000,
        ..ZipLimits::default()
    };
    let r = ZipReader::from_bytes(zip.clone(), limits).unwrap();
    assert_eq!(r.entries().len(), n);
    assert_eq!(r.entries()[n - 1].name, "65534");
    assert!(matches!(
        ZipReader::from_bytes(zip.clone(), ZipLimits::default()),
        Err(ZipError::TooManyEntries {
            count: 65_535,
            limit: 10_000
        })
    ));
    let script = "import sys, zipfile\nprint(len(zipfile.ZipFile(sys.argv[1]).infolist()))";
    if let Some(out) = python_ok(&zip, script) {
        assert_eq!(out.trim(), "65535");
    }
}

#[test]
fn atomic_write_replaces_sets_mode_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("out/pack.zip");
    write_zip_atomic(&p, &[("a", b"1")]).unwrap();
    write_zip_atomic(&p, &[("a", b"2")]).unwrap();
    let mut r = ZipReader::open(&p, ZipLimits::default()).unwrap();
    assert_eq!(r.read_entry("a", 10).unwrap(), b"2");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dmode = std::fs::metadata(p.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dmode & 0o777, 0o750);
    }
    // A failing fill leaves the target untouched and no temp file behind.
    let err = write_atomic_with(&p, 0o600, |w| {
        w.write_all(b"partial")?;
        Err::<(), _>(std::io::Error::other("stop"))
    })
    .unwrap_err();
    assert_eq!(err.to_string(), "stop");
    let listing: Vec<_> = std::fs::read_dir(p.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(listing, ["pack.zip"]);
    let mut r = ZipReader::open(&p, ZipLimits::default()).unwrap();
    assert_eq!(r.read_entry("a", 10).unwrap(), b"2");

    // A bad entry (missing source file) surfaces as its own error.
    let mut b = ZipBuilder::new();
    b.add_file("x", dir.path().join("missing"), EntryOptions::default())
        .unwrap();
    let e = b.write_atomic(&p).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("missing: no such file or directory"),
        "{e}"
    );
}

#[test]
fn atomic_temp_file_is_named_after_target() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("runpack_x.zip");
    write_atomic_with(&p, 0o600, |_| {
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 1);
        assert!(names[0].starts_with(".runpack_x.zip.tmp-"), "{names:?}");
        Ok(())
    })
    .unwrap();
}

#[test]
fn large_entries_hash_on_two_threads_and_still_fail_closed() {
    // Above the pipeline threshold: the digest must equal a plain SHA-256, and a corrupted
    // CRC must still fail (the failure surfaces after the hashing thread has been fed).
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let big: Vec<u8> = (0..(5 << 20))
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if i % 3 == 0 {
                b'a'
            } else {
                x as u8
            }
        })
        .collect();
    let zip = zip_to_vec(&[("big.bin", &big[..])]).unwrap();
    let mut r = ZipReader::from_bytes(zip.clone(), ZipLimits::default()).unwrap();
    let want: [u8; 32] = {
        use sha2::Digest;
        sha2::Sha256::digest(&big).into()
    };
    assert_eq!(r.entry_sha256("big.bin").unwrap(), want);

    let mut bad = zip.clone();
    let crc = crc32fast::hash(&big).to_le_bytes();
    for at in find(&bad, &crc) {
        bad[at] ^= 0xff;
    }
    let mut r = ZipReader::from_bytes(bad, ZipLimits::default()).unwrap();
    let err = r.entry_sha256("big.bin").unwrap_err();
    assert!(err.is_integrity_error(), "{err}");
}
