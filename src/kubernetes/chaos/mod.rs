//! Chaos on Kubernetes: the Chaos Mesh backend of the fault engine
//! (`crate::faults`). Each fault is a Chaos Mesh resource in the
//! environment's namespace, named `blissful-<fault id>`, labelled
//! `app.kubernetes.io/managed-by: blissful-infra`, with a `duration` (Chaos
//! Mesh ends it even when blissful-infra is gone). Its undo step, deleting
//! the resource, is journalled before it is created.
//!
//! | scenario           | resource                                                   |
//! |--------------------|------------------------------------------------------------|
//! | pod-kill           | PodChaos pod-kill, mode one (deleted once it took effect)   |
//! | network-latency    | NetworkChaos delay                                          |
//! | network-partition  | NetworkChaos loss 100%                                      |
//! | packet-loss        | NetworkChaos loss (rate)                                    |
//! | cpu-stress         | StressChaos cpu (workers, load 100)                         |
//! | memory-pressure    | StressChaos memory (size)                                   |
//! | dns-failure        | DNSChaos error                                              |
//! | error-injection    | HTTPChaos replace code 503 on responses                     |
//! | connection-drop    | HTTPChaos abort on requests                                 |
//! | db-latency         | NetworkChaos delay from the service to the database pods    |
//! | dependency-timeout | NetworkChaos loss 100% from the service to a dependency     |
//! | db-down, kafka-down| PodChaos pod-failure on the dependency's pods               |

pub mod api;
mod applier;
pub mod manifest;
pub mod status;
mod workload;

pub use applier::{ChaosMeshApplier, Place, UndoStep, FINALIZE_WAIT, POD_KILL_WAIT};
pub use manifest::{manifests, ChaosKind, Manifest, Workload};
pub use status::{cr_phase, CrPhase};
pub use workload::workload_of;

/// The scenarios Chaos Mesh makes, for `Capabilities::scenarios`.
pub fn scenario_support() -> std::collections::BTreeMap<String, crate::runtime::Support> {
    crate::faults::scenario_support::<ChaosMeshApplier>()
}
