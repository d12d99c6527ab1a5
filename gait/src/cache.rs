//! The manifest cache: running every plugin with `--gait-manifest` on every `gait` call would
//! dominate the launcher's latency, so probe outcomes are kept in one JSON file keyed by the
//! plugin's absolute path and invalidated when its size, mtime (ns) or inode changes.
//!
//! The cache is an optimisation only: a missing, corrupt, foreign-version or unwritable cache
//! is ignored (and rebuilt when possible), never an error.
//!
//! File format (`plugin-manifests.json`, written atomically with mode 0644):
//!
//! ```json
//! {
//!   "schema_id": "gait.launcher.manifest_cache",
//!   "schema_version": 1,
//!   "launcher_version": "0.1.0",
//!   "entries": {
//!     "/abs/path/gait-gate": {
//!       "size": 123, "mtime_ns": 1700000000123456789, "ino": 42, "probed_at": 1700000000,
//!       "outcome": {"kind": "manifest", "manifest": {"schema_id": "gait.plugin.manifest", "...": "..."}}
//!     },
//!     "/abs/path/gait-hello": {"...": "...", "outcome": {"kind": "no_manifest", "reason": "..."}},
//!     "/abs/path/gait-hang": {"...": "...", "outcome": {"kind": "broken", "reason": "..."}}
//!   }
//! }
//! ```

use crate::discovery::{Candidate, FileKey};
use crate::probe::ProbeOutcome;
use gait_sdk::manifest::PluginManifest;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

pub const CACHE_SCHEMA_ID: &str = "gait.launcher.manifest_cache";
pub const CACHE_SCHEMA_VERSION: u32 = 2;
/// A cache bigger than this is not ours to parse.
const MAX_CACHE_BYTES: u64 = 8 * 1024 * 1024;
/// A broken outcome is trusted for this long, then the plugin is probed again: a probe that
/// timed out on a loaded machine must not condemn an unchanged plugin forever, yet a plugin
/// that really hangs must not cost a full timeout on every call.
pub const BROKEN_RETRY_SECS: i64 = 3600;
/// A probe that timed out is retried after this many seconds.
pub const TIMEOUT_RETRY_SECS: i64 = 15;

