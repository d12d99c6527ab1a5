//! Where a fixture's evidence comes from: resolving `--from` (a run id, a runpack path, a
//! session chain, a PackSpec run pack or a voice callpack) to runpack bytes, and reading
//! runpacks through the SDK's hardened zip reader.
//!
//! Every source is hostile input: sizes are capped before reading, archives go through the
//! SDK's zip checks (traversal, duplicates, bombs, CRC), and a runpack embedded in a pack is
//! taken only when the pack declares it with a matching digest.

use crate::error::RegressError;
use gait_sdk::fsutil;
use gait_sdk::gojson::GoValue;
use gait_sdk::jcs;
use gait_sdk::pack::runpack::{self, EntrySource, Runpack, RunpackError, VerifyReport};
use gait_sdk::pack::spec::{PackManifest, MANIFEST_NAME};
use gait_sdk::zip::{ZipError, ZipLimits, ZipReader};
use std::collections::BTreeMap;
use std::io::{Cursor, Read, Seek};
use std::path::{Path, PathBuf};

type R<T> = Result<T, RegressError>;

/// Largest runpack, pack or callpack file read as a source or fixture.
pub const MAX_ARCHIVE_BYTES: u64 = 256 * 1024 * 1024;
/// Largest session chain or capture receipt read.
pub const MAX_JSON_BYTES: u64 = 16 * 1024 * 1024;
/// Where a run pack or callpack keeps the runpack it was built from.
pub const EMBEDDED_RUNPACK: &str = "source/runpack.zip";

pub const HINT_FROM: &str = "pass a run id recorded under ./gait-out (see `gait demo`), or a path to a runpack, run pack or callpack zip";

/// A zip held in memory, as an [`EntrySource`] with a digest cache (verification asks for
/// each entry's hash more than once and the bytes cannot change while it is open).
pub struct ZipSource<Rd> {
    reader: ZipReader<Rd>,
    digests: BTreeMap<String, String>,
}

fn entry_error(e: ZipError) -> RunpackError {
    if e.is_integrity_error() {
        RunpackError::Verification(e.to_string())
    } else {
        RunpackError::Io(e.to_string())
    }
}

impl<Rd: Read + Seek> EntrySource for ZipSource<Rd> {
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
        let d = self
            .reader
            .entry_sha256(name)
            .map(|d| jcs::hex_lower(&d))
            .map_err(entry_error)?;
        self.digests.insert(name.to_string(), d.clone());
        Ok(d)
    }
    fn read_entry(&mut self, name: &str, max: u64) -> Result<Vec<u8>, RunpackError> {
        self.reader.read_entry(name, max).map_err(entry_error)
    }
}

/// Opens zip bytes. Anything wrong with the archive is bad input for regress commands.
pub fn open_zip(bytes: &[u8]) -> R<ZipSource<Cursor<&[u8]>>> {
    let reader = ZipReader::new(Cursor::new(bytes), ZipLimits::default())
        .map_err(|e| RegressError::invalid(format!("open zip: {e}")))?;
    Ok(ZipSource {
        reader,
        digests: BTreeMap::new(),
    })
}

/// Reads a whole archive file with the size cap.
pub fn read_archive(path: &Path) -> R<Vec<u8>> {
    fsutil::read_capped(path, MAX_ARCHIVE_BYTES).map_err(|e| RegressError::invalid(e.to_string()))
}

/// Lexically cleaned slash path (Go's `path.Clean`), for paths shown to the user.
pub fn clean_slash(p: &str) -> String {
    let p = p.replace('\\', "/");
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let j = parts.join("/");
    if rooted {
        format!("/{j}")
    } else if j.is_empty() {
        ".".into()
    } else {
        j
    }
}

/// `rel` joined to the directory shown as `dir` (absolute `rel` stays as is), cleaned.
pub fn join_shown(dir: &str, rel: &str) -> String {
    if rel.starts_with('/') || dir.is_empty() || dir == "." {
        clean_slash(rel)
    } else {
        clean_slash(&format!("{dir}/{rel}"))
    }
}

/// The directory part of a shown path (`.` when there is none).
pub fn dir_shown(p: &str) -> String {
    let c = clean_slash(p);
    match c.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => c[..i].to_string(),
        None => ".".into(),
    }
}

