//! `status` on Kubernetes: the environments, then this project's ephemeral
//! environments (owner, age, TTL, `expired` past it). `status --ephemeral`
//! shows only the latter. In JSON each is an array of its own kind, as on
//! every runtime (`status -o json` stays the environments' array); when the
//! namespaces cannot be listed, the environments are still shown and the
//! reason is given.

use super::{kube_error, EphemeralContext};
use crate::cli::commands::{done, status_text, Streams};
use crate::cli::output::ephemeral_table;
use crate::cli::{exit, OutputMode};
use crate::domain::sanitize_lines::strip_lines;
use crate::kubernetes::connect::connect;
use crate::kubernetes::ephemeral::view::{view, EphemeralView};
use crate::kubernetes::ephemeral::{api, selector};
use crate::runtime::{RuntimeError, SharedRuntime};

/// This project's ephemeral namespaces, oldest first.
async fn listed(ctx: &EphemeralContext) -> Result<Vec<EphemeralView>, RuntimeError> {
    let conn = connect(&ctx.target).await.map_err(kube_error)?;
    let found = api::list_namespaces(&conn, &selector(&ctx.project))
        .await
        .map_err(kube_error)?;
    let now = crate::clock::now_ms();
    let mut views: Vec<EphemeralView> =
        found.iter().map(|ns| view(ns, &ctx.project, now)).collect();
    views.sort_by(|a, b| {
        b.age_secs
            .cmp(&a.age_secs)
            .then_with(|| a.namespace.cmp(&b.namespace))
    });
    Ok(views)
}

pub async fn status(
    rt: &SharedRuntime,
    ctx: &EphemeralContext,
    only_ephemeral: bool,
    s: &mut Streams<'_>,
) -> i32 {
    if only_ephemeral {
        return match listed(ctx).await {
            Ok(views) => {
                let written = match s.mode {
                    OutputMode::Json => s.put_json(&views),
                    OutputMode::Table => s.put(&strip_lines(&ephemeral_table(&views))),
                };
                done(exit::OK, written)
            }
            Err(e) => s.error(&RuntimeError::Unavailable(format!(
                "cannot list ephemeral environments: {e}"
            ))),
        };
    }
    let envs = match rt.status().await {
        Ok(e) => e,
        Err(e) => return s.error(&e),
    };
    let written = match s.mode {
        // The same array as on every runtime; `--ephemeral` gives the rest.
        OutputMode::Json => s.put_json(&envs),
        OutputMode::Table => {
            let below = match listed(ctx).await {
                Ok(views) => ephemeral_table(&views),
                Err(e) => format!("cannot list ephemeral environments: {e}\n"),
            };
            s.put(&strip_lines(&format!(
                "{}\n{below}",
                status_text(rt, &envs)
            )))
        }
    };
    done(exit::OK, written)
}
