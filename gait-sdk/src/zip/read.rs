//! The hardened reader: every central-directory record is parsed and checked against its local
//! header, names and sizes are validated against [`ZipLimits`] before any data is inflated, and
//! entries are streamed (CRC and size checked at their end) so memory stays bounded.

use super::*;
use crate::error::{Category, GaitError};
use crate::fsutil::go_io_reason;
use flate2::{Decompress, FlushDecompress, Status};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read, Seek, SeekFrom, Take};
use std::path::Path;

const CHUNK: usize = 64 * 1024;
/// Entries at least this large are inflated and hashed on two threads.
const PIPELINE_MIN_BYTES: u64 = 4 * 1024 * 1024;
/// Chunk size and queue depth of that pipeline (about 2 MiB in flight at most).
const PIPELINE_CHUNK: usize = 256 * 1024;
const PIPELINE_DEPTH: usize = 4;
/// The end-of-central-directory record is searched for in this many trailing bytes.
const EOCD_SEARCH: u64 = 0xFFFF + EOCD_LEN as u64;

/// Safety limits applied by [`ZipReader`]; the defaults suit runpacks and packs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipLimits {
    /// Most central-directory records accepted (default 10,000).
    pub max_entries: u64,
    /// Largest uncompressed entry, declared or actual (default 100 MiB, per spec).
    pub max_entry_size: u64,
    /// Largest sum of declared uncompressed sizes (default 1 GiB).
    pub max_total_size: u64,
    /// Largest uncompressed:compressed ratio of a deflated entry (default 200)…
    pub max_compression_ratio: u64,
    /// …checked once an entry is larger than this many bytes uncompressed (default 1 MiB).
    pub ratio_check_min_bytes: u64,
}

impl Default for ZipLimits {
    fn default() -> Self {
        ZipLimits {
            max_entries: 10_000,
            max_entry_size: 100 * 1024 * 1024,
            max_total_size: 1024 * 1024 * 1024,
            max_compression_ratio: 200,
            ratio_check_min_bytes: 1024 * 1024,
        }
    }
}

impl ZipLimits {
    fn ratio_exceeded(&self, uncompressed: u64, compressed: u64) -> bool {
        uncompressed > self.ratio_check_min_bytes
            && uncompressed > self.max_compression_ratio.saturating_mul(compressed.max(1))
    }
}

/// Why an archive or one of its entries was rejected.
///
/// Every variant except [`ZipError::Io`] means the archive itself is bad (see
/// [`ZipError::is_integrity_error`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZipError {
    /// The archive could not be opened or read (not a property of its content).
    #[error("{context}: {reason}")]
    Io { context: String, reason: String },
    #[error("zip: not a valid zip file (no end of central directory record)")]
    NotAZip,
    #[error("zip: truncated archive: {what}")]
    Truncated { what: String },
    #[error("zip: malformed archive: {detail}")]
    Malformed { detail: String },
    #[error("zip: multi-disk archives are not supported")]
    MultiDisk,
    #[error("zip has {count} entries, more than the limit of {limit}")]
    TooManyEntries { count: u64, limit: u64 },
    #[error("zip entry name is empty")]
    EmptyName,
    /// `name` holds the first 64 bytes (lossy).
    #[error("zip entry name {name:?}… is longer than {limit} bytes")]
    NameTooLong { name: String, limit: usize },
    /// `name` is the lossy decoding.
    #[error("zip entry name {name:?} is not valid UTF-8")]
    NonUtf8Name { name: String },
    #[error("zip entry name {name:?} contains a NUL byte")]
    NulInName { name: String },
    #[error("zip entry name {name:?} contains a backslash")]
    BackslashInName { name: String },
    #[error("zip entry name {name:?} is an absolute path")]
    AbsolutePath { name: String },
    #[error("zip entry name {name:?} contains a '..' segment")]
    ParentSegment { name: String },
    #[error("zip contains duplicate entries: {}", .names.join(", "))]
    DuplicateEntries { names: Vec<String> },
    #[error("zip entry {name:?} is a symbolic link")]
    Symlink { name: String },
    #[error("zip entry {name:?} is encrypted")]
    Encrypted { name: String },
    #[error("zip entry {name:?} uses unsupported compression method {method}")]
    UnsupportedMethod { name: String, method: u16 },
    #[error(
        "zip entry {name:?} is {size} bytes uncompressed, more than the per-entry limit of {limit}"
    )]
    EntryTooLarge { name: String, size: u64, limit: u64 },
    #[error("zip entries total {total} bytes uncompressed, more than the limit of {limit}")]
    TotalTooLarge { total: u64, limit: u64 },
    #[error(
        "zip entry {name:?} expands {compressed} bytes to {uncompressed}, a ratio above {limit}:1 (possible zip bomb)"
    )]
    CompressionRatio {
        name: String,
        compressed: u64,
        uncompressed: u64,
        limit: u64,
    },
    #[error("zip entry {name:?}: local header does not match the central directory ({detail})")]
    LocalHeaderMismatch { name: String, detail: String },
    #[error("zip entries {first:?} and {second:?} overlap")]
    OverlappingEntries { first: String, second: String },
    /// `found` is a number, or "more than N" when inflation was stopped early.
    #[error("zip entry {name:?}: size mismatch: declared {declared} bytes, found {found}")]
    SizeMismatch {
        name: String,
        declared: u64,
        found: String,
    },
    #[error("zip entry {name:?}: checksum mismatch: crc32 {actual:08x}, expected {expected:08x}")]
    CrcMismatch {
        name: String,
        expected: u32,
        actual: u32,
    },
    #[error("zip entry {name:?}: data descriptor crc32 {found:08x} does not match the central directory's {expected:08x}")]
    DescriptorMismatch {
        name: String,
        expected: u32,
        found: u32,
    },
    #[error("zip entry {name:?}: corrupt compressed data: {detail}")]
    CorruptData { name: String, detail: String },
    #[error("zip entry {name:?} not found")]
    EntryNotFound { name: String },
    #[error("zip entry {name:?} is {size} bytes, more than the {limit}-byte read limit")]
    ReadLimit { name: String, size: u64, limit: u64 },
}

