//! Running the suite against a runtime, one scenario after another.

use std::path::Path;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{interval, Instant, MissedTickBehavior};

use super::evidence::{self, BreakerLog, BreakerProbe, BreakerReading};
use super::watch::{finished, EnvWatch};
use super::{report, Learner, Progress, Step, StepTiming, SuitePlan, SuiteReport};
use crate::clock::now_ms;
use crate::domain::chaos::{
    mitigations_for, resilience_score, with_suite_figures, Experiment, ExperimentState, Figures,
    Observed, Practice, ScenarioKind, ScenarioVerdict, Scorecard,
};
use crate::domain::environment::Health;
use crate::domain::metrics::MetricPoint;
use crate::runtime::{Actor, Runtime, RuntimeError, RuntimeEvent, Support};

/// Error rate at which a breach is critical (see `Severity::rule`).
const CRITICAL_ERROR_RATE: f64 = 0.5;
/// Recovered means this many samples in a row back within tolerance.
const RECOVERED_SAMPLES: usize = 2;
/// Beyond the fault and the recovery SLO, how long to wait for the engine.
const ENGINE_SLACK: Duration = Duration::from_secs(30);
/// Scenarios during which the service's breakers are read every second.
const BREAKER_SCENARIOS: [ScenarioKind; 4] = [
    ScenarioKind::DependencyTimeout,
    ScenarioKind::DbDown,
    ScenarioKind::KafkaDown,
    ScenarioKind::DbLatency,
];
/// How long an instant fault's aftermath is watched at least, for figures
/// that come once a second (the load's, Prometheus').
const INSTANT_OBSERVE_MIN: Duration = Duration::from_secs(3);
/// How long a scenario waits for a healthy environment before its baseline.
const HEALTHY_WAIT: Duration = Duration::from_secs(30);

/// Where steps 7 and 8 send the finished suite.
pub struct Sinks<'a> {
    /// `reports/chaos` of the project; `None` writes no files.
    pub reports_dir: Option<&'a Path>,
    pub learner: Option<&'a dyn Learner>,
    /// The project's folder, read for the scorecard's evidence; `None`
    /// leaves the practices only the running service can show.
    pub project_dir: Option<&'a Path>,
    /// Request metrics from outside the runtime, used while it publishes
    /// none of its own (Kubernetes); `None` reads only the runtime's.
    pub metrics: Option<ExternalMetrics>,
}

/// An external source's events (`RuntimeEvent::Metrics` of
/// `<version>@<source>` series, and its `Source` state), fed by the caller.
pub struct ExternalMetrics {
    pub events: mpsc::Receiver<RuntimeEvent>,
    /// How old a point may be and still count: its source evaluates every
    /// step, not every second.
    pub stale_ms: i64,
}

/// The next external event; never, when there is no source (or it ended).
async fn next_external(external: &mut Option<mpsc::Receiver<RuntimeEvent>>) -> RuntimeEvent {
    if let Some(rx) = external {
        if let Some(ev) = rx.recv().await {
            return ev;
        }
        *external = None;
    }
    std::future::pending().await
}

struct Suite<'a, P: FnMut(Progress)> {
    rt: &'a dyn Runtime,
    actor: &'a Actor,
    plan: &'a SuitePlan,
    events: mpsc::Receiver<RuntimeEvent>,
    external: Option<mpsc::Receiver<RuntimeEvent>>,
    watch: EnvWatch,
    steps: Vec<StepTiming>,
    progress: &'a mut P,
    probe: BreakerProbe,
    breakers: BreakerLog,
}

