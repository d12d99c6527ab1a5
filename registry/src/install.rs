//! Installing and removing plugin files in the plugin directory, atomically and under the
//! plugin directory lock.
//!
//! An install copies the registry file into a temporary file inside the plugin directory
//! while hashing it, checks the hash against the signed index and the minisign signature
//! against a trusted key (both on the copy, so what was checked is what gets installed), adds
//! the new install record entry, renames the copy over `gait-<name>`, and only then prunes the
//! old entry. Whenever the process dies, the file in place matches a record entry: the old
//! version keeps working until the new one is in place.

use crate::error::{RegistryError, Result};
use crate::index::{Selected, VerifiedIndex};
use crate::installed::{InstallRecord, InstalledPlugin};
use crate::keys::{offered_key, Keys};
use gait_sdk::fsutil::{self, LockError, LockFile};
use gait_sdk::trust::{sha256_file, verify_file, DetachedSignature, TrustedKey};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Prefix of every plugin executable's file name.
pub const PLUGIN_PREFIX: &str = "gait-";
/// The plugin directory lock (the `gait_sdk::fsutil::LockFile` protocol).
pub const DIR_LOCK_NAME: &str = ".gait-install.lock";
/// Prefix of the temporary copies an install makes inside the plugin directory.
const TEMP_PREFIX: &str = ".gait-tmp-install-";
/// Largest plugin file installed (a hostile registry must not fill the disk).
pub const MAX_PLUGIN_BYTES: u64 = 2 * 1024 * 1024 * 1024;
const LOCK_WAIT: Duration = Duration::from_secs(10);
const LOCK_STALE: Duration = Duration::from_secs(3600);

/// Progress of a long copy (the launcher draws a bar on a terminal).
pub trait Progress {
    fn start(&mut self, _label: &str, _total_bytes: u64) {}
    fn advance(&mut self, _done_bytes: u64) {}
    fn finish(&mut self) {}
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// Knobs of an install.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    /// Reinstall even when the same file is already installed.
    pub force: bool,
    /// Test hook: sleep between writing the new record entry and renaming the file into
    /// place, so tests can interrupt an install at its most delicate point.
    pub pause_before_rename: Option<Duration>,
}

/// Path of the plugin file for `name` in `dir`.
pub fn plugin_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{PLUGIN_PREFIX}{name}"))
}

/// The plugin directory, locked for changes for as long as this value lives.
#[derive(Debug)]
pub struct LockedDir {
    dir: PathBuf,
    _lock: LockFile,
}

