//! Command runners: call the runtime, print, and return an exit code.
//!
//! These take a [`Streams`] (so tests capture stderr too); the positional
//! `cmd_*` wrappers in the parent module are what `main` calls.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::output::{
    accepted_line, experiment_progress_line, experiment_table, format_log_line, json_document,
    json_line, outcome_lines, status_table, verdict_line, LogStyle, ProgressTracker,
};
use super::{exit, exit_code_for, OutputMode};
use crate::daemon::{DaemonError, RemoteRuntime};
use crate::domain::analysis::Verdict;
use crate::domain::chaos::{
    Experiment, ExperimentResult, ExperimentState, FaultParams, ScenarioKind,
};
use crate::domain::environment::Version;
use crate::domain::logs::LogLine;
use crate::domain::pipeline::{PipelineRun, StageStatus};
use crate::domain::sanitize::strip_all;
use crate::runtime::{
    ActionAccepted, Actor, RolloutOutcome, RuntimeError, RuntimeEvent, SharedRuntime,
};

/// After a rollout's pipeline finishes, how long to wait for its
/// `RolloutFinished` event (which carries the verdict) before settling for
/// the pipeline's own status.
const OUTCOME_GRACE: Duration = Duration::from_secs(2);
/// With `--grep`, how many recent lines to search per line asked for.
const GREP_WINDOW_FACTOR: usize = 20;
/// Most recent lines fetched for one `logs` call.
const MAX_FETCH: usize = 20_000;

/// Where a command writes: results to `out` (stdout), progress and errors
/// to `err` (stderr), in the chosen format.
pub struct Streams<'a> {
    pub mode: OutputMode,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

impl<'a> Streams<'a> {
    pub fn new(mode: OutputMode, out: &'a mut dyn Write, err: &'a mut dyn Write) -> Self {
        Streams { mode, out, err }
    }

    /// A progress or diagnostic line on stderr. Failing to write stderr is
    /// not actionable, so it is ignored.
    pub(crate) fn note(&mut self, line: &str) {
        let _ = writeln!(self.err, "{}", strip_all(line));
    }

    pub(crate) fn put(&mut self, text: &str) -> io::Result<()> {
        self.out.write_all(text.as_bytes())?;
        self.out.flush()
    }

    fn put_lines(&mut self, lines: &[String]) -> io::Result<()> {
        for l in lines {
            writeln!(self.out, "{}", strip_all(l))?;
        }
        self.out.flush()
    }

    pub(crate) fn put_json<T: Serialize + ?Sized>(&mut self, value: &T) -> io::Result<()> {
        let doc = json_document(value).map_err(io::Error::other)?;
        self.put(&doc)
    }

    /// Print a runtime error (and in JSON mode `{"error": ...}` on stdout);
    /// returns its exit code.
    pub(crate) fn error(&mut self, e: &RuntimeError) -> i32 {
        self.note(&format!("error: {e}"));
        if self.mode == OutputMode::Json {
            let _ = self.put_json(&ErrorDoc { error: e });
        }
        exit_code_for(e)
    }
}

#[derive(Serialize)]
struct ErrorDoc<'a> {
    error: &'a RuntimeError,
}

/// The exit code, unless writing stdout failed for a reason other than the
/// reader going away (`| head` is fine).
pub(crate) fn done(code: i32, written: io::Result<()>) -> i32 {
    match written {
        Ok(()) => code,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => code,
        Err(_) => exit::FAILED,
    }
}

/// Report an action's error; for an unknown environment, list the known ones.
async fn action_error(rt: &SharedRuntime, e: &RuntimeError, s: &mut Streams<'_>) -> i32 {
    let code = s.error(e);
    if let RuntimeError::UnknownEnvironment(_) = e {
        if let Ok(envs) = rt.status().await {
            let names: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
            s.note(&format!("known environments: {}", names.join(", ")));
        }
    }
    code
}

/// Connect to the running sandbox at `path`, or print why not (exit code in `Err`).
pub async fn connect(path: &Path, s: &mut Streams<'_>) -> Result<SharedRuntime, i32> {
    match RemoteRuntime::connect(path).await {
        Ok(r) => Ok(Arc::new(r)),
        Err(e) => {
            // The daemon error reads better than its runtime-error wrapper.
            s.note(&format!("error: {e}"));
            let re = RuntimeError::from(e);
            if s.mode == OutputMode::Json {
                let _ = s.put_json(&ErrorDoc { error: &re });
            }
            Err(exit_code_for(&re))
        }
    }
}

