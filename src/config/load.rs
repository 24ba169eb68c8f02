//! Reading `blissful-infra.yaml`: parsing with file/line/column/field-path
//! errors, discovery up the directory tree, and validation.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

use super::{Config, KeyBinding, FILE_NAME};
use crate::app::keymap::{Keymap, KeymapError};
use crate::domain::rollout::PlanError;
use crate::domain::sanitize::strip_all;

/// A config file larger than this is refused before parsing.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// One validation problem, located when the source text is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Field path, e.g. `environments[1].name` or `rollout.steps[2].weight`.
    pub field: String,
    /// 1-based line in the source file, when it could be found.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The YAML could not be parsed into a `Config`; `message` starts with the
    /// field path when it is known.
    #[error("{}", fmt_parse(file, *line, *column, message))]
    Parse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}", fmt_problems(file, problems))]
    Invalid {
        file: String,
        problems: Vec<ConfigProblem>,
    },
}

fn fmt_parse(file: &str, line: usize, column: usize, message: &str) -> String {
    if line == 0 {
        format!("{file}: {message}")
    } else {
        format!("{file}:{line}:{column}: {message}")
    }
}

fn fmt_problems(file: &str, problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(|p| match p.line {
            Some(line) => format!("{file}:{line}: {p}"),
            None => format!("{file}: {p}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Config {
    /// Read, parse and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let io_err = |source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        };
        let len = std::fs::metadata(path).map_err(io_err)?.len();
        if len > MAX_FILE_BYTES {
            return Err(io_err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("file is {len} bytes, more than the {MAX_FILE_BYTES} allowed"),
            )));
        }
        let text = std::fs::read_to_string(path).map_err(io_err)?;
        Config::from_yaml_str(&text, &path.display().to_string())
    }

    /// Parse and validate YAML text; `origin` names it in errors (a file name).
    /// An empty document gives the defaults.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        // Only comments and document markers: the defaults (the parser
        // refuses a bare `---` for a struct).
        if src_lines(text).is_empty() {
            return Ok(Config::default());
        }
        let mut options = serde_saphyr::Options::default();
        // YAML 1.2 booleans: `y`, `n`, `on`, `off` stay strings (they are keys).
        options.strict_booleans = true;
        options.with_snippet = false;
        let mut field: Option<String> = None;
        let parsed: Result<Config, serde_saphyr::Error> =
            serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
                serde_path_to_error::deserialize(de).map_err(|e| {
                    field = Some(e.path().to_string());
                    e.into_inner()
                })
            });
        let config = parsed.map_err(|e| parse_error(&e, field.as_deref(), text, origin))?;
        config
            .check(Some(text))
            .map_err(|problems| ConfigError::Invalid {
                file: origin.to_string(),
                problems,
            })?;
        Ok(config)
    }

    /// Look for `blissful-infra.yaml` in `start_dir` and its parents; the first
    /// one found is loaded.
    pub fn discover(start_dir: &Path) -> Result<Option<(PathBuf, Config)>, ConfigError> {
        let start = std::path::absolute(start_dir).map_err(|source| ConfigError::Io {
            path: start_dir.to_path_buf(),
            source,
        })?;
        for dir in start.ancestors() {
            let candidate = dir.join(FILE_NAME);
            match std::fs::metadata(&candidate) {
                Ok(m) if m.is_file() => {
                    let config = Config::load(&candidate)?;
                    return Ok(Some((candidate, config)));
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(ConfigError::Io {
                        path: candidate,
                        source,
                    })
                }
            }
        }
        Ok(None)
    }

    /// Check every rule; all problems are reported (without lines: use
    /// `from_yaml_str` to get them located in the source).
    pub fn validate(&self) -> Result<(), Vec<ConfigProblem>> {
        self.check(None)
    }

    fn check(&self, source: Option<&str>) -> Result<(), Vec<ConfigProblem>> {
        let mut v = Checker {
            source,
            problems: Vec::new(),
        };
        self.check_environments(&mut v);
        self.check_service(&mut v);
        self.check_rollout(&mut v);
        self.check_other(&mut v);
        if let Err(errors) = Keymap::build(&self.keymap) {
            for e in errors {
                let action = match &e {
                    KeymapError::UnknownAction(id) => id.clone(),
                    KeymapError::BadKey { action, .. } => action.clone(),
                    // Point at whichever side was overridden (the later one if both).
                    KeymapError::Clash { first, second, .. } => {
                        if self.keymap.contains_key(second) || !self.keymap.contains_key(first) {
                            second.clone()
                        } else {
                            first.clone()
                        }
                    }
                };
                let msg = match &e {
                    KeymapError::UnknownAction(_) => format!(
                        "unknown action (known: {})",
                        crate::app::actions::ACTIONS
                            .iter()
                            .map(|s| s.id)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    other => other.to_string().trim_start_matches("keymap: ").to_string(),
                };
                v.push(&[S::K("keymap"), S::K(&action)], msg);
            }
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

    fn check_service(&self, v: &mut Checker) {
        for (name, b) in &self.service.versions {
            let at = [
                S::K("service"),
                S::K("versions"),
                S::K(name),
                S::K("error_rate"),
            ];
            v.fraction(&at, b.error_rate);
            if !(b.memory_growth_mib_per_min.is_finite() && b.memory_growth_mib_per_min >= 0.0) {
                let at = [
                    S::K("service"),
                    S::K("versions"),
                    S::K(name),
                    S::K("memory_growth_mib_per_min"),
                ];
                v.push(
                    &at,
                    format!("{} must be a number >= 0", b.memory_growth_mib_per_min),
                );
            }
        }
        if !self.service.ready_path.starts_with('/') {
            v.push(
                &[S::K("service"), S::K("ready_path")],
                "must start with `/`".into(),
            );
        }
        let rate = self.traffic.rate_per_sec;
        if !(0.0..=10_000.0).contains(&rate) {
            v.push(
                &[S::K("traffic"), S::K("rate_per_sec")],
                format!("{rate} is outside 0..=10000"),
            );
        }
        for (i, p) in self.traffic.paths.iter().enumerate() {
            if !p.starts_with('/') {
                v.push(
                    &[S::K("traffic"), S::K("paths"), S::I(i)],
                    "must start with `/`".into(),
                );
            }
        }
    }

    fn check_rollout(&self, v: &mut Checker) {
        let plan = &self.rollout.steps;
        if let Err(e) = plan.validate() {
            let path: Vec<S> = match &e {
                PlanError::Empty => vec![S::K("rollout"), S::K("steps")],
                PlanError::WeightTooHigh { index, .. } | PlanError::NotIncreasing { index, .. } => {
                    vec![S::K("rollout"), S::K("steps"), S::I(*index), S::K("weight")]
                }
                PlanError::LastNotFull(_) => vec![
                    S::K("rollout"),
                    S::K("steps"),
                    S::I(plan.len().saturating_sub(1)),
                    S::K("weight"),
                ],
            };
            v.push(&path, e.to_string());
        }
        for (i, s) in plan.steps.iter().enumerate() {
            if s.pause_secs > 3600 {
                v.push(
                    &[S::K("rollout"), S::K("steps"), S::I(i), S::K("pause_secs")],
                    format!("{} is more than 3600", s.pause_secs),
                );
            }
        }
        let t = &self.rollout.analysis;
        let at = |leaf| [S::K("rollout"), S::K("analysis"), S::K(leaf)];
        v.fraction(&at("max_error_rate"), t.max_error_rate);
        v.fraction(&at("min_success_rate"), t.min_success_rate);
        v.fraction(&at("max_server_error_rate"), t.max_server_error_rate);
        v.positive(&at("max_cpu_pct"), t.max_cpu_pct);
        v.positive(&at("max_memory_pct"), t.max_memory_pct);
        if t.saturation_secs == 0 || t.saturation_secs > 86_400 {
            v.push(
                &at("saturation_secs"),
                format!("{} must be 1..=86400", t.saturation_secs),
            );
        }
        v.positive(&at("max_p95_ms"), t.max_p95_ms);
        v.positive(&at("max_p99_ms"), t.max_p99_ms);
        v.positive(&at("max_latency_ratio"), t.max_latency_ratio);
        if !(t.latency_slack_ms.is_finite() && t.latency_slack_ms >= 0.0) {
            v.push(
                &at("latency_slack_ms"),
                format!("{} must be a number >= 0", t.latency_slack_ms),
            );
        }
        if self.rollout.post_promotion_window_secs > 3600 {
            v.push(
                &[S::K("rollout"), S::K("post_promotion_window_secs")],
                format!(
                    "{} is more than an hour",
                    self.rollout.post_promotion_window_secs
                ),
            );
        }
        if self.rollout.max_extensions > 100 {
            v.push(
                &[S::K("rollout"), S::K("max_extensions")],
                format!("{} is more than 100", self.rollout.max_extensions),
            );
        }
        if self.rollout.analysis_source == super::AnalysisSource::Prometheus
            && self.prometheus.url.trim().is_empty()
        {
            v.push(
                &[S::K("rollout"), S::K("analysis_source")],
                "`prometheus` needs `prometheus.url` to be set".to_string(),
            );
        }
    }

    fn check_other(&self, v: &mut Checker) {
        v.fraction(
            &[S::K("chaos"), S::K("slo"), S::K("max_error_rate")],
            self.chaos.slo.max_error_rate,
        );
        v.positive(
            &[S::K("chaos"), S::K("slo"), S::K("max_p99_ms")],
            self.chaos.slo.max_p99_ms,
        );
        v.fraction(
            &[S::K("chaos"), S::K("defaults"), S::K("rate")],
            self.chaos.defaults.rate,
        );
        if self.chaos.defaults.duration_secs == 0 || self.chaos.defaults.duration_secs > 3600 {
            v.push(
                &[S::K("chaos"), S::K("defaults"), S::K("duration_secs")],
                format!("{} is outside 1..=3600", self.chaos.defaults.duration_secs),
            );
        }
        let c = &self.comparison;
        v.fraction(
            &[S::K("comparison"), S::K("max_error_rate")],
            c.max_error_rate,
        );
        v.fraction(
            &[S::K("comparison"), S::K("min_throughput_ratio")],
            c.min_throughput_ratio,
        );
        for (leaf, x) in [
            ("max_p95_regression_pct", c.max_p95_regression_pct),
            ("max_p99_regression_pct", c.max_p99_regression_pct),
        ] {
            if !(x.is_finite() && x >= 0.0) {
                v.push(
                    &[S::K("comparison"), S::K(leaf)],
                    format!("{x} must be a number >= 0"),
                );
            }
        }
        v.positive(&[S::K("perf"), S::K("p95_ms")], self.perf.p95_ms);
        v.fraction(
            &[S::K("perf"), S::K("max_error_rate")],
            self.perf.max_error_rate,
        );
        let a = &self.agent;
        if !(0.0..=2.0).contains(&a.temperature) {
            v.push(
                &[S::K("agent"), S::K("temperature")],
                format!("{} is outside 0..=2", a.temperature),
            );
        }
        if let Err(why) = http_url(&a.endpoint) {
            v.push(
                &[S::K("agent"), S::K("endpoint")],
                format!("`{}` {why}", strip_all(&a.endpoint)),
            );
        }
        let con = &self.console;
        if !(1_000..=5_000_000).contains(&con.log_buffer_lines) {
            v.push(
                &[S::K("console"), S::K("log_buffer_lines")],
                format!("{} is outside 1000..=5000000", con.log_buffer_lines),
            );
        }
        if !(1..=120).contains(&con.max_fps) {
            v.push(
                &[S::K("console"), S::K("max_fps")],
                format!("{} is outside 1..=120", con.max_fps),
            );
        }
        if !(1..=con.max_fps.max(1)).contains(&con.idle_fps) {
            v.push(
                &[S::K("console"), S::K("idle_fps")],
                format!("{} is outside 1..=max_fps ({})", con.idle_fps, con.max_fps),
            );
        }
        if !(2..=100_000).contains(&con.metric_points) {
            v.push(
                &[S::K("console"), S::K("metric_points")],
                format!("{} is outside 2..=100000", con.metric_points),
            );
        }
        let prom = &self.prometheus;
        if !prom.url.is_empty() {
            if let Err(why) = http_url(&prom.url) {
                v.push(
                    &[S::K("prometheus"), S::K("url")],
                    format!("`{}` {why}", strip_all(&prom.url)),
                );
            }
        }
        for (leaf, x) in [
            ("timeout_ms", prom.timeout_ms),
            ("step_secs", prom.step_secs),
            ("window_secs", prom.window_secs),
        ] {
            if x == 0 {
                v.push(&[S::K("prometheus"), S::K(leaf)], "must be > 0".into());
            }
        }
        let loki = &self.loki;
        if !loki.url.is_empty() {
            if let Err(why) = http_url(&loki.url) {
                v.push(
                    &[S::K("loki"), S::K("url")],
                    format!("`{}` {why}", strip_all(&loki.url)),
                );
            }
        }
        for (leaf, x) in [
            ("timeout_ms", loki.timeout_ms),
            ("page_limit", loki.page_limit as u64),
        ] {
            if x == 0 {
                v.push(&[S::K("loki"), S::K(leaf)], "must be > 0".into());
            }
        }
        let l = &loki.labels;
        for (leaf, name) in [
            ("env", &l.env),
            ("version", &l.version),
            ("instance", &l.instance),
            ("level", &l.level),
        ] {
            let mut chars = name.chars();
            let ok = chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                v.push(
                    &[S::K("loki"), S::K("labels"), S::K(leaf)],
                    format!("`{}` is not a label name", strip_all(name)),
                );
            }
        }
        if self.project.trim().is_empty() {
            v.push(&[S::K("project")], "must not be empty".into());
        }
        if self.theme.trim().is_empty() {
            v.push(&[S::K("theme")], "must not be empty".into());
        }
    }
}

/// A field path segment.
#[derive(Clone, Copy, Debug)]
enum S<'a> {
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
                out.push_str(&strip_all(k));
            }
            S::I(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

struct Checker<'t> {
    source: Option<&'t str>,
    problems: Vec<ConfigProblem>,
}

