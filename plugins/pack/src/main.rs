//! `gait-pack`: flag parsing and rendering for the evidence commands. Behaviour lives in the
//! library; errors become exit codes only through `gait_sdk::cli::emit`.

use clap::{Args, Parser, Subcommand};
use gait_pack::chain::{self, ChainArgs};
use gait_pack::incident::{self, IncidentArgs};
use gait_pack::migrate::{self, MigrateArgs};
use gait_pack::packs::{self, BuildArgs, ExportArgs};
use gait_pack::report::{self, TopArgs};
use gait_pack::runs::{self, RecordArgs, ReplayArgs, VerifyKeys};
use gait_pack::sessions::{self, AppendArgs, CheckpointArgs, SessionError, StartArgs};
use gait_pack::{demo, error::PackError};
use gait_sdk::cli::{emit, parse_args, CommandOutput, ParseOutcome};
use gait_sdk::manifest::PluginManifest;
use gait_sdk::GaitError;
use serde_json::json;
use std::io::Write as _;

const ABOUT: &str = "Evidence: record runs as runpacks, verify, replay and diff them, build and verify PackSpec packs, incident packs, risk reports, migration, and the demo";

#[derive(Parser, Debug)]
#[command(name = "gait", bin_name = "gait", version, about = ABOUT, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand, Debug)]
enum Top {
    /// Verify a runpack by run id or path, or a session chain (exit 0 ok, 2 failed).
    Verify(VerifyFlags),
    /// Record, inspect, replay, diff and receipt runs.
    #[command(subcommand)]
    Run(RunCmd),
    /// Build, verify, inspect, diff and export PackSpec v1 packs.
    #[command(subcommand)]
    Pack(PackCmd),
    /// Record and verify a small offline run (or `--policy`: evaluate a high-risk intent).
    Demo(DemoFlags),
    /// Reports over recorded evidence (`top`: the riskiest actions).
    #[command(subcommand)]
    Report(ReportCmd),
    /// Incident evidence (`pack`: a run plus the traces and regress results around it).
    #[command(subcommand)]
    Incident(IncidentCmd),
    /// Re-encode a runpack with the current writer and verify it (exit 0; 2 if the input
    /// does not verify; 6 for bad input).
    Migrate(MigrateFlags),
}

#[derive(Subcommand, Debug)]
enum ReportCmd {
    /// Rank the riskiest actions across runpacks and gate traces and write
    /// `gait.report.top` (score: verdict + tool risk + failures + violations; see
    /// docs/secondary-commands.md).
    Top {
        /// Runs: comma-separated run ids, runpack paths or directories of runpacks
        /// (positionals are added to this list).
        #[arg(long, default_value = "", hide_default_value = true)]
        runs: String,
        #[arg(value_name = "RUNS")]
        positional: Vec<String>,
        /// Gate traces: comma-separated trace files or directories of them.
        #[arg(long, default_value = "", hide_default_value = true)]
        traces: String,
        /// How many actions to list: 1..20 (larger values are clamped to 20).
        #[arg(long, default_value_t = 5, allow_negative_numbers = true)]
        limit: i64,
        /// Report file, written atomically.
        #[arg(long, default_value = "./gait-out/report_top_actions.json")]
        out: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Subcommand, Debug)]
enum IncidentCmd {
    /// Build a PackSpec `run` pack of a run plus the gate traces and regress results found
    /// (beside the runpack, in ./gait-out and in .) within the window around the run.
    Pack {
        /// The run: a run id or runpack path.
        #[arg(long, default_value = "", hide_default_value = true)]
        from: String,
        /// Go duration added before the run's start and after its end.
        #[arg(long, default_value = "24h", allow_hyphen_values = true)]
        window: String,
        /// Evidence template: incident_response, soc2 or pci.
        #[arg(long, default_value = "incident_response")]
        template: String,
        /// Render a PDF report (not supported by this release: exit 6).
        #[arg(long)]
        render_pdf: bool,
        /// Output path (default ./gait-out/incident_pack_<run_id>.zip).
        #[arg(long, default_value = "", hide_default_value = true)]
        out: String,
        /// Case id recorded in incident/incident.json (A-Z a-z 0-9 . _ : -, up to 128).
        #[arg(long, default_value = "", hide_default_value = true)]
        case_id: String,
        #[command(flatten)]
        keys: KeyFlags,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Args, Debug)]