/// Run every scenario of `plan` on `rt`, then write the report and hand it
/// to the learner. Refused scenarios are listed with the runtime's reason.
pub async fn run_suite<P: FnMut(Progress)>(
    rt: &dyn Runtime,
    actor: &Actor,
    plan: &SuitePlan,
    mut sinks: Sinks<'_>,
    progress: &mut P,
) -> Result<SuiteReport, RuntimeError> {
    let started_at = now_ms();
    let events = rt.subscribe().await?;
    let mut watch = EnvWatch::new(&plan.env);
    let external = sinks.metrics.take().map(|m| {
        watch.external_stale_ms = m.stale_ms;
        m.events
    });
    let mut suite = Suite {
        rt,
        actor,
        plan,
        events,
        external,
        watch,
        steps: Vec::new(),
        progress,
        probe: BreakerProbe::default(),
        breakers: BreakerLog::default(),
    };
    let mut verdicts = Vec::new();
    let mut refused = Vec::new();
    let mut stopped_early = None;
    for &scenario in &plan.scenarios {
        match suite.scenario(scenario).await? {
            Outcome::Refused(reason) => refused.push((scenario, reason)),
            Outcome::Judged(v, stop) => {
                (suite.progress)(Progress::Verdict(v.clone()));
                verdicts.push(*v);
                if stop.is_some() {
                    stopped_early = stop;
                    break;
                }
            }
        }
    }
    let practices = evidence::gather(
        rt,
        &plan.env,
        (started_at, now_ms()),
        sinks.project_dir,
        &suite.breakers,
    )
    .await;
    for v in &mut verdicts {
        v.mitigations = mitigations_for(v.scenario, &practices);
    }
    let score = resilience_score(&verdicts);
    let mut out = SuiteReport {
        env: plan.env.clone(),
        runtime: rt.name().to_string(),
        started_at,
        finished_at: now_ms(),
        plan: plan.clone(),
        score,
        verdicts,
        steps: Vec::new(),
        stopped_early,
        refused,
        scorecard: Scorecard {
            score,
            checklist: practices
                .into_iter()
                .filter(|c| Practice::CHECKLIST.contains(&c.practice))
                .collect(),
        },
    };
    out.steps = suite.steps.clone();
    if let Some(dir) = sinks.reports_dir {
        let t = now_ms();
        let note = match report::write_report(dir, &out) {
            Ok(paths) => format!("{} and {}", paths.markdown.display(), paths.json.display()),
            Err(e) => format!("not written: {e}"),
        };
        suite.done(None, Step::Report, t, note);
    }
    if let Some(learner) = sinks.learner {
        let t = now_ms();
        let note = learner
            .learn(&out)
            .unwrap_or_else(|e| format!("not handed over: {e}"));
        suite.done(None, Step::Learn, t, note);
    }
    out.steps = suite.steps;
    out.finished_at = now_ms();
    Ok(out)
}

enum Outcome {
    Refused(String),
    /// The verdict, and why the suite must stop here, if it must.
    Judged(Box<ScenarioVerdict>, Option<String>),
}

