//! The Jenkins job's runs, polled (`wfapi/runs`, a conditional GET, so an
//! unchanged list costs Jenkins a 304). A failure is the source's
//! `Degraded` state in the client's words (`cannot reach Jenkins at …`,
//! `Jenkins refused the credentials of … (HTTP 401)`, `Jenkins has no job
//! … (HTTP 404)`) and the poll backs off, doubling up to 30 s.

use std::time::Duration;

use tokio::sync::mpsc;

use super::{expected_durations, from_jenkins, BuildsEvent, Origin, MAX_RUNS};
use crate::runtime::SourceState;
use crate::sources::jenkins::{JenkinsClient, JenkinsError, SOURCE_NAME};

/// Between two polls while Jenkins answers.
pub const POLL: Duration = Duration::from_secs(5);
const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Poll the job's runs until `tx` is closed. A client that could not be
/// made (`jenkins.token_env` not set, a bad URL) is a lasting `Degraded`.
pub async fn run(client: Result<JenkinsClient, JenkinsError>, tx: mpsc::Sender<BuildsEvent>) {
    let state = |state| BuildsEvent::State {
        source: SOURCE_NAME,
        state,
    };
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.send(state(SourceState::Degraded(e.to_string()))).await;
            return;
        }
    };
    if tx.send(state(SourceState::Connecting)).await.is_err() {
        return;
    }
    let mut last_state = SourceState::Connecting;
    let mut last_runs = None;
    let mut backoff = MIN_BACKOFF;
    loop {
        let (now, wait) = match client.runs().await {
            Ok(runs) => {
                backoff = MIN_BACKOFF;
                let runs: Vec<_> = runs
                    .iter()
                    .take(MAX_RUNS)
                    .map(|r| from_jenkins(r, client.job()))
                    .collect();
                if last_runs.as_ref() != Some(&runs) {
                    let ev = BuildsEvent::Runs {
                        origin: Origin::Jenkins,
                        expected: expected_durations(&runs),
                        runs: runs.clone(),
                    };
                    if tx.send(ev).await.is_err() {
                        return;
                    }
                    last_runs = Some(runs);
                }
                (SourceState::Ok, POLL)
            }
            Err(e) => {
                let wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                (SourceState::retrying(&e, wait), wait)
            }
        };
        if now != last_state {
            last_state = now.clone();
            if tx.send(state(now)).await.is_err() {
                return;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = tx.closed() => return,
        }
    }
}
