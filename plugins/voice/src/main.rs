//! `gait-voice`: flag parsing and rendering for `gait voice …`. Behaviour lives in the library;
//! errors become exit codes only through `gait_sdk::cli::emit`.

use clap::{Args, Parser, Subcommand};
use gait_sdk::cli::{emit, parse_args, CommandOutput, ParseOutcome};
use gait_sdk::manifest::PluginManifest;
use gait_sdk::GaitError;
use gait_voice::commands::{self, BuildArgs, MintArgs, VerifyArgs};
use gait_voice::token::Bindings;
use gait_voice::VoiceError;
use serde_json::json;
use std::io::Write;

const ABOUT: &str =
    "Voice mode: gate spoken commitments with signed SayTokens and capture calls as callpacks";
const VOICE_EXAMPLES: &str = "Examples:
  gait voice token mint --intent refund.json --policy policy.yaml --key-mode prod --private-key k.key
  gait voice token verify --token say_token_<id>.json --public-key k.pub --call-id call_1 --turn-index 2
  gait voice pack build --from call_record.json --out callpack.zip
  gait voice pack verify callpack.zip
  gait regress bootstrap --from callpack.zip
See docs/voice.md. Exit codes: 0 ok, 2 verification failed, 3 blocked, 4 approval required,
6 invalid input, 7 missing gate/pack plugin.";
const EXPLAIN: &str = "gait voice gates what a voice agent may promise (signed SayTokens minted only when policy allows a commitment) and captures calls as verifiable callpacks.";

#[derive(Parser, Debug)]
#[command(name = "gait", bin_name = "gait", version, about = ABOUT, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand, Debug)]
enum Top {
    /// Voice mode: SayTokens for spoken commitments, callpacks for calls.
    #[command(subcommand, after_help = VOICE_EXAMPLES)]
    Voice(VoiceCmd),
}

#[derive(Subcommand, Debug)]
enum VoiceCmd {
    /// Mint and verify SayTokens (signed permission to speak one commitment).
    #[command(subcommand)]
    Token(TokenCmd),
    /// Build, verify, inspect and diff callpacks.
    #[command(subcommand)]
    Pack(PackCmd),
}

#[derive(Args, Debug, Default, Clone)]
struct JsonFlag {
    /// Print machine-readable JSON.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false", hide_default_value = true, hide_possible_values = true)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum TokenCmd {
    /// Evaluate a commitment intent with the gate; on `allow` only, write a signed SayToken.
    ///
    /// A signed gate trace is written whatever the verdict. Exit codes: 0 minted, 3 blocked
    /// (or dry_run), 4 approval required, 6 invalid input, 7 gate plugin missing.
    Mint(MintFlags),
    /// Verify a SayToken's signature, bindings and expiry (first failure → exit 2 with a
    /// `say_token_…` error_code).
    Verify(VerifyFlags),
}

#[derive(Args, Debug)]
struct MintFlags {
    /// Commitment intent JSON (`gait.voice.commitment_intent`).
    #[arg(long, default_value = "", hide_default_value = true)]
    intent: String,
    /// Gate policy YAML.
    #[arg(long, default_value = "", hide_default_value = true)]
    policy: String,
    /// Token lifetime, a Go duration (default 2m).
    #[arg(
        long,
        default_value = "",
        hide_default_value = true,
        allow_hyphen_values = true
    )]
    ttl: String,
    /// Token path (default ./say_token_<token_id>.json).
    #[arg(long, default_value = "", hide_default_value = true)]
    out: String,
    /// Trace path (default ./trace_<trace_id>.json).
    #[arg(long, default_value = "", hide_default_value = true)]
    trace_out: String,
    /// `dev` (ephemeral key, default) or `prod` (needs a private key source).
    #[arg(long, default_value = "dev")]
    key_mode: String,
    /// Base64 Ed25519 private key file.
    #[arg(long, default_value = "", hide_default_value = true)]
    private_key: String,
    /// Environment variable holding the base64 private key.
    #[arg(long, default_value = "", hide_default_value = true)]
    private_key_env: String,
    #[command(flatten)]
    json: JsonFlag,
}

