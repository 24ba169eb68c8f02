//! `blissful-infra pipeline`: `--local` runs the stages here; `list`,
//! `show <id>` and `logs <id> --stage NAME` read stored runs. Results go to
//! `out` (in JSON mode exactly one document), progress and errors to `err`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::model::{RunRecord, RunStatus, StageRecord, StageStatus};
use super::runner::{run_pipeline, Progress, Project, RunOptions};
use super::store::RunStore;
use super::summary::{coverage_text, findings_text, tests_text};
use crate::domain::sanitize::sanitize_str;
use crate::paths::StatePaths;
use crate::report::{exit, json_document, report_error, OutputMode, Table};

/// `pipeline`: run the project's stages on this machine, or read past runs.
#[derive(Args, Debug, Clone)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PipelineArgs {
    #[command(subcommand)]
    pub command: Option<PipelineCmd>,
    /// Run `pipeline.stages` here, each with `sh -c` from the config's directory.
    #[arg(long)]
    pub local: bool,
    /// A stage skipped because its `tool` is not installed fails the run.
    #[arg(long, requires = "local")]
    pub strict: bool,
    /// Run stages whose `inputs` did not change since their last green run.
    #[arg(long, requires = "local")]
    pub force: bool,
    /// Run only this stage.
    #[arg(long, value_name = "NAME", requires = "local")]
    pub stage: Option<String>,
}

#[derive(Subcommand, Debug, Clone)]
pub enum PipelineCmd {
    /// Every stored run, oldest first.
    List,
    /// One run: its stages, durations, test counts, coverage and findings.
    Show { id: u64 },
    /// The log of one stage of a run.
    Logs {
        id: u64,
        #[arg(long, value_name = "NAME")]
        stage: String,
    },
}

impl PipelineArgs {
    /// Whether the command runs stages (and so needs the project's config).
    pub fn runs(&self) -> bool {
        self.command.is_none()
    }
}

/// Run `pipeline`; `project` is the loaded config when `args.runs()`.
pub async fn cmd_pipeline(
    args: &PipelineArgs,
    project: Option<Project>,
    state: &StatePaths,
    mode: OutputMode,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let store = RunStore::new(state);
    match &args.command {
        Some(PipelineCmd::List) => list(&store, mode, out, err),
        Some(PipelineCmd::Show { id }) => show(&store, *id, mode, out, err),
        Some(PipelineCmd::Logs { id, stage }) => logs(&store, *id, stage, mode, out, err),
        None if !args.local => report_error(
            "usage",
            "`pipeline` runs with --local (stages on this machine); running it in Jenkins or a \
             runtime is not built yet. See also `pipeline list`, `show <id>`, `logs <id> --stage NAME`.",
            exit::USAGE,
            mode,
            out,
            err,
        ),
        None => match project {
            Some(p) => run_local(args, &p, &store, mode, out, err).await,
            None => report_error("usage", "no project configuration to run", exit::USAGE, mode, out, err),
        },
    }
}

async fn run_local(
    args: &PipelineArgs,
    project: &Project,
    store: &RunStore,
    mode: OutputMode,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let opts = RunOptions {
        strict: args.strict,
        force: args.force,
        only_stage: args.stage.clone(),
        path_var: std::env::var_os("PATH"),
    };
    let cancel = CancellationToken::new();
    // Registered before any stage starts, so an early Ctrl-C is not lost.
    use tokio::signal::unix::{signal, SignalKind};
    let (mut int, mut term) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(e), _) | (_, Err(e)) => {
            let msg = format!("cannot watch for Ctrl-C: {e}");
            return report_error("pipeline", &msg, exit::FAILED, mode, out, err);
        }
    };
    let on_signal = cancel.clone();
    let watcher = tokio::spawn(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        on_signal.cancel();
    });
    let result = {
        // Progress goes to stdout as a table, to stderr in JSON mode.
        let live: &mut dyn Write = if mode == OutputMode::Json {
            &mut *err
        } else {
            &mut *out
        };
        run_pipeline(project, &opts, store, &cancel, |p| progress(live, p)).await
    };
    watcher.abort();
    let run = match result {
        Ok(r) => r,
        Err(e) => {
            let code = if e.is_usage() {
                exit::USAGE
            } else {
                exit::FAILED
            };
            return report_error("pipeline", &e.to_string(), code, mode, out, err);
        }
    };
    if mode == OutputMode::Json {
        print_json(&run, out, err);
    } else {
        for s in run
            .stages
            .iter()
            .filter(|s| s.status == StageStatus::NotRun)
        {
            let _ = writeln!(out, "{}", stage_line(s));
        }
        let _ = writeln!(out, "{}", summary(&run));
        if let Some(s) = run
            .stages
            .iter()
            .find(|s| s.status == StageStatus::Failed && s.junit.is_none())
        {
            if let Some(log) = &s.log {
                if let Ok(text) = store.read_log(run.id, log) {
                    let lines: Vec<&str> = text.lines().collect();
                    let start = lines.len().saturating_sub(10);
                    let _ = writeln!(out, "last lines of {}:", s.name);
                    for l in lines.get(start..).unwrap_or_default() {
                        let _ = writeln!(out, "  {}", sanitize_str(l));
                    }
                }
            }
        }
    }
    match run.status {
        RunStatus::Passed => exit::OK,
        RunStatus::Cancelled => exit::INTERRUPTED,
        _ => exit::FAILED,
    }
}

