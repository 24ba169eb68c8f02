//! The console loop: one task owns `App`. Terminal events, runtime events and
//! finished jobs arrive on separate channels; keys are served first so the
//! console stays responsive while logs stream. Frames are drawn only when
//! something changed, at most `max_fps` times a second (keys draw at once).

use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::disconnect::{terminal_gone, Ended, FaultLedger};
use super::frame_dump::FrameDump;
use super::panic_drill::{drill, fire, PanicDrill};
use crate::agent::Agent;
use crate::app::jobs::JobContext;
use crate::app::msg::{Command, Msg, RuntimeCommand};
use crate::app::state::App;
use crate::clock::{now_ms, steady_ms};
use crate::domain::log_overlap::LogOverlap;
use crate::runtime::{Actor, History, RuntimeEvent, SharedRuntime, SourceState};
use crate::tui::Term;
use crate::ui::theme::Theme;

/// Most runtime events folded into state before the next key check/frame.
const BATCH: usize = 4096;
/// After this long without a key, data-only redraws slow to `console.idle_fps`.
const IDLE_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Default)]
pub struct LoopStats {
    pub frames: u64,
    pub started: Option<Instant>,
    pub first_frame_ms: Option<f64>,
    pub ended: Ended,
}

/// What the loop needs besides the terminal, the runtime and the state.
pub struct LoopContext {
    pub theme: Theme,
    pub started: Instant,
    /// Fires when `down` stopped the runtime this console embeds.
    pub stop_requested: Option<tokio::sync::watch::Receiver<bool>>,
    pub jobs: JobContext,
    /// The faults this console starts are written here.
    pub ledger: FaultLedger,
}

