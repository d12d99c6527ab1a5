//! Binding, the accept loop, and routing. One thread per connection (capped), one request per
//! connection; actions run one at a time so two clicks cannot race on the same files.

use crate::actions::{self, Refused, ACTION_TIMEOUT};
use crate::error::UiError;
use crate::guard::{self, Headers};
use crate::http::{self, HttpError, Request, Response, MAX_BODY_BYTES};
use crate::json::{error_body, Obj};
use crate::workspace::Workspace;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
const FAVICON: &str = include_str!("assets/favicon.svg");

/// Connections served at once; more are answered 503 and closed.
const MAX_CONNECTIONS: usize = 64;

/// A bound server.
pub struct Server {
    listener: TcpListener,
    bound: SocketAddr,
    state: Arc<Shared>,
}

struct Shared {
    bound: SocketAddr,
    ws: Workspace,
    exec: Mutex<()>,
    active: AtomicUsize,
}

impl Server {
    /// Binds the first address that works.
    pub fn bind(addrs: &[SocketAddr], ws: Workspace) -> Result<Server, UiError> {
        let mut last = None;
        for a in addrs {
            match TcpListener::bind(a) {
                Ok(listener) => {
                    let bound = listener
                        .local_addr()
                        .map_err(|e| UiError::Serve(format!("listen: {e}")))?;
                    let state = Arc::new(Shared {
                        bound,
                        ws,
                        exec: Mutex::new(()),
                        active: AtomicUsize::new(0),
                    });
                    return Ok(Server {
                        listener,
                        bound,
                        state,
                    });
                }
                Err(e) => last = Some(format!("listen tcp {a}: {e}")),
            }
        }
        Err(UiError::Serve(
            last.unwrap_or_else(|| "listen: no address".into()),
        ))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.bound
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.bound)
    }

    /// Serves until the process is killed; returns only if accepting fails for good.
    pub fn serve(self) -> Result<(), UiError> {
        let mut failures = 0u32;
        for conn in self.listener.incoming() {
            let stream = match conn {
                Ok(s) => {
                    failures = 0;
                    s
                }
                Err(e) => {
                    // Running out of descriptors is transient; a listener that keeps failing is not.
                    failures += 1;
                    if failures > 100 {
                        return Err(UiError::Serve(format!("accept: {e}")));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            let st = self.state.clone();
            if st.active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                st.active.fetch_sub(1, Ordering::SeqCst);
                let mut s = stream;
                let _ = http::write_response(
                    &mut s,
                    &Response::json(503, error_body("too many connections")),
                    false,
                );
                continue;
            }
            let spawned = std::thread::Builder::new().spawn(move || {
                connection(&st, stream);
                st.active.fetch_sub(1, Ordering::SeqCst);
            });
            if spawned.is_err() {
                self.state.active.fetch_sub(1, Ordering::SeqCst);
            }
        }
        Ok(())
    }
}

fn connection(st: &Shared, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (resp, head_only) = match http::read_request(&mut stream) {
        Ok(mut req) => {
            let head = req.method == "HEAD";
            (route(st, &mut req, &mut stream), head)
        }
        Err(HttpError::Closed) | Err(HttpError::Timeout) | Err(HttpError::Io(_)) => return,
        Err(HttpError::HeaderTooLarge) => (
            Response::json(431, error_body("request header too large")),
            false,
        ),
        Err(e) => (Response::json(400, error_body(&e.to_string())), false),
    };
    let _ = http::write_response(&mut stream, &resp, head_only);
    linger_close(stream);
}

/// Closes after the client has read the reply: closing with unread request bytes would
/// send a reset that can destroy the reply in flight (for example after refusing a large body).
fn linger_close(mut stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 16384];
    let mut left: usize = 2 * MAX_BODY_BYTES as usize;
    while left > 0 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

fn route(st: &Shared, req: &mut Request, stream: &mut TcpStream) -> Response {
    let headers = (|| -> Result<Headers<'_>, HttpError> {
        Ok(Headers {
            host: req.single_header("host")?,
            origin: req.single_header("origin")?,
            sec_fetch_site: req.single_header("sec-fetch-site")?,
        })
    })();
    let headers = match headers {
        Ok(h) => h,
        Err(e) => return Response::json(400, error_body(&e.to_string())),
    };
    if let Err(r) = guard::check(st.bound, headers) {
        return Response::json(r.status(), error_body(r.message()));
    }
    let get = matches!(req.method.as_str(), "GET" | "HEAD");
    let expect_get = || Response::json(405, error_body("expected GET"));
    let path = req.path.clone();
    match path.as_str() {
        "/api/health" if get => Response::json(
            200,
            Obj::new()
                .push("ok", true)
                .push("service", "gait.ui")
                .render(),
        ),
        "/api/state" if get => Response::json(200, st.ws.state().render()),
        "/api/runs" if get => Response::json(200, st.ws.runs().render()),
        "/api/packs" if get => Response::json(200, st.ws.packs().render()),
        "/api/jobs" if get => Response::json(200, st.ws.jobs().render()),
        "/api/traces" if get => {
            let verdict = query_param(&req.query, "verdict");
            Response::json(200, st.ws.traces(verdict.as_deref()).render())
        }
        "/api/health" | "/api/state" | "/api/runs" | "/api/packs" | "/api/jobs" | "/api/traces" => {
            expect_get()
        }
        "/api/exec" if req.method == "POST" => exec(st, req, stream),
        "/api/exec" => Response::json(405, error_body("expected POST")),
        _ if !get => expect_get(),
        "/app.js" => asset("text/javascript; charset=utf-8", APP_JS),
        "/app.css" => asset("text/css; charset=utf-8", APP_CSS),
        "/favicon.svg" | "/favicon.ico" => asset("image/svg+xml", FAVICON),
        _ => asset("text/html; charset=utf-8", INDEX_HTML),
    }
}

