//! The sandbox's side of delivery: `SandboxBackend` implements the delivery
//! controller's backend by asking the engine task (which owns instances and
//! routers) over its internal channel; the engine answers in `on_ctl`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::core::{Engine, Internal};
use crate::delivery::ids::PipelineIds;
use crate::delivery::{DeliveryBackend, Readiness, Report};
use crate::domain::analysis::VersionSample;
use crate::domain::environment::{InstancePhase, TrafficSplit, Version};
use crate::router::RouterHandle;

/// How long a replacement instance gets to become ready during a restart.
const REPLACE_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(200);

/// Requests from an environment's delivery controller to the engine.
pub(super) enum Ctl {
    BringUp {
        version: Version,
        reply: oneshot::Sender<()>,
    },
    Readiness {
        version: Version,
        reply: oneshot::Sender<Readiness>,
    },
    SetTraffic {
        split: TrafficSplit,
        reply: oneshot::Sender<()>,
    },
    Endpoints {
        version: Version,
        reply: oneshot::Sender<Vec<SocketAddr>>,
    },
    Retire {
        version: Version,
        reply: oneshot::Sender<()>,
    },
    Instances {
        version: Version,
        reply: oneshot::Sender<Vec<String>>,
    },
    /// Start one more instance of `version`; replies with its token.
    Surge {
        version: Version,
        reply: oneshot::Sender<u64>,
    },
    /// Whether the instance with this token is ready (`None`: it is gone).
    InstanceReady {
        token: u64,
        reply: oneshot::Sender<Option<bool>>,
    },
    StopInstance {
        id: String,
        reply: oneshot::Sender<bool>,
    },
    Report(Report),
}

pub(super) struct SandboxBackend {
    pub env: Arc<str>,
    pub tx: mpsc::Sender<Internal>,
    pub router: RouterHandle,
    pub ids: Arc<PipelineIds>,
}

fn gone() -> String {
    "the sandbox engine has stopped".into()
}

impl SandboxBackend {
    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Ctl) -> Result<T, String> {
        let (tx, rx) = oneshot::channel();
        let msg = Internal::Ctl {
            env: self.env.clone(),
            ctl: make(tx),
        };
        self.tx.send(msg).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())
    }
}

#[async_trait]
impl DeliveryBackend for SandboxBackend {
    async fn bring_up(&self, version: &Version) -> Result<(), String> {
        let version = version.clone();
        self.call(|reply| Ctl::BringUp { version, reply }).await
    }

    async fn readiness(&self, version: &Version) -> Readiness {
        let version = version.clone();
        self.call(|reply| Ctl::Readiness { version, reply })
            .await
            .unwrap_or_default()
    }

    async fn set_traffic(&self, split: &TrafficSplit) -> Result<(), String> {
        let split = split.clone();
        self.call(|reply| Ctl::SetTraffic { split, reply }).await
    }

    fn reset_analysis(&self) {
        self.router.reset_analysis();
    }

    fn analysis_sample(&self, version: &Version) -> VersionSample {
        self.router.analysis_sample(version.as_str())
    }

    async fn endpoints(&self, version: &Version) -> Vec<SocketAddr> {
        let version = version.clone();
        self.call(|reply| Ctl::Endpoints { version, reply })
            .await
            .unwrap_or_default()
    }

    async fn retire(&self, version: &Version) -> Result<(), String> {
        let version = version.clone();
        self.call(|reply| Ctl::Retire { version, reply }).await
    }

    async fn instances(&self, version: &Version) -> Vec<String> {
        let version = version.clone();
        self.call(|reply| Ctl::Instances { version, reply })
            .await
            .unwrap_or_default()
    }

    async fn replace_instance(&self, version: &Version, id: &str) -> Result<(), String> {
        let v = version.clone();
        let token = self.call(|reply| Ctl::Surge { version: v, reply }).await?;
        let start = Instant::now();
        loop {
            match self
                .call(|reply| Ctl::InstanceReady { token, reply })
                .await?
            {
                Some(true) => break,
                Some(false) if start.elapsed() < REPLACE_TIMEOUT => {}
                Some(false) => {
                    return Err(format!(
                        "its replacement was not ready after {}s",
                        REPLACE_TIMEOUT.as_secs()
                    ))
                }
                None => return Err("its replacement stopped".into()),
            }
            tokio::time::sleep(POLL).await;
        }
        let id = id.to_string();
        if self.call(|reply| Ctl::StopInstance { id, reply }).await? {
            Ok(())
        } else {
            Err("it is gone already".into())
        }
    }

    fn next_pipeline_id(&self) -> u64 {
        self.ids.next()
    }

    async fn report(&self, report: Report) {
        let msg = Internal::Ctl {
            env: self.env.clone(),
            ctl: Ctl::Report(report),
        };
        let _ = self.tx.send(msg).await;
    }
}

impl Engine {
    pub(super) async fn on_ctl(&mut self, env: &str, ctl: Ctl) {
        let Some(i) = self.env_index(env) else {
            return;
        };
        match ctl {
            Ctl::BringUp { version, reply } => {
                self.start_version(i, &version);
                let _ = reply.send(());
            }
            Ctl::Readiness { version, reply } => {
                let e = &self.envs[i];
                let _ = reply.send(Readiness {
                    ready: e.ready_count(&version),
                    desired: e.cfg.replicas,
                });
            }
            Ctl::SetTraffic { split, reply } => {
                let e = &mut self.envs[i];
                e.stable = split.stable;
                e.canary = split.canary;
                e.weight = split.canary_weight;
                self.apply_split(i);
                let _ = reply.send(());
            }
            Ctl::Endpoints { version, reply } => {
                let _ = reply.send(self.envs[i].ready_addrs(&version));
            }
            Ctl::Retire { version, reply } => {
                self.stop_version(i, &version);
                let _ = reply.send(());
            }
            Ctl::Instances { version, reply } => {
                let ids = self.envs[i]
                    .instances
                    .values()
                    .filter(|x| x.status.version == version)
                    .map(|x| x.status.id.clone())
                    .collect();
                let _ = reply.send(ids);
            }
            Ctl::Surge { version, reply } => {
                let token = self.start_one(i, &version);
                let _ = reply.send(token);
            }
            Ctl::InstanceReady { token, reply } => {
                let ready = self.envs[i]
                    .instances
                    .get(&token)
                    .map(|x| x.status.phase == InstancePhase::Ready);
                let _ = reply.send(ready);
            }
            Ctl::StopInstance { id, reply } => {
                let _ = reply.send(self.stop_instance(i, &id));
            }
            Ctl::Report(report) => self.on_report(i, report).await,
        }
    }
}