fn lock_holder_is_dead(path: &Path) -> bool {
    // Only where /proc tells whether a pid is alive; elsewhere the lock ages out.
    if !Path::new("/proc/self").exists() {
        return false;
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let Some(pid) = text
        .lines()
        .find_map(|l| l.strip_prefix("pid="))
        .and_then(|p| p.trim().parse::<u32>().ok())
    else {
        return false;
    };
    pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists()
}

impl LockedDir {
    /// Creates the plugin directory if needed and takes its lock, waiting a few seconds for
    /// another gait process. A lock left by a process that died is taken over.
    pub fn open(dir: &Path) -> Result<LockedDir> {
        fsutil::create_dir_all_mode(dir, 0o755).map_err(|e| {
            RegistryError::io(format!(
                "create plugin directory {}: {}",
                dir.display(),
                fsutil::go_io_reason(&e)
            ))
        })?;
        let path = dir.join(DIR_LOCK_NAME);
        let contents = format!("pid={}\n", std::process::id());
        let acquire = |wait: Duration| {
            LockFile::acquire(
                &path,
                contents.as_bytes(),
                wait,
                Duration::from_millis(50),
                LOCK_STALE,
            )
        };
        let first = match acquire(Duration::ZERO) {
            Err(LockError::Timeout) if lock_holder_is_dead(&path) => {
                let _ = std::fs::remove_file(&path);
                acquire(LOCK_WAIT)
            }
            Err(LockError::Timeout) => acquire(LOCK_WAIT),
            other => other,
        };
        match first {
            Ok(lock) => Ok(LockedDir {
                dir: dir.to_path_buf(),
                _lock: lock,
            }),
            Err(LockError::Timeout) => Err(RegistryError::Busy {
                message: format!(
                    "another gait process is changing the plugin directory {}",
                    dir.display()
                ),
                hint: format!(
                    "retry shortly; if no gait process is running, remove {}",
                    path.display()
                ),
            }),
            Err(e) => Err(RegistryError::io(format!("lock plugin directory: {e}"))),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Removes temporary copies left by interrupted installs (safe: we hold the lock).
    fn clean_temporaries(&self) {
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }

    /// Installs a prepared plugin version.
    pub fn install(
        &self,
        prep: &Prepared,
        progress: &mut dyn Progress,
        opts: &InstallOptions,
    ) -> Result<Installed> {
        let name = &prep.name;
        let target = plugin_path(&self.dir, name);
        let mut record = InstallRecord::load(&self.dir)?;
        let current_sha = if target.is_file() {
            sha256_file(&target).ok()
        } else {
            None
        };
        let previous = current_sha
            .as_deref()
            .and_then(|sha| record.matching(name, sha).next().map(|p| p.version.clone()));
        let want = prep.sha256.to_ascii_lowercase();
        if !opts.force
            && current_sha.as_deref() == Some(want.as_str())
            && record.matching(name, &want).next().is_some()
        {
            // Already in place; drop leftovers of an interrupted install of this name.
            let before = record.plugins.len();
            record
                .plugins
                .retain(|p| &p.name != name || p.sha256.eq_ignore_ascii_case(&want));
            if record.plugins.len() != before {
                record.save(&self.dir)?;
            }
            return Ok(prep.outcome(&target, previous, false));
        }
        self.clean_temporaries();

        // 1. Copy into the plugin directory while hashing; check hash and signature on the copy.
        let tmp = copy_hashed(&prep.source, &self.dir, &prep.label(), progress)?;
        let (tmp, sha) = tmp;
        if sha != want {
            return Err(RegistryError::verification_hint(
                format!(
                    "{}: the registry file {} has sha256 {sha}, but the signed index says {want}",
                    prep.label(),
                    prep.source.display()
                ),
                "the registry's file was replaced after the index was signed; do not install from it until the publisher fixes it",
            ));
        }
        verify_file(&prep.key, tmp.path(), &prep.signature).map_err(|reason| {
            RegistryError::verification_hint(
                format!(
                    "{}: signature by key {} does not verify: {reason}",
                    prep.label(),
                    prep.key.id
                ),
                "the registry's file or signature was modified after signing; do not install from it until the publisher re-signs it",
            )
        })?;

        // 2. Record the new file before it is in place (old entry kept).
        let entry = InstalledPlugin {
            name: name.clone(),
            version: prep.version.clone(),
            contract_version: prep.contract_version.clone(),
            sha256: want.clone(),
            key_id: prep.key.id.clone(),
            signature: prep.signature_text.clone(),
            registry: prep.registry.clone(),
            installed_at: gait_sdk::time::GoTime::now_utc().to_rfc3339(),
        };
        record
            .plugins
            .retain(|p| !(&p.name == name && p.sha256.eq_ignore_ascii_case(&want)));
        record.plugins.push(entry);
        record.save(&self.dir)?;

        if let Some(pause) = opts.pause_before_rename {
            std::thread::sleep(pause);
        }

        // 3. Rename into place.
        tmp.persist(&target).map_err(|e| {
            RegistryError::io(format!(
                "install {}: {}",
                target.display(),
                fsutil::go_io_reason(&e.error)
            ))
        })?;
        sync_dir(&self.dir);

        // 4. Prune the old entries of this name.
        record
            .plugins
            .retain(|p| &p.name != name || p.sha256.eq_ignore_ascii_case(&want));
        record.save(&self.dir)?;
        Ok(prep.outcome(&target, previous, true))
    }

    /// Removes an installed plugin: the file first, then its record entries (an interrupted
    /// removal leaves a record without a file, never a file the launcher would admit wrongly).
    pub fn remove(&self, name: &str) -> Result<Removed> {
        let mut record = InstallRecord::load(&self.dir)?;
        let target = plugin_path(&self.dir, name);
        let entries: Vec<InstalledPlugin> = record.by_name(name).cloned().collect();
        let exists = target.symlink_metadata().is_ok();
        if entries.is_empty() {
            return Err(if exists {
                RegistryError::invalid_hint(
                    format!("{} was not installed from a registry", target.display()),
                    format!("remove it yourself: rm {}", target.display()),
                )
            } else {
                RegistryError::invalid_hint(
                    format!("plugin {name} is not installed"),
                    "run `gait plugin list` to see installed plugins",
                )
            });
        }
        let current = if exists {
            let sha = sha256_file(&target).ok();
            let v = sha.and_then(|s| record.matching(name, &s).next().map(|p| p.version.clone()));
            std::fs::remove_file(&target).map_err(|e| {
                RegistryError::io(format!(
                    "remove {}: {}",
                    target.display(),
                    fsutil::go_io_reason(&e)
                ))
            })?;
            sync_dir(&self.dir);
            v
        } else {
            None
        };
        record.plugins.retain(|p| p.name != name);
        record.save(&self.dir)?;
        Ok(Removed {
            name: name.to_string(),
            version: current.or_else(|| entries.last().map(|p| p.version.clone())),
            path: target.display().to_string(),
        })
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Copies `src` into a temporary file in `dir` (mode 0755), hashing it on the way.
fn copy_hashed(
    src: &Path,
    dir: &Path,
    label: &str,
    progress: &mut dyn Progress,
) -> Result<(tempfile::NamedTempFile, String)> {
    let mut from = std::fs::File::open(src).map_err(|e| {
        RegistryError::invalid(format!(
            "open {}: {}",
            src.display(),
            fsutil::go_io_reason(&e)
        ))
    })?;
    let total = from.metadata().map(|m| m.len()).unwrap_or(0);
    if total > MAX_PLUGIN_BYTES {
        return Err(RegistryError::invalid(format!(
            "{label}: {} is larger than the {MAX_PLUGIN_BYTES}-byte plugin limit",
            src.display()
        )));
    }
    let io_err = |what: &str, e: std::io::Error| {
        RegistryError::io(format!("{what}: {}", fsutil::go_io_reason(&e)))
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(|e| io_err(&format!("create a file in {}", dir.display()), e))?;
    progress.start(label, total);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut done: u64 = 0;
    loop {
        let n = from
            .read(&mut buf)
            .map_err(|e| io_err(&format!("read {}", src.display()), e))?;
        if n == 0 {
            break;
        }
        done += n as u64;
        if done > MAX_PLUGIN_BYTES {
            progress.finish();
            return Err(RegistryError::invalid(format!(
                "{label}: {} is larger than the {MAX_PLUGIN_BYTES}-byte plugin limit",
                src.display()
            )));
        }
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n])
            .map_err(|e| io_err(&format!("write {}", tmp.path().display()), e))?;
        progress.advance(done);
    }
    progress.finish();
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o755))
            .map_err(|e| io_err("chmod", e))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| io_err(&format!("fsync {}", tmp.path().display()), e))?;
    Ok((tmp, gait_sdk::jcs::hex_lower(&hasher.finalize())))
}

/// Everything an install needs, resolved and trusted before the plugin directory is locked
/// (trusting a key may ask the user).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub name: String,
    pub version: String,
    pub contract_version: String,
    pub target: String,
    pub sha256: String,
    pub source: PathBuf,
    pub signature: DetachedSignature,
    pub signature_text: String,
    pub key: TrustedKey,
    /// The registry as recorded (`RegistryLocation::shown`).
    pub registry: String,
}

