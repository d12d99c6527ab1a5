//! Creating fixtures (spec §2.3): `regress init`, `regress add`, `regress bootstrap`, and
//! the fixture step of `tour`.
//!
//! Everything is checked before anything is written: the source is resolved, unpacked
//! (run packs and callpacks carry their runpack), verified and read; the fixture name is
//! validated; the existing `gait.yaml` is parsed. Only then are the fixture's runpack, its
//! `fixture.json` and `gait.yaml` written, as one atomic batch under the workspace lock, so
//! a bad input leaves the workspace as it was and two concurrent `regress add` runs cannot
//! lose each other's entry.

use crate::capture::Receipt;
use crate::config::{Config, DEFAULT_CONFIG};
use crate::error::RegressError;
use crate::fixture::{sanitize, valid_name, Fixture, FIXTURE_FILE, RUNPACK_FILE};
use crate::run::{self, Progress, RunArgs};
use crate::source::{self, resolve_source, Source};
use crate::trajectory;
use gait_sdk::cli::CommandOutput;
use gait_sdk::error::exit;
use gait_sdk::fsutil::{self, LockError, LockFile};
use serde_json::{json, Map};
use std::path::{Path, PathBuf};
use std::time::Duration;

type R<T> = Result<T, RegressError>;

pub const FIXTURES_DIR: &str = "fixtures";
pub const NEXT_RUN: &str = "gait regress run --json";
const LOCK_FILE: &str = "gait.yaml.lock";

/// What `init_fixture` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub run_id: String,
    pub fixture_name: String,
    pub fixture_dir: String,
    pub runpack_path: String,
    pub config_path: String,
}

impl Created {
    fn members(&self, m: &mut Map<String, serde_json::Value>) {
        m.insert("run_id".into(), json!(self.run_id));
        m.insert("fixture_name".into(), json!(self.fixture_name));
        m.insert("fixture_dir".into(), json!(self.fixture_dir));
        m.insert("runpack_path".into(), json!(self.runpack_path));
        m.insert("config_path".into(), json!(self.config_path));
    }
}

/// Config entries for the fixture directories on disk, when there is no `gait.yaml` yet
/// (the reference's regeneration). `skip` is the fixture being written.
fn scan_fixtures(skip: &str) -> R<Config> {
    let mut config = Config::default();
    let dir = Path::new(FIXTURES_DIR);
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(config),
        Err(e) => {
            return Err(RegressError::Io(format!(
                "read {FIXTURES_DIR}: {}",
                fsutil::go_io_reason(&e)
            )))
        }
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| valid_name(n) && n != skip)
        .collect();
    names.sort();
    for name in names {
        let d = dir.join(&name);
        let shown = format!("{FIXTURES_DIR}/{name}/{FIXTURE_FILE}");
        if !d.join(FIXTURE_FILE).is_file() {
            if d.join(RUNPACK_FILE).is_file() {
                return Err(RegressError::invalid_hint(
                    format!("fixture metadata missing for {name}"),
                    format!("re-create it with `gait regress add --from {FIXTURES_DIR}/{name}/{RUNPACK_FILE} --name {name}`, or remove {FIXTURES_DIR}/{name}"),
                ));
            }
            continue;
        }
        let f = Fixture::read(&d.join(FIXTURE_FILE), &shown)?;
        if f.name != name {
            return Err(RegressError::invalid(format!(
                "fixture name mismatch: {shown} names {:?}",
                f.name
            )));
        }
        let bare = !f.runpack.contains(['/', '\\']) && f.runpack != "." && f.runpack != "..";
        if !bare || !d.join(&f.runpack).is_file() {
            return Err(RegressError::invalid(format!(
                "fixture runpack must be a file in the fixture directory: {shown} names {:?}",
                f.runpack
            )));
        }
        config.upsert(
            &name,
            &f.run_id,
            &format!("{FIXTURES_DIR}/{name}/{}", f.runpack),
        );
    }
    Ok(config)
}

fn lock_workspace() -> R<LockFile> {
    LockFile::acquire(
        Path::new(LOCK_FILE),
        format!("{{\"pid\":{}}}", std::process::id()).as_bytes(),
        Duration::from_secs(5),
        Duration::from_millis(20),
        Duration::from_secs(30),
    )
    .map_err(|e| match e {
        LockError::Timeout => RegressError::Contention(format!(
            "another gait process is updating {DEFAULT_CONFIG} ({LOCK_FILE} is held)"
        )),
        LockError::Io { path, reason } => RegressError::Io(format!("open {path}: {reason}")),
    })
}

