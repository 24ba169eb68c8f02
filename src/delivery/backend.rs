//! The small interface a runtime implements so the one delivery controller
//! can drive it: bring a version up, say how ready it is, route traffic,
//! expose the router's analysis sample, retire a version, and take reports.

use std::net::SocketAddr;

use async_trait::async_trait;

use super::view::RolloutView;
use crate::domain::analysis::{Verdict, VersionSample};
use crate::domain::environment::{TrafficSplit, Version};
use crate::domain::logs::Level;
use crate::domain::pipeline::PipelineRun;
use crate::runtime::RolloutOutcome;

/// Ready and desired instances of one version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    pub ready: u32,
    pub desired: u32,
}

impl Readiness {
    /// Every desired instance answers.
    pub fn complete(&self) -> bool {
        self.desired > 0 && self.ready >= self.desired
    }
}

/// What the controller tells the runtime; the runtime keeps, shows and
/// relays it (pipelines, verdicts, logs, the rollout's own state).
#[derive(Clone, Debug)]
pub enum Report {
    Pipeline(PipelineRun),
    Verdict {
        step: usize,
        verdict: Box<Verdict>,
    },
    /// A rollout, undo or switch ended on its own (promoted, rolled back).
    Finished {
        pipeline_id: u64,
        outcome: RolloutOutcome,
        /// Who asked for the operation that ended.
        requested_by: String,
    },
    Log {
        level: Level,
        text: String,
    },
    View(RolloutView),
}

/// One runtime's side of delivery, for one environment.
#[async_trait]
pub trait DeliveryBackend: Send + Sync + 'static {
    /// Start the instances of `version` unless they run already.
    async fn bring_up(&self, version: &Version) -> Result<(), String>;
    /// How many instances of `version` are ready, of how many.
    async fn readiness(&self, version: &Version) -> Readiness;
    /// Route traffic: `canary_weight`% to the canary, the rest to stable.
    async fn set_traffic(&self, split: &TrafficSplit) -> Result<(), String>;
    /// Start a new analysis window on the router.
    fn reset_analysis(&self);
    /// What the router measured for `version` since the last reset.
    fn analysis_sample(&self, version: &Version) -> VersionSample;
    /// Addresses of the ready instances of `version` (for the smoke check).
    async fn endpoints(&self, version: &Version) -> Vec<SocketAddr>;
    /// Stop and remove every instance of `version`.
    async fn retire(&self, version: &Version) -> Result<(), String>;
    /// Names of the instances of `version`.
    async fn instances(&self, version: &Version) -> Vec<String>;
    /// Start a replacement of instance `id`, wait until it is ready, then
    /// stop `id`: capacity never drops.
    async fn replace_instance(&self, version: &Version, id: &str) -> Result<(), String>;
    /// A pipeline id, unique in this runtime.
    fn next_pipeline_id(&self) -> u64;
    async fn report(&self, report: Report);
}
