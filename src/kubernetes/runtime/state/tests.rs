//! Folding watch messages: one event per real change, the source state
//! summed over every watch, verdicts once per conclusion, events as lines.
#![cfg(test)] // test code only

use super::*;
use crate::domain::analysis::Outcome;
use crate::domain::environment::Health;
use crate::kubernetes::connect::Target;
use crate::kubernetes::fixture::fixture;

const NS: &str = "default";

fn settings() -> KubeSettings {
    KubeSettings {
        target: Target::Url("http://127.0.0.1:1".into()),
        envs: vec![EnvTarget {
            env: "staging".into(),
            namespace: NS.into(),
            rollout: "rollout-background-analysis".into(),
            address: String::new(),
        }],
    }
}

fn feed(kind: Kind, msg: ObjectFeed) -> Feed {
    Feed {
        kind,
        namespace: NS.into(),
        msg,
    }
}

fn applied(path: &str) -> ObjectFeed {
    let object = fixture(path);
    ObjectFeed::Applied {
        namespace: NS.into(),
        name: object["metadata"]["name"].as_str().unwrap().into(),
        object: Box::new(object),
    }
}

fn all_ok(st: &mut State, s: &KubeSettings) -> Vec<RuntimeEvent> {
    let mut out = Vec::new();
    for kind in Kind::ALL {
        out.extend(st.apply(s, feed(kind, ObjectFeed::State(SourceState::Ok)), 1));
    }
    out
}

fn environments(events: &[RuntimeEvent]) -> Vec<&EnvironmentStatus> {
    events
        .iter()
        .filter_map(|e| match e {
            RuntimeEvent::Environment { status } => Some(status),
            _ => None,
        })
        .collect()
}

#[test]
fn the_source_is_ok_once_every_watch_is_and_degraded_with_a_remedy() {
    let s = settings();
    let mut st = State::default();
    let first = st.apply(&s, feed(Kind::Pods, ObjectFeed::State(SourceState::Ok)), 1);
    assert!(
        !first
            .iter()
            .any(|e| matches!(e, RuntimeEvent::Source { .. })),
        "still connecting: {first:?}"
    );
    let out = all_ok(&mut st, &s);
    assert!(out.contains(&RuntimeEvent::Source {
        name: SOURCE_NAME.into(),
        state: SourceState::Ok
    }));
    let down = SourceState::Degraded(ARGO_MISSING.into());
    let out = st.apply(&s, feed(Kind::Rollouts, ObjectFeed::State(down)), 2);
    let Some(RuntimeEvent::Source {
        state: SourceState::Degraded(why),
        ..
    }) = out.first()
    else {
        panic!("{out:?}")
    };
    assert!(
        why.starts_with(ARGO_MISSING) && why.contains("plain Deployments"),
        "{why}"
    );
    // The environment says it too.
    assert_eq!(
        environments(&out)[0].health,
        Health::Down(ARGO_MISSING.into())
    );
}

#[test]
fn each_change_is_published_once_and_verdicts_once_per_conclusion() {
    let s = settings();
    let mut st = State::default();
    all_ok(&mut st, &s);
    let mut envs = Vec::new();
    for path in [
        "argo-rollouts/rollout-canary-aborted.yaml",
        "core/replicaset-aborted-stable.yaml",
        "core/replicaset-aborted-canary.yaml",
    ] {
        let kind = if path.contains("replicaset") {
            Kind::ReplicaSets
        } else {
            Kind::Rollouts
        };
        envs.extend(st.apply(&s, feed(kind, applied(path)), 10));
    }
    let last = environments(&envs).last().cloned().cloned().unwrap();
    assert!(matches!(last.health, Health::Aborted(_)));
    assert_eq!(last.traffic.stable.as_ref().unwrap().as_str(), "blue");
    // The same object again changes nothing.
    let again = st.apply(
        &s,
        feed(
            Kind::Rollouts,
            applied("argo-rollouts/rollout-canary-aborted.yaml"),
        ),
        11,
    );
    assert!(environments(&again).is_empty(), "{again:?}");

    let run = "argo-rollouts/analysisrun-failed-web-metric.yaml";
    let out = st.apply(&s, feed(Kind::AnalysisRuns, applied(run)), 12);
    let verdicts: Vec<_> = out
        .iter()
        .filter_map(|e| match e {
            RuntimeEvent::Verdict { verdict, .. } => Some(verdict.outcome),
            _ => None,
        })
        .collect();
    assert_eq!(verdicts, [Outcome::Fail]);
    let out = st.apply(&s, feed(Kind::AnalysisRuns, applied(run)), 13);
    assert!(
        !out.iter()
            .any(|e| matches!(e, RuntimeEvent::Verdict { .. })),
        "{out:?}"
    );
    assert_eq!(st.verdicts.len(), 1);
    assert_eq!(st.statuses(&s).len(), 1);
}

