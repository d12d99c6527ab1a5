//! The registry commands of `gait plugin`: search, install, update, remove, verify, lock,
//! sync and sign, on top of the `gait-registry` library.
//!
//! This module is the command edge: it parses flags (clap, only when one of these commands
//! runs), decides whether the user can be asked to trust a key (a terminal) and draws
//! progress bars (a terminal, without `--json`). Everything else — what to install, whether
//! it verifies, what gets written — is `gait_registry`'s, which returns typed errors that map
//! onto exit codes (6 invalid input, 2 verification, 1 I/O).

use clap::Parser;
use gait_registry::index::RegistryLocation;
use gait_registry::install::{Installed, Progress};
use gait_registry::keys::{KeyApprover, KeyRequest, Keys, NewlyTrusted};
use gait_registry::lockfile::{Action, LOCK_FILE_NAME};
use gait_registry::ops::{self, Context, PluginSpec};
use gait_registry::sign::{generate_key, SigningKey, PASSWORD_ENV};
use gait_registry::verify::Status;
use gait_registry::RegistryError;
use gait_sdk::cli::CommandOutput;
use gait_sdk::trust::{TrustStore, TrustedKey};
use gait_sdk::GaitError;
use serde_json::{json, Map, Value};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where registry commands find the registry when `--registry` is not given.
pub const ENV_REGISTRY: &str = "GAIT_REGISTRY";
/// Test hook: milliseconds an install sleeps between writing the new install record entry and
/// renaming the new file into place (the acceptance tests interrupt installs there).
pub const ENV_TEST_INSTALL_PAUSE_MS: &str = "GAIT_TEST_INSTALL_PAUSE_MS";
/// Copies at least this large get a progress bar (on a terminal, without `--json`).
const PROGRESS_MIN_BYTES: u64 = 8 * 1024 * 1024;

/// Help shared by the commands that read a registry (a macro so `concat!` can use it).
macro_rules! source_help {
    () => {
        "Registry: a directory holding index.toml and index.toml.minisig (or the path of the index file); \
default $GAIT_REGISTRY. Registries are local (offline): mirror a remote one first.\n\n\
Trusting keys: the index and every plugin file must be signed by a key in the trust store ($GAIT_TRUST_DIR \
or ~/.gait/trust). An unknown key is added with --trust-key (a minisign .pub file or the base64 key line) or, \
on a terminal, after you confirm its key id; either way it is saved to the trust store. Without a terminal \
and without --trust-key, an unknown key is an error (exit 6) naming the key id.\n\n"
    };
}

#[derive(Debug, Parser)]
#[command(
    name = "gait plugin search",
    about = "List the plugins a registry offers",
    long_about = "List the plugins a registry offers, with the version `install` would pick for this machine \
(newest release for this target whose contract this gait speaks) and the installed version.\n\n\
The registry index must be signed by a trusted key; see --trust-key.",
    after_help = concat!(source_help!(), "Examples:\n  gait plugin search --registry ./registry\n  gait plugin search hello --json\n\n", "Exit codes: 0 ok, 2 the index signature does not verify, 6 bad input or an untrusted key.")
)]
struct SearchArgs {
    /// Show only plugins whose name or description contains this (case-insensitive).
    query: Option<String>,
    #[command(flatten)]
    source: SourceArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct SourceArgs {
    /// Registry directory or index.toml (default: $GAIT_REGISTRY).
    #[arg(long, value_name = "DIR|INDEX")]
    registry: Option<String>,
    /// Trust this minisign public key (.pub file or base64) if it signed the index or the
    /// plugin; it is saved to the trust store. Repeatable.
    #[arg(long = "trust-key", value_name = "KEY")]
    trust_key: Vec<String>,
}

#[derive(Debug, Parser)]
#[command(
    name = "gait plugin install",
    about = "Install a plugin from a registry into the plugin directory",
    long_about = "Install a plugin from a registry into the plugin directory ($GAIT_PLUGIN_DIR or ~/.gait/plugins).\n\n\
The newest release matching the version requirement is chosen among the files for this target (or `any`) \
whose contract this gait speaks. The file is copied, its sha256 checked against the signed index and its \
minisign signature against the trust store, and it is recorded in installed.toml before it is renamed into \
place: an interrupted install leaves the previous version working.",
    after_help = concat!(source_help!(), "Examples:\n  gait plugin install hello --registry ./registry\n  gait plugin install hello@^0.2\n  gait plugin install hello@=0.2.1 --trust-key publisher.pub\n\n", "Exit codes: 0 installed (or already installed), 2 a hash or signature does not verify, 6 bad input, an unknown plugin or version, or an untrusted key.")
)]
struct InstallArgs {
    /// `name` or `name@<semver requirement>` (`hello@0.2` means ^0.2, `hello@=0.2.1` exactly).
    plugin: String,
    #[command(flatten)]
    source: SourceArgs,
    /// Reinstall even if exactly this file is already installed.
    #[arg(long)]
    force: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Parser)]
