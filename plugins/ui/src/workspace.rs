//! What the UI shows: the §6 state and listings of runs, packs, jobs and traces under the
//! server's working directory. Artifacts are verified by running the launcher (the CLI
//! contract), with results cached by file identity so a listing costs one child per changed
//! file, not one per request.

use crate::actions::{self, ArtifactKind, INTENT_PATHS, POLICY_PATHS};
use crate::json::Obj;
use gait_sdk::time::GoTime;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Directory of artifacts, relative to the workspace.
pub const OUT_DIR: &str = "gait-out";
/// Listings show at most this many entries, newest first.
pub const MAX_LISTED: usize = 100;
/// Traces and job states larger than this are listed as unreadable rather than parsed.
const MAX_RECORD_BYTES: u64 = 4 << 20;
/// A verification child should take milliseconds; this bounds a broken one.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(30);

/// The outcome of verifying one artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// `ok`, `failed` or `unknown` (the launcher or plugin is missing or misbehaved).
    pub status: &'static str,
    /// The verifier's JSON answer, when it gave one.
    pub report: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FileId {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    ino: u64,
}

fn file_id(meta: &std::fs::Metadata) -> FileId {
    FileId {
        len: meta.len(),
        modified: meta.modified().ok(),
        #[cfg(unix)]
        ino: std::os::unix::fs::MetadataExt::ino(meta),
    }
}

/// A zip in `gait-out` as listed.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// Workspace-relative, `/`-separated: the exact string `verify` accepts back.
    pub path: String,
    pub name: String,
    pub kind: ArtifactKind,
    pub size: u64,
    pub modified: Option<SystemTime>,
    id: FileId,
}

/// The server's view of its working directory.
#[derive(Debug)]
pub struct Workspace {
    pub root: PathBuf,
    pub launcher: Option<PathBuf>,
    cache: Mutex<HashMap<String, (FileId, Verified)>>,
}

/// RFC 3339 with nanoseconds, UTC, as Go renders a `time.Time`.
pub fn rfc3339(t: SystemTime) -> Option<String> {
    let ts = jiff::Timestamp::try_from(t).ok()?;
    Some(GoTime::from_timestamp(ts).to_rfc3339_nano())
}

fn modified_at(p: &Path) -> Option<String> {
    std::fs::metadata(p).ok()?.modified().ok().and_then(rfc3339)
}