/// A `--from` value names a path iff it has a separator or ends in `.zip` (spec §1.7).
pub fn is_path_like(input: &str) -> bool {
    input.contains('/') || input.contains('\\') || input.to_lowercase().ends_with(".zip")
}

/// Resolves `<run_id|path>` to an existing file and the spelling reported for it.
pub fn resolve_runpack_path(input: &str) -> R<(PathBuf, String)> {
    let input = input.trim();
    if input.is_empty() {
        return Err(RegressError::invalid_hint(
            "missing required --from <run_id|path>",
            HINT_FROM,
        ));
    }
    if is_path_like(input) {
        let p = PathBuf::from(input);
        if !p.is_file() {
            return Err(RegressError::invalid_hint(
                format!("runpack not found: {input}"),
                HINT_FROM,
            ));
        }
        return Ok((p, input.to_string()));
    }
    let local = format!("gait-out/runpack_{input}.zip");
    if Path::new(&local).is_file() {
        return Ok((PathBuf::from(&local), local));
    }
    if let Some(home) = std::env::var_os("HOME") {
        let p = Path::new(&home)
            .join(".gait/runpacks")
            .join(format!("runpack_{input}.zip"));
        if p.is_file() {
            let shown = p.display().to_string();
            return Ok((p, shown));
        }
    }
    Err(RegressError::invalid_hint(
        format!("runpack not found for run_id: {input}"),
        HINT_FROM,
    ))
}

/// A checkpoint of a session chain, resolved to its runpack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCheckpoint {
    pub index: i64,
    pub runpack: PathBuf,
    pub runpack_shown: String,
}

/// The `(checkpoint_index, runpack_path)` entries of a session chain, in file order;
/// `Ok(None)` when the file is not a session chain at all.
fn chain_entries(path: &Path) -> R<Option<Vec<(i64, String)>>> {
    let Ok(bytes) = fsutil::read_capped(path, MAX_JSON_BYTES) else {
        return Ok(None);
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return Ok(None);
    };
    let Ok(v) = GoValue::parse(&text) else {
        return Ok(None);
    };
    if !matches!(v.field("schema_id"), Some(GoValue::String(s)) if s == "gait.runpack.session_chain")
    {
        return Ok(None);
    }
    let shown = path.display().to_string();
    let bad = |m: String| RegressError::invalid(format!("parse session chain {shown}: {m}"));
    let items = v
        .array_field("checkpoints", "chain")
        .map_err(|e| bad(e.to_string()))?;
    let mut cps = Vec::new();
    for (i, c) in items.iter().enumerate() {
        let at = format!("checkpoints[{i}]");
        let index = c
            .int_field("checkpoint_index", &at)
            .map_err(|e| bad(e.to_string()))?;
        let rp = c
            .str_field("runpack_path", &at)
            .map_err(|e| bad(e.to_string()))?;
        cps.push((index, rp.trim().to_string()));
    }
    if cps.is_empty() {
        return Err(RegressError::invalid_hint(
            format!("session chain {shown} has no checkpoints"),
            "write a checkpoint with `gait run session checkpoint` first",
        ));
    }
    Ok(Some(cps))
}

/// A checkpoint's runpack: `runpack_path` as written (relative to the working directory),
/// else relative to the chain's directory.
fn checkpoint_runpack(chain: &Path, index: i64, rp: &str) -> R<ChainCheckpoint> {
    if rp.is_empty() {
        return Err(RegressError::invalid(format!(
            "parse session chain {}: checkpoint {index} has no runpack_path",
            chain.display()
        )));
    }
    let direct = PathBuf::from(rp);
    let resolved = if direct.is_file() {
        Some(direct)
    } else if direct.is_relative() {
        chain
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(|d| d.join(rp))
            .filter(|p| p.is_file())
    } else {
        None
    };
    let runpack = resolved.ok_or_else(|| {
        RegressError::invalid_hint(
            format!("checkpoint {index} runpack not found: {rp}"),
            "the session chain names a runpack that is not there; keep the chain and its runpacks together",
        )
    })?;
    Ok(ChainCheckpoint {
        index,
        runpack_shown: runpack.display().to_string(),
        runpack,
    })
}

