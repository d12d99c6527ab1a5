//! Run commands: `run record`, `verify`, `run inspect`, `run replay`, `run diff`,
//! `run receipt`.

use crate::archive::{open_entries, write_zip};
use crate::error::PackError;
use gait_sdk::cli::CommandOutput;
use gait_sdk::error::exit;
use gait_sdk::gojson::GoValue;
use gait_sdk::jcs;
use gait_sdk::pack::runpack::{self, read_strict, RecordInput, Runpack, VerifyReport};
use gait_sdk::signing::{self, KeySource, PublicKey};
use gait_sdk::time::GoTime;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

type R<T> = Result<T, PackError>;

/// Lexically cleaned slash path (Go `path.Clean`).
pub fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let j = parts.join("/");
    if rooted {
        format!("/{j}")
    } else if j.is_empty() {
        ".".into()
    } else {
        j
    }
}

/// Validates an output path: non-empty and, when relative, without `..`.
pub fn output_path(p: &str) -> R<String> {
    let c = clean(p.trim());
    if p.trim().is_empty() || c == "." || c == "/" {
        return Err(PackError::invalid("path is required"));
    }
    if !c.starts_with('/') && c.split('/').any(|s| s == "..") {
        return Err(PackError::invalid(format!(
            "relative output path must not traverse parent directories: {}",
            p.trim()
        )));
    }
    Ok(c)
}

