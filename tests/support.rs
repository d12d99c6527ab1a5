//! Shared support for Gait's black-box acceptance tests: locating the built binaries and
//! running conformance cases (`conformance/FORMAT.md`) against them.
//!
//! This crate drives the CLI from outside, the way a user or CI would. It may use the shared
//! contract (`gait-sdk`: schemas, zip reading) to check what the CLI wrote, but never links
//! plugin code.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The directory holding the built `gait` and `gait-*` binaries (next to the test's `deps/`).
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("GAIT_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target profile dir")
        .to_path_buf()
}

/// Path of a built binary, or a panic telling how to build it.
pub fn binary(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.is_file(),
        "{} is not built; run the workspace tests with `cargo test --workspace` (which builds every binary) or `cargo build --workspace` first",
        p.display()
    );
    p
}

/// Looks up a dotted path (`a.b.0.c`) in a JSON value.
pub fn lookup<'a>(v: &'a Value, dotted: &str) -> Option<&'a Value> {
    if dotted.is_empty() {
        return Some(v);
    }
    let mut cur = v;
    for part in dotted.split('.') {
        cur = match cur {
            Value::Object(m) => m.get(part)?,
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// JSON equality where numbers compare by value (1 == 1.0), as Python's does.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn parse_stdout(text: &str) -> Option<Value> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    serde_json::from_str(t).ok().or_else(|| {
        t.lines()
            .map(str::trim)
            .filter(|l| l.starts_with('{'))
            .find_map(|l| serde_json::from_str(l).ok())
    })
}

fn glob_match(p: &[u8], n: &[u8]) -> bool {
    match (p.first(), n.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob_match(&p[1..], n) || (!n.is_empty() && n[0] != b'/' && glob_match(p, &n[1..]))
        }
        (Some(b'?'), Some(c)) if *c != b'/' => glob_match(&p[1..], &n[1..]),
        (Some(a), Some(b)) if a == b => glob_match(&p[1..], &n[1..]),
        _ => false,
    }
}

fn files_matching(root: &Path, pattern: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(root) {
                if glob_match(pattern.as_bytes(), rel.to_string_lossy().as_bytes()) {
                    out.push(path);
                }
            }
        }
    }
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), &target)?;
        }
    }
    Ok(())
}

fn check_subset(
    doc: &Value,
    expected: &serde_json::Map<String, Value>,
    where_: &str,
    problems: &mut Vec<String>,
) {
    for (path, want) in expected {
        match lookup(doc, path) {
            None => problems.push(format!("{where_}: {path} missing (want {want})")),
            Some(got) if !json_eq(got, want) => {
                let g = got.to_string();
                problems.push(format!(
                    "{where_}: {path} = {} (want {})",
                    &g[..g.len().min(300)],
                    want
                ))
            }
            _ => {}
        }
    }
}

