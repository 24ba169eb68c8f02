//! The shared contract every backend keeps in code and manifests.

use super::*;

/// Every backend, in every database choice, serves the same contract: the
/// standard endpoints, metric names, environment variables, event shape and
/// request-id header appear in its code, and its port is the one the
/// Dockerfile, compose file and Kubernetes manifests use.
#[test]
fn backends_keep_the_shared_contract_in_code_and_manifests() {
    const ENDPOINTS: [&str; 8] = [
        "/health",
        "/hello",
        "/echo",
        "/ready",
        "/live",
        "/metrics",
        "/ws/events",
        "greeting.created",
    ];
    const METRICS: [&str; 5] = [
        "http_requests_total",
        "http_request_duration_seconds",
        "websocket_connections",
        "kafka_consumer_lag",
        "circuit_breaker_state",
    ];
    const ENV_VARS: [&str; 3] = ["KAFKA_BOOTSTRAP_SERVERS", "SERVICE_VERSION", "LOG_LEVEL"];
    const EVENT_FIELDS: [&str; 5] = [
        "eventId",
        "aggregateId",
        "occurredAt",
        "eventType",
        "payload",
    ];
    let (projects, _) = rendered();
    let mut problems = Vec::new();
    let mut checked = 0;
    for r in projects {
        // The backend's folder: the project, or backend/ of a fullstack one.
        let (dir, kind) = match r.choices.template.as_str() {
            "fullstack" => (r.dir.join("backend"), "backend".to_string()),
            _ => (r.dir.clone(), r.plan.context.kind.clone()),
        };
        if kind != "backend" {
            continue;
        }
        checked += 1;
        // Spring reads its environment in application.yml.
        let code: String = files_with_ext(&dir, &[".py", ".kt", ".ts", ".go", "application.yml"])
            .iter()
            .filter(|p| !p.to_string_lossy().contains("/k6/"))
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect::<Vec<_>>()
            .join("\n");
        let mut p = |what: String| problems.push(format!("{}: {what}", label(&r.choices)));
        for needle in ENDPOINTS
            .iter()
            .chain(&METRICS)
            .chain(&ENV_VARS)
            .chain(&EVENT_FIELDS)
            .chain(&["greetings", "X-Request-Id"])
        {
            if !code.to_lowercase().contains(&needle.to_lowercase()) {
                p(format!("the code never mentions `{needle}`"));
            }
        }
        if r.plan.context.use_postgres && !code.contains("DATABASE_URL") {
            p("postgres chosen but the code never reads DATABASE_URL".into());
        }
        if r.plan.context.use_redis && !code.contains("REDIS_URL") {
            p("redis chosen but the code never reads REDIS_URL".into());
        }
        // One port everywhere.
        let port = read(&dir, "Dockerfile")
            .and_then(|d| {
                d.lines()
                    .filter_map(|l| l.trim().strip_prefix("EXPOSE "))
                    .next_back()
                    .map(|p| p.trim().to_string())
            })
            .unwrap_or_default();
        if port.is_empty() {
            p("the Dockerfile exposes no port".into());
            continue;
        }
        let compose = read(&r.dir, "docker-compose.yml").unwrap_or_default();
        if !compose.contains(&format!(":{port}")) {
            p(format!(
                "docker-compose.yml never maps container port {port}"
            ));
        }
        if r.plan.context.target == "kubernetes" {
            let k8s: String = files_with_ext(&r.dir.join("k8s"), &[".yaml", ".yml"])
                .iter()
                .filter_map(|p| std::fs::read_to_string(p).ok())
                .collect();
            if !k8s.contains(&format!("containerPort: {port}")) {
                p(format!("no Kubernetes container port {port}"));
            }
        }
    }
    assert!(checked >= 10, "only {checked} backend projects checked");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
