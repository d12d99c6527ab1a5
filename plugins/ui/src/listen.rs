//! `--listen host:port`: parsing and the loopback rule.

use crate::error::UiError;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// Default address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7980";

const LISTEN_HINT: &str = "use --listen host:port, for example --listen 127.0.0.1:7980";
const LOOPBACK_HINT: &str =
    "listen on 127.0.0.1 or localhost; pass --allow-non-loopback only on a trusted network";

/// Splits `host:port` (IPv6 in brackets) into its host, without brackets, and port.
pub fn split_host_port(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (h, p) = rest.split_once(']')?;
        (h, p.strip_prefix(':')?)
    } else {
        let (h, p) = addr.rsplit_once(':')?;
        if h.contains(':') {
            return None;
        }
        (h, p)
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((host, port.parse().ok()?))
}

/// Whether a host names this machine only: `localhost` in any case, or a loopback IP.
pub fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Validates `--listen` and resolves it to the addresses to try binding, in order.
pub fn resolve(listen: &str, allow_non_loopback: bool) -> Result<Vec<SocketAddr>, UiError> {
    let listen = listen.trim();
    let Some((host, port)) = split_host_port(listen) else {
        return Err(UiError::invalid(
            format!("invalid --listen address: {listen}"),
            LISTEN_HINT,
        ));
    };
    if !is_loopback_host(host) && !allow_non_loopback {
        return Err(UiError::invalid(
            "non-loopback --listen requires --allow-non-loopback",
            LOOPBACK_HINT,
        ));
    }
    if host.is_empty() {
        return Ok(vec![SocketAddr::from(([0, 0, 0, 0], port))]);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if host.eq_ignore_ascii_case("localhost") {
        // Resolving `localhost` through the system could, on a hostile resolver, yield a
        // routable address; the name is defined to mean loopback, so bind loopback directly.
        return Ok(vec![
            SocketAddr::from(([127, 0, 0, 1], port)),
            SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], port)),
        ]);
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| {
            UiError::invalid(
                format!("invalid --listen address: {listen}: {e}"),
                LISTEN_HINT,
            )
        })?
        .collect();
    if addrs.is_empty() {
        return Err(UiError::invalid(
            format!("invalid --listen address: {listen}"),
            LISTEN_HINT,
        ));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(split_host_port("127.0.0.1:0"), Some(("127.0.0.1", 0)));
        assert_eq!(split_host_port("[::1]:80"), Some(("::1", 80)));
        assert_eq!(split_host_port(":80"), Some(("", 80)));
        assert_eq!(split_host_port("bad"), None);
        assert_eq!(split_host_port("::1:80"), None);
        assert_eq!(split_host_port("h:99999"), None);
        assert_eq!(split_host_port("h:-1"), None);
    }

    #[test]
    fn loopback_rule() {
        assert!(resolve("127.0.0.1:0", false).is_ok());
        assert!(resolve("LocalHost:0", false).is_ok());
        assert!(resolve("[::1]:0", false).is_ok());
        assert!(resolve("127.8.9.10:0", false).is_ok());
        for bad in ["0.0.0.0:7980", ":7980", "10.0.0.1:1", "example.com:80"] {
            let e = resolve(bad, false).unwrap_err().to_string();
            assert_eq!(e, "non-loopback --listen requires --allow-non-loopback");
        }
        assert!(resolve("0.0.0.0:0", true).is_ok());
        let e = resolve("bad", false).unwrap_err().to_string();
        assert_eq!(e, "invalid --listen address: bad");
    }
}
