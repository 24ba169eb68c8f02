//! The Chaos Mesh backend of the fault engine: a fault is one (or, for a
//! dependency fault on several dependencies, a few) Chaos Mesh resources.
//! The undo step of each, `delete <kind>/<name> in <namespace>`, is in the
//! journal before the resource is created.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::api::{self, ChaosApiError};
use super::manifest::{self, ChaosKind, Manifest};
use super::status::{cr_phase, CrPhase};
use super::workload::find_workload;
use crate::domain::chaos::{FaultParams, ScenarioKind};
use crate::faults::{Applied, FaultApplier, FaultRecord, Journal, Prepared, UndoResult};
use crate::kubernetes::connect::Connection;
use crate::runtime::{RuntimeError, Support};

/// How long a pod-kill waits for Chaos Mesh to report the kill.
pub const POD_KILL_WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(250);
/// How long an undo waits for Chaos Mesh to recover its pods and release
/// the resource's finalizer.
pub const FINALIZE_WAIT: Duration = Duration::from_secs(30);

/// One journalled undo step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum UndoStep {
    Delete {
        kind: ChaosKind,
        name: String,
        namespace: String,
    },
}

impl UndoStep {
    pub fn describe(&self) -> String {
        match self {
            UndoStep::Delete {
                kind,
                name,
                namespace,
            } => format!("delete {}/{name} in {namespace}", kind.name()),
        }
    }

    fn of(m: &Manifest) -> UndoStep {
        UndoStep::Delete {
            kind: m.kind,
            name: m.name.clone(),
            namespace: m.namespace.clone(),
        }
    }
}

/// Where a fault goes: the environment's namespace and workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub namespace: String,
    /// The Rollout (or Deployment) name.
    pub workload: String,
}

/// Makes faults as Chaos Mesh resources in one cluster.
pub struct ChaosMeshApplier {
    conn: Connection,
    /// The cluster's label (`kubernetes (<context>)`): each record's scope.
    cluster: String,
    place: Option<Place>,
    dependencies: BTreeMap<String, BTreeMap<String, String>>,
    planned: Vec<Manifest>,
    /// How long a pod-kill waits for `AllInjected`.
    pub pod_kill_wait: Duration,
}

impl ChaosMeshApplier {
    pub fn new(
        conn: Connection,
        cluster: &str,
        place: Option<Place>,
        dependencies: BTreeMap<String, BTreeMap<String, String>>,
    ) -> Self {
        ChaosMeshApplier {
            conn,
            cluster: cluster.to_string(),
            place,
            dependencies,
            planned: Vec::new(),
            pod_kill_wait: POD_KILL_WAIT,
        }
    }

    /// Delete what `record`'s steps name, each at most once.
    async fn delete_all(&self, record: &FaultRecord<UndoStep>) -> UndoResult {
        if record.scope != self.cluster {
            return Err(vec![format!(
                "{} was made in {}, not in {}: switch back to that cluster (:ctx, --context) to undo it",
                record.id, record.scope, self.cluster
            )]);
        }
        let (mut done, mut failed) = (Vec::new(), Vec::new());
        for step in &record.undo {
            let UndoStep::Delete {
                kind,
                name,
                namespace,
            } = step;
            match api::delete(&self.conn, *kind, namespace, name).await {
                Ok(true) => {
                    match api::wait_gone(&self.conn, *kind, namespace, name, FINALIZE_WAIT).await {
                        Ok(()) => {
                            done.push(format!("deleted {}/{name} in {namespace}", kind.name()))
                        }
                        Err(e) => failed.push(e),
                    }
                }
                Ok(false) => done.push(format!(
                    "{}/{name} in {namespace} was already gone",
                    kind.name()
                )),
                Err(e) => failed.push(format!("{}: {e}", step.describe())),
            }
        }
        if failed.is_empty() {
            Ok(done)
        } else {
            Err(failed)
        }
    }

