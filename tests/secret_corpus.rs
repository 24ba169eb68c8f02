//! The secret-redaction corpus (`tests/corpus/secrets/`) sent through every
//! way text leaves the process: the redactor itself, the agent's request to
//! Ollama (built by the console from logs, events, the environment and the
//! question typed), the audit journal (an abort whose reason quotes the
//! secret, through the real binary and its daemon), and a crash report (the
//! panic drill quoting every secret). No secret may leak anywhere; each
//! test prints its figures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use blissful_infra::agent::AgentEvent;
use blissful_infra::app::keymap::Keymap;
use blissful_infra::app::msg::{Command as AppCommand, Msg};
use blissful_infra::app::state::{App, Mode, PaneId};
use blissful_infra::config::Config;
use blissful_infra::domain::environment::{EnvironmentStatus, Health, TrafficSplit, Version};
use blissful_infra::domain::logs::{Level, LogLine};
use blissful_infra::domain::pipeline::{PipelineKind, PipelineRun};
use blissful_infra::domain::redact::redact;
use blissful_infra::domain::sanitize::sanitize_str;
use blissful_infra::runtime::{RuntimeEvent, SourceState};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use support::fake_ollama::{agent_against, AgentUnderTest};
use support::secret_corpus::{leaked, Case, Corpus};
use support::tmux::TmuxSession;

const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");
const NOW: i64 = 1_700_000_000_000;

fn report(path: &str, corpus: &Corpus, leaks: &[String]) {
    println!(
        "secret corpus via {path}: {} secrets in {} cases, leaked {}",
        corpus.secret_count(),
        corpus.secret_cases.len(),
        leaks.len()
    );
    assert!(
        leaks.is_empty(),
        "leaked via {path}:\n{}",
        leaks.join("\n\n")
    );
}

fn leaks_in(case: &Case, out: &str, leaks: &mut Vec<String>) {
    for s in leaked(case, out) {
        leaks.push(format!("{}: `{s}` in\n{out}", case.name));
    }
}

#[test]
fn the_redactor_masks_every_secret_and_keeps_every_near_miss() {
    let corpus = Corpus::load();
    let mut leaks = Vec::new();
    for case in &corpus.secret_cases {
        let out = redact(&case.text);
        if std::env::var_os("SECRET_CORPUS_SHOW").is_some() {
            println!("--- {}\n{out}", case.name);
        }
        leaks_in(case, &out, &mut leaks);
        assert_eq!(
            redact(&out),
            out,
            "{}: redacting twice changed it",
            case.name
        );
    }
    let false_positives: Vec<String> = corpus
        .near_misses
        .iter()
        .filter_map(|k| {
            let out = redact(&k.text);
            (out != k.text).then(|| format!("{}:\n  {}\n  {out}", k.name, k.text))
        })
        .collect();
    println!(
        "secret corpus: {} near-misses, false positives {}",
        corpus.near_misses.len(),
        false_positives.len()
    );
    report("the redactor", &corpus, &leaks);
    assert!(
        false_positives.is_empty(),
        "near-misses changed:\n{}",
        false_positives.join("\n")
    );
}

fn key(app: &mut App, code: KeyCode) -> Vec<AppCommand> {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

/// A console whose environment, pipeline, logs and question all carry the case.
fn console_with(case: &Case, marker: &str) -> App {
    let keymap = Keymap::build(&Default::default()).expect("default keymap");
    let mut app = App::new(Arc::new(Config::default()), "sandbox", false, keymap, NOW);
    let shown = sanitize_str(&case.text);
    let env = EnvironmentStatus {
        name: "staging".into(),
        traffic: TrafficSplit {
            stable: Some(Version::new("v1")),
            canary: None,
            canary_weight: 0,
        },
        previous: None,
        step: None,
        health: Health::Degraded(shown.clone()),
        instances: Vec::new(),
        replicas: 1,
        last_change: NOW,
        router_addr: String::new(),
        metrics_addr: String::new(),
        faults: Vec::new(),
        revisions: Vec::new(),
        observed: None,
    };
    app.on_runtime_event(RuntimeEvent::Environment { status: env });
    let run = PipelineRun::new(
        1,
        PipelineKind::Rollout,
        "staging",
        &shown,
        &["prepare"],
        NOW,
    );
    app.on_runtime_event(RuntimeEvent::Pipeline { run });
    // A service prints a file line by line.
    for line in case.text.lines() {
        let line = LogLine::new(
            NOW,
            "staging".into(),
            "v1".into(),
            "staging-v1-1".into(),
            Level::Info,
            sanitize_str(line),
        );
        app.on_runtime_event(RuntimeEvent::Log { line });
    }
    app.agent.state = SourceState::Ok;
    app.focus = PaneId::Agent;
    key(&mut app, KeyCode::Char('i'));
    assert_eq!(app.mode, Mode::AgentInput);
    app.update(Msg::Paste(format!("{marker}\n{}", case.text)));
    app
}

async fn answer_done(rx: &mut tokio::sync::mpsc::Receiver<AgentEvent>) {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(AgentEvent::Done)) => return,
            Ok(Some(AgentEvent::Token(_) | AgentEvent::State(_))) => {}
            other => panic!("no answer: {other:?}"),
        }
    }
}

