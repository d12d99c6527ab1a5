//! Finding `gait-<name>` executables and deciding which one of each name counts.
//!
//! Directories are searched in precedence order: the launcher's own directory, the plugin
//! directory, then each `PATH` entry. The first plugin of a name wins, so nothing on `PATH`
//! can shadow a plugin shipped beside the launcher or installed in the plugin directory.
//! Later plugins of the same name are reported as shadowed and never run. Trust is decided
//! later, for the winner only (`trust`), and a refused winner keeps its name: a plugin on
//! `PATH` can never step in for a bundled or installed plugin that failed verification.

use crate::config::Config;
use gait_sdk::manifest::is_valid_name;
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Prefix of every plugin executable's file name.
pub const PLUGIN_PREFIX: &str = "gait-";

/// Where a plugin was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Beside the running launcher.
    Bundled,
    /// In `$GAIT_PLUGIN_DIR` or `$HOME/.gait/plugins`.
    PluginDir,
    /// On `PATH`.
    Path,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Bundled => "bundled",
            Source::PluginDir => "plugin-dir",
            Source::Path => "path",
        }
    }
}

/// Identity of an executable's contents as far as the manifest cache is concerned: when any
/// of these change, the plugin is presumed replaced and its manifest is read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileKey {
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Inode number: catches a replacement that kept size and mtime (`cp -p`, `install -p`).
    pub ino: u64,
    /// Status change time in nanoseconds: cannot be set by user space, so an in-place
    /// rewrite that restores size and mtime is still noticed.
    #[doc(alias = "ctime")]
    pub ctime_ns: i64,
}

impl FileKey {
    pub fn of(meta: &fs::Metadata) -> FileKey {
        let mtime_ns = meta
            .mtime()
            .checked_mul(1_000_000_000)
            .and_then(|s| s.checked_add(meta.mtime_nsec()))
            .unwrap_or(i64::MAX);
        let ctime_ns = meta
            .ctime()
            .checked_mul(1_000_000_000)
            .and_then(|s| s.checked_add(meta.ctime_nsec()))
            .unwrap_or(i64::MAX);
        FileKey {
            size: meta.len(),
            mtime_ns,
            ino: meta.ino(),
            ctime_ns,
        }
    }
}

/// One `gait-<name>` executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// `<name>` from the file name.
    pub name: String,
    /// Canonical directory joined with the file name. The file itself is not resolved, so a
    /// symlinked multi-call binary still sees the name it was invoked by.
    pub path: PathBuf,
    pub source: Source,
    pub key: FileKey,
}

/// The plugin name encoded in a file name, if it is `gait-<valid name>`.
pub fn plugin_name(file_name: &OsStr) -> Option<&str> {
    let name = file_name.to_str()?.strip_prefix(PLUGIN_PREFIX)?;
    is_valid_name(name).then_some(name)
}

/// The plugin executables directly inside `dir`, sorted by name. A missing or unreadable
/// directory has none.
pub fn scan_dir(dir: &Path, source: Source) -> Vec<Candidate> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<Candidate> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let file_name = entry.file_name();
            let name = plugin_name(&file_name)?;
            let path = dir.join(&file_name);
            // Follows symlinks: a link to an executable is a plugin, a dangling one is not.
            let meta = fs::metadata(&path).ok()?;
            if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
                return None;
            }
            Some(Candidate {
                name: name.to_string(),
                path,
                source,
                key: FileKey::of(&meta),
            })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// The directories to search, in precedence order (not yet deduplicated).
pub fn search_dirs(config: &Config) -> Vec<(PathBuf, Source)> {
    let mut dirs = Vec::with_capacity(config.path_dirs.len() + 2);
    if let Some(d) = &config.bundled_dir {
        dirs.push((d.clone(), Source::Bundled));
    }
    if let Some(d) = &config.plugin_dir {
        dirs.push((d.clone(), Source::PluginDir));
    }
    dirs.extend(config.path_dirs.iter().map(|d| (d.clone(), Source::Path)));
    dirs
}

/// How a found plugin stands against the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// The first plugin of its name: it may be verified, probed and run.
    Winner,
    /// A plugin of the same name was found earlier in precedence.
    Shadowed { by: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub candidate: Candidate,
    pub standing: Standing,
}

/// Applies precedence one directory at a time, so routing can stop as soon as a command is
/// found without listing every `PATH` directory.
#[derive(Default)]
pub struct Precedence {
    seen_dirs: HashSet<PathBuf>,
    winners: HashMap<String, PathBuf>,
}

impl Precedence {
    pub fn new() -> Self {
        Self::default()
    }