#[derive(Debug, Serialize, Deserialize)]
struct CacheFile {
    schema_id: String,
    schema_version: u32,
    launcher_version: String,
    entries: BTreeMap<String, Entry>,
    /// Successful trust checks (the cache lives in the user's own `~/.gait`, the same trust
    /// domain as the trust store it summarises).
    #[serde(default)]
    trust: BTreeMap<String, TrustEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrustEntry {
    size: u64,
    mtime_ns: i64,
    ino: u64,
    ctime_ns: i64,
    /// [`crate::trust::Admission::fingerprint`] at the time of the check.
    fingerprint: String,
    /// How the plugin was admitted, for `gait plugin list`.
    how: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    size: u64,
    mtime_ns: i64,
    ino: u64,
    #[serde(default)]
    ctime_ns: i64,
    /// Unix seconds of the probe.
    probed_at: i64,
    outcome: CachedOutcome,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum CachedOutcome {
    Manifest { manifest: PluginManifest },
    NoManifest { reason: String },
    Broken { reason: String },
}

impl From<&ProbeOutcome> for CachedOutcome {
    fn from(o: &ProbeOutcome) -> Self {
        match o {
            ProbeOutcome::Manifest(m) => CachedOutcome::Manifest {
                manifest: m.clone(),
            },
            ProbeOutcome::NoManifest { reason } => CachedOutcome::NoManifest {
                reason: reason.clone(),
            },
            ProbeOutcome::Broken { reason } => CachedOutcome::Broken {
                reason: reason.clone(),
            },
        }
    }
}

impl From<CachedOutcome> for ProbeOutcome {
    fn from(o: CachedOutcome) -> Self {
        match o {
            CachedOutcome::Manifest { manifest } => ProbeOutcome::Manifest(manifest),
            CachedOutcome::NoManifest { reason } => ProbeOutcome::NoManifest { reason },
            CachedOutcome::Broken { reason } => ProbeOutcome::Broken { reason },
        }
    }
}

/// Probe outcomes by plugin path, loaded from and saved to one file.
#[derive(Debug, Default)]
pub struct ManifestCache {
    file: Option<PathBuf>,
    entries: BTreeMap<String, Entry>,
    trust: BTreeMap<String, TrustEntry>,
    dirty: bool,
}

impl ManifestCache {
    /// A cache that is never read or written.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Loads `file`, starting empty when it is missing, unreadable, corrupt or written by a
    /// different launcher version (whose probe classification may differ).
    pub fn load(file: Option<&Path>) -> Self {
        let (entries, trust) = file
            .and_then(|f| gait_sdk::fsutil::read_capped(f, MAX_CACHE_BYTES).ok())
            .and_then(|bytes| serde_json::from_slice::<CacheFile>(&bytes).ok())
            .filter(|c| {
                c.schema_id == CACHE_SCHEMA_ID
                    && c.schema_version == CACHE_SCHEMA_VERSION
                    && c.launcher_version == env!("CARGO_PKG_VERSION")
            })
            .map(|c| (c.entries, c.trust))
            .unwrap_or_default();
        ManifestCache {
            file: file.map(Path::to_path_buf),
            entries,
            trust,
            dirty: false,
        }
    }

    /// The cached outcome for `candidate`, if the file is unchanged since it was probed.
    pub fn get(&self, candidate: &Candidate, now: i64) -> Option<ProbeOutcome> {
        let entry = self.entries.get(candidate.path.to_str()?)?;
        if key_of(entry) != candidate.key {
            return None;
        }
        if let CachedOutcome::Broken { reason } = &entry.outcome {
            // A timeout may only mean the machine was busy: retry it soon, so a loaded moment
            // does not disable an unchanged plugin for an hour.
            let retry = if reason.contains("did not finish within") {
                TIMEOUT_RETRY_SECS
            } else {
                BROKEN_RETRY_SECS
            };
            if now.saturating_sub(entry.probed_at) >= retry {
                return None;
            }
        }
        Some(entry.outcome.clone().into())
    }

    pub fn put(&mut self, candidate: &Candidate, outcome: &ProbeOutcome, now: i64) {
        // A path that is not UTF-8 cannot be a JSON key; such a plugin is simply probed each time.
        let Some(path) = candidate.path.to_str() else {
            return;
        };
        let FileKey {
            size,
            mtime_ns,
            ino,
            ctime_ns,
        } = candidate.key;
        self.entries.insert(
            path.to_string(),
            Entry {
                size,
                mtime_ns,
                ino,
                ctime_ns,
                probed_at: now,
                outcome: outcome.into(),
            },
        );
        self.dirty = true;
    }

    /// How `candidate` was admitted, if an earlier check of the same file under the same
    /// trust state (`fingerprint`) succeeded.
    pub fn get_trust(&self, candidate: &Candidate, fingerprint: &str) -> Option<String> {
        let e = self.trust.get(candidate.path.to_str()?)?;
        let same = FileKey {
            size: e.size,
            mtime_ns: e.mtime_ns,
            ino: e.ino,
            ctime_ns: e.ctime_ns,
        } == candidate.key
            && e.fingerprint == fingerprint;
        same.then(|| e.how.clone())
    }

    pub fn put_trust(&mut self, candidate: &Candidate, fingerprint: &str, how: &str) {
        let Some(path) = candidate.path.to_str() else {
            return;
        };
        let FileKey {
            size,
            mtime_ns,
            ino,
            ctime_ns,
        } = candidate.key;
        self.trust.insert(
            path.to_string(),
            TrustEntry {
                size,
                mtime_ns,
                ino,
                ctime_ns,
                fingerprint: fingerprint.to_string(),
                how: how.to_string(),
            },
        );
        self.dirty = true;
    }

    /// Forgets a trust decision (the file failed a check).
    pub fn drop_trust(&mut self, candidate: &Candidate) {
        if let Some(path) = candidate.path.to_str() {
            self.dirty |= self.trust.remove(path).is_some();
        }
    }

    /// Drops entries for plugins that no longer exist. Only meaningful after a full scan of
    /// every search directory.
    pub fn retain_paths(&mut self, keep: &HashSet<PathBuf>) {
        let before = self.entries.len() + self.trust.len();
        self.entries.retain(|p, _| keep.contains(Path::new(p)));
        self.trust.retain(|p, _| keep.contains(Path::new(p)));
        self.dirty |= self.entries.len() + self.trust.len() != before;
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes the cache atomically if anything changed.
    pub fn save(&mut self) -> io::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        if !self.dirty {
            return Ok(());
        }
        let doc = CacheFile {
            schema_id: CACHE_SCHEMA_ID.into(),
            schema_version: CACHE_SCHEMA_VERSION,
            launcher_version: env!("CARGO_PKG_VERSION").into(),
            entries: std::mem::take(&mut self.entries),
            trust: std::mem::take(&mut self.trust),
        };
        let text = serde_json::to_string(&doc);
        self.entries = doc.entries;
        self.trust = doc.trust;
        let text = text.map_err(io::Error::other)?;
        gait_sdk::fsutil::write_atomic(file, text.as_bytes(), 0o644)?;
        self.dirty = false;
        Ok(())
    }
}

fn key_of(e: &Entry) -> FileKey {
    FileKey {
        size: e.size,
        mtime_ns: e.mtime_ns,
        ino: e.ino,
        ctime_ns: e.ctime_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::{scan_dir, tests::write_exec, Source};
    use std::fs;

    fn only(dir: &Path) -> Candidate {
        scan_dir(dir, Source::PluginDir).pop().unwrap()
    }

    #[test]
    fn round_trip_and_invalidation_on_change() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("cache/plugin-manifests.json");
        let plugins = d.path().join("plugins");
        fs::create_dir(&plugins).unwrap();
        let p = write_exec(&plugins, "gait-x", "#!/bin/sh\n");
        let c = only(&plugins);
        let m = ProbeOutcome::Manifest(PluginManifest::new("x", "1", "", &[("x", "")]));

        let mut cache = ManifestCache::load(Some(&file));
        assert!(cache.get(&c, 0).is_none());
        cache.put(&c, &m, 0);
        cache.save().unwrap();
        assert!(!cache.is_dirty());

        let cache = ManifestCache::load(Some(&file));
        assert_eq!(cache.get(&c, 0), Some(m.clone()));

        // Same size, new mtime.
        let f = fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(12345))
            .unwrap();
        drop(f);
        let touched = only(&plugins);
        assert_eq!(touched.key.size, c.key.size);
        assert!(cache.get(&touched, 0).is_none());

        // New size.
        fs::write(&p, "#!/bin/sh\necho longer\n").unwrap();
        assert!(cache.get(&only(&plugins), 0).is_none());
    }

    #[test]
    fn broken_outcomes_expire() {
        let d = tempfile::tempdir().unwrap();
        write_exec(d.path(), "gait-x", "");
        let c = only(d.path());
        let mut cache = ManifestCache::disabled();
        let broken = ProbeOutcome::Broken {
            reason: "hung".into(),
        };
        cache.put(&c, &broken, 100);
        assert_eq!(cache.get(&c, 100 + BROKEN_RETRY_SECS - 1), Some(broken));
        assert!(cache.get(&c, 100 + BROKEN_RETRY_SECS).is_none());
    }

    #[test]
    fn corrupt_or_foreign_cache_is_ignored() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("plugin-manifests.json");
        fs::write(&file, "{not json").unwrap();
        assert!(ManifestCache::load(Some(&file)).is_empty());
        let foreign = serde_json::json!({
            "schema_id": CACHE_SCHEMA_ID, "schema_version": 99, "launcher_version": "x",
            "entries": {"/a": {"size": 1, "mtime_ns": 1, "ino": 1, "probed_at": 0,
                               "outcome": {"kind": "no_manifest", "reason": "r"}}}
        });
        fs::write(&file, foreign.to_string()).unwrap();
        assert!(ManifestCache::load(Some(&file)).is_empty());
        assert!(ManifestCache::load(Some(&d.path().join("missing"))).is_empty());
    }

    #[test]
    fn unwritable_location_is_an_error_not_a_panic() {
        let d = tempfile::tempdir().unwrap();
        let blocker = d.path().join("file");
        fs::write(&blocker, "").unwrap();
        let mut cache = ManifestCache::load(Some(&blocker.join("sub/plugin-manifests.json")));
        write_exec(d.path(), "gait-x", "");
        cache.put(
            &only(d.path()),
            &ProbeOutcome::NoManifest { reason: "r".into() },
            0,
        );
        assert!(cache.save().is_err());
    }
}
