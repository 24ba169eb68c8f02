//! Graceful shutdown as the cluster measured it. Deleting a pod sets its
//! `deletionTimestamp` to the request time plus `deletionGracePeriodSeconds`,
//! and the kubelet sends SIGTERM then; a container's `terminated` state then
//! says when it finished and how (137: killed when the grace period ran
//! out). A force delete (grace 0) is no SIGTERM stop and is not counted.

use std::sync::Arc;

use serde_json::Value;

use super::events::epoch_ms;
use crate::domain::chaos::SigtermStop;
use crate::domain::logs::{Level, LogLine};
use crate::kubernetes::fields::{at, raw, text, uint};

/// The version column of a measured stop's line.
pub const STOP_SOURCE: &str = "k8s-pod";
/// Exit code of a container killed by SIGKILL.
const KILLED_EXIT: i64 = 137;
/// Timestamps are whole seconds: an exit in the grace period's last second
/// may read as the period's end.
const CLOCK_STEP_MS: u64 = 1000;

/// The stop of `pod`, once it is being deleted gracefully and a container
/// has terminated; with when it finished.
pub fn sigterm_stop(pod: &Value) -> Option<(SigtermStop, i64)> {
    let grace_ms = uint(pod, &["metadata", "deletionGracePeriodSeconds"])?.checked_mul(1000)?;
    if grace_ms == 0 {
        return None;
    }
    let deadline = epoch_ms(raw(pod, &["metadata", "deletionTimestamp"])?)?;
    let sigterm_at = deadline - i64::try_from(grace_ms).ok()?;
    let terminated = at(pod, &["status", "containerStatuses"])?
        .as_array()?
        .iter()
        .filter_map(|c| c.pointer("/state/terminated"))
        .max_by_key(|t| {
            t.get("finishedAt")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })?;
    let finished = epoch_ms(terminated.get("finishedAt")?.as_str()?)?;
    let after_ms = u64::try_from(finished.saturating_sub(sigterm_at)).unwrap_or(0);
    let exit = terminated.get("exitCode").and_then(Value::as_i64);
    let killed = exit == Some(KILLED_EXIT) && after_ms + CLOCK_STEP_MS >= grace_ms;
    let stop = SigtermStop {
        instance: text(pod, &["metadata", "name"]).unwrap_or_else(|| "?".into()),
        after_ms: if killed { grace_ms } else { after_ms },
        grace_ms,
        killed,
    };
    Some((stop, finished))
}

/// The stop as a line of `env`, in the words the FMEA scorecard reads back.
pub fn stop_line(stop: &SigtermStop, finished: i64, env: &str) -> LogLine {
    let level = match stop.killed {
        true => Level::Warn,
        false => Level::Info,
    };
    LogLine::new(
        finished,
        Arc::from(env),
        Arc::from(STOP_SOURCE),
        Arc::from(format!("Pod/{}", stop.instance)),
        level,
        stop.to_string(),
    )
}

#[cfg(test)]
mod tests;
