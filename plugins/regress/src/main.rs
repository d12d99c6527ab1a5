//! `gait-regress`: flag parsing, progress rendering and output for `gait regress`,
//! `gait capture` and `gait tour`. Behaviour lives in the library; errors become exit codes
//! only through `gait_sdk::cli::emit`.

use clap::{Args, Parser, Subcommand};
use gait_regress::capture::{self, CaptureArgs};
use gait_regress::init::{self, FixtureArgs};
use gait_regress::run::{self, RunArgs};
use gait_regress::tour;
use gait_sdk::cli::{emit, parse_args, CommandOutput, ParseOutcome};
use gait_sdk::manifest::PluginManifest;
use gait_sdk::GaitError;
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const ABOUT: &str = "Regressions: turn an incident runpack or pack into a deterministic CI gate (regress, capture, tour)";

const REGRESS_HELP: &str = "Examples:
  gait regress bootstrap --from run_demo --junit reports/junit.xml
  gait regress add --from ./incidents/runpack_run_x.zip --name refund-loop
  gait regress add --from ./incidents/callpack.zip       (the embedded runpack is used)
  gait regress run --junit reports/junit.xml --json

Files: gait.yaml (the fixture set; JSON or YAML, hand edits are kept), fixtures/<name>/runpack.zip,
fixtures/<name>/fixture.json (expectations), regress_result.json. See docs/ci.md.";

const RUN_HELP: &str =
    "Graders: schema_validation, expected_exit_code, trajectory, diff, and context_conformance
(with --context-conformance or when a fixture asks for it).

Exit codes: 0 every grader passed; 5 regression (drift; see the JUnit report or
regress_result.json); 6 invalid input (missing fixture, corrupted gait.yaml, runpack that fails
verification); 1 local I/O failure.";

#[derive(Parser, Debug)]
#[command(name = "gait", bin_name = "gait", version, about = ABOUT, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand, Debug)]
enum Top {
    /// Regression fixtures: init, add, run, bootstrap (exit 0 pass, 5 drift, 6 bad input).
    #[command(subcommand, after_help = REGRESS_HELP)]
    Regress(RegressCmd),
    /// Write a capture receipt naming the runpack or trace an incident is about.
    Capture(CaptureFlags),
    /// Walk through demo → verify → fixture → regress run in one go.
    Tour {
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Args, Debug, Default, Clone)]
struct JsonFlag {
    /// Print one line of machine-readable JSON.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false", hide_default_value = true, hide_possible_values = true)]
    json: bool,
}

#[derive(Args, Debug, Clone)]
struct SourceFlags {
    /// Evidence to turn into a fixture: a run id (looked up as
    /// ./gait-out/runpack_<id>.zip, then ~/.gait/runpacks/), a runpack zip, a run pack or
    /// callpack zip (its embedded runpack is used), or a session chain JSON.
    #[arg(long, default_value = "", hide_default_value = true)]
    from: String,
    /// With a session chain: `latest` (default) or a checkpoint index.
    #[arg(long, default_value = "", hide_default_value = true)]
    checkpoint: String,
    /// Fixture name (^[a-z0-9][a-z0-9._-]*$); default: derived from the run id.
    #[arg(long, default_value = "", hide_default_value = true)]
    name: String,
}

impl SourceFlags {
    fn args(&self) -> FixtureArgs {
        FixtureArgs {
            from: self.from.clone(),
            checkpoint: self.checkpoint.clone(),
            name: self.name.clone(),
        }
    }
}

#[derive(Args, Debug, Clone)]
struct RunFlags {
    /// Fixture set to run (JSON or YAML).
    #[arg(long, default_value = "gait.yaml")]
    config: String,
    /// Where to write the result (gait.regress.result).
    #[arg(long, default_value = "regress_result.json")]
    output: String,
    /// Also write a JUnit XML report here (parent directories are created).
    #[arg(long, default_value = "", hide_default_value = true)]
    junit: String,
    /// Accepted for compatibility; every grader is deterministic.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false", hide_default_value = true, hide_possible_values = true)]
    allow_nondeterministic: bool,
    /// Grade context evidence for every fixture (context_conformance grader).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false", hide_default_value = true, hide_possible_values = true)]
    context_conformance: bool,
    /// Accept context drift that only changes retrieval times.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false", hide_default_value = true, hide_possible_values = true)]
    allow_context_runtime_drift: bool,
}

impl RunFlags {
    fn args(&self) -> RunArgs {
        RunArgs {
            config: self.config.clone(),
            output: self.output.clone(),
            junit: self.junit.clone(),
            context_conformance: self.context_conformance,
            allow_context_runtime_drift: self.allow_context_runtime_drift,
            allow_nondeterministic: self.allow_nondeterministic,
        }
    }
}