#[derive(Args, Debug)]
struct VerifyFlags {
    /// SayToken file.
    #[arg(long, default_value = "", hide_default_value = true)]
    token: String,
    /// Base64 Ed25519 public key file.
    #[arg(long, default_value = "", hide_default_value = true)]
    public_key: String,
    /// Environment variable holding the public key.
    #[arg(long, default_value = "", hide_default_value = true)]
    public_key_env: String,
    /// Private key file (its public half verifies).
    #[arg(long, default_value = "", hide_default_value = true)]
    private_key: String,
    /// Environment variable holding the private key.
    #[arg(long, default_value = "", hide_default_value = true)]
    private_key_env: String,
    /// Require this intent digest.
    #[arg(long, default_value = "", hide_default_value = true)]
    intent_digest: String,
    /// Require this policy digest.
    #[arg(long, default_value = "", hide_default_value = true)]
    policy_digest: String,
    /// Require this call id.
    #[arg(long, default_value = "", hide_default_value = true)]
    call_id: String,
    /// Require this turn index (-1: not checked).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    turn_index: i64,
    /// Require this call sequence (0: not checked).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    call_seq: i64,
    /// Require this commitment class.
    #[arg(long, default_value = "", hide_default_value = true)]
    commitment_class: String,
    /// Check expiry against this RFC 3339 time instead of the clock.
    #[arg(long, default_value = "", hide_default_value = true)]
    now: String,
    #[command(flatten)]
    json: JsonFlag,
}

#[derive(Subcommand, Debug)]
enum PackCmd {
    /// Build a callpack (pack_type=call) from a call record.
    ///
    /// Exit codes: 0 built, 6 the call record breaks a rule (reason_code names it).
    Build(BuildFlags),
    /// Verify a callpack (= `gait pack verify`): integrity, signatures and the call contract.
    Verify(PassFlags),
    /// Inspect a callpack (= `gait pack inspect`).
    Inspect(PassFlags),
    /// Diff two callpacks (= `gait pack diff`; exit 2 when they differ).
    Diff(PassFlags),
}

#[derive(Args, Debug)]
struct BuildFlags {
    /// Call record JSON (`gait.voice.call_record`).
    #[arg(long, default_value = "", hide_default_value = true)]
    from: String,
    /// Output zip (default <record dir>/pack_<pack_id>.zip).
    #[arg(long, default_value = "", hide_default_value = true)]
    out: String,
    /// `none` (default, unsigned), `dev` or `prod`.
    #[arg(long, default_value = "none")]
    key_mode: String,
    /// Base64 Ed25519 private key file.
    #[arg(long, default_value = "", hide_default_value = true)]
    private_key: String,
    /// Environment variable holding the base64 private key.
    #[arg(long, default_value = "", hide_default_value = true)]
    private_key_env: String,
    #[command(flatten)]
    json: JsonFlag,
    /// The call record, instead of --from.
    #[arg(hide = true)]
    positional: Vec<String>,
}

#[derive(Args, Debug)]
struct PassFlags {
    /// Arguments for `gait pack <command>` (see `gait pack <command> --help`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn manifest() -> PluginManifest {
    PluginManifest::new(
        "voice",
        env!("CARGO_PKG_VERSION"),
        ABOUT,
        &[(
            "voice",
            "Gate spoken commitments with SayTokens; capture calls as callpacks",
        )],
    )
}

