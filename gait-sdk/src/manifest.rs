//! The plugin manifest protocol: how a `gait-<name>` executable tells the launcher who it is
//! and which top-level commands it serves.
//!
//! `gait-<name> --gait-manifest` prints one JSON object ([`PluginManifest`]) and exits 0. The
//! launcher caches it keyed by the executable's path, size and mtime.

use serde::{Deserialize, Serialize};

/// Version of the JSON contract between the launcher and plugins. Bumped only on breaking
/// changes to the manifest, the argument convention or the output envelope.
pub const CONTRACT_VERSION: u32 = 1;

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
    pub contract_version: u32,
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
            contract_version: CONTRACT_VERSION,
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
        if let Some(bad) = m.commands.iter().find(|c| !is_valid_name(&c.name)) {
            return Err(ManifestError::Command(bad.name.clone()));
        }
        Ok(m)
    }

    pub fn serves(&self, command: &str) -> bool {
        self.commands.iter().any(|c| c.name == command)
    }
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
        let mut bad = m.clone();
        bad.commands[0].name = "../x".into();
        assert!(matches!(
            PluginManifest::parse(&bad.to_json()),
            Err(ManifestError::Command(_))
        ));
    }
}
