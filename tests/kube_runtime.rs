//! The Kubernetes runtime (`kubernetes::KubernetesRuntime`, Observed mode)
//! over a real `kube` client, against the FAKE API server in
//! `tests/support/fake_kube/` seeded with the upstream fixtures unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::Arc;
use std::time::Duration;

use blissful_infra::domain::analysis::Outcome;
use blissful_infra::domain::environment::{EnvironmentStatus, Health, InstancePhase};
use blissful_infra::kubernetes::connect::Target;
use blissful_infra::kubernetes::runtime::{EnvTarget, KubeSettings, SOURCE_NAME};
use blissful_infra::kubernetes::watch::ARGO_MISSING;
use blissful_infra::kubernetes::KubernetesRuntime;
use blissful_infra::runtime::{
    Actor, Intent, Runtime, RuntimeError, RuntimeEvent, SharedRuntime, SourceState,
};
use serde_json::{json, Value};
use support::fake_kube::{read_fixture, FakeKube, ObjKey, Rule};
use tokio::sync::mpsc;

const NS: &str = "shop";
const ABORTED: &str = "rollout-background-analysis";
const PAUSED: &str = "rollouts-demo";
const WAIT: Duration = Duration::from_secs(20);

fn settings(kube: &FakeKube, rollout: &str) -> KubeSettings {
    KubeSettings {
        target: Target::Url(kube.url()),
        envs: vec![EnvTarget {
            env: "staging".into(),
            namespace: NS.into(),
            rollout: rollout.into(),
            address: String::new(),
        }],
    }
}

/// The aborted canary with its ReplicaSets, pod and AnalysisRun.
fn seed_aborted(kube: &FakeKube) -> ObjKey {
    let key = kube.seed_fixture_in("argo-rollouts/rollout-canary-aborted.yaml", NS);
    for rel in [
        "core/replicaset-aborted-stable.yaml",
        "core/replicaset-aborted-canary.yaml",
        "core/pod-rollout-aborted-stable-running.yaml",
        "argo-rollouts/analysisrun-failed-web-metric.yaml",
    ] {
        kube.seed_fixture_in(rel, NS);
    }
    key
}

/// What a subscriber has seen so far.
struct Seen {
    rx: mpsc::Receiver<RuntimeEvent>,
    log: Vec<RuntimeEvent>,
    env: Option<EnvironmentStatus>,
    source: Option<SourceState>,
}

impl Seen {
    /// Subscribe, then read the current status, as the console does.
    async fn start(rt: &dyn Runtime) -> Seen {
        let rx = rt.subscribe().await.unwrap();
        Seen {
            rx,
            log: Vec::new(),
            env: rt.status().await.unwrap().pop(),
            source: None,
        }
    }

    async fn until(&mut self, what: &str, done: impl Fn(&Seen) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !done(self) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let ev = tokio::time::timeout(left, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("waited for {what}; saw {:#?}", self.log))
                .expect("stream ended");
            match &ev {
                RuntimeEvent::Environment { status } => self.env = Some(status.clone()),
                RuntimeEvent::Source { name, state } if name == SOURCE_NAME => {
                    self.source = Some(state.clone())
                }
                _ => {}
            }
            self.log.push(ev);
        }
    }

    fn health(&self) -> Option<&Health> {
        self.env.as_ref().map(|e| &e.health)
    }

    fn stale(&self) -> Option<String> {
        self.env
            .as_ref()
            .and_then(|e| e.observed.as_ref())
            .and_then(|o| o.stale.clone())
    }

    fn logs(&self) -> Vec<(String, String, String)> {
        self.log
            .iter()
            .filter_map(|e| match e {
                RuntimeEvent::Log { line } => Some((
                    line.version.to_string(),
                    line.instance.to_string(),
                    line.text.to_string(),
                )),
                _ => None,
            })
            .collect()
    }
}

async fn start(kube: &FakeKube, rollout: &str) -> Arc<KubernetesRuntime> {
    let rt = KubernetesRuntime::start(settings(kube, rollout))
        .await
        .unwrap();
    assert!(rt.wait_settled(WAIT).await, "never settled");
    rt
}

