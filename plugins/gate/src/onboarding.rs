//! Repo onboarding: `gait init` writes a starter repo policy (`.gait.yaml`) whose comment
//! header lists what a scan of the repository found, and `gait check` compares a repo policy
//! with that scan.
//!
//! The scan ("scout") reads untrusted repository files, so it is bounded everywhere: it never
//! follows symlinks, stops at a fixed depth and entry count, and skips files over a size cap.
//! Detection is purely lexical (no Python is executed, no imports are resolved):
//!
//! - Python (`.py`): a function (`def` or `async def`, at any indentation) directly preceded
//!   by a decorator `@tool` / `@tool(...)` / `@<module>.tool` is a LangChain tool (framework
//!   `langchain`); `@function_tool` / `@<module>.function_tool` is an OpenAI Agents SDK tool
//!   (framework `openai_agents`). Other decorators, comments and blank lines may sit between
//!   the tool decorator and the `def`. The tool's name is the function name, unless the
//!   decorator names it (`@tool("name")`, `@function_tool(name_override="name")`), which is
//!   the name the agent (and therefore the gate) sees. Lines inside triple-quoted strings are
//!   ignored, so examples in docstrings are not counted.
//! - MCP configuration (`.json`, `.yaml`, `.yml`): a top-level `mcpServers` / `mcp_servers`
//!   map (or `servers` in a file whose name contains `mcp`) whose server entries list tool
//!   names under `tools`, `alwaysAllow`, `autoApprove` or `allowedTools` (strings, or objects
//!   with a `name`). Those tools carry no framework tag.

use crate::error::GateError;
use crate::policy::Policy;
use crate::yaml::{self, Node};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

// ------------------------------------------------------------------ path contract (§5.1)

pub const REPO_POLICY_PATH: &str = ".gait.yaml";
pub const PROJECT_DEFAULTS_PATH: &str = ".gait/config.yaml";
pub const REGRESS_CONFIG_PATH: &str = "gait.yaml";
pub const LEGACY_POLICY_SCAFFOLD_PATH: &str = "gait.policy.yaml";
pub const DEFAULT_TEMPLATE: &str = "baseline-highrisk";

/// The `contract` member every `init`/`check` result carries.
pub fn contract_value() -> Value {
    json!({
        "legacy_policy_scaffold_path": LEGACY_POLICY_SCAFFOLD_PATH,
        "project_defaults_path": PROJECT_DEFAULTS_PATH,
        "regress_config_path": REGRESS_CONFIG_PATH,
        "repo_policy_path": REPO_POLICY_PATH,
    })
}

// ------------------------------------------------------------------ scan limits

/// Directories never entered (dependency caches, VCS and tool state). `site-packages` is not
/// in the reference's list; it is skipped because installed third-party code (a virtualenv
/// inside the repo) is not the repository's own tool surface.
const SKIP_DIRS: &[&str] = &[
    ".git",
    ".beads",
    "node_modules",
    "__pycache__",
    "site-packages",
];
/// Deepest directory level entered below the scan root.
pub const MAX_DEPTH: usize = 32;
/// Most directory entries looked at in one scan.
pub const MAX_ENTRIES: usize = 50_000;
/// Largest file read; bigger files are skipped (generated code, data dumps).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Most tool items kept from one scan.
pub const MAX_TOOL_ITEMS: usize = 10_000;

/// One detected tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolItem {
    pub name: String,
    /// `langchain`, `openai_agents`, or empty (MCP configuration).
    pub framework: String,
}

/// What the scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detection {
    /// Sorted distinct framework tags.
    pub frameworks: Vec<String>,
    /// Sorted distinct raw tool names.
    pub tool_names: Vec<String>,
    /// True when a scan limit cut the walk short.
    pub limited: bool,
}

impl Detection {
    pub fn from_items(items: &[ToolItem]) -> Detection {
        let mut frameworks: Vec<String> = items
            .iter()
            .filter(|i| !i.framework.is_empty())
            .map(|i| i.framework.clone())
            .collect();
        frameworks.sort();
        frameworks.dedup();
        let mut tool_names: Vec<String> = items
            .iter()
            .map(|i| i.name.clone())
            .filter(|n| !n.is_empty())
            .collect();
        tool_names.sort();
        tool_names.dedup();
        Detection {
            frameworks,
            tool_names,
            limited: false,
        }
    }

    /// `detection` JSON: always an object, members omitted when empty.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        if !self.frameworks.is_empty() {
            m.insert("frameworks".into(), json!(self.frameworks));
        }
        if !self.tool_names.is_empty() {
            m.insert("tool_names".into(), json!(self.tool_names));
        }
        Value::Object(m)
    }
}

/// Scans `root` for tool items.
pub fn scan(root: &Path) -> Detection {
    let mut items = Vec::new();
    let mut entries = 0usize;
    let mut limited = false;
    walk(root, 0, &mut entries, &mut items, &mut limited);
    let mut d = Detection::from_items(&items);
    d.limited = limited;
    d
}

