//! Failure drill: every outside source goes down, then comes back, under a
//! running console (the real binary in tmux, embedding the sandbox). The
//! real Prometheus is killed and started again on its port; the fake Loki
//! and the fake Ollama stop answering and answer again.
//!
//! Each time only that source's pane degrades, naming the source, the
//! error and the next retry; keys keep working and the other panes keep
//! updating during the outage; the pane recovers by itself, with the same
//! console process. (How fast keys are served during an outage is a
//! benchmark, `cargo bench --bench console`, not a timing here.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::time::{Duration, Instant};

use support::daemon::{alive, crash_reports, Daemon, BIN};
use support::fake_loki::FakeLoki;
use support::fake_ollama::{FakeOllama, FakeOllamaServer};
use support::prometheus::{free_port, Prometheus};
use support::tmux::TmuxSession;

const LONG: Duration = Duration::from_secs(90);

/// The number in the Logs pane's title (`12,345 lines`).
fn log_count(screen: &str) -> u64 {
    screen
        .lines()
        .find_map(|l| {
            let at = l.find(" lines")?;
            let digits: String = l[..at]
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_digit() || *c == ',')
                .collect();
            digits
                .chars()
                .rev()
                .filter(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// The outage text of `source` on screen, rows joined (it may wrap).
fn outage(screen: &str, source: &str) -> Option<String> {
    let marker = format!("✗ {source}:");
    let rows: Vec<Vec<char>> = screen.lines().map(|l| l.chars().collect()).collect();
    let (i, col) = rows.iter().enumerate().find_map(|(i, r)| {
        let s: String = r.iter().collect();
        let at = s.find(&marker)?;
        Some((i, s[..at].chars().count()))
    })?;
    // From `from` to the pane's right border.
    let cell = |r: &[char], from: usize| -> String {
        let s: String = r.iter().skip(from).take_while(|c| **c != '│').collect();
        s.trim().to_string()
    };
    let mut text = cell(&rows[i], col);
    // Continuation rows are indented under it, in the same pane.
    for r in rows.iter().skip(i + 1).take(3) {
        let indent: String = r.iter().skip(col.saturating_sub(1)).take(3).collect();
        let rest = cell(r, col);
        if indent != "   " || rest.is_empty() {
            break;
        }
        text.push(' ');
        text.push_str(&rest);
    }
    Some(text)
}

/// The Agent pane's state text when Ollama is unreachable, rows joined.
fn agent_state(screen: &str) -> Option<String> {
    let rows: Vec<Vec<char>> = screen.lines().map(|l| l.chars().collect()).collect();
    let (i, col) = rows.iter().enumerate().find_map(|(i, r)| {
        let s: String = r.iter().collect();
        let at = s.find("Ollama unreachable")?;
        Some((i, s[..at].chars().count()))
    })?;
    let text: Vec<String> = rows[i..(i + 3).min(rows.len())]
        .iter()
        .map(|r| {
            let s: String = r.iter().skip(col).take_while(|c| **c != '│').collect();
            s.trim().to_string()
        })
        .collect();
    Some(text.join(" "))
}

struct Drill {
    t: TmuxSession,
    pid: i32,
}

impl Drill {
    /// Keys work during the outage: help opens and closes.
    fn keys_still_work(&self) {
        self.t.keys(&["?"]);
        self.t
            .wait_for("the help overlay", LONG, |s| s.contains("Help"));
        self.t.keys(&["Escape"]);
        self.t
            .wait_for("the help overlay closed", LONG, |s| !s.contains("Help"));
    }

    /// The Logs pane keeps receiving the sandbox's lines.
    fn logs_still_flow(&self) {
        let before = log_count(&self.t.screen());
        self.t
            .wait_for("new log lines during the outage", LONG, |s| {
                log_count(s) > before
            });
    }

    /// `source` is down: its pane says so with the error and the retry,
    /// and no other source is affected.
    fn degraded(&self, source: &str, others_ok: &[&str]) -> String {
        let screen = self.t.wait_for(&format!("{source} degraded"), LONG, |s| {
            outage(s, source).is_some_and(|o| o.contains("· retry in"))
        });
        let text = outage(&screen, source).unwrap();
        let error = text
            .trim_start_matches(&format!("✗ {source}:"))
            .split("· retry in")
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        assert!(!error.is_empty(), "the error is named: {text}");
        for other in others_ok {
            assert!(
                outage(&screen, other).is_none(),
                "{other} stays fine:\n{screen}"
            );
        }
        self.keys_still_work();
        self.logs_still_flow();
        text
    }

    /// `source` recovered by itself, in the same console process.
    fn recovered(&self, source: &str) {
        self.t.wait_for(&format!("{source} back"), LONG, |s| {
            outage(s, source).is_none() && s.contains(&format!("{source} ● ok"))
        });
        assert!(alive(self.pid), "the same console, not a restart");
    }
}

#[test]
fn every_source_down_then_back_degrades_only_its_pane_and_recovers_by_itself() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let metrics_port = free_port();
    let mut prom = rt.block_on(Prometheus::start(&[format!("127.0.0.1:{metrics_port}")]));
    let loki = rt.block_on(FakeLoki::start());
    let mut ollama = rt.block_on(FakeOllamaServer::start(FakeOllama {
        models: vec!["llama3.2".into()],
        ..Default::default()
    }));
    let project = Daemon::project(&format!(
        "project: drill
environments:
  - {{ name: staging, replicas: 1, router_port: 0, metrics_port: {metrics_port} }}
traffic:
  rate_per_sec: 20
prometheus:
  url: {}
  step_secs: 1
  timeout_ms: 1000
loki:
  url: {}
  timeout_ms: 1000
agent:
  endpoint: http://{}
",
        prom.url,
        loki.url(),
        ollama.addr
    ));
    let t = TmuxSession::start(
        200,
        50,
        &format!(
            "cd {} && BLISSFUL_INFRA_STATE_DIR={} TERM=xterm-256color exec {BIN}",
            project.path().display(),
            project.state().display()
        ),
    );
    let pid: i32 = t.pane_pid().parse().unwrap();
    let d = Drill { t, pid };
    d.t.wait_for("every source up", LONG, |s| {
        s.contains("prometheus ● ok")
            && s.contains("loki ● ok")
            && s.contains("Ollama at")
            && s.contains("staging")
    });

    // Prometheus: the Metrics pane.
    rt.block_on(prom.stop());
    let text = d.degraded("prometheus", &["loki"]);
    assert!(
        d.t.screen().contains("Ollama at"),
        "the agent is unaffected"
    );
    eprintln!("prometheus down: {text}");
    rt.block_on(prom.restart());
    d.recovered("prometheus");

    // Loki: the Logs pane (which keeps the sandbox's own lines).
    rt.block_on(loki.stop());
    let text = d.degraded("loki", &["prometheus"]);
    eprintln!("loki down: {text}");
    rt.block_on(loki.restart());
    d.recovered("loki");

    // Ollama: the Agent pane.
    rt.block_on(ollama.stop());
    let screen = d.t.wait_for("the agent degraded", LONG, |s| {
        agent_state(s).is_some_and(|a| a.contains("connection refused · retry in"))
    });
    eprintln!("ollama down: {}", agent_state(&screen).unwrap_or_default());
    assert!(
        outage(&screen, "prometheus").is_none() && outage(&screen, "loki").is_none(),
        "{screen}"
    );
    d.keys_still_work();
    d.logs_still_flow();
    rt.block_on(ollama.restart());
    d.t.wait_for("the agent back", LONG, |s| {
        s.contains("Ollama at") && !s.contains("Ollama unreachable")
    });
    assert!(alive(d.pid));

    d.t.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while alive(d.pid) {
        assert!(Instant::now() < deadline, "the console did not quit");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(crash_reports(&project.state()).is_empty());
}
