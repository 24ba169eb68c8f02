use super::*;
use crate::config::ServiceConfig;

async fn deps(vars: &[(&str, &str)]) -> Dependencies {
    let mut svc = ServiceConfig::default();
    for (k, v) in vars {
        svc.env.insert(k.to_string(), v.to_string());
    }
    // Set, so the test's own environment cannot add one.
    for (k, _) in crate::sandbox::dependencies::WELL_KNOWN {
        svc.env.entry(k.to_string()).or_insert_with(|| " ".into());
    }
    Dependencies::start(&svc).await.unwrap()
}

#[tokio::test]
async fn scenarios_pick_their_dependency_or_say_what_was_looked_for() {
    let d = deps(&[
        ("DATABASE_URL", "postgres://db:5432/app"),
        ("REDIS_URL", "redis:///sock"),
    ])
    .await;
    let looked: Vec<String> = vec![
        "DATABASE_URL".into(),
        "KAFKA_BOOTSTRAP_SERVERS".into(),
        "REDIS_URL".into(),
    ];
    let db = chosen(&d, &looked, ScenarioKind::DbLatency, "").unwrap();
    assert_eq!(db.len(), 1);
    assert_eq!(db[0].display(), "DATABASE_URL (db:5432)");
    let Err(RuntimeError::Refused(why)) = chosen(&d, &looked, ScenarioKind::KafkaDown, "") else {
        panic!("kafka-down without Kafka must be refused");
    };
    assert!(why.contains("looked for KAFKA_BOOTSTRAP_SERVERS"), "{why}");
    assert!(why.contains("proxied: DATABASE_URL (db:5432)"), "{why}");
    // dependency-timeout: every dependency, or the one named.
    assert_eq!(
        chosen(&d, &looked, ScenarioKind::DependencyTimeout, "")
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        chosen(&d, &looked, ScenarioKind::DependencyTimeout, "database")
            .unwrap()
            .len(),
        1
    );
    let Err(RuntimeError::Refused(why)) =
        chosen(&d, &looked, ScenarioKind::DependencyTimeout, "redis")
    else {
        panic!("an unproxied target must be refused");
    };
    assert!(why.contains("REDIS_URL is not proxied"), "{why}");
    let none = deps(&[]).await;
    let Err(RuntimeError::Refused(why)) = chosen(&none, &looked, ScenarioKind::DbDown, "") else {
        panic!("db-down without a database must be refused");
    };
    assert!(why.contains("looked for DATABASE_URL"), "{why}");
}

#[tokio::test]
async fn faults_on_one_dependency_combine_and_clear() {
    let d = deps(&[
        ("DATABASE_URL", "postgres://db:5432/app"),
        ("KAFKA_BOOTSTRAP_SERVERS", "k:9092"),
    ])
    .await;
    let slow = ProxyTarget {
        vars: vec!["DATABASE_URL".into()],
        fault: proxy_fault_of(
            ScenarioKind::DbLatency,
            &FaultParams {
                latency_ms: 2000,
                ..Default::default()
            },
        )
        .unwrap(),
    };
    let down = ProxyTarget {
        vars: vec!["DATABASE_URL".into()],
        fault: proxy_fault_of(ScenarioKind::DbDown, &FaultParams::default()).unwrap(),
    };
    apply_faults(&d, [&slow, &down].into_iter());
    let db = &d.found[0].proxies[0];
    assert_eq!(db.fault().latency_ms, 2000);
    assert!(db.fault().refuse);
    assert!(
        d.found[1].proxies[0].fault().is_pass_through(),
        "kafka untouched"
    );
    apply_faults(&d, [&slow].into_iter());
    assert!(!db.fault().refuse);
    apply_faults(&d, std::iter::empty());
    assert!(db.fault().is_pass_through());
    assert_eq!(
        proxy_fault_of(ScenarioKind::CpuStress, &FaultParams::default()),
        None
    );
}