impl Checker<'_> {
    fn push(&mut self, path: &[S], message: String) {
        self.problems.push(ConfigProblem {
            field: path_string(path),
            line: self.source.and_then(|s| locate(s, path)),
            message,
        });
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
fn dns_label(name: &str) -> Result<(), &'static str> {
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
fn http_url(url: &str) -> Result<(), &'static str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("must start with http:// or https://")?;
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let (host, port) = match host_port.rsplit_once(':') {
        // `[::1]:11434` keeps its brackets in `host`.
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (host_port, None),
    };
    if host.is_empty() {
        return Err("has no host");
    }
    if let Some(p) = port {
        if p.parse::<u16>().map_or(true, |p| p == 0) {
            return Err("has an invalid port");
        }
    }
    Ok(())
}

fn parse_error(
    e: &serde_saphyr::Error,
    field: Option<&str>,
    text: &str,
    origin: &str,
) -> ConfigError {
    use serde_saphyr::MessageFormatter;
    let (line, column) = e
        .location()
        .map(|l| (l.line() as usize, l.column() as usize))
        .unwrap_or((0, 0));
    let raw = serde_saphyr::DefaultMessageFormatter
        .format_message(e.without_snippet())
        .into_owned();
    let mut message = strip_all(&raw);
    // Scalar type errors ("invalid u32") do not say what was found.
    if message.starts_with("invalid ") && line > 0 {
        if let Some(found) = scalar_at(text, line, column) {
            message = format!("{message}, found `{}`", strip_all(found));
        }
    }
    let message = match field.filter(|f| !f.is_empty() && *f != "?" && *f != ".") {
        Some(f) => format!("{}: {message}", strip_all(f)),
        None => message,
    };
    ConfigError::Parse {
        file: origin.to_string(),
        line,
        column,
        message,
    }
}

