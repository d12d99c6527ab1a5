//! Which discovered plugins the launcher may run (docs/plugins.md has the full model).
//!
//! - **Bundled** (beside the launcher): trusted like the launcher itself.
//! - **Plugin directory** (installed from a registry): the file's sha256 must match an entry of
//!   the install record (`installed.toml`) whose minisign signature verifies with a trusted
//!   key — or the file must carry its own valid signature, or be trusted by hash.
//! - **PATH** (third party): a valid `<file>.minisig` from a trusted key, or the user trusted
//!   this exact file (`gait plugin trust <path>` records its sha256).
//!
//! Admission runs lazily, just before a plugin is probed or executed, so a command served by a
//! bundled plugin never touches the trust store. Successful checks are cached by the registry
//! (keyed by the file's path, inode, size, mtime and ctime plus [`Admission::fingerprint`]).

use crate::discovery::{Candidate, Source};
use gait_registry::installed::InstallRecord;
use gait_sdk::trust::{self, DetachedSignature, SignatureStatus, TrustStore, TrustedKey};
use std::cell::OnceCell;
use std::fmt;
use std::path::{Path, PathBuf};

/// How a refusal should be reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// Nothing vouches for the plugin (unsigned, unknown key, not installed, not trusted).
    Untrusted,
    /// Something vouches for different bytes: a bad signature or a hash that no longer
    /// matches. The file was tampered with or replaced.
    Invalid,
}

/// Why a plugin was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustError {
    pub kind: RefusalKind,
    pub reason: String,
    /// What the user can run to fix it.
    pub hint: String,
}

impl TrustError {
    fn untrusted(reason: impl Into<String>, hint: impl Into<String>) -> Self {
        TrustError {
            kind: RefusalKind::Untrusted,
            reason: reason.into(),
            hint: hint.into(),
        }
    }
    fn invalid(reason: impl Into<String>, hint: impl Into<String>) -> Self {
        TrustError {
            kind: RefusalKind::Invalid,
            reason: reason.into(),
            hint: hint.into(),
        }
    }
}

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            RefusalKind::Untrusted => "not trusted",
            RefusalKind::Invalid => "verification failed",
        };
        write!(f, "{what}: {}", self.reason)
    }
}

impl std::error::Error for TrustError {}

/// How an admitted plugin earned it (shown by `gait plugin list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admitted {
    Bundled,
    /// Matches the install record, signed by this key.
    Installed {
        key_id: String,
    },
    /// Carries a valid detached signature from this trusted key.
    Signed {
        key_id: String,
    },
    /// The user trusted exactly this content.
    TrustedFile,
}

impl Admitted {
    pub fn as_str(&self) -> String {
        match self {
            Admitted::Bundled => "bundled".into(),
            Admitted::Installed { key_id } => format!("installed (key {key_id})"),
            Admitted::Signed { key_id } => format!("signed (key {key_id})"),
            Admitted::TrustedFile => "trusted file".into(),
        }
    }
}

/// Decides whether a discovered plugin may be run.
pub trait Admission {
    fn admit(&self, candidate: &Candidate) -> Result<Admitted, TrustError>;

    /// Identifies the trust state a decision for `source` depends on; `None` disables caching
    /// of such decisions. A change (a key added or removed, a new install) invalidates them.
    fn fingerprint(&self, _source: Source) -> Option<String> {
        None
    }
}

/// Admits every plugin (unit tests of discovery and routing).
#[derive(Debug, Clone, Copy, Default)]
pub struct AdmitAll;

impl Admission for AdmitAll {
    fn admit(&self, _candidate: &Candidate) -> Result<Admitted, TrustError> {
        Ok(Admitted::Bundled)
    }
}

/// The launcher's policy: the trust store and install record are read only when a plugin
/// outside the launcher's own directory is first checked.
pub struct TrustPolicy {
    trust_dir: Option<PathBuf>,
    plugin_dir: Option<PathBuf>,
    extra_keys: Vec<String>,
    store: OnceCell<Result<TrustStore, String>>,
    record: OnceCell<Result<InstallRecord, String>>,
}

