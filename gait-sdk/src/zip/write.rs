//! The deterministic writer: Go `archive/zip` header conventions, sorted entries, fixed
//! timestamps and a fixed deflate level, streaming every entry so inputs need not fit in memory.

use super::*;
use crate::error::{Category, GaitError};
use crate::fsutil::{create_dir_all_mode, go_io_reason};
use flate2::{Compress, Compression, FlushCompress, Status};
use std::borrow::Cow;
use std::fs::{self, File};
use std::io::{self, BufWriter, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

const CHUNK: usize = 64 * 1024;

/// A raw deflate stream holding no data: one final fixed-Huffman block with only end-of-block.
const EMPTY_DEFLATE: [u8; 2] = [0x03, 0x00];

/// Why an archive could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZipWriteError {
    #[error("invalid zip entry name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("duplicate zip entry name {name:?}")]
    DuplicateEntry { name: String },
    #[error("zip entries out of order: {name:?} after {previous:?}")]
    OutOfOrder { previous: String, name: String },
    /// Reading an entry's content failed.
    #[error("read zip entry {name}: {reason}")]
    Source { name: String, reason: String },
    /// Creating, writing, syncing or renaming the archive failed.
    #[error("{context}: {reason}")]
    Io { context: String, reason: String },
    #[error("zip: deflate failed for entry {name}: {detail}")]
    Deflate { name: String, detail: String },
    /// An earlier failure left this writer's output incomplete.
    #[error("zip: writer is unusable after an earlier error")]
    Poisoned,
}

impl ZipWriteError {
    /// Error category: bad names are invalid input, everything else is an I/O or internal failure.
    pub fn category(&self) -> Category {
        match self {
            ZipWriteError::InvalidName { .. }
            | ZipWriteError::DuplicateEntry { .. }
            | ZipWriteError::OutOfOrder { .. } => Category::InvalidInput,
            ZipWriteError::Source { .. } | ZipWriteError::Io { .. } => Category::IoFailure,
            ZipWriteError::Deflate { .. } | ZipWriteError::Poisoned => Category::Internal,
        }
    }

    fn io(context: impl Into<String>, err: &io::Error) -> Self {
        ZipWriteError::Io {
            context: context.into(),
            reason: go_io_reason(err),
        }
    }

    /// Recovers a `ZipWriteError` carried through an `io::Error`, or describes the I/O error.
    fn from_io(err: io::Error, context: &str) -> Self {
        match err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ZipWriteError>())
        {
            Some(inner) => inner.clone(),
            None => ZipWriteError::io(context, &err),
        }
    }
}

impl From<ZipWriteError> for GaitError {
    fn from(e: ZipWriteError) -> Self {
        GaitError::new(e.category(), e.to_string())
    }
}

/// Per-entry choices that change the written bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntryOptions {
    /// Written as mode 0755 instead of 0644.
    pub executable: bool,
}

impl EntryOptions {
    pub fn executable() -> Self {
        EntryOptions { executable: true }
    }
}