/// Creates (or refreshes) the fixture for `source` (spec §2.3).
pub fn init_fixture(src: &Source, name_flag: &str) -> R<Created> {
    let bytes = source::read_archive(&src.path).map_err(|e| e.or_hint(source::HINT_FROM))?;
    let inner = source::materialise(bytes)?;
    let loaded = source::load_runpack(&inner, "source runpack").map_err(|e| {
        e.or_hint(&format!(
            "check it with `gait verify {}`; a fixture needs a runpack that verifies",
            src.shown
        ))
    })?;
    let run_id = loaded.report.run_id.clone();
    let name = if name_flag.is_empty() {
        sanitize(&run_id)
    } else if valid_name(name_flag) {
        name_flag.to_string()
    } else {
        return Err(RegressError::invalid_hint(
            format!("invalid fixture name: {name_flag}"),
            "fixture names match ^[a-z0-9][a-z0-9._-]*$ (lower case, digits, '.', '_', '-')",
        ));
    };
    let dir = PathBuf::from(FIXTURES_DIR).join(&name);
    let fixture_dir = format!("{FIXTURES_DIR}/{name}");
    let runpack_path = format!("{fixture_dir}/{RUNPACK_FILE}");

    let _lock = lock_workspace()?;
    let config_path = Path::new(DEFAULT_CONFIG);
    let mut config = if config_path.exists() {
        Config::read(config_path, DEFAULT_CONFIG)?
    } else {
        scan_fixtures(&name)?
    };
    config.upsert(&name, &run_id, &runpack_path);

    // Members only a person writes survive re-creating a fixture; what gait derives from the
    // run is refreshed.
    let previous = Fixture::read(&dir.join(FIXTURE_FILE), "").ok();
    let rp = &loaded.runpack;
    let digest = rp.refs.context_set_digest.trim().to_string();
    let mut fixture = Fixture {
        name: name.clone(),
        run_id: run_id.clone(),
        runpack: RUNPACK_FILE.into(),
        expected_replay_exit_code: 0,
        expected_tool_sequence: trajectory::tool_sequence(rp),
        expected_verdict_sequence: trajectory::verdict_sequence(rp),
        session_chain: src.chain.clone().unwrap_or_default(),
        checkpoint_index: src.checkpoint_index.unwrap_or(0),
        ..Default::default()
    };
    if !digest.is_empty() {
        fixture.context_conformance = "required".into();
        fixture.expected_context_set_digest = digest;
    }
    if let Some(p) = previous {
        fixture.candidate_runpack = p.candidate_runpack;
        fixture.diff_allow_changed_files = p.diff_allow_changed_files;
        fixture.allow_context_runtime_drift = p.allow_context_runtime_drift;
        fixture.extra = p.extra;
    }
    let fixture_text = fixture.to_doc().to_pretty();
    let config_text = config.to_doc().to_pretty();
    let runpack_file = dir.join(RUNPACK_FILE);
    let fixture_file = dir.join(FIXTURE_FILE);
    fsutil::write_atomic_batch(&[
        (runpack_file.as_path(), inner.as_slice(), 0o600),
        (fixture_file.as_path(), fixture_text.as_bytes(), 0o600),
        (config_path, config_text.as_bytes(), 0o600),
    ])
    .map_err(|e| RegressError::Io(format!("write fixture {name}: {e}")))?;
    Ok(Created {
        run_id,
        fixture_name: name,
        fixture_dir,
        runpack_path,
        config_path: DEFAULT_CONFIG.into(),
    })
}

/// Flags shared by `init`, `add` and `bootstrap`.
#[derive(Debug, Clone, Default)]
pub struct FixtureArgs {
    pub from: String,
    pub checkpoint: String,
    pub name: String,
}

fn next_commands() -> Vec<String> {
    vec![NEXT_RUN.to_string()]
}

/// `gait regress init`.
pub fn init(a: &FixtureArgs) -> R<CommandOutput> {
    let src = resolve_source(&a.from, &a.checkpoint)?;
    let c = init_fixture(&src, a.name.trim())?;
    let mut m = Map::new();
    c.members(&mut m);
    m.insert("next_commands".into(), json!(next_commands()));
    let text = format!(
        "regress init ok: fixture={} run_id={}\nconfig: {}\nrunpack: {}\nnext: {}\n",
        c.fixture_name,
        c.run_id,
        c.config_path,
        c.runpack_path,
        next_commands().join(" | ")
    );
    Ok(CommandOutput::new(m, text, exit::OK))
}

