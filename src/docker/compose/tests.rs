//! Tests of `compose.rs`.
#![cfg(test)] // test code only

use super::*;

fn p(host_ip: &str, published: Option<u16>, target: u16, protocol: &str) -> PortSpec {
    PortSpec {
        host_ip: host_ip.into(),
        published,
        target,
        protocol: protocol.into(),
    }
}

#[test]
fn short_ports() {
    assert_eq!(
        parse_short_port("80").unwrap(),
        vec![p("", None, 80, "tcp")]
    );
    assert_eq!(
        parse_short_port("8080:80").unwrap(),
        vec![p("", Some(8080), 80, "tcp")]
    );
    assert_eq!(
        parse_short_port("127.0.0.1::5432/tcp").unwrap(),
        vec![p("127.0.0.1", None, 5432, "tcp")]
    );
    assert_eq!(
        parse_short_port("127.0.0.1:9000:90/udp").unwrap(),
        vec![p("127.0.0.1", Some(9000), 90, "udp")]
    );
    assert_eq!(
        parse_short_port("[::1]:8443:443").unwrap(),
        vec![p("::1", Some(8443), 443, "tcp")]
    );
    assert_eq!(
        parse_short_port("7000-7001:8000-8001").unwrap(),
        vec![
            p("", Some(7000), 8000, "tcp"),
            p("", Some(7001), 8001, "tcp")
        ]
    );
    assert!(parse_short_port("a:b:c:d").is_err());
    assert!(parse_short_port("x").is_err());
    assert!(parse_short_port("1-60000").is_err());
    assert!(parse_short_port("7000-7005:8000-8001").is_err());
    assert!(parse_short_port("7000-7001:8000-8005").is_err());
    assert_eq!(
        parse_short_port("7000-7005:80").unwrap(),
        vec![p("", None, 80, "tcp")]
    );
}

#[test]
fn parses_compose_v1_config_output() {
    let yaml = r#"
services:
  app:
    environment:
      VERSION: v1
    image: blissful-infra-sample:latest
    labels:
      dev.blissful-infra.ready-path: /ready
    ports:
    - 127.0.0.1::8080/tcp
    - published: 19000
      target: 9000
    restart: always
  db:
    image: blissful-infra-dep:latest
    labels:
    - dev.blissful-infra.role=db
    ports:
    - 127.0.0.1:15432:5432/tcp
version: '3.9'
"#;
    let m = ComposeModel::parse(yaml).unwrap();
    let app = &m.services["app"];
    assert_eq!(app.image.as_deref(), Some("blissful-infra-sample:latest"));
    assert_eq!(app.labels["dev.blissful-infra.ready-path"], "/ready");
    assert_eq!(
        app.ports,
        vec![
            p("127.0.0.1", None, 8080, "tcp"),
            p("", Some(19000), 9000, "tcp")
        ]
    );
    let db = &m.services["db"];
    assert_eq!(db.labels["dev.blissful-infra.role"], "db");
    assert_eq!(db.ports, vec![p("127.0.0.1", Some(15432), 5432, "tcp")]);
}

#[test]
fn parses_compose_v2_long_ports() {
    let yaml = r#"
name: x
services:
  web:
    image: nginx
    ports:
      - mode: ingress
        host_ip: 127.0.0.1
        target: 80
        published: "8081"
        protocol: tcp
"#;
    let m = ComposeModel::parse(yaml).unwrap();
    assert_eq!(
        m.services["web"].ports,
        vec![p("127.0.0.1", Some(8081), 80, "tcp")]
    );
    assert!(ComposeModel::parse("services: [1, 2]").is_err());
}

#[tokio::test]
async fn discovery_without_any_tool_names_both() {
    let empty = tempfile::tempdir().unwrap();
    let e = ComposeTool::discover_in(Some(empty.path().as_os_str().to_owned()))
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, DockerError::NoCompose { .. }), "{text}");
    assert!(text.contains("`docker compose`"), "{text}");
    assert!(text.contains("`docker-compose` is not on PATH"), "{text}");
}

#[tokio::test]
async fn discovery_falls_back_to_docker_compose() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // A `docker` without the plugin, and a standalone docker-compose.
    let docker = dir.path().join("docker");
    std::fs::write(
        &docker,
        "#!/bin/sh\necho \"'compose' is not a docker command\" >&2\nexit 1\n",
    )
    .unwrap();
    let dc = dir.path().join("docker-compose");
    std::fs::write(&dc, "#!/bin/sh\necho 1.29.2\n").unwrap();
    for f in [&docker, &dc] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let t = ComposeTool::discover_in(Some(dir.path().as_os_str().to_owned()))
        .await
        .unwrap();
    assert_eq!(t.flavor, Flavor::Standalone);
    assert_eq!(t.label, "docker-compose 1.29.2");
}