/// The plain scalar starting at 1-based `line`/`column`, for error messages.
fn scalar_at(text: &str, line: usize, column: usize) -> Option<&str> {
    let l = text.lines().nth(line.checked_sub(1)?)?;
    let start = l.char_indices().nth(column.checked_sub(1)?)?.0;
    let rest = &l[start..];
    let end = rest.find([',', '}', ']', '#']).unwrap_or(rest.len());
    let s = rest[..end].trim();
    (!s.is_empty() && s.len() <= 80).then_some(s)
}

/// One meaningful source line: indentation, text, and whether it is a
/// sequence-item marker (`- `) split off its content.
struct SrcLine<'a> {
    line: usize,
    indent: usize,
    text: &'a str,
    marker: bool,
}

fn src_lines(text: &str) -> Vec<SrcLine<'_>> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start_matches(' ');
        let mut indent = raw.len() - trimmed.len();
        let mut t = trimmed.trim_end();
        if t.is_empty() || t.starts_with('#') || t == "---" || t == "..." {
            continue;
        }
        // `- - key: v` is two markers and a mapping line.
        while t == "-" || t.starts_with("- ") {
            out.push(SrcLine {
                line: n + 1,
                indent,
                text: "-",
                marker: true,
            });
            let after = t[1..].trim_start_matches(' ');
            indent += t.len() - after.len();
            t = after;
        }
        if !t.is_empty() {
            out.push(SrcLine {
                line: n + 1,
                indent,
                text: t,
                marker: false,
            });
        }
    }
    out
}

