//! Just enough HTTP/1.1 for one local user: one request per connection (`Connection: close`),
//! `Content-Length` bodies only, hard caps on header and body size, and deadlines on every
//! read and write so a stalled or slow client cannot hold a worker.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Request line plus headers.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Request bodies (`POST /api/exec`), per the spec.
pub const MAX_BODY_BYTES: u64 = 1 << 20;
/// The whole request head must arrive within this (spec: header timeout 5 s).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// The body must arrive within this; each response write must progress within it too.
pub const READ_WRITE_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("connection closed")]
    Closed,
    #[error("timed out reading the request")]
    Timeout,
    #[error("request header too large")]
    HeaderTooLarge,
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    #[error("request body too large")]
    BodyTooLarge,
    #[error("unsupported transfer encoding")]
    Chunked,
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// A parsed request head; the body is read on demand with [`Request::read_body`].
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    headers: Vec<(String, String)>,
    leftover: Vec<u8>,
}

impl Request {
    /// The value of a header that must appear at most once; `Err` when it is repeated,
    /// because two `Host` or `Origin` values would make the guard's answer ambiguous.
    pub fn single_header(&self, name: &str) -> Result<Option<&str>, HttpError> {
        let mut found = None;
        for (k, v) in &self.headers {
            if k.eq_ignore_ascii_case(name) {
                if found.is_some() {
                    return Err(HttpError::Malformed("repeated header"));
                }
                found = Some(v.as_str());
            }
        }
        Ok(found)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn content_length(&self) -> Result<u64, HttpError> {
        if self.header("transfer-encoding").is_some() {
            return Err(HttpError::Chunked);
        }
        match self.single_header("content-length")? {
            None => Ok(0),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| HttpError::Malformed("content-length")),
        }
    }

    /// Reads the body, at most `max` bytes, within [`READ_WRITE_TIMEOUT`].
    pub fn read_body(&mut self, stream: &mut TcpStream, max: u64) -> Result<Vec<u8>, HttpError> {
        let len = self.content_length()?;
        if len > max {
            return Err(HttpError::BodyTooLarge);
        }
        let len = len as usize;
        let mut body = std::mem::take(&mut self.leftover);
        if body.len() > len {
            body.truncate(len);
        }
        let deadline = Instant::now() + READ_WRITE_TIMEOUT;
        let mut chunk = [0u8; 8192];
        while body.len() < len {
            set_deadline(stream, deadline)?;
            let want = (len - body.len()).min(chunk.len());
            let n = read_some(stream, &mut chunk[..want])?;
            body.extend_from_slice(&chunk[..n]);
        }
        Ok(body)
    }
}

fn set_deadline(stream: &TcpStream, deadline: Instant) -> Result<(), HttpError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(HttpError::Timeout);
    }
    stream.set_read_timeout(Some(left))?;
    Ok(())
}

fn read_some(stream: &mut TcpStream, buf: &mut [u8]) -> Result<usize, HttpError> {
    match stream.read(buf) {
        Ok(0) => Err(HttpError::Closed),
        Ok(n) => Ok(n),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Err(HttpError::Timeout)
        }
        Err(e) => Err(HttpError::Io(e)),
    }
}

/// Reads a request head within [`HEADER_TIMEOUT`] (a deadline for the whole head, not per
/// read, so trickling bytes does not extend it).
pub fn read_request(stream: &mut TcpStream) -> Result<Request, HttpError> {
    let deadline = Instant::now() + HEADER_TIMEOUT;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = find_head_end(&buf) {
            break i;
        }
        if buf.len() > MAX_HEADER_BYTES {
            return Err(HttpError::HeaderTooLarge);
        }
        set_deadline(stream, deadline)?;
        let n = read_some(stream, &mut chunk)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    if end > MAX_HEADER_BYTES {
        return Err(HttpError::HeaderTooLarge);
    }
    let leftover = buf[end + 4..].to_vec();
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| HttpError::Malformed("encoding"))?;
    parse_head(head, leftover)
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

fn parse_head(head: &str, leftover: Vec<u8>) -> Result<Request, HttpError> {
    let mut lines = head.split("\r\n");
    let line = lines.next().ok_or(HttpError::Malformed("request line"))?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::Malformed("request line"));
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Err(HttpError::Malformed("request line"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = Vec::new();
    for l in lines {
        let (k, v) = l.split_once(':').ok_or(HttpError::Malformed("header"))?;
        if k.is_empty() || k.contains(|c: char| c.is_ascii_whitespace()) {
            return Err(HttpError::Malformed("header"));
        }
        headers.push((k.to_string(), v.trim().to_string()));
    }
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        leftover,
    })
}

/// A response to write.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response; the body gets the trailing newline the spec requires.
    pub fn json(status: u16, body: String) -> Self {
        let mut b = body.into_bytes();
        b.push(b'\n');
        Response {
            status,
            content_type: "application/json",
            body: b,
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        421 => "Misdirected Request",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Policy for the embedded page: only its own script, style and API; never framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Writes a response with the security headers every answer carries.
pub fn write_response(stream: &mut TcpStream, resp: &Response, head_only: bool) -> io::Result<()> {
    stream.set_write_timeout(Some(READ_WRITE_TIMEOUT))?;
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\nCross-Origin-Resource-Policy: same-origin\r\nCross-Origin-Opener-Policy: same-origin\r\n",
        resp.status,
        reason(resp.status),
        resp.content_type,
        resp.body.len()
    );
    if resp.status == 405 {
        out.push_str("Allow: GET, POST\r\n");
    }
    if resp.content_type.starts_with("text/html") {
        out.push_str("Content-Security-Policy: ");
        out.push_str(CSP);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if !head_only {
        bytes.extend_from_slice(&resp.body);
    }
    stream.write_all(&bytes)?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_head() {
        let r = parse_head(
            "POST /api/exec?x=1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\nContent-Length: 5",
            b"ab".to_vec(),
        )
        .unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/api/exec");
        assert_eq!(r.query, "x=1");
        assert_eq!(r.single_header("HOST").unwrap(), Some("127.0.0.1:1"));
        assert_eq!(r.content_length().unwrap(), 5);
    }

    #[test]
    fn rejects_bad_heads() {
        for bad in [
            "GET",
            "GET / HTTP/1.1 extra",
            "GET http://x/ HTTP/1.1",
            "GET / SPDY/3",
            "GET / HTTP/1.1\r\nno-colon",
            "GET / HTTP/1.1\r\nbad name: x",
        ] {
            assert!(parse_head(bad, Vec::new()).is_err(), "{bad}");
        }
        let r = parse_head("GET / HTTP/1.1\r\nHost: a:1\r\nhost: b:1", Vec::new()).unwrap();
        assert!(r.single_header("host").is_err());
        let r = parse_head("POST / HTTP/1.1\r\nTransfer-Encoding: chunked", Vec::new()).unwrap();
        assert!(matches!(r.content_length(), Err(HttpError::Chunked)));
    }
}
