//! Plugins with their manifests, discovered lazily one directory at a time, and routing of a
//! top-level command to the plugin that serves it.
//!
//! Routing rule: directories are consulted in precedence order and the first directory holding
//! a usable plugin that serves the command decides. Within one directory the plugin named after
//! the command (`gait-<cmd>`) is preferred, then the others by name — two plugins in one
//! directory claiming the same command is a packaging mistake, and this keeps the outcome
//! deterministic. Manifests are authoritative; a plugin without a manifest serves only the
//! command named after it.

use crate::cache::ManifestCache;
use crate::config::Config;
use crate::discovery::{search_dirs, Candidate, FileKey, Found, Precedence, Source, Standing};
use crate::probe::{probe, ProbeOutcome};
use crate::trust::{Admission, TrustError};
use gait_sdk::manifest::{contract_major, CommandDecl, PluginManifest, CONTRACT_VERSION};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::PathBuf;

/// Probes run at once when many plugins need one (first run, after upgrades); each mostly waits.
const PROBE_PARALLELISM: usize = 8;

/// Version shown for plugins that did not say.
pub const UNKNOWN_VERSION: &str = "unknown";

/// What the launcher knows about one discovered plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginState {
    /// Not asked for its manifest yet: routing found its command in an earlier plugin.
    Unprobed,
    /// Answered with a valid manifest.
    Ok(PluginManifest),
    /// Runs, but does not speak the manifest protocol; serves the command named after it.
    ManifestLess { reason: String },
    /// Cannot be used (hung, flooded, crashed, invalid manifest); skipped for routing.
    Broken { reason: String },
    /// Refused by the trust policy; never run. It keeps its name: no plugin later in
    /// precedence serves in its place.
    Rejected(TrustError),
    /// Speaks another major version of the plugin contract; never dispatched to.
    Incompatible(PluginManifest),
    /// A plugin of the same name earlier in precedence wins; never run.
    Shadowed { by: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    pub name: String,
    pub path: PathBuf,
    pub source: Source,
    pub state: PluginState,
    /// How the trust policy admitted it, once checked.
    pub trust: Option<String>,
}

impl PluginInfo {
    /// Whether `gait <command>` may be dispatched to this plugin.
    pub fn serves(&self, command: &str) -> bool {
        match &self.state {
            PluginState::Ok(m) => m.serves(command),
            PluginState::ManifestLess { .. } => self.name == command,
            _ => false,
        }
    }

    /// The top-level commands this plugin serves.
    pub fn commands(&self) -> Vec<CommandDecl> {
        match &self.state {
            PluginState::Ok(m) => m.commands.clone(),
            PluginState::ManifestLess { .. } => vec![CommandDecl {
                name: self.name.clone(),
                about: String::new(),
            }],
            _ => Vec::new(),
        }
    }

    pub fn version(&self) -> &str {
        match &self.state {
            PluginState::Ok(m) | PluginState::Incompatible(m) => &m.version,
            _ => UNKNOWN_VERSION,
        }
    }

    pub fn contract_version(&self) -> Option<&str> {
        match &self.state {
            PluginState::Ok(m) | PluginState::Incompatible(m) => Some(&m.contract_version),
            _ => None,
        }
    }

    pub fn about(&self) -> &str {
        match &self.state {
            PluginState::Ok(m) => &m.about,
            _ => "",
        }
    }