impl ZipError {
    /// True when the archive's content is at fault (verification failure, exit 2); false for
    /// I/O failures opening or reading it (exit 1).
    pub fn is_integrity_error(&self) -> bool {
        !matches!(self, ZipError::Io { .. })
    }

    pub fn category(&self) -> Category {
        if self.is_integrity_error() {
            Category::VerificationFailed
        } else {
            Category::IoFailure
        }
    }

    /// Recovers a `ZipError` carried through an `io::Error` (as [`EntryReader`] reports
    /// them), or describes a plain I/O error under `context`.
    pub fn from_io(err: io::Error, context: &str) -> ZipError {
        match err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ZipError>())
        {
            Some(inner) => inner.clone(),
            None => ZipError::Io {
                context: context.to_string(),
                reason: go_io_reason(&err),
            },
        }
    }
}

impl From<ZipError> for GaitError {
    fn from(e: ZipError) -> Self {
        GaitError::new(e.category(), e.to_string())
    }
}

/// How an entry's data is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Stored,
    Deflated,
}

/// One entry as described by the central directory, after all checks passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    pub name: String,
    pub method: Method,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub crc32: u32,
    /// Unix mode from the external attributes, when the archive was made on a Unix host.
    pub mode: Option<u32>,
    data_offset: u64,
}

impl ZipEntry {
    /// Directory entries (name ending in `/`) hold no data; our writer never makes them.
    pub fn is_dir(&self) -> bool {
        self.name.ends_with('/')
    }

    pub fn is_executable(&self) -> bool {
        self.mode.is_some_and(|m| m & 0o111 != 0)
    }
}

/// A verified view of a zip archive's directory, with streaming access to entry data.
///
/// Opening reads only the end records, the central directory and each local header; entry
/// data is inflated on demand, and an entry's size and CRC are verified when it is read to
/// its end.
pub struct ZipReader<R> {
    src: R,
    label: String,
    limits: ZipLimits,
    entries: Vec<ZipEntry>,
    /// Entry indices sorted by name, for lookups without a second copy of every name.
    by_name: Vec<usize>,
    inflater: Option<Decompress>,
}

impl<R> std::fmt::Debug for ZipReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZipReader")
            .field("label", &self.label)
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl ZipReader<File> {
    /// Opens and checks the archive at `path`.
    pub fn open(path: &Path, limits: ZipLimits) -> Result<Self, ZipError> {
        let shown = path.display().to_string();
        let file = File::open(path).map_err(|e| ZipError::Io {
            context: format!("open {shown}"),
            reason: go_io_reason(&e),
        })?;
        let meta = file.metadata().map_err(|e| ZipError::Io {
            context: format!("stat {shown}"),
            reason: go_io_reason(&e),
        })?;
        if meta.is_dir() {
            return Err(ZipError::Io {
                context: format!("read {shown}"),
                reason: "is a directory".into(),
            });
        }
        ZipReader::with_label(file, limits, shown)
    }
}

impl ZipReader<Cursor<Vec<u8>>> {
    /// Checks an archive held in memory.
    pub fn from_bytes(bytes: Vec<u8>, limits: ZipLimits) -> Result<Self, ZipError> {
        ZipReader::with_label(Cursor::new(bytes), limits, "zip".into())
    }
}

impl<R: Read + Seek> ZipReader<R> {
    /// Checks an archive read from `src`.
    pub fn new(src: R, limits: ZipLimits) -> Result<Self, ZipError> {
        ZipReader::with_label(src, limits, "zip".into())
    }

    /// Checks an archive read from `src`; `label` names it in I/O error messages.
    pub fn with_label(mut src: R, limits: ZipLimits, label: String) -> Result<Self, ZipError> {
        let entries = parse(&mut src, &limits, &label)?;
        let mut by_name: Vec<usize> = (0..entries.len()).collect();
        by_name.sort_by(|&a, &b| entries[a].name.cmp(&entries[b].name));
        Ok(ZipReader {
            src,
            label,
            limits,
            entries,
            by_name,
            inflater: None,
        })
    }