/// Run until the user quits or a signal arrives.
pub async fn run(
    terminal: &mut Term,
    runtime: SharedRuntime,
    mut app: App,
    ctx: LoopContext,
) -> color_eyre::Result<LoopStats> {
    let LoopContext {
        theme,
        started,
        stop_requested,
        jobs,
        ledger,
    } = ctx;
    // Asked once: what the console offers follows from it, not the name.
    app.capabilities = Some(runtime.capabilities());
    let (internal_tx, mut internal_rx) = mpsc::channel::<Msg>(256);
    if let Some(mut stop) = stop_requested {
        // `blissful-infra down` stopped the sandbox this console embeds.
        let tx = internal_tx.clone();
        tokio::spawn(async move {
            while stop.changed().await.is_ok() {
                if *stop.borrow() {
                    let _ = tx
                        .send(Msg::Signal("a shutdown request on the control socket"))
                        .await;
                    return;
                }
            }
        });
    }
    let (events_tx, mut events_rx) = mpsc::channel::<RuntimeEvent>(16_384);

    spawn_signal_watch(internal_tx.clone());
    if !app.config.prometheus.url.is_empty() {
        let envs = app.config.environments.iter().map(|e| e.name.clone());
        // The range queries cover what the Metrics pane shows.
        let history = Duration::from_secs(
            app.config.prometheus.step_secs.max(1) * app.config.console.metric_points.max(1) as u64,
        );
        crate::sources::prometheus::spawn_metrics_source_with_history(
            app.config.prometheus.clone(),
            envs.collect(),
            history,
            events_tx.clone(),
        );
    }
    // The project's lines from Loki (Docker or Kubernetes environments)
    // join the runtime's in the same bounded Logs pane.
    let mut external_logs = crate::app::jobs::ExternalLogs::start(&app.config, events_tx.clone());
    spawn_runtime_feed(runtime.clone(), events_tx, internal_tx.clone());
    let (agent_tx, mut agent_rx) = mpsc::channel(256);
    let agent_to_app = internal_tx.clone();
    tokio::spawn(async move {
        while let Some(ev) = agent_rx.recv().await {
            if agent_to_app.send(Msg::Agent(ev)).await.is_err() {
                return;
            }
        }
    });
    let mut agent = Agent::start(app.config.agent.clone(), agent_tx);

    let mut terminal_events = EventStream::new();
    let frame_interval =
        Duration::from_millis(1000 / u64::from(app.config.console.max_fps.clamp(1, 120)));
    let idle_interval =
        Duration::from_millis(1000 / u64::from(app.config.console.idle_fps.clamp(1, 120)));
    // Nobody has pressed anything yet: start in the idle cadence.
    let mut last_input = Instant::now()
        .checked_sub(IDLE_AFTER)
        .unwrap_or_else(Instant::now);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    let mut stats = LoopStats {
        started: Some(started),
        ..Default::default()
    };
    let mut frame_dump = FrameDump::from_env();
    app.now = now_ms();
    app.steady = steady_ms();
    if let Err(e) = draw(terminal, &mut app, &theme, &mut stats, &mut frame_dump) {
        return gone(e, stats);
    }
    let mut last_draw = Instant::now();
    if drill() == Some(PanicDrill::Task) {
        tokio::spawn(async { fire("a background task") });
    }
    let mut pipeline = super::pipeline_job::PipelineJobs::start(&jobs, internal_tx.clone());

    loop {
        let mut draw_now = false;
        // Streaming data alone redraws slowly once the user is idle; a key brings full speed back.
        let interval = if last_input.elapsed() > IDLE_AFTER {
            idle_interval
        } else {
            frame_interval
        };
        let frame_due = tokio::time::sleep_until((last_draw + interval).into());
        tokio::select! {
            biased;
            ev = terminal_events.next() => {
                match ev {
                    Some(Ok(Event::Key(key))) => {
                        last_input = Instant::now();
                        let cmds = pipeline.take(app.update(Msg::Key(key)));
                        draw_now = true;
                        if execute(cmds, &runtime, &jobs, &mut external_logs, &mut agent, &internal_tx, &ledger) { break; }
                    }
                    Some(Ok(Event::Paste(text))) => { app.update(Msg::Paste(text)); draw_now = true; }
                    Some(Ok(Event::Resize(_, _))) => {
                        app.update(Msg::Resize);
                        let _ = terminal.autoresize();
                        draw_now = true;
                    }
                    Some(Ok(_)) => {}
                    // The terminal went away (SSH dropped): stop instead of spinning.
                    Some(Err(_)) | None => {
                        stats.ended = Ended::Disconnected("the terminal closed");
                        break;
                    }
                }
            }
            Some(msg) = internal_rx.recv() => {
                if let Msg::Signal(name) = &msg {
                    stats.ended = Ended::of_signal(name);
                }
                let cmds = pipeline.take(app.update(msg));
                if execute(cmds, &runtime, &jobs, &mut external_logs, &mut agent, &internal_tx, &ledger) { break; }
            }
            Some(ev) = events_rx.recv() => {
                app.update(Msg::Runtime(Box::new(ev)));
                // Fold a burst of events into one frame.
                for _ in 0..BATCH {
                    match events_rx.try_recv() {
                        Ok(ev) => { app.update(Msg::Runtime(Box::new(ev))); }
                        Err(_) => break,
                    }
                }
            }
            _ = tick.tick() => {
                // A task that panicked has restored the terminal and written
                // its report; going on would draw over the shell.
                if crate::tui::crash::panicked() {
                    return Err(color_eyre::eyre::eyre!(
                        "a background task panicked; the crash report is in the state directory"
                    ));
                }
                app.update(Msg::Tick { now: now_ms(), steady: steady_ms() });
            }
            _ = frame_due, if app.dirty => {}
        }
        if app.should_quit {
            break;
        }
        if app.dirty && (draw_now || last_draw.elapsed() >= interval) {
            app.now = now_ms();
            app.steady = steady_ms();
            if let Err(e) = draw(terminal, &mut app, &theme, &mut stats, &mut frame_dump) {
                pipeline.shutdown().await;
                return gone(e, stats);
            }
            last_draw = Instant::now();
        }
    }
    pipeline.shutdown().await;
    Ok(stats)
}

/// A frame could not be written: a terminal that hung up ends the console
/// like a disconnect, anything else is an error.
fn gone(e: std::io::Error, mut stats: LoopStats) -> color_eyre::Result<LoopStats> {
    if terminal_gone(&e) {
        stats.ended = Ended::Disconnected("the terminal closed");
        return Ok(stats);
    }
    Err(color_eyre::eyre::eyre!("drawing the console: {e}"))
}

