//! Promote the new version when the comparison says it is not worse.
//!
//! The resilience gate is the one `promote --from` uses
//! ([`crate::domain::chaos::resilience_gate`]), fed with the score this
//! comparison just measured for the new version (`include_chaos`). The
//! FMEA history `promote` reads (`launch::gate::gate_for`) scores an
//! environment of the running sandbox, i.e. the version already there, not
//! this candidate, so it is not consulted here; without `include_chaos` the
//! gate is not applied and the promotion says so.

use super::*;
use crate::domain::chaos::{resilience_gate, Gate, LastScore};
use crate::domain::sanitize::strip_all;

/// Why the report does not allow an automatic promotion; `Ok(note)` with a
/// note about the resilience gate when it does.
pub(super) fn promotable(report: &ComparisonReport, config: &Config) -> Result<String, String> {
    let a = &report.assessment;
    if a.verdict != Verdict::NewWins || !a.thresholds_passed {
        return Err(format!(
            "the verdict is `{}`; only a clear win is promoted",
            a.verdict.label()
        ));
    }
    if let Some(first) = a.warnings.first() {
        return Err(format!(
            "{} warning(s), the first: {first}; a warning blocks automatic promotion",
            a.warnings.len()
        ));
    }
    if !config.comparison.include_chaos {
        return Ok(
            "; resilience gate not applied: no score for the new version (comparison.include_chaos is off)"
                .into(),
        );
    }
    let min = config.comparison.thresholds.min_resilience_score;
    let last = report.new.resilience_score.map(|score| LastScore {
        score,
        at: now_ms(),
    });
    let version = strip_all(&report.new.version);
    match resilience_gate(last, min) {
        Gate::Open(l) => Ok(format!(
            "; resilience gate open: {version} scored {:.0}/100 (minimum {min:.0})",
            l.score
        )),
        Gate::NoScore => Err(format!(
            "the FMEA suite gave {version} no score, so the resilience gate (comparison.thresholds.min_resilience_score {min:.0}) cannot open"
        )),
        g @ Gate::Closed { .. } => Err(g.describe(&version)),
    }
}

/// Deploy the new version to `--env` of the running sandbox when the
/// config allows it and the new version clearly won; say why not otherwise.
pub(super) async fn promote(
    args: &CompareArgs,
    ctx: &CompareContext,
    report: &ComparisonReport,
) -> Promotion {
    let not = |reason: String| Promotion {
        attempted: false,
        promoted: false,
        env: args.env.clone(),
        message: reason,
    };
    if !ctx.config.comparison.auto_promote {
        return not("comparison.auto_promote is off in the config".into());
    }
    let gate_note = match promotable(report, &ctx.config) {
        Ok(note) => note,
        Err(why) => return not(why),
    };
    let Some(env) = &args.env else {
        return not("no --env given to promote to".into());
    };
    if ctx.read_only {
        return not("read-only mode".into());
    }
    let socket = ctx.state.control_socket();
    let remote = match crate::daemon::client::RemoteRuntime::connect(&socket).await {
        Ok(r) => r,
        Err(e) => return not(format!("no running sandbox to promote in: {e}")),
    };
    let actor = Actor::current("compare");
    match remote
        .deploy(&actor, env, &Version::new(report.new.version.clone()))
        .await
    {
        Ok(accepted) => Promotion {
            attempted: true,
            promoted: true,
            env: Some(env.clone()),
            message: format!(
                "deploying {} to {} (pipeline {}){gate_note}",
                report.new.version,
                sanitize_str(env),
                accepted.pipeline_id
            ),
        },
        Err(e) => Promotion {
            attempted: true,
            promoted: false,
            env: Some(env.clone()),
            message: format!("deploy {}", e.refusal()),
        },
    }
}
