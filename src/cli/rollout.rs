//! Deploy, promote, rollback and switch on the command line: start the
//! action, then (when waiting) follow its pipeline to its outcome.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::output::{accepted_line, outcome_lines, verdict_lines, ProgressTracker};
use super::{exit, OutputMode};
use crate::domain::analysis::Verdict;
use crate::domain::environment::Version;
use crate::domain::pipeline::{PipelineRun, StageStatus};
use crate::runtime::{
    ActionAccepted, Actor, RolloutOutcome, RuntimeError, RuntimeEvent, SharedRuntime,
};

use super::commands::{action_error, done, Streams};

/// After a rollout's pipeline finishes, how long to wait for its
/// `RolloutFinished` event (which carries the verdict) before settling for
/// the pipeline's own status.
const OUTCOME_GRACE: Duration = Duration::from_secs(2);

/// Which final state counts as success for a waited-on pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WaitKind {
    /// Deploy or promote: success only if the canary was promoted.
    Rollout,
    /// Rollback: success when the rollback completes.
    Rollback,
}

/// The analysis verdict at the end of one canary step.
#[derive(Clone, Debug, Serialize)]
pub struct StepVerdict {
    pub step: usize,
    pub verdict: Verdict,
}

/// What `--output json` prints for a waited-on action.
#[derive(Clone, Debug, Serialize)]
pub struct ActionReport {
    pub accepted: ActionAccepted,
    /// False when we stopped waiting (Ctrl-C) or the sandbox went away.
    pub finished: bool,
    pub outcome: Option<RolloutOutcome>,
    /// Last state seen of the action's pipeline.
    pub pipeline: Option<PipelineRun>,
    pub verdicts: Vec<StepVerdict>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WaitEnd {
    Finished,
    Interrupted,
    StreamEnded,
}

/// Follow the accepted action's pipeline until it ends, printing progress.
async fn wait_for_pipeline(
    rt: &SharedRuntime,
    accepted: &ActionAccepted,
    events: &mut mpsc::Receiver<RuntimeEvent>,
    kind: WaitKind,
    s: &mut Streams<'_>,
) -> (ActionReport, WaitEnd) {
    let id = accepted.pipeline_id;
    let mut report = ActionReport {
        accepted: accepted.clone(),
        finished: false,
        outcome: None,
        pipeline: None,
        verdicts: Vec::new(),
    };
    let mut tracker = ProgressTracker::new();
    // Set once the pipeline has finished but its outcome event has not come.
    let mut grace: Option<Instant> = None;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut ctrl_c_ok = true;
    loop {
        let grace_over = async {
            match grace {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let ev = tokio::select! {
            r = &mut ctrl_c, if ctrl_c_ok => {
                if r.is_ok() {
                    return (report, WaitEnd::Interrupted);
                }
                ctrl_c_ok = false;
                continue;
            }
            _ = grace_over => {
                report.finished = true;
                return (report, WaitEnd::Finished);
            }
            ev = events.recv() => ev,
        };
        let mut finished_run = None;
        match ev {
            None => return (report, WaitEnd::StreamEnded),
            Some(RuntimeEvent::Pipeline { run }) if run.id == id => finished_run = Some(run),
            Some(RuntimeEvent::Verdict { env, step, verdict }) if env == accepted.env => {
                for line in verdict_lines(step, &verdict) {
                    s.note(&line);
                }
                report.verdicts.push(StepVerdict { step, verdict });
            }
            Some(RuntimeEvent::RolloutFinished {
                pipeline_id,
                outcome,
                ..
            }) if pipeline_id == id => {
                report.outcome = Some(outcome);
                report.finished = true;
                return (report, WaitEnd::Finished);
            }
            Some(RuntimeEvent::Lagged { count }) => {
                s.note(&format!(
                    "warning: {count} events were lost while waiting; checking pipeline #{id} in the history"
                ));
                match rt.history().await {
                    Ok(h) => finished_run = h.pipelines.into_iter().find(|p| p.id == id),
                    Err(e) => s.note(&format!("warning: cannot read the history: {e}")),
                }
            }
            Some(_) => {}
        }
        if let Some(run) = finished_run {
            for line in tracker.update(&run) {
                s.note(&line);
            }
            let ended = run.status.is_finished();
            report.pipeline = Some(run);
            if ended {
                match kind {
                    WaitKind::Rollback => {
                        report.finished = true;
                        return (report, WaitEnd::Finished);
                    }
                    WaitKind::Rollout => {
                        grace.get_or_insert_with(|| Instant::now() + OUTCOME_GRACE);
                    }
                }
            }
        }
    }
}

fn action_exit(report: &ActionReport, end: WaitEnd, kind: WaitKind) -> i32 {
    match end {
        WaitEnd::Interrupted => exit::INTERRUPTED,
        WaitEnd::StreamEnded => exit::UNAVAILABLE,
        WaitEnd::Finished => match (&report.outcome, kind) {
            (Some(RolloutOutcome::Promoted { .. }), _) => exit::OK,
            (Some(RolloutOutcome::RolledBack { .. }), WaitKind::Rollback) => exit::OK,
            (Some(RolloutOutcome::RolledBack { .. }), WaitKind::Rollout) => exit::FAILED,
            (Some(RolloutOutcome::Aborted { .. }), _) => exit::FAILED,
            (None, _) => match report.pipeline.as_ref().map(|p| &p.status) {
                Some(StageStatus::Succeeded) => exit::OK,
                _ => exit::FAILED,
            },
        },
    }
}

/// Shared tail of deploy, promote and rollback.
async fn finish_action(
    rt: &SharedRuntime,
    accepted: ActionAccepted,
    events: Option<mpsc::Receiver<RuntimeEvent>>,
    kind: WaitKind,
    s: &mut Streams<'_>,
) -> i32 {
    let Some(mut events) = events else {
        let written = match s.mode {
            OutputMode::Table => s.put_lines(&[accepted_line(&accepted)]),
            OutputMode::Json => s.put_json(&accepted),
        };
        return done(exit::OK, written);
    };
    s.note(&format!(
        "{}; waiting for the outcome (Ctrl-C stops waiting)",
        accepted_line(&accepted)
    ));
    let (report, end) = wait_for_pipeline(rt, &accepted, &mut events, kind, s).await;
    let id = accepted.pipeline_id;
    match end {
        WaitEnd::Interrupted => s.note(&format!(
            "stopped waiting; pipeline #{id} goes on in the sandbox (see `blissful-infra status`)"
        )),
        WaitEnd::StreamEnded => s.note(&format!(
            "error: the sandbox stopped before pipeline #{id} finished"
        )),
        WaitEnd::Finished => {}
    }
    let code = action_exit(&report, end, kind);
    let written = match s.mode {
        OutputMode::Json => s.put_json(&report),
        OutputMode::Table => {
            let lines = match (&report.outcome, &report.pipeline) {
                (Some(o), _) => outcome_lines(&accepted.env, o),
                (None, Some(p)) if end == WaitEnd::Finished => vec![format!(
                    "pipeline #{} {}: {}",
                    p.id,
                    p.title,
                    p.status.label()
                )],
                _ => Vec::new(),
            };
            s.put_lines(&lines)
        }
    };
    done(code, written)
}

/// Subscribe first when waiting, so no event of the action is missed.
pub(super) async fn subscribe_if(
    rt: &SharedRuntime,
    wait: bool,
) -> Result<Option<mpsc::Receiver<RuntimeEvent>>, RuntimeError> {
    if wait {
        rt.subscribe().await.map(Some)
    } else {
        Ok(None)
    }
}

/// Subscribe first (when waiting) so no event of the action is missed, then
/// start it and follow it to its end.
async fn act<F, Fut>(
    rt: &SharedRuntime,
    wait: bool,
    kind: WaitKind,
    s: &mut Streams<'_>,
    start: F,
) -> i32
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<ActionAccepted, RuntimeError>>,
{
    let events = match subscribe_if(rt, wait).await {
        Ok(ev) => ev,
        Err(e) => return s.error(&e),
    };
    match start().await {
        Ok(accepted) => finish_action(rt, accepted, events, kind, s).await,
        Err(e) => action_error(rt, &e, s).await,
    }
}

/// `deploy`: start a canary rollout; with `wait`, follow it to its end.
/// Exit OK when promoted, FAILED when rolled back (with the failed checks).
pub async fn deploy(
    rt: &SharedRuntime,
    actor: &Actor,
    env: &str,
    version: &str,
    wait: bool,
    s: &mut Streams<'_>,
) -> i32 {
    let version = Version::new(version);
    act(rt, wait, WaitKind::Rollout, s, || {
        rt.deploy(actor, env, &version)
    })
    .await
}

/// `promote`: roll `from`'s stable version out to `to`; waits like `deploy`.
pub async fn promote(
    rt: &SharedRuntime,
    actor: &Actor,
    from: &str,
    to: &str,
    wait: bool,
    s: &mut Streams<'_>,
) -> i32 {
    act(rt, wait, WaitKind::Rollout, s, || {
        rt.promote(actor, from, to)
    })
    .await
}

/// `rollback`: return `env` to its previous version; with `wait`, until done.
pub async fn rollback(
    rt: &SharedRuntime,
    actor: &Actor,
    env: &str,
    wait: bool,
    s: &mut Streams<'_>,
) -> i32 {
    act(rt, wait, WaitKind::Rollback, s, || rt.rollback(actor, env)).await
}

/// `switch`: blue/green, all traffic to the canary (or back to stable) at once.
pub async fn switch_traffic(
    rt: &SharedRuntime,
    actor: &Actor,
    env: &str,
    to_canary: bool,
    s: &mut Streams<'_>,
) -> i32 {
    match rt.switch_traffic(actor, env, to_canary).await {
        Ok(accepted) => finish_action(rt, accepted, None, WaitKind::Rollback, s).await,
        Err(e) => action_error(rt, &e, s).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(outcome: Option<RolloutOutcome>, status: Option<StageStatus>) -> ActionReport {
        ActionReport {
            accepted: ActionAccepted {
                pipeline_id: 1,
                env: "staging".into(),
                from_version: None,
                to_version: None,
                message: String::new(),
            },
            finished: true,
            outcome,
            pipeline: status.map(|st| {
                let mut p = PipelineRun::new(
                    1,
                    crate::domain::pipeline::PipelineKind::Rollback,
                    "staging",
                    "t",
                    &[],
                    0,
                );
                p.status = st;
                p
            }),
            verdicts: vec![],
        }
    }

    #[test]
    fn action_exit_codes() {
        let promoted = Some(RolloutOutcome::Promoted {
            version: Version::new("v2"),
        });
        let rolled_back = Some(RolloutOutcome::RolledBack {
            version: Version::new("v1"),
            reason: "p99".into(),
            verdict: None,
        });
        let aborted = Some(RolloutOutcome::Aborted { reason: "x".into() });
        let fin = WaitEnd::Finished;
        assert_eq!(
            action_exit(&report(promoted, None), fin, WaitKind::Rollout),
            exit::OK
        );
        assert_eq!(
            action_exit(&report(rolled_back.clone(), None), fin, WaitKind::Rollout),
            exit::FAILED
        );
        assert_eq!(
            action_exit(&report(rolled_back, None), fin, WaitKind::Rollback),
            exit::OK
        );
        assert_eq!(
            action_exit(&report(aborted, None), fin, WaitKind::Rollback),
            exit::FAILED
        );
        let ok = Some(StageStatus::Succeeded);
        let failed = Some(StageStatus::Failed("x".into()));
        assert_eq!(
            action_exit(&report(None, ok.clone()), fin, WaitKind::Rollback),
            exit::OK
        );
        assert_eq!(
            action_exit(&report(None, failed), fin, WaitKind::Rollout),
            exit::FAILED
        );
        assert_eq!(
            action_exit(
                &report(None, ok.clone()),
                WaitEnd::Interrupted,
                WaitKind::Rollout
            ),
            exit::INTERRUPTED
        );
        assert_eq!(
            action_exit(&report(None, ok), WaitEnd::StreamEnded, WaitKind::Rollout),
            exit::UNAVAILABLE
        );
    }
}
