//! `chaos`: the catalogue (`--list`), one fault started (`--no-wait`), or
//! the FMEA suite built from blissful-infra.yaml and the flags, with the
//! perf generator as its load.

use std::time::Duration;

use color_eyre::Result;

use super::setup::{load_config, state_paths};
use crate::cli::args::{ChaosArgs, GlobalArgs};
use crate::cli::{self, exit, OutputMode};
use crate::config::Config;
use crate::domain::chaos::{FaultParams, ScenarioKind, Tolerance};
use crate::faults::suite::{ExternalMetrics, JsonlLearner, Sinks, SuitePlan};
use crate::runtime::{Actor, Runtime, SharedRuntime};

/// Load runs this long before the first baseline is taken.
pub(super) const LOAD_WARMUP: Duration = Duration::from_secs(3);

/// `chaos --list`: needs no runtime; each runtime's support is its own.
pub fn list(mode: OutputMode) -> i32 {
    let sandbox = crate::sandbox::engine::scenario_support();
    let docker = crate::docker::chaos::scenario_support();
    let kubernetes = crate::kubernetes::chaos::scenario_support();
    let runtimes = [
        ("sandbox", &sandbox),
        ("docker", &docker),
        ("kubernetes", &kubernetes),
    ];
    let text = match mode {
        OutputMode::Table => cli::output::catalogue_table(&runtimes),
        OutputMode::Json => {
            let doc: Vec<serde_json::Value> = ScenarioKind::every()
                .map(|k| {
                    let support: serde_json::Map<String, serde_json::Value> = runtimes
                        .iter()
                        .map(|(name, s)| ((*name).to_string(), serde_json::json!(s.get(k.name()))))
                        .collect();
                    serde_json::json!({ "scenario": k.name(), "description": k.description(), "support": support })
                })
                .collect();
            match cli::output::json_document(&doc) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::FAILED;
                }
            }
        }
    };
    print!("{text}");
    exit::OK
}

/// Which scenarios a suite runs: the one asked for, else the configured
/// list, else every scenario the runtime offers.
fn scenarios(
    asked: Option<ScenarioKind>,
    configured: &[ScenarioKind],
    rt: &dyn Runtime,
) -> Vec<ScenarioKind> {
    if let Some(k) = asked {
        return vec![k];
    }
    if !configured.is_empty() {
        return configured.to_vec();
    }
    let caps = rt.capabilities();
    ScenarioKind::every()
        .filter(|k| caps.offers_scenario(*k))
        .collect()
}

fn params(base: FaultParams, f: &ChaosArgs) -> Result<FaultParams, String> {
    let mut p = base;
    if let Some(d) = f.duration {
        p.duration_secs = d;
    }
    if let Some(l) = f.latency_ms {
        p.latency_ms = l;
    }
    if let Some(r) = f.rate {
        if !(r > 0.0 && r <= 1.0) {
            return Err(format!("--rate must be within (0, 1], got {r}"));
        }
        p.rate = r;
    }
    Ok(p)
}

/// How old a point of the load's own figures (one a second) may be.
const LOAD_FIGURES_STALE_MS: i64 = 2500;

/// The suite for `scenarios` on `env`, as blissful-infra.yaml sets it up.
/// The configured Prometheus, polled for the suite's environment: its series
/// count while the runtime publishes no request metrics of its own
/// (Kubernetes). The source stops once the suite drops the receiver.
pub(super) fn prometheus_for_suite(config: &Config, env: &str) -> Option<ExternalMetrics> {
    if config.prometheus.url.is_empty() {
        return None;
    }
    let (tx, events) = tokio::sync::mpsc::channel(1024);
    crate::sources::prometheus::spawn_metrics_source(
        config.prometheus.clone(),
        vec![env.to_string()],
        tx,
    );
    let step_ms = i64::try_from(config.prometheus.step_secs.max(1)).unwrap_or(60) * 1000;
    Some(ExternalMetrics {
        events,
        stale_ms: 2 * step_ms + 1000,
    })
}

pub(super) fn plan_for(
    config: &crate::config::Config,
    env: &str,
    scenarios: Vec<ScenarioKind>,
    params: FaultParams,
    users: u32,
) -> SuitePlan {
    SuitePlan {
        env: env.to_string(),
        scenarios,
        params,
        baseline_secs: config.chaos.baseline_secs,
        slo: config.chaos.slo.clone(),
        tolerance: Tolerance::default(),
        abort_on_critical: config.chaos.abort_on_critical_failure,
        load: (users > 0).then(|| format!("{users} users")),
    }
}