/// Reads `path` as a session chain and resolves `checkpoint` (`""`/`latest` or an index).
/// `Ok(None)` when the file is not a session chain at all.
pub fn resolve_chain(path: &Path, checkpoint: &str) -> R<Option<ChainCheckpoint>> {
    let Some(cps) = chain_entries(path)? else {
        return Ok(None);
    };
    let wanted = checkpoint.trim();
    let (index, rp) = if wanted.is_empty() || wanted.eq_ignore_ascii_case("latest") {
        cps.last().cloned().unwrap_or_default()
    } else {
        let n: i64 = wanted.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            RegressError::invalid_hint(
                format!("invalid checkpoint reference: {wanted}"),
                "use --checkpoint latest or a positive checkpoint index",
            )
        })?;
        let known: Vec<String> = cps.iter().map(|(i, _)| i.to_string()).collect();
        cps.into_iter().find(|(i, _)| *i == n).ok_or_else(|| {
            RegressError::invalid_hint(
                format!("checkpoint {n} not found"),
                format!("the chain has checkpoints {}", known.join(", ")),
            )
        })?
    };
    checkpoint_runpack(path, index, &rp).map(Some)
}

/// The checkpoint of the chain at `chain` whose runpack is the file `runpack` (a capture
/// receipt records the runpack it captured, not its index).
pub fn chain_checkpoint_for(chain: &Path, runpack: &Path) -> Option<ChainCheckpoint> {
    let target = std::fs::canonicalize(runpack).ok()?;
    chain_entries(chain)
        .ok()??
        .into_iter()
        .rev()
        .filter_map(|(i, rp)| checkpoint_runpack(chain, i, &rp).ok())
        .find(|cp| std::fs::canonicalize(&cp.runpack).ok().as_ref() == Some(&target))
}

/// A resolved `--from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The runpack (or pack/callpack) file.
    pub path: PathBuf,
    /// How the file is reported (`gait-out/runpack_<id>.zip` for a run id).
    pub shown: String,
    /// The session chain named by `--from`, as given.
    pub chain: Option<String>,
    pub checkpoint_index: Option<i64>,
}

/// Resolves `--from` and `--checkpoint` (spec §2.2).
pub fn resolve_source(from: &str, checkpoint: &str) -> R<Source> {
    let (path, shown) = resolve_runpack_path(from)?;
    if shown.to_lowercase().ends_with(".json") {
        return match resolve_chain(&path, checkpoint)? {
            Some(cp) => Ok(Source {
                path: cp.runpack,
                shown: cp.runpack_shown,
                chain: Some(from.trim().to_string()),
                checkpoint_index: Some(cp.index),
            }),
            None => Err(RegressError::invalid_hint(
                format!("{shown} is not a session chain (gait.runpack.session_chain)"),
                HINT_FROM,
            )),
        };
    }
    if !checkpoint.trim().is_empty() {
        return Err(RegressError::invalid_hint(
            format!("--checkpoint applies to a session chain, but {shown} is not one"),
            "pass a session chain JSON with --from, or drop --checkpoint",
        ));
    }
    Ok(Source {
        path,
        shown,
        chain: None,
        checkpoint_index: None,
    })
}

/// The runpack bytes a source stands for: the file itself when it is a runpack, else the
/// `source/runpack.zip` embedded in a run pack or callpack (spec §2.2, jobs-voice B11).
pub fn materialise(bytes: Vec<u8>) -> R<Vec<u8>> {
    let inner = {
        let mut src = open_zip(&bytes)?;
        match runpack::verify(&mut src, None, false).err() {
            None => None,
            Some(orig) => Some(embedded_runpack(&mut src).map_err(|why| {
                RegressError::invalid_hint(format!("verify source runpack: {orig}"), why)
            })?),
        }
    };
    Ok(inner.unwrap_or(bytes))
}

