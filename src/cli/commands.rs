//! Command runners: call the runtime, print, and return an exit code.
//!
//! These take a [`Streams`] (so tests capture stderr too); the positional
//! `cmd_*` wrappers in the parent module are what `main` calls.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::output::{
    experiment_progress_line, experiment_table, format_log_line, json_document, json_line,
    status_table, LogStyle,
};
use super::{exit, exit_code_for, OutputMode};
use crate::daemon::{DaemonError, RemoteRuntime};
use crate::domain::chaos::{
    Experiment, ExperimentResult, ExperimentState, FaultParams, ScenarioKind,
};
use crate::domain::environment::EnvironmentStatus;
use crate::domain::log_overlap::LogOverlap;
use crate::domain::logs::LogLine;
use crate::domain::sanitize::strip_all;
use crate::runtime::{Actor, RuntimeError, RuntimeEvent, SharedRuntime};

pub use super::rollout::{deploy, promote, rollback, switch_traffic, ActionReport, StepVerdict};
use super::rollout::{subscribe_if, WaitEnd};

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

    pub(super) fn put_lines(&mut self, lines: &[String]) -> io::Result<()> {
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
pub(super) async fn action_error(rt: &SharedRuntime, e: &RuntimeError, s: &mut Streams<'_>) -> i32 {
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
        OutputMode::Table => s.put(&status_text(rt, &envs)),
        OutputMode::Json => s.put_json(&envs),
    };
    done(exit::OK, written)
}

/// The environments table, then what the runtime offers.
pub(crate) fn status_text(rt: &SharedRuntime, envs: &[EnvironmentStatus]) -> String {
    let caps = super::intents::capabilities_line(rt.name(), &rt.capabilities());
    format!("{}\n{caps}", status_table(envs))
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
    // The subscription repeats the buffer's newest lines first; a wall-clock
    // step must not make new lines look old, so this goes by arrival order.
    let mut overlap = LogOverlap::default();
    overlap.snapshot(recent);
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
        if env.is_some_and(|e| *line.env != *e) || !overlap.is_new(&line) || !matches(&line) {
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
/// How long `down` waits for the stopped server to remove its socket.
const SOCKET_GONE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

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
    // The reply comes once the runtime has stopped (faults undone, instances
    // gone); the server removes its socket right after. Wait for that too,
    // so a script can start another sandbox at once.
    let deadline = std::time::Instant::now() + SOCKET_GONE_WAIT;
    while path.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
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
    fn following_after_a_wall_clock_step_back_loses_no_line() {
        // Lines stamped an hour later were printed from the buffer; the
        // clock then went back an hour: the new lines are still new.
        let hour = 3_600_000;
        let recent = vec![line(hour + 1, "a", "x"), line(hour + 2, "a", "y")];
        let mut overlap = LogOverlap::default();
        overlap.snapshot(recent);
        assert!(!overlap.is_new(&line(hour + 2, "a", "y")), "repeated");
        assert!(overlap.is_new(&line(3, "a", "after the step")));
        assert!(overlap.is_new(&line(4, "a", "and on")));
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
}
