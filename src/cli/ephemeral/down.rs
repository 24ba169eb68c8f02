//! `down --ephemeral NAME [--yes] [--wait 5m]`: delete the namespace of an
//! ephemeral environment (only one this project made), after asking, and
//! wait until the cluster has removed it and everything in it.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::{bad_name, kube_error, EphemeralContext, Journal, POLL};
use crate::cli::commands::{done, Streams};
use crate::cli::confirm::{confirm, Confirmation, Prompt};
use crate::cli::{exit, OutputMode};
use crate::domain::duration::exact_text;
use crate::kubernetes::connect::connect;
use crate::kubernetes::ephemeral::{api, namespace_for, ownership, Ownership};
use crate::kubernetes::fields::{clean, list, raw};
use crate::runtime::RuntimeError;

/// What was asked on the command line.
#[derive(Clone, Debug)]
pub struct DownRequest<'a> {
    pub name: &'a str,
    /// How long the namespace may take to go.
    pub wait: Duration,
    /// `--yes`.
    pub yes: bool,
}

#[derive(Clone, Debug, Serialize)]
struct DownReport {
    name: String,
    namespace: String,
    /// False when there was nothing to remove.
    removed: bool,
}

pub async fn down(
    ctx: &EphemeralContext,
    req: &DownRequest<'_>,
    prompt: &mut Prompt<'_>,
    s: &mut Streams<'_>,
) -> i32 {
    let namespace = match namespace_for(&ctx.project, req.name) {
        Ok(n) => n,
        Err(e) => return bad_name(&e, s),
    };
    let journal = Journal {
        ctx,
        namespace: &namespace,
        action: "down --ephemeral",
    };
    let detail = "delete the namespace and everything in it";
    if ctx.read_only {
        let e = RuntimeError::ReadOnly("`down --ephemeral` (it deletes a namespace)".into());
        return journal.refuse(e, detail, s);
    }
    let conn = match connect(&ctx.target).await {
        Ok(c) => c,
        Err(e) => return s.error(&kube_error(e)),
    };
    let existing = match api::get_namespace(&conn, &namespace).await {
        Ok(ns) => ns,
        Err(e) => return s.error(&kube_error(e)),
    };
    let Some(ns) = existing else {
        s.note(&format!(
            "no ephemeral environment {}: the namespace {namespace} does not exist; nothing to remove",
            clean(req.name)
        ));
        return report(s, req.name, &namespace, false);
    };
    let why = match ownership(&ns, &ctx.project) {
        Ownership::Ours => None,
        Ownership::NotOurs => Some(format!(
            "the namespace {namespace} is not an ephemeral environment of blissful-infra (no \
             `app.kubernetes.io/managed-by: blissful-infra` and `blissful-infra/ephemeral` \
             labels); it is not deleted"
        )),
        Ownership::OtherProject(p) => Some(format!(
            "the namespace {namespace} is an ephemeral environment of project `{p}`; it is not \
             deleted"
        )),
    };
    if let Some(why) = why {
        return journal.refuse(RuntimeError::Refused(why), detail, s);
    }
    let target = format!("namespace {namespace}");
    let asked = Confirmation {
        what: "down --ephemeral (deletes everything in it)",
        env: &target,
        protected: false,
        yes: req.yes,
    };
    if let Err(e) = confirm(&asked, prompt, s.err) {
        return journal.refuse(e, detail, s);
    }
    if let Err(e) = journal.ahead(detail) {
        return s.error(&e);
    }
    let result = remove(&conn, &namespace, req, s).await;
    journal.outcome(&result, detail, s);
    match result {
        Ok(()) => report(s, req.name, &namespace, true),
        Err(e) => s.error(&e),
    }
}

fn report(s: &mut Streams<'_>, name: &str, namespace: &str, removed: bool) -> i32 {
    let doc = DownReport {
        name: clean(name),
        namespace: namespace.to_string(),
        removed,
    };
    let written = match (s.mode, removed) {
        (OutputMode::Json, _) => s.put_json(&doc),
        (OutputMode::Table, true) => s.put(&format!(
            "removed ephemeral environment {} (namespace {namespace})\n",
            doc.name
        )),
        (OutputMode::Table, false) => Ok(()),
    };
    done(exit::OK, written)
}

/// Delete, then wait until it is gone.
async fn remove(
    conn: &crate::kubernetes::connect::Connection,
    namespace: &str,
    req: &DownRequest<'_>,
    s: &mut Streams<'_>,
) -> Result<(), RuntimeError> {
    api::delete_namespace(conn, namespace)
        .await
        .map_err(kube_error)?;
    let mut progress = |ns: &Value| {
        let phase = raw(ns, &["status", "phase"]).map_or_else(|| "deleting".into(), clean);
        s.note(&format!(
            "namespace {namespace}: {phase}; waiting until it is gone"
        ));
    };
    let left = api::wait_gone(conn, namespace, (req.wait, POLL), &mut progress)
        .await
        .map_err(kube_error)?;
    match left {
        None => Ok(()),
        Some(ns) => Err(RuntimeError::Failed(format!(
            "the namespace {namespace} is still there after {}{}; the cluster removes it once \
             everything in it is gone (kubectl get namespace {namespace} -o yaml shows what holds it)",
            exact_text(req.wait.as_secs().max(1)),
            holding(&ns)
        ))),
    }
}

/// ` (finalizers: kubernetes; NamespaceContentRemaining: …)`, or nothing.
fn holding(ns: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    let finalizers: Vec<String> = list(ns, &["spec", "finalizers"])
        .iter()
        .chain(list(ns, &["metadata", "finalizers"]))
        .filter_map(Value::as_str)
        .map(clean)
        .collect();
    if !finalizers.is_empty() {
        parts.push(format!("finalizers: {}", finalizers.join(", ")));
    }
    for c in list(ns, &["status", "conditions"]) {
        if raw(c, &["status"]) == Some("True") {
            if let (Some(t), Some(m)) = (raw(c, &["type"]), raw(c, &["message"])) {
                parts.push(format!("{}: {}", clean(t), clean(m)));
            }
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join("; "))
    }
}
