//! Drives the built `gait-ui` over real HTTP on 127.0.0.1:0: flags and exit codes, the §6 API
//! (spec conformance check 15), the Host/Origin/Sec-Fetch-Site guard, and `demo` through the
//! `gait` launcher built in the same target directory.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const UI: &str = env!("CARGO_BIN_EXE_gait-ui");

/// The `gait` launcher beside the built plugin; the acceptance tests find binaries the same way.
fn launcher() -> PathBuf {
    let p = Path::new(UI).with_file_name(format!("gait{}", std::env::consts::EXE_SUFFIX));
    assert!(
        p.is_file(),
        "{} is not built; run `cargo test --workspace` or `cargo build -p gait -p gait-pack` first",
        p.display()
    );
    p
}

struct Server {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(launcher: Option<&Path>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    // Without a launcher, run a copy of the plugin from a directory with no `gait` beside it.
    let exe = match launcher {
        Some(_) => PathBuf::from(UI),
        None => {
            let bin = root.join("bin");
            std::fs::create_dir(&bin).unwrap();
            let copy = bin.join(Path::new(UI).file_name().unwrap());
            std::fs::copy(UI, &copy).unwrap();
            copy
        }
    };
    let mut cmd = Command::new(exe);
    cmd.args([
        "ui",
        "--listen",
        "127.0.0.1:0",
        "--open-browser=false",
        "--json",
    ])
    .current_dir(&root)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    match launcher {
        Some(l) => cmd.env("GAIT_LAUNCHER", l),
        None => cmd.env("GAIT_LAUNCHER", root.join("missing-gait")),
    };
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: Value = serde_json::from_str(&line).expect("startup JSON");
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["correlation_id", "listen", "ok", "url"]);
    assert_eq!(v["ok"], true);
    let listen = v["listen"].as_str().unwrap();
    assert_eq!(v["url"], format!("http://{listen}"));
    Server {
        child,
        addr: listen.parse().unwrap(),
        _dir: dir,
        root,
    }
}

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Sends a raw request (`Host` added unless given) and reads the whole reply.
fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(150))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete reply");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

fn get(addr: SocketAddr, path: &str) -> Reply {
    send(addr, "GET", path, &[], b"")
}

fn post(addr: SocketAddr, body: &str) -> Reply {
    send(
        addr,
        "POST",
        "/api/exec",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

fn run_ui(args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(UI)
        .args(args)
        .current_dir(dir.path())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn listen_flag_errors_exit_6_with_a_hint() {
    let (code, out, _) = run_ui(&["ui", "--listen", "0.0.0.0:7980", "--json"]);
    assert_eq!(code, 6);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["error"],
        "non-loopback --listen requires --allow-non-loopback"
    );
    assert_eq!(v["error_code"], "invalid_input");
    assert!(v["hint"].as_str().unwrap().contains("--allow-non-loopback"));

    let (code, out, _) = run_ui(&["ui", "--listen", "bad", "--json"]);
    assert_eq!(code, 6);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["error"], "invalid --listen address: bad");

    let (code, _, err) = run_ui(&["ui", "--listen", "bad"]);
    assert_eq!(code, 6);
    assert!(
        err.contains("ui error: invalid --listen address: bad"),
        "{err}"
    );
    assert!(err.contains("hint: "), "{err}");

    let (code, out, _) = run_ui(&["ui", "--open-browser", "false", "--json"]);
    assert_eq!(code, 6);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["error"], "unexpected positional arguments");

    let (code, out, _) = run_ui(&["ui", "--explain", "--json"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("gait ui "));
}

#[test]
fn bind_failure_exits_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let (code, out, _) = run_ui(&["ui", "--listen", &listen, "--open-browser=false", "--json"]);
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap().contains(&listen));
}

