//! `gait-gate`: flag parsing and rendering for the gate plugin. All behaviour lives in the
//! library; errors become exit codes only through `gait_sdk::cli::emit`.

use clap::{Args, Parser, Subcommand};
use gait_gate::commands::{
    self, ApproveArgs, ApproveScriptArgs, DelegateMintArgs, DelegateVerifyArgs, GateEvalArgs,
};
use gait_sdk::cli::{emit, parse_args, CommandOutput, ParseOutcome};
use gait_sdk::manifest::PluginManifest;
use gait_sdk::signing::KeySource;
use gait_sdk::GaitError;
use std::path::Path;

const ABOUT: &str =
    "Gate agent tool calls with policy: evaluate intents, sign traces, mint approvals, manage keys";

#[derive(Parser, Debug)]
#[command(name = "gait", bin_name = "gait", version, about = ABOUT, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand, Debug)]
enum Top {
    /// Evaluate a tool-call intent against a policy.
    #[command(subcommand)]
    Gate(GateCmd),
    /// Test, validate, format, scaffold and compare policies.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Mint a signed approval token for an intent/policy pair.
    Approve(ApproveFlags),
    /// Create, rotate and check Ed25519 signing keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Mint and verify signed delegation tokens.
    #[command(subcommand)]
    Delegate(DelegateCmd),
    /// Sign an approved-script entry into a registry (pre-approves an exact script).
    ApproveScript(Box<ApproveScriptFlags>),
    /// List the entries of an approved-script registry.
    ListScripts(ListScriptsFlags),
    /// Write a starter repo policy (.gait.yaml) from a template and a scan of this repository.
    ///
    /// Scans `.` for LangChain `@tool` and OpenAI Agents `@function_tool` functions and MCP
    /// server configs, and lists the detected tools and suggested starter rules in the
    /// policy's comment header. The file is written atomically with mode 0600.
    /// Exit codes: 0 written, 6 invalid input (unknown template, file exists without --force),
    /// 1 write failure.
    Init(InitFlags),
    /// Check a repo policy against the tools detected in this repository.
    ///
    /// Prints findings (warnings are gaps worth fixing; info is advice). Exit codes: 0 checked
    /// (even with warnings), 6 invalid input (missing or invalid policy).
    Check(CheckFlags),
    /// Run a child command and validate the gate traces it reports (observe only);
    /// `gait trace verify` checks a trace's signature.
    ///
    /// The child must print `trace_path=<file>` for each gate trace it produced. Exit codes:
    /// the child's exit code; 6 when no trace was reported (or no `--`), 1 on timeout or when
    /// the child could not start.
    Trace(Box<TraceFlags>),
    /// Run a child command in test mode and validate the gate traces it reports.
    ///
    /// Same rules as `gait trace -- …`, with GAIT_WRAPPER_MODE=test. Exit codes: the child's
    /// exit code; 6 when no trace was reported, 1 on timeout or start failure.
    Test(WrapperFlags),
    /// Run a child command and enforce the verdicts of the gate traces it reports.
    ///
    /// Exit codes: 1 on timeout or start failure; 6 when no trace was reported; 3 when a
    /// reported trace is invalid; else the child's exit code when non-zero; else 3 if a trace
    /// blocked (block or dry_run), 4 if a trace requires approval, 0 if all traces allowed.
    Enforce(WrapperFlags),
}

#[derive(Args, Debug)]
struct InitFlags {
    /// Template: baseline-lowrisk|baseline-mediumrisk|baseline-highrisk (aliases low|medium|high).
    #[arg(long, default_value = "baseline-highrisk")]
    template: String,
    /// Output path.
    #[arg(long, default_value = ".gait.yaml")]
    out: String,
    /// Overwrite an existing file.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false", hide_default_value = true, hide_possible_values = true)]
    force: bool,
    #[command(flatten)]
    json: JsonFlag,
    #[arg(hide = true)]
    positional: Vec<String>,
}

#[derive(Args, Debug)]
struct CheckFlags {
    /// Repo policy to check (a positional path is accepted with `--policy ""`).
    #[arg(long, default_value = ".gait.yaml")]
    policy: String,
    #[command(flatten)]
    json: JsonFlag,
    #[arg(hide = true)]
    positional: Vec<String>,
}