fn progress(w: &mut dyn Write, p: Progress<'_>) {
    match p {
        Progress::Started(run) => {
            let _ = writeln!(
                w,
                "pipeline run {} · {} stage{} · {}",
                run.id,
                run.stages.len(),
                if run.stages.len() == 1 { "" } else { "s" },
                run.config
            );
        }
        Progress::StageFinished(s) => {
            let _ = writeln!(w, "{}", stage_line(s));
        }
    }
}

fn mark(s: StageStatus) -> &'static str {
    match s {
        StageStatus::Passed => "✓",
        StageStatus::Failed => "✗",
        StageStatus::Skipped => "-",
        StageStatus::Cancelled => "⊘",
        _ => "·",
    }
}

/// `✗ test  failed  0.4s  com.acme.CartTest.removes: expected … · tests 3 passed, 1 failed`:
/// a failing test's name comes first.
pub fn stage_line(s: &StageRecord) -> String {
    let mut parts = vec![format!(
        "{} {:<12} {:<9}",
        mark(s.status),
        s.name,
        s.status.as_str()
    )];
    if let Some(ms) = s.duration_ms() {
        parts.push(secs(ms));
    }
    parts.push(detail(s));
    parts.retain(|p| !p.is_empty());
    sanitize_str(&parts.join("  "))
}

fn detail(s: &StageRecord) -> String {
    let mut bits = Vec::new();
    if let Some(f) = s.junit.as_ref().and_then(|j| j.failures.first()) {
        bits.push(if f.message.is_empty() {
            format!("FAILED {}", f.name)
        } else {
            format!("FAILED {}: {}", f.name, f.message)
        });
    }
    bits.extend(tests_text(s));
    bits.extend(coverage_text(s));
    if let Some(mut v) = findings_text(s) {
        if let Some(f) = s.trivy.as_ref().and_then(|t| t.top.first()) {
            v.push_str(&format!(" (top {} in {})", f.id, f.package));
        }
        bits.push(v);
    }
    if let Some(r) = &s.reason {
        if !(s.junit.is_some() && r.contains("tests failed")) {
            bits.push(r.clone());
        }
    }
    for e in s
        .result_errors
        .iter()
        .skip(usize::from(s.reason.as_ref() == s.result_errors.first()))
    {
        bits.push(e.clone());
    }
    if s.log_dropped > 0 {
        bits.push(format!("log: {} lines dropped", s.log_dropped));
    }
    bits.join(" · ")
}

fn secs(ms: i64) -> String {
    format!("{:.1}s", ms.max(0) as f64 / 1000.0)
}

fn summary(run: &RunRecord) -> String {
    let count = |st: StageStatus| run.stages.iter().filter(|s| s.status == st).count();
    let took = run
        .ended_ms
        .map(|e| secs(e - run.started_ms))
        .unwrap_or_default();
    format!(
        "pipeline run {} {} in {took}: {} passed, {} failed, {} skipped",
        run.id,
        run.status.as_str(),
        count(StageStatus::Passed),
        count(StageStatus::Failed),
        count(StageStatus::Skipped),
    )
}

fn print_json<T: Serialize + ?Sized>(value: &T, out: &mut dyn Write, err: &mut dyn Write) {
    match json_document(value) {
        Ok(doc) => {
            let _ = out.write_all(doc.as_bytes());
        }
        Err(e) => {
            let _ = writeln!(err, "error: cannot encode JSON: {e}");
        }
    }
}

#[derive(Serialize)]
struct ListRow<'a> {
    id: u64,
    status: &'a str,
    started_ms: i64,
    duration_ms: Option<i64>,
    passed: usize,
    failed: usize,
    skipped: usize,
    stages: usize,
}