fn walk(
    dir: &Path,
    depth: usize,
    entries: &mut usize,
    items: &mut Vec<ToolItem>,
    limited: &mut bool,
) {
    if depth > MAX_DEPTH {
        *limited = true;
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    // Sorted so that when a limit is reached, the same prefix of the tree is always scanned.
    let mut children: Vec<(String, PathBuf, std::fs::FileType)> = Vec::new();
    for e in rd.flatten() {
        *entries += 1;
        if *entries > MAX_ENTRIES {
            *limited = true;
            break;
        }
        // `DirEntry::file_type` does not follow symlinks: a link is neither a file nor a
        // directory here and is skipped, so a link cannot lead the walk out of the repo or
        // into a cycle.
        if let Ok(ft) = e.file_type() {
            children.push((e.file_name().to_string_lossy().into_owned(), e.path(), ft));
        }
    }
    children.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, path, ft) in children {
        if items.len() >= MAX_TOOL_ITEMS {
            *limited = true;
            return;
        }
        if ft.is_dir() {
            if !SKIP_DIRS.contains(&name.as_str()) {
                walk(&path, depth + 1, entries, items, limited);
            }
        } else if ft.is_file() {
            let lower = name.to_lowercase();
            if lower.ends_with(".py") {
                if let Some(text) = read_small(&path) {
                    items.extend(python_tools(&text));
                }
            } else if lower.ends_with(".json")
                || lower.ends_with(".yaml")
                || lower.ends_with(".yml")
            {
                if let Some(text) = read_small(&path) {
                    items.extend(mcp_tools(&lower, &text));
                }
            }
        }
    }
    items.truncate(MAX_TOOL_ITEMS);
}

fn read_small(path: &Path) -> Option<String> {
    let bytes = gait_sdk::fsutil::read_capped(path, MAX_FILE_BYTES).ok()?;
    // Source files are text; lossy decoding keeps a stray byte from hiding a whole file.
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

// ------------------------------------------------------------------ Python

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Net `(` minus `)` on a line, ignoring characters inside simple string literals.
fn paren_balance(line: &str) -> i64 {
    let mut depth = 0i64;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in line.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '#' => break,
            '"' | '\'' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
    }
    depth
}

/// The first string literal right after `(` (`@tool("name")`).
fn first_string_arg(args: &str) -> Option<String> {
    let rest = args.trim_start().strip_prefix('(')?.trim_start();
    let q = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let body = &rest[1..];
    let end = body.find(q)?;
    Some(body[..end].to_string())
}

