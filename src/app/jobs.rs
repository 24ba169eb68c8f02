//! Long console jobs that are not runtime actions: a load test of an
//! environment and a comparison of two versions. Each runs on its own task
//! and reports back with messages, like every other command.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::msg::Msg;
use crate::compare::{CompareArgs, CompareContext, Watcher};
use crate::config::Config;
use crate::runtime::contexts::ContextHandle;
use crate::runtime::{Actor, SharedRuntime};

/// What the jobs need besides the runtime.
#[derive(Clone, Debug)]
pub struct JobContext {
    pub config: Arc<Config>,
    /// `None` where comparisons cannot run (no binary to start instances).
    pub compare: Option<CompareContext>,
    /// Kubeconfig contexts (`:ctx`); `None` for runtimes without any.
    pub contexts: Option<ContextHandle>,
    /// The project's folder: FMEA reports go to its `reports/chaos`, and
    /// the scorecard reads its files; `None` in the demo.
    pub project_dir: Option<std::path::PathBuf>,
    /// The knowledge file finished suites are appended to (and the
    /// resilience gate reads).
    pub knowledge: Option<std::path::PathBuf>,
    /// Where an override of the resilience gate is journaled.
    pub audit_journal: Option<std::path::PathBuf>,
    /// The local pipeline store and the project whose stages run from the
    /// console; `None` where there is none (tests).
    pub pipeline: Option<PipelineContext>,
}

/// The local pipeline: where its runs are kept, and the project to run
/// (`None` in the demo, which only shows runs).
#[derive(Clone, Debug)]
pub struct PipelineContext {
    pub store: crate::pipeline::RunStore,
    pub project: Option<crate::pipeline::Project>,
}

/// `:ctx` lists the kubeconfig's contexts; `:ctx <name>` watches that
/// cluster from now on (the header then names it).
pub fn spawn_context(ctx: &JobContext, name: Option<String>, tx: mpsc::Sender<Msg>) {
    let label = match &name {
        Some(n) => format!("ctx {n}"),
        None => "ctx".to_string(),
    };
    let handle = ctx.contexts.clone();
    tokio::spawn(async move {
        let result = match (handle, name) {
            (None, _) => Err(
                "contexts belong to `runtime: kubernetes`; this console runs another runtime"
                    .to_string(),
            ),
            (Some(h), None) => {
                h.0.contexts()
                    .map(|l| format!("{} · `:ctx <name>` switches", l.describe()))
            }
            (Some(h), Some(n)) => match h.0.switch_context(&n).await {
                Ok(new_label) => {
                    let _ = tx.send(Msg::RuntimeRenamed(new_label.clone())).await;
                    Ok(format!("now watching {new_label}"))
                }
                Err(e) => Err(e),
            },
        };
        let _ = tx.send(Msg::ActionDone { label, result }).await;
    });
}

/// Load-test `env` with the CLI's defaults; the run shows up through the
/// runtime (Pipeline pane, `load test` series); the summary comes back as a flash.
pub fn spawn_load_test(
    runtime: SharedRuntime,
    ctx: &JobContext,
    env: String,
    tx: mpsc::Sender<Msg>,
) {
    let config = ctx.config.clone();
    tokio::spawn(async move {
        let args = crate::perf::PerfArgs::for_env(&env);
        let mut sink = std::io::sink();
        let actor = Actor::current("console");
        let result =
            crate::perf::run_on_env(runtime, &env, &args, &config, actor, &mut sink, false).await;
        let result = match result {
            Ok((s, problem)) => {
                let verdict = if s.thresholds.passed {
                    "thresholds hold".to_string()
                } else {
                    let why: Vec<&str> = s
                        .thresholds
                        .failures
                        .iter()
                        .map(|f| f.message.as_str())
                        .collect();
                    format!("FAILED: {}", why.join("; "))
                };
                let shown = problem
                    .map(|p| format!(" (not shown: {p})"))
                    .unwrap_or_default();
                if s.thresholds.passed {
                    Ok(format!(
                        "{:.0} req/s, p95 {}, errors {:.2}%, {verdict}{shown}",
                        s.rps,
                        crate::perf::report::ms(s.latency_ms.p95),
                        s.error_rate * 100.0
                    ))
                } else {
                    Err(format!(
                        "{:.0} req/s, p95 {}, errors {:.2}%, {verdict}{shown}",
                        s.rps,
                        crate::perf::report::ms(s.latency_ms.p95),
                        s.error_rate * 100.0
                    ))
                }
            }
            Err(e) => Err(e.to_string()),
        };
        let _ = tx
            .send(Msg::ActionDone {
                label: format!("load test of {env}"),
                result,
            })
            .await;
    });
}

/// Compare `new` against `old` in a separate sandbox, streaming progress.
pub fn spawn_comparison(
    ctx: &JobContext,
    env: String,
    old: String,
    new: String,
    tx: mpsc::Sender<Msg>,
) {
    let Some(compare_ctx) = ctx.compare.clone() else {
        let _ = tx.try_send(Msg::CompareDone(Err(
            "comparisons are not available in this console".into(),
        )));
        return;
    };
    tokio::spawn(async move {
        let (events_tx, mut events_rx) = mpsc::channel(256);
        let forward = {
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(ev) = events_rx.recv().await {
                    if tx.send(Msg::Compare(ev)).await.is_err() {
                        return;
                    }
                }
            })
        };
        let args = CompareArgs::for_versions(&old, &new, Some(&env));
        let mut sink = std::io::sink();
        let result = crate::compare::run(&args, &compare_ctx, &Watcher::new(events_tx), &mut sink)
            .await
            .map(Box::new)
            .map_err(|e| e.to_string());
        // Every progress event is delivered before the result.
        let _ = forward.await;
        let _ = tx.send(Msg::CompareDone(result)).await;
    });
}

/// The console's external log source (Loki, when `loki.url` is set). Its
/// LogQL follows the Logs pane's settled filter: on a change the old
/// stream stops and a new one tails the matching lines from now on (lines
/// already in the pane stay, so nothing is shown twice).
pub struct ExternalLogs {
    cfg: Option<crate::config::LokiConfig>,
    project: String,
    events: mpsc::Sender<crate::runtime::RuntimeEvent>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ExternalLogs {
    /// Start with the project's recent history, unfiltered.
    pub fn start(config: &Config, events: mpsc::Sender<crate::runtime::RuntimeEvent>) -> Self {
        let cfg = (!config.loki.url.trim().is_empty()).then(|| config.loki.clone());
        let mut me = ExternalLogs {
            cfg,
            project: config.project.clone(),
            events,
            task: None,
        };
        me.spawn(None, None, crate::sources::loki::LiveOptions::default());
        me
    }

    /// Follow only `env` and lines matching `grep` from now on.
    pub fn refilter(&mut self, env: Option<String>, grep: Option<String>) {
        let from_now = crate::sources::loki::LiveOptions {
            since: std::time::Duration::ZERO,
            history_limit: 0,
        };
        self.spawn(env, grep, from_now);
    }

    fn spawn(
        &mut self,
        env: Option<String>,
        grep: Option<String>,
        opts: crate::sources::loki::LiveOptions,
    ) {
        let Some(cfg) = &self.cfg else { return };
        if let Some(old) = self.task.take() {
            old.abort();
        }
        let query = crate::sources::loki::LogQuery {
            project: self.project.clone(),
            env,
            grep,
            ..Default::default()
        };
        self.task = Some(crate::sources::loki::spawn_log_source(
            cfg.clone(),
            query,
            opts,
            self.events.clone(),
        ));
    }
}

impl Drop for ExternalLogs {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}
