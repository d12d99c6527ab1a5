//! Checking every plugin in the plugin directory against the install record and the trust
//! store, the way the launcher admits them: a file is `ok` when its sha256 matches a record
//! entry whose signature verifies with a trusted key (or, for a file not installed from a
//! registry, when it carries a valid signature of its own or the user trusted it by hash).

use crate::error::{RegistryError, Result};
use crate::install::{plugin_path, PLUGIN_PREFIX};
use crate::installed::{InstallRecord, InstalledPlugin};
use gait_sdk::manifest::is_valid_name;
use gait_sdk::trust::{sha256_file, verify_file, DetachedSignature, SignatureStatus, TrustStore};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The verdict on one installed plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Matches its record and the signature verifies with a trusted key.
    Ok,
    /// The file no longer matches what was installed, or a signature does not verify.
    Tampered,
    /// Nothing vouches for the file (not installed from a registry, no signature).
    Unsigned,
    /// Signed by a key the trust store does not hold.
    UnknownKey,
    /// Recorded as installed, but the file is gone.
    Missing,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Tampered => "tampered",
            Status::Unsigned => "unsigned",
            Status::UnknownKey => "unknown_key",
            Status::Missing => "missing",
        }
    }
}

/// How an `ok` plugin is vouched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The install record (installed from a registry).
    Record,
    /// Its own `<file>.minisig`.
    Signature,
    /// The user trusted this content (`gait plugin trust`).
    TrustedFile,
    None,
}

/// One plugin's check.
#[derive(Debug, Clone, Serialize)]
pub struct PluginCheck {
    pub name: String,
    pub status: Status,
    pub source: Source,
    pub path: String,
    pub version: Option<String>,
    pub sha256: Option<String>,
    pub key_id: Option<String>,
    /// Why it is not `ok`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// The record entry the file matched.
    #[serde(skip)]
    pub record: Option<InstalledPlugin>,
}

impl PluginCheck {
    pub fn ok(&self) -> bool {
        self.status == Status::Ok
    }
    /// Whether the registry manages it (it has install record entries).
    pub fn managed(&self) -> bool {
        self.record.is_some() || self.source == Source::Record || self.status == Status::Missing
    }
}

/// The plugin executables in `dir`: `gait-<valid name>`, regular (symlinks followed),
/// executable.
pub fn plugin_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let file_name = e.file_name();
            let name = file_name.to_str()?.strip_prefix(PLUGIN_PREFIX)?;
            if !is_valid_name(name) {
                return None;
            }
            let path = e.path();
            let meta = std::fs::metadata(&path).ok()?;
            use std::os::unix::fs::PermissionsExt;
            (meta.is_file() && meta.permissions().mode() & 0o111 != 0)
                .then(|| (name.to_string(), path))
        })
        .collect();
    out.sort();
    out
}

/// Checks every plugin in `dir` (and every recorded plugin whose file is gone).
pub fn verify_installed(dir: &Path, store: &TrustStore) -> Result<Vec<PluginCheck>> {
    let record = InstallRecord::load(dir)?;
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (name, path) in plugin_files(dir) {
        seen.insert(name.clone());
        out.push(check_file(&name, &path, &record, store));
    }
    let mut recorded: Vec<&str> = record.plugins.iter().map(|p| p.name.as_str()).collect();
    recorded.sort();
    recorded.dedup();
    for name in recorded {
        if seen.contains(name) {
            continue;
        }
        let last = record.by_name(name).last().cloned();
        out.push(PluginCheck {
            name: name.to_string(),
            status: Status::Missing,
            source: Source::Record,
            path: plugin_path(dir, name).display().to_string(),
            version: last.as_ref().map(|p| p.version.clone()),
            sha256: None,
            key_id: last.as_ref().map(|p| p.key_id.clone()),
            reason: "recorded as installed, but the file is missing".into(),
            record: last,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn check_file(name: &str, path: &Path, record: &InstallRecord, store: &TrustStore) -> PluginCheck {
    let mut c = PluginCheck {
        name: name.to_string(),
        status: Status::Tampered,
        source: Source::None,
        path: path.display().to_string(),
        version: None,
        sha256: None,
        key_id: None,
        reason: String::new(),
        record: None,
    };
    let sha = match sha256_file(path) {
        Ok(s) => s,
        Err(e) => {
            c.reason = format!("cannot read it: {e}");
            return c;
        }
    };
    c.sha256 = Some(sha.clone());
    let entries: Vec<&InstalledPlugin> = record.by_name(name).collect();
    if entries.is_empty() {
        // Not installed from a registry: the file's own signature, or trust by hash.
        match store.check_signature(path) {
            Ok(SignatureStatus::Verified { key_id }) => {
                c.status = Status::Ok;
                c.source = Source::Signature;
                c.key_id = Some(key_id);
            }
            Ok(SignatureStatus::UnknownKey { key_id }) => {
                c.status = Status::UnknownKey;
                c.source = Source::Signature;
                c.reason = format!("signed by key {key_id}, which is not trusted");
                c.key_id = Some(key_id);
            }
            Ok(SignatureStatus::Invalid { key_id, reason }) => {
                c.source = Source::Signature;
                c.reason = format!("its signature does not verify: {reason}");
                c.key_id = (!key_id.is_empty()).then_some(key_id);
            }
            Ok(SignatureStatus::Unsigned) if store.file_trusted(path, &sha) => {
                c.status = Status::Ok;
                c.source = Source::TrustedFile;
            }
            Ok(SignatureStatus::Unsigned) => {
                c.status = Status::Unsigned;
                c.reason = "not installed from a registry and not signed".into();
            }
            Err(e) => c.reason = e.to_string(),
        }
        return c;
    }
    c.source = Source::Record;
    let Some(entry) = entries
        .iter()
        .find(|p| p.sha256.eq_ignore_ascii_case(&sha))
        .copied()
    else {
        let recorded: Vec<String> = entries
            .iter()
            .map(|p| format!("{} {}", p.version, p.sha256))
            .collect();
        c.reason = format!(
            "sha256 {sha} matches no install record entry (recorded: {})",
            recorded.join(", ")
        );
        return c;
    };
    c.version = Some(entry.version.clone());
    c.key_id = Some(entry.key_id.clone());
    c.record = Some(entry.clone());
    let sig = match DetachedSignature::parse(&entry.signature, "install record signature") {
        Ok(s) => s,
        Err(e) => {
            c.reason = format!("recorded signature is malformed: {e}");
            return c;
        }
    };
    if !sig.key_id.eq_ignore_ascii_case(&entry.key_id) {
        c.reason = format!(
            "recorded signature is by key {}, the record says key {}",
            sig.key_id, entry.key_id
        );
        return c;
    }
    let Some(key) = store.key(&sig.key_id) else {
        c.status = Status::UnknownKey;
        c.reason = format!("signed by key {}, which is not trusted", sig.key_id);
        return c;
    };
    match verify_file(key, path, &sig) {
        Ok(()) => c.status = Status::Ok,
        Err(reason) => c.reason = format!("signature does not verify: {reason}"),
    }
    c
}

/// Summary error for failed checks (exit 2).
pub fn failure(checks: &[PluginCheck]) -> Option<RegistryError> {
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.ok())
        .map(|c| format!("{} ({})", c.name, c.status.as_str()))
        .collect();
    (!failed.is_empty()).then(|| {
        RegistryError::verification_hint(
            format!("plugin verification failed: {}", failed.join(", ")),
            "reinstall tampered or missing plugins with `gait plugin install <name>`, trust unknown keys with `gait plugin trust --key <pub>`",
        )
    })
}
