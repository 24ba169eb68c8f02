//! Identical load on both sides, optional chaos, and the measured series.

use super::*;

/// Inject `scenario` into both environments once measuring starts.
pub(super) async fn inject_both(
    rt: &SandboxRuntime,
    scenario: ScenarioKind,
    config: &Config,
    warmup: Duration,
    measured: Duration,
) -> Vec<Result<String, String>> {
    tokio::time::sleep(warmup).await;
    let mut params = config.chaos.defaults.clone();
    // The fault must end inside the window so recovery can be seen.
    params.duration_secs = params.duration_secs.min(measured.as_secs() / 2).max(1);
    let actor = Actor::current("compare");
    let mut ids = Vec::with_capacity(2);
    for env in [OLD_ENV, NEW_ENV] {
        ids.push(
            rt.inject(&actor, env, scenario, params.clone())
                .await
                .map(|e| e.id)
                .map_err(|e| e.to_string()),
        );
    }
    ids
}

pub(super) async fn measure(
    rt: &SandboxRuntime,
    plan: &Plan,
    config: &Config,
    watch: &Watcher,
    err: &mut (dyn Write + Send),
) -> Result<ComparisonReport, CompareError> {
    let events = rt
        .subscribe()
        .await
        .map_err(|e| CompareError::Failed(format!("subscribing to sandbox events: {e}")))?;
    let (stop_tx, stop_rx) = oneshot::channel();
    let collector = tokio::spawn(collect(events, stop_rx));
    let envs = wait_ready(rt).await?;
    watch.ended(
        STAGE_START,
        StageStatus::Succeeded,
        format!("{} and {} Ready", plan.old, plan.new),
    );
    watch.started(STAGE_WARMUP);
    let (old, new) = (router(&envs, OLD_ENV)?, router(&envs, NEW_ENV)?);
    let spec = |target: Target| LoadSpec {
        target,
        endpoints: plan.endpoints.clone(),
        pacing: plan.pacing,
        concurrency: plan.concurrency,
        stop: Stop::Duration(plan.duration),
        warmup: plan.warmup,
        timeout: plan.timeout,
    };
    let (spec_old, spec_new) = (spec(old), spec(new));
    let (live_old, live_new) = (live_with_reservoir(1)?, live_with_reservoir(2)?);
    let _ = writeln!(
        err,
        "both Ready; warming up {:.1}s, then measuring {:.1}s",
        plan.warmup.as_secs_f64(),
        plan.duration.as_secs_f64()
    );
    let started = now_ms();
    let window_start = started + i64::try_from(plan.warmup.as_millis()).unwrap_or(i64::MAX);
    let chaos = async {
        match plan.chaos {
            Some(s) => inject_both(rt, s, config, plan.warmup, plan.duration).await,
            None => Vec::new(),
        }
    };
    let (ticker_stop, ticker_stopped) = oneshot::channel();
    let ticker = tokio::spawn(tick_points(
        [live_old.clone(), live_new.clone()],
        plan.warmup,
        watch.clone(),
        ticker_stopped,
    ));
    let (run_old, run_new, injected) = tokio::join!(
        generator::run(&spec_old, live_old.clone()),
        generator::run(&spec_new, live_new.clone()),
        chaos
    );
    let window_end = now_ms();
    let _ = ticker_stop.send(());
    let series = ticker.await.unwrap_or_default();
    let run_old = run_old.map_err(|e| CompareError::Failed(format!("load on old: {e}")))?;
    let run_new = run_new.map_err(|e| CompareError::Failed(format!("load on new: {e}")))?;
    // A last metrics tick may still be on its way.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop_tx.send(());
    let collected = collector.await.unwrap_or_default();
    for (run, side) in [(&run_old, "old"), (&run_new, "new")] {
        if run.responses() == 0 {
            let kinds: Vec<String> = run
                .errors
                .iter()
                .map(|(k, v)| format!("{}: {v}", k.as_str()))
                .collect();
            return Err(CompareError::Failed(format!(
                "no request to the {side} version got a response ({})",
                kinds.join(", ")
            )));
        }
    }

    let old_samples = samples_ms(&live_old);
    let new_samples = samples_ms(&live_new);
    let mut old = side_stats(&plan.old, &run_old, old_samples.len());
    let mut new = side_stats(&plan.new, &run_new, new_samples.len());
    (old.cpu_pct, old.mem_mib) = resource_means(&collected, OLD_ENV, window_start, window_end);
    (new.cpu_pct, new.mem_mib) = resource_means(&collected, NEW_ENV, window_start, window_end);
    // Resilience after the load, so its faults never touch the measurements.
    let resilience = if plan.include_chaos {
        let lines = score_versions(rt, plan, config, err).await;
        old.resilience_score = lines.first().and_then(|l| l.score);
        new.resilience_score = lines.get(1).and_then(|l| l.score);
        Some(lines)
    } else {
        None
    };
    let error_rate_p_value = two_proportion_p(old.errors, old.requests, new.errors, new.requests);
    let _ = writeln!(err, "measured; computing statistics");
    let score = |v: Option<f64>| v.map_or("-".into(), |s| format!("{s:.0}"));
    watch.ended(
        STAGE_MEASURE,
        StageStatus::Succeeded,
        format!(
            "{} {:.0} req/s p95 {:.1}ms · {} {:.0} req/s p95 {:.1}ms{}",
            plan.old,
            old.rps,
            old.p95_ms,
            plan.new,
            new.rps,
            new.p95_ms,
            if resilience.is_some() {
                format!(
                    " · resilience {}/100 vs {}/100",
                    score(old.resilience_score),
                    score(new.resilience_score)
                )
            } else {
                String::new()
            }
        ),
    );
    watch.started(STAGE_STATISTICS);
    // Ranking and 1000 bootstrap resamples are CPU work: off the executor.
    let (mann_whitney, p95_ci) = tokio::task::spawn_blocking(move || {
        (
            mann_whitney(&old_samples, &new_samples),
            bootstrap_quantile_diff(
                &old_samples,
                &new_samples,
                0.95,
                BOOTSTRAP_RESAMPLES,
                0.95,
                BOOTSTRAP_SEED,
            ),
        )
    })
    .await
    .map_err(|e| CompareError::Failed(format!("computing statistics: {e}")))?;
    let evidence = Evidence {
        mann_whitney,
        p95_diff_ci_ms: p95_ci,
        error_rate_p_value,
    };
    let assessment = assess_with(&old, &new, &plan.rules, &evidence);
    watch.ended(
        STAGE_STATISTICS,
        StageStatus::Succeeded,
        "Mann-Whitney U, bootstrap CI of the p95 difference",
    );
    let chaos = plan.chaos.map(|scenario| {
        [OLD_ENV, NEW_ENV]
            .iter()
            .zip(injected)
            .map(|(env, r)| ChaosLine::from_run(env, scenario, r, &collected.experiments))
            .collect()
    });
    Ok(ComparisonReport {
        old,
        new,
        load: LoadDescription {
            pacing: match plan.pacing {
                Pacing::Closed => "closed",
                Pacing::Open { .. } => "open",
            },
            rate_per_side: match plan.pacing {
                Pacing::Open { rate } => Some(rate),
                Pacing::Closed => None,
            },
            concurrency_per_side: plan.concurrency,
            warmup_secs: plan.warmup.as_secs_f64(),
            duration_secs: plan.duration.as_secs_f64(),
            endpoints: plan.endpoints.iter().map(|e| e.path.clone()).collect(),
        },
        thresholds: plan.rules.relative,
        limits: plan.rules.limits,
        evidence,
        assessment,
        chaos,
        resilience,
        events_lost: collected.lagged + collected.dropped_points,
        promotion: Promotion::default(),
        series,
    })
}

