//! `gait-ui`: flag parsing and startup output for `gait ui`. The server lives in the library;
//! errors become exit codes only through `gait_sdk::cli::emit`.

use clap::{Args, Parser, Subcommand};
use gait_sdk::cli::{emit, parse_args, CommandOutput, ParseOutcome};
use gait_sdk::manifest::PluginManifest;
use gait_sdk::GaitError;
use gait_ui::listen::{self, DEFAULT_LISTEN};
use gait_ui::server::{self, Server};
use gait_ui::workspace::Workspace;
use gait_ui::UiError;
use serde_json::{json, Map};

const ABOUT: &str = "Local web UI: runs, packs, jobs and traces of this directory, on loopback";
const UI_HELP: &str =
    "The page lists ./gait-out runpacks and packs with their verify status, durable
jobs with their checkpoints, and gate traces; it runs the demo and verifies any listed artifact.
It serves 127.0.0.1 unless --allow-non-loopback is given and refuses requests from other web
origins. See docs/ui.md. Exit codes: 1 bind or serve failure, 6 invalid flags.";
const EXPLAIN: &str = "gait ui serves a local web page over this directory's runs, packs, jobs and traces; actions run fixed gait commands.";

#[derive(Parser, Debug)]
#[command(name = "gait", bin_name = "gait", version, about = ABOUT, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand, Debug)]
enum Top {
    /// Serve the local web UI (loopback only by default).
    #[command(after_help = UI_HELP)]
    Ui(UiFlags),
}

/// Go's `strconv.ParseBool` spellings, so `--open-browser=0` works as with the reference.
fn go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid boolean value {s:?}")),
    }
}

#[derive(Args, Debug)]
struct UiFlags {
    /// Address to listen on, host:port (port 0 picks a free one).
    #[arg(long, default_value = DEFAULT_LISTEN)]
    listen: String,
    /// Open the UI in the default browser (--open-browser=false to skip).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "true", value_parser = go_bool)]
    open_browser: bool,
    /// Allow a non-loopback --listen address (anyone who can reach it can run the actions).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false", hide_default_value = true, value_parser = go_bool)]
    allow_non_loopback: bool,
    /// Print the startup line as JSON.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false", hide_default_value = true, value_parser = go_bool)]
    json: bool,
    #[arg(hide = true)]
    positional: Vec<String>,
}

fn manifest() -> PluginManifest {
    PluginManifest::new(
        "ui",
        env!("CARGO_PKG_VERSION"),
        ABOUT,
        &[(
            "ui",
            "Serve the local web UI (runs, packs, jobs, traces) on loopback",
        )],
    )
}

fn fail(e: impl Into<GaitError>, json: bool, argv: &[String]) -> ! {
    std::process::exit(emit(Err(e.into()), json, argv, "ui"));
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if gait_sdk::cli_spec::answer_probe::<Cli>(&argv, manifest) {
        return;
    }
    if let Some(line) = gait_sdk::cli::explain_line(&argv, &[("ui", EXPLAIN)]) {
        println!("{line}");
        return;
    }
    let cli = match parse_args::<Cli>(argv.clone(), "gait") {
        ParseOutcome::Parsed(c) => c,
        ParseOutcome::Exit(code) => std::process::exit(code),
    };
    let Top::Ui(f) = cli.command;
    if !f.positional.is_empty() {
        fail(
            GaitError::invalid("unexpected positional arguments"),
            f.json,
            &argv,
        );
    }
    let addrs =
        listen::resolve(&f.listen, f.allow_non_loopback).unwrap_or_else(|e| fail(e, f.json, &argv));
    let root = std::env::current_dir()
        .and_then(std::path::absolute)
        .unwrap_or_else(|e| {
            fail(
                UiError::Serve(format!("working directory: {e}")),
                f.json,
                &argv,
            )
        });
    let ws = Workspace::new(root, gait_ui::actions::find_launcher());
    let server = Server::bind(&addrs, ws).unwrap_or_else(|e| fail(e, f.json, &argv));
    let bound = server.local_addr().to_string();
    let url = server.url();
    let mut m = Map::new();
    m.insert("listen".into(), json!(bound));
    m.insert("ok".into(), json!(true));
    m.insert("url".into(), json!(url));
    let text = format!("ui listening={bound}\nui url={url}\n");
    emit(Ok(CommandOutput::new(m, text, 0)), f.json, &argv, "ui");
    if f.open_browser {
        server::open_browser(&url);
    }
    if let Err(e) = server.serve() {
        fail(e, f.json, &argv);
    }
}
