//! Rollout and rollback tasks. Each runs in its own task so the engine keeps
//! serving commands; it asks the engine to change state (start instances,
//! set weights, conclude) and reads analysis samples from the router itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::core::{Ctl, Internal};
use crate::config::PrometheusQueries;
use crate::config::RolloutConfig;
use crate::domain::analysis::{analyze, Verdict};
use crate::domain::environment::Version;
use crate::domain::pipeline::{PipelineRun, StageStatus};
use crate::domain::rollout::{decide, Decision};
use crate::router::RouterHandle;
use crate::sandbox::supervisor::now_ms;
use crate::sources::prometheus::{analyze_versions, PrometheusClient};

/// How long new instances get to become ready before the operation fails.
pub(super) const READY_TIMEOUT: Duration = Duration::from_secs(30);
const READY_POLL: Duration = Duration::from_millis(250);
/// Pipeline progress is republished about this often while waiting.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// How an operation ended, as reported to the engine.
#[derive(Debug)]
pub(super) enum Conclusion {
    /// The canary becomes stable.
    Promote,
    /// A rollback's target is ready: switch to it.
    RollbackSwitch,
    /// Give up: remove the canary (or the rollback target).
    Abort {
        reason: String,
        verdict: Option<Box<Verdict>>,
    },
}

pub(super) struct OpCtx {
    pub env: Arc<str>,
    pub op_id: u64,
    pub tx: mpsc::Sender<Internal>,
    pub router: RouterHandle,
    pub replicas: u32,
    /// Set when `rollout.analysis_source` is `prometheus`: each step is
    /// judged on the configured PromQL instead of the router's own counters.
    pub prometheus: Option<PrometheusAnalysis>,
}

/// What a Prometheus-based analysis needs.
#[derive(Clone)]
pub(super) struct PrometheusAnalysis {
    pub client: PrometheusClient,
    pub queries: PrometheusQueries,
}

/// Shortest window a Prometheus analysis looks back over (two scrapes at
/// the usual 15 s interval make a rate).
const MIN_PROM_WINDOW: Duration = Duration::from_secs(30);

/// The engine stopped or dropped this operation; the task just ends.
struct Gone;