#[tokio::test]
async fn what_the_agent_sends_to_ollama_holds_no_secret() {
    let corpus = Corpus::load();
    let AgentUnderTest {
        mut agent,
        events: mut rx,
        requests,
    } = agent_against(&["llama3.2:latest"], &["ok"]).await;
    let mut leaks = Vec::new();
    for (i, case) in corpus.secret_cases.iter().enumerate() {
        let marker = format!("question-{i}");
        let mut app = console_with(case, &marker);
        let cmds = key(&mut app, KeyCode::Enter);
        let [AppCommand::AskAgent { history, context }] = cmds.as_slice() else {
            panic!("{}: no question sent: {cmds:?}", case.name)
        };
        agent.ask(history.clone(), context.clone());
        answer_done(&mut rx).await;
        let request = requests.lock().expect("lock").get(i).cloned();
        let request = request.unwrap_or_else(|| panic!("{}: Ollama got no request", case.name));
        let sent: Vec<&str> = request["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter_map(|m| m["content"].as_str())
            .collect();
        let sent = sent.join("\n");
        // The case's text really went: its question, health, action and logs.
        assert!(sent.contains(&marker), "{}: {sent}", case.name);
        for part in ["Recent logs:", "Action: ", "health Degraded"] {
            assert!(sent.contains(part), "{}: no `{part}` in {sent}", case.name);
        }
        leaks_in(case, &sent, &mut leaks);
    }
    report("the agent's requests to Ollama", &corpus, &leaks);
}

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("BLISSFUL_INFRA_STATE_DIR", dir.join("state"))
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run blissful-infra")
}

/// Every file under `dir`, as text.
fn files_under(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push((
                p.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    out
}

#[test]
fn the_audit_journal_and_the_state_directory_hold_no_secret() {
    let corpus = Corpus::load();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("blissful-infra.yaml"),
        "project: redact\nenvironments:\n  - name: staging\n    replicas: 1\n    router_port: 0\n    metrics_port: 0\ntraffic:\n  rate_per_sec: 0\n",
    )
    .expect("write config");
    let up = run(dir.path(), &["up"]);
    assert!(up.status.success(), "up: {up:?}");
    for case in &corpus.secret_cases {
        // Nothing to abort: refused, and journalled with its reason.
        let o = run(
            dir.path(),
            &[
                "abort",
                "--env",
                "staging",
                "--yes",
                &format!("--reason={}", case.text),
            ],
        );
        assert!(!o.status.success(), "{}: abort accepted? {o:?}", case.name);
    }
    let down = run(dir.path(), &["down"]);
    assert!(down.status.success(), "down: {down:?}");
    let state = dir.path().join("state");
    let journal = std::fs::read_to_string(state.join("audit.jsonl")).expect("audit journal");
    // Each abort is written ahead as `requested`, then with its outcome.
    let aborts = journal.lines().filter(|l| l.contains("\"abort\"")).count();
    assert_eq!(aborts, 2 * corpus.secret_cases.len(), "{journal}");
    let mut leaks = Vec::new();
    for case in &corpus.secret_cases {
        for (path, text) in files_under(&state) {
            leaks_in(case, &format!("{path}:\n{text}"), &mut leaks);
        }
    }
    report("the audit journal and state files", &corpus, &leaks);
}

#[test]
fn a_crash_report_holds_no_secret() {
    let corpus = Corpus::load();
    let dir = tempfile::tempdir().expect("tempdir");
    // A key block cut short masks the rest of the text: it goes last, so it
    // cannot hide a leak in the cases after it.
    let mut texts: Vec<&str> = corpus
        .secret_cases
        .iter()
        .map(|c| c.text.as_str())
        .collect();
    texts.sort_by_key(|t| t.contains("-----BEGIN") && !t.contains("-----END"));
    let note = format!("corpus-start\n{}", texts.join("\n"));
    std::fs::write(dir.path().join("note.txt"), note).expect("write note");
    std::fs::write(
        dir.path().join("blissful-infra.yaml"),
        "project: crash\nenvironments:\n  - name: staging\n    replicas: 1\n    router_port: 0\n    metrics_port: 0\n",
    )
    .expect("write config");
    let script = format!(
        "cd {d}\nunset RUST_BACKTRACE\nexport BLISSFUL_INFRA_STATE_DIR={d}/state TERM=xterm-256color\nBLISSFUL_INFRA_PANIC_DRILL=render BLISSFUL_INFRA_PANIC_DRILL_NOTE=\"$(cat note.txt)\" {BIN} demo; echo EXITED:$?\nsleep 60\n",
        d = dir.path().display()
    );
    std::fs::write(dir.path().join("drill.sh"), script).expect("write script");
    let t = TmuxSession::start(150, 50, &format!("sh {}/drill.sh", dir.path().display()));
    t.wait_for("the drill to end", Duration::from_secs(60), |s| {
        s.contains("EXITED:")
    });
    let scrollback = t.cmd(&["capture-pane", "-p", "-S", "-", "-t", &t.name]);
    let scrollback = String::from_utf8_lossy(&scrollback.stdout).into_owned();
    assert!(scrollback.contains("EXITED:101"), "{scrollback}");
    let state = dir.path().join("state");
    let files = files_under(&state);
    let reports: Vec<&(String, String)> =
        files.iter().filter(|(p, _)| p.contains("crash-")).collect();
    assert_eq!(
        reports.len(),
        1,
        "one crash report: {files:?}",
        files = files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert!(reports[0].1.contains("corpus-start"), "{}", reports[0].1);
    assert!(scrollback.contains("corpus-start"), "{scrollback}");
    let mut leaks = Vec::new();
    for case in &corpus.secret_cases {
        for (path, text) in &files {
            leaks_in(case, &format!("{path}:\n{text}"), &mut leaks);
        }
        leaks_in(case, &format!("terminal:\n{scrollback}"), &mut leaks);
    }
    report(
        "a crash report, the state files and the terminal",
        &corpus,
        &leaks,
    );
}