/// `chaos --env E [...]`.
pub async fn run(
    g: &GlobalArgs,
    rt: &SharedRuntime,
    actor: &Actor,
    f: ChaosArgs,
    mode: OutputMode,
) -> Result<i32> {
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    // clap requires --env unless --list, which never gets here.
    let Some(env) = f.env.clone() else {
        eprintln!("error: --env is required");
        return Ok(exit::USAGE);
    };
    let asked = match f
        .scenario
        .as_deref()
        .map(str::parse::<ScenarioKind>)
        .transpose()
    {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    let (config, dir) = match load_config(g, false) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    if let Some(why) = config.chaos.refusal(rt.name()) {
        eprintln!("error: {why} (blissful-infra.yaml)");
        return Ok(exit::REFUSED);
    }
    let params = match params(config.chaos.params(), &f) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    if f.no_wait {
        let Some(k) = asked else {
            return Ok(exit::USAGE);
        };
        if rt.name() == "kubernetes" {
            // No daemon outlives this command, and it removes its faults on exit.
            eprintln!(
                "error: --no-wait is refused on Kubernetes: no blissful-infra process would stay \
                 to end the fault; drop --no-wait (the command waits for recovery) or start it \
                 from the console"
            );
            return Ok(exit::REFUSED);
        }
        let params = params.for_scenario(k);
        return Ok(
            cli::cmd_chaos(rt, actor, &env, k, params, false, mode, &mut out, &mut err).await,
        );
    }
    let users = f.load.unwrap_or(config.chaos.load_during_chaos);
    let plan = plan_for(
        &config,
        &env,
        scenarios(asked, &config.chaos.scenarios, rt.as_ref()),
        params,
        users,
    );
    let load =
        match crate::perf::background_load(rt.as_ref(), &plan.env, users, &config.traffic.paths)
            .await
        {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(exit::UNAVAILABLE);
            }
        };
    // Prometheus sees the service from the inside (CPU, memory too);
    // without it, what the load's clients saw still counts. Started with the
    // load, so figures are flowing when the first baseline begins.
    let metrics = prometheus_for_suite(&config, &plan.env).or_else(|| {
        load.as_ref().map(|l| ExternalMetrics {
            events: l.figures(&plan.env),
            stale_ms: LOAD_FIGURES_STALE_MS,
        })
    });
    if let Some(l) = &load {
        // New connections and cold caches are not the service's steady state.
        eprintln!(
            "load: {users} users against {} at {}; {}s of warm-up before the first baseline",
            plan.env,
            l.target,
            LOAD_WARMUP.as_secs()
        );
        tokio::time::sleep(LOAD_WARMUP).await;
    }
    let reports = dir.join("reports").join("chaos");
    let learner = state_paths(g).ok().map(|s| JsonlLearner {
        path: s.chaos_knowledge(),
    });
    let sinks = Sinks {
        reports_dir: Some(&reports),
        project_dir: Some(&dir),
        learner: learner
            .as_ref()
            .map(|l| l as &dyn crate::faults::suite::Learner),
        metrics,
    };
    let code = cli::chaos::cmd_chaos_suite(rt, actor, &plan, sinks, mode, &mut out, &mut err).await;
    if let Some(l) = load {
        l.abort();
    }
    Ok(code)
}

/// `promote --from A --to B` and the resilience gate.
pub struct GateAsk<'a> {
    pub from: &'a str,
    pub to: &'a str,
    /// `--accept-low-resilience`.
    pub accept: bool,
    /// `--yes`.
    pub yes: bool,
    /// Who overrides a closed gate (written to the audit journal).
    pub user: &'a str,
}

/// `Some(exit code)` when the promotion must not go ahead: A's last FMEA
/// scored below the minimum and the user did not override it (with
/// `--accept-low-resilience`, then confirmed). Says what it found.
pub fn resilience_gate(g: &GlobalArgs, ask: GateAsk<'_>) -> Option<i32> {
    let min = load_config(g, false)
        .map(|(c, _)| c.comparison.thresholds.min_resilience_score)
        .unwrap_or(crate::config::ComparisonThresholds::default().min_resilience_score);
    let gate = match state_paths(g)
        .map_err(|e| format!("the resilience gate cannot find the state directory: {e}"))
        .and_then(|s| super::gate::gate_for(&s.chaos_knowledge(), ask.from, min))
    {
        Ok(gate) => gate,
        Err(e) => {
            eprintln!("error: {e}");
            return Some(exit::FAILED);
        }
    };
    eprintln!("{}", gate.describe(ask.from));
    if !matches!(gate, crate::domain::chaos::Gate::Closed { .. }) {
        return None;
    }
    if !ask.accept {
        eprintln!(
            "error: promote {} → {} refused; run `blissful-infra chaos --env {}` again, or pass --accept-low-resilience to override",
            ask.from, ask.to, ask.from
        );
        return Some(exit::REFUSED);
    }
    let stdin = std::io::stdin();
    let interactive = std::io::IsTerminal::is_terminal(&stdin);
    let mut input = stdin.lock();
    let mut prompt = cli::confirm::Prompt {
        input: &mut input,
        interactive,
    };
    let what = format!("promote {} below the resilience gate", ask.from);
    let c = cli::confirm::Confirmation {
        what: &what,
        env: ask.to,
        protected: true,
        yes: ask.yes,
    };
    if let Err(e) = cli::confirm::confirm(&c, &mut prompt, &mut std::io::stderr()) {
        eprintln!("error: {e}");
        return Some(exit::REFUSED);
    }
    // The override is journaled before the promotion it lets through.
    let written = state_paths(g).map_err(|e| e.to_string()).and_then(|s| {
        super::gate::audit_override(
            &s.audit_journal(),
            ask.user,
            (ask.from, ask.to),
            &gate.describe(ask.from),
        )
    });
    match written {
        Ok(()) => None,
        Err(e) => {
            eprintln!("error: {e}");
            Some(exit::FAILED)
        }
    }
}
