//! What every plugin binary shares at its edge: Go-style flag spelling, turning clap's
//! outcome into the error contract, and printing a command's result or error. A plugin's
//! `main` hands its result to [`emit`], the one place that maps errors to exit codes.

use crate::error::{exit, GaitError};
use crate::output;
use serde_json::{Map, Value};
use std::io::Write;

/// A successful command's result.
#[derive(Debug, Clone, Default)]
pub struct CommandOutput {
    /// JSON members printed with `--json` (`ok` is added when missing).
    pub json: Map<String, Value>,
    /// Lines printed without `--json`.
    pub text: String,
    /// Exit code: 0, or a verdict code (3 blocked, 4 approval required, 2 verify failed…).
    pub exit: i32,
}

impl CommandOutput {
    pub fn new(json: Map<String, Value>, text: impl Into<String>, exit: i32) -> Self {
        CommandOutput {
            json,
            text: text.into(),
            exit,
        }
    }
}

/// Prints the result (JSON or text) and returns the process exit code.
pub fn emit(
    result: Result<CommandOutput, GaitError>,
    json: bool,
    argv: &[String],
    label: &str,
) -> i32 {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match result {
        Ok(mut o) => {
            if json {
                o.json.entry("ok").or_insert(Value::Bool(true));
                let _ = writeln!(out, "{}", output::json_result_line(o.json, argv));
            } else if !o.text.is_empty() {
                let _ = write!(out, "{}", o.text);
                if !o.text.ends_with('\n') {
                    let _ = writeln!(out);
                }
            }
            o.exit
        }
        Err(e) => {
            if json {
                let _ = writeln!(out, "{}", output::json_result_line(e.envelope(), argv));
            } else {
                let _ = writeln!(std::io::stderr(), "{label} error: {}", e.message);
                if let Some(h) = &e.hint {
                    let _ = writeln!(std::io::stderr(), "hint: {h}");
                }
            }
            e.exit_code()
        }
    }
}

/// Rewrites Go-style single-dash long flags (`-policy x`, `-json`) to `--policy x` when the
/// name is one of `long_names`, stopping at `--`.
pub fn go_style_args(args: Vec<String>, long_names: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut done = false;
    for a in args {
        if done {
            out.push(a);
            continue;
        }
        if a == "--" {
            done = true;
            out.push(a);
            continue;
        }
        if a.len() > 2 && a.starts_with('-') && !a.starts_with("--") {
            let name = a[1..].split('=').next().unwrap_or("");
            if long_names.iter().any(|n| n == name) {
                out.push(format!("-{a}"));
                continue;
            }
        }
        out.push(a);
    }
    out
}

/// Every long flag name in a clap command tree.
pub fn long_flag_names(cmd: &clap::Command) -> Vec<String> {
    let mut names = Vec::new();
    collect_longs(cmd, &mut names);
    names.sort();
    names.dedup();
    names
}

fn collect_longs(cmd: &clap::Command, names: &mut Vec<String>) {
    for a in cmd.get_arguments() {
        if let Some(l) = a.get_long() {
            names.push(l.to_string());
        }
    }
    for s in cmd.get_subcommands() {
        collect_longs(s, names);
    }
}

/// What clap's parse outcome means for the process.
pub enum ParseOutcome<T> {
    Parsed(T),
    /// Help or version text was requested: print it, exit 0.
    Exit(i32),
}

/// Parses `args` (program name first) with clap, printing help itself and turning usage errors
/// into invalid-input errors (exit 6), in the JSON envelope when `--json` was given.
pub fn parse_args<T: clap::Parser>(args: Vec<String>, label: &str) -> ParseOutcome<T> {
    let cmd = T::command();
    let longs = long_flag_names(&cmd);
    let args = go_style_args(args, &longs);
    let json = args.iter().any(|a| a == "--json" || a == "--json=true");
    match T::try_parse_from(&args) {
        Ok(t) => ParseOutcome::Parsed(t),
        Err(e) => {
            use clap::error::ErrorKind;
            match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = e.print();
                    let code = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                        exit::INVALID_INPUT
                    } else {
                        exit::OK
                    };
                    ParseOutcome::Exit(code)
                }
                _ => {
                    let rendered = e.render().to_string();
                    let first = rendered
                        .lines()
                        .next()
                        .unwrap_or("invalid arguments")
                        .trim_start_matches("error: ")
                        .to_string();
                    let err = GaitError::invalid(first);
                    let _ = label;
                    if !json {
                        let _ = write!(std::io::stderr(), "{rendered}");
                        return ParseOutcome::Exit(err.exit_code());
                    }
                    ParseOutcome::Exit(emit(Err(err), json, &args, label))
                }
            }
        }
    }
}

/// The one-line description to print for `gait <command> … --explain` (§1.4: anywhere in the
/// command's arguments, before any parsing), given each served command's line.
pub fn explain_line<'a>(argv: &[String], lines: &[(&str, &'a str)]) -> Option<&'a str> {
    let top = argv.get(1)?;
    let (_, line) = lines.iter().find(|(name, _)| name == top)?;
    argv[2..]
        .iter()
        .any(|a| a == "--explain" || a == "-explain")
        .then_some(*line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_dash_long_flags_are_rewritten() {
        let longs = vec!["policy".to_string(), "json".to_string()];
        let args: Vec<String> = ["x", "-policy", "p", "-json", "-z", "--", "-policy"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            go_style_args(args, &longs),
            vec!["x", "--policy", "p", "--json", "-z", "--", "-policy"]
        );
    }
}
