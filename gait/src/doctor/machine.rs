//! Checks of the machine and the working directory: writable directories, durable job state,
//! stale locks, the `gait` binary itself, signing keys, and (in a source checkout only) the
//! repository's own assets.

use super::{sh_quote, BinaryInfo, Check, DoctorArgs, Environment};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const UNIVERSAL: &str = "universal";
const REPO: &str = "repo_checkout";

/// A lock file older than this is presumed left behind by a crashed process.
const STALE_LOCK: Duration = Duration::from_secs(30);

/// Creates and removes a probe file: the only reliable answer to "can I write here?"
/// (permission bits say nothing about read-only mounts, ACLs or full disks).
fn probe_write(dir: &Path) -> Result<(), String> {
    let probe = dir.join(format!(".gait-doctor-writecheck-{}", std::process::id()));
    let result = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|mut f| f.write_all(b"ok"));
    let _ = fs::remove_file(&probe);
    result.map_err(|e| gait_sdk::fsutil::go_io_reason(&e))
}

pub fn workdir(dir: &Path) -> Check {
    const N: &str = "workdir";
    match fs::metadata(dir) {
        Err(e) => Check::fail(
            N,
            UNIVERSAL,
            format!(
                "workdir {} is not accessible: {}",
                dir.display(),
                gait_sdk::fsutil::go_io_reason(&e)
            ),
        )
        .fix(format!("mkdir -p {}", sh_quote(dir))),
        Ok(m) if !m.is_dir() => Check::fail(
            N,
            UNIVERSAL,
            format!("workdir {} is not a directory", dir.display()),
        )
        .fix("gait doctor --workdir <directory>"),
        Ok(_) => match probe_write(dir) {
            Ok(()) => Check::pass(
                N,
                UNIVERSAL,
                format!("workdir {} is writable", dir.display()),
            ),
            Err(e) => Check::fail(
                N,
                UNIVERSAL,
                format!("workdir {} is not writable: {e}", dir.display()),
            )
            .fix(format!("chmod u+w {}", sh_quote(dir))),
        },
    }
}

pub fn output_dir(dir: &Path) -> Check {
    const N: &str = "output_dir";
    match fs::metadata(dir) {
        Err(_) => Check::warn(N, UNIVERSAL, "output directory does not exist")
            .fix(format!("mkdir -p {}", sh_quote(dir))),
        Ok(m) if !m.is_dir() => Check::fail(
            N,
            UNIVERSAL,
            format!("output path {} is not a directory", dir.display()),
        )
        .fix(format!("mv {0} {0}.bak && mkdir -p {0}", sh_quote(dir))),
        Ok(_) => match probe_write(dir) {
            Ok(()) => Check::pass(
                N,
                UNIVERSAL,
                format!("output directory {} is writable", dir.display()),
            ),
            Err(e) => Check::fail(
                N,
                UNIVERSAL,
                format!("output directory {} is not writable: {e}", dir.display()),
            )
            .fix(format!("chmod u+w {}", sh_quote(dir))),
        },
    }
}

/// Durable jobs whose records disagree (an interrupted mutation, a lost state file, a state and
/// event log out of step). Read-only: recovery belongs to `gait job`.
pub fn job_runtime_durability(output_dir: &Path) -> Check {
    const N: &str = "job_runtime_durability";
    let root = output_dir.join("jobs");
    let Ok(entries) = fs::read_dir(&root) else {
        return Check::pass(N, UNIVERSAL, "no durable job state to check");
    };
    let mut ids: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    ids.sort();
    let mut diverged = Vec::new();
    let mut first_pending = None;
    for id in &ids {
        let job = gait_sdk::job::JobDir {
            root: root.clone(),
            id: id.clone(),
            dir: root.join(id),
        };
        if let Some(kind) = gait_sdk::job::divergence(&job) {
            if kind == "pending_mutation" && first_pending.is_none() {
                first_pending = Some(id.clone());
            }
            diverged.push(format!("{id}:{kind}"));
        }
    }
    if diverged.is_empty() {
        return Check::pass(
            N,
            UNIVERSAL,
            format!(
                "{} durable job(s) consistent under {}",
                ids.len(),
                root.display()
            ),
        );
    }
    // An interrupted mutation is finished or undone by the next command that reads the job.
    let fix =
        first_pending.map(|id| format!("gait job status --id {id} --root {}", sh_quote(&root)));
    Check::fail(
        N,
        UNIVERSAL,
        format!(
            "durable job state divergence detected: {}",
            diverged.join(",")
        ),
    )
    .fix_opt(fix)
}

