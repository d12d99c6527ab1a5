//! The launcher's own command line: a hand-written parser (clap would cost more startup time
//! than the whole launcher budget) and the text and JSON it renders. Everything here is pure:
//! `main.rs` prints the results.

use crate::discovery::Source;
use crate::error::LauncherError;
use crate::registry::PluginInfo;
use serde_json::{Map, Value};
use std::ffi::OsString;
use std::path::PathBuf;

/// Commands the launcher answers itself, before any plugin (`version` is only a fallback).
pub const LAUNCHER_COMMANDS: &[&str] =
    &["completions", "doctor", "help", "man", "plugin", "version"];

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit the launcher was built from (12 hex digits), empty outside a checkout.
pub const GIT_COMMIT: &str = env!("GAIT_GIT_COMMIT");

/// `producer_version` of what the launcher itself writes (doctor reports).
pub fn producer_version() -> String {
    format!("gait-rs/{VERSION}")
}

/// `gait <version>`, plus the commit when known: the line `gait version` prints.
pub fn version_line() -> String {
    if GIT_COMMIT.is_empty() {
        format!("gait {VERSION}")
    } else {
        format!("gait {VERSION} (commit {GIT_COMMIT})")
    }
}

pub const EXPLAIN: &str = "gait is the launcher of the Gait CLI: it finds gait-<name> plugins beside itself, \
in the plugin directory ($GAIT_PLUGIN_DIR or ~/.gait/plugins) and on PATH, and runs the one whose manifest \
declares the command you typed.";

/// `gait help version` when no plugin serves `version`.
pub const VERSION_USAGE: &str = "Usage: gait version [--json]   (also: gait --version, gait -v)

Prints the launcher version.
";

pub const PLUGIN_USAGE: &str = "Usage: gait plugin <subcommand>

Subcommands:
  list [--json]          List plugins: version, contract, source, status, trust, commands, path
  trust <path>           Trust this exact plugin file (by sha256); --key <pub> trusts a signing
                         key; --list shows what is trusted
  search [query]         Search a registry (--registry <dir> or $GAIT_REGISTRY)
  install <name>[@req]   Install a signed plugin from a registry (--trust-key <pub> without a tty)
  update [name]          Update installed plugins within their registry
  remove <name>          Remove an installed plugin
  verify                 Verify every installed plugin against its install record (exit 2 if any fails)
  lock                   Write gait.lock: exact versions and sha256 of the installed plugins
  sync --locked          Install exactly what gait.lock pins; any drift is an error (for CI)
  sign --key <sk> <file> Sign files with a minisign secret key (publishers)

Every subcommand takes --json and --help. Trust model: docs/plugins.md; registries: docs/registry.md.
";

/// What the user asked the launcher for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// Usage with the installed commands. `explicit` is false for a bare `gait`, which exits 6.
    Help {
        explicit: bool,
    },
    /// `gait help <command>`: the plugin's own `--help`.
    HelpFor {
        command: String,
    },
    /// `gait --version` / `-v`.
    Version {
        json: bool,
    },
    /// `gait version …`: a plugin declaring `version` wins, else the launcher answers.
    VersionCommand {
        json: bool,
        rest: Vec<OsString>,
    },
    Explain,
    PluginList {
        json: bool,
    },
    /// `gait plugin` usage: exit 0 when `explicit` (`--help`), else 6, with `error` if any.
    PluginUsage {
        explicit: bool,
        error: Option<String>,
    },
    /// `gait plugin <sub> …` for the management subcommands (see `manage::SUBCOMMANDS`).
    PluginManage {
        sub: String,
        args: Vec<OsString>,
    },
    /// `gait doctor …`: diagnostics, answered by the launcher.
    Doctor {
        args: Vec<OsString>,
    },
    /// `gait completions <shell>`.
    Completions {
        args: Vec<OsString>,
    },
    /// `gait man [--out-dir <dir>]`.
    Man {
        args: Vec<OsString>,
    },
    /// Anything else: routed to a plugin.
    Run {
        command: String,
        rest: Vec<OsString>,
    },
}

/// `--json` the way plugins spell it (Go-style single dash accepted).
pub fn is_json_flag(arg: &OsString) -> bool {
    matches!(
        arg.to_str(),
        Some("--json" | "-json" | "--json=true" | "-json=true")
    )
}