struct MigrateFlags {
    /// The runpack: a run id or runpack path (or the positional).
    #[arg(long, default_value = "", hide_default_value = true)]
    input: String,
    #[arg(value_name = "RUN_ID_OR_PATH")]
    positional: Vec<String>,
    /// Output path (default <input dir>/runpack_<run_id>_migrated.zip; must differ from
    /// the input).
    #[arg(long, default_value = "", hide_default_value = true)]
    out: String,
    /// Target format; only `v1` is supported.
    #[arg(long, default_value = "v1")]
    target: String,
    #[command(flatten)]
    json: JsonFlag,
}

#[derive(Args, Debug, Default, Clone)]
struct JsonFlag {
    /// Print machine-readable JSON.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false", hide_default_value = true, hide_possible_values = true)]
    json: bool,
}

#[derive(Args, Debug, Default, Clone)]
struct KeyFlags {
    /// Signing key mode (`dev` or `prod`; `none` for packs).
    #[arg(long, default_value = "", hide_default_value = true)]
    key_mode: String,
    /// Base64 Ed25519 private key file.
    #[arg(long, default_value = "", hide_default_value = true)]
    private_key: String,
    /// Environment variable holding the private key.
    #[arg(long, default_value = "", hide_default_value = true)]
    private_key_env: String,
}

#[derive(Args, Debug, Default, Clone)]
struct VerifyKeyFlags {
    /// `standard`, or `strict` (requires a verified signature and a key).
    #[arg(long, default_value = "", hide_default_value = true)]
    profile: String,
    /// Fail unless a signature verifies.
    #[arg(long)]
    require_signature: bool,
    /// Public key file to verify signatures with.
    #[arg(long, default_value = "", hide_default_value = true)]
    public_key: String,
    /// Environment variable holding the public key.
    #[arg(long, default_value = "", hide_default_value = true)]
    public_key_env: String,
    /// Private key file whose public half verifies signatures.
    #[arg(long, default_value = "", hide_default_value = true)]
    private_key: String,
    /// Environment variable holding that private key.
    #[arg(long, default_value = "", hide_default_value = true)]
    private_key_env: String,
}

