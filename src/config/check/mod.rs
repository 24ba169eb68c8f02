//! Validation of a parsed config: every problem is collected, named by its
//! field path and, when the source text is known, its line.

mod comparison;
mod kubernetes;
mod sections;

use super::load::{ConfigProblem, KeymapRule};
use super::locate::locate;
use super::Config;
use crate::domain::sanitize::strip_all;

impl Config {
    pub(super) fn check(
        &self,
        source: Option<&str>,
        keymap_rule: KeymapRule,
    ) -> Result<(), Vec<ConfigProblem>> {
        let mut v = Checker {
            source,
            problems: Vec::new(),
        };
        self.check_environments(&mut v);
        self.check_service(&mut v);
        self.check_rollout(&mut v);
        self.check_other(&mut v);
        self.check_comparison(&mut v);
        self.check_kubernetes(&mut v);
        for (leaf, why) in self.jenkins.problems() {
            v.push(&[S::K("jenkins"), S::K(leaf)], why);
        }
        for (action, message) in keymap_rule(&self.keymap) {
            v.push(&[S::K("keymap"), S::K(&action)], message);
        }
        if v.problems.is_empty() {
            Ok(())
        } else {
            Err(v.problems)
        }
    }

    fn check_environments(&self, v: &mut Checker) {
        if self.environments.is_empty() {
            v.push(
                &[S::K("environments")],
                "at least one environment is needed".into(),
            );
        }
        let mut ports: Vec<(u16, String)> = Vec::new();
        for (i, env) in self.environments.iter().enumerate() {
            let at = |leaf: &'static str| [S::K("environments"), S::I(i), S::K(leaf)];
            if let Err(why) = dns_label(&env.name) {
                v.push(&at("name"), format!("`{}` {why}", strip_all(&env.name)));
            } else if self.environments[..i].iter().any(|e| e.name == env.name) {
                v.push(
                    &at("name"),
                    format!("environment `{}` is defined twice", env.name),
                );
            }
            if !(1..=20).contains(&env.replicas) {
                v.push(
                    &at("replicas"),
                    format!("{} is outside 1..=20", env.replicas),
                );
            }
            if env.initial_version.trim().is_empty() {
                v.push(&at("initial_version"), "must not be empty".into());
            }
            v.printable(&at("initial_version"), &env.initial_version);
            for (leaf, port) in [
                ("router_port", env.router_port),
                ("metrics_port", env.metrics_port),
            ] {
                if port == 0 {
                    continue;
                }
                let here = format!("environments[{i}].{leaf}");
                match ports.iter().find(|(p, _)| *p == port) {
                    Some((_, other)) => {
                        v.push(&at(leaf), format!("port {port} is also used by {other}"))
                    }
                    None => ports.push((port, here)),
                }
            }
        }
    }
}

/// A field path segment.
#[derive(Clone, Copy, Debug)]
pub(super) enum S<'a> {
    K(&'a str),
    I(usize),
}

fn path_string(path: &[S]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            S::K(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&strip_all(k).replace(unprintable, ""));
            }
            S::I(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

pub(super) struct Checker<'t> {
    source: Option<&'t str>,
    problems: Vec<ConfigProblem>,
}

impl Checker<'_> {
    /// Messages may quote a value as written (a key in `keymap:`), so they
    /// are stripped of controls and escapes like every other hostile text.
    fn push(&mut self, path: &[S], message: String) {
        self.problems.push(ConfigProblem {
            field: path_string(path),
            line: self.source.and_then(|s| locate(s, path)),
            message: strip_all(&message),
        });
    }
    /// Names and versions end up in terminals, logs and labels: refuse
    /// control characters (ESC, BEL, C1, ...) and bidi or line-separator
    /// characters, naming the first one found.
    pub(super) fn printable(&mut self, path: &[S], value: &str) {
        if let Some(c) = value.chars().find(|&c| unprintable(c)) {
            self.push(
                path,
                format!(
                    "must not contain control characters (found U+{:04X})",
                    c as u32
                ),
            );
        }
    }
    fn fraction(&mut self, path: &[S], x: f64) {
        if !(0.0..=1.0).contains(&x) {
            self.push(path, format!("{x} is outside 0..=1"));
        }
    }
    fn positive(&mut self, path: &[S], x: f64) {
        if !(x.is_finite() && x > 0.0) {
            self.push(path, format!("{x} must be a number > 0"));
        }
    }
}

/// Lowercase DNS label: 1-63 of `a-z`, `0-9`, `-`, not starting or ending with `-`.
pub(super) fn dns_label(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("is empty");
    }
    if name.len() > 63 {
        return Err("is longer than 63 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("may only hold lowercase letters, digits and `-`");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("must not start or end with `-`");
    }
    Ok(())
}

/// A plain `http://` or `https://` URL with a host.
pub(super) fn http_url(url: &str) -> Result<(), &'static str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("must start with http:// or https://")?;
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    host_and_port(authority.rsplit('@').next().unwrap_or("")).map(|_| ())
}

/// A plain `host:port` address (`127.0.0.1:8080`, `shop.local:80`,
/// `[::1]:8080`): the host and port rule of [`http_url`], the port required.
pub(super) fn host_port(addr: &str) -> Result<(), &'static str> {
    if addr.contains("://") {
        return Err("is a URL: give `host:port`, without the scheme");
    }
    if addr.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters");
    }
    if addr.contains(['/', '?', '#', '@']) {
        return Err("must be `host:port`, without a path or user");
    }
    match host_and_port(addr)? {
        (_, None) => Err("has no port (`host:port`)"),
        (host, _) if host.contains(':') && !host.starts_with('[') => {
            Err("has an IPv6 host without brackets (`[::1]:8080`)")
        }
        _ => Ok(()),
    }
}

/// The host and the port, if any, of `host[:port]`; `[::1]:11434` keeps
/// its brackets in the host. The host must not be empty, the port 1-65535.
fn host_and_port(host_port: &str) -> Result<(&str, Option<u16>), &'static str> {
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (host_port, None),
    };
    if host.is_empty() {
        return Err("has no host");
    }
    let port = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p != 0 => Some(p),
            _ => return Err("has an invalid port (1-65535)"),
        },
        None => None,
    };
    Ok((host, port))
}

/// A character that can move the cursor, change the terminal or reorder text.
fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}
