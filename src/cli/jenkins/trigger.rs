//! `jenkins trigger [--param K=V]... --yes`: queue a build. It changes
//! something outside, so like every destructive verb it is refused in
//! `--read-only`, asked about unless `--yes`, and written to the audit
//! journal (`requested` before it is sent, then how it ended; when the
//! first entry cannot be written, the build is not triggered).

use std::path::PathBuf;

use super::report;
use crate::cli::commands::{done, Streams};
use crate::cli::confirm::{confirm, Confirmation, Prompt};
use crate::cli::{exit, OutputMode};
use crate::domain::audit::AuditEntry;
use crate::domain::sanitize::strip_all;
use crate::runtime::{append_audit_line, RuntimeError};
use crate::sources::jenkins::JenkinsClient;

/// Most `--param`s taken.
const MAX_PARAMS: usize = 100;

/// What a trigger needs besides the client.
#[derive(Clone, Debug)]
pub struct TriggerContext {
    pub read_only: bool,
    pub audit_journal: PathBuf,
    /// Who asks (the audit journal's `user`).
    pub user: String,
}

/// `NAME=VALUE` for `--param`.
pub fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => {
            if k.chars().chain(v.chars()).any(char::is_control) {
                return Err("a parameter must not contain control characters".into());
            }
            Ok((k.trim().to_string(), v.to_string()))
        }
        _ => Err(format!("`{}` is not NAME=VALUE", strip_all(s))),
    }
}

fn entry(ctx: &TriggerContext, job: &str, outcome: &str, detail: String) -> AuditEntry {
    AuditEntry {
        ts: crate::clock::now_ms(),
        user: ctx.user.clone(),
        env: format!("jenkins:{job}"),
        action: "jenkins trigger".into(),
        from_version: None,
        to_version: None,
        outcome: outcome.into(),
        detail,
    }
}

pub async fn trigger(
    client: &JenkinsClient,
    params: &[(String, String)],
    yes: bool,
    ctx: &TriggerContext,
    prompt: &mut Prompt<'_>,
    s: &mut Streams<'_>,
) -> i32 {
    let job = client.job().to_string();
    let names: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let detail = names.join(" ");
    if params.len() > MAX_PARAMS {
        return s.error(&RuntimeError::Refused(format!(
            "{} parameters given; at most {MAX_PARAMS} are sent",
            params.len()
        )));
    }
    if ctx.read_only {
        let why = "read-only mode: `jenkins trigger` starts a build and is refused";
        let _ = append_audit_line(
            &ctx.audit_journal,
            &entry(ctx, &job, &format!("refused: {why}"), detail),
        );
        return s.error(&RuntimeError::ReadOnly("jenkins trigger".into()));
    }
    let what = if params.is_empty() {
        "trigger a build".to_string()
    } else {
        format!("trigger a build with {detail}")
    };
    let target = format!("Jenkins job `{job}`");
    let asked = Confirmation {
        what: &what,
        env: &target,
        protected: false,
        yes,
    };
    if let Err(e) = confirm(&asked, prompt, s.err) {
        return s.error(&e);
    }
    let requested = entry(
        ctx,
        &job,
        crate::runtime::audited::REQUESTED,
        detail.clone(),
    );
    if let Err(e) = append_audit_line(&ctx.audit_journal, &requested) {
        return s.error(&RuntimeError::Refused(format!(
            "the trigger could not be written to the audit journal, so it is not sent: {e}"
        )));
    }
    let result = client.trigger(params).await;
    let (outcome, more) = match &result {
        Ok(q) => ("accepted".to_string(), format!("queued at {}", q.location)),
        Err(e) => (format!("failed: {e}"), String::new()),
    };
    let detail = [detail, more]
        .into_iter()
        .filter(|d| !d.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    if let Err(e) = append_audit_line(&ctx.audit_journal, &entry(ctx, &job, &outcome, detail)) {
        s.note(&format!(
            "warning: the trigger's outcome is not journalled: {e}"
        ));
    }
    let queued = match result {
        Ok(q) => q,
        Err(e) => return report(&e, s),
    };
    let written = match s.mode {
        OutputMode::Json => s.put_json(&queued),
        OutputMode::Table => s.put(&format!(
            "queued a build of `{}`: {}\n",
            strip_all(&job),
            queued.location
        )),
    };
    done(exit::OK, written)
}
