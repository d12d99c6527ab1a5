//! `gait completions <shell>` and `gait man`: shell completions and man pages for the whole
//! CLI as installed. Each plugin describes its commands from its own clap definitions
//! (`--gait-cli-spec`); the launcher adds its own and renders with clap_complete and
//! clap_mangen, so what is completed is exactly what the installed plugins parse.

use crate::error::LauncherError;
use crate::probe::run_flag;
use crate::registry::{PluginState, Registry};
use clap::{Arg, ArgAction, Command};
use gait_sdk::cli_spec::{command_from_json, CLI_SPEC_FLAG, CLI_SPEC_VERSION};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Largest description a plugin may print (gait-gate's is about 60 KiB).
const SPEC_OUTPUT_CAP: usize = 4 * 1024 * 1024;
const SPEC_TIMEOUT: Duration = Duration::from_secs(5);

pub const SHELLS: &[&str] = &["bash", "zsh", "fish", "elvish", "powershell"];

pub const COMPLETIONS_USAGE: &str = "Usage: gait completions <bash|zsh|fish|elvish|powershell>

Prints a completion script for every installed command, generated from the plugins' own
command-line definitions. Install it, e.g.:
  gait completions bash > ~/.local/share/bash-completion/completions/gait
  gait completions zsh  > \"${fpath[1]}/_gait\"
  gait completions fish > ~/.config/fish/completions/gait.fish
";

pub const MAN_USAGE: &str = "Usage: gait man [--out-dir <dir>]

Prints the gait(1) man page, generated from the same definitions as --help. With --out-dir,
writes gait.1 and one page per command (gait-gate.1, gait-gate-eval.1, …) into <dir>:
  gait man --out-dir ~/.local/share/man/man1 && man gait-gate-eval
";

/// The launcher's own commands.
fn launcher_commands() -> Vec<Command> {
    let json = || {
        Arg::new("json")
            .long("json")
            .action(ArgAction::SetTrue)
            .help("Print one line of JSON")
    };
    let value = |name: &'static str, help: &'static str| {
        Arg::new(name).long(name).help(help).action(ArgAction::Set)
    };
    let mut plugin = Command::new("plugin")
        .about("List, install, trust, verify and pin plugins")
        .subcommand(
            Command::new("list")
                .about("List plugins: version, contract, source, status, trust, commands, path")
                .arg(json()),
        )
        .subcommand(crate::trust_cmd::command());
    for c in crate::registry_cmds::commands() {
        plugin = plugin.subcommand(c);
    }
    vec![
        Command::new("doctor")
            .about("Check this machine, this directory and the plugin setup")
            .arg(value("workdir", "Directory to check (default .)"))
            .arg(value("output-dir", "Output directory (default ./gait-out)"))
            .arg(value("key-mode", "Signing key mode").value_parser(["dev", "prod"]))
            .arg(value("private-key", "Private key file"))
            .arg(value(
                "private-key-env",
                "Environment variable holding the private key",
            ))
            .arg(value("public-key", "Public key file"))
            .arg(value(
                "public-key-env",
                "Environment variable holding the public key",
            ))
            .arg(
                Arg::new("production-readiness")
                    .long("production-readiness")
                    .action(ArgAction::SetTrue)
                    .help("Check .gait/config.yaml against the oss-prod baseline"),
            )
            .arg(
                Arg::new("summary")
                    .long("summary")
                    .action(ArgAction::SetTrue)
                    .help("Show only checks that did not pass"),
            )
            .arg(json()),
        plugin,
        Command::new("version")
            .about("Print the version (and the git commit it was built from)")
            .arg(json()),
        Command::new("completions")
            .about("Print a shell completion script")
            .arg(
                Arg::new("shell")
                    .required(true)
                    .value_parser(SHELLS.to_vec()),
            ),
        Command::new("man")
            .about("Print or write man pages")
            .arg(value(
                "out-dir",
                "Write one page per command into this directory",
            )),
        Command::new("help").about("Show help for gait or a command"),
    ]
}

/// Asks a plugin for its description; `None` when it cannot give one (older or third-party
/// plugins): their commands are then completed by name only.
fn plugin_spec(path: &Path, launcher: Option<&Path>) -> Option<Command> {
    let (status, out) =
        run_flag(path, CLI_SPEC_FLAG, launcher, SPEC_TIMEOUT, SPEC_OUTPUT_CAP).ok()?;
    if !status.success() {
        return None;
    }
    let v: Value = serde_json::from_slice(&out).ok()?;
    if v.get("cli_spec_version").and_then(Value::as_u64) != Some(CLI_SPEC_VERSION) {
        return None;
    }
    command_from_json(v.get("command")?)
}

/// The whole CLI as installed: the launcher's commands, then every usable plugin's, first
/// server of a command winning exactly as dispatch decides.
pub fn assemble(reg: &mut Registry) -> Command {
    let mut root = Command::new("gait")
        .about("Gait: decide, sign and prove what AI agents' tool calls may do")
        .version(crate::cli::VERSION)
        .disable_help_subcommand(true)
        .arg(
            Arg::new("explain")
                .long("explain")
                .action(ArgAction::SetTrue)
                .help("Say in one line what gait does"),
        );
    let mut taken: Vec<String> = Vec::new();
    for c in launcher_commands() {
        taken.push(c.get_name().to_string());
        root = root.subcommand(c);
    }
    reg.scan_all();
    let launcher = reg.config().launcher.clone();
    let plugins = reg.plugins().to_vec();
    for p in plugins.iter() {
        let serves: Vec<_> = p
            .commands()
            .into_iter()
            .filter(|c| !taken.contains(&c.name))
            .collect();
        if serves.is_empty() {
            continue;
        }
        let spec = match p.state {
            PluginState::Ok(_) => plugin_spec(&p.path, launcher.as_deref()),
            _ => None,
        };
        for decl in serves {
            let from_spec = spec
                .as_ref()
                .and_then(|s| s.find_subcommand(&decl.name).cloned());
            let cmd = from_spec.unwrap_or_else(|| {
                Command::new(decl.name.clone())
                    .about(decl.about.clone())
                    .arg(Arg::new("args").num_args(0..).trailing_var_arg(true))
            });
            taken.push(decl.name);
            root = root.subcommand(cmd);
        }
    }
    let _ = reg.save_cache();
    root
}

/// `gait completions <shell>`.
pub fn completions(reg: &mut Registry, shell: &str) -> Result<Vec<u8>, LauncherError> {
    use clap_complete::Shell;
    let shell = match shell {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        "elvish" => Shell::Elvish,
        "powershell" => Shell::PowerShell,
        other => {
            return Err(LauncherError::Usage {
                message: format!("unsupported shell {other:?}"),
                hint: Some(format!("use one of: {}", SHELLS.join(", "))),
            })
        }
    };
    let mut cmd = assemble(reg);
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "gait", &mut out);
    Ok(out)
}

