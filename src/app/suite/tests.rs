use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::app::keymap::Keymap;
use crate::app::msg::Command;
use crate::app::state::{Mode, PaneId};
use crate::config::Config;
use crate::domain::chaos::{ChaosSlo, Experiment, FaultParams, Figures, Observed, Tolerance};
use crate::faults::suite::{Step, SuitePlan};
use crate::runtime::RuntimeEvent;

fn app() -> App {
    let keymap = Keymap::build(&Default::default()).unwrap();
    let mut app = App::new(Arc::new(Config::default()), "sandbox", false, keymap, 1_000);
    app.on_runtime_event(RuntimeEvent::Environment {
        status: crate::domain::environment::fixtures::staging_stable(),
    });
    app
}

fn key(app: &mut App, c: char) -> Vec<Command> {
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::NONE,
    )))
}

fn step(n: i64) -> StepTiming {
    StepTiming {
        scenario: Some(ScenarioKind::PodKill),
        step: Step::Observe,
        started_at: n,
        took_ms: 1000,
        note: format!("step {n}"),
    }
}

fn report(passed: bool) -> SuiteReport {
    let slo = ChaosSlo::default();
    let mut x = Experiment::new(
        "x1".into(),
        "staging",
        ScenarioKind::PodKill,
        FaultParams::default(),
        0,
    );
    x.observe(1000, 0.0, 10.0, u64::from(!passed), true, &slo);
    x.fault_removed(1000);
    x.observe(2000, 0.0, 10.0, 0, false, &slo);
    let v = ScenarioVerdict::judge(&x, Figures::default(), &Observed::default(), &slo, Some(0));
    SuiteReport {
        env: "staging".into(),
        runtime: "sandbox".into(),
        started_at: 0,
        finished_at: 2000,
        plan: SuitePlan {
            env: "staging".into(),
            scenarios: vec![ScenarioKind::PodKill],
            params: FaultParams::default(),
            baseline_secs: 5,
            slo,
            tolerance: Tolerance::default(),
            abort_on_critical: false,
            load: None,
        },
        score: crate::domain::chaos::resilience_score(std::slice::from_ref(&v)),
        verdicts: vec![v],
        steps: Vec::new(),
        stopped_early: None,
        refused: Vec::new(),
        scorecard: Default::default(),
    }
}

#[test]
fn m_in_the_chaos_pane_confirms_then_starts_the_suite_for_the_selected_scenario() {
    let mut a = app();
    a.focus = PaneId::Chaos;
    a.chaos_selected = 1;
    assert!(key(&mut a, 'm').is_empty());
    let Mode::Confirm(c) = &a.mode else {
        panic!("no confirmation: {:?}", a.mode)
    };
    assert!(
        c.lines[0].contains("FMEA of network-latency on staging"),
        "{:?}",
        c.lines
    );
    let cmds = key(&mut a, 'y');
    assert_eq!(
        cmds,
        vec![Command::ChaosSuite {
            env: "staging".into(),
            scenario: ScenarioKind::NetworkLatency
        }]
    );
    assert!(a.suite.as_ref().is_some_and(SuiteView::running));
    // A second suite waits for the first.
    assert!(key(&mut a, 'm').is_empty());
    assert!(a
        .flash
        .as_ref()
        .is_some_and(|f| f.text.contains("already running")));
}

#[test]
fn m_is_refused_in_read_only_mode() {
    let keymap = Keymap::build(&Default::default()).unwrap();
    let mut a = App::new(Arc::new(Config::default()), "sandbox", true, keymap, 1_000);
    a.on_runtime_event(RuntimeEvent::Environment {
        status: crate::domain::environment::fixtures::staging_stable(),
    });
    a.focus = PaneId::Chaos;
    assert!(key(&mut a, 'm').is_empty());
    assert!(!matches!(a.mode, Mode::Confirm(_)), "{:?}", a.mode);
    assert!(a.suite.is_none());
}

#[test]
fn steps_are_bounded_and_the_outcome_is_flashed() {
    let mut a = app();
    a.suite = Some(SuiteView::new("staging", vec![ScenarioKind::PodKill]));
    for n in 0..(MAX_SUITE_STEPS as i64 + 5) {
        a.update(Msg::Suite(SuiteMsg::Step(step(n))));
    }
    let view = a.suite.as_ref().unwrap();
    assert_eq!(view.steps.len(), MAX_SUITE_STEPS);
    assert_eq!(view.steps_dropped, 5);
    assert_eq!(view.steps.front().map(|s| s.started_at), Some(5));
    let r = report(false);
    a.update(Msg::Suite(SuiteMsg::Verdict(Box::new(
        r.verdicts[0].clone(),
    ))));
    a.update(Msg::Suite(SuiteMsg::Done(Ok(Box::new(r)))));
    let view = a.suite.as_ref().unwrap();
    assert!(!view.running());
    assert_eq!(view.verdicts.len(), 1);
    let flash = a.flash.as_ref().unwrap();
    assert!(flash.text.contains("score 0/100"), "{}", flash.text);
    a.update(Msg::Suite(SuiteMsg::Done(Ok(Box::new(report(true))))));
    assert!(a
        .flash
        .as_ref()
        .unwrap()
        .text
        .contains("every scenario passed"));
}