/// `name_override="x"` anywhere in the decorator's argument text.
fn keyword_string_arg(args: &str, key: &str) -> Option<String> {
    let at = args.find(key)?;
    let rest = args[at + key.len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let q = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let body = &rest[1..];
    let end = body.find(q)?;
    Some(body[..end].to_string())
}

/// Which tool framework a decorator line names, and the tool name it sets, if any.
fn tool_decorator(after_at: &str) -> Option<(&'static str, Option<String>)> {
    let end = after_at
        .find(|c: char| !(is_ident_char(c) || c == '.'))
        .unwrap_or(after_at.len());
    let name = &after_at[..end];
    let args = &after_at[end..];
    let last = name.rsplit('.').next().unwrap_or(name);
    match last {
        "tool" => Some(("langchain", first_string_arg(args))),
        "function_tool" => Some(("openai_agents", keyword_string_arg(args, "name_override"))),
        _ => None,
    }
}

fn def_name(trimmed: &str) -> Option<String> {
    let rest = trimmed
        .strip_prefix("async ")
        .map(str::trim_start)
        .unwrap_or(trimmed)
        .strip_prefix("def ")?
        .trim_start();
    let end = rest.find(|c: char| !is_ident_char(c)).unwrap_or(rest.len());
    (end > 0).then(|| rest[..end].to_string())
}

/// Tool items in one Python source file (see the module docs for the rules).
pub fn python_tools(text: &str) -> Vec<ToolItem> {
    let mut out = Vec::new();
    let mut in_triple: Option<&'static str> = None;
    // The tool decorator waiting for its `def`: (framework, explicit name).
    let mut pending: Option<(&'static str, Option<String>)> = None;
    // Open brackets of a decorator spanning several lines.
    let mut continuation = 0i64;
    for line in text.lines() {
        if let Some(delim) = in_triple {
            if line.contains(delim) {
                in_triple = None;
            }
            continue;
        }
        if continuation > 0 {
            continuation += paren_balance(line);
            if let Some((fw, None)) = &pending {
                // `@tool(\n    "name",\n)`: the first string literal names the tool.
                let t = line.trim();
                if *fw == "langchain" && (t.starts_with('"') || t.starts_with('\'')) {
                    let q = t.chars().next().unwrap_or('"');
                    if let Some(end) = t[1..].find(q) {
                        pending = Some((fw, Some(t[1..1 + end].to_string())));
                    }
                } else if *fw == "openai_agents" {
                    if let Some(n) = keyword_string_arg(t, "name_override") {
                        pending = Some((fw, Some(n)));
                    }
                }
            }
            continue;
        }
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(after_at) = trimmed.strip_prefix('@') {
            if let Some(found) = tool_decorator(after_at.trim_start()) {
                pending = Some(found);
            }
            continuation = paren_balance(trimmed).max(0);
            continue;
        }
        if let Some(name) = def_name(trimmed) {
            if let Some((fw, explicit)) = pending.take() {
                let name = explicit
                    .map(|n| n.trim().to_string())
                    .filter(|n| !n.is_empty())
                    .unwrap_or(name);
                out.push(ToolItem {
                    name,
                    framework: fw.to_string(),
                });
            }
            continue;
        }
        pending = None;
        for delim in ["\"\"\"", "'''"] {
            if line.matches(delim).count() % 2 == 1 {
                in_triple = Some(delim);
                break;
            }
        }
    }
    out
}

// ------------------------------------------------------------------ MCP configuration

/// A format-neutral view of a parsed JSON or YAML document.
enum Doc<'a> {
    Json(&'a Value),
    Yaml(&'a Node),
}

impl<'a> Doc<'a> {
    fn entries(&self) -> Vec<(String, Doc<'a>)> {
        match self {
            Doc::Json(Value::Object(m)) => {
                m.iter().map(|(k, v)| (k.clone(), Doc::Json(v))).collect()
            }
            Doc::Yaml(Node::Map { entries, .. }) => entries
                .iter()
                .map(|(k, v)| (k.key_text(), Doc::Yaml(v)))
                .collect(),
            _ => Vec::new(),
        }
    }
    fn get(&self, key: &str) -> Option<Doc<'a>> {
        self.entries()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
    fn items(&self) -> Vec<Doc<'a>> {
        match self {
            Doc::Json(Value::Array(a)) => a.iter().map(Doc::Json).collect(),
            Doc::Yaml(Node::Seq { items, .. }) => items.iter().map(Doc::Yaml).collect(),
            _ => Vec::new(),
        }
    }
    fn text(&self) -> Option<String> {
        match self {
            Doc::Json(Value::String(s)) => Some(s.clone()),
            Doc::Yaml(n @ Node::Scalar { value, .. }) if !n.is_null() => Some(value.clone()),
            _ => None,
        }
    }
}

const MCP_TOOL_LISTS: &[&str] = &["tools", "alwaysAllow", "autoApprove", "allowedTools"];

fn mcp_from_doc(file_name: &str, doc: &Doc) -> Vec<ToolItem> {
    let mut servers = doc.get("mcpServers").or_else(|| doc.get("mcp_servers"));
    if servers.is_none() && file_name.contains("mcp") {
        servers = doc.get("servers");
    }
    let mut out = Vec::new();
    let Some(servers) = servers else {
        return out;
    };
    for (_, server) in servers.entries() {
        for list in MCP_TOOL_LISTS {
            let Some(l) = server.get(list) else { continue };
            for item in l.items() {
                let name = item
                    .text()
                    .or_else(|| item.get("name").and_then(|n| n.text()))
                    .unwrap_or_default();
                if !name.trim().is_empty() {
                    out.push(ToolItem {
                        name,
                        framework: String::new(),
                    });
                }
            }
        }
    }
    out
}

/// Tool items declared by an MCP configuration file (nothing for other JSON/YAML files).
pub fn mcp_tools(file_name: &str, text: &str) -> Vec<ToolItem> {
    // Cheap filter first: most JSON/YAML files in a repo are not MCP configuration.
    if !(text.contains("mcpServers")
        || text.contains("mcp_servers")
        || (file_name.contains("mcp") && text.contains("servers")))
    {
        return Vec::new();
    }
    if file_name.ends_with(".json") {
        match serde_json::from_str::<Value>(text) {
            Ok(v) => mcp_from_doc(file_name, &Doc::Json(&v)),
            Err(_) => Vec::new(),
        }
    } else {
        match yaml::parse(text) {
            Ok(Some(n)) => mcp_from_doc(file_name, &Doc::Yaml(&n)),
            _ => Vec::new(),
        }
    }
}

// ------------------------------------------------------------------ signals and rules (§5.2)

const CANDIDATE_KEYWORDS: &[&str] = &[
    "write", "update", "create", "set", "save", "delete", "remove", "drop", "destroy", "truncate",
    "approve", "cancel", "pause", "resume", "restart", "stripe", "payment", "charge", "refund",
    "billing", "invoice", "postgres", "database", "db", "sql",
];
const DESTRUCTIVE: &[&str] = &["delete", "remove", "drop", "destroy", "truncate"];
const PAYMENT: &[&str] = &[
    "stripe", "payment", "charge", "refund", "billing", "invoice",
];
const DATA_STORE: &[&str] = &["postgres", "database", "db", "sql"];
const STATE_CHANGE: &[&str] = &[
    "write", "update", "create", "set", "save", "submit", "approve", "cancel", "pause", "resume",
    "restart",
];

/// A detected signal (`detected_signals` / `unknown_signals` entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    pub code: String,
    pub category: String,
    pub value: String,
    pub confidence: String,
    pub evidence: Vec<String>,
    pub reason: String,
}

impl Signal {
    pub fn to_value(&self) -> Value {
        json!({
            "code": self.code,
            "category": self.category,
            "value": self.value,
            "confidence": self.confidence,
            "evidence": self.evidence,
            "reason": self.reason,
        })
    }
}

/// A starter rule suggested from the signals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedRule {
    pub id: String,
    pub name: String,
    pub effect: String,
    pub priority: i64,
    pub match_tool_names: Vec<String>,
    pub reason_codes: Vec<String>,
    pub confidence: String,
    pub rationale: String,
}

impl GeneratedRule {
    pub fn to_value(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "effect": self.effect,
            "priority": self.priority,
            "match_tool_names": self.match_tool_names,
            "reason_codes": self.reason_codes,
            "confidence": self.confidence,
            "rationale": self.rationale,
        })
    }
}

/// Detection plus everything derived from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    pub detection: Detection,
    pub candidates: Vec<String>,
    pub signals: Vec<Signal>,
    pub unknown_signals: Vec<Signal>,
    pub rules: Vec<GeneratedRule>,
}

fn first(v: &[String], n: usize) -> Vec<String> {
    v.iter().take(n).cloned().collect()
}

