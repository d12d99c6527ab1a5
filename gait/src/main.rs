//! The `gait` launcher binary: parses its few commands, prints, and execs plugins. All
//! decisions live in the `gait_launcher` library; this file is the process edge.

#![forbid(unsafe_code)]

use gait_launcher::cli::{self, Invocation};
use gait_launcher::error::LauncherError;
use gait_launcher::registry::{PluginState, Registry};
use gait_launcher::{dispatch, doctor, probe, suggest, trust, Config};
use gait_sdk::error::exit;
use gait_sdk::output::json_result_line;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::process::CommandExt;

fn main() {
    let argv: Vec<OsString> = std::env::args_os().collect();
    std::process::exit(run(&argv));
}

/// Runs the launcher; returns only when no plugin took over the process.
fn run(argv: &[OsString]) -> i32 {
    let args = argv.get(1..).unwrap_or_default();
    let shown_argv: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let json = cli::wants_json(args);
    let invocation = match cli::parse(args) {
        Ok(i) => i,
        Err(e) => return fail(&e, json, &shown_argv),
    };
    let registry = || {
        let config = Config::from_env();
        let admission = trust::default_admission(config.plugin_dir.clone());
        Registry::new(config, admission)
    };
    match invocation {
        Invocation::Run { command, rest } => route(registry(), &command, &rest, json, &shown_argv),
        Invocation::HelpFor { command } => {
            let mut reg = registry();
            if command == "version" && reg.resolve("version").is_none() {
                let _ = reg.save_cache();
                print!("{}", cli::VERSION_USAGE);
                return exit::OK;
            }
            route(
                reg,
                &command,
                &[OsString::from("--help")],
                json,
                &shown_argv,
            )
        }
        Invocation::Version { json } => print_version(json, &shown_argv),
        Invocation::VersionCommand { json, rest } => {
            let mut reg = registry();
            if let Some(path) = reg.resolve("version").map(|p| p.path.clone()) {
                let _ = reg.save_cache();
                return exec(&reg, &path, OsStr::new("version"), &rest, &shown_argv);
            }
            let _ = reg.save_cache();
            print_version(json, &shown_argv)
        }
        Invocation::Doctor { args } => doctor(&args, registry(), argv, &shown_argv),
        Invocation::Completions { args } => completions(&args, registry(), &shown_argv),
        Invocation::Man { args } => man(&args, registry(), &shown_argv),
        Invocation::Explain => {
            println!("{}", cli::EXPLAIN);
            exit::OK
        }
        Invocation::Help { explicit } => {
            let mut reg = registry();
            let text = cli::render_help(reg.scan_all());
            let _ = reg.save_cache();
            if explicit {
                print!("{text}");
                exit::OK
            } else {
                eprint!("{text}");
                exit::INVALID_INPUT
            }
        }
        Invocation::PluginList { json } => {
            let mut reg = registry();
            reg.scan_all();
            let _ = reg.save_cache();
            if json {
                let members = cli::plugin_list_json(reg.plugins(), reg.search_dirs());
                println!("{}", json_result_line(members, &shown_argv));
            } else {
                print!(
                    "{}",
                    cli::render_plugin_table(reg.plugins(), reg.search_dirs())
                );
            }
            exit::OK
        }
        Invocation::PluginManage { sub, args } => gait_sdk::cli::emit(
            gait_launcher::manage::run(&sub, &args, json),
            json,
            &shown_argv,
            "gait plugin",
        ),
        Invocation::PluginUsage { explicit: true, .. } => {
            print!("{}", cli::PLUGIN_USAGE);
            exit::OK
        }
        Invocation::PluginUsage { error, .. } => {
            if !json {
                eprint!("{}", cli::PLUGIN_USAGE);
            }
            match error {
                Some(message) => fail(
                    &LauncherError::Usage {
                        message,
                        hint: Some("run `gait plugin --help` for usage".into()),
                    },
                    json,
                    &shown_argv,
                ),
                None => exit::INVALID_INPUT,
            }
        }
    }
}

