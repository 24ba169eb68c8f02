//! Console benchmarks (run with `cargo bench --bench console`); figures go in the README.
//!
//! - ingest rate (parse + sanitise + store + filter index) and RSS after one
//!   million lines;
//! - building the filter index over a 100,000-line buffer with a regex;
//! - first frame render time at 120x40;
//! - key-to-frame latency while 10,000 log lines/s stream into the app;
//! - key-to-frame latency while every outside source is down or flapping
//!   (the real Prometheus, Loki and agent sources failing, a runtime source
//!   switching between degraded and ok every 20 ms).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use blissful_infra::app::keymap::Keymap;
use blissful_infra::app::msg::Msg;
use blissful_infra::app::state::App;
use blissful_infra::config::Config;
use blissful_infra::domain::log_index::{LogFilter, LogIndex};
use blissful_infra::domain::logs::{LogLine, LogStore};
use blissful_infra::runtime::RuntimeEvent;
use blissful_infra::ui::theme::Theme;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

fn raw_line(i: u64) -> Vec<u8> {
    format!(
        r#"{{"ts":"2026-11-23T10:00:00.123Z","level":"info","msg":"request","method":"GET","path":"/hello/{i}","status":200,"duration_ms":1.7,"version":"v1"}}"#
    )
    .into_bytes()
}

fn line(env: &Arc<str>, version: &Arc<str>, instance: &Arc<str>, i: u64) -> LogLine {
    LogLine::parse(
        &raw_line(i),
        env,
        version,
        instance,
        1_700_000_000_000 + i as i64,
    )
}

/// `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
/// binary without it, and then a quick smoke run is enough.
fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn labels() -> (Arc<str>, Arc<str>, Arc<str>) {
    ("staging".into(), "v1".into(), "staging-v1-0".into())
}

/// Raw bytes to an indexed line: sanitise, parse the JSON once, compose the
/// message, push into the bounded store, update the filter index.
fn bench_ingest() {
    let (env, version, instance) = labels();
    let raws: Vec<Vec<u8>> = (0..1024).map(raw_line).collect();
    let rss_before = rss_mib();
    let n = if full_run() { 1_000_000u64 } else { 20_000 };
    for filter in [None, Some(r"status=5\d\d")] {
        let mut store = LogStore::new(50_000);
        let regex = filter.and_then(|f| regex::Regex::new(f).ok());
        let mut index = LogIndex::build(LogFilter { regex, env: None }, &store);
        let start = Instant::now();
        for i in 0..n {
            let raw = &raws[(i % 1024) as usize];
            store.push(LogLine::parse(raw, &env, &version, &instance, i as i64));
            index.on_push(&store);
        }
        let secs = start.elapsed().as_secs_f64();
        black_box((&store, &index));
        println!(
            "ingest (parse + sanitise + store + index, 150-byte JSON lines, filter {}): {:.0} lines/s; held {} lines, dropped {}; RSS {:.1} MiB (before {:.1} MiB)",
            filter.unwrap_or("none"),
            n as f64 / secs,
            store.len(),
            store.dropped(),
            rss_mib(),
            rss_before
        );
    }
}

/// Build the filter index over a full 100,000-line buffer with a regex.
fn bench_filter() {
    let (env, version, instance) = labels();
    let lines = if full_run() { 100_000u64 } else { 5_000 };
    let mut store = LogStore::new(lines as usize);
    for i in 0..lines {
        store.push(line(&env, &version, &instance, i));
    }
    let runs = if full_run() { 30 } else { 3 };
    for pattern in [r"status=5\d\d", r"/hello/9\d{3}\b", "(?i)timeout|refused"] {
        let regex = match regex::Regex::new(pattern) {
            Ok(r) => r,
            Err(e) => panic!("{pattern}: {e}"),
        };
        let mut samples = Vec::new();
        let mut matched = 0;
        for _ in 0..runs {
            let filter = LogFilter {
                regex: Some(regex.clone()),
                env: None,
            };
            let start = Instant::now();
            let index = LogIndex::build(filter, &store);
            samples.push(start.elapsed());
            matched = index.len();
        }
        samples.sort();
        println!(
            "filter {lines} lines with /{pattern}/: median {:.2} ms, max {:.2} ms ({matched} match)",
            samples[samples.len() / 2].as_secs_f64() * 1000.0,
            samples[samples.len() - 1].as_secs_f64() * 1000.0,
        );
    }
}