/// Extracts the runpack a run pack or callpack embeds; the error is a hint for the user.
fn embedded_runpack(src: &mut dyn EntrySource) -> Result<Vec<u8>, String> {
    let names = src.entry_names();
    if names.iter().any(|n| n == "manifest.json") || !names.iter().any(|n| n == MANIFEST_NAME) {
        return Err(HINT_FROM.to_string());
    }
    let raw = src
        .read_entry(MANIFEST_NAME, MAX_JSON_BYTES)
        .map_err(|e| format!("the pack manifest cannot be read: {e}"))?;
    let text = String::from_utf8(raw).map_err(|_| "the pack manifest is not UTF-8".to_string())?;
    let manifest =
        PackManifest::parse(&text).map_err(|e| format!("the pack manifest is invalid: {e}"))?;
    if manifest.pack_type != "run" && manifest.pack_type != "call" {
        return Err(format!(
            "a {} pack holds no source runpack; use a run pack, a callpack or a runpack",
            manifest.pack_type
        ));
    }
    let declared = manifest
        .contents
        .iter()
        .find(|c| c.path == EMBEDDED_RUNPACK)
        .ok_or_else(|| format!("the pack does not declare {EMBEDDED_RUNPACK}"))?;
    if !names.iter().any(|n| n == EMBEDDED_RUNPACK) {
        return Err(format!("the pack has no {EMBEDDED_RUNPACK}"));
    }
    let actual = src
        .entry_sha256(EMBEDDED_RUNPACK)
        .map_err(|e| format!("{EMBEDDED_RUNPACK} cannot be read: {e}"))?;
    if !actual.eq_ignore_ascii_case(declared.sha256.trim()) {
        return Err(format!(
            "{EMBEDDED_RUNPACK} does not match the digest the pack declares (run `gait pack verify`)"
        ));
    }
    src.read_entry(EMBEDDED_RUNPACK, MAX_ARCHIVE_BYTES)
        .map_err(|e| format!("{EMBEDDED_RUNPACK} cannot be read: {e}"))
}

/// A runpack read from bytes: its verification report and its strictly read records.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub report: VerifyReport,
    pub runpack: Runpack,
}

/// Verifies, then strictly reads, runpack bytes. `what` names the runpack in messages
/// (`source runpack`, `fixture runpack`); every failure is bad input.
pub fn load_runpack(bytes: &[u8], what: &str) -> R<Loaded> {
    let mut src = open_zip(bytes).map_err(|e| e.context(&format!("read {what}")))?;
    let report = runpack::verify(&mut src, None, false)
        .map_err(|e| RegressError::invalid(format!("verify {what}: {e}")))?;
    if !report.missing_files.is_empty() || !report.hash_mismatches.is_empty() {
        let mut parts = Vec::new();
        if !report.missing_files.is_empty() {
            parts.push(format!("missing {}", report.missing_files.join(", ")));
        }
        if !report.hash_mismatches.is_empty() {
            parts.push(format!(
                "hash mismatch in {}",
                report
                    .hash_mismatches
                    .iter()
                    .map(|m| m.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        return Err(RegressError::invalid(format!(
            "{what} failed integrity checks ({})",
            parts.join("; ")
        )));
    }
    if report.run_id.trim().is_empty() {
        return Err(RegressError::invalid(format!("{what} missing run_id")));
    }
    let runpack = runpack::read_strict(&mut src)
        .map_err(|e| RegressError::invalid(format!("read {what}: {e}")))?;
    Ok(Loaded { report, runpack })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_paths() {
        assert_eq!(clean_slash("./a//b/../c"), "a/c");
        assert_eq!(join_shown("fixtures/x", "cand.zip"), "fixtures/x/cand.zip");
        assert_eq!(join_shown(".", "cand.zip"), "cand.zip");
        assert_eq!(join_shown("fixtures/x", "/abs.zip"), "/abs.zip");
        assert_eq!(dir_shown("fixtures/x/runpack.zip"), "fixtures/x");
        assert_eq!(dir_shown("runpack.zip"), ".");
    }

    #[test]
    fn path_like_inputs() {
        assert!(is_path_like("./x"));
        assert!(is_path_like("a\\b"));
        assert!(is_path_like("RUN.ZIP"));
        assert!(!is_path_like("run_demo"));
    }

    #[test]
    fn missing_sources_are_invalid_with_a_hint() {
        let e = resolve_runpack_path("no/such.zip").unwrap_err();
        assert_eq!(e.to_string(), "runpack not found: no/such.zip");
        assert!(matches!(e, RegressError::Invalid { hint: Some(_), .. }));
        let e = resolve_runpack_path("  ").unwrap_err();
        assert!(e.to_string().contains("--from"));
    }

    #[test]
    fn non_zip_bytes_are_invalid() {
        let e = materialise(b"not a zip".to_vec()).unwrap_err();
        assert!(e.to_string().starts_with("open zip:"), "{e}");
    }
}
