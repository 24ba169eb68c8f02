//! The real binary with `runtime: docker`: `up` brings the Compose project
//! up and starts the daemon, `status`, `logs --env local --since` and a
//! canary `deploy` go through it, and `down --volumes` leaves nothing of the
//! project behind. Skipped (with a printed reason) without a Docker Engine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod docker_common;

use std::process::{Command, Output};

use docker_common::{app_db_compose, TestProject};

const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");

fn run(p: &TestProject, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(p.dir.path().join("blissful-infra.yaml"))
        .env("BLISSFUL_INFRA_STATE_DIR", p.state_dir())
        .env("NO_COLOR", "1")
        .output()
        .expect("running blissful-infra")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn project_containers(name: &str) -> usize {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter"])
        .arg(format!("label=com.docker.compose.project={name}"))
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_status_logs_deploy_down_through_the_binary() {
    require_docker!();
    let p = TestProject::new("cli", &app_db_compose(false));
    std::fs::write(
        p.dir.path().join("blissful-infra.yaml"),
        format!(
            "project: {}
runtime: docker
environments:
  - name: local
    replicas: 1
rollout:
  steps:
    - {{ weight: 50, pause_secs: 1 }}
    - {{ weight: 100, pause_secs: 1 }}
  analysis:
    min_samples: 3
",
            p.name()
        ),
    )
    .unwrap();
    // Stop the daemon whatever happens below (TestProject's drop removes the containers).
    struct Down<'a>(&'a TestProject);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = run(self.0, &["down", "--volumes"]);
        }
    }
    let _down = Down(&p);

    let up = run(&p, &["up"]);
    let out = text(&up);
    assert_eq!(up.status.code(), Some(0), "{out}");
    assert!(out.contains("✓ app ready"), "{out}");
    assert!(out.contains("✓ db ready"), "{out}");
    assert!(out.contains("docker runtime daemon running"), "{out}");

    let status = run(&p, &["status", "-o", "json"]);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status));
    let envs: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(envs[0]["name"], "local", "{envs:#}");
    assert_eq!(envs[0]["traffic"]["stable"], "v1", "{envs:#}");

    // The daemon's router sends background traffic: request lines appear.
    let mut logs = String::new();
    for _ in 0..40 {
        let o = run(
            &p,
            &[
                "logs", "--env", "local", "--since", "5m", "--grep", "request",
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        logs = String::from_utf8_lossy(&o.stdout).into_owned();
        if !logs.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(
        logs.contains("\"path\""),
        "no request lines from the app container:\n{logs}"
    );

    let deploy = run(&p, &["deploy", "--env", "local", "--version", "v2"]);
    let out = text(&deploy);
    assert_eq!(deploy.status.code(), Some(0), "{out}");
    assert!(out.contains("v2 is stable"), "{out}");

    let down = run(&p, &["down", "--volumes"]);
    let out = text(&down);
    assert_eq!(down.status.code(), Some(0), "{out}");
    assert!(out.contains("docker runtime stopped"), "{out}");
    assert!(out.contains("is down"), "{out}");
    assert_eq!(project_containers(p.name()), 0, "containers left behind");
}
