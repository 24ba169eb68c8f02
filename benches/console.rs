//! Console benchmarks (run with `cargo bench --bench console`); figures go in the README.
//!
//! - log store ingest rate (sanitise + push) and RSS after one million lines;
//! - first frame render time at 120x40;
//! - key-to-frame latency while 10,000 log lines/s stream into the app.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use blissful_infra::app::keymap::Keymap;
use blissful_infra::app::msg::Msg;
use blissful_infra::app::state::App;
use blissful_infra::config::Config;
use blissful_infra::domain::logs::{Level, LogLine, LogStore};
use blissful_infra::domain::sanitize::sanitize_bytes;
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
    LogLine {
        ts: 1_700_000_000_000 + i as i64,
        env: env.clone(),
        version: version.clone(),
        instance: instance.clone(),
        level: if i % 50 == 0 {
            Level::Error
        } else {
            Level::Info
        },
        text: sanitize_bytes(&raw_line(i)),
    }
}

/// `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
/// binary without it, and then a quick smoke run is enough.
fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn bench_ingest() {
    let (env, version, instance): (Arc<str>, Arc<str>, Arc<str>) =
        ("staging".into(), "v1".into(), "staging-v1-0".into());
    let raws: Vec<Vec<u8>> = (0..1024).map(raw_line).collect();
    let rss_before = rss_mib();
    let mut store = LogStore::new(50_000);
    let n = if full_run() { 1_000_000u64 } else { 20_000 };
    let start = Instant::now();
    for i in 0..n {
        let text = sanitize_bytes(&raws[(i % 1024) as usize]);
        store.push(LogLine {
            ts: i as i64,
            env: env.clone(),
            version: version.clone(),
            instance: instance.clone(),
            level: Level::Info,
            text,
        });
    }
    let secs = start.elapsed().as_secs_f64();
    black_box(&store);
    println!(
        "log store ingest (sanitise + push, 150-byte JSON lines): {:.0} lines/s; held {} lines, dropped {}; RSS {:.1} MiB (before {:.1} MiB)",
        n as f64 / secs,
        store.len(),
        store.dropped(),
        rss_mib(),
        rss_before
    );
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

fn bench_key_latency_under_log_flood() {
    let theme = theme();
    let mut app = app();
    app.focus = blissful_infra::app::state::PaneId::Logs;
    let mut term = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    let (env, version, instance): (Arc<str>, Arc<str>, Arc<str>) =
        ("staging".into(), "v1".into(), "staging-v1-0".into());
    // 10,000 lines/s arrive as 100 lines every 10 ms; a key arrives every 10 ms too.
    let mut latencies = Vec::new();
    let mut i = 0u64;
    let run_for = if full_run() {
        Duration::from_secs(3)
    } else {
        Duration::from_millis(200)
    };
    let start = Instant::now();
    let keys = [
        KeyCode::Char('w'),
        KeyCode::Char('w'),
        KeyCode::Char('t'),
        KeyCode::Char('t'),
    ];
    let mut k = 0;
    while start.elapsed() < run_for {
        let tick = Instant::now();
        for _ in 0..100 {
            app.update(Msg::Runtime(Box::new(RuntimeEvent::Log {
                line: line(&env, &version, &instance, i),
            })));
            i += 1;
        }
        let t0 = Instant::now();
        app.update(Msg::Key(KeyEvent::new(
            keys[k % keys.len()],
            KeyModifiers::NONE,
        )));
        k += 1;
        term.draw(|f| blissful_infra::ui::draw(f, &app, &theme))
            .expect("draw");
        latencies.push(t0.elapsed());
        if let Some(rest) = Duration::from_millis(10).checked_sub(tick.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    let lines_per_sec = i as f64 / start.elapsed().as_secs_f64();
    latencies.sort();
    let p =
        |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1000.0;
    println!(
        "key to frame while logs stream at {:.0} lines/s: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} keys)",
        lines_per_sec,
        p(0.5),
        p(0.99),
        p(1.0),
        latencies.len()
    );
}

fn main() {
    bench_ingest();
    bench_first_frame();
    bench_key_latency_under_log_flood();
}