/// `GAIT_TRUST_KEY`: extra trusted minisign public keys (files or base64), `:`-separated.
pub const ENV_TRUST_KEY: &str = "GAIT_TRUST_KEY";

impl TrustPolicy {
    pub fn new(
        trust_dir: Option<PathBuf>,
        plugin_dir: Option<PathBuf>,
        extra_keys: Vec<String>,
    ) -> Self {
        TrustPolicy {
            trust_dir,
            plugin_dir,
            extra_keys,
            store: OnceCell::new(),
            record: OnceCell::new(),
        }
    }

    /// From the environment: `$GAIT_TRUST_DIR` (else `~/.gait/trust`) and `$GAIT_TRUST_KEY`.
    pub fn from_env(plugin_dir: Option<PathBuf>) -> Self {
        let extra = std::env::var(ENV_TRUST_KEY)
            .map(|v| {
                v.split(':')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        TrustPolicy::new(TrustStore::default_dir(), plugin_dir, extra)
    }

    fn store(&self) -> Result<&TrustStore, TrustError> {
        self.store
            .get_or_init(|| {
                let mut store = match &self.trust_dir {
                    Some(d) => TrustStore::load(d).map_err(|e| e.to_string())?,
                    None => TrustStore::default(),
                };
                for k in &self.extra_keys {
                    store.add(TrustedKey::from_arg(k).map_err(|e| format!("{ENV_TRUST_KEY}: {e}"))?);
                }
                Ok(store)
            })
            .as_ref()
            .map_err(|e| {
                TrustError::invalid(
                    format!("trust store unreadable: {e}"),
                    "fix or remove the file named above (the trust store is ~/.gait/trust or $GAIT_TRUST_DIR)",
                )
            })
    }

    fn record(&self) -> Result<&InstallRecord, TrustError> {
        self.record
            .get_or_init(|| match &self.plugin_dir {
                Some(d) => InstallRecord::load(d).map_err(|e| e.to_string()),
                None => Ok(InstallRecord::default()),
            })
            .as_ref()
            .map_err(|e| {
                TrustError::invalid(
                    format!("install record unreadable: {e}"),
                    "run `gait plugin verify`, then reinstall the affected plugins",
                )
            })
    }

    fn sha256(path: &Path) -> Result<String, TrustError> {
        trust::sha256_file(path).map_err(|e| {
            TrustError::untrusted(
                format!("cannot read {}: {e}", path.display()),
                "check the file's permissions",
            )
        })
    }

    /// The detached signature (if any) and trust-by-hash, shared by both untrusted sources.
    fn signed_or_trusted(&self, c: &Candidate, sha: &str) -> Result<Option<Admitted>, TrustError> {
        let store = self.store()?;
        let p = c.path.display();
        match store.check_signature(&c.path).map_err(|e| {
            TrustError::invalid(
                format!("signature of {p} unreadable: {e}"),
                "re-download the plugin and its .minisig",
            )
        })? {
            SignatureStatus::Verified { key_id } => return Ok(Some(Admitted::Signed { key_id })),
            SignatureStatus::Invalid { key_id, reason } => {
                return Err(TrustError::invalid(
                    format!("signature of {p} (key {key_id}) does not match the file: {reason}"),
                    format!("the plugin was modified after signing; reinstall it, or remove {p}"),
                ))
            }
            SignatureStatus::UnknownKey { key_id } => {
                if store.file_trusted(&c.path, sha) {
                    return Ok(Some(Admitted::TrustedFile));
                }
                return Err(TrustError::untrusted(
                    format!("{p} is signed by key {key_id}, which is not trusted"),
                    format!("trust the key with `gait plugin trust --key <minisign .pub of {key_id}>`, or this file with `gait plugin trust {p}`"),
                ));
            }
            SignatureStatus::Unsigned => {}
        }
        Ok(store
            .file_trusted(&c.path, sha)
            .then_some(Admitted::TrustedFile))
    }
}

impl Admission for TrustPolicy {
    fn admit(&self, c: &Candidate) -> Result<Admitted, TrustError> {
        let p = c.path.display();
        match c.source {
            Source::Bundled => Ok(Admitted::Bundled),
            Source::PluginDir => {
                let sha = Self::sha256(&c.path)?;
                let record = self.record()?;
                let store = self.store()?;
                let mut known_key = None;
                for entry in record.matching(&c.name, &sha) {
                    let Some(key) = store.key(&entry.key_id) else {
                        known_key.get_or_insert(entry.key_id.clone());
                        continue;
                    };
                    let sig = DetachedSignature::parse(&entry.signature, "install record")
                        .map_err(|e| {
                            TrustError::invalid(
                                format!("install record of {p}: {e}"),
                                format!("reinstall it: `gait plugin install {}`", c.name),
                            )
                        })?;
                    trust::verify_file(key, &c.path, &sig).map_err(|e| {
                        TrustError::invalid(
                            format!("{p} does not match the signature recorded at install: {e}"),
                            format!("reinstall it: `gait plugin install {}`", c.name),
                        )
                    })?;
                    return Ok(Admitted::Installed {
                        key_id: key.id.clone(),
                    });
                }
                if let Some(a) = self.signed_or_trusted(c, &sha)? {
                    return Ok(a);
                }
                if let Some(key_id) = known_key {
                    return Err(TrustError::untrusted(
                        format!("{p} was installed with key {key_id}, which is no longer trusted"),
                        format!("trust the key again with `gait plugin trust --key <minisign .pub of {key_id}>`"),
                    ));
                }
                if record.by_name(&c.name).next().is_some() {
                    return Err(TrustError::invalid(
                        format!("{p} no longer matches the sha256 recorded at install (it was modified or replaced)"),
                        format!("reinstall it: `gait plugin install {}`, or run `gait plugin verify`", c.name),
                    ));
                }
                Err(TrustError::untrusted(
                    format!("{p} was not installed by `gait plugin install` and is not signed by a trusted key"),
                    format!("install it from a registry (`gait plugin install {}`), or trust this file with `gait plugin trust {p}`", c.name),
                ))
            }
            Source::Path => {
                let sha = Self::sha256(&c.path)?;
                if let Some(a) = self.signed_or_trusted(c, &sha)? {
                    return Ok(a);
                }
                Err(TrustError::untrusted(
                    format!(
                        "{p} is a third-party plugin found on PATH; it is unsigned and not trusted"
                    ),
                    format!("review it, then trust this exact file with `gait plugin trust {p}`"),
                ))
            }
        }
    }

    fn fingerprint(&self, source: Source) -> Option<String> {
        // Decisions depend on the keys, the trusted-file list and (for installed plugins) the
        // install record: their identities (size, mtime, ctime, inode) stand for their content.
        let mut parts: Vec<String> = self.extra_keys.clone();
        let stamp = |p: &Path| -> String {
            use std::os::unix::fs::MetadataExt;
            match std::fs::metadata(p) {
                Ok(m) => format!(
                    "{}:{}:{}.{}:{}.{}",
                    m.ino(),
                    m.len(),
                    m.mtime(),
                    m.mtime_nsec(),
                    m.ctime(),
                    m.ctime_nsec()
                ),
                Err(_) => "-".into(),
            }
        };
        if let Some(d) = &self.trust_dir {
            parts.push(stamp(&d.join("files.toml")));
            let keys = d.join("keys");
            parts.push(stamp(&keys));
            if let Ok(entries) = std::fs::read_dir(&keys) {
                let mut names: Vec<String> = entries
                    .filter_map(Result::ok)
                    .map(|e| {
                        let p = e.path();
                        format!("{}={}", p.display(), stamp(&p))
                    })
                    .collect();
                names.sort();
                parts.extend(names);
            }
        }
        if source == Source::PluginDir {
            if let Some(d) = &self.plugin_dir {
                parts.push(stamp(&InstallRecord::path(d)));
            }
        }
        Some(gait_sdk::jcs::sha256_hex(parts.join("\n").as_bytes()))
    }
}

/// The admission policy the launcher uses.
pub fn default_admission(plugin_dir: Option<PathBuf>) -> Box<dyn Admission> {
    Box::new(TrustPolicy::from_env(plugin_dir))
}
