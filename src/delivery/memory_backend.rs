//! An in-memory delivery backend for the controller's unit tests (shared by
//! `delivery/tests.rs` and `delivery/recover/tests.rs`): versions "run" in a
//! list, readiness is a switch, each traffic split is noted with the weight
//! the rollout journal held at that moment, and reports are kept to read.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::journal::RolloutJournal;
use super::{Analyzer, DeliveryBackend, Readiness, Report, RolloutView, Settings};
use crate::domain::analysis::VersionSample;
use crate::domain::environment::{TrafficSplit, Version};
use crate::domain::rollout::{CanaryPlan, CanaryStep};
use crate::runtime::{Actor, RolloutOutcome};

/// A poisoned lock only means another test thread panicked; its data is
/// still what the assertions want to see.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) struct MemoryBackend {
    /// The rollout journal's file, read at every `set_traffic`.
    journal: Option<PathBuf>,
    pub(crate) ready: AtomicBool,
    pub(crate) running: Mutex<Vec<String>>,
    /// `(canary weight asked for, weight in the journal then)`.
    pub(crate) splits: Mutex<Vec<(u8, Option<u8>)>>,
    pub(crate) retired: Mutex<Vec<String>>,
    resets: AtomicUsize,
    /// Once the analysis window was reset this often, canaries answer 40%
    /// errors (`usize::MAX`: never).
    bad_after_resets: usize,
    reports: Mutex<Vec<Report>>,
    ids: AtomicU64,
}

impl MemoryBackend {
    /// Every version in `running` is up and ready; canaries stay healthy.
    pub(crate) fn new(running: &[&str]) -> Self {
        MemoryBackend {
            journal: None,
            ready: AtomicBool::new(true),
            running: Mutex::new(running.iter().map(|v| v.to_string()).collect()),
            splits: Mutex::new(Vec::new()),
            retired: Mutex::new(Vec::new()),
            resets: AtomicUsize::new(0),
            bad_after_resets: usize::MAX,
            reports: Mutex::new(Vec::new()),
            ids: AtomicU64::new(100),
        }
    }

    /// Note the weight `journal` holds at every traffic change.
    pub(crate) fn watching(mut self, journal: &Path) -> Self {
        self.journal = Some(journal.to_path_buf());
        self
    }

    /// Canaries go bad once the analysis window was reset `resets` times.
    pub(crate) fn bad_after_resets(mut self, resets: usize) -> Self {
        self.bad_after_resets = resets;
        self
    }

    pub(crate) fn shared(self) -> Arc<Self> {
        Arc::new(self)
    }

    pub(crate) fn is_running(&self, version: &str) -> bool {
        lock(&self.running).iter().any(|v| v == version)
    }

    /// The last rollout view reported.
    pub(crate) fn view(&self) -> Option<RolloutView> {
        lock(&self.reports).iter().rev().find_map(|r| match r {
            Report::View(v) => Some(v.clone()),
            _ => None,
        })
    }

    /// Every outcome reported, in order.
    pub(crate) fn outcomes(&self) -> Vec<RolloutOutcome> {
        lock(&self.reports)
            .iter()
            .filter_map(|r| match r {
                Report::Finished { outcome, .. } => Some(outcome.clone()),
                _ => None,
            })
            .collect()
    }

    fn journalled_weight(&self) -> Option<u8> {
        let text = std::fs::read_to_string(self.journal.as_ref()?).ok()?;
        let record = serde_json::from_str::<serde_json::Value>(&text).ok()?;
        record["rollout"]["weight"].as_u64().map(|w| w as u8)
    }
}

#[async_trait]
impl DeliveryBackend for MemoryBackend {
    async fn bring_up(&self, version: &Version) -> Result<(), String> {
        let mut running = lock(&self.running);
        if !running.contains(&version.0) {
            running.push(version.0.clone());
        }
        Ok(())
    }
    async fn readiness(&self, version: &Version) -> Readiness {
        let up = self.is_running(version.as_str());
        Readiness {
            ready: u32::from(up && self.ready.load(Ordering::SeqCst)),
            desired: 1,
        }
    }
    async fn set_traffic(&self, split: &TrafficSplit) -> Result<(), String> {
        let held = self.journalled_weight();
        lock(&self.splits).push((split.canary_weight, held));
        Ok(())
    }
    fn reset_analysis(&self) {
        self.resets.fetch_add(1, Ordering::SeqCst);
    }
    fn analysis_sample(&self, version: &Version) -> VersionSample {
        let bad =
            version.as_str() != "v1" && self.resets.load(Ordering::SeqCst) >= self.bad_after_resets;
        VersionSample {
            requests: 100,
            errors: if bad { 40 } else { 0 },
            p50_ms: 5.0,
            p95_ms: 10.0,
            p99_ms: 20.0,
            ..Default::default()
        }
    }
    async fn endpoints(&self, _version: &Version) -> Vec<SocketAddr> {
        Vec::new()
    }
    async fn retire(&self, version: &Version) -> Result<(), String> {
        lock(&self.running).retain(|v| *v != version.0);
        lock(&self.retired).push(version.0.clone());
        Ok(())
    }
    async fn instances(&self, version: &Version) -> Vec<String> {
        lock(&self.running)
            .iter()
            .filter(|v| **v == version.0)
            .map(|v| format!("{v}-1"))
            .collect()
    }
    async fn replace_instance(&self, _version: &Version, _id: &str) -> Result<(), String> {
        Ok(())
    }
    fn next_pipeline_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::SeqCst)
    }
    async fn report(&self, report: Report) {
        lock(&self.reports).push(report);
    }
}

/// Controller settings for `env`: canary steps at `weights` without pauses,
/// a verdict after 5 samples, a post-promotion watch of `window_secs`.
pub(crate) fn settings(
    env: &str,
    weights: &[u8],
    window_secs: u64,
    journal: Option<RolloutJournal>,
) -> Settings {
    let steps = weights
        .iter()
        .map(|&weight| CanaryStep {
            weight,
            pause_secs: 0,
        })
        .collect();
    let mut rollout = crate::config::RolloutConfig {
        steps: CanaryPlan { steps },
        ..Default::default()
    };
    rollout.analysis.min_samples = 5;
    rollout.post_promotion_window_secs = window_secs;
    Settings {
        env: env.into(),
        rollout,
        smoke_paths: vec!["/".into()],
        analyzer: Analyzer::Router,
        journal,
    }
}

pub(crate) fn actor() -> Actor {
    Actor {
        user: "ann".into(),
        via: "test".into(),
    }
}

/// Poll `f` until it gives a value; fail after 10 s saying `what`.
pub(crate) async fn eventually<T>(what: &str, f: impl Fn() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < deadline, "{what}: never");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
