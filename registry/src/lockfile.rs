//! `gait.lock`: the exact plugin set a project pins (name, version, sha256, contract version,
//! registry), and the plan that makes a plugin directory match it.

use crate::error::{RegistryError, Result};
use crate::index::is_sha256_hex;
use crate::verify::{PluginCheck, Status};
use gait_sdk::fsutil;
use gait_sdk::manifest::is_valid_name;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const LOCK_FILE_NAME: &str = "gait.lock";
pub const LOCK_FORMAT: u32 = 1;
const MAX_LOCK_BYTES: u64 = 4 * 1024 * 1024;

const HEADER: &str =
    "# gait.lock: the exact plugins this project uses. Written by `gait plugin lock`;\n\
# `gait plugin sync --locked` installs exactly these and fails on any drift.\n";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    pub format: u32,
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<LockedPlugin>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPlugin {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub contract_version: String,
    /// Where it was installed from (a registry directory or index file).
    pub registry: String,
}

fn bad(source: &str, message: String) -> RegistryError {
    RegistryError::invalid_hint(
        format!("{source}: {message}"),
        "fix the lock file, or regenerate it with `gait plugin lock`",
    )
}

impl Lockfile {
    pub fn new(mut plugins: Vec<LockedPlugin>) -> Lockfile {
        plugins.sort_by(|a, b| a.name.cmp(&b.name));
        Lockfile {
            format: LOCK_FORMAT,
            plugins,
        }
    }

    pub fn parse(text: &str, source: &str) -> Result<Lockfile> {
        let lock: Lockfile = toml::from_str(text).map_err(|e| bad(source, e.message().into()))?;
        if lock.format != LOCK_FORMAT {
            return Err(bad(
                source,
                format!(
                    "unsupported lock format {} (this gait reads format {LOCK_FORMAT})",
                    lock.format
                ),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for p in &lock.plugins {
            if !is_valid_name(&p.name) {
                return Err(bad(
                    source,
                    format!("plugin name {:?} is not valid", p.name),
                ));
            }
            if !names.insert(p.name.as_str()) {
                return Err(bad(source, format!("plugin {} is pinned twice", p.name)));
            }
            semver::Version::parse(&p.version)
                .map_err(|e| bad(source, format!("{}: version {:?}: {e}", p.name, p.version)))?;
            semver::Version::parse(&p.contract_version).map_err(|e| {
                bad(
                    source,
                    format!("{}: contract_version {:?}: {e}", p.name, p.contract_version),
                )
            })?;
            if !is_sha256_hex(&p.sha256) {
                return Err(bad(
                    source,
                    format!("{}: sha256 is not 64 hex digits", p.name),
                ));
            }
            if p.registry.chars().any(char::is_control) || p.registry.len() > 4096 {
                return Err(bad(
                    source,
                    format!("{}: registry is not a valid path", p.name),
                ));
            }
        }
        Ok(lock)
    }

    pub fn load(path: &Path) -> Result<Lockfile> {
        let bytes = fsutil::read_capped(path, MAX_LOCK_BYTES).map_err(|e| {
            RegistryError::invalid_hint(
                format!("lock file: {e}"),
                "create it with `gait plugin lock`, or pass --lock <path>",
            )
        })?;
        let text = String::from_utf8(bytes)
            .map_err(|_| bad(&path.display().to_string(), "not UTF-8".into()))?;
        Lockfile::parse(&text, &path.display().to_string())
    }

    pub fn to_toml(&self) -> String {
        format!("{HEADER}\n{}", toml::to_string(self).unwrap_or_default())
    }

    /// Writes the lock file atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        fsutil::write_atomic(path, self.to_toml().as_bytes(), 0o644).map_err(|e| {
            RegistryError::io(format!(
                "write {}: {}",
                path.display(),
                fsutil::go_io_reason(&e)
            ))
        })
    }
}

/// One step of a sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Pinned and installed as pinned.
    Keep { name: String, version: String },
    /// Pinned, not installed.
    Install { name: String, version: String },
    /// Pinned, installed differently (or failing verification): reinstall as pinned.
    Replace {
        name: String,
        from: Option<String>,
        to: String,
    },
    /// Installed from a registry, not pinned.
    Remove {
        name: String,
        version: Option<String>,
    },
}

