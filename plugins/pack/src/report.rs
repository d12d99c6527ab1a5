//! `gait report top`: ranks the riskiest actions across runpacks and gate traces.
//!
//! An *action* is a tool name (trimmed, lower-cased). Every intent of every run (with its first
//! result) and every gate trace is one *occurrence* of its action, scored:
//!
//! | signal | points |
//! | --- | --- |
//! | verdict `block` | 60 |
//! | verdict `require_approval` | 45 |
//! | verdict `dry_run` | 30 |
//! | verdict `allow` / none | 0 |
//! | tool risk `high` (destructive, irreversible, money, code execution, permissions) | 30 |
//! | tool risk `medium` (writes, outbound messages, publishing) | 15 |
//! | tool risk `low` (anything else) | 0 |
//! | run result status other than `ok`/`success` | 10 |
//! | violations recorded | 5 |
//!
//! Verdicts come from the trace's `verdict`, or from a run result's payload (`verdict`, kept by
//! raw capture and by session checkpoints). An action's `risk_score` is its worst occurrence
//! plus one point per further occurrence, at most 10. Actions are ranked by `risk_score`, then
//! occurrences, then name (all descending except the name); actions scoring 0 are counted but
//! never listed. Nothing depends on the clock or on file system order, so the same inputs give
//! the same report byte for byte.

use crate::error::PackError;
use crate::runs::{load_runpack, output_path};
use gait_sdk::cli::CommandOutput;
use gait_sdk::error::exit;
use gait_sdk::gojson::GoValue;
use gait_sdk::output::to_json_pretty;
use gait_sdk::time::GoTime;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type R<T> = Result<T, PackError>;

pub const REPORT_SCHEMA: &str = "gait.report.top";
pub const DEFAULT_OUT: &str = "./gait-out/report_top_actions.json";
pub const DEFAULT_LIMIT: i64 = 5;
pub const MAX_LIMIT: i64 = 20;
/// Largest trace file read.
pub const MAX_TRACE_BYTES: u64 = 16 * 1024 * 1024;
/// Most files looked at in one directory.
pub const MAX_DIR_FILES: usize = 10_000;
/// Evidence pointers kept per action.
const MAX_EVIDENCE: usize = 5;

/// Tool-name tokens that make an action high risk.
pub const HIGH_RISK_TOKENS: &[&str] = &[
    "delete",
    "del",
    "drop",
    "destroy",
    "remove",
    "rm",
    "truncate",
    "wipe",
    "purge",
    "erase",
    "kill",
    "terminate",
    "shutdown",
    "format",
    "revoke",
    "exec",
    "execute",
    "shell",
    "bash",
    "sudo",
    "eval",
    "transfer",
    "payment",
    "pay",
    "wire",
    "charge",
    "refund",
    "withdraw",
    "deploy",
    "grant",
    "chmod",
    "chown",
    "disable",
];
/// Tool-name tokens that make an action medium risk.
pub const MEDIUM_RISK_TOKENS: &[&str] = &[
    "write", "update", "create", "insert", "modify", "edit", "set", "put", "post", "patch", "send",
    "email", "mail", "upload", "commit", "push", "publish", "approve", "move", "rename", "merge",
    "install", "restart", "reset", "share", "invite", "message", "sms", "call",
];

/// The risk class of a tool name: `high`, `medium` or `low`.
pub fn tool_risk(tool: &str) -> &'static str {
    let lower = tool.to_lowercase();
    let tokens: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.iter().any(|t| HIGH_RISK_TOKENS.contains(t)) {
        "high"
    } else if tokens.iter().any(|t| MEDIUM_RISK_TOKENS.contains(t)) {
        "medium"
    } else {
        "low"
    }
}

fn verdict_points(verdict: &str) -> i64 {
    match verdict {
        "block" => 60,
        "require_approval" => 45,
        "dry_run" => 30,
        _ => 0,
    }
}

fn risk_points(class: &str) -> i64 {
    match class {
        "high" => 30,
        "medium" => 15,
        _ => 0,
    }
}

/// A gate trace record as the report and incident packs read it.
#[derive(Debug, Clone)]
pub struct Trace {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub trace_id: String,
    pub tool_name: String,
    pub verdict: String,
    pub policy_digest: String,
    pub run_id: String,
    pub violations: Vec<String>,
    /// `observed_at`, else `created_at` (zero when neither parses).
    pub time: GoTime,
}

fn field_str(v: &GoValue, k: &str) -> String {
    match v.field(k) {
        Some(GoValue::String(s)) => s.trim().to_string(),
        _ => String::new(),
    }
}