#[command(
    name = "gait plugin update",
    about = "Update installed plugins to the newest version their registry offers",
    long_about = "Update every plugin installed from a registry (or only the named one) to the newest release \
the registry offers for this target and contract. Without --registry or $GAIT_REGISTRY, each plugin is \
updated from the registry it was installed from. Never downgrades.",
    after_help = concat!(source_help!(), "Examples:\n  gait plugin update\n  gait plugin update hello@^0.3 --registry ./registry --json")
)]
struct UpdateArgs {
    /// Only this plugin (`name` or `name@<semver requirement>`).
    plugin: Option<String>,
    #[command(flatten)]
    source: SourceArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Parser)]
#[command(
    name = "gait plugin remove",
    about = "Remove a plugin installed from a registry",
    after_help = "Example:\n  gait plugin remove hello"
)]
struct RemoveArgs {
    /// The plugin name.
    plugin: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Parser)]
#[command(
    name = "gait plugin verify",
    about = "Verify every plugin in the plugin directory",
    long_about = "Verify every plugin in the plugin directory against the install record and the trust store: \
ok (its sha256 matches the record and the recorded signature verifies with a trusted key), tampered, \
unsigned (not installed from a registry and not signed), unknown_key, or missing (recorded, file gone).",
    after_help = "Exit codes: 0 all ok, 2 any plugin failed."
)]
struct VerifyArgs {
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Parser)]
#[command(
    name = "gait plugin lock",
    about = "Pin the installed plugins in gait.lock",
    long_about = "Write gait.lock (in the current directory unless --out) pinning every plugin installed from a \
registry: name, version, sha256, contract version and registry. With --registry (or $GAIT_REGISTRY) every pin \
is checked to be published there, so `gait plugin sync --locked` can reproduce it.",
    after_help = concat!(source_help!(), "Example:\n  gait plugin lock --registry ./registry && git add gait.lock")
)]
struct LockArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Where to write the lock file.
    #[arg(long, value_name = "PATH", default_value = LOCK_FILE_NAME)]
    out: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Parser)]
#[command(
    name = "gait plugin sync",
    about = "Install exactly the plugins gait.lock pins",
    long_about = "Install exactly the plugins gait.lock pins. Every pin is checked against its registry first: a \
pin the registry does not publish is an error (exit 6), a published file whose sha256 or contract differs from \
the pin is drift (exit 2).\n\n\
With --locked (CI), installed plugins must already match the lock apart from missing ones, which are \
installed: a different version, a tampered file or a plugin the lock does not pin is drift (exit 2) and \
nothing changes. Without --locked, the plugin directory is made to match (replacing and removing).",
    after_help = concat!(source_help!(), "Example (CI):\n  gait plugin sync --locked --registry ./registry --trust-key publisher.pub\n\nExit codes: 0 in sync, 2 drift (hash, signature, installed state), 6 a pin that cannot be resolved.")
)]
struct SyncArgs {
    /// Fail on any drift instead of changing installed plugins.
    #[arg(long)]
    locked: bool,
    /// The lock file.
    #[arg(long, value_name = "PATH", default_value = LOCK_FILE_NAME)]
    lock: PathBuf,
    #[command(flatten)]
    source: SourceArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Parser)]
