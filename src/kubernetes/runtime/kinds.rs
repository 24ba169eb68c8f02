//! The kinds of object the runtime watches in each namespace.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::ApiResource;
use serde_json::Value;

use super::status::NamespaceStore;
use crate::kubernetes::objects::Watched;
use crate::kubernetes::watch::{argo_resource, rollouts_watched, ARGO_MISSING};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Rollouts,
    ReplicaSets,
    Pods,
    AnalysisRuns,
    /// core/v1 Events: shown as log lines, not stored.
    Events,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Rollouts,
        Kind::ReplicaSets,
        Kind::Pods,
        Kind::AnalysisRuns,
        Kind::Events,
    ];

    pub fn watched(self) -> Watched {
        let core = |r: ApiResource| {
            let what = format!("the API server does not serve {}", r.plural);
            Watched::new(r, what)
        };
        match self {
            Kind::Rollouts => rollouts_watched(),
            Kind::ReplicaSets => core(ApiResource::erase::<ReplicaSet>(&())),
            Kind::Pods => core(ApiResource::erase::<Pod>(&())),
            Kind::AnalysisRuns => {
                Watched::new(argo_resource("AnalysisRun", "analysisruns"), ARGO_MISSING)
            }
            Kind::Events => core(ApiResource::erase::<Event>(&())),
        }
    }

    /// Where a namespace keeps objects of this kind (none for events).
    pub fn map_in(self, store: &mut NamespaceStore) -> Option<&mut BTreeMap<String, Value>> {
        match self {
            Kind::Rollouts => Some(&mut store.rollouts),
            Kind::ReplicaSets => Some(&mut store.replicasets),
            Kind::Pods => Some(&mut store.pods),
            Kind::AnalysisRuns => Some(&mut store.runs),
            Kind::Events => None,
        }
    }
}