fn field_list(v: &GoValue, k: &str) -> Vec<String> {
    let mut out: Vec<String> = match v.field(k).map(GoValue::to_value) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(|s| s.trim().to_string()))
            .filter(|s| !s.is_empty())
            .collect(),
        _ => Vec::new(),
    };
    out.sort();
    out.dedup();
    out
}

fn field_time(v: &GoValue, k: &str) -> GoTime {
    GoTime::parse_rfc3339(&field_str(v, k)).unwrap_or_default()
}

/// Reads a JSON object from a file, capped; `None` when it is not JSON.
pub fn read_json_file(path: &Path, cap: u64) -> R<(Vec<u8>, Option<GoValue>)> {
    let bytes = gait_sdk::fsutil::read_capped(path, cap)
        .map_err(|e| PackError::invalid(format!("read {}: {e}", path.display())))?;
    let v = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|t| GoValue::parse(t).ok())
        .filter(|v| matches!(v, GoValue::Object(_)));
    Ok((bytes, v))
}

/// Parses a gate trace; `None` when the file is not one (`schema_id` is not `gait.gate.trace`).
pub fn read_trace(path: &Path) -> R<Option<Trace>> {
    let (bytes, v) = read_json_file(path, MAX_TRACE_BYTES)?;
    let Some(v) = v else { return Ok(None) };
    if field_str(&v, "schema_id") != "gait.gate.trace" {
        return Ok(None);
    }
    let observed = field_time(&v, "observed_at");
    let time = if observed.is_zero() {
        field_time(&v, "created_at")
    } else {
        observed
    };
    Ok(Some(Trace {
        path: path.to_path_buf(),
        trace_id: field_str(&v, "trace_id"),
        tool_name: field_str(&v, "tool_name"),
        verdict: field_str(&v, "verdict").to_lowercase(),
        policy_digest: field_str(&v, "policy_digest").to_lowercase(),
        run_id: field_str(&v, "run_id"),
        violations: field_list(&v, "violations"),
        time: time.utc(),
        bytes,
    }))
}

/// Regular files directly in `dir` whose name ends in `suffix`, sorted by name (no recursion,
/// no symlinks followed), at most [`MAX_DIR_FILES`].
pub fn dir_files(dir: &Path, suffix: &str) -> R<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| PackError::invalid(format!("read directory {}: {e}", dir.display())))?;
    let mut out = Vec::new();
    for entry in rd.flatten() {
        let Ok(ft) = entry.file_type() else { continue };
        if !ft.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.to_lowercase().ends_with(suffix) && !name.starts_with('.') {
            out.push(entry.path());
        }
    }
    out.sort();
    out.truncate(MAX_DIR_FILES);
    Ok(out)
}

fn csv(items: &[String]) -> Vec<String> {
    items
        .iter()
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// One scored occurrence of an action.
#[derive(Debug, Clone)]
struct Occurrence {
    score: i64,
    verdict: String,
    failed: bool,
    violations: Vec<String>,
    policy_digest: String,
    pointer: Value,
}

#[derive(Debug, Default)]
struct Action {
    occurrences: Vec<Occurrence>,
    run_ids: BTreeSet<String>,
    trace_ids: BTreeSet<String>,
}

fn occurrence_score(tool: &str, verdict: &str, failed: bool, violations: bool) -> i64 {
    verdict_points(verdict)
        + risk_points(tool_risk(tool))
        + if failed { 10 } else { 0 }
        + if violations { 5 } else { 0 }
}

/// Flags of `report top`.
#[derive(Debug, Default, Clone)]
pub struct TopArgs {
    /// `--runs` values and positionals (each a csv of run ids, runpack paths or directories).
    pub runs: Vec<String>,
    /// `--traces` (csv of trace files or directories).
    pub traces: String,
    pub limit: i64,
    pub out: String,
}

/// Resolves the run list: run ids, runpack paths, and directories of `*.zip` runpacks.
fn run_paths(items: &[String], warnings: &mut Vec<String>) -> R<Vec<PathBuf>> {
    let mut out = Vec::new();
    for item in items {
        let p = Path::new(item);
        if p.is_dir() {
            let zips = dir_files(p, ".zip")?;
            for z in zips {
                // Other zips (packs, callpacks) are skipped; a runpack-named one is reported.
                let named = z
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("runpack"));
                match load_runpack(&z.to_string_lossy()) {
                    Ok(_) => out.push(z),
                    Err(e) if named => warnings.push(format!("skipped {}: {e}", z.display())),
                    Err(_) => {}
                }
            }
        } else {
            out.push(crate::runs::resolve_runpack(item)?);
        }
    }
    // Input order does not matter: sorted by path, duplicates dropped.
    out.sort_by_key(|p| crate::runs::clean(&p.to_string_lossy()));
    out.dedup_by_key(|p| crate::runs::clean(&p.to_string_lossy()));
    Ok(out)
}

