//! Parsing `--url`: plain `http://host[:port][/path]` only.

use super::flags::parse_endpoint;
use super::PerfError;
use crate::domain::sanitize::sanitize_str;

/// A parsed `http://host[:port][/path]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedUrl {
    /// `host:port` as given (the `Host` header).
    pub authority: String,
    pub host: String,
    pub port: u16,
    /// The path, `/` when there was none.
    pub path: String,
}

pub fn parse_url(url: &str) -> Result<ParsedUrl, PerfError> {
    let shown = sanitize_str(url);
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(PerfError::Usage(if url.starts_with("https://") {
            format!("`{shown}`: https is not supported; use a plain http:// URL")
        } else {
            format!("`{shown}` is not an http:// URL")
        }));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(PerfError::Usage(format!(
            "`{shown}` needs a host (and no user info)"
        )));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((h, after)) = v6.split_once(']') else {
            return Err(PerfError::Usage(format!("`{shown}`: unclosed `[`")));
        };
        match after.strip_prefix(':') {
            Some(p) => (h.to_string(), port_of(p, &shown)?),
            None if after.is_empty() => (h.to_string(), 80),
            None => return Err(PerfError::Usage(format!("`{shown}`: bad host"))),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), port_of(p, &shown)?),
            None => (authority.to_string(), 80),
        }
    };
    if host.is_empty() {
        return Err(PerfError::Usage(format!("`{shown}` needs a host")));
    }
    parse_endpoint(&path).map_err(|e| PerfError::Usage(format!("`{shown}`: {e}")))?;
    Ok(ParsedUrl {
        authority: authority.to_string(),
        host,
        port,
        path,
    })
}

fn port_of(p: &str, shown: &str) -> Result<u16, PerfError> {
    p.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| PerfError::Usage(format!("`{shown}`: bad port `{}`", sanitize_str(p))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 8080, "/")
        );
        let u = parse_url("http://localhost/api/x?y=1").unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/api/x?y=1"));
        assert_eq!(u.authority, "localhost");
        let u = parse_url("http://[::1]:9000/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9000));
        assert!(matches!(
            parse_url("https://x"),
            Err(PerfError::Usage(m)) if m.contains("https")
        ));
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("http://").is_err());
        assert!(parse_url("http://h:0").is_err());
        assert!(parse_url("http://u@h:1").is_err());
    }
}