fn display(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

impl Workspace {
    pub fn new(root: PathBuf, launcher: Option<PathBuf>) -> Self {
        Workspace {
            root,
            launcher,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn zips(&self) -> Vec<Artifact> {
        let dir = self.root.join(OUT_DIR);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.to_ascii_lowercase().ends_with(".zip") {
                continue;
            }
            // symlink_metadata: a link planted in gait-out is not an artifact of this workspace.
            let Ok(meta) = e.path().symlink_metadata() else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let kind = if name.starts_with("runpack_") {
                ArtifactKind::Runpack
            } else {
                ArtifactKind::Pack
            };
            out.push(Artifact {
                path: format!("{OUT_DIR}/{name}"),
                name,
                kind,
                size: meta.len(),
                modified: meta.modified().ok(),
                id: file_id(&meta),
            });
        }
        out.sort_by(|a, b| b.modified.cmp(&a.modified).then(a.name.cmp(&b.name)));
        out.truncate(MAX_LISTED);
        out
    }

    /// The kind of `path` if it is an artifact this server lists right now.
    pub fn listed(&self, path: &str) -> Option<ArtifactKind> {
        self.zips()
            .into_iter()
            .find(|a| a.path == path)
            .map(|a| a.kind)
    }

    /// Verifies an artifact through the launcher, reusing the answer while the file is
    /// unchanged.
    pub fn verify(&self, a: &Artifact) -> Verified {
        if let Some((id, v)) = self.lock_cache().get(&a.path) {
            if *id == a.id {
                return v.clone();
            }
        }
        let v = self.verify_uncached(a);
        if v.status != "unknown" {
            self.lock_cache()
                .insert(a.path.clone(), (a.id.clone(), v.clone()));
        }
        v
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, (FileId, Verified)>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets cached verdicts (after an action that may have rewritten artifacts in place
    /// within the mtime granularity).
    pub fn forget(&self) {
        self.lock_cache().clear();
    }

    fn verify_uncached(&self, a: &Artifact) -> Verified {
        let unknown = Verified {
            status: "unknown",
            report: None,
        };
        let Some(gait) = &self.launcher else {
            return unknown;
        };
        let Ok(f) = actions::run(
            gait,
            &a.kind.verify_args(&a.path),
            &self.root,
            VERIFY_TIMEOUT,
        ) else {
            return unknown;
        };
        let report: Option<Value> = serde_json::from_slice(&f.stdout).ok();
        let ok_flag = report.as_ref().and_then(|r| r["ok"].as_bool());
        let status = match (f.code, ok_flag) {
            (Some(0), Some(true)) => "ok",
            (Some(2), _) | (Some(_), Some(false)) => "failed",
            _ => return unknown,
        };
        Verified { status, report }
    }

    fn artifact_obj(&self, a: &Artifact) -> Obj {
        let v = self.verify(a);
        let r = v.report.clone().unwrap_or(Value::Null);
        let s = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
        let mut o = Obj::new()
            .push("path", a.path.as_str())
            .push("name", a.name.as_str())
            .push("size", a.size)
            .push_opt("modified_at", a.modified.and_then(rfc3339))
            .push("verify", v.status);
        o = match a.kind {
            ArtifactKind::Runpack => o
                .push_opt("run_id", s("run_id"))
                .push_opt("manifest_digest", s("manifest_digest"))
                .push_opt("signature_status", s("signature_status")),
            ArtifactKind::Pack => o
                .push_opt("pack_type", s("pack_type"))
                .push_opt("pack_id", s("pack_id"))
                .push_opt("source_ref", s("source_ref")),
        };
        o.push_opt("error", s("error"))
    }

    /// `GET /api/runs`: runpacks in `gait-out`, newest first, with their verify status.
    pub fn runs(&self) -> Obj {
        let items = self
            .zips()
            .iter()
            .filter(|a| a.kind == ArtifactKind::Runpack)
            .map(|a| self.artifact_obj(a))
            .collect();
        Obj::new().push("ok", true).push_objs("runs", items)
    }

    /// `GET /api/packs`: other zips in `gait-out` (packs), newest first.
    pub fn packs(&self) -> Obj {
        let items = self
            .zips()
            .iter()
            .filter(|a| a.kind == ArtifactKind::Pack)
            .map(|a| self.artifact_obj(a))
            .collect();
        Obj::new().push("ok", true).push_objs("packs", items)
    }

    /// `GET /api/jobs`: job records under `gait-out/jobs`, most recently updated first.
    pub fn jobs(&self) -> Obj {
        let dir = self.root.join(OUT_DIR).join("jobs");
        let mut jobs: Vec<(String, Obj)> = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if gait_sdk::job::validate_job_id(&name).is_err() {
                    continue;
                }
                let state = e.path().join("state.json");
                let parsed = gait_sdk::fsutil::read_capped(&state, MAX_RECORD_BYTES)
                    .map_err(|e| e.to_string())
                    .and_then(|b| String::from_utf8(b).map_err(|e| e.to_string()))
                    .and_then(|t| gait_sdk::job::JobState::parse_lenient(&t));
                let o = match parsed {
                    Ok(st) => {
                        let updated = st.updated_at.to_rfc3339_nano();
                        let v = st.to_value();
                        (updated, job_obj(&name, &v))
                    }
                    Err(err) => (
                        String::new(),
                        Obj::new()
                            .push("job_id", name.as_str())
                            .push("status", "unreadable")
                            .push("error", err),
                    ),
                };
                jobs.push(o);
            }
        }
        jobs.sort_by(|a, b| b.0.cmp(&a.0));
        jobs.truncate(MAX_LISTED);
        Obj::new()
            .push("ok", true)
            .push("root", display(&dir))
            .push_objs("jobs", jobs.into_iter().map(|(_, o)| o).collect())
    }

    fn trace_files(&self, dir: &Path) -> Vec<PathBuf> {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut v: Vec<PathBuf> = rd
            .flatten()
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with("trace_") && n.ends_with(".json")
            })
            .map(|e| e.path())
            .filter(|p| p.symlink_metadata().is_ok_and(|m| m.is_file()))
            .collect();
        v.sort();
        v
    }

    /// `GET /api/traces[?verdict=v]`: gate traces in the workspace and `gait-out`.
    pub fn traces(&self, verdict: Option<&str>) -> Obj {
        let mut files = self.trace_files(&self.root);
        files.extend(self.trace_files(&self.root.join(OUT_DIR)));
        let mut items: Vec<(Option<SystemTime>, Obj)> = Vec::new();
        for p in files {
            let rel = p
                .strip_prefix(&self.root)
                .map(|r| r.to_string_lossy().replace('\\', "/"))
                .unwrap_or_else(|_| display(&p));
            let modified = std::fs::metadata(&p).ok().and_then(|m| m.modified().ok());
            let parsed: Result<Value, String> = gait_sdk::fsutil::read_capped(&p, MAX_RECORD_BYTES)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()));
            let o = match parsed {
                Ok(v) if v.is_object() => trace_obj(&rel, modified, &v),
                Ok(_) => Obj::new()
                    .push("path", rel.as_str())
                    .push("verdict", "unreadable")
                    .push("error", "not a JSON object"),
                Err(e) => Obj::new()
                    .push("path", rel.as_str())
                    .push("verdict", "unreadable")
                    .push("error", e),
            };
            let keep = match verdict.map(str::trim).filter(|v| !v.is_empty()) {
                None => true,
                Some(want) => trace_verdict(&p).eq_ignore_ascii_case(want),
            };
            if keep {
                items.push((modified, o));
            }
        }
        items.sort_by_key(|it| std::cmp::Reverse(it.0));
        items.truncate(MAX_LISTED);
        Obj::new()
            .push("ok", true)
            .push_objs("traces", items.into_iter().map(|(_, o)| o).collect())
    }

    /// `GET /api/state` (§6): declared order, absolute paths.
    pub fn state(&self) -> Obj {
        let ws = &self.root;
        let runpack = ws.join(OUT_DIR).join("runpack_run_demo.zip");
        let regress = ws.join("regress_result.json");
        let junit = ws.join(OUT_DIR).join("junit.xml");
        let mut o = Obj::new().push("ok", true).push("workspace", display(ws));
        let demo = self
            .zips()
            .into_iter()
            .find(|a| a.name == "runpack_run_demo.zip");
        if let Some(a) = demo {
            let v = self.verify(&a);
            if v.status == "ok" {
                let r = v.report.unwrap_or(Value::Null);
                o = o
                    .push("runpack_path", display(&runpack))
                    .push_opt("run_id", r["run_id"].as_str())
                    .push_opt("manifest_digest", r["manifest_digest"].as_str());
            }
        }
        let traces = self.trace_files(ws);
        if !traces.is_empty() {
            let last: Vec<Value> = traces[traces.len().saturating_sub(5)..]
                .iter()
                .map(|p| Value::String(display(p)))
                .collect();
            o = o.push("trace_files", last);
        }
        if regress.is_file() {
            o = o.push("regress_result_path", display(&regress));
        }
        if junit.is_file() {
            o = o.push("junit_path", display(&junit));
        }
        let artifacts = [
            ("runpack", &runpack),
            ("regress_result", &regress),
            ("junit", &junit),
        ]
        .into_iter()
        .map(|(key, p)| {
            Obj::new()
                .push("key", key)
                .push("path", display(p))
                .push("exists", p.is_file())
                .push_opt("modified_at", modified_at(p))
        })
        .collect();
        o.push_objs("artifacts", artifacts)
            .push("policy_paths", json!(POLICY_PATHS))
            .push("intent_paths", json!(INTENT_PATHS))
            .push("default_policy_path", POLICY_PATHS[0])
            .push("default_intent_path", INTENT_PATHS[0])
            .push("gait_config_exists", ws.join("gait.yaml").is_file())
    }
}

