//! The rich, deterministic console state the snapshots draw: environments,
//! logs, pipelines, metrics and chaos experiments at a fixed clock.

use super::*;

pub(crate) fn instance(
    id: &str,
    version: &str,
    pid: Option<u32>,
    port: u16,
    phase: InstancePhase,
    restarts: u32,
) -> InstanceStatus {
    InstanceStatus {
        id: id.into(),
        version: Version::new(version),
        phase,
        restarts,
        detail: InstanceDetail::Process { pid, port },
    }
}

pub(crate) fn envs() -> Vec<EnvironmentStatus> {
    vec![
        EnvironmentStatus {
            name: "staging".into(),
            traffic: TrafficSplit {
                stable: Some(Version::new("v1")),
                canary: Some(Version::new("v2")),
                canary_weight: 20,
            },
            previous: Some(Version::new("v0")),
            step: Some((1, 4)),
            health: Health::Progressing("canary step 2/4, analysing".into()),
            instances: vec![
                instance(
                    "staging-v1-1",
                    "v1",
                    Some(41_201),
                    40_101,
                    InstancePhase::Ready,
                    0,
                ),
                instance(
                    "staging-v1-2",
                    "v1",
                    Some(41_202),
                    40_102,
                    InstancePhase::Ready,
                    0,
                ),
                instance(
                    "staging-v2-1",
                    "v2",
                    Some(41_301),
                    40_103,
                    InstancePhase::Ready,
                    1,
                ),
                instance(
                    "staging-v2-2",
                    "v2",
                    None,
                    40_104,
                    InstancePhase::BackingOff {
                        exit_code: Some(1),
                        restart_at: NOW + 2_000,
                    },
                    3,
                ),
            ],
            replicas: 2,
            last_change: NOW - 12_000,
            router_addr: "127.0.0.1:8180".into(),
            metrics_addr: "127.0.0.1:9180".into(),
            faults: vec![ActiveFault {
                id: "exp-3".into(),
                scenario: "network-latency".into(),
                ends_at: NOW + 18_000,
            }],
            revisions: Vec::new(),
            observed: None,
        },
        EnvironmentStatus {
            name: "production".into(),
            traffic: TrafficSplit {
                stable: Some(Version::new("v1")),
                canary: None,
                canary_weight: 0,
            },
            previous: None,
            step: None,
            health: Health::Healthy,
            instances: vec![
                instance(
                    "production-v1-1",
                    "v1",
                    Some(42_001),
                    40_201,
                    InstancePhase::Ready,
                    0,
                ),
                instance(
                    "production-v1-2",
                    "v1",
                    Some(42_002),
                    40_202,
                    InstancePhase::Ready,
                    0,
                ),
            ],
            replicas: 2,
            last_change: NOW - 2 * 3_600_000,
            router_addr: "127.0.0.1:8181".into(),
            metrics_addr: "127.0.0.1:9181".into(),
            faults: vec![],
            revisions: Vec::new(),
            observed: None,
        },
    ]
}

pub(crate) fn log_line(
    i: i64,
    env: &str,
    version: &str,
    instance: &str,
    level: Level,
    text: &str,
) -> LogLine {
    LogLine::new(
        NOW - (60 - i) * 250,
        env.into(),
        version.into(),
        instance.into(),
        level,
        text,
    )
}

