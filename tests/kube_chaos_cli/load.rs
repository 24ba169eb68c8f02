//! Load during chaos on Kubernetes: `kubernetes.addresses.<env>` says where
//! the environment's service answers from this machine (an ingress, a
//! NodePort, `kubectl port-forward`); here a stand-in HTTP server bound on
//! 127.0.0.1 plays the forwarded service and counts what reaches it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::*;

/// What reached the stand-in: the request count and the `Host` headers;
/// `failing` makes it answer 500 (a service that breaks when a pod dies).
#[derive(Default)]
struct Seen {
    requests: AtomicU64,
    hosts: Mutex<Vec<String>>,
    failing: std::sync::atomic::AtomicBool,
}

impl Seen {
    fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

/// A service that answers `ok` to every request and counts them.
async fn stand_in_service() -> (std::net::SocketAddr, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let counted = seen.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let seen = counted.clone();
        async move {
            seen.requests.fetch_add(1, Ordering::SeqCst);
            if let Some(h) = headers.get("host").and_then(|h| h.to_str().ok()) {
                let mut hosts = seen.hosts.lock().unwrap();
                if !hosts.iter().any(|x| x == h) {
                    hosts.push(h.to_string());
                }
            }
            match seen.failing.load(Ordering::SeqCst) {
                true => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "down"),
                false => (axum::http::StatusCode::OK, "ok"),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, seen)
}

fn with_address(addr: &str) -> String {
    CONFIG.replace(
        "  rollout: guestbook-canary\n",
        &format!("  rollout: guestbook-canary\n  addresses:\n    staging: '{addr}'\n"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_load_goes_to_the_configured_address() {
    let (addr, seen) = stand_in_service().await;
    let kube = FakeKube::start().await;
    let dir = project(&kube);
    write_project(dir.path(), &kube.url(), &with_address(&addr.to_string()));

    // `status` shows where the environment answers.
    let out = run(dir.path(), &["-o", "json", "status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let envs = status.as_array().unwrap_or_else(|| panic!("{status}"));
    assert_eq!(envs[0]["router_addr"], addr.to_string(), "{status}");

    let controller = report_injected(&kube, "podchaos");
    let out = run(
        dir.path(),
        &[
            "chaos",
            "--env",
            "staging",
            "--scenario",
            "pod-kill",
            "--load",
            "4",
            "--duration",
            "5s",
        ],
    )
    .await;
    controller.abort();
    let s = text(&out);
    let after_chaos = seen.requests();
    assert!(
        s.contains(&format!("load: 4 users against staging at {addr}")),
        "{s}"
    );
    // No Prometheus: what the load's clients saw is what is judged, and a
    // service that kept answering passes pod-kill.
    assert!(s.contains("samples from the load's clients"), "{s}");
    assert!(s.contains("pod-kill: pass"), "{s}");
    assert_eq!(out.status.code(), Some(0), "{s}");
    assert!(after_chaos > 0, "the stand-in got no request\n{s}");
    assert_eq!(*seen.hosts.lock().unwrap(), [addr.to_string()]);
    assert_eq!(
        kube.received_matching("POST", &format!("/namespaces/{NS}/podchaos"))
            .len(),
        1,
        "{s}"
    );
    let settled = seen.requests();

    // `perf --env` opens the cluster itself (no daemon) and loads the same address.
    let out = run(
        dir.path(),
        &[
            "-o", "json", "perf", "--env", "staging", "-d", "1s", "-c", "2",
        ],
    )
    .await;
    let s = text(&out);
    assert_eq!(out.status.code(), Some(0), "{s}");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {s}"));
    assert_eq!(summary["target"], format!("http://{addr}"), "{s}");
    assert!(seen.requests() > settled, "{s}");
    assert!(!s.contains("the console does not show this run"), "{s}");
    println!(
        "chaos --load 4: {after_chaos} requests reached the stand-in; perf -d 1s: {}",
        seen.requests() - settled
    );
}

#[tokio::test]
async fn without_an_address_the_load_names_the_key_to_set() {
    let kube = FakeKube::start().await;
    let dir = project(&kube);

    let out = run(
        dir.path(),
        &[
            "chaos",
            "--env",
            "staging",
            "--scenario",
            "pod-kill",
            "--load",
            "4",
            "--duration",
            "5s",
        ],
    )
    .await;
    let s = text(&out);
    assert_eq!(out.status.code(), Some(3), "{s}");
    assert!(
        s.contains("environment `staging` has no address this machine can send load to"),
        "{s}"
    );
    assert!(s.contains("set kubernetes.addresses.staging"), "{s}");
    // Refused before any fault was made.
    assert!(
        kube.received_matching("POST", "/podchaos").is_empty(),
        "{s}"
    );

    // `perf --env` says the same.
    let out = run(dir.path(), &["perf", "--env", "staging", "-d", "1s"]).await;
    let s = text(&out);
    assert_eq!(out.status.code(), Some(3), "{s}");
    assert!(s.contains("set kubernetes.addresses.staging"), "{s}");

    // A bad address is a config error naming its line and field.
    write_project(dir.path(), &kube.url(), &with_address("127.0.0.1:99999"));
    let out = run(dir.path(), &["chaos", "--env", "staging", "--load", "4"]).await;
    let s = text(&out);
    assert_eq!(out.status.code(), Some(64), "{s}");
    assert!(
        s.contains("blissful-infra.yaml:10: kubernetes.addresses.staging"),
        "{s}"
    );
    assert!(s.contains("invalid port"), "{s}");
}

/// The same run against a service that answers 500 for 2 s once its pod is
/// killed (the PodChaos exists): the load's clients see the errors and pod-kill
/// fails, so the verdict comes from what was measured, not from the setup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_errors_after_the_kill_fails_pod_kill() {
    let (addr, seen) = stand_in_service().await;
    let kube = FakeKube::start().await;
    let dir = project(&kube);
    write_project(dir.path(), &kube.url(), &with_address(&addr.to_string()));
    let controller = report_injected(&kube, "podchaos");
    let breaker = {
        let (kube, seen) = (kube.clone(), seen.clone());
        tokio::spawn(async move {
            let created = format!("/namespaces/{NS}/podchaos");
            while kube.received_matching("POST", &created).is_empty() {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            seen.failing.store(true, Ordering::SeqCst);
            // The pod comes back: the service answers again.
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            seen.failing.store(false, Ordering::SeqCst);
        })
    };
    let out = run(
        dir.path(),
        &[
            "chaos",
            "--env",
            "staging",
            "--scenario",
            "pod-kill",
            "--load",
            "4",
            "--duration",
            "5s",
        ],
    )
    .await;
    controller.abort();
    breaker.abort();
    let s = text(&out);
    assert!(s.contains("pod-kill: fail"), "{s}");
    assert!(s.contains("✗ no user-facing errors"), "{s}");
    assert_eq!(out.status.code(), Some(1), "{s}");
}
