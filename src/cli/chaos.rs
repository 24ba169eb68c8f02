//! `chaos` without `--no-wait`: the FMEA suite, its steps as progress on
//! stderr, the FMEA table (or the report as JSON) on stdout, and an exit
//! code from the verdict: 0 when every scenario passed on a measurement.

use std::io::Write;

use super::commands::{action_error, done, Streams};
use super::output::fmea_table;
use super::{exit, OutputMode};
use crate::faults::suite::{run_suite, Progress, Sinks, SuitePlan};
use crate::runtime::{Actor, SharedRuntime};

/// Run `plan` on `rt`; `sinks` say where the report and the knowledge go.
pub async fn cmd_chaos_suite(
    rt: &SharedRuntime,
    actor: &Actor,
    plan: &SuitePlan,
    sinks: Sinks<'_>,
    mode: OutputMode,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let mut s = Streams::new(mode, out, err);
    let names: Vec<&str> = plan.scenarios.iter().map(|k| k.name()).collect();
    s.note(&format!(
        "chaos suite on {}: {}; each fault {}s after a {}s baseline, load: {} (Ctrl-C stops waiting)",
        plan.env,
        names.join(", "),
        plan.params.duration_secs,
        plan.baseline_secs,
        plan.load.as_deref().unwrap_or("the environment's own traffic"),
    ));
    let report = {
        let err = &mut *s.err;
        let mut progress = |p: Progress| {
            let line = match p {
                Progress::StepDone(t) => t.line(),
                // The inject step's line names the experiment.
                Progress::Injected(_) => return,
                Progress::Verdict(v) => format!(
                    "{}: {} (severity {})",
                    v.scenario,
                    v.result.label(),
                    v.severity.label()
                ),
            };
            let _ = writeln!(err, "{}", crate::domain::sanitize::strip_all(&line));
        };
        let run = run_suite(rt.as_ref(), actor, plan, sinks, &mut progress);
        tokio::select! {
            r = run => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        }
    };
    let report = match report {
        None => {
            s.note("stopped waiting; a fault already applied stays until its end (see `blissful-infra status`, undo it with `blissful-infra undo --id <id>`)");
            return exit::INTERRUPTED;
        }
        Some(Err(e)) => return action_error(rt, &e, &mut s).await,
        Some(Ok(r)) => r,
    };
    let written = match s.mode {
        OutputMode::Table => s.put(&fmea_table(&report)),
        OutputMode::Json => s.put_json(&report),
    };
    let code = if report.passed() {
        exit::OK
    } else {
        exit::FAILED
    };
    done(code, written)
}
