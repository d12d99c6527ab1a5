//! `gait plugin trust`: trust one exact plugin file (its sha256), or a minisign public key whose
//! signatures admit plugins, or list what is trusted.

use clap::Parser;
use gait_sdk::cli::CommandOutput;
use gait_sdk::error::exit;
use gait_sdk::trust::{sha256_file, TrustStore, TrustedKey};
use gait_sdk::GaitError;
use serde_json::{json, Map, Value};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(
    name = "gait plugin trust",
    about = "Trust a plugin file by its exact content, or a minisign key whose signatures admit plugins",
    long_about = "Trust a plugin file by its exact content (its sha256 is recorded; any later change \
makes the launcher refuse it again), or a minisign public key: plugins with a valid <file>.minisig \
from a trusted key run from PATH or the plugin directory. The trust store is $GAIT_TRUST_DIR, \
else ~/.gait/trust.",
    disable_help_subcommand = true
)]
struct TrustArgs {
    /// Plugin file to trust (a `gait-<name>` executable).
    #[arg(value_name = "PATH", conflicts_with_all = ["key", "list"])]
    path: Option<PathBuf>,
    /// Minisign public key to trust: a `.pub` file or the base64 key line.
    #[arg(long, value_name = "KEY")]
    key: Option<String>,
    /// List the trusted keys and files.
    #[arg(long)]
    list: bool,
    /// Print machine-readable JSON.
    #[arg(long)]
    json: bool,
}

fn store() -> Result<TrustStore, GaitError> {
    let dir = TrustStore::default_dir().ok_or_else(|| {
        GaitError::invalid("no trust directory").with_hint("set HOME or GAIT_TRUST_DIR")
    })?;
    TrustStore::load(&dir).map_err(|e| {
        GaitError::new(gait_sdk::Category::VerificationFailed, e.to_string())
            .with_hint("fix or remove the trust store file named above")
    })
}

/// The path the launcher will see: canonical directory, file name as given.
fn launcher_path(p: &Path) -> Result<PathBuf, GaitError> {
    let name = p
        .file_name()
        .ok_or_else(|| GaitError::invalid(format!("{} is not a file", p.display())))?;
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = dir.canonicalize().map_err(|e| {
        GaitError::invalid(format!("{}: {e}", p.display()))
            .with_hint("pass the path of an existing plugin file")
    })?;
    Ok(dir.join(name))
}

pub fn run(args: &[OsString], _json: bool) -> Result<CommandOutput, GaitError> {
    let argv = std::iter::once(OsString::from("gait plugin trust")).chain(args.iter().cloned());
    let a = match TrustArgs::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            return Ok(CommandOutput::new(Map::new(), e.to_string(), exit::OK));
        }
        Err(e) => {
            return Err(GaitError::invalid(e.kind().to_string())
                .with_hint("run `gait plugin trust --help` for usage"))
        }
    };
    let mut store = store()?;
    let mut m = Map::new();
    if a.list {
        let keys: Vec<Value> = store
            .keys()
            .iter()
            .map(|k| json!({"key_id": k.id, "source": k.source}))
            .collect();
        let files: Vec<Value> = store
            .files()
            .iter()
            .map(|f| json!({"path": f.path, "sha256": f.sha256, "trusted_at": f.trusted_at}))
            .collect();
        let mut text = String::new();
        for k in store.keys() {
            text.push_str(&format!("key  {}  {}\n", k.id, k.source));
        }
        for f in store.files() {
            text.push_str(&format!("file {}  sha256:{}\n", f.path, f.sha256));
        }
        if text.is_empty() {
            text.push_str("nothing is trusted yet\n");
        }
        m.insert("keys".into(), Value::Array(keys));
        m.insert("files".into(), Value::Array(files));
        return Ok(CommandOutput::new(m, text, exit::OK));
    }
    if let Some(k) = &a.key {
        let key = TrustedKey::from_arg(k).map_err(|e| {
            GaitError::invalid(e.to_string())
                .with_hint("pass a minisign public key file (.pub) or its base64 line")
        })?;
        let id = key.id.clone();
        let written = store
            .persist_key(key)
            .map_err(|e| GaitError::new(gait_sdk::Category::IoFailure, e.to_string()))?;
        m.insert("key_id".into(), json!(id));
        m.insert("path".into(), json!(written.display().to_string()));
        return Ok(CommandOutput::new(
            m,
            format!("trusted key {id} ({})\n", written.display()),
            exit::OK,
        ));
    }
    let Some(path) = a.path else {
        return Err(
            GaitError::invalid("expected a plugin path, --key or --list")
                .with_hint("run `gait plugin trust --help` for usage"),
        );
    };
    let p = launcher_path(&path)?;
    if !p.is_file() {
        return Err(GaitError::invalid(format!("{} is not a file", p.display())));
    }
    let sha =
        sha256_file(&p).map_err(|e| GaitError::invalid(format!("read {}: {e}", p.display())))?;
    let now = gait_sdk::time::GoTime::now_utc().to_rfc3339();
    store
        .persist_file(&p, &sha, &now)
        .map_err(|e| GaitError::new(gait_sdk::Category::IoFailure, e.to_string()))?;
    m.insert("path".into(), json!(p.display().to_string()));
    m.insert("sha256".into(), json!(sha));
    m.insert("trusted_at".into(), json!(now));
    Ok(CommandOutput::new(
        m,
        format!(
            "trusted {} (sha256 {sha}); any change to the file revokes this\n",
            p.display()
        ),
        exit::OK,
    ))
}

/// The clap definition of `gait plugin trust`, for completions and man pages.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    TrustArgs::command().name("trust")
}