#[tokio::test]
async fn the_real_fixtures_map_to_status_verdict_and_instances() {
    let kube = FakeKube::start().await;
    seed_aborted(&kube);
    let rt = start(&kube, ABORTED).await;
    let mut seen = Seen::start(&*rt).await;
    seen.until("ok and aborted", |s| {
        s.source == Some(SourceState::Ok) && matches!(s.health(), Some(Health::Aborted(_)))
    })
    .await;
    let env = rt.status().await.unwrap().remove(0);
    // Abort shown with its reason, apart from Degraded.
    assert_eq!(
        env.health,
        Health::Aborted(
            "metric \"web\" assessed Failed due to failed (1) > failureLimit (0)".into()
        )
    );
    assert_eq!(env.step, Some((0, 2)));
    assert_eq!(env.traffic.stable.as_ref().unwrap().as_str(), "blue");
    assert_eq!(env.traffic.canary.as_ref().unwrap().as_str(), "yellow");
    let o = env.observed.clone().unwrap();
    assert_eq!((o.set_weight, o.ready, o.desired), (Some(0), 1, 1));
    assert_eq!(
        o.stable.unwrap().image.as_deref(),
        Some("argoproj/rollouts-demo:blue")
    );
    assert_eq!(env.instances.len(), 1);
    assert_eq!(env.instances[0].phase, InstancePhase::Ready);
    // The failed AnalysisRun overlays the Metrics pane as a verdict.
    let history = rt.history().await.unwrap();
    assert_eq!(history.verdicts.len(), 1);
    assert_eq!(history.verdicts[0].verdict.outcome, Outcome::Fail);
    assert_eq!(rt.name(), "kubernetes");
    rt.shutdown().await;
}

#[tokio::test]
async fn abort_is_sent_as_the_plugin_patch_and_shown_with_its_reason() {
    let kube = FakeKube::start().await;
    let key = kube.seed_fixture_in("argo-rollouts/rollout-canary-paused-at-step.yaml", NS);
    let rt = start(&kube, PAUSED).await;
    let mut seen = Seen::start(&*rt).await;
    let actor = Actor::current("test");
    let reason = Intent::Abort {
        reason: "p99 too high".into(),
    };
    let accepted = rt.intent(&actor, "staging", reason).await.unwrap();
    assert!(
        accepted.message.contains("audit journal"),
        "{}",
        accepted.message
    );
    let patches = kube.received_matching("PATCH", "/rollouts/rollouts-demo/status");
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].body_json(), json!({"status": {"abort": true}}));
    // The controller's answer (none runs here): aborted, with its message.
    let mut status = kube.get(&key).unwrap()["status"].clone();
    status["phase"] = json!("Degraded");
    status["message"] = json!("RolloutAborted: Rollout aborted update to revision 2");
    kube.set_status(&key, status);
    let reason = Health::Aborted("Rollout aborted update to revision 2".into());
    seen.until("aborted with its reason", |s| s.health() == Some(&reason))
        .await;
    rt.shutdown().await;
}

#[tokio::test]
async fn a_403_on_promote_names_verb_resource_and_namespace() {
    let kube = FakeKube::start().await;
    kube.seed_fixture_in("argo-rollouts/rollout-canary-paused-at-step.yaml", NS);
    kube.add_rule(Rule::forbid("dev", "patch", "rollouts/status", Some(NS)));
    let rt = start(&kube, PAUSED).await;
    let promote = Intent::Promote { full: false };
    let err = rt
        .intent(&Actor::current("test"), "staging", promote)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        RuntimeError::Failed(format!(
            "forbidden: cannot patch rollouts.argoproj.io in {NS}"
        ))
    );
    let other = rt
        .intent(&Actor::current("test"), "prod", Intent::Pause)
        .await
        .unwrap_err();
    assert_eq!(other, RuntimeError::UnknownEnvironment("prod".into()));
    rt.shutdown().await;
}