/// Tool names worth a starter rule (§5.2 rule 2): unique, sorted, lower-cased.
pub fn candidates(tool_names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in tool_names {
        let name = raw.trim();
        if name.is_empty() || name.starts_with('_') {
            continue;
        }
        let lower = name.to_lowercase();
        if name.contains('.') {
            out.push(lower);
            continue;
        }
        let all_caps =
            name.chars().any(char::is_alphabetic) && !name.chars().any(char::is_lowercase);
        if all_caps || name.chars().count() > 48 {
            continue;
        }
        if CANDIDATE_KEYWORDS.iter().any(|k| lower.contains(k)) {
            out.push(lower);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The first class a candidate falls into (§5.2 rule 3), if any.
pub fn classify(name: &str) -> Option<&'static str> {
    let has = |ks: &[&str]| ks.iter().any(|k| name.contains(k));
    if has(DESTRUCTIVE) {
        Some("destructive")
    } else if has(PAYMENT) {
        Some("payment")
    } else if has(DATA_STORE) {
        Some("data_store")
    } else if has(STATE_CHANGE) {
        Some("state_change")
    } else {
        None
    }
}

fn signal(
    code: &str,
    category: &str,
    value: &str,
    conf: &str,
    ev: Vec<String>,
    reason: &str,
) -> Signal {
    Signal {
        code: code.into(),
        category: category.into(),
        value: value.into(),
        confidence: conf.into(),
        evidence: ev,
        reason: reason.into(),
    }
}

/// Derives signals, unknown signals and starter rules from a detection.
pub fn analyze(detection: Detection) -> Analysis {
    let mut signals: Vec<Signal> = detection
        .frameworks
        .iter()
        .map(|f| {
            signal(
                &format!("framework.{f}"),
                "framework",
                f,
                "high",
                vec![f.clone()],
                "supported framework tag detected by scout",
            )
        })
        .collect();
    let cands = candidates(&detection.tool_names);
    let (mut destructive, mut payment, mut data_store, mut state_change, mut unclassified) =
        (vec![], vec![], vec![], vec![], vec![]);
    for c in &cands {
        match classify(c) {
            Some("destructive") => destructive.push(c.clone()),
            Some("payment") => payment.push(c.clone()),
            Some("data_store") => data_store.push(c.clone()),
            Some(_) => state_change.push(c.clone()),
            None => unclassified.push(c.clone()),
        }
    }
    for (tools, code, cat, reason) in [
        (
            &destructive,
            "tool.destructive",
            "destructive_tools",
            "likely destructive tool names detected",
        ),
        (
            &state_change,
            "tool.state_change",
            "state_change_tools",
            "likely state-changing tool names detected",
        ),
        (
            &payment,
            "tool.payment",
            "payment_tools",
            "payment or billing tool names detected",
        ),
        (
            &data_store,
            "tool.data_store",
            "data_store_tools",
            "database or data-store tool names detected",
        ),
    ] {
        if !tools.is_empty() {
            signals.push(signal(code, cat, cat, "high", tools.clone(), reason));
        }
    }
    let mut rules = Vec::new();
    if !destructive.is_empty() {
        rules.push(GeneratedRule {
            id: "starter.block.destructive".into(),
            name: "block-destructive-tools".into(),
            effect: "block".into(),
            priority: 10,
            match_tool_names: first(&destructive, 6),
            reason_codes: vec!["destructive_tool_blocked".into()],
            confidence: "high".into(),
            rationale: "detected likely destructive tool names".into(),
        });
    }
    let mut approval: Vec<String> = state_change
        .iter()
        .chain(&payment)
        .chain(&data_store)
        .cloned()
        .collect();
    approval.sort();
    approval.dedup();
    if !approval.is_empty() {
        rules.push(GeneratedRule {
            id: "starter.require_approval.state_change".into(),
            name: "require-approval-state-changing-tools".into(),
            effect: "require_approval".into(),
            priority: 20,
            match_tool_names: first(&approval, 8),
            reason_codes: vec!["approval_required_for_state_change".into()],
            confidence: "high".into(),
            rationale: "detected likely state-changing, payment, or data-store tool names".into(),
        });
    }
    let mut unknown_signals = Vec::new();
    if !unclassified.is_empty() {
        unknown_signals.push(signal(
            "tool.unclassified",
            "unclassified_tools",
            "manual_review",
            "low",
            first(&unclassified, 8),
            "candidate tool names were detected but did not match a high-confidence starter rule pattern",
        ));
    }
    Analysis {
        detection,
        candidates: cands,
        signals,
        unknown_signals,
        rules,
    }
}

fn inline_list(v: &[String]) -> String {
    format!("[{}]", v.join(", "))
}

/// The comment header `gait init` puts above the template (§5.3), ending in a newline.
pub fn render_header(policy_path: &str, a: &Analysis) -> String {
    let mut h = String::new();
    let mut line = |s: &str| {
        h.push_str("# ");
        h.push_str(s);
        h.push('\n');
    };
    line("gait init starter policy");
    line(&format!("repo_policy_path: {policy_path}"));
    line(&format!("project_defaults_path: {PROJECT_DEFAULTS_PATH}"));
    line(&format!("regress_config_path: {REGRESS_CONFIG_PATH}"));
    let d = &a.detection;
    if !d.frameworks.is_empty() {
        line(&format!("detected_frameworks: {}", d.frameworks.join(", ")));
    }
    if !d.tool_names.is_empty() {
        let mut tools = first(&d.tool_names, 8).join(", ");
        if d.tool_names.len() > 8 {
            tools.push_str(&format!(" (+{} more)", d.tool_names.len() - 8));
        }
        line(&format!("detected_tools: {tools}"));
    }
    if !a.rules.is_empty() {
        line("generated_rules:");
        for r in &a.rules {
            line(&format!("  - id: {}", r.id));
            line(&format!("    rationale: {}", r.rationale));
            line("    suggested_yaml:");
            line(&format!("      - name: {}", r.name));
            line(&format!("        priority: {}", r.priority));
            line(&format!("        effect: {}", r.effect));
            line("        match:");
            line(&format!(
                "          tool_names: {}",
                inline_list(&r.match_tool_names)
            ));
            line(&format!(
                "        reason_codes: {}",
                inline_list(&r.reason_codes)
            ));
        }
    }
    if !a.unknown_signals.is_empty() {
        line("unknown_signals:");
        for s in &a.unknown_signals {
            line(&format!("  - code: {}", s.code));
            line(&format!("    evidence: {}", inline_list(&s.evidence)));
            line(&format!("    reason: {}", s.reason));
        }
    }
    h
}

/// Header, blank line, template body without leading newlines, trailing newline ensured.
pub fn render_policy_file(header: &str, body: &str) -> String {
    let mut out = String::with_capacity(header.len() + body.len() + 2);
    out.push_str(header);
    out.push('\n');
    out.push_str(body.trim_start_matches(['\n', '\r']));
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

// ------------------------------------------------------------------ check findings (§5.4)

/// One `gait check` finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub code: &'static str,
    pub severity: &'static str,
    pub summary: &'static str,
    pub detected_surface: &'static str,
    pub remediation: &'static str,
    pub evidence: Vec<String>,
}

impl Finding {
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("code".into(), json!(self.code));
        m.insert("severity".into(), json!(self.severity));
        m.insert("summary".into(), json!(self.summary));
        if !self.detected_surface.is_empty() {
            m.insert("detected_surface".into(), json!(self.detected_surface));
        }
        if !self.remediation.is_empty() {
            m.insert("remediation".into(), json!(self.remediation));
        }
        if !self.evidence.is_empty() {
            m.insert("evidence".into(), json!(self.evidence));
        }
        Value::Object(m)
    }
}

// The summary and remediation texts below are this implementation's own wording (the
// reference's strings were not available); `gap_warnings` repeats the warning summaries.
pub const SUMMARY_NO_RULES: &str =
    "policy has no rules; every call falls through to default_verdict";
pub const REMEDIATION_NO_RULES: &str =
    "add rules for the tools this repo exposes (gait init prints suggested starter rules)";
pub const SUMMARY_DEFAULT_ALLOW: &str =
    "policy default_verdict is allow; tool calls no rule matches run unchecked";
pub const REMEDIATION_DEFAULT_ALLOW: &str =
    "set default_verdict: block (or require_approval) and allow known-safe tools explicitly";
pub const SUMMARY_NO_NON_ALLOW: &str =
    "policy has no block, require_approval or dry_run rule; no tool call can be stopped by a rule";
pub const REMEDIATION_NO_NON_ALLOW: &str =
    "add at least one rule with effect block or require_approval for risky tools";
pub const SUMMARY_NO_FRAMEWORK: &str = "no supported agent framework detected in this repository";
pub const REMEDIATION_NO_FRAMEWORK: &str =
    "tools are detected from LangChain @tool and OpenAI Agents @function_tool functions and MCP server configs; map other tools to policy rules by hand";
pub const SUMMARY_INVENTORY_UNCOVERED: &str =
    "detected tools are not named by any policy rule (no match.tool_names)";
pub const REMEDIATION_INVENTORY_UNCOVERED: &str =
    "add match.tool_names rules for the detected tools (see the rules suggested by gait init)";
pub const SUMMARY_NAME_MISMATCH: &str = "policy rules name tools, but none of the detected tools";
pub const REMEDIATION_NAME_MISMATCH: &str =
    "align match.tool_names with the tool names your agents call (see the detected tools in evidence)";
pub const SUMMARY_GENERATED_RULES: &str = "starter rules were generated from detected tool names";
pub const REMEDIATION_GENERATED_RULES: &str =
    "review the suggested rules in the gait init header and copy the ones you want into the policy";
pub const SUMMARY_MANUAL_REVIEW: &str =
    "some detected tool names did not match a starter rule pattern and need manual review";
pub const REMEDIATION_MANUAL_REVIEW: &str =
    "decide a verdict for each listed tool and add match.tool_names rules for it";
pub const SUMMARY_NO_SIGNALS: &str = "no high-confidence framework or tool signals were detected";
pub const REMEDIATION_NO_SIGNALS: &str =
    "confirm the repository's tool surface by hand and add rules for it";

/// `gait check` findings, in the documented order.
pub fn findings(policy: &Policy, a: &Analysis) -> Vec<Finding> {
    let f = |code, severity, summary, surface, remediation, evidence| Finding {
        code,
        severity,
        summary,
        detected_surface: surface,
        remediation,
        evidence,
    };
    let mut out = Vec::new();
    if policy.rules.is_empty() {
        out.push(f(
            "policy.no_rules",
            "warning",
            SUMMARY_NO_RULES,
            "policy.rules",
            REMEDIATION_NO_RULES,
            vec![],
        ));
    }
    if policy.default_verdict == "allow" {
        out.push(f(
            "policy.default_allow",
            "warning",
            SUMMARY_DEFAULT_ALLOW,
            "policy.default_verdict",
            REMEDIATION_DEFAULT_ALLOW,
            vec![],
        ));
    }
    // The parsed policy has already folded the legacy `action` into `effect`.
    if !policy
        .rules
        .iter()
        .any(|r| !r.effect.is_empty() && r.effect != "allow")
    {
        out.push(f(
            "policy.no_non_allow_rules",
            "warning",
            SUMMARY_NO_NON_ALLOW,
            "policy.rules",
            REMEDIATION_NO_NON_ALLOW,
            vec![],
        ));
    }
    let d = &a.detection;
    if d.frameworks.is_empty() {
        out.push(f(
            "repo.no_supported_framework_detected",
            "info",
            SUMMARY_NO_FRAMEWORK,
            "repo.frameworks",
            REMEDIATION_NO_FRAMEWORK,
            vec![],
        ));
    }
    // Policy tool names are lower-cased by policy normalisation; compare lower-cased.
    let policy_tools: std::collections::BTreeSet<&str> = policy
        .rules
        .iter()
        .flat_map(|r| r.matcher.tool_names.iter().map(String::as_str))
        .collect();
    if !d.tool_names.is_empty() {
        let evidence = first(&a.candidates, 8);
        if policy_tools.is_empty() {
            out.push(f(
                "repo.tool_inventory_uncovered",
                "warning",
                SUMMARY_INVENTORY_UNCOVERED,
                "repo.tools",
                REMEDIATION_INVENTORY_UNCOVERED,
                evidence,
            ));
        } else if !d
            .tool_names
            .iter()
            .any(|t| policy_tools.contains(t.trim().to_lowercase().as_str()))
        {
            out.push(f(
                "repo.tool_inventory_name_mismatch",
                "warning",
                SUMMARY_NAME_MISMATCH,
                "repo.tools",
                REMEDIATION_NAME_MISMATCH,
                evidence,
            ));
        }
    }
    if !a.rules.is_empty() {
        out.push(f(
            "repo.generated_rules_available",
            "info",
            SUMMARY_GENERATED_RULES,
            "repo.signals",
            REMEDIATION_GENERATED_RULES,
            a.rules.iter().map(|r| r.id.clone()).collect(),
        ));
    }
    if !a.unknown_signals.is_empty() {
        let ev: Vec<String> = a
            .unknown_signals
            .iter()
            .flat_map(|s| s.evidence.clone())
            .collect();
        out.push(f(
            "repo.manual_review_required",
            "info",
            SUMMARY_MANUAL_REVIEW,
            "repo.signals",
            REMEDIATION_MANUAL_REVIEW,
            first(&ev, 8),
        ));
    }
    if a.signals.is_empty() {
        out.push(f(
            "repo.no_high_confidence_signals",
            "info",
            SUMMARY_NO_SIGNALS,
            "repo.signals",
            REMEDIATION_NO_SIGNALS,
            vec![],
        ));
    }
    out
}

// ------------------------------------------------------------------ results

fn put_analysis(m: &mut Map<String, Value>, a: &Analysis, with_rules: bool) {
    m.insert("detection".into(), a.detection.to_value());
    if !a.signals.is_empty() {
        m.insert(
            "detected_signals".into(),
            Value::Array(a.signals.iter().map(Signal::to_value).collect()),
        );
    }
    if with_rules && !a.rules.is_empty() {
        m.insert(
            "generated_rules".into(),
            Value::Array(a.rules.iter().map(GeneratedRule::to_value).collect()),
        );
    }
    if !a.unknown_signals.is_empty() {
        m.insert(
            "unknown_signals".into(),
            Value::Array(a.unknown_signals.iter().map(Signal::to_value).collect()),
        );
    }
    m.insert("contract".into(), contract_value());
}

/// What `init` produced (rendered by the command layer).
#[derive(Debug, Clone)]
pub struct InitResult {
    pub json: Map<String, Value>,
    pub text: String,
}

/// `gait init`: scan `root`, write the starter policy to `out` (mode 0600, atomically).
pub fn init(root: &Path, template: &str, out: &str, force: bool) -> Result<InitResult, GateError> {
    let name = crate::commands::template_name(template).ok_or_else(|| {
        GateError::invalid(format!(
            "unknown template: {}",
            template.trim().to_lowercase()
        ))
    })?;
    let out = out.trim();
    if out.is_empty() {
        return Err(GateError::invalid("--out must not be empty"));
    }
    let out_path = Path::new(out);
    match std::fs::symlink_metadata(out_path) {
        Ok(m) if m.is_dir() => {
            return Err(GateError::invalid(format!(
                "output path is a directory: {out}"
            )))
        }
        Ok(_) if !force => {
            return Err(GateError::invalid(format!(
                "output path already exists (use --force to overwrite): {out}"
            )))
        }
        _ => {}
    }
    let analysis = analyze(scan(root));
    let body = crate::commands::template_body(name);
    let file = render_policy_file(&render_header(out, &analysis), body);
    gait_sdk::fsutil::write_atomic(out_path, file.as_bytes(), 0o600).map_err(|e| {
        GateError::Io(format!(
            "write policy: {out}: {}",
            gait_sdk::fsutil::go_io_reason(&e)
        ))
    })?;
    let mut m = Map::new();
    m.insert("template".into(), json!(name));
    m.insert("policy_path".into(), json!(out));
    put_analysis(&mut m, &analysis, true);
    m.insert(
        "next_commands".into(),
        json!([
            format!("gait check --policy {out} --json"),
            format!("gait policy validate {out} --json"),
            "gait doctor --json",
        ]),
    );
    let mut text = format!("init ok: policy={out} template={name}\n");
    if !analysis.detection.frameworks.is_empty() {
        text.push_str(&format!(
            "detected frameworks: {}\n",
            analysis.detection.frameworks.join(", ")
        ));
    }
    Ok(InitResult { json: m, text })
}

/// `gait check`: load the policy at `policy_path`, scan `root`, report findings.
pub fn check(root: &Path, policy_path: &str) -> Result<InitResult, GateError> {
    let policy = crate::commands::load_policy(policy_path)?;
    let analysis = analyze(scan(root));
    let found = findings(&policy, &analysis);
    let gaps: Vec<&str> = found
        .iter()
        .filter(|f| f.severity == "warning")
        .map(|f| f.summary)
        .collect();
    let mut m = Map::new();
    m.insert("policy_path".into(), json!(policy_path));
    m.insert("default_verdict".into(), json!(policy.default_verdict));
    if !policy.rules.is_empty() {
        m.insert("rule_count".into(), json!(policy.rules.len()));
    }
    put_analysis(&mut m, &analysis, false);
    if !found.is_empty() {
        m.insert(
            "findings".into(),
            Value::Array(found.iter().map(Finding::to_value).collect()),
        );
    }
    if !gaps.is_empty() {
        m.insert("gap_warnings".into(), json!(gaps));
    }
    m.insert(
        "next_commands".into(),
        json!([
            format!("gait policy validate {policy_path} --json"),
            "gait doctor --json",
            "gait demo --json",
        ]),
    );
    m.insert(
        "summary".into(),
        json!(format!(
            "policy ok: default_verdict={} rules={} findings={} gap_warnings={}",
            policy.default_verdict,
            policy.rules.len(),
            found.len(),
            gaps.len()
        )),
    );
    let text = format!(
        "check ok: policy={policy_path} rules={} warnings={}\n",
        policy.rules.len(),
        gaps.len()
    );
    Ok(InitResult { json: m, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn tools(src: &str) -> Vec<(String, String)> {
        python_tools(src)
            .into_iter()
            .map(|t| (t.name, t.framework))
            .collect()
    }

    #[test]
    fn python_decorators_are_recognised() {
        let src = r#"
from langchain.tools import tool
from agents import function_tool
import langchain_core.tools as lt

@tool
def delete_user(id): ...

@tool("Search-Web", return_direct=True)
async def search(q): ...

@other
@lt.tool
# a comment between decorator and def
def update_record(x): ...

@function_tool
async def refund_charge(x): ...

@agents.function_tool(name_override="create_ticket")
def make(x): ...

@tool(
    "multi_line_name",
)
def ml(x): ...

@tools
def not_a_tool(): ...

@tool_helper
def also_not(): ...

def plain(): ...

@tool
x = 1
def after_statement(): ...
"#;
        assert_eq!(
            tools(src),
            vec![
                ("delete_user".into(), "langchain".into()),
                ("Search-Web".into(), "langchain".into()),
                ("update_record".into(), "langchain".into()),
                ("refund_charge".into(), "openai_agents".into()),
                ("create_ticket".into(), "openai_agents".into()),
                ("multi_line_name".into(), "langchain".into()),
            ]
        );
    }

    #[test]
    fn docstrings_are_not_scanned() {
        let src = "def f():\n    \"\"\"Example:\n\n    @tool\n    def drop_table(): ...\n    \"\"\"\n\n@tool\ndef write_file(): ...\n";
        assert_eq!(tools(src), vec![("write_file".into(), "langchain".into())]);
    }

    #[test]
    fn mcp_configs_declare_tools() {
        let json = r#"{"mcpServers": {"db": {"command": "x", "alwaysAllow": ["query_sql"], "tools": [{"name": "drop_table"}, 3]}}}"#;
        let got: Vec<String> = mcp_tools("mcp.json", json)
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(got, vec!["drop_table", "query_sql"]);
        let yaml = "servers:\n  fs:\n    tools: [write_file]\n";
        assert_eq!(mcp_tools("mcp.yaml", yaml).len(), 1);
        // `servers` only counts in a file named like MCP configuration.
        assert!(mcp_tools("deploy.yaml", yaml).is_empty());
        assert!(mcp_tools("mcp.json", "{not json mcpServers").is_empty());
        assert!(mcp_tools("x.json", r#"{"a": 1}"#).is_empty());
    }

    #[test]
    fn candidates_follow_the_filtering_rules() {
        let got = candidates(&names(&[
            " delete_user ",
            "_private_delete",
            "",
            "DELETE_ALL",
            "lookup",
            "Update_Record",
            "svc.Lookup",
            &format!("delete_{}", "x".repeat(50)),
            "update_record",
        ]));
        assert_eq!(got, names(&["delete_user", "svc.lookup", "update_record"]));
    }

    #[test]
    fn classes_take_the_first_match() {
        assert_eq!(classify("delete_payment"), Some("destructive"));
        assert_eq!(classify("charge_card"), Some("payment"));
        assert_eq!(classify("update_db"), Some("data_store"));
        assert_eq!(classify("submit_form"), Some("state_change"));
        assert_eq!(classify("svc.lookup"), None);
    }

    #[test]
    fn rules_truncate_and_unknown_signals_collect_dotted_names() {
        let mut tools: Vec<String> = (0..8).map(|i| format!("delete_{i}")).collect();
        tools.extend((0..5).map(|i| format!("update_{i}")));
        tools.extend((0..5).map(|i| format!("charge_{i}")));
        tools.extend((0..10).map(|i| format!("svc.read_{i}")));
        tools.push("query_sql".into());
        let det = Detection {
            frameworks: names(&["langchain", "openai_agents"]),
            tool_names: {
                let mut t = tools.clone();
                t.sort();
                t
            },
            limited: false,
        };
        let a = analyze(det);
        let codes: Vec<&str> = a.signals.iter().map(|s| s.code.as_str()).collect();
        assert_eq!(
            codes,
            vec![
                "framework.langchain",
                "framework.openai_agents",
                "tool.destructive",
                "tool.state_change",
                "tool.payment",
                "tool.data_store"
            ]
        );
        assert_eq!(
            a.signals[2].evidence.len(),
            8,
            "signal evidence is not truncated"
        );
        assert_eq!(a.rules[0].match_tool_names.len(), 6);
        assert_eq!(a.rules[0].match_tool_names[0], "delete_0");
        assert_eq!(a.rules[1].match_tool_names.len(), 8);
        // sorted union of state_change, payment, data_store
        assert_eq!(a.rules[1].match_tool_names[0], "charge_0");
        assert_eq!(a.unknown_signals.len(), 1);
        let u = &a.unknown_signals[0];
        assert_eq!(u.code, "tool.unclassified");
        assert_eq!(u.value, "manual_review");
        assert_eq!(u.confidence, "low");
        assert_eq!(u.evidence.len(), 8);
        assert_eq!(u.evidence[0], "svc.read_0");
    }

    #[test]
    fn nothing_detected_gives_nothing() {
        let a = analyze(Detection::default());
        assert!(a.signals.is_empty() && a.rules.is_empty() && a.unknown_signals.is_empty());
        assert_eq!(a.detection.to_value(), json!({}));
    }

    fn check13() -> Analysis {
        analyze(Detection {
            frameworks: names(&["langchain"]),
            tool_names: names(&["delete_user", "lookup", "update_record"]),
            limited: false,
        })
    }

    #[test]
    fn header_matches_the_documented_example() {
        let h = render_header(".gait.yaml", &check13());
        let expected_start = "\
# gait init starter policy
# repo_policy_path: .gait.yaml
# project_defaults_path: .gait/config.yaml
# regress_config_path: gait.yaml
# detected_frameworks: langchain
# detected_tools: delete_user, lookup, update_record
# generated_rules:
#   - id: starter.block.destructive
#     rationale: detected likely destructive tool names
#     suggested_yaml:
#       - name: block-destructive-tools
#         priority: 10
#         effect: block
#         match:
#           tool_names: [delete_user]
#         reason_codes: [destructive_tool_blocked]
#   - id: starter.require_approval.state_change
";
        assert!(h.starts_with(expected_start), "{h}");
        assert!(h.ends_with("#         reason_codes: [approval_required_for_state_change]\n"));
        let file = render_policy_file(&h, "\n\nschema_id: x");
        assert!(file.ends_with("\n\nschema_id: x\n"));
    }

    #[test]
    fn header_counts_extra_tools_and_lists_unknown_signals() {
        let a = analyze(Detection {
            frameworks: vec![],
            tool_names: (0..10).map(|i| format!("svc.t{i}")).collect(),
            limited: false,
        });
        let h = render_header("p.yaml", &a);
        assert!(h.contains("# detected_tools: svc.t0, svc.t1, svc.t2, svc.t3, svc.t4, svc.t5, svc.t6, svc.t7 (+2 more)\n"));
        assert!(!h.contains("detected_frameworks"));
        assert!(!h.contains("generated_rules"));
        assert!(h.contains("# unknown_signals:\n#   - code: tool.unclassified\n#     evidence: [svc.t0, svc.t1, svc.t2, svc.t3, svc.t4, svc.t5, svc.t6, svc.t7]\n#     reason: candidate tool names"));
    }

    fn policy(src: &str) -> Policy {
        crate::policy::parse_policy(src).unwrap()
    }

    fn codes(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|x| x.code).collect()
    }

    #[test]
    fn findings_for_the_conformance_repo() {
        let p = policy(crate::commands::template_body("baseline-highrisk"));
        let f = findings(&p, &check13());
        assert_eq!(
            codes(&f),
            vec![
                "repo.tool_inventory_name_mismatch",
                "repo.generated_rules_available"
            ]
        );
        assert_eq!(f[0].evidence, names(&["delete_user", "update_record"]));
        assert_eq!(
            f[1].evidence,
            names(&[
                "starter.block.destructive",
                "starter.require_approval.state_change"
            ])
        );
    }

    #[test]
    fn findings_for_a_permissive_policy_and_empty_repo() {
        let p = policy("default_verdict: allow\n");
        let f = findings(&p, &analyze(Detection::default()));
        assert_eq!(
            codes(&f),
            vec![
                "policy.no_rules",
                "policy.default_allow",
                "policy.no_non_allow_rules",
                "repo.no_supported_framework_detected",
                "repo.no_high_confidence_signals"
            ]
        );
        assert!(f
            .iter()
            .all(|x| !x.summary.is_empty() && !x.remediation.is_empty()));
    }

    #[test]
    fn findings_uncovered_overlap_and_manual_review() {
        let allow_only = policy(
            "default_verdict: block\nrules:\n  - name: a\n    effect: allow\n    match: {risk_classes: [low]}\n",
        );
        let a = analyze(Detection {
            frameworks: vec![],
            tool_names: names(&["svc.x", "write_file"]),
            limited: false,
        });
        let f = findings(&allow_only, &a);
        assert_eq!(
            codes(&f),
            vec![
                "policy.no_non_allow_rules",
                "repo.no_supported_framework_detected",
                "repo.tool_inventory_uncovered",
                "repo.generated_rules_available",
                "repo.manual_review_required"
            ]
        );
        assert_eq!(f[2].evidence, names(&["svc.x", "write_file"]));
        assert_eq!(f[4].evidence, names(&["svc.x"]));
        // An exact (case-insensitive) overlap clears the mismatch warning.
        let named = policy(
            "default_verdict: block\nrules:\n  - name: a\n    effect: block\n    match: {tool_names: [Write_File]}\n",
        );
        assert!(!codes(&findings(&named, &a)).contains(&"repo.tool_inventory_name_mismatch"));
    }

    #[test]
    fn scan_skips_symlinks_and_ignored_dirs() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::write(root.join("a.py"), "@tool\ndef delete_a(): ...\n").unwrap();
        for skip in ["node_modules", ".git", "__pycache__", ".beads"] {
            std::fs::create_dir(root.join(skip)).unwrap();
            std::fs::write(root.join(skip).join("b.py"), "@tool\ndef delete_b(): ...\n").unwrap();
        }
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("c.py"), "@tool\ndef delete_c(): ...\n").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
            std::os::unix::fs::symlink(outside.path().join("c.py"), root.join("c.py")).unwrap();
        }
        // Oversized files are skipped.
        let mut big = "@tool\ndef delete_big(): ...\n".to_string();
        big.push_str(&"#".repeat(MAX_FILE_BYTES as usize));
        std::fs::write(root.join("big.py"), big).unwrap();
        let det = scan(root);
        assert_eq!(det.tool_names, names(&["delete_a"]));
        assert_eq!(det.frameworks, names(&["langchain"]));
    }

    #[test]
    fn scan_depth_is_bounded() {
        let d = tempfile::tempdir().unwrap();
        let mut p = d.path().to_path_buf();
        for i in 0..(MAX_DEPTH + 3) {
            p = p.join(format!("d{i}"));
        }
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("deep.py"), "@tool\ndef delete_deep(): ...\n").unwrap();
        let det = scan(d.path());
        assert!(det.tool_names.is_empty());
        assert!(det.limited);
    }
}