pub fn temp_dir() -> Check {
    const N: &str = "temp_dir";
    let dir = std::env::temp_dir();
    match probe_write(&dir) {
        Ok(()) => Check::pass(
            N,
            UNIVERSAL,
            format!("temp dir {} is writable", dir.display()),
        ),
        Err(e) => Check::fail(
            N,
            UNIVERSAL,
            format!("temp dir {} is not writable: {e}", dir.display()),
        )
        .fix("export TMPDIR=\"$HOME/.cache/tmp\" && mkdir -p \"$TMPDIR\""),
    }
}

/// The gate's rate-limit lock, where doctor's output dir puts it and where `gate eval` does
/// by default (`.gait-out`). A lock file that outlived its process blocks every evaluation
/// that uses rate limits until it goes stale.
pub fn gate_rate_limit_lock(workdir: &Path, output_dir: &Path) -> Check {
    const N: &str = "gate_rate_limit_lock";
    let mut candidates = vec![output_dir.join("gate_rate_limits.json.lock")];
    let gate_default = super::clean(&workdir.join(".gait-out/gate_rate_limits.json.lock"));
    if !candidates.contains(&gate_default) {
        candidates.push(gate_default);
    }
    for lock in &candidates {
        let age = fs::metadata(lock)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok());
        if let Some(age) = age.filter(|a| *a > STALE_LOCK) {
            return Check::warn(
                N,
                UNIVERSAL,
                format!(
                    "stale rate-limit lock {} ({}s old)",
                    lock.display(),
                    age.as_secs()
                ),
            )
            .fix(format!("rm -f {}", sh_quote(lock)));
        }
    }
    Check::pass(N, UNIVERSAL, "no stale rate-limit lock")
}

fn named_gait(p: &Path) -> bool {
    matches!(
        p.file_name().and_then(|n| n.to_str()),
        Some("gait" | "gait.exe")
    )
}