fn list(store: &RunStore, mode: OutputMode, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    if let Err(e) = store.mark_interrupted() {
        let _ = writeln!(err, "warning: {e}");
    }
    let (runs, problems) = match store.list() {
        Ok(r) => r,
        Err(e) => return report_error("pipeline", &e.to_string(), exit::FAILED, mode, out, err),
    };
    for p in &problems {
        let _ = writeln!(err, "warning: {}", sanitize_str(p));
    }
    let rows: Vec<ListRow<'_>> = runs
        .iter()
        .map(|r| {
            let count = |st: StageStatus| r.stages.iter().filter(|s| s.status == st).count();
            ListRow {
                id: r.id,
                status: r.status.as_str(),
                started_ms: r.started_ms,
                duration_ms: r.ended_ms.map(|e| e - r.started_ms),
                passed: count(StageStatus::Passed),
                failed: count(StageStatus::Failed),
                skipped: count(StageStatus::Skipped),
                stages: r.stages.len(),
            }
        })
        .collect();
    if mode == OutputMode::Json {
        print_json(&serde_json::json!({ "runs": rows }), out, err);
        return exit::OK;
    }
    if rows.is_empty() {
        let _ = writeln!(
            out,
            "no pipeline runs yet (run `blissful-infra pipeline --local`)"
        );
        return exit::OK;
    }
    let mut t = Table::new(&["ID", "STATUS", "STARTED", "DURATION", "STAGES"]);
    for r in &rows {
        let started = chrono::DateTime::from_timestamp_millis(r.started_ms)
            .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        t.row([
            r.id.to_string(),
            r.status.to_string(),
            started,
            r.duration_ms.map(secs).unwrap_or_else(|| "-".into()),
            format!(
                "{} passed, {} failed, {} skipped of {}",
                r.passed, r.failed, r.skipped, r.stages
            ),
        ]);
    }
    let _ = out.write_all(t.render().as_bytes());
    exit::OK
}

fn show(
    store: &RunStore,
    id: u64,
    mode: OutputMode,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let run = match store.load(id) {
        Ok(r) => r,
        Err(e) => return report_error("pipeline", &e.to_string(), exit::FAILED, mode, out, err),
    };
    if mode == OutputMode::Json {
        print_json(&run, out, err);
        return exit::OK;
    }
    let _ = writeln!(out, "{}", summary(&run));
    let mut t = Table::new(&["STAGE", "STATUS", "DURATION", "DETAIL"]);
    for s in &run.stages {
        t.row([
            s.name.clone(),
            s.status.as_str().to_string(),
            s.duration_ms().map(secs).unwrap_or_else(|| "-".into()),
            sanitize_str(&detail(s)),
        ]);
    }
    let _ = out.write_all(t.render().as_bytes());
    exit::OK
}

fn logs(
    store: &RunStore,
    id: u64,
    stage: &str,
    mode: OutputMode,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let run = match store.load(id) {
        Ok(r) => r,
        Err(e) => return report_error("pipeline", &e.to_string(), exit::FAILED, mode, out, err),
    };
    let Some(s) = run.stage(stage) else {
        let known: Vec<&str> = run.stages.iter().map(|s| s.name.as_str()).collect();
        let msg = format!(
            "run {id} has no stage `{}` (stages: {})",
            sanitize_str(stage),
            known.join(", ")
        );
        return report_error("usage", &msg, exit::USAGE, mode, out, err);
    };
    let Some(file) = &s.log else {
        let msg = format!(
            "stage `{}` of run {id} has no log ({})",
            s.name,
            s.status.as_str()
        );
        return report_error("pipeline", &msg, exit::FAILED, mode, out, err);
    };
    let text = match store.read_log(id, file) {
        Ok(t) => t,
        Err(e) => return report_error("pipeline", &e.to_string(), exit::FAILED, mode, out, err),
    };
    let clean: String = text.lines().map(|l| sanitize_str(l) + "\n").collect();
    if mode == OutputMode::Json {
        print_json(
            &serde_json::json!({ "run": id, "stage": s.name, "log": clean, "lines": s.log_lines, "dropped": s.log_dropped }),
            out,
            err,
        );
    } else {
        let _ = out.write_all(clean.as_bytes());
    }
    exit::OK
}

/// The project to run from a loaded config: commands start in `dir` (the
/// config's directory; the current one when that is empty).
pub fn project(
    config_path: PathBuf,
    dir: PathBuf,
    stages: Vec<crate::config::PipelineStage>,
) -> Project {
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    Project {
        config_path,
        dir,
        stages,
    }
}