#[derive(Args, Debug)]
struct WrapperFlags {
    /// Directory the child runs in (trace paths it prints are read relative to gait's own
    /// working directory).
    #[arg(long, default_value = ".")]
    cwd: String,
    /// Kill the child's process group after this Go duration (SIGTERM, SIGKILL 2s later).
    #[arg(long, default_value = "30s")]
    timeout: String,
    #[command(flatten)]
    json: JsonFlag,
    #[arg(hide = true)]
    positional: Vec<String>,
    /// The child command and its arguments, after a literal `--`.
    #[arg(last = true, value_name = "ARGV")]
    child: Vec<String>,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
struct TraceFlags {
    #[command(subcommand)]
    sub: Option<TraceCmd>,
    #[command(flatten)]
    wrapper: WrapperFlags,
}

#[derive(Subcommand, Debug)]
enum TraceCmd {
    /// Validate a gate trace and verify its Ed25519 signature (exit 0 ok, 2 bad signature,
    /// 6 invalid input).
    Verify(TraceVerifyFlags),
}

#[derive(Args, Debug)]
struct TraceVerifyFlags {
    /// The trace file.
    #[arg(value_name = "TRACE")]
    args: Vec<String>,
    /// Public key file the trace must verify with.
    #[arg(long, default_value = "", hide_default_value = true)]
    public_key: String,
    /// Environment variable holding the public key.
    #[arg(long, default_value = "", hide_default_value = true)]
    public_key_env: String,
    #[command(flatten)]
    json: JsonFlag,
}

const TRACE_USAGE: &str = "usage: gait trace [--cwd <dir>] [--timeout <duration>] [--json] -- <command> [args...] | gait trace verify <trace.json> [--public-key <path>|--public-key-env <VAR>] [--json]";

#[derive(Args, Debug)]
struct ApproveScriptFlags {
    /// Policy YAML the entry is bound to (required).
    #[arg(long, default_value = "", hide_default_value = true)]
    policy: String,
    /// Script intent JSON (required; must have script.steps).
    #[arg(long, default_value = "", hide_default_value = true)]
    intent: String,
    /// Registry file to update (required).
    #[arg(long, default_value = "", hide_default_value = true)]
    registry: String,
    /// Approver identity (required).
    #[arg(long, default_value = "", hide_default_value = true)]
    approver: String,
    /// Entry id (default `pattern_<first 12 hex of script_hash>`).
    #[arg(long, default_value = "", hide_default_value = true)]
    pattern_id: String,
    /// Lifetime as a Go duration (default 168h).
    #[arg(long, default_value = "", hide_default_value = true)]
    ttl: String,
    /// Comma-separated scope: risk:<c>, tool:<n>, workspace_prefix:<p>, endpoint:<c>.
    #[arg(long, default_value = "", hide_default_value = true)]
    scope: String,
    #[command(flatten)]
    keys: KeyFlags,
    #[command(flatten)]
    json: JsonFlag,
}

#[derive(Args, Debug)]
struct ListScriptsFlags {
    /// Registry file (required).
    #[arg(long, default_value = "", hide_default_value = true)]
    registry: String,
    #[command(flatten)]
    json: JsonFlag,
}

#[derive(Subcommand, Debug)]
enum DelegateCmd {
    /// Mint a signed delegation token (exit 0, or 6 on bad input).
    Mint(Box<DelegateMintFlags>),
    /// Verify a delegation token (exit 0 ok, 2 verification failed, 6 bad input).
    Verify(Box<DelegateVerifyFlags>),
}

#[derive(Args, Debug)]
struct DelegateMintFlags {
    /// Identity that grants the delegation.
    #[arg(long, default_value = "", hide_default_value = true)]
    delegator: String,
    /// Identity that receives the delegation.
    #[arg(long, default_value = "", hide_default_value = true)]
    delegate: String,
    /// Comma-separated scopes (lowercased, sorted, unique; `*` for any).
    #[arg(long, default_value = "", hide_default_value = true)]
    scope: String,
    /// Optional scope class (lowercased).
    #[arg(long, default_value = "", hide_default_value = true)]
    scope_class: String,
    /// Optional intent digest binding (sha256 hex).
    #[arg(long, default_value = "", hide_default_value = true)]
    intent_digest: String,
    /// Optional policy digest binding (sha256 hex).
    #[arg(long, default_value = "", hide_default_value = true)]
    policy_digest: String,
    /// Lifetime as a Go duration (`30m`, `1h`, `1h30m`).
    #[arg(long, default_value = "", hide_default_value = true)]
    ttl: String,
    /// Output path (default `delegation_<token_id>.json`).
    #[arg(long, default_value = "", hide_default_value = true)]
    out: String,
    #[command(flatten)]
    keys: KeyFlags,
    #[command(flatten)]
    json: JsonFlag,
}

#[derive(Args, Debug)]
struct DelegateVerifyFlags {
    /// Delegation token file (required).
    #[arg(long, default_value = "", hide_default_value = true)]
    token: String,
    /// Public key the token must verify with.
    #[arg(long, default_value = "", hide_default_value = true)]
    public_key: String,
    /// Environment variable holding the public key.
    #[arg(long, default_value = "", hide_default_value = true)]
    public_key_env: String,
    /// Private key whose public half verifies the token.
    #[arg(long, default_value = "", hide_default_value = true)]
    private_key: String,
    /// Environment variable holding that private key.
    #[arg(long, default_value = "", hide_default_value = true)]
    private_key_env: String,
    /// Expected delegator identity.
    #[arg(long, default_value = "", hide_default_value = true)]
    delegator: String,
    /// Expected delegate identity.
    #[arg(long, default_value = "", hide_default_value = true)]
    delegate: String,
    /// Comma-separated scopes; any one must be granted.
    #[arg(long, default_value = "", hide_default_value = true)]
    scope: String,
    /// Expected intent digest (checked when the token is bound).
    #[arg(long, default_value = "", hide_default_value = true)]
    intent_digest: String,
    /// Expected policy digest (checked when the token is bound).
    #[arg(long, default_value = "", hide_default_value = true)]
    policy_digest: String,
    #[command(flatten)]
    json: JsonFlag,
}

#[derive(Subcommand, Debug)]
enum GateCmd {
    /// Evaluate an intent: print the verdict, write a signed trace, exit 0/3/4.
    ///
    /// Exit codes: 0 allow or dry_run, 3 block, 4 approval required, 6 invalid input,
    /// 1 local I/O or lock failure.
    Eval(Box<EvalFlags>),
    // --- voice (gait-voice): the gate side of `gait voice token mint`
    /// Evaluate a voice commitment's derived intent (used by `gait voice token mint`).
    ///
    /// Pure evaluation and a signed trace: no approval tokens, rate limits or project config.
    /// Exit codes: 0 allow or dry_run, 3 block, 4 approval required, 6 invalid input.
    CommitmentEval(CommitmentEvalFlags),
    /// Build context evidence envelopes for `gate eval --context-envelope`.
    #[command(subcommand)]
    ContextEnvelope(ContextEnvelopeCmd),
}

#[derive(Subcommand, Debug)]
enum ContextEnvelopeCmd {
    /// Create a `gait.context.envelope` from files (content digests computed for you).
    ///
    /// Exit codes: 0 written, 6 invalid input, 1 write failure.
    Create(ContextEnvelopeCreateFlags),
}

#[derive(Args, Debug, Default)]
struct ContextEnvelopeCreateFlags {
    /// Context set id (required).
    #[arg(long, default_value = "", hide_default_value = true)]
    id: String,
    /// `best_effort` (default) or `required`.
    #[arg(long, default_value = "", hide_default_value = true)]
    evidence_mode: String,
    /// A file to record, as `path[:source_type[:locator]]` (repeatable; source_type defaults
    /// to `file`, the locator to the path).
    #[arg(long = "file")]
    files: Vec<String>,
    /// Redaction mode of every record (default `none`).
    #[arg(long, default_value = "", hide_default_value = true)]
    redaction_mode: String,
    /// Immutability of every record: `unknown` (default), `mutable` or `immutable`.
    #[arg(long, default_value = "", hide_default_value = true)]
    immutability: String,
    /// Output path (default `context_envelope.json`).
    #[arg(long, default_value = "", hide_default_value = true)]
    out: String,
    /// Print machine-readable JSON.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false", hide_default_value = true, hide_possible_values = true)]
    json: bool,
}

#[derive(Args, Debug, Default)]
struct CommitmentEvalFlags {
    /// Policy YAML file (required).
    #[arg(long, default_value = "", hide_default_value = true)]
    policy: String,
    /// Derived gate intent JSON file (required).
    #[arg(long, default_value = "", hide_default_value = true)]
    intent: String,
    /// Where to write the signed trace (default `trace_<trace_id>.json`).
    #[arg(long, default_value = "", hide_default_value = true)]
    trace_out: String,
    #[command(flatten)]
    keys: KeyFlags,
    /// Print machine-readable JSON.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false", hide_default_value = true, hide_possible_values = true)]
    json: bool,
}
// --- end voice

#[derive(Args, Debug, Default)]
struct KeyFlags {
    /// Signing key mode: `dev` (ephemeral key, warns) or `prod` (needs a private key source).
    #[arg(long, default_value = "", hide_default_value = true)]
    key_mode: String,
    /// Path of a base64 Ed25519 private key file (64-byte seed‖public form).
    #[arg(long, default_value = "", hide_default_value = true)]
    private_key: String,
    /// Environment variable holding the base64 private key.
    #[arg(long, default_value = "", hide_default_value = true)]
    private_key_env: String,
}

#[derive(Args, Debug, Default)]
struct EvalFlags {
    /// Policy YAML file (required; may come from `.gait/config.yaml` `gate.policy`).
    #[arg(long, default_value = "", hide_default_value = true)]
    policy: String,
    /// Intent JSON file (required).
    #[arg(long, default_value = "", hide_default_value = true)]
    intent: String,
    /// Where to write the signed trace (default `trace_<trace_id>.json`).
    #[arg(long, default_value = "", hide_default_value = true)]
    trace_out: String,
    #[command(flatten)]
    keys: KeyFlags,
    /// Evaluation profile: `standard` or `oss-prod` (production guard rails).
    #[arg(long, default_value = "", hide_default_value = true)]
    profile: String,
    /// Approval token file to check when the verdict requires approval.
    #[arg(long, default_value = "", hide_default_value = true)]
    approval_token: String,
    /// Comma-separated approval token files (combined with --approval-token).
    #[arg(long, default_value = "", hide_default_value = true)]
    approval_token_chain: String,
    /// External approval reference recorded as `approval_ref` when no token grants approval.
    #[arg(long, default_value = "", hide_default_value = true)]
    approval_token_ref: String,
    /// Where to write the approval audit record (default `approval_audit_<trace_id>.json`).
    #[arg(long, default_value = "", hide_default_value = true)]
    approval_audit_out: String,
    /// Public key that approval tokens must verify with.
    #[arg(long, default_value = "", hide_default_value = true)]
    approval_public_key: String,
    /// Environment variable holding the approval public key.
    #[arg(long, default_value = "", hide_default_value = true)]
    approval_public_key_env: String,
    /// Private key whose public half verifies approval tokens.
    #[arg(long, default_value = "", hide_default_value = true)]
    approval_private_key: String,
    /// Environment variable holding that private key.
    #[arg(long, default_value = "", hide_default_value = true)]
    approval_private_key_env: String,
    /// Rate-limit state file (default `.gait-out/gate_rate_limits.json`).
    #[arg(long, default_value = "", hide_default_value = true)]
    rate_limit_state: String,
    /// RFC 3339 clock for freeze windows, agent expiry and context age (replayable decisions).
    #[arg(long, default_value = "", hide_default_value = true)]
    evaluation_time: String,
    /// Report what would happen without enforcing it (always exits 0).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false", hide_default_value = true, hide_possible_values = true)]
    simulate: bool,
    /// Print machine-readable JSON.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false", hide_default_value = true, hide_possible_values = true)]
    json: bool,
    /// With --json: print the policy explanation instead of the result.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false", hide_default_value = true, hide_possible_values = true)]
    explain: bool,
    /// Project config file (default `.gait/config.yaml`).
    #[arg(long, default_value = "", hide_default_value = true)]
    config: String,
    /// Ignore the project config file.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false", hide_default_value = true, hide_possible_values = true)]
    no_config: bool,
    // --- check plugins (gait_gate::check_plugin)
    /// Custom gate check: a dynamic plugin library signed by a trusted key (repeatable). It can
    /// only tighten the verdict; any failure blocks with `check_plugin_failed`.
    #[arg(long, value_name = "LIB")]
    check_plugin: Vec<String>,
    /// Also trust this minisign public key (file or base64 key line) to sign check plugins,
    /// besides the trust store's keys (repeatable).
    #[arg(long, value_name = "PUB")]
    check_plugin_trust_key: Vec<String>,
    #[command(flatten)]
    extended: ExtendedFlags,
    #[arg(hide = true, num_args = 0.., allow_hyphen_values = false)]
    positional: Vec<String>,
}

/// Extended evidence flags (gate-extended.md).
#[derive(Args, Debug, Default)]
struct ExtendedFlags {
    /// Context evidence envelope (ContextSpec v1) bound to the intent.
    #[arg(long)]
    context_envelope: Option<String>,
    /// Delegation token file (checked when a rule requires delegation).
    #[arg(long, default_value = "", hide_default_value = true)]
    delegation_token: String,
    /// Comma-separated delegation token files (combined with --delegation-token).
    #[arg(long, default_value = "", hide_default_value = true)]
    delegation_token_chain: String,
    /// Where to write the delegation audit record (default `delegation_audit_<trace_id>.json`).
    #[arg(long, default_value = "", hide_default_value = true)]
    delegation_audit_out: String,
    /// Public key that delegation tokens must verify with.
    #[arg(long, default_value = "", hide_default_value = true)]
    delegation_public_key: String,
    /// Environment variable holding the delegation public key.
    #[arg(long, default_value = "", hide_default_value = true)]
    delegation_public_key_env: String,
    /// Private key whose public half verifies delegation tokens.
    #[arg(long, default_value = "", hide_default_value = true)]
    delegation_private_key: String,
    /// Environment variable holding that private key.
    #[arg(long, default_value = "", hide_default_value = true)]
    delegation_private_key_env: String,
    /// Kill-switch state file (`gait.gate.kill_switch_state`); a match blocks.
    #[arg(long)]
    kill_switch_state: Option<String>,
    /// Credential broker: off|stub|env|command (default off).
    #[arg(long, default_value = "", hide_default_value = true)]
    credential_broker: String,
    /// Env broker variable prefix (default `GAIT_BROKER_TOKEN_`).
    #[arg(long, default_value = "", hide_default_value = true)]
    credential_env_prefix: String,
    /// Broker reference (overrides the rule's `broker_reference`).
    #[arg(long, default_value = "", hide_default_value = true)]
    credential_ref: String,
    /// Extra broker scopes (comma-separated; added to the rule's `broker_scopes`).
    #[arg(long, default_value = "", hide_default_value = true)]
    credential_scopes: String,
    /// Command broker executable (reads the request JSON on stdin, prints a receipt).
    #[arg(long, default_value = "", hide_default_value = true)]
    credential_command: String,
    /// Command broker arguments (comma-separated).
    #[arg(long, default_value = "", hide_default_value = true)]
    credential_command_args: String,
    /// Where to write the broker credential record (default `credential_evidence_<trace_id>.json`).
    #[arg(long, default_value = "", hide_default_value = true)]
    credential_evidence_out: String,
    /// Wrkr inventory file: enriches context.auth_context with wrkr.* claims.
    #[arg(long)]
    wrkr_inventory: Option<String>,
    /// Approved-script registry file: a verified matching entry pre-approves a script.
    #[arg(long, default_value = "", hide_default_value = true)]
    approved_script_registry: String,
    /// Public key that registry entries must verify with (else the approval key flags).
    #[arg(long, default_value = "", hide_default_value = true)]
    approved_script_public_key: String,
    /// Environment variable holding the registry public key.
    #[arg(long, default_value = "", hide_default_value = true)]
    approved_script_public_key_env: String,
}

#[derive(Args, Debug)]
struct JsonFlag {
    /// Print machine-readable JSON.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false", hide_default_value = true, hide_possible_values = true)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum PolicyCmd {
    /// Evaluate one intent fixture against a policy (no files written, no signing).
    Test {
        /// `<policy.yaml> <intent_fixture.json>`
        #[arg(value_name = "POLICY INTENT")]
        args: Vec<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Check a policy file and print its digest.
    Validate {
        #[arg(value_name = "POLICY")]
        args: Vec<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Print (or with --write, rewrite) the policy in canonical form.
    Fmt {
        #[arg(value_name = "POLICY")]
        args: Vec<String>,
        /// Rewrite the file in place when it changes.
        #[arg(long)]
        write: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Write a starter policy from a template (baseline-lowrisk|baseline-mediumrisk|baseline-highrisk).
    Init {
        template: String,
        /// Output path.
        #[arg(long, default_value = "gait.policy.yaml")]
        out: String,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Compare a candidate policy with a baseline over intent fixtures.
    Simulate {
        /// Candidate policy.
        #[arg(long, default_value = "", hide_default_value = true)]
        policy: String,
        /// Baseline policy.
        #[arg(long, default_value = "", hide_default_value = true)]
        baseline: String,
        /// Comma-separated fixture files or directories of `.json` intents.
        #[arg(long, default_value = "", hide_default_value = true)]
        fixtures: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Args, Debug)]
struct ApproveFlags {
    /// Intent digest the token approves (sha256 hex).
    #[arg(long, default_value = "", hide_default_value = true)]
    intent_digest: String,
    /// Policy digest the token is bound to (sha256 hex).
    #[arg(long, default_value = "", hide_default_value = true)]
    policy_digest: String,
    /// Delegation binding digest (sha256 hex), when the intent carries a delegation.
    #[arg(long, default_value = "", hide_default_value = true)]
    delegation_binding_digest: String,
    /// Lifetime as a Go duration (`30m`, `1h`, `1h30m`).
    #[arg(long, default_value = "", hide_default_value = true)]
    ttl: String,
    /// Comma-separated scope (`tool:<name>`, `phase:apply`, `destructive:apply`, or `*`).
    #[arg(long, default_value = "", hide_default_value = true)]
    scope: String,
    /// Identity of the approver.
    #[arg(long, default_value = "", hide_default_value = true)]
    approver: String,
    /// Why the approval was given (ticket, change id…).
    #[arg(long, default_value = "", hide_default_value = true)]
    reason_code: String,
    /// Maximum number of targets the token covers (0 = unbounded).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    max_targets: i64,
    /// Maximum number of operations the token covers (0 = unbounded).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    max_ops: i64,
    /// Output path (default `approval_<token_id>.json`).
    #[arg(long, default_value = "", hide_default_value = true)]
    out: String,
    #[command(flatten)]
    keys: KeyFlags,
    #[command(flatten)]
    json: JsonFlag,
}

#[derive(Subcommand, Debug)]
enum KeysCmd {
    /// Create a new key pair (`<prefix>_private.key`, `<prefix>_public.key`, mode 0600).
    Init {
        #[arg(long, default_value = "gait-out/keys")]
        out_dir: String,
        #[arg(long, default_value = "gait")]
        prefix: String,
        /// Overwrite existing key files.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Create a new timestamped key pair; never overwrites.
    Rotate {
        #[arg(long, default_value = "gait-out/keys")]
        out_dir: String,
        #[arg(long, default_value = "gait")]
        prefix: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Check that a private key loads (and matches a public key, when given).
    Verify {
        #[arg(long, default_value = "", hide_default_value = true)]
        private_key: String,
        #[arg(long, default_value = "", hide_default_value = true)]
        private_key_env: String,
        #[arg(long, default_value = "", hide_default_value = true)]
        public_key: String,
        #[arg(long, default_value = "", hide_default_value = true)]
        public_key_env: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

fn manifest() -> PluginManifest {
    PluginManifest::new(
        "gate",
        env!("CARGO_PKG_VERSION"),
        ABOUT,
        &[
            (
                "gate",
                "Evaluate a tool-call intent against a policy and sign the decision",
            ),
            (
                "policy",
                "Test, validate, format, scaffold and compare policies",
            ),
            ("approve", "Mint a signed approval token"),
            ("keys", "Create, rotate and check signing keys"),
            ("delegate", "Mint and verify signed delegation tokens"),
            ("approve-script", "Sign an approved-script registry entry"),
            ("list-scripts", "List approved-script registry entries"),
            (
                "init",
                "Write a starter repo policy from a template and a repo scan",
            ),
            (
                "check",
                "Check a repo policy against the tools detected in the repo",
            ),
            (
                "trace",
                "Run a child command and validate its gate traces; verify trace signatures",
            ),
            (
                "test",
                "Run a child command in test mode and validate its gate traces",
            ),
            (
                "enforce",
                "Run a child command and enforce its gate trace verdicts",
            ),
        ],
    )
}

const EXPLAIN_LINES: &[(&str, &str)] = &[
    ("gate", "gait gate eval decides whether an agent tool call may run and signs the decision as a trace."),
    ("policy", "gait policy tests, validates, formats, scaffolds and compares gate policies."),
    ("approve", "gait approve mints a signed, scoped, expiring approval token for one intent and policy."),
    ("keys", "gait keys creates, rotates and checks the Ed25519 keys Gait signs with."),
    ("approve-script", "gait approve-script signs a registry entry that pre-approves one exact script under one policy."),
    ("list-scripts", "gait list-scripts lists the entries of an approved-script registry."),
    ("delegate", "gait delegate mints and verifies signed delegation tokens that let one identity act for another."),
    ("init", "gait init scans the repo for agent tools and writes a starter repo policy (.gait.yaml) with suggested rules."),
    ("check", "gait check compares the repo policy with the tools detected in the repo and reports gaps."),
    ("trace", "gait trace runs a child command, collects the gate traces it reports and validates them; gait trace verify checks a trace signature."),
    ("test", "gait test runs a child command in test mode and validates the gate traces it reports."),
    ("enforce", "gait enforce runs a child command and turns the verdicts of the gate traces it reports into its exit code."),
];

fn wrapper_result(
    mode: gait_gate::wrapper::Mode,
    f: WrapperFlags,
) -> (Result<CommandOutput, GaitError>, bool) {
    let json = f.json.json;
    let child = if f.child.is_empty() {
        // Without `--`, the remaining positionals are the child (flags were hoisted).
        f.positional
    } else if !f.positional.is_empty() {
        return (
            Err(GaitError::invalid(
                "unexpected positional arguments before --",
            )),
            json,
        );
    } else {
        f.child
    };
    let args = gait_gate::wrapper::WrapperArgs {
        mode,
        cwd: f.cwd,
        timeout: f.timeout,
        child,
    };
    let r = match gait_gate::wrapper::run_wrapper(&args) {
        Err(e) => Err(GaitError::from(e)),
        Ok(rep) => match rep.error {
            None => Ok(CommandOutput::new(rep.json, rep.text, rep.exit)),
            Some((category, message)) => {
                // The wrapper's fields ride along in the error envelope.
                let mut g = GaitError::new(category, message);
                for (k, v) in rep.json {
                    if k != "ok" {
                        g = g.with_extra(&k, v);
                    }
                }
                Err(g)
            }
        },
    };
    (r, json)
}

fn run(cli: Cli, argv: &[String]) -> (Result<CommandOutput, GaitError>, bool, &'static str) {
    use gait_gate::wrapper::Mode;
    match cli.command {
        Top::Init(f) => {
            let r = if !f.positional.is_empty() {
                Err(GaitError::invalid("unexpected positional arguments"))
            } else {
                gait_gate::onboarding::init(Path::new("."), &f.template, &f.out, f.force)
                    .map(|r| CommandOutput::new(r.json, r.text, 0))
                    .map_err(|e| {
                        GaitError::from(e)
                            .with_extra("contract", gait_gate::onboarding::contract_value())
                    })
            };
            (r, f.json.json, "init")
        }
        Top::Check(f) => {
            let policy = match (f.policy.trim().is_empty(), f.positional.as_slice()) {
                (false, []) => Ok(f.policy.trim().to_string()),
                (true, [p]) => Ok(p.trim().to_string()),
                (true, []) => Err(GaitError::invalid("--policy is required")),
                _ => Err(GaitError::invalid("unexpected positional arguments")),
            };
            let r = policy.and_then(|p| {
                gait_gate::onboarding::check(Path::new("."), &p)
                    .map(|r| CommandOutput::new(r.json, r.text, 0))
                    .map_err(|e| {
                        GaitError::from(e)
                            .with_extra("contract", gait_gate::onboarding::contract_value())
                    })
            });
            (r, f.json.json, "check")
        }
        Top::Trace(f) => match f.sub {
            Some(TraceCmd::Verify(v)) => {
                let r = match v.args.as_slice() {
                    [path] => gait_gate::wrapper::verify_trace(
                        path,
                        &KeySource::new(&v.public_key, &v.public_key_env),
                    )
                    .map_err(GaitError::from)
                    .and_then(|o| match o.failure {
                        None => Ok(CommandOutput::new(o.json, o.text, 0)),
                        Some(msg) => {
                            let mut g = GaitError::verification(msg);
                            for (k, val) in o.json {
                                g = g.with_extra(&k, val);
                            }
                            Err(g)
                        }
                    }),
                    _ => Err(GaitError::invalid("expected <trace.json>")),
                };
                (r, v.json.json, "trace verify")
            }
            None => {
                let after = argv.iter().skip(2);
                let has_separator = after.clone().any(|a| a == "--");
                if !has_separator {
                    let json = f.wrapper.json.json;
                    (Err(GaitError::invalid(TRACE_USAGE)), json, "trace")
                } else {
                    let (r, json) = wrapper_result(Mode::Trace, f.wrapper);
                    (r, json, "trace")
                }
            }
        },
        Top::Test(f) => {
            let (r, json) = wrapper_result(Mode::Test, f);
            (r, json, "test")
        }
        Top::Enforce(f) => {
            let (r, json) = wrapper_result(Mode::Enforce, f);
            (r, json, "enforce")
        }
        // --- voice (gait-voice)
        Top::Gate(GateCmd::CommitmentEval(f)) => {
            let args = gait_gate::commitment::CommitmentEvalArgs {
                policy: f.policy,
                intent: f.intent,
                trace_out: f.trace_out,
                key_mode: f.keys.key_mode,
                private_key: f.keys.private_key,
                private_key_env: f.keys.private_key_env,
                correlation_id: gait_sdk::output::correlation_id(argv),
            };
            let r = gait_gate::commitment::commitment_eval(&args).map_err(GaitError::from);
            (r, f.json, "gate commitment-eval")
        }
        // --- end voice
        Top::Gate(GateCmd::ContextEnvelope(ContextEnvelopeCmd::Create(f))) => {
            let args = gait_gate::context_envelope::CreateArgs {
                id: f.id,
                evidence_mode: f.evidence_mode,
                files: f.files,
                redaction_mode: f.redaction_mode,
                immutability: f.immutability,
                out: f.out,
                now: gait_sdk::time::GoTime::now_utc(),
            };
            let r = gait_gate::context_envelope::create(&args).map_err(|e| {
                let invalid = matches!(e, gait_gate::error::GateError::Invalid(_));
                let g = GaitError::from(e);
                if invalid {
                    g.with_hint(
                        "usage: gait gate context-envelope create --id <set id> \
                         --file <path>[:source_type[:locator]]... [--evidence-mode best_effort|required]",
                    )
                } else {
                    g
                }
            });
            (r, f.json, "gate context-envelope create")
        }
        Top::Gate(GateCmd::Eval(f)) => {
            let f = *f;
            let json = f.json;
            let result = if !f.positional.is_empty() {
                Err(GaitError::invalid("unexpected positional arguments"))
            } else {
                let args = GateEvalArgs {
                    policy: f.policy,
                    intent: f.intent,
                    trace_out: f.trace_out,
                    key_mode: f.keys.key_mode,
                    private_key: f.keys.private_key,
                    private_key_env: f.keys.private_key_env,
                    profile: f.profile,
                    approval_token: f.approval_token,
                    approval_token_chain: f.approval_token_chain,
                    approval_token_ref: f.approval_token_ref,
                    approval_audit_out: f.approval_audit_out,
                    approval_public_key: f.approval_public_key,
                    approval_public_key_env: f.approval_public_key_env,
                    approval_private_key: f.approval_private_key,
                    approval_private_key_env: f.approval_private_key_env,
                    rate_limit_state: f.rate_limit_state,
                    evaluation_time: f.evaluation_time,
                    simulate: f.simulate,
                    explain: f.explain,
                    config: f.config,
                    no_config: f.no_config,
                    credential_broker: f.extended.credential_broker.clone(),
                    approved_script_registry: f.extended.approved_script_registry.clone(),
                    approved_script_public_key: f.extended.approved_script_public_key.clone(),
                    approved_script_public_key_env: f
                        .extended
                        .approved_script_public_key_env
                        .clone(),
                    credential_env_prefix: f.extended.credential_env_prefix.clone(),
                    credential_ref: f.extended.credential_ref.clone(),
                    credential_scopes: f.extended.credential_scopes.clone(),
                    credential_command: f.extended.credential_command.clone(),
                    credential_command_args: f.extended.credential_command_args.clone(),
                    credential_evidence_out: f.extended.credential_evidence_out.clone(),
                    delegation_token: f.extended.delegation_token.clone(),
                    delegation_token_chain: f.extended.delegation_token_chain.clone(),
                    delegation_audit_out: f.extended.delegation_audit_out.clone(),
                    delegation_public_key: f.extended.delegation_public_key.clone(),
                    delegation_public_key_env: f.extended.delegation_public_key_env.clone(),
                    delegation_private_key: f.extended.delegation_private_key.clone(),
                    delegation_private_key_env: f.extended.delegation_private_key_env.clone(),
                    kill_switch_state: f.extended.kill_switch_state.clone().unwrap_or_default(),
                    wrkr_inventory: f.extended.wrkr_inventory.clone().unwrap_or_default(),
                    context_envelope: f.extended.context_envelope.clone().unwrap_or_default(),
                    correlation_id: gait_sdk::output::correlation_id(argv),
                    check_plugins: f.check_plugin,
                    check_plugin_trust_keys: f.check_plugin_trust_key,
                };
                commands::gate_eval(args).map_err(GaitError::from)
            };
            (result, json, "gate eval")
        }
        Top::Policy(cmd) => match cmd {
            PolicyCmd::Test { args, json } => {
                let r = match args.as_slice() {
                    [policy, intent] => commands::policy_test(policy, intent).map_err(Into::into),
                    _ => Err(GaitError::invalid(
                        "expected <policy.yaml> <intent_fixture.json>",
                    )),
                };
                (r, json.json, "policy test")
            }
            PolicyCmd::Validate { args, json } => {
                let r = match args.as_slice() {
                    [policy] => commands::policy_validate(policy).map_err(Into::into),
                    _ => Err(GaitError::invalid("expected <policy.yaml>")),
                };
                (r, json.json, "policy validate")
            }
            PolicyCmd::Fmt { args, write, json } => {
                let r = match args.as_slice() {
                    [policy] => commands::policy_fmt(policy, write).map_err(Into::into),
                    _ => Err(GaitError::invalid("expected <policy.yaml>")),
                };
                (r, json.json, "policy fmt")
            }
            PolicyCmd::Init {
                template,
                out,
                force,
                json,
            } => (
                commands::policy_init(&template, &out, force).map_err(Into::into),
                json.json,
                "policy init",
            ),
            PolicyCmd::Simulate {
                policy,
                baseline,
                fixtures,
                json,
            } => (
                commands::policy_simulate(&policy, &baseline, &fixtures).map_err(Into::into),
                json.json,
                "policy simulate",
            ),
        },
        Top::Approve(f) => {
            let a = ApproveArgs {
                intent_digest: f.intent_digest,
                policy_digest: f.policy_digest,
                delegation_binding_digest: f.delegation_binding_digest,
                ttl: f.ttl,
                scope: f.scope,
                approver: f.approver,
                reason_code: f.reason_code,
                max_targets: f.max_targets,
                max_ops: f.max_ops,
                out: f.out,
                key_mode: f.keys.key_mode,
                private_key: f.keys.private_key,
                private_key_env: f.keys.private_key_env,
            };
            (
                commands::approve(&a).map_err(Into::into),
                f.json.json,
                "approve",
            )
        }
        Top::ApproveScript(f) => {
            let a = ApproveScriptArgs {
                policy: f.policy,
                intent: f.intent,
                registry: f.registry,
                approver: f.approver,
                pattern_id: f.pattern_id,
                ttl: f.ttl,
                scope: f.scope,
                key_mode: f.keys.key_mode,
                private_key: f.keys.private_key,
                private_key_env: f.keys.private_key_env,
            };
            (
                commands::approve_script(&a).map_err(Into::into),
                f.json.json,
                "approve-script",
            )
        }
        Top::ListScripts(f) => (
            commands::list_scripts(&f.registry).map_err(Into::into),
            f.json.json,
            "list-scripts",
        ),
        Top::Delegate(DelegateCmd::Mint(f)) => {
            let a = DelegateMintArgs {
                delegator: f.delegator,
                delegate: f.delegate,
                scope: f.scope,
                scope_class: f.scope_class,
                intent_digest: f.intent_digest,
                policy_digest: f.policy_digest,
                ttl: f.ttl,
                out: f.out,
                key_mode: f.keys.key_mode,
                private_key: f.keys.private_key,
                private_key_env: f.keys.private_key_env,
            };
            (
                commands::delegate_mint(&a).map_err(Into::into),
                f.json.json,
                "delegate",
            )
        }
        Top::Delegate(DelegateCmd::Verify(f)) => {
            let a = DelegateVerifyArgs {
                token: f.token,
                public_key: f.public_key,
                public_key_env: f.public_key_env,
                private_key: f.private_key,
                private_key_env: f.private_key_env,
                delegator: f.delegator,
                delegate: f.delegate,
                scope: f.scope,
                intent_digest: f.intent_digest,
                policy_digest: f.policy_digest,
            };
            (
                commands::delegate_verify(&a).map_err(Into::into),
                f.json.json,
                "delegate",
            )
        }
        Top::Keys(cmd) => match cmd {
            KeysCmd::Init {
                out_dir,
                prefix,
                force,
                json,
            } => (
                commands::keys_init(&out_dir, &prefix, force).map_err(Into::into),
                json.json,
                "keys init",
            ),
            KeysCmd::Rotate {
                out_dir,
                prefix,
                json,
            } => (
                commands::keys_rotate(&out_dir, &prefix).map_err(Into::into),
                json.json,
                "keys rotate",
            ),
            KeysCmd::Verify {
                private_key,
                private_key_env,
                public_key,
                public_key_env,
                json,
            } => (
                commands::keys_verify(
                    &KeySource::new(&private_key, &private_key_env),
                    &KeySource::new(&public_key, &public_key_env),
                )
                .map_err(Into::into),
                json.json,
                "keys verify",
            ),
        },
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if gait_sdk::cli_spec::answer_probe::<Cli>(&argv, manifest) {
        return;
    }
    // `--explain` prints one line before any validation, except `gate eval --explain --json`,
    // which explains the decision itself.
    if let Some(top) = argv.get(1) {
        let rest = &argv[2..];
        let has = |f: &str| rest.iter().any(|a| a == f || a == &f[1..]);
        let explain_decision = top == "gate" && has("--json");
        if has("--explain") && !explain_decision {
            if let Some((_, line)) = EXPLAIN_LINES.iter().find(|(n, _)| n == top) {
                println!("{line}");
                return;
            }
        }
    }
    let cli = match parse_args::<Cli>(argv.clone(), "gait") {
        ParseOutcome::Parsed(c) => c,
        ParseOutcome::Exit(code) => std::process::exit(code),
    };
    let (result, json, label) = run(cli, &argv);
    let code = emit(result, json, &argv, label);
    std::process::exit(code);
}