    pub fn limits(&self) -> &ZipLimits {
        &self.limits
    }

    /// Entries in central-directory order.
    pub fn entries(&self) -> &[ZipEntry] {
        &self.entries
    }

    /// The entry named exactly `name`.
    pub fn entry(&self, name: &str) -> Option<&ZipEntry> {
        self.find(name).map(|i| &self.entries[i])
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.by_name
            .binary_search_by(|&i| self.entries[i].name.as_str().cmp(name))
            .ok()
            .map(|pos| self.by_name[pos])
    }

    fn index(&self, name: &str) -> Result<usize, ZipError> {
        self.find(name)
            .ok_or_else(|| ZipError::EntryNotFound { name: name.into() })
    }

    fn reader_at(&mut self, i: usize) -> Result<EntryReader<'_, R>, ZipError> {
        let inflater = self.inflater.get_or_insert_with(|| Decompress::new(false));
        EntryReader::new(
            &mut self.src,
            inflater,
            &self.entries[i],
            &self.limits,
            &self.label,
        )
    }

    /// Streams the entry named `name`. Its size and CRC are verified when the reader reaches
    /// its end; failures surface as `io::Error`s wrapping a [`ZipError`] (see
    /// [`ZipError::from_io`]).
    pub fn open_entry(&mut self, name: &str) -> Result<EntryReader<'_, R>, ZipError> {
        let i = self.index(name)?;
        self.reader_at(i)
    }

    /// SHA-256 of the entry's decompressed bytes, verified, in bounded memory.
    pub fn entry_sha256(&mut self, name: &str) -> Result<[u8; 32], ZipError> {
        let i = self.index(name)?;
        self.reader_at(i)?.sha256()
    }

    /// The entry's decompressed bytes, verified; refused when larger than `max_bytes`.
    pub fn read_entry(&mut self, name: &str, max_bytes: u64) -> Result<Vec<u8>, ZipError> {
        let i = self.index(name)?;
        let size = self.entries[i].uncompressed_size;
        if size > max_bytes {
            return Err(ZipError::ReadLimit {
                name: name.into(),
                size,
                limit: max_bytes,
            });
        }
        // `size` is at most the per-entry limit and the reader never yields more than it.
        let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        let mut r = self.reader_at(i)?;
        let label = r.label.clone();
        r.read_to_end(&mut out)
            .map_err(|e| ZipError::from_io(e, &format!("read {label}")))?;
        Ok(out)
    }

    /// SHA-256 of every entry, in central-directory order.
    pub fn sha256_all(&mut self) -> Result<Vec<(String, [u8; 32])>, ZipError> {
        let mut out = Vec::with_capacity(self.entries.len());
        for i in 0..self.entries.len() {
            let digest = self.reader_at(i)?.sha256()?;
            out.push((self.entries[i].name.clone(), digest));
        }
        Ok(out)
    }

    /// Calls `f` with each entry (central-directory order) and a reader of its data. Whatever
    /// `f` leaves unread is read afterwards, so every entry is fully verified. A verification
    /// failure is returned as `E::from(ZipError)` even when `f` swallowed the read error.
    pub fn for_each_entry<E, F>(&mut self, mut f: F) -> Result<(), E>
    where
        E: From<ZipError>,
        F: FnMut(&ZipEntry, &mut EntryReader<'_, R>) -> Result<(), E>,
    {
        for i in 0..self.entries.len() {
            let inflater = self.inflater.get_or_insert_with(|| Decompress::new(false));
            let entry = &self.entries[i];
            let mut r =
                EntryReader::new(&mut self.src, inflater, entry, &self.limits, &self.label)?;
            let result = f(entry, &mut r);
            if let Some(err) = r.failure() {
                return Err(err.into());
            }
            result?;
            r.verify_to_end()?;
        }
        Ok(())
    }
}

enum State {
    Reading,
    StreamEnded,
    Done,
    Failed(ZipError),
}

/// Streams one entry's decompressed bytes, enforcing its declared size and checking its CRC
/// at the end. Errors are `io::Error`s wrapping a [`ZipError`].
pub struct EntryReader<'a, R> {
    src: BufReader<Take<&'a mut R>>,
    inflater: &'a mut Decompress,
    entry: &'a ZipEntry,
    limits: ZipLimits,
    label: String,
    produced: u64,
    crc: crc32fast::Hasher,
    state: State,
}

impl<'a, R: Read + Seek> EntryReader<'a, R> {
    fn new(
        src: &'a mut R,
        inflater: &'a mut Decompress,
        entry: &'a ZipEntry,
        limits: &ZipLimits,
        label: &str,
    ) -> Result<Self, ZipError> {
        src.seek(SeekFrom::Start(entry.data_offset))
            .map_err(|e| ZipError::Io {
                context: format!("read {label}"),
                reason: go_io_reason(&e),
            })?;
        inflater.reset(false);
        Ok(EntryReader {
            src: BufReader::with_capacity(CHUNK, src.take(entry.compressed_size)),
            inflater,
            entry,
            limits: *limits,
            label: label.to_string(),
            produced: 0,
            crc: crc32fast::Hasher::new(),
            state: State::Reading,
        })
    }

