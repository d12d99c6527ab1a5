//! `gait incident pack`: one PackSpec pack with a run and the evidence around it.
//!
//! PackSpec v1 has no incident pack type (`run`, `job`, `call`, `authorization`), so an
//! incident pack is a **`run` pack** (`source_ref` = the run id) that carries, besides the
//! usual `source/runpack.zip`, `run_payload.json` and `context_envelope.json`:
//!
//! - `incident/incident.json` (`gait.incident.context` 1.0.0): case id, template and its
//!   controls, the time window, and one line per included trace and regress result;
//! - `incident/traces/NNN_<file>`: the gate traces (`gait.gate.trace`) observed in the window,
//!   byte for byte;
//! - `incident/regress/NNN_<file>`: the regress results (`gait.regress.result`) created in it.
//!
//! Every file is listed in `contents` and chained in `proof_records.jsonl`, so `gait pack
//! verify` covers all of them, and the run contract (payload and embedded runpack) still holds.
//!
//! The window is `[run start − window, run end + window]`, where the run starts at its
//! `created_at` and ends at its latest timeline event. Traces are timed by `observed_at` (else
//! `created_at`), regress results by `created_at`. Candidates are the `*.json` files directly in
//! the runpack's directory, `./gait-out` and `.`; other files are ignored.

use crate::archive::{open_entries, read_all, write_zip, zip_bytes};
use crate::error::PackError;
use crate::packs::{context_envelope, run_payload, Contracts};
use crate::report::{dir_files, read_json_file, read_trace, MAX_TRACE_BYTES};
use crate::runs::{clean, load_runpack, output_path, pack_signer};
use gait_sdk::cli::CommandOutput;
use gait_sdk::error::exit;
use gait_sdk::gojson::GoValue;
use gait_sdk::jcs;
use gait_sdk::pack::runpack::{self, Runpack};
use gait_sdk::pack::spec;
use gait_sdk::signing::KeySource;
use gait_sdk::time::{format_go_duration, parse_go_duration, GoTime};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type R<T> = Result<T, PackError>;

pub const INCIDENT_SCHEMA: &str = "gait.incident.context";
pub const INCIDENT_FILE: &str = "incident/incident.json";
pub const DEFAULT_WINDOW: &str = "24h";
pub const TEMPLATES: &[&str] = &["incident_response", "soc2", "pci"];

