//! The plugin manifest protocol: how a `gait-<name>` executable tells the launcher who it is
//! and which top-level commands it serves.
//!
//! `gait-<name> --gait-manifest` prints one JSON object ([`PluginManifest`]) and exits 0. The
//! launcher caches it keyed by the executable's path, size and mtime.

use serde::{Deserialize, Serialize};

/// Version (semver) of the JSON contract between the launcher and plugins. The major part
/// changes only on breaking changes to the manifest, the argument convention or the output
/// envelope; the launcher refuses plugins of another major.
pub const CONTRACT_VERSION: &str = "1.0.0";

/// The major part of a contract version (`"1.2.0"` → 1); `None` when it is not semver-like.
pub fn contract_major(version: &str) -> Option<u64> {
    let mut parts = version.trim().split('.');
    let major = parts.next()?.parse::<u64>().ok()?;
    // Minor and patch, when present, must be numbers too (pre-release tags are not used).
    for p in parts.by_ref().take(2) {
        p.parse::<u64>().ok()?;
    }
    parts.next().is_none().then_some(major)
}

/// Accepts the contract version as a semver string or, as early manifests wrote it, a bare
/// major number.
fn de_contract_version<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(u64),
        Text(String),
    }
    Ok(match Either::deserialize(d)? {
        Either::Number(n) => format!("{n}.0.0"),
        Either::Text(s) => s,
    })
}

/// The flag a plugin answers with its manifest.
pub const MANIFEST_FLAG: &str = "--gait-manifest";

/// `schema_id` of a plugin manifest.
pub const MANIFEST_SCHEMA_ID: &str = "gait.plugin.manifest";

/// One top-level command a plugin serves (`gait <name> …`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CommandDecl {
    pub name: String,
    /// One line of help for `gait --help`.
    #[serde(default)]
    pub about: String,
}

/// What a plugin declares about itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PluginManifest {
    pub schema_id: String,
    #[serde(deserialize_with = "de_contract_version")]
    pub contract_version: String,
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub about: String,
    pub commands: Vec<CommandDecl>,
}

/// Why a manifest was rejected.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("manifest is not valid JSON: {0}")]
    Json(String),
    #[error("manifest schema_id {0:?} is not {MANIFEST_SCHEMA_ID}")]
    SchemaId(String),
    #[error("manifest name {0:?} is not a valid plugin name")]
    Name(String),
    #[error("manifest command {0:?} is not a valid command name")]
    Command(String),
    #[error("manifest contract_version {0:?} is not a semver version")]
    ContractVersion(String),
}

/// Plugin and command names: lower-case ASCII letters, digits, `-` and `_`, not starting with
/// `-`, at most 64 bytes.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl PluginManifest {
    pub fn new(name: &str, version: &str, about: &str, commands: &[(&str, &str)]) -> Self {
        PluginManifest {
            schema_id: MANIFEST_SCHEMA_ID.to_string(),
            contract_version: CONTRACT_VERSION.to_string(),
            name: name.to_string(),
            version: version.to_string(),
            about: about.to_string(),
            commands: commands
                .iter()
                .map(|(n, a)| CommandDecl {
                    name: n.to_string(),
                    about: a.to_string(),
                })
                .collect(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("manifest serialises")
    }

    /// Parses and validates a manifest printed by a plugin.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let m: PluginManifest =
            serde_json::from_str(text.trim()).map_err(|e| ManifestError::Json(e.to_string()))?;
        if m.schema_id != MANIFEST_SCHEMA_ID {
            return Err(ManifestError::SchemaId(m.schema_id));
        }
        if !is_valid_name(&m.name) {
            return Err(ManifestError::Name(m.name));
        }
        if contract_major(&m.contract_version).is_none() {
            return Err(ManifestError::ContractVersion(m.contract_version));
        }
        if let Some(bad) = m.commands.iter().find(|c| !is_valid_name(&c.name)) {
            return Err(ManifestError::Command(bad.name.clone()));
        }
        Ok(m)
    }

    pub fn serves(&self, command: &str) -> bool {
        self.commands.iter().any(|c| c.name == command)
    }
}

/// Set by the launcher for every plugin it runs: the launcher's own path.
pub const LAUNCHER_ENV: &str = "GAIT_LAUNCHER";

/// The `gait` launcher a plugin reaches other plugins through: the one that started it
/// (`GAIT_LAUNCHER`), else the one installed beside it. Plugins cooperate only through the
/// CLI contract, so every plugin that needs another asks this.
pub fn launcher() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    if let Some(p) = std::env::var_os(LAUNCHER_ENV)
        .map(PathBuf::from)
        .filter(|p| p.is_file())
    {
        return Some(p);
    }
    let exe = std::env::current_exe().ok()?;
    let beside = exe
        .parent()?
        .join(format!("gait{}", std::env::consts::EXE_SUFFIX));
    beside.is_file().then_some(beside)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_validation() {
        let m = PluginManifest::new(
            "gate",
            "0.1.0",
            "gate",
            &[("gate", "evaluate"), ("policy", "policies")],
        );
        let back = PluginManifest::parse(&m.to_json()).unwrap();
        assert_eq!(back, m);
        assert!(back.serves("policy"));
        assert!(PluginManifest::parse("{}").is_err());
        let old = r#"{"schema_id":"gait.plugin.manifest","contract_version":1,"name":"x","version":"1","commands":[]}"#;
        assert_eq!(
            PluginManifest::parse(old).unwrap().contract_version,
            "1.0.0"
        );
        assert!(PluginManifest::parse(&old.replace(":1,", ":\"one\",")).is_err());
        assert_eq!(contract_major("2.1.3"), Some(2));
        assert_eq!(contract_major("2"), Some(2));
        assert_eq!(contract_major("2.x"), None);
        assert_eq!(contract_major("1.0.0.0"), None);
        let mut bad = m.clone();
        bad.commands[0].name = "../x".into();
        assert!(matches!(
            PluginManifest::parse(&bad.to_json()),
            Err(ManifestError::Command(_))
        ));
    }
}