/// Whether any argument asks for JSON output (decides the error format).
pub fn wants_json(args: &[OsString]) -> bool {
    args.iter().any(is_json_flag)
}

fn is_help_flag(arg: &OsString) -> bool {
    matches!(arg.to_str(), Some("--help" | "-h" | "-help"))
}

/// Parses the launcher's arguments (without the program name). Plugin arguments are not
/// looked at: everything after the command goes to the plugin as is.
pub fn parse(args: &[OsString]) -> Result<Invocation, LauncherError> {
    let Some(first) = args.first() else {
        return Ok(Invocation::Help { explicit: false });
    };
    let first_str = first.to_string_lossy();
    if first_str.starts_with('-') {
        return parse_launcher_flags(args);
    }
    let rest = &args[1..];
    match first_str.as_ref() {
        "help" => Ok(
            match rest.iter().find(|a| !a.to_string_lossy().starts_with('-')) {
                Some(cmd) if cmd == "help" => Invocation::Help { explicit: true },
                Some(cmd) if cmd == "plugin" => Invocation::PluginUsage {
                    explicit: true,
                    error: None,
                },
                Some(cmd) => Invocation::HelpFor {
                    command: cmd.to_string_lossy().into_owned(),
                },
                None => Invocation::Help { explicit: true },
            },
        ),
        "plugin" => Ok(parse_plugin(rest)),
        "doctor" => Ok(Invocation::Doctor {
            args: rest.to_vec(),
        }),
        "completions" => Ok(Invocation::Completions {
            args: rest.to_vec(),
        }),
        "man" => Ok(Invocation::Man {
            args: rest.to_vec(),
        }),
        // Extra arguments are ignored (the reference's rule), except a request for help.
        "version" if rest.iter().any(is_help_flag) => Ok(Invocation::HelpFor {
            command: "version".into(),
        }),
        "version" => Ok(Invocation::VersionCommand {
            json: wants_json(rest),
            rest: rest.to_vec(),
        }),
        _ => Ok(Invocation::Run {
            command: first_str.into_owned(),
            rest: rest.to_vec(),
        }),
    }
}

fn parse_launcher_flags(args: &[OsString]) -> Result<Invocation, LauncherError> {
    let (mut help, mut version, mut explain, mut json) = (false, false, false, false);
    for a in args {
        match a.to_str() {
            Some("--help" | "-h" | "-help") => help = true,
            Some("--version" | "-v" | "-version") => version = true,
            Some("--explain" | "-explain") => explain = true,
            _ if is_json_flag(a) => json = true,
            _ => {
                let shown = a.to_string_lossy();
                if shown.starts_with('-') {
                    return Err(LauncherError::Usage {
                        message: format!("unknown flag {shown:?}"),
                        hint: Some("run `gait --help` for usage".into()),
                    });
                }
                return Err(LauncherError::Usage {
                    message: format!("unexpected argument {shown:?} after launcher flags"),
                    hint: Some(format!(
                        "put flags after the command, e.g. `gait {shown} --json`"
                    )),
                });
            }
        }
    }
    Ok(if help {
        Invocation::Help { explicit: true }
    } else if explain {
        Invocation::Explain
    } else if version {
        Invocation::Version { json }
    } else {
        Invocation::Help { explicit: false }
    })
}

fn parse_plugin(rest: &[OsString]) -> Invocation {
    let Some(sub) = rest.first() else {
        return Invocation::PluginUsage {
            explicit: false,
            error: None,
        };
    };
    if is_help_flag(sub) || sub == "help" {
        return Invocation::PluginUsage {
            explicit: true,
            error: None,
        };
    }
    if let Some(known) = crate::manage::SUBCOMMANDS.iter().find(|s| sub == **s) {
        return Invocation::PluginManage {
            sub: known.to_string(),
            args: rest[1..].to_vec(),
        };
    }
    if sub != "list" {
        return Invocation::PluginUsage {
            explicit: false,
            error: Some(format!(
                "unknown plugin subcommand {:?}",
                sub.to_string_lossy()
            )),
        };
    }
    let mut json = false;
    for a in &rest[1..] {
        if is_json_flag(a) {
            json = true;
        } else if is_help_flag(a) {
            return Invocation::PluginUsage {
                explicit: true,
                error: None,
            };
        } else {
            return Invocation::PluginUsage {
                explicit: false,
                error: Some(format!(
                    "unexpected argument {:?} for `gait plugin list`",
                    a.to_string_lossy()
                )),
            };
        }
    }
    Invocation::PluginList { json }
}

