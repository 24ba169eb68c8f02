//! The console's rollout verbs: offered from capabilities, confirmed, sent
//! as intents.
#![cfg(test)] // test code only

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::keymap::Keymap;
use super::msg::{Command, Msg, RuntimeCommand};
use super::state::{App, Mode};
use crate::config::Config;
use crate::domain::environment::EnvironmentStatus;
use crate::runtime::{Capabilities, DeliveryMode, Intent, IntentKind, RuntimeEvent};

fn staging() -> EnvironmentStatus {
    crate::domain::environment::fixtures::staging_canary(25, 0, 2, "step 1/2")
}

fn app(supported: &[IntentKind]) -> App {
    let keymap = Keymap::build(&Default::default()).expect("default keymap");
    let mut app = App::new(Arc::new(Config::default()), "sandbox", false, keymap, 0);
    app.capabilities = Some(Capabilities::with(DeliveryMode::Driven, supported, |k| {
        format!("this runtime has no {} yet", k.name())
    }));
    app.on_runtime_event(RuntimeEvent::Environment { status: staging() });
    app
}

fn key(app: &mut App, code: KeyCode) -> Vec<Command> {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

#[test]
fn an_unsupported_verb_flashes_the_runtimes_reason_and_asks_nothing() {
    let mut a = app(&[IntentKind::Deploy]);
    assert!(key(&mut a, KeyCode::Char('P')).is_empty());
    assert!(matches!(a.mode, Mode::Normal));
    let flash = a.flash.as_ref().map(|f| f.text.clone()).unwrap_or_default();
    assert!(flash.contains("this runtime has no pause yet"), "{flash}");
}

#[test]
fn abort_asks_for_a_reason_and_sends_it() {
    let mut a = app(&[IntentKind::Abort]);
    key(&mut a, KeyCode::Char('A'));
    let Mode::Confirm(c) = &a.mode else {
        panic!("no confirm dialog: {:?}", a.mode)
    };
    assert!(c
        .reason
        .as_deref()
        .is_some_and(|r| r.starts_with("aborted by ")));
    // Replace the default reason: clear it, type ours, confirm with enter.
    let len = c.reason.as_ref().map(|r| r.chars().count()).unwrap_or(0);
    for _ in 0..len {
        key(&mut a, KeyCode::Backspace);
    }
    for ch in "p99 is off".chars() {
        key(&mut a, KeyCode::Char(ch));
    }
    let cmds = key(&mut a, KeyCode::Enter);
    assert_eq!(
        cmds,
        vec![Command::Runtime(RuntimeCommand::Intent {
            env: "staging".into(),
            intent: Intent::Abort {
                reason: "p99 is off".into()
            },
        })]
    );
}

#[test]
fn verbs_are_confirmed_then_sent_as_intents() {
    let mut a = app(&IntentKind::ALL);
    for (k, intent) in [
        ('P', Intent::Pause),
        ('R', Intent::Resume),
        ('Y', Intent::Retry),
        ('U', Intent::Undo { to_revision: None }),
        ('N', Intent::Promote { full: false }),
        ('F', Intent::Promote { full: true }),
        ('X', Intent::Restart),
    ] {
        key(&mut a, KeyCode::Char(k));
        assert!(matches!(a.mode, Mode::Confirm(_)), "{k}: {:?}", a.mode);
        let cmds = key(&mut a, KeyCode::Char('y'));
        assert_eq!(
            cmds,
            vec![Command::Runtime(RuntimeCommand::Intent {
                env: "staging".into(),
                intent,
            })],
            "{k}"
        );
    }
}

#[test]
fn the_palette_takes_the_same_verbs() {
    let mut a = app(&IntentKind::ALL);
    a.run_palette("undo staging 3")
        .expect("the palette accepts `undo staging 3`");
    let Mode::Confirm(c) = &a.mode else {
        panic!("no confirm dialog")
    };
    assert!(c.lines[0].contains("revision 3"), "{:?}", c.lines);
    // One environment: the next step; two: one environment to another.
    let mut step = app(&IntentKind::ALL);
    step.run_palette("promote staging")
        .expect("the palette accepts `promote staging`");
    let Mode::Confirm(c) = &step.mode else {
        panic!("no confirm dialog")
    };
    assert!(c.lines[0].contains("next step"), "{:?}", c.lines);
    let mut b = app(&[]);
    let err = b.run_palette("pause staging").unwrap_err();
    assert!(err.contains("no pause yet"), "{err}");
}
