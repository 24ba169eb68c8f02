//! The separate sandbox a comparison runs in: start, wait, collect, stop.

use super::*;

/// Start the comparison sandbox, measure, and tear everything down whatever
/// happened (Ctrl-C included).
pub(super) async fn run_isolated(
    plan: &Plan,
    ctx: &CompareContext,
    watch: &Watcher,
    err: &mut (dyn Write + Send),
) -> Result<ComparisonReport, CompareError> {
    watch.started(STAGE_START);
    let result = run_isolated_inner(plan, ctx, watch, err).await;
    if let Err(e) = &result {
        // Whatever stage was running ends with the error.
        for i in [STAGE_START, STAGE_WARMUP, STAGE_MEASURE, STAGE_STATISTICS] {
            watch.ended(i, StageStatus::Failed(e.to_string()), "");
        }
    }
    result
}

pub(super) async fn run_isolated_inner(
    plan: &Plan,
    ctx: &CompareContext,
    watch: &Watcher,
    err: &mut (dyn Write + Send),
) -> Result<ComparisonReport, CompareError> {
    let dir = ctx
        .state
        .dir
        .join(format!("compare-{}", std::process::id()));
    // A leftover of a crashed run whose pid was reused: start fresh.
    if tokio::fs::try_exists(&dir).await.unwrap_or(false) {
        tokio::fs::remove_dir_all(&dir)
            .await
            .map_err(|e| CompareError::Failed(format!("removing stale {}: {e}", dir.display())))?;
    }
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| CompareError::Failed(format!("creating {}: {e}", dir.display())))?;
    // Git refs: worktrees (and builds) first; Ctrl-C stops a long build too.
    let prepared = tokio::select! {
        p = git::prepare(&ctx.config, &ctx.config_dir, &plan.old, &plan.new, &dir, err) => p,
        _ = tokio::signal::ctrl_c() => Err(CompareError::Interrupted),
    };
    let prepared = match prepared {
        Ok(p) => p,
        Err(e) => {
            let _ = tokio::fs::remove_dir_all(&dir).await;
            let _ = git_prune(&ctx.config_dir).await;
            return Err(e);
        }
    };
    let mut plan = plan.clone();
    plan.old = prepared.old.clone();
    plan.new = prepared.new.clone();
    plan.evidence_dirs = [&plan.old, &plan.new].map(|v| {
        Some(
            prepared
                .workdirs
                .get(v)
                .cloned()
                .unwrap_or_else(|| ctx.config_dir.clone()),
        )
    });
    let plan = &plan;
    let mut config = comparison_config(&ctx.config, &plan.old, &plan.new);
    for (version, workdir) in &prepared.workdirs {
        config
            .service
            .versions
            .entry(version.clone())
            .or_default()
            .workdir = workdir.display().to_string();
    }
    let _ = writeln!(
        err,
        "starting {} (old) and {} (new) side by side in {}",
        plan.old,
        plan.new,
        dir.display()
    );
    let opts = SandboxOptions {
        config: Arc::new(config),
        config_dir: ctx.config_dir.clone(),
        service_program: ctx.service_program.clone(),
        state: StatePaths::at(&dir),
    };
    let result = match SandboxRuntime::start(opts).await {
        Err(e) => Err(CompareError::Failed(format!(
            "starting the comparison sandbox: {e}"
        ))),
        Ok(rt) => {
            let result = tokio::select! {
                r = measure(&rt, plan, &ctx.config, watch, err) => r,
                _ = tokio::signal::ctrl_c() => Err(CompareError::Interrupted),
            };
            if tokio::time::timeout(SHUTDOWN_TIMEOUT, rt.shutdown())
                .await
                .is_err()
            {
                let _ = writeln!(
                    err,
                    "warning: the comparison sandbox did not stop within {}s",
                    SHUTDOWN_TIMEOUT.as_secs()
                );
            }
            result
        }
    };
    prepared.cleanup(err).await;
    if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
        if e.kind() != std::io::ErrorKind::NotFound {
            let _ = writeln!(err, "warning: could not remove {}: {e}", dir.display());
        }
    }
    result
}

/// After a failed preparation some worktrees may be half made: let git
/// forget the ones whose directories are gone.
pub(super) async fn git_prune(config_dir: &std::path::Path) -> std::io::Result<()> {
    tokio::process::Command::new("git")
        .arg("-C")
        .arg(config_dir)
        .args(["worktree", "prune"])
        .output()
        .await
        .map(|_| ())
}

/// Everything the event collector saw.
#[derive(Debug, Default)]
pub(super) struct Collected {
    /// Per environment: `(ts, cpu_pct, mem_mib)`.
    pub(super) points: BTreeMap<String, Vec<(i64, f64, f64)>>,
    /// Points not kept because an environment's buffer was full.
    pub(super) dropped_points: u64,
    /// Events the runtime dropped because we lagged.
    pub(super) lagged: u64,
    /// Latest snapshot of each experiment.
    pub(super) experiments: BTreeMap<String, Experiment>,
}

