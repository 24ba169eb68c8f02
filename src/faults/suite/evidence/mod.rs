//! Evidence for the scorecard: what the project's files say (code,
//! manifests, compose) and what the running service showed (its
//! circuit-breaker metric, its log lines about retries). Each finding
//! names where it came from; nothing is assumed.

mod breaker;
mod scan;

pub use breaker::{breaker_states, BreakerLog, BreakerProbe, BreakerReading};
pub use scan::{scan_project, ScanLimits};

use std::path::Path;

use crate::domain::chaos::{merge, Basis, Finding, Practice, PracticeCheck, SigtermStop};
use crate::domain::logs::LogLine;
use crate::domain::sanitize::strip_all;
use crate::runtime::Runtime;

/// Log lines read back from the runtime to look for retries.
const LOG_LINES_READ: usize = 5000;

/// Log lines that show a client retrying (`retrying in 2s`, `retry 3/5`,
/// `backing off`).
const RETRY_PATTERN: &str = r"(?i)\bretr(y|ies|ied|ying)\b|\bback(ing)?[ -]?off\b";

/// The longest excerpt of a log line quoted as evidence.
const EXCERPT_CHARS: usize = 80;

/// Cut `s` to a one-line excerpt fit for a report cell.
pub(crate) fn excerpt(s: &str) -> String {
    let clean = strip_all(s).replace(['|', '\n', '\r'], " ");
    let mut out: String = clean.trim().chars().take(EXCERPT_CHARS).collect();
    if clean.trim().chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

/// Retry logic as the service's own log lines show it, over the lines the
/// runtime kept for the suite's window (`from`..`to`, epoch ms).
pub fn retries_in_logs(lines: &[LogLine], from: i64, to: i64) -> (Practice, Finding) {
    let finding = match regex::Regex::new(RETRY_PATTERN) {
        Err(e) => Finding::NotChecked {
            why: format!("internal: the retry pattern does not compile: {e}"),
        },
        Ok(re) => {
            let window: Vec<&LogLine> = lines
                .iter()
                .filter(|l| l.ts >= from && l.ts <= to)
                .collect();
            let hits: Vec<&&LogLine> = window.iter().filter(|l| re.is_match(&l.text)).collect();
            match hits.first() {
                Some(first) => Finding::Present {
                    basis: Basis::Measured,
                    evidence: format!(
                        "{} log line(s) during the suite mention retries, e.g. \"{}\"",
                        hits.len(),
                        excerpt(&first.text)
                    ),
                },
                None if window.is_empty() => Finding::NotChecked {
                    why: "the runtime kept no log lines from the suite's window".into(),
                },
                None => Finding::Absent {
                    looked: format!("{} log lines from the suite's window", window.len()),
                },
            }
        }
    };
    (Practice::RetryLogic, finding)
}

/// Graceful shutdown as measured by the runtime: the stops it logged as
/// itself (version `-`; a service's own lines carry its version), each the
/// time from SIGTERM to exit. `None` when no stop was logged.
pub fn sigterm_stops(lines: &[LogLine]) -> Option<Finding> {
    let stops: Vec<SigtermStop> = lines
        .iter()
        .filter(|l| &*l.version == "-")
        .filter_map(|l| SigtermStop::parse(&l.text))
        .collect();
    let slowest = stops.iter().max_by_key(|s| (s.killed, s.after_ms))?;
    let seen = format!("{} stop(s) after SIGTERM measured", stops.len());
    Some(if slowest.killed {
        Finding::Absent {
            looked: format!("{seen}; {}", excerpt(&slowest.to_string())),
        }
    } else {
        Finding::Present {
            basis: Basis::Measured,
            evidence: format!("{seen}, the slowest: {}", excerpt(&slowest.to_string())),
        }
    })
}

/// Every practice (the checklist and the disruption budget) with its
/// best finding: what the service showed during the suite (`from`..`to`)
/// and what the project's files at `project` say.
pub async fn gather(
    rt: &dyn Runtime,
    env: &str,
    (from, to): (i64, i64),
    project: Option<&Path>,
    breakers: &BreakerLog,
) -> Vec<PracticeCheck> {
    let mut found: Vec<(Practice, Finding)> = match project {
        Some(dir) => {
            let dir = dir.to_path_buf();
            tokio::task::spawn_blocking(move || scan_project(&dir, ScanLimits::default()))
                .await
                .unwrap_or_default()
        }
        None => Vec::new(),
    };
    found.push((Practice::CircuitBreakers, breakers.finding()));
    let mut stops = None;
    match rt.recent_logs(Some(env), LOG_LINES_READ).await {
        Ok(lines) => {
            found.push(retries_in_logs(&lines, from, to));
            stops = sigterm_stops(&lines);
        }
        Err(e) => found.push((
            Practice::RetryLogic,
            Finding::NotChecked {
                why: format!("the runtime's logs could not be read: {e}"),
            },
        )),
    }
    Practice::CHECKLIST
        .into_iter()
        .chain([Practice::DisruptionBudget])
        .map(|p| {
            let of_p: Vec<Finding> = found
                .iter()
                .filter(|(q, _)| *q == p)
                .map(|(_, f)| f.clone())
                .collect();
            if p == Practice::GracefulShutdown {
                // A measured stop decides, even against a handler in the code.
                if let Some(finding) = &stops {
                    return PracticeCheck {
                        practice: p,
                        finding: finding.clone(),
                    };
                }
            }
            let mut check = merge(p, &of_p);
            // A handler in the code is not a measured shutdown.
            if p == Practice::GracefulShutdown {
                if let Finding::Present { evidence, .. } = &mut check.finding {
                    evidence.push_str("; no stop after SIGTERM was measured (the sandbox and Docker measure each instance they stop; Kubernetes, each pod deleted with a grace period)");
                }
            }
            check
        })
        .collect()
}

#[cfg(test)]
mod tests;
