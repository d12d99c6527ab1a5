//! Where the launcher looks, resolved once from the environment so everything downstream can
//! be tested with an explicit [`Config`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Overrides the plugin directory (default `$HOME/.gait/plugins`).
pub const ENV_PLUGIN_DIR: &str = "GAIT_PLUGIN_DIR";
/// Overrides the directory holding the manifest cache (default `$HOME/.gait/cache`).
pub const ENV_CACHE_DIR: &str = "GAIT_CACHE_DIR";
/// Overrides the `--gait-manifest` timeout in milliseconds (default 3000).
pub const ENV_MANIFEST_TIMEOUT_MS: &str = "GAIT_MANIFEST_TIMEOUT_MS";
/// Set for every plugin the launcher runs: the launcher's own path.
pub const ENV_LAUNCHER: &str = gait_sdk::manifest::LAUNCHER_ENV;

/// File name of the manifest cache inside the cache directory.
pub const CACHE_FILE_NAME: &str = "plugin-manifests.json";

pub const DEFAULT_MANIFEST_TIMEOUT: Duration = Duration::from_secs(3);

/// Everything discovery, probing and caching need to know about the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Canonical path of the running launcher, passed to plugins as `GAIT_LAUNCHER`.
    pub launcher: Option<PathBuf>,
    /// The launcher's own directory: plugins shipped beside it (highest precedence).
    pub bundled_dir: Option<PathBuf>,
    /// `$GAIT_PLUGIN_DIR` or `$HOME/.gait/plugins`.
    pub plugin_dir: Option<PathBuf>,
    /// Absolute `PATH` entries, in order.
    pub path_dirs: Vec<PathBuf>,
    /// Manifest cache file; `None` disables caching.
    pub cache_file: Option<PathBuf>,
    pub manifest_timeout: Duration,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Config {
        let launcher = std::env::current_exe()
            .ok()
            .and_then(|p| p.canonicalize().ok());
        Config::from_vars(launcher, |k| std::env::var_os(k))
    }

    /// Builds a config from a launcher path and an environment lookup (testable core of
    /// [`Config::from_env`]).
    pub fn from_vars(launcher: Option<PathBuf>, var: impl Fn(&str) -> Option<OsString>) -> Config {
        let non_empty = |k: &str| var(k).filter(|v| !v.is_empty());
        let home = non_empty("HOME")
            .map(PathBuf::from)
            .filter(|h| h.is_absolute());
        let bundled_dir = launcher
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf);
        let plugin_dir = match non_empty(ENV_PLUGIN_DIR) {
            Some(d) => absolute(Path::new(&d)),
            None => home.as_ref().map(|h| h.join(".gait").join("plugins")),
        };
        let cache_file = match non_empty(ENV_CACHE_DIR) {
            Some(d) => absolute(Path::new(&d)).map(|d| d.join(CACHE_FILE_NAME)),
            None => home
                .as_ref()
                .map(|h| h.join(".gait").join("cache").join(CACHE_FILE_NAME)),
        };
        // Relative and empty PATH entries mean "the current directory" to a shell; honouring
        // them would let whatever directory the user happens to stand in supply plugins.
        let path_dirs = var("PATH")
            .map(|p| {
                std::env::split_paths(&p)
                    .filter(|d| d.is_absolute())
                    .collect()
            })
            .unwrap_or_default();
        let manifest_timeout = non_empty(ENV_MANIFEST_TIMEOUT_MS)
            .and_then(|v| v.to_str().and_then(|s| s.trim().parse::<u64>().ok()))
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_MANIFEST_TIMEOUT);
        Config {
            launcher,
            bundled_dir,
            plugin_dir,
            path_dirs,
            cache_file,
            manifest_timeout,
        }
    }
}

fn absolute(p: &Path) -> Option<PathBuf> {
    std::path::absolute(p).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)]) -> Config {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        Config::from_vars(Some(PathBuf::from("/opt/gait/bin/gait")), |k| {
            map.get(k).cloned()
        })
    }

    #[test]
    fn defaults_come_from_home() {
        let c = cfg(&[("HOME", "/home/u"), ("PATH", "/usr/bin::rel/bin:/bin")]);
        assert_eq!(c.bundled_dir.as_deref(), Some(Path::new("/opt/gait/bin")));
        assert_eq!(
            c.plugin_dir.as_deref(),
            Some(Path::new("/home/u/.gait/plugins"))
        );
        assert_eq!(
            c.cache_file.as_deref(),
            Some(Path::new("/home/u/.gait/cache/plugin-manifests.json"))
        );
        assert_eq!(
            c.path_dirs,
            vec![PathBuf::from("/usr/bin"), PathBuf::from("/bin")]
        );
        assert_eq!(c.manifest_timeout, DEFAULT_MANIFEST_TIMEOUT);
    }

    #[test]
    fn overrides_and_missing_home() {
        let c = cfg(&[
            ("GAIT_PLUGIN_DIR", "/p"),
            ("GAIT_CACHE_DIR", "/c"),
            ("GAIT_MANIFEST_TIMEOUT_MS", "250"),
        ]);
        assert_eq!(c.plugin_dir.as_deref(), Some(Path::new("/p")));
        assert_eq!(
            c.cache_file.as_deref(),
            Some(Path::new("/c/plugin-manifests.json"))
        );
        assert_eq!(c.manifest_timeout, Duration::from_millis(250));
        assert!(c.path_dirs.is_empty());

        let c = cfg(&[("GAIT_PLUGIN_DIR", ""), ("HOME", "")]);
        assert_eq!(c.plugin_dir, None);
        assert_eq!(c.cache_file, None);
    }
}
