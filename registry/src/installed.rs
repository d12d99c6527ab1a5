//! The install record, `<plugin dir>/installed.toml`: for each installed plugin file, the
//! version, contract version, sha256 and minisign signature it was installed with. The
//! launcher admits a plugin from the plugin directory only when the file's sha256 matches a
//! record for its name and that record's signature verifies with a trusted key.
//!
//! During an install a name may briefly have two records (old and new): the record is
//! written before the binary is renamed into place and pruned after, so an interrupted
//! install always leaves a file that matches a record.

use gait_sdk::fsutil;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const RECORD_NAME: &str = "installed.toml";
/// Largest install record read.
const MAX_RECORD_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    Io(String),
}

/// One installed plugin file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledPlugin {
    /// The plugin name (`hello` for `gait-hello`).
    pub name: String,
    pub version: String,
    /// The contract version the index declared (semver).
    pub contract_version: String,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    /// Key id (upper-case hex, as minisign prints it) of the minisign key that signed the file.
    pub key_id: String,
    /// The detached minisign signature text.
    pub signature: String,
    /// Where it was installed from.
    #[serde(default)]
    pub registry: String,
    #[serde(default)]
    pub installed_at: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallRecord {
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<InstalledPlugin>,
}

impl InstallRecord {
    pub fn path(plugin_dir: &Path) -> PathBuf {
        plugin_dir.join(RECORD_NAME)
    }

    /// Reads the record of `plugin_dir`; a missing file is an empty record, a malformed one an
    /// error (never an empty record: that would silently refuse or, worse, re-admit).
    pub fn load(plugin_dir: &Path) -> Result<InstallRecord, RecordError> {
        let p = InstallRecord::path(plugin_dir);
        if !p.exists() {
            return Ok(InstallRecord::default());
        }
        let bytes = fsutil::read_capped(&p, MAX_RECORD_BYTES)
            .map_err(|e| RecordError::Io(format!("read {}: {e}", p.display())))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| RecordError::Malformed(format!("{}: not UTF-8", p.display())))?;
        toml::from_str(&text).map_err(|e| RecordError::Malformed(format!("{}: {e}", p.display())))
    }

    /// Writes the record atomically (callers hold the plugin directory lock).
    pub fn save(&self, plugin_dir: &Path) -> Result<(), RecordError> {
        let p = InstallRecord::path(plugin_dir);
        let mut sorted = self.clone();
        sorted.plugins.sort_by(|a, b| {
            (&a.name, &a.version, &a.sha256).cmp(&(&b.name, &b.version, &b.sha256))
        });
        let text = toml::to_string(&sorted).map_err(|e| RecordError::Io(e.to_string()))?;
        fsutil::write_atomic(&p, text.as_bytes(), 0o644)
            .map_err(|e| RecordError::Io(format!("write {}: {e}", p.display())))
    }

    /// The records of `name` whose sha256 is `sha256`.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        sha256: &'a str,
    ) -> impl Iterator<Item = &'a InstalledPlugin> + 'a {
        self.plugins
            .iter()
            .filter(move |p| p.name == name && p.sha256.eq_ignore_ascii_case(sha256))
    }

    pub fn by_name<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a InstalledPlugin> + 'a {
        self.plugins.iter().filter(move |p| p.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_malformed() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            InstallRecord::load(dir.path()).unwrap(),
            InstallRecord::default()
        );
        let rec = InstallRecord {
            plugins: vec![InstalledPlugin {
                name: "hello".into(),
                version: "0.1.0".into(),
                contract_version: "1.0.0".into(),
                sha256: "a".repeat(64),
                key_id: "69EAA7E6ABEC3C9D".into(),
                signature: "untrusted comment: x\nAAA\ntrusted comment: y\nBBB\n".into(),
                registry: "/r".into(),
                installed_at: "2026-01-01T00:00:00Z".into(),
            }],
        };
        rec.save(dir.path()).unwrap();
        let back = InstallRecord::load(dir.path()).unwrap();
        assert_eq!(back, rec);
        assert_eq!(back.matching("hello", &"A".repeat(64)).count(), 1);
        assert_eq!(back.matching("hello", &"b".repeat(64)).count(), 0);
        std::fs::write(InstallRecord::path(dir.path()), "[[plugin]]\nname = 1\n").unwrap();
        assert!(InstallRecord::load(dir.path()).is_err());
    }
}
