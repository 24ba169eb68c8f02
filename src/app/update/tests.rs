//! Unit tests of `App::update`.
#![cfg(test)] // test code only

use super::*;
use crate::app::keymap::Keymap;
use crate::config::Config;
use crate::domain::environment::{EnvironmentStatus, Health, TrafficSplit, Version};
use crate::domain::logs::{Level, LogLine};
use crossterm::event::KeyEvent;
use std::sync::Arc;

fn env(name: &str, stable: &str, previous: Option<&str>) -> EnvironmentStatus {
    EnvironmentStatus {
        name: name.into(),
        traffic: TrafficSplit {
            stable: Some(Version::new(stable)),
            canary: None,
            canary_weight: 0,
        },
        previous: previous.map(Version::new),
        step: None,
        health: Health::Healthy,
        instances: vec![],
        replicas: 2,
        last_change: 0,
        router_addr: "127.0.0.1:1".into(),
        metrics_addr: "127.0.0.1:2".into(),
        faults: vec![],
        revisions: Vec::new(),
        observed: None,
    }
}

fn app(read_only: bool) -> App {
    let keymap = Keymap::build(&Default::default()).expect("default keymap");
    let mut app = App::new(
        Arc::new(Config::default()),
        "sandbox",
        read_only,
        keymap,
        1_000,
    );
    app.on_runtime_event(RuntimeEvent::Environment {
        status: env("production", "v1", Some("v0")),
    });
    app.on_runtime_event(RuntimeEvent::Environment {
        status: env("staging", "v1", None),
    });
    app
}