/// Checks a name against the writer's rules, which are stricter than the reader's: besides the
/// unsafe names it also refuses names that are not in one canonical form.
fn check_name(name: &str) -> Result<(), ZipWriteError> {
    let invalid = |reason| {
        Err(ZipWriteError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if let Some(problem) = name_problem(name) {
        return invalid(match problem {
            NameProblem::Empty => "name is empty",
            NameProblem::TooLong => "name is longer than 4096 bytes",
            NameProblem::Nul => "name contains a NUL byte",
            NameProblem::Backslash => "name contains a backslash (use '/' separators)",
            NameProblem::Absolute => "name is an absolute path",
            NameProblem::ParentSegment => "name contains a '..' segment",
        });
    }
    if name.trim() != name {
        return invalid("name has leading or trailing whitespace");
    }
    if name.ends_with('/') {
        return invalid("directory entries are not written");
    }
    for seg in name.split('/') {
        if seg.is_empty() {
            return invalid("name contains an empty path segment");
        }
        if seg == "." {
            return invalid("name contains a '.' segment");
        }
    }
    Ok(())
}

struct Record {
    name: String,
    flags: u16,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    offset: u64,
    external_attrs: u32,
}

impl Record {
    fn zip64_sizes(&self) -> bool {
        self.compressed >= MAX32 || self.uncompressed >= MAX32
    }
}

/// A streaming zip writer. Entries must be added in strictly increasing byte order of their
/// names; [`ZipBuilder`] sorts for you. Memory use is bounded by the number of entries, not
/// their sizes.
pub struct ZipWriter<W: Write> {
    out: W,
    offset: u64,
    records: Vec<Record>,
    deflate: Option<Compress>,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    poisoned: bool,
    #[cfg(test)]
    pub(super) force_zip64: bool,
}

impl<W: Write> ZipWriter<W> {
    pub fn new(out: W) -> Self {
        ZipWriter {
            out,
            offset: 0,
            records: Vec::new(),
            deflate: None,
            inbuf: Vec::new(),
            outbuf: Vec::new(),
            poisoned: false,
            #[cfg(test)]
            force_zip64: false,
        }
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.offset
    }

    /// Adds one entry whose content is read from `data` to its end.
    pub fn add_entry<R: Read>(
        &mut self,
        name: &str,
        data: R,
        options: EntryOptions,
    ) -> Result<(), ZipWriteError> {
        if self.poisoned {
            return Err(ZipWriteError::Poisoned);
        }
        check_name(name)?;
        if let Some(prev) = self.records.last() {
            if prev.name.as_str() == name {
                return Err(ZipWriteError::DuplicateEntry { name: name.into() });
            }
            if prev.name.as_str() > name {
                return Err(ZipWriteError::OutOfOrder {
                    previous: prev.name.clone(),
                    name: name.into(),
                });
            }
        }
        self.poisoned = true;
        let record = self.write_entry(name, data, options)?;
        self.records.push(record);
        self.poisoned = false;
        Ok(())
    }

    /// Adds one entry held in memory.
    pub fn add_bytes(
        &mut self,
        name: &str,
        bytes: &[u8],
        options: EntryOptions,
    ) -> Result<(), ZipWriteError> {
        self.add_entry(name, bytes, options)
    }

    /// Writes the central directory and end records, flushes, and returns the inner writer.
    pub fn finish(mut self) -> Result<W, ZipWriteError> {
        if self.poisoned {
            return Err(ZipWriteError::Poisoned);
        }
        let cd_start = self.offset;
        let mut buf = Vec::with_capacity(CENTRAL_LEN + 64);
        for i in 0..self.records.len() {
            buf.clear();
            self.central_header(&self.records[i], &mut buf);
            self.emit(&buf)?;
        }
        let cd_size = self.offset - cd_start;
        let count = self.records.len() as u64;
        buf.clear();
        let zip64 = count >= MAX16 || cd_size >= MAX32 || cd_start >= MAX32 || self.forced_zip64();
        let (eocd_count, eocd_size, eocd_offset) = if zip64 {
            let eocd64_at = self.offset;
            put32(&mut buf, SIG_EOCD64);
            put64(&mut buf, (EOCD64_LEN - 12) as u64);
            put16(&mut buf, VERSION_NEEDED_ZIP64);
            put16(&mut buf, VERSION_NEEDED_ZIP64);
            put32(&mut buf, 0);
            put32(&mut buf, 0);
            put64(&mut buf, count);
            put64(&mut buf, count);
            put64(&mut buf, cd_size);
            put64(&mut buf, cd_start);
            put32(&mut buf, SIG_LOCATOR64);
            put32(&mut buf, 0);
            put64(&mut buf, eocd64_at);
            put32(&mut buf, 1);
            (MAX16 as u16, MAX32 as u32, MAX32 as u32)
        } else {
            (count as u16, cd_size as u32, cd_start as u32)
        };
        put32(&mut buf, SIG_EOCD);
        put16(&mut buf, 0);
        put16(&mut buf, 0);
        put16(&mut buf, eocd_count);
        put16(&mut buf, eocd_count);
        put32(&mut buf, eocd_size);
        put32(&mut buf, eocd_offset);
        put16(&mut buf, 0);
        self.emit(&buf)?;
        self.out
            .flush()
            .map_err(|e| ZipWriteError::io("write zip", &e))?;
        Ok(self.out)
    }

    fn emit(&mut self, bytes: &[u8]) -> Result<(), ZipWriteError> {
        emit(&mut self.out, &mut self.offset, bytes)
    }

    fn write_entry<R: Read>(
        &mut self,
        name: &str,
        mut data: R,
        options: EntryOptions,
    ) -> Result<Record, ZipWriteError> {
        let mut flags = FLAG_DESCRIPTOR;
        if needs_utf8_flag(name) {
            flags |= FLAG_UTF8;
        }
        let offset = self.offset;
        let mut local = Vec::with_capacity(LOCAL_LEN + name.len() + 9);
        put32(&mut local, SIG_LOCAL);
        put16(&mut local, VERSION_NEEDED);
        put16(&mut local, flags);
        put16(&mut local, METHOD_DEFLATE);
        put16(&mut local, DOS_TIME);
        put16(&mut local, DOS_DATE);
        put32(&mut local, 0); // crc, sizes: in the data descriptor
        put32(&mut local, 0);
        put32(&mut local, 0);
        put16(&mut local, name.len() as u16);
        put16(&mut local, 9);
        local.extend_from_slice(name.as_bytes());
        put_timestamp_extra(&mut local);
        self.emit(&local)?;

        let (crc, uncompressed, compressed) = self.deflate_entry(name, &mut data)?;

        let mut record = Record {
            name: name.to_string(),
            flags,
            crc,
            compressed,
            uncompressed,
            offset,
            external_attrs: if options.executable {
                (S_IFREG | 0o755) << 16
            } else {
                (S_IFREG | 0o644) << 16
            },
        };
        let mut desc = Vec::with_capacity(24);
        put32(&mut desc, SIG_DESCRIPTOR);
        put32(&mut desc, crc);
        if record.zip64_sizes() || self.forced_zip64() {
            put64(&mut desc, compressed);
            put64(&mut desc, uncompressed);
        } else {
            put32(&mut desc, compressed as u32);
            put32(&mut desc, uncompressed as u32);
        }
        self.emit(&desc)?;
        record.name.shrink_to_fit();
        Ok(record)
    }

    #[cfg(test)]
    fn forced_zip64(&self) -> bool {
        self.force_zip64
    }

    #[cfg(not(test))]
    fn forced_zip64(&self) -> bool {
        false
    }

    /// Streams `data` through the compressor; returns (crc32, uncompressed, compressed).
    fn deflate_entry<R: Read>(
        &mut self,
        name: &str,
        data: &mut R,
    ) -> Result<(u32, u64, u64), ZipWriteError> {
        if self.inbuf.is_empty() {
            self.inbuf = vec![0; CHUNK];
            self.outbuf = vec![0; CHUNK];
        }
        let source_err = |e: &io::Error| ZipWriteError::Source {
            name: name.to_string(),
            reason: go_io_reason(e),
        };
        let mut n = read_retrying(data, &mut self.inbuf).map_err(|e| source_err(&e))?;
        if n == 0 {
            // Skip the compressor (and its reset) for empty entries; the output is fixed.
            self.emit(&EMPTY_DEFLATE)?;
            return Ok((0, 0, EMPTY_DEFLATE.len() as u64));
        }
        let deflate_err = |detail: String| ZipWriteError::Deflate {
            name: name.to_string(),
            detail,
        };
        let compress = match &mut self.deflate {
            Some(c) => {
                c.reset();
                c
            }
            None => self
                .deflate
                .insert(Compress::new(Compression::new(DEFLATE_LEVEL), false)),
        };
        let mut crc = crc32fast::Hasher::new();
        let mut uncompressed = 0u64;
        let mut compressed = 0u64;
        loop {
            let finishing = n == 0;
            let flush = if finishing {
                FlushCompress::Finish
            } else {
                FlushCompress::None
            };
            crc.update(&self.inbuf[..n]);
            uncompressed += n as u64;
            let mut input = &self.inbuf[..n];
            loop {
                let (before_in, before_out) = (compress.total_in(), compress.total_out());
                let status = compress
                    .compress(input, &mut self.outbuf, flush)
                    .map_err(|e| deflate_err(e.to_string()))?;
                let consumed = (compress.total_in() - before_in) as usize;
                let produced = (compress.total_out() - before_out) as usize;
                input = &input[consumed..];
                if produced > 0 {
                    emit(&mut self.out, &mut self.offset, &self.outbuf[..produced])?;
                    compressed += produced as u64;
                }
                if finishing && status == Status::StreamEnd {
                    return Ok((crc.finalize(), uncompressed, compressed));
                }
                if !finishing && input.is_empty() {
                    break;
                }
                if consumed == 0 && produced == 0 {
                    return Err(deflate_err("compressor made no progress".into()));
                }
            }
            n = read_retrying(data, &mut self.inbuf).map_err(|e| source_err(&e))?;
        }
    }

    fn central_header(&self, r: &Record, buf: &mut Vec<u8>) {
        let zip64_sizes = r.zip64_sizes() || self.forced_zip64();
        let zip64_offset = r.offset >= MAX32 || self.forced_zip64();
        let mut zip64 = Vec::new();
        if zip64_sizes {
            put64(&mut zip64, r.uncompressed);
            put64(&mut zip64, r.compressed);
        }
        if zip64_offset {
            put64(&mut zip64, r.offset);
        }
        let extra_len = 9 + if zip64.is_empty() { 0 } else { 4 + zip64.len() };
        put32(buf, SIG_CENTRAL);
        put16(buf, VERSION_MADE_BY);
        put16(
            buf,
            if zip64.is_empty() {
                VERSION_NEEDED
            } else {
                VERSION_NEEDED_ZIP64
            },
        );
        put16(buf, r.flags);
        put16(buf, METHOD_DEFLATE);
        put16(buf, DOS_TIME);
        put16(buf, DOS_DATE);
        put32(buf, r.crc);
        if zip64_sizes {
            put32(buf, MAX32 as u32);
            put32(buf, MAX32 as u32);
        } else {
            put32(buf, r.compressed as u32);
            put32(buf, r.uncompressed as u32);
        }
        put16(buf, r.name.len() as u16);
        put16(buf, extra_len as u16);
        put16(buf, 0); // comment
        put16(buf, 0); // disk
        put16(buf, 0); // internal attributes
        put32(buf, r.external_attrs);
        put32(
            buf,
            if zip64_offset {
                MAX32 as u32
            } else {
                r.offset as u32
            },
        );
        buf.extend_from_slice(r.name.as_bytes());
        put_timestamp_extra(buf);
        if !zip64.is_empty() {
            put16(buf, EXTRA_ZIP64);
            put16(buf, zip64.len() as u16);
            buf.extend_from_slice(&zip64);
        }
    }
}

fn emit<W: Write>(out: &mut W, offset: &mut u64, bytes: &[u8]) -> Result<(), ZipWriteError> {
    out.write_all(bytes)
        .map_err(|e| ZipWriteError::from_io(e, "write zip"))?;
    *offset += bytes.len() as u64;
    Ok(())
}

fn read_retrying<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn put16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}

fn put32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}

