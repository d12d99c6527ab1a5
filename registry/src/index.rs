//! The registry index: `index.toml` plus its detached signature `index.toml.minisig`, in a
//! directory that also holds the plugin files (docs/registry.md describes the format).
//!
//! Everything read here is hostile: sizes are capped, the TOML is decoded strictly (unknown
//! fields are errors) and validated (names, semver, hashes, file paths confined to the
//! registry), and nothing in it is used before the index signature verified with a trusted key.

use crate::error::{RegistryError, Result};
use crate::keys::{offered_key, Keys};
use gait_sdk::fsutil;
use gait_sdk::manifest::is_valid_name;
use gait_sdk::trust::{signature_path, DetachedSignature};
use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

/// File name of the index inside a registry directory.
pub const INDEX_FILE: &str = "index.toml";
/// The index format this gait reads and writes.
pub const INDEX_FORMAT: u32 = 1;
/// `target` of files that run anywhere (scripts).
pub const TARGET_ANY: &str = "any";

const MAX_INDEX_BYTES: u64 = 16 * 1024 * 1024;
/// Largest detached signature read (a minisig file is a few hundred bytes).
pub(crate) const MAX_SIGNATURE_BYTES: u64 = 16 * 1024;
const MAX_DESCRIPTION_CHARS: usize = 1024;
const MAX_PATH_BYTES: usize = 1024;

/// The target triple this gait was built for (`x86_64-unknown-linux-gnu`).
pub fn host_target() -> &'static str {
    env!("GAIT_REGISTRY_HOST_TARGET")
}

/// The major version of the launcher ↔ plugin contract this gait speaks.
pub fn contract_major() -> u64 {
    // `CONTRACT_VERSION` is a semver string (older SDKs: a bare number); both start with the
    // major.
    let version: &dyn std::fmt::Display = &gait_sdk::manifest::CONTRACT_VERSION;
    version
        .to_string()
        .split('.')
        .next()
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or(1)
}

/// The whole index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// Always [`INDEX_FORMAT`].
    pub format: u32,
    /// A display name for the registry.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<IndexPlugin>,
}

/// One plugin and its published versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexPlugin {
    /// `hello` for `gait-hello`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(rename = "version")]
    pub versions: Vec<IndexVersion>,
}

/// One published file of a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexVersion {
    /// The plugin version (semver).
    pub version: String,
    /// The contract version the plugin speaks (semver).
    pub contract_version: String,
    /// Target triple, or `any` for scripts.
    pub target: String,
    /// Path of the file relative to the index (no absolute path, no `..`).
    pub file: String,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    /// The detached minisign signature of the file; when absent, `<file>.minisig` next to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl IndexVersion {
    /// The parsed version (validated when the index was parsed).
    pub fn semver(&self) -> Version {
        Version::parse(&self.version).unwrap_or_else(|_| Version::new(0, 0, 0))
    }

    pub fn contract_semver(&self) -> Version {
        Version::parse(&self.contract_version).unwrap_or_else(|_| Version::new(0, 0, 0))
    }

    /// Whether this gait can run the plugin (same contract major).
    pub fn contract_compatible(&self) -> bool {
        self.contract_semver().major == contract_major()
    }

    /// Whether the file runs on `target`.
    pub fn runs_on(&self, target: &str) -> bool {
        self.target == TARGET_ANY || self.target == target
    }
}

fn bad(message: String) -> RegistryError {
    RegistryError::invalid_hint(
        message,
        "the registry index is malformed: ask its publisher to rebuild it (docs/registry.md)",
    )
}

/// Lower-case hex of 64 digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `rel` is a relative path that stays inside the directory it is joined to: plain
/// `/`-separated components, no `.`/`..`, no absolute path, no backslashes or control
/// characters.
pub fn is_confined_path(rel: &str) -> bool {
    !rel.is_empty()
        && rel.len() <= MAX_PATH_BYTES
        && !rel.starts_with('/')
        && !rel.chars().any(|c| c == '\\' || c.is_control())
        && rel
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
        && Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

fn valid_target(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 64
        && t.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-' || b == b'.'
        })
}

impl Index {
    /// Decodes and validates an index (`source` names it in errors).
    pub fn parse(text: &str, source: &str) -> Result<Index> {
        let index: Index =
            toml::from_str(text).map_err(|e| bad(format!("{source}: {}", e.message())))?;
        index.validate().map_err(|e| e.context(source))?;
        Ok(index)
    }