/// Resolves `<run_id|path>`: a path when it has a separator or ends in `.zip`, else
/// `./gait-out/runpack_<id>.zip`, then `~/.gait/runpacks/runpack_<id>.zip`.
pub fn resolve_runpack(input: &str) -> R<PathBuf> {
    let input = input.trim();
    if input.is_empty() {
        return Err(PackError::invalid("expected run_id or path"));
    }
    if input.contains('/') || input.contains('\\') || input.to_lowercase().ends_with(".zip") {
        let p = PathBuf::from(input);
        if !p.is_file() {
            return Err(PackError::invalid(format!("runpack not found: {input}")));
        }
        return Ok(p);
    }
    let local = PathBuf::from(format!("gait-out/runpack_{input}.zip"));
    if local.is_file() {
        return Ok(local);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let p = Path::new(&home)
            .join(".gait/runpacks")
            .join(format!("runpack_{input}.zip"));
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(PackError::invalid(format!(
        "runpack not found for run_id: {input}"
    )))
}

fn display(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Flags of `run record`.
#[derive(Debug, Default, Clone)]
pub struct RecordArgs {
    pub input: String,
    pub out_dir: String,
    pub run_id: String,
    pub capture_mode: String,
    pub key_mode: String,
    pub private_key: String,
    pub private_key_env: String,
    /// `--context-evidence-mode`: overrides the input's mode.
    pub context_evidence_mode: String,
    /// `--unsafe-context-raw`: permit receipts with `redaction_mode: raw`.
    pub unsafe_context_raw: bool,
    /// `--context-envelope`: a ContextSpec envelope that replaces the input's receipts.
    pub context_envelope: String,
}

/// Folds a context envelope into the refs. An unreadable envelope is only a warning, unless
/// the evidence mode is `required`.
fn apply_context_envelope(
    path: &str,
    refs: &mut runpack::Refs,
    warnings: &mut Vec<String>,
) -> R<()> {
    use gait_sdk::context::{check_envelope_path, Envelope, MAX_ENVELOPE_BYTES};
    check_envelope_path(path).map_err(|e| PackError::invalid(e.to_string()))?;
    let required = refs.context_evidence_mode.eq_ignore_ascii_case("required");
    let loaded = gait_sdk::fsutil::read_capped(Path::new(path.trim()), MAX_ENVELOPE_BYTES)
        .map_err(|e| format!("read context envelope: {e}"))
        .and_then(|b| {
            String::from_utf8(b).map_err(|_| "parse context envelope: not valid UTF-8".to_string())
        })
        .and_then(|t| Envelope::parse(&t).map_err(|e| e.to_string()));
    let env = match loaded {
        Ok(env) => env,
        Err(e) if required => return Err(PackError::invalid(e)),
        Err(e) => {
            warnings.push(format!("context envelope ignored: {e}"));
            return Ok(());
        }
    };
    let mut receipts = Vec::with_capacity(env.records.len());
    for r in &env.records {
        let go = GoValue::parse(&r.to_string()).expect("serialized JSON parses");
        receipts.push(runpack::Receipt::read(&go)?);
    }
    refs.context_ref_count = receipts.len() as i64;
    refs.receipts = receipts;
    refs.context_set_digest = env.context_set_digest;
    refs.context_evidence_mode = env.evidence_mode;
    Ok(())
}

/// Optional signing for commands where signing is opt-in: a key mode or a private source turns
/// it on; without a mode, a private source means `prod`.
pub fn optional_signer(key_mode: &str, private: &KeySource) -> R<Option<signing::Signer>> {
    if key_mode.trim().is_empty() && !private.is_set() {
        return Ok(None);
    }
    let mode = if key_mode.trim().is_empty() {
        "prod"
    } else {
        key_mode
    };
    Ok(Some(signing::resolve_signer(mode, private)?))
}

pub fn ticket_footer(run_id: &str, manifest_digest: &str) -> String {
    format!(
        "GAIT run_id={run_id} manifest=sha256:{manifest_digest} verify=\"gait verify {run_id}\""
    )
}

fn bundle_display(path: &str) -> String {
    if path.starts_with('/') || path.starts_with('.') {
        path.to_string()
    } else {
        format!("./{path}")
    }
}

/// Records a runpack from an input file; returns the output and the written path.
pub fn record(a: &RecordArgs) -> R<CommandOutput> {
    if a.input.trim().is_empty() {
        return Err(PackError::invalid(
            "missing required --input <run_record.json>",
        ));
    }
    let text = gait_sdk::fsutil::read_text_input(Path::new(a.input.trim()))
        .map_err(|e| PackError::invalid(format!("read input: {e}")))?;
    let mut input = RecordInput::parse(&text)?;
    if !a.run_id.trim().is_empty() {
        let id = a.run_id.trim().to_string();
        input.run.header.run_id = id.clone();
        for i in &mut input.intents {
            i.header.run_id = id.clone();
        }
        for r in &mut input.results {
            r.header.run_id = id.clone();
        }
        input.refs.header.run_id = id;
    }
    if input.run.header.run_id.trim().is_empty() {
        return Err(PackError::invalid(
            "input run.run_id is required (or set --run-id)",
        ));
    }
    let mode = if !a.capture_mode.trim().is_empty() {
        a.capture_mode.trim().to_lowercase()
    } else if !input.capture_mode.trim().is_empty() {
        input.capture_mode.trim().to_lowercase()
    } else {
        "reference".into()
    };
    if mode != "reference" && mode != "raw" {
        return Err(PackError::invalid(
            "capture mode must be one of: reference, raw",
        ));
    }
    if !a.context_evidence_mode.trim().is_empty() {
        input.refs.context_evidence_mode = a.context_evidence_mode.trim().to_lowercase();
    }
    if input.refs.context_evidence_mode.trim().is_empty() {
        input.refs.context_evidence_mode = "best_effort".into();
    }
    let mut envelope_warnings = Vec::new();
    if !a.context_envelope.trim().is_empty() {
        apply_context_envelope(&a.context_envelope, &mut input.refs, &mut envelope_warnings)?;
    }
    if input
        .refs
        .context_evidence_mode
        .trim()
        .eq_ignore_ascii_case("required")
        && input.refs.context_set_digest.trim().is_empty()
    {
        return Err(PackError::invalid(
            "context evidence mode required but context_set_digest is missing",
        ));
    }
    if !a.unsafe_context_raw
        && input
            .refs
            .receipts
            .iter()
            .any(|r| r.redaction_mode.trim().eq_ignore_ascii_case("raw"))
    {
        return Err(PackError::invalid(
            "raw context redaction requires --unsafe-context-raw",
        ));
    }
    let signer = optional_signer(
        &a.key_mode,
        &KeySource::new(&a.private_key, &a.private_key_env),
    )?;
    let run_id = input.run.header.run_id.trim().to_string();
    let out_dir = if a.out_dir.trim().is_empty() {
        "./gait-out"
    } else {
        a.out_dir.trim()
    };
    let path = output_path(&format!("{out_dir}/runpack_{run_id}.zip"))?;
    let recorded = runpack::record(
        input,
        &mode,
        GoTime::now_utc(),
        signer.as_ref().map(|s| &s.key),
    )?;
    write_zip(Path::new(&path), &recorded.entries)?;
    // Self-check: what we wrote must verify.
    let mut written = open_entries(Path::new(&path))?;
    let check = runpack::verify(written.as_mut(), None, false)?;
    if !check.ok(false) {
        return Err(PackError::verification(
            "recorded runpack failed verification",
        ));
    }
    let digest = recorded.runpack.manifest.manifest_digest.clone();
    let mut warnings: Vec<String> = signer
        .as_ref()
        .map(|s| s.warnings.clone())
        .unwrap_or_default();
    if mode == "raw" {
        warnings.push("raw capture retains raw intent arguments and raw result payloads; handle runpack as sensitive evidence".into());
    } else if recorded.had_payloads {
        warnings.push("reference capture stripped raw intent arguments and raw result payloads after digesting".into());
    }
    warnings.extend(envelope_warnings);
    let bundle = bundle_display(&path);
    let footer = ticket_footer(&run_id, &digest);
    let mut m = Map::new();
    m.insert("run_id".into(), json!(run_id));
    m.insert("bundle".into(), json!(bundle));
    m.insert("manifest_digest".into(), json!(digest));
    match &signer {
        Some(s) => {
            m.insert("signature_status".into(), json!("signed"));
            m.insert("signature_key_id".into(), json!(s.key.key_id()));
        }
        None => {
            m.insert("signature_status".into(), json!("missing"));
        }
    }
    if !warnings.is_empty() {
        m.insert("warnings".into(), json!(warnings));
    }
    m.insert("ticket_footer".into(), json!(footer));
    let text = format!("run recorded: {bundle}\n{footer}\n");
    Ok(CommandOutput::new(m, text, exit::OK))
}

/// Key and profile flags of verification commands.
#[derive(Debug, Default, Clone)]
pub struct VerifyKeys {
    pub profile: String,
    pub require_signature: bool,
    pub public_key: String,
    pub public_key_env: String,
    pub private_key: String,
    pub private_key_env: String,
}

impl VerifyKeys {
    /// Resolves (key, require_signature), applying the `strict` profile.
    pub fn resolve(&self) -> R<(Option<PublicKey>, bool)> {
        let profile = if self.profile.trim().is_empty() {
            "standard".to_string()
        } else {
            self.profile.trim().to_lowercase()
        };
        if profile != "standard" && profile != "strict" {
            return Err(PackError::invalid(format!(
                "unsupported --profile value \"{}\" (expected standard or strict)",
                self.profile.trim()
            )));
        }
        let key = signing::resolve_verify_key(
            &KeySource::new(&self.public_key, &self.public_key_env),
            &KeySource::new(&self.private_key, &self.private_key_env),
        )?;
        if profile == "strict" && key.is_none() {
            return Err(PackError::invalid("strict verify profile requires --public-key/--public-key-env or private key source"));
        }
        Ok((key, self.require_signature || profile == "strict"))
    }
}

fn signature_note(status: &str, required: bool) -> &'static str {
    match (status, required) {
        ("missing", false) => "unsigned local/dev artifacts are expected by default; use --require-signature for strict verification",
        ("missing", true) => "signatures are required in this mode; provide signing keys and re-run verify",
        ("skipped", false) => "signature checks were skipped because no verify key was provided",
        ("skipped", true) => "signature checks were expected but skipped; provide a public key or private key source",
        ("verified", _) => "signatures verified",
        _ => "signature verification failed; inspect signature_errors and re-run with the correct key",
    }
}

pub fn verify_report_members(rep: &VerifyReport, m: &mut Map<String, Value>) {
    if rep.files_checked > 0 {
        m.insert("files_checked".into(), json!(rep.files_checked));
    }
    if !rep.missing_files.is_empty() {
        m.insert("missing_files".into(), json!(rep.missing_files));
    }
    if !rep.hash_mismatches.is_empty() {
        m.insert(
            "hash_mismatches".into(),
            Value::Array(
                rep.hash_mismatches
                    .iter()
                    .map(|h| json!({"path": h.path, "expected": h.expected, "actual": h.actual}))
                    .collect(),
            ),
        );
    }
    m.insert("signature_status".into(), json!(rep.signatures.status));
    if !rep.signatures.errors.is_empty() {
        m.insert("signature_errors".into(), json!(rep.signatures.errors));
    }
    if rep.signatures.total > 0 {
        m.insert("signatures_total".into(), json!(rep.signatures.total));
    }
    if rep.signatures.valid > 0 {
        m.insert("signatures_valid".into(), json!(rep.signatures.valid));
    }
}

/// `gait verify <run_id|path>`.
pub fn verify(target: &[String], keys: &VerifyKeys) -> R<CommandOutput> {
    let (key, required) = keys.resolve()?;
    let [target] = target else {
        return Err(PackError::invalid("expected run_id or path"));
    };
    let path = resolve_runpack(target)?;
    let mut src = open_entries(&path)?;
    let rep = runpack::verify(src.as_mut(), key.as_ref(), required)?;
    let ok = rep.ok(required);
    let mut m = Map::new();
    m.insert("ok".into(), json!(ok));
    m.insert("path".into(), json!(display(&path)));
    m.insert("run_id".into(), json!(rep.run_id));
    m.insert("manifest_digest".into(), json!(rep.manifest_digest));
    verify_report_members(&rep, &mut m);
    m.insert(
        "signature_note".into(),
        json!(signature_note(&rep.signatures.status, required)),
    );
    m.insert(
        "next_commands".into(),
        json!([
            format!(
                "gait regress bootstrap --from {} --json --junit ./gait-out/junit.xml",
                rep.run_id
            ),
            "gait demo --durable",
            "gait demo --policy"
        ]),
    );
    let text = format!(
        "verify: {}\nrun_id: {}\npath: {}\nsignature: {}\n",
        if ok { "ok" } else { "failed" },
        rep.run_id,
        display(&path),
        rep.signatures.status
    );
    Ok(CommandOutput::new(
        m,
        text,
        if ok {
            exit::OK
        } else {
            exit::VERIFICATION_FAILED
        },
    ))
}

/// Reads a runpack strictly from `<run_id|path>`.
pub fn load_runpack(from: &str) -> R<(PathBuf, Runpack)> {
    let path = resolve_runpack(from)?;
    let mut src = open_entries(&path)?;
    Ok((path, read_strict(src.as_mut())?))
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    let mut out: Vec<String> = match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    out.sort();
    out.dedup();
    out
}

/// `gait run inspect --from <id|path>`.
pub fn inspect(from: &str) -> R<CommandOutput> {
    if from.trim().is_empty() {
        return Err(PackError::invalid("missing required --from <run_id|path>"));
    }
    let (path, rp) = load_runpack(from)?;
    let mut warnings = Vec::new();
    let mut entries = Vec::new();
    for (i, intent) in rp.intents.iter().enumerate() {
        let results: Vec<_> = rp
            .results
            .iter()
            .filter(|r| r.intent_id == intent.intent_id)
            .collect();
        if results.len() > 1 {
            warnings.push(format!(
                "multiple result records for intent_id={} (kept first)",
                intent.intent_id
            ));
        }
        let mut e = Map::new();
        e.insert("index".into(), json!(i + 1));
        e.insert("intent_id".into(), json!(intent.intent_id));
        e.insert("tool_name".into(), json!(intent.tool_name));
        e.insert(
            "created_at".into(),
            json!(intent.header.created_at.utc().to_rfc3339_nano()),
        );
        if !intent.args_digest.is_empty() {
            e.insert("args_digest".into(), json!(intent.args_digest));
        }
        if let Some(r) = results.first() {
            if !r.status.is_empty() {
                e.insert("status".into(), json!(r.status));
            }
            if !r.result_digest.is_empty() {
                e.insert("result_digest".into(), json!(r.result_digest));
            }
            if let Some(payload) = &r.result {
                if let Some(Value::String(v)) = payload.get("verdict") {
                    e.insert("verdict".into(), json!(v));
                }
                for k in ["reason_codes", "violations"] {
                    let l = str_list(payload.get(k));
                    if !l.is_empty() {
                        e.insert(k.into(), json!(l));
                    }
                }
            }
        }
        entries.push(Value::Object(e));
    }
    let unmatched = rp
        .results
        .iter()
        .filter(|r| !rp.intents.iter().any(|i| i.intent_id == r.intent_id))
        .count();
    let mut m = Map::new();
    m.insert("artifact_type".into(), json!("runpack"));
    m.insert("run_id".into(), json!(rp.run.header.run_id));
    m.insert("path".into(), json!(display(&path)));
    m.insert("capture_mode".into(), json!(rp.manifest.capture_mode));
    if !rp.intents.is_empty() {
        m.insert("intents_total".into(), json!(rp.intents.len()));
    }
    if !rp.results.is_empty() {
        m.insert("results_total".into(), json!(rp.results.len()));
    }
    if !entries.is_empty() {
        m.insert("entries".into(), Value::Array(entries));
    }
    if unmatched > 0 {
        m.insert("unmatched_results".into(), json!(unmatched));
    }
    if !warnings.is_empty() {
        m.insert("warnings".into(), json!(warnings));
    }
    let text = format!(
        "runpack {} ({} intents, {} results)\n",
        rp.run.header.run_id,
        rp.intents.len(),
        rp.results.len()
    );
    Ok(CommandOutput::new(m, text, exit::OK))
}

/// `gait run receipt --from <id|path>`.
pub fn receipt(from: &str) -> R<CommandOutput> {
    if from.trim().is_empty() {
        return Err(PackError::invalid("missing required --from <run_id|path>"));
    }
    let path = resolve_runpack(from)?;
    let mut src = open_entries(&path)?;
    let rep = runpack::verify(src.as_mut(), None, false)?;
    if !rep.ok(false) {
        return Err(PackError::verification("runpack verification failed"));
    }
    let footer = ticket_footer(&rep.run_id, &rep.manifest_digest);
    let mut m = Map::new();
    m.insert("run_id".into(), json!(rep.run_id));
    m.insert("path".into(), json!(display(&path)));
    m.insert("manifest_digest".into(), json!(rep.manifest_digest));
    m.insert("ticket_footer".into(), json!(footer));
    Ok(CommandOutput::new(m, footer, exit::OK))
}

/// Flags of `run replay`.
#[derive(Debug, Default, Clone)]
pub struct ReplayArgs {
    pub target: String,
    pub real_tools: bool,
    pub unsafe_real_tools: bool,
    pub allow_tools: String,
    pub unsafe_real_tools_env: String,
}

fn stub_type(tool: &str) -> Option<&'static str> {
    let t = tool.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
    if has(&["http", "fetch", "url"]) {
        Some("http")
    } else if has(&["file", "path", "fs", "write"]) {
        Some("file")
    } else if has(&["db", "sql", "query", "table"]) {
        Some("db")
    } else if has(&["queue", "topic", "publish", "kafka"]) {
        Some("queue")
    } else {
        None
    }
}