/// What a sync will do. With `locked`, any difference between the installed plugins and the
/// lock other than a pinned plugin that is simply not installed yet is drift, reported in one
/// verification error (exit 2) before anything changes.
pub fn plan_sync(
    locked: bool,
    pins: &[LockedPlugin],
    installed: &[PluginCheck],
) -> Result<Vec<Action>> {
    let by_name: BTreeMap<&str, &PluginCheck> =
        installed.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut actions = Vec::new();
    let mut drift = Vec::new();
    for pin in pins {
        match by_name.get(pin.name.as_str()) {
            None => actions.push(Action::Install {
                name: pin.name.clone(),
                version: pin.version.clone(),
            }),
            Some(c) if c.status == Status::Missing => actions.push(Action::Install {
                name: pin.name.clone(),
                version: pin.version.clone(),
            }),
            Some(c)
                if c.ok()
                    && c.sha256
                        .as_deref()
                        .is_some_and(|s| s.eq_ignore_ascii_case(&pin.sha256)) =>
            {
                actions.push(Action::Keep {
                    name: pin.name.clone(),
                    version: pin.version.clone(),
                })
            }
            Some(c) => {
                if locked {
                    drift.push(if c.ok() {
                        format!(
                            "{} is installed at {} (sha256 {}), the lock pins {} (sha256 {})",
                            pin.name,
                            c.version.as_deref().unwrap_or("?"),
                            c.sha256.as_deref().unwrap_or("?"),
                            pin.version,
                            pin.sha256
                        )
                    } else {
                        format!(
                            "installed {} is {}: {}",
                            pin.name,
                            c.status.as_str(),
                            c.reason
                        )
                    });
                }
                actions.push(Action::Replace {
                    name: pin.name.clone(),
                    from: c.version.clone(),
                    to: pin.version.clone(),
                });
            }
        }
    }
    for c in installed {
        if pins.iter().any(|p| p.name == c.name) {
            continue;
        }
        if locked {
            drift.push(format!(
                "{} is installed ({}) but not pinned in the lock",
                c.name,
                c.status.as_str()
            ));
        } else if c.managed() {
            actions.push(Action::Remove {
                name: c.name.clone(),
                version: c.version.clone(),
            });
        }
    }
    if !drift.is_empty() {
        return Err(RegistryError::verification_hint(
            format!("installed plugins drifted from the lock: {}", drift.join("; ")),
            "run `gait plugin sync` without --locked to make the plugin directory match the lock, or remove the drifted plugins with `gait plugin remove <name>`",
        ));
    }
    Ok(actions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Source;

    fn pin(name: &str, v: &str, sha: char) -> LockedPlugin {
        LockedPlugin {
            name: name.into(),
            version: v.into(),
            sha256: sha.to_string().repeat(64),
            contract_version: "1.0.0".into(),
            registry: "/r".into(),
        }
    }

    fn check(name: &str, v: &str, sha: char, status: Status) -> PluginCheck {
        PluginCheck {
            name: name.into(),
            status,
            source: Source::Record,
            path: format!("/p/gait-{name}"),
            version: Some(v.into()),
            sha256: Some(sha.to_string().repeat(64)),
            key_id: None,
            reason: String::new(),
            record: None,
        }
    }

    #[test]
    fn parse_round_trip_and_strictness() {
        let lock = Lockfile::new(vec![pin("b", "0.2.0", 'b'), pin("a", "0.1.0", 'a')]);
        let text = lock.to_toml();
        assert!(text.starts_with("# gait.lock"));
        let back = Lockfile::parse(&text, "gait.lock").unwrap();
        assert_eq!(back, lock);
        assert_eq!(back.plugins[0].name, "a");
        for bad in [
            text.replace("format = 1", "format = 2"),
            text.replace("name = \"a\"", "name = \"../a\""),
            text.replace("version = \"0.1.0\"", "version = \"one\""),
            text.replace(&"a".repeat(64), "zz"),
            text.replace("name = \"b\"", "name = \"a\""),
            format!("{text}\nextra = 1\n"),
            text.replace("registry = \"/r\"\n", "registry = \"/r\"\nsurprise = 1\n"),
        ] {
            assert!(
                matches!(
                    Lockfile::parse(&bad, "x"),
                    Err(RegistryError::Invalid { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn locked_plan_installs_missing_and_rejects_drift() {
        let pins = vec![pin("a", "0.1.0", 'a'), pin("b", "0.2.0", 'b')];
        let installed = vec![check("a", "0.1.0", 'a', Status::Ok)];
        let plan = plan_sync(true, &pins, &installed).unwrap();
        assert_eq!(
            plan,
            vec![
                Action::Keep {
                    name: "a".into(),
                    version: "0.1.0".into()
                },
                Action::Install {
                    name: "b".into(),
                    version: "0.2.0".into()
                }
            ]
        );
        // A different version installed, an extra plugin, a tampered one: drift.
        let installed = vec![
            check("a", "0.0.9", 'c', Status::Ok),
            check("b", "0.2.0", 'b', Status::Tampered),
            check("x", "1.0.0", 'd', Status::Ok),
        ];
        let e = plan_sync(true, &pins, &installed).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, RegistryError::Verification { .. }));
        assert!(msg.contains("a is installed at 0.0.9"), "{msg}");
        assert!(msg.contains("installed b is tampered"), "{msg}");
        assert!(msg.contains("x is installed"), "{msg}");
        // Unlocked, the same state converges.
        let plan = plan_sync(false, &pins, &installed).unwrap();
        assert_eq!(plan.len(), 3);
        assert!(matches!(plan[2], Action::Remove { .. }));
    }
}
