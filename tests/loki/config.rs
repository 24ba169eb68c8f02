//! The `loki:` config section: validated and documented.

use super::*;

#[test]
fn config_section_is_validated_and_documented() {
    let bad = Config::from_yaml_str(
        "loki:\n  url: localhost:3100\n  timeout_ms: 0\n  page_limit: 0\n  labels:\n    env: deployment-env\n",
        "test.yaml",
    )
    .unwrap_err()
    .to_string();
    for field in [
        "loki.url",
        "loki.timeout_ms",
        "loki.page_limit",
        "loki.labels.env",
    ] {
        assert!(bad.contains(field), "{field} not named in: {bad}");
    }
    let ok = Config::from_yaml_str(
        "loki:\n  url: https://loki.example:3100\n  tenant: team-a\n  tls:\n    ca_file: /etc/ssl/loki-ca.pem\n  labels:\n    instance: pod\n",
        "test.yaml",
    )
    .unwrap();
    assert_eq!(ok.loki.url, "https://loki.example:3100");
    assert_eq!(ok.loki.tenant, "team-a");
    assert_eq!(ok.loki.tls.ca_file, "/etc/ssl/loki-ca.pem");
    assert!(!ok.loki.tls.insecure_skip_verify);
    assert_eq!(ok.loki.labels.instance, "pod");
    assert_eq!(ok.loki.labels.env, "env");
    assert_eq!(ok.loki.selector, "{}");
    assert!(Config::default().loki.url.is_empty());

    // The README's complete example parses, loki section included, and the
    // LogQL the README shows is what the builder makes.
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("```yaml\nproject:")
        .expect("README config example");
    let body = &readme[start + "```yaml\n".len()..];
    let yaml = &body[..body.find("```").unwrap()];
    let cfg = Config::from_yaml_str(yaml, "README.md").unwrap();
    assert_eq!(cfg.loki.timeout_ms, 5000);
    let shown = logql::build(
        &cfg.loki,
        &LogQuery {
            project: cfg.project.clone(),
            env: Some("staging".into()),
            version: Some("v2".into()),
            min_level: Some(Level::Warn),
            grep: Some("timeout".into()),
        },
    )
    .unwrap();
    assert!(readme.contains(&shown), "README does not show `{shown}`");
    // The README's table of default PromQL is the defaults, word for word.
    let q = PrometheusQueries::default();
    for (name, promql) in [
        ("request_rate", &q.request_rate),
        ("error_rate", &q.error_rate),
        ("p50", &q.p50),
        ("p95", &q.p95),
        ("p99", &q.p99),
        ("cpu", &q.cpu),
        ("memory", &q.memory),
        ("requests", &q.requests),
        ("errors", &q.errors),
    ] {
        assert!(
            readme.contains(&format!("`{promql}`")),
            "README does not list the default `{name}`: {promql}"
        );
    }
}
