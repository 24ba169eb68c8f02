//! `status`: one row per environment, then a note per unhealthy one.

use std::fmt::Display;

use crate::domain::environment::EnvironmentStatus;
use crate::domain::sanitize::strip_all;
use crate::report::Table;

pub(super) fn or_dash(s: Option<impl Display>) -> String {
    s.map(|v| v.to_string()).unwrap_or_else(|| "-".to_string())
}

/// `ENV STABLE CANARY WEIGHT STEP HEALTH READY RESTARTS ROUTER METRICS FAULTS`, then
/// one note per environment whose health has a reason.
pub fn status_table(envs: &[EnvironmentStatus]) -> String {
    let mut t = Table::new(&[
        "ENV", "STABLE", "CANARY", "WEIGHT", "STEP", "HEALTH", "READY", "RESTARTS", "ROUTER",
        "METRICS", "FAULTS",
    ]);
    for e in envs {
        let (ready, desired) = e.ready_desired();
        let restarts: u64 = e.instances.iter().map(|i| u64::from(i.restarts)).sum();
        // An observed rollout also says the weight its step asks for.
        let observed = e.observed.as_ref().and_then(|o| o.weight_label());
        let weight = match (&e.traffic.canary, observed) {
            (Some(_), Some(w)) => w,
            (Some(_), None) => format!("{}%", e.traffic.canary_weight),
            (None, _) => "-".to_string(),
        };
        let step = e.step.map(|(i, n)| format!("{}/{}", i + 1, n));
        let faults = if e.faults.is_empty() {
            "-".to_string()
        } else {
            e.faults
                .iter()
                .map(|f| f.scenario.as_str())
                .collect::<Vec<_>>()
                .join(",")
        };
        t.row([
            e.name.clone(),
            or_dash(e.traffic.stable.as_ref()),
            or_dash(e.traffic.canary.as_ref()),
            weight,
            or_dash(step),
            e.health.label().to_string(),
            format!("{ready}/{desired}"),
            restarts.to_string(),
            e.router_addr.clone(),
            // The port actually bound, also when the config asked for 0.
            or_dash((!e.metrics_addr.is_empty()).then_some(&e.metrics_addr)),
            faults,
        ]);
    }
    let mut out = t.render();
    let notes: Vec<String> = envs
        .iter()
        .filter_map(|e| {
            e.health.reason().map(|r| {
                format!(
                    "{}: {}: {}",
                    strip_all(&e.name),
                    e.health.label(),
                    strip_all(r)
                )
            })
        })
        .collect();
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            out.push_str(&n);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::domain::environment::{
        ActiveFault, Health, InstancePhase, InstanceStatus, TrafficSplit, Version,
    };

    fn instance(id: &str, version: &str, phase: InstancePhase, restarts: u32) -> InstanceStatus {
        InstanceStatus {
            id: id.into(),
            version: Version::new(version),
            phase,
            restarts,
            detail: crate::domain::environment::InstanceDetail::Process {
                pid: Some(100),
                port: 40000,
            },
        }
    }

    fn envs() -> Vec<EnvironmentStatus> {
        vec![
            EnvironmentStatus {
                name: "staging".into(),
                traffic: TrafficSplit {
                    stable: Some(Version::new("v1")),
                    canary: Some(Version::new("v2")),
                    canary_weight: 20,
                },
                previous: None,
                step: Some((1, 4)),
                health: Health::Progressing("canary at 20%".into()),
                instances: vec![
                    instance("staging-v1-1", "v1", InstancePhase::Ready, 0),
                    instance("staging-v2-1", "v2", InstancePhase::Ready, 2),
                    instance("staging-v2-2", "v2", InstancePhase::Starting, 1),
                ],
                replicas: 2,
                last_change: 0,
                router_addr: "127.0.0.1:41001".into(),
                metrics_addr: "127.0.0.1:41002".into(),
                faults: vec![ActiveFault {
                    id: "exp-1".into(),
                    scenario: "network-latency".into(),
                    ends_at: 0,
                }],
                revisions: Vec::new(),
                observed: None,
            },
            EnvironmentStatus {
                name: "prod\x1b[2J".into(),
                traffic: TrafficSplit {
                    stable: Some(Version::new("v1")),
                    canary: None,
                    canary_weight: 0,
                },
                previous: Some(Version::new("v0")),
                step: None,
                health: Health::Healthy,
                instances: vec![instance("prod-v1-1", "v1", InstancePhase::Ready, 0)],
                replicas: 1,
                last_change: 0,
                router_addr: "127.0.0.1:41003".into(),
                metrics_addr: "127.0.0.1:41004".into(),
                faults: vec![],
                revisions: Vec::new(),
                observed: None,
            },
        ]
    }

    #[test]
    fn status_table_is_aligned_and_sanitised() {
        let expected = "\
ENV      STABLE  CANARY  WEIGHT  STEP  HEALTH       READY  RESTARTS  ROUTER           METRICS          FAULTS
staging  v1      v2      20%     2/4   Progressing  2/4    3         127.0.0.1:41001  127.0.0.1:41002  network-latency
prod     v1      -       -       -     Healthy      1/1    0         127.0.0.1:41003  127.0.0.1:41004  -

staging: Progressing: canary at 20%
";
        assert_eq!(status_table(&envs()), expected);
    }

    #[test]
    fn empty_status_is_just_the_header() {
        assert_eq!(
            status_table(&[]),
            "ENV  STABLE  CANARY  WEIGHT  STEP  HEALTH  READY  RESTARTS  ROUTER  METRICS  FAULTS\n"
        );
    }
}
