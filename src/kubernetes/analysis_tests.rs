//! Every AnalysisRun fixture, mapped and checked against values read by hand.
#![cfg(test)] // test code only

use super::analysis::{analysis_run_view, AnalysisPhase as P, AnalysisRunView, Provider};
use super::fixture::{all, fixture};
use crate::domain::analysis::Outcome;

const COVERED: &[&str] = &[
    "analysisrun-error.yaml",
    "analysisrun-failed-web-metric.yaml",
    "analysisrun-failed.yaml",
    "analysisrun-inconclusive-job-metric.yaml",
    "analysisrun-inconclusive.yaml",
    "analysisrun-pending.yaml",
    "analysisrun-running.yaml",
    "analysisrun-successful.yaml",
    "analysisrun-terminated.yaml",
];

const NGINX_QUERY: &str = r#"sum(rate(nginx_ingress_controller_requests{ingress="canary-demo-preview",status!~"[4-5].*"}[2m])) / sum(rate(nginx_ingress_controller_requests{ingress="canary-demo-preview"}[2m]))"#;

fn run(name: &str) -> AnalysisRunView {
    analysis_run_view(&fixture(&format!("argo-rollouts/{name}")))
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

/// `(phase, value)` of every measurement of the only metric.
fn measured(r: &AnalysisRunView) -> Vec<(P, Option<String>)> {
    assert_eq!(r.metrics.len(), 1, "{r:?}");
    r.metrics[0]
        .measurements
        .iter()
        .map(|m| (m.phase, m.value.clone()))
        .collect()
}

fn prometheus() -> Provider {
    Provider::Prometheus {
        address: s("http://prometheus-operator-prometheus.prometheus-operator:9090"),
        query: s(NGINX_QUERY),
    }
}

#[test]
fn every_analysisrun_fixture_is_checked_here() {
    let covered: Vec<String> = COVERED
        .iter()
        .map(|n| format!("argo-rollouts/{n}"))
        .collect();
    assert_eq!(all("argo-rollouts", "analysisrun-"), covered);
}

#[test]
fn failed_prometheus_run_names_the_metric_and_its_measurement() {
    let r = run("analysisrun-failed.yaml");
    assert_eq!((r.phase, r.outcome()), (P::Failed, Some(Outcome::Fail)));
    assert_eq!(r.message, s("Status Message: Assessed as Failed"));
    let m = r
        .metric("memory-usage")
        .expect("metric memory-usage in the fixture");
    assert_eq!(m.provider, prometheus());
    assert_eq!(m.provider.describe(), NGINX_QUERY);
    assert_eq!(
        (m.success_condition.clone(), m.failure_condition.clone()),
        (s("len(result) > 0"), s("len(result) > 0"))
    );
    assert_eq!(
        (m.failure_limit.clone(), m.inconclusive_limit.clone()),
        (None, None)
    );
    assert_eq!((m.phase, m.count, m.failed), (P::Failed, 1, 1));
    assert_eq!(measured(&r), vec![(P::Failed, s("[0.9768211920529802]"))]);
    assert_eq!(m.measurements[0].finished_at, s("2019-10-28T18:23:23Z"));
}

#[test]
fn failed_web_run() {
    let r = run("analysisrun-failed-web-metric.yaml");
    assert_eq!(r.phase, P::Failed);
    assert_eq!(
        r.message,
        s(r#"metric "web" assessed Failed due to failed (1) > failureLimit (0)"#)
    );
    let m = r.metric("web").expect("metric web in the fixture");
    let url = s("https://jsonplaceholder.typicode.com/todos/1");
    assert_eq!(
        m.provider,
        Provider::Web {
            url: url.clone(),
            json_path: s("{$.completed}")
        }
    );
    assert_eq!(m.provider.describe(), url.expect("the web metric's url"));
    assert_eq!(m.success_condition, s(r#"result == "true""#));
    assert_eq!(measured(&r), vec![(P::Failed, s("false"))]);
}

#[test]
fn error_run_keeps_all_five_measurements() {
    let r = run("analysisrun-error.yaml");
    assert_eq!((r.phase, r.outcome()), (P::Error, Some(Outcome::Fail)));
    assert_eq!(r.message, s("Status Message: Assessed as Error"));
    let m = &r.metrics[0];
    assert_eq!(
        (m.success_condition.clone(), m.failure_condition.clone()),
        (s("result > 95"), s("result < 92"))
    );
    assert_eq!((m.phase, m.error), (P::Error, 5));
    let values: Vec<_> = measured(&r)
        .into_iter()
        .map(|(p, v)| (p, v.expect("a measured value")))
        .collect();
    let (a, b) = (
        "[0.9832775919732442]".to_owned(),
        "[0.9722530521642618]".to_owned(),
    );
    assert_eq!(
        values,
        vec![
            (P::Error, a.clone()),
            (P::Error, a),
            (P::Error, b.clone()),
            (P::Error, b.clone()),
            (P::Error, b)
        ]
    );
}

#[test]
fn inconclusive_runs() {
    let r = run("analysisrun-inconclusive.yaml");
    assert_eq!(
        (r.phase, r.outcome()),
        (P::Inconclusive, Some(Outcome::Inconclusive))
    );
    assert_eq!(
        measured(&r),
        vec![(P::Inconclusive, s("[0.9744444444444443]"))]
    );
    assert_eq!(r.metrics[0].inconclusive, 1);

    let r = run("analysisrun-inconclusive-job-metric.yaml");
    assert_eq!(r.phase, P::Inconclusive);
    let m = r
        .metric("random-fail")
        .expect("metric random-fail in the fixture");
    assert_eq!(
        (m.provider.clone(), m.provider.describe()),
        (Provider::Job, "job".into())
    );
    assert_eq!(
        (m.failure_limit.clone(), m.inconclusive_limit.clone()),
        (s("5"), s("1"))
    );
    assert_eq!(
        (m.count, m.successful, m.failed, m.inconclusive, m.error),
        (8, 4, 4, 1, 1)
    );
    let phases: Vec<P> = m.measurements.iter().map(|x| x.phase).collect();
    use P::{Failed as F, Successful as S};
    assert_eq!(phases, vec![F, S, S, F, F, S, F, S]);
    assert!(m.measurements.iter().all(|x| x.value.is_none()));
    assert_eq!(
        m.measurements[7].job_name,
        s("rollout-experiment-analysis-random-fail-6f646bf7b7-skqcr-rsxm69")
    );
}

#[test]
fn pending_running_and_successful_runs() {
    let r = run("analysisrun-pending.yaml");
    assert_eq!((r.phase, r.outcome()), (P::Pending, None));
    let m = &r.metrics[0];
    assert_eq!((m.name.as_str(), m.phase), ("memory-usage", P::Unknown));
    assert_eq!(
        m.provider,
        prometheus(),
        "a literal block query reads as one line"
    );
    assert!(m.measurements.is_empty());

    let r = run("analysisrun-running.yaml");
    assert_eq!((r.phase, r.outcome()), (P::Running, None));
    let ok = s("[0.9721293199554069]");
    assert_eq!(
        measured(&r),
        vec![(P::Successful, ok.clone()), (P::Successful, ok)]
    );
    assert_eq!(
        (r.metrics[0].phase, r.metrics[0].successful),
        (P::Running, 2)
    );

    let r = run("analysisrun-successful.yaml");
    assert_eq!((r.phase, r.outcome()), (P::Successful, Some(Outcome::Pass)));
    assert_eq!(
        measured(&r),
        vec![(P::Successful, s("[0.965324384787472]"))]
    );
}

#[test]
fn terminated_run_says_so() {
    let r = run("analysisrun-terminated.yaml");
    assert_eq!(
        (r.phase, r.message.clone()),
        (P::Successful, s("run terminated"))
    );
    let m = r
        .metric("sleep-job")
        .expect("metric sleep-job in the fixture");
    assert_eq!(
        (m.provider.clone(), m.message.clone()),
        (Provider::Job, s("metric terminated"))
    );
    assert_eq!(m.measurements[0].message, s("metric terminated"));
    assert_eq!(
        m.measurements[0].job_name,
        s("863da27d-df03-41d2-a528-cc2f1ec25358.sleep-job.1")
    );
}
