//! Zip I/O for the pack plugin: opening archives as an [`EntrySource`] and writing entry maps
//! atomically, with the reference's error categories (an unreadable file is invalid input;
//! duplicate entries and corrupt entry data are verification failures).

use crate::error::PackError;
use gait_sdk::jcs;
use gait_sdk::pack::runpack::{EntrySource, RunpackError};
use gait_sdk::zip::{ZipBuilder, ZipError, ZipLimits, ZipReader};
use std::collections::BTreeMap;
use std::io::{Read, Seek};
use std::path::Path;

struct ZipSource<R> {
    reader: ZipReader<R>,
    total: u64,
    done: u64,
    /// Entry digests already computed: verification asks for some entries twice (listed
    /// hash, then the payload contract), and the archive cannot change while it is open.
    digests: BTreeMap<String, String>,
}

/// Receives (bytes processed, total bytes) while large archives are hashed. The binary
/// installs a renderer; the library only reports.
pub type ProgressHook = Box<dyn Fn(u64, u64) + Send + Sync>;

static PROGRESS: std::sync::OnceLock<ProgressHook> = std::sync::OnceLock::new();

/// Installs the progress renderer (once per process).
pub fn set_progress_hook(hook: ProgressHook) {
    let _ = PROGRESS.set(hook);
}

fn report(done: u64, total: u64) {
    if let Some(h) = PROGRESS.get() {
        h(done, total);
    }
}

fn entry_error(e: ZipError) -> RunpackError {
    if e.is_integrity_error() {
        RunpackError::Verification(e.to_string())
    } else {
        RunpackError::Io(e.to_string())
    }
}

impl<R: Read + Seek> EntrySource for ZipSource<R> {
    fn entry_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .reader
            .entries()
            .iter()
            .filter(|e| !e.is_dir())
            .map(|e| e.name.clone())
            .collect();
        names.sort();
        names
    }
    fn entry_sha256(&mut self, name: &str) -> Result<String, RunpackError> {
        if let Some(d) = self.digests.get(name) {
            return Ok(d.clone());
        }
        let size = self.reader.entry(name).map_or(0, |e| e.uncompressed_size);
        let digest = self
            .reader
            .entry_sha256(name)
            .map(|d| jcs::hex_lower(&d))
            .map_err(entry_error)?;
        self.done += size;
        report(self.done, self.total);
        self.digests.insert(name.to_string(), digest.clone());
        Ok(digest)
    }
    fn read_entry(&mut self, name: &str, max: u64) -> Result<Vec<u8>, RunpackError> {
        self.reader.read_entry(name, max).map_err(entry_error)
    }
}

fn open_error(e: ZipError) -> PackError {
    // Not a zip at all (or unreadable) is a bad argument; a zip whose entries are hostile or
    // inconsistent is evidence that fails verification.
    match e {
        ZipError::Io { .. }
        | ZipError::NotAZip
        | ZipError::Truncated { .. }
        | ZipError::Malformed { .. }
        | ZipError::MultiDisk => PackError::invalid(format!("open zip: {e}")),
        other => PackError::verification(other.to_string()),
    }
}

/// Opens a zip file for verification or reading.
pub fn open_entries(path: &Path) -> Result<Box<dyn EntrySource>, PackError> {
    let reader = ZipReader::open(path, ZipLimits::default()).map_err(open_error)?;
    let total = reader.entries().iter().map(|e| e.uncompressed_size).sum();
    Ok(Box::new(ZipSource {
        reader,
        total,
        done: 0,
        digests: BTreeMap::new(),
    }))
}

/// Opens a zip held in memory (a runpack embedded in a pack).
pub fn open_bytes(bytes: Vec<u8>) -> Result<Box<dyn EntrySource>, PackError> {
    let reader = ZipReader::from_bytes(bytes, ZipLimits::default()).map_err(open_error)?;
    Ok(Box::new(ZipSource {
        reader,
        total: 0,
        done: 0,
        digests: BTreeMap::new(),
    }))
}

/// Deterministic zip bytes of `entries`.
pub fn zip_bytes(entries: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, PackError> {
    let mut b = ZipBuilder::new();
    for (name, bytes) in entries {
        b.add_bytes(name, bytes.as_slice())
            .map_err(|e| PackError::invalid(e.to_string()))?;
    }
    b.to_vec().map_err(|e| PackError::Io(e.to_string()))
}

/// Reads a byte slice and reports cumulative progress across all entries of one archive.
struct ProgressReader<'a> {
    bytes: &'a [u8],
    done: std::rc::Rc<std::cell::Cell<u64>>,
    total: u64,
}

impl Read for ProgressReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.bytes.read(buf)?;
        self.done.set(self.done.get() + n as u64);
        report(self.done.get(), self.total);
        Ok(n)
    }
}

/// Writes `entries` as a deterministic zip, atomically (mode 0600), reporting progress.
pub fn write_zip(path: &Path, entries: &BTreeMap<String, Vec<u8>>) -> Result<(), PackError> {
    let mut b = ZipBuilder::new();
    let total: u64 = entries.values().map(|v| v.len() as u64).sum();
    let done = std::rc::Rc::new(std::cell::Cell::new(0u64));
    for (name, bytes) in entries {
        let reader = ProgressReader {
            bytes: bytes.as_slice(),
            done: done.clone(),
            total,
        };
        b.add_reader(name, reader, gait_sdk::zip::EntryOptions::default())
            .map_err(|e| PackError::invalid(e.to_string()))?;
    }
    b.write_atomic(path)
        .map_err(|e| PackError::Io(format!("write {}: {e}", path.display())))
}

/// Reads every entry of a source into memory (for re-zipping small archives).
pub fn read_all(
    src: &mut dyn EntrySource,
    max_each: u64,
) -> Result<BTreeMap<String, Vec<u8>>, PackError> {
    let mut out = BTreeMap::new();
    for n in src.entry_names() {
        let b = src.read_entry(&n, max_each)?;
        out.insert(n, b);
    }
    Ok(out)
}