/// Reads the trace list: trace files, and directories of `*.json` traces.
pub fn load_traces(items: &[String], warnings: &mut Vec<String>) -> R<Vec<Trace>> {
    let mut out = Vec::new();
    for item in items {
        let p = Path::new(item);
        if p.is_dir() {
            for f in dir_files(p, ".json")? {
                if let Ok(Some(t)) = read_trace(&f) {
                    out.push(t);
                }
            }
        } else if p.is_file() {
            match read_trace(p)? {
                Some(t) => out.push(t),
                None => {
                    return Err(PackError::usage(
                        format!("not a gate trace (schema_id gait.gate.trace): {item}"),
                        "pass trace files written by `gait gate eval --trace-out`, or a directory of them",
                    ))
                }
            }
        } else {
            return Err(PackError::invalid(format!("trace not found: {item}")));
        }
    }
    out.sort_by_key(|t| crate::runs::clean(&t.path.to_string_lossy()));
    out.dedup_by_key(|t| crate::runs::clean(&t.path.to_string_lossy()));
    if out.is_empty() && !items.is_empty() {
        warnings.push("no gate traces found in --traces".into());
    }
    Ok(out)
}

/// Builds the report object and writes nothing.
pub fn build_report(a: &TopArgs) -> R<(Value, Vec<String>)> {
    let mut warnings = Vec::new();
    let run_items = csv(&a.runs);
    if run_items.is_empty() {
        return Err(PackError::usage(
            "missing required --runs <csv|run_id|dir>",
            "usage: gait report top --runs run_a,run_b|./gait-out [--traces <csv|dir>] [--limit 5]",
        ));
    }
    if a.limit < 1 {
        return Err(PackError::usage(
            format!("--limit must be >= 1 (got {})", a.limit),
            "pass --limit between 1 and 20",
        ));
    }
    let limit = if a.limit > MAX_LIMIT {
        warnings.push(format!("--limit {} clamped to {MAX_LIMIT}", a.limit));
        MAX_LIMIT
    } else {
        a.limit
    };
    let trace_items = csv(std::slice::from_ref(&a.traces));
    let paths = run_paths(&run_items, &mut warnings)?;
    let traces = load_traces(&trace_items, &mut warnings)?;

    let mut actions: BTreeMap<String, Action> = BTreeMap::new();
    let mut newest = GoTime::zero();
    let mut runs_json = Vec::new();
    let mut digests = BTreeSet::new();
    let mut run_count = 0usize;
    for path in &paths {
        let (_, rp) = load_runpack(&path.to_string_lossy())?;
        let run_id = rp.run.header.run_id.clone();
        // The same runpack under two names (a copy, a no-change migration) counts once.
        if !digests.insert(rp.manifest.manifest_digest.to_lowercase()) {
            warnings.push(format!(
                "skipped {}: same runpack (manifest digest) as an earlier input",
                path.display()
            ));
            continue;
        }
        run_count += 1;
        if rp.run.header.created_at.timestamp() > newest.timestamp() {
            newest = rp.run.header.created_at.utc();
        }
        runs_json.push(json!({"run_id": run_id, "path": path.to_string_lossy()}));
        for intent in &rp.intents {
            let tool = intent.tool_name.trim().to_lowercase();
            if tool.is_empty() {
                continue;
            }
            let result = rp.results.iter().find(|r| r.intent_id == intent.intent_id);
            let status = result
                .map(|r| r.status.trim().to_lowercase())
                .unwrap_or_default();
            let failed = !status.is_empty() && status != "ok" && status != "success";
            let payload = result.and_then(|r| r.result.as_ref());
            let verdict = payload
                .and_then(|p| p.get("verdict"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim()
                .to_lowercase();
            let mut violations: Vec<String> = payload
                .and_then(|p| p.get("violations"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            violations.sort();
            violations.dedup();
            let mut pointer = Map::new();
            pointer.insert("source".into(), json!("run"));
            pointer.insert("run_id".into(), json!(run_id));
            pointer.insert("intent_id".into(), json!(intent.intent_id));
            if !verdict.is_empty() {
                pointer.insert("verdict".into(), json!(verdict));
            }
            if !status.is_empty() {
                pointer.insert("status".into(), json!(status));
            }
            let score = occurrence_score(&tool, &verdict, failed, !violations.is_empty());
            pointer.insert("score".into(), json!(score));
            let act = actions.entry(tool).or_default();
            act.run_ids.insert(run_id.clone());
            act.occurrences.push(Occurrence {
                score,
                verdict,
                failed,
                violations,
                policy_digest: String::new(),
                pointer: Value::Object(pointer),
            });
        }
    }
    let mut traces_json = Vec::new();
    for t in &traces {
        if t.time.timestamp() > newest.timestamp() {
            newest = t.time;
        }
        traces_json.push(json!({"trace_id": t.trace_id, "path": t.path.to_string_lossy()}));
        let tool = t.tool_name.to_lowercase();
        if tool.is_empty() {
            warnings.push(format!("trace without tool_name: {}", t.path.display()));
            continue;
        }
        let score = occurrence_score(&tool, &t.verdict, false, !t.violations.is_empty());
        let mut pointer = Map::new();
        pointer.insert("source".into(), json!("trace"));
        pointer.insert("trace_id".into(), json!(t.trace_id));
        pointer.insert("path".into(), json!(t.path.to_string_lossy()));
        if !t.verdict.is_empty() {
            pointer.insert("verdict".into(), json!(t.verdict));
        }
        pointer.insert("score".into(), json!(score));
        let act = actions.entry(tool).or_default();
        if !t.trace_id.is_empty() {
            act.trace_ids.insert(t.trace_id.clone());
        }
        if !t.run_id.is_empty() {
            act.run_ids.insert(t.run_id.clone());
        }
        act.occurrences.push(Occurrence {
            score,
            verdict: t.verdict.clone(),
            failed: false,
            violations: t.violations.clone(),
            policy_digest: t.policy_digest.clone(),
            pointer: Value::Object(pointer),
        });
    }

    let action_count = actions.len();
    let mut ranked: Vec<(String, i64, Action)> = actions
        .into_iter()
        .map(|(name, act)| {
            let worst = act.occurrences.iter().map(|o| o.score).max().unwrap_or(0);
            let bonus = (act.occurrences.len() as i64 - 1).clamp(0, 10);
            let score = if worst == 0 { 0 } else { worst + bonus };
            (name, score, act)
        })
        .filter(|(_, score, _)| *score > 0)
        .collect();
    ranked.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then(b.2.occurrences.len().cmp(&a.2.occurrences.len()))
            .then(a.0.cmp(&b.0))
    });
    let top: Vec<Value> = ranked
        .into_iter()
        .take(limit as usize)
        .enumerate()
        .map(|(i, (name, score, mut act))| action_json(i + 1, &name, score, &mut act))
        .collect();
    let created = if newest.is_zero() {
        "1980-01-01T00:00:00Z".to_string()
    } else {
        newest.to_rfc3339_nano()
    };
    let mut report = Map::new();
    report.insert("schema_id".into(), json!(REPORT_SCHEMA));
    report.insert("schema_version".into(), json!("1.0.0"));
    report.insert("created_at".into(), json!(created));
    report.insert("limit".into(), json!(limit));
    report.insert("run_count".into(), json!(run_count));
    report.insert("trace_count".into(), json!(traces.len()));
    report.insert("action_count".into(), json!(action_count));
    report.insert("scoring".into(), scoring_json());
    report.insert("top_actions".into(), Value::Array(top));
    report.insert("runs".into(), Value::Array(runs_json));
    report.insert("traces".into(), Value::Array(traces_json));
    if !warnings.is_empty() {
        report.insert("warnings".into(), json!(warnings));
    }
    Ok((Value::Object(report), warnings))
}

fn action_json(rank: usize, name: &str, score: i64, act: &mut Action) -> Value {
    let mut verdicts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut violations = BTreeSet::new();
    let mut policies = BTreeSet::new();
    let mut failed = 0;
    for o in &act.occurrences {
        if !o.verdict.is_empty() {
            *verdicts.entry(o.verdict.as_str()).or_default() += 1;
        }
        violations.extend(o.violations.iter().cloned());
        if !o.policy_digest.is_empty() {
            policies.insert(o.policy_digest.clone());
        }
        if o.failed {
            failed += 1;
        }
    }
    let worst = act
        .occurrences
        .iter()
        .max_by_key(|o| verdict_points(&o.verdict))
        .map(|o| o.verdict.clone())
        .filter(|v| verdict_points(v) > 0);
    let mut m = Map::new();
    m.insert("rank".into(), json!(rank));
    m.insert("tool_name".into(), json!(name));
    m.insert("risk_score".into(), json!(score));
    m.insert("tool_risk".into(), json!(tool_risk(name)));
    m.insert("occurrences".into(), json!(act.occurrences.len()));
    if let Some(w) = worst {
        m.insert("worst_verdict".into(), json!(w));
    }
    if !verdicts.is_empty() {
        m.insert("verdicts".into(), json!(verdicts));
    }
    if failed > 0 {
        m.insert("failed_results".into(), json!(failed));
    }
    if !violations.is_empty() {
        m.insert("violations".into(), json!(violations));
    }
    if !policies.is_empty() {
        m.insert("policy_digests".into(), json!(policies));
    }
    if !act.run_ids.is_empty() {
        m.insert("run_ids".into(), json!(act.run_ids));
    }
    if !act.trace_ids.is_empty() {
        m.insert("trace_ids".into(), json!(act.trace_ids));
    }
    // Highest-scoring evidence first; ties in input order (runs by path, then traces by path).
    act.occurrences.sort_by_key(|o| std::cmp::Reverse(o.score));
    m.insert(
        "evidence".into(),
        Value::Array(
            act.occurrences
                .iter()
                .take(MAX_EVIDENCE)
                .map(|o| o.pointer.clone())
                .collect(),
        ),
    );
    Value::Object(m)
}

fn scoring_json() -> Value {
    json!({
        "version": "1",
        "verdict_points": {"block": 60, "require_approval": 45, "dry_run": 30, "allow": 0},
        "tool_risk_points": {"high": 30, "medium": 15, "low": 0},
        "failed_result_points": 10,
        "violation_points": 5,
        "repeat_bonus": "one point per further occurrence, at most 10",
        "order": "risk_score desc, occurrences desc, tool_name asc; score 0 never listed",
    })
}

/// `gait report top`.
pub fn top(a: &TopArgs) -> R<CommandOutput> {
    let out = output_path(if a.out.trim().is_empty() {
        DEFAULT_OUT
    } else {
        a.out.trim()
    })?;
    let (report, warnings) = build_report(a)?;
    let mut text = to_json_pretty(&report);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    gait_sdk::fsutil::write_atomic(Path::new(&out), text.as_bytes(), 0o600)
        .map_err(|e| PackError::Io(format!("write {out}: {e}")))?;
    let mut m = Map::new();
    m.insert("output_path".into(), json!(out));
    for k in ["run_count", "trace_count", "action_count"] {
        if report[k].as_u64().unwrap_or(0) > 0 {
            m.insert(k.into(), report[k].clone());
        }
    }
    let top = report["top_actions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !top.is_empty() {
        m.insert("top_actions".into(), Value::Array(top.clone()));
    }
    if !warnings.is_empty() {
        m.insert("warnings".into(), json!(warnings));
    }
    let mut human = format!(
        "report top: runs={} traces={} actions={} -> {out}\n",
        report["run_count"], report["trace_count"], report["action_count"]
    );
    for t in &top {
        human.push_str(&format!(
            "{}. {} score={} risk={}{}\n",
            t["rank"],
            t["tool_name"].as_str().unwrap_or(""),
            t["risk_score"],
            t["tool_risk"].as_str().unwrap_or(""),
            t["worst_verdict"]
                .as_str()
                .map(|v| format!(" verdict={v}"))
                .unwrap_or_default()
        ));
    }
    m.insert("report".into(), report);
    Ok(CommandOutput::new(m, human, exit::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_risk_classes() {
        assert_eq!(tool_risk("tool.delete"), "high");
        assert_eq!(tool_risk("db.drop_table"), "high");
        assert_eq!(tool_risk("Payment-Transfer"), "high");
        assert_eq!(tool_risk("tool.write_file"), "medium");
        assert_eq!(tool_risk("send_email"), "medium");
        assert_eq!(tool_risk("tool.search"), "low");
        assert_eq!(
            tool_risk("deleted_items_viewer"),
            "low",
            "whole tokens only"
        );
    }

    #[test]
    fn scores_add_up() {
        assert_eq!(occurrence_score("tool.delete", "block", false, false), 90);
        assert_eq!(occurrence_score("tool.search", "allow", false, false), 0);
        assert_eq!(occurrence_score("send_email", "", true, true), 30);
    }
}
