//! A clock-jump drill: the daemon (`up`) runs under libfaketime with only the
//! wall clock faked (`FAKETIME_DONT_FAKE_MONOTONIC=1`), read again on every
//! call from a timestamp file. In the middle of a canary with timed pauses
//! the wall clock steps back an hour, then forward an hour. The pauses must
//! end on time, the rollout complete, rates stay sane, and `logs --follow`
//! keep printing the lines stamped an hour early, while their time stamps
//! show the jump. Debian's `faketime` package (scripts/test.sh installs it)
//! provides the library; without it the drill is skipped with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use blissful_infra::daemon::client::RemoteRuntime;
use blissful_infra::domain::chaos::{ExperimentResult, ExperimentState};
use blissful_infra::runtime::{RolloutOutcome, Runtime, RuntimeEvent};
use tokio::sync::mpsc::Receiver;

const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");
const PAUSE: Duration = Duration::from_secs(8);
const HOUR_MS: i64 = 3_600_000;
const RATE: f64 = 25.0;
const FAULT: Duration = Duration::from_secs(6);

const CONFIG: &str = "
project: clockjump
environments:
  - name: staging
    replicas: 1
    router_port: 0
    metrics_port: 0
traffic:
  rate_per_sec: 25
rollout:
  steps:
    - { weight: 50, pause_secs: 8 }
    - { weight: 100, pause_secs: 8 }
  analysis:
    min_samples: 5
  post_promotion_window_secs: 2
";