/// `gait run replay`: stub mode by default; real tools only behind the unsafe interlock.
pub fn replay(a: &ReplayArgs) -> R<CommandOutput> {
    let allow: Vec<String> = a
        .allow_tools
        .split(',')
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    if a.real_tools {
        if !a.unsafe_real_tools {
            return Err(PackError::Unsafe(
                "real tool execution requires --unsafe-real-tools".into(),
            ));
        }
        if allow.is_empty() {
            return Err(PackError::Unsafe(
                "real tool execution requires --allow-tools with explicit tool names".into(),
            ));
        }
        let var = if a.unsafe_real_tools_env.trim().is_empty() {
            "GAIT_ALLOW_REAL_REPLAY".to_string()
        } else {
            a.unsafe_real_tools_env.trim().to_string()
        };
        if std::env::var(&var).map(|v| v.trim() != "1").unwrap_or(true) {
            return Err(PackError::Unsafe(format!(
                "real tool execution requires {var}=1"
            )));
        }
    }
    if a.target.trim().is_empty() {
        return Err(PackError::invalid("expected run_id or path"));
    }
    let (_, rp) = load_runpack(&a.target)?;
    if a.real_tools && rp.manifest.capture_mode != "raw" {
        return Err(PackError::invalid(
            "real replay requires capture_mode=raw; reference-mode runpacks strip raw tool inputs",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for i in &rp.intents {
        if !seen.insert(i.intent_id.clone()) {
            return Err(PackError::invalid(format!(
                "duplicate intent_id: {}",
                i.intent_id
            )));
        }
    }
    let mut seen_results = std::collections::BTreeSet::new();
    for r in &rp.results {
        if !seen_results.insert(r.intent_id.clone()) {
            return Err(PackError::invalid(format!(
                "duplicate result for intent_id: {}",
                r.intent_id
            )));
        }
    }
    let run_id = rp.run.header.run_id.clone();
    let mut steps = Vec::new();
    let mut missing = Vec::new();
    for i in &rp.intents {
        let mut s = Map::new();
        s.insert("intent_id".into(), json!(i.intent_id));
        s.insert("tool_name".into(), json!(i.tool_name));
        let tool = i.tool_name.trim().to_lowercase();
        if a.real_tools && allow.contains(&tool) {
            let (status, digest) = run_real_tool(&tool, i.args.as_ref());
            s.insert("status".into(), json!(status));
            s.insert("execution".into(), json!("executed"));
            s.insert("result_digest".into(), json!(digest));
        } else if let Some(r) = rp.results.iter().find(|r| r.intent_id == i.intent_id) {
            s.insert("status".into(), json!(r.status));
            s.insert("result_digest".into(), json!(r.result_digest));
            s.insert("execution".into(), json!("recorded"));
        } else if let Some(st) = stub_type(&i.tool_name) {
            let d = jcs::sha256_hex(
                format!(
                    "{run_id}:{}:{tool}:{}:{st}",
                    i.intent_id,
                    i.args_digest.trim().to_lowercase()
                )
                .as_bytes(),
            );
            s.insert("status".into(), json!("stubbed"));
            s.insert("execution".into(), json!("stubbed"));
            s.insert("stub_type".into(), json!(st));
            s.insert("result_digest".into(), json!(d));
        } else {
            s.insert("status".into(), json!("missing_result"));
            s.insert("execution".into(), json!("missing"));
            missing.push(i.intent_id.clone());
        }
        steps.push(Value::Object(s));
    }
    missing.sort();
    let ok = missing.is_empty();
    let mut m = Map::new();
    m.insert("ok".into(), json!(ok));
    m.insert("run_id".into(), json!(run_id));
    m.insert(
        "mode".into(),
        json!(if a.real_tools { "real" } else { "stub" }),
    );
    m.insert("steps".into(), Value::Array(steps));
    if !missing.is_empty() {
        m.insert("missing_results".into(), json!(missing));
    }
    if a.real_tools {
        m.insert(
            "warnings".into(),
            json!([format!("allow_tools={}", allow.join(","))]),
        );
    }
    if a.unsafe_real_tools {
        m.insert("requested_unsafe".into(), json!(true));
    }
    let text = format!(
        "replay {}: {} steps, {} missing results\n",
        run_id,
        rp.intents.len(),
        missing.len()
    );
    Ok(CommandOutput::new(
        m,
        text,
        if ok {
            exit::OK
        } else {
            exit::VERIFICATION_FAILED
        },
    ))
}

fn run_real_tool(tool: &str, args: Option<&Map<String, Value>>) -> (&'static str, String) {
    let arg = |k: &str| {
        args.and_then(|a| a.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    match tool {
        "echo" | "tool.echo" => {
            let mut msg = arg("message");
            if msg.is_empty() {
                msg = arg("echo");
            }
            ("ok", jcs::sha256_hex(msg.as_bytes()))
        }
        "file.write" | "fs.write" | "write_file" => {
            let (path, content) = (arg("path"), arg("content"));
            if path.is_empty() {
                return ("error", jcs::sha256_hex(b"file write requires args.path"));
            }
            match gait_sdk::fsutil::write_atomic(Path::new(&path), content.as_bytes(), 0o600) {
                Ok(()) => ("ok", jcs::sha256_hex(content.as_bytes())),
                Err(e) => ("error", jcs::sha256_hex(e.to_string().as_bytes())),
            }
        }
        "shell.exec" | "exec" | "command.run" => run_shell(&arg("command")),
        other => (
            "error",
            jcs::sha256_hex(format!("unsupported real tool: {other}").as_bytes()),
        ),
    }
}

fn run_shell(command: &str) -> (&'static str, String) {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let child = Command::new("sh")
        .arg("-lc")
        .arg(command)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return ("error", jcs::sha256_hex(b"spawn failed"));
    };
    let mut out = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut out).take(64 * 1024).read_to_end(&mut buf);
        buf
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let buf = reader.join().unwrap_or_default();
                return (
                    if status.success() { "ok" } else { "error" },
                    jcs::sha256_hex(&buf),
                );
            }
            Ok(None) if std::time::Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return ("error", jcs::sha256_hex(b"command timed out"));
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(5)),
            Err(e) => return ("error", jcs::sha256_hex(e.to_string().as_bytes())),
        }
    }
}

