//! `DockerRuntime` behind the `Runtime` port.

use super::*;

#[async_trait]
impl Runtime for DockerRuntime {
    fn name(&self) -> &str {
        "docker"
    }

    async fn status(&self) -> Result<Vec<EnvironmentStatus>, RuntimeError> {
        let synced = self.inner.state().synced;
        if !synced {
            // Never connected: there is no last known state to show.
            self.inner.docker()?;
        }
        Ok(vec![self.inner.env_status()])
    }

    fn capabilities(&self) -> Capabilities {
        docker_capabilities()
    }

    async fn intent(
        &self,
        actor: &Actor,
        env: &str,
        intent: Intent,
    ) -> Result<ActionAccepted, RuntimeError> {
        check_env(env)?;
        self.controller.intent(actor, intent, None).await
    }

    async fn promote(
        &self,
        actor: &Actor,
        from: &str,
        to: &str,
    ) -> Result<ActionAccepted, RuntimeError> {
        check_env(from)?;
        check_env(to)?;
        // One environment: promoting it finishes its canary now.
        self.intent(actor, to, Intent::Promote { full: true }).await
    }

    async fn inject(
        &self,
        actor: &Actor,
        env: &str,
        scenario: ScenarioKind,
        params: FaultParams,
    ) -> Result<Experiment, RuntimeError> {
        check_env(env)?;
        chaos::inject(&self.inner, actor, scenario, params).await
    }

    async fn undo(&self, actor: &Actor, experiment_id: &str) -> Result<(), RuntimeError> {
        chaos::undo(&self.inner, actor, experiment_id).await
    }

    async fn recent_logs(
        &self,
        env: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LogLine>, RuntimeError> {
        if let Some(e) = env {
            check_env(e)?;
        }
        let st = self.inner.state();
        let skip = st.logs.len().saturating_sub(limit);
        Ok(st.logs.iter().skip(skip).cloned().collect())
    }

    async fn history(&self) -> Result<History, RuntimeError> {
        // Faults a crashed run left behind are listed as still applied.
        let leftovers: Vec<Experiment> = self
            .leftover_faults()
            .await
            .iter()
            .map(chaos::leftover_experiment)
            .collect();
        let st = self.inner.state();
        let mut experiments: Vec<Experiment> = st.experiments.iter().cloned().collect();
        experiments.extend(leftovers);
        Ok(History {
            pipelines: st.pipelines.iter().cloned().collect(),
            experiments,
            verdicts: st.verdicts.iter().cloned().collect(),
        })
    }

    async fn subscribe(&self) -> Result<mpsc::Receiver<RuntimeEvent>, RuntimeError> {
        let rx = self.inner.events.subscribe();
        let (tx, out) = mpsc::channel(SUBSCRIBER_BUFFER);
        // A late subscriber first learns where the source stands.
        let _ = tx.try_send(RuntimeEvent::Source {
            name: SOURCE_NAME.into(),
            state: self.inner.source(),
        });
        let _ = tx.try_send(RuntimeEvent::Environment {
            status: self.inner.env_status(),
        });
        tokio::spawn(crate::runtime::forward_events(rx, tx));
        Ok(out)
    }

    async fn shutdown(&self) {
        let actor = Actor::current("shutdown");
        for line in chaos::undo_all(&self.inner, &actor).await {
            self.inner.log(Level::Info, line);
        }
        self.controller.stop("blissful-infra stopped").await;
        delivery::shutdown(&self.inner).await;
        self.inner.stop.send_replace(true);
        let tasks: Vec<JoinHandle<()>> = lock(&self.inner.tasks).drain(..).collect();
        for t in tasks {
            t.abort();
        }
        stop_followers(&self.inner);
    }
}

/// The shared delivery controller carries out every intent.
fn docker_capabilities() -> Capabilities {
    let mut caps = Capabilities::with(DeliveryMode::Driven, &IntentKind::ALL, |k| {
        format!("the Docker runtime does not offer {}", k.name())
    });
    caps.scenarios = chaos::scenario_support();
    caps
}
