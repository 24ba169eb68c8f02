//! network-partition and dns-failure on the sandbox, measured from outside
//! (the router's answers, a dependency exchange through its proxy) and from
//! the instance itself (its view of /etc/resolv.conf, its own failed lookups).

use super::*;

/// Status and body of one GET through the router; Err when the connection
/// ended without an answer.
async fn get(addr: &str, path: &str) -> Result<(u16, String), String> {
    let io = async {
        let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(10), io)
        .await
        .map_err(|_| "timed out".to_string())??;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no answer: {text:?}"))?;
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Ok((status, body))
}

async fn router_addr(rt: &dyn Runtime) -> String {
    rt.status().await.unwrap().remove(0).router_addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_partition_cuts_the_router_and_every_dependency_until_undone() {
    let db = stand_in().await;
    let sb = start(config(&[(
        "DATABASE_URL",
        format!("postgres://app:pw@{db}/app"),
    )]))
    .await;
    let rt: &dyn Runtime = &*sb.rt;
    assert_eq!(
        rt.capabilities().scenarios.get("network-partition"),
        Some(&Support::Yes)
    );
    assert!(
        matches!(rt.capabilities().scenarios.get("packet-loss"), Some(Support::No(r)) if r.contains("network namespace")),
        "packet-loss is refused with the reason"
    );
    let db_proxy = db_proxy_of(&instance_env(rt).await);
    let router = router_addr(rt).await;
    assert_eq!(get(&router, "/hello").await.unwrap().0, 200);

    let x = rt
        .inject(
            &actor(),
            ENV,
            ScenarioKind::NetworkPartition,
            FaultParams {
                rate: 1.0,
                ..long(0)
            },
        )
        .await
        .unwrap();
    let j = journal(&sb.state);
    assert_eq!(
        j[0].undo,
        vec![
            SandboxUndo::ClearRouterFault,
            SandboxUndo::ClearProxyFault {
                vars: vec!["DATABASE_URL".into()]
            }
        ]
    );
    assert_eq!(
        j[0].targets,
        vec![ENV.to_string(), format!("DATABASE_URL ({db})")]
    );
    for _ in 0..5 {
        let r = get(&router, "/hello").await;
        assert!(
            r.is_err(),
            "the router answered during the partition: {r:?}"
        );
    }
    let mut hung = TcpStream::connect(db_proxy).await.unwrap();
    let t = tokio::time::timeout(Duration::from_millis(500), exchange(&mut hung)).await;
    assert!(t.is_err(), "the database answered during the partition");

    rt.undo(&actor(), &x.id).await.unwrap();
    assert_eq!(get(&router, "/hello").await.unwrap().0, 200);
    let mut b = [0u8; 8];
    tokio::time::timeout(Duration::from_secs(2), hung.read_exact(&mut b))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&b, b"SELECT 1", "the held exchange completes once healed");
    fresh_exchange(db_proxy).await.unwrap();
    assert!(journal(&sb.state).is_empty());

    // The seed's partition loses half the traffic: about half the requests
    // go unanswered (40 tries: outside 5..=35 has odds below one in 10^6).
    let half = FaultParams::default().for_scenario(ScenarioKind::NetworkPartition);
    assert_eq!(half.rate, 0.5);
    let x = rt
        .inject(&actor(), ENV, ScenarioKind::NetworkPartition, half)
        .await
        .unwrap();
    let mut dropped = 0;
    for _ in 0..40 {
        if get(&router, "/hello").await.is_err() {
            dropped += 1;
        }
    }
    assert!((5..=35).contains(&dropped), "{dropped} of 40 dropped");
    rt.undo(&actor(), &x.id).await.unwrap();
    assert_eq!(get(&router, "/hello").await.unwrap().0, 200);
    sb.rt.shutdown().await;
}

/// /etc/resolv.conf as process `pid` sees it, through its mount namespace.
fn resolv_seen_by(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/root/etc/resolv.conf")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_failure_fails_the_instances_lookups_and_only_theirs_until_undone() {
    // The service calls a dependency by a name no proxy stands in for, so
    // every request makes it look the name up.
    let sb = start(config(&[
        ("PROBE_ADDR", "dns-probe.blissful.test:9".to_string()),
        ("SAMPLE_CALLS_DEPENDENCY", "PROBE_ADDR".to_string()),
        ("SAMPLE_BREAKER", "off".to_string()),
    ]))
    .await;
    let rt: &dyn Runtime = &*sb.rt;
    assert_eq!(
        rt.capabilities().scenarios.get("dns-failure"),
        Some(&Support::Yes)
    );
    let pid = ready_pid(rt).await;
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap();
    assert_eq!(resolv_seen_by(pid), host);

    let r = rt
        .inject(&actor(), ENV, ScenarioKind::DnsFailure, long(0))
        .await;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 && std::env::var_os("CI").is_none() {
        // Not root: the instances share our namespace and it says so.
        assert!(
            matches!(&r, Err(RuntimeError::Refused(m)) if m.contains("CAP_SYS_ADMIN")),
            "{r:?}"
        );
        assert!(journal(&sb.state).is_empty());
        eprintln!("skipped the rest: dns-failure on the sandbox needs root");
        return sb.rt.shutdown().await;
    }
    let x = r.unwrap();
    let j = journal(&sb.state);
    let file = match &j[0].undo[..] {
        [SandboxUndo::RestoreResolvConf { processes, file }] => {
            assert_eq!(
                processes.iter().map(|p| p.pid).collect::<Vec<_>>(),
                vec![pid]
            );
            file.clone()
        }
        other => panic!("journalled: {other:?}"),
    };
    let swapped = resolv_seen_by(pid);
    assert!(swapped.contains("nameserver 127.83.0."), "{swapped}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), swapped);
    assert_eq!(
        std::fs::read_to_string("/etc/resolv.conf").unwrap(),
        host,
        "the host's resolver is untouched"
    );

    // The service's own lookups fail, as the resolver answers them.
    let router = router_addr(rt).await;
    let (status, body) = get(&router, "/hello").await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("dns-probe.blissful.test")
            && body.contains("Temporary failure in name resolution"),
        "{body}"
    );

    rt.undo(&actor(), &x.id).await.unwrap();
    assert_eq!(resolv_seen_by(pid), host, "the instance's resolver is back");
    assert!(!std::path::Path::new(&file).exists(), "{file} deleted");
    assert!(journal(&sb.state).is_empty());
    let logs = rt.recent_logs(Some(ENV), 200).await.unwrap();
    let removed = logs
        .iter()
        .find(|l| l.text.contains(&format!("chaos {}: fault removed", x.id)))
        .unwrap_or_else(|| panic!("{logs:#?}"));
    let answered: u64 = removed
        .text
        .split("; ")
        .find_map(|p| p.strip_suffix(" lookup(s) were answered SERVFAIL), watching recovery"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", removed.text));
    assert!(
        answered >= 1,
        "the responder answered the service: {}",
        removed.text
    );
    println!(
        "during dns-failure: {status} {body}\nundo: {}",
        removed.text
    );
    sb.rt.shutdown().await;
}