#[derive(Subcommand, Debug)]
enum RegressCmd {
    /// Create a fixture (fixtures/<name>/ and its gait.yaml entry) from a run, runpack, pack,
    /// callpack or session chain.
    Init {
        #[command(flatten)]
        source: SourceFlags,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Like init; --from may also be a capture receipt written by `gait capture`.
    Add {
        #[command(flatten)]
        source: SourceFlags,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Grade every fixture: exit 0 when all pass, 5 when a run drifted, 6 on bad input.
    #[command(after_help = RUN_HELP)]
    Run {
        #[command(flatten)]
        run: RunFlags,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// init, then run: the one command that turns an incident into a CI gate.
    Bootstrap {
        #[command(flatten)]
        source: SourceFlags,
        #[command(flatten)]
        run: RunFlags,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Args, Debug)]
struct CaptureFlags {
    /// A run id, runpack zip, gate trace JSON or session chain JSON.
    #[arg(long, default_value = "", hide_default_value = true)]
    from: String,
    /// With a session chain: `latest` (default) or a checkpoint index.
    #[arg(long, default_value = "", hide_default_value = true)]
    checkpoint: String,
    /// Where to write the receipt.
    #[arg(long, default_value = "gait-out/capture.json")]
    out: String,
    /// Deprecated spelling of --out.
    #[arg(long, hide = true)]
    save_as: Option<String>,
    #[command(flatten)]
    json: JsonFlag,
}

fn manifest() -> PluginManifest {
    PluginManifest::new(
        "regress",
        env!("CARGO_PKG_VERSION"),
        ABOUT,
        &[
            (
                "regress",
                "Turn runs into regression fixtures and grade them (init, add, run, bootstrap)",
            ),
            (
                "capture",
                "Write a capture receipt for an incident's runpack or trace",
            ),
            ("tour", "Walk through demo, verify, fixture and regress run"),
        ],
    )
}

const EXPLAIN: &[(&str, &str)] = &[
    (
        "regress",
        "gait regress turns runpacks into fixtures and grades them deterministically so CI fails when behaviour drifts.",
    ),
    (
        "capture",
        "gait capture writes a receipt naming the runpack or trace an incident is about, for gait regress add.",
    ),
    (
        "tour",
        "gait tour runs the demo, verifies it, turns it into a regression fixture and runs it.",
    ),
];

/// A progress line on stderr (`regress: 120/500 fixtures`), on a terminal only and never
/// with `--json`; cleared when the run ends.
struct ProgressLine {
    enabled: bool,
    last: Mutex<Option<Instant>>,
}

impl ProgressLine {
    fn new(json: bool) -> Self {
        ProgressLine {
            enabled: !json && std::io::stderr().is_terminal(),
            last: Mutex::new(None),
        }
    }

    fn update(&self, done: usize, total: usize) {
        if !self.enabled {
            return;
        }
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let finished = done >= total;
        if !finished && last.is_some_and(|t| now.duration_since(t) < Duration::from_millis(80)) {
            return;
        }
        *last = Some(now);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\rregress: {done}/{total} fixtures");
        if finished {
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = err.flush();
    }
}

fn run(cli: Cli, argv: &[String]) -> (Result<CommandOutput, GaitError>, bool, &'static str) {
    let json_requested = argv.iter().any(|a| a == "--json" || a == "--json=true");
    let line = ProgressLine::new(json_requested);
    let progress = |done: usize, total: usize| line.update(done, total);
    match cli.command {
        Top::Regress(cmd) => match cmd {
            RegressCmd::Init { source, json } => (
                init::init(&source.args()).map_err(Into::into),
                json.json,
                "regress init",
            ),
            RegressCmd::Add { source, json } => (
                init::add(&source.args()).map_err(Into::into),
                json.json,
                "regress add",
            ),
            RegressCmd::Run { run, json } => (
                run::run(&run.args(), &progress).map_err(Into::into),
                json.json,
                "regress run",
            ),
            RegressCmd::Bootstrap { source, run, json } => (
                init::bootstrap(&source.args(), &run.args(), &progress).map_err(Into::into),
                json.json,
                "regress bootstrap",
            ),
        },
        Top::Capture(f) => {
            let r = capture::capture(&CaptureArgs {
                from: f.from,
                checkpoint: f.checkpoint,
                out: f.out,
                save_as: f.save_as,
            })
            .map_err(|e| {
                GaitError::from(e)
                    .with_extra("schema_id", json!(capture::RECEIPT_SCHEMA))
                    .with_extra("schema_version", json!(capture::SCHEMA_VERSION))
            });
            (r, f.json.json, "capture")
        }
        Top::Tour { json } => (tour::tour(&progress).map_err(Into::into), json.json, "tour"),
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if gait_sdk::cli_spec::answer_probe::<Cli>(&argv, manifest) {
        return;
    }
    if let Some(line) = gait_sdk::cli::explain_line(&argv, EXPLAIN) {
        println!("{line}");
        return;
    }
    let cli = match parse_args::<Cli>(argv.clone(), "gait") {
        ParseOutcome::Parsed(c) => c,
        ParseOutcome::Exit(code) => std::process::exit(code),
    };
    let (result, json, label) = run(cli, &argv);
    let code = emit(result, json, &argv, label);
    std::process::exit(code);
}
