//! Running a [`Plan`]: probe the target, drive the generator, report live.

use std::io::Write;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::progress::{interval_point, load_progress, progress_bar};
use super::{generator, report, PerfError, Plan, Summary};
use crate::clock::now_ms;
use crate::domain::pipeline::StageStatus;
use crate::runtime::publisher::RunPublisher;

/// Fail fast, with a clear message, when nothing listens at the target.
async fn probe(plan: &Plan) -> Result<(), PerfError> {
    let wait = plan.spec.timeout.min(Duration::from_secs(5));
    match tokio::time::timeout(wait, tokio::net::TcpStream::connect(plan.spec.target.addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(PerfError::Unreachable(format!(
            "cannot reach {} ({}): {e}",
            plan.label, plan.spec.target.addr
        ))),
        Err(_) => Err(PerfError::Unreachable(format!(
            "cannot reach {} ({}): no answer within {:.1}s",
            plan.label,
            plan.spec.target.addr,
            wait.as_secs_f64()
        ))),
    }
}

/// Stages of a load test as shown in the Pipeline pane.
pub const STAGES: [&str; 3] = ["warm-up", "load", "thresholds"];
pub(super) const STAGE_WARMUP: usize = 0;
pub(super) const STAGE_LOAD: usize = 1;
pub(super) const STAGE_THRESHOLDS: usize = 2;

/// Run a plan, updating a progress line on `err` when `progress` is set and
/// reporting stages and live numbers to `publisher` (the console) if given.
pub async fn execute(
    plan: &Plan,
    err: &mut (dyn Write + Send),
    progress: bool,
    mut publisher: Option<&mut RunPublisher>,
) -> Result<Summary, PerfError> {
    if let Some(p) = publisher.as_deref_mut() {
        p.start_stage(STAGE_WARMUP, now_ms());
    }
    if let Err(e) = probe(plan).await {
        if let Some(p) = publisher.as_deref_mut() {
            p.end_stage(
                STAGE_WARMUP,
                StageStatus::Failed(e.to_string()),
                "",
                now_ms(),
            );
        }
        return Err(e);
    }
    let live = Arc::new(generator::Live {
        window: publisher
            .is_some()
            .then(|| generator::new_histogram().map(Mutex::new))
            .transpose()?,
        ..generator::Live::default()
    });
    let mut run = pin!(generator::run(&plan.spec, live.clone()));
    let watching = progress || publisher.is_some();
    let started = Instant::now();
    // Counters restart when measuring starts, about `warmup` after `started`.
    let measure_start = started + plan.spec.warmup;
    let mut was_measuring = false;
    let mut last = (Instant::now(), 0u64, 0u64);
    let mut rps = 0.0;
    let mut err_rate = 0.0;
    let mut ticks = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let stats = loop {
        tokio::select! {
            res = &mut run => break res,
            _ = tick.tick(), if watching => {
                ticks += 1;
                let measuring = live.measuring.load(Ordering::Relaxed);
                let reqs = live.requests.load(Ordering::Relaxed);
                let errs = live.errors.load(Ordering::Relaxed);
                let now = Instant::now();
                let started_measuring = measuring && !was_measuring;
                if started_measuring {
                    // The counters were reset in between: no rate this tick.
                    was_measuring = true;
                    if let Some(p) = publisher.as_deref_mut() {
                        let warm = format!("{:.1}s", plan.spec.warmup.as_secs_f64());
                        p.end_stage(STAGE_WARMUP, StageStatus::Succeeded, &warm, now_ms());
                        p.start_stage(STAGE_LOAD, now_ms());
                    }
                } else {
                    let dt = (now - last.0).as_secs_f64();
                    let dreq = reqs.saturating_sub(last.1);
                    if dt > 0.0 {
                        rps = dreq as f64 / dt;
                    }
                    err_rate = if dreq > 0 {
                        errs.saturating_sub(last.2) as f64 / dreq as f64
                    } else {
                        0.0
                    };
                }
                last = (now, reqs, errs);
                let measured = measuring.then(|| now.saturating_duration_since(measure_start));
                if progress {
                    let line = match measured {
                        Some(m) => format!(
                            "{} {:6.1}s  {reqs:>9} requests  {rps:>9.0} req/s  {errs} errors",
                            progress_bar(load_progress(&plan.spec, m, reqs)),
                            m.as_secs_f64()
                        ),
                        None => format!(
                            "{} warmup {:4.1}s  {rps:>9.0} req/s",
                            progress_bar(0.0),
                            (now - started).as_secs_f64()
                        ),
                    };
                    let _ = write!(err, "\r{line:<90}");
                    let _ = err.flush();
                }
                if let Some(p) = publisher.as_deref_mut() {
                    if ticks % 4 == 0 {
                        p.point(interval_point(&live, rps, err_rate));
                        if let Some(m) = measured {
                            let detail = format!("{reqs} requests, {rps:.0} req/s, {errs} errors");
                            p.progress(STAGE_LOAD, load_progress(&plan.spec, m, reqs), &detail);
                        } else {
                            let frac = (now - started).as_secs_f64()
                                / plan.spec.warmup.as_secs_f64().max(0.001);
                            p.progress(STAGE_WARMUP, frac, &format!("{rps:.0} req/s"));
                        }
                    }
                }
            }
        }
    };
    if progress {
        let _ = write!(err, "\r{:<90}\r", "");
        let _ = err.flush();
    }
    let stats = match stats {
        Ok(s) => s,
        Err(e) => {
            if let Some(p) = publisher.as_deref_mut() {
                let stage = if was_measuring {
                    STAGE_LOAD
                } else {
                    STAGE_WARMUP
                };
                p.end_stage(stage, StageStatus::Failed(e.to_string()), "", now_ms());
            }
            return Err(e);
        }
    };
    let summary = Summary::build(
        &plan.label,
        plan.spec.pacing,
        plan.spec.concurrency,
        &plan.spec.endpoints,
        &stats,
        plan.thresholds,
    );
    if let Some(p) = publisher {
        let now = now_ms();
        if !was_measuring {
            let skipped = if plan.spec.warmup.is_zero() {
                StageStatus::Skipped
            } else {
                StageStatus::Succeeded
            };
            p.end_stage(STAGE_WARMUP, skipped, "", now);
        }
        let detail = format!(
            "{} requests, {:.0} req/s, p95 {}, errors {:.2}%",
            summary.requests,
            summary.rps,
            report::ms(summary.latency_ms.p95),
            summary.error_rate * 100.0
        );
        p.end_stage(STAGE_LOAD, StageStatus::Succeeded, &detail, now);
        let status = if summary.thresholds.passed {
            StageStatus::Succeeded
        } else {
            let why: Vec<&str> = summary
                .thresholds
                .failures
                .iter()
                .map(|f| f.message.as_str())
                .collect();
            StageStatus::Failed(why.join("; "))
        };
        p.start_stage(STAGE_THRESHOLDS, now);
        p.end_stage(STAGE_THRESHOLDS, status, "", now);
    }
    Ok(summary)
}
