//! A runtime for the decorators' unit tests: records what reaches it,
//! answers intents from its capabilities, and emits events on demand.

use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::{broadcast, mpsc};

use super::{
    forward_events, ActionAccepted, Actor, Capabilities, DeliveryMode, History, Intent, IntentKind,
    Runtime, RuntimeError, RuntimeEvent,
};
use crate::domain::chaos::{Experiment, FaultParams, ScenarioKind};
use crate::domain::environment::{EnvironmentStatus, Version};
use crate::domain::logs::LogLine;

pub struct FakeRuntime {
    caps: Capabilities,
    calls: Mutex<Vec<String>>,
    events: broadcast::Sender<RuntimeEvent>,
}

impl FakeRuntime {
    pub fn supporting(kinds: &[IntentKind]) -> Self {
        let (events, _) = broadcast::channel(64);
        FakeRuntime {
            caps: Capabilities::with(DeliveryMode::Driven, kinds, |k| {
                format!("the fake cannot {}", k.name())
            }),
            calls: Mutex::new(Vec::new()),
            events,
        }
    }

    /// What reached the runtime, in order (`intent staging pause`).
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn emit(&self, ev: RuntimeEvent) {
        let _ = self.events.send(ev);
    }

    fn record(&self, call: String) {
        if let Ok(mut c) = self.calls.lock() {
            c.push(call);
        }
    }
}

fn staging() -> EnvironmentStatus {
    crate::domain::environment::fixtures::staging_stable()
}

#[async_trait]
impl Runtime for FakeRuntime {
    fn name(&self) -> &str {
        "fake"
    }

    async fn status(&self) -> Result<Vec<EnvironmentStatus>, RuntimeError> {
        Ok(vec![staging()])
    }

    fn capabilities(&self) -> Capabilities {
        self.caps.clone()
    }

    async fn intent(
        &self,
        _actor: &Actor,
        env: &str,
        intent: Intent,
    ) -> Result<ActionAccepted, RuntimeError> {
        self.record(format!("intent {env} {}", intent.describe()));
        if env != "staging" {
            return Err(RuntimeError::UnknownEnvironment(env.into()));
        }
        self.caps
            .check(intent.kind())
            .map_err(RuntimeError::Refused)?;
        Ok(ActionAccepted {
            pipeline_id: 7,
            env: env.into(),
            from_version: Some(Version::new("v1")),
            to_version: match intent {
                Intent::Deploy { version } => Some(version),
                _ => None,
            },
            message: "accepted".into(),
        })
    }

    async fn promote(
        &self,
        _actor: &Actor,
        from: &str,
        to: &str,
    ) -> Result<ActionAccepted, RuntimeError> {
        self.record(format!("promote {from} {to}"));
        Err(RuntimeError::UnknownEnvironment(to.into()))
    }

    async fn inject(
        &self,
        _actor: &Actor,
        env: &str,
        scenario: ScenarioKind,
        _params: FaultParams,
    ) -> Result<Experiment, RuntimeError> {
        self.record(format!("inject {env} {scenario}"));
        Err(RuntimeError::Refused(format!("the fake cannot {scenario}")))
    }

    async fn undo(&self, _actor: &Actor, experiment_id: &str) -> Result<(), RuntimeError> {
        self.record(format!("undo {experiment_id}"));
        Ok(())
    }

    async fn recent_logs(
        &self,
        _env: Option<&str>,
        _limit: usize,
    ) -> Result<Vec<LogLine>, RuntimeError> {
        Ok(Vec::new())
    }

    async fn history(&self) -> Result<History, RuntimeError> {
        Ok(History::default())
    }

    async fn subscribe(&self) -> Result<mpsc::Receiver<RuntimeEvent>, RuntimeError> {
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(forward_events(self.events.subscribe(), tx));
        Ok(rx)
    }

    async fn shutdown(&self) {
        self.record("shutdown".into());
    }
}
