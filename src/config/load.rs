//! Reading `blissful-infra.yaml`: parsing with file/line/column/field-path
//! errors, discovery up the directory tree, and validation (in `check/`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::locate::{scalar_at, src_lines};
use super::{Config, KeyBinding, FILE_NAME};
use crate::domain::sanitize::strip_all;

/// A config file larger than this is refused before parsing.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A rule about the `keymap:` section that needs the console's action table,
/// which lives in a layer above this one; the caller that sees both passes it
/// in. It returns, for each entry it objects to, the action id and why.
pub type KeymapRule = fn(&BTreeMap<String, KeyBinding>) -> Vec<(String, String)>;

/// The rule used when the caller has none: every keymap entry is accepted
/// here (the console refuses a bad keymap when it builds it).
fn any_keymap(_: &BTreeMap<String, KeyBinding>) -> Vec<(String, String)> {
    Vec::new()
}

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
        Config::load_with(path, any_keymap)
    }

    /// [`Config::load`], also checking `keymap:` with `keymap_rule`.
    pub fn load_with(path: &Path, keymap_rule: KeymapRule) -> Result<Config, ConfigError> {
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
        Config::from_yaml_str_with(&text, &path.display().to_string(), keymap_rule)
    }

    /// Parse and validate YAML text; `origin` names it in errors (a file name).
    /// An empty document gives the defaults.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        Config::from_yaml_str_with(text, origin, any_keymap)
    }

    /// [`Config::from_yaml_str`], also checking `keymap:` with `keymap_rule`.
    pub fn from_yaml_str_with(
        text: &str,
        origin: &str,
        keymap_rule: KeymapRule,
    ) -> Result<Config, ConfigError> {
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
        let mut config = parsed.map_err(|e| parse_error(&e, field.as_deref(), text, origin))?;
        config
            .check(Some(text), keymap_rule)
            .map_err(|problems| ConfigError::Invalid {
                file: origin.to_string(),
                problems,
            })?;
        config.chaos.fold_seed_slos();
        Ok(config)
    }

    /// Look for `blissful-infra.yaml` in `start_dir` and its parents; the first
    /// one found is loaded.
    pub fn discover(start_dir: &Path) -> Result<Option<(PathBuf, Config)>, ConfigError> {
        Config::discover_with(start_dir, any_keymap)
    }

    /// [`Config::discover`], also checking `keymap:` with `keymap_rule`.
    pub fn discover_with(
        start_dir: &Path,
        keymap_rule: KeymapRule,
    ) -> Result<Option<(PathBuf, Config)>, ConfigError> {
        let start = std::path::absolute(start_dir).map_err(|source| ConfigError::Io {
            path: start_dir.to_path_buf(),
            source,
        })?;
        for dir in start.ancestors() {
            let candidate = dir.join(FILE_NAME);
            match std::fs::metadata(&candidate) {
                Ok(m) if m.is_file() => {
                    let config = Config::load_with(&candidate, keymap_rule)?;
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
        self.check(None, any_keymap)
    }
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

#[cfg(test)]
mod comparison_tests;
#[cfg(test)]
mod tests;