    /// Checks every rule the format has beyond its shape.
    pub fn validate(&self) -> Result<()> {
        if self.format != INDEX_FORMAT {
            return Err(RegistryError::invalid_hint(
                format!(
                    "unsupported index format {} (this gait reads format {INDEX_FORMAT})",
                    self.format
                ),
                "upgrade gait, or ask the registry publisher for a format 1 index",
            ));
        }
        if self.name.chars().any(char::is_control) || self.name.len() > 256 {
            return Err(bad(
                "registry name has control characters or is too long".into()
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for p in &self.plugins {
            if !is_valid_name(&p.name) {
                return Err(bad(format!("plugin name {:?} is not a valid name", p.name)));
            }
            if !names.insert(p.name.as_str()) {
                return Err(bad(format!("plugin {} is listed twice", p.name)));
            }
            if p.description.chars().count() > MAX_DESCRIPTION_CHARS
                || p.description.chars().any(char::is_control)
            {
                return Err(bad(format!(
                    "plugin {}: description has control characters or is longer than {MAX_DESCRIPTION_CHARS} characters",
                    p.name
                )));
            }
            if p.versions.is_empty() {
                return Err(bad(format!("plugin {} has no versions", p.name)));
            }
            let mut seen = std::collections::BTreeSet::new();
            for v in &p.versions {
                let at = format!("plugin {} version {:?}", p.name, v.version);
                let parsed = Version::parse(&v.version)
                    .map_err(|e| bad(format!("{at}: not a semver version: {e}")))?;
                Version::parse(&v.contract_version).map_err(|e| {
                    bad(format!(
                        "{at}: contract_version {:?} is not a semver version: {e}",
                        v.contract_version
                    ))
                })?;
                if !valid_target(&v.target) {
                    return Err(bad(format!("{at}: target {:?} is not valid", v.target)));
                }
                if !seen.insert((parsed, v.target.as_str())) {
                    return Err(bad(format!("{at} is listed twice for target {}", v.target)));
                }
                if !is_confined_path(&v.file) {
                    return Err(bad(format!(
                        "{at}: file {:?} must be a relative path inside the registry (no absolute path, no ..)",
                        v.file
                    )));
                }
                if !is_sha256_hex(&v.sha256) {
                    return Err(bad(format!("{at}: sha256 is not 64 hex digits")));
                }
                if let Some(sig) = &v.signature {
                    if sig.len() as u64 > MAX_SIGNATURE_BYTES {
                        return Err(bad(format!("{at}: signature is too large")));
                    }
                    DetachedSignature::parse(sig, &at).map_err(|e| bad(e.to_string()))?;
                }
            }
        }
        Ok(())
    }

    pub fn plugin(&self, name: &str) -> Option<&IndexPlugin> {
        self.plugins.iter().find(|p| p.name == name)
    }

    /// The index as TOML (what publishers write and sign).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

/// Where a registry is: a directory with `index.toml`, or the index file itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryLocation {
    /// Absolute path of the index file.
    pub index_path: PathBuf,
    /// The directory plugin files are relative to.
    pub root: PathBuf,
    /// How the registry is named in records and lock files (absolute path as given).
    pub shown: String,
}

impl RegistryLocation {
    /// Resolves `--registry`/`$GAIT_REGISTRY`. Registries are local (offline): a directory or
    /// an index file, optionally as a `file://` URL.
    pub fn resolve(arg: &str) -> Result<RegistryLocation> {
        let trimmed = arg.trim();
        if trimmed.is_empty() {
            return Err(RegistryError::invalid_hint(
                "the registry location is empty",
                "pass --registry <dir or index.toml> or set GAIT_REGISTRY",
            ));
        }
        let raw = trimmed.strip_prefix("file://").unwrap_or(trimmed);
        if raw.contains("://") {
            return Err(RegistryError::invalid_hint(
                format!("registry {trimmed:?}: only local registries are supported"),
                "mirror the registry to a local directory (index.toml, index.toml.minisig and the plugin files) and pass that directory",
            ));
        }
        let path = std::path::absolute(Path::new(raw))
            .map_err(|e| RegistryError::invalid(format!("registry {raw:?}: {e}")))?;
        let meta = std::fs::metadata(&path).map_err(|e| {
            RegistryError::invalid_hint(
                format!("registry {}: {}", path.display(), fsutil::go_io_reason(&e)),
                "pass --registry <directory holding index.toml> or set GAIT_REGISTRY",
            )
        })?;
        let (index_path, root) = if meta.is_dir() {
            (path.join(INDEX_FILE), path.clone())
        } else {
            let root = path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("/"));
            (path.clone(), root)
        };
        Ok(RegistryLocation {
            index_path,
            root,
            shown: path.display().to_string(),
        })
    }
}

/// An index read from disk whose signature has not been checked yet.
#[derive(Debug)]
pub struct SignedIndex {
    pub location: RegistryLocation,
    bytes: Vec<u8>,
    signature: std::result::Result<Option<(DetachedSignature, String)>, String>,
}

fn read_input(path: &Path, limit: u64) -> Result<Vec<u8>> {
    fsutil::read_capped(path, limit).map_err(|e| RegistryError::invalid(e.to_string()))
}

impl SignedIndex {
    /// Reads the index and its signature (nothing in them is trusted yet).
    pub fn read(location: RegistryLocation) -> Result<SignedIndex> {
        let bytes = read_input(&location.index_path, MAX_INDEX_BYTES).map_err(|e| {
            e.context("registry index")
                .with_hint("pass --registry <directory holding index.toml> or set GAIT_REGISTRY")
        })?;
        let sig_path = signature_path(&location.index_path);
        let signature = if sig_path.exists() {
            match read_input(&sig_path, MAX_SIGNATURE_BYTES)
                .and_then(|b| String::from_utf8(b).map_err(|_| RegistryError::invalid("not UTF-8")))
            {
                Ok(text) => {
                    match DetachedSignature::parse(&text, &sig_path.display().to_string()) {
                        Ok(sig) => Ok(Some((sig, text))),
                        Err(e) => Err(e.to_string()),
                    }
                }
                Err(e) => Err(format!("{}: {e}", sig_path.display())),
            }
        } else {
            Ok(None)
        };
        Ok(SignedIndex {
            location,
            bytes,
            signature,
        })
    }

    /// The key id that signed the index, or the verification error for an unsigned index or
    /// an unreadable signature.
    pub fn signer(&self) -> Result<&str> {
        self.signed_parts().map(|(sig, _)| sig.key_id.as_str())
    }

    fn signed_parts(&self) -> Result<(&DetachedSignature, &str)> {
        let sig_path = signature_path(&self.location.index_path);
        match &self.signature {
            Ok(Some((sig, text))) => Ok((sig, text.as_str())),
            Ok(None) => Err(RegistryError::verification_hint(
                format!(
                    "registry index {} is not signed (no {})",
                    self.location.index_path.display(),
                    sig_path.display()
                ),
                format!(
                    "the publisher must sign it: `gait plugin sign --key <minisign secret key> {}`",
                    self.location.index_path.display()
                ),
            )),
            Err(e) => Err(RegistryError::verification_hint(
                format!("registry index signature is malformed: {e}"),
                format!(
                    "the publisher must re-sign the index: `gait plugin sign --key <minisign secret key> {}`",
                    self.location.index_path.display()
                ),
            )),
        }
    }

    /// Verifies the signature with a trusted key (asking `keys` to trust an unknown signer),
    /// then parses and validates the index.
    pub fn verify(self, keys: &mut Keys<'_>) -> Result<VerifiedIndex> {
        let (sig, sig_text) = self.signed_parts()?;
        let key_id = sig.key_id.clone();
        let what = format!("registry index {}", self.location.index_path.display());
        let offered = offered_key(&self.location.root, &key_id);
        let key = keys.require(&key_id, &what, offered.as_ref())?;
        verify_bytes(&key.base64, &self.bytes, sig_text).map_err(|reason| {
            RegistryError::verification_hint(
                format!("{what}: signature does not verify with key {key_id}: {reason}"),
                "the index or its signature was modified after signing; do not use this registry until the publisher re-signs it",
            )
        })?;
        let text = String::from_utf8(self.bytes).map_err(|_| {
            RegistryError::invalid(format!("{}: not UTF-8", self.location.index_path.display()))
        })?;
        let index = Index::parse(&text, &self.location.index_path.display().to_string())?;
        Ok(VerifiedIndex {
            location: self.location,
            index,
            key_id,
        })
    }
}

/// Verifies `bytes` (already in memory, so what was verified is what is used) against a
/// detached signature's text.
fn verify_bytes(key_base64: &str, bytes: &[u8], sig_text: &str) -> std::result::Result<(), String> {
    let pk = minisign_verify::PublicKey::from_base64(key_base64).map_err(|e| e.to_string())?;
    let s = minisign_verify::Signature::decode(sig_text).map_err(|e| e.to_string())?;
    pk.verify(bytes, &s, true).map_err(|e| e.to_string())
}

/// A verified, validated index.
#[derive(Debug, Clone)]
pub struct VerifiedIndex {
    pub location: RegistryLocation,
    pub index: Index,
    /// The key that signed it.
    pub key_id: String,
}

/// A resolved plugin version.
#[derive(Debug, Clone, Copy)]
pub struct Selected<'a> {
    pub plugin: &'a IndexPlugin,
    pub version: &'a IndexVersion,
}

impl VerifiedIndex {
    /// Plugins whose name or description contains `query` (case-insensitive), sorted by name.
    pub fn search(&self, query: Option<&str>) -> Vec<&IndexPlugin> {
        let q = query.map(str::to_lowercase).unwrap_or_default();
        let mut out: Vec<&IndexPlugin> = self
            .index
            .plugins
            .iter()
            .filter(|p| {
                q.is_empty()
                    || p.name.to_lowercase().contains(&q)
                    || p.description.to_lowercase().contains(&q)
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The highest version of `name` matching `req` that runs on `target` and speaks this
    /// gait's contract. Pre-releases match only a requirement that names one.
    pub fn resolve(
        &self,
        name: &str,
        req: Option<&VersionReq>,
        target: &str,
    ) -> Result<Selected<'_>> {
        let plugin = self.index.plugin(name).ok_or_else(|| {
            RegistryError::invalid_hint(
                format!("plugin {name} is not in registry {}", self.location.shown),
                "run `gait plugin search` to list the plugins it offers",
            )
        })?;
        let any = VersionReq::STAR;
        let req = req.unwrap_or(&any);
        let matching: Vec<&IndexVersion> = plugin
            .versions
            .iter()
            .filter(|v| req.matches(&v.semver()))
            .collect();
        let available = || {
            let mut vs: Vec<Version> = plugin.versions.iter().map(IndexVersion::semver).collect();
            vs.sort();
            vs.dedup();
            vs.iter()
                .map(Version::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        if matching.is_empty() {
            return Err(RegistryError::invalid_hint(
                format!(
                    "plugin {name} has no version matching {req} (available: {})",
                    available()
                ),
                format!(
                    "ask for one of the available versions, e.g. `gait plugin install {name}@={}`",
                    plugin
                        .versions
                        .iter()
                        .map(IndexVersion::semver)
                        .max()
                        .map(|v| v.to_string())
                        .unwrap_or_default()
                ),
            ));
        }
        let on_target: Vec<&IndexVersion> = matching
            .iter()
            .copied()
            .filter(|v| v.runs_on(target))
            .collect();
        if on_target.is_empty() {
            let mut targets: Vec<&str> = matching.iter().map(|v| v.target.as_str()).collect();
            targets.sort();
            targets.dedup();
            return Err(RegistryError::invalid(format!(
                "plugin {name} {req} is not published for {target} (only for: {})",
                targets.join(", ")
            )));
        }
        let compatible: Vec<&IndexVersion> = on_target
            .iter()
            .copied()
            .filter(|v| v.contract_compatible())
            .collect();
        let Some(best) = compatible.into_iter().max_by(|a, b| {
            a.semver()
                .cmp(&b.semver())
                // A file for this exact target beats an `any` file of the same version.
                .then_with(|| (a.target != TARGET_ANY).cmp(&(b.target != TARGET_ANY)))
        }) else {
            let newest = on_target.iter().max_by_key(|v| v.semver()).copied();
            let (v, c) = newest
                .map(|v| (v.version.clone(), v.contract_version.clone()))
                .unwrap_or_default();
            return Err(RegistryError::invalid_hint(
                format!(
                    "plugin {name} {v} speaks contract {c}, but this gait speaks contract {}.x",
                    contract_major()
                ),
                "upgrade gait, or ask for an older version of the plugin",
            ));
        };
        Ok(Selected {
            plugin,
            version: best,
        })
    }

    /// Exactly `name` `version` for `target` (lock files pin versions).
    pub fn exact(&self, name: &str, version: &str, target: &str) -> Option<Selected<'_>> {
        let plugin = self.index.plugin(name)?;
        let want = Version::parse(version).ok()?;
        plugin
            .versions
            .iter()
            .filter(|v| v.semver() == want && v.runs_on(target))
            .max_by_key(|v| v.target != TARGET_ANY)
            .map(|version| Selected { plugin, version })
    }

    /// The confined, existing regular file of a version.
    pub fn file_path(&self, v: &IndexVersion) -> Result<PathBuf> {
        self.confined(&v.file)
    }

    fn confined(&self, rel: &str) -> Result<PathBuf> {
        if !is_confined_path(rel) {
            return Err(bad(format!("file {rel:?} is not inside the registry")));
        }
        let root = self.location.root.canonicalize().map_err(|e| {
            RegistryError::invalid(format!(
                "registry {}: {}",
                self.location.root.display(),
                fsutil::go_io_reason(&e)
            ))
        })?;
        let joined = root.join(rel);
        let real = joined.canonicalize().map_err(|e| {
            RegistryError::invalid_hint(
                format!(
                    "registry file {}: {}",
                    joined.display(),
                    fsutil::go_io_reason(&e)
                ),
                "the registry is incomplete: ask its publisher to rebuild it",
            )
        })?;
        // A symlink inside the registry must not lead out of it.
        if !real.starts_with(&root) {
            return Err(bad(format!(
                "registry file {rel} resolves outside the registry ({})",
                real.display()
            )));
        }
        if !real.is_file() {
            return Err(bad(format!("registry file {rel} is not a regular file")));
        }
        Ok(real)
    }

    /// The signature text of a version: inline, else `<file>.minisig` next to the file.
    pub fn signature_text(&self, v: &IndexVersion) -> Result<String> {
        if let Some(s) = &v.signature {
            return Ok(s.clone());
        }
        let rel = format!("{}{}", v.file, gait_sdk::trust::SIGNATURE_SUFFIX);
        let path = self.confined(&rel).map_err(|_| {
            RegistryError::verification_hint(
                format!(
                    "registry file {} has no signature (no inline signature, no {rel})",
                    v.file
                ),
                "the publisher must sign it: `gait plugin sign --key <minisign secret key> <file>`",
            )
        })?;
        let bytes = read_input(&path, MAX_SIGNATURE_BYTES)?;
        String::from_utf8(bytes)
            .map_err(|_| RegistryError::verification(format!("{}: not UTF-8", path.display())))
    }

    /// The parsed signature of a version.
    pub fn signature(&self, v: &IndexVersion) -> Result<(DetachedSignature, String)> {
        let text = self.signature_text(v)?;
        let sig = DetachedSignature::parse(&text, &v.file)
            .map_err(|e| RegistryError::verification(format!("signature of {}: {e}", v.file)))?;
        Ok((sig, text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
format = 1
name = "test"

[[plugin]]
name = "hello"
description = "Says hello"

[[plugin.version]]
version = "0.1.0"
contract_version = "1.0.0"
target = "any"
file = "plugins/gait-hello-0.1.0"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"

[[plugin.version]]
version = "0.2.0"
contract_version = "1.0.0"
target = "any"
file = "plugins/gait-hello-0.2.0"
sha256 = "1111111111111111111111111111111111111111111111111111111111111111"

[[plugin.version]]
version = "0.3.0-beta.1"
contract_version = "1.0.0"
target = "any"
file = "plugins/gait-hello-0.3.0-beta.1"
sha256 = "2222222222222222222222222222222222222222222222222222222222222222"

[[plugin.version]]
version = "0.4.0"
contract_version = "2.0.0"
target = "any"
file = "plugins/gait-hello-0.4.0"
sha256 = "3333333333333333333333333333333333333333333333333333333333333333"

[[plugin.version]]
version = "0.2.0"
contract_version = "1.0.0"
target = "sparc-sun-solaris"
file = "plugins/gait-hello-0.2.0-sparc"
sha256 = "4444444444444444444444444444444444444444444444444444444444444444"
"#;

    fn verified(text: &str) -> VerifiedIndex {
        VerifiedIndex {
            location: RegistryLocation {
                index_path: "/r/index.toml".into(),
                root: "/r".into(),
                shown: "/r".into(),
            },
            index: Index::parse(text, "index.toml").unwrap(),
            key_id: "0".repeat(16),
        }
    }

    #[test]
    fn parses_and_round_trips() {
        let idx = Index::parse(GOOD, "index.toml").unwrap();
        assert_eq!(idx.plugins[0].versions.len(), 5);
        let again = Index::parse(&idx.to_toml(), "again").unwrap();
        assert_eq!(again, idx);
    }

    #[test]
    fn rejects_hostile_indexes() {
        let cases = [
            GOOD.replace("format = 1", "format = 2"),
            GOOD.replace("name = \"hello\"", "name = \"../hello\""),
            GOOD.replace("plugins/gait-hello-0.1.0\"", "/etc/passwd\""),
            GOOD.replace("plugins/gait-hello-0.1.0\"", "plugins/../../x\""),
            GOOD.replace("plugins/gait-hello-0.1.0\"", "plugins//x\""),
            GOOD.replace("plugins/gait-hello-0.1.0\"", "plugins\\\\x\""),
            GOOD.replace("version = \"0.1.0\"", "version = \"1\""),
            GOOD.replace("contract_version = \"1.0.0\"", "contract_version = \"one\""),
            GOOD.replace("target = \"sparc-sun-solaris\"", "target = \"Any Thing\""),
            GOOD.replace(&"0".repeat(64), "abc"),
            GOOD.replace("description = \"Says hello\"", "description = \"\\u001b[31m\""),
            GOOD.replace("description = \"Says hello\"", "description = \"x\"\nhomepage = \"y\""),
            GOOD.replace("version = \"0.1.0\"", "version = \"0.2.0\""),
            format!("{GOOD}\n[[plugin]]\nname = \"hello\"\n[[plugin.version]]\nversion = \"9.0.0\"\ncontract_version = \"1.0.0\"\ntarget = \"any\"\nfile = \"x\"\nsha256 = \"{}\"\n", "5".repeat(64)),
            GOOD.replace("sha256 = \"0000", "signature = \"garbage\"\nsha256 = \"0000"),
            "format = 1\n[[plugin]]\nname = \"x\"\nversion = []\n".to_string(),
            "not toml [".to_string(),
        ];
        for (i, c) in cases.iter().enumerate() {
            assert!(
                matches!(
                    Index::parse(c, "index.toml"),
                    Err(RegistryError::Invalid { .. })
                ),
                "case {i} was accepted:\n{c}"
            );
        }
    }

    #[test]
    fn resolution_picks_the_newest_compatible_release() {
        let idx = verified(GOOD);
        let host = "x86_64-unknown-linux-gnu";
        // 0.4.0 speaks contract 2 and 0.3.0-beta.1 is a pre-release: 0.2.0.
        assert_eq!(
            idx.resolve("hello", None, host).unwrap().version.version,
            "0.2.0"
        );
        let req = VersionReq::parse("=0.1.0").unwrap();
        assert_eq!(
            idx.resolve("hello", Some(&req), host)
                .unwrap()
                .version
                .version,
            "0.1.0"
        );
        let req = VersionReq::parse(">=0.3.0-beta.1").unwrap();
        assert_eq!(
            idx.resolve("hello", Some(&req), host)
                .unwrap()
                .version
                .version,
            "0.3.0-beta.1"
        );
        let req = VersionReq::parse("^0.4").unwrap();
        let e = idx
            .resolve("hello", Some(&req), host)
            .unwrap_err()
            .to_string();
        assert!(e.contains("contract 2.0.0"), "{e}");
        let req = VersionReq::parse("^7").unwrap();
        let e = idx
            .resolve("hello", Some(&req), host)
            .unwrap_err()
            .to_string();
        assert!(e.contains("available: 0.1.0, 0.2.0"), "{e}");
        assert!(idx.resolve("nope", None, host).is_err());
        // An exact-target file beats `any` for the same version.
        let sparc = idx.resolve("hello", None, "sparc-sun-solaris").unwrap();
        assert_eq!(sparc.version.target, "sparc-sun-solaris");
        assert_eq!(
            idx.exact("hello", "0.2.0", "sparc-sun-solaris")
                .unwrap()
                .version
                .target,
            "sparc-sun-solaris"
        );
        assert!(idx.exact("hello", "0.9.0", host).is_none());
    }

    #[test]
    fn confined_paths() {
        for ok in ["a", "a/b", "plugins/gait-x-0.1.0", "a.b/c-d"] {
            assert!(is_confined_path(ok), "{ok}");
        }
        for bad in [
            "", "/a", "a/../b", "..", ".", "a//b", "a/", "./a", "a\\b", "a\nb",
        ] {
            assert!(!is_confined_path(bad), "{bad}");
        }
    }

    #[test]
    fn host_target_is_a_triple() {
        assert!(host_target().split('-').count() >= 3, "{}", host_target());
        assert!(contract_major() >= 1);
    }
}