fn key(app: &mut App, code: KeyCode) -> Vec<Command> {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn chars(app: &mut App, s: &str) -> Vec<Command> {
    s.chars().flat_map(|c| key(app, KeyCode::Char(c))).collect()
}

#[test]
fn a_settled_log_filter_is_sent_to_loki_once() {
    let keymap = Keymap::build(&Default::default()).expect("default keymap");
    let mut cfg = Config::default();
    cfg.loki.url = "http://127.0.0.1:3100".into();
    let mut a = App::new(Arc::new(cfg), "sandbox", false, keymap, 1_000);
    a.on_runtime_event(RuntimeEvent::Environment {
        status: env("staging", "v1", None),
    });
    a.focus = PaneId::Logs;
    let sent = |cmds: &[Command]| {
        cmds.iter()
            .filter_map(|c| match c {
                Command::FilterLogSource { env, grep } => Some((env.clone(), grep.clone())),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    // Typing sends nothing; Enter sends the regex.
    let mut cmds = chars(&mut a, "/time");
    assert!(sent(&cmds).is_empty(), "{cmds:?}");
    cmds = key(&mut a, KeyCode::Enter);
    assert_eq!(sent(&cmds), vec![(None, Some("time".to_string()))]);
    // Nothing changed: nothing sent again.
    assert!(sent(&key(&mut a, KeyCode::Down)).is_empty());
    // Only the selected environment.
    cmds = chars(&mut a, "e");
    assert_eq!(
        sent(&cmds),
        vec![(Some("staging".to_string()), Some("time".to_string()))]
    );
    // Without Loki, never.
    let mut b = app(false);
    b.focus = PaneId::Logs;
    chars(&mut b, "/x");
    assert!(sent(&key(&mut b, KeyCode::Enter)).is_empty());
}

#[test]
fn leftover_faults_are_announced_with_the_undo_key() {
    let mut a = app(false);
    a.update(Msg::FaultsStillApplied(3));
    let f = a.flash.as_ref().expect("a flash");
    assert!(f.text.starts_with("3 fault(s) still applied"), "{}", f.text);
    assert!(f.text.contains("press u to undo them all"), "{}", f.text);
}

#[test]
fn t_follows_a_trace_across_environments() {
    let mut a = app(false);
    a.focus = PaneId::Logs;
    let line = |ts: i64, env: &str, text: &str| {
        LogLine::new(
            ts,
            env.into(),
            "v1".into(),
            format!("{env}-v1-1").into(),
            Level::Info,
            text,
        )
    };
    a.on_runtime_event(RuntimeEvent::Log {
        line: line(1, "staging", "edge in trace_id=4bf92f3577b3 path=/hello"),
    });
    a.on_runtime_event(RuntimeEvent::Log {
        line: line(
            2,
            "production",
            r#"{"msg":"db call","trace_id":"4bf92f3577b3"}"#,
        ),
    });
    a.on_runtime_event(RuntimeEvent::Log {
        line: line(3, "staging", "other request_id=zzz999aaa"),
    });
    a.on_runtime_event(RuntimeEvent::Log {
        line: line(4, "staging", "GET /health 200"),
    });
    // The newest line with an id (the health check has none) wins.
    chars(&mut a, "T");
    assert_eq!(a.log_view.trace.as_deref(), Some("zzz999aaa"));
    // Pause and scroll up past it: the next one up is followed, in every env.
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.log_view.trace, None);
    a.log_view.only_selected_env = true;
    chars(&mut a, "f");
    a.log_view.scroll_from_bottom = 2;
    a.log_view.only_selected_env = false;
    chars(&mut a, "T");
    assert_eq!(a.log_view.trace.as_deref(), Some("4bf92f3577b3"));
    assert!(!a.log_view.only_selected_env);
    let re = a.log_view.filter.clone().expect("a filter");
    let shown: Vec<i64> = a
        .logs
        .iter()
        .filter(|l| re.is_match(&l.text))
        .map(|l| l.ts)
        .collect();
    assert_eq!(shown, vec![1, 2]);
    // No id anywhere: a warning, the filter unchanged.
    let mut b = app(false);
    b.focus = PaneId::Logs;
    b.on_runtime_event(RuntimeEvent::Log {
        line: line(1, "staging", "GET /health 200"),
    });
    chars(&mut b, "T");
    assert!(b.log_view.filter.is_none());
    assert!(b.flash.as_ref().unwrap().text.contains("no trace"));
}

#[test]
fn environments_follow_config_order() {
    let a = app(false);
    let names: Vec<&str> = a.envs.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["staging", "production"]);
}

#[test]
fn deploy_goes_through_picker_and_confirm() {
    let mut a = app(false);
    assert!(key(&mut a, KeyCode::Char('d')).is_empty());
    let Mode::Picker(p) = &a.mode else {
        panic!("no picker: {:?}", a.mode)
    };
    assert_eq!(p.items[0].0, "v2", "next version offered first");
    assert!(key(&mut a, KeyCode::Enter).is_empty());
    assert!(matches!(&a.mode, Mode::Confirm(c) if c.require_typed.is_none()));
    let cmds = key(&mut a, KeyCode::Char('y'));
    assert_eq!(
        cmds,
        vec![Command::Runtime(RuntimeCommand::Deploy {
            env: "staging".into(),
            version: "v2".into()
        })]
    );
    assert_eq!(a.mode, Mode::Normal);
}

#[test]
fn cancel_leaves_nothing_to_run() {
    let mut a = app(false);
    key(&mut a, KeyCode::Char('d'));
    key(&mut a, KeyCode::Enter);
    assert!(key(&mut a, KeyCode::Char('n')).is_empty());
    assert_eq!(a.mode, Mode::Normal);
}

#[test]
fn protected_environment_needs_its_name_typed() {
    let mut a = app(false);
    key(&mut a, KeyCode::Char('p'));
    let Mode::Confirm(c) = &a.mode else {
        panic!("no confirm")
    };
    assert_eq!(c.require_typed.as_deref(), Some("production"));
    // `y` is just a typed letter here, and a wrong name is refused.
    assert!(chars(&mut a, "y").is_empty());
    assert!(key(&mut a, KeyCode::Enter).is_empty());
    assert!(matches!(a.mode, Mode::Confirm(_)));
    key(&mut a, KeyCode::Backspace);
    chars(&mut a, "production");
    let cmds = key(&mut a, KeyCode::Enter);
    assert_eq!(
        cmds,
        vec![Command::Runtime(RuntimeCommand::Promote {
            from: "staging".into(),
            to: "production".into()
        })]
    );
}

#[test]
fn a_closed_resilience_gate_asks_for_a_typed_override_even_where_unprotected() {
    let mut a = app(false);
    let why =
        "resilience gate closed: production scored 50/100 in its last FMEA, below the minimum 80";
    assert!(a
        .update(Msg::GateClosed {
            from: "production".into(),
            to: "staging".into(),
            why: why.into(),
        })
        .is_empty());
    let Mode::Confirm(c) = &a.mode else {
        panic!("no override dialog: {:?}", a.mode)
    };
    assert!(c.lines.iter().any(|l| l == why), "{:?}", c.lines);
    assert_eq!(c.require_typed.as_deref(), Some("staging"));
    assert!(
        key(&mut a, KeyCode::Enter).is_empty(),
        "an untyped override"
    );
    chars(&mut a, "staging");
    assert_eq!(
        key(&mut a, KeyCode::Enter),
        vec![Command::Runtime(RuntimeCommand::PromoteOverGate {
            from: "production".into(),
            to: "staging".into(),
            gate: why.into(),
        })]
    );
}

#[test]
fn read_only_refuses_destructive_keys_and_palette_verbs() {
    let mut a = app(true);
    for k in ['d', 'p', 'r', 'c', 'b', 'u'] {
        assert!(key(&mut a, KeyCode::Char(k)).is_empty());
        assert_eq!(
            a.mode,
            Mode::Normal,
            "key {k} opened a dialog in read-only mode"
        );
    }
    assert!(a
        .flash
        .as_ref()
        .is_some_and(|f| f.text.contains("read-only")));
    assert!(a.run_palette("rollback production").is_err());
}

#[test]
fn rollback_without_previous_is_explained() {
    let mut a = app(false);
    key(&mut a, KeyCode::Char('r'));
    assert_eq!(a.mode, Mode::Normal);
    assert!(a
        .flash
        .as_ref()
        .is_some_and(|f| f.text.contains("no previous version")));
    key(&mut a, KeyCode::Char(']'));
    key(&mut a, KeyCode::Char('r'));
    assert!(matches!(&a.mode, Mode::Confirm(c) if c.lines[0].contains("to v0")));
}

#[test]
fn palette_runs_the_same_verbs() {
    let mut a = app(false);
    assert!(a
        .run_palette("deploy nowhere v2")
        .unwrap_err()
        .contains("unknown environment"));
    assert!(a
        .run_palette("chaos staging meteor")
        .unwrap_err()
        .contains("unknown chaos scenario"));
    assert!(a.run_palette("frobnicate").is_err());
    a.run_palette("chaos staging pod-kill").expect("valid");
    let cmds = key(&mut a, KeyCode::Char('y'));
    assert_eq!(
        cmds,
        vec![Command::Runtime(RuntimeCommand::Chaos {
            env: "staging".into(),
            scenario: ScenarioKind::PodKill,
            params: a.config.chaos.defaults.clone(),
        })]
    );
}

#[test]
fn invalid_filter_keeps_the_error_visible() {
    let mut a = app(false);
    a.focus = PaneId::Logs;
    key(&mut a, KeyCode::Char('/'));
    chars(&mut a, "time(out");
    key(&mut a, KeyCode::Enter);
    assert!(
        matches!(&a.mode, Mode::LogFilter { error: Some(_), .. }),
        "{:?}",
        a.mode
    );
    for _ in 0..4 {
        key(&mut a, KeyCode::Backspace);
    }
    chars(&mut a, "out");
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.mode, Mode::Normal);
    assert_eq!(a.log_view.filter_text, "timeout");
    assert!(a.log_view.filter.is_some());
}

#[test]
fn pausing_counts_held_back_lines() {
    let mut a = app(false);
    a.focus = PaneId::Logs;
    let line = |i: i64| {
        LogLine::new(
            i,
            "staging".into(),
            "v1".into(),
            "staging-v1-0".into(),
            Level::Info,
            format!("line {i}"),
        )
    };
    for i in 0..5 {
        a.on_runtime_event(RuntimeEvent::Log { line: line(i) });
    }
    key(&mut a, KeyCode::Char('f'));
    assert!(!a.log_view.follow);
    for i in 5..12 {
        a.on_runtime_event(RuntimeEvent::Log { line: line(i) });
    }
    assert_eq!(a.logs.end_seq() - a.log_view.paused_end, 7);
    key(&mut a, KeyCode::Char('G'));
    assert!(a.log_view.follow);
    a.on_runtime_event(RuntimeEvent::Lagged { count: 3 });
    assert_eq!(a.logs.dropped(), 3);
}

#[test]
fn agent_question_is_redacted_and_sent() {
    let mut a = app(false);
    a.agent.state = SourceState::Ok;
    a.focus = PaneId::Agent;
    key(&mut a, KeyCode::Char('i'));
    assert_eq!(a.mode, Mode::AgentInput);
    chars(&mut a, "why? password=hunter2");
    let cmds = key(&mut a, KeyCode::Enter);
    let [Command::AskAgent { history, context }] = cmds.as_slice() else {
        panic!("{cmds:?}")
    };
    assert_eq!(history[0].1, "why? password=[REDACTED]");
    assert!(context.contains("Environment staging"));
    a.update(Msg::Agent(AgentEvent::Token("Because".into())));
    a.update(Msg::Agent(AgentEvent::Token(
        " \u{1b}]52;c;AAAA\u{7}p99.".into(),
    )));
    a.update(Msg::Agent(AgentEvent::Token(
        "\n- first\u{7}\n- second\r\n".into(),
    )));
    a.update(Msg::Agent(AgentEvent::Done));
    assert_eq!(
        a.agent.messages.back().map(|m| m.text.as_str()),
        Some("Because p99.\n- first\n- second\n")
    );
}

#[test]
fn a_runaway_answer_is_cut_once_at_its_limit() {
    let mut a = app(false);
    a.agent.streaming = true;
    a.push_chat(ChatRole::Assistant, String::new());
    let chunk = "é".repeat(10_000); // 20 000 bytes, two per char
    for _ in 0..10 {
        a.update(Msg::Agent(AgentEvent::Token(chunk.clone())));
    }
    let text = &a.agent.messages.back().expect("answer").text;
    assert!(
        text.ends_with("(answer cut at 64 KiB)"),
        "{}",
        &text[text.len() - 40..]
    );
    assert!(text.len() < MAX_ANSWER_BYTES + 64);
    assert_eq!(text.matches("answer cut").count(), 1);
}

#[test]
fn next_version_increments_trailing_number() {
    assert_eq!(next_version("v7").as_deref(), Some("v8"));
    assert_eq!(next_version("1.4.9").as_deref(), Some("1.4.10"));
    assert_eq!(next_version("latest"), None);
}

#[test]
fn ctx_lists_or_switches_contexts_only_on_kubernetes() {
    let mut a = app(true);
    let err = a.run_palette("ctx").unwrap_err();
    assert!(err.contains("runtime: kubernetes"), "{err}");
    let keymap = Keymap::build(&Default::default()).expect("default keymap");
    let config = Config {
        runtime: crate::config::RuntimeKind::Kubernetes,
        ..Config::default()
    };
    // Allowed in read-only mode: it changes what is watched, not the cluster.
    let mut k = App::new(Arc::new(config), "kubernetes (a)", true, keymap, 0);
    assert_eq!(
        k.run_palette("ctx").unwrap(),
        vec![Command::Context { name: None }]
    );
    assert_eq!(
        k.run_palette("ctx kind-b").unwrap(),
        vec![Command::Context {
            name: Some("kind-b".into())
        }]
    );
    k.sources.insert("kubernetes (a)".into(), SourceState::Ok);
    k.update(Msg::RuntimeRenamed("kubernetes (kind-b)".into()));
    assert_eq!(k.runtime_name, "kubernetes (kind-b)");
    assert_eq!(
        k.sources.keys().collect::<Vec<_>>(),
        ["kubernetes (kind-b)"]
    );
}

#[test]
fn undo_all_also_takes_faults_listed_without_an_experiment() {
    use crate::domain::environment::ActiveFault;
    let mut a = app(false);
    key(&mut a, KeyCode::Char('u'));
    assert!(
        matches!(a.mode, Mode::Normal),
        "nothing to undo, nothing asked"
    );
    let mut staging = env("staging", "v1", None);
    staging.faults = vec![ActiveFault {
        id: "network-latency-7-a1b2".into(),
        scenario: "leftover NetworkChaos blissful-network-latency-7-a1b2 (no journal here)".into(),
        ends_at: 1_000,
    }];
    a.on_runtime_event(RuntimeEvent::Environment { status: staging });
    key(&mut a, KeyCode::Char('u'));
    assert!(
        matches!(&a.mode, Mode::Confirm(c) if c.lines[0].contains("1 applied fault")),
        "asked first"
    );
    let cmds = key(&mut a, KeyCode::Char('y'));
    assert_eq!(
        cmds,
        vec![Command::Runtime(RuntimeCommand::Undo {
            ids: vec!["network-latency-7-a1b2".into()]
        })]
    );
}