/// Execs the plugin serving `command`, or reports why there is none.
fn route(mut reg: Registry, command: &str, rest: &[OsString], json: bool, argv: &[String]) -> i32 {
    if let Some(path) = reg.resolve(command).map(|p| p.path.clone()) {
        // Must happen before exec: nothing of the launcher survives it.
        let _ = reg.save_cache();
        return exec(&reg, &path, OsStr::new(command), rest, argv);
    }
    reg.scan_all();
    let _ = reg.save_cache();
    let unusable = reg.plugins().iter().find(|p| {
        p.name == command
            && matches!(
                p.state,
                PluginState::Broken { .. }
                    | PluginState::Rejected(_)
                    | PluginState::Incompatible(_)
            )
    });
    let err = match unusable.map(|p| (p, &p.state)) {
        Some((p, PluginState::Rejected(error))) => LauncherError::Refused {
            name: p.name.clone(),
            error: error.clone(),
        },
        Some((p, PluginState::Incompatible(_))) => LauncherError::Incompatible {
            name: p.name.clone(),
            reason: p.reason().unwrap_or_default(),
        },
        Some((p, _)) => LauncherError::BrokenPlugin {
            name: p.name.clone(),
            path: p.path.clone(),
            reason: p.reason().unwrap_or_default(),
        },
        None => {
            let known = reg.known_commands();
            let names = known
                .iter()
                .map(String::as_str)
                .chain(cli::LAUNCHER_COMMANDS.iter().copied());
            LauncherError::UnknownCommand {
                command: command.to_string(),
                suggestion: suggest::suggest(command, names),
            }
        }
    };
    fail(&err, json, argv)
}

fn exec(
    reg: &Registry,
    path: &std::path::Path,
    command: &OsStr,
    rest: &[OsString],
    argv: &[String],
) -> i32 {
    let launcher = reg.config().launcher.as_deref();
    // `exec` only returns on failure.
    let error = match probe::retry_text_busy(|| {
        Err::<(), _>(dispatch::plugin_command(path, command, rest, launcher).exec())
    }) {
        Err(e) => e,
        Ok(()) => unreachable!("exec returned without an error"),
    };
    let err = LauncherError::Exec {
        path: path.to_path_buf(),
        error,
    };
    fail(&err, cli::wants_json(rest), argv)
}

fn doctor(args: &[OsString], mut reg: Registry, argv: &[OsString], shown: &[String]) -> i32 {
    let json = cli::wants_json(args);
    let parsed = match doctor::DoctorArgs::parse(args) {
        Ok(a) => a,
        Err(e) => {
            if !json {
                eprint!("{}", doctor::USAGE);
            }
            return fail(&e, json, shown);
        }
    };
    if parsed.explain {
        println!("gait doctor checks this machine, this directory, durable job state, signing keys and the plugin setup, and names the command that fixes each problem.");
        return exit::OK;
    }
    if parsed.help {
        print!("{}", doctor::USAGE);
        return exit::OK;
    }
    let path_dirs = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .filter(|d| d.is_absolute())
                .collect()
        })
        .unwrap_or_default();
    let envr = doctor::Environment {
        argv0: argv.first().and_then(|a| a.to_str()),
        current_exe: reg.config().launcher.clone(),
        path_dirs,
    };
    let report = doctor::run(&parsed, &envr, &mut reg);
    if parsed.json {
        println!("{}", json_result_line(report.to_json(), shown));
    } else {
        print!("{}", report.to_text());
    }
    report.exit_code()
}

/// Splits `--json`, `--help` and `--out-dir` from the positionals of the generator commands.
struct GenArgs {
    json: bool,
    help: bool,
    out_dir: Option<String>,
    positionals: Vec<String>,
}

fn gen_args(args: &[OsString], usage: &str) -> Result<GenArgs, LauncherError> {
    let mut g = GenArgs {
        json: false,
        help: false,
        out_dir: None,
        positionals: Vec::new(),
    };
    let bad = |m: String| LauncherError::Usage {
        message: m,
        hint: Some(usage.lines().next().unwrap_or_default().to_string()),
    };
    let mut it = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" | "-json" => g.json = true,
            "--help" | "-help" | "-h" => g.help = true,
            "--out-dir" | "-out-dir" => {
                g.out_dir = Some(
                    it.next()
                        .ok_or_else(|| bad("flag needs an argument: -out-dir".into()))?,
                )
            }
            s if s.starts_with("--out-dir=") => {
                g.out_dir = Some(s["--out-dir=".len()..].to_string())
            }
            s if s.starts_with('-') => {
                return Err(bad(format!("flag provided but not defined: {s}")))
            }
            _ => g.positionals.push(a),
        }
    }
    Ok(g)
}

