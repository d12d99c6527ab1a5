//! `gait migrate`: re-encodes a runpack with the current writer.
//!
//! The input is resolved like every `<run_id|path>` (regress-and-ux §1.7), verified, read
//! strictly, and recorded again from its typed records with the same capture mode (no new
//! digests are invented: recorded digests are kept). The result is verified in memory before
//! anything is written, then written atomically. `status` is `no_change` when the new zip is
//! byte-identical to the input, `migrated` otherwise.
//!
//! Signatures cover the manifest, so they are carried over only when the re-encoded manifest
//! is exactly the one that was signed; otherwise they are dropped with a warning (migrate has
//! no key flags: re-sign by recording again).

use crate::archive::{open_bytes, open_entries, zip_bytes};
use crate::error::PackError;
use crate::runs::{clean, output_path, resolve_runpack};
use gait_sdk::cli::CommandOutput;
use gait_sdk::error::exit;
use gait_sdk::gojson::GoValue;
use gait_sdk::jcs;
use gait_sdk::pack::runpack::{self, read_strict, RecordInput, MAX_ENTRY_BYTES};
use gait_sdk::pack::spec::MANIFEST_NAME as PACK_MANIFEST;
use gait_sdk::time::GoTime;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

type R<T> = Result<T, PackError>;

/// The only runpack format this release writes.
pub const CURRENT_TARGET: &str = "v1";

/// Flags of `gait migrate`.
#[derive(Debug, Default, Clone)]
pub struct MigrateArgs {
    /// `<run_id|path>` (from `--input` or the positional).
    pub input: String,
    /// Output path (default `<input dir>/runpack_<run_id>_migrated.zip`).
    pub out: String,
    /// Target format (default and only value: `v1`).
    pub target: String,
}

/// What a migration produced (the command output is built from it).
#[derive(Debug, Clone)]
pub struct Migrated {
    pub input: String,
    pub output: String,
    pub run_id: String,
    /// `no_change` or `migrated`.
    pub status: &'static str,
    pub warnings: Vec<String>,
    /// Entries whose content changed; empty with `migrated` means only the zip encoding
    /// (compression) differs.
    pub changed_entries: Vec<String>,
}

