//! A directory holding only a Compose file (no `blissful-infra.yaml`): `up`
//! picks the Docker runtime and says why, and the daemon infers the app
//! service (`web`, the only service) instead of failing on `app`. Skipped
//! (with a printed reason) without a Docker Engine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod docker_common;

use std::path::Path;
use std::process::{Command, Output};

use docker_common::{TestProject, SAMPLE_IMAGE};

const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");

fn run(dir: &Path, state: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("BLISSFUL_INFRA_STATE_DIR", state)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compose_directory_runs_on_docker_with_the_inferred_app_service() {
    require_docker!();
    let compose = format!(
        r#"services:
  web:
    image: {SAMPLE_IMAGE}
    environment:
      VERSION: v1
    ports:
      - "127.0.0.1::8080"
    labels:
      dev.blissful-infra.ready-path: /ready
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/ready"]
      interval: 1s
      timeout: 2s
      retries: 30
"#
    );
    let p = TestProject::new("detect", &compose);
    // Compose names the project after the directory: use the test's unique
    // name so TestProject's clean-up finds the containers.
    let dir = p.dir.path().join(p.name());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("docker-compose.yml"), &compose).unwrap();
    let state = p.state_dir();
    struct Down<'a>(&'a Path, &'a Path);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = run(self.0, self.1, &["down", "--volumes"]);
        }
    }
    let _down = Down(&dir, &state);

    let up = run(&dir, &state, &["up"]);
    let out = text(&up);
    assert_eq!(up.status.code(), Some(0), "{out}");
    assert!(
        out.contains(
            "runtime: docker (no blissful-infra.yaml here, and docker-compose.yml was found)"
        ) && out.contains("`runtime: sandbox`"),
        "{out}"
    );
    assert!(out.contains("✓ web ready"), "{out}");
    let log = std::fs::read_to_string(state.join("daemon.log")).unwrap_or_default();
    assert!(
        log.contains("app service: `web` (the only service)"),
        "daemon.log:\n{log}"
    );
}
