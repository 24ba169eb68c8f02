//! `DockerBackend`: the Docker runtime's side of the shared delivery
//! controller (versions as containers, weights on the host edge router).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::containers::{answers, backend, by_version, create_version, has_running, readiness};
use super::containers::{remove, remove_version};
use super::router::containers_changed;
use crate::clock::now_ms;
use crate::delivery::{DeliveryBackend, Readiness, Report};
use crate::docker::runtime::Inner;
use crate::docker::ENV_NAME;
use crate::domain::analysis::VersionSample;
use crate::domain::environment::{TrafficSplit, Version};
use crate::domain::logs::Level;
use crate::runtime::RuntimeEvent;

/// How long a replacement container gets to become ready during a restart.
const REPLACE_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(250);

pub(crate) struct DockerBackend {
    pub inner: Arc<Inner>,
}

#[async_trait]
impl DeliveryBackend for DockerBackend {
    async fn bring_up(&self, version: &Version) -> Result<(), String> {
        let docker = self.inner.docker().map_err(|e| e.to_string())?;
        self.inner.delivery.router()?;
        if has_running(&self.inner, version) {
            return Ok(());
        }
        create_version(&self.inner, &docker, version)
            .await
            .map(|_| ())
    }

    async fn readiness(&self, version: &Version) -> Readiness {
        readiness(&self.inner, version).await
    }

    async fn set_traffic(&self, split: &TrafficSplit) -> Result<(), String> {
        {
            let mut s = self.inner.delivery.st();
            s.stable = split.stable.clone();
            s.canary = split.canary.clone();
            s.weight = split.canary_weight;
            s.last_change = now_ms();
        }
        containers_changed(&self.inner);
        self.inner.emit_status();
        self.inner.delivery.router().map(|_| ())
    }

    fn reset_analysis(&self) {
        if let Ok(r) = self.inner.delivery.router() {
            r.reset_analysis();
        }
    }

    fn analysis_sample(&self, version: &Version) -> VersionSample {
        self.inner
            .delivery
            .router()
            .map(|r| r.analysis_sample(version.as_str()))
            .unwrap_or_default()
    }

    async fn endpoints(&self, version: &Version) -> Vec<SocketAddr> {
        let cs = by_version(&self.inner)
            .remove(version.as_str())
            .unwrap_or_default();
        let mut out = Vec::new();
        for c in &cs {
            if answers(c).await {
                out.extend(backend(c));
            }
        }
        out
    }

    async fn retire(&self, version: &Version) -> Result<(), String> {
        let problems = remove_version(&self.inner, version).await;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join(", "))
        }
    }

    async fn instances(&self, version: &Version) -> Vec<String> {
        by_version(&self.inner)
            .remove(version.as_str())
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.display)
            .collect()
    }

    async fn replace_instance(&self, version: &Version, id: &str) -> Result<(), String> {
        let docker = self.inner.docker().map_err(|e| e.to_string())?;
        let old = by_version(&self.inner)
            .remove(version.as_str())
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.display == id)
            .ok_or_else(|| "it is gone already".to_string())?;
        let new_id = create_version(&self.inner, &docker, version).await?;
        let start = Instant::now();
        loop {
            let fresh = by_version(&self.inner)
                .remove(version.as_str())
                .unwrap_or_default()
                .into_iter()
                .find(|c| c.id == new_id);
            match fresh {
                Some(c) if answers(&c).await => break,
                Some(_) if start.elapsed() < REPLACE_TIMEOUT => {}
                Some(_) => {
                    let _ = remove(&docker, &new_id).await;
                    return Err(format!(
                        "its replacement was not ready after {}s",
                        REPLACE_TIMEOUT.as_secs()
                    ));
                }
                None => return Err("its replacement stopped".into()),
            }
            tokio::time::sleep(POLL).await;
        }
        remove(&docker, &old.id).await?;
        crate::docker::runtime::refresh_container(&self.inner, &docker, &old.id).await;
        Ok(())
    }

    fn next_pipeline_id(&self) -> u64 {
        self.inner.next_id()
    }

    async fn report(&self, report: Report) {
        let inner = &self.inner;
        match report {
            Report::Pipeline(run) => inner.upsert_pipeline(run),
            Report::Verdict { step, verdict } => inner.add_verdict(step, *verdict),
            Report::Log { level, text } => inner.log(level, text),
            Report::View(view) => {
                {
                    let mut s = inner.delivery.st();
                    s.stable = view.stable.clone();
                    s.canary = view.canary.clone();
                    s.weight = view.weight;
                    s.previous = view.previous.clone();
                    s.view = view;
                    s.last_change = now_ms();
                }
                if let Err(e) = inner.delivery.persist() {
                    inner.log(Level::Error, e);
                }
                inner.emit_status();
            }
            Report::Finished {
                pipeline_id,
                outcome,
                ..
            } => {
                inner.emit(RuntimeEvent::RolloutFinished {
                    env: ENV_NAME.into(),
                    pipeline_id,
                    outcome,
                });
                inner.emit_status();
            }
        }
    }
}
