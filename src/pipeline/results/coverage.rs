//! Line coverage: Cobertura XML (the root `<coverage>`'s `lines-covered`
//! and `lines-valid`, else its `line-rate`) and lcov tracefiles (the sum of
//! every record's `LF:` lines found and `LH:` lines hit).

use std::path::Path;

use quick_xml::events::Event;
use quick_xml::Reader;
use serde::{Deserialize, Serialize};

use super::{line_at, ResultError};

/// Line coverage of one or more files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// Covered lines in percent, 0–100.
    pub percent: f64,
    /// Line counts, when every file gave them.
    pub lines_hit: Option<u64>,
    pub lines_found: Option<u64>,
}

impl Coverage {
    fn from_counts(hit: u64, found: u64) -> Coverage {
        let percent = if found == 0 {
            100.0
        } else {
            hit as f64 * 100.0 / found as f64
        };
        Coverage {
            percent,
            lines_hit: Some(hit),
            lines_found: Some(found),
        }
    }

    /// Combine two files: summed counts when both have them, else the lower
    /// percentage (a gate is never passed by an average it cannot check).
    pub fn merge(self, other: Coverage) -> Coverage {
        match (
            self.lines_hit,
            self.lines_found,
            other.lines_hit,
            other.lines_found,
        ) {
            (Some(h1), Some(f1), Some(h2), Some(f2)) => Coverage::from_counts(h1 + h2, f1 + f2),
            _ => Coverage {
                percent: self.percent.min(other.percent),
                lines_hit: None,
                lines_found: None,
            },
        }
    }
}

/// Cobertura XML or lcov, told apart by the first non-blank character.
pub fn read_coverage(path: &Path, text: &str) -> Result<Coverage, ResultError> {
    if text.trim_start().starts_with('<') {
        read_cobertura(path, text)
    } else {
        read_lcov(path, text)
    }
}

/// Read a Cobertura XML report; `path` names it in errors.
pub fn read_cobertura(path: &Path, text: &str) -> Result<Coverage, ResultError> {
    let mut reader = Reader::from_str(text);
    loop {
        let at = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| ResultError::syntax(path, line_at(text, at), e.to_string()))?;
        match event {
            Event::Start(e) | Event::Empty(e) => {
                let line = line_at(text, at);
                if e.local_name().as_ref() != b"coverage" {
                    let tag = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    return Err(ResultError::syntax(
                        path,
                        line,
                        format!("root element is <{tag}>, not Cobertura's <coverage>"),
                    ));
                }
                let mut rate = None;
                let mut covered = None;
                let mut valid = None;
                for a in e.attributes() {
                    let a = a.map_err(|err| ResultError::syntax(path, line, err.to_string()))?;
                    let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
                    let slot = match key.as_str() {
                        "line-rate" => &mut rate,
                        "lines-covered" => &mut covered,
                        "lines-valid" => &mut valid,
                        _ => continue,
                    };
                    let v = a.unescape_value().map_err(|err| {
                        ResultError::syntax(path, line, format!("attribute `{key}`: {err}"))
                    })?;
                    *slot = Some((key, v.trim().to_string()));
                }
                if let (Some((_, c)), Some((_, v))) = (&covered, &valid) {
                    if let (Ok(c), Ok(v)) = (c.parse::<u64>(), v.parse::<u64>()) {
                        if c <= v {
                            return Ok(Coverage::from_counts(c, v));
                        }
                    }
                }
                let Some((key, raw)) = rate else {
                    return Err(ResultError::syntax(
                        path,
                        line,
                        "<coverage> has no `line-rate` (nor `lines-covered`/`lines-valid`)",
                    ));
                };
                let r: f64 = raw.parse().map_err(|_| {
                    ResultError::syntax(
                        path,
                        line,
                        format!("attribute `{key}`: `{raw}` is not a number"),
                    )
                })?;
                if !(0.0..=1.0).contains(&r) {
                    return Err(ResultError::syntax(
                        path,
                        line,
                        format!("attribute `{key}`: {raw} is outside 0..1"),
                    ));
                }
                return Ok(Coverage {
                    percent: r * 100.0,
                    lines_hit: None,
                    lines_found: None,
                });
            }
            Event::Eof => {
                return Err(ResultError::content(
                    path,
                    "no <coverage> element (empty or not Cobertura XML)",
                ))
            }
            _ => {}
        }
    }
}

/// Read an lcov tracefile; `path` names it in errors.
pub fn read_lcov(path: &Path, text: &str) -> Result<Coverage, ResultError> {
    let (mut found, mut hit, mut records) = (0u64, 0u64, 0u64);
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let n = i as u64 + 1;
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v),
            None if line.is_empty() || line == "end_of_record" => continue,
            None => {
                return Err(ResultError::syntax(
                    path,
                    n,
                    format!(
                        "`{}` is not an lcov line (FIELD:value or end_of_record)",
                        clip_line(line)
                    ),
                ))
            }
        };
        let slot = match field {
            "LF" => &mut found,
            "LH" => &mut hit,
            "SF" => {
                records += 1;
                continue;
            }
            _ => continue,
        };
        let v: u64 = value.trim().parse().map_err(|_| {
            ResultError::syntax(
                path,
                n,
                format!("field `{field}`: `{}` is not a count", clip_line(value)),
            )
        })?;
        *slot = slot.saturating_add(v);
    }
    if records == 0 && found == 0 {
        return Err(ResultError::content(
            path,
            "no lcov records (no SF: or LF: line)",
        ));
    }
    if hit > found {
        return Err(ResultError::content(
            path,
            format!("LH total {hit} is above LF total {found}"),
        ));
    }
    Ok(Coverage::from_counts(hit, found))
}

fn clip_line(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests;
