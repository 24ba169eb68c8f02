//! `up` and `down` of a Compose project on the real Docker Engine: health
//! and readiness waits, URLs, port conflicts that name their holder, a
//! failing service's logs, and `down` leaving nothing behind. Skipped (with a
//! printed reason) when no engine is reachable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod docker_common;

use std::time::Duration;

use blissful_infra::docker::{cli, engine, lifecycle};
use docker_common::{app_db_compose, http_get, TestProject, DEP_IMAGE};

async fn run_up(p: &TestProject, timeout: Duration) -> (i32, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cli::up(&p.project, timeout, &mut out, &mut err).await;
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

async fn run_down(p: &TestProject) -> (i32, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cli::down(&p.project, true, &mut out, &mut err).await;
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

/// The app's URL from the summary line `  app  http://127.0.0.1:PORT`.
fn app_port(out: &str) -> u16 {
    out.lines()
        .find(|l| l.trim_start().starts_with("app "))
        .and_then(|l| l.rsplit(':').next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no app URL in:\n{out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_waits_for_health_then_down_leaves_nothing() {
    require_docker!();
    let p = TestProject::new("updown", &app_db_compose(false));
    let (code, out, err) = run_up(&p, Duration::from_secs(60)).await;
    assert_eq!(code, 0, "up failed:\n{out}\n{err}");
    eprintln!("{out}");
    assert!(
        out.contains("with docker-compose") || out.contains("with docker compose"),
        "{out}"
    );
    assert!(out.contains("✓ app ready (healthy, /ready 200"), "{out}");
    assert!(out.contains("✓ db ready (healthy"), "{out}");
    assert!(out.contains(&format!("{} is up in", p.name())), "{out}");
    let port = app_port(&out);
    let (status, body) = http_get(port, "/hello").await.expect("app answers");
    assert_eq!(status, 200, "{body}");

    // Up again: the project's own ports are no conflict, and it is ready at once.
    let (code, out2, err2) = run_up(&p, Duration::from_secs(30)).await;
    assert_eq!(code, 0, "second up failed:\n{out2}\n{err2}");
    assert_eq!(app_port(&out2), port, "the same container keeps serving");

    let docker = engine::connect().await.unwrap();
    assert_eq!(
        engine::project_containers(&docker, p.name(), None)
            .await
            .unwrap()
            .len(),
        2
    );
    let (code, out, err) = run_down(&p).await;
    assert_eq!(code, 0, "down failed:\n{out}\n{err}");
    assert!(
        out.contains("removed 2 container(s), 1 network(s)"),
        "{out}"
    );
    assert!(engine::project_containers(&docker, p.name(), None)
        .await
        .unwrap()
        .is_empty());
    assert!(lifecycle::project_networks(&docker, p.name())
        .await
        .unwrap()
        .is_empty());
    assert!(
        http_get(port, "/hello").await.is_none(),
        "nothing serves the old port"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_held_by_a_process_is_named_before_anything_starts() {
    require_docker!();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let compose = format!(
        "services:\n  db:\n    image: {DEP_IMAGE}\n    ports:\n      - \"127.0.0.1:{port}:5432\"\n"
    );
    let p = TestProject::new("conflict", &compose);
    let (code, out, err) = run_up(&p, Duration::from_secs(30)).await;
    assert_eq!(code, 1, "{out}\n{err}");
    let me = std::process::id();
    assert!(
        err.contains(&format!(
            "service db wants 127.0.0.1:{port}, which is held by process {me} ("
        )),
        "{err}"
    );
    let docker = engine::connect().await.unwrap();
    assert!(
        engine::project_containers(&docker, p.name(), None)
            .await
            .unwrap()
            .is_empty(),
        "nothing was started"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_held_by_another_projects_container_is_named() {
    require_docker!();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let compose = format!(
        "services:\n  db:\n    image: {DEP_IMAGE}\n    ports:\n      - \"127.0.0.1:{port}:5432\"\n"
    );
    let a = TestProject::new("owner", &compose);
    let (code, out, err) = run_up(&a, Duration::from_secs(30)).await;
    assert_eq!(code, 0, "{out}\n{err}");
    let b = TestProject::new("intruder", &compose);
    let (code, out, err) = run_up(&b, Duration::from_secs(30)).await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains(&format!("{}_db_1", a.name())) || err.contains(&format!("{}-db-1", a.name())),
        "the other project's container is named: {err}"
    );
    assert!(
        err.contains(&format!("compose project {}", a.name())),
        "{err}"
    );
    // Down of b never touches a.
    let (code, _, _) = run_down(&b).await;
    assert_eq!(code, 0);
    let docker = engine::connect().await.unwrap();
    assert_eq!(
        engine::project_containers(&docker, a.name(), None)
            .await
            .unwrap()
            .len(),
        1,
        "project a is untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_service_stops_the_wait_with_its_logs() {
    require_docker!();
    let compose = format!(
        r#"services:
  db:
    image: {DEP_IMAGE}
  broken:
    image: {DEP_IMAGE}
    command: ["sh", "-c", "echo starting broken; echo 'fatal: cannot open config 7f3a' >&2; exit 3"]
"#
    );
    let p = TestProject::new("broken", &compose);
    let started = std::time::Instant::now();
    let (code, out, err) = run_up(&p, Duration::from_secs(60)).await;
    assert_eq!(code, 1, "{out}\n{err}");
    eprintln!("{out}{err}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the wait stopped early"
    );
    assert!(err.contains("✗ broken not ready"), "{err}");
    assert!(err.contains("exited with code 3"), "{err}");
    assert!(
        err.contains("| fatal: cannot open config 7f3a"),
        "stderr lines are shown: {err}"
    );
    assert!(err.contains("| starting broken"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_compose_file_is_a_usage_error() {
    require_docker!();
    let p = TestProject::new("nofile", "services: {}\n");
    std::fs::remove_file(&p.project.file).unwrap();
    let (code, out, err) = run_up(&p, Duration::from_secs(10)).await;
    assert_eq!(code, 64, "{out}\n{err}");
    assert!(
        err.contains("docker-compose.yml") && err.contains("does not exist"),
        "{err}"
    );
}

/// A service with a `build:` section: `up` builds it (from a local base
/// image, no registry) tagged with the project's git short SHA, tags it
/// `latest` as well, and runs the SHA-tagged image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_images_are_tagged_with_the_git_sha_and_latest() {
    require_docker!();
    let p = TestProject::new("build", "services: {}\n");
    let dir = p.dir.path();
    let image = format!("{}-app", p.name());
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM {}\nENV VERSION=built\n", docker_common::SAMPLE_IMAGE),
    )
    .unwrap();
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            r#"services:
  app:
    build:
      context: .
    image: {image}:${{VERSION:-local}}
    ports:
      - "127.0.0.1::8080"
    labels:
      dev.blissful-infra.ready-path: /ready
"#
        ),
    )
    .unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "app"]);
    let sha = blissful_infra::docker::git_short_sha(dir).expect("a git checkout");
    let project = p.project.clone().with_version(Some(sha.clone()));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cli::up(&project, Duration::from_secs(60), &mut out, &mut err).await;
    let images = |tag: &str| {
        std::process::Command::new("docker")
            .args(["image", "inspect", "--format", "{{.Id}}"])
            .arg(format!("{image}:{tag}"))
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let (by_sha, latest) = (images(&sha), images("latest"));
    let running = std::process::Command::new("docker")
        .args(["ps", "--format", "{{.Image}}", "--filter"])
        .arg(format!("label=com.docker.compose.project={}", p.name()))
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let _ = cli::down(&project, true, &mut Vec::new(), &mut Vec::new()).await;
    let _ = std::process::Command::new("docker")
        .args(["image", "rm", "-f"])
        .arg(format!("{image}:{sha}"))
        .arg(format!("{image}:latest"))
        .output();
    assert_eq!(
        code,
        0,
        "{}{}",
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&err)
    );
    assert!(!by_sha.is_empty(), "no {image}:{sha}");
    assert_eq!(by_sha, latest, "latest is not the same image as {sha}");
    assert_eq!(running, format!("{image}:{sha}"));
}