/// The man page of one command (`gait`, `gait-gate`, `gait-gate-eval`, …).
fn render_page(cmd: &Command) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    Ok(out)
}

/// `gait man`: the top page, or every page written into `out_dir`; returns the bytes to print
/// (top page) or the files written.
pub fn man(reg: &mut Registry, out_dir: Option<&Path>) -> Result<ManOutput, LauncherError> {
    let mut root = assemble(reg);
    root.build();
    let io = |e: std::io::Error| LauncherError::Usage {
        message: format!("render man page: {e}"),
        hint: None,
    };
    let Some(dir) = out_dir else {
        return Ok(ManOutput::Page(render_page(&root).map_err(io)?));
    };
    let mut files = Vec::new();
    let mut pages: Vec<(String, Command)> = vec![("gait".into(), root.clone())];
    // Depth-first over subcommands: `gait-gate-eval.1` for `gait gate eval`, as git names its.
    let mut i = 0;
    while i < pages.len() {
        let (name, cmd) = pages[i].clone();
        for sub in cmd.get_subcommands() {
            let sub_name = format!("{name}-{}", sub.get_name());
            pages.push((sub_name.clone(), sub.clone().name(sub_name)));
        }
        i += 1;
    }
    let write_err = |p: &Path, e: std::io::Error| LauncherError::Usage {
        message: format!(
            "write {}: {}",
            p.display(),
            gait_sdk::fsutil::go_io_reason(&e)
        ),
        hint: Some("pass an --out-dir you can write to".into()),
    };
    std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
    for (name, cmd) in pages {
        let page = render_page(&cmd).map_err(io)?;
        let path = dir.join(format!("{name}.1"));
        gait_sdk::fsutil::write_atomic(&path, &page, 0o644).map_err(|e| write_err(&path, e))?;
        files.push(path);
    }
    Ok(ManOutput::Written(files))
}

pub enum ManOutput {
    Page(Vec<u8>),
    Written(Vec<std::path::PathBuf>),
}