/// `--from` of `regress add`: a capture receipt names its artifact; anything else is a
/// source as for `init`.
fn add_source(from: &str, checkpoint: &str) -> R<Source> {
    let t = from.trim();
    if t.to_lowercase().ends_with(".json") && Path::new(t).is_file() {
        if let Some(receipt) = Receipt::load(Path::new(t)) {
            if receipt.artifact_type != "runpack" {
                return Err(RegressError::invalid_hint(
                    format!(
                        "capture receipt artifact_type {:?} is not supported by regress add",
                        receipt.artifact_type
                    ),
                    "capture a run (a run id, runpack or session chain) rather than a trace",
                ));
            }
            if let Some(chain) = receipt.session_chain_path.filter(|c| !c.is_empty()) {
                let chain = receipt_relative(t, &chain);
                // Without --checkpoint, the checkpoint the receipt captured (the reference
                // takes the chain's latest, which may be newer than what was captured).
                if checkpoint.trim().is_empty() {
                    let artifact = receipt_relative(t, &receipt.artifact_path);
                    if let Some(cp) =
                        source::chain_checkpoint_for(Path::new(&chain), Path::new(&artifact))
                    {
                        return Ok(Source {
                            path: cp.runpack,
                            shown: cp.runpack_shown,
                            chain: Some(chain),
                            checkpoint_index: Some(cp.index),
                        });
                    }
                }
                return resolve_source(&chain, checkpoint);
            }
            let artifact = receipt_relative(t, &receipt.artifact_path);
            return resolve_source(&artifact, checkpoint);
        }
    }
    resolve_source(t, checkpoint)
}

/// A path recorded in a receipt: as written (relative to the working directory, as the
/// reference records it), else relative to the receipt's own directory.
fn receipt_relative(receipt: &str, p: &str) -> String {
    if Path::new(p).exists() || Path::new(p).is_absolute() {
        return p.to_string();
    }
    let alt = source::join_shown(&source::dir_shown(receipt), p);
    if Path::new(&alt).exists() {
        // Keep it path-like so it is not taken for a run id.
        if source::is_path_like(&alt) {
            alt
        } else {
            format!("./{alt}")
        }
    } else {
        p.to_string()
    }
}

/// `gait regress add`.
pub fn add(a: &FixtureArgs) -> R<CommandOutput> {
    let src = add_source(&a.from, &a.checkpoint)?;
    let c = init_fixture(&src, a.name.trim())?;
    let mut m = Map::new();
    c.members(&mut m);
    m.insert("next_commands".into(), json!(next_commands()));
    m.insert("source".into(), json!(a.from.trim()));
    let text = format!(
        "regress add ok: fixture={} run_id={}\n",
        c.fixture_name, c.run_id
    );
    Ok(CommandOutput::new(m, text, exit::OK))
}

/// `gait regress bootstrap`: create the fixture, then run the suite.
pub fn bootstrap(a: &FixtureArgs, run_args: &RunArgs, progress: Progress) -> R<CommandOutput> {
    let src = resolve_source(&a.from, &a.checkpoint)?;
    let c = init_fixture(&src, a.name.trim())?;
    let report = run::execute(run_args, progress)?;
    let mut m = Map::new();
    report.summary(&mut m);
    m.remove("graders");
    m.remove("fixture_set");
    c.members(&mut m);
    let mut t = String::new();
    if report.pass() {
        t.push_str(&format!(
            "regress bootstrap ok: run_id={} fixture={}\n",
            c.run_id, c.fixture_name
        ));
        t.push_str(&format!("output: {}\n", report.output));
        if let Some(j) = &report.junit {
            t.push_str(&format!("junit: {j}\n"));
        }
    } else {
        t.push_str(&format!(
            "regress bootstrap failed: run_id={} fixture={} failed={}\n",
            c.run_id,
            c.fixture_name,
            report.failed()
        ));
        if let Some(r) = report.top_failure_reason() {
            t.push_str(&format!("top_failure_reason: {r}\n"));
        }
        t.push_str(&format!("next: {}\n", report.next_command()));
        t.push_str(&format!(
            "artifacts: {}\n",
            report.artifact_paths().join(", ")
        ));
    }
    let code = if report.pass() {
        exit::OK
    } else {
        exit::REGRESS_FAILED
    };
    Ok(CommandOutput::new(m, t, code))
}