    /// `status` in `gait plugin list`.
    pub fn status(&self) -> &'static str {
        match &self.state {
            PluginState::Unprobed => "unprobed",
            PluginState::Ok(_) | PluginState::ManifestLess { .. } => "ok",
            PluginState::Broken { .. } => "broken",
            PluginState::Rejected(_) => "rejected",
            PluginState::Incompatible(_) => "incompatible",
            PluginState::Shadowed { .. } => "shadowed",
        }
    }

    /// Why the plugin is not fully usable, if it is not.
    pub fn reason(&self) -> Option<String> {
        match &self.state {
            PluginState::ManifestLess { reason } => Some(format!(
                "no manifest ({reason}); serves only \"{}\"",
                self.name
            )),
            PluginState::Broken { reason } => Some(reason.clone()),
            PluginState::Rejected(e) => Some(e.to_string()),
            PluginState::Incompatible(m) => Some(incompatibility(&self.name, m)),
            PluginState::Shadowed { by } => Some(format!("shadowed by {}", by.display())),
            PluginState::Unprobed | PluginState::Ok(_) => None,
        }
    }

    /// One entry of `gait plugin list --json`.
    pub fn to_json(&self) -> Value {
        let commands: Vec<Value> = self
            .commands()
            .iter()
            .map(|c| json!({"name": c.name, "about": c.about}))
            .collect();
        let mut m = Map::new();
        m.insert("name".into(), self.name.clone().into());
        m.insert("version".into(), self.version().into());
        m.insert(
            "contract_version".into(),
            self.contract_version().map_or(Value::Null, Value::from),
        );
        if let Some(t) = &self.trust {
            m.insert("trust".into(), t.clone().into());
        }
        if let PluginState::Rejected(e) = &self.state {
            m.insert("hint".into(), e.hint.clone().into());
        }
        m.insert("about".into(), self.about().into());
        m.insert("path".into(), self.path.display().to_string().into());
        m.insert("source".into(), self.source.as_str().into());
        m.insert("commands".into(), Value::Array(commands));
        m.insert("status".into(), self.status().into());
        m.insert(
            "manifest".into(),
            matches!(self.state, PluginState::Ok(_)).into(),
        );
        if let Some(r) = self.reason() {
            m.insert("reason".into(), r.into());
        }
        if let PluginState::Shadowed { by } = &self.state {
            m.insert("shadowed_by".into(), by.display().to_string().into());
        }
        Value::Object(m)
    }
}

/// Discovered plugins, their manifests and the cache that backs them.
pub struct Registry {
    config: Config,
    admission: Box<dyn Admission>,
    cache: ManifestCache,
    precedence: Precedence,
    dirs: Vec<(PathBuf, Source)>,
    next_dir: usize,
    plugins: Vec<PluginInfo>,
    /// File identity of each entry of `plugins`, for the cache.
    keys: Vec<FileKey>,
    /// `plugins` index range of each directory visited so far.
    visited: Vec<Range<usize>>,
    /// Trust-state fingerprints, computed once per source.
    fingerprints: HashMap<Source, Option<String>>,
}

/// Why a plugin of another contract major cannot run, and the fix.
pub fn incompatibility(name: &str, m: &PluginManifest) -> String {
    format!(
        "gait-{name} {} speaks plugin contract {}, but this launcher speaks {CONTRACT_VERSION}; install a gait-{name} built for contract {}.x (`gait plugin install {name}`), or a gait launcher for contract {}",
        m.version,
        m.contract_version,
        contract_major(CONTRACT_VERSION).unwrap_or(0),
        m.contract_version
    )
}

