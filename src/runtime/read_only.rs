//! `--read-only`: a decorator that refuses every change and lets every read
//! through, whatever runtime it wraps. Runtimes themselves know nothing of it.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::{
    ActionAccepted, Actor, Capabilities, History, Intent, Published, Runtime, RuntimeError,
    RuntimeEvent, Support,
};
use crate::domain::chaos::{Experiment, FaultParams, ScenarioKind};
use crate::domain::environment::EnvironmentStatus;
use crate::domain::logs::LogLine;

/// Refuses destructive intents, env-to-env promotion, fault injection and
/// fault undo with [`RuntimeError::ReadOnly`]; everything else is passed on.
pub struct ReadOnly<R: ?Sized> {
    inner: Arc<R>,
}

impl<R: Runtime + ?Sized> ReadOnly<R> {
    pub fn new(inner: Arc<R>) -> Self {
        ReadOnly { inner }
    }
}

/// Why a read-only runtime refuses `what` (shown by the console and the CLI).
pub fn refusal(what: &str) -> RuntimeError {
    RuntimeError::ReadOnly(what.to_string())
}

#[async_trait]
impl<R: Runtime + ?Sized> Runtime for ReadOnly<R> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn status(&self) -> Result<Vec<EnvironmentStatus>, RuntimeError> {
        self.inner.status().await
    }

    /// The wrapped runtime's capabilities, with every destructive intent
    /// refused for the read-only reason (so the console greys them out).
    fn capabilities(&self) -> Capabilities {
        let mut caps = self.inner.capabilities();
        for (kind, support) in caps.intents.iter_mut() {
            if kind.is_destructive() {
                *support = Support::No(refusal(kind.name()).to_string());
            }
        }
        for support in caps.scenarios.values_mut() {
            *support = Support::No(refusal("chaos").to_string());
        }
        caps
    }

    async fn intent(
        &self,
        actor: &Actor,
        env: &str,
        intent: Intent,
    ) -> Result<ActionAccepted, RuntimeError> {
        if intent.kind().is_destructive() {
            return Err(refusal(intent.kind().name()));
        }
        self.inner.intent(actor, env, intent).await
    }

    async fn promote(
        &self,
        _actor: &Actor,
        _from: &str,
        _to: &str,
    ) -> Result<ActionAccepted, RuntimeError> {
        Err(refusal("promote"))
    }

    async fn inject(
        &self,
        _actor: &Actor,
        _env: &str,
        scenario: ScenarioKind,
        _params: FaultParams,
    ) -> Result<Experiment, RuntimeError> {
        Err(refusal(&format!("chaos {scenario}")))
    }

    async fn undo(&self, _actor: &Actor, _experiment_id: &str) -> Result<(), RuntimeError> {
        Err(refusal("undo"))
    }

    async fn recent_logs(
        &self,
        env: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LogLine>, RuntimeError> {
        self.inner.recent_logs(env, limit).await
    }

    async fn history(&self) -> Result<History, RuntimeError> {
        self.inner.history().await
    }

    async fn subscribe(&self) -> Result<mpsc::Receiver<RuntimeEvent>, RuntimeError> {
        self.inner.subscribe().await
    }

    /// Reports of perf and compare runs change nothing that serves traffic.
    async fn publish(&self, actor: &Actor, item: Published) -> Result<u64, RuntimeError> {
        self.inner.publish(actor, item).await
    }

    async fn shutdown(&self) {
        self.inner.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::environment::Version;
    use crate::runtime::fake::FakeRuntime;
    use crate::runtime::IntentKind;

    fn actor() -> Actor {
        Actor {
            user: "tester".into(),
            via: "test".into(),
        }
    }

    #[tokio::test]
    async fn every_change_is_refused_and_never_reaches_the_runtime() {
        let fake = Arc::new(FakeRuntime::supporting(&IntentKind::ALL));
        let ro = ReadOnly::new(fake.clone());
        let a = actor();
        for intent in [
            Intent::Deploy {
                version: Version::new("v2"),
            },
            Intent::Pause,
            Intent::Abort { reason: "x".into() },
            Intent::Undo {
                to_revision: Some(2),
            },
        ] {
            let r = ro.intent(&a, "staging", intent).await;
            assert!(matches!(r, Err(RuntimeError::ReadOnly(_))), "{r:?}");
        }
        assert!(matches!(
            ro.promote(&a, "staging", "production").await,
            Err(RuntimeError::ReadOnly(_))
        ));
        let inj = ro
            .inject(&a, "staging", ScenarioKind::PodKill, FaultParams::default())
            .await;
        assert!(matches!(inj, Err(RuntimeError::ReadOnly(_))));
        assert!(matches!(
            ro.undo(&a, "exp-1").await,
            Err(RuntimeError::ReadOnly(_))
        ));
        assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    }

    #[tokio::test]
    async fn reads_go_through_and_capabilities_say_why_not() {
        let fake = Arc::new(FakeRuntime::supporting(&[IntentKind::Deploy]));
        let ro = ReadOnly::new(fake.clone());
        assert_eq!(ro.status().await.unwrap().len(), 1);
        assert_eq!(ro.name(), "fake");
        let caps = ro.capabilities();
        let why = caps.check(IntentKind::Deploy).unwrap_err();
        assert!(why.contains("read-only"), "{why}");
        assert!(ro.history().await.is_ok());
    }
}