#[test]
fn text_startup_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(UI)
        .args(["ui", "--listen", "localhost:0", "--open-browser=false"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut r = BufReader::new(child.stdout.take().unwrap());
    let (mut a, mut b) = (String::new(), String::new());
    r.read_line(&mut a).unwrap();
    r.read_line(&mut b).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let addr = a.trim().strip_prefix("ui listening=").expect(&a);
    assert!(
        addr.starts_with("127.0.0.1:") || addr.starts_with("[::1]:"),
        "{addr}"
    );
    assert_eq!(b.trim(), format!("ui url=http://{addr}"));
}

#[test]
fn health_state_and_the_page() {
    let s = start(None);
    let r = get(s.addr, "/api/health");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "{\"ok\":true,\"service\":\"gait.ui\"}\n");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );

    let r = send(
        s.addr,
        "GET",
        "/api/state",
        &[("Host", &format!("localhost:{}", s.addr.port()))],
        b"",
    );
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with(&format!(
        "{{\"ok\":true,\"workspace\":{}",
        serde_json::to_string(&s.root.to_string_lossy()).unwrap()
    )));
    let v = r.json();
    assert!(v.get("runpack_path").is_none());
    let keys: Vec<&str> = v["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["runpack", "regress_result", "junit"]);
    assert!(r.body.ends_with(",\"gait_config_exists\":false}\n"));

    for p in [
        "/api/runs",
        "/api/packs",
        "/api/jobs",
        "/api/traces?verdict=block",
    ] {
        let r = get(s.addr, p);
        assert_eq!(r.status, 200, "{p}");
        assert_eq!(r.json()["ok"], true, "{p}");
    }

    for p in ["/", "/index.html", "/anything/else"] {
        let r = get(s.addr, p);
        assert_eq!(r.status, 200);
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
        assert!(r
            .header("content-security-policy")
            .unwrap()
            .contains("frame-ancestors 'none'"));
        assert!(r.body.contains("Run demo"));
    }
    let r = get(s.addr, "/app.js");
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
}