#[command(
    name = "gait plugin sign",
    about = "Sign files with a minisign secret key (publishers)",
    long_about = "Sign files with a minisign secret key, writing <file>.minisig next to each (the format `minisign -V` \
verifies). Registry publishers sign every plugin file and index.toml. Unencrypted keys (`minisign -G -W`) need \
nothing else; for an encrypted key set $GAIT_SIGN_PASSWORD.\n\n\
--generate-key <prefix> creates a new key pair instead (<prefix>.key, <prefix>.pub; encrypted when \
$GAIT_SIGN_PASSWORD is set); existing files are never overwritten.",
    after_help = "Examples:\n  gait plugin sign --key ~/.minisign/minisign.key registry/plugins/* registry/index.toml\n  gait plugin sign --generate-key ./publisher"
)]
struct SignArgs {
    /// The minisign secret key.
    #[arg(
        long,
        value_name = "SECRET_KEY",
        required_unless_present = "generate_key"
    )]
    key: Option<PathBuf>,
    /// The trusted comment (signed); default `timestamp:<t>\tfile:<name>\thashed` like minisign.
    #[arg(long, value_name = "TEXT")]
    trusted_comment: Option<String>,
    /// Also write the key's public half (minisign .pub format) to this path.
    #[arg(long, value_name = "PATH")]
    write_public: Option<PathBuf>,
    /// Generate a key pair at <PREFIX>.key / <PREFIX>.pub instead of signing.
    #[arg(long, value_name = "PREFIX", conflicts_with_all = ["key", "files"])]
    generate_key: Option<PathBuf>,
    /// Files to sign.
    #[arg(value_name = "FILE", required_unless_present = "generate_key")]
    files: Vec<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs `gait plugin <sub> <args…>` for the registry subcommands. (`--json` is a flag of
/// every subcommand; the launcher has already chosen the error format from it.)
pub fn run(sub: &str, args: &[OsString], _json: bool) -> Result<CommandOutput, GaitError> {
    match sub {
        "search" => parse::<SearchArgs>(sub, args).and_then(|a| a.map_or_else(Ok, search)),
        "install" => parse::<InstallArgs>(sub, args).and_then(|a| a.map_or_else(Ok, install)),
        "update" => parse::<UpdateArgs>(sub, args).and_then(|a| a.map_or_else(Ok, update)),
        "remove" => parse::<RemoveArgs>(sub, args).and_then(|a| a.map_or_else(Ok, remove)),
        "verify" => parse::<VerifyArgs>(sub, args).and_then(|a| a.map_or_else(Ok, verify)),
        "lock" => parse::<LockArgs>(sub, args).and_then(|a| a.map_or_else(Ok, lock)),
        "sync" => parse::<SyncArgs>(sub, args).and_then(|a| a.map_or_else(Ok, sync)),
        "sign" => parse::<SignArgs>(sub, args).and_then(|a| a.map_or_else(Ok, sign)),
        _ => Err(
            GaitError::invalid(format!("unknown plugin subcommand {sub:?}"))
                .with_hint("run `gait plugin --help` for usage"),
        ),
    }
}

/// Parses the arguments: `Ok(Err(output))` is help to print, `Ok(Ok(args))` arguments.
fn parse<T: Parser>(sub: &str, args: &[OsString]) -> Result<Result<T, CommandOutput>, GaitError> {
    let argv =
        std::iter::once(OsString::from(format!("gait plugin {sub}"))).chain(args.iter().cloned());
    match T::try_parse_from(argv) {
        Ok(t) => Ok(Ok(t)),
        Err(e) => {
            use clap::error::ErrorKind;
            let rendered = e.render().to_string();
            match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let mut m = Map::new();
                    m.insert("help".into(), Value::String(rendered.clone()));
                    Ok(Err(CommandOutput::new(m, rendered, 0)))
                }
                _ => {
                    // "error: <what>" plus indented detail lines, then tips and usage.
                    let message = rendered
                        .lines()
                        .take_while(|l| !l.trim().is_empty())
                        .map(str::trim)
                        .collect::<Vec<_>>()
                        .join(" ");
                    let message = message.trim_start_matches("error: ").to_string();
                    let tip = rendered
                        .lines()
                        .map(str::trim)
                        .find_map(|l| l.strip_prefix("tip: "))
                        .map(|t| format!("{t}; "))
                        .unwrap_or_default();
                    Err(GaitError::invalid(message)
                        .with_hint(format!("{tip}run `gait plugin {sub} --help` for usage")))
                }
            }
        }
    }
}

