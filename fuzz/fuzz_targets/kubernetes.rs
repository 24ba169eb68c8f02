//! The Kubernetes object mapping: any object (JSON, or YAML as the shared
//! fixtures are written) read as a Rollout, an AnalysisRun and an Argo CD
//! Application gives views whose strings are cleaned and bounded and
//! whose numbers hold together; a Rollout applied to an environment
//! gives counts without overflow.
#![no_main]

use blissful_infra::domain::environment::{EnvironmentStatus, Health, TrafficSplit, Version};
use blissful_infra::kubernetes::analysis::{AnalysisRunView, Provider};
use blissful_infra::kubernetes::fields::{MAX_QUERY_CHARS, MAX_TEXT_CHARS};
use blissful_infra::kubernetes::{
    analysis_run_view, application_view, rollout_view, ApplicationView, RolloutView,
};
use blissful_infra_fuzz::require_cell;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let obj = match serde_json::from_slice::<Value>(data) {
        Ok(v) => v,
        Err(_) => {
            let Ok(text) = std::str::from_utf8(data) else {
                return;
            };
            let Ok(v) = serde_saphyr::from_str::<Value>(text) else {
                return;
            };
            v
        }
    };
    check_rollout(&rollout_view(&obj));
    check_analysis(&analysis_run_view(&obj));
    check_application(&application_view(&obj));
});

fn cell(what: &str, s: &Option<String>) {
    if let Some(s) = s {
        require_cell(what, s, MAX_TEXT_CHARS);
    }
}

fn check_health(h: &Health) {
    match h {
        Health::Progressing(m)
        | Health::Paused(m)
        | Health::Aborted(m)
        | Health::Degraded(m)
        | Health::Down(m) => require_cell("health", m, MAX_TEXT_CHARS),
        Health::Healthy | Health::Unknown => {}
    }
}

fn check_rollout(r: &RolloutView) {
    cell("name", &r.name);
    cell("namespace", &r.namespace);
    cell("stable hash", &r.stable_hash);
    cell("canary hash", &r.canary_hash);
    cell("canary image", &r.canary_image);
    cell("stable image", &r.stable_image);
    check_health(&r.health);
    if let Some((index, steps)) = r.step {
        assert!(index <= steps, "step {index} of {steps}");
    }
    for w in [r.set_weight, r.actual_weight].into_iter().flatten() {
        assert!(w <= 100, "weight {w}");
    }
    if let Some(bg) = &r.blue_green {
        cell("active service", &bg.active_service);
        cell("preview service", &bg.preview_service);
        cell("active selector", &bg.active_selector);
        cell("preview selector", &bg.preview_selector);
    }
    let traffic = r.traffic();
    assert!(traffic.canary_weight <= 100, "{traffic:?}");
    for v in [&traffic.stable, &traffic.canary].into_iter().flatten() {
        require_cell("version", &v.0, MAX_TEXT_CHARS);
    }
    let mut env = environment();
    r.apply_to(&mut env);
    // Replicas come from the cluster: counting instances must not overflow
    // (the targets build with overflow checks).
    let _ = env.ready_desired();
}

fn check_analysis(a: &AnalysisRunView) {
    cell("run name", &a.name);
    cell("run message", &a.message);
    for m in &a.metrics {
        require_cell("metric name", &m.name, MAX_TEXT_CHARS);
        cell("metric message", &m.message);
        for c in [
            &m.success_condition,
            &m.failure_condition,
            &m.failure_limit,
            &m.inconclusive_limit,
        ] {
            cell("condition", c);
        }
        match &m.provider {
            Provider::Prometheus { address, query } => {
                query_cell(address);
                query_cell(query);
            }
            Provider::Web { url, json_path } => {
                query_cell(url);
                query_cell(json_path);
            }
            Provider::Other { kind, query } => {
                require_cell("provider", kind, MAX_TEXT_CHARS);
                query_cell(query);
            }
            Provider::Job | Provider::None => {}
        }
        for x in &m.measurements {
            cell("measured value", &x.value);
            cell("measurement message", &x.message);
            cell("started at", &x.started_at);
            cell("finished at", &x.finished_at);
            cell("job name", &x.job_name);
        }
    }
    let _ = a.outcome();
}

fn query_cell(s: &Option<String>) {
    if let Some(s) = s {
        require_cell("query", s, MAX_QUERY_CHARS);
    }
}

fn check_application(a: &ApplicationView) {
    for (what, s) in [
        ("name", &a.name),
        ("namespace", &a.namespace),
        ("sync status", &a.sync_status),
        ("health status", &a.health_status),
        ("health message", &a.health_message),
        ("revision", &a.revision),
        ("operation phase", &a.operation_phase),
        ("operation message", &a.operation_message),
        ("finished at", &a.operation_finished_at),
    ] {
        cell(what, s);
    }
    check_health(&a.health());
    let _ = a.is_synced();
}

/// `staging` on stable `v1`, before the Rollout is applied.
fn environment() -> EnvironmentStatus {
    EnvironmentStatus {
        name: "staging".into(),
        traffic: TrafficSplit {
            stable: Some(Version::new("v1")),
            canary: None,
            canary_weight: 0,
        },
        previous: None,
        step: None,
        health: Health::Healthy,
        instances: Vec::new(),
        replicas: 1,
        last_change: 0,
        router_addr: String::new(),
        metrics_addr: String::new(),
        faults: Vec::new(),
        revisions: Vec::new(),
        observed: None,
    }
}