    pub fn entry(&self) -> &ZipEntry {
        self.entry
    }

    /// The verification failure this reader hit, if any.
    pub fn failure(&self) -> Option<ZipError> {
        match &self.state {
            State::Failed(e) => Some(e.clone()),
            _ => None,
        }
    }

    /// Reads (and discards) the rest of the entry, verifying size and CRC; returns the total
    /// number of decompressed bytes.
    pub fn verify_to_end(&mut self) -> Result<u64, ZipError> {
        let mut buf = vec![0u8; CHUNK];
        while self.next_chunk(&mut buf)? > 0 {}
        Ok(self.produced)
    }

    /// SHA-256 of the rest of the entry, verified. Large entries are inflated on this thread
    /// and hashed on another, so verifying costs about the slower of the two, not their sum.
    pub fn sha256(&mut self) -> Result<[u8; 32], ZipError> {
        if self.entry.uncompressed_size < PIPELINE_MIN_BYTES {
            let mut buf = vec![0u8; CHUNK];
            let mut h = Sha256::new();
            loop {
                let n = self.next_chunk(&mut buf)?;
                if n == 0 {
                    return Ok(h.finalize().into());
                }
                h.update(&buf[..n]);
            }
        }
        // Bounded memory: at most PIPELINE_DEPTH chunks in flight, and buffers come back to
        // be reused.
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(PIPELINE_DEPTH);
        let (free_tx, free_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(PIPELINE_DEPTH + 1);
        std::thread::scope(|scope| {
            let hasher = scope.spawn(move || {
                let mut h = Sha256::new();
                for buf in full_rx {
                    h.update(&buf);
                    let _ = free_tx.try_send(buf);
                }
                <[u8; 32]>::from(h.finalize())
            });
            let produced = (|| loop {
                let mut buf = free_rx.try_recv().unwrap_or_default();
                buf.resize(PIPELINE_CHUNK, 0);
                let n = self.next_chunk(&mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                buf.truncate(n);
                if full_tx.send(buf).is_err() {
                    return Ok(());
                }
            })();
            drop(full_tx);
            let digest = hasher.join().expect("hashing thread does not panic");
            produced.map(|()| digest)
        })
    }

    fn io_err(&self, e: &io::Error) -> ZipError {
        ZipError::Io {
            context: format!("read {}", self.label),
            reason: go_io_reason(e),
        }
    }

    fn next_chunk(&mut self, buf: &mut [u8]) -> Result<usize, ZipError> {
        match &self.state {
            State::Done => return Ok(0),
            State::Failed(e) => return Err(e.clone()),
            _ => {}
        }
        if buf.is_empty() {
            return Ok(0);
        }
        match self.step(buf) {
            Ok(n) => Ok(n),
            Err(e) => {
                self.state = State::Failed(e.clone());
                Err(e)
            }
        }
    }

    fn step(&mut self, buf: &mut [u8]) -> Result<usize, ZipError> {
        let entry: &'a ZipEntry = self.entry;
        let declared = entry.uncompressed_size;
        let name = &entry.name;
        let remaining = declared - self.produced;
        let n = match self.entry.method {
            Method::Stored => {
                if remaining == 0 {
                    0
                } else {
                    let want = buf
                        .len()
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    let n = loop {
                        match self.src.read(&mut buf[..want]) {
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(e) => return Err(self.io_err(&e)),
                            Ok(n) => break n,
                        }
                    };
                    if n == 0 {
                        return Err(ZipError::Truncated {
                            what: format!("data of entry {name:?} ends early"),
                        });
                    }
                    n
                }
            }
            Method::Deflated => {
                // Room for one byte past the declared size, so overlong data is caught.
                let room = remaining.saturating_add(1);
                let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
                self.inflate(&mut buf[..want])?
            }
        };
        if n == 0 {
            self.finish()?;
            return Ok(0);
        }
        self.produced += n as u64;
        if self.produced > declared {
            return Err(ZipError::SizeMismatch {
                name: name.clone(),
                declared,
                found: format!("more than {declared}"),
            });
        }
        if self
            .limits
            .ratio_exceeded(self.produced, self.entry.compressed_size)
        {
            return Err(ZipError::CompressionRatio {
                name: name.clone(),
                compressed: self.entry.compressed_size,
                uncompressed: self.produced,
                limit: self.limits.max_compression_ratio,
            });
        }
        self.crc.update(&buf[..n]);
        Ok(n)
    }

    fn inflate(&mut self, out: &mut [u8]) -> Result<usize, ZipError> {
        if matches!(self.state, State::StreamEnded) {
            return Ok(0);
        }
        let entry: &'a ZipEntry = self.entry;
        let corrupt = |detail: String| ZipError::CorruptData {
            name: entry.name.clone(),
            detail,
        };
        loop {
            let input = match self.src.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_err(&e)),
            };
            let at_eof = input.is_empty();
            let (before_in, before_out) = (self.inflater.total_in(), self.inflater.total_out());
            let result = self.inflater.decompress(input, out, FlushDecompress::None);
            let consumed = (self.inflater.total_in() - before_in) as usize;
            let produced = (self.inflater.total_out() - before_out) as usize;
            self.src.consume(consumed);
            match result {
                Err(e) => return Err(corrupt(e.to_string())),
                Ok(Status::StreamEnd) => self.state = State::StreamEnded,
                Ok(_) => {}
            }
            if produced > 0 {
                return Ok(produced);
            }
            if matches!(self.state, State::StreamEnded) {
                return Ok(0);
            }
            if at_eof {
                return Err(corrupt("unexpected end of compressed data".into()));
            }
            if consumed == 0 {
                return Err(corrupt("inflate made no progress".into()));
            }
        }
    }

