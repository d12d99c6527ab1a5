//! Throughput of one large entry through the zip writer and the verifying reader, against
//! hashing the raw bytes directly. A measurement, not a test: it is not run by CI.
//!
//! `ZIP_BENCH_MB=200 cargo bench -p gait-sdk --features zip --bench zip_throughput`
//! (files go to a temporary directory that is removed afterwards).

use gait_sdk::jcs::hex_lower;
use gait_sdk::zip::{EntryOptions, ZipBuilder, ZipLimits, ZipReader};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::process::Command;
use std::time::Instant;

fn main() {
    let mb: u64 = std::env::var("ZIP_BENCH_MB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let target = mb * 1024 * 1024;
    let dir = tempfile::tempdir().expect("temp dir");
    let raw = dir.path().join("raw.jsonl");
    let zip = dir.path().join("big.zip");

    // JSONL-like content with pseudo-random fields (compresses a few times, like traces).
    let mut out = BufWriter::new(File::create(&raw).unwrap());
    let (mut x, mut written, mut seq) = (0x9E37_79B9_7F4A_7C15u64, 0u64, 0u64);
    while written < target {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let line = format!(
            "{{\"seq\":{seq},\"tool\":\"tool_{}\",\"digest\":\"{x:016x}\",\"args\":{{\"path\":\"/srv/data/{}\"}}}}\n",
            x % 17,
            x % 100_003
        );
        out.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
        seq += 1;
    }
    out.flush().unwrap();
    drop(out);
    let mib = written as f64 / (1024.0 * 1024.0);

    let t = Instant::now();
    let mut b = ZipBuilder::new();
    b.add_file("big.jsonl", &raw, EntryOptions::default())
        .unwrap();
    b.write_atomic(&zip).unwrap();
    let write_s = t.elapsed().as_secs_f64();
    let zip_len = std::fs::metadata(&zip).unwrap().len();

    let limits = ZipLimits {
        max_entry_size: 4 << 30,
        max_total_size: 4 << 30,
        ..ZipLimits::default()
    };
    let t = Instant::now();
    let mut r = ZipReader::open(&zip, limits).unwrap();
    let digest = r.entry_sha256("big.jsonl").unwrap();
    let entry_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    r.open_entry("big.jsonl").unwrap().verify_to_end().unwrap();
    let inflate_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut f = File::open(&raw).unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let direct: [u8; 32] = h.finalize().into();
    let direct_s = t.elapsed().as_secs_f64();
    assert_eq!(digest, direct);

    let t = Instant::now();
    let sum = Command::new("sha256sum").arg(&raw).output().ok();
    let sum_s = t.elapsed().as_secs_f64();

    println!(
        "raw {mib:.1} MiB, zip {:.1} MiB (ratio {:.2})",
        zip_len as f64 / (1024.0 * 1024.0),
        written as f64 / zip_len as f64
    );
    let row = |what: &str, s: f64| println!("{what:<38} {s:>7.3} s  {:>7.1} MiB/s", mib / s);
    row("write zip (deflate level 5, fsync)", write_s);
    row("entry_sha256 (open+inflate+crc+sha)", entry_s);
    row("inflate+crc only (verify_to_end)", inflate_s);
    row("sha2 crate over the raw file", direct_s);
    match sum {
        Some(o) if o.status.success() => {
            let hex = String::from_utf8_lossy(&o.stdout);
            assert!(hex.starts_with(&hex_lower(&digest)), "sha256sum disagrees");
            row("sha256sum over the raw file", sum_s);
        }
        _ => println!("sha256sum not available"),
    }
}
