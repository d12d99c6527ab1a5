//! The plugin setup: what is found and where, versions and contract versions, trust,
//! shadowing, and drift from `gait.lock`. Beyond the reference, whose CLI is one binary.

use super::{sh_quote, Check};
use crate::discovery::Source;
use crate::registry::{PluginInfo, PluginState, Registry};
use gait_registry::installed::InstallRecord;
use gait_registry::lockfile::Lockfile;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

const SCOPE: &str = "plugins";

/// The first backquoted command in a hint: trust errors phrase their fix as prose around one.
fn command_in(hint: &str) -> Option<String> {
    let start = hint.find('`')? + 1;
    let len = hint[start..].find('`')?;
    Some(hint[start..start + len].to_string())
}

/// How to get rid of a plugin file, by where it was found.
fn removal(p: &PluginInfo) -> Option<String> {
    match p.source {
        Source::PluginDir => Some(format!("gait plugin remove {}", p.name)),
        Source::Path => Some(format!("rm {}", sh_quote(&p.path))),
        Source::Bundled => None,
    }
}

/// `registry_cache`: the directory registry installs go to, and its install record.
pub fn registry_cache(registry: &Registry) -> Check {
    const N: &str = "registry_cache";
    let Some(dir) = registry.config().plugin_dir.clone() else {
        return Check::pass(N, "universal", "no plugin directory ($HOME is not set)");
    };
    match std::fs::metadata(&dir) {
        Err(_) => Check::pass(
            N,
            "universal",
            format!(
                "no registry-installed plugins ({} does not exist)",
                dir.display()
            ),
        ),
        Ok(m) if !m.is_dir() => Check::fail(
            N,
            "universal",
            format!("plugin directory {} is not a directory", dir.display()),
        )
        .fix(format!("mv {0} {0}.bak", sh_quote(&dir))),
        Ok(_) => match InstallRecord::load(&dir) {
            Ok(r) => Check::pass(
                N,
                "universal",
                format!(
                    "{} plugin(s) installed from registries in {}",
                    r.plugins.len(),
                    dir.display()
                ),
            ),
            Err(e) => Check::fail(N, "universal", format!("install record: {e}"))
                .fix("gait plugin verify"),
        },
    }
}

/// Appends the plugin checks; returns the plugin list (as `gait plugin list --json` has it).
pub fn checks(registry: &mut Registry, workdir: &Path, out: &mut Vec<Check>) -> Vec<Value> {
    registry.scan_all();
    let plugins = registry.plugins().to_vec();
    out.push(discovery(&plugins));
    out.push(trust(&plugins));
    out.push(contract(&plugins));
    out.push(health(&plugins));
    out.push(shadowing(&plugins));
    out.push(lock(registry, workdir));
    let _ = registry.save_cache();
    plugins.iter().map(PluginInfo::to_json).collect()
}

fn discovery(plugins: &[PluginInfo]) -> Check {
    const N: &str = "plugin_discovery";
    let usable: Vec<String> = plugins
        .iter()
        .filter(|p| p.status() == "ok")
        .map(|p| {
            format!(
                "{} {} [{}, contract {}]",
                p.name,
                p.version(),
                p.source.as_str(),
                p.contract_version().unwrap_or("-")
            )
        })
        .collect();
    if usable.is_empty() {
        return Check::warn(N, SCOPE, "no usable plugins found: gait has no commands")
            .fix("gait plugin install gate --registry <registry dir>");
    }
    Check::pass(
        N,
        SCOPE,
        format!("{} plugin(s): {}", usable.len(), usable.join(", ")),
    )
}

fn trust(plugins: &[PluginInfo]) -> Check {
    const N: &str = "plugin_trust";
    let refused: Vec<(&PluginInfo, &crate::trust::TrustError)> = plugins
        .iter()
        .filter_map(|p| match &p.state {
            PluginState::Rejected(e) => Some((p, e)),
            _ => None,
        })
        .collect();
    let Some((first, error)) = refused.first() else {
        let trusted = plugins.iter().filter(|p| p.trust.is_some()).count();
        return Check::pass(
            N,
            SCOPE,
            format!("every plugin is trusted ({trusted} checked)"),
        );
    };
    let names: Vec<String> = refused
        .iter()
        .map(|(p, e)| format!("gait-{} ({})", p.name, e))
        .collect();
    Check::fail(N, SCOPE, format!("refused plugin(s): {}", names.join("; ")))
        .fix_opt(command_in(&error.hint).or_else(|| removal(first)))
}