fn reg_err(e: RegistryError) -> GaitError {
    e.into()
}

/// `--registry`, else `$GAIT_REGISTRY`.
fn registry_location(flag: Option<&str>) -> Result<Option<RegistryLocation>, GaitError> {
    let env = std::env::var(ENV_REGISTRY)
        .ok()
        .filter(|v| !v.trim().is_empty());
    match flag.map(str::to_string).or(env) {
        Some(r) => RegistryLocation::resolve(&r).map(Some).map_err(reg_err),
        None => Ok(None),
    }
}

fn required_registry(flag: Option<&str>) -> Result<RegistryLocation, GaitError> {
    registry_location(flag)?.ok_or_else(|| {
        GaitError::invalid("no registry given").with_hint(format!(
            "pass --registry <directory holding index.toml> or set {ENV_REGISTRY}"
        ))
    })
}

fn plugin_dir() -> Result<PathBuf, GaitError> {
    crate::config::Config::from_env().plugin_dir.ok_or_else(|| {
        GaitError::invalid("no plugin directory")
            .with_hint(format!("set {} or HOME", crate::config::ENV_PLUGIN_DIR))
    })
}

fn trust_keys(args: &[String]) -> Result<Vec<TrustedKey>, GaitError> {
    args.iter()
        .map(|a| {
            TrustedKey::from_arg(a).map_err(|e| {
                GaitError::invalid(format!("--trust-key: {e}")).with_hint(
                    "pass a minisign public key: the .pub file made by `minisign -G`, or its base64 key line",
                )
            })
        })
        .collect()
}

fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks on the terminal whether to trust a key the registry offers.
struct TerminalApprover {
    interactive: bool,
}

impl KeyApprover for TerminalApprover {
    fn approve(&mut self, req: &KeyRequest<'_>) -> gait_registry::Result<Option<TrustedKey>> {
        if !self.interactive {
            return Ok(None);
        }
        // Without the public key itself there is nothing to trust; --trust-key is the way.
        let Some(offered) = req.offered else {
            return Ok(None);
        };
        let term = dialoguer::console::Term::stderr();
        let _ = term.write_line(&format!(
            "{} is signed by minisign key {}, which you do not trust yet.\n  public key: {}\n  offered by: {}\nCheck the key id with the publisher before trusting it.",
            req.what,
            req.key_id,
            offered.key.base64,
            offered.path.display()
        ));
        let yes = dialoguer::Confirm::new()
            .with_prompt(format!("Trust key {} for gait plugins?", req.key_id))
            .default(false)
            .interact_on(&term)
            .map_err(|e| RegistryError::io(format!("prompt: {e}")))?;
        if !yes {
            return Err(RegistryError::invalid_hint(
                format!("you did not trust key {}", req.key_id),
                "nothing was changed; to trust it later, pass --trust-key <its .pub file>",
            ));
        }
        Ok(Some(offered.key.clone()))
    }
}

