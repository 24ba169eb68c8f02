//! Aborted and paused rollouts, and actions a runtime does not offer.

use super::*;

/// A runtime that supports only deploy, undo and switch (as the sandbox did).
fn limited_capabilities() -> blissful_infra::runtime::Capabilities {
    use blissful_infra::runtime::{Capabilities, DeliveryMode, IntentKind};
    Capabilities::with(
        DeliveryMode::Driven,
        &[IntentKind::Deploy, IntentKind::Undo, IntentKind::Switch],
        |k| format!("no {} in this runtime yet", k.name()),
    )
    .with_scenarios(ScenarioKind::ALL)
}

#[test]
fn aborted_and_paused_are_shown_apart_from_degraded() {
    let mut app = rich_app();
    app.envs[0].health = Health::Aborted("p99 looks wrong".into());
    app.envs[1].health = Health::Paused("paused by alice".into());
    let buf = snapshot("rollout_aborted_paused", &app, 120, 40);
    let text = buffer_text(&buf);
    assert!(text.contains("Aborted: p99 looks wrong"), "{text}");
    assert!(text.contains("Paused"), "{text}");
    assert!(!text.contains("Degraded"), "{text}");
}

#[test]
fn unsupported_actions_are_greyed_out_with_the_reason() {
    let mut app = rich_app();
    app.capabilities = Some(limited_capabilities());
    app.mode = Mode::Help { scroll: 0 };
    let buf = snapshot("overlay_help_unsupported", &app, 120, 40);
    let text = buffer_text(&buf);
    assert!(
        text.contains("(unavailable: no resume in this runtime yet)"),
        "{text}"
    );
    // Greyed: the unsupported action's description is drawn muted.
    let theme = Theme::default();
    let row = (0..buf.area.height)
        .find(|y| buffer_row(&buf, *y).contains("pause the selected environment"))
        .expect("pause is listed");
    let line = buffer_row(&buf, row);
    let byte = line.find("pause the selected").expect("description");
    let x = line[..byte].chars().count() as u16;
    assert_eq!(buf[(x, row)].fg, theme.muted().fg.unwrap_or(Color::Reset));
}

#[test]
fn abort_asks_for_a_reason() {
    let mut app = rich_app();
    app.mode = Mode::Confirm(ConfirmDialog {
        action: PendingAction::Intent {
            env: "staging".into(),
            intent: blissful_infra::runtime::Intent::Abort {
                reason: "aborted by alice".into(),
            },
        },
        title: "Confirm: abort".into(),
        lines: vec!["Abort staging's rollout of v2: all traffic back to v1.".into()],
        require_typed: None,
        typed: String::new(),
        reason: Some("aborted by alice".into()),
        editing_reason: true,
    });
    let buf = snapshot("overlay_confirm_abort", &app, 120, 40);
    let text = buffer_text(&buf);
    assert!(text.contains("Reason: aborted by alice"), "{text}");
    assert!(text.contains("enter confirm"), "{text}");
}
