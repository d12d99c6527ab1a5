//! `gait doctor`: checks that this machine and this directory can run Gait, and says, for every
//! problem, the exact command that fixes it.
//!
//! Checks only observe: the one write is the workdir's write probe, removed at once. Checks
//! that only make sense inside a source checkout run only there, so an installed binary is
//! never told about files it was not shipped with. The launcher owns doctor (not a plugin)
//! because the plugin setup is one of the things it diagnoses.

mod args;
mod machine;
mod plugins;
mod production;

pub use args::DoctorArgs;

use crate::registry::Registry;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

pub const SCHEMA_ID: &str = "gait.doctor.result";
pub const SCHEMA_VERSION: &str = "1.0.0";

pub const USAGE: &str =
    "Usage: gait doctor [--workdir .] [--output-dir ./gait-out] [--key-mode dev|prod]
                   [--private-key <path>|--private-key-env <VAR>]
                   [--public-key <path>|--public-key-env <VAR>]
                   [--production-readiness] [--summary] [--json]

Checks the machine, the working directory, durable job state, signing keys and the plugin setup
(which plugins are found and where, their versions and contract versions, signatures, shadowing,
and drift from gait.lock). Every problem comes with the command that fixes it.

  --production-readiness  check .gait/config.yaml against the oss-prod baseline; exit 2 on failure
  --summary               show only the checks that did not pass
  --json                  one line of JSON (schema gait.doctor.result 1.0.0)

Exit codes: 0 checks ran (even when some fail), 2 production readiness failed,
7 a problem no command can fix (a broken installation), 6 bad flags.
";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub scope: &'static str,
    pub status: Status,
    pub message: String,
    pub fix_command: Option<String>,
    pub non_fixable: bool,
}

impl Check {
    pub fn pass(name: &'static str, scope: &'static str, message: impl Into<String>) -> Check {
        Check {
            name,
            scope,
            status: Status::Pass,
            message: message.into(),
            fix_command: None,
            non_fixable: false,
        }
    }
    pub fn warn(name: &'static str, scope: &'static str, message: impl Into<String>) -> Check {
        Check {
            status: Status::Warn,
            ..Check::pass(name, scope, message)
        }
    }
    pub fn fail(name: &'static str, scope: &'static str, message: impl Into<String>) -> Check {
        Check {
            status: Status::Fail,
            ..Check::pass(name, scope, message)
        }
    }
    pub fn fix(mut self, command: impl Into<String>) -> Check {
        self.fix_command = Some(command.into());
        self
    }
    pub fn fix_opt(mut self, command: Option<String>) -> Check {
        self.fix_command = command;
        self
    }
    pub fn non_fixable(mut self) -> Check {
        self.non_fixable = true;
        self
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), self.name.into());
        m.insert("scope".into(), self.scope.into());
        m.insert("status".into(), self.status.as_str().into());
        m.insert("message".into(), self.message.clone().into());
        if let Some(f) = &self.fix_command {
            m.insert("fix_command".into(), f.clone().into());
        }
        if self.non_fixable {
            m.insert("non_fixable".into(), true.into());
        }
        Value::Object(m)
    }
}

/// Which `gait` binary the onboarding check found, and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinaryInfo {
    pub path: Option<PathBuf>,
    pub source: Option<&'static str>,
    pub path_binary: Option<PathBuf>,
    pub version: Option<String>,
}

/// `onboarding_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Run inside a Gait source checkout: repository checks are added.
    RepoCheckout,
    /// Anything else.
    InstalledBinary,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::RepoCheckout => "repo_checkout",
            Mode::InstalledBinary => "installed_binary",
        }
    }
}

/// The outcome of one `gait doctor` run.
#[derive(Debug, Clone)]
pub struct Report {
    pub mode: Mode,
    pub summary_mode: bool,
    pub production_readiness: bool,
    pub checks: Vec<Check>,
    pub binary: BinaryInfo,
    pub plugins: Vec<Value>,
}