#[tokio::test]
async fn the_server_going_away_marks_data_stale_and_it_recovers_without_a_restart() {
    let kube = FakeKube::start().await;
    let key = seed_aborted(&kube);
    let rt = start(&kube, ABORTED).await;
    let mut seen = Seen::start(&*rt).await;
    seen.until("ok", |s| s.source == Some(SourceState::Ok))
        .await;

    kube.go_down().await;
    seen.until("degraded and stale", |s| {
        matches!(s.source, Some(SourceState::Degraded(_))) && s.stale().is_some()
    })
    .await;
    let Some(SourceState::Degraded(why)) = &seen.source else {
        unreachable!()
    };
    assert!(
        why.contains("unreachable") && why.contains("retrying"),
        "{why}"
    );
    // The last data stays.
    assert!(matches!(seen.health(), Some(Health::Aborted(_))));

    // A change while down, then history compacted: the watch gets 410 and relists.
    let mut status = kube.get(&key).unwrap()["status"].clone();
    status["abort"] = json!(false);
    status["conditions"] = json!([]);
    status["currentStepIndex"] = json!(1);
    kube.set_status(&key, status);
    kube.compact();
    kube.come_up().await;
    seen.until("ok, fresh and at step 2", |s| {
        s.source == Some(SourceState::Ok)
            && s.stale().is_none()
            && s.env.as_ref().and_then(|e| e.step) == Some((1, 2))
    })
    .await;
    assert!(!matches!(seen.health(), Some(Health::Aborted(_))));
    rt.shutdown().await;
}

#[tokio::test]
async fn missing_argo_crds_are_said_plainly() {
    let kube = FakeKube::start_hiding(&["argoproj.io"]).await;
    let rt = start(&kube, PAUSED).await;
    let mut seen = Seen::start(&*rt).await;
    seen.until("degraded", |s| {
        matches!(s.source, Some(SourceState::Degraded(_)))
    })
    .await;
    let Some(SourceState::Degraded(why)) = &seen.source else {
        unreachable!()
    };
    assert!(why.starts_with(ARGO_MISSING), "{why}");
    assert!(why.contains("plain Deployments are not shown"), "{why}");
    let env = rt.status().await.unwrap().remove(0);
    assert_eq!(env.health, Health::Down(ARGO_MISSING.into()));
    rt.shutdown().await;
}

/// A core/v1 Event about the rollout's pod with this message.
fn event(name: &str, message: &str) -> Value {
    let mut ev = read_fixture("core/event-pod-pulled.json");
    ev["metadata"]["name"] = json!(name);
    ev["metadata"]["namespace"] = json!(NS);
    ev["involvedObject"]["name"] = json!(format!("{ABORTED}-7d84d44bb8-z5wps"));
    ev["involvedObject"]["namespace"] = json!(NS);
    ev["type"] = json!("Warning");
    ev["message"] = json!(message);
    ev
}