impl VerifyKeyFlags {
    fn keys(&self) -> VerifyKeys {
        VerifyKeys {
            profile: self.profile.clone(),
            require_signature: self.require_signature,
            public_key: self.public_key.clone(),
            public_key_env: self.public_key_env.clone(),
            private_key: self.private_key.clone(),
            private_key_env: self.private_key_env.clone(),
        }
    }
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
struct VerifyFlags {
    #[command(subcommand)]
    sub: Option<VerifySub>,
    /// `<run_id|path>` (a path has a `/` or ends in `.zip`).
    #[arg(value_name = "RUN_ID_OR_PATH")]
    target: Vec<String>,
    #[command(flatten)]
    keys: VerifyKeyFlags,
    #[command(flatten)]
    json: JsonFlag,
}

/// `gait verify <form> …`. Anything that is not one of these names is a run id or path.
#[derive(Subcommand, Debug)]
enum VerifySub {
    /// Verify a session chain: checkpoint linkage and every checkpoint runpack (exit 0 ok,
    /// 2 failed, 6 unreadable or empty chain).
    SessionChain {
        /// Session chain JSON written by `gait run session checkpoint`.
        #[arg(long, default_value = "", hide_default_value = true)]
        chain: String,
        #[arg(value_name = "CHAIN", hide = true)]
        positional: Vec<String>,
        #[command(flatten)]
        keys: VerifyKeyFlags,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Verify an incident's evidence end to end: the runpack, its signed gate trace and the
    /// evidence pack built from it (exit 0 when every given part verifies, else 2).
    Chain {
        /// The run: a run id or runpack path (required).
        #[arg(long, default_value = "", hide_default_value = true)]
        run: String,
        /// A signed gate trace record (needs a verify key).
        #[arg(long, default_value = "", hide_default_value = true)]
        trace: String,
        /// An evidence pack of the same run (legacy guard pack, or a PackSpec run pack).
        #[arg(long, default_value = "", hide_default_value = true)]
        pack: String,
        #[command(flatten)]
        keys: VerifyKeyFlags,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Subcommand, Debug)]
enum RunCmd {
    /// Record a runpack from a run record JSON file.
    Record {
        /// Run record input (`{run, intents, results, refs, capture_mode, normalization}`).
        #[arg(long, default_value = "", hide_default_value = true)]
        input: String,
        #[arg(value_name = "INPUT", hide = true)]
        positional: Vec<String>,
        /// Output directory (default ./gait-out).
        #[arg(long, default_value = "", hide_default_value = true)]
        out_dir: String,
        /// Override the run id everywhere.
        #[arg(long, default_value = "", hide_default_value = true)]
        run_id: String,
        /// `reference` (default: digests only) or `raw` (keeps arguments and results).
        #[arg(long, default_value = "", hide_default_value = true)]
        capture_mode: String,
        /// ContextSpec v1 envelope (`gait.context.envelope`) whose records replace the input's
        /// receipts, digest and mode. Unreadable: a warning, or exit 6 in `required` mode.
        #[arg(long, default_value = "", hide_default_value = true)]
        context_envelope: String,
        /// Context evidence mode: best_effort or required.
        #[arg(long, default_value = "", hide_default_value = true)]
        context_evidence_mode: String,
        /// Allow receipts whose redaction mode is `raw` (sensitive).
        #[arg(long)]
        unsafe_context_raw: bool,
        #[command(flatten)]
        keys: KeyFlags,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// List a runpack's intents and results.
    Inspect {
        /// `<run_id|path>`.
        #[arg(long, default_value = "", hide_default_value = true)]
        from: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Replay a run: recorded results and stubs by default; real tools only behind interlocks.
    Replay {
        #[arg(value_name = "RUN_ID_OR_PATH")]
        target: Vec<String>,
        /// Execute allow-listed tools for real (needs --unsafe-real-tools and the env interlock).
        #[arg(long)]
        real_tools: bool,
        /// Acknowledge that real tools will run.
        #[arg(long)]
        unsafe_real_tools: bool,
        /// Comma-separated tools that may run for real.
        #[arg(long, default_value = "", hide_default_value = true)]
        allow_tools: String,
        /// Environment variable that must be `1` (default GAIT_ALLOW_REAL_REPLAY).
        #[arg(long, default_value = "", hide_default_value = true)]
        unsafe_real_tools_env: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Compare two runs (exit 0 unchanged, 2 changed).
    Diff {
        #[arg(value_name = "LEFT RIGHT")]
        args: Vec<String>,
        /// `full` (default) or `metadata` (ignores payloads).
        #[arg(long, default_value = "", hide_default_value = true)]
        privacy: String,
        /// Also write the summary to this file.
        #[arg(long, default_value = "", hide_default_value = true)]
        output: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Verify a runpack and print its ticket footer.
    Receipt {
        #[arg(long, default_value = "", hide_default_value = true)]
        from: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Session journals: start, append gate decisions, checkpoint them as runpacks, compact.
    #[command(subcommand)]
    Session(SessionCmd),
}

#[derive(Args, Debug, Default, Clone)]
struct JournalFlag {
    /// Session journal (JSONL; side files `<journal>.state.json` and `<journal>.lock`).
    #[arg(long, default_value = "", hide_default_value = true)]
    journal: String,
}

// Parsed once per process; boxing the flag-heavy `append` variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum SessionCmd {
    /// Create a session journal (a no-op when it exists for the same session and run).
    Start {
        #[command(flatten)]
        journal: JournalFlag,
        /// Session id.
        #[arg(long, default_value = "", hide_default_value = true)]
        session_id: String,
        /// Run id, `run_<name>`; checkpoints are recorded as `<run_id>_cp_<NNNN>`.
        #[arg(long, default_value = "", hide_default_value = true)]
        run_id: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Append one gate decision as the next event (sequence 1, 2, …).
    Append {
        #[command(flatten)]
        journal: JournalFlag,
        /// Tool the gate decided on.
        #[arg(long, default_value = "", hide_default_value = true)]
        tool: String,
        /// Gate verdict: allow, block, dry_run or require_approval.
        #[arg(long, default_value = "", hide_default_value = true)]
        verdict: String,
        /// Intent id (default in checkpoints: `intent_<sequence>`).
        #[arg(long, default_value = "", hide_default_value = true)]
        intent_id: String,
        /// Intent digest (sha256 hex); becomes the checkpoint intent's args_digest.
        #[arg(long, default_value = "", hide_default_value = true)]
        intent_digest: String,
        /// Policy digest (sha256 hex).
        #[arg(long, default_value = "", hide_default_value = true)]
        policy_digest: String,
        /// Policy id.
        #[arg(long, default_value = "", hide_default_value = true)]
        policy_id: String,
        /// Policy version.
        #[arg(long, default_value = "", hide_default_value = true)]
        policy_version: String,
        /// Comma-separated matched rule ids.
        #[arg(long, default_value = "", hide_default_value = true)]
        matched_rule_ids: String,
        /// Trace id of the gate decision.
        #[arg(long, default_value = "", hide_default_value = true)]
        trace_id: String,
        /// Path of the signed trace.
        #[arg(long, default_value = "", hide_default_value = true)]
        trace_path: String,
        /// Comma-separated reason codes.
        #[arg(long, default_value = "", hide_default_value = true)]
        reason_codes: String,
        /// Comma-separated violations.
        #[arg(long, default_value = "", hide_default_value = true)]
        violations: String,
        /// Job safety-invariant version.
        #[arg(long, default_value = "", hide_default_value = true)]
        safety_invariant_version: String,
        /// Job safety-invariant hash (sha256 hex).
        #[arg(long, default_value = "", hide_default_value = true)]
        safety_invariant_hash: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Show the session: last sequence, checkpoints and events not checkpointed yet.
    Status {
        #[command(flatten)]
        journal: JournalFlag,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Record the events since the last checkpoint as a runpack and rewrite the session chain.
    Checkpoint {
        #[command(flatten)]
        journal: JournalFlag,
        /// Runpack path (default gait-out/runpack_<run_id>_cp_<NNNN>.zip).
        #[arg(long, default_value = "", hide_default_value = true)]
        out: String,
        /// Session chain path (default <journal dir>/<journal name without extension>_chain.json).
        #[arg(long, default_value = "", hide_default_value = true)]
        chain_out: String,
        #[command(flatten)]
        keys: KeyFlags,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Drop events already covered by a verified checkpoint from the journal.
    Compact {
        #[command(flatten)]
        journal: JournalFlag,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Subcommand, Debug)]
enum PackCmd {
    /// Build a pack (`--type run`) from a run id or runpack path.
    Build {
        /// Pack type: run, job or authorization (call: not supported yet).
        #[arg(long = "type", default_value = "", hide_default_value = true)]
        pack_type: String,
        /// Source: run id or runpack path; for job packs a job id, job directory or state.json.
        #[arg(long, default_value = "", hide_default_value = true)]
        from: String,
        #[arg(value_name = "FROM", hide = true)]
        positional: Vec<String>,
        /// Output path (default: beside the source, `pack_<pack_id>.zip`).
        #[arg(long, default_value = "", hide_default_value = true)]
        out: String,
        /// Job root for job packs.
        #[arg(long, default_value = "", hide_default_value = true)]
        job_root: String,
        #[command(flatten)]
        keys: KeyFlags,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Verify a pack, a legacy runpack or a guard pack (exit 0 ok, 2 failed).
    Verify {
        #[arg(value_name = "PACK")]
        args: Vec<String>,
        #[arg(long, default_value = "", hide_default_value = true)]
        path: String,
        #[command(flatten)]
        keys: VerifyKeyFlags,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Show a pack's manifest, payload and lineage.
    Inspect {
        #[arg(value_name = "PACK")]
        args: Vec<String>,
        #[arg(long, default_value = "", hide_default_value = true)]
        path: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Compare two packs (exit 0 unchanged, 2 changed).
    Diff {
        #[arg(value_name = "LEFT RIGHT")]
        args: Vec<String>,
        /// Also write the bare result to this file.
        #[arg(long, default_value = "", hide_default_value = true)]
        output: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Export a pack's integrity and metrics as OTEL JSONL and/or PostgreSQL upserts.
    Export {
        #[arg(value_name = "PACK")]
        args: Vec<String>,
        #[arg(long, default_value = "", hide_default_value = true)]
        path: String,
        /// Append OTEL-style JSON lines here.
        #[arg(long, default_value = "", hide_default_value = true)]
        otel_out: String,
        /// Write PostgreSQL DDL and an upsert here.
        #[arg(long, default_value = "", hide_default_value = true)]
        postgres_sql_out: String,
        /// Table name (`table` or `schema.table`).
        #[arg(long, default_value = "", hide_default_value = true)]
        postgres_table: String,
        /// Include CREATE TABLE/INDEX statements (default true).
        #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "true", hide_default_value = true, hide_possible_values = true)]
        postgres_include_ddl: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Args, Debug)]
struct DemoFlags {
    /// Durable-job demo: a job lifecycle with an approval, through the job plugin.
    #[arg(long)]
    durable: bool,
    /// Policy demo: evaluate a destructive high-risk intent with the gate plugin.
    #[arg(long)]
    policy: bool,
    #[command(flatten)]
    json: JsonFlag,
}

fn manifest() -> PluginManifest {
    PluginManifest::new(
        "pack",
        env!("CARGO_PKG_VERSION"),
        ABOUT,
        &[
            ("verify", "Verify a runpack by run id or path"),
            ("run", "Record, inspect, replay, diff and receipt runs"),
            (
                "pack",
                "Build, verify, inspect, diff and export PackSpec packs",
            ),
            ("demo", "Record and verify an offline demo run"),
            ("report", "Rank the riskiest actions across runs and traces"),
            (
                "incident",
                "Pack a run with the traces and regress results around it",
            ),
            ("migrate", "Re-encode a runpack with the current writer"),
        ],
    )
}

const EXPLAIN: &[(&str, &str)] = &[
    (
        "verify",
        "gait verify checks a runpack's file hashes, manifest digest and signatures offline.",
    ),
    (
        "run",
        "gait run records agent runs as runpacks and replays, inspects and diffs them.",
    ),
    (
        "pack",
        "gait pack builds and verifies PackSpec v1 evidence packs, and diffs and exports them.",
    ),
    (
        "demo",
        "gait demo records and verifies a small offline run to show Gait end to end.",
    ),
    (
        "report",
        "gait report ranks the riskiest agent actions across runpacks and gate traces.",
    ),
    (
        "incident",
        "gait incident packs a run with the traces and regress results around it into one verifiable pack.",
    ),
    (
        "migrate",
        "gait migrate re-encodes a runpack with the current writer and verifies the result.",
    ),
];

/// Groups whose `--help` is a usage error (exit 6), as the reference's are.
const STRICT_GROUPS: &[&str] = &["report", "incident"];

fn pack_err(op: &str, e: PackError) -> GaitError {
    GaitError::from(e)
        .with_extra("schema_id", json!(packs::OUTPUT_SCHEMA))
        .with_extra("schema_version", json!("1.0.0"))
        .with_extra("operation", json!(op))
}

fn first(flag: &str, positional: &[String]) -> Result<String, GaitError> {
    if !flag.trim().is_empty() {
        return Ok(flag.trim().to_string());
    }
    match positional {
        [] => Ok(String::new()),
        [p] => Ok(p.clone()),
        _ => Err(GaitError::invalid("unexpected positional arguments")),
    }
}

fn run(cli: Cli) -> (Result<CommandOutput, GaitError>, bool, &'static str) {
    match cli.command {
        Top::Verify(f) => match f.sub {
            None => (
                runs::verify(&f.target, &f.keys.keys()).map_err(Into::into),
                f.json.json,
                "verify",
            ),
            Some(VerifySub::SessionChain {
                chain,
                positional,
                keys,
                json,
            }) => {
                let r = first(&chain, &positional).and_then(|chain| {
                    sessions::verify_session_chain_command(&chain, &keys.keys()).map_err(|e| {
                        let e = GaitError::from(e);
                        if chain.trim().is_empty() {
                            e
                        } else {
                            e.with_extra("chain_path", json!(chain.trim()))
                        }
                    })
                });
                (r, json.json, "verify session-chain")
            }
            Some(VerifySub::Chain {
                run,
                trace,
                pack,
                keys,
                json,
            }) => (
                chain::verify_chain(&ChainArgs {
                    run,
                    trace,
                    pack,
                    keys: keys.keys(),
                })
                .map_err(Into::into),
                json.json,
                "verify chain",
            ),
        },
        Top::Demo(f) => (demo::demo(f.durable, f.policy), f.json.json, "demo"),
        Top::Report(ReportCmd::Top {
            runs,
            positional,
            traces,
            limit,
            out,
            json,
        }) => {
            let mut all = vec![runs];
            all.extend(positional);
            (
                report::top(&TopArgs {
                    runs: all,
                    traces,
                    limit,
                    out,
                })
                .map_err(Into::into),
                json.json,
                "report top",
            )
        }
        Top::Incident(IncidentCmd::Pack {
            from,
            window,
            template,
            render_pdf,
            out,
            case_id,
            keys,
            json,
        }) => (
            incident::pack(&IncidentArgs {
                from,
                window,
                template,
                render_pdf,
                out,
                case_id,
                key_mode: keys.key_mode,
                private_key: keys.private_key,
                private_key_env: keys.private_key_env,
            })
            .map_err(Into::into),
            json.json,
            "incident pack",
        ),
        Top::Migrate(f) => {
            let r = first(&f.input, &f.positional).and_then(|input| {
                migrate::command(&MigrateArgs {
                    input,
                    out: f.out,
                    target: f.target,
                })
                .map_err(Into::into)
            });
            (r, f.json.json, "migrate")
        }
        Top::Run(cmd) => match cmd {
            RunCmd::Record {
                input,
                positional,
                out_dir,
                run_id,
                capture_mode,
                context_envelope,
                context_evidence_mode,
                unsafe_context_raw,
                keys,
                json,
            } => {
                let r = (|| {
                    let a = RecordArgs {
                        input: first(&input, &positional)?,
                        out_dir,
                        run_id,
                        capture_mode,
                        key_mode: keys.key_mode,
                        private_key: keys.private_key,
                        private_key_env: keys.private_key_env,
                        context_evidence_mode,
                        unsafe_context_raw,
                        context_envelope,
                    };
                    runs::record(&a).map_err(Into::into)
                })();
                (r, json.json, "run record")
            }
            RunCmd::Inspect { from, json } => (
                runs::inspect(&from).map_err(Into::into),
                json.json,
                "run inspect",
            ),
            RunCmd::Replay {
                target,
                real_tools,
                unsafe_real_tools,
                allow_tools,
                unsafe_real_tools_env,
                json,
            } => {
                let r = match target.as_slice() {
                    [] | [_] => runs::replay(&ReplayArgs {
                        target: target.first().cloned().unwrap_or_default(),
                        real_tools,
                        unsafe_real_tools,
                        allow_tools,
                        unsafe_real_tools_env,
                    })
                    .map_err(Into::into),
                    _ => Err(GaitError::invalid("expected run_id or path")),
                };
                (
                    r.map_err(|e| {
                        if unsafe_real_tools {
                            e.with_extra("requested_unsafe", json!(true))
                        } else {
                            e
                        }
                    }),
                    json.json,
                    "run replay",
                )
            }
            RunCmd::Diff {
                args,
                privacy,
                output,
                json,
            } => (
                runs::diff(&args, &privacy, &output).map_err(Into::into),
                json.json,
                "run diff",
            ),
            RunCmd::Receipt { from, json } => (
                runs::receipt(&from).map_err(Into::into),
                json.json,
                "run receipt",
            ),
            RunCmd::Session(cmd) => run_session(cmd),
        },
        Top::Pack(cmd) => match cmd {
            PackCmd::Build {
                pack_type,
                from,
                positional,
                out,
                job_root,
                keys,
                json,
            } => {
                let r = first(&from, &positional).and_then(|from| {
                    packs::build(&BuildArgs {
                        pack_type,
                        from,
                        out,
                        key_mode: keys.key_mode,
                        private_key: keys.private_key,
                        private_key_env: keys.private_key_env,
                        producer_version: String::new(),
                        job_root,
                    })
                    .map_err(|e| pack_err("build", e))
                });
                (
                    r.map_err(|e| add_pack_members(e, "build")),
                    json.json,
                    "pack build",
                )
            }
            PackCmd::Verify {
                args,
                path,
                keys,
                json,
            } => (
                packs::verify(&args, &path, &keys.keys()).map_err(|e| pack_err("verify", e)),
                json.json,
                "pack verify",
            ),
            PackCmd::Inspect { args, path, json } => (
                packs::inspect(&args, &path).map_err(|e| pack_err("inspect", e)),
                json.json,
                "pack inspect",
            ),
            PackCmd::Diff { args, output, json } => (
                packs::diff(&args, &output).map_err(|e| pack_err("diff", e)),
                json.json,
                "pack diff",
            ),
            PackCmd::Export {
                args,
                path,
                otel_out,
                postgres_sql_out,
                postgres_table,
                postgres_include_ddl,
                json,
            } => {
                let r = first(&path, &args).and_then(|p| {
                    if p.is_empty() {
                        return Err(pack_err(
                            "export",
                            PackError::invalid("expected <pack.zip>"),
                        ));
                    }
                    packs::export(&ExportArgs {
                        path: p,
                        otel_out,
                        postgres_sql_out,
                        postgres_table,
                        postgres_include_ddl,
                    })
                    .map_err(|e| pack_err("export", e))
                });
                (
                    r.map_err(|e| add_pack_members(e, "export")),
                    json.json,
                    "pack export",
                )
            }
        },
    }
}

/// `gait run session …`: errors carry `operation` and `journal` like the results do.
fn run_session(cmd: SessionCmd) -> (Result<CommandOutput, GaitError>, bool, &'static str) {
    let session_err = |op: &str, journal: &str| {
        let (op, journal) = (op.to_string(), journal.trim().to_string());
        move |e: SessionError| {
            GaitError::from(e)
                .with_extra("operation", json!(op))
                .with_extra("journal", json!(journal))
        }
    };
    match cmd {
        SessionCmd::Start {
            journal,
            session_id,
            run_id,
            json,
        } => (
            sessions::start(&StartArgs {
                journal: journal.journal.clone(),
                session_id,
                run_id,
            })
            .map_err(session_err("start", &journal.journal)),
            json.json,
            "run session start",
        ),
        SessionCmd::Append {
            journal,
            tool,
            verdict,
            intent_id,
            intent_digest,
            policy_digest,
            policy_id,
            policy_version,
            matched_rule_ids,
            trace_id,
            trace_path,
            reason_codes,
            violations,
            safety_invariant_version,
            safety_invariant_hash,
            json,
        } => (
            sessions::append(&AppendArgs {
                journal: journal.journal.clone(),
                tool,
                verdict,
                intent_id,
                intent_digest,
                policy_digest,
                policy_id,
                policy_version,
                matched_rule_ids,
                trace_id,
                trace_path,
                reason_codes,
                violations,
                safety_invariant_version,
                safety_invariant_hash,
            })
            .map_err(session_err("append", &journal.journal)),
            json.json,
            "run session append",
        ),
        SessionCmd::Status { journal, json } => (
            sessions::status(&journal.journal).map_err(session_err("status", &journal.journal)),
            json.json,
            "run session status",
        ),
        SessionCmd::Checkpoint {
            journal,
            out,
            chain_out,
            keys,
            json,
        } => (
            sessions::checkpoint(&CheckpointArgs {
                journal: journal.journal.clone(),
                out,
                chain_out,
                key_mode: keys.key_mode,
                private_key: keys.private_key,
                private_key_env: keys.private_key_env,
            })
            .map_err(session_err("checkpoint", &journal.journal)),
            json.json,
            "run session checkpoint",
        ),
        SessionCmd::Compact { journal, json } => (
            sessions::compact(&journal.journal).map_err(session_err("compact", &journal.journal)),
            json.json,
            "run session compact",
        ),
    }
}

fn add_pack_members(e: GaitError, op: &str) -> GaitError {
    if e.extra.contains_key("operation") {
        return e;
    }
    e.with_extra("schema_id", json!(packs::OUTPUT_SCHEMA))
        .with_extra("schema_version", json!("1.0.0"))
        .with_extra("operation", json!(op))
}

/// A progress bar on stderr for large archives, only on a terminal and never with `--json`.
fn install_progress(argv: &[String]) {
    use std::io::IsTerminal;
    let json = argv.iter().any(|a| a == "--json" || a == "--json=true");
    if json || !std::io::stderr().is_terminal() {
        return;
    }
    let bar = std::sync::Mutex::new(None::<indicatif::ProgressBar>);
    gait_pack::archive::set_progress_hook(Box::new(move |done, total| {
        const LARGE: u64 = 32 * 1024 * 1024;
        if total < LARGE {
            return;
        }
        let mut guard = bar.lock().unwrap_or_else(|p| p.into_inner());
        let pb = guard.get_or_insert_with(|| {
            let pb = indicatif::ProgressBar::new(total);
            pb.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            pb
        });
        pb.set_position(done.min(total));
        if done >= total {
            pb.finish_and_clear();
        }
    }));
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
    if let (Some(top), Some(flag), 3) = (argv.get(1), argv.get(2), argv.len()) {
        if STRICT_GROUPS.contains(&top.as_str())
            && ["--help", "-help", "-h"].contains(&flag.as_str())
        {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            cmd.build();
            if let Some(sub) = cmd.find_subcommand_mut(top) {
                let _ = write!(std::io::stderr(), "{}", sub.render_help());
            }
            std::process::exit(gait_sdk::error::exit::INVALID_INPUT);
        }
    }
    let cli = match parse_args::<Cli>(argv.clone(), "gait") {
        ParseOutcome::Parsed(c) => c,
        ParseOutcome::Exit(code) => std::process::exit(code),
    };
    install_progress(&argv);
    let (result, json, label) = run(cli);
    let code = emit(result, json, &argv, label);
    std::process::exit(code);
}