#[test]
fn exec_errors_match_the_spec() {
    let s = start(None);
    let r = post(s.addr, r#"{"command":"rm"}"#);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        "{\"ok\":false,\"command\":\"rm\",\"exit_code\":6,\"error\":\"unsupported command \\\"rm\\\"\"}\n"
    );
    let r = get(s.addr, "/api/exec");
    assert_eq!(r.status, 405);
    assert_eq!(r.body, "{\"error\":\"expected POST\",\"ok\":false}\n");
    let r = send(s.addr, "POST", "/api/health", &[], b"{}");
    assert_eq!(r.status, 405);
    assert_eq!(r.body, "{\"error\":\"expected GET\",\"ok\":false}\n");

    let r = post(s.addr, "{not json");
    assert_eq!(r.status, 400);
    assert_eq!(r.body, "{\"error\":\"decode request JSON\",\"ok\":false}\n");
    let r = post(s.addr, r#"{"command":"demo","args":{"x":1}}"#);
    assert_eq!(r.body, "{\"error\":\"decode request JSON\",\"ok\":false}\n");

    let big = format!(r#"{{"command":"demo","pad":"{}"}}"#, "x".repeat(1 << 20));
    let r = post(s.addr, &big);
    assert_eq!(r.status, 400);
    assert_eq!(r.body, "{\"error\":\"read request body\",\"ok\":false}\n");

    let r = post(
        s.addr,
        r#"{"command":"regress_init","args":{"run_id":"a b"}}"#,
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid run_id \"a b\"");
    let r = post(
        s.addr,
        r#"{"command":"policy_block_test","args":{"policy_path":"/etc/passwd"}}"#,
    );
    assert_eq!(r.json()["error"], "unsupported policy_path \"/etc/passwd\"");
    let r = post(
        s.addr,
        r#"{"command":"verify","args":{"path":"/etc/passwd"}}"#,
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "unsupported path \"/etc/passwd\"");

    // A known action without a launcher to run it: spawn failure, 500, exit_code 1.
    let r = post(s.addr, r#"{"command":"demo"}"#);
    assert_eq!(r.status, 500);
    let v = r.json();
    assert_eq!(v["ok"], false);
    assert_eq!(v["command"], "demo");
    assert_eq!(v["exit_code"], 1);
}

/// Request headers, expected status, expected error prefix.
type Case = (Vec<(&'static str, String)>, u16, &'static str);

#[test]
fn foreign_hosts_origins_and_sites_are_refused() {
    let s = start(None);
    let port = s.addr.port();
    let cases: Vec<Case> = vec![
        (
            vec![("Host", "evil.example".into())],
            421,
            "host not allowed",
        ),
        (
            vec![("Host", format!("evil.example:{port}"))],
            421,
            "host not allowed",
        ),
        (
            vec![("Host", format!("127.0.0.1:{}", port.wrapping_add(1)))],
            421,
            "host not allowed",
        ),
        (
            vec![("Origin", "http://localhost:3000".into())],
            403,
            "cross-origin request refused",
        ),
        (
            vec![("Origin", "null".into())],
            403,
            "cross-origin request refused",
        ),
        (
            vec![("Sec-Fetch-Site", "cross-site".into())],
            403,
            "cross-site request refused",
        ),
        (
            vec![("Sec-Fetch-Site", "same-site".into())],
            403,
            "cross-site request refused",
        ),
    ];
    for (headers, status, msg) in cases {
        let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for (method, path) in [("GET", "/api/state"), ("POST", "/api/exec"), ("GET", "/")] {
            let r = send(s.addr, method, path, &hs, br#"{"command":"demo"}"#);
            assert_eq!(r.status, status, "{method} {path} {headers:?}");
            assert!(r.json()["error"].as_str().unwrap().starts_with(msg));
            assert_eq!(r.json()["ok"], false);
        }
    }
    let origin = format!("http://127.0.0.1:{port}");
    let r = send(
        s.addr,
        "GET",
        "/api/health",
        &[("Origin", &origin), ("Sec-Fetch-Site", "same-origin")],
        b"",
    );
    assert_eq!(r.status, 200);
    // No Host at all (HTTP/1.0 style) is refused too.
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.write_all(b"GET /api/health HTTP/1.0\r\n\r\n").unwrap();
    let mut raw = String::new();
    c.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 421 "), "{raw}");
}

#[test]
fn demo_runs_through_the_launcher() {
    let gait = launcher();
    let s = start(Some(&gait));
    let r = post(s.addr, r#"{"command":"DEMO"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["command"], "demo");
    assert_eq!(v["exit_code"], 0);
    let argv: Vec<&str> = v["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(Path::new(argv[0]).is_absolute());
    assert_eq!(&argv[1..], ["demo", "--json"]);
    assert_eq!(v["json"]["run_id"], "run_demo");
    let keys: Vec<&str> = r
        .body
        .trim_start_matches('{')
        .split(",\"")
        .filter_map(|p| p.trim_start_matches('"').split_once("\":").map(|(k, _)| k))
        .take(4)
        .collect();
    assert_eq!(keys, ["ok", "command", "argv", "exit_code"]);
    assert!(s.root.join("gait-out/runpack_run_demo.zip").is_file());

    let st = get(s.addr, "/api/state").json();
    assert_eq!(st["run_id"], "run_demo");
    assert!(st["runpack_path"]
        .as_str()
        .unwrap()
        .ends_with("gait-out/runpack_run_demo.zip"));

    let runs = get(s.addr, "/api/runs").json();
    let run = &runs["runs"][0];
    assert_eq!(run["run_id"], "run_demo");
    assert_eq!(run["verify"], "ok");
    assert_eq!(run["path"], "gait-out/runpack_run_demo.zip");

    let r = post(
        s.addr,
        r#"{"command":"verify","args":{"path":"gait-out/runpack_run_demo.zip"}}"#,
    );
    let v = r.json();
    assert_eq!(v["exit_code"], 0, "{v}");
    assert_eq!(v["argv"][1], "verify");

    // A tampered runpack is listed as failed.
    std::fs::write(s.root.join("gait-out/runpack_bad.zip"), b"not a zip").unwrap();
    let runs = get(s.addr, "/api/runs").json();
    let bad = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "gait-out/runpack_bad.zip")
        .unwrap()
        .clone();
    assert_ne!(bad["verify"], "ok");
}