#[tokio::test]
async fn pod_logs_and_events_stream_as_clean_lines_and_followers_rejoin() {
    let kube = FakeKube::start().await;
    seed_aborted(&kube);
    let pod = "rollout-background-analysis-7d84d44bb8-z5wps";
    kube.push_log(
        NS,
        pod,
        None,
        r#"{"level":"error","msg":"first \u001b]0;HACKED\u0007 line"}"#,
    );
    let rt = start(&kube, ABORTED).await;
    let mut seen = Seen::start(&*rt).await;
    let has = |s: &Seen, text: &str| s.logs().iter().any(|(_, _, t)| t.contains(text));
    kube.push_log(NS, pod, None, "second line");
    seen.until("second", |s| has(s, "second line")).await;
    // Lines logged before anyone subscribed are in the runtime's buffer.
    let all = rt.recent_logs(Some("staging"), 100).await.unwrap();
    let texts: Vec<&str> = all.iter().map(|l| &*l.text).collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("first") && t.contains("line")),
        "{texts:?}"
    );
    assert!(!texts.iter().any(|t| t.contains('\u{1b}')), "{texts:?}");
    let line = all.iter().find(|l| l.text.contains("second line")).unwrap();
    assert_eq!(
        (&*line.env, &*line.version, &*line.instance),
        ("staging", "blue", pod)
    );

    // The stream ends (the container restarted); the follower comes back
    // for what follows, without repeating what it read.
    kube.end_logs(NS, pod, None);
    tokio::time::sleep(Duration::from_millis(200)).await;
    kube.push_log(NS, pod, None, "after restart");
    seen.until("after restart", |s| has(s, "after restart"))
        .await;
    let repeats = seen
        .logs()
        .iter()
        .filter(|(_, _, t)| t.contains("second line"))
        .count();
    assert_eq!(repeats, 1);
    let follows = kube.received_matching("GET", &format!("/pods/{pod}/log"));
    assert!(follows.len() >= 2, "{follows:#?}");
    assert!(follows.iter().all(
        |r| r.query.get("follow").map(String::as_str) == Some("true")
            && r.query.get("timestamps").map(String::as_str) == Some("true")
    ));
    assert!(follows[1..]
        .iter()
        .all(|r| r.query.contains_key("sinceSeconds")));

    // A Kubernetes Event arrives as a line of its environment, cleaned.
    kube.put(event(
        "ev1",
        "Back-off \u{1b}[2J\u{1b}]52;c;aGFja2Vk\u{7}restarting\u{202e} now",
    ));
    seen.until("event", |s| has(s, "restarting")).await;
    let (version, instance, text) = seen
        .logs()
        .into_iter()
        .find(|(_, _, t)| t.contains("restarting"))
        .unwrap();
    assert_eq!(version, "k8s-event");
    assert_eq!(instance, format!("Pod/{pod}"));
    assert!(
        !text.chars().any(|c| c.is_control() || c == '\u{202e}'),
        "{text:?}"
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn decorated_it_is_refused_in_read_only_mode_and_audited() {
    let kube = FakeKube::start().await;
    kube.seed_fixture_in("argo-rollouts/rollout-canary-paused-at-step.yaml", NS);
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("audit.jsonl");
    let rt = start(&kube, PAUSED).await;
    let inner: SharedRuntime = rt.clone();
    let ro = blissful_infra::runtime::decorate(inner, true, journal.clone()).await;
    let err = ro
        .intent(&Actor::current("test"), "staging", Intent::Pause)
        .await
        .unwrap_err();
    assert!(matches!(err, RuntimeError::ReadOnly(_)), "{err:?}");
    assert!(kube.received_matching("PATCH", "").is_empty());
    ro.shutdown().await;
    let all = blissful_infra::runtime::read_audit_journal(&journal).unwrap();
    // Written ahead as `requested`, then its outcome.
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0].outcome, "requested");
    let entries = &all[1..];
    assert_eq!(entries[0].action, "pause");
    assert!(
        entries[0].outcome.starts_with("refused"),
        "{:?}",
        entries[0]
    );
}

#[tokio::test]
async fn undo_through_the_runtime_restores_the_stable_template() {
    let kube = FakeKube::start().await;
    let key = seed_aborted(&kube);
    let rt = start(&kube, ABORTED).await;
    assert!(rt
        .capabilities()
        .supports(blissful_infra::runtime::IntentKind::Undo));
    let actor = Actor::current("test");
    let undo = Intent::Undo { to_revision: None };
    let accepted = rt.intent(&actor, "staging", undo).await.unwrap();
    assert!(accepted.message.contains("undo"), "{}", accepted.message);
    let sent = kube.received_matching("PATCH", "/rollouts/rollout-background-analysis");
    assert_eq!(sent.len(), 1, "one JSON patch, as the plugin sends");
    assert_eq!(sent[0].body_json()[0]["path"], json!("/spec/template"));
    let stored = kube.get(&key).unwrap();
    assert_eq!(
        stored["spec"]["template"]["spec"]["containers"][0]["image"],
        "argoproj/rollouts-demo:blue"
    );
    rt.shutdown().await;
}
