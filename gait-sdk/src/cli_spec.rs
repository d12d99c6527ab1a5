//! The plugin command-line description the launcher assembles into shell completions and man
//! pages: a plugin answers [`CLI_SPEC_FLAG`] with its clap definitions as JSON, so completions
//! and man pages come from the same definitions that parse its flags, across process
//! boundaries and plugin versions.
//!
//! It must not carry behaviour: names, help, flags, value choices and subcommands only.

use crate::manifest::{PluginManifest, MANIFEST_FLAG};
use clap::{Arg, ArgAction, Command};
use serde_json::{json, Map, Value};

/// Asks a plugin for its command-line description.
pub const CLI_SPEC_FLAG: &str = "--gait-cli-spec";
/// Version of the description format.
pub const CLI_SPEC_VERSION: u64 = 1;

/// Answers the launcher's probes (`--gait-manifest`, `--gait-cli-spec`) when `argv[1]` is one;
/// returns whether it did, in which case `main` should return.
pub fn answer_probe<C: clap::CommandFactory>(
    argv: &[String],
    manifest: impl FnOnce() -> PluginManifest,
) -> bool {
    match argv.get(1).map(String::as_str) {
        Some(MANIFEST_FLAG) => println!("{}", manifest().to_json()),
        Some(CLI_SPEC_FLAG) => println!("{}", describe(&C::command())),
        _ => return false,
    }
    true
}

/// `{"cli_spec_version":1,"command":{…}}` for `cmd`.
pub fn describe(cmd: &Command) -> String {
    json!({"cli_spec_version": CLI_SPEC_VERSION, "command": command_json(cmd)}).to_string()
}

fn command_json(cmd: &Command) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), cmd.get_name().into());
    if let Some(a) = cmd.get_about() {
        m.insert("about".into(), a.to_string().into());
    }
    if let Some(a) = cmd.get_long_about() {
        m.insert("long_about".into(), a.to_string().into());
    }
    if cmd.is_hide_set() {
        m.insert("hidden".into(), true.into());
    }
    let args: Vec<Value> = cmd
        .get_arguments()
        .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
        .map(arg_json)
        .collect();
    if !args.is_empty() {
        m.insert("args".into(), Value::Array(args));
    }
    let subs: Vec<Value> = cmd.get_subcommands().map(command_json).collect();
    if !subs.is_empty() {
        m.insert("subcommands".into(), Value::Array(subs));
    }
    Value::Object(m)
}

fn arg_json(a: &Arg) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), a.get_id().as_str().into());
    if let Some(l) = a.get_long() {
        m.insert("long".into(), l.into());
    }
    if let Some(s) = a.get_short() {
        m.insert("short".into(), s.to_string().into());
    }
    if let Some(h) = a.get_help() {
        m.insert("help".into(), h.to_string().into());
    }
    m.insert("takes_value".into(), a.get_action().takes_values().into());
    if let Some(names) = a.get_value_names() {
        if let Some(n) = names.first() {
            m.insert("value_name".into(), n.as_str().into());
        }
    }
    let values: Vec<Value> = a
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().into())
        .collect();
    if !values.is_empty() {
        m.insert("possible_values".into(), Value::Array(values));
    }
    if a.is_hide_set() {
        m.insert("hidden".into(), true.into());
    }
    if a.is_required_set() {
        m.insert("required".into(), true.into());
    }
    if a.is_positional() {
        m.insert("positional".into(), true.into());
    }
    Value::Object(m)
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// Rebuilds a clap command from a plugin's description (the inner `command` object). Returns
/// `None` for anything that is not a description: plugin output is untrusted text.
pub fn command_from_json(v: &Value) -> Option<Command> {
    build(v, 0)
}

/// Descriptions nest as deep as the plugin's command tree; more is not a command line.
const MAX_DEPTH: usize = 16;

fn build(v: &Value, depth: usize) -> Option<Command> {
    if depth > MAX_DEPTH {
        return None;
    }
    let name = text(v, "name").filter(|n| !n.is_empty() && !n.starts_with('-'))?;
    let mut cmd = Command::new(name).disable_help_subcommand(true);
    if let Some(a) = text(v, "about") {
        cmd = cmd.about(a);
    }
    if let Some(a) = text(v, "long_about") {
        cmd = cmd.long_about(a);
    }
    cmd = cmd.hide(flag(v, "hidden"));
    for a in v
        .get("args")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(id) = text(a, "id").filter(|i| !i.is_empty()) else {
            continue;
        };
        let mut arg = Arg::new(id);
        if let Some(l) = text(a, "long").filter(|l| !l.is_empty()) {
            arg = arg.long(l);
        }
        if let Some(s) = text(a, "short").and_then(|s| s.chars().next()) {
            arg = arg.short(s);
        }
        if let Some(h) = text(a, "help") {
            arg = arg.help(h);
        }
        let takes_value = flag(a, "takes_value") || flag(a, "positional");
        arg = arg.action(if takes_value {
            ArgAction::Set
        } else {
            ArgAction::SetTrue
        });
        if let Some(n) = text(a, "value_name") {
            arg = arg.value_name(n);
        }
        let values: Vec<String> = a
            .get("possible_values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_owned))
            .collect();
        if !values.is_empty() {
            arg = arg.value_parser(clap::builder::PossibleValuesParser::new(values));
        }
        cmd = cmd.arg(arg.hide(flag(a, "hidden")).required(flag(a, "required")));
    }
    for s in v
        .get("subcommands")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        cmd = cmd.subcommand(build(s, depth + 1)?);
    }
    Some(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_names_flags_and_choices() {
        let original = Command::new("gait").about("top").subcommand(
            Command::new("gate").about("gate things").subcommand(
                Command::new("eval")
                    .arg(Arg::new("policy").long("policy").help("policy file"))
                    .arg(
                        Arg::new("mode")
                            .long("key-mode")
                            .value_parser(["dev", "prod"]),
                    )
                    .arg(Arg::new("json").long("json").action(ArgAction::SetTrue))
                    .arg(Arg::new("file")),
            ),
        );
        let text = describe(&original);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["cli_spec_version"], 1);
        let rebuilt = command_from_json(&v["command"]).unwrap();
        assert_eq!(describe(&rebuilt), text);
        let eval = rebuilt
            .find_subcommand("gate")
            .and_then(|g| g.find_subcommand("eval"))
            .unwrap();
        let mode = eval.get_arguments().find(|a| a.get_id() == "mode").unwrap();
        assert_eq!(mode.get_possible_values().len(), 2);
    }

    #[test]
    fn hostile_descriptions_are_refused_not_trusted() {
        assert!(command_from_json(&json!({"name": "--evil"})).is_none());
        assert!(command_from_json(&json!({"about": "no name"})).is_none());
        let mut deep = json!({"name": "x"});
        for _ in 0..40 {
            deep = json!({"name": "x", "subcommands": [deep]});
        }
        assert!(command_from_json(&deep).is_none());
    }
}
