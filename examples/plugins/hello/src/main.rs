//! `gait-hello`: flag parsing and rendering only; the greeting lives in the library.

#![forbid(unsafe_code)]

use clap::{Args, Parser, Subcommand};
use gait_sdk::cli::{emit, parse_args, ParseOutcome};
use gait_sdk::manifest::{PluginManifest, MANIFEST_FLAG};
use gait_sdk::GaitError;

const ABOUT: &str = "Example plugin: print a greeting";

#[derive(Parser, Debug)]
#[command(name = "gait", bin_name = "gait", version, about = ABOUT, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand, Debug)]
enum Top {
    /// Print a greeting.
    Hello(HelloFlags),
}

#[derive(Args, Debug)]
struct HelloFlags {
    /// Who to greet.
    #[arg(long, default_value = "world")]
    name: String,
    /// Print machine-readable JSON.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false", hide_default_value = true, hide_possible_values = true)]
    json: bool,
}

/// What this plugin tells the launcher: its name, version, contract version and commands.
fn manifest() -> PluginManifest {
    PluginManifest::new(
        "hello",
        env!("CARGO_PKG_VERSION"),
        ABOUT,
        &[("hello", "Print a greeting (example plugin)")],
    )
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some(MANIFEST_FLAG) {
        println!("{}", manifest().to_json());
        return;
    }
    // The launcher runs `gait-hello hello <args…>`, so clap sees `hello` as the subcommand.
    let cli = match parse_args::<Cli>(argv.clone(), "gait") {
        ParseOutcome::Parsed(c) => c,
        ParseOutcome::Exit(code) => std::process::exit(code),
    };
    let (result, json, label) = match cli.command {
        Top::Hello(f) => (
            gait_hello::hello(&f.name).map_err(GaitError::from),
            f.json,
            "hello",
        ),
    };
    std::process::exit(emit(result, json, &argv, label));
}
