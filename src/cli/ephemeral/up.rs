//! `up --ephemeral NAME [--ttl 4h] [--wait 5m]`: render the `ephemeral`
//! overlay into `<project>-NAME` (nothing is changed when that fails),
//! create the namespace with its owner and TTL (or find it ours and apply
//! again), apply server-side, and wait for the Deployments.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::{bad_name, kube_error, EphemeralContext, Journal, POLL};
use crate::cli::commands::{done, Streams};
use crate::cli::{exit, OutputMode};
use crate::domain::duration::{exact_text, parse_within, MAX_TTL};
use crate::domain::sanitize_lines::strip_lines;
use crate::kubernetes::connect::{connect, Connection};
use crate::kubernetes::ephemeral::ready::{summary, wait_ready, Readiness, WaitEnd};
use crate::kubernetes::ephemeral::{
    api, down_command, is_terminating, label_value, namespace_for, namespace_object, ownership,
    Ownership, Spec, CREATED_AT_ANNOTATION, OVERLAY, TTL_ANNOTATION,
};
use crate::kubernetes::fields::{clean, raw};
use crate::kubernetes::gitops::apply::{apply_objects, render_in_namespace};
use crate::runtime::RuntimeError;

/// What was asked on the command line.
#[derive(Clone, Debug)]
pub struct UpRequest<'a> {
    pub name: &'a str,
    /// `--ttl`; `None`: `kubernetes.ephemeral_ttl`.
    pub ttl: Option<Duration>,
    /// `--wait`: how long the Deployments may take; zero does not wait.
    pub wait: Duration,
}

/// What `up --ephemeral` did (its JSON).
#[derive(Clone, Debug, Serialize)]
struct UpReport {
    name: String,
    namespace: String,
    owner: String,
    ttl: String,
    created_at: String,
    /// False when the namespace was there already (applied again).
    created: bool,
    /// `Kind/name` of each object applied, in order.
    applied: Vec<String>,
    /// Objects of the overlay left out (a Namespace: the environment's is
    /// made here).
    skipped: Vec<String>,
    deployments: Vec<Readiness>,
    /// False only with `--wait 0`.
    waited: bool,
    remove: String,
}

pub async fn up(ctx: &EphemeralContext, req: &UpRequest<'_>, s: &mut Streams<'_>) -> i32 {
    let namespace = match namespace_for(&ctx.project, req.name) {
        Ok(n) => n,
        Err(e) => return bad_name(&e, s),
    };
    let ttl = exact_text(req.ttl.unwrap_or(ctx.default_ttl).as_secs());
    let journal = Journal {
        ctx,
        namespace: &namespace,
        action: "up --ephemeral",
    };
    let detail = format!("ttl {ttl}");
    if ctx.read_only {
        let e = RuntimeError::ReadOnly("`up --ephemeral` (it creates a namespace)".into());
        return journal.refuse(e, &detail, s);
    }
    let result = run(ctx, req, &namespace, &ttl, &journal, s).await;
    journal.outcome(&result, &detail, s);
    let report = match result {
        Ok(r) => r,
        Err(e) => return s.error(&e),
    };
    let written = match s.mode {
        OutputMode::Json => s.put_json(&report),
        OutputMode::Table => s.put(&text(&report)),
    };
    done(exit::OK, written)
}

fn text(r: &UpReport) -> String {
    let verb = if r.created { "created" } else { "updated" };
    let state = match (r.waited, r.deployments.is_empty()) {
        (false, _) => "not waited for".to_string(),
        (true, true) => "ready (no Deployments)".to_string(),
        (true, false) => format!("ready ({})", summary(&r.deployments)),
    };
    let mut out = format!(
        "{verb} ephemeral environment {} in namespace {} (owner {}, TTL {}): {state}\n",
        r.name, r.namespace, r.owner, r.ttl
    );
    out.push_str(&format!("applied: {}\n", r.applied.join(", ")));
    if !r.skipped.is_empty() {
        out.push_str(&format!("left out: {}\n", r.skipped.join(", ")));
    }
    out.push_str(&format!("remove it with: {}\n", r.remove));
    strip_lines(&out)
}