/// What doctor needs from the process environment, injectable for tests.
pub struct Environment<'a> {
    /// `argv[0]` as typed.
    pub argv0: Option<&'a str>,
    /// The running launcher.
    pub current_exe: Option<PathBuf>,
    pub path_dirs: Vec<PathBuf>,
}

/// Runs every check that applies.
pub fn run(args: &DoctorArgs, envr: &Environment<'_>, registry: &mut Registry) -> Report {
    let workdir = PathBuf::from(if args.workdir.trim().is_empty() {
        "."
    } else {
        args.workdir.trim()
    });
    let output_dir = clean(&workdir.join(args.output_dir.trim()));
    let mode = if machine::is_repo_checkout(&workdir) {
        Mode::RepoCheckout
    } else {
        Mode::InstalledBinary
    };
    let mut checks = Vec::new();
    let mut binary = BinaryInfo::default();
    checks.push(machine::workdir(&workdir));
    checks.push(machine::output_dir(&output_dir));
    checks.push(machine::job_runtime_durability(&output_dir));
    checks.push(machine::temp_dir());
    if !args.production_readiness {
        checks.push(plugins::registry_cache(registry));
        checks.push(machine::gate_rate_limit_lock(&workdir, &output_dir));
        let (check, info) = machine::onboarding_binary(envr, &workdir);
        checks.push(check);
        binary = info;
    }
    checks.extend(machine::key_checks(args));
    if args.production_readiness {
        checks.extend(production::checks(&workdir));
    } else if mode == Mode::RepoCheckout {
        checks.extend(machine::repo_checks(&workdir, &envr.path_dirs));
    }
    let plugin_list = plugins::checks(registry, &workdir, &mut checks);
    Report {
        mode,
        summary_mode: args.summary,
        production_readiness: args.production_readiness,
        checks,
        binary,
        plugins: plugin_list,
    }
}

impl Report {
    pub fn status(&self) -> Status {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Pass)
    }

    pub fn non_fixable(&self) -> bool {
        self.checks.iter().any(|c| c.non_fixable)
    }

    /// Exit rule: non-fixable → 7; production readiness with a failure → 2; otherwise 0, even
    /// when a check failed (doctor did its job; the report says what is wrong).
    pub fn exit_code(&self) -> i32 {
        if self.non_fixable() {
            gait_sdk::error::exit::DEPENDENCY_MISSING
        } else if self.production_readiness && self.status() == Status::Fail {
            gait_sdk::error::exit::VERIFICATION_FAILED
        } else {
            gait_sdk::error::exit::OK
        }
    }

    pub fn fix_commands(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .checks
            .iter()
            .filter(|c| c.status != Status::Pass)
            .filter_map(|c| c.fix_command.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    pub fn summary(&self) -> String {
        let failed = self
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .count();
        let warned = self
            .checks
            .iter()
            .filter(|c| c.status == Status::Warn)
            .count();
        format!(
            "doctor: onboarding_mode={} status={} failed={failed} warned={warned} non_fixable={}",
            self.mode.as_str(),
            self.status().as_str(),
            self.non_fixable()
        )
    }

    /// The JSON members (the caller adds `correlation_id`).
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("ok".into(), (self.exit_code() == 0).into());
        if self.summary_mode {
            m.insert("summary_mode".into(), true.into());
        }
        m.insert("schema_id".into(), SCHEMA_ID.into());
        m.insert("schema_version".into(), SCHEMA_VERSION.into());
        m.insert(
            "created_at".into(),
            gait_sdk::time::GoTime::now_utc().to_rfc3339_nano().into(),
        );
        m.insert(
            "producer_version".into(),
            crate::cli::producer_version().into(),
        );
        m.insert("onboarding_mode".into(), self.mode.as_str().into());
        m.insert("status".into(), self.status().as_str().into());
        if self.non_fixable() {
            m.insert("non_fixable".into(), true.into());
        }
        m.insert("summary".into(), self.summary().into());
        let fixes = self.fix_commands();
        if !fixes.is_empty() {
            m.insert("fix_commands".into(), json!(fixes));
        }
        if let Some(p) = &self.binary.path {
            m.insert("binary_path".into(), p.display().to_string().into());
        }
        if let Some(s) = self.binary.source {
            m.insert("binary_path_source".into(), s.into());
        }
        if let Some(p) = &self.binary.path_binary {
            m.insert("path_binary_path".into(), p.display().to_string().into());
        }
        if let Some(v) = &self.binary.version {
            m.insert("binary_version".into(), v.clone().into());
        }
        m.insert(
            "checks".into(),
            Value::Array(self.checks.iter().map(Check::to_json).collect()),
        );
        if !self.plugins.is_empty() {
            m.insert("plugins".into(), Value::Array(self.plugins.clone()));
        }
        m
    }

    /// Human output: the summary, then every check (or, with `--summary`, only the ones that
    /// need attention) with its fix.
    pub fn to_text(&self) -> String {
        let mut out = self.summary();
        out.push('\n');
        let shown: Vec<&Check> = self
            .checks
            .iter()
            .filter(|c| !self.summary_mode || c.status != Status::Pass)
            .collect();
        for c in &shown {
            out.push_str(&format!(
                "- {}: {} ({})\n",
                c.name,
                c.status.as_str(),
                c.message
            ));
            if let Some(f) = &c.fix_command {
                out.push_str(&format!("  fix: {f}\n"));
            }
        }
        if self.summary_mode && shown.is_empty() {
            out.push_str("tip: gait demo   (record and verify a run offline)\n");
            out.push_str(
                "tip: gait plugin list   (what is installed, from where, and trusted how)\n",
            );
        }
        out
    }
}