fn trace_verdict(p: &Path) -> String {
    gait_sdk::fsutil::read_capped(p, MAX_RECORD_BYTES)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.get("verdict").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "unreadable".into())
}

fn strings(v: &Value, key: &str) -> Option<Value> {
    let a = v.get(key)?.as_array()?;
    let s: Vec<Value> = a.iter().filter(|x| x.is_string()).cloned().collect();
    Some(Value::Array(s))
}

/// The rules a trace names: top-level `matched_rule_ids`, else the relationship envelope's
/// `policy_ref.matched_rule_ids` (where `gate eval` records them when it has them).
fn matched_rule_ids(v: &Value) -> Option<String> {
    let ids = v
        .get("matched_rule_ids")
        .or_else(|| v.pointer("/relationship/policy_ref/matched_rule_ids"))?
        .as_array()?;
    let names: Vec<&str> = ids.iter().filter_map(Value::as_str).collect();
    (!names.is_empty()).then(|| names.join(", "))
}

fn trace_obj(rel: &str, modified: Option<SystemTime>, v: &Value) -> Obj {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Obj::new()
        .push("path", rel)
        .push_opt("trace_id", s("trace_id"))
        .push("verdict", s("verdict").unwrap_or_else(|| "unknown".into()))
        .push_opt("tool_name", s("tool_name"))
        // Traces written by `gate eval` carry `violations`; reason codes and the matched rule
        // appear only when the producer recorded them.
        .push_opt("reason_codes", strings(v, "reason_codes"))
        .push_opt("violations", strings(v, "violations"))
        .push_opt(
            "matched_rule",
            s("matched_rule").or_else(|| matched_rule_ids(v)),
        )
        .push_opt("policy_digest", s("policy_digest"))
        .push_opt("created_at", s("created_at"))
        .push_opt("modified_at", modified.and_then(rfc3339))
}

fn job_obj(dir_name: &str, v: &Value) -> Obj {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let checkpoints: Vec<Obj> = v
        .get("checkpoints")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|c| {
                    let cs = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
                    Obj::new()
                        .push_opt("checkpoint_id", cs("checkpoint_id"))
                        .push_opt("type", cs("type").or_else(|| cs("checkpoint_type")))
                        .push_opt("summary", cs("summary"))
                        .push_opt("required_action", cs("required_action"))
                        .push_opt("reason_code", cs("reason_code"))
                        .push_opt("actor", cs("actor"))
                        .push_opt("created_at", cs("created_at"))
                })
                .collect()
        })
        .unwrap_or_default();
    let approvals = v
        .get("approvals")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    Obj::new()
        .push(
            "job_id",
            s("job_id").unwrap_or_else(|| dir_name.to_string()),
        )
        .push("status", s("status").unwrap_or_default())
        .push_opt("stop_reason", s("stop_reason"))
        .push_opt("status_reason_code", s("status_reason_code"))
        .push_opt("revision", v.get("revision").cloned())
        .push_opt("created_at", s("created_at"))
        .push_opt("updated_at", s("updated_at"))
        .push("approvals", approvals)
        .push_objs("checkpoints", checkpoints)
}
