//! Deterministic zip archives (feature `zip`): a writer whose bytes depend only on the entries
//! given to it, and a reader for hostile archives that streams, verifies and hashes entries in
//! bounded memory. Runpacks and PackSpec packs are built on it.
//!
//! It owns the zip byte format, entry-name rules and the reader's safety limits. It must not
//! know what a runpack or pack contains, never extracts anything to disk, and never prints.
//!
//! Why our own format code rather than the `zip` crate: verification must see every
//! central-directory record — duplicates included — and cross-check each one against its local
//! header and data descriptor, which a reader that indexes entries by name cannot do; and the
//! writer must pin every header byte (timestamps, extra fields, flags, ordering) so that output
//! is reproducible and cannot drift with another crate's defaults. Deflate itself comes from
//! `flate2` on the pure-Rust `miniz_oxide` backend (deterministic for a given version and level,
//! which `Cargo.lock` pins) and CRC-32 from `crc32fast`.

mod read;
mod write;

pub use read::{EntryReader, Method, ZipEntry, ZipError, ZipLimits, ZipReader};
pub use write::{
    write_atomic_with, write_zip_atomic, zip_to_vec, EntryOptions, ZipBuilder, ZipWriteError,
    ZipWriter,
};

/// Deflate level of every entry we write. Changing it changes every archive's bytes.
pub const DEFLATE_LEVEL: u32 = 5;

/// Longest entry name, in bytes, that is written or accepted.
pub const MAX_NAME_LEN: usize = 4096;

/// Mode of the final file written by [`write_zip_atomic`] and [`ZipBuilder::write_atomic`].
pub const ARCHIVE_FILE_MODE: u32 = 0o600;

const SIG_LOCAL: u32 = 0x0403_4b50;
const SIG_CENTRAL: u32 = 0x0201_4b50;
const SIG_EOCD: u32 = 0x0605_4b50;
const SIG_EOCD64: u32 = 0x0606_4b50;
const SIG_LOCATOR64: u32 = 0x0706_4b50;
const SIG_DESCRIPTOR: u32 = 0x0807_4b50;

const FLAG_ENCRYPTED: u16 = 0x0001;
const FLAG_DESCRIPTOR: u16 = 0x0008;
const FLAG_UTF8: u16 = 0x0800;

const METHOD_STORED: u16 = 0;
const METHOD_DEFLATE: u16 = 8;

/// 1980-01-01 00:00:00 in MS-DOS format.
const DOS_TIME: u16 = 0x0000;
const DOS_DATE: u16 = 0x0021;
/// The same instant as a Unix time, for the extended-timestamp extra field.
const MTIME_UNIX: u32 = 315_532_800;

const EXTRA_ZIP64: u16 = 0x0001;
const EXTRA_TIMESTAMP: u16 = 0x5455;

const VERSION_NEEDED: u16 = 20;
const VERSION_NEEDED_ZIP64: u16 = 45;
/// Unix host (3) in the high byte, zip 2.0 in the low byte.
const VERSION_MADE_BY: u16 = 0x0314;

const EOCD_LEN: usize = 22;
const EOCD64_LEN: usize = 56;
const LOCATOR64_LEN: usize = 20;
const CENTRAL_LEN: usize = 46;
const LOCAL_LEN: usize = 30;

const MAX16: u64 = 0xFFFF;
const MAX32: u64 = 0xFFFF_FFFF;

const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

/// Why a name is unsafe to use as an entry path, shared by reader and writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameProblem {
    Empty,
    TooLong,
    Nul,
    Backslash,
    Absolute,
    ParentSegment,
}

fn name_problem(name: &str) -> Option<NameProblem> {
    let b = name.as_bytes();
    if b.is_empty() {
        return Some(NameProblem::Empty);
    }
    if b.len() > MAX_NAME_LEN {
        return Some(NameProblem::TooLong);
    }
    if b.contains(&0) {
        return Some(NameProblem::Nul);
    }
    if b.contains(&b'\\') {
        return Some(NameProblem::Backslash);
    }
    if b[0] == b'/' || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':') {
        return Some(NameProblem::Absolute);
    }
    if name.split('/').any(|seg| seg == "..") {
        return Some(NameProblem::ParentSegment);
    }
    None
}

/// Go's `archive/zip` rule: the UTF-8 flag is set when a name is not plain ASCII, or holds
/// `~` or `\`, which some legacy code pages map to other characters.
fn needs_utf8_flag(name: &str) -> bool {
    name.bytes().any(|c| c >= 0x80 || c == b'~' || c == b'\\')
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests;
