//! Unit tests of the keymap: parsing, overrides, clashes, the table.
#![cfg(test)] // test code only

use super::*;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers};

fn chord(s: &str) -> KeyChord {
    KeyChord::parse(s).unwrap_or_else(|| panic!("cannot parse {s:?}"))
}

fn overrides(pairs: &[(&str, &[&str])]) -> BTreeMap<String, KeyBinding> {
    pairs
        .iter()
        .map(|(id, keys)| {
            let b = if keys.len() == 1 {
                KeyBinding::One(keys[0].to_string())
            } else {
                KeyBinding::Many(keys.iter().map(|k| k.to_string()).collect())
            };
            (id.to_string(), b)
        })
        .collect()
}

fn event(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
    KeyEvent {
        code,
        modifiers,
        kind: KeyEventKind::Press,
        state: KeyEventState::NONE,
    }
}

/// Exhaustive: adding an `Action` variant fails to compile here until it
/// gets an ordinal, and then `every_action_is_in_the_table_once` fails
/// until it is listed in `ALL` and in `ACTIONS`.
fn ordinal(a: Action) -> usize {
    use Action::*;
    match a {
        Quit => 0,
        Help => 1,
        Palette => 2,
        FocusNext => 3,
        FocusPrev => 4,
        FocusEnvironments => 5,
        FocusLogs => 6,
        FocusPipeline => 7,
        FocusMetrics => 8,
        FocusChaos => 9,
        FocusAgent => 10,
        Zoom => 11,
        ScrollUp => 12,
        ScrollDown => 13,
        PageUp => 14,
        PageDown => 15,
        Top => 16,
        Bottom => 17,
        NextEnv => 18,
        PrevEnv => 19,
        Deploy => 20,
        Promote => 21,
        Rollback => 22,
        SwitchTraffic => 23,
        Chaos => 24,
        UndoFaults => 25,
        LogFilter => 26,
        ClearFilter => 27,
        ToggleFollow => 28,
        ToggleWrap => 29,
        ToggleTimestamps => 30,
        ToggleEnvFilter => 31,
        AgentCompose => 32,
        LoadTest => 33,
        Compare => 34,
        ShowComparison => 35,
        FollowTrace => 36,
        PauseRollout => 37,
        ResumeRollout => 38,
        AbortRollout => 39,
        RetryRollout => 40,
        UndoRevision => 41,
        PromoteFull => 42,
        RestartEnv => 43,
        PromoteStep => 44,
        ChaosSuite => 45,
        PipelineView => 46,
        NextStage => 47,
        PrevStage => 48,
        RunPipeline => 49,
        RerunStage => 50,
        CancelPipeline => 51,
    }
}
const VARIANTS: usize = 52;

#[test]
fn every_action_is_in_the_table_once() {
    let mut seen = vec![0usize; VARIANTS];
    for spec in ACTIONS {
        seen[ordinal(spec.action)] += 1;
    }
    for (i, n) in seen.iter().enumerate() {
        assert_eq!(
            *n, 1,
            "action with ordinal {i} appears {n} times in ACTIONS"
        );
    }
    let mut ids: Vec<&str> = ACTIONS.iter().map(|s| s.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), ACTIONS.len(), "action ids are not unique");
    for spec in ACTIONS {
        assert_eq!(spec_by_id(spec.id).map(|s| s.action), Some(spec.action));
        assert!(
            !spec.default_keys.is_empty(),
            "{} has no default key",
            spec.id
        );
    }
}

#[test]
fn default_keymap_builds_without_clash() {
    let km = Keymap::build(&BTreeMap::new()).unwrap_or_else(|e| panic!("defaults clash: {e:?}"));
    for spec in ACTIONS {
        let keys = km.keys_for(spec.action);
        assert_eq!(keys.len(), spec.default_keys.len(), "{}", spec.id);
    }
}

