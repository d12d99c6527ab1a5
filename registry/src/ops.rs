//! The registry commands as library calls: each takes a [`Context`] (plugin directory, keys,
//! progress, install options) and returns a serialisable report; the launcher parses flags,
//! asks the user what it must, and renders the reports.

use crate::error::{RegistryError, Result};
use crate::index::{host_target, RegistryLocation, SignedIndex, VerifiedIndex};
use crate::install::{InstallOptions, Installed, LockedDir, Prepared, Progress, Removed};
use crate::installed::InstallRecord;
use crate::keys::Keys;
use crate::lockfile::{plan_sync, Action, LockedPlugin, Lockfile};
use crate::verify::{verify_installed, PluginCheck, Source};
use gait_sdk::manifest::is_valid_name;
use semver::{Version, VersionReq};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `name` or `name@<semver requirement>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginSpec {
    pub name: String,
    pub req: Option<VersionReq>,
}

impl PluginSpec {
    pub fn parse(s: &str) -> Result<PluginSpec> {
        let (name, req) = match s.split_once('@') {
            Some((n, r)) => (n, Some(r)),
            None => (s, None),
        };
        let name = name.strip_prefix("gait-").unwrap_or(name);
        if !is_valid_name(name) {
            return Err(RegistryError::invalid_hint(
                format!("{s:?} is not a plugin name"),
                "plugin names are lower-case letters, digits, - and _ (e.g. `hello` or `hello@^0.2`)",
            ));
        }
        let req = match req {
            None => None,
            Some(r) => Some(VersionReq::parse(r.trim()).map_err(|e| {
                RegistryError::invalid_hint(
                    format!("{r:?} is not a semver version requirement: {e}"),
                    format!("write e.g. `{name}@0.2` (compatible with 0.2), `{name}@=0.2.1` (exactly) or `{name}@>=0.2, <0.4`"),
                )
            })?),
        };
        Ok(PluginSpec {
            name: name.to_string(),
            req,
        })
    }
}

/// What every operation needs.
pub struct Context<'a> {
    pub plugin_dir: PathBuf,
    pub keys: Keys<'a>,
    pub progress: &'a mut dyn Progress,
    pub options: InstallOptions,
    /// The target triple to install for (defaults to the host).
    pub target: String,
}

impl<'a> Context<'a> {
    pub fn new(plugin_dir: PathBuf, keys: Keys<'a>, progress: &'a mut dyn Progress) -> Self {
        Context {
            plugin_dir,
            keys,
            progress,
            options: InstallOptions::default(),
            target: host_target().to_string(),
        }
    }

    /// Reads and verifies a registry index (trusting its signer if approved).
    pub fn load_index(&mut self, loc: &RegistryLocation) -> Result<VerifiedIndex> {
        SignedIndex::read(loc.clone())?.verify(&mut self.keys)
    }
}

/// One version as `search` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct VersionInfo {
    pub version: String,
    pub contract_version: String,
    pub target: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    pub name: String,
    pub description: String,
    /// The version `install` would pick here.
    pub latest: Option<String>,
    pub versions: Vec<VersionInfo>,
    /// The installed version, if any.
    pub installed: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchReport {
    pub registry: String,
    pub key_id: String,
    pub target: String,
    pub plugins: Vec<SearchHit>,
}

pub fn search(
    ctx: &mut Context<'_>,
    loc: &RegistryLocation,
    query: Option<&str>,
) -> Result<SearchReport> {
    let index = ctx.load_index(loc)?;
    // The installed version is informational: read from the record, no file is hashed.
    let record = InstallRecord::load(&ctx.plugin_dir).unwrap_or_default();
    let plugins = index
        .search(query)
        .into_iter()
        .map(|p| {
            let mut versions: Vec<VersionInfo> = p
                .versions
                .iter()
                .map(|v| VersionInfo {
                    version: v.version.clone(),
                    contract_version: v.contract_version.clone(),
                    target: v.target.clone(),
                })
                .collect();
            versions.sort_by(|a, b| {
                let va = Version::parse(&a.version).ok();
                let vb = Version::parse(&b.version).ok();
                vb.cmp(&va).then_with(|| a.target.cmp(&b.target))
            });
            let installed = record.by_name(&p.name).last().map(|r| r.version.clone());
            SearchHit {
                name: p.name.clone(),
                description: p.description.clone(),
                latest: index
                    .resolve(&p.name, None, &ctx.target)
                    .ok()
                    .map(|s| s.version.version.clone()),
                versions,
                installed,
            }
        })
        .collect();
    Ok(SearchReport {
        registry: index.location.shown.clone(),
        key_id: index.key_id.clone(),
        target: ctx.target.clone(),
        plugins,
    })
}

/// `install <name>[@req]`.
pub fn install(
    ctx: &mut Context<'_>,
    loc: &RegistryLocation,
    spec: &PluginSpec,
) -> Result<Installed> {
    let index = ctx.load_index(loc)?;
    let sel = index.resolve(&spec.name, spec.req.as_ref(), &ctx.target)?;
    let prep = Prepared::new(&index, sel, &mut ctx.keys)?;
    let dir = LockedDir::open(&ctx.plugin_dir)?;
    dir.install(&prep, ctx.progress, &ctx.options)
}

#[derive(Debug, Clone, Serialize)]
pub struct UpToDate {
    pub name: String,
    pub version: String,
    /// What the registry offers (may be older than what is installed).
    pub available: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct UpdateReport {
    pub updated: Vec<Installed>,
    pub up_to_date: Vec<UpToDate>,
}

/// Loads each registry once.
struct IndexCache {
    by_path: BTreeMap<String, VerifiedIndex>,
}

impl IndexCache {
    fn new() -> Self {
        IndexCache {
            by_path: BTreeMap::new(),
        }
    }
    fn get(&mut self, ctx: &mut Context<'_>, loc: &RegistryLocation) -> Result<&VerifiedIndex> {
        if !self.by_path.contains_key(&loc.shown) {
            let idx = ctx.load_index(loc)?;
            self.by_path.insert(loc.shown.clone(), idx);
        }
        Ok(&self.by_path[&loc.shown])
    }
}

/// `update [name[@req]]`: every plugin installed from a registry (or one), to the newest
/// version the registry offers (matching `req`). `explicit` overrides the registry each
/// plugin was installed from.
pub fn update(
    ctx: &mut Context<'_>,
    explicit: Option<&RegistryLocation>,
    spec: Option<&PluginSpec>,
) -> Result<UpdateReport> {
    let checks = verify_installed(&ctx.plugin_dir, ctx.keys.store())?;
    let record = InstallRecord::load(&ctx.plugin_dir)?;
    let managed: Vec<&PluginCheck> = checks.iter().filter(|c| c.managed()).collect();
    let targets: Vec<&PluginCheck> = match spec {
        Some(s) => {
            let Some(c) = managed.iter().find(|c| c.name == s.name) else {
                return Err(RegistryError::invalid_hint(
                    format!("plugin {} is not installed from a registry", s.name),
                    format!("install it with `gait plugin install {}`", s.name),
                ));
            };
            vec![*c]
        }
        None => managed,
    };
    let mut cache = IndexCache::new();
    let mut report = UpdateReport::default();
    let mut prepared = Vec::new();
    for c in targets {
        let provenance = c
            .record
            .as_ref()
            .map(|r| r.registry.clone())
            .or_else(|| record.by_name(&c.name).last().map(|r| r.registry.clone()))
            .unwrap_or_default();
        let loc = match explicit {
            Some(l) => l.clone(),
            None if !provenance.is_empty() => RegistryLocation::resolve(&provenance)
                .map_err(|e| e.context(&format!("registry {} was installed from", c.name)))?,
            None => {
                return Err(RegistryError::invalid_hint(
                    format!("the install record does not say where {} came from", c.name),
                    "pass --registry <dir> or set GAIT_REGISTRY",
                ))
            }
        };
        let req = spec.and_then(|s| s.req.as_ref());
        let target = ctx.target.clone();
        let index = cache.get(ctx, &loc)?.clone();
        let sel = index.resolve(&c.name, req, &target)?;
        let current = c
            .ok()
            .then(|| c.version.as_deref().and_then(|v| Version::parse(v).ok()))
            .flatten();
        let same_file = c.ok()
            && c.sha256
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(&sel.version.sha256));
        let not_newer = current
            .as_ref()
            .is_some_and(|cur| *cur > sel.version.semver());
        if same_file || not_newer {
            report.up_to_date.push(UpToDate {
                name: c.name.clone(),
                version: c.version.clone().unwrap_or_default(),
                available: sel.version.version.clone(),
            });
            continue;
        }
        prepared.push(Prepared::new(&index, sel, &mut ctx.keys)?);
    }
    if prepared.is_empty() {
        return Ok(report);
    }
    let dir = LockedDir::open(&ctx.plugin_dir)?;
    for p in &prepared {
        report
            .updated
            .push(dir.install(p, ctx.progress, &ctx.options)?);
    }
    Ok(report)
}

/// `remove <name>`.
pub fn remove(plugin_dir: &Path, name: &str) -> Result<Removed> {
    let spec = PluginSpec::parse(name)?;
    if spec.req.is_some() {
        return Err(RegistryError::invalid(
            "remove takes a plugin name without a version",
        ));
    }
    LockedDir::open(plugin_dir)?.remove(&spec.name)
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub plugin_dir: String,
    pub plugins: Vec<PluginCheck>,
    pub failed: usize,
}

/// `verify`: every plugin in the plugin directory.
pub fn verify(plugin_dir: &Path, keys: &Keys<'_>) -> Result<VerifyReport> {
    let plugins = verify_installed(plugin_dir, keys.store())?;
    let failed = plugins.iter().filter(|c| !c.ok()).count();
    Ok(VerifyReport {
        plugin_dir: plugin_dir.display().to_string(),
        plugins,
        failed,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct LockReport {
    pub path: String,
    pub plugins: Vec<LockedPlugin>,
    /// Plugins in the directory that were not installed from a registry (not pinned).
    pub unmanaged: Vec<String>,
}

/// `lock`: pins the plugins installed from a registry. With a registry, every pin is checked
/// to be published there (so `sync` can reproduce it) and recorded as coming from it.
pub fn lock(
    ctx: &mut Context<'_>,
    registry: Option<&RegistryLocation>,
    out: &Path,
) -> Result<LockReport> {
    let checks = verify_installed(&ctx.plugin_dir, ctx.keys.store())?;
    let bad: Vec<&PluginCheck> = checks.iter().filter(|c| c.managed() && !c.ok()).collect();
    if let Some(e) = crate::verify::failure(&bad.into_iter().cloned().collect::<Vec<_>>()) {
        return Err(e.with_hint(
            "a lock must pin verified plugins: run `gait plugin verify` and reinstall the failing ones",
        ));
    }
    let index = match registry {
        Some(loc) => Some(ctx.load_index(loc)?),
        None => None,
    };
    let mut pins = Vec::new();
    let mut unmanaged = Vec::new();
    for c in &checks {
        let Some(rec) = c.record.as_ref().filter(|_| c.source == Source::Record) else {
            unmanaged.push(c.name.clone());
            continue;
        };
        let mut registry_shown = rec.registry.clone();
        if let Some(idx) = &index {
            let Some(sel) = idx.exact(&rec.name, &rec.version, &ctx.target) else {
                return Err(RegistryError::invalid_hint(
                    format!(
                        "{} {} is not published in registry {} for {}",
                        rec.name, rec.version, idx.location.shown, ctx.target
                    ),
                    "lock against the registry it was installed from, or install it from this one first",
                ));
            };
            if !sel.version.sha256.eq_ignore_ascii_case(&rec.sha256) {
                return Err(RegistryError::verification_hint(
                    format!(
                        "registry {} publishes {} {} with sha256 {}, but the installed file is {}",
                        idx.location.shown, rec.name, rec.version, sel.version.sha256, rec.sha256
                    ),
                    "the published file changed after it was installed: find out why before pinning it",
                ));
            }
            registry_shown = idx.location.shown.clone();
        }
        pins.push(LockedPlugin {
            name: rec.name.clone(),
            version: rec.version.clone(),
            sha256: rec.sha256.to_ascii_lowercase(),
            contract_version: rec.contract_version.clone(),
            registry: registry_shown,
        });
    }
    let lock = Lockfile::new(pins);
    lock.save(out)?;
    Ok(LockReport {
        path: out.display().to_string(),
        plugins: lock.plugins,
        unmanaged,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub lock: String,
    pub locked: bool,
    pub actions: Vec<Action>,
    pub installed: Vec<Installed>,
    pub removed: Vec<Removed>,
}

/// Where a pin comes from: the explicit registry, else the one the lock names (relative to
/// the lock file's directory).
fn pin_location(
    pin: &LockedPlugin,
    explicit: Option<&RegistryLocation>,
    lock_dir: &Path,
) -> Result<RegistryLocation> {
    if let Some(l) = explicit {
        return Ok(l.clone());
    }
    if pin.registry.is_empty() {
        return Err(RegistryError::invalid_hint(
            format!(
                "the lock does not say which registry {} comes from",
                pin.name
            ),
            "pass --registry <dir> or set GAIT_REGISTRY",
        ));
    }
    let raw = pin
        .registry
        .strip_prefix("file://")
        .unwrap_or(&pin.registry);
    let p = Path::new(raw);
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        lock_dir.join(p)
    };
    RegistryLocation::resolve(&joined.to_string_lossy())
        .map_err(|e| e.context(&format!("registry of {}", pin.name)))
}

/// `sync [--locked]`: makes the plugin directory hold exactly what `lock_path` pins. Every
/// pin is resolved and checked against its registry before anything changes: a pin the
/// registry does not publish is invalid input (exit 6), a published file whose hash or
/// contract differs from the pin is drift (exit 2). With `locked`, installed plugins that
/// differ from the lock are drift too; without it they are replaced or removed.
pub fn sync(
    ctx: &mut Context<'_>,
    lock_path: &Path,
    explicit: Option<&RegistryLocation>,
    locked: bool,
) -> Result<SyncReport> {
    let lock = Lockfile::load(lock_path)?;
    let lock_dir = std::path::absolute(lock_path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let mut cache = IndexCache::new();
    let mut prepared: BTreeMap<String, Prepared> = BTreeMap::new();
    for pin in &lock.plugins {
        let loc = pin_location(pin, explicit, &lock_dir)?;
        let target = ctx.target.clone();
        let index = cache.get(ctx, &loc)?.clone();
        let Some(sel) = index.exact(&pin.name, &pin.version, &target) else {
            return Err(RegistryError::invalid_hint(
                format!(
                    "{} pins {} {}, which registry {} does not publish for {target}",
                    lock_path.display(),
                    pin.name,
                    pin.version,
                    loc.shown
                ),
                "pass the registry the lock was made with (--registry), or re-lock with `gait plugin lock`",
            ));
        };
        if !sel.version.sha256.eq_ignore_ascii_case(&pin.sha256) {
            return Err(RegistryError::verification_hint(
                format!(
                    "drift: registry {} publishes {} {} with sha256 {}, but {} pins sha256 {}",
                    loc.shown,
                    pin.name,
                    pin.version,
                    sel.version.sha256,
                    lock_path.display(),
                    pin.sha256
                ),
                "the published file is not the one that was locked: find out why before re-locking",
            ));
        }
        let pinned_contract = Version::parse(&pin.contract_version).ok();
        if pinned_contract.as_ref() != Some(&sel.version.contract_semver()) {
            return Err(RegistryError::verification(format!(
                "drift: registry {} publishes {} {} for contract {}, but {} pins contract {}",
                loc.shown,
                pin.name,
                pin.version,
                sel.version.contract_version,
                lock_path.display(),
                pin.contract_version
            )));
        }
        if !sel.version.contract_compatible() {
            return Err(RegistryError::invalid_hint(
                format!(
                    "{} {} speaks contract {}, but this gait speaks contract {}.x",
                    pin.name,
                    pin.version,
                    pin.contract_version,
                    crate::index::contract_major()
                ),
                "use the gait release the lock was made with, or re-lock",
            ));
        }
        prepared.insert(pin.name.clone(), Prepared::new(&index, sel, &mut ctx.keys)?);
    }
    let dir = LockedDir::open(&ctx.plugin_dir)?;
    let checks = verify_installed(dir.dir(), ctx.keys.store())?;
    let actions = plan_sync(locked, &lock.plugins, &checks)?;
    let mut report = SyncReport {
        lock: lock_path.display().to_string(),
        locked,
        actions: actions.clone(),
        installed: Vec::new(),
        removed: Vec::new(),
    };
    for a in &actions {
        match a {
            Action::Keep { .. } => {}
            Action::Install { name, .. } | Action::Replace { name, .. } => {
                let Some(p) = prepared.get(name) else {
                    continue;
                };
                let opts = InstallOptions {
                    force: matches!(a, Action::Replace { .. }),
                    ..ctx.options.clone()
                };
                report.installed.push(dir.install(p, ctx.progress, &opts)?);
            }
            Action::Remove { name, .. } => report.removed.push(dir.remove(name)?),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_specs() {
        let s = PluginSpec::parse("hello").unwrap();
        assert_eq!(s.name, "hello");
        assert!(s.req.is_none());
        let s = PluginSpec::parse("gait-hello@^0.2").unwrap();
        assert_eq!(s.name, "hello");
        assert!(s.req.unwrap().matches(&Version::new(0, 2, 5)));
        assert!(PluginSpec::parse("Hello").is_err());
        assert!(PluginSpec::parse("../x").is_err());
        assert!(PluginSpec::parse("hello@banana").is_err());
    }
}
