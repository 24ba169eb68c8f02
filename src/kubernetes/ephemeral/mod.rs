//! Ephemeral environments: a namespace of their own per pull request or
//! experiment (`up --ephemeral pr-42` makes `<project>-pr-42`), with the
//! project's `ephemeral` overlay applied into it, an owner and a time to
//! live; `down --ephemeral` deletes it, `status` lists them.
//!
//! The namespace says whose it is: labels `app.kubernetes.io/managed-by:
//! blissful-infra`, `blissful-infra/ephemeral: "true"`,
//! `blissful-infra/project` and `blissful-infra/owner`, annotations
//! `blissful-infra/ttl` and `blissful-infra/created-at` (RFC 3339). A
//! namespace without them is somebody else's and is never touched.
//!
//! Pure rules here (names, labels, the namespace object, ownership);
//! [`api`] talks to the cluster, [`ready`] waits for the Deployments,
//! [`view`] is what `status` shows.

pub mod api;
pub mod ready;
pub mod view;

use serde_json::{json, Value};

use crate::kubernetes::chaos::manifest::{MANAGED_BY, MANAGER};
use crate::kubernetes::fields::{clean, raw};

/// `"true"` on every ephemeral namespace.
pub const EPHEMERAL_LABEL: &str = "blissful-infra/ephemeral";
/// Who made it (`$USER`, made a label value).
pub const OWNER_LABEL: &str = "blissful-infra/owner";
/// The project's name, so `status` lists this project's only.
pub const PROJECT_LABEL: &str = "blissful-infra/project";
/// How long it is meant to live (`4h`).
pub const TTL_ANNOTATION: &str = "blissful-infra/ttl";
/// When it was made, RFC 3339.
pub const CREATED_AT_ANNOTATION: &str = "blissful-infra/created-at";
/// The overlay folder applied into the namespace.
pub const OVERLAY: &str = "ephemeral";
/// The longest DNS-1123 label, and label value.
pub const MAX_LABEL: usize = 63;

/// Why a name cannot be an ephemeral environment's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("`{0}` is not a valid ephemeral environment name: use lowercase letters, digits and `-`, starting and ending with a letter or digit (a DNS-1123 label, like pr-42)")]
    NotALabel(String),
    #[error("the namespace `{namespace}` would be {len} characters; a namespace has at most 63: use a shorter name")]
    TooLong { namespace: String, len: usize },
    #[error("the namespace `{0}` is not a DNS-1123 label: the project name must be lowercase letters, digits and `-` for ephemeral environments")]
    BadProject(String),
}

/// A DNS-1123 label: 1..=63 of `a-z`, `0-9` and `-`, starting and ending
/// with a letter or digit.
pub fn is_dns_label(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !s.is_empty()
        && s.len() <= MAX_LABEL
        && s.chars().all(|c| alnum(c) || c == '-')
        && s.starts_with(alnum)
        && s.ends_with(alnum)
}

/// The namespace of ephemeral environment `name`: `<project>-<name>`.
pub fn namespace_for(project: &str, name: &str) -> Result<String, NameError> {
    if !is_dns_label(name) {
        return Err(NameError::NotALabel(clean(name)));
    }
    let namespace = format!("{project}-{name}");
    if namespace.len() > MAX_LABEL {
        return Err(NameError::TooLong {
            len: namespace.len(),
            namespace: clean(&namespace),
        });
    }
    if !is_dns_label(&namespace) {
        return Err(NameError::BadProject(clean(&namespace)));
    }
    Ok(namespace)
}

/// Any text made a label value: letters, digits, `-`, `_` and `.` kept,
/// anything else `-`, starting and ending with a letter or digit, at most
/// 63 characters; `unknown` when nothing is left.
pub fn label_value(s: &str) -> String {
    let kept: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let cut: String = kept
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .chars()
        .take(MAX_LABEL)
        .collect();
    let out = cut.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    if out.is_empty() {
        "unknown".into()
    } else {
        out.to_string()
    }
}

/// What `up --ephemeral` makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub name: String,
    pub namespace: String,
    pub project: String,
    /// A label value already (see [`label_value`]).
    pub owner: String,
    /// As written in the annotation (`4h`).
    pub ttl: String,
    /// RFC 3339.
    pub created_at: String,
}

/// The label selector of this project's ephemeral namespaces.
pub fn selector(project: &str) -> String {
    format!(
        "{MANAGED_BY}={MANAGER},{EPHEMERAL_LABEL}=true,{PROJECT_LABEL}={}",
        label_value(project)
    )
}

/// The Namespace to create.
pub fn namespace_object(spec: &Spec) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": spec.namespace,
            "labels": {
                MANAGED_BY: MANAGER,
                EPHEMERAL_LABEL: "true",
                PROJECT_LABEL: label_value(&spec.project),
                OWNER_LABEL: spec.owner,
            },
            "annotations": {
                TTL_ANNOTATION: spec.ttl,
                CREATED_AT_ANNOTATION: spec.created_at,
            },
        },
    })
}

/// Whose a namespace that exists is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// This project's ephemeral namespace.
    Ours,
    /// Not made by blissful-infra as an ephemeral environment.
    NotOurs,
    /// Another project's ephemeral namespace (its project label).
    OtherProject(String),
}

/// Whether `ns` is this project's ephemeral namespace.
pub fn ownership(ns: &Value, project: &str) -> Ownership {
    let label = |k: &str| raw(ns, &["metadata", "labels", k]);
    if label(MANAGED_BY) != Some(MANAGER) || label(EPHEMERAL_LABEL) != Some("true") {
        return Ownership::NotOurs;
    }
    match label(PROJECT_LABEL) {
        Some(p) if p == label_value(project) => Ownership::Ours,
        Some(p) => Ownership::OtherProject(clean(p)),
        None => Ownership::OtherProject("none".into()),
    }
}

/// Being deleted (a `deletionTimestamp`, or phase `Terminating`).
pub fn is_terminating(ns: &Value) -> bool {
    raw(ns, &["metadata", "deletionTimestamp"]).is_some()
        || raw(ns, &["status", "phase"]) == Some("Terminating")
}

/// The command that removes ephemeral environment `name`.
pub fn down_command(name: &str) -> String {
    format!("blissful-infra down --ephemeral {}", clean(name))
}

#[cfg(test)]
mod tests;