fn with_op(e: GaitError, op: &str, pack: bool) -> GaitError {
    let mut e = e.with_extra("operation", json!(op));
    if pack {
        e = e
            .with_extra("schema_id", json!(commands::PACK_OUTPUT_SCHEMA))
            .with_extra("schema_version", json!("1.0.0"));
    }
    e
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if gait_sdk::cli_spec::answer_probe::<Cli>(&argv, manifest) {
        return;
    }
    if let Some(line) = gait_sdk::cli::explain_line(&argv, &[("voice", EXPLAIN)]) {
        println!("{line}");
        return;
    }
    let cli = match parse_args::<Cli>(argv.clone(), "gait") {
        ParseOutcome::Parsed(c) => c,
        ParseOutcome::Exit(code) => std::process::exit(code),
    };
    let Top::Voice(cmd) = cli.command;
    let (result, json, label): (Result<CommandOutput, GaitError>, bool, &str) = match cmd {
        VoiceCmd::Token(TokenCmd::Mint(f)) => {
            let a = MintArgs {
                intent: f.intent,
                policy: f.policy,
                ttl: f.ttl,
                out: f.out,
                trace_out: f.trace_out,
                key_mode: f.key_mode,
                private_key: f.private_key,
                private_key_env: f.private_key_env,
            };
            let r =
                commands::token_mint(&a).map_err(|e| with_op(GaitError::from(e), "mint", false));
            (r, f.json.json, "voice token mint")
        }
        VoiceCmd::Token(TokenCmd::Verify(f)) => {
            let a = VerifyArgs {
                token: f.token,
                public_key: f.public_key,
                public_key_env: f.public_key_env,
                private_key: f.private_key,
                private_key_env: f.private_key_env,
                bindings: Bindings {
                    intent_digest: f.intent_digest,
                    policy_digest: f.policy_digest,
                    call_id: f.call_id,
                    turn_index: f.turn_index,
                    call_seq: f.call_seq,
                    commitment_class: f.commitment_class,
                },
                now: f.now,
            };
            let r = commands::token_verify(&a).map_err(|fail| {
                let mut g = with_op(GaitError::from(fail.error), "verify", false);
                for (k, v) in fail.fields {
                    g = g.with_extra(&k, v);
                }
                g
            });
            (r, f.json.json, "voice token verify")
        }
        VoiceCmd::Pack(PackCmd::Build(f)) => {
            let r = match (f.from.trim().is_empty(), f.positional.as_slice()) {
                (_, [_, _, ..]) | (false, [_]) => {
                    Err(VoiceError::invalid("unexpected positional arguments"))
                }
                (_, rest) => {
                    let from = rest.first().cloned().unwrap_or(f.from);
                    commands::pack_build(&BuildArgs {
                        from,
                        out: f.out,
                        key_mode: f.key_mode,
                        private_key: f.private_key,
                        private_key_env: f.private_key_env,
                    })
                }
            };
            let r = r.map_err(|e| with_op(GaitError::from(e), "build", true));
            (r, f.json.json, "voice pack build")
        }
        VoiceCmd::Pack(PackCmd::Verify(p)) => delegate("verify", p.args, &argv),
        VoiceCmd::Pack(PackCmd::Inspect(p)) => delegate("inspect", p.args, &argv),
        VoiceCmd::Pack(PackCmd::Diff(p)) => delegate("diff", p.args, &argv),
    };
    let code = emit(result, json, &argv, label);
    std::process::exit(code);
}

/// Runs `gait pack <sub> <args…>` and passes its output and exit code through.
fn delegate(sub: &str, args: Vec<String>, argv: &[String]) -> ! {
    let json = args.iter().any(|a| a == "--json" || a == "--json=true");
    match commands::pack_delegate(sub, &args) {
        Ok(f) => {
            let _ = std::io::stdout().write_all(&f.stdout);
            let _ = std::io::stderr().write_all(&f.stderr);
            std::process::exit(f.code);
        }
        Err(e) => {
            let label = format!("voice pack {sub}");
            let code = emit(
                Err(with_op(GaitError::from(e), sub, true)),
                json,
                argv,
                &label,
            );
            std::process::exit(code);
        }
    }
}
