//! Snapshot tests of what only an observed rollout (`runtime: kubernetes`)
//! shows: set vs actual weight, the ReplicaSets with their images, pods with
//! why they are not running well, stale data while the cluster is away, and
//! an AnalysisRun's verdict with its metrics and queries.
//! Accept new snapshots with `INSTA_UPDATE=always cargo test --test ui_snapshots_kube`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::Arc;

use blissful_infra::app::keymap::Keymap;
use blissful_infra::app::state::{App, PaneId};
use blissful_infra::config::{Config, RuntimeKind};
use blissful_infra::domain::analysis::{Finding, Outcome, Verdict, VersionSample};
use blissful_infra::domain::environment::{
    EnvironmentStatus, Health, InstanceDetail, InstancePhase, InstanceStatus, TrafficSplit, Version,
};
use blissful_infra::domain::observed::{ObservedRollout, ReplicaSetInfo};
use blissful_infra::runtime::SourceState;
use support::ui::{buffer_text, snapshot};

/// 2023-11-14 22:13:20 UTC.
const NOW: i64 = 1_700_000_000_000;
const UNREACHABLE: &str = "API server https://10.0.0.1:6443 unreachable (Connection refused); \
    retrying every second, the panes keep the last data (stale)";

fn pod(
    id: &str,
    version: &str,
    phase: InstancePhase,
    restarts: u32,
    reason: Option<&str>,
) -> InstanceStatus {
    InstanceStatus {
        id: id.into(),
        version: Version::new(version),
        phase,
        restarts,
        detail: InstanceDetail::Pod {
            node: Some("kind-worker".into()),
            reason: reason.map(str::to_string),
        },
    }
}

fn rs(hash: &str, tag: &str, ready: u32, replicas: u32) -> ReplicaSetInfo {
    ReplicaSetInfo {
        hash: hash.into(),
        image: Some(format!("ghcr.io/acme/web:{tag}")),
        ready,
        replicas,
    }
}

fn env(name: &str, health: Health, observed: ObservedRollout) -> EnvironmentStatus {
    EnvironmentStatus {
        name: name.into(),
        traffic: TrafficSplit {
            stable: Some(Version::new("v1")),
            canary: observed.canary.as_ref().map(|_| Version::new("v2")),
            canary_weight: observed.actual_weight.unwrap_or(0),
        },
        previous: None,
        step: observed.canary.as_ref().map(|_| (3, 8)),
        health,
        instances: Vec::new(),
        replicas: observed.desired,
        last_change: NOW - 12_000,
        router_addr: String::new(),
        metrics_addr: String::new(),
        faults: Vec::new(),
        revisions: Vec::new(),
        observed: Some(observed),
    }
}

fn kube_app() -> App {
    let config = Config {
        runtime: RuntimeKind::Kubernetes,
        ..Config::default()
    };
    let keymap = Keymap::build(&Default::default()).unwrap();
    let mut app = App::new(
        Arc::new(config),
        "kubernetes (kind-prod)",
        false,
        keymap,
        NOW,
    );
    let mut staging = env(
        "staging",
        Health::Paused("CanaryPauseStep".into()),
        ObservedRollout {
            controller: "argo-rollouts".into(),
            object: "rollout web in shop-staging".into(),
            set_weight: Some(40),
            actual_weight: Some(20),
            stable: Some(rs("7d84d44bb8", "v1", 4, 4)),
            canary: Some(rs("db976bc44", "v2", 0, 1)),
            ready: 4,
            desired: 5,
            stale: None,
        },
    );
    staging.instances = vec![
        pod("web-7d84d44bb8-z5wps", "v1", InstancePhase::Ready, 0, None),
        pod(
            "web-db976bc44-x2k9q",
            "v2",
            InstancePhase::Starting,
            4,
            Some("CrashLoopBackOff (last exit: OOMKilled)"),
        ),
    ];
    let production = env(
        "production",
        Health::Healthy,
        ObservedRollout {
            controller: "argo-rollouts".into(),
            object: "rollout web in shop".into(),
            set_weight: Some(100),
            actual_weight: Some(100),
            stable: Some(rs("7d84d44bb8", "v1", 5, 5)),
            canary: None,
            ready: 5,
            desired: 5,
            stale: Some(UNREACHABLE.into()),
        },
    );
    app.envs = vec![staging, production];
    let verdict = Verdict {
        outcome: Outcome::Fail,
        checks: Vec::new(),
        canary: VersionSample::default(),
        stable: None,
        source: Some("argo-rollouts".into()),
        queries: Vec::new(),
        findings: vec![
            Finding {
                name: "success-rate".into(),
                outcome: Some(Outcome::Fail),
                detail: "Failed · 3 measured, 2 failed (limit 1) · last value 0.91".into(),
                query: Some(
                    "sum(rate(http_requests_total{status!~\"5..\"}[5m])) / sum(rate(http_requests_total[5m]))"
                        .into(),
                ),
            },
            Finding {
                name: "latency-p99".into(),
                outcome: Some(Outcome::Pass),
                detail: "Successful · 3 measured".into(),
                query: None,
            },
        ],
    };
    app.verdicts.insert("staging".into(), (3, verdict));
    app.sources
        .insert("kubernetes (kind-prod)".into(), SourceState::Ok);
    app.sources.insert(
        "kubernetes".into(),
        SourceState::Degraded(UNREACHABLE.into()),
    );
    app
}

#[test]
fn an_observed_rollout_shows_weights_replicasets_and_pods() {
    let mut app = kube_app();
    app.focus = PaneId::Environments;
    app.zoomed = true;
    let text = buffer_text(&snapshot("kube_environments", &app, 120, 40));
    assert!(text.contains("v2 20% (set 40%)"), "{text}");
    assert!(text.contains("4/5"), "{text}");
    assert!(text.contains("weight set 40% actual 20%"), "{text}");
    assert!(text.contains("ghcr.io/acme/web:v2 0/1"), "{text}");
    assert!(
        text.contains("CrashLoopBackOff (last exit: OOMKilled)"),
        "{text}"
    );
    assert!(text.contains("stale · Healthy"), "{text}");
}

#[test]
fn stale_data_is_marked_in_the_detail() {
    let mut app = kube_app();
    app.selected_env = 1;
    app.env_chosen = true;
    app.focus = PaneId::Environments;
    app.zoomed = true;
    let text = buffer_text(&snapshot("kube_environments_stale", &app, 120, 40));
    assert!(
        text.contains("stale: last data shown; API server"),
        "{text}"
    );
}

#[test]
fn an_analysis_run_verdict_lists_its_failed_metrics_with_queries() {
    let mut app = kube_app();
    app.focus = PaneId::Metrics;
    app.zoomed = true;
    let text = buffer_text(&snapshot("kube_metrics_verdict", &app, 120, 40));
    assert!(text.contains("step 4/8 on argo-rollouts"), "{text}");
    assert!(text.contains("success-rate: Failed"), "{text}");
    assert!(
        text.contains("query sum(rate(http_requests_total"),
        "{text}"
    );
    assert!(!text.contains("latency-p99:"), "{text}");
}