fn app() -> App {
    let keymap = match Keymap::build(&BTreeMap::new()) {
        Ok(k) => k,
        Err(e) => panic!("default keymap: {e:?}"),
    };
    App::new(
        Arc::new(Config::default()),
        "sandbox",
        false,
        keymap,
        1_700_000_000_000,
    )
}

fn theme() -> Theme {
    match Theme::builtin("dark") {
        Some(t) => t,
        None => panic!("dark theme missing"),
    }
}

fn bench_first_frame() {
    let theme = theme();
    let mut samples = Vec::new();
    for _ in 0..if full_run() { 20 } else { 2 } {
        let start = Instant::now();
        let app = app();
        let mut term = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
        term.draw(|f| blissful_infra::ui::draw(f, &app, &theme))
            .expect("draw");
        samples.push(start.elapsed());
    }
    samples.sort();
    println!(
        "first frame (App::new + render at 120x40, TestBackend): median {:.2} ms, max {:.2} ms",
        samples[samples.len() / 2].as_secs_f64() * 1000.0,
        samples[samples.len() - 1].as_secs_f64() * 1000.0
    );
}

fn press(app: &mut App, code: KeyCode) {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

/// Log lines `from..to` of the bench service, as the runtime sends them.
fn feed_lines(app: &mut App, from: u64, to: u64) {
    let (env, version, instance) = labels();
    for i in from..to {
        app.update(Msg::Runtime(Box::new(RuntimeEvent::Log {
            line: line(&env, &version, &instance, i),
        })));
    }
}

/// Press `keys` in turn, one every 10 ms for `run_for`, drawing a 120x40
/// frame after each. Before each key `untimed` runs outside the measurement
/// and `timed` inside it (work the console loop does before it serves the
/// key). Returns the key-to-frame times, sorted.
fn key_to_frame(
    app: &mut App,
    keys: &[KeyCode],
    run_for: Duration,
    mut untimed: impl FnMut(&mut App),
    mut timed: impl FnMut(&mut App),
) -> Vec<Duration> {
    let theme = theme();
    let mut term = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    let mut latencies = Vec::new();
    let start = Instant::now();
    let mut k = 0;
    while start.elapsed() < run_for {
        let tick = Instant::now();
        untimed(app);
        let t0 = Instant::now();
        timed(app);
        press(app, keys[k % keys.len()]);
        k += 1;
        term.draw(|f| blissful_infra::ui::draw(f, app, &theme))
            .expect("draw");
        latencies.push(t0.elapsed());
        if let Some(rest) = Duration::from_millis(10).checked_sub(tick.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    latencies.sort();
    latencies
}

/// Percentiles of sorted key-to-frame times, and how many keys there were.
fn latency_summary(sorted: &[Duration]) -> String {
    let p = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1000.0;
    format!(
        "p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} keys)",
        p(0.5),
        p(0.95),
        p(0.99),
        p(1.0),
        sorted.len()
    )
}

/// Keys while 10,000 lines/s arrive (100 lines every 10 ms, a key every
/// 10 ms), into a buffer already full (50,000 lines), optionally with a
/// filter typed in the Logs pane. Measured from the key to the drawn frame.
fn bench_key_latency_under_log_flood(filter: Option<&str>) {
    let mut app = app();
    app.focus = blissful_infra::app::state::PaneId::Logs;
    let prefill = if full_run() {
        app.logs.capacity()
    } else {
        2_000
    };
    let mut i = prefill as u64;
    feed_lines(&mut app, 0, i);
    if let Some(f) = filter {
        press(&mut app, KeyCode::Char('/'));
        for c in f.chars() {
            press(&mut app, KeyCode::Char(c));
        }
        press(&mut app, KeyCode::Enter);
    }
    let run_for = if full_run() {
        Duration::from_secs(3)
    } else {
        Duration::from_millis(200)
    };
    let start = Instant::now();
    let first = i;
    let keys = [
        KeyCode::Char('w'),
        KeyCode::Char('w'),
        KeyCode::Char('t'),
        KeyCode::Char('t'),
    ];
    let flood = |app: &mut App| {
        feed_lines(app, i, i + 100);
        i += 100;
    };
    let latencies = key_to_frame(&mut app, &keys, run_for, flood, |_| {});
    let lines_per_sec = (i - first) as f64 / start.elapsed().as_secs_f64();
    println!(
        "key to frame while logs stream at {:.0} lines/s (filter {}): {}",
        lines_per_sec,
        filter.unwrap_or("none"),
        latency_summary(&latencies)
    );
}

/// Keys while the real Prometheus source gets connection refused, the real
/// Loki source waits on a server that never answers (timeouts), the agent
/// probe is refused, and the Docker source flaps between degraded and ok
/// every 20 ms with metric points in between. A key every 10 ms; each is
/// measured from the moment it arrives, with every source event pending
/// then folded in first (the worst case for the console loop, which serves
/// keys first), to the drawn frame.
fn bench_key_latency_during_outage() {
    use blissful_infra::config::{AgentConfig, LokiConfig, PrometheusConfig};
    use blissful_infra::runtime::SourceState;
    use tokio::sync::mpsc;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (tx, mut rx) = mpsc::channel::<Msg>(16_384);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let a = l.local_addr().expect("addr");
        drop(l);
        format!("http://{a}")
    };
    // Accepts and never answers: every request times out.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_url = format!("http://{}", silent.local_addr().expect("addr"));
    let _sources = rt.block_on(async {
        let (ev_tx, mut ev_rx) = mpsc::channel(16_384);
        let prom = blissful_infra::sources::prometheus::spawn_metrics_source(
            PrometheusConfig {
                url: closed.clone(),
                step_secs: 1,
                timeout_ms: 200,
                ..Default::default()
            },
            vec!["staging".into()],
            ev_tx.clone(),
        );
        let loki = blissful_infra::sources::loki::spawn_log_source(
            LokiConfig {
                url: silent_url,
                timeout_ms: 200,
                ..Default::default()
            },
            blissful_infra::sources::loki::LogQuery {
                project: "bench".into(),
                ..Default::default()
            },
            blissful_infra::sources::loki::LiveOptions::default(),
            ev_tx.clone(),
        );
        let flapper = tokio::spawn(async move {
            let mut n = 0u64;
            loop {
                let state = if n % 2 == 0 {
                    SourceState::retrying("connection lost: EOF", Duration::from_millis(250))
                } else {
                    SourceState::Ok
                };
                let source = RuntimeEvent::Source {
                    name: "docker".into(),
                    state,
                };
                let point = RuntimeEvent::Metrics {
                    env: "staging".into(),
                    version: "v1".into(),
                    point: blissful_infra::domain::metrics::MetricPoint {
                        ts: 1_700_000_000_000 + n as i64 * 20,
                        ..Default::default()
                    },
                };
                if ev_tx.send(source).await.is_err() || ev_tx.send(point).await.is_err() {
                    return;
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let to_app = tx.clone();
        let forward = tokio::spawn(async move {
            while let Some(ev) = ev_rx.recv().await {
                if to_app.send(Msg::Runtime(Box::new(ev))).await.is_err() {
                    return;
                }
            }
        });
        let (agent_tx, mut agent_rx) = mpsc::channel(64);
        let agent = blissful_infra::agent::Agent::start(
            AgentConfig {
                endpoint: closed,
                ..Default::default()
            },
            agent_tx,
        );
        let to_app = tx.clone();
        let agent_fwd = tokio::spawn(async move {
            while let Some(ev) = agent_rx.recv().await {
                if to_app.send(Msg::Agent(ev)).await.is_err() {
                    return;
                }
            }
        });
        (prom, loki, flapper, forward, agent, agent_fwd)
    });
    let mut app = app();
    feed_lines(&mut app, 0, 2_000);
    let run_for = if full_run() {
        Duration::from_secs(5)
    } else {
        Duration::from_millis(300)
    };
    let keys = [
        KeyCode::Char('4'),
        KeyCode::Char('2'),
        KeyCode::Char('6'),
        KeyCode::Char('1'),
    ];
    let mut events = 0u64;
    let pending = |app: &mut App| {
        while let Ok(msg) = rx.try_recv() {
            app.update(msg);
            events += 1;
        }
    };
    let latencies = key_to_frame(&mut app, &keys, run_for, |_| {}, pending);
    let degraded = app
        .sources
        .iter()
        .filter(|(_, s)| matches!(s, SourceState::Degraded(_)))
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>();
    println!(
        "key to frame while sources are down or flapping ({} source events, degraded at the end: {}; agent: {:?}): {}",
        events,
        degraded.join(", "),
        app.agent.state,
        latency_summary(&latencies)
    );
    drop(silent);
    rt.shutdown_timeout(Duration::from_secs(1));
}

fn main() {
    bench_ingest();
    bench_filter();
    bench_first_frame();
    bench_key_latency_under_log_flood(None);
    bench_key_latency_under_log_flood(Some("status=5\\d\\d"));
    bench_key_latency_during_outage();
}