fn blank_header(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        for k in ["run_id", "producer_version", "created_at"] {
            if m.contains_key(k) {
                m.insert(k.into(), json!(""));
            }
        }
    }
    v
}

fn record_digest(v: Value, metadata: bool) -> String {
    let mut v = blank_header(v);
    if metadata {
        if let Value::Object(m) = &mut v {
            m.remove("args");
            m.remove("result");
        }
    }
    jcs::digest_hex(&v).expect("finite")
}

/// Context drift between two runpacks' refs (full privacy): none, runtime_only or semantic.
pub fn refs_drift(l: &runpack::Refs, r: &runpack::Refs) -> (&'static str, bool) {
    let d = |x: &runpack::Refs| jcs::digest_hex(&blank_header(x.to_value())).expect("finite");
    if d(l) == d(r) {
        return ("none", false);
    }
    if l.context_set_digest == r.context_set_digest
        && l.context_evidence_mode == r.context_evidence_mode
        && l.context_ref_count == r.context_ref_count
        && !l.context_set_digest.is_empty()
    {
        return ("none", true);
    }
    let runtime = |x: &runpack::Refs| {
        let mut c = x.clone();
        c.context_set_digest.clear();
        for rc in &mut c.receipts {
            rc.retrieved_at = GoTime::parse_rfc3339("1980-01-01T00:00:00Z").expect("constant");
        }
        d(&c)
    };
    if runtime(l) == runtime(r) {
        ("runtime_only", true)
    } else {
        ("semantic", true)
    }
}