impl<P: FnMut(Progress)> Suite<'_, P> {
    fn done(&mut self, scenario: Option<ScenarioKind>, step: Step, started_at: i64, note: String) {
        let timing = StepTiming {
            scenario,
            step,
            started_at,
            took_ms: now_ms() - started_at,
            note,
        };
        (self.progress)(Progress::StepDone(timing.clone()));
        self.steps.push(timing);
    }

    /// Wait for the next event or tick; folds events into the watch.
    /// `Some(sample)` on a tick with metrics to show.
    async fn next(
        &mut self,
        tick: &mut tokio::time::Interval,
    ) -> Result<Option<MetricPoint>, RuntimeError> {
        tokio::select! {
            ev = self.events.recv() => match ev {
                Some(ev) => { self.watch.fold(ev); Ok(None) }
                None => Err(RuntimeError::Unavailable("the runtime's event stream ended during the chaos suite".into())),
            },
            ev = next_external(&mut self.external) => { self.watch.fold(ev); Ok(None) }
            _ = tick.tick() => Ok(self.watch.sample(now_ms())),
        }
    }

    async fn scenario(&mut self, scenario: ScenarioKind) -> Result<Outcome, RuntimeError> {
        // Refused before any baseline is spent on it.
        if let Some(Support::No(why)) = self.rt.capabilities().scenarios.get(scenario.name()) {
            let t = now_ms();
            self.done(Some(scenario), Step::Inject, t, format!("refused: {why}"));
            return Ok(Outcome::Refused(why.clone()));
        }
        self.wait_healthy(scenario).await?;
        let mut tick = interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let baseline = self.baseline(scenario, &mut tick).await?;
        let t = now_ms();
        let x = match self
            .rt
            .inject(
                self.actor,
                &self.plan.env,
                scenario,
                // db-latency's own default (2 s) unless a latency was asked for.
                self.plan.params.clone().for_scenario(scenario),
            )
            .await
        {
            Ok(x) => x,
            Err(e @ (RuntimeError::Refused(_) | RuntimeError::ReadOnly(_))) => {
                self.done(Some(scenario), Step::Inject, t, e.refusal());
                return Ok(Outcome::Refused(e.to_string()));
            }
            Err(e) => return Err(e),
        };
        (self.progress)(Progress::Injected(x.id.clone()));
        self.done(
            Some(scenario),
            Step::Inject,
            t,
            format!("experiment {} (journaled, then applied)", x.id),
        );
        self.watch.take_fewest_ready();
        self.watch.set_experiment(x.clone());
        let (seen, stop) = self.observe(scenario, &x.id, &mut tick).await?;
        let x = self.experiment_now(&x.id).await?;
        let t = now_ms();
        let judged = with_suite_figures(&x, &seen);
        let breaches: Vec<String> = self
            .plan
            .slo
            .checks(judged.peak_error_rate, judged.peak_p99_ms, Some(0))
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.describe())
            .collect();
        let note = if judged.requests_unmeasured {
            "request SLOs not measured: the runtime reports no request figures, and neither Prometheus nor the load gave any (prometheus.url, --load)".to_string()
        } else if breaches.is_empty() {
            "every SLO held while the fault was on".to_string()
        } else {
            breaches.join(", ")
        };
        self.done(Some(scenario), Step::Validate, t, note);
        let removed_at = self.recover(scenario, &x, stop.is_some()).await?;
        let (x, recovery_ms) = self
            .verify(scenario, &x.id, &baseline, removed_at, &mut tick)
            .await?;
        let mut verdict = ScenarioVerdict::judge(&x, baseline, &seen, &self.plan.slo, recovery_ms);
        if let Some(why) = &stop {
            verdict.aborted = Some(why.clone());
        }
        Ok(Outcome::Judged(Box::new(verdict), stop))
    }

    /// One round of the instances' `/metrics` for circuit-breaker state.
    async fn probe_breakers(&mut self) -> Option<BreakerReading> {
        let targets = self.watch.metrics_targets().to_vec();
        let reading = if targets.is_empty() {
            None
        } else {
            self.probe.read(&targets).await
        };
        self.breakers.note(&targets, reading);
        reading
    }

    /// A baseline is only worth taking on a healthy environment: wait for
    /// it (a previous scenario's instance may still be coming back), and
    /// say so when it never gets there.
    async fn wait_healthy(&mut self, scenario: ScenarioKind) -> Result<(), RuntimeError> {
        let t = now_ms();
        let until = Instant::now() + HEALTHY_WAIT;
        loop {
            let envs = self.rt.status().await?;
            let Some(env) = envs.iter().find(|e| e.name == self.plan.env) else {
                return Err(RuntimeError::UnknownEnvironment(self.plan.env.clone()));
            };
            self.watch.note_instances(env);
            if env.health == Health::Healthy {
                return Ok(());
            }
            if Instant::now() > until {
                let note = format!(
                    "{} is not healthy after {}s; the baseline is taken as it is",
                    self.plan.env,
                    HEALTHY_WAIT.as_secs()
                );
                self.done(Some(scenario), Step::Baseline, t, note);
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn baseline(
        &mut self,
        scenario: ScenarioKind,
        tick: &mut tokio::time::Interval,
    ) -> Result<Figures, RuntimeError> {
        let t = now_ms();
        let until = Instant::now() + Duration::from_secs(self.plan.baseline_secs);
        let mut samples = Vec::new();
        while Instant::now() < until {
            if let Some(s) = self.next(tick).await? {
                samples.push(s);
            }
        }
        let f = Figures::mean_of(&samples);
        // Whether the service exports breaker state at all, before any fault.
        self.probe_breakers().await;
        let note = if f.samples == 0 {
            let why = match &self.watch.external_problem {
                Some(p) => format!(" ({p})"),
                None => String::new(),
            };
            format!("no traffic seen{why}: recovery is judged by the SLO alone")
        } else {
            let requests = format!(
                "{:.1} req/s, p50 {:.0}ms, p95 {:.0}ms, p99 {:.0}ms, errors {:.1}%",
                f.rps,
                f.p50_ms,
                f.p95_ms,
                f.p99_ms,
                f.error_rate * 100.0
            );
            let resources = format!("cpu {:.0}%, mem {:.0} MiB", f.cpu_pct, f.mem_mib);
            let n = f.samples;
            match (self.watch.sampled_external, self.watch.external_source.as_deref()) {
                (false, _) => format!("{requests}, {resources} ({n} samples)"),
                (true, Some(crate::domain::metrics::LOAD_SOURCE)) => format!(
                    "{requests} ({n} samples from the load's clients; cpu and memory not measured: set prometheus.url)"
                ),
                (true, _) => format!("{requests}, {resources} ({n} samples from Prometheus)"),
            }
        };
        self.done(Some(scenario), Step::Baseline, t, note);
        Ok(f)
    }

    /// Until the fault is removed (or the suite must stop): instance counts
    /// and, with `abort_on_critical`, critical breaches.
    async fn observe(
        &mut self,
        scenario: ScenarioKind,
        id: &str,
        tick: &mut tokio::time::Interval,
    ) -> Result<(Observed, Option<String>), RuntimeError> {
        let t = now_ms();
        let limit =
            Instant::now() + Duration::from_secs(self.plan.params.duration_secs) + ENGINE_SLACK;
        let mut seen = Observed::default();
        let mut worst = 0.0_f64;
        let mut stop = None;
        // An instant fault (pod-kill) is over once applied: what users see
        // comes while the environment recovers, so that is what is watched.
        let state = |w: &EnvWatch| w.experiment(id).map(|x| x.state.clone());
        let instant = state(&self.watch) != Some(ExperimentState::Running);
        let at_least = Instant::now() + INSTANT_OBSERVE_MIN;
        loop {
            let watching = match (instant, state(&self.watch)) {
                (false, s) => s == Some(ExperimentState::Running),
                (true, s) => s == Some(ExperimentState::Recovering) || Instant::now() < at_least,
            };
            if !watching || Instant::now() > limit {
                break;
            }
            let Some(s) = self.next(tick).await? else {
                continue;
            };
            worst = worst.max(s.error_rate);
            seen.requests
                .get_or_insert_default()
                .add(s.error_rate, s.p99_ms, s.rps);
            if BREAKER_SCENARIOS.contains(&scenario) {
                if let Some(r) = self.probe_breakers().await.filter(|r| r.series > 0) {
                    seen.breaker_opened = Some(seen.breaker_opened.unwrap_or(false) || r.open);
                }
            }
            if let Some(r) = self.watch.take_fewest_ready() {
                seen.fewest_ready = Some(seen.fewest_ready.map_or(r, |old| worse(old, r)));
            }
            if self.plan.abort_on_critical && s.error_rate >= CRITICAL_ERROR_RATE {
                stop = Some(format!(
                    "critical: {:.0}% of requests failed during {scenario}; the fault was removed at once (abort_on_critical_failure)",
                    s.error_rate * 100.0
                ));
                break;
            }
        }
        if let Some(r) = self.watch.take_fewest_ready() {
            seen.fewest_ready = Some(seen.fewest_ready.map_or(r, |old| worse(old, r)));
        }
        let ready = seen
            .fewest_ready
            .map(|(r, d)| format!(", fewest ready {r}/{d}"))
            .unwrap_or_default();
        self.done(
            Some(scenario),
            Step::Observe,
            t,
            format!("worst sampled error rate {:.1}%{ready}", worst * 100.0),
        );
        Ok((seen, stop))
    }

    /// Step 5: the engine removes the fault when its time is up; a critical
    /// stop removes it now. The answer is when it was removed.
    async fn recover(
        &mut self,
        scenario: ScenarioKind,
        x: &Experiment,
        now: bool,
    ) -> Result<i64, RuntimeError> {
        let t = now_ms();
        if now && x.state == ExperimentState::Running {
            self.rt.undo(self.actor, &x.id).await?;
            self.done(
                Some(scenario),
                Step::Recover,
                t,
                format!("removed {} early", x.id),
            );
            return Ok(now_ms());
        }
        let removed_at = if x.state == ExperimentState::Running {
            now_ms()
        } else {
            x.ends_at
        };
        self.done(
            Some(scenario),
            Step::Recover,
            t,
            format!(
                "the engine removed the fault at +{:.1}s",
                (removed_at - x.started_at) as f64 / 1000.0
            ),
        );
        Ok(removed_at)
    }

    /// Step 6: metrics back within tolerance of the baseline, timed from the
    /// removal, and the engine's own judgement of the experiment.
    async fn verify(
        &mut self,
        scenario: ScenarioKind,
        id: &str,
        baseline: &Figures,
        removed_at: i64,
        tick: &mut tokio::time::Interval,
    ) -> Result<(Experiment, Option<i64>), RuntimeError> {
        let t = now_ms();
        let limit =
            Instant::now() + Duration::from_secs(self.plan.slo.max_recovery_secs) + ENGINE_SLACK;
        let mut streak: Vec<i64> = Vec::new();
        let mut back_at = None;
        loop {
            let engine_done = self.watch.experiment(id).is_some_and(finished);
            let measured = baseline.samples == 0 || back_at.is_some();
            if (engine_done && measured) || Instant::now() > limit {
                break;
            }
            let Some(s) = self.next(tick).await? else {
                continue;
            };
            if back_at.is_none() && baseline.samples > 0 {
                if self.plan.tolerance.recovered(baseline, &s) {
                    streak.push(s.ts);
                } else {
                    streak.clear();
                }
                if streak.len() >= RECOVERED_SAMPLES {
                    back_at = streak.first().copied();
                }
            }
        }
        let x = self.experiment_now(id).await?;
        let recovery_ms = if baseline.samples == 0 {
            x.recovery_ms
        } else {
            back_at.map(|at| (at - removed_at).max(0))
        };
        let note = match recovery_ms {
            Some(ms) if baseline.samples == 0 => format!(
                "within the SLO {:.1}s after removal (no baseline)",
                ms as f64 / 1000.0
            ),
            Some(ms) => format!(
                "back within tolerance of the baseline {:.1}s after removal",
                ms as f64 / 1000.0
            ),
            None => "not back to the baseline before the recovery limit".to_string(),
        };
        self.done(Some(scenario), Step::VerifyRecovery, t, note);
        Ok((x, recovery_ms))
    }

    /// The experiment as the runtime last reported it, from the history when
    /// events were lost.
    async fn experiment_now(&mut self, id: &str) -> Result<Experiment, RuntimeError> {
        if self.watch.lagged > 0 || self.watch.experiment(id).is_none() {
            let history = self.rt.history().await?;
            if let Some(x) = history.experiments.into_iter().find(|x| x.id == id) {
                self.watch.set_experiment(x);
            }
            self.watch.lagged = 0;
        }
        self.watch
            .experiment(id)
            .cloned()
            .ok_or_else(|| RuntimeError::NotFound(format!("experiment {id}")))
    }
}

/// The lower share of ready instances.
fn worse(a: (u32, u32), b: (u32, u32)) -> (u32, u32) {
    if u64::from(b.0) * u64::from(a.1) < u64::from(a.0) * u64::from(b.1) {
        b
    } else {
        a
    }
}
