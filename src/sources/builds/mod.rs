//! The console's build runs: the local pipeline store (`pipeline --local`
//! runs under the state directory) and, when `jenkins:` is configured, the
//! Jenkins job's runs, plus the log of the stage the Pipeline pane shows.
//!
//! Three tasks send [`BuildsEvent`]s into one bounded channel; none of
//! them is ever waited on by the console:
//! - `local.rs` polls the store: the `pipelines/` directory's mtime for new
//!   or removed runs, and the `run.json` of runs still going. Bounded: the
//!   newest [`MAX_RUNS`] runs, a few `stat`s a poll.
//! - `jenkins.rs` polls the job's runs (a conditional GET), backing off
//!   on failure; an unreachable Jenkins, a refused token or a missing job
//!   is its `Degraded` state with the client's plain words.
//! - `follow.rs` follows one log at a time: the console names it through a
//!   `watch` channel, so the newest request wins and the old follower is
//!   stopped. A local stage's log file is read as it grows (from where it
//!   stopped, or again from the start when the runner replaced it); a
//!   Jenkins build's console progressively. Lines are sanitised and
//!   coloured (`crate::highlight`) here, off the console's task.

mod follow;
mod jenkins;
mod local;
mod model;

use std::collections::BTreeMap;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use follow::FileTail;
pub use model::{expected_durations, from_jenkins, BuildRef, LogKey, Origin};

use crate::highlight::Painted;
use crate::pipeline::{RunRecord, RunStore};
use crate::runtime::SourceState;

/// The name the local store's state is reported under.
pub const SOURCE_NAME: &str = "pipelines";
/// Most runs of one origin kept.
pub const MAX_RUNS: usize = 50;

/// What the tasks tell the console.
#[derive(Clone, Debug, PartialEq)]
pub enum BuildsEvent {
    State {
        source: &'static str,
        state: SourceState,
    },
    /// Every run of one origin, newest first, and how long each stage took
    /// the last time it passed (a running stage's progress).
    Runs {
        origin: Origin,
        runs: Vec<RunRecord>,
        expected: BTreeMap<String, i64>,
    },
    /// One run changed (the followed Jenkins build).
    Run { origin: Origin, run: RunRecord },
    /// Lines of the log `key` names.
    Log { key: LogKey, update: LogUpdate },
}

/// A change to the followed log.
#[derive(Clone, Debug, PartialEq)]
pub enum LogUpdate {
    /// The log from its start (the first read, or after the file was replaced).
    Replace(Vec<Painted>),
    Append(Vec<Painted>),
    /// Lines that could not be delivered or were skipped.
    Dropped(u64),
    /// Why the log cannot be shown (now); the next lines clear it.
    Problem(String),
}

/// Where the runs come from.
#[derive(Clone, Debug)]
pub struct BuildsConfig {
    pub store: RunStore,
    /// `None` when `jenkins:` is not configured.
    pub jenkins: Option<crate::config::JenkinsConfig>,
}

/// The running source: ask it to follow another log with [`follow`].
///
/// [`follow`]: BuildsFeed::follow
pub struct BuildsFeed {
    follow: watch::Sender<Option<LogKey>>,
    tasks: Vec<JoinHandle<()>>,
}

impl BuildsFeed {
    /// Start the tasks; they stop when `tx` is closed or the feed dropped.
    pub fn start(cfg: BuildsConfig, tx: mpsc::Sender<BuildsEvent>) -> BuildsFeed {
        let (follow, follow_rx) = watch::channel(None);
        let client = cfg
            .jenkins
            .as_ref()
            .map(crate::sources::jenkins::JenkinsClient::new);
        let mut tasks = vec![tokio::spawn(local::run(cfg.store.clone(), tx.clone()))];
        if let Some(client) = &client {
            tasks.push(tokio::spawn(jenkins::run(client.clone(), tx.clone())));
        }
        let client = client.and_then(Result::ok);
        tasks.push(tokio::spawn(follow::run(cfg.store, client, follow_rx, tx)));
        BuildsFeed { follow, tasks }
    }

    /// Follow `key`'s log from now on (`None`: none); the last call wins.
    pub fn follow(&self, key: Option<LogKey>) {
        self.follow.send_replace(key);
    }
}

impl Drop for BuildsFeed {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests;