/// Lexical path cleaning (Go `filepath.Clean`): fixes and messages name `gait-out`, not
/// `./gait-out` or `./././gait-out`.
pub use gait_sdk::fsutil::clean_path as clean;

/// Single-quotes a path for the shell fix commands (`'` inside becomes `'\''`).
pub fn sh_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_matches_go_filepath_clean() {
        assert_eq!(clean(Path::new("./gait-out")), PathBuf::from("gait-out"));
        assert_eq!(clean(Path::new("././a/../b")), PathBuf::from("b"));
        assert_eq!(clean(Path::new(".")), PathBuf::from("."));
        assert_eq!(clean(Path::new("../x")), PathBuf::from("../x"));
        assert_eq!(clean(Path::new("/a/../../b")), PathBuf::from("/b"));
    }

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(sh_quote(Path::new("it's")), r"'it'\''s'");
    }

    fn report(checks: Vec<Check>, production: bool) -> Report {
        Report {
            mode: Mode::InstalledBinary,
            summary_mode: false,
            production_readiness: production,
            checks,
            binary: BinaryInfo::default(),
            plugins: Vec::new(),
        }
    }

    #[test]
    fn exit_rules() {
        let warn = Check::warn("a", "universal", "m").fix("mkdir -p 'x'");
        let fail = Check::fail("b", "universal", "m");
        assert_eq!(report(vec![warn.clone()], false).exit_code(), 0);
        // A failed check alone does not fail doctor outside production readiness.
        assert_eq!(report(vec![fail.clone()], false).exit_code(), 0);
        assert_eq!(report(vec![fail.clone()], true).exit_code(), 2);
        assert_eq!(
            report(vec![warn.clone(), fail.clone().non_fixable()], false).exit_code(),
            7
        );
        let r = report(vec![warn.clone(), warn, fail], false);
        assert_eq!(r.status(), Status::Fail);
        assert_eq!(r.fix_commands(), vec!["mkdir -p 'x'".to_string()]);
        assert_eq!(
            r.summary(),
            "doctor: onboarding_mode=installed_binary status=fail failed=1 warned=2 non_fixable=false"
        );
    }
}