fn is_key_line(text: &str, key: &str) -> bool {
    let unquoted = [text, text.trim_start_matches(['"', '\''])];
    unquoted.iter().any(|t| {
        t.strip_prefix(key).is_some_and(|rest| {
            let rest = rest.trim_start_matches(['"', '\'']);
            rest == ":" || rest.starts_with(": ") || rest.starts_with(":\t")
        })
    })
}

/// Best-effort line of a field in block-style YAML: the deepest segment of
/// `path` that can be found (flow-style parts fall back to their parent).
fn locate(text: &str, path: &[S]) -> Option<usize> {
    let lines = src_lines(text);
    let (mut lo, mut hi) = (0, lines.len());
    let mut best = None;
    for seg in path {
        if lo >= hi {
            return best;
        }
        let block_indent = lines[lo].indent;
        let at_level = (lo..hi).filter(|&i| lines[i].indent == block_indent);
        let found = match seg {
            S::K(k) => at_level
                .filter(|&i| !lines[i].marker)
                .find(|&i| is_key_line(lines[i].text, k)),
            S::I(n) => at_level.filter(|&i| lines[i].marker).nth(*n),
        };
        let Some(i) = found else {
            return best;
        };
        best = Some(lines[i].line);
        let li = &lines[i];
        // A key's block may hold `- ` items at the key's own indentation.
        let end = (i + 1..hi)
            .find(|&j| {
                let lj = &lines[j];
                lj.indent < li.indent || (lj.indent == li.indent && (li.marker || !lj.marker))
            })
            .unwrap_or(hi);
        lo = i + 1;
        hi = end;
    }
    best
}

