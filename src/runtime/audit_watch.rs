//! The audit decorator's background work: journalling the rollouts a
//! runtime's controller finishes (read from its events), and merging the
//! journal's own error notices into subscribers' streams.

use tokio::sync::{broadcast, mpsc, watch};

use super::audit_log::AuditLog;
use super::{RolloutOutcome, RuntimeEvent};
use crate::domain::audit::AuditEntry;
use crate::domain::logs::{Level, LogLine};

/// How long, after the runtime stopped, to keep reading its last events.
const QUIET: std::time::Duration = std::time::Duration::from_millis(100);

/// Tell subscribers about a problem of the journal itself.
pub(super) fn notice(notices: &broadcast::Sender<RuntimeEvent>, text: String) {
    let _ = notices.send(RuntimeEvent::Log {
        line: LogLine::new(
            crate::clock::now_ms(),
            "runtime".into(),
            "-".into(),
            "audit".into(),
            Level::Error,
            crate::domain::sanitize::sanitize_str(&text),
        ),
    });
}

/// The journal entry for a rollout the controller finished.
pub fn outcome_entry(env: &str, pipeline_id: u64, outcome: &RolloutOutcome) -> AuditEntry {
    let (action, from, to, result) = match outcome {
        RolloutOutcome::Promoted { version } => {
            ("promote", None, Some(version.0.clone()), "promoted".into())
        }
        RolloutOutcome::RolledBack {
            version, reason, ..
        } => (
            "rollback",
            Some(version.0.clone()),
            None,
            format!("rolled back: {reason}"),
        ),
        RolloutOutcome::Aborted { reason } => ("abort", None, None, format!("aborted: {reason}")),
    };
    AuditEntry {
        ts: crate::clock::now_ms(),
        user: "controller".into(),
        env: env.to_string(),
        action: action.into(),
        from_version: from,
        to_version: to,
        outcome: result,
        detail: format!("pipeline #{pipeline_id}"),
    }
}

/// Journal every `RolloutFinished` until the stream ends or `stop` fires
/// (then read what is still queued, briefly).
pub(super) async fn watch_outcomes(
    mut events: mpsc::Receiver<RuntimeEvent>,
    log: AuditLog,
    notices: broadcast::Sender<RuntimeEvent>,
    mut stop: watch::Receiver<bool>,
) {
    let mut lost = LostEvents::default();
    loop {
        let ev = tokio::select! {
            ev = events.recv() => ev,
            _ = stop.wait_for(|s| *s) => break,
        };
        let Some(ev) = ev else { return };
        journal(ev, &log, &notices, &mut lost).await;
    }
    while let Ok(Some(ev)) = tokio::time::timeout(QUIET, events.recv()).await {
        journal(ev, &log, &notices, &mut lost).await;
    }
}

/// Events lost by the watcher: said at most once a minute (a log burst
/// makes many small losses).
#[derive(Default)]
struct LostEvents {
    count: u64,
    said_at: Option<std::time::Instant>,
}

const LOSS_NOTICE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

async fn journal(
    ev: RuntimeEvent,
    log: &AuditLog,
    notices: &broadcast::Sender<RuntimeEvent>,
    lost: &mut LostEvents,
) {
    match ev {
        RuntimeEvent::RolloutFinished {
            env,
            pipeline_id,
            outcome,
        } => {
            if let Err(e) = log.append(outcome_entry(&env, pipeline_id, &outcome)).await {
                notice(notices, e.to_string());
            }
        }
        RuntimeEvent::Lagged { count } => {
            lost.count += count;
            if lost
                .said_at
                .is_none_or(|t| t.elapsed() >= LOSS_NOTICE_EVERY)
            {
                notice(
                    notices,
                    format!(
                        "audit: {} runtime events were lost; a rollout outcome among them is not journalled",
                        lost.count
                    ),
                );
                lost.count = 0;
                lost.said_at = Some(std::time::Instant::now());
            }
        }
        _ => {}
    }
}

/// One stream of the runtime's events with the journal's notices mixed in.
pub(super) fn merge_notices(
    mut events: mpsc::Receiver<RuntimeEvent>,
    mut notices: broadcast::Receiver<RuntimeEvent>,
) -> mpsc::Receiver<RuntimeEvent> {
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        let mut notices_open = true;
        loop {
            let ev = tokio::select! {
                biased;
                _ = tx.closed() => return,
                n = notices.recv(), if notices_open => match n {
                    Ok(ev) => ev,
                    Err(broadcast::error::RecvError::Lagged(count)) => RuntimeEvent::Lagged { count },
                    Err(broadcast::error::RecvError::Closed) => {
                        notices_open = false;
                        continue;
                    }
                },
                ev = events.recv() => match ev {
                    Some(ev) => ev,
                    None => return,
                },
            };
            if tx.send(ev).await.is_err() {
                return;
            }
        }
    });
    rx
}
