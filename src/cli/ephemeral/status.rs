//! `status` on Kubernetes: the environments, then this project's ephemeral
//! environments (owner, age, TTL, `expired` past it). In JSON one object,
//! `{"environments": [...], "ephemeral": [...]}`; when the namespaces
//! cannot be listed, the environments are still shown and the reason is
//! given (`ephemeral_error`).

use serde::Serialize;

use super::{kube_error, EphemeralContext};
use crate::cli::commands::{done, status_text, Streams};
use crate::cli::output::ephemeral_table;
use crate::cli::{exit, OutputMode};
use crate::domain::environment::EnvironmentStatus;
use crate::domain::sanitize_lines::strip_lines;
use crate::kubernetes::connect::connect;
use crate::kubernetes::ephemeral::view::{view, EphemeralView};
use crate::kubernetes::ephemeral::{api, selector};
use crate::runtime::{RuntimeError, SharedRuntime};

#[derive(Serialize)]
struct StatusDoc<'a> {
    environments: &'a [EnvironmentStatus],
    ephemeral: &'a [EphemeralView],
    #[serde(skip_serializing_if = "Option::is_none")]
    ephemeral_error: Option<String>,
}

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

pub async fn status(rt: &SharedRuntime, ctx: &EphemeralContext, s: &mut Streams<'_>) -> i32 {
    let envs = match rt.status().await {
        Ok(e) => e,
        Err(e) => return s.error(&e),
    };
    let (views, error) = match listed(ctx).await {
        Ok(v) => (v, None),
        Err(e) => (
            Vec::new(),
            Some(format!("cannot list ephemeral environments: {e}")),
        ),
    };
    let written = match s.mode {
        OutputMode::Json => s.put_json(&StatusDoc {
            environments: &envs,
            ephemeral: &views,
            ephemeral_error: error,
        }),
        OutputMode::Table => {
            let below = match &error {
                Some(e) => format!("{e}\n"),
                None => ephemeral_table(&views),
            };
            s.put(&strip_lines(&format!(
                "{}\n{below}",
                status_text(rt, &envs)
            )))
        }
    };
    done(exit::OK, written)
}