/// Title and control list recorded for a template.
fn template(id: &str) -> (&'static str, &'static [&'static str]) {
    match id {
        "soc2" => (
            "SOC 2 incident evidence",
            &[
                "CC7.2 monitor system components for anomalies",
                "CC7.3 evaluate security events",
                "CC7.4 respond to security incidents",
                "CC7.5 recover from security incidents",
            ],
        ),
        "pci" => (
            "PCI DSS incident evidence",
            &[
                "10.2 audit logs capture user and system activity",
                "10.3 audit logs are protected from modification",
                "10.7 failures of critical security controls are detected and responded to",
                "12.10 suspected and confirmed security incidents are responded to",
            ],
        ),
        _ => (
            "Incident response evidence",
            &[
                "timeline: the recorded run and the decisions around it",
                "scope: tools and policies involved",
                "containment: blocked and approval-gated actions",
                "regression: regress results in the window",
            ],
        ),
    }
}

/// Flags of `incident pack`.
#[derive(Debug, Default, Clone)]
pub struct IncidentArgs {
    pub from: String,
    pub window: String,
    pub template: String,
    pub render_pdf: bool,
    pub out: String,
    pub case_id: String,
    pub key_mode: String,
    pub private_key: String,
    pub private_key_env: String,
}

struct Regress {
    path: PathBuf,
    bytes: Vec<u8>,
    status: String,
    fixture_set: String,
    time: GoTime,
}

fn valid_case_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

/// `[A-Za-z0-9._-]` only, at most 100 characters.
fn entry_name(path: &Path) -> String {
    let name: String = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if name.is_empty() || name.starts_with('.') {
        format!("f{name}")
    } else {
        name
    }
}

fn in_window(t: &GoTime, from: &GoTime, to: &GoTime) -> bool {
    !t.is_zero() && t.timestamp() >= from.timestamp() && t.timestamp() <= to.timestamp()
}

fn scan_dirs(runpack: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let parent = runpack
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    for d in [parent, PathBuf::from("gait-out"), PathBuf::from(".")] {
        if !d.is_dir() {
            continue;
        }
        let key = d.canonicalize().unwrap_or_else(|_| d.clone());
        if !dirs.iter().any(|(k, _): &(PathBuf, PathBuf)| *k == key) {
            dirs.push((key, d));
        }
    }
    dirs.into_iter().map(|(_, d)| d).collect()
}

/// Reads the candidate evidence files in the window.
fn collect(
    runpack: &Path,
    from: &GoTime,
    to: &GoTime,
) -> R<(Vec<crate::report::Trace>, Vec<Regress>)> {
    let mut traces = Vec::new();
    let mut regress = Vec::new();
    let mut seen = BTreeSet::new();
    for dir in scan_dirs(runpack) {
        for f in dir_files(&dir, ".json")? {
            let key = f.canonicalize().unwrap_or_else(|_| f.clone());
            if !seen.insert(key) {
                continue;
            }
            // Unreadable or oversized candidates are not evidence of this incident.
            let Ok((bytes, Some(v))) = read_json_file(&f, MAX_TRACE_BYTES) else {
                continue;
            };
            let schema = match v.field("schema_id") {
                Some(GoValue::String(s)) => s.clone(),
                _ => continue,
            };
            if schema == "gait.gate.trace" {
                if let Ok(Some(t)) = read_trace(&f) {
                    if in_window(&t.time, from, to) {
                        traces.push(t);
                    }
                }
            } else if schema == "gait.regress.result" {
                let s = |k: &str| match v.field(k) {
                    Some(GoValue::String(x)) => x.trim().to_string(),
                    _ => String::new(),
                };
                let time = GoTime::parse_rfc3339(&s("created_at"))
                    .unwrap_or_default()
                    .utc();
                if in_window(&time, from, to) {
                    regress.push(Regress {
                        path: f.clone(),
                        bytes,
                        status: s("status"),
                        fixture_set: s("fixture_set"),
                        time,
                    });
                }
            }
        }
    }
    traces.sort_by(|a, b| {
        (a.time.timestamp(), &a.trace_id, &a.path).cmp(&(b.time.timestamp(), &b.trace_id, &b.path))
    });
    regress.sort_by(|a, b| (a.time.timestamp(), &a.path).cmp(&(b.time.timestamp(), &b.path)));
    Ok((traces, regress))
}

fn run_span(rp: &Runpack) -> R<(GoTime, GoTime)> {
    let start = rp.run.header.created_at.utc();
    if start.is_zero() {
        return Err(PackError::invalid(
            "run has no created_at: cannot place the incident window",
        ));
    }
    let mut end = start;
    for e in rp.run.timeline.iter().flatten() {
        if !e.ts.is_zero() && e.ts.timestamp() > end.timestamp() {
            end = e.ts.utc();
        }
    }
    Ok((start, end))
}

/// `gait incident pack`.
pub fn pack(a: &IncidentArgs) -> R<CommandOutput> {
    if a.render_pdf {
        return Err(PackError::usage(
            "--render-pdf is not supported by this gait release",
            "build the pack without --render-pdf; incident/incident.json inside it holds the report data (see `gait pack inspect`)",
        ));
    }
    if a.from.trim().is_empty() {
        return Err(PackError::usage(
            "missing required --from <run_id|path>",
            "usage: gait incident pack --from <run_id|runpack.zip> [--window 24h] [--template incident_response|soc2|pci]",
        ));
    }
    let template_id = if a.template.trim().is_empty() {
        "incident_response".to_string()
    } else {
        a.template.trim().to_lowercase()
    };
    if !TEMPLATES.contains(&template_id.as_str()) {
        return Err(PackError::usage(
            format!("unsupported --template: {}", a.template.trim()),
            "use --template incident_response, soc2 or pci",
        ));
    }
    let window_text = if a.window.trim().is_empty() {
        DEFAULT_WINDOW
    } else {
        a.window.trim()
    };
    let window = parse_go_duration(window_text)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            PackError::usage(
                format!("invalid --window: {window_text}"),
                "pass a positive Go duration such as 30m, 24h or 168h",
            )
        })?;
    let case_id = a.case_id.trim().to_string();
    if !a.case_id.is_empty() && !valid_case_id(&case_id) {
        return Err(PackError::usage(
            format!("invalid --case-id: {:?}", a.case_id),
            "use up to 128 characters from A-Z a-z 0-9 . _ : -",
        ));
    }
    let signer = pack_signer(
        &a.key_mode,
        &KeySource::new(&a.private_key, &a.private_key_env),
    )?;
    let (path, rp) = load_runpack(&a.from)?;
    let run_id = rp.run.header.run_id.clone();
    let out = if a.out.trim().is_empty() {
        output_path(&format!("./gait-out/incident_pack_{run_id}.zip"))?
    } else {
        output_path(&a.out)?
    };
    if clean(&out) == clean(&path.to_string_lossy()) {
        return Err(PackError::usage(
            "--out must differ from the runpack",
            "pass --out with a new path",
        ));
    }
    let (start, end) = run_span(&rp)?;
    let span = std::time::Duration::from_nanos(u64::try_from(window).unwrap_or(u64::MAX));
    let too_big = || {
        PackError::usage(
            format!("--window {window_text} is out of range"),
            "pass a smaller window",
        )
    };
    let from = start
        .timestamp()
        .checked_sub(span)
        .map(GoTime::from_timestamp)
        .map_err(|_| too_big())?;
    let to = end
        .timestamp()
        .checked_add(span)
        .map(GoTime::from_timestamp)
        .map_err(|_| too_big())?;
    let (traces, regress) = collect(&path, &from, &to)?;

    let mut payload = BTreeMap::new();
    let mut src = open_entries(&path)?;
    let original = read_all(src.as_mut(), runpack::MAX_ENTRY_BYTES)?;
    payload.insert("source/runpack.zip".to_string(), zip_bytes(&original)?);
    payload.insert(
        "run_payload.json".to_string(),
        jcs::canonical_bytes(&run_payload(&rp)).expect("finite"),
    );
    if let Some(env) = context_envelope(&rp)? {
        payload.insert(
            "context_envelope.json".to_string(),
            jcs::canonical_bytes(&env).expect("finite"),
        );
    }
    let mut policy_digests = BTreeSet::new();
    let mut verdicts: BTreeMap<String, usize> = BTreeMap::new();
    let mut trace_lines = Vec::new();
    for (i, t) in traces.iter().enumerate() {
        let entry = format!("incident/traces/{:03}_{}", i + 1, entry_name(&t.path));
        if !t.policy_digest.is_empty() {
            policy_digests.insert(t.policy_digest.clone());
        }
        if !t.verdict.is_empty() {
            *verdicts.entry(t.verdict.clone()).or_default() += 1;
        }
        let mut m = Map::new();
        m.insert("path".into(), json!(entry));
        m.insert("sha256".into(), json!(jcs::sha256_hex(&t.bytes)));
        m.insert("trace_id".into(), json!(t.trace_id));
        m.insert("tool_name".into(), json!(t.tool_name));
        m.insert("verdict".into(), json!(t.verdict));
        m.insert("observed_at".into(), json!(t.time.to_rfc3339_nano()));
        if !t.policy_digest.is_empty() {
            m.insert("policy_digest".into(), json!(t.policy_digest));
        }
        if !t.run_id.is_empty() {
            m.insert("run_id".into(), json!(t.run_id));
        }
        trace_lines.push(Value::Object(m));
        payload.insert(entry, t.bytes.clone());
    }
    let mut regress_lines = Vec::new();
    for (i, r) in regress.iter().enumerate() {
        let entry = format!("incident/regress/{:03}_{}", i + 1, entry_name(&r.path));
        regress_lines.push(json!({
            "path": entry, "sha256": jcs::sha256_hex(&r.bytes), "status": r.status,
            "fixture_set": r.fixture_set, "created_at": r.time.to_rfc3339_nano(),
        }));
        payload.insert(entry, r.bytes.clone());
    }
    let (title, controls) = template(&template_id);
    let mut ctx = Map::new();
    ctx.insert("schema_id".into(), json!(INCIDENT_SCHEMA));
    ctx.insert("schema_version".into(), json!("1.0.0"));
    ctx.insert("created_at".into(), json!(start.to_rfc3339_nano()));
    ctx.insert("run_id".into(), json!(run_id));
    ctx.insert("manifest_digest".into(), json!(rp.manifest.manifest_digest));
    if !case_id.is_empty() {
        ctx.insert("case_id".into(), json!(case_id));
    }
    ctx.insert("template_id".into(), json!(template_id));
    ctx.insert("title".into(), json!(title));
    ctx.insert("controls".into(), json!(controls));
    ctx.insert("window".into(), json!(format_go_duration(window)));
    ctx.insert("window_from".into(), json!(from.to_rfc3339_nano()));
    ctx.insert("window_to".into(), json!(to.to_rfc3339_nano()));
    ctx.insert("traces".into(), Value::Array(trace_lines));
    ctx.insert("regress_results".into(), Value::Array(regress_lines));
    if !policy_digests.is_empty() {
        ctx.insert("policy_digests".into(), json!(policy_digests));
    }
    if !verdicts.is_empty() {
        ctx.insert("verdict_counts".into(), json!(verdicts));
    }
    payload.insert(
        INCIDENT_FILE.to_string(),
        jcs::canonical_bytes(&Value::Object(ctx)).expect("finite"),
    );

    let built = spec::build(
        "run",
        &run_id,
        runpack::DEFAULT_PRODUCER_VERSION,
        payload,
        signer.as_ref().map(|s| &s.key),
    )?;
    // What is written must verify: check the entries before writing them.
    let mut check = built.entries.clone();
    let rep = spec::verify(&mut check, &Contracts, None, false)?;
    if !rep.ok(false) {
        return Err(PackError::verification(
            "incident pack failed verification before writing",
        ));
    }
    write_zip(Path::new(&out), &built.entries)?;

    let mut m = Map::new();
    m.insert("pack_path".into(), json!(out));
    m.insert("pack_id".into(), json!(built.manifest.pack_id));
    m.insert("run_id".into(), json!(run_id));
    m.insert("template_id".into(), json!(template_id));
    if !case_id.is_empty() {
        m.insert("case_id".into(), json!(case_id));
    }
    if !traces.is_empty() {
        m.insert("trace_count".into(), json!(traces.len()));
    }
    if !regress.is_empty() {
        m.insert("regress_count".into(), json!(regress.len()));
    }
    if !policy_digests.is_empty() {
        m.insert("policy_digests".into(), json!(policy_digests));
    }
    m.insert("window_from".into(), json!(from.to_rfc3339_nano()));
    m.insert("window_to".into(), json!(to.to_rfc3339_nano()));
    m.insert(
        "signature_status".into(),
        json!(if signer.is_some() {
            "signed"
        } else {
            "unsigned"
        }),
    );
    if let Some(s) = signer.as_ref().filter(|s| !s.warnings.is_empty()) {
        m.insert("warnings".into(), json!(s.warnings));
    }
    let text = format!(
        "incident pack: {out}\npack_id: {}\nrun_id: {run_id} template: {template_id} traces: {} regress results: {}\nwindow: {} .. {}\n",
        built.manifest.pack_id,
        traces.len(),
        regress.len(),
        from.to_rfc3339_nano(),
        to.to_rfc3339_nano()
    );
    Ok(CommandOutput::new(m, text, exit::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_are_safe() {
        assert_eq!(entry_name(Path::new("/x/trace a$.json")), "trace_a_.json");
        assert_eq!(entry_name(Path::new(".hidden.json")), "f.hidden.json");
    }

    #[test]
    fn case_ids() {
        assert!(valid_case_id("INC-2026:42"));
        assert!(!valid_case_id("a/b"));
        assert!(!valid_case_id(&"x".repeat(129)));
    }
}