/// Runs one case folder with `binary` (argv[0]); returns the case id and its problems.
pub fn run_case(binary: &Path, case_dir: &Path, shared_cache: &Path) -> (String, Vec<String>) {
    let case: Value = serde_json::from_str(
        &std::fs::read_to_string(case_dir.join("case.json")).expect("case.json"),
    )
    .expect("case json");
    let id = case["id"].as_str().unwrap_or("?").to_string();
    let scratch = tempfile::tempdir().expect("scratch dir");
    let work = scratch.path().join("case");
    copy_dir(case_dir, &work).expect("copy case");
    let home = scratch.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let mut problems = Vec::new();
    let empty = Vec::new();
    for (i, step) in case["steps"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .enumerate()
    {
        let argv: Vec<String> = step["argv"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .map(|a| {
                a.as_str()
                    .unwrap_or("")
                    .replace("$CASE", &work.to_string_lossy())
            })
            .collect();
        let mut cmd = Command::new(binary);
        cmd.args(&argv)
            .current_dir(&work)
            .env("HOME", &home)
            .env("GAIT_CACHE_DIR", shared_cache)
            // The corpus runs many cases in parallel on small CI machines: a manifest probe of
            // a debug binary must not time out (and be cached as broken) under that load.
            .env("GAIT_MANIFEST_TIMEOUT_MS", "30000");
        if let Some(env) = step["env"].as_object() {
            for (k, v) in env {
                let val = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                cmd.env(k, val.replace("$CASE", &work.to_string_lossy()));
            }
        }
        let stdin_text = step["stdin"].as_str().map(str::to_string);
        cmd.stdin(if stdin_text.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!("step {i}: cannot start: {e}"));
                break;
            }
        };
        if let Some(text) = stdin_text {
            use std::io::Write;
            let _ = child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes());
        }
        let out = wait_with_timeout(child, Duration::from_secs(60));
        let Some(out) = out else {
            problems.push(format!("step {i}: timed out"));
            break;
        };
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let exp = &step["expect"];
        let where_ = format!(
            "step {i} ({})",
            argv.iter().take(3).cloned().collect::<Vec<_>>().join(" ")
        );
        if let Some(code) = exp["exit"].as_i64() {
            let got = out.status.code().unwrap_or(-1) as i64;
            if got != code {
                problems.push(format!(
                    "{where_}: exit {got} (want {code}); stderr: {}",
                    stderr.trim().chars().take(200).collect::<String>()
                ));
            }
        }
        if exp.get("json").is_some() || exp.get("json_absent").is_some() {
            match parse_stdout(&stdout) {
                None => problems.push(format!(
                    "{where_}: stdout is not JSON: {:?}",
                    stdout.chars().take(160).collect::<String>()
                )),
                Some(doc) => {
                    if let Some(m) = exp["json"].as_object() {
                        check_subset(&doc, m, &where_, &mut problems);
                    }
                    for p in exp["json_absent"].as_array().unwrap_or(&empty) {
                        let p = p.as_str().unwrap_or("");
                        if let Some(v) = lookup(&doc, p) {
                            if !v.is_null() {
                                problems.push(format!("{where_}: {p} present ({v}), want absent"));
                            }
                        }
                    }
                }
            }
        }
        for pat in exp["files_exist"].as_array().unwrap_or(&empty) {
            let pat = pat.as_str().unwrap_or("");
            if files_matching(&work, pat).is_empty() {
                problems.push(format!("{where_}: no file matches {pat}"));
            }
        }
        if let Some(files) = exp["files_json"].as_object() {
            for (rel, subset) in files {
                let Some(first) = files_matching(&work, rel).into_iter().next() else {
                    problems.push(format!("{where_}: file {rel} missing"));
                    continue;
                };
                match std::fs::read_to_string(&first)
                    .ok()
                    .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                {
                    None => problems.push(format!("{where_}: file {rel} unreadable")),
                    Some(doc) => {
                        if let Some(m) = subset.as_object() {
                            check_subset(&doc, m, &format!("{where_} {rel}"), &mut problems);
                        }
                    }
                }
            }
        }
    }
    (id, problems)
}

fn wait_with_timeout(
    mut child: std::process::Child,
    limit: Duration,
) -> Option<std::process::Output> {
    use std::io::Read;
    let mut stdout = child.stdout.take()?;
    let mut stderr = child.stderr.take()?;
    let out_thread = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stdout.read_to_end(&mut b);
        b
    });
    let err_thread = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stderr.read_to_end(&mut b);
        b
    });
    let start = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(_) => return None,
        }
    };
    Some(std::process::Output {
        status,
        stdout: out_thread.join().unwrap_or_default(),
        stderr: err_thread.join().unwrap_or_default(),
    })
}

/// Every case folder under `root` (those holding `case.json`), sorted.
pub fn case_dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if dir.join("case.json").is_file() {
            out.push(dir);
            continue;
        }
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                }
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookup_and_numeric_equality() {
        let v = json!({"a": {"b": [1, {"c": 2.0}]}});
        assert_eq!(lookup(&v, "a.b.1.c"), Some(&json!(2.0)));
        assert!(json_eq(&json!(2), &json!(2.0)));
        assert!(!json_eq(&json!([1]), &json!([1, 2])));
        assert!(lookup(&v, "a.x").is_none());
    }

    #[test]
    fn globs_do_not_cross_directories() {
        assert!(glob_match(b"trace_*.json", b"trace_abc.json"));
        assert!(!glob_match(b"trace_*.json", b"x/trace_abc.json"));
        assert!(glob_match(b"rl/*.json", b"rl/state.json"));
    }
}