/// Everything after the read-only check; the audit's `requested` goes
/// before the first change.
async fn run(
    ctx: &EphemeralContext,
    req: &UpRequest<'_>,
    namespace: &str,
    ttl: &str,
    journal: &Journal<'_>,
    s: &mut Streams<'_>,
) -> Result<UpReport, RuntimeError> {
    let overlay = ctx.overlays.join(OVERLAY);
    if !overlay.is_dir() {
        return Err(RuntimeError::Refused(format!(
            "no `{OVERLAY}` overlay: {} does not exist (a project made by `blissful-infra create \
             --target kubernetes` has one); nothing was changed",
            overlay.display()
        )));
    }
    let rendered = render_in_namespace(&overlay, namespace)
        .await
        .map_err(|e| RuntimeError::Failed(format!("{e}; nothing was changed")))?;
    let is_namespace = |o: &Value| raw(o, &["kind"]) == Some("Namespace");
    let skipped = rendered
        .iter()
        .filter(|o| is_namespace(o))
        .map(|o| {
            format!(
                "Namespace/{}",
                clean(raw(o, &["metadata", "name"]).unwrap_or("?"))
            )
        })
        .collect();
    let objects: Vec<Value> = rendered.into_iter().filter(|o| !is_namespace(o)).collect();
    let conn = connect(&ctx.target).await.map_err(super::kube_error)?;
    let existing = api::get_namespace(&conn, namespace)
        .await
        .map_err(kube_error)?;
    let mut spec = Spec {
        name: req.name.to_string(),
        namespace: namespace.to_string(),
        project: ctx.project.clone(),
        owner: label_value(&ctx.user),
        ttl: ttl.to_string(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    if let Some(ns) = &existing {
        check_ours(ns, &ctx.project, namespace)?;
    }
    journal.ahead(&format!("ttl {ttl}"))?;
    let created = match existing {
        None => {
            api::create_namespace(&conn, &namespace_object(&spec))
                .await
                .map_err(kube_error)?;
            s.note(&format!(
                "created namespace {namespace} (owner {}, TTL {ttl})",
                spec.owner
            ));
            true
        }
        Some(ns) => {
            keep_existing(&conn, &ns, req, &mut spec).await?;
            s.note(&format!(
                "namespace {namespace} is this project's already: applying the overlay again"
            ));
            false
        }
    };
    let left = |e: String| {
        RuntimeError::Failed(format!(
            "{e}; the namespace {namespace} stays: remove it with `{}`",
            down_command(req.name)
        ))
    };
    let applied = apply_objects(&conn, &objects, namespace)
        .await
        .map_err(|e| left(e.to_string()))?;
    let names: Vec<String> = objects
        .iter()
        .filter(|o| raw(o, &["kind"]) == Some("Deployment"))
        .filter_map(|o| raw(o, &["metadata", "name"]).map(str::to_string))
        .collect();
    let waited = !req.wait.is_zero();
    let deployments = if waited {
        wait(&conn, namespace, &names, req, s).await?
    } else {
        Vec::new()
    };
    Ok(UpReport {
        name: spec.name,
        namespace: spec.namespace,
        owner: spec.owner,
        ttl: spec.ttl,
        created_at: spec.created_at,
        created,
        applied,
        skipped,
        deployments,
        waited,
        remove: down_command(req.name),
    })
}

/// Refuse a namespace this project did not make, or one being deleted.
fn check_ours(ns: &Value, project: &str, namespace: &str) -> Result<(), RuntimeError> {
    let why = match ownership(ns, project) {
        Ownership::Ours if is_terminating(ns) => format!(
            "the namespace {namespace} is being deleted; run `up --ephemeral` again once it is gone"
        ),
        Ownership::Ours => return Ok(()),
        Ownership::NotOurs => format!(
            "the namespace {namespace} exists and is not an ephemeral environment of \
             blissful-infra (no `app.kubernetes.io/managed-by: blissful-infra` and \
             `blissful-infra/ephemeral` labels); nothing was changed: pick another name"
        ),
        Ownership::OtherProject(p) => format!(
            "the namespace {namespace} is an ephemeral environment of project `{p}`; \
             nothing was changed: pick another name"
        ),
    };
    Err(RuntimeError::Refused(why))
}

/// An existing namespace keeps its owner and creation time; an explicit
/// `--ttl` replaces its TTL.
async fn keep_existing(
    conn: &Connection,
    ns: &Value,
    req: &UpRequest<'_>,
    spec: &mut Spec,
) -> Result<(), RuntimeError> {
    let note = |k: &str| raw(ns, &["metadata", "annotations", k]);
    if let Some(at) = note(CREATED_AT_ANNOTATION) {
        spec.created_at = clean(at);
    }
    if let Some(owner) = raw(
        ns,
        &[
            "metadata",
            "labels",
            crate::kubernetes::ephemeral::OWNER_LABEL,
        ],
    ) {
        spec.owner = label_value(owner);
    }
    let current = note(TTL_ANNOTATION);
    let same = current
        .and_then(|t| parse_within(t, MAX_TTL).ok())
        .is_some_and(|d| exact_text(d.as_secs()) == spec.ttl);
    match (req.ttl, current) {
        (Some(_), _) if !same => api::set_ttl(conn, &spec.namespace, &spec.ttl)
            .await
            .map_err(kube_error),
        (None, Some(t)) => {
            spec.ttl = clean(t);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Wait for the Deployments; past `--wait`, say which one is not ready and
/// that the namespace stays.
async fn wait(
    conn: &Connection,
    namespace: &str,
    names: &[String],
    req: &UpRequest<'_>,
    s: &mut Streams<'_>,
) -> Result<Vec<Readiness>, RuntimeError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut progress = |line: &str| s.note(&format!("waiting for {namespace}: {line}"));
    let end = wait_ready(conn, namespace, names, (req.wait, POLL), &mut progress)
        .await
        .map_err(kube_error)?;
    match end {
        WaitEnd::Ready(states) => Ok(states),
        WaitEnd::TimedOut(states) => {
            let late: Vec<String> = states
                .iter()
                .filter(|r| !r.ready)
                .map(|r| {
                    let why = r
                        .why
                        .as_deref()
                        .map(|w| format!(": {w}"))
                        .unwrap_or_default();
                    format!(
                        "Deployment {} ({}/{} available{why})",
                        r.name, r.available, r.want
                    )
                })
                .collect();
            Err(RuntimeError::Failed(format!(
                "{} not ready after {}; the namespace {namespace} is left for you to look at \
                 (kubectl -n {namespace} get pods,events); remove it with `{}`",
                late.join(", "),
                exact_text(req.wait.as_secs().max(1)),
                down_command(req.name)
            )))
        }
    }
}