fn draw(
    terminal: &mut Term,
    app: &mut App,
    theme: &Theme,
    stats: &mut LoopStats,
    frame_dump: &mut Option<FrameDump>,
) -> std::io::Result<()> {
    let frame = terminal.draw(|f| {
        if drill() == Some(PanicDrill::Render) && stats.frames > 0 {
            fire("a render function");
        }
        crate::ui::draw(f, app, theme)
    })?;
    if let Some(dump) = frame_dump {
        if let Err(e) = dump.write(frame.buffer) {
            // A debugging aid: losing it must not take the console down.
            eprintln!("frame dump stopped: {e}");
            *frame_dump = None;
        }
    }
    app.dirty = false;
    stats.frames += 1;
    if stats.first_frame_ms.is_none() {
        stats.first_frame_ms = stats.started.map(|s| s.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(())
}

/// Start commands on their own tasks. Returns true when the console should quit.
fn execute(
    cmds: Vec<Command>,
    runtime: &SharedRuntime,
    jobs: &JobContext,
    external_logs: &mut crate::app::jobs::ExternalLogs,
    agent: &mut Agent,
    tx: &mpsc::Sender<Msg>,
    ledger: &FaultLedger,
) -> bool {
    let mut quit = false;
    for cmd in cmds {
        match cmd {
            Command::Quit => quit = true,
            Command::AskAgent { history, context } => agent.ask(history, context),
            Command::FilterLogSource { env, grep } => external_logs.refilter(env, grep),
            Command::LoadTest { env } => {
                crate::app::jobs::spawn_load_test(runtime.clone(), jobs, env, tx.clone())
            }
            Command::Compare { env, old, new } => {
                crate::app::jobs::spawn_comparison(jobs, env, old, new, tx.clone())
            }
            Command::Context { name } => crate::app::jobs::spawn_context(jobs, name, tx.clone()),
            // `pipeline_job::PipelineJobs::take` carries these out first.
            Command::FollowBuildLog(_)
            | Command::RunPipeline { .. }
            | Command::CancelPipeline { .. } => {}
            Command::ChaosSuite { env, scenario } => super::suite_job::spawn_chaos_suite(
                runtime.clone(),
                jobs,
                (env, scenario),
                tx.clone(),
                ledger.clone(),
            ),
            // Promotions pass the resilience gate first.
            Command::Runtime(RuntimeCommand::Promote { from, to }) => {
                super::gate::spawn_promote(runtime.clone(), jobs, (from, to), None, tx.clone())
            }
            Command::Runtime(RuntimeCommand::PromoteOverGate { from, to, gate }) => {
                super::gate::spawn_promote(
                    runtime.clone(),
                    jobs,
                    (from, to),
                    Some(gate),
                    tx.clone(),
                )
            }
            Command::Runtime(rc) => {
                let runtime = runtime.clone();
                let tx = tx.clone();
                let ledger = ledger.clone();
                let in_flight = matches!(rc, RuntimeCommand::Chaos { .. }).then(|| ledger.begin());
                tokio::spawn(async move {
                    let label = rc.label();
                    let result = run_runtime_command(&runtime, rc, &ledger).await;
                    drop(in_flight);
                    let _ = tx.send(Msg::ActionDone { label, result }).await;
                });
            }
        }
    }
    quit
}

pub async fn run_runtime_command(
    runtime: &SharedRuntime,
    rc: RuntimeCommand,
    ledger: &FaultLedger,
) -> Result<String, String> {
    let actor = Actor::current("console");
    let accepted = |a: crate::runtime::ActionAccepted| a.message;
    match rc {
        RuntimeCommand::Deploy { env, version } => runtime
            .deploy(&actor, &env, &crate::domain::Version::new(version))
            .await
            .map(accepted),
        // The console loop sends promotions through the gate
        // (`gate::spawn_promote`) before they get here.
        RuntimeCommand::Promote { from, to } | RuntimeCommand::PromoteOverGate { from, to, .. } => {
            runtime.promote(&actor, &from, &to).await.map(accepted)
        }
        RuntimeCommand::Rollback { env } => runtime.rollback(&actor, &env).await.map(accepted),
        RuntimeCommand::SwitchTraffic { env, to_canary } => runtime
            .switch_traffic(&actor, &env, to_canary)
            .await
            .map(accepted),
        RuntimeCommand::Chaos {
            env,
            scenario,
            params,
        } => runtime
            .inject(&actor, &env, scenario, params)
            .await
            .map(|e| {
                ledger.record(&e.id);
                format!("experiment {} running", e.id)
            }),
        RuntimeCommand::Undo { ids } => {
            let mut undone = 0;
            for id in &ids {
                runtime.undo(&actor, id).await.map_err(|e| e.to_string())?;
                undone += 1;
            }
            Ok(format!("{undone} fault(s) removed"))
        }
        RuntimeCommand::Intent { env, intent } => {
            runtime.intent(&actor, &env, intent).await.map(accepted)
        }
    }
    .map_err(|e| e.to_string())
}

/// Subscribe to the runtime, load history, and resubscribe with backoff if the
/// stream ends (a daemon restarting, say). The state is shown, never hidden.
fn spawn_runtime_feed(
    runtime: SharedRuntime,
    events: mpsc::Sender<RuntimeEvent>,
    internal: mpsc::Sender<Msg>,
) {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(500);
        let mut overlap = LogOverlap::default();
        loop {
            match runtime.subscribe().await {
                Ok(mut sub) => {
                    backoff = Duration::from_millis(500);
                    match load_snapshot(&runtime, &events, &mut overlap).await {
                        Err(()) => return,
                        Ok(0) => {}
                        Ok(n) => {
                            let _ = internal.send(Msg::FaultsStillApplied(n)).await;
                        }
                    }
                    let _ = internal.send(Msg::RuntimeSource(SourceState::Ok)).await;
                    while let Some(ev) = sub.recv().await {
                        if let RuntimeEvent::Log { line } = &ev {
                            if !overlap.is_new(line) {
                                continue;
                            }
                        }
                        if events.send(ev).await.is_err() {
                            return;
                        }
                    }
                    let _ = internal
                        .send(Msg::RuntimeSource(SourceState::retrying(
                            "event stream ended",
                            backoff,
                        )))
                        .await;
                }
                Err(e) => {
                    let _ = internal
                        .send(Msg::RuntimeSource(SourceState::retrying(e, backoff)))
                        .await;
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    });
}

/// Current status, recent history and logs, as events, so the console is full at once.
/// Load the runtime's current state; returns how many faults are still
/// applied (a crashed run may have left some).
async fn load_snapshot(
    runtime: &SharedRuntime,
    events: &mpsc::Sender<RuntimeEvent>,
    overlap: &mut LogOverlap,
) -> Result<usize, ()> {
    let mut batch = Vec::new();
    let mut applied = 0;
    if let Ok(envs) = runtime.status().await {
        batch.extend(
            envs.into_iter()
                .map(|status| RuntimeEvent::Environment { status }),
        );
    }
    if let Ok(h) = runtime.history().await {
        applied = h
            .experiments
            .iter()
            .filter(|x| x.state == crate::domain::chaos::ExperimentState::Running)
            .count();
        batch.extend(history_events(h));
    }
    if let Ok(lines) = runtime.recent_logs(None, 2_000).await {
        let fresh = overlap.snapshot(lines);
        batch.extend(fresh.into_iter().map(|line| RuntimeEvent::Log { line }));
    }
    for ev in batch {
        events.send(ev).await.map_err(|_| ())?;
    }
    Ok(applied)
}

/// The runtime's history as the events that first reported it; each verdict
/// keeps the step it judged.
fn history_events(h: History) -> impl Iterator<Item = RuntimeEvent> {
    let pipelines = h
        .pipelines
        .into_iter()
        .map(|run| RuntimeEvent::Pipeline { run });
    let experiments = h
        .experiments
        .into_iter()
        .map(|experiment| RuntimeEvent::Experiment { experiment });
    let verdicts = h.verdicts.into_iter().map(|v| RuntimeEvent::Verdict {
        env: v.env,
        step: v.step,
        verdict: v.verdict,
    });
    pipelines.chain(experiments).chain(verdicts)
}

fn spawn_signal_watch(tx: mpsc::Sender<Msg>) {
    use tokio::signal::unix::{signal, SignalKind};
    for (kind, name) in [
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::interrupt(), "SIGINT"),
    ] {
        let tx = tx.clone();
        match signal(kind) {
            Ok(mut s) => {
                tokio::spawn(async move {
                    if s.recv().await.is_some() {
                        let _ = tx.send(Msg::Signal(name)).await;
                    }
                });
            }
            Err(_) => continue,
        }
    }
}

#[cfg(test)]
mod tests;
