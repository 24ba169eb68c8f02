//! Snapshots of the Chaos pane with an FMEA suite started from it (`m`):
//! while it runs (its newest steps, the current one highlighted) and when
//! done (each scenario's result, severity, detection and recovery times and
//! expected behaviour, and the score), wide and narrow.
//! Accept new snapshots with `INSTA_UPDATE=always cargo test --test ui_snapshots_fmea`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::Arc;

use blissful_infra::app::keymap::Keymap;
use blissful_infra::app::msg::Msg;
use blissful_infra::app::state::{App, PaneId};
use blissful_infra::app::suite::{SuiteMsg, SuiteView};
use blissful_infra::config::Config;
use blissful_infra::domain::chaos::{
    merge, mitigations_for, resilience_score, Basis, ChaosSlo, Experiment, FaultParams, Figures,
    Finding, Observed, Practice, ScenarioKind, ScenarioVerdict, Scorecard, Tolerance,
};
use blissful_infra::faults::suite::{Step, StepTiming, SuitePlan, SuiteReport};
use support::ui::{buffer_text, snapshot};

/// 2023-11-14 22:13:20 UTC.
const NOW: i64 = 1_700_000_000_000;

fn step(scenario: ScenarioKind, step: Step, took_ms: i64, note: &str) -> StepTiming {
    StepTiming {
        scenario: Some(scenario),
        step,
        started_at: NOW,
        took_ms,
        note: note.into(),
    }
}

/// A verdict the way the suite reaches it: the engine's experiment, judged.
fn verdict(kind: ScenarioKind, peak_err: f64, p99: f64, failed: u64) -> ScenarioVerdict {
    let slo = ChaosSlo::default();
    let mut x = Experiment::new(
        format!("{kind}-1"),
        "staging",
        kind,
        FaultParams::default(),
        NOW,
    );
    x.observe(
        NOW + 900,
        peak_err,
        p99,
        failed,
        kind == ScenarioKind::PodKill,
        &slo,
    );
    x.fault_removed(NOW + 1000);
    x.observe(NOW + 3000, 0.0, 10.0, 0, false, &slo);
    let base = Figures {
        rps: 40.0,
        p99_ms: 4.0,
        samples: 5,
        ..Figures::default()
    };
    ScenarioVerdict::judge(&x, base, &Observed::default(), &slo, Some(2000))
}

fn app() -> App {
    let keymap = Keymap::build(&Default::default()).unwrap();
    let mut app = App::new(Arc::new(Config::default()), "sandbox", false, keymap, NOW);
    app.focus = PaneId::Chaos;
    app.zoomed = true;
    let scenarios = vec![
        ScenarioKind::PodKill,
        ScenarioKind::NetworkLatency,
        ScenarioKind::DependencyTimeout,
    ];
    app.suite = Some(SuiteView::new("staging", scenarios));
    for s in [
        step(
            ScenarioKind::PodKill,
            Step::Baseline,
            5000,
            "40.0 req/s, p50 1ms, p95 3ms, p99 4ms, errors 0.0%, cpu 12%, mem 48 MiB (5 samples)",
        ),
        step(
            ScenarioKind::PodKill,
            Step::Inject,
            12,
            "experiment pod-kill-1 (journaled, then applied)",
        ),
        step(
            ScenarioKind::PodKill,
            Step::Observe,
            0,
            "worst sampled error rate 2.5%, fewest ready 1/2",
        ),
        step(
            ScenarioKind::PodKill,
            Step::Validate,
            0,
            "every SLO held while the fault was on",
        ),
        step(
            ScenarioKind::PodKill,
            Step::Recover,
            0,
            "the engine removed the fault at +0.0s",
        ),
        step(
            ScenarioKind::PodKill,
            Step::VerifyRecovery,
            2100,
            "back within tolerance of the baseline 2.0s after removal",
        ),
    ] {
        app.update(Msg::Suite(SuiteMsg::Step(s)));
    }
    app.update(Msg::Suite(SuiteMsg::Verdict(Box::new(verdict(
        ScenarioKind::PodKill,
        0.025,
        40.0,
        3,
    )))));
    app.update(Msg::Suite(SuiteMsg::Step(step(
        ScenarioKind::NetworkLatency,
        Step::Baseline,
        5000,
        "41.2 req/s, p50 1ms, p95 3ms, p99 4ms, errors 0.0%, cpu 12%, mem 48 MiB (5 samples)",
    ))));
    app
}