fn same_file(a: &Path, b: &Path) -> bool {
    if clean(&a.to_string_lossy()) == clean(&b.to_string_lossy()) {
        return true;
    }
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// A re-encoded runpack.
pub struct Reencoded {
    pub bytes: Vec<u8>,
    pub run_id: String,
    pub warnings: Vec<String>,
    /// Entries whose decompressed bytes changed (empty: only the zip encoding differs).
    pub changed_entries: Vec<String>,
}

/// Re-encodes the runpack at `path` in memory and verifies the result.
pub fn reencode(path: &Path) -> R<Reencoded> {
    let mut src = open_entries(path)?;
    let names = src.entry_names();
    if names.iter().any(|n| n == PACK_MANIFEST) {
        return Err(PackError::usage(
            format!(
                "migrate supports runpack zips only: {} is a PackSpec pack",
                path.display()
            ),
            "packs are written by the current builder already; check them with `gait pack verify`",
        ));
    }
    if !names.iter().any(|n| n == "manifest.json") {
        return Err(PackError::usage(
            format!(
                "migrate supports runpack zips only: {} has no manifest.json",
                path.display()
            ),
            "pass a runpack written by `gait run record` (runpack_<run_id>.zip)",
        ));
    }
    let rep = runpack::verify(src.as_mut(), None, false)?;
    if !rep.missing_files.is_empty() || !rep.hash_mismatches.is_empty() {
        return Err(PackError::verification(
            "runpack verification failed: refusing to migrate a runpack that does not verify",
        ));
    }
    let raw_manifest = src.read_entry("manifest.json", MAX_ENTRY_BYTES)?;
    let rp = read_strict(src.as_mut())?;
    let original = crate::archive::read_all(src.as_mut(), MAX_ENTRY_BYTES)?;
    let mode = match rp.manifest.capture_mode.trim().to_lowercase().as_str() {
        "" => "reference".to_string(),
        m @ ("reference" | "raw") => m.to_string(),
        other => {
            return Err(PackError::invalid(format!(
                "unsupported capture_mode in runpack manifest: {other}"
            )))
        }
    };
    let original_sigs = rp.manifest.signatures.clone();
    let created = if rp.run.header.created_at.is_zero() {
        GoTime::parse_rfc3339("1980-01-01T00:00:00Z").expect("constant")
    } else {
        rp.run.header.created_at
    };
    let input = RecordInput {
        run: rp.run,
        intents: rp.intents,
        results: rp.results,
        refs: rp.refs,
        capture_mode: mode.clone(),
        ..Default::default()
    };
    let mut recorded = runpack::record(input, &mode, created, None)?;
    let mut warnings = Vec::new();
    if !original_sigs.is_empty() {
        // The signed bytes are the stored manifest without `signatures`.
        let text = String::from_utf8(raw_manifest)
            .map_err(|_| PackError::invalid("manifest.json is not valid UTF-8"))?;
        let mut signed = GoValue::parse(&text)
            .map_err(|e| PackError::invalid(format!("parse manifest.json: {e}")))?
            .to_value();
        if let Value::Object(m) = &mut signed {
            m.retain(|k, _| !k.eq_ignore_ascii_case("signatures"));
        }
        let manifest = &mut recorded.runpack.manifest;
        if manifest.to_value(false) == signed {
            manifest.signatures = original_sigs;
            recorded.entries.insert(
                "manifest.json".into(),
                jcs::canonical_bytes(&manifest.to_value(true)).expect("finite"),
            );
        } else {
            warnings.push(
                "signatures dropped: the re-encoded manifest differs from the signed one; re-sign by recording the run again with --key-mode"
                    .to_string(),
            );
        }
    }
    let bytes = zip_bytes(&recorded.entries)?;
    // Verify what would be written before writing anything.
    let mut check = open_bytes(bytes.clone())?;
    let rep = runpack::verify(check.as_mut(), None, false)?;
    if !rep.ok(false) {
        return Err(PackError::verification(
            "migrated runpack failed verification",
        ));
    }
    read_strict(check.as_mut())?;
    let mut changed_entries: Vec<String> = recorded
        .entries
        .iter()
        .filter(|(name, b)| original.get(*name) != Some(*b))
        .map(|(name, _)| name.clone())
        .collect();
    changed_entries.extend(
        original
            .keys()
            .filter(|n| !recorded.entries.contains_key(*n))
            .cloned(),
    );
    changed_entries.sort();
    Ok(Reencoded {
        bytes,
        run_id: recorded.runpack.run.header.run_id,
        warnings,
        changed_entries,
    })
}

/// `gait migrate <path|id> | --input X [--out P] [--target v1]`.
pub fn migrate(a: &MigrateArgs) -> R<Migrated> {
    let target = a.target.trim().to_lowercase();
    if !target.is_empty() && target != CURRENT_TARGET {
        return Err(PackError::usage(
            format!("unsupported --target: {}", a.target.trim()),
            "only --target v1 (the current runpack format) is supported",
        ));
    }
    if a.input.trim().is_empty() {
        return Err(PackError::usage(
            "expected <run_id|path> or --input",
            "usage: gait migrate <run_id|runpack.zip> [--out P] [--target v1] [--json]",
        ));
    }
    let path = resolve_runpack(&a.input)?;
    if !a.out.trim().is_empty() {
        let out = output_path(&a.out)?;
        if same_file(Path::new(&out), &path) {
            return Err(PackError::usage(
                "--out must differ from the input runpack",
                "write the migrated runpack beside the original (the default is runpack_<run_id>_migrated.zip)",
            ));
        }
    }
    let Reencoded {
        bytes,
        run_id,
        warnings,
        changed_entries,
    } = reencode(&path)?;
    let out = if a.out.trim().is_empty() {
        let dir = path
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| ".".into());
        output_path(&format!("{dir}/runpack_{run_id}_migrated.zip"))?
    } else {
        output_path(&a.out)?
    };
    if same_file(Path::new(&out), &path) {
        return Err(PackError::usage(
            "--out must differ from the input runpack",
            "pass --out with a new path",
        ));
    }
    let original =
        std::fs::read(&path).map_err(|e| PackError::Io(format!("read {}: {e}", path.display())))?;
    let status = if original == bytes {
        "no_change"
    } else {
        "migrated"
    };
    gait_sdk::fsutil::write_atomic(&PathBuf::from(&out), &bytes, 0o600)
        .map_err(|e| PackError::Io(format!("write {out}: {e}")))?;
    Ok(Migrated {
        input: path.to_string_lossy().into_owned(),
        output: out,
        run_id,
        status,
        warnings,
        changed_entries,
    })
}

/// The command output of [`migrate`].
pub fn command(a: &MigrateArgs) -> R<CommandOutput> {
    let r = migrate(a)?;
    let mut m = Map::new();
    m.insert("input".into(), json!(r.input));
    m.insert("output".into(), json!(r.output));
    m.insert("artifact".into(), json!("runpack"));
    m.insert("status".into(), json!(r.status));
    m.insert("run_id".into(), json!(r.run_id));
    if !r.warnings.is_empty() {
        m.insert("warnings".into(), json!(r.warnings));
    }
    if !r.changed_entries.is_empty() {
        m.insert("changed_entries".into(), json!(r.changed_entries));
    }
    let mut text = format!("migrate {}: {} -> {}\n", r.status, r.input, r.output);
    if r.status == "migrated" {
        if r.changed_entries.is_empty() {
            text.push_str("entries unchanged; only the zip encoding differs\n");
        } else {
            text.push_str(&format!(
                "changed entries: {}\n",
                r.changed_entries.join(", ")
            ));
        }
    }
    for w in &r.warnings {
        text.push_str(&format!("warning: {w}\n"));
    }
    Ok(CommandOutput::new(m, text, exit::OK))
}