fn put64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

/// Extended timestamp: modification time only, 1980-01-01T00:00:00Z.
fn put_timestamp_extra(v: &mut Vec<u8>) {
    put16(v, EXTRA_TIMESTAMP);
    put16(v, 5);
    v.push(0x01);
    put32(v, MTIME_UNIX);
}

enum Source<'a> {
    Bytes(Cow<'a, [u8]>),
    Reader(Box<dyn Read + 'a>),
    File(PathBuf),
}

struct Pending<'a> {
    name: String,
    source: Source<'a>,
    options: EntryOptions,
}

/// Collects entries in any order and writes them sorted by name. Readers and files are only
/// read while the archive is written, one at a time, in bounded memory.
#[derive(Default)]
pub struct ZipBuilder<'a> {
    entries: Vec<Pending<'a>>,
}

impl<'a> ZipBuilder<'a> {
    pub fn new() -> Self {
        ZipBuilder::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn push(
        &mut self,
        name: &str,
        source: Source<'a>,
        options: EntryOptions,
    ) -> Result<&mut Self, ZipWriteError> {
        check_name(name)?;
        self.entries.push(Pending {
            name: name.to_string(),
            source,
            options,
        });
        Ok(self)
    }

    /// Adds an entry from memory (borrowed or owned).
    pub fn add_bytes(
        &mut self,
        name: &str,
        bytes: impl Into<Cow<'a, [u8]>>,
    ) -> Result<&mut Self, ZipWriteError> {
        self.push(name, Source::Bytes(bytes.into()), EntryOptions::default())
    }

    /// Adds an entry from memory with explicit options.
    pub fn add_bytes_with(
        &mut self,
        name: &str,
        bytes: impl Into<Cow<'a, [u8]>>,
        options: EntryOptions,
    ) -> Result<&mut Self, ZipWriteError> {
        self.push(name, Source::Bytes(bytes.into()), options)
    }

    /// Adds an entry streamed from `reader` when the archive is written.
    pub fn add_reader(
        &mut self,
        name: &str,
        reader: impl Read + 'a,
        options: EntryOptions,
    ) -> Result<&mut Self, ZipWriteError> {
        self.push(name, Source::Reader(Box::new(reader)), options)
    }

    /// Adds an entry streamed from the file at `path`, opened only when the archive is written.
    pub fn add_file(
        &mut self,
        name: &str,
        path: impl Into<PathBuf>,
        options: EntryOptions,
    ) -> Result<&mut Self, ZipWriteError> {
        self.push(name, Source::File(path.into()), options)
    }

    /// Writes the archive to `out` and returns it.
    pub fn write_to<W: Write>(mut self, out: W) -> Result<W, ZipWriteError> {
        self.entries.sort_by(|a, b| a.name.cmp(&b.name));
        let mut zw = ZipWriter::new(out);
        for e in self.entries {
            match e.source {
                Source::Bytes(b) => zw.add_entry(&e.name, &b[..], e.options)?,
                Source::Reader(r) => zw.add_entry(&e.name, r, e.options)?,
                Source::File(p) => {
                    let f = File::open(&p)
                        .map_err(|err| ZipWriteError::io(format!("open {}", p.display()), &err))?;
                    zw.add_entry(&e.name, f, e.options)?
                }
            }
        }
        zw.finish()
    }

    /// Writes the archive into memory.
    pub fn to_vec(self) -> Result<Vec<u8>, ZipWriteError> {
        self.write_to(Vec::new())
    }

    /// Writes the archive to `path` atomically with mode 0600 (see [`write_atomic_with`]).
    pub fn write_atomic(self, path: &Path) -> Result<(), ZipWriteError> {
        write_atomic_with(path, ARCHIVE_FILE_MODE, |out| {
            self.write_to(out).map(|_| ()).map_err(io::Error::other)
        })
        .map_err(|e| ZipWriteError::from_io(e, &format!("write {}", path.display())))
    }
}

/// The archive of `entries` (in any order) as bytes.
pub fn zip_to_vec<S: AsRef<str>, B: AsRef<[u8]>>(
    entries: &[(S, B)],
) -> Result<Vec<u8>, ZipWriteError> {
    let mut b = ZipBuilder::new();
    for (name, bytes) in entries {
        b.add_bytes(name.as_ref(), bytes.as_ref())?;
    }
    b.to_vec()
}

/// Writes the archive of `entries` (in any order) to `path` atomically with mode 0600.
pub fn write_zip_atomic<S: AsRef<str>, B: AsRef<[u8]>>(
    path: &Path,
    entries: &[(S, B)],
) -> Result<(), ZipWriteError> {
    let mut b = ZipBuilder::new();
    for (name, bytes) in entries {
        b.add_bytes(name.as_ref(), bytes.as_ref())?;
    }
    b.write_atomic(path)
}

/// Streaming counterpart of [`crate::fsutil::write_atomic`]: `fill` writes the content into
/// a buffered temp file `.<base>.tmp-<random>` in the target's directory, which is then
/// flushed, fsynced, set to `mode`, renamed over `path`, and the directory fsynced (best
/// effort). Parent directories are created with mode 0750. On any error the temp file is
/// removed and `path` is left untouched.
pub fn write_atomic_with<T>(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<T>,
) -> io::Result<T> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = path
        .file_name()
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_else(|| "gait".to_string());
    create_dir_all_mode(&parent, 0o750)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{base}.tmp-"))
        .rand_bytes(8)
        .tempfile_in(&parent)?;
    let value = {
        let mut out = BufWriter::with_capacity(256 * 1024, tmp.as_file_mut());
        let value = fill(&mut out)?;
        out.flush()?;
        value
    };
    tmp.as_file().sync_all()?;
    set_mode(tmp.as_file(), mode)?;
    match tmp.persist(path) {
        Ok(_) => {}
        #[cfg(windows)]
        Err(e) => {
            let _ = fs::remove_file(path);
            e.file.persist(path).map_err(|e| e.error)?;
        }
        #[cfg(not(windows))]
        Err(e) => return Err(e.error),
    }
    if let Ok(dir) = File::open(&parent) {
        let _ = dir.sync_all();
    }
    Ok(value)
}

#[cfg(unix)]
fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &File, _mode: u32) -> io::Result<()> {
    Ok(())
}
