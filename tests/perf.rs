//! The load generator and `blissful-infra perf` against in-test servers on
//! 127.0.0.1 (ephemeral ports).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use clap::Parser;

use blissful_infra::cli::{exit, OutputMode};
use blissful_infra::config::Config;
use blissful_infra::perf::generator::{self, Live};
use blissful_infra::perf::{
    cmd_perf, Endpoint, EnvSource, LoadSpec, Pacing, PerfArgs, Stop, Target,
};

/// Requests seen by `/stall`; the 41st waits 500 ms.
#[derive(Clone, Default)]
struct Seen(Arc<AtomicU64>);

async fn stall(State(seen): State<Seen>) -> &'static str {
    if seen.0.fetch_add(1, Ordering::Relaxed) == 40 {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    "ok"
}

async fn serve() -> SocketAddr {
    let app = Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/bad",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "no") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                "slow"
            }),
        )
        .route("/stall", get(stall))
        .route(
            "/close",
            get(|| async { ([(axum::http::header::CONNECTION, "close")], "bye") }),
        )
        .with_state(Seen::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn spec(addr: SocketAddr, endpoints: &[(&str, u32)], pacing: Pacing, stop: Stop) -> LoadSpec {
    LoadSpec {
        target: Target {
            addr,
            host: addr.to_string(),
        },
        endpoints: endpoints
            .iter()
            .map(|(p, w)| Endpoint {
                path: p.to_string(),
                weight: *w,
            })
            .collect(),
        pacing,
        concurrency: 4,
        stop,
        warmup: Duration::ZERO,
        timeout: Duration::from_secs(10),
    }
}

async fn run(spec: &LoadSpec) -> generator::RunStats {
    generator::run(spec, Arc::new(Live::default()))
        .await
        .unwrap()
}

#[derive(Parser)]
struct Wrap {
    #[command(flatten)]
    args: PerfArgs,
}

fn args(list: &[&str]) -> PerfArgs {
    let mut v = vec!["perf"];
    v.extend_from_slice(list);
    Wrap::try_parse_from(v).unwrap().args
}

async fn perf(list: &[&str], mode: OutputMode) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = cmd_perf(
        &args(list),
        &Config::default(),
        Path::new("."),
        &EnvSource::Daemon(Path::new("/nonexistent/sandbox.sock")),
        mode,
        &mut out,
        &mut err,
        false,
    )
    .await;
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

/// A server that closes the connection after every answer: each request
/// gets a fresh connection, and none of them counts as an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_closed_by_the_server_are_replaced() {
    let addr = serve().await;
    let stats = run(&spec(
        addr,
        &[("/close", 1)],
        Pacing::Closed,
        Stop::Requests(60),
    ))
    .await;
    assert_eq!(stats.requests, 60);
    assert_eq!(stats.statuses.get(&200), Some(&60), "{:?}", stats.errors);
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_sends_exactly_the_requested_count() {
    let addr = serve().await;
    let stats = run(&spec(
        addr,
        &[("/ok", 1)],
        Pacing::Closed,
        Stop::Requests(137),
    ))
    .await;
    assert_eq!(stats.requests, 137);
    assert_eq!(stats.statuses.get(&200), Some(&137));
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    assert_eq!(stats.corrected.len(), 137);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_holds_the_target_rate() {
    let addr = serve().await;
    let stats = run(&spec(
        addr,
        &[("/ok", 1)],
        Pacing::Open { rate: 100.0 },
        Stop::Duration(Duration::from_secs(2)),
    ))
    .await;
    let rps = stats.requests as f64 / stats.elapsed.as_secs_f64();
    // Due times end at the deadline, so the count is close to 200.
    assert!((150..=210).contains(&stats.requests), "{}", stats.requests);
    assert!((60.0..=130.0).contains(&rps), "rps {rps}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_server_latency_is_reported() {
    let addr = serve().await;
    let stats = run(&spec(
        addr,
        &[("/slow", 1)],
        Pacing::Closed,
        Stop::Requests(40),
    ))
    .await;
    let p50_us = stats.corrected.value_at_quantile(0.5);
    assert!(p50_us >= 20_000, "p50 {p50_us}µs");
    assert_eq!(stats.statuses.get(&200), Some(&40));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_codes_are_counted_per_path_weight() {
    let addr = serve().await;
    let stats = run(&spec(
        addr,
        &[("/ok", 3), ("/bad", 1)],
        Pacing::Closed,
        Stop::Requests(400),
    ))
    .await;
    let ok = stats.statuses.get(&200).copied().unwrap_or(0);
    let bad = stats.statuses.get(&500).copied().unwrap_or(0);
    assert_eq!(ok + bad, 400);
    assert!((50..=150).contains(&bad), "500s: {bad}");
    let summary = blissful_infra::perf::Summary::build(
        "t",
        Pacing::Closed,
        4,
        &[],
        &stats,
        blissful_infra::perf::Thresholds {
            p95_ms: 1000.0,
            max_error_rate: 0.5,
        },
    );
    assert_eq!(summary.errors, bad);
    assert!((summary.error_rate - bad as f64 / 400.0).abs() < 1e-9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_corrects_for_coordinated_omission() {
    // One connection at 200 req/s: a 500 ms stall delays the ~100 requests
    // due during it; measured from their due times they are slow.
    let stalled = serve().await;
    let mut s = spec(
        stalled,
        &[("/stall", 1)],
        Pacing::Open { rate: 200.0 },
        Stop::Duration(Duration::from_secs(2)),
    );
    s.concurrency = 1;
    let with_stall = run(&s).await;
    let corrected_p99 = with_stall.corrected.value_at_quantile(0.99);
    let uncorrected_p99 = with_stall.uncorrected.value_at_quantile(0.99);

    let clean = serve().await;
    let mut s = spec(
        clean,
        &[("/ok", 1)],
        Pacing::Open { rate: 200.0 },
        Stop::Duration(Duration::from_secs(2)),
    );
    s.concurrency = 1;
    let without = run(&s).await;
    let clean_p99 = without.corrected.value_at_quantile(0.99);

    assert!(corrected_p99 >= 250_000, "corrected p99 {corrected_p99}µs");
    assert!(
        corrected_p99 > 5 * clean_p99,
        "corrected {corrected_p99}µs vs clean {clean_p99}µs"
    );
    // Only one request was itself slow: the uncorrected view hides the stall.
    assert!(
        uncorrected_p99 * 2 < corrected_p99,
        "uncorrected {uncorrected_p99}µs vs corrected {corrected_p99}µs"
    );
    assert!(with_stall.uncorrected.max() >= 500_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_document_has_the_documented_shape() {
    let addr = serve().await;
    let url = format!("http://{addr}");
    let (code, out, err) = perf(
        &[
            "--url",
            &url,
            "-n",
            "60",
            "--warmup",
            "0s",
            "--endpoint",
            "/ok=2",
            "--endpoint",
            "/bad=1",
            "--max-error-rate",
            "0.9",
        ],
        OutputMode::Json,
    )
    .await;
    assert_eq!(code, exit::OK, "stderr: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["requests"], 60);
    assert_eq!(v["mode"], "closed");
    assert_eq!(v["concurrency"], 10);
    assert_eq!(v["target"], url);
    for k in ["p50", "p90", "p95", "p99", "max", "mean"] {
        assert!(v["latency_ms"][k].is_number(), "latency_ms.{k}");
    }
    let ok = v["status_counts"]["200"].as_u64().unwrap_or(0);
    let bad = v["status_counts"]["500"].as_u64().unwrap_or(0);
    assert_eq!(ok + bad, 60);
    assert_eq!(v["errors"].as_u64(), Some(bad));
    assert!(v["rps"].as_f64().unwrap() > 0.0);
    assert!(v["duration_secs"].as_f64().unwrap() > 0.0);
    assert_eq!(v["thresholds"]["passed"], true);
    assert_eq!(v["endpoints"][0]["path"], "/ok");
    assert_eq!(v["endpoints"][0]["weight"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_threshold_exits_1_and_names_it() {
    let addr = serve().await;
    let url = format!("http://{addr}/slow");
    let (code, out, err) = perf(
        &["--url", &url, "-n", "20", "--warmup", "0s", "--p95-ms", "5"],
        OutputMode::Table,
    )
    .await;
    assert_eq!(code, exit::FAILED);
    assert!(out.contains("FAILED"), "{out}");
    assert!(out.contains("p95"), "{out}");
    assert!(
        err.contains("threshold failed: p95 latency") && err.contains("above the limit 5.00ms by"),
        "{err}"
    );

    let url = format!("http://{addr}/bad");
    let (code, _, err) = perf(
        &["--url", &url, "-n", "20", "--warmup", "0s"],
        OutputMode::Table,
    )
    .await;
    assert_eq!(code, exit::FAILED);
    assert!(
        err.contains("error rate 100.00% is above the limit 1.00% by 99.00 percentage points"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_target_is_a_clear_error() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let url = format!("http://{addr}");
    let (code, out, err) = perf(&["--url", &url, "-d", "1s"], OutputMode::Json).await;
    assert_eq!(code, exit::FAILED);
    assert!(err.contains("cannot reach"), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["error"]["kind"], "unreachable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_without_a_sandbox_is_unavailable() {
    let (code, _, err) = perf(&["--env", "staging", "-d", "1s"], OutputMode::Table).await;
    assert_eq!(code, exit::UNAVAILABLE, "{err}");
    assert!(err.contains("blissful-infra up"), "{err}");
}

#[test]
fn flags_are_validated() {
    assert!(
        Wrap::try_parse_from(["perf"]).is_err(),
        "needs --env or --url"
    );
    assert!(Wrap::try_parse_from(["perf", "--env", "a", "--url", "http://x"]).is_err());
    assert!(Wrap::try_parse_from(["perf", "--url", "http://x", "-n", "5", "-d", "1s"]).is_err());
    assert!(Wrap::try_parse_from(["perf", "--url", "http://x", "--endpoint", "x"]).is_err());
    let a = args(&["--url", "http://x"]);
    assert_eq!(a.duration, Duration::from_secs(10));
    assert_eq!(a.warmup, Duration::from_secs(2));
    assert_eq!(a.concurrency, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perf_command_of_the_real_binary() {
    let addr = serve().await;
    let state = tempfile::tempdir().unwrap();
    let url = format!("http://{addr}/ok");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_blissful-infra"))
        .args([
            "perf", "--url", &url, "-n", "25", "-c", "2", "--warmup", "0s",
        ])
        .args(["-o", "json", "--state-dir"])
        .arg(state.path())
        .current_dir(state.path())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["requests"], 25);
    assert_eq!(v["status_counts"]["200"], 25);
    // Not a terminal: no progress line.
    assert!(!stderr.contains('\r'), "{stderr}");

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_blissful-infra"))
        .args(["perf", "--url", &format!("http://{addr}/bad"), "-n", "10"])
        .args(["--warmup", "0s", "--state-dir"])
        .arg(state.path())
        .current_dir(state.path())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(exit::FAILED));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("threshold failed: error rate"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("500: 10"), "{stdout}");
}

/// `perf --env` against a running sandbox: every console attached to it
/// sees the run in the Pipeline pane and its numbers as a `load test` series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perf_on_an_environment_is_shown_to_attached_consoles() {
    use blissful_infra::daemon::{ControlServer, ServerInfo};
    use blissful_infra::domain::pipeline::{PipelineKind, StageStatus};
    use blissful_infra::paths::StatePaths;
    use blissful_infra::runtime::{Runtime, RuntimeEvent, SharedRuntime, LOAD_TEST_SERIES};
    use blissful_infra::sandbox::{SandboxOptions, SandboxRuntime};

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.environments.truncate(1);
    cfg.environments[0].replicas = 1;
    cfg.traffic.rate_per_sec = 0.0;
    let env = cfg.environments[0].name.clone();
    let state = StatePaths::at(dir.path().join("state"));
    let rt = SandboxRuntime::start(SandboxOptions {
        config: Arc::new(cfg.clone()),
        config_dir: dir.path().to_path_buf(),
        service_program: std::path::PathBuf::from(env!("CARGO_BIN_EXE_blissful-infra")),
        state: state.clone(),
    })
    .await
    .unwrap();
    let shared: SharedRuntime = rt.clone();
    let sock = dir.path().join("sandbox.sock");
    let server = ControlServer::bind(&sock, shared.clone(), ServerInfo::new("sandbox", "test"))
        .await
        .unwrap();
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(server.serve(stop_rx));
    // Wait until the environment answers.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let envs = shared.status().await.unwrap();
        let (ready, desired) = envs[0].ready_desired();
        if desired > 0 && ready >= desired {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "sandbox not ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut events = shared.subscribe().await.unwrap();

    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = cmd_perf(
        &args(&[
            "--env", &env, "-d", "2500ms", "--warmup", "500ms", "-c", "2",
        ]),
        &cfg,
        dir.path(),
        &EnvSource::Daemon(&sock),
        OutputMode::Json,
        &mut out,
        &mut err,
        false,
    )
    .await;
    let err = String::from_utf8(err).unwrap();
    assert_eq!(code, exit::OK, "stderr: {err}");
    assert!(!err.contains("does not show"), "{err}");

    let mut final_run = None;
    let mut load_points = 0;
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(500), events.recv()).await {
        match ev {
            RuntimeEvent::Pipeline { run }
                if run.kind == PipelineKind::Perf && run.finished_at.is_some() =>
            {
                final_run = Some(run);
            }
            RuntimeEvent::Metrics {
                env: e,
                version,
                point,
            } if version == LOAD_TEST_SERIES && e == env => {
                assert!(point.rps > 0.0, "{point:?}");
                load_points += 1;
            }
            _ => {}
        }
    }
    let run = final_run.expect("the finished perf run reached the subscriber");
    assert_eq!(run.env, env);
    assert_eq!(run.status, StageStatus::Succeeded, "{run:?}");
    let names: Vec<&str> = run.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["warm-up", "load", "thresholds"]);
    assert!(
        run.stages
            .iter()
            .all(|s| s.status == StageStatus::Succeeded),
        "{run:?}"
    );
    assert!(run.stages[1].detail.contains("req/s"), "{run:?}");
    assert!(load_points >= 1, "no live load-test points were published");
    // The run is in the history a late console reads.
    let history = shared.history().await.unwrap();
    assert!(history.pipelines.iter().any(|p| p.id == run.id));
    rt.shutdown().await;
}

/// `perf --engine k6` without k6 says so; with one (a recorded fake, since
/// k6 is not installed here) its summary becomes the usual report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k6_engine_reads_the_summary_or_says_k6_is_missing() {
    use std::os::unix::fs::PermissionsExt;
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir(project.path().join("k6")).unwrap();
    std::fs::write(
        project.path().join("k6/load.js"),
        "export default function () {}\n",
    )
    .unwrap();
    let bin = project.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let run = |path: &str, extra: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_blissful-infra"));
        cmd.args([
            "perf",
            "--engine",
            "k6",
            "--url",
            "http://127.0.0.1:9/",
            "--state-dir",
        ])
        .arg(project.path().join("state"))
        .current_dir(project.path())
        .env("PATH", path);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd
    };

    let out = run(bin.to_str().unwrap(), &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(exit::UNAVAILABLE));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("k6 is not on PATH"), "{stderr}");

    let k6 = bin.join("k6");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/fake_k6.sh"),
        &k6,
    )
    .unwrap();
    std::fs::set_permissions(&k6, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let log = project.path().join("k6.log");
    let out = run(&path, &[("FAKE_K6_LOG", log.to_str().unwrap())])
        .args(["-o", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(exit::OK), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["summary"]["mode"], "k6");
    assert_eq!(v[0]["summary"]["requests"], 1587);
    assert_eq!(v[0]["summary"]["latency_ms"]["p95"], 7.3);
    assert!(v[0]["script"].as_str().unwrap().ends_with("k6/load.js"));
    // The target reached the script as BASE_URL.
    let seen = std::fs::read_to_string(&log).unwrap();
    assert!(seen.starts_with("http://127.0.0.1:9 "), "{seen}");

    // The script's own threshold fails: the run fails and says which.
    let out = run(&path, &[("FAKE_K6_SLOW", "1")]).output().unwrap();
    assert_eq!(out.status.code(), Some(exit::FAILED));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("k6 threshold `p(95)<200` on http_req_duration failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("p95 latency 312.5ms is above the limit"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("script  "), "{stdout}");
}
