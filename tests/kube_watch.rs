//! The Rollout watch (`kubernetes::watch`) over a real `kube` client,
//! against the FAKE API server in `tests/support/fake_kube/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use blissful_infra::domain::environment::Health;
use blissful_infra::kubernetes::connect::{connect, Target};
use blissful_infra::kubernetes::watch::{spawn_rollout_watch, RolloutFeed, ARGO_MISSING};
use blissful_infra::kubernetes::RolloutView;
use blissful_infra::runtime::SourceState;
use serde_json::{json, Value};
use support::fake_kube::client::{client, patch};
use support::fake_kube::{read_fixture, FakeKube, ObjKey, Rule};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const PAUSED: &str = "argo-rollouts/rollout-canary-paused-at-step.yaml";
const HEALTHY: &str = "argo-rollouts/rollout-healthy-completed.yaml";
const NS: &str = "shop";
const WAIT: Duration = Duration::from_secs(20);

/// The feed of one watch, and the views it has reported so far.
struct Feed {
    rx: mpsc::Receiver<RolloutFeed>,
    task: JoinHandle<()>,
    views: BTreeMap<String, RolloutView>,
    state: Option<SourceState>,
    /// Every message, in order.
    log: Vec<RolloutFeed>,
}

impl Feed {
    async fn start(kube: &FakeKube, namespace: &str) -> Feed {
        let conn = connect(&Target::Url(kube.url())).await.unwrap();
        let (tx, rx) = mpsc::channel(64);
        let task = spawn_rollout_watch(conn, namespace.to_string(), tx);
        Feed {
            rx,
            task,
            views: BTreeMap::new(),
            state: None,
            log: Vec::new(),
        }
    }