/// `status`: one row per environment.
pub async fn status(rt: &SharedRuntime, s: &mut Streams<'_>) -> i32 {
    let envs = match rt.status().await {
        Ok(e) => e,
        Err(e) => return s.error(&e),
    };
    let written = match s.mode {
        OutputMode::Table => s.put(&status_table(&envs)),
        OutputMode::Json => s.put_json(&envs),
    };
    done(exit::OK, written)
}

/// What `logs` shows.
#[derive(Clone, Debug, Default)]
pub struct LogsOptions {
    /// Only this environment (it must exist).
    pub env: Option<String>,
    /// Keep streaming new lines until Ctrl-C.
    pub follow: bool,
    /// Only lines whose visible text matches.
    pub grep: Option<regex::Regex>,
    /// How many recent lines to print first.
    pub tail: usize,
    /// Colour levels and keep the lines' own (sanitised) colours.
    pub color: bool,
    /// Only lines of the last this long.
    pub since: Option<std::time::Duration>,
}

/// Lines already printed from the recent buffer, so following does not
/// print them twice: everything older than `ts`, and the listed lines at `ts`.
struct Seen {
    ts: i64,
    at_ts: Vec<(Arc<str>, Arc<str>)>,
}

impl Seen {
    fn from_recent(lines: &[LogLine]) -> Option<Seen> {
        let ts = lines.last()?.ts;
        let at_ts = lines
            .iter()
            .filter(|l| l.ts == ts)
            .map(|l| (l.instance.clone(), l.text.clone()))
            .collect();
        Some(Seen { ts, at_ts })
    }

    /// Whether `line` was already printed (each remembered line matches once).
    fn already(&mut self, line: &LogLine) -> bool {
        if line.ts < self.ts {
            return true;
        }
        if line.ts > self.ts {
            return false;
        }
        match self
            .at_ts
            .iter()
            .position(|(i, t)| *i == line.instance && *t == line.text)
        {
            Some(p) => {
                self.at_ts.swap_remove(p);
                true
            }
            None => false,
        }
    }
}