    fn finish(&mut self) -> Result<(), ZipError> {
        let e = self.entry;
        if self.produced != e.uncompressed_size {
            return Err(ZipError::SizeMismatch {
                name: e.name.clone(),
                declared: e.uncompressed_size,
                found: self.produced.to_string(),
            });
        }
        let actual = self.crc.clone().finalize();
        if actual != e.crc32 {
            return Err(ZipError::CrcMismatch {
                name: e.name.clone(),
                expected: e.crc32,
                actual,
            });
        }
        self.state = State::Done;
        Ok(())
    }
}

impl<R: Read + Seek> Read for EntryReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.next_chunk(buf).map_err(|e| match e {
            ZipError::Io { .. } => io::Error::other(e),
            _ => io::Error::new(io::ErrorKind::InvalidData, e),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Directory parsing.

/// A central-directory record before semantic checks.
struct RawRecord {
    name_bytes: Vec<u8>,
    made_by: u16,
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    external_attrs: u32,
    header_offset: u64,
    zip64_sizes: bool,
}

fn malformed(detail: impl Into<String>) -> ZipError {
    ZipError::Malformed {
        detail: detail.into(),
    }
}

fn truncated(what: impl Into<String>) -> ZipError {
    ZipError::Truncated { what: what.into() }
}

fn add(a: u64, b: u64, what: &str) -> Result<u64, ZipError> {
    a.checked_add(b)
        .ok_or_else(|| malformed(format!("{what}: offset overflows")))
}

struct Src<'s, R> {
    r: &'s mut R,
    label: &'s str,
}

impl<R: Read + Seek> Src<'_, R> {
    fn io(&self, e: &io::Error) -> ZipError {
        ZipError::Io {
            context: format!("read {}", self.label),
            reason: go_io_reason(e),
        }
    }

    fn seek(&mut self, at: u64) -> Result<(), ZipError> {
        self.r
            .seek(SeekFrom::Start(at))
            .map(|_| ())
            .map_err(|e| self.io(&e))
    }

    /// Reads exactly `buf.len()` bytes at `at`; a short read is reported as truncation of
    /// `what`.
    fn read_at(&mut self, at: u64, buf: &mut [u8], what: &str) -> Result<(), ZipError> {
        self.seek(at)?;
        read_full(self.r, buf).map_err(|e| match e {
            Some(e) => self.io(&e),
            None => truncated(what.to_string()),
        })
    }
}

/// `Err(None)` means end of input before `buf` was filled.
fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> Result<(), Option<io::Error>> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => return Err(None),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Some(e)),
        }
    }
    Ok(())
}

struct Directory {
    count: u64,
    cd_size: u64,
    cd_offset: u64,
    /// Where the central directory must end: the zip64 end record or the end record.
    cd_limit: u64,
}

