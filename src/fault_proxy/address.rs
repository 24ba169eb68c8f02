//! Finding a dependency's address in an environment variable's value and
//! rewriting it to a proxy's, leaving the rest (credentials, database name,
//! options) as it was. Accepted forms:
//!
//! - a URL: `postgres://user:pw@db:5432/app?sslmode=disable`,
//!   `jdbc:postgresql://db/app` (port from the scheme), `redis://cache:6379/0`,
//!   libpq's several hosts `postgresql://h1:5432,h2:5433/app`;
//! - a list of `host:port`, as Kafka's bootstrap servers are given
//!   (`k1:9092,k2:9092`, each may carry `PLAINTEXT://`).
//!
//! Not proxied: a URL without a host (a Unix socket) and a bare host
//! without a port; the error says which.

use std::net::SocketAddr;
use std::ops::Range;

/// One address in a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Bytes of the value that hold `host[:port]` (replaced by a rewrite).
    pub span: Range<usize>,
    /// What to connect to: `host:port` (`[v6]:port`).
    pub upstream: String,
}

/// The port a URL scheme implies when the URL gives none.
fn default_port(scheme: &str) -> Option<u16> {
    let scheme = scheme.strip_prefix("jdbc:").unwrap_or(scheme);
    Some(match scheme {
        "postgres" | "postgresql" => 5432,
        "redis" | "rediss" => 6379,
        "mysql" | "mariadb" => 3306,
        "mongodb" => 27017,
        "amqp" => 5672,
        "nats" => 4222,
        _ => return None,
    })
}

/// Every address in `value`, in order; an error says why it cannot be proxied.
pub fn endpoints(value: &str) -> Result<Vec<Endpoint>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut first_scheme: Option<&str> = None;
    loop {
        let rest = &value[pos..];
        // An optional `scheme://` on each item.
        let (scheme, after) = match rest.find("://") {
            Some(i)
                if rest[..i]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.:".contains(c)) =>
            {
                (Some(&rest[..i]), i + 3)
            }
            _ => (None, 0),
        };
        first_scheme = first_scheme.or(scheme);
        let mut start = pos + after;
        // Credentials, on the first item only: up to the last '@' before the path.
        if out.is_empty() {
            let authority_end = value[start..]
                .find(['/', '?', '#'])
                .map_or(value.len(), |i| start + i);
            if let Some(at) = value[start..authority_end].rfind('@') {
                start += at + 1;
            }
        }
        let (host_end, host) = host_at(value, start)?;
        let mut end = host_end;
        let port = if value[end..].starts_with(':') {
            let digits = value[end + 1..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(value.len(), |i| end + 1 + i);
            let port: u16 = value[end + 1..digits]
                .parse()
                .map_err(|_| format!("`{}` has no valid port", &value[start..digits]))?;
            end = digits;
            port
        } else {
            first_scheme
                .and_then(default_port)
                .ok_or_else(|| format!("`{host}` has no port"))?
        };
        let upstream = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        out.push(Endpoint {
            span: start..end,
            upstream,
        });
        if !value[end..].starts_with(',') {
            return Ok(out);
        }
        pos = end + 1;
    }
}

/// The host starting at `start` (brackets taken off an IPv6 address) and
/// where it ends.
fn host_at(value: &str, start: usize) -> Result<(usize, &str), String> {
    let rest = &value[start..];
    if let Some(v6) = rest.strip_prefix('[') {
        let close = v6
            .find(']')
            .ok_or_else(|| format!("`{rest}` has an unclosed IPv6 address"))?;
        return Ok((start + close + 2, &v6[..close]));
    }
    let len = rest.find([':', ',', '/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..len];
    if host.is_empty() || host.chars().any(char::is_whitespace) {
        return Err("no host to connect to (a Unix socket, or not an address)".into());
    }
    Ok((start + len, host))
}

/// `value` with each endpoint's `host:port` replaced by its proxy's address.
pub fn rewrite(value: &str, replaced: &[(Endpoint, SocketAddr)]) -> String {
    let mut out = String::with_capacity(value.len());
    let mut at = 0;
    for (e, proxy) in replaced {
        out.push_str(&value[at..e.span.start]);
        out.push_str(&proxy.to_string());
        at = e.span.end;
    }
    out.push_str(&value[at..]);
    out
}
