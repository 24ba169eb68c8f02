//! An Argo AnalysisRun as the console shows it: each metric with what it
//! asks its provider, its conditions and limits, and every measurement.
//!
//! Not mapped to [`crate::domain::analysis::Verdict`]: a Verdict holds the
//! project's own request samples and fixed metrics, while an AnalysisRun's
//! metrics are arbitrary queries judged by expressions. [`AnalysisRunView::outcome`]
//! gives the shared [`Outcome`] where the run has one.

use serde_json::Value;

use super::fields::{at, clean, clean_max, count, int_or_string, list, raw, text, MAX_QUERY_CHARS};
use crate::domain::analysis::Outcome;

/// Who the verdicts are from, in the project's terms.
pub const SOURCE: &str = "argo-rollouts";

/// `status.phase` of a run, a metric result or a measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnalysisPhase {
    Pending,
    Running,
    Successful,
    Failed,
    Error,
    Inconclusive,
    /// Absent or not one Argo writes.
    Unknown,
}

impl AnalysisPhase {
    fn read(v: &Value, path: &[&str]) -> Self {
        match raw(v, path) {
            Some("Pending") => AnalysisPhase::Pending,
            Some("Running") => AnalysisPhase::Running,
            Some("Successful") => AnalysisPhase::Successful,
            Some("Failed") => AnalysisPhase::Failed,
            Some("Error") => AnalysisPhase::Error,
            Some("Inconclusive") => AnalysisPhase::Inconclusive,
            _ => AnalysisPhase::Unknown,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            AnalysisPhase::Pending => "Pending",
            AnalysisPhase::Running => "Running",
            AnalysisPhase::Successful => "Successful",
            AnalysisPhase::Failed => "Failed",
            AnalysisPhase::Error => "Error",
            AnalysisPhase::Inconclusive => "Inconclusive",
            AnalysisPhase::Unknown => "Unknown",
        }
    }
}

/// What a metric asks of its provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Provider {
    Prometheus {
        address: Option<String>,
        query: Option<String>,
    },
    Web {
        url: Option<String>,
        json_path: Option<String>,
    },
    /// A Kubernetes Job whose success is the measurement.
    Job,
    /// Any other provider (datadog, newRelic, cloudWatch, plugin...), by
    /// its key, with its `query` when it has one.
    Other {
        kind: String,
        query: Option<String>,
    },
    None,
}