fn find_directory<R: Read + Seek>(src: &mut Src<'_, R>) -> Result<Directory, ZipError> {
    let file_len = src.r.seek(SeekFrom::End(0)).map_err(|e| src.io(&e))?;
    if file_len < EOCD_LEN as u64 {
        return Err(ZipError::NotAZip);
    }
    let tail_len = file_len.min(EOCD_SEARCH);
    let tail_start = file_len - tail_len;
    let mut tail = vec![0u8; tail_len as usize];
    src.read_at(tail_start, &mut tail, "end of central directory")?;
    let sig = SIG_EOCD.to_le_bytes();
    let found = (0..=tail.len() - EOCD_LEN).rev().find(|&i| {
        tail[i..i + 4] == sig && i + EOCD_LEN + le16(&tail, i + 20) as usize <= tail.len()
    });
    let Some(i) = found else {
        return Err(ZipError::NotAZip);
    };
    let eocd_pos = tail_start + i as u64;
    let e = &tail[i..i + EOCD_LEN];
    let (disk, cd_disk) = (le16(e, 4), le16(e, 6));
    let (disk_count, count) = (le16(e, 8) as u64, le16(e, 10) as u64);
    let cd_size = le32(e, 12) as u64;
    let cd_offset = le32(e, 16) as u64;
    if disk != 0 || cd_disk != 0 || disk_count != count {
        return Err(ZipError::MultiDisk);
    }

    // A zip64 end-of-central-directory locator immediately precedes the end record.
    if eocd_pos >= LOCATOR64_LEN as u64 {
        let mut loc = [0u8; LOCATOR64_LEN];
        src.read_at(eocd_pos - LOCATOR64_LEN as u64, &mut loc, "zip64 locator")?;
        if le32(&loc, 0) == SIG_LOCATOR64 {
            let (loc_disk, eocd64_at, disks) = (le32(&loc, 4), le64(&loc, 8), le32(&loc, 16));
            if loc_disk != 0 || disks > 1 {
                return Err(ZipError::MultiDisk);
            }
            let locator_pos = eocd_pos - LOCATOR64_LEN as u64;
            if add(eocd64_at, EOCD64_LEN as u64, "zip64 end record")? > locator_pos {
                return Err(malformed("zip64 end record lies outside the archive"));
            }
            let mut r = [0u8; EOCD64_LEN];
            src.read_at(eocd64_at, &mut r, "zip64 end record")?;
            if le32(&r, 0) != SIG_EOCD64 {
                return Err(malformed("bad zip64 end record signature"));
            }
            let (disk64, cd_disk64) = (le32(&r, 16), le32(&r, 20));
            let (disk_count64, count64) = (le64(&r, 24), le64(&r, 32));
            let (cd_size64, cd_offset64) = (le64(&r, 40), le64(&r, 48));
            if disk64 != 0 || cd_disk64 != 0 || disk_count64 != count64 {
                return Err(ZipError::MultiDisk);
            }
            // Fields the 32-bit record could hold must agree, so that no reader sees a
            // different directory than another.
            let agree = (count == MAX16 || count == count64)
                && (cd_size == MAX32 || cd_size == cd_size64)
                && (cd_offset == MAX32 || cd_offset == cd_offset64);
            if !agree {
                return Err(malformed("zip64 end record disagrees with the end record"));
            }
            return Ok(Directory {
                count: count64,
                cd_size: cd_size64,
                cd_offset: cd_offset64,
                cd_limit: eocd64_at,
            });
        }
    }
    Ok(Directory {
        count,
        cd_size,
        cd_offset,
        cd_limit: eocd_pos,
    })
}

fn read_central<R: Read + Seek>(
    src: &mut Src<'_, R>,
    dir: &Directory,
) -> Result<Vec<RawRecord>, ZipError> {
    src.seek(dir.cd_offset)?;
    let label = src.label;
    let mut cd = BufReader::with_capacity(CHUNK, (&mut *src.r).take(dir.cd_size));
    let short = |i: u64| malformed(format!("central directory record {i} is cut short"));
    let io = |e: io::Error| ZipError::Io {
        context: format!("read {label}"),
        reason: go_io_reason(&e),
    };
    let mut read = |buf: &mut [u8], i: u64| -> Result<(), ZipError> {
        read_full(&mut cd, buf).map_err(|e| match e {
            Some(e) => io(e),
            None => short(i),
        })
    };
    let mut records = Vec::with_capacity(dir.count.min(4096) as usize);
    let mut consumed = 0u64;
    let mut fixed = [0u8; CENTRAL_LEN];
    let mut extra = Vec::new();
    let mut scratch = Vec::new();
    for i in 0..dir.count {
        read(&mut fixed, i)?;
        if le32(&fixed, 0) != SIG_CENTRAL {
            return Err(malformed(format!(
                "bad signature in central directory record {i}"
            )));
        }
        let name_len = le16(&fixed, 28) as usize;
        let extra_len = le16(&fixed, 30) as usize;
        let comment_len = le16(&fixed, 32) as usize;
        let mut name_bytes = vec![0u8; name_len];
        read(&mut name_bytes, i)?;
        if name_len > MAX_NAME_LEN {
            // Refused before it is kept, so the directory's memory stays bounded.
            return Err(ZipError::NameTooLong {
                name: String::from_utf8_lossy(&name_bytes[..64]).into_owned(),
                limit: MAX_NAME_LEN,
            });
        }
        extra.resize(extra_len, 0);
        read(&mut extra, i)?;
        scratch.resize(comment_len, 0);
        read(&mut scratch, i)?;
        consumed += (CENTRAL_LEN + name_len + extra_len + comment_len) as u64;

        let mut rec = RawRecord {
            name_bytes,
            made_by: le16(&fixed, 4),
            flags: le16(&fixed, 8),
            method: le16(&fixed, 10),
            crc: le32(&fixed, 16),
            compressed: le32(&fixed, 20) as u64,
            uncompressed: le32(&fixed, 24) as u64,
            external_attrs: le32(&fixed, 38),
            header_offset: le32(&fixed, 42) as u64,
            zip64_sizes: false,
        };
        apply_zip64_extra(&mut rec, &extra, i)?;
        records.push(rec);
    }
    if consumed != dir.cd_size {
        return Err(malformed(format!(
            "central directory is {} bytes but its {} records take {consumed}",
            dir.cd_size, dir.count
        )));
    }
    Ok(records)
}