#[test]
fn parse_and_display_round_trip() {
    for s in [
        "d",
        "G",
        "?",
        "/",
        ":",
        "[",
        "]",
        "-",
        "1",
        "space",
        "enter",
        "esc",
        "tab",
        "backtab",
        "backspace",
        "up",
        "down",
        "left",
        "right",
        "pageup",
        "pagedown",
        "home",
        "end",
        "f1",
        "f12",
        "ctrl-c",
        "alt-x",
        "ctrl-alt-d",
        "ctrl--",
        "alt-G",
        "ctrl-space",
        "ctrl-enter",
    ] {
        assert_eq!(chord(s).display(), s, "{s}");
    }
    assert_eq!(chord("space").code, ChordKey::Char(' '));
    assert_eq!(chord("Enter"), chord("enter"));
    assert_eq!(chord("CTRL-c"), chord("ctrl-c"));
    assert_eq!(chord("ctrl-C"), chord("ctrl-c"));
    assert_eq!(chord("escape"), chord("esc"));
    assert_eq!(chord("shift-tab"), chord("backtab"));
    assert_ne!(chord("g"), chord("G"));
    assert_eq!(
        chord("ctrl-alt-d"),
        KeyChord {
            code: ChordKey::Char('d'),
            ctrl: true,
            alt: true
        }
    );
    for bad in [
        "", "dd", "ctrl-", "f0", "f13", "fx", "hyper-x", "\u{7}", "ctrl-foo", "shift-",
    ] {
        assert_eq!(KeyChord::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn from_event_maps_crossterm_keys() {
    let ev = |c, m| KeyChord::from_event(&event(c, m));
    assert_eq!(
        ev(KeyCode::Char('G'), KeyModifiers::SHIFT),
        Some(chord("G"))
    );
    assert_eq!(
        ev(KeyCode::Char('c'), KeyModifiers::CONTROL),
        Some(chord("ctrl-c"))
    );
    assert_eq!(
        ev(
            KeyCode::Char('C'),
            KeyModifiers::CONTROL | KeyModifiers::SHIFT
        ),
        Some(chord("ctrl-c"))
    );
    assert_eq!(
        ev(KeyCode::Char('x'), KeyModifiers::ALT),
        Some(chord("alt-x"))
    );
    assert_eq!(
        ev(KeyCode::Char(' '), KeyModifiers::NONE),
        Some(chord("space"))
    );
    assert_eq!(
        ev(KeyCode::BackTab, KeyModifiers::SHIFT),
        Some(chord("backtab"))
    );
    assert_eq!(
        ev(KeyCode::Tab, KeyModifiers::SHIFT),
        Some(chord("backtab"))
    );
    assert_eq!(ev(KeyCode::Tab, KeyModifiers::NONE), Some(chord("tab")));
    assert_eq!(ev(KeyCode::F(5), KeyModifiers::NONE), Some(chord("f5")));
    assert_eq!(
        ev(KeyCode::PageDown, KeyModifiers::NONE),
        Some(chord("pagedown"))
    );
    assert_eq!(ev(KeyCode::Esc, KeyModifiers::NONE), Some(chord("esc")));
    assert_eq!(ev(KeyCode::F(20), KeyModifiers::NONE), None);
    assert_eq!(ev(KeyCode::Insert, KeyModifiers::NONE), None);
    let mut release = event(KeyCode::Char('q'), KeyModifiers::NONE);
    release.kind = KeyEventKind::Release;
    assert_eq!(KeyChord::from_event(&release), None);
    let mut repeat = release;
    repeat.kind = KeyEventKind::Repeat;
    assert_eq!(KeyChord::from_event(&repeat), Some(chord("q")));
}

#[test]
fn override_replaces_default_keys() {
    let km = Keymap::build(&overrides(&[
        ("deploy", &["D"]),
        ("scroll_down", &["j", "ctrl-n"]),
    ]))
    .unwrap();
    assert_eq!(km.keys_for(Action::Deploy), vec!["D"]);
    assert_eq!(
        km.lookup(chord("D"), PaneId::Environments),
        Some(Action::Deploy)
    );
    assert_eq!(km.lookup(chord("d"), PaneId::Environments), None);
    assert_eq!(km.keys_for(Action::ScrollDown), vec!["j", "ctrl-n"]);
    assert_eq!(km.lookup(chord("down"), PaneId::Logs), None);
    // An override may take a key another action's override gave up.
    let km = Keymap::build(&overrides(&[("deploy", &["x"]), ("chaos", &["d"])])).unwrap();
    assert_eq!(km.lookup(chord("d"), PaneId::Chaos), Some(Action::Chaos));
}

#[test]
fn clash_with_default_names_both_actions_and_key() {
    let errs = Keymap::build(&overrides(&[("deploy", &["r"])])).unwrap_err();
    assert_eq!(
        errs,
        vec![KeymapError::Clash {
            key: "r".into(),
            first: "deploy".into(),
            second: "rollback".into()
        }]
    );
    let msg = errs[0].to_string();
    assert!(
        msg.contains("`r`") && msg.contains("deploy") && msg.contains("rollback"),
        "{msg}"
    );
    // A global key clashes with a pane key too.
    let errs = Keymap::build(&overrides(&[("help", &["w"])])).unwrap_err();
    assert_eq!(
        errs,
        vec![KeymapError::Clash {
            key: "w".into(),
            first: "help".into(),
            second: "toggle_wrap".into()
        }]
    );
    // Same pane clashes.
    let errs = Keymap::build(&overrides(&[("toggle_wrap", &["f"])])).unwrap_err();
    assert!(
        matches!(&errs[..], [KeymapError::Clash { key, .. }] if key == "f"),
        "{errs:?}"
    );
}

#[test]
fn pane_keys_in_different_panes_do_not_clash() {
    // agent_compose (Agent) and toggle_wrap (Logs) share `w`.
    let km = Keymap::build(&overrides(&[("agent_compose", &["w"])])).unwrap();
    assert_eq!(
        km.lookup(chord("w"), PaneId::Agent),
        Some(Action::AgentCompose)
    );
    assert_eq!(
        km.lookup(chord("w"), PaneId::Logs),
        Some(Action::ToggleWrap)
    );
    assert_eq!(km.lookup(chord("w"), PaneId::Metrics), None);
}

#[test]
fn all_errors_are_collected() {
    let errs = Keymap::build(&overrides(&[
        ("no_such_action", &["x"]),
        ("deploy", &["ctrl-", "r"]),
        ("quit", &["f99"]),
    ]))
    .unwrap_err();
    assert!(
        errs.contains(&KeymapError::UnknownAction("no_such_action".into())),
        "{errs:?}"
    );
    assert!(errs.contains(&KeymapError::BadKey {
        action: "deploy".into(),
        key: "ctrl-".into()
    }));
    assert!(errs.contains(&KeymapError::BadKey {
        action: "quit".into(),
        key: "f99".into()
    }));
    assert!(errs
        .iter()
        .any(|e| matches!(e, KeymapError::Clash { key, .. } if key == "r")));
    assert_eq!(errs.len(), 4, "{errs:?}");
}

#[test]
fn duplicate_key_for_one_action_is_fine() {
    let km = Keymap::build(&overrides(&[("quit", &["q", "q", "ctrl-c"])])).unwrap();
    assert_eq!(km.keys_for(Action::Quit), vec!["q", "ctrl-c"]);
}

#[test]
fn lookup_respects_focus() {
    let km = Keymap::build(&BTreeMap::new()).unwrap();
    assert_eq!(
        km.lookup(chord("esc"), PaneId::Logs),
        Some(Action::ClearFilter)
    );
    assert_eq!(km.lookup(chord("esc"), PaneId::Environments), None);
    assert_eq!(km.lookup(chord("/"), PaneId::Logs), Some(Action::LogFilter));
    assert_eq!(km.lookup(chord("/"), PaneId::Agent), None);
    assert_eq!(
        km.lookup(chord("i"), PaneId::Agent),
        Some(Action::AgentCompose)
    );
    assert_eq!(km.lookup(chord("i"), PaneId::Logs), None);
    // Global keys work from every pane.
    for pane in PaneId::ALL {
        assert_eq!(km.lookup(chord("q"), pane), Some(Action::Quit));
        assert_eq!(km.lookup(chord("ctrl-c"), pane), Some(Action::Quit));
        assert_eq!(km.lookup(chord("G"), pane), Some(Action::Bottom));
        assert_eq!(km.lookup(chord("g"), pane), Some(Action::Top));
    }
    assert_eq!(
        km.lookup(chord("ctrl-d"), PaneId::Logs),
        Some(Action::PageDown)
    );
    assert_eq!(km.lookup(chord("d"), PaneId::Logs), Some(Action::Deploy));
    assert_eq!(km.lookup(chord("z"), PaneId::Logs), None);
}

#[test]
fn keys_for_display_strings() {
    let km = Keymap::build(&BTreeMap::new()).unwrap();
    assert_eq!(km.keys_for(Action::Quit), vec!["q", "ctrl-c"]);
    assert_eq!(km.keys_for(Action::Bottom), vec!["G", "end"]);
    assert_eq!(km.keys_for(Action::Zoom), vec!["enter"]);
    assert_eq!(km.keys_for(Action::Help), vec!["?"]);
    assert_eq!(km.keys_for(Action::ToggleFollow), vec!["f", "space"]);
    assert_eq!(km.keys_for(Action::FocusPrev), vec!["backtab"]);
    assert_eq!(
        km.bindings().count(),
        ACTIONS.iter().map(|s| s.default_keys.len()).sum::<usize>()
    );
}