#[test]
fn events_become_lines_of_their_environment() {
    let s = settings();
    let mut st = State::default();
    let out = st.apply(
        &s,
        feed(Kind::Events, applied("core/event-pod-pulled.json")),
        3,
    );
    let [RuntimeEvent::Log { line }] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(&*line.env, "staging");
    assert_eq!(&*line.version, "k8s-event");
    assert_eq!(st.logs.len(), 1);
}

#[test]
fn a_reset_forgets_the_cluster() {
    let s = settings();
    let mut st = State::default();
    all_ok(&mut st, &s);
    st.apply(
        &s,
        feed(
            Kind::Rollouts,
            applied("argo-rollouts/rollout-canary-aborted.yaml"),
        ),
        1,
    );
    let out = st.reset(&s, 2);
    assert_eq!(environments(&out)[0].health, Health::Unknown);
    assert!(out.contains(&RuntimeEvent::Source {
        name: SOURCE_NAME.into(),
        state: SourceState::Connecting
    }));
    assert!(!st.settled(&s));
}

#[test]
fn a_pod_stopped_after_sigterm_is_logged_once_for_its_environment() {
    let s = KubeSettings {
        envs: vec![EnvTarget {
            rollout: "canary-demo".into(),
            ..settings().envs[0].clone()
        }],
        ..settings()
    };
    let mut st = State::default();
    st.apply(
        &s,
        feed(
            Kind::ReplicaSets,
            applied("core/replicaset-canary-stable.yaml"),
        ),
        1,
    );
    let mut pod = fixture("core/pod-rollout-stable-running.yaml");
    pod["metadata"]["deletionGracePeriodSeconds"] = serde_json::json!(30);
    pod["metadata"]["deletionTimestamp"] = serde_json::json!("2019-10-25T12:00:30Z");
    pod["status"]["containerStatuses"][0]["state"] = serde_json::json!({
        "terminated": {"exitCode": 0, "reason": "Completed",
                       "startedAt": "2019-10-25T11:00:00Z", "finishedAt": "2019-10-25T12:00:02Z"}
    });
    let name = pod["metadata"]["name"].as_str().unwrap().to_string();
    let msg = || ObjectFeed::Applied {
        namespace: NS.into(),
        name: name.clone(),
        object: Box::new(pod.clone()),
    };
    let lines = |events: Vec<RuntimeEvent>| -> Vec<String> {
        events
            .into_iter()
            .filter_map(|e| match e {
                RuntimeEvent::Log { line } => Some(format!("{} {}", line.env, line.text)),
                _ => None,
            })
            .collect()
    };
    let first = lines(st.apply(&s, feed(Kind::Pods, msg()), 2));
    assert_eq!(
        first,
        [format!(
            "staging instance {name} exited 2000 ms after SIGTERM (grace period 30000 ms)"
        )]
    );
    assert!(
        lines(st.apply(&s, feed(Kind::Pods, msg()), 3)).is_empty(),
        "logged twice"
    );
    assert_eq!(st.logs.newest(Some("staging"), 10).len(), 1);
}
