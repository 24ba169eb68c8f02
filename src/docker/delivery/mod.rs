//! Progressive delivery on Docker: the shared delivery controller
//! (`crate::delivery`) drives this runtime through `DockerBackend`. A new
//! version runs as extra containers next to the current ones, and the edge
//! router on the host (`crate::router`) shifts traffic between them.

mod backend;
mod containers;
mod router;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub(crate) use backend::DockerBackend;
pub(crate) use router::{
    abort_tasks, clear_router_fault, containers_changed, observation, set_router_fault, shutdown,
    start,
};

use super::runtime::DockerRuntimeOptions;
use crate::delivery::RolloutView;
use crate::domain::environment::Version;
use crate::domain::metrics::MetricPoint;
use crate::domain::EpochMillis;

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Snapshot {
    pub stable: Option<Version>,
    pub canary: Option<Version>,
    pub weight: u8,
    pub previous: Option<Version>,
    pub step: Option<(usize, usize)>,
    pub router_addr: Option<String>,
    pub metrics_addr: Option<String>,
    pub last_change: EpochMillis,
    pub view: RolloutView,
}

/// What survives a restart of blissful-infra (the containers hold the rest).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Persisted {
    stable: Option<Version>,
    previous: Option<Version>,
}

#[derive(Default)]
pub(crate) struct DState {
    router: Option<crate::router::RouterHandle>,
    traffic_stop: Option<watch::Sender<bool>>,
    tasks: Vec<JoinHandle<()>>,
    stable: Option<Version>,
    canary: Option<Version>,
    weight: u8,
    previous: Option<Version>,
    view: RolloutView,
    /// The delivery controller owns the versions now.
    driven: bool,
    last_change: EpochMillis,
    /// Latest 1 Hz point per version (router numbers), for chaos observation.
    last_points: BTreeMap<String, MetricPoint>,
    /// Why the router is not running, when it is not.
    router_problem: Option<String>,
}

pub(crate) struct Delivery {
    state: Mutex<DState>,
    path: PathBuf,
}

impl Delivery {
    pub(crate) fn new(opts: &DockerRuntimeOptions) -> Delivery {
        let path = opts
            .state
            .dir
            .join(format!("docker-delivery-{}.json", opts.project));
        let persisted: Persisted = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        Delivery {
            state: Mutex::new(DState {
                stable: persisted.stable,
                previous: persisted.previous,
                ..Default::default()
            }),
            path,
        }
    }

    fn st(&self) -> MutexGuard<'_, DState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let s = self.st();
        Snapshot {
            stable: s.stable.clone(),
            canary: s.canary.clone(),
            weight: s.weight,
            previous: s.previous.clone(),
            step: s.view.step,
            router_addr: s.router.as_ref().map(|r| r.addr().to_string()),
            metrics_addr: s.router.as_ref().map(|r| r.metrics_addr().to_string()),
            last_change: s.last_change,
            view: s.view.clone(),
        }
    }

    /// Hand the versions to the delivery controller; returns the stable and
    /// previous versions it starts from.
    pub(crate) fn drive(&self) -> (Option<Version>, Option<Version>) {
        let mut s = self.st();
        s.driven = true;
        (s.stable.clone(), s.previous.clone())
    }

    fn persist(&self) -> Result<(), String> {
        let p = {
            let s = self.st();
            Persisted {
                stable: s.stable.clone(),
                previous: s.previous.clone(),
            }
        };
        let body = serde_json::to_vec_pretty(&p).map_err(|e| e.to_string())?;
        crate::durable::replace(&self.path, &body)
            .map_err(|e| format!("saving the stable version: {e}"))
    }

    /// The edge router's address (while it runs).
    pub(crate) fn router_addr(&self) -> Option<SocketAddr> {
        self.st().router.as_ref().map(|r| r.addr())
    }

    /// The edge router, or why it is not running.
    fn router(&self) -> Result<crate::router::RouterHandle, String> {
        let s = self.st();
        s.router.clone().ok_or_else(|| {
            s.router_problem
                .clone()
                .unwrap_or_else(|| "the edge router is not running".into())
        })
    }
}