impl Provider {
    /// One line for a table: the query, the URL, or `job`.
    pub fn describe(&self) -> String {
        match self {
            Provider::Prometheus { query: Some(q), .. }
            | Provider::Other { query: Some(q), .. } => q.clone(),
            Provider::Web { url: Some(u), .. } => u.clone(),
            Provider::Job => "job".into(),
            Provider::Prometheus { .. } => "prometheus".into(),
            Provider::Web { .. } => "web".into(),
            Provider::Other { kind, .. } => kind.clone(),
            Provider::None => String::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeasurementView {
    pub phase: AnalysisPhase,
    /// What the provider returned, as Argo recorded it (a Job has none).
    pub value: Option<String>,
    pub message: Option<String>,
    /// RFC 3339, as sent.
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// `metadata.job-name` of a Job measurement.
    pub job_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricView {
    pub name: String,
    pub provider: Provider,
    pub success_condition: Option<String>,
    pub failure_condition: Option<String>,
    pub failure_limit: Option<String>,
    pub inconclusive_limit: Option<String>,
    pub phase: AnalysisPhase,
    pub message: Option<String>,
    /// Counters from the metric result: measured, successful, failed,
    /// inconclusive, error.
    pub count: u32,
    pub successful: u32,
    pub failed: u32,
    pub inconclusive: u32,
    pub error: u32,
    pub measurements: Vec<MeasurementView>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalysisRunView {
    pub name: Option<String>,
    pub phase: AnalysisPhase,
    pub message: Option<String>,
    pub metrics: Vec<MetricView>,
}

impl AnalysisRunView {
    /// Pass, fail or inconclusive once the run is over; `None` before.
    pub fn outcome(&self) -> Option<Outcome> {
        match self.phase {
            AnalysisPhase::Successful => Some(Outcome::Pass),
            AnalysisPhase::Failed | AnalysisPhase::Error => Some(Outcome::Fail),
            AnalysisPhase::Inconclusive => Some(Outcome::Inconclusive),
            _ => None,
        }
    }

    pub fn metric(&self, name: &str) -> Option<&MetricView> {
        self.metrics.iter().find(|m| m.name == name)
    }
}

/// Read an AnalysisRun (as JSON); never fails.
pub fn analysis_run_view(obj: &Value) -> AnalysisRunView {
    // Early AnalysisRuns nested the metrics under `spec.analysisSpec`.
    let specs = match at(obj, &["spec", "metrics"]) {
        Some(Value::Array(m)) => m.as_slice(),
        _ => list(obj, &["spec", "analysisSpec", "metrics"]),
    };
    let results = list(obj, &["status", "metricResults"]);
    let mut metrics: Vec<MetricView> = specs
        .iter()
        .map(|spec| {
            let name = raw(spec, &["name"]);
            let result = results
                .iter()
                .find(|r| name.is_some() && raw(r, &["name"]) == name);
            metric(Some(spec), result)
        })
        .collect();
    // A result whose metric the spec does not list is still shown.
    for r in results {
        let name = raw(r, &["name"]);
        if !specs
            .iter()
            .any(|s| name.is_some() && raw(s, &["name"]) == name)
        {
            metrics.push(metric(None, Some(r)));
        }
    }
    AnalysisRunView {
        name: text(obj, &["metadata", "name"]),
        phase: AnalysisPhase::read(obj, &["status", "phase"]),
        message: text(obj, &["status", "message"]),
        metrics,
    }
}

fn metric(spec: Option<&Value>, result: Option<&Value>) -> MetricView {
    let s = spec.unwrap_or(&Value::Null);
    let r = result.unwrap_or(&Value::Null);
    let n = |key| count(r, &[key]).unwrap_or(0);
    MetricView {
        name: text(s, &["name"])
            .or_else(|| text(r, &["name"]))
            .unwrap_or_default(),
        provider: provider(s),
        success_condition: text(s, &["successCondition"]),
        failure_condition: text(s, &["failureCondition"]),
        failure_limit: int_or_string(s, &["failureLimit"]),
        inconclusive_limit: int_or_string(s, &["inconclusiveLimit"]),
        phase: AnalysisPhase::read(r, &["phase"]),
        message: text(r, &["message"]),
        count: n("count"),
        successful: n("successful"),
        failed: n("failed"),
        inconclusive: n("inconclusive"),
        error: n("error"),
        measurements: list(r, &["measurements"]).iter().map(measurement).collect(),
    }
}

fn measurement(m: &Value) -> MeasurementView {
    MeasurementView {
        phase: AnalysisPhase::read(m, &["phase"]),
        value: text(m, &["value"]),
        message: text(m, &["message"]),
        started_at: text(m, &["startedAt"]),
        finished_at: text(m, &["finishedAt"]),
        job_name: text(m, &["metadata", "job-name"]),
    }
}

fn provider(spec: &Value) -> Provider {
    let Some(p) = at(spec, &["provider"]).and_then(Value::as_object) else {
        return Provider::None;
    };
    // Queries are often block scalars over several lines: shown as one.
    let query = |v: &Value, key: &str| {
        raw(v, &[key])
            .map(|q| {
                clean_max(
                    &q.split_whitespace().collect::<Vec<_>>().join(" "),
                    MAX_QUERY_CHARS,
                )
            })
            .filter(|q| !q.is_empty())
    };
    if let Some(v) = p.get("prometheus") {
        return Provider::Prometheus {
            address: query(v, "address"),
            query: query(v, "query"),
        };
    }
    if let Some(v) = p.get("web") {
        return Provider::Web {
            url: query(v, "url"),
            json_path: query(v, "jsonPath"),
        };
    }
    if p.contains_key("job") {
        return Provider::Job;
    }
    match p.iter().next() {
        Some((kind, v)) => Provider::Other {
            kind: clean(kind),
            query: query(v, "query"),
        },
        None => Provider::None,
    }
}