/// Replaces saturated 32-bit fields with their values from the zip64 extra field.
fn apply_zip64_extra(rec: &mut RawRecord, extra: &[u8], i: u64) -> Result<(), ZipError> {
    let mut rest = extra;
    while rest.len() >= 4 {
        let (id, size) = (le16(rest, 0), le16(rest, 2) as usize);
        if rest.len() < 4 + size {
            return Err(malformed(format!(
                "extra field overruns central directory record {i}"
            )));
        }
        let mut data = &rest[4..4 + size];
        rest = &rest[4 + size..];
        if id != EXTRA_ZIP64 {
            continue;
        }
        let mut take = |field: &mut u64| -> Result<bool, ZipError> {
            if *field != MAX32 {
                return Ok(false);
            }
            if data.len() < 8 {
                return Err(malformed(format!(
                    "zip64 extra field too short in central directory record {i}"
                )));
            }
            *field = le64(data, 0);
            data = &data[8..];
            Ok(true)
        };
        let u = take(&mut rec.uncompressed)?;
        let c = take(&mut rec.compressed)?;
        take(&mut rec.header_offset)?;
        rec.zip64_sizes = u || c;
        return Ok(());
    }
    Ok(())
}

fn parse<R: Read + Seek>(
    r: &mut R,
    limits: &ZipLimits,
    label: &str,
) -> Result<Vec<ZipEntry>, ZipError> {
    let mut src = Src { r, label };
    let dir = find_directory(&mut src)?;
    if dir.count > limits.max_entries {
        return Err(ZipError::TooManyEntries {
            count: dir.count,
            limit: limits.max_entries,
        });
    }
    if add(dir.cd_offset, dir.cd_size, "central directory")? > dir.cd_limit {
        return Err(truncated(
            "central directory extends past the end records (missing data?)",
        ));
    }
    let raw = read_central(&mut src, &dir)?;

    // Names: valid UTF-8 first, then duplicates (the reference's verification error), then
    // the unsafe-name rules.
    let mut names = Vec::with_capacity(raw.len());
    for rec in &raw {
        match String::from_utf8(rec.name_bytes.clone()) {
            Ok(s) => names.push(s),
            Err(_) => {
                return Err(ZipError::NonUtf8Name {
                    name: String::from_utf8_lossy(&rec.name_bytes).into_owned(),
                })
            }
        }
    }
    check_duplicates(&names)?;
    for name in &names {
        check_name(name)?;
    }

    let mut entries = Vec::with_capacity(raw.len());
    let mut total = 0u64;
    for (rec, name) in raw.iter().zip(names) {
        let unix_host = matches!(rec.made_by >> 8, 3 | 19);
        let mode = (rec.external_attrs >> 16, unix_host);
        if unix_host && mode.0 & S_IFMT == S_IFLNK {
            return Err(ZipError::Symlink { name });
        }
        if rec.flags & FLAG_ENCRYPTED != 0 {
            return Err(ZipError::Encrypted { name });
        }
        let method = match rec.method {
            METHOD_STORED => Method::Stored,
            METHOD_DEFLATE => Method::Deflated,
            m => return Err(ZipError::UnsupportedMethod { name, method: m }),
        };
        if method == Method::Stored && rec.compressed != rec.uncompressed {
            return Err(ZipError::SizeMismatch {
                name,
                declared: rec.uncompressed,
                found: format!("{} stored bytes", rec.compressed),
            });
        }
        if rec.uncompressed > limits.max_entry_size {
            return Err(ZipError::EntryTooLarge {
                name,
                size: rec.uncompressed,
                limit: limits.max_entry_size,
            });
        }
        total = total.saturating_add(rec.uncompressed);
        if total > limits.max_total_size {
            return Err(ZipError::TotalTooLarge {
                total,
                limit: limits.max_total_size,
            });
        }
        if method == Method::Deflated && limits.ratio_exceeded(rec.uncompressed, rec.compressed) {
            return Err(ZipError::CompressionRatio {
                name,
                compressed: rec.compressed,
                uncompressed: rec.uncompressed,
                limit: limits.max_compression_ratio,
            });
        }
        entries.push(ZipEntry {
            name,
            method,
            compressed_size: rec.compressed,
            uncompressed_size: rec.uncompressed,
            crc32: rec.crc,
            mode: (unix_host && mode.0 != 0).then_some(mode.0),
            data_offset: 0,
        });
    }

    let spans = check_local_headers(&mut src, &raw, &mut entries, dir.cd_offset)?;
    check_overlaps(&spans, &entries)?;
    Ok(entries)
}