fn done(app: &mut App) {
    let lat = verdict(ScenarioKind::NetworkLatency, 0.0, 320.0, 0);
    let dep = verdict(ScenarioKind::DependencyTimeout, 0.0, 20.0, 0);
    let kill = app.suite.as_ref().unwrap().verdicts[0].clone();
    app.update(Msg::Suite(SuiteMsg::Verdict(Box::new(lat.clone()))));
    app.update(Msg::Suite(SuiteMsg::Verdict(Box::new(dep.clone()))));
    let practices: Vec<_> = Practice::CHECKLIST
        .iter()
        .map(|p| match p {
            Practice::CircuitBreakers => merge(
                *p,
                &[Finding::Present {
                    basis: Basis::Measured,
                    evidence: "1 circuit-breaker series on 127.0.0.1:8080, never seen open".into(),
                }],
            ),
            Practice::HealthChecks => merge(
                *p,
                &[Finding::Present {
                    basis: Basis::Read,
                    evidence: "k8s/base/deployment.yaml:21".into(),
                }],
            ),
            Practice::GracefulShutdown => merge(*p, &[]),
            _ => merge(
                *p,
                &[Finding::Absent {
                    looked: "14 code and manifest files".into(),
                }],
            ),
        })
        .collect();
    let mut verdicts = vec![kill, lat, dep];
    for v in &mut verdicts {
        v.mitigations = mitigations_for(v.scenario, &practices);
    }
    let score = resilience_score(&verdicts);
    let report = SuiteReport {
        env: "staging".into(),
        runtime: "sandbox".into(),
        started_at: NOW,
        finished_at: NOW + 45_000,
        plan: SuitePlan {
            env: "staging".into(),
            scenarios: vec![],
            params: FaultParams::default(),
            baseline_secs: 5,
            slo: ChaosSlo::default(),
            tolerance: Tolerance::default(),
            abort_on_critical: false,
            load: None,
        },
        score,
        verdicts,
        steps: Vec::new(),
        stopped_early: None,
        refused: Vec::new(),
        scorecard: Scorecard {
            score,
            checklist: practices,
        },
    };
    app.update(Msg::Suite(SuiteMsg::Done(Ok(Box::new(report)))));
}

#[test]
fn fmea_running_and_done_wide_and_narrow() {
    let mut a = app();
    let running = buffer_text(&snapshot("fmea_running", &a, 160, 40));
    assert!(
        running
            .contains("FMEA · pod-kill, network-latency, dependency-timeout on staging · running"),
        "{running}"
    );
    assert!(
        running.contains("[1/8 baseline] network-latency"),
        "{running}"
    );
    assert!(running.contains("✗ pod-kill fail"), "{running}");
    done(&mut a);
    let wide = buffer_text(&snapshot("fmea_done", &a, 160, 40));
    // pod-kill (3 failed requests) and network-latency (p99 320ms) fail, the
    // circuit breaker is unmeasured: 0 of 3 weighted points.
    assert!(wide.contains("score 0/100"), "{wide}");
    assert!(wide.contains("? dependency-timeout inconclusive"), "{wide}");
    assert!(wide.contains("✗ network-latency fail Medium"), "{wide}");
    assert!(wide.contains("2/7 practices seen"), "{wide}");
    assert!(
        wide.contains("checklist: circuit breakers yes · retry logic no · health checks yes"),
        "{wide}"
    );
    assert!(
        wide.contains("mitigation: health checks yes, graceful shutdown ?"),
        "pod-kill's mitigations (no disruption budget was looked for): {wide}"
    );
    let narrow = buffer_text(&snapshot("fmea_done", &a, 100, 30));
    assert!(narrow.contains("FMEA"), "{narrow}");
}
