//! Trivy JSON (`trivy fs|image --format json`): `Results[]`, each with a
//! `Target` and lists of `Vulnerabilities`, `Misconfigurations` and
//! `Secrets`, every finding carrying a `Severity`. Fields this reader does
//! not use are ignored; a wrong type in one it uses is an error naming the
//! field's path (`Results[0].Vulnerabilities[3].Severity`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{clip, ResultError, KEEP_DETAILS};

/// Trivy's severities, lowest first so `Ord` ranks them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Unknown,
    ];

    /// `CRITICAL`, `HIGH`, … (case-insensitive); anything else is unknown.
    pub fn parse(s: &str) -> Option<Severity> {
        match s.trim().to_ascii_uppercase().as_str() {
            "CRITICAL" => Some(Severity::Critical),
            "HIGH" => Some(Severity::High),
            "MEDIUM" => Some(Severity::Medium),
            "LOW" => Some(Severity::Low),
            "UNKNOWN" => Some(Severity::Unknown),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
            Severity::Unknown => "UNKNOWN",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding worth showing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub severity: Severity,
    /// `CVE-…`, a misconfiguration id or a secret rule.
    pub id: String,
    /// The package (vulnerabilities) or the target file (others).
    pub package: String,
    pub title: String,
}

/// Findings of one or more Trivy reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrivySummary {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    pub unknown: u64,
    /// The most severe findings (at most `KEEP_DETAILS`), most severe first.
    pub top: Vec<Finding>,
}

impl TrivySummary {
    pub fn count(&self, s: Severity) -> u64 {
        match s {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Unknown => self.unknown,
        }
    }

    fn add(&mut self, f: Finding) {
        match f.severity {
            Severity::Critical => self.critical += 1,
            Severity::High => self.high += 1,
            Severity::Medium => self.medium += 1,
            Severity::Low => self.low += 1,
            Severity::Unknown => self.unknown += 1,
        }
        self.top.push(f);
        // Stable: among equal severities the first found stays first.
        self.top.sort_by_key(|f| std::cmp::Reverse(f.severity));
        self.top.truncate(KEEP_DETAILS);
    }

    pub fn merge(&mut self, other: TrivySummary) {
        self.critical += other.critical;
        self.high += other.high;
        self.medium += other.medium;
        self.low += other.low;
        self.unknown += other.unknown;
        self.top.extend(other.top);
        self.top.sort_by_key(|f| std::cmp::Reverse(f.severity));
        self.top.truncate(KEEP_DETAILS);
    }

    pub fn total(&self) -> u64 {
        self.critical + self.high + self.medium + self.low + self.unknown
    }

    /// The most severe level with a finding.
    pub fn worst(&self) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| self.count(*s) > 0)
    }
}

#[derive(Deserialize)]
struct Report {
    #[serde(rename = "Results", default)]
    results: Option<Vec<TargetResult>>,
}

#[derive(Deserialize)]
struct TargetResult {
    #[serde(rename = "Target", default)]
    target: String,
    #[serde(rename = "Vulnerabilities", default)]
    vulnerabilities: Option<Vec<Vuln>>,
    #[serde(rename = "Misconfigurations", default)]
    misconfigurations: Option<Vec<Misconf>>,
    #[serde(rename = "Secrets", default)]
    secrets: Option<Vec<Secret>>,
}

#[derive(Deserialize)]
struct Vuln {
    #[serde(rename = "VulnerabilityID", default)]
    id: String,
    #[serde(rename = "PkgName", default)]
    pkg: String,
    #[serde(rename = "InstalledVersion", default)]
    version: String,
    #[serde(rename = "Severity", default)]
    severity: String,
    #[serde(rename = "Title", default)]
    title: String,
}

#[derive(Deserialize)]
struct Misconf {
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(rename = "Severity", default)]
    severity: String,
    #[serde(rename = "Title", default)]
    title: String,
}

#[derive(Deserialize)]
struct Secret {
    #[serde(rename = "RuleID", default)]
    id: String,
    #[serde(rename = "Severity", default)]
    severity: String,
    #[serde(rename = "Title", default)]
    title: String,
}

/// Read one Trivy JSON report; `path` names it in errors.
pub fn read_trivy(path: &Path, text: &str) -> Result<TrivySummary, ResultError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let report: Report = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let line = inner.line() as u64;
        if field.is_empty() || field == "." {
            ResultError::syntax(path, line, inner.to_string())
        } else {
            ResultError::syntax(path, line, format!("field `{field}`: {inner}"))
        }
    })?;
    let mut sum = TrivySummary::default();
    for (i, r) in report.results.unwrap_or_default().into_iter().enumerate() {
        let target = r.target;
        for (j, v) in r
            .vulnerabilities
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let severity = severity(
                path,
                &v.severity,
                &format!("Results[{i}].Vulnerabilities[{j}]"),
            )?;
            let package = if v.version.is_empty() {
                v.pkg
            } else {
                format!("{}@{}", v.pkg, v.version)
            };
            sum.add(Finding {
                severity,
                id: clip(&v.id),
                package: clip(&package),
                title: clip(&v.title),
            });
        }
        for (j, m) in r
            .misconfigurations
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let severity = severity(
                path,
                &m.severity,
                &format!("Results[{i}].Misconfigurations[{j}]"),
            )?;
            sum.add(Finding {
                severity,
                id: clip(&m.id),
                package: clip(&target),
                title: clip(&m.title),
            });
        }
        for (j, s) in r.secrets.unwrap_or_default().into_iter().enumerate() {
            let severity = severity(path, &s.severity, &format!("Results[{i}].Secrets[{j}]"))?;
            sum.add(Finding {
                severity,
                id: clip(&s.id),
                package: clip(&target),
                title: clip(&s.title),
            });
        }
    }
    Ok(sum)
}

fn severity(path: &Path, raw: &str, at: &str) -> Result<Severity, ResultError> {
    if raw.trim().is_empty() {
        return Ok(Severity::Unknown);
    }
    Severity::parse(raw).ok_or_else(|| {
        ResultError::content(
            path,
            format!("field `{at}.Severity`: `{raw}` is not CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN"),
        )
    })
}

#[cfg(test)]
mod tests;