/// `logs`: recent lines, then with `follow` new ones until Ctrl-C or the
/// sandbox stops.
pub async fn logs(rt: &SharedRuntime, opts: &LogsOptions, s: &mut Streams<'_>) -> i32 {
    let env = opts.env.as_deref();
    if let Some(name) = env {
        match rt.status().await {
            Ok(envs) if envs.iter().any(|e| e.name == name) => {}
            Ok(envs) => {
                let code = s.error(&RuntimeError::UnknownEnvironment(name.to_string()));
                let names: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
                s.note(&format!("known environments: {}", names.join(", ")));
                return code;
            }
            Err(e) => return s.error(&e),
        }
    }
    // Subscribe before reading the buffer so nothing falls in between.
    let mut events = if opts.follow {
        match rt.subscribe().await {
            Ok(rx) => Some(rx),
            Err(e) => return s.error(&e),
        }
    } else {
        None
    };
    let fetch = if opts.grep.is_some() || opts.since.is_some() {
        opts.tail
            .saturating_mul(GREP_WINDOW_FACTOR)
            .clamp(opts.tail.min(MAX_FETCH), MAX_FETCH)
    } else {
        opts.tail.min(MAX_FETCH)
    };
    let recent = if fetch == 0 {
        Vec::new()
    } else {
        match rt.recent_logs(env, fetch).await {
            Ok(l) => l,
            Err(e) => return s.error(&e),
        }
    };
    let matches = |l: &LogLine| {
        opts.grep
            .as_ref()
            .is_none_or(|re| re.is_match(&strip_all(&l.text)))
    };
    let cutoff = opts.since.map(|d| {
        chrono::Utc::now().timestamp_millis() - i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    });
    let mut shown: Vec<&LogLine> = recent
        .iter()
        .filter(|l| matches(l) && cutoff.is_none_or(|c| l.ts >= c))
        .collect();
    // The buffer was the limit, not --since: say that older lines are gone.
    if let (Some(c), Some(first)) = (cutoff, recent.first()) {
        if first.ts > c && recent.len() >= fetch && fetch > 0 {
            s.note(&format!(
                "note: only the newest {fetch} lines were read; lines before {} are not shown",
                chrono::DateTime::from_timestamp_millis(first.ts)
                    .map(|t| t
                        .with_timezone(&chrono::Local)
                        .format("%H:%M:%S")
                        .to_string())
                    .unwrap_or_default()
            ));
        }
    }
    let skip = shown.len().saturating_sub(opts.tail);
    shown.drain(..skip);
    let style = LogStyle { color: opts.color };
    let written = match (s.mode, opts.follow) {
        (OutputMode::Json, false) => s.put_json(&shown),
        (OutputMode::Json, true) => shown.iter().try_for_each(|l| {
            let line = json_line(l).map_err(io::Error::other)?;
            s.out.write_all(line.as_bytes())
        }),
        (OutputMode::Table, _) => shown.iter().try_for_each(|l| {
            let line = format_log_line(l, style, &chrono::Local);
            writeln!(s.out, "{line}")
        }),
    };
    let written = written.and_then(|()| s.out.flush());
    let Some(events) = events.as_mut() else {
        return done(exit::OK, written);
    };
    if let Err(e) = written {
        return done(exit::OK, Err(e));
    }
    let mut seen = Seen::from_recent(&recent);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut ctrl_c_ok = true;
    loop {
        let ev = tokio::select! {
            r = &mut ctrl_c, if ctrl_c_ok => {
                if r.is_ok() {
                    return exit::OK;
                }
                // No signal handler: only the stream's end stops us.
                ctrl_c_ok = false;
                continue;
            }
            ev = events.recv() => ev,
        };
        let line = match ev {
            None => {
                s.note("log stream ended: the sandbox stopped");
                return exit::OK;
            }
            Some(RuntimeEvent::Lagged { count }) => {
                s.note(&format!(
                    "warning: {count} events were lost (this reader fell behind)"
                ));
                continue;
            }
            Some(RuntimeEvent::Log { line }) => line,
            Some(_) => continue,
        };
        if env.is_some_and(|e| *line.env != *e) || !matches(&line) {
            continue;
        }
        if seen.as_mut().is_some_and(|s| s.already(&line)) {
            continue;
        }
        let text = match s.mode {
            OutputMode::Json => match json_line(&line) {
                Ok(t) => t,
                Err(_) => continue,
            },
            OutputMode::Table => format!("{}\n", format_log_line(&line, style, &chrono::Local)),
        };
        if let Err(e) = s.put(&text) {
            return done(exit::OK, Err(e));
        }
    }
}

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
enum WaitEnd {
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
                s.note(&verdict_line(step, &verdict));
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
async fn subscribe_if(
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

fn experiment_finished(x: &Experiment) -> bool {
    matches!(
        x.state,
        ExperimentState::Completed | ExperimentState::Aborted
    )
}

fn experiment_exit(x: &Experiment) -> i32 {
    match (&x.state, x.result) {
        (
            ExperimentState::Completed,
            Some(ExperimentResult::Resilient | ExperimentResult::NoImpact),
        ) => exit::OK,
        _ => exit::FAILED,
    }
}

/// `chaos`: inject a fault; with `wait`, follow the experiment until it
/// completes or aborts and print its result row. Exit OK when the
/// environment was resilient (or unaffected), FAILED otherwise.
pub async fn chaos(
    rt: &SharedRuntime,
    actor: &Actor,
    env: &str,
    scenario: ScenarioKind,
    params: FaultParams,
    wait: bool,
    s: &mut Streams<'_>,
) -> i32 {
    let events = match subscribe_if(rt, wait).await {
        Ok(ev) => ev,
        Err(e) => return s.error(&e),
    };
    let started = match rt.inject(actor, env, scenario, params).await {
        Ok(x) => x,
        Err(e) => return action_error(rt, &e, s).await,
    };
    let Some(mut events) = events else {
        let written = match s.mode {
            OutputMode::Table => s.put(&experiment_table(std::slice::from_ref(&started))),
            OutputMode::Json => s.put_json(&started),
        };
        return done(exit::OK, written);
    };
    s.note(&format!(
        "started {} on {} as {}; the fault lasts {}s; waiting for recovery (Ctrl-C stops waiting)",
        started.scenario, started.env, started.id, started.params.duration_secs
    ));
    let id = started.id.clone();
    let mut last = started;
    let mut last_state = last.state.clone();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut ctrl_c_ok = true;
    let end = loop {
        if experiment_finished(&last) {
            break WaitEnd::Finished;
        }
        let ev = tokio::select! {
            r = &mut ctrl_c, if ctrl_c_ok => {
                if r.is_ok() {
                    break WaitEnd::Interrupted;
                }
                ctrl_c_ok = false;
                continue;
            }
            ev = events.recv() => ev,
        };
        let update = match ev {
            None => break WaitEnd::StreamEnded,
            Some(RuntimeEvent::Experiment { experiment }) if experiment.id == id => {
                Some(experiment)
            }
            Some(RuntimeEvent::Lagged { count }) => {
                s.note(&format!(
                    "warning: {count} events were lost while waiting; checking {id} in the history"
                ));
                match rt.history().await {
                    Ok(h) => h.experiments.into_iter().find(|x| x.id == id),
                    Err(e) => {
                        s.note(&format!("warning: cannot read the history: {e}"));
                        None
                    }
                }
            }
            Some(_) => None,
        };
        if let Some(x) = update {
            if x.state != last_state {
                s.note(&experiment_progress_line(&x));
                last_state = x.state.clone();
            }
            last = x;
        }
    };
    let code = match end {
        WaitEnd::Finished => experiment_exit(&last),
        WaitEnd::Interrupted => {
            s.note(&format!("stopped waiting; {id} goes on in the sandbox (undo it with `blissful-infra undo {id}`)"));
            exit::INTERRUPTED
        }
        WaitEnd::StreamEnded => {
            s.note(&format!("error: the sandbox stopped before {id} finished"));
            exit::UNAVAILABLE
        }
    };
    let written = match s.mode {
        OutputMode::Table => s.put(&experiment_table(std::slice::from_ref(&last))),
        OutputMode::Json => s.put_json(&last),
    };
    done(code, written)
}

/// `undo`: remove a fault early.
pub async fn undo(
    rt: &SharedRuntime,
    actor: &Actor,
    experiment_id: &str,
    s: &mut Streams<'_>,
) -> i32 {
    if let Err(e) = rt.undo(actor, experiment_id).await {
        return s.error(&e);
    }
    let written = match s.mode {
        OutputMode::Table => s.put_lines(&[format!("removed the fault of {experiment_id}")]),
        OutputMode::Json => s.put_json(&serde_json::json!({ "undone": experiment_id })),
    };
    done(exit::OK, written)
}

/// `down`: stop the sandbox serving `path`. Nothing running is not an error.
pub async fn down(path: &Path, s: &mut Streams<'_>) -> i32 {
    let remote = match RemoteRuntime::connect(path).await {
        Ok(r) => r,
        Err(DaemonError::NotRunning { .. }) => {
            let written = match s.mode {
                OutputMode::Table => s.put_lines(&["no sandbox is running".to_string()]),
                OutputMode::Json => s.put_json(&serde_json::json!({ "stopped": false })),
            };
            return done(exit::OK, written);
        }
        Err(e) => return s.error(&RuntimeError::from(e)),
    };
    let pid = remote.info().pid;
    let what = match remote.info().runtime.as_str() {
        "sandbox" => "sandbox".to_string(),
        other => format!("{} runtime", strip_all(other)),
    };
    if let Err(e) = remote.request_shutdown().await {
        return s.error(&RuntimeError::from(e));
    }
    let written = match s.mode {
        OutputMode::Table => s.put_lines(&[format!("{what} stopped (pid {pid})")]),
        OutputMode::Json => s.put_json(&serde_json::json!({ "stopped": true, "pid": pid })),
    };
    done(exit::OK, written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(ts: i64, instance: &str, text: &str) -> LogLine {
        LogLine::new(
            ts,
            "staging".into(),
            "v1".into(),
            instance.into(),
            crate::domain::logs::Level::Info,
            text,
        )
    }

    #[test]
    fn following_skips_lines_already_printed() {
        let recent = vec![line(1, "a", "x"), line(2, "a", "y"), line(2, "b", "z")];
        let mut seen = Seen::from_recent(&recent).unwrap();
        assert!(seen.already(&line(1, "a", "x")));
        assert!(seen.already(&line(2, "b", "z")));
        // Each remembered line is skipped once; a repeat is a new line.
        assert!(!seen.already(&line(2, "b", "z")));
        assert!(!seen.already(&line(2, "c", "new")));
        assert!(!seen.already(&line(3, "a", "x")));
        assert!(Seen::from_recent(&[]).is_none());
    }

    #[test]
    fn broken_pipe_keeps_the_exit_code() {
        assert_eq!(
            done(
                exit::FAILED,
                Err(io::Error::from(io::ErrorKind::BrokenPipe))
            ),
            exit::FAILED
        );
        assert_eq!(
            done(exit::OK, Err(io::Error::from(io::ErrorKind::BrokenPipe))),
            exit::OK
        );
        assert_eq!(
            done(exit::OK, Err(io::Error::other("disk full"))),
            exit::FAILED
        );
    }

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
