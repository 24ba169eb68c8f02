//! `jenkins logs <n> [--follow]`: a build's console, the last lines of it,
//! or followed progressively until the build ends.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;

use super::report;
use crate::cli::commands::{done, Streams};
use crate::cli::{exit, OutputMode};
use crate::runtime::SourceState;
use crate::sources::jenkins::{
    spawn_run_watch, ConsoleTail, JenkinsClient, JenkinsEvent, WatchOptions,
};

#[derive(Clone, Debug)]
pub struct LogsOptions {
    pub follow: bool,
    pub tail: usize,
    pub interval: Duration,
}

/// Most reads for one `logs` without --follow (each up to 4 MiB).
const MAX_READS: usize = 256;

#[derive(Serialize)]
struct Doc<'a> {
    number: u64,
    lines: Vec<&'a str>,
    /// Earlier lines not shown.
    dropped: u64,
    /// The build will write no more.
    complete: bool,
}

#[derive(Serialize)]
struct LineDoc<'a> {
    number: u64,
    line: &'a str,
}

pub async fn logs(
    client: &JenkinsClient,
    number: u64,
    opts: &LogsOptions,
    s: &mut Streams<'_>,
) -> i32 {
    if opts.follow {
        return follow(client, number, opts, s).await;
    }
    let mut tail = ConsoleTail::new(opts.tail.max(1));
    for _ in 0..MAX_READS {
        let chunk = match client.console(number, tail.next_start).await {
            Ok(c) => c,
            Err(e) => return report(&e, s),
        };
        let empty = chunk.text.is_empty();
        tail.push(&chunk);
        if empty || !chunk.more {
            break;
        }
    }
    let written = match s.mode {
        OutputMode::Json => s.put_json(&Doc {
            number,
            lines: tail.lines().collect(),
            dropped: tail.dropped,
            complete: tail.complete,
        }),
        OutputMode::Table => {
            if tail.dropped > 0 {
                s.note(&format!(
                    "({} earlier lines not shown; --tail N shows more)",
                    tail.dropped
                ));
            }
            let mut text = String::new();
            for l in tail.lines() {
                text.push_str(l);
                text.push('\n');
            }
            if !tail.complete {
                s.note(&format!(
                    "build #{number} is still writing; --follow keeps reading"
                ));
            }
            s.put(&text)
        }
    };
    done(exit::OK, written)
}

fn print(number: u64, lines: &[String], s: &mut Streams<'_>) -> std::io::Result<()> {
    let mut text = String::new();
    for line in lines {
        match s.mode {
            OutputMode::Json => {
                let doc = crate::report::json_line(&LineDoc { number, line })
                    .map_err(std::io::Error::other)?;
                text.push_str(&doc);
            }
            OutputMode::Table => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    s.put(&text)
}

async fn follow(
    client: &JenkinsClient,
    number: u64,
    opts: &LogsOptions,
    s: &mut Streams<'_>,
) -> i32 {
    let (tx, mut rx) = mpsc::channel(1024);
    let watch = WatchOptions {
        interval: opts.interval,
        console: true,
        console_start: 0,
    };
    let task = spawn_run_watch(client.clone(), number, watch, tx);
    let mut stop = crate::cli::follow::UntilCtrlC::default();
    let mut any_ok = false;
    let code = loop {
        let Some(ev) = stop.next(&mut rx).await else {
            break exit::OK; // Ctrl-C
        };
        match ev {
            None => break exit::OK,
            Some(JenkinsEvent::Finished) => break exit::OK,
            Some(JenkinsEvent::Console(lines)) => {
                if let Err(e) = print(number, &lines, s) {
                    break done(exit::OK, Err(e));
                }
            }
            Some(JenkinsEvent::Dropped(n)) => {
                s.note(&format!(
                    "warning: {n} console lines were not shown (dropped)"
                ));
            }
            // A wrong token or a missing build does not heal by waiting.
            Some(JenkinsEvent::Failed(e)) if e.needs_action() && !any_ok => {
                break report(&e, s);
            }
            Some(JenkinsEvent::State(SourceState::Ok)) => any_ok = true,
            Some(JenkinsEvent::State(SourceState::Degraded(why))) => {
                s.note(&format!("jenkins: {why}"));
            }
            Some(_) => {}
        }
    };
    task.abort();
    code
}
