//! `KubernetesRuntime`: the `runtime::Runtime` over Argo Rollouts, in
//! Observed mode. Argo steps each canary; this runtime watches (Rollouts,
//! ReplicaSets, Pods, AnalysisRuns and Events of each environment's
//! namespace, through reflectors, not polling), streams the common status,
//! verdicts, events and pod logs, and sends intents as the Argo plugin's
//! patches. No daemon: the cluster keeps the state, so the CLI opens its
//! own runtime for one command and the console one for its lifetime.

mod chaos;
mod events;
mod intents;
mod kinds;
mod orphans;
mod pod_logs;
mod pods;
mod session;
pub mod settings;
mod shutdown;
mod state;
mod status;
mod verdict;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::connect::{connect, Connection, KubeError, Target};
use super::contexts::kubeconfig_contexts;
use crate::domain::chaos::{Experiment, FaultParams, ScenarioKind};
use crate::domain::environment::EnvironmentStatus;
use crate::domain::logs::LogLine;
use crate::runtime::contexts::{ContextList, ContextSwitch};
use crate::runtime::{
    forward_events, ActionAccepted, Actor, Capabilities, History, Intent, Runtime, RuntimeError,
    RuntimeEvent, Support,
};
pub use chaos::{ChaosSettings, JOURNAL_FILE, NO_JOURNAL};
use session::Shared;
pub use settings::{EnvTarget, KubeSettings};
pub use state::SOURCE_NAME;

const SUBSCRIBER_BUFFER: usize = 1024;

pub struct KubernetesRuntime {
    shared: Arc<Shared>,
}

/// `kubernetes (<context>)`, or `kubernetes (<server>)` for a plain URL.
fn label_for(target: &Target, conn: &Connection) -> String {
    let context = match target {
        Target::Url(_) => None,
        Target::Kubeconfig { context: Some(c) } => Some(c.clone()),
        Target::Kubeconfig { context: None } => kubeconfig_contexts().ok().and_then(|l| l.current),
    };
    format!(
        "kubernetes ({})",
        context.unwrap_or_else(|| conn.server.clone())
    )
}

impl KubernetesRuntime {
    /// Connect (a missing kubeconfig or unknown context fails here, in
    /// plain words) and start watching; returns before the first answer:
    /// the state arrives as events (`Source` says how the watch goes).
    pub async fn start(settings: KubeSettings) -> Result<Arc<KubernetesRuntime>, KubeError> {
        KubernetesRuntime::start_with_chaos(settings, None).await
    }

    /// [`start`](Self::start), with chaos (Chaos Mesh resources) journalled
    /// as `chaos` says; faults a dead blissful-infra left in this cluster
    /// are deleted before this returns.
    pub async fn start_with_chaos(
        settings: KubeSettings,
        chaos: Option<ChaosSettings>,
    ) -> Result<Arc<KubernetesRuntime>, KubeError> {
        let conn = connect(&settings.target).await?;
        let label = label_for(&settings.target, &conn);
        let chaos = match chaos.map(chaos::KubeChaos::open).transpose() {
            Ok(c) => c,
            Err(e) => return Err(KubeError::State(e)),
        };
        let shared = Shared::new(settings, label.clone(), chaos);
        shared.start_session(conn, label);
        if shared.chaos.is_some() {
            chaos::reconcile_at_start(&shared).await;
            tokio::spawn(chaos::run_ticker(Arc::downgrade(&shared)));
        }
        Ok(Arc::new(KubernetesRuntime { shared }))
    }

    /// What the start-up reconcile did with faults a dead run left, one
    /// line per fault.
    pub fn reconciled_faults(&self) -> Vec<String> {
        self.shared
            .chaos
            .as_ref()
            .map(|c| c.reconciled())
            .unwrap_or_default()
    }

    /// What the header calls it: `kubernetes (<context>)`.
    pub fn label(&self) -> String {
        self.shared.label()
    }

    /// Wait until every environment's Rollouts were listed or their watch
    /// failed (for one CLI command); `false` on timeout.
    pub async fn wait_settled(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.shared.state().settled(&self.shared.settings) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for KubernetesRuntime {
    fn drop(&mut self) {
        self.shared.stop();
    }
}

#[async_trait]
impl Runtime for KubernetesRuntime {
    fn name(&self) -> &str {
        "kubernetes"
    }

    async fn status(&self) -> Result<Vec<EnvironmentStatus>, RuntimeError> {
        Ok(self.shared.state().statuses(&self.shared.settings))
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = intents::capabilities();
        caps.scenarios = match &self.shared.chaos {
            Some(c) => c.scenario_support(),
            None => crate::domain::chaos::ScenarioKind::every()
                .map(|k| (k.name().to_string(), Support::No(NO_JOURNAL.into())))
                .collect(),
        };
        caps
    }

    async fn intent(
        &self,
        _actor: &Actor,
        env: &str,
        intent: Intent,
    ) -> Result<ActionAccepted, RuntimeError> {
        intents::send(&self.shared, env, intent).await
    }

    async fn promote(
        &self,
        _actor: &Actor,
        from: &str,
        to: &str,
    ) -> Result<ActionAccepted, RuntimeError> {
        Err(RuntimeError::Refused(format!(
            "promote {from} → {to} copies the image tag between overlays (GitOps), which is not \
             built yet for Kubernetes; `promote --env <env>` steps a Rollout"
        )))
    }

    async fn inject(
        &self,
        _actor: &Actor,
        env: &str,
        scenario: ScenarioKind,
        params: FaultParams,
    ) -> Result<Experiment, RuntimeError> {
        chaos::inject(&self.shared, env, scenario, params).await
    }

    async fn undo(&self, _actor: &Actor, experiment_id: &str) -> Result<(), RuntimeError> {
        chaos::undo(&self.shared, experiment_id).await
    }

    async fn recent_logs(
        &self,
        env: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LogLine>, RuntimeError> {
        Ok(self.shared.state().logs.newest(env, limit))
    }

    async fn history(&self) -> Result<History, RuntimeError> {
        Ok(History {
            pipelines: Vec::new(),
            experiments: chaos::experiments(&self.shared).await,
            verdicts: self.shared.state().verdicts.iter().cloned().collect(),
        })
    }

    /// The stream starts with the source's current state, so a late
    /// subscriber knows how the watch goes.
    async fn subscribe(&self) -> Result<mpsc::Receiver<RuntimeEvent>, RuntimeError> {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        let events = self.shared.events.subscribe();
        let state = self.shared.state().source.clone();
        let _ = tx.try_send(RuntimeEvent::Source {
            name: SOURCE_NAME.into(),
            state,
        });
        tokio::spawn(forward_events(events, tx));
        Ok(rx)
    }

    async fn shutdown(&self) {
        // Each removal is logged; what cannot be removed ends at its duration.
        chaos::undo_all(&self.shared).await;
        self.shared.stop();
    }
}

#[async_trait]
impl ContextSwitch for KubernetesRuntime {
    fn contexts(&self) -> Result<ContextList, String> {
        kubeconfig_contexts().map_err(|e| e.to_string())
    }

    async fn switch_context(&self, name: &str) -> Result<String, String> {
        let target = Target::Kubeconfig {
            context: Some(name.to_string()),
        };
        let conn = connect(&target).await.map_err(|e| e.to_string())?;
        let label = label_for(&target, &conn);
        self.shared.start_session(conn, label.clone());
        Ok(label)
    }
}
