//! Loading the runtime's history into a console that attaches late.

use std::sync::Arc;

use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::history_events;
use crate::app::keymap::Keymap;
use crate::app::msg::Msg;
use crate::app::state::App;
use crate::config::Config;
use crate::domain::analysis::{analyze, Thresholds, VersionSample};
use crate::domain::environment::EnvironmentStatus;
use crate::runtime::{History, RecordedVerdict, RuntimeEvent};
use crate::ui::theme::Theme;

fn staging() -> EnvironmentStatus {
    crate::domain::environment::fixtures::staging_canary(50, 3, 4, "canary v2 50%")
}

fn screen(app: &App) -> String {
    let mut term = Terminal::new(TestBackend::new(140, 45)).expect("test terminal");
    let theme = Theme::monochrome();
    term.draw(|f| crate::ui::draw(f, app, &theme))
        .expect("draw");
    let buf = term.backend().buffer().clone();
    buf.content().iter().map(|c| c.symbol()).collect()
}

#[test]
fn a_loaded_verdict_shows_the_step_it_judged() {
    let verdict = analyze(
        &VersionSample {
            requests: 400,
            p99_ms: 90.0,
            ..Default::default()
        },
        None,
        &Thresholds::default(),
    );
    let history = History {
        verdicts: vec![RecordedVerdict {
            env: "staging".into(),
            step: 2,
            verdict,
        }],
        ..Default::default()
    };
    let events: Vec<RuntimeEvent> = history_events(history).collect();
    assert!(
        matches!(events.as_slice(), [RuntimeEvent::Verdict { step: 2, .. }]),
        "{events:#?}"
    );

    let keymap = Keymap::build(&Default::default()).expect("default keymap");
    let mut app = App::new(Arc::new(Config::default()), "sandbox", false, keymap, 0);
    assert_eq!(app.config.rollout.steps.len(), 4, "the default rollout");
    app.update(Msg::Runtime(Box::new(RuntimeEvent::Environment {
        status: staging(),
    })));
    for ev in events {
        app.update(Msg::Runtime(Box::new(ev)));
    }
    let text = screen(&app);
    assert!(text.contains("step 3/4"), "{text}");
    assert!(!text.contains("step 1/4"), "{text}");
}