/// An indicatif bar on stderr for large copies.
struct BarProgress {
    enabled: bool,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress for BarProgress {
    fn start(&mut self, label: &str, total: u64) {
        if !self.enabled || total < PROGRESS_MIN_BYTES {
            return;
        }
        let pb = indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::stderr(),
        );
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} {bar:40} {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb.set_message(label.to_string());
        self.bar = Some(pb);
    }
    fn advance(&mut self, done: u64) {
        if let Some(b) = &self.bar {
            b.set_position(done);
        }
    }
    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

fn test_pause() -> Option<Duration> {
    std::env::var(ENV_TEST_INSTALL_PAUSE_MS)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_millis)
}

/// Runs `f` with a registry context; returns its result and the keys trusted on the way.
fn with_context<T>(
    json: bool,
    trust_key_args: &[String],
    force: bool,
    f: impl FnOnce(&mut Context<'_>) -> gait_registry::Result<T>,
) -> Result<(T, Vec<NewlyTrusted>), GaitError> {
    let dir = plugin_dir()?;
    let preapproved = trust_keys(trust_key_args)?;
    let store = TrustStore::load_default()
        .map_err(|e| reg_err(RegistryError::from(e).context("trust store")))?;
    let mut approver = TerminalApprover {
        interactive: interactive(),
    };
    let mut progress = BarProgress {
        enabled: !json && std::io::stderr().is_terminal(),
        bar: None,
    };
    let keys = Keys::new(store, preapproved, &mut approver);
    let mut ctx = Context::new(dir, keys, &mut progress);
    ctx.options.pause_before_rename = test_pause();
    ctx.options.force = force;
    let out = f(&mut ctx).map_err(reg_err)?;
    let trusted = ctx.keys.newly_trusted().to_vec();
    Ok((out, trusted))
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn trusted_text(out: &mut String, trusted: &[NewlyTrusted]) {
    for k in trusted {
        let _ = writeln!(out, "trusted key {} (saved to {})", k.key_id, k.path);
    }
}

fn installed_line(i: &Installed) -> String {
    let what = match (&i.previous_version, i.changed) {
        (_, false) => format!("{} {} is already installed", i.name, i.version),
        (Some(prev), true) if *prev != i.version => {
            format!("updated {} {} -> {}", i.name, prev, i.version)
        }
        (_, true) => format!("installed {} {}", i.name, i.version),
    };
    format!(
        "{what}: {} (sha256 {}, signed by key {})\n",
        i.path, i.sha256, i.key_id
    )
}

fn search(a: SearchArgs) -> Result<CommandOutput, GaitError> {
    let loc = required_registry(a.source.registry.as_deref())?;
    let (report, trusted) = with_context(a.json, &a.source.trust_key, false, |ctx| {
        ops::search(ctx, &loc, a.query.as_deref())
    })?;
    let mut text = String::new();
    trusted_text(&mut text, &trusted);
    let _ = writeln!(
        text,
        "registry {} (index signed by key {}), target {}",
        report.registry, report.key_id, report.target
    );
    if report.plugins.is_empty() {
        text.push_str("no matching plugins\n");
    } else {
        let rows: Vec<[String; 4]> = report
            .plugins
            .iter()
            .map(|p| {
                [
                    p.name.clone(),
                    p.latest.clone().unwrap_or_else(|| "-".into()),
                    p.installed.clone().unwrap_or_else(|| "-".into()),
                    p.description.clone(),
                ]
            })
            .collect();
        text.push_str(&table(
            &["NAME", "LATEST", "INSTALLED", "DESCRIPTION"],
            &rows,
        ));
    }
    let mut m = Map::new();
    m.insert("registry".into(), json!(report.registry));
    m.insert("key_id".into(), json!(report.key_id));
    m.insert("target".into(), json!(report.target));
    m.insert("plugins".into(), to_value(&report.plugins));
    m.insert("trusted_keys".into(), to_value(&trusted));
    Ok(CommandOutput::new(m, text, 0))
}

fn install(a: InstallArgs) -> Result<CommandOutput, GaitError> {
    let spec = PluginSpec::parse(&a.plugin).map_err(reg_err)?;
    let loc = required_registry(a.source.registry.as_deref())?;
    let (done, trusted) = with_context(a.json, &a.source.trust_key, a.force, |ctx| {
        ops::install(ctx, &loc, &spec)
    })?;
    let mut text = String::new();
    trusted_text(&mut text, &trusted);
    text.push_str(&installed_line(&done));
    let mut m = Map::new();
    m.insert("plugin".into(), to_value(&done));
    m.insert("trusted_keys".into(), to_value(&trusted));
    Ok(CommandOutput::new(m, text, 0))
}

fn update(a: UpdateArgs) -> Result<CommandOutput, GaitError> {
    let spec = a
        .plugin
        .as_deref()
        .map(PluginSpec::parse)
        .transpose()
        .map_err(reg_err)?;
    let loc = registry_location(a.source.registry.as_deref())?;
    let (report, trusted) = with_context(a.json, &a.source.trust_key, false, |ctx| {
        ops::update(ctx, loc.as_ref(), spec.as_ref())
    })?;
    let mut text = String::new();
    trusted_text(&mut text, &trusted);
    for i in &report.updated {
        text.push_str(&installed_line(i));
    }
    for u in &report.up_to_date {
        let _ = writeln!(
            text,
            "{} {} is up to date (registry offers {})",
            u.name, u.version, u.available
        );
    }
    if report.updated.is_empty() && report.up_to_date.is_empty() {
        text.push_str("no plugins installed from a registry\n");
    }
    let mut m = Map::new();
    m.insert("updated".into(), to_value(&report.updated));
    m.insert("up_to_date".into(), to_value(&report.up_to_date));
    m.insert("trusted_keys".into(), to_value(&trusted));
    Ok(CommandOutput::new(m, text, 0))
}

fn remove(a: RemoveArgs) -> Result<CommandOutput, GaitError> {
    let dir = plugin_dir()?;
    let r = ops::remove(&dir, &a.plugin).map_err(reg_err)?;
    let text = format!(
        "removed {}{} ({})\n",
        r.name,
        r.version
            .as_deref()
            .map(|v| format!(" {v}"))
            .unwrap_or_default(),
        r.path
    );
    let mut m = Map::new();
    m.insert("removed".into(), to_value(&r));
    Ok(CommandOutput::new(m, text, 0))
}

fn verify(a: VerifyArgs) -> Result<CommandOutput, GaitError> {
    let (report, _) = with_context(a.json, &[], false, |ctx| {
        let dir = ctx.plugin_dir.clone();
        ops::verify(&dir, &ctx.keys)
    })?;
    let mut text = String::new();
    if report.plugins.is_empty() {
        let _ = writeln!(text, "no plugins in {}", report.plugin_dir);
    } else {
        let rows: Vec<[String; 4]> = report
            .plugins
            .iter()
            .map(|c| {
                [
                    c.name.clone(),
                    c.status.as_str().to_string(),
                    c.version.clone().unwrap_or_else(|| "-".into()),
                    if c.status == Status::Ok {
                        c.key_id
                            .as_deref()
                            .map(|k| format!("signed by key {k}"))
                            .unwrap_or_else(|| "trusted file".into())
                    } else {
                        c.reason.clone()
                    },
                ]
            })
            .collect();
        text.push_str(&table(&["NAME", "STATUS", "VERSION", "DETAIL"], &rows));
        let _ = writeln!(
            text,
            "{} of {} plugins verified in {}",
            report.plugins.len() - report.failed,
            report.plugins.len(),
            report.plugin_dir
        );
    }
    let mut m = Map::new();
    m.insert("ok".into(), json!(report.failed == 0));
    m.insert("plugin_dir".into(), json!(report.plugin_dir));
    m.insert("plugins".into(), to_value(&report.plugins));
    m.insert("failed".into(), json!(report.failed));
    let exit = if report.failed == 0 {
        0
    } else {
        gait_sdk::error::exit::VERIFICATION_FAILED
    };
    if exit != 0 {
        m.insert("error_code".into(), json!("verification_failed"));
        m.insert(
            "hint".into(),
            json!("reinstall failing plugins with `gait plugin install <name>`; trust unknown keys with --trust-key"),
        );
    }
    Ok(CommandOutput::new(m, text, exit))
}

fn lock(a: LockArgs) -> Result<CommandOutput, GaitError> {
    let loc = registry_location(a.source.registry.as_deref())?;
    let (report, trusted) = with_context(a.json, &a.source.trust_key, false, |ctx| {
        ops::lock(ctx, loc.as_ref(), &a.out)
    })?;
    let mut text = String::new();
    trusted_text(&mut text, &trusted);
    let _ = writeln!(
        text,
        "wrote {}: {} plugin{} pinned",
        report.path,
        report.plugins.len(),
        if report.plugins.len() == 1 { "" } else { "s" }
    );
    for p in &report.plugins {
        let _ = writeln!(text, "  {} {} sha256 {}", p.name, p.version, p.sha256);
    }
    if !report.unmanaged.is_empty() {
        let _ = writeln!(
            text,
            "not pinned (not installed from a registry): {}",
            report.unmanaged.join(", ")
        );
    }
    let mut m = Map::new();
    m.insert("path".into(), json!(report.path));
    m.insert("plugins".into(), to_value(&report.plugins));
    m.insert("unmanaged".into(), to_value(&report.unmanaged));
    m.insert("trusted_keys".into(), to_value(&trusted));
    Ok(CommandOutput::new(m, text, 0))
}

fn sync(a: SyncArgs) -> Result<CommandOutput, GaitError> {
    let loc = registry_location(a.source.registry.as_deref())?;
    let (report, trusted) = with_context(a.json, &a.source.trust_key, false, |ctx| {
        ops::sync(ctx, &a.lock, loc.as_ref(), a.locked)
    })?;
    let mut text = String::new();
    trusted_text(&mut text, &trusted);
    for act in &report.actions {
        let line = match act {
            Action::Keep { name, version } => format!("{name} {version} is already installed"),
            Action::Install { name, version } => format!("installed {name} {version}"),
            Action::Replace { name, from, to } => format!(
                "replaced {name} {} with {to}",
                from.as_deref().unwrap_or("(unverified)")
            ),
            Action::Remove { name, version } => format!(
                "removed {name}{}",
                version
                    .as_deref()
                    .map(|v| format!(" {v}"))
                    .unwrap_or_default()
            ),
        };
        let _ = writeln!(text, "{line}");
    }
    let _ = writeln!(
        text,
        "plugin directory matches {} ({} pinned)",
        report.lock,
        report
            .actions
            .iter()
            .filter(|a| !matches!(a, Action::Remove { .. }))
            .count()
    );
    let mut m = Map::new();
    m.insert("lock".into(), json!(report.lock));
    m.insert("locked".into(), json!(report.locked));
    m.insert("actions".into(), to_value(&report.actions));
    m.insert("installed".into(), to_value(&report.installed));
    m.insert("removed".into(), to_value(&report.removed));
    m.insert("trusted_keys".into(), to_value(&trusted));
    Ok(CommandOutput::new(m, text, 0))
}

fn password() -> Option<String> {
    std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty())
}

fn sign(a: SignArgs) -> Result<CommandOutput, GaitError> {
    if let Some(prefix) = &a.generate_key {
        let g = generate_key(prefix, password().as_deref()).map_err(reg_err)?;
        let text = format!(
            "generated minisign key {}\n  secret key: {}\n  public key: {}\n",
            g.key_id,
            g.secret_path.display(),
            g.public_path.display()
        );
        let mut m = Map::new();
        m.insert("key_id".into(), json!(g.key_id));
        m.insert(
            "secret_key".into(),
            json!(g.secret_path.display().to_string()),
        );
        m.insert(
            "public_key".into(),
            json!(g.public_path.display().to_string()),
        );
        return Ok(CommandOutput::new(m, text, 0));
    }
    let Some(key_path) = &a.key else {
        return Err(GaitError::invalid("--key is required")
            .with_hint("pass --key <minisign secret key> or --generate-key <prefix>"));
    };
    let key = SigningKey::load(key_path, password().as_deref()).map_err(reg_err)?;
    // Check every file first: nothing is signed when one of them cannot be.
    for f in &a.files {
        match std::fs::metadata(f) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(GaitError::invalid(format!(
                    "{} is not a regular file",
                    f.display()
                )))
            }
            Err(e) => {
                return Err(GaitError::invalid(format!(
                    "open {}: {}",
                    f.display(),
                    gait_sdk::fsutil::go_io_reason(&e)
                )))
            }
        }
    }
    let mut text = String::new();
    let mut sigs = Vec::new();
    for f in &a.files {
        let out = key
            .sign_to_file(f, a.trusted_comment.as_deref())
            .map_err(reg_err)?;
        let _ = writeln!(text, "signed {} -> {}", f.display(), out.display());
        sigs.push(json!({"file": f.display().to_string(), "signature": out.display().to_string()}));
    }
    if let Some(p) = &a.write_public {
        write_public(p, &key)?;
        let _ = writeln!(text, "public key {} written to {}", key.key_id, p.display());
    }
    let _ = writeln!(text, "key id {}", key.key_id);
    let mut m = Map::new();
    m.insert("key_id".into(), json!(key.key_id));
    m.insert("public_key".into(), json!(key.public_key().base64));
    m.insert("signatures".into(), Value::Array(sigs));
    Ok(CommandOutput::new(m, text, 0))
}