impl Registry {
    /// A registry over `config`'s search directories, with its manifest cache loaded.
    pub fn new(config: Config, admission: Box<dyn Admission>) -> Registry {
        let cache = ManifestCache::load(config.cache_file.as_deref());
        Registry {
            dirs: search_dirs(&config),
            config,
            admission,
            cache,
            precedence: Precedence::new(),
            next_dir: 0,
            plugins: Vec::new(),
            keys: Vec::new(),
            visited: Vec::new(),
            fingerprints: HashMap::new(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Search directories in precedence order.
    pub fn search_dirs(&self) -> &[(PathBuf, Source)] {
        &self.dirs
    }

    /// Plugins found so far, in precedence order (everything after [`Registry::scan_all`]).
    pub fn plugins(&self) -> &[PluginInfo] {
        &self.plugins
    }

    /// The plugin that serves `command`, scanning only as many directories as needed.
    pub fn resolve(&mut self, command: &str) -> Option<&PluginInfo> {
        let mut i = 0;
        loop {
            if i == self.visited.len() && !self.visit_next_dir() {
                return None;
            }
            let range = self.visited[i].clone();
            if let Some(idx) = self.resolve_in(range, command) {
                return Some(&self.plugins[idx]);
            }
            i += 1;
        }
    }

    /// Discovers and probes every plugin in every directory, and forgets cache entries for
    /// plugins that are gone.
    pub fn scan_all(&mut self) -> &[PluginInfo] {
        while self.visit_next_dir() {}
        let pending: Vec<usize> = (0..self.plugins.len()).collect();
        self.probe_all(&pending);
        let present: HashSet<PathBuf> = self.plugins.iter().map(|p| p.path.clone()).collect();
        self.cache.retain_paths(&present);
        &self.plugins
    }

    /// Every command name a usable plugin serves, first server first, without duplicates.
    pub fn known_commands(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        self.plugins
            .iter()
            .flat_map(|p| p.commands())
            .map(|c| c.name)
            .filter(|n| seen.insert(n.clone()))
            .collect()
    }

    /// Persists probe results; failures are the caller's to ignore.
    pub fn save_cache(&mut self) -> std::io::Result<()> {
        self.cache.save()
    }

    fn visit_next_dir(&mut self) -> bool {
        let Some((dir, source)) = self.dirs.get(self.next_dir).cloned() else {
            return false;
        };
        self.next_dir += 1;
        let start = self.plugins.len();
        for Found {
            candidate,
            standing,
        } in self.precedence.visit(&dir, source)
        {
            let state = match standing {
                Standing::Winner => PluginState::Unprobed,
                Standing::Shadowed { by } => PluginState::Shadowed { by },
            };
            self.keys.push(candidate.key);
            self.plugins.push(PluginInfo {
                name: candidate.name,
                path: candidate.path,
                source: candidate.source,
                state,
                trust: None,
            });
        }
        self.visited.push(start..self.plugins.len());
        true
    }

    fn resolve_in(&mut self, range: Range<usize>, command: &str) -> Option<usize> {
        // The plugin named after the command first: on a cold cache this spares probing the
        // rest of the directory.
        if let Some(idx) = range.clone().find(|&i| self.plugins[i].name == command) {
            self.probe_all(&[idx]);
            if self.plugins[idx].serves(command) {
                return Some(idx);
            }
        }
        let rest: Vec<usize> = range.collect();
        self.probe_all(&rest);
        rest.into_iter().find(|&i| self.plugins[i].serves(command))
    }

    /// Fills in the manifest of every unprobed plugin among `indices`, from the cache when it
    /// is still valid, else by running the plugins concurrently.
    fn probe_all(&mut self, indices: &[usize]) {
        let now = unix_now();
        let mut misses = Vec::new();
        for &i in indices {
            if self.plugins[i].state != PluginState::Unprobed {
                continue;
            }
            let candidate = self.candidate(i);
            // Nothing is run, not even for its manifest, before the trust policy admits it.
            if let Err(e) = self.admit(i, &candidate) {
                self.plugins[i].state = PluginState::Rejected(e);
                continue;
            }
            match self.cache.get(&candidate, now) {
                Some(outcome) => self.plugins[i].state = state_of(outcome),
                None => misses.push((i, candidate)),
            }
        }
        let launcher = self.config.launcher.as_deref();
        let timeout = self.config.manifest_timeout;
        for chunk in misses.chunks(PROBE_PARALLELISM) {
            let outcomes: Vec<ProbeOutcome> = if chunk.len() == 1 {
                vec![probe(&chunk[0].1.path, launcher, timeout)]
            } else {
                std::thread::scope(|s| {
                    let handles: Vec<_> = chunk
                        .iter()
                        .map(|(_, c)| s.spawn(move || probe(&c.path, launcher, timeout)))
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| {
                            h.join().unwrap_or_else(|_| ProbeOutcome::Broken {
                                reason: "manifest probe panicked".into(),
                            })
                        })
                        .collect()
                })
            };
            for ((i, candidate), outcome) in chunk.iter().zip(outcomes) {
                self.cache.put(candidate, &outcome, now);
                self.plugins[*i].state = state_of(outcome);
            }
        }
    }

    /// Runs the trust policy for plugin `i`, answering from the cache when the same file was
    /// admitted under the same trust state before.
    fn admit(&mut self, i: usize, candidate: &Candidate) -> Result<(), TrustError> {
        let source = candidate.source;
        let admission = self.admission.as_ref();
        let fingerprint = self
            .fingerprints
            .entry(source)
            .or_insert_with(|| admission.fingerprint(source))
            .clone();
        if let Some(fp) = &fingerprint {
            if let Some(how) = self.cache.get_trust(candidate, fp) {
                self.plugins[i].trust = Some(how);
                return Ok(());
            }
        }
        match self.admission.admit(candidate) {
            Ok(how) => {
                let how = how.as_str();
                if let Some(fp) = &fingerprint {
                    self.cache.put_trust(candidate, fp, &how);
                }
                self.plugins[i].trust = Some(how);
                Ok(())
            }
            Err(e) => {
                self.cache.drop_trust(candidate);
                Err(e)
            }
        }
    }

    fn candidate(&self, i: usize) -> Candidate {
        let p = &self.plugins[i];
        Candidate {
            name: p.name.clone(),
            path: p.path.clone(),
            source: p.source,
            key: self.keys[i],
        }
    }
}

fn state_of(outcome: ProbeOutcome) -> PluginState {
    match outcome {
        ProbeOutcome::Manifest(m)
            if contract_major(&m.contract_version) != contract_major(CONTRACT_VERSION) =>
        {
            PluginState::Incompatible(m)
        }
        ProbeOutcome::Manifest(m) => PluginState::Ok(m),
        ProbeOutcome::NoManifest { reason } => PluginState::ManifestLess { reason },
        ProbeOutcome::Broken { reason } => PluginState::Broken { reason },
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::tests::write_exec;
    use crate::trust::AdmitAll;
    use std::fs;
    use std::path::Path;
    use std::time::Duration;

    /// A plugin script that records each manifest probe in `probes` (one line per probe).
    fn plugin(dir: &Path, name: &str, commands: &[&str], probes: &Path) -> PathBuf {
        let cmds: Vec<(&str, &str)> = commands.iter().map(|c| (*c, "")).collect();
        let m = PluginManifest::new(name, "1.0.0", "", &cmds);
        let body = format!(
            "#!/bin/sh\nif [ \"$1\" = --gait-manifest ]; then echo {name} >> '{}'; printf '%s\\n' '{}'; exit 0; fi\nexit 0\n",
            probes.display(),
            m.to_json()
        );
        write_exec(dir, &format!("gait-{name}"), &body)
    }

    struct Fixture {
        _root: tempfile::TempDir,
        config: Config,
        probes: PathBuf,
        dirs: [PathBuf; 4],
    }

    fn fixture() -> Fixture {
        let root = tempfile::tempdir().unwrap();
        let dirs = ["bundled", "plugins", "p1", "p2"].map(|n| {
            let d = root.path().join(n);
            fs::create_dir(&d).unwrap();
            d.canonicalize().unwrap()
        });
        let config = Config {
            launcher: Some(dirs[0].join("gait")),
            bundled_dir: Some(dirs[0].clone()),
            plugin_dir: Some(dirs[1].clone()),
            path_dirs: vec![dirs[2].clone(), dirs[3].clone()],
            cache_file: Some(root.path().join("cache/plugin-manifests.json")),
            manifest_timeout: Duration::from_secs(5),
        };
        let probes = root.path().join("probes.log");
        Fixture {
            _root: root,
            config,
            probes,
            dirs,
        }
    }

    fn probe_log(f: &Fixture) -> Vec<String> {
        fs::read_to_string(&f.probes)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn registry(f: &Fixture) -> Registry {
        Registry::new(f.config.clone(), Box::new(AdmitAll))
    }

    #[test]
    fn routing_follows_manifests_and_precedence() {
        let f = fixture();
        let [bundled, plugins, p1, p2] = &f.dirs;
        plugin(bundled, "gate", &["gate", "policy"], &f.probes);
        plugin(plugins, "policy", &["policy"], &f.probes);
        plugin(plugins, "multi", &["alpha", "beta"], &f.probes);
        plugin(p1, "alpha", &["alpha"], &f.probes);
        plugin(p1, "gate", &["gate", "extra"], &f.probes);
        write_exec(p2, "gait-hello", "#!/bin/sh\necho hi\n");

        let mut reg = registry(&f);
        let route = |reg: &mut Registry, cmd: &str| reg.resolve(cmd).map(|p| p.path.clone());
        // Served beside the launcher: nothing else is listed or probed.
        assert_eq!(route(&mut reg, "policy"), Some(bundled.join("gait-gate")));
        assert_eq!(reg.plugins().len(), 1);
        assert_eq!(probe_log(&f), vec!["gate"]);

        assert_eq!(route(&mut reg, "alpha"), Some(plugins.join("gait-multi")));
        assert_eq!(route(&mut reg, "hello"), Some(p2.join("gait-hello")));
        // The shadowed PATH gait-gate is never probed, so its "extra" is not served.
        assert_eq!(route(&mut reg, "extra"), None);
        assert_eq!(route(&mut reg, "nope"), None);
        let shadowed = reg
            .plugins()
            .iter()
            .find(|p| p.path == p1.join("gait-gate"))
            .unwrap();
        assert_eq!(
            shadowed.state,
            PluginState::Shadowed {
                by: bundled.join("gait-gate")
            }
        );
        assert_eq!(probe_log(&f).iter().filter(|l| *l == "gate").count(), 1);

        let mut known = reg.known_commands();
        known.sort();
        assert_eq!(known, vec!["alpha", "beta", "gate", "hello", "policy"]);
    }

    #[test]
    fn plugin_named_after_the_command_wins_within_a_directory() {
        let f = fixture();
        plugin(&f.dirs[1], "aaa", &["zed"], &f.probes);
        plugin(&f.dirs[1], "zed", &["zed"], &f.probes);
        let mut reg = registry(&f);
        assert_eq!(reg.resolve("zed").unwrap().name, "zed");
        // The other plugin of the directory did not need probing.
        assert_eq!(probe_log(&f), vec!["zed"]);
    }

    #[test]
    fn cached_manifests_are_reused_until_the_file_changes() {
        let f = fixture();
        let path = plugin(&f.dirs[1], "multi", &["alpha"], &f.probes);
        for _ in 0..3 {
            let mut reg = registry(&f);
            assert!(reg.resolve("alpha").is_some());
            reg.save_cache().unwrap();
        }
        assert_eq!(probe_log(&f).len(), 1);

        // A new build of the plugin (different size) is probed again and its new manifest used.
        plugin(&f.dirs[1], "multi", &["alpha", "gamma"], &f.probes);
        let mut reg = registry(&f);
        assert!(reg.resolve("gamma").is_some());
        reg.save_cache().unwrap();
        assert_eq!(probe_log(&f).len(), 2);

        // Same size, new mtime.
        let file = fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000))
            .unwrap();
        drop(file);
        let mut reg = registry(&f);
        assert!(reg.resolve("gamma").is_some());
        assert_eq!(probe_log(&f).len(), 3);
    }

    #[test]
    fn full_scan_prunes_cache_entries_of_removed_plugins() {
        let f = fixture();
        plugin(&f.dirs[1], "keep", &["keep"], &f.probes);
        let gone = plugin(&f.dirs[1], "gone", &["gone"], &f.probes);
        let mut reg = registry(&f);
        reg.scan_all();
        reg.save_cache().unwrap();
        fs::remove_file(gone).unwrap();
        let mut reg = registry(&f);
        reg.scan_all();
        reg.save_cache().unwrap();
        let cache = ManifestCache::load(f.config.cache_file.as_deref());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn json_entry_has_the_listed_members() {
        let info = PluginInfo {
            name: "multi".into(),
            path: "/p/gait-multi".into(),
            source: Source::PluginDir,
            state: PluginState::Ok(PluginManifest::new(
                "multi",
                "1.2.3",
                "m",
                &[("alpha", "A")],
            )),
            trust: Some("installed (key ABC)".into()),
        };
        let v = info.to_json();
        assert_eq!(v["version"], "1.2.3");
        assert_eq!(v["contract_version"], "1.0.0");
        assert_eq!(v["trust"], "installed (key ABC)");
        assert_eq!(v["source"], "plugin-dir");
        assert_eq!(v["status"], "ok");
        assert_eq!(v["commands"][0]["name"], "alpha");
        assert!(v.get("reason").is_none());
        let shadowed = PluginInfo {
            state: PluginState::Shadowed {
                by: "/q/gait-multi".into(),
            },
            ..info
        };
        let v = shadowed.to_json();
        assert_eq!(v["status"], "shadowed");
        assert_eq!(v["shadowed_by"], "/q/gait-multi");
        assert_eq!(v["contract_version"], Value::Null);
    }
}
