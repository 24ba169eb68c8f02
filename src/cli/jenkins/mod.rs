//! `blissful-infra jenkins …`: the job named in `jenkins:` — its runs, one
//! run's stages, a build's console (followed with `--follow`), and
//! triggering a build (confirmed, refused in `--read-only`, journalled in
//! the audit journal). Every command takes `--output json`.

mod logs;
mod trigger;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde::Serialize;

use super::args::ConfirmArgs;
use super::commands::{done, Streams};
use super::confirm::Prompt;
use super::{exit, OutputMode};
use crate::config::Config;
use crate::report::Table;
use crate::runtime::RuntimeError;
use crate::sources::jenkins::{Build, JenkinsClient, JenkinsError, Run};

pub use logs::LogsOptions;
pub use trigger::{parse_param, TriggerContext};

#[derive(Args, Debug, Clone)]
pub struct JenkinsArgs {
    #[command(subcommand)]
    pub cmd: JenkinsCmd,
}

#[derive(Subcommand, Debug, Clone)]
pub enum JenkinsCmd {
    /// The job's recent runs, newest first, with their stages.
    Runs,
    /// One run: its stages with status and duration, and its parameters.
    Show {
        /// The build number.
        number: u64,
    },
    /// A build's console text; --follow keeps reading until it ends.
    Logs {
        number: u64,
        #[arg(long, short)]
        follow: bool,
        /// Without --follow: how many of the last lines to show.
        #[arg(long, default_value_t = 200)]
        tail: usize,
        /// Time between polls with --follow, in milliseconds.
        #[arg(long, default_value_t = 2000, hide = true)]
        interval_ms: u64,
    },
    /// Queue a build, with --param NAME=VALUE (repeatable) for a
    /// parameterised job. Asks first; --yes confirms from a script.
    Trigger {
        #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
        params: Vec<(String, String)>,
        #[command(flatten)]
        confirm: ConfirmArgs,
    },
}

/// The wiring `launch` does: config, read-only flag, audit journal.
pub async fn cmd_jenkins(
    args: JenkinsArgs,
    config: color_eyre::Result<(Config, PathBuf)>,
    read_only: bool,
    audit_journal: &Path,
    mode: OutputMode,
) -> i32 {
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let mut s = Streams::new(mode, &mut out, &mut err);
    let config = match config {
        Ok((c, _)) => c,
        Err(e) => {
            let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
            return s.error(&RuntimeError::Refused(chain.join(": ")));
        }
    };
    let client = match JenkinsClient::new(&config.jenkins) {
        Ok(c) => c,
        Err(e) => return report(&e, &mut s),
    };
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut input = stdin.lock();
    let mut prompt = Prompt {
        input: &mut input,
        interactive,
    };
    let ctx = TriggerContext {
        read_only,
        audit_journal: audit_journal.to_path_buf(),
        user: crate::runtime::Actor::current("cli").user,
    };
    run(&args.cmd, &client, &ctx, &mut prompt, &mut s).await
}

/// Run one `jenkins` command against `client`.
pub async fn run(
    cmd: &JenkinsCmd,
    client: &JenkinsClient,
    ctx: &TriggerContext,
    prompt: &mut Prompt<'_>,
    s: &mut Streams<'_>,
) -> i32 {
    match cmd {
        JenkinsCmd::Runs => runs(client, s).await,
        JenkinsCmd::Show { number } => show(client, *number, s).await,
        JenkinsCmd::Logs {
            number,
            follow,
            tail,
            interval_ms,
        } => {
            let opts = LogsOptions {
                follow: *follow,
                tail: *tail,
                interval: std::time::Duration::from_millis((*interval_ms).max(10)),
            };
            logs::logs(client, *number, &opts, s).await
        }
        JenkinsCmd::Trigger { params, confirm } => {
            trigger::trigger(client, params, confirm.yes, ctx, prompt, s).await
        }
    }
}

#[derive(Serialize)]
struct ErrorDoc {
    error: RuntimeError,
}

/// Print a Jenkins error (JSON `{"error": …}` too); returns its exit code.
pub(crate) fn report(e: &JenkinsError, s: &mut Streams<'_>) -> i32 {
    s.note(&format!("error: {e}"));
    if s.mode == OutputMode::Json {
        let error = match e.exit_code() {
            exit::UNAVAILABLE => RuntimeError::Unavailable(e.to_string()),
            exit::REFUSED => RuntimeError::Refused(e.to_string()),
            _ => RuntimeError::Failed(e.to_string()),
        };
        let _ = s.put_json(&ErrorDoc { error });
    }
    e.exit_code()
}

/// `1m05s`, `850ms`.
pub(crate) fn duration_text(ms: u64) -> String {
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let secs = ms / 1_000;
    match (secs / 3600, (secs / 60) % 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, s) => format!("{h}h{m:02}m{s:02}s"),
    }
}

fn time_text(ms: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_millis_opt(ms).single() {
        Some(t) if ms > 0 => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        _ => "-".into(),
    }
}

fn stage_summary(run: &Run) -> String {
    let names: Vec<String> = run
        .stages
        .iter()
        .map(|st| format!("{}:{}", st.name, st.status.label()))
        .collect();
    names.join(" ")
}

async fn runs(client: &JenkinsClient, s: &mut Streams<'_>) -> i32 {
    let runs = match client.runs().await {
        Ok(r) => r,
        Err(e) => return report(&e, s),
    };
    let written = match s.mode {
        OutputMode::Json => s.put_json(&runs),
        OutputMode::Table => {
            let mut t = Table::new(&["RUN", "STATUS", "STARTED", "DURATION", "STAGES"]);
            for r in &runs {
                t.row([
                    format!("#{}", r.number),
                    r.status.label().to_string(),
                    time_text(r.start_ms),
                    duration_text(r.duration_ms),
                    stage_summary(r),
                ]);
            }
            s.put(&t.render())
        }
    };
    done(exit::OK, written)
}

#[derive(Serialize)]
struct Shown<'a> {
    run: &'a Run,
    build: &'a Build,
}

async fn show(client: &JenkinsClient, number: u64, s: &mut Streams<'_>) -> i32 {
    let run = match client.run(number).await {
        Ok(r) => r,
        Err(e) => return report(&e, s),
    };
    let build = match client.build(number).await {
        Ok(b) => b,
        Err(e) => return report(&e, s),
    };
    let written = match s.mode {
        OutputMode::Json => s.put_json(&Shown {
            run: &run,
            build: &build,
        }),
        OutputMode::Table => {
            let mut text = format!(
                "{} #{}  {}  started {}  {}\n",
                client.job(),
                run.number,
                run.status.label(),
                time_text(run.start_ms),
                duration_text(run.duration_ms)
            );
            for p in &build.params {
                text.push_str(&format!("  {} = {}\n", p.name, p.value));
            }
            let mut t = Table::new(&["STAGE", "STATUS", "DURATION"]);
            for st in &run.stages {
                t.row([
                    st.name.clone(),
                    st.status.label().to_string(),
                    duration_text(st.duration_ms),
                ]);
            }
            text.push_str(&t.render());
            if run.stages_dropped > 0 {
                text.push_str(&format!("({} more stages not shown)\n", run.stages_dropped));
            }
            s.put(&crate::domain::sanitize::strip_all(&text))
                .and_then(|()| s.out.flush())
        }
    };
    done(exit::OK, written)
}