impl Prepared {
    /// Resolves the file and signature of `sel` and makes sure its signer is trusted.
    pub fn new(index: &VerifiedIndex, sel: Selected<'_>, keys: &mut Keys<'_>) -> Result<Prepared> {
        let v = sel.version;
        let source = index.file_path(v)?;
        let (signature, signature_text) = index.signature(v)?;
        let what = format!("plugin {} {} ({})", sel.plugin.name, v.version, v.file);
        let offered = offered_key(&index.location.root, &signature.key_id);
        let key = keys.require(&signature.key_id, &what, offered.as_ref())?;
        Ok(Prepared {
            name: sel.plugin.name.clone(),
            version: v.version.clone(),
            contract_version: v.contract_version.clone(),
            target: v.target.clone(),
            sha256: v.sha256.to_ascii_lowercase(),
            source,
            signature,
            signature_text,
            key,
            registry: index.location.shown.clone(),
        })
    }

    fn label(&self) -> String {
        format!("gait-{} {}", self.name, self.version)
    }

    fn outcome(&self, path: &Path, previous: Option<String>, changed: bool) -> Installed {
        Installed {
            name: self.name.clone(),
            version: self.version.clone(),
            previous_version: previous,
            contract_version: self.contract_version.clone(),
            target: self.target.clone(),
            sha256: self.sha256.clone(),
            key_id: self.key.id.clone(),
            registry: self.registry.clone(),
            path: path.display().to_string(),
            changed,
        }
    }
}

/// What an install did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Installed {
    pub name: String,
    pub version: String,
    /// The version it replaced, if one was installed.
    pub previous_version: Option<String>,
    pub contract_version: String,
    pub target: String,
    pub sha256: String,
    pub key_id: String,
    pub registry: String,
    pub path: String,
    /// False when exactly this file was already installed.
    pub changed: bool,
}

/// What a removal did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removed {
    pub name: String,
    pub version: Option<String>,
    pub path: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_excludes_and_dead_holders_are_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let held = LockedDir::open(dir.path()).unwrap();
        drop(held);
        assert!(!dir.path().join(DIR_LOCK_NAME).exists());
        // A lock file naming a pid that does not exist is taken over at once.
        std::fs::write(dir.path().join(DIR_LOCK_NAME), "pid=4194304999\n").unwrap();
        let t = std::time::Instant::now();
        let _again = LockedDir::open(dir.path()).unwrap();
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