/// Keys may be written unquoted as numbers (`focus_logs: 2`); booleans are
/// refused with a hint because YAML would have turned the key into `true`.
impl<'de> Deserialize<'de> for KeyBinding {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BindingVisitor)
    }
}

struct BindingVisitor;

const BINDING_EXPECTED: &str = "a key such as \"d\" or \"ctrl-c\", or a list of keys";

impl<'de> Visitor<'de> for BindingVisitor {
    type Value = KeyBinding;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(BINDING_EXPECTED)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyBinding, E> {
        Ok(KeyBinding::One(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<KeyBinding, E> {
        Ok(KeyBinding::One(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyBinding, E> {
        Ok(KeyBinding::One(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyBinding, E> {
        Ok(KeyBinding::One(v.to_string()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyBinding, E> {
        Err(E::custom(format!(
            "`{v}` was read as a boolean: quote the key, e.g. \"{v}\"",
        )))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeyBinding, A::Error> {
        let mut keys = Vec::new();
        while let Some(KeyName(k)) = seq.next_element()? {
            keys.push(k);
        }
        Ok(KeyBinding::Many(keys))
    }
}

struct KeyName(String);

impl<'de> Deserialize<'de> for KeyName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(BindingVisitor)? {
            KeyBinding::One(k) => Ok(KeyName(k)),
            KeyBinding::Many(_) => Err(de::Error::custom(
                "expected a key such as \"d\", found a nested list",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RuntimeKind, TimestampMode};
    use std::collections::BTreeMap;

    const FULL: &str = r#"# blissful-infra.yaml: every section, realistic values
project: checkout
runtime: sandbox
theme: light
environments:
  - name: staging
    replicas: 2
    router_port: 8280
    metrics_port: 9280
    initial_version: v1
  - name: production
    replicas: 3
    router_port: 8281
    metrics_port: 9281
    initial_version: v1
    protected: true
service:
  command: ./target/release/checkout --port $PORT
  workdir: services/checkout
  ready_path: /healthz
  versions:
    v2: {}
    v3-slow:
      latency_ms: 400
    v4-buggy:
      error_rate: 0.3
    v5-leaky:
      memory_growth_mib_per_min: 80
traffic:
  rate_per_sec: 25
  paths: [/checkout, /cart]
rollout:
  max_extensions: 2
  steps:
    - weight: 10
      pause_secs: 30
    - weight: 50
      pause_secs: 60
    - weight: 100
      pause_secs: 0
  analysis:
    max_error_rate: 0.02
    min_success_rate: 0.98
    max_p95_ms: 250
    max_p99_ms: 600
    max_latency_ratio: 1.3
    latency_slack_ms: 10
    min_samples: 50
chaos:
  slo:
    max_error_rate: 0.1
    max_p99_ms: 400
    max_recovery_secs: 20
  defaults:
    duration_secs: 45
    latency_ms: 250
    rate: 0.5
    cpu_workers: 2
comparison:
  max_p95_regression_pct: 5
  max_p99_regression_pct: 8
  max_error_rate: 0.005
  min_throughput_ratio: 0.9
  auto_promote: true
agent:
  provider: ollama
  endpoint: http://127.0.0.1:11434
  model: qwen2.5:7b
  fallback_model: qwen2.5:0.5b
  embedding_model: nomic-embed-text
  context_window: 16384
  temperature: 0.1
console:
  log_buffer_lines: 200000
  timestamps: utc
  max_fps: 30
  metric_points: 600
keymap:
  deploy: D
  next_env: [n, right]
  prev_env: [N, left]
  focus_logs: 2
"#;

    fn invalid(text: &str) -> Vec<ConfigProblem> {
        match Config::from_yaml_str(text, FILE_NAME) {
            Err(ConfigError::Invalid { file, problems }) => {
                assert_eq!(file, FILE_NAME);
                problems
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn parse_err(text: &str) -> (usize, usize, String, String) {
        match Config::from_yaml_str(text, FILE_NAME) {
            Err(e @ ConfigError::Parse { .. }) => {
                let shown = e.to_string();
                let ConfigError::Parse {
                    line,
                    column,
                    message,
                    ..
                } = e
                else {
                    unreachable!()
                };
                (line, column, message, shown)
            }
            other => panic!("expected Parse, got {other:?}"),
        }
    }

    fn problem<'a>(ps: &'a [ConfigProblem], field: &str) -> &'a ConfigProblem {
        ps.iter()
            .find(|p| p.field == field)
            .unwrap_or_else(|| panic!("no problem for {field} in {ps:#?}"))
    }

    #[test]
    fn perf_thresholds_are_checked() {
        let ps = invalid("perf:\n  p95_ms: 0\n  max_error_rate: 1.5\n");
        assert!(problem(&ps, "perf.p95_ms").message.contains("> 0"));
        assert!(problem(&ps, "perf.max_error_rate")
            .message
            .contains("0..=1"));
        let c = Config::from_yaml_str("perf: { p95_ms: 150, max_error_rate: 0.02 }\n", FILE_NAME)
            .unwrap();
        assert_eq!(c.perf.p95_ms, 150.0);
        assert_eq!(c.perf.max_error_rate, 0.02);
    }

    #[test]
    fn prometheus_analysis_needs_a_url() {
        let ps = invalid("rollout:\n  analysis_source: prometheus\n");
        let p = problem(&ps, "rollout.analysis_source");
        assert!(p.message.contains("prometheus.url"), "{}", p.message);
        let c = Config::from_yaml_str(
            "rollout:\n  analysis_source: prometheus\nprometheus:\n  url: http://127.0.0.1:9090\n",
            FILE_NAME,
        )
        .unwrap();
        assert_eq!(
            c.rollout.analysis_source,
            crate::config::AnalysisSource::Prometheus
        );
    }

    #[test]
    fn defaults_validate() {
        assert_eq!(Config::default().validate(), Ok(()));
    }

    #[test]
    fn empty_file_gives_defaults() {
        for text in ["", "\n", "# nothing here\n", "---\n"] {
            assert_eq!(
                Config::from_yaml_str(text, FILE_NAME).unwrap(),
                Config::default(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn partial_file_keeps_other_defaults() {
        let c =
            Config::from_yaml_str("project: shop\nconsole:\n  max_fps: 60\n", FILE_NAME).unwrap();
        assert_eq!(c.project, "shop");
        assert_eq!(c.console.max_fps, 60);
        assert_eq!(c.console.log_buffer_lines, 50_000);
        assert_eq!(c.environments, Config::default().environments);
    }

    #[test]
    fn full_example_parses_and_round_trips() {
        let c = Config::from_yaml_str(FULL, FILE_NAME).unwrap();
        assert_eq!(c.project, "checkout");
        assert_eq!(c.runtime, RuntimeKind::Sandbox);
        assert_eq!(c.theme, "light");
        assert_eq!(c.environments.len(), 2);
        assert!(c.environments[1].protected);
        assert_eq!(c.environments[1].replicas, 3);
        assert_eq!(c.service.ready_path, "/healthz");
        assert_eq!(c.service.versions.len(), 4);
        assert_eq!(c.service.versions["v3-slow"].latency_ms, 400);
        assert_eq!(c.traffic.paths, vec!["/checkout", "/cart"]);
        assert_eq!(
            c.rollout
                .steps
                .steps
                .iter()
                .map(|s| s.weight)
                .collect::<Vec<_>>(),
            vec![10, 50, 100]
        );
        assert_eq!(c.rollout.analysis.min_samples, 50);
        assert_eq!(c.chaos.defaults.cpu_workers, 2);
        assert!(c.comparison.auto_promote);
        assert_eq!(c.agent.model, "qwen2.5:7b");
        assert_eq!(c.console.timestamps, TimestampMode::Utc);
        assert_eq!(
            c.keymap["next_env"],
            KeyBinding::Many(vec!["n".into(), "right".into()])
        );
        assert_eq!(c.keymap["focus_logs"], KeyBinding::One("2".into()));
        assert_ne!(c, Config::default());

        let yaml = serde_saphyr::to_string(&c).unwrap();
        let again = Config::from_yaml_str(&yaml, "round-trip").unwrap();
        assert_eq!(again, c, "round trip through:\n{yaml}");
        let km = Keymap::build(&c.keymap).unwrap();
        assert_eq!(km.keys_for(crate::app::actions::Action::Deploy), vec!["D"]);
    }

    #[test]
    fn bad_type_names_line_column_and_field() {
        let text = "project: x\nrollout:\n  analysis:\n    max_error_rate: high\n";
        let (line, column, message, shown) = parse_err(text);
        assert_eq!((line, column), (4, 21));
        assert!(
            message.starts_with("rollout.analysis.max_error_rate: "),
            "{message}"
        );
        assert!(message.contains("`high`"), "{message}");
        assert!(
            shown.starts_with("blissful-infra.yaml:4:21: rollout.analysis.max_error_rate:"),
            "{shown}"
        );

        let (line, _, message, _) =
            parse_err("environments:\n  - name: a\n  - name: b\n    replicas: -3\n");
        assert_eq!(line, 4);
        assert!(
            message.starts_with("environments[1].replicas: "),
            "{message}"
        );
        assert!(message.contains("`-3`"), "{message}");

        let (line, _, message, _) = parse_err("rollout:\n  steps:\n    - weight: 30\n");
        assert_eq!(line, 3);
        assert!(
            message.contains("rollout.steps[0]") && message.contains("pause_secs"),
            "{message}"
        );
    }

    #[test]
    fn unknown_field_is_named_with_expected_ones() {
        let (line, column, message, _) = parse_err("console:\n  max_fps: 30\n  colour: red\n");
        assert_eq!((line, column), (3, 3));
        assert!(message.contains("console.colour"), "{message}");
        assert!(message.contains("unknown field `colour`"), "{message}");
        assert!(
            message.contains("log_buffer_lines") && message.contains("max_fps"),
            "{message}"
        );
        let (_, _, message, _) = parse_err("projet: typo\n");
        assert!(
            message.contains("`projet`") && message.contains("project"),
            "{message}"
        );
    }

    #[test]
    fn syntax_error_is_located() {
        let (line, _, _, shown) = parse_err("project: x\nenvironments: [unclosed\n");
        assert!(line >= 2, "{shown}");
        assert!(shown.starts_with("blissful-infra.yaml:"), "{shown}");
        let (line, _, message, _) = parse_err("project: a\nproject: b\n");
        assert_eq!(line, 2);
        assert!(message.contains("duplicate"), "{message}");
    }

    #[test]
    fn yaml_1_1_booleans_are_strings_in_keymap() {
        let c = Config::from_yaml_str(
            "keymap:\n  next_env: [n, right]\n  prev_env: y\n",
            FILE_NAME,
        )
        .unwrap();
        assert_eq!(c.keymap["prev_env"], KeyBinding::One("y".into()));
        let (_, _, message, _) = parse_err("keymap:\n  deploy: true\n");
        assert!(
            message.contains("keymap.deploy") && message.contains("quote"),
            "{message}"
        );
    }

    #[test]
    fn duplicate_env_names_are_refused_with_line() {
        let text =
            "environments:\n  - name: staging\n  - name: qa\n  - name: staging\n    replicas: 1\n";
        let ps = invalid(text);
        let p = problem(&ps, "environments[2].name");
        assert_eq!(p.line, Some(4));
        assert!(p.message.contains("twice"), "{p:?}");
        assert_eq!(ps.len(), 1, "{ps:#?}");
        let shown = ConfigError::Invalid {
            file: FILE_NAME.into(),
            problems: ps,
        }
        .to_string();
        assert_eq!(
            shown,
            "blissful-infra.yaml:4: environments[2].name: environment `staging` is defined twice"
        );
    }

    #[test]
    fn env_rules() {
        let ps = invalid(
            "environments:\n  - name: Prod_1\n    replicas: 0\n    router_port: 8000\n  - name: \"\"\n    router_port: 8000\n    metrics_port: 9000\n",
        );
        assert_eq!(problem(&ps, "environments[0].name").line, Some(2));
        assert_eq!(problem(&ps, "environments[0].replicas").line, Some(3));
        let port = problem(&ps, "environments[1].router_port");
        assert_eq!(port.line, Some(6));
        assert!(
            port.message.contains("environments[0].router_port"),
            "{port:?}"
        );
        assert!(problem(&ps, "environments[1].name")
            .message
            .contains("empty"));
        assert_eq!(ps.len(), 4, "{ps:#?}");
        let ps = invalid("environments: []\n");
        assert_eq!(problem(&ps, "environments").line, Some(1));
        let mut c = Config::default();
        c.environments[0].replicas = 21;
        c.environments[1].name = "-prod".into();
        let ps = c.validate().unwrap_err();
        assert_eq!(problem(&ps, "environments[0].replicas").line, None);
        assert!(problem(&ps, "environments[1].name")
            .message
            .contains("start or end"));
    }

    #[test]
    fn keymap_clash_in_config_is_reported() {
        let ps = invalid("project: x\nkeymap:\n  deploy: r\n");
        assert_eq!(ps.len(), 1, "{ps:#?}");
        assert_eq!(ps[0].field, "keymap.deploy");
        assert_eq!(ps[0].line, Some(3));
        assert!(
            ps[0].message.contains("`r`") && ps[0].message.contains("rollback"),
            "{ps:?}"
        );
        let ps = invalid("keymap:\n  launch: x\n  quit: hyper-q\n");
        assert!(problem(&ps, "keymap.launch").message.contains("deploy"));
        assert_eq!(problem(&ps, "keymap.launch").line, Some(2));
        assert!(problem(&ps, "keymap.quit").message.contains("hyper-q"));
    }

    #[test]
    fn invalid_canary_plans() {
        let ps = invalid("rollout:\n  steps:\n    - weight: 50\n      pause_secs: 5\n    - weight: 20\n      pause_secs: 5\n    - weight: 100\n      pause_secs: 5\n");
        let p = problem(&ps, "rollout.steps[1].weight");
        assert_eq!(p.line, Some(5));
        assert!(p.message.contains("not above"), "{p:?}");
        let ps = invalid("rollout:\n  steps:\n    - {weight: 10, pause_secs: 5}\n    - {weight: 90, pause_secs: 5000}\n");
        let p = problem(&ps, "rollout.steps[1].weight");
        assert!(p.message.contains("100%"), "{p:?}");
        assert_eq!(p.line, Some(4));
        assert!(problem(&ps, "rollout.steps[1].pause_secs")
            .message
            .contains("3600"));
        let ps = invalid("rollout:\n  steps: []\n");
        assert_eq!(problem(&ps, "rollout.steps").line, Some(2));
    }

    #[test]
    fn numeric_ranges() {
        let ps = invalid(
            "rollout:\n  analysis:\n    max_error_rate: 1.5\n    min_success_rate: -0.1\n    max_p95_ms: 0\n    max_p99_ms: .nan\ntraffic:\n  rate_per_sec: 20000\nchaos:\n  slo:\n    max_error_rate: 2\n  defaults:\n    rate: 1.01\nagent:\n  temperature: 2.5\n  endpoint: localhost:11434\nconsole:\n  log_buffer_lines: 999\n  max_fps: 0\n",
        );
        for (field, line) in [
            ("rollout.analysis.max_error_rate", 3),
            ("rollout.analysis.min_success_rate", 4),
            ("rollout.analysis.max_p95_ms", 5),
            ("rollout.analysis.max_p99_ms", 6),
            ("traffic.rate_per_sec", 8),
            ("chaos.slo.max_error_rate", 11),
            ("chaos.defaults.rate", 13),
            ("agent.temperature", 15),
            ("agent.endpoint", 16),
            ("console.log_buffer_lines", 18),
            ("console.max_fps", 19),
        ] {
            assert_eq!(problem(&ps, field).line, Some(line), "{field}");
        }
        assert_eq!(ps.len(), 11, "{ps:#?}");
        // The edges themselves are fine.
        let ok = "rollout:\n  analysis:\n    max_error_rate: 1\n    min_success_rate: 0\ntraffic:\n  rate_per_sec: 10000\nagent:\n  temperature: 2\n  endpoint: https://[::1]:8443/api\nconsole:\n  log_buffer_lines: 1000\n  max_fps: 120\n";
        Config::from_yaml_str(ok, FILE_NAME).unwrap();
        let ok = "console:\n  log_buffer_lines: 5000000\n  max_fps: 1\n";
        Config::from_yaml_str(ok, FILE_NAME).unwrap();
    }

    #[test]
    fn endpoint_check() {
        assert!(http_url("http://localhost:11434").is_ok());
        assert!(http_url("https://example.test/v1").is_ok());
        assert!(http_url("https://user@host").is_ok());
        for bad in [
            "localhost:11434",
            "ftp://x",
            "http://",
            "http://:80",
            "http://h:0",
            "http://h:99999",
            "http://a b",
        ] {
            assert!(http_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn locate_handles_block_styles() {
        let text = "a:\n  b:\n  - x: 1\n  - y: 2\n    z:\n      - 7\n      - 8\nc: {d: 1}\n";
        assert_eq!(
            locate(text, &[S::K("a"), S::K("b"), S::I(1), S::K("z"), S::I(1)]),
            Some(7)
        );
        assert_eq!(
            locate(text, &[S::K("a"), S::K("b"), S::I(0), S::K("x")]),
            Some(3)
        );
        assert_eq!(locate(text, &[S::K("c"), S::K("d")]), Some(8));
        assert_eq!(locate(text, &[S::K("missing")]), None);
        assert_eq!(locate(text, &[S::K("b")]), None);
    }

    #[test]
    fn load_and_discover() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("services/checkout");
        std::fs::create_dir_all(&nested).unwrap();
        assert!(
            Config::discover(&nested).unwrap().is_none()
                || dir
                    .path()
                    .ancestors()
                    .skip(1)
                    .any(|d| d.join(FILE_NAME).is_file())
        );
        let file = dir.path().join(FILE_NAME);
        std::fs::write(&file, "project: found\n").unwrap();
        let (path, c) = Config::discover(&nested).unwrap().unwrap();
        assert_eq!(path, file);
        assert_eq!(c.project, "found");
        assert_eq!(Config::load(&file).unwrap().project, "found");

        std::fs::write(&file, "console:\n  max_fps: 500\n").unwrap();
        let err = Config::discover(&nested).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{}:2: console.max_fps", file.display())),
            "{err}"
        );

        let missing = dir.path().join("nope.yaml");
        let err = Config::load(&missing).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Io { path, .. } if *path == missing),
            "{err:?}"
        );
        assert!(err.to_string().contains("nope.yaml"), "{err}");
    }

    #[test]
    fn hostile_text_in_errors_is_sanitised() {
        let ps = invalid("environments:\n  - name: \"\\e]0;pwned\\a\\e[2J\"\n");
        let msg = ConfigError::Invalid {
            file: FILE_NAME.into(),
            problems: ps,
        }
        .to_string();
        assert!(!msg.contains('\x1b') && !msg.contains('\x07'), "{msg:?}");
        let _ = BTreeMap::<String, KeyBinding>::new();
    }
}
