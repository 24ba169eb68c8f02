//! Promote the new version when the comparison says it is not worse.

use super::*;

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
    if report.assessment.verdict != Verdict::NewWins || !report.assessment.thresholds_passed {
        return not(format!(
            "the verdict is `{}`; only a clear win is promoted",
            report.assessment.verdict.label()
        ));
    }
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
                "deploying {} to {} (pipeline {})",
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