pub(super) async fn collect(
    mut rx: mpsc::Receiver<RuntimeEvent>,
    mut stop: oneshot::Receiver<()>,
) -> Collected {
    let mut c = Collected::default();
    loop {
        let ev = tokio::select! {
            biased;
            _ = &mut stop => break,
            ev = rx.recv() => ev,
        };
        match ev {
            None => break,
            Some(RuntimeEvent::Metrics { env, point, .. }) => {
                let v = c.points.entry(env).or_default();
                if v.len() < MAX_POINTS_PER_ENV {
                    v.push((point.ts, point.cpu_pct, point.mem_mib));
                } else {
                    c.dropped_points += 1;
                }
            }
            Some(RuntimeEvent::Lagged { count }) => c.lagged += count,
            Some(RuntimeEvent::Experiment { experiment }) => {
                if c.experiments.len() < MAX_EXPERIMENTS
                    || c.experiments.contains_key(&experiment.id)
                {
                    c.experiments.insert(experiment.id.clone(), experiment);
                }
            }
            Some(_) => {}
        }
    }
    c
}

/// Mean CPU and memory of `env`'s points within `[from, to]` (epoch ms).
pub(super) fn resource_means(
    c: &Collected,
    env: &str,
    from: i64,
    to: i64,
) -> (Option<f64>, Option<f64>) {
    let pts: Vec<&(i64, f64, f64)> = c
        .points
        .get(env)
        .map(|v| v.iter().filter(|p| p.0 >= from && p.0 <= to).collect())
        .unwrap_or_default();
    if pts.is_empty() {
        return (None, None);
    }
    let n = pts.len() as f64;
    (
        Some(pts.iter().map(|p| p.1).sum::<f64>() / n),
        Some(pts.iter().map(|p| p.2).sum::<f64>() / n),
    )
}

pub(super) async fn wait_ready(
    rt: &SandboxRuntime,
) -> Result<Vec<EnvironmentStatus>, CompareError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let envs = rt
            .status()
            .await
            .map_err(|e| CompareError::Failed(format!("reading the sandbox status: {e}")))?;
        let ready = [OLD_ENV, NEW_ENV].iter().all(|name| {
            envs.iter().find(|e| e.name == *name).is_some_and(|e| {
                let (ready, desired) = e.ready_desired();
                desired > 0 && ready >= desired
            })
        });
        if ready {
            return Ok(envs);
        }
        if Instant::now() >= deadline {
            let detail: Vec<String> = envs
                .iter()
                .map(|e| {
                    let phases: Vec<String> = e
                        .instances
                        .iter()
                        .map(|i| format!("{} {}", sanitize_str(&i.id), i.phase.label()))
                        .collect();
                    format!("{}: [{}]", sanitize_str(&e.name), phases.join(", "))
                })
                .collect();
            return Err(CompareError::Failed(format!(
                "the two versions were not Ready within {}s ({})",
                READY_TIMEOUT.as_secs(),
                detail.join("; ")
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(super) fn router(envs: &[EnvironmentStatus], name: &str) -> Result<Target, CompareError> {
    crate::perf::router_target(envs, name, "sandbox")
        .map_err(|e| CompareError::Failed(e.to_string()))
}

pub(super) fn live_with_reservoir(seed: u64) -> Result<Arc<Live>, CompareError> {
    let window = generator::new_histogram()
        .map_err(|e| CompareError::Failed(format!("latency histogram: {e}")))?;
    Ok(Arc::new(Live {
        samples: Some(Mutex::new(Reservoir::new(RESERVOIR_CAPACITY, seed))),
        window: Some(Mutex::new(window)),
        ..Live::default()
    }))
}

/// Latency samples in ms, taken out of a run's reservoir.
pub(super) fn samples_ms(live: &Live) -> Vec<f64> {
    live.samples
        .as_ref()
        .map(|r| {
            r.lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .into_iter()
                .map(|us| us as f64 / 1000.0)
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn side_stats(version: &str, stats: &RunStats, samples: usize) -> SideStats {
    let server_errors: u64 = stats.statuses.range(500..).map(|(_, n)| n).sum();
    let errors = server_errors + stats.transport_errors();
    let secs = stats.elapsed.as_secs_f64();
    let q = |p: f64| stats.corrected.value_at_quantile(p) as f64 / 1000.0;
    let has = !stats.corrected.is_empty();
    SideStats {
        version: version.to_string(),
        requests: stats.requests,
        errors,
        duration_secs: secs,
        rps: if secs > 0.0 {
            stats.requests as f64 / secs
        } else {
            0.0
        },
        error_rate: if stats.requests > 0 {
            errors as f64 / stats.requests as f64
        } else {
            0.0
        },
        p50_ms: if has { q(0.50) } else { 0.0 },
        p95_ms: if has { q(0.95) } else { 0.0 },
        p99_ms: if has { q(0.99) } else { 0.0 },
        cpu_pct: None,
        mem_mib: None,
        resilience_score: None,
        samples,
    }
}
