//! The Chaos pane lists the scenarios the attached runtime offers, in the
//! order the chaos picker offers them, so the pane's selection and the
//! picker's agree: a runtime offering every scenario shows the container
//! ones too, one offering the process ones shows only those.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::Arc;

use blissful_infra::app::keymap::Keymap;
use blissful_infra::app::state::{App, PaneId};
use blissful_infra::config::Config;
use blissful_infra::domain::chaos::ScenarioKind;
use blissful_infra::runtime::{Capabilities, DeliveryMode};
use blissful_infra::ui::Theme;
use support::ui::{buffer_text, render};

fn chaos_pane(offered: &[ScenarioKind]) -> String {
    let cfg = Arc::new(Config::default());
    let keymap = Keymap::build(&cfg.keymap).unwrap();
    let mut app = App::new(cfg, "docker", false, keymap, 0);
    app.capabilities = Some(
        Capabilities::with(DeliveryMode::Driven, &[], |_| String::new())
            .with_scenarios(offered.iter().copied()),
    );
    app.focus = PaneId::Chaos;
    app.zoomed = true;
    app.chaos_selected = offered.len() - 1;
    buffer_text(&render(&app, &Theme::monochrome(), 120, 40))
}

#[test]
fn the_pane_lists_what_the_runtime_offers_with_the_pickers_selection() {
    let every: Vec<ScenarioKind> = ScenarioKind::every()
        .filter(|k| *k != ScenarioKind::DnsFailure)
        .collect();
    let screen = chaos_pane(&every);
    for k in &every {
        assert!(screen.contains(k.name()), "{k} missing:\n{screen}");
    }
    assert!(
        !screen.contains("dns-failure"),
        "not offered, not listed:\n{screen}"
    );
    // The selection marks the last offered scenario, as the picker would.
    let selected = screen.lines().find(|l| l.contains('▸')).unwrap();
    assert!(
        selected.contains(every[every.len() - 1].name()),
        "{selected}"
    );
    let screen = chaos_pane(&ScenarioKind::ALL);
    assert!(!screen.contains("db-down"), "{screen}");
    assert!(screen.contains("cpu-stress"), "{screen}");
}
