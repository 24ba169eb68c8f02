//! The SIMULATED Argo Rollouts controller of the fake apiserver
//! (`tests/support/fake_kube/controller/`, test infrastructure only),
//! driven by the product's own intents (`kubernetes::send`) and read back
//! through the product's mapping: a full canary, a failing analysis that
//! aborts, retry, promote --full, pause/resume, restart and abort.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use blissful_infra::domain::environment::Health;
use blissful_infra::kubernetes::analysis::{analysis_run_view, AnalysisPhase};
use blissful_infra::kubernetes::connect::{connect, Connection, Target};
use blissful_infra::kubernetes::rollout_view;
use blissful_infra::kubernetes::send::send_intent;
use blissful_infra::runtime::intent::Intent;
use serde_json::{json, Value};
use support::fake_kube::client::{get_json, patch, Lines};
use support::fake_kube::{FakeKube, ObjKey};

const GUESTBOOK: &str = "argo-rollouts/rollout-canary-healthy-all-steps.yaml";
const NS: &str = "shop";
const NAME: &str = "guestbook-canary";
const OLD_IMAGE: &str = "quay.io/argoprojlabs/argocd-e2e-container:0.1";
const NEW_IMAGE: &str = "quay.io/argoprojlabs/argocd-e2e-container:0.2";
const NOW: &str = "2026-12-06T21:30:00Z";
/// A 30 s pause lasts 150 ms, a 5 s interval 25 ms.
const SCALE: f64 = 0.005;

struct Setup {
    kube: FakeKube,
    key: ObjKey,
    conn: Connection,
}

async fn setup() -> Setup {
    let kube = FakeKube::start().await;
    let key = kube.seed_fixture_in(GUESTBOOK, NS);
    let conn = connect(&Target::Url(kube.url())).await.unwrap();
    Setup { kube, key, conn }
}