/// `gait run diff <left> <right> [--privacy full|metadata] [--output f]`.
pub fn diff(args: &[String], privacy: &str, output: &str) -> R<CommandOutput> {
    let [left, right] = args else {
        return Err(PackError::invalid("expected <left> <right>"));
    };
    let privacy = if privacy.trim().is_empty() {
        "full".to_string()
    } else {
        privacy.trim().to_lowercase()
    };
    if privacy != "full" && privacy != "metadata" {
        return Err(PackError::invalid(format!(
            "unsupported --privacy value \"{privacy}\" (expected full or metadata)"
        )));
    }
    let metadata = privacy == "metadata";
    let (_, l) = load_runpack(left)?;
    let (_, r) = load_runpack(right)?;
    let manifest_key = |rp: &Runpack| {
        let mut m = rp.manifest.clone();
        m.header.run_id.clear();
        m.header.producer_version.clear();
        m.header.created_at = GoTime::zero();
        m.manifest_digest.clear();
        m.signatures.clear();
        for f in &mut m.files {
            f.sha256.clear();
        }
        jcs::digest_hex(&m.to_value(false)).expect("finite")
    };
    let files = |rp: &Runpack| {
        rp.manifest
            .files
            .iter()
            .map(|f| f.path.clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let (lf, rf) = (files(&l), files(&r));
    let files_changed: Vec<String> = lf.symmetric_difference(&rf).cloned().collect();
    let keyed = |items: Vec<(String, String)>| {
        items
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let li = keyed(
        l.intents
            .iter()
            .map(|i| (i.intent_id.clone(), record_digest(i.to_value(), metadata)))
            .collect(),
    );
    let ri = keyed(
        r.intents
            .iter()
            .map(|i| (i.intent_id.clone(), record_digest(i.to_value(), metadata)))
            .collect(),
    );
    let lr = keyed(
        l.results
            .iter()
            .map(|x| (x.intent_id.clone(), record_digest(x.to_value(), metadata)))
            .collect(),
    );
    let rr = keyed(
        r.results
            .iter()
            .map(|x| (x.intent_id.clone(), record_digest(x.to_value(), metadata)))
            .collect(),
    );
    let only = |a: &std::collections::BTreeMap<String, String>,
                b: &std::collections::BTreeMap<String, String>| {
        a.keys()
            .filter(|k| !b.contains_key(*k))
            .cloned()
            .collect::<Vec<_>>()
    };
    let intents_changed = li != ri;
    let results_changed = lr != rr;
    let (classification, refs_changed) = if metadata {
        ("none", l.refs.receipts.len() != r.refs.receipts.len())
    } else {
        refs_drift(&l.refs, &r.refs)
    };
    let manifest_changed = manifest_key(&l) != manifest_key(&r);
    let mut s = Map::new();
    s.insert("run_id_left".into(), json!(l.run.header.run_id));
    s.insert("run_id_right".into(), json!(r.run.header.run_id));
    s.insert("manifest_changed".into(), json!(manifest_changed));
    if !files_changed.is_empty() {
        s.insert("files_changed".into(), json!(files_changed));
    }
    s.insert("intents_changed".into(), json!(intents_changed));
    s.insert("results_changed".into(), json!(results_changed));
    s.insert("refs_changed".into(), json!(refs_changed));
    for (k, v) in [
        ("left_only_intents", only(&li, &ri)),
        ("right_only_intents", only(&ri, &li)),
        ("left_only_results", only(&lr, &rr)),
        ("right_only_results", only(&rr, &lr)),
    ] {
        if !v.is_empty() {
            s.insert(k.into(), json!(v));
        }
    }
    s.insert("context_drift_classification".into(), json!(classification));
    if classification == "runtime_only" {
        s.insert("context_runtime_only_changes".into(), json!(true));
    }
    let changed = manifest_changed
        || !files_changed.is_empty()
        || intents_changed
        || results_changed
        || refs_changed;
    let summary = Value::Object(s);
    let mut m = Map::new();
    m.insert("ok".into(), json!(!changed));
    m.insert("privacy".into(), json!(privacy));
    m.insert("summary".into(), summary.clone());
    if !output.trim().is_empty() {
        let out = output_path(output)?;
        let body = format!(
            "{{\"privacy\":{},\"summary\":{}}}",
            json!(privacy),
            gait_sdk::output::to_json_line(&summary)
        );
        gait_sdk::fsutil::write_atomic(Path::new(&out), body.as_bytes(), 0o600)
            .map_err(|e| PackError::Io(format!("write diff: {e}")))?;
        m.insert("output".into(), json!(out));
    }
    let text = format!(
        "run diff: {}\n",
        if changed { "changed" } else { "unchanged" }
    );
    Ok(CommandOutput::new(
        m,
        text,
        if changed {
            exit::VERIFICATION_FAILED
        } else {
            exit::OK
        },
    ))
}

/// Loads a key pair for signing packs (`pack build --key-mode none|dev|prod`).
pub fn pack_signer(key_mode: &str, private: &KeySource) -> R<Option<signing::Signer>> {
    let mode = key_mode.trim().to_lowercase();
    match mode.as_str() {
        "" | "none" => {
            if private.is_set() {
                Ok(Some(signing::resolve_signer("prod", private)?))
            } else {
                Ok(None)
            }
        }
        "dev" | "prod" => Ok(Some(signing::resolve_signer(&mode, private)?)),
        _ => Err(PackError::invalid("--key-mode must be none, dev, or prod")),
    }
}