fn libfaketime() -> Option<PathBuf> {
    [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// The daemon under a fake wall clock; `down` when dropped.
struct Drill {
    dir: tempfile::TempDir,
    offset_file: PathBuf,
}

impl Drill {
    fn start(lib: &Path) -> Drill {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("blissful-infra.yaml"), CONFIG).expect("config");
        let offset_file = dir.path().join("faketime");
        std::fs::write(&offset_file, "+0\n").expect("offset");
        let drill = Drill { dir, offset_file };
        let out = drill
            .cli(&["up"])
            .env("LD_PRELOAD", lib)
            .env("FAKETIME_TIMESTAMP_FILE", &drill.offset_file)
            .env("FAKETIME_NO_CACHE", "1")
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .output()
            .expect("up");
        assert!(out.status.success(), "up under libfaketime: {out:?}");
        drill
    }

    fn cli(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(self.dir.path())
            .env("BLISSFUL_INFRA_STATE_DIR", self.dir.path().join("state"))
            .env_remove("LD_PRELOAD");
        c
    }

    /// Step the daemon's wall clock to `offset` from the real one.
    fn set_offset(&self, offset: &str) {
        std::fs::write(&self.offset_file, format!("{offset}\n")).expect("step the clock");
    }
}

impl Drop for Drill {
    fn drop(&mut self) {
        let _ = self.cli(&["down"]).output();
    }
}

/// What the drill saw on the daemon's event stream, with when it arrived.
#[derive(Default)]
struct Seen {
    steps: Vec<(Instant, Option<(usize, usize)>)>,
    rps: Vec<f64>,
    error_rates: Vec<f64>,
    log_ts: Vec<i64>,
    outcome: Option<RolloutOutcome>,
}

/// `logs --follow`, its output going to `out` (a pipe nobody reads until
/// the end would fill and stall it).
fn follow(drill: &Drill, out: &Path) -> Child {
    let file = std::fs::File::create(out).expect("logs output file");
    drill
        .cli(&["logs", "--follow", "--env", "staging"])
        .stdout(file)
        .stderr(Stdio::null())
        .spawn()
        .expect("logs --follow")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pauses_rates_and_log_order_survive_a_wall_clock_step_either_way() {
    let Some(lib) = libfaketime() else {
        println!("skipped: libfaketime is not installed (Debian package `faketime`)");
        return;
    };
    let drill = Drill::start(&lib);
    let remote = RemoteRuntime::connect(&drill.dir.path().join("state/sandbox.sock"))
        .await
        .expect("connect to the daemon");
    let mut events = remote.subscribe().await.expect("subscribe");
    let followed = drill.dir.path().join("followed.txt");
    let logs = follow(&drill, &followed);
    // `deploy` follows the rollout to its end, like a person at a terminal.
    let deploy = drill
        .cli(&["deploy", "--env", "staging", "--version", "v2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("deploy");

    let mut seen = Seen::default();
    let mut stepped_back = None;
    let mut stepped_forward = None;
    let deadline = Instant::now() + Duration::from_secs(90);
    while seen.outcome.is_none() {
        assert!(Instant::now() < deadline, "the rollout did not finish");
        let ev = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
        match ev {
            Ok(Some(RuntimeEvent::Environment { status }))
                if status.name == "staging"
                    && seen.steps.last().map(|s| s.1) != Some(status.step) =>
            {
                seen.steps.push((Instant::now(), status.step));
            }
            Ok(Some(RuntimeEvent::Metrics { point, .. })) => {
                seen.rps.push(point.rps);
                seen.error_rates.push(point.error_rate);
            }
            Ok(Some(RuntimeEvent::Log { line })) => seen.log_ts.push(line.ts),
            Ok(Some(RuntimeEvent::RolloutFinished { outcome, .. })) => seen.outcome = Some(outcome),
            Ok(None) => panic!("the daemon's event stream ended"),
            _ => {}
        }
        // Two seconds into the first pause the clock goes back an hour; two
        // seconds into the second it comes forward again.
        let began = |step: usize| {
            seen.steps
                .iter()
                .find(|s| s.1.map(|(i, _)| i) == Some(step))
                .map(|s| s.0)
        };
        if let (None, Some(t)) = (stepped_back, began(0)) {
            if t.elapsed() > Duration::from_secs(2) {
                drill.set_offset("-1h");
                stepped_back = Some(Instant::now());
            }
        }
        if let (None, Some(t)) = (stepped_forward, began(1)) {
            if t.elapsed() > Duration::from_secs(2) {
                drill.set_offset("+0");
                stepped_forward = Some(Instant::now());
            }
        }
    }
    assert!(
        matches!(seen.outcome, Some(RolloutOutcome::Promoted { .. })),
        "{:?}",
        seen.outcome
    );
    assert!(
        stepped_back.is_some() && stepped_forward.is_some(),
        "the clock was not stepped; steps seen: {:?}",
        seen.steps
    );

    // Each pause lasted its 8 s, give or take scheduling.
    let at = |want: Option<(usize, usize)>| {
        seen.steps
            .iter()
            .find(|s| s.1 == want)
            .map(|s| s.0)
            .unwrap_or_else(|| panic!("no {want:?} in {:?}", seen.steps))
    };
    let (s0, s1) = (at(Some((0, 2))), at(Some((1, 2))));
    let end = seen
        .steps
        .iter()
        .find(|s| s.0 > s1 && s.1.is_none())
        .map(|s| s.0)
        .expect("the steps ended");
    for (name, took) in [("first", s1 - s0), ("second", end - s1)] {
        println!(
            "clock jump: the {name} 8 s pause took {:.1} s",
            took.as_secs_f64()
        );
        assert!(
            took >= PAUSE - Duration::from_millis(500) && took <= PAUSE + Duration::from_secs(5),
            "the {name} pause took {took:?}"
        );
    }

    // Rates come from the monotonic clock: never negative or absurd.
    assert!(
        seen.rps.len() >= 10,
        "too few metric points: {:?}",
        seen.rps
    );
    for (rps, err) in seen.rps.iter().zip(&seen.error_rates) {
        assert!(
            rps.is_finite() && *rps >= 0.0 && *rps <= RATE * 4.0,
            "rps {rps}"
        );
        assert!((0.0..=1.0).contains(err), "error rate {err}");
    }
    println!(
        "clock jump: {} metric points, rps between {:.1} and {:.1}",
        seen.rps.len(),
        seen.rps.iter().cloned().fold(f64::INFINITY, f64::min),
        seen.rps.iter().cloned().fold(0.0, f64::max)
    );

    // The time stamps show the jump: some lines an hour early, the last on time.
    let real = chrono::Utc::now().timestamp_millis();
    let early = seen
        .log_ts
        .iter()
        .filter(|ts| **ts < real - HOUR_MS / 2)
        .count();
    assert!(
        early > 0,
        "no line stamped an hour early: {:?}",
        seen.log_ts
    );
    let last = *seen.log_ts.last().expect("log lines");
    assert!(
        (real - last).abs() < 120_000,
        "the last line is stamped {last}, now is {real}"
    );

    let deploy = deploy.wait_with_output().expect("deploy");
    assert!(deploy.status.success(), "deploy: {deploy:?}");
    let status = drill.cli(&["status"]).output().expect("status");
    assert!(status.status.success(), "{status:?}");

    // A fault's time is up on time whichever way the clock steps meanwhile,
    // and its experiment's verdict is not thrown by the step.
    for (step_to, name) in [("-1h", "back"), ("+0", "forward")] {
        let took = timed_fault(&drill, &mut events, step_to).await;
        println!(
            "clock jump: a 6 s fault with the clock stepped {name} lasted {:.1} s",
            took.as_secs_f64()
        );
        assert!(
            took >= FAULT - Duration::from_millis(500) && took <= FAULT + Duration::from_secs(4),
            "a 6 s fault lasted {took:?} with the clock stepped {name}"
        );
    }

    // `logs --follow`, started before the jump, printed the lines stamped an
    // hour early (the first step's analysis) and those after it; it ends
    // when the daemon stops.
    let down = drill.cli(&["down"]).output().expect("down");
    assert!(down.status.success(), "down: {down:?}");
    ended(logs, Duration::from_secs(20));
    let printed = std::fs::read_to_string(&followed).expect("followed lines");
    for want in [
        "canary analysis step 1",
        "canary analysis step 2",
        "promoted v2",
    ] {
        assert!(
            printed.contains(want),
            "`logs --follow` lost `{want}`:\n{printed}"
        );
    }
}

/// Wait for `child` to exit (killed after `limit`).
fn ended(mut child: Child, limit: Duration) {
    let deadline = Instant::now() + limit;
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Inject a 6 s latency fault, step the daemon's clock to `step_to` two
/// seconds in, and return how long the fault stayed applied; then wait for
/// the experiment's verdict, which must not be "not recovered".
async fn timed_fault(
    drill: &Drill,
    events: &mut Receiver<RuntimeEvent>,
    step_to: &str,
) -> Duration {
    let secs = FAULT.as_secs().to_string();
    let args = ["chaos", "--env", "staging", "--scenario", "network-latency"];
    let extra = [
        "--duration",
        secs.as_str(),
        "--latency-ms",
        "400",
        "--no-wait",
    ];
    let out = drill
        .cli(&[&args[..], &extra[..]].concat())
        .output()
        .expect("chaos");
    assert!(out.status.success(), "chaos: {out:?}");
    let (mut started, mut ended, mut stepped) = (None, None, false);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the experiment did not finish");
        if let (Some(t), false) = (started, stepped) {
            if Instant::elapsed(&t) > Duration::from_secs(2) {
                drill.set_offset(step_to);
                stepped = true;
            }
        }
        let ev = tokio::time::timeout(Duration::from_millis(100), events.recv()).await;
        let Ok(Some(RuntimeEvent::Experiment { experiment: x })) = ev else {
            continue;
        };
        let now = Instant::now();
        match x.state {
            ExperimentState::Running => started = started.or(Some(now)),
            ExperimentState::Recovering => ended = ended.or(Some(now)),
            ExperimentState::Completed | ExperimentState::Aborted => {
                let ended = ended.unwrap_or(now);
                assert_eq!(x.state, ExperimentState::Completed, "{x:?}");
                assert_ne!(x.result, Some(ExperimentResult::NotRecovered), "{x:?}");
                assert!(
                    x.detection_ms.is_none_or(|d| (0..10_000).contains(&d)),
                    "{x:?}"
                );
                assert!(
                    x.recovery_ms.is_none_or(|r| (0..30_000).contains(&r)),
                    "{x:?}"
                );
                let started = started.expect("the experiment was seen running");
                return ended - started;
            }
        }
    }
}
