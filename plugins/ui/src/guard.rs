//! Who may talk to the server. There is no login: the UI trusts whoever can reach it, so
//! reaching it must mean "a program on this machine, or the page this server served".
//!
//! - **Host** defeats DNS rebinding: a hostile page can make its own name resolve to
//!   127.0.0.1, but the browser still sends that name as `Host`. On a loopback bind only
//!   `localhost:<port>` or the bound IP and port pass. On an opted-in non-loopback bind, names
//!   other than `localhost` are still refused (only IP literals pass), because rebinding needs a
//!   name.
//! - **Origin**, when a browser sends one (every POST and cross-origin fetch), must be exactly
//!   this server's origin as named by `Host`, so another local page (other port, `file://`,
//!   sandboxed `null`) cannot trigger actions.
//! - **Sec-Fetch-Site** `cross-site` or `same-site` is refused. Sites ignore ports, so a page on
//!   `localhost:3000` is "same-site" with us; only `same-origin` and `none` (typed URL) pass.

use crate::listen::split_host_port;
use std::net::{IpAddr, SocketAddr};

/// Why a request was refused; [`Rejection::status`] gives the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Missing or foreign `Host` (421 Misdirected Request).
    Host,
    /// `Origin` is not this server (403).
    Origin,
    /// `Sec-Fetch-Site` says another site sent it (403).
    FetchSite,
}

impl Rejection {
    pub fn status(self) -> u16 {
        match self {
            Rejection::Host => 421,
            Rejection::Origin | Rejection::FetchSite => 403,
        }
    }
    pub fn message(self) -> &'static str {
        match self {
            Rejection::Host => "host not allowed: use the URL gait ui printed",
            Rejection::Origin => "cross-origin request refused",
            Rejection::FetchSite => "cross-site request refused",
        }
    }
}

/// The request headers the guard looks at.
#[derive(Debug, Default, Clone, Copy)]
pub struct Headers<'a> {
    pub host: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub sec_fetch_site: Option<&'a str>,
}

/// Checks a request against the address the server is bound to.
pub fn check(bound: SocketAddr, h: Headers<'_>) -> Result<(), Rejection> {
    let host = h.host.map(str::trim).ok_or(Rejection::Host)?;
    if !host_allowed(bound, host) {
        return Err(Rejection::Host);
    }
    if let Some(origin) = h.origin {
        let expected = format!("http://{host}");
        if !origin.trim().eq_ignore_ascii_case(&expected) {
            return Err(Rejection::Origin);
        }
    }
    if let Some(site) = h.sec_fetch_site {
        let site = site.trim();
        if site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site") {
            return Err(Rejection::FetchSite);
        }
    }
    Ok(())
}

fn host_allowed(bound: SocketAddr, host: &str) -> bool {
    let Some((name, port)) = split_host_port(host) else {
        return false;
    };
    if port != bound.port() {
        return false;
    }
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let Ok(ip) = name.parse::<IpAddr>() else {
        return false;
    };
    if bound.ip().is_loopback() {
        ip == bound.ip()
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b() -> SocketAddr {
        "127.0.0.1:7980".parse().unwrap()
    }
    fn h<'a>(host: &'a str, origin: Option<&'a str>, site: Option<&'a str>) -> Headers<'a> {
        Headers {
            host: Some(host),
            origin,
            sec_fetch_site: site,
        }
    }

    #[test]
    fn host_must_be_the_bound_loopback_address_or_localhost() {
        assert_eq!(check(b(), h("127.0.0.1:7980", None, None)), Ok(()));
        assert_eq!(check(b(), h("localhost:7980", None, None)), Ok(()));
        assert_eq!(check(b(), h("LOCALHOST:7980", None, None)), Ok(()));
        for bad in [
            "evil.example:7980",
            "127.0.0.1:7981",
            "localhost:80",
            "localhost",
            "127.0.0.1",
            "127.0.0.2:7980",
            "[::1]:7980",
            "localhost.:7980",
            "127.0.0.1.nip.io:7980",
            "",
        ] {
            assert_eq!(
                check(b(), h(bad, None, None)),
                Err(Rejection::Host),
                "{bad}"
            );
        }
        assert_eq!(check(b(), Headers::default()), Err(Rejection::Host));
    }

    #[test]
    fn ipv6_loopback_bind() {
        let v6: SocketAddr = "[::1]:9000".parse().unwrap();
        assert_eq!(check(v6, h("[::1]:9000", None, None)), Ok(()));
        assert_eq!(check(v6, h("localhost:9000", None, None)), Ok(()));
        assert_eq!(
            check(v6, h("127.0.0.1:9000", None, None)),
            Err(Rejection::Host)
        );
    }

    #[test]
    fn non_loopback_bind_still_refuses_names() {
        let any: SocketAddr = "0.0.0.0:9000".parse().unwrap();
        assert_eq!(check(any, h("192.168.1.5:9000", None, None)), Ok(()));
        assert_eq!(check(any, h("localhost:9000", None, None)), Ok(()));
        assert_eq!(
            check(any, h("rebind.example:9000", None, None)),
            Err(Rejection::Host)
        );
    }

    #[test]
    fn origin_must_be_this_server() {
        let ok = h("127.0.0.1:7980", Some("http://127.0.0.1:7980"), None);
        assert_eq!(check(b(), ok), Ok(()));
        let ok = h("localhost:7980", Some("http://localhost:7980"), None);
        assert_eq!(check(b(), ok), Ok(()));
        for bad in [
            "http://localhost:3000",
            "http://evil.example",
            "null",
            "https://127.0.0.1:7980",
            "http://127.0.0.1:7980/",
            "http://localhost:7980",
            "",
        ] {
            assert_eq!(
                check(b(), h("127.0.0.1:7980", Some(bad), None)),
                Err(Rejection::Origin),
                "{bad}"
            );
        }
    }

    #[test]
    fn fetch_site_must_not_be_another_site() {
        for ok in ["same-origin", "none"] {
            assert_eq!(check(b(), h("127.0.0.1:7980", None, Some(ok))), Ok(()));
        }
        for bad in ["cross-site", "same-site", "Cross-Site"] {
            assert_eq!(
                check(b(), h("127.0.0.1:7980", None, Some(bad))),
                Err(Rejection::FetchSite)
            );
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(Rejection::Host.status(), 421);
        assert_eq!(Rejection::Origin.status(), 403);
        assert_eq!(Rejection::FetchSite.status(), 403);
    }
}