impl Setup {
    async fn wait(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let ro = self.kube.get(&self.key).unwrap();
            if pred(&ro) {
                return ro;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "waited for {what}; status: {:#}",
                ro["status"]
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn send(&self, intent: Intent) -> Value {
        send_intent(&self.conn, NS, NAME, &intent, NOW)
            .await
            .unwrap()
    }

    async fn set_image(&self, image: &str) {
        let ops = json!([{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": image}]);
        let (code, body) = patch(
            &self.kube,
            &self.kube.path_of(&self.key),
            "application/json-patch+json",
            &ops.to_string(),
        )
        .await;
        assert_eq!(code, 200, "{body}");
    }

    async fn set_steps(&self, steps: Value) {
        let body = json!({"spec": {"strategy": {"canary": {"steps": steps}}}});
        let path = self.kube.path_of(&self.key);
        let (code, body) = patch(
            &self.kube,
            &path,
            "application/merge-patch+json",
            &body.to_string(),
        )
        .await;
        assert_eq!(code, 200, "{body}");
    }

    /// Pods of the namespace: name and first image.
    async fn pods(&self) -> Vec<(String, String)> {
        let (_, list) = get_json(&self.kube, &format!("/api/v1/namespaces/{NS}/pods")).await;
        let items = list["items"].as_array().unwrap();
        let image = |p: &Value| {
            p["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap()
                .to_string()
        };
        items
            .iter()
            .map(|p| {
                (
                    p["metadata"]["name"].as_str().unwrap().to_string(),
                    image(p),
                )
            })
            .collect()
    }

    fn replicas_of(&self, hash: &str) -> u64 {
        let rs = self
            .kube
            .get(&ObjKey::new(
                "apps/v1",
                "replicasets",
                NS,
                &format!("{NAME}-{hash}"),
            ))
            .unwrap();
        rs["spec"]["replicas"].as_u64().unwrap()
    }

    /// Every Rollout event from now on, in order.
    async fn record(&self) -> Arc<Mutex<Vec<Value>>> {
        let path = format!(
            "/apis/argoproj.io/v1alpha1/namespaces/{NS}/rollouts?watch=1&resourceVersion={}",
            self.kube.resource_version()
        );
        let mut lines = Lines::open(&self.kube, &path).await;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let out = seen.clone();
        tokio::spawn(async move {
            while let Some(line) = lines.next().await {
                out.lock()
                    .unwrap()
                    .push(serde_json::from_str::<Value>(&line).unwrap());
            }
        });
        seen
    }
}

fn phase(ro: &Value) -> &str {
    ro["status"]["phase"].as_str().unwrap_or_default()
}

fn at_step(ro: &Value, i: u64) -> bool {
    ro["status"]["currentStepIndex"] == json!(i) && phase(ro) == "Paused"
}

fn healthy_on_new(ro: &Value) -> bool {
    phase(ro) == "Healthy"
        && ro["status"]["stableRS"] == ro["status"]["currentPodHash"]
        && ro["status"]["stableRS"] != "84ccfddd66"
}

fn weights(events: &[Value]) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    for e in events {
        if let Some(w) = e["object"]["status"]["canary"]["weights"]["canary"]["weight"].as_u64() {
            if out.last() != Some(&w) {
                out.push(w);
            }
        }
    }
    out
}

#[tokio::test]
async fn a_canary_steps_through_its_weights_to_healthy() {
    let s = setup().await;
    let _ctl = s.kube.start_rollouts_controller(SCALE);
    let adopted = s.wait("adoption", |r| phase(r) == "Healthy").await;
    assert_eq!(adopted["status"]["stableRS"], "84ccfddd66");
    assert_eq!(s.pods().await.len(), 5);
    let events = s.record().await;
    s.set_image(NEW_IMAGE).await;

    let paused = s.wait("the indefinite pause", |r| at_step(r, 3)).await;
    let view = rollout_view(&paused);
    assert_eq!(view.step, Some((3, 4)));
    assert_eq!(view.set_weight, Some(40));
    assert_eq!(view.actual_weight, Some(40));
    assert_eq!(view.health, Health::Paused("CanaryPauseStep".into()));
    let hash = paused["status"]["currentPodHash"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!((s.replicas_of(&hash), s.replicas_of("84ccfddd66")), (2, 3));

    s.send(Intent::Promote { full: false }).await;
    let done = s.wait("Healthy on the new revision", healthy_on_new).await;
    assert_eq!(rollout_view(&done).health, Health::Healthy);
    assert_eq!(
        done["metadata"]["annotations"]["rollout.argoproj.io/revision"],
        "2"
    );
    assert_eq!((s.replicas_of(&hash), s.replicas_of("84ccfddd66")), (5, 0));
    let pods = s.pods().await;
    assert_eq!(pods.len(), 5);
    assert!(pods.iter().all(|(_, image)| image == NEW_IMAGE), "{pods:?}");

    tokio::time::sleep(Duration::from_millis(50)).await;
    let events = events.lock().unwrap().clone();
    assert_eq!(
        weights(&events),
        vec![0, 20, 40, 0],
        "the canary weights seen by a watcher"
    );
    let rvs: Vec<u64> = events
        .iter()
        .map(|e| {
            e["object"]["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(rvs.windows(2).all(|w| w[0] < w[1]), "{rvs:?}");
    let phases: Vec<&str> = events.iter().map(|e| phase(&e["object"])).collect();
    assert!(
        phases.contains(&"Progressing") && phases.contains(&"Paused"),
        "{phases:?}"
    );
}

fn analysis_template() -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": "success-rate", "namespace": NS},
        "spec": {"metrics": [{"name": "success-rate", "interval": "5s", "count": 4, "failureLimit": 1,
            "successCondition": "result[0] >= 0.95",
            "provider": {"prometheus": {"address": "http://prometheus:9090",
                "query": "sum(rate(http_requests_total{code!~\"5..\"}[1m])) / sum(rate(http_requests_total[1m]))"}}}]}})
}

#[tokio::test]
async fn a_failing_analysis_aborts_naming_the_metric_and_retry_starts_over() {
    let s = setup().await;
    s.kube.put(analysis_template());
    let ctl = s.kube.start_rollouts_controller(SCALE);
    s.set_steps(
        json!([{"setWeight": 20}, {"analysis": {"templates": [{"templateName": "success-rate"}]}},
        {"setWeight": 60}, {"pause": {}}]),
    )
    .await;
    s.wait("adoption", |r| phase(r) == "Healthy").await;
    ctl.script("success-rate", &["[0.99]", "[0.42]", "[0.97]", "[0.31]"]);
    s.set_image(NEW_IMAGE).await;

    let aborted = s.wait("the abort", |r| phase(r) == "Degraded").await;
    let metric = "metric \"success-rate\" assessed Failed due to failed (2) > failureLimit (1)";
    let why = format!(
        "Rollout aborted update to revision 2: Step-based analysis phase error/failed: {metric}"
    );
    assert_eq!(aborted["status"]["abort"], json!(true));
    assert_eq!(
        aborted["status"]["message"],
        format!("RolloutAborted: {why}")
    );
    assert_eq!(rollout_view(&aborted).health, Health::Aborted(why));
    let hash = aborted["status"]["currentPodHash"]
        .as_str()
        .unwrap()
        .to_string();
    let run_name = format!("{NAME}-{hash}-2-1");
    assert_eq!(
        aborted["status"]["canary"]["currentStepAnalysisRunStatus"],
        json!({"name": run_name, "status": "Failed", "message": metric})
    );
    let run = s
        .kube
        .get(&ObjKey::new(
            "argoproj.io/v1alpha1",
            "analysisruns",
            NS,
            &run_name,
        ))
        .unwrap();
    let view = analysis_run_view(&run);
    assert_eq!(view.phase, AnalysisPhase::Failed);
    let m = &view.metrics[0];
    assert_eq!((m.count, m.successful, m.failed), (4, 2, 2));
    let values: Vec<_> = m
        .measurements
        .iter()
        .map(|x| x.value.clone().unwrap())
        .collect();
    assert_eq!(values, ["[0.99]", "[0.42]", "[0.97]", "[0.31]"]);
    assert_eq!((s.replicas_of(&hash), s.replicas_of("84ccfddd66")), (0, 5));

    ctl.script("success-rate", &["[0.99]", "[0.98]", "[0.97]", "[0.99]"]);
    s.send(Intent::Retry).await;
    s.wait("the pause after a passing analysis", |r| at_step(r, 3))
        .await;
    let retry = s
        .kube
        .get(&ObjKey::new(
            "argoproj.io/v1alpha1",
            "analysisruns",
            NS,
            &format!("{run_name}.1"),
        ))
        .unwrap();
    assert_eq!(retry["status"]["phase"], "Successful");
    s.send(Intent::Promote { full: false }).await;
    s.wait("Healthy after the retry", healthy_on_new).await;
    assert_eq!(ctl.pending("success-rate"), 0);
}

#[tokio::test]
async fn promote_full_skips_the_remaining_steps() {
    let s = setup().await;
    let _ctl = s.kube.start_rollouts_controller(1.0); // the 30 s pause really holds
    s.wait("adoption", |r| phase(r) == "Healthy").await;
    s.set_image(NEW_IMAGE).await;
    s.wait("the first pause", |r| at_step(r, 1)).await;
    let events = s.record().await;
    s.send(Intent::Promote { full: true }).await;
    let done = s.wait("Healthy", healthy_on_new).await;
    assert!(
        done["status"].get("promoteFull").is_none(),
        "{:#}",
        done["status"]
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let events = events.lock().unwrap().clone();
    assert!(!weights(&events).contains(&40), "{:?}", weights(&events));
    let steps: Vec<u64> = events
        .iter()
        .filter_map(|e| e["object"]["status"]["currentStepIndex"].as_u64())
        .collect();
    assert!(!steps.contains(&2) && !steps.contains(&3), "{steps:?}");
}

#[tokio::test]
async fn pause_resume_restart_and_a_user_abort() {
    let s = setup().await;
    let _ctl = s.kube.start_rollouts_controller(SCALE);
    s.wait("adoption", |r| phase(r) == "Healthy").await;
    s.send(Intent::Pause).await;
    s.set_image(NEW_IMAGE).await;
    let held = s
        .wait("manual pause", |r| {
            r["status"]["message"] == "manually paused"
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        s.kube.get(&s.key).unwrap()["status"]["currentStepIndex"],
        held["status"]["currentStepIndex"]
    );
    assert_eq!(
        rollout_view(&held).health,
        Health::Paused("manually paused".into())
    );

    s.send(Intent::Resume).await;
    s.wait("the indefinite pause", |r| at_step(r, 3)).await;
    let before: Vec<String> = s.pods().await.into_iter().map(|p| p.0).collect();
    s.send(Intent::Restart).await;
    let restarted = s
        .wait("restart", |r| r["status"]["restartedAt"] == NOW)
        .await;
    assert_eq!(restarted["status"]["readyReplicas"], 5);
    let after: Vec<String> = s.pods().await.into_iter().map(|p| p.0).collect();
    assert_eq!(after.len(), 5);
    assert!(
        after.iter().all(|p| !before.contains(p)),
        "{before:?} -> {after:?}"
    );

    s.send(Intent::Abort {
        reason: "p99 too high".into(),
    })
    .await;
    let aborted = s.wait("abort", |r| phase(r) == "Degraded").await;
    assert_eq!(
        rollout_view(&aborted).health,
        Health::Aborted("Rollout aborted update to revision 2".into())
    );
    let pods = s.pods().await;
    assert!(
        pods.iter().all(|(_, i)| i == OLD_IMAGE) && pods.len() == 5,
        "{pods:?}"
    );
}
