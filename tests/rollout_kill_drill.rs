//! Failure drill: the daemon running a canary rollout is SIGKILLed before,
//! during and after a change of the traffic weight, on the sandbox and on
//! Docker. "Before" is timed by watching `status` (step 1 holds its weight);
//! "during" and "after" use the drill hook `BLISSFUL_INFRA_KILL_AT`, which
//! makes the daemon kill itself between writing the rollout journal and
//! changing the router, or between changing the router and confirming it.
//!
//! After a restart the state must be consistent: the rollout is rolled back
//! (or, when the runtime already made the canary stable, completed), no
//! canary process or container is left, the rollout journal is gone, and
//! the reason is in `status`, the audit journal and the daemon's log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod docker_common;
mod drill_common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use blissful_infra::docker::{cli, engine, MANAGED_LABEL};
use docker_common::{app_db_compose, TestProject};
use drill_common::{audit_entries, children_of, text, wait_all_gone, Daemon};

const KILL_AT: &str = "BLISSFUL_INFRA_KILL_AT";

/// Where the daemon is killed.
#[derive(Clone, Copy, Debug)]
enum Kill {
    /// By the test, once `status` shows step 1 at its weight.
    WhileStep1Holds,
    /// By the daemon itself, at this drill hook point.
    Hook(&'static str),
}

struct Case {
    kill: Kill,
    /// `(weight, pause_secs)` per canary step.
    steps: &'static [(u8, u64)],
    version: &'static str,
    /// What the recovery must say about where the rollout was.
    when: &'static str,
    /// The runtime had made the canary stable before it died.
    completes: bool,
}

fn rollout_yaml(steps: &[(u8, u64)]) -> String {
    let mut s = String::from("traffic:\n  rate_per_sec: 20\nrollout:\n  steps:\n");
    for (w, p) in steps {
        s.push_str(&format!("    - {{ weight: {w}, pause_secs: {p} }}\n"));
    }
    s.push_str("  post_promotion_window_secs: 1\n");
    s.push_str("  analysis:\n    min_samples: 3\n    latency_slack_ms: 300\n");
    s.push_str("  max_extensions: 10\n");
    s
}

/// Start the rollout of `case.version` and have the daemon die where the
/// case says; returns the daemon's child processes seen while it ran.
fn deploy_and_kill(d: &mut Daemon, env: &str, case: &Case) -> Vec<u32> {
    let out = d.run(&[
        "deploy",
        "--env",
        env,
        "--version",
        case.version,
        "--no-wait",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut children = Vec::new();
    let mut seen = |d: &Daemon| {
        for c in children_of(d.pid()) {
            if !children.contains(&c) {
                children.push(c);
            }
        }
    };
    match case.kill {
        Kill::WhileStep1Holds => {
            let first = case.steps[0].0;
            d.wait_status(env, 90, "step 1 holding its weight", |s| {
                s["step"][0] == 0 && s["traffic"]["canary_weight"] == first
            });
            seen(d);
            d.sigkill();
        }
        Kill::Hook(point) => {
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            while matches!(d.child.try_wait(), Ok(None)) {
                seen(d);
                assert!(
                    std::time::Instant::now() < deadline,
                    "the drill hook {point} never fired:\n{}",
                    d.log_text()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            let status = d.wait_exit(1);
            assert_eq!(status.signal(), Some(libc::SIGKILL), "{}", d.log_text());
            assert!(
                d.log_text().contains(&format!("SIGKILL at {point}")),
                "{}",
                d.log_text()
            );
        }
    }
    children
}

/// The restarted daemon's verdict: in `status`, the audit journal and the
/// log, with the rollout journal gone.
fn check_recovery(d: &Daemon, env: &str, journal: &Path, case: &Case) -> serde_json::Value {
    let v = case.version;
    let (reason, stable) = if case.completes {
        (format!("rollout of {v} completed before the restart"), v)
    } else {
        (format!("rollout of {v} rolled back after restart"), "v1")
    };
    let says = |o: &serde_json::Value| {
        o.as_str()
            .is_some_and(|o| o.contains(&reason) && o.contains(case.when))
    };
    let entry = || {
        audit_entries(&d.state)
            .into_iter()
            .find(|e| e["user"] == "controller" && says(&e["outcome"]))
    };
    let s = d.wait_status(env, 60, "the recovery after the restart", |s| {
        let health_ok = if case.completes {
            s["health"]["state"] != "aborted"
        } else {
            s["health"]["state"] == "aborted" && says(&s["health"]["reason"])
        };
        health_ok && s["traffic"]["stable"] == stable && !journal.exists() && entry().is_some()
    });
    assert!(s["traffic"]["canary"].is_null(), "{s:#}");
    assert_eq!(s["traffic"]["canary_weight"], 0, "{s:#}");
    let entry = entry().unwrap();
    let action = if case.completes {
        "promote"
    } else {
        "rollback"
    };
    assert_eq!(entry["action"], action, "{entry:#}");
    let why = entry["outcome"].as_str().unwrap_or_default();
    assert!(why.contains("was killed or crashed"), "{why}");
    println!("recovery: {why}");
    assert!(!d.log_text().contains("panicked"), "{}", d.log_text());
    let logs = d.run(&["logs", "--env", env, "--tail", "500", "--grep", &reason]);
    assert!(
        String::from_utf8_lossy(&logs.stdout).contains(&reason),
        "not in the log: {}",
        text(&logs)
    );
    s
}

// ---------------------------------------------------------------- sandbox

const SANDBOX_ENV: &str = "staging";

fn sandbox_case(case: &Case) {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "project: drill-kill\nenvironments:\n  - {{ name: {SANDBOX_ENV}, replicas: 1, router_port: 0, metrics_port: 0 }}\n{}",
        rollout_yaml(case.steps)
    );
    std::fs::write(dir.path().join("blissful-infra.yaml"), config).unwrap();
    let state = dir.path().join("state");
    let hook: Vec<(&str, String)> = match case.kill {
        Kill::Hook(p) => vec![(KILL_AT, p.to_string())],
        Kill::WhileStep1Holds => Vec::new(),
    };
    let env: Vec<(&str, &str)> = hook.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut d = Daemon::start(dir.path(), &state, &env);
    d.wait_status(SANDBOX_ENV, 30, "v1 ready", |s| {
        s["instances"][0]["phase"]["phase"] == "ready"
    });
    let children = deploy_and_kill(&mut d, SANDBOX_ENV, case);
    println!(
        "[sandbox {:?}] daemon killed; its children were {children:?}",
        case.kill
    );
    // Instances are the daemon's children and die with it (PR_SET_PDEATHSIG).
    assert!(children.len() >= 2, "v1 and v2 were running: {children:?}");
    wait_all_gone(&children, 10, "instances outlive the killed daemon");
    let journal = state.join("rollout-staging.json");
    let left: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&journal).unwrap()).unwrap();
    assert_eq!(left["rollout"]["version"], case.version, "{left:#}");
    drop(d);

    let d = Daemon::start(dir.path(), &state, &[]);
    let s = check_recovery(&d, SANDBOX_ENV, &journal, case);
    // The sandbox starts again from its initial version only.
    let versions: Vec<&str> = s["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["version"].as_str())
        .collect();
    assert!(versions.iter().all(|v| *v == "v1"), "{s:#}");
}

#[test]
fn sandbox_killed_while_a_step_holds_rolls_back_at_restart() {
    sandbox_case(&Case {
        kill: Kill::WhileStep1Holds,
        steps: &[(25, 60), (100, 1)],
        version: "v2",
        when: "during step 1/2 (weight 25%)",
        completes: false,
    });
}

#[test]
fn sandbox_killed_during_and_after_a_weight_change_rolls_back_at_restart() {
    for point in ["rollout:step2:before-weight", "rollout:step2:after-weight"] {
        sandbox_case(&Case {
            kill: Kill::Hook(point),
            steps: &[(25, 1), (50, 60), (100, 1)],
            version: "v2",
            when: "while setting step 2/3 (weight 50%)",
            completes: false,
        });
    }
}

#[test]
fn sandbox_killed_while_promoting_restarts_from_its_initial_version() {
    sandbox_case(&Case {
        kill: Kill::Hook("rollout:promote:after-weight"),
        steps: &[(50, 1), (100, 1)],
        version: "v2",
        when: "during step 2/2 (weight 100%)",
        completes: false,
    });
}

// ----------------------------------------------------------------- docker

const DOCKER_ENV: &str = "local";

async fn managed_containers(project: &str) -> usize {
    let docker = engine::connect().await.unwrap();
    engine::project_containers(&docker, project, None)
        .await
        .unwrap()
        .iter()
        .filter(|c| {
            c.labels
                .as_ref()
                .is_some_and(|l| l.contains_key(MANAGED_LABEL))
        })
        .count()
}

async fn docker_case(p: &TestProject, case: &Case) {
    let config = format!(
        "project: {}\nruntime: docker\nenvironments:\n  - name: {DOCKER_ENV}\n    replicas: 1\n{}",
        p.name(),
        rollout_yaml(case.steps)
    );
    std::fs::write(p.dir.path().join("blissful-infra.yaml"), config).unwrap();
    let state = p.state_dir();
    let hook: Vec<(&str, String)> = match case.kill {
        Kill::Hook(point) => vec![(KILL_AT, point.to_string())],
        Kill::WhileStep1Holds => Vec::new(),
    };
    let env: Vec<(&str, &str)> = hook.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut d = Daemon::start(p.dir.path(), &state, &env);
    let stable_before = d.env_status(DOCKER_ENV)["traffic"]["stable"].clone();
    deploy_and_kill(&mut d, DOCKER_ENV, case);
    // Containers outlive the daemon: the canary is still there.
    let left = managed_containers(p.name()).await;
    println!(
        "[docker {:?}] daemon killed; {left} canary container(s) left",
        case.kill
    );
    assert!(left >= 1, "the canary container was created");
    let journal = state.join(format!("rollout-docker-{}.json", p.name()));
    assert!(journal.exists(), "no rollout journal after the kill");
    drop(d);

    let d = Daemon::start(p.dir.path(), &state, &[]);
    let s = check_recovery(&d, DOCKER_ENV, &journal, case);
    if case.completes {
        // The promotion's last act, retiring what served before, is done too.
        let v = case.version;
        d.wait_status(DOCKER_ENV, 60, "only the new version runs", |s| {
            let app =
                |i: &&serde_json::Value| i["id"].as_str().is_some_and(|n| n.starts_with("app"));
            s["instances"]
                .as_array()
                .is_some_and(|i| i.iter().filter(app).all(|i| i["version"] == v))
        });
    } else {
        assert_eq!(s["traffic"]["stable"], stable_before, "{s:#}");
        for _ in 0..100 {
            if managed_containers(p.name()).await == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(
            managed_containers(p.name()).await,
            0,
            "canary containers left"
        );
    }
    drop(d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_killed_before_during_and_after_a_weight_change_recovers_at_restart() {
    require_docker!();
    let p = TestProject::new("rkill", &app_db_compose(false));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cli::up(&p.project, Duration::from_secs(60), &mut out, &mut err).await;
    assert_eq!(code, 0, "up: {}", String::from_utf8_lossy(&err));
    let cases = [
        Case {
            kill: Kill::WhileStep1Holds,
            steps: &[(25, 60), (100, 1)],
            version: "v2",
            when: "during step 1/2 (weight 25%)",
            completes: false,
        },
        Case {
            kill: Kill::Hook("rollout:step2:before-weight"),
            steps: &[(25, 1), (50, 60), (100, 1)],
            version: "v3",
            when: "while setting step 2/3 (weight 50%)",
            completes: false,
        },
        Case {
            kill: Kill::Hook("rollout:step2:after-weight"),
            steps: &[(25, 1), (50, 60), (100, 1)],
            version: "v4",
            when: "while setting step 2/3 (weight 50%)",
            completes: false,
        },
        Case {
            kill: Kill::Hook("rollout:promote:after-weight"),
            steps: &[(50, 1), (100, 1)],
            version: "v5",
            when: "during step 2/2 (weight 100%)",
            completes: true,
        },
    ];
    for case in &cases {
        docker_case(&p, case).await;
        println!("[docker {:?}] consistent after the restart", case.kill);
    }
}