fn check_duplicates(names: &[String]) -> Result<(), ZipError> {
    let mut seen = HashSet::with_capacity(names.len());
    let mut dups = BTreeSet::new();
    for n in names {
        let key = n.trim();
        if !seen.insert(key) {
            dups.insert(key.to_string());
        }
    }
    if dups.is_empty() {
        Ok(())
    } else {
        Err(ZipError::DuplicateEntries {
            names: dups.into_iter().collect(),
        })
    }
}

fn check_name(name: &str) -> Result<(), ZipError> {
    let name_err = |p| {
        let name = name.to_string();
        match p {
            NameProblem::Empty => ZipError::EmptyName,
            NameProblem::TooLong => ZipError::NameTooLong {
                name: String::from_utf8_lossy(&name.as_bytes()[..64]).into_owned(),
                limit: MAX_NAME_LEN,
            },
            NameProblem::Nul => ZipError::NulInName { name },
            NameProblem::Backslash => ZipError::BackslashInName { name },
            NameProblem::Absolute => ZipError::AbsolutePath { name },
            NameProblem::ParentSegment => ZipError::ParentSegment { name },
        }
    };
    match name_problem(name) {
        Some(p) => Err(name_err(p)),
        None => Ok(()),
    }
}

/// Reads each local header, checks it against its central record and the data's bounds, and
/// fills in data offsets. Returns each entry's byte span `[header, end of data/descriptor)`.
fn check_local_headers<R: Read + Seek>(
    src: &mut Src<'_, R>,
    raw: &[RawRecord],
    entries: &mut [ZipEntry],
    cd_offset: u64,
) -> Result<Vec<(u64, u64)>, ZipError> {
    let mut spans = Vec::with_capacity(raw.len());
    let mut fixed = [0u8; LOCAL_LEN];
    for (rec, entry) in raw.iter().zip(entries.iter_mut()) {
        let name = &entry.name;
        let mismatch = |detail: &str| ZipError::LocalHeaderMismatch {
            name: name.clone(),
            detail: detail.to_string(),
        };
        if add(rec.header_offset, LOCAL_LEN as u64, name)? > cd_offset {
            return Err(truncated(format!(
                "local header of entry {name:?} lies past the start of the central directory"
            )));
        }
        src.read_at(rec.header_offset, &mut fixed, "local header")?;
        if le32(&fixed, 0) != SIG_LOCAL {
            return Err(mismatch("bad local header signature"));
        }
        let flags = le16(&fixed, 6);
        if flags & FLAG_ENCRYPTED != 0 {
            return Err(ZipError::Encrypted { name: name.clone() });
        }
        if le16(&fixed, 8) != rec.method {
            return Err(mismatch("compression method differs"));
        }
        let name_len = le16(&fixed, 26) as u64;
        let extra_len = le16(&fixed, 28) as u64;
        if name_len != rec.name_bytes.len() as u64 {
            return Err(mismatch("name differs"));
        }
        let mut local_name = vec![0u8; rec.name_bytes.len()];
        let name_at = rec.header_offset + LOCAL_LEN as u64;
        if add(name_at, name_len, name)? > cd_offset {
            return Err(truncated(format!("local header of entry {name:?}")));
        }
        src.read_at(name_at, &mut local_name, "local header")?;
        if local_name != rec.name_bytes {
            return Err(mismatch("name differs"));
        }
        let data_offset = add(add(name_at, name_len, name)?, extra_len, name)?;
        let data_end = add(data_offset, rec.compressed, name)?;
        if data_end > cd_offset {
            return Err(truncated(format!(
                "data of entry {name:?} runs past the start of the central directory"
            )));
        }
        let mut end = data_end;
        if rec.flags & FLAG_DESCRIPTOR != 0 {
            let sizes = if rec.zip64_sizes { 16 } else { 8 };
            let mut d = [0u8; 24];
            let avail = (cd_offset - data_end).min(24) as usize;
            if avail < 4 {
                return Err(truncated(format!("data descriptor of entry {name:?}")));
            }
            src.read_at(data_end, &mut d[..avail], "data descriptor")?;
            let (crc_at, len) = if le32(&d, 0) == SIG_DESCRIPTOR {
                (4, 8 + sizes)
            } else {
                (0, 4 + sizes)
            };
            if avail < len {
                return Err(truncated(format!("data descriptor of entry {name:?}")));
            }
            let found = le32(&d, crc_at);
            if found != rec.crc {
                return Err(ZipError::DescriptorMismatch {
                    name: name.clone(),
                    expected: rec.crc,
                    found,
                });
            }
            end = data_end + len as u64;
        }
        entry.data_offset = data_offset;
        spans.push((rec.header_offset, end));
    }
    Ok(spans)
}

fn check_overlaps(spans: &[(u64, u64)], entries: &[ZipEntry]) -> Result<(), ZipError> {
    let mut order: Vec<usize> = (0..spans.len()).collect();
    order.sort_by_key(|&i| spans[i].0);
    for pair in order.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if spans[a].1 > spans[b].0 {
            return Err(ZipError::OverlappingEntries {
                first: entries[a].name.clone(),
                second: entries[b].name.clone(),
            });
        }
    }
    Ok(())
}