fn asset(content_type: &'static str, body: &str) -> Response {
    Response {
        status: 200,
        content_type,
        body: body.as_bytes().to_vec(),
    }
}

/// One `key=value` from a query string; values here are plain words, so only `+` and `%XX`
/// need decoding.
fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(serde::Deserialize)]
struct ExecBody {
    #[serde(default)]
    command: String,
    #[serde(default)]
    args: Option<BTreeMap<String, String>>,
}

fn refused(r: Refused) -> Response {
    Response::json(
        400,
        Obj::new()
            .push("ok", false)
            .push("command", r.command)
            .push("exit_code", 6)
            .push("error", r.error)
            .render(),
    )
}

fn exec(st: &Shared, req: &mut Request, stream: &mut TcpStream) -> Response {
    let body = match req.read_body(stream, MAX_BODY_BYTES) {
        Ok(b) => b,
        Err(_) => return Response::json(400, error_body("read request body")),
    };
    // Like a streaming decoder: the first JSON value counts, trailing bytes are ignored.
    let decoded = serde_json::Deserializer::from_slice(&body)
        .into_iter::<ExecBody>()
        .next();
    let parsed = match decoded {
        Some(Ok(b)) => b,
        _ => return Response::json(400, error_body("decode request JSON")),
    };
    let args = parsed.args.unwrap_or_default();
    let plan = match actions::plan(&parsed.command, &args, &|p| st.ws.listed(p)) {
        Ok(p) => p,
        Err(r) => return refused(r),
    };
    let Some(gait) = st.ws.launcher.clone() else {
        return Response::json(
            500,
            Obj::new()
                .push("ok", false)
                .push("command", plan.command)
                .push("exit_code", 1)
                .push(
                    "error",
                    "gait launcher not found: set GAIT_LAUNCHER or install gait beside gait-ui",
                )
                .render(),
        );
    };
    let mut argv = vec![Value::String(gait.to_string_lossy().into_owned())];
    argv.extend(plan.args.iter().cloned().map(Value::String));
    let _one_at_a_time = st.exec.lock().unwrap_or_else(|p| p.into_inner());
    let finished = actions::run(&gait, &plan.args, &st.ws.root, ACTION_TIMEOUT);
    st.ws.forget();
    let f = match finished {
        Ok(f) => f,
        Err(e) => {
            return Response::json(
                500,
                Obj::new()
                    .push("ok", false)
                    .push("command", plan.command)
                    .push("argv", argv)
                    .push("exit_code", 1)
                    .push("error", format!("start {}: {e}", gait.display()))
                    .render(),
            )
        }
    };
    let exit_code = f.code.unwrap_or(1);
    let stdout = String::from_utf8_lossy(&f.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&f.stderr).into_owned();
    let parsed_json: Option<Value> = if stdout.trim_start().starts_with('{') {
        serde_json::from_str(stdout.trim()).ok()
    } else {
        None
    };
    let error = if f.timed_out {
        Some(format!(
            "command timeout after {}s",
            ACTION_TIMEOUT.as_secs()
        ))
    } else if f.code.is_none() {
        Some("command terminated by a signal".to_string())
    } else if exit_code != 0 {
        Some(format!("exit status {exit_code}"))
    } else {
        None
    };
    let ms = f.duration.as_millis() as u64;
    let ok = error.is_none();
    Response::json(
        200,
        Obj::new()
            .push("ok", ok)
            .push("command", plan.command)
            .push("argv", argv)
            .push("exit_code", exit_code)
            .push_opt("duration_ms", (ms > 0).then_some(ms))
            .push_opt("stdout", (!stdout.is_empty()).then_some(stdout))
            .push_opt("stderr", (!stderr.is_empty()).then_some(stderr))
            .push_opt("json", parsed_json)
            .push_opt("error", error)
            .render(),
    )
}

/// Asks the desktop to open `url`; failures are ignored (the URL was printed anyway).
pub fn open_browser(url: &str) {
    let (prog, args): (&str, Vec<&str>) = if cfg!(target_os = "macos") {
        ("open", vec![url])
    } else if cfg!(windows) {
        ("rundll32", vec!["url.dll,FileProtocolHandler", url])
    } else {
        ("xdg-open", vec![url])
    };
    let spawned = std::process::Command::new(prog)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Ok(mut child) = spawned {
        // Reap it in the background so it does not linger as a zombie.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params() {
        assert_eq!(
            query_param("verdict=block&x=1", "verdict").as_deref(),
            Some("block")
        );
        assert_eq!(
            query_param("verdict=require%5Fapproval", "verdict").as_deref(),
            Some("require_approval")
        );
        assert_eq!(query_param("a=1", "verdict"), None);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
