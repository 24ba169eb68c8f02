//! `logs` against Loki (when `loki.url` is set, or `--source loki`): the
//! same filters, output and follow behaviour as against the sandbox.

use std::time::Duration;

use tokio::sync::mpsc;

use super::commands::{done, LogsOptions, Streams};
use super::exit;
use super::output::{format_log_line, json_line, LogStyle};
use super::OutputMode;
use crate::config::Config;
use crate::domain::logs::LogLine;
use crate::domain::sanitize::strip_all;
use crate::runtime::{RuntimeError, RuntimeEvent, SourceState};
use crate::sources::loki::{self, LiveOptions, LogQuery, LokiError};

/// How far back `logs` reads from Loki when `--since` is not given.
pub const DEFAULT_SINCE: Duration = Duration::from_secs(3600);

/// The runtime error a Loki failure is reported as (and its exit code).
fn as_runtime_error(e: &LokiError) -> RuntimeError {
    match e {
        LokiError::Unreachable { .. }
        | LokiError::Timeout { .. }
        | LokiError::RateLimited { .. } => RuntimeError::Unavailable(e.to_string()),
        LokiError::Config { .. } | LokiError::Query(_) | LokiError::Rejected { .. } => {
            RuntimeError::Refused(e.to_string())
        }
        _ => RuntimeError::Failed(e.to_string()),
    }
}

fn query(config: &Config, opts: &LogsOptions) -> LogQuery {
    LogQuery {
        project: config.project.clone(),
        env: opts.env.clone(),
        grep: opts.grep.as_ref().map(|re| re.as_str().to_string()),
        ..LogQuery::default()
    }
}

fn print_line(line: &LogLine, style: LogStyle, s: &mut Streams<'_>) -> std::io::Result<()> {
    let text = match s.mode {
        OutputMode::Json => json_line(line).map_err(std::io::Error::other)?,
        OutputMode::Table => format!("{}\n", format_log_line(line, style, &chrono::Local)),
    };
    s.put(&text)
}

/// Print the last `--since` (default an hour) of matching lines, newest
/// `--tail` of them; with `--follow`, keep printing live lines.
pub async fn logs(config: &Config, opts: &LogsOptions, s: &mut Streams<'_>) -> i32 {
    let q = query(config, opts);
    let since = opts.since.unwrap_or(DEFAULT_SINCE);
    let style = LogStyle { color: opts.color };
    let matches = |l: &LogLine| {
        opts.grep
            .as_ref()
            .is_none_or(|re| re.is_match(&strip_all(&l.text)))
    };
    if !opts.follow {
        let lines = match loki::history(&config.loki, &q, since, opts.tail).await {
            Ok(l) => l,
            Err(e) => return s.error(&as_runtime_error(&e)),
        };
        let shown: Vec<&LogLine> = lines.iter().filter(|l| matches(l)).collect();
        let written = match s.mode {
            OutputMode::Json => s.put_json(&shown),
            OutputMode::Table => shown.iter().try_for_each(|l| {
                let line = format_log_line(l, style, &chrono::Local);
                writeln!(s.out, "{line}")
            }),
        };
        return done(exit::OK, written.and_then(|()| s.out.flush()));
    }
    // History first, then the live tail, from one task (no gap, no repeats).
    let (tx, mut rx) = mpsc::channel(1024);
    let live = LiveOptions {
        since,
        history_limit: opts.tail,
    };
    let task = loki::spawn_log_source(config.loki.clone(), q, live, tx);
    let mut stop = crate::cli::follow::UntilCtrlC::default();
    let code = loop {
        let Some(ev) = stop.next(&mut rx).await else {
            break exit::OK; // Ctrl-C
        };
        match ev {
            None => {
                s.note("log stream ended");
                break exit::OK;
            }
            Some(RuntimeEvent::Log { line }) => {
                if !matches(&line) {
                    continue;
                }
                if let Err(e) = print_line(&line, style, s) {
                    break done(exit::OK, Err(e));
                }
            }
            Some(RuntimeEvent::Lagged { count }) => {
                s.note(&format!("warning: {count} lines were not shown (dropped)"));
            }
            Some(RuntimeEvent::Source {
                state: SourceState::Degraded(reason),
                ..
            }) => s.note(&format!("loki: {reason}")),
            Some(_) => {}
        }
    };
    task.abort();
    code
}