impl OpCtx {
    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Ctl) -> Result<T, Gone> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Internal::Ctl(make(tx)))
            .await
            .map_err(|_| Gone)?;
        rx.await.map_err(|_| Gone)
    }

    async fn publish(&self, run: &PipelineRun) -> Result<(), Gone> {
        self.tx
            .send(Internal::Ctl(Ctl::Pipeline {
                env: self.env.clone(),
                run: run.clone(),
            }))
            .await
            .map_err(|_| Gone)
    }

    async fn conclude(&self, conclusion: Conclusion) {
        let _ = self
            .tx
            .send(Internal::Ctl(Ctl::Conclude {
                env: self.env.clone(),
                op_id: self.op_id,
                conclusion,
            }))
            .await;
    }

    async fn ensure_version(&self, version: &Version) -> Result<(), Gone> {
        let ok = self
            .call(|reply| Ctl::EnsureVersion {
                env: self.env.clone(),
                op_id: self.op_id,
                version: version.clone(),
                reply,
            })
            .await?;
        if ok {
            Ok(())
        } else {
            Err(Gone)
        }
    }

    async fn set_weight(&self, weight: u8, step: Option<(usize, usize)>) -> Result<(), Gone> {
        let ok = self
            .call(|reply| Ctl::SetWeight {
                env: self.env.clone(),
                op_id: self.op_id,
                weight,
                step,
                reply,
            })
            .await?;
        if ok {
            Ok(())
        } else {
            Err(Gone)
        }
    }

    /// Wait until every replica of `version` is ready. `Ok(Err(reason))` on timeout.
    async fn wait_ready(
        &self,
        version: &Version,
        run: &mut PipelineRun,
        stage: usize,
        timeout: Duration,
    ) -> Result<Result<String, String>, Gone> {
        let start = Instant::now();
        let mut last_publish = Instant::now();
        loop {
            let (ready, desired) = self
                .call(|reply| Ctl::ReadyCount {
                    env: self.env.clone(),
                    version: version.clone(),
                    reply,
                })
                .await?;
            let desired = desired.max(self.replicas);
            if ready >= desired {
                return Ok(Ok(format!(
                    "{ready}/{desired} instances of {version} ready"
                )));
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Ok(Err(format!(
                    "{version}: only {ready}/{desired} instances ready after {}s",
                    timeout.as_secs()
                )));
            }
            if last_publish.elapsed() >= PROGRESS_EVERY {
                last_publish = Instant::now();
                if let Some(s) = run.stages.get_mut(stage) {
                    s.progress = waited.as_secs_f64() / timeout.as_secs_f64();
                    s.detail = format!("{ready}/{desired} instances ready");
                }
                self.publish(run).await?;
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// Hold the current weight for `secs`, publishing progress about once a second.
    async fn hold(&self, run: &mut PipelineRun, stage: usize, secs: u64) -> Result<(), Gone> {
        let total = Duration::from_secs(secs);
        let start = Instant::now();
        loop {
            let elapsed = start.elapsed();
            if let Some(s) = run.stages.get_mut(stage) {
                s.progress = if total.is_zero() {
                    1.0
                } else {
                    (elapsed.as_secs_f64() / total.as_secs_f64()).min(1.0)
                };
            }
            self.publish(run).await?;
            if elapsed >= total {
                return Ok(());
            }
            tokio::time::sleep((total - elapsed).min(PROGRESS_EVERY)).await;
        }
    }
}

/// Canary rollout of `canary` over `stable` (or a direct start and promotion
/// when there is no stable version yet).
pub(super) async fn run_rollout(
    ctx: OpCtx,
    run: PipelineRun,
    stable: Option<Version>,
    canary: Version,
    cfg: RolloutConfig,
) {
    // `Gone` means the engine dropped us (aborted or shutting down): nothing to report.
    let _ = rollout(&ctx, run, stable, canary, cfg).await;
}

async fn rollout(
    ctx: &OpCtx,
    mut run: PipelineRun,
    stable: Option<Version>,
    canary: Version,
    cfg: RolloutConfig,
) -> Result<(), Gone> {
    run.start_stage(0, now_ms());
    ctx.publish(&run).await?;
    ctx.ensure_version(&canary).await?;
    match ctx.wait_ready(&canary, &mut run, 0, READY_TIMEOUT).await? {
        Ok(detail) => {
            run.finish_stage(0, StageStatus::Succeeded, detail, now_ms());
            ctx.publish(&run).await?;
        }
        Err(reason) => {
            ctx.publish(&run).await?;
            ctx.conclude(Conclusion::Abort {
                reason,
                verdict: None,
            })
            .await;
            return Ok(());
        }
    }
    let Some(stable) = stable else {
        // First deploy: nothing to compare against.
        ctx.conclude(Conclusion::Promote).await;
        return Ok(());
    };
    let plan = &cfg.steps;
    let total = plan.len();
    for (step, s) in plan.steps.iter().enumerate() {
        let stage = step + 1;
        run.start_stage(stage, now_ms());
        ctx.set_weight(s.weight, Some((step, total))).await?;
        ctx.router.reset_analysis();
        let step_started = std::time::Instant::now();
        let mut extensions = 0u32;
        loop {
            ctx.hold(&mut run, stage, s.pause_secs).await?;
            let router_verdict = || {
                let canary_sample = ctx.router.analysis_sample(canary.as_str());
                let stable_sample = ctx.router.analysis_sample(stable.as_str());
                let mut v = analyze(&canary_sample, Some(&stable_sample), &cfg.analysis);
                v.source = Some("router".into());
                v
            };
            let (verdict, note) = match &ctx.prometheus {
                None => (router_verdict(), None),
                Some(p) => {
                    let window = step_started.elapsed().max(MIN_PROM_WINDOW);
                    match analyze_versions(
                        &p.client,
                        &p.queries,
                        &ctx.env,
                        canary.as_str(),
                        Some(stable.as_str()),
                        window,
                        &cfg.analysis,
                    )
                    .await
                    {
                        Ok(pv) => (pv.verdict, None),
                        // A failing Prometheus must not decide a rollout:
                        // judge this step on the router and say so.
                        Err(e) => (
                            router_verdict(),
                            Some(format!("prometheus failed ({e}); judged on the router")),
                        ),
                    }
                }
            };
            let summary = match note {
                Some(n) => format!("{}; {n}", verdict.summary()),
                None => verdict.summary(),
            };
            ctx.tx
                .send(Internal::Ctl(Ctl::Verdict {
                    env: ctx.env.clone(),
                    op_id: ctx.op_id,
                    step,
                    verdict: Box::new(verdict.clone()),
                }))
                .await
                .map_err(|_| Gone)?;
            match decide(plan, step, &verdict, extensions, cfg.max_extensions) {
                Decision::Extend => {
                    extensions += 1;
                    if let Some(st) = run.stages.get_mut(stage) {
                        st.detail =
                            format!("{summary}; extended {extensions}/{}", cfg.max_extensions);
                    }
                }
                Decision::Advance { .. } | Decision::Promote => {
                    run.finish_stage(stage, StageStatus::Succeeded, summary, now_ms());
                    ctx.publish(&run).await?;
                    break;
                }
                Decision::Rollback { reason } => {
                    run.finish_stage(
                        stage,
                        StageStatus::Failed(reason.clone()),
                        summary,
                        now_ms(),
                    );
                    ctx.publish(&run).await?;
                    ctx.conclude(Conclusion::Abort {
                        reason,
                        verdict: Some(Box::new(verdict)),
                    })
                    .await;
                    return Ok(());
                }
            }
        }
    }
    ctx.conclude(Conclusion::Promote).await;
    Ok(())
}

/// Start `target` (the previous version), wait for it, then let the engine switch.
pub(super) async fn run_rollback(ctx: OpCtx, run: PipelineRun, target: Version) {
    let _ = rollback(&ctx, run, target).await;
}

async fn rollback(ctx: &OpCtx, mut run: PipelineRun, target: Version) -> Result<(), Gone> {
    run.start_stage(0, now_ms());
    ctx.publish(&run).await?;
    ctx.ensure_version(&target).await?;
    match ctx.wait_ready(&target, &mut run, 0, READY_TIMEOUT).await? {
        Ok(detail) => {
            run.finish_stage(0, StageStatus::Succeeded, detail, now_ms());
            run.start_stage(1, now_ms());
            ctx.publish(&run).await?;
            ctx.conclude(Conclusion::RollbackSwitch).await;
        }
        Err(reason) => {
            ctx.publish(&run).await?;
            ctx.conclude(Conclusion::Abort {
                reason,
                verdict: None,
            })
            .await;
        }
    }
    Ok(())
}
