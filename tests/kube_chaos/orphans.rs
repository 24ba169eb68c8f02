//! A Chaos Mesh resource blissful-infra made that no journal here knows of
//! (another machine's, or a lost journal): found at start, shown among the
//! environment's faults, logged with how to remove it, never removed on its
//! own, and deleted (finalizer awaited) on `undo --id`.

use super::*;

/// A NetworkChaos labelled as blissful-infra's, for fault `fault`.
fn managed_chaos(name: &str, fault: &str, managed: bool) -> Value {
    let labels = match managed {
        true => {
            json!({"app.kubernetes.io/managed-by": "blissful-infra", "blissful-infra.io/fault": fault})
        }
        false => json!({"team": "sre"}),
    };
    json!({
        "apiVersion": GV,
        "kind": "NetworkChaos",
        "metadata": {"name": name, "namespace": NS, "labels": labels,
                     "finalizers": [RECORDS_FINALIZER]},
        "spec": {"action": "delay", "mode": "all",
                 "selector": {"labelSelectors": {"app": ROLLOUT}},
                 "delay": {"latency": "300ms"}, "duration": "60s"}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leftover_resource_in_no_journal_is_offered_for_removal_and_deleted_on_undo() {
    let kube = FakeKube::start().await;
    kube.seed_fixture_in("argo-rollouts/rollout-canary-paused-at-step.yaml", NS);
    let fault = "network-latency-7-a1b2";
    let orphan = kube.put(managed_chaos(
        "blissful-network-latency-7-a1b2",
        fault,
        true,
    ));
    let theirs = kube.put(managed_chaos("sre-latency-drill", "", false));
    // Chaos Mesh's part: the finalizer goes 300 ms after the delete.
    let recovery = {
        let (kube, key) = (kube.clone(), orphan.clone());
        tokio::spawn(async move {
            loop {
                if let Some(mut o) = kube.get(&key) {
                    if o["metadata"].get("deletionTimestamp").is_some() {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        o["metadata"]["finalizers"] = json!([]);
                        kube.put(o);
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let state = tempfile::tempdir().unwrap();
    let rt = start(&kube, state.path(), BTreeMap::new()).await;

    // Shown with the environment's faults, and logged with the way out.
    let s = rt.status().await.unwrap().remove(0);
    let shown = s.faults.iter().find(|f| f.id == fault);
    assert!(
        shown.is_some_and(|f| f.scenario.contains("leftover NetworkChaos")),
        "{:?}",
        s.faults
    );
    assert_eq!(
        s.faults.len(),
        1,
        "the unlabelled resource is not ours: {:?}",
        s.faults
    );
    let logs = rt.recent_logs(Some("staging"), 200).await.unwrap();
    assert!(
        logs.iter()
            .any(|l| l.text.contains(
                "leftover Chaos Mesh resource NetworkChaos/blissful-network-latency-7-a1b2"
            ) && l.text.contains(&format!("undo --id {fault}"))),
        "{logs:#?}"
    );
    // Never removed on its own.
    assert!(kube.get(&orphan).is_some());
    assert!(kube
        .received_matching("DELETE", "/networkchaos/")
        .is_empty());

    let asked = Instant::now();
    rt.undo(&actor(), fault).await.unwrap();
    assert!(
        asked.elapsed() >= Duration::from_millis(300),
        "the undo waited for the finalizer"
    );
    assert_eq!(
        kube.received_matching("DELETE", "/networkchaos/blissful-network-latency-7-a1b2")
            .len(),
        1
    );
    assert!(
        kube.get(&orphan).is_none(),
        "gone once its finalizer was released"
    );
    assert!(kube.get(&theirs).is_some(), "someone else's resource stays");
    let s = rt.status().await.unwrap().remove(0);
    assert!(s.faults.is_empty(), "{:?}", s.faults);
    assert!(matches!(
        rt.undo(&actor(), fault).await,
        Err(RuntimeError::NotFound(_))
    ));
    recovery.abort();
}
