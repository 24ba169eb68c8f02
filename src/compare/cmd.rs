//! The `compare` command: run, relay progress to a running sandbox, report.

use super::*;

/// `blissful-infra compare`. The report goes to `out`; progress and notes
/// to `err`.
pub async fn cmd_compare(
    args: &CompareArgs,
    ctx: &CompareContext,
    mode: OutputMode,
    out: &mut dyn Write,
    err: &mut (dyn Write + Send),
) -> i32 {
    let (tx, rx) = mpsc::channel(256);
    let relay = tokio::spawn(relay_to_sandbox(
        ctx.state.control_socket(),
        args.clone(),
        rx,
    ));
    let result = run(args, ctx, &Watcher::new(tx), err).await;
    // The watcher's sender is gone with `run`; the relay ends after the last event.
    if let Ok(Some(problem)) = relay.await {
        let _ = writeln!(err, "note: consoles do not show this comparison: {problem}");
    }
    let report = match result {
        Ok(r) => r,
        Err(e) => return fail(&e, mode, out, err),
    };
    let written = match mode {
        OutputMode::Table => out.write_all(report.table().as_bytes()),
        OutputMode::Json => crate::report::json_document(&report)
            .map_err(std::io::Error::other)
            .and_then(|s| out.write_all(s.as_bytes())),
    };
    let _ = out.flush();
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => exit::FAILED,
        _ if !report.assessment.thresholds_passed => exit::FAILED,
        _ => exit::OK,
    }
}

/// Plan, measure in a separate sandbox, decide, and promote when allowed:
/// everything `compare` does but the printing. The console calls this too.
pub async fn run(
    args: &CompareArgs,
    ctx: &CompareContext,
    watch: &Watcher,
    err: &mut (dyn Write + Send),
) -> Result<ComparisonReport, CompareError> {
    let plan = plan(args, &ctx.config)?;
    let mut report = run_isolated(&plan, ctx, watch, err).await?;
    report.promotion = promote(args, ctx, &report).await;
    let detail = format!(
        "{} ({}){}",
        report.assessment.verdict.label(),
        if report.assessment.thresholds_passed {
            "thresholds hold"
        } else {
            "a threshold failed"
        },
        if report.promotion.promoted {
            format!("; {}", report.promotion.message)
        } else {
            String::new()
        }
    );
    let status = if report.assessment.thresholds_passed {
        StageStatus::Succeeded
    } else {
        StageStatus::Failed(detail.clone())
    };
    watch.started(STAGE_VERDICT);
    watch.ended(STAGE_VERDICT, status, detail);
    Ok(report)
}

/// Show a CLI comparison to consoles attached to the running sandbox, if
/// there is one. Returns why it could not, when it tried and failed.
pub(super) async fn relay_to_sandbox(
    socket: PathBuf,
    args: CompareArgs,
    mut rx: mpsc::Receiver<CompareEvent>,
) -> Option<String> {
    use crate::runtime::publisher::RunPublisher;
    let remote = match crate::daemon::client::RemoteRuntime::connect(&socket).await {
        Ok(r) => r,
        Err(_) => {
            // No sandbox running: nobody to show it to. Drain and stop.
            while rx.recv().await.is_some() {}
            return None;
        }
    };
    let env = args.env.clone().unwrap_or_else(|| "-".into());
    let mut publisher = RunPublisher::start(
        Arc::new(remote),
        Actor::current("cli"),
        crate::domain::pipeline::PipelineKind::Comparison,
        &env,
        &format!("compare {} → {}", args.old, args.new),
        &STAGES,
        None,
        now_ms(),
    );
    let mut failed = None;
    while let Some(ev) = rx.recv().await {
        match ev {
            CompareEvent::StageStarted(i) => publisher.start_stage(i, now_ms()),
            CompareEvent::StageEnded {
                index,
                status,
                detail,
            } => {
                if let StageStatus::Failed(why) = &status {
                    failed = Some(why.clone());
                }
                publisher.end_stage(index, status, &detail, now_ms());
            }
            CompareEvent::Point { .. } => {}
        }
    }
    let status = match failed {
        Some(why) => StageStatus::Failed(why),
        None => StageStatus::Succeeded,
    };
    publisher.finish(status, now_ms()).await.problem
}

pub(super) fn fail(
    e: &CompareError,
    mode: OutputMode,
    out: &mut dyn Write,
    err: &mut (dyn Write + Send),
) -> i32 {
    crate::report::report_error(e.kind(), &e.to_string(), e.exit_code(), mode, out, err)
}
