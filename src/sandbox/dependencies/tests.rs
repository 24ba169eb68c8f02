use super::*;

#[tokio::test]
async fn each_address_gets_a_proxy_and_the_instances_see_the_proxy() {
    let mut svc = ServiceConfig::default();
    svc.env.insert(
        "DATABASE_URL".into(),
        "postgres://app:pw@db:5432/app".into(),
    );
    svc.env
        .insert("KAFKA_BOOTSTRAP_SERVERS".into(), "k1:9092,k2:9093".into());
    svc.env
        .insert("REDIS_URL".into(), "redis:///run/redis.sock".into());
    svc.env.insert("SEARCH".into(), "search:9200".into());
    svc.env.insert("LOG_LEVEL".into(), "debug".into());
    svc.dependencies = vec!["SEARCH".into()];
    let deps = Dependencies::start(&svc).await.unwrap();
    let vars: Vec<&str> = deps.found.iter().map(|d| d.var.as_str()).collect();
    assert_eq!(
        vars,
        vec!["DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "SEARCH"]
    );
    assert_eq!(deps.found[2].kind, DependencyKind::Other);
    assert!(
        deps.skipped[0].starts_with("REDIS_URL is not proxied"),
        "{:?}",
        deps.skipped
    );
    let db = &deps.found[0];
    assert_eq!(db.proxies[0].upstream(), "db:5432");
    assert_eq!(
        db.rewritten,
        format!("postgres://app:pw@{}/app", db.proxies[0].addr())
    );
    let kafka = &deps.found[1];
    assert_eq!(kafka.proxies.len(), 2);
    assert_eq!(
        kafka.rewritten,
        format!("{},{}", kafka.proxies[0].addr(), kafka.proxies[1].addr())
    );
    assert_eq!(deps.proxy_addrs().len(), 4);
    let env = deps.instance_env(&svc);
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("LOG_LEVEL").as_deref(), Some("debug"));
    assert_eq!(get("DATABASE_URL"), Some(db.rewritten.clone()));
    assert_eq!(env.iter().filter(|(n, _)| n == "DATABASE_URL").count(), 1);
    // The unproxied one is passed on as it was.
    assert_eq!(get("REDIS_URL").as_deref(), Some("redis:///run/redis.sock"));
    // Logs name the upstream, never the credentials.
    assert!(deps.describe().iter().all(|l| !l.contains("pw")));
    assert!(db.is_named("database") && db.is_named("DATABASE_URL") && !db.is_named("kafka"));
}