fn completions(args: &[OsString], mut reg: Registry, shown: &[String]) -> i32 {
    use gait_launcher::shellgen;
    let json = cli::wants_json(args);
    let g = match gen_args(args, shellgen::COMPLETIONS_USAGE) {
        Ok(g) => g,
        Err(e) => return fail(&e, json, shown),
    };
    if g.help {
        print!("{}", shellgen::COMPLETIONS_USAGE);
        return exit::OK;
    }
    let [shell] = g.positionals.as_slice() else {
        let e = LauncherError::Usage {
            message: "expected exactly one shell: bash, zsh, fish, elvish or powershell".into(),
            hint: Some(
                "e.g. `gait completions bash > ~/.local/share/bash-completion/completions/gait`"
                    .into(),
            ),
        };
        return fail(&e, json, shown);
    };
    match shellgen::completions(&mut reg, shell) {
        Ok(script) if g.json => {
            let mut m = serde_json::Map::new();
            m.insert("ok".into(), true.into());
            m.insert("shell".into(), shell.as_str().into());
            m.insert(
                "script".into(),
                String::from_utf8_lossy(&script).into_owned().into(),
            );
            println!("{}", json_result_line(m, shown));
            exit::OK
        }
        Ok(script) => {
            let _ = std::io::stdout().write_all(&script);
            exit::OK
        }
        Err(e) => fail(&e, json, shown),
    }
}

fn man(args: &[OsString], mut reg: Registry, shown: &[String]) -> i32 {
    use gait_launcher::shellgen::{self, ManOutput};
    let json = cli::wants_json(args);
    let g = match gen_args(args, shellgen::MAN_USAGE) {
        Ok(g) => g,
        Err(e) => return fail(&e, json, shown),
    };
    if g.help {
        print!("{}", shellgen::MAN_USAGE);
        return exit::OK;
    }
    if let Some(extra) = g.positionals.first() {
        let e = LauncherError::Usage {
            message: format!("unexpected positional arguments: {extra}"),
            hint: Some("run `gait man --help` for usage".into()),
        };
        return fail(&e, json, shown);
    }
    match shellgen::man(&mut reg, g.out_dir.as_deref().map(std::path::Path::new)) {
        Ok(ManOutput::Page(page)) if g.json => {
            let mut m = serde_json::Map::new();
            m.insert("ok".into(), true.into());
            m.insert(
                "page".into(),
                String::from_utf8_lossy(&page).into_owned().into(),
            );
            println!("{}", json_result_line(m, shown));
            exit::OK
        }
        Ok(ManOutput::Page(page)) => {
            let _ = std::io::stdout().write_all(&page);
            exit::OK
        }
        Ok(ManOutput::Written(files)) => {
            if g.json {
                let mut m = serde_json::Map::new();
                m.insert("ok".into(), true.into());
                m.insert(
                    "files".into(),
                    files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>()
                        .into(),
                );
                println!("{}", json_result_line(m, shown));
            } else {
                println!(
                    "man: wrote {} pages to {}",
                    files.len(),
                    g.out_dir.unwrap_or_default()
                );
            }
            exit::OK
        }
        Err(e) => fail(&e, json, shown),
    }
}

fn print_version(json: bool, argv: &[String]) -> i32 {
    if json {
        println!("{}", json_result_line(cli::version_json(), argv));
    } else {
        print!("{}", cli::version_text());
    }
    exit::OK
}

fn fail(err: &LauncherError, json: bool, argv: &[String]) -> i32 {
    let code = gait_sdk::cli::emit(Err(err.to_gait_error()), json, argv, "gait");
    let _ = std::io::stdout().flush();
    code
}