fn lookup_path(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(name)).find(|p| {
        fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Runs `<bin> version` and returns its first line when it looks like a Gait version line.
fn binary_version(bin: &Path) -> Result<String, String> {
    let out = std::process::Command::new(bin)
        .arg("version")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| gait_sdk::fsutil::go_io_reason(&e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or("").trim().to_string();
    if out.status.success() && line.starts_with("gait ") {
        Ok(line)
    } else {
        Err(format!("`{} version` printed {line:?}", bin.display()))
    }
}

/// Which `gait` a user (or CI) gets, and whether it runs. The running launcher answers for
/// itself without a child process; another `gait` first on PATH is run and reported, because
/// then the user's shell runs a different binary than the one being diagnosed.
pub fn onboarding_binary(envr: &Environment<'_>, workdir: &Path) -> (Check, BinaryInfo) {
    const N: &str = "onboarding_binary";
    let on_path = lookup_path(&envr.path_dirs, "gait");
    let invoked = envr
        .argv0
        .map(PathBuf::from)
        .filter(|p| named_gait(p))
        .and_then(|p| {
            if p.components().count() > 1 {
                p.canonicalize().ok()
            } else {
                on_path.clone()
            }
        })
        .or_else(|| envr.current_exe.clone().filter(|p| named_gait(p)));
    let mut info = BinaryInfo::default();
    let (bin, source) = match (&invoked, &on_path) {
        (Some(p), _) => (p.clone(), "invoked_executable"),
        (None, Some(p)) => (p.clone(), "path"),
        (None, None) => {
            let local = workdir.join("gait");
            if local.is_file() {
                (local, "workdir")
            } else {
                return (
                    Check::warn(N, UNIVERSAL, "no gait binary found on PATH")
                        .fix("export PATH=\"<directory containing gait>:$PATH\""),
                    info,
                );
            }
        }
    };
    info.path = Some(bin.clone());
    info.source = Some(source);
    let is_self = envr
        .current_exe
        .as_deref()
        .is_some_and(|me| same_file(me, &bin));
    let version = if is_self {
        Ok(crate::cli::version_line())
    } else {
        binary_version(&bin)
    };
    let version = match version {
        Ok(v) => v,
        Err(e) => {
            return (
                Check::warn(N, UNIVERSAL, format!("gait binary does not run: {e}"))
                    .fix(format!("{} version", sh_quote(&bin))),
                info,
            )
        }
    };
    info.version = Some(version.clone());
    if let Some(p) = on_path.filter(|p| source == "invoked_executable" && !same_file(p, &bin)) {
        info.path_binary = Some(p.clone());
        let path_version = binary_version(&p).unwrap_or_else(|e| e);
        if path_version != version {
            return (
                Check::warn(
                    N,
                    UNIVERSAL,
                    format!(
                        "the gait first on PATH ({}: {path_version}) is not this one ({}: {version})",
                        p.display(),
                        bin.display()
                    ),
                )
                .fix(format!(
                    "export PATH=\"{}:$PATH\"",
                    bin.parent().unwrap_or(Path::new(".")).display()
                )),
                info,
            );
        }
    }
    (
        Check::pass(
            N,
            UNIVERSAL,
            format!(
                "gait binary ready (invoked_path={} version={})",
                bin.display(),
                version.strip_prefix("gait ").unwrap_or(&version)
            ),
        ),
        info,
    )
}

struct KeyFlag<'a> {
    what: &'static str,
    path_flag: &'static str,
    env_flag: &'static str,
    path: &'a str,
    env: &'a str,
}

fn key_flags(a: &DoctorArgs) -> [KeyFlag<'_>; 2] {
    [
        KeyFlag {
            what: "private key",
            path_flag: "--private-key",
            env_flag: "--private-key-env",
            path: a.private_key.trim(),
            env: a.private_key_env.trim(),
        },
        KeyFlag {
            what: "public key",
            path_flag: "--public-key",
            env_flag: "--public-key-env",
            path: a.public_key.trim(),
            env: a.public_key_env.trim(),
        },
    ]
}

/// `key_source_ambiguity`, `key_permissions`, `key_config`.
pub fn key_checks(a: &DoctorArgs) -> Vec<Check> {
    let flags = key_flags(a);
    let ambiguous: Vec<&KeyFlag<'_>> = flags
        .iter()
        .filter(|k| !k.path.is_empty() && !k.env.is_empty())
        .collect();
    let ambiguity = match ambiguous.first() {
        Some(k) => Check::fail(
            "key_source_ambiguity",
            UNIVERSAL,
            format!(
                "{}: both {} and {} are set",
                k.what, k.path_flag, k.env_flag
            ),
        )
        .fix(format!(
            "use either {} or {}, not both",
            k.path_flag, k.env_flag
        )),
        None => Check::pass("key_source_ambiguity", UNIVERSAL, "key sources unambiguous"),
    };
    let mut perm_problems = Vec::new();
    let mut perm_fix = None;
    for k in flags.iter().filter(|k| !k.path.is_empty()) {
        match fs::metadata(k.path) {
            Err(_) => perm_problems.push(format!("{} {} does not exist", k.what, k.path)),
            Ok(m) if m.is_dir() => {
                perm_problems.push(format!("{} {} is a directory", k.what, k.path))
            }
            Ok(m) => {
                let mode = m.permissions().mode() & 0o777;
                // Private keys must not be readable by others; no key may be writable by them
                // (a swapped public key silently changes whose signatures verify).
                let loose = if k.what == "private key" {
                    mode & 0o077 != 0
                } else {
                    mode & 0o022 != 0
                };
                if loose {
                    perm_problems.push(format!("{} {} has mode {mode:o}", k.what, k.path));
                    perm_fix.get_or_insert_with(|| {
                        format!(
                            "chmod {} {}",
                            if k.what == "private key" {
                                "600"
                            } else {
                                "go-w"
                            },
                            sh_quote(Path::new(k.path))
                        )
                    });
                }
            }
        }
    }
    let permissions = if perm_problems.is_empty() {
        Check::pass("key_permissions", UNIVERSAL, "key file permissions ok")
    } else {
        Check::warn("key_permissions", UNIVERSAL, perm_problems.join("; ")).fix_opt(perm_fix)
    };
    let any_source = flags
        .iter()
        .any(|k| !k.path.is_empty() || !k.env.is_empty());
    const C: &str = "key_config";
    let config = match a.key_mode.trim() {
        "" | "dev" => {
            if any_source {
                Check::warn(
                    C,
                    UNIVERSAL,
                    "dev mode generates ephemeral keys; signing commands reject explicit key sources in dev mode",
                )
                .fix("gait doctor --key-mode prod (with the same key flags)")
            } else {
                Check::pass(
                    C,
                    UNIVERSAL,
                    "dev mode: ephemeral keys; signatures will not verify across machines",
                )
            }
        }
        "prod" => prod_keys(a),
        other => Check::fail(C, UNIVERSAL, format!("unsupported key mode: {other}"))
            .fix("use --key-mode dev or --key-mode prod"),
    };
    vec![ambiguity, permissions, config]
}

fn prod_keys(a: &DoctorArgs) -> Check {
    use gait_sdk::signing::KeySource;
    const C: &str = "key_config";
    let private = KeySource::new(&a.private_key, &a.private_key_env);
    if !private.is_set() {
        return Check::fail(C, UNIVERSAL, "prod mode needs a private key source")
            .fix("gait keys init && gait doctor --key-mode prod --private-key gait-out/keys/gait_private.key");
    }
    let pair = match private.load_private() {
        Ok(Some(p)) => p,
        Ok(None) => return Check::fail(C, UNIVERSAL, "prod mode needs a private key source"),
        Err(e) => {
            return Check::fail(C, UNIVERSAL, format!("load private key: {e}"))
                .fix("gait keys verify --private-key <path> --public-key <path>")
        }
    };
    let public = KeySource::new(&a.public_key, &a.public_key_env);
    match public.load_public() {
        Ok(Some(p)) if p.key_id() != pair.key_id() => Check::fail(
            C,
            UNIVERSAL,
            "the public key does not match the private key",
        )
        .fix("gait keys verify --private-key <path> --public-key <path>"),
        Err(e) => Check::fail(C, UNIVERSAL, format!("load public key: {e}")),
        _ => Check::pass(
            C,
            UNIVERSAL,
            format!("prod signing key loaded (key_id={})", pair.key_id()),
        ),
    }
}

/// A Gait (Rust) source checkout: the workspace manifest naming the launcher and the SDK,
/// with their sources present.
pub fn is_repo_checkout(workdir: &Path) -> bool {
    let Ok(manifest) = fs::read_to_string(workdir.join("Cargo.toml")) else {
        return false;
    };
    manifest.contains("[workspace]")
        && manifest.contains("\"gait-sdk\"")
        && workdir.join("gait/src/main.rs").is_file()
        && workdir.join("gait-sdk/src/lib.rs").is_file()
        && workdir.join("plugins").is_dir()
}

/// Files a checkout must have for the build and the examples in the README to work.
const SCHEMA_DIR: &str = "gait-sdk/schemas/v1";
const ONBOARDING_ASSETS: &[&str] = &[
    "examples/gate/policy.yaml",
    "examples/gate/intent_read.json",
    "examples/gate/intent_write.json",
    "examples/config/oss_prod_template.yaml",
    "README.md",
];

pub fn repo_checks(workdir: &Path, path_dirs: &[PathBuf]) -> Vec<Check> {
    let schema_dir = workdir.join(SCHEMA_DIR);
    let listed = gait_sdk::schema_names::SCHEMA_NAMES;
    let missing: Vec<&str> = listed
        .iter()
        .copied()
        .filter(|name| !schema_dir.join(format!("{name}.schema.json")).is_file())
        .collect();
    // The SDK embeds the schemas at compile time: a checkout without them cannot be built,
    // and no gait command can repair that.
    let schemas = if missing.is_empty() {
        Check::pass(
            "schema_files",
            REPO,
            format!("{} schema files present", listed.len()),
        )
    } else {
        Check::fail(
            "schema_files",
            REPO,
            format!("missing schema files: {}", missing.join(", ")),
        )
        .non_fixable()
    };
    let missing_assets: Vec<&str> = ONBOARDING_ASSETS
        .iter()
        .copied()
        .filter(|p| !workdir.join(p).is_file())
        .collect();
    let assets = if missing_assets.is_empty() {
        Check::pass("onboarding_assets", REPO, "onboarding examples present")
    } else {
        Check::warn(
            "onboarding_assets",
            REPO,
            format!("missing onboarding assets: {}", missing_assets.join(", ")),
        )
        .fix(format!("git checkout -- {}", missing_assets.join(" ")))
    };
    let toolchain = match lookup_path(path_dirs, "cargo") {
        Some(p) => Check::pass("toolchain", REPO, format!("cargo found at {}", p.display())),
        None => Check::warn(
            "toolchain",
            REPO,
            "cargo is not on PATH; the checkout cannot be built",
        )
        .fix("export PATH=\"$HOME/.cargo/bin:$PATH\""),
    };
    vec![schemas, assets, toolchain]
}