/// Longest series kept per side (one point a second).
pub(super) const MAX_SERIES_POINTS: usize = 3600;

/// One point a second per side from the generators' live counters, sent to
/// the watcher and kept for the report, until `stop`.
pub(super) async fn tick_points(
    lives: [Arc<Live>; 2],
    warmup: Duration,
    watch: Watcher,
    mut stop: oneshot::Receiver<()>,
) -> SideSeries {
    let mut series = SideSeries::default();
    let mut last = [(0u64, 0u64); 2];
    let mut was_measuring = false;
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = &mut stop => return series,
            _ = tick.tick() => {}
        }
        let measuring = lives[0]
            .measuring
            .load(std::sync::atomic::Ordering::Relaxed);
        if measuring && !was_measuring {
            // The counters restart when measuring starts.
            was_measuring = true;
            last = [(0, 0); 2];
            watch.ended(
                STAGE_WARMUP,
                StageStatus::Succeeded,
                format!(
                    "{:.1}s",
                    warmup.as_secs_f64().max(started.elapsed().as_secs_f64())
                ),
            );
            watch.started(STAGE_MEASURE);
        }
        for (i, (live, side)) in lives.iter().zip([Side::Old, Side::New]).enumerate() {
            let reqs = live.requests.load(std::sync::atomic::Ordering::Relaxed);
            let errs = live.errors.load(std::sync::atomic::Ordering::Relaxed);
            let dreq = reqs.saturating_sub(last[i].0);
            let derr = errs.saturating_sub(last[i].1);
            last[i] = (reqs, errs);
            let (p50, p95, p99) = live.take_window_quantiles();
            let point = MetricPoint {
                ts: now_ms(),
                rps: dreq as f64,
                error_rate: if dreq > 0 {
                    derr as f64 / dreq as f64
                } else {
                    0.0
                },
                p50_ms: p50,
                p95_ms: p95,
                p99_ms: p99,
                cpu_pct: 0.0,
                mem_mib: 0.0,
            };
            let kept = match side {
                Side::Old => &mut series.old,
                Side::New => &mut series.new,
            };
            if kept.len() < MAX_SERIES_POINTS {
                kept.push(point.clone());
            }
            watch.send(CompareEvent::Point { side, point });
        }
    }
}
