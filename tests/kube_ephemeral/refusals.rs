//! What `up --ephemeral` and `down --ephemeral` refuse, changing nothing:
//! a bad name, `--read-only` (audited as refused), a namespace that is not
//! ours; and a Deployment that never gets ready (the namespace stays, and
//! the message says which Deployment and how to remove it).

use serde_json::json;

use super::support::fake_kube::FakeKube;
use super::{appears, deployment_key, have_renderer, journal, namespace_key, project, run, text};

#[tokio::test]
async fn a_bad_name_read_only_and_a_namespace_not_ours_are_refused() {
    if !have_renderer() {
        return;
    }
    let kube = FakeKube::start().await;
    let p = project(&kube);

    for bad in ["PR_42", "pr-", &"a".repeat(60)] {
        let out = run(&p.dir, &["up", "--ephemeral", bad]).await;
        assert_eq!(out.status.code(), Some(64), "{bad}: {}", text(&out));
        let s = text(&out);
        assert!(s.contains("DNS-1123") || s.contains("at most 63"), "{s}");
    }
    let out = run(&p.dir, &["down", "--ephemeral", "Nope", "--yes"]).await;
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    let out = run(&p.dir, &["up", "--ttl", "4h"]).await;
    assert_eq!(out.status.code(), Some(2), "clap: --ttl needs --ephemeral");

    // --read-only: refused before any request, and journalled as refused.
    let out = run(&p.dir, &["--read-only", "up", "--ephemeral", "pr-1"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("read-only"), "{}", text(&out));
    let out = run(
        &p.dir,
        &["--read-only", "down", "--ephemeral", "pr-1", "--yes"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(kube.received().is_empty(), "{:#?}", kube.received());
    let entries = journal(&p.dir);
    assert_eq!(entries.len(), 2, "{entries:#?}");
    for (e, action) in entries.iter().zip(["up --ephemeral", "down --ephemeral"]) {
        assert_eq!(e["action"], action);
        assert_eq!(e["env"], "orders-pr-1");
        let outcome = e["outcome"].as_str().unwrap();
        assert!(outcome.starts_with("refused: read-only mode"), "{outcome}");
    }

    // Somebody else's namespace: neither applied into nor deleted.
    kube.put(json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": "orders-pr-7", "labels": {"team": "payments"}}}));
    let out = run(&p.dir, &["up", "--ephemeral", "pr-7"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out)
            .contains("orders-pr-7 exists and is not an ephemeral environment of blissful-infra"),
        "{}",
        text(&out)
    );
    let out = run(&p.dir, &["down", "--ephemeral", "pr-7", "--yes"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("it is not deleted"), "{}", text(&out));
    assert!(kube.get(&namespace_key("orders-pr-7")).is_some());
    let changed: Vec<_> = kube
        .received()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert!(changed.is_empty(), "{changed:#?}");
    let last = journal(&p.dir);
    let outcomes: Vec<&str> = last[2..]
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes.len(), 2, "{last:#?}");
    assert!(
        outcomes.iter().all(|o| o.starts_with("refused:")),
        "{outcomes:?}"
    );

    // Another runtime: said plainly.
    let path = p.dir.join("blissful-infra.yaml");
    let config = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        config.replace("runtime: kubernetes", "runtime: docker"),
    )
    .unwrap();
    let out = run(&p.dir, &["up", "--ephemeral", "pr-1"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("needs `runtime: kubernetes`"),
        "{}",
        text(&out)
    );
}

#[tokio::test]
async fn a_deployment_that_never_gets_ready_leaves_the_namespace_and_says_so() {
    if !have_renderer() {
        return;
    }
    let kube = FakeKube::start().await;
    let p = project(&kube);
    let out = run(&p.dir, &["up", "--ephemeral", "slow", "--wait", "2s"]).await;
    let s = text(&out);
    assert_eq!(out.status.code(), Some(1), "{s}");
    assert!(
        s.contains("Deployment orders (0/1 available) not ready after 2s; the namespace orders-slow is left for you to look at"),
        "{s}"
    );
    assert!(s.contains("`blissful-infra down --ephemeral slow`"), "{s}");
    assert!(kube.get(&namespace_key("orders-slow")).is_some());
    appears(&kube, &deployment_key("orders-slow")).await;
    let outcome = journal(&p.dir)
        .last()
        .map(|e| e["outcome"].as_str().unwrap().to_string())
        .unwrap();
    assert!(
        outcome.starts_with("failed: Deployment orders"),
        "{outcome}"
    );
}