    async fn next(&mut self) -> RolloutFeed {
        let msg = tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no message in {WAIT:?}; so far {:#?}", self.log))
            .expect("watch task ended");
        match &msg {
            RolloutFeed::State(s) => self.state = Some(s.clone()),
            RolloutFeed::Rollout { name, view, .. } => {
                self.views.insert(name.clone(), (**view).clone());
            }
            RolloutFeed::Removed { name, .. } => {
                self.views.remove(name);
            }
        }
        self.log.push(msg.clone());
        msg
    }

    /// Read messages until `done` holds for the feed.
    async fn until(&mut self, what: &str, done: impl Fn(&Feed) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !done(self) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "waited for {what}: {:#?}",
                self.log
            );
            self.next().await;
        }
    }

    async fn until_state(&mut self, want: SourceState) {
        let what = format!("{want:?}");
        self.until(&what, |f| f.state.as_ref() == Some(&want)).await;
    }

    async fn until_degraded(&mut self) -> String {
        self.until("degraded", |f| {
            matches!(f.state, Some(SourceState::Degraded(_)))
        })
        .await;
        match &self.state {
            Some(SourceState::Degraded(r)) => r.clone(),
            _ => unreachable!(),
        }
    }

    /// Nothing more arrives for a while.
    async fn quiet_for(&mut self, d: Duration) -> Vec<RolloutFeed> {
        let mut extra = Vec::new();
        while let Ok(Some(m)) = tokio::time::timeout(d, self.rx.recv()).await {
            extra.push(m);
        }
        extra
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A fixture Rollout under another name in [`NS`].
fn rollout(rel: &str, name: &str) -> Value {
    let mut obj = read_fixture(rel);
    obj["metadata"]["name"] = json!(name);
    obj["metadata"]["namespace"] = json!(NS);
    obj
}

fn step_of(feed: &Feed, name: &str) -> Option<(usize, usize)> {
    feed.views.get(name).and_then(|v| v.step)
}

#[tokio::test]
async fn seeded_rollouts_arrive_as_views() {
    let kube = FakeKube::start().await;
    kube.put(rollout(PAUSED, "web"));
    kube.put(rollout(HEALTHY, "api"));
    kube.seed_fixture_in(PAUSED, "elsewhere");
    let mut feed = Feed::start(&kube, NS).await;
    assert_eq!(
        feed.next().await,
        RolloutFeed::State(SourceState::Connecting)
    );
    assert_eq!(feed.next().await, RolloutFeed::State(SourceState::Ok));
    feed.until("both views", |f| f.views.len() == 2).await;
    let web = &feed.views["web"];
    assert_eq!(web.health, Health::Paused("CanaryPauseStep".into()));
    assert_eq!(web.step, Some((1, 8)));
    assert_eq!(web.namespace.as_deref(), Some(NS));
    assert_eq!(feed.views["api"].health, Health::Healthy);
    // The other namespace's Rollout never shows up.
    let extra = feed.quiet_for(Duration::from_millis(600)).await;
    assert!(extra.is_empty(), "{extra:#?}");
    // Bookmarks were asked for.
    let watches = kube.received_matching("GET", &format!("/namespaces/{NS}/rollouts"));
    assert!(
        watches
            .iter()
            .any(|r| r.query.get("allowWatchBookmarks").map(String::as_str) == Some("true")),
        "{watches:#?}"
    );
}

#[tokio::test]
async fn a_status_patch_updates_the_view_and_a_delete_removes_it() {
    let kube = FakeKube::start().await;
    let key = kube.put(rollout(PAUSED, "web"));
    let mut feed = Feed::start(&kube, NS).await;
    feed.until("web", |f| step_of(f, "web") == Some((1, 8)))
        .await;

    let path = format!("{}/status", kube.path_of(&key));
    let body = r#"{"status":{"currentStepIndex":3}}"#;
    let (code, _) = patch(&kube, &path, "application/merge-patch+json", body).await;
    assert_eq!(code, 200);
    feed.until("step 3", |f| step_of(f, "web") == Some((3, 8)))
        .await;

    let resp = client()
        .delete(format!("{}{}", kube.url(), kube.path_of(&key)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let msg = feed.next().await;
    assert_eq!(
        msg,
        RolloutFeed::Removed {
            namespace: NS.into(),
            name: "web".into()
        }
    );
}

fn set_step(kube: &FakeKube, key: &ObjKey, step: u64) {
    let mut status = kube.get(key).unwrap()["status"].clone();
    status["currentStepIndex"] = json!(step);
    kube.set_status(key, status);
}

#[tokio::test]
async fn server_down_degrades_and_it_recovers_by_itself() {
    let kube = FakeKube::start().await;
    let key = kube.put(rollout(PAUSED, "web"));
    let mut feed = Feed::start(&kube, NS).await;
    feed.until("web", |f| f.views.contains_key("web")).await;
    feed.until_state(SourceState::Ok).await;

    kube.go_down().await;
    let reason = feed.until_degraded().await;
    assert!(reason.contains(&kube.url()), "{reason}");
    assert!(reason.contains("unreachable"), "{reason}");

    kube.come_up().await;
    feed.until_state(SourceState::Ok).await;
    set_step(&kube, &key, 5);
    feed.until("step 5", |f| step_of(f, "web") == Some((5, 8)))
        .await;
}

#[tokio::test]
async fn a_410_mid_watch_relists_without_losing_or_repeating() {
    let kube = FakeKube::start().await;
    let a = kube.put(rollout(PAUSED, "a"));
    let b = kube.put(rollout(PAUSED, "b"));
    kube.put(rollout(HEALTHY, "c"));
    let mut feed = Feed::start(&kube, NS).await;
    feed.until("a, b, c", |f| f.views.len() == 3).await;
    feed.until_state(SourceState::Ok).await;
    let lists_before = lists(&kube);

    // Changes the watch cannot see, then history compacted away: resuming
    // from the last resourceVersion gets 410 Expired.
    kube.go_down().await;
    feed.until_degraded().await;
    set_step(&kube, &a, 4);
    kube.delete(&b);
    kube.put(rollout(HEALTHY, "d"));
    kube.compact();
    let start = feed.log.len();
    kube.come_up().await;

    feed.until("relisted", |f| {
        step_of(f, "a") == Some((4, 8)) && !f.views.contains_key("b") && f.views.contains_key("d")
    })
    .await;
    feed.until_state(SourceState::Ok).await;
    let extra = feed.quiet_for(Duration::from_millis(800)).await;
    assert!(extra.is_empty(), "{extra:#?}");
    assert!(lists(&kube) > lists_before, "no relist after the 410");
    // Each change reported once; the unchanged `c` not again.
    let changes: Vec<&RolloutFeed> = feed.log[start..]
        .iter()
        .filter(|m| !matches!(m, RolloutFeed::State(_)))
        .collect();
    let names: Vec<String> = changes
        .iter()
        .map(|m| match m {
            RolloutFeed::Rollout { name, .. } => format!("+{name}"),
            RolloutFeed::Removed { name, .. } => format!("-{name}"),
            RolloutFeed::State(_) => unreachable!(),
        })
        .collect();
    assert_eq!(names, ["-b", "+a", "+d"]);
    assert_eq!(
        feed.views.keys().collect::<Vec<_>>(),
        ["a", "c", "d"].iter().collect::<Vec<_>>()
    );
}

/// List requests (not watches) of Rollouts in [`NS`].
fn lists(kube: &FakeKube) -> usize {
    kube.received_matching("GET", &format!("/namespaces/{NS}/rollouts"))
        .iter()
        .filter(|r| !r.query.contains_key("watch"))
        .count()
}

#[tokio::test]
async fn missing_argo_crds_are_reported_not_spun_on() {
    let kube = FakeKube::start_hiding(&["argoproj.io"]).await;
    let mut feed = Feed::start(&kube, NS).await;
    assert_eq!(feed.until_degraded().await, ARGO_MISSING);
    let before = kube.received().len();
    let extra = feed.quiet_for(Duration::from_millis(1500)).await;
    assert!(extra.is_empty(), "{extra:#?}");
    let during = kube.received().len() - before;
    assert!(during <= 4, "{during} requests in 1.5 s");

    // Installing Argo later is picked up.
    kube.set_group_hidden("argoproj.io", false);
    kube.put(rollout(PAUSED, "web"));
    feed.until("web", |f| f.views.contains_key("web")).await;
    assert_eq!(feed.state, Some(SourceState::Ok));
}

#[tokio::test]
async fn a_forbidden_list_names_verb_resource_and_namespace() {
    let kube = FakeKube::start().await;
    kube.add_rule(Rule::forbid("dev", "list", "rollouts", Some(NS)));
    let mut feed = Feed::start(&kube, NS).await;
    assert_eq!(
        feed.until_degraded().await,
        format!("forbidden: cannot list rollouts.argoproj.io in {NS}")
    );
    kube.clear_rules();
    kube.put(rollout(PAUSED, "web"));
    feed.until("web", |f| f.views.contains_key("web")).await;
}