fn contract(plugins: &[PluginInfo]) -> Check {
    const N: &str = "plugin_contract";
    let ours = gait_sdk::manifest::CONTRACT_VERSION;
    let bad: Vec<&PluginInfo> = plugins
        .iter()
        .filter(|p| matches!(p.state, PluginState::Incompatible(_)))
        .collect();
    match bad.first() {
        None => Check::pass(
            N,
            SCOPE,
            format!("every plugin speaks contract {ours}'s major version"),
        ),
        Some(first) => Check::fail(
            N,
            SCOPE,
            format!(
                "plugin(s) of another contract major (launcher speaks {ours}): {}",
                bad.iter()
                    .map(|p| format!(
                        "gait-{} {} (contract {})",
                        p.name,
                        p.version(),
                        p.contract_version().unwrap_or("?")
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .fix_opt(match first.source {
            Source::PluginDir => Some(format!("gait plugin update {}", first.name)),
            _ => removal(first),
        }),
    }
}

fn health(plugins: &[PluginInfo]) -> Check {
    const N: &str = "plugin_health";
    let broken: Vec<&PluginInfo> = plugins
        .iter()
        .filter(|p| matches!(p.state, PluginState::Broken { .. }))
        .collect();
    let Some(first) = broken.first() else {
        return Check::pass(N, SCOPE, "every plugin answers its manifest probe");
    };
    let message = format!(
        "broken plugin(s): {}",
        broken
            .iter()
            .map(|p| format!(
                "gait-{} at {} ({})",
                p.name,
                p.path.display(),
                p.reason().unwrap_or_default()
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let check = Check::fail(N, SCOPE, message);
    match removal(first) {
        Some(fix) => check.fix(fix),
        // A plugin shipped beside the launcher that cannot even describe itself is a broken
        // installation: no gait command repairs that, reinstalling does.
        None => check.non_fixable(),
    }
}

fn shadowing(plugins: &[PluginInfo]) -> Check {
    const N: &str = "plugin_shadowing";
    let mut problems = Vec::new();
    let mut fix = None;
    for p in plugins {
        if let PluginState::Shadowed { by } = &p.state {
            let same_file = match (p.path.canonicalize(), by.canonicalize()) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            };
            if same_file {
                continue;
            }
            problems.push(format!(
                "gait-{} at {} never runs: {} comes first",
                p.name,
                p.path.display(),
                by.display()
            ));
            if fix.is_none() {
                fix = removal(p);
            }
        }
    }
    // Different plugins claiming one command: the first in precedence serves it.
    let mut servers: BTreeMap<String, Vec<&PluginInfo>> = BTreeMap::new();
    for p in plugins.iter().filter(|p| p.status() == "ok") {
        for c in p.commands() {
            servers.entry(c.name).or_default().push(p);
        }
    }
    for (command, list) in &servers {
        if list.len() > 1 {
            problems.push(format!(
                "command `{command}` is declared by {}; gait-{} serves it",
                list.iter()
                    .map(|p| format!("gait-{}", p.name))
                    .collect::<Vec<_>>()
                    .join(" and "),
                list[0].name
            ));
            if fix.is_none() {
                fix = list[1..].iter().find_map(|p| removal(p));
            }
        }
    }
    if problems.is_empty() {
        Check::pass(N, SCOPE, "no plugin or command is shadowed")
    } else {
        Check::warn(N, SCOPE, problems.join("; ")).fix_opt(fix)
    }
}

/// `gait.lock` in the workdir against what is installed. Integrity of the installed files is
/// the trust check's job (a changed file is refused there); this compares pins to records.
fn lock(registry: &Registry, workdir: &Path) -> Check {
    const N: &str = "plugin_lock";
    let path = workdir.join("gait.lock");
    if !path.exists() {
        return Check::pass(
            N,
            SCOPE,
            "no gait.lock here: plugin versions are not pinned",
        );
    }
    let lock = match Lockfile::load(&path) {
        Ok(l) => l,
        Err(e) => return Check::fail(N, SCOPE, format!("gait.lock: {e}")).fix("gait plugin lock"),
    };
    let record = match registry.config().plugin_dir.as_deref() {
        Some(dir) => match InstallRecord::load(dir) {
            Ok(r) => r,
            Err(e) => {
                return Check::fail(N, SCOPE, format!("install record: {e}"))
                    .fix("gait plugin verify")
            }
        },
        None => InstallRecord::default(),
    };
    let mut drift = Vec::new();
    // Missing pins are what `sync --locked` installs; anything else is drift it refuses, and
    // a plain `sync` makes the plugin directory match the lock.
    let mut only_missing = true;
    for pin in &lock.plugins {
        match record.plugins.iter().find(|i| i.name == pin.name) {
            None => drift.push(format!(
                "{} {} is pinned but not installed",
                pin.name, pin.version
            )),
            Some(i) if !i.sha256.eq_ignore_ascii_case(&pin.sha256) || i.version != pin.version => {
                only_missing = false;
                drift.push(format!(
                    "{} is installed at {}, the lock pins {}",
                    pin.name, i.version, pin.version
                ))
            }
            Some(_) => {}
        }
    }
    for i in &record.plugins {
        if !lock.plugins.iter().any(|p| p.name == i.name) {
            only_missing = false;
            drift.push(format!(
                "{} {} is installed but not pinned",
                i.name, i.version
            ));
        }
    }
    if drift.is_empty() {
        Check::pass(
            N,
            SCOPE,
            format!(
                "installed plugins match gait.lock ({} pinned)",
                lock.plugins.len()
            ),
        )
    } else {
        Check::fail(
            N,
            SCOPE,
            format!("drift from gait.lock: {}", drift.join("; ")),
        )
        .fix(if only_missing {
            "gait plugin sync --locked"
        } else {
            "gait plugin sync"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fix_is_the_backquoted_command() {
        assert_eq!(
            command_in("install it (`gait plugin install x`), or trust it").as_deref(),
            Some("gait plugin install x")
        );
        assert_eq!(command_in("no command here"), None);
    }
}