fn write_public(path: &Path, key: &SigningKey) -> Result<(), GaitError> {
    gait_sdk::fsutil::write_atomic(path, key.public_key_file().as_bytes(), 0o644).map_err(|e| {
        GaitError::io(format!(
            "write {}: {}",
            path.display(),
            gait_sdk::fsutil::go_io_reason(&e)
        ))
    })
}

/// A left-aligned text table (the last column is not padded).
fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for (i, h) in header.iter().enumerate() {
        widths[i] = h.chars().count();
    }
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == N {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

/// The clap definitions of these subcommands, for completions and man pages.
pub fn commands() -> Vec<clap::Command> {
    use clap::CommandFactory;
    vec![
        SearchArgs::command().name("search"),
        InstallArgs::command().name("install"),
        UpdateArgs::command().name("update"),
        RemoveArgs::command().name("remove"),
        VerifyArgs::command().name("verify"),
        LockArgs::command().name("lock"),
        SyncArgs::command().name("sync"),
        SignArgs::command().name("sign"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn help_is_output_and_usage_errors_are_invalid_input() {
        let out = run("install", &args(&["--help"]), false).unwrap();
        assert_eq!(out.exit, 0);
        assert!(
            out.text.contains("Usage: gait plugin install"),
            "{}",
            out.text
        );
        assert!(out.text.contains("--trust-key"));
        let e = run("install", &args(&[]), false).unwrap_err();
        assert_eq!(e.exit_code(), 6);
        assert!(e.hint.unwrap().contains("gait plugin install --help"));
        let e = run(
            "install",
            &args(&["Bad Name", "--registry", "/nonexistent"]),
            false,
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 6);
        let e = run("sign", &args(&[]), false).unwrap_err();
        assert_eq!(e.exit_code(), 6);
    }

    #[test]
    fn tables_align() {
        let t = table(
            &["A", "BB"],
            &[
                ["long".to_string(), "x".to_string()],
                ["s".to_string(), "y".to_string()],
            ],
        );
        assert_eq!(t, "A     BB\nlong  x\ns     y\n");
    }
}