/// `gait --version` as text.
pub fn version_text() -> String {
    format!("{}\n", version_line())
}

/// `gait --version --json` members (the caller adds `correlation_id`).
pub fn version_json() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("ok".into(), Value::Bool(true));
    m.insert("version".into(), VERSION.into());
    if !GIT_COMMIT.is_empty() {
        m.insert("commit".into(), GIT_COMMIT.into());
    }
    m.insert(
        "contract_version".into(),
        gait_sdk::manifest::CONTRACT_VERSION.into(),
    );
    m
}

/// The usage text listing every installed command.
pub fn render_help(plugins: &[PluginInfo]) -> String {
    let mut rows: Vec<(String, String, String)> = Vec::new();
    for p in plugins {
        for c in p.commands() {
            // The launcher keeps `help` and `plugin`; first server of a command wins.
            let owned = c.name == "help" || c.name == "plugin";
            if !owned && !rows.iter().any(|(n, _, _)| *n == c.name) {
                rows.push((c.name, one_line(&c.about), p.name.clone()));
            }
        }
    }
    let mut out = format!("gait {VERSION} — the Gait command line\n\nUsage: gait <command> [arguments...]\n\nCommands:\n");
    if rows.is_empty() {
        out.push_str("  (no plugins installed)\n");
    }
    let width = rows.iter().map(|(n, _, _)| n.len()).max().unwrap_or(0);
    let about_width = rows
        .iter()
        .map(|(_, a, _)| a.chars().count())
        .max()
        .unwrap_or(0);
    for (name, about, plugin) in &rows {
        // Naming the plugin only matters when it differs from the command.
        let line = if plugin == name {
            format!("  {name:<width$}  {about}")
        } else {
            format!("  {name:<width$}  {about:<about_width$}  [gait-{plugin}]")
        };
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(
        "\nLauncher commands:\n  \
         doctor [--json]        Check this machine, this directory and the plugin setup\n  \
         plugin list [--json]   List installed plugins and where they were found\n  \
         completions <shell>    Print a shell completion script (bash, zsh, fish, …)\n  \
         man [--out-dir <dir>]  Print or write man pages\n  \
         help [<command>]       Show this help, or a command's own help\n  \
         --version, -v          Print the launcher version\n  \
         --explain              Say in one line what gait does\n",
    );
    let unusable: Vec<&PluginInfo> = plugins
        .iter()
        .filter(|p| matches!(p.status(), "broken" | "rejected"))
        .collect();
    if !unusable.is_empty() {
        out.push_str("\nUnusable plugins (see `gait plugin list`):\n");
        for p in unusable {
            out.push_str(&format!(
                "  gait-{}: {}\n",
                p.name,
                p.reason().unwrap_or_default()
            ));
        }
    }
    out.push_str(
        "\nPlugins (gait-<name> executables) are found beside gait, in $GAIT_PLUGIN_DIR \
         (default ~/.gait/plugins), then on PATH; the first of a name wins.\n",
    );
    out
}

/// Manifest text is plugin-controlled: keep it to one line and free of terminal control
/// sequences before it reaches the user's terminal.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `gait plugin list` as an aligned table, with reasons under the rows that have one.
pub fn render_plugin_table(plugins: &[PluginInfo], dirs: &[(PathBuf, Source)]) -> String {
    if plugins.is_empty() {
        let mut out = String::from("no plugins found; searched:\n");
        for (d, s) in dirs {
            out.push_str(&format!("  {} ({})\n", d.display(), s.as_str()));
        }
        return out;
    }
    let header = [
        "NAME", "VERSION", "CONTRACT", "SOURCE", "STATUS", "COMMANDS", "PATH",
    ];
    let rows: Vec<[String; 7]> = plugins
        .iter()
        .map(|p| {
            let commands: Vec<String> = p.commands().into_iter().map(|c| c.name).collect();
            [
                p.name.clone(),
                one_line(p.version()),
                p.contract_version().map_or("-".into(), |v| v.to_string()),
                p.source.as_str().to_string(),
                p.status().to_string(),
                if commands.is_empty() {
                    "-".into()
                } else {
                    commands.join(",")
                },
                p.path.display().to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(&header.map(String::from));
    for (row, p) in rows.iter().zip(plugins) {
        out.push_str(&line(row));
        if let Some(r) = p.reason() {
            out.push_str(&format!("  └ {}\n", one_line(&r)));
        }
    }
    out
}

/// `gait plugin list --json` members (the caller adds `correlation_id`).
pub fn plugin_list_json(plugins: &[PluginInfo], dirs: &[(PathBuf, Source)]) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("ok".into(), Value::Bool(true));
    m.insert(
        "plugins".into(),
        Value::Array(plugins.iter().map(PluginInfo::to_json).collect()),
    );
    m.insert(
        "search_dirs".into(),
        Value::Array(
            dirs.iter()
                .map(|(d, s)| serde_json::json!({"dir": d.display().to_string(), "source": s.as_str()}))
                .collect(),
        ),
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::PluginState;
    use gait_sdk::manifest::PluginManifest;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn parsing() {
        assert_eq!(parse(&[]).unwrap(), Invocation::Help { explicit: false });
        assert_eq!(
            parse(&args(&["--help"])).unwrap(),
            Invocation::Help { explicit: true }
        );
        assert_eq!(
            parse(&args(&["help"])).unwrap(),
            Invocation::Help { explicit: true }
        );
        assert_eq!(
            parse(&args(&["help", "gate"])).unwrap(),
            Invocation::HelpFor {
                command: "gate".into()
            }
        );
        assert_eq!(
            parse(&args(&["help", "plugin"])).unwrap(),
            Invocation::PluginUsage {
                explicit: true,
                error: None
            }
        );
        assert_eq!(
            parse(&args(&["-v", "--json"])).unwrap(),
            Invocation::Version { json: true }
        );
        assert_eq!(parse(&args(&["--explain"])).unwrap(), Invocation::Explain);
        assert!(parse(&args(&["--bogus"])).is_err());
        assert!(parse(&args(&["--json", "gate"])).is_err());
        assert_eq!(
            parse(&args(&["plugin", "list", "--json"])).unwrap(),
            Invocation::PluginList { json: true }
        );
        assert_eq!(
            parse(&args(&["plugin"])).unwrap(),
            Invocation::PluginUsage {
                explicit: false,
                error: None
            }
        );
        assert!(matches!(
            parse(&args(&["plugin", "nope"])).unwrap(),
            Invocation::PluginUsage {
                explicit: false,
                error: Some(_)
            }
        ));
        assert_eq!(
            parse(&args(&["plugin", "--help"])).unwrap(),
            Invocation::PluginUsage {
                explicit: true,
                error: None
            }
        );
        assert_eq!(
            parse(&args(&["policy", "test", "--json", "--", "-v"])).unwrap(),
            Invocation::Run {
                command: "policy".into(),
                rest: args(&["test", "--json", "--", "-v"])
            }
        );
        assert!(matches!(
            parse(&args(&["version", "--json"])).unwrap(),
            Invocation::VersionCommand { json: true, .. }
        ));
    }

    #[test]
    fn help_lists_commands_once() {
        let plugin = |name: &str, cmds: &[(&str, &str)]| PluginInfo {
            name: name.into(),
            path: format!("/p/gait-{name}").into(),
            source: Source::PluginDir,
            state: PluginState::Ok(PluginManifest::new(name, "1.0.0", "", cmds)),
            trust: None,
        };
        let plugins = vec![
            plugin(
                "multi",
                &[("alpha", "Alpha things"), ("beta", "Beta things")],
            ),
            plugin(
                "other",
                &[("alpha", "shadowed alpha"), ("plugin", "hijack")],
            ),
            plugin("esc", &[("esc", "x\u{1b}[2Jy\nz")]),
            PluginInfo {
                name: "hang".into(),
                path: "/p/gait-hang".into(),
                source: Source::Path,
                state: PluginState::Broken {
                    reason: "timed out".into(),
                },
                trust: None,
            },
        ];
        let help = render_help(&plugins);
        assert!(help.contains("alpha  Alpha things  [gait-multi]"), "{help}");
        assert!(help.contains("beta   Beta things   [gait-multi]"), "{help}");
        assert!(!help.contains("shadowed alpha"));
        assert!(!help.contains("hijack"));
        assert!(help.contains("gait-hang: timed out"));
        assert!(help.contains("  esc    x [2Jy z\n"), "{help}");
        let table = render_plugin_table(&plugins, &[]);
        assert!(table.starts_with("NAME "), "{table}");
        assert!(table.contains("alpha,beta"));
    }
}