    /// Wait until Chaos Mesh reports the pod-kill done (or failed).
    async fn await_kill(&self, m: &Manifest) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + self.pod_kill_wait;
        loop {
            let obj = api::get(&self.conn, m.kind, &m.namespace, &m.name)
                .await
                .map_err(|e| e.to_string())?;
            match obj.as_ref().map(cr_phase) {
                Some(CrPhase::Injected | CrPhase::Recovered) => return Ok(()),
                Some(CrPhase::Failed(why)) => return Err(format!("Chaos Mesh: {why}")),
                None => {
                    return Err(format!(
                        "{}/{} was deleted by someone else",
                        m.kind.name(),
                        m.name
                    ))
                }
                Some(CrPhase::Pending) => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "Chaos Mesh did not report the kill within {}s (AllInjected never became True): is its controller running?",
                    self.pod_kill_wait.as_secs()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

fn refused(e: ChaosApiError) -> RuntimeError {
    match e {
        ChaosApiError::Missing { .. } => RuntimeError::Refused(e.to_string()),
        ChaosApiError::Kube(k) => kube_error(k),
    }
}

fn kube_error(e: crate::kubernetes::connect::KubeError) -> RuntimeError {
    use crate::kubernetes::connect::KubeError;
    match e {
        KubeError::Unreachable { .. } => RuntimeError::Unavailable(e.to_string()),
        KubeError::Forbidden { .. } => RuntimeError::Refused(e.to_string()),
        other => RuntimeError::Failed(other.to_string()),
    }
}

#[async_trait]
impl FaultApplier for ChaosMeshApplier {
    type Undo = UndoStep;
    type Handle = ();

    const BACKEND: &'static str = "chaos-mesh";
    const MAX_CPU_WORKERS: u32 = 64;

    fn support(kind: ScenarioKind) -> Support {
        manifest::support(kind)
    }

    async fn prepare(
        &mut self,
        _scope: &str,
        id: &str,
        scenario: ScenarioKind,
        params: &FaultParams,
    ) -> Result<Prepared<UndoStep>, RuntimeError> {
        if let Some(why) =
            manifest::dependency_refusal(scenario, &self.dependencies, &params.target)
        {
            return Err(RuntimeError::Refused(why));
        }
        let place = self
            .place
            .clone()
            .ok_or_else(|| RuntimeError::Failed("no environment to act on".into()))?;
        api::check_installed(&self.conn, &self.cluster)
            .await
            .map_err(refused)?;
        let workload = find_workload(&self.conn, &place.namespace, &place.workload)
            .await
            .map_err(kube_error)?
            .ok_or_else(|| {
                RuntimeError::Refused(format!(
                    "no Rollout or Deployment \"{}\" in {} to select the pods of",
                    place.workload, place.namespace
                ))
            })?;
        let planned = manifest::manifests(id, scenario, params, &workload, &self.dependencies)
            .map_err(RuntimeError::Refused)?;
        let mut targets = vec![format!("{}/{}", place.namespace, workload.display)];
        if manifest::is_dependency(scenario) {
            targets = planned
                .iter()
                .map(|m| format!("{}/{}", m.namespace, m.name))
                .collect();
        }
        let undo = planned.iter().map(UndoStep::of).collect();
        self.planned = planned;
        Ok(Prepared { targets, undo })
    }

    async fn apply(
        &mut self,
        record: &mut FaultRecord<UndoStep>,
        _journal: &Journal<UndoStep>,
    ) -> Result<Applied<()>, String> {
        // Every step was journalled with the record, before this.
        for m in &self.planned {
            api::create(&self.conn, m, &self.cluster)
                .await
                .map_err(|e| e.to_string())?;
        }
        let mut what = manifest::describe(record.scenario, &self.planned, &record.params);
        if record.scenario == ScenarioKind::PodKill {
            // One-shot: once Chaos Mesh killed the pod the resource has done its work.
            for m in &self.planned {
                self.await_kill(m).await?;
            }
            let removed = self.delete_all(record).await.map_err(|f| f.join("; "))?;
            what.push_str(&format!("; the pod was killed; {}", removed.join("; ")));
        }
        Ok(Applied { what, handle: None })
    }

    async fn undo(
        &mut self,
        record: &FaultRecord<UndoStep>,
        _handle: &mut Option<()>,
    ) -> UndoResult {
        self.delete_all(record).await
    }

    async fn undo_leftover(&mut self, record: &FaultRecord<UndoStep>) -> UndoResult {
        self.delete_all(record).await
    }
}