    /// Scans `dir` and ranks what it holds against everything visited before. A directory
    /// reached twice (the launcher installed in a `PATH` directory, duplicate `PATH` entries,
    /// symlinked directories) is scanned once.
    pub fn visit(&mut self, dir: &Path, source: Source) -> Vec<Found> {
        let Ok(canonical) = dir.canonicalize() else {
            return Vec::new();
        };
        if !self.seen_dirs.insert(canonical.clone()) {
            return Vec::new();
        }
        scan_dir(&canonical, source)
            .into_iter()
            .map(|candidate| {
                let standing = if let Some(by) = self.winners.get(&candidate.name) {
                    Standing::Shadowed { by: by.clone() }
                } else {
                    self.winners
                        .insert(candidate.name.clone(), candidate.path.clone());
                    Standing::Winner
                };
                Found {
                    candidate,
                    standing,
                }
            })
            .collect()
    }
}

/// Every plugin in every search directory, in precedence order.
pub fn discover(dirs: &[(PathBuf, Source)]) -> Vec<Found> {
    let mut precedence = Precedence::new();
    dirs.iter()
        .flat_map(|(dir, source)| precedence.visit(dir, *source))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::ffi::OsString;

    pub(crate) fn write_exec(dir: &Path, file: &str, body: &str) -> PathBuf {
        let p = dir.join(file);
        fs::write(&p, body).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn names_must_be_valid_plugin_names() {
        let name = |s: &str| plugin_name(&OsString::from(s)).map(str::to_string);
        assert_eq!(name("gait-gate"), Some("gate".into()));
        assert_eq!(name("gait-multi_2"), Some("multi_2".into()));
        assert_eq!(name("gait-foo.d"), None);
        assert_eq!(name("gait-foo.rs"), None);
        assert_eq!(name("gait-"), None);
        assert_eq!(name("gait--x"), None);
        assert_eq!(name("gait-Foo"), None);
        assert_eq!(name("gait"), None);
        assert_eq!(name("xgait-foo"), None);
    }

    #[test]
    fn scan_keeps_only_executable_regular_files() {
        let d = tempfile::tempdir().unwrap();
        write_exec(d.path(), "gait-b", "#!/bin/sh\n");
        write_exec(d.path(), "gait-a", "#!/bin/sh\n");
        write_exec(d.path(), "gait-a.d", "");
        write_exec(d.path(), "gait-x.rs", "");
        fs::write(d.path().join("gait-noexec"), "").unwrap();
        fs::create_dir(d.path().join("gait-dir")).unwrap();
        std::os::unix::fs::symlink(d.path().join("gait-a"), d.path().join("gait-link")).unwrap();
        std::os::unix::fs::symlink(d.path().join("missing"), d.path().join("gait-dangling"))
            .unwrap();
        let names: Vec<String> = scan_dir(d.path(), Source::Path)
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, vec!["a", "b", "link"]);
    }

    #[test]
    fn first_of_a_name_wins_in_precedence_order() {
        let root = tempfile::tempdir().unwrap();
        let [bundled, plugins, path1, path2] = ["bundled", "plugins", "p1", "p2"].map(|n| {
            let d = root.path().join(n);
            fs::create_dir(&d).unwrap();
            d.canonicalize().unwrap()
        });
        write_exec(&bundled, "gait-gate", "");
        write_exec(&plugins, "gait-gate", "");
        write_exec(&plugins, "gait-extra", "");
        write_exec(&path1, "gait-extra", "");
        write_exec(&path1, "gait-tool", "");
        write_exec(&path2, "gait-tool", "");
        write_exec(&path2, "gait-gate", "");
        let dirs = vec![
            (bundled.clone(), Source::Bundled),
            (plugins.clone(), Source::PluginDir),
            (path1.clone(), Source::Path),
            (path2.clone(), Source::Path),
            // A duplicate PATH entry is scanned once.
            (path1.clone(), Source::Path),
        ];
        let found = discover(&dirs);
        let summary: Vec<(String, Source, bool)> = found
            .iter()
            .map(|f| {
                (
                    f.candidate.name.clone(),
                    f.candidate.source,
                    f.standing == Standing::Winner,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("gate".into(), Source::Bundled, true),
                ("extra".into(), Source::PluginDir, true),
                ("gate".into(), Source::PluginDir, false),
                ("extra".into(), Source::Path, false),
                ("tool".into(), Source::Path, true),
                ("gate".into(), Source::Path, false),
                ("tool".into(), Source::Path, false),
            ]
        );
        assert_eq!(
            found[2].standing,
            Standing::Shadowed {
                by: bundled.join("gait-gate")
            }
        );
        assert_eq!(
            found[6].standing,
            Standing::Shadowed {
                by: path1.join("gait-tool")
            }
        );
    }
}
