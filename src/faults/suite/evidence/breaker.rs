//! The service's circuit-breaker state, read from its own Prometheus
//! `/metrics`: the templates' `circuit_breaker_state` gauge (0 closed,
//! 1 half-open, 2 open) and resilience4j's `..._circuitbreaker_state`
//! (1 on the series whose `state` label is the current one).

use std::time::Duration;

use crate::domain::chaos::{Basis, Finding};

/// How long one scrape may take before it counts as unanswered.
const SCRAPE_TIMEOUT: Duration = Duration::from_millis(500);
/// A `/metrics` page larger than this is not read further.
const MAX_PAGE_BYTES: usize = 1 << 20;

/// What one page (or several) said of circuit breakers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BreakerReading {
    /// Breaker series found (one per dependency).
    pub series: usize,
    /// Any of them open.
    pub open: bool,
}

impl BreakerReading {
    fn add(&mut self, other: BreakerReading) {
        self.series += other.series;
        self.open |= other.open;
    }
}

/// Read circuit-breaker series from Prometheus text exposition.
pub fn breaker_states(page: &str) -> BreakerReading {
    let mut out = BreakerReading::default();
    for line in page.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let (name, labels, value) = match split_sample(line) {
            Some(parts) => parts,
            None => continue,
        };
        if name == "circuit_breaker_state" {
            out.series += 1;
            out.open |= value >= 2.0;
        } else if name.ends_with("circuitbreaker_state") {
            // One series per state; the current one carries 1.
            if labels.contains("state=\"closed\"") {
                out.series += 1;
            }
            out.open |= value >= 1.0 && labels.contains("state=\"open\"");
        }
    }
    out
}

/// `name{labels} value [ts]` into its parts (labels without braces).
fn split_sample(line: &str) -> Option<(&str, &str, f64)> {
    let (head, rest) = match line.find('{') {
        Some(i) => {
            let close = line[i..].find('}')? + i;
            (&line[..i], (&line[i + 1..close], &line[close + 1..]))
        }
        None => {
            let i = line.find(char::is_whitespace)?;
            (&line[..i], ("", &line[i..]))
        }
    };
    let (labels, tail) = rest;
    let value = tail.split_whitespace().next()?.parse::<f64>().ok()?;
    Some((head.trim(), labels, value))
}

/// Scrapes the instances' `/metrics` for breaker state.
pub struct BreakerProbe {
    client: Option<reqwest::Client>,
}

impl Default for BreakerProbe {
    fn default() -> Self {
        let client = reqwest::Client::builder()
            .timeout(SCRAPE_TIMEOUT)
            .no_proxy()
            .build()
            .ok();
        BreakerProbe { client }
    }
}

impl BreakerProbe {
    /// One round over `targets` (`host:port` of each instance), at once;
    /// `None` when no page could be read.
    pub async fn read(&self, targets: &[String]) -> Option<BreakerReading> {
        let client = self.client.as_ref()?;
        let pages = futures::future::join_all(targets.iter().map(|t| fetch(client, t))).await;
        let mut total: Option<BreakerReading> = None;
        for page in pages.into_iter().flatten() {
            total
                .get_or_insert_with(BreakerReading::default)
                .add(breaker_states(&page));
        }
        total
    }
}

async fn fetch(client: &reqwest::Client, target: &str) -> Option<String> {
    let mut resp = client
        .get(format!("http://{target}/metrics"))
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = MAX_PAGE_BYTES.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_PAGE_BYTES {
            break;
        }
    }
    Some(String::from_utf8_lossy(&body).into_owned())
}

/// Every breaker probe of a suite, summed up for the scorecard.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BreakerLog {
    pub rounds: u32,
    /// Rounds in which at least one instance answered.
    pub answered: u32,
    /// Most breaker series one round found, and whether any was open.
    pub best: BreakerReading,
    /// The instances last asked.
    pub targets: Vec<String>,
}

impl BreakerLog {
    pub fn note(&mut self, targets: &[String], reading: Option<BreakerReading>) {
        self.rounds += 1;
        if !targets.is_empty() {
            self.targets = targets.to_vec();
        }
        if let Some(r) = reading {
            self.answered += 1;
            self.best.series = self.best.series.max(r.series);
            self.best.open |= r.open;
        }
    }

    /// Circuit breakers as the running service showed them.
    pub fn finding(&self) -> Finding {
        let on = self.targets.join(", ");
        if self.answered == 0 {
            return Finding::NotChecked {
                why: if self.targets.is_empty() {
                    "no instance serves /metrics on this host".into()
                } else {
                    format!("/metrics on {on} did not answer")
                },
            };
        }
        if self.best.series == 0 {
            return Finding::Absent {
                looked: format!("/metrics on {on}: no circuit_breaker_state series"),
            };
        }
        let open = if self.best.open {
            ", seen open"
        } else {
            ", never seen open"
        };
        Finding::Present {
            basis: Basis::Measured,
            evidence: format!("{} circuit-breaker series on {on}{open}", self.best.series),
        }
    }
}