pub(crate) fn fill_logs(app: &mut App) {
    let long = format!(
        "slow request trace: {}",
        (0..40)
            .map(|i| format!("span{i}=ok"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for i in 0..60i64 {
        let (env, version, inst) = match i % 3 {
            0 => ("staging", "v2", "staging-v2-1"),
            1 => ("staging", "v1", "staging-v1-1"),
            _ => ("production", "v1", "production-v1-2"),
        };
        let (level, text): (Level, String) = match i % 10 {
            0 => (
                Level::Info,
                format!(r#"{{"msg":"request served","path":"/hello","status":200,"latency_ms":{},"level":"info"}}"#, 10 + i),
            ),
            1 => (Level::Debug, format!("cache lookup key=user:{i} hit=true")),
            2 => (Level::Info, "GET /hello 200 12ms".to_string()),
            3 => (Level::Warn, "slow upstream: 180ms > 150ms budget".to_string()),
            4 => (Level::Trace, "poll tick".to_string()),
            5 => (Level::Error, "upstream timeout after 3000ms (GET /hello/blissful)".to_string()),
            6 => (Level::Info, "\x1b[32mGET\x1b[0m /health \x1b[1;31m503\x1b[0m in \x1b[33m4ms\x1b[0m".to_string()),
            7 => (Level::Info, long.clone()),
            8 => (
                Level::Error,
                r#"{"msg":"handler panicked","error":"index out of range","route":"/hello/:name","level":"error"}"#
                    .to_string(),
            ),
            _ => (Level::Unknown, "plain stdout line without a level".to_string()),
        };
        app.logs.push(log_line(i, env, version, inst, level, &text));
    }
    app.logs.note_lost(1_200);
}

pub(crate) fn pipelines() -> Vec<PipelineRun> {
    let mut older = PipelineRun::new(
        6,
        PipelineKind::Promotion,
        "production",
        "promote v1 from staging to production",
        &["prepare", "canary 5%", "canary 100%", "promote"],
        NOW - 3 * 3_600_000,
    );
    let t0 = older.started_at;
    for (i, d) in [(0, 2_000), (1, 31_000), (2, 62_000), (3, 64_500)] {
        older.start_stage(
            i,
            t0 + if i == 0 {
                0
            } else {
                [2_000, 31_000, 62_000][i - 1]
            },
        );
        older.finish_stage(i, StageStatus::Succeeded, "", t0 + d);
    }
    older.finish(StageStatus::Succeeded, t0 + 64_500);

    let mut run = PipelineRun::new(
        7,
        PipelineKind::Rollout,
        "staging",
        "deploy v2 to staging",
        &[
            "prepare",
            "start v2",
            "canary 5%",
            "canary 20%",
            "canary 50%",
            "canary 100%",
            "promote",
        ],
        NOW - 95_000,
    );
    run.start_stage(0, NOW - 95_000);
    run.finish_stage(
        0,
        StageStatus::Succeeded,
        "2 instances of v2 requested",
        NOW - 94_200,
    );
    run.start_stage(1, NOW - 94_200);
    run.finish_stage(1, StageStatus::Succeeded, "2/2 ready", NOW - 88_000);
    run.start_stage(2, NOW - 88_000);
    run.finish_stage(
        2,
        StageStatus::Succeeded,
        "passed: 5 checks on 412 requests",
        NOW - 47_000,
    );
    run.start_stage(3, NOW - 47_000);
    if let Some(s) = run.stages.get_mut(3) {
        s.progress = 0.4;
        s.detail = "analysis failed once, extending (1/3)".into();
    }
    vec![older, run]
}

pub(crate) fn series(points: usize, f: impl Fn(usize) -> MetricPoint) -> MetricSeries {
    let mut s = MetricSeries::new(300);
    for i in 0..points {
        s.push(f(i));
    }
    s
}

pub(crate) fn wave(i: usize, period: f64) -> f64 {
    ((i as f64) / period).sin()
}

pub(crate) fn fill_metrics(app: &mut App) {
    let ts = |i: usize| NOW - (60 - i as i64) * 1_000;
    let stable = |env: &str| {
        let base = if env == "staging" { 6.4 } else { 8.0 };
        series(60, move |i| MetricPoint {
            ts: ts(i),
            rps: base + 1.5 * wave(i, 5.0),
            error_rate: 0.001 + 0.001 * wave(i, 9.0).abs(),
            p50_ms: 11.0 + 2.0 * wave(i, 6.0),
            p95_ms: 45.0 + 8.0 * wave(i, 7.0),
            p99_ms: 80.0 + 10.0 * wave(i, 4.0),
            cpu_pct: 12.0 + 3.0 * wave(i, 8.0),
            mem_mib: 42.0 + (i as f64) * 0.05,
        })
    };
    app.metrics
        .insert(("staging".into(), "v1".into()), stable("staging"));
    app.metrics
        .insert(("production".into(), "v1".into()), stable("production"));
    app.metrics.insert(
        ("staging".into(), "v2".into()),
        series(60, |i| MetricPoint {
            ts: ts(i),
            rps: 1.6 + 0.4 * wave(i, 5.0),
            error_rate: 0.004 + 0.0002 * i as f64,
            p50_ms: 38.0,
            p95_ms: 120.0 + i as f64,
            p99_ms: 400.0 + 3.5 * i as f64,
            cpu_pct: 18.0 + 4.0 * wave(i, 6.0),
            mem_mib: 48.0 + (i as f64) * 0.3,
        }),
    );
}

pub(crate) fn experiments() -> Vec<Experiment> {
    let params = FaultParams::default();
    let mut pod = Experiment::new(
        "exp-1".into(),
        "staging",
        ScenarioKind::PodKill,
        params.clone(),
        NOW - 600_000,
    );
    pod.state = ExperimentState::Completed;
    pod.result = Some(ExperimentResult::Resilient);
    pod.detection_ms = Some(1_000);
    pod.recovery_ms = Some(4_200);
    pod.peak_error_rate = 0.083;
    pod.peak_p99_ms = 310.0;
    pod.failed_requests = 14;

    let mut err = Experiment::new(
        "exp-2".into(),
        "production",
        ScenarioKind::ErrorInjection,
        params.clone(),
        NOW - 300_000,
    );
    err.state = ExperimentState::Completed;
    err.result = Some(ExperimentResult::NotRecovered);
    err.detection_ms = Some(900);
    err.recovery_ms = Some(45_000);
    err.peak_error_rate = 0.31;
    err.peak_p99_ms = 95.0;
    err.failed_requests = 212;

    let mut lat = Experiment::new(
        "exp-3".into(),
        "staging",
        ScenarioKind::NetworkLatency,
        params,
        NOW - 12_000,
    );
    lat.detection_ms = Some(2_100);
    lat.peak_error_rate = 0.021;
    lat.peak_p99_ms = 512.0;
    lat.failed_requests = 3;
    vec![pod, err, lat]
}

pub(crate) fn rich_app() -> App {
    let keymap = Keymap::build(&Default::default()).expect("default keymap builds");
    let mut app = App::new(Arc::new(Config::default()), "sandbox", false, keymap, NOW);
    app.log_view.timestamps = TimestampMode::Utc;
    app.envs = envs();
    fill_logs(&mut app);
    app.pipelines.extend(pipelines());
    fill_metrics(&mut app);
    let canary = VersionSample {
        requests: 236,
        errors: 1,
        p50_ms: 38.0,
        p95_ms: 180.0,
        p99_ms: 612.0,
        ..Default::default()
    };
    let stable = VersionSample {
        requests: 1_480,
        errors: 2,
        p50_ms: 11.0,
        p95_ms: 45.0,
        p99_ms: 80.0,
        ..Default::default()
    };
    let verdict = analyze(&canary, Some(&stable), &Thresholds::default());
    app.verdicts.insert("staging".into(), (1, verdict));
    app.experiments.extend(experiments());
    app.agent.messages.extend([
        ChatMessage {
            role: ChatRole::System,
            text: "context: staging, canary v2 at 20%, last verdict FAIL".into(),
        },
        ChatMessage {
            role: ChatRole::User,
            text: "Why is the canary in staging failing?".into(),
        },
        ChatMessage {
            role: ChatRole::Assistant,
            text: "The canary v2 fails the p99 latency check: 612ms against a 500ms limit, and its p95 is \
                   four times the stable version's. One v2 instance is crash-looping (exit 1, 3 restarts), \
                   so the remaining instance takes all canary traffic. Roll back with `r` or look at the \
                   ERROR lines from staging-v2-1 in the Logs pane."
                .into(),
        },
    ]);
    app.agent.state = SourceState::Degraded(
        "Ollama unreachable at http://localhost:11434: connection refused".into(),
    );
    app.sources.insert("runtime".into(), SourceState::Ok);
    app.sources.insert(
        "agent".into(),
        SourceState::Degraded(
            "Ollama unreachable at http://localhost:11434: connection refused".into(),
        ),
    );
    app
}
