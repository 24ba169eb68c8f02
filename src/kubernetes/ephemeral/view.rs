//! An ephemeral namespace as `status` shows it: name, owner, age, TTL, and
//! whether it has outlived its TTL (`expired`, with the command that
//! removes it). Every string from the cluster is cleaned.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::{down_command, is_terminating, CREATED_AT_ANNOTATION, OWNER_LABEL, TTL_ANNOTATION};
use crate::domain::duration::{exact_text, parse_within};
use crate::kubernetes::fields::{raw, text};

/// The longest TTL read back from an annotation someone may have edited.
const MAX_READ_TTL: Duration = Duration::from_secs(3650 * 86_400);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EphemeralState {
    /// Within its TTL.
    Active,
    /// Older than its TTL.
    Expired,
    /// Being deleted.
    Terminating,
    /// No readable TTL or creation time.
    Unknown,
}

impl EphemeralState {
    pub fn label(self) -> &'static str {
        match self {
            EphemeralState::Active => "active",
            EphemeralState::Expired => "expired",
            EphemeralState::Terminating => "terminating",
            EphemeralState::Unknown => "unknown",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EphemeralView {
    /// What `up --ephemeral` was given (the namespace without the
    /// project's prefix).
    pub name: String,
    pub namespace: String,
    pub owner: String,
    /// RFC 3339, as annotated (else the namespace's creation time).
    pub created_at: Option<String>,
    pub age_secs: Option<u64>,
    /// As annotated (`4h`).
    pub ttl: Option<String>,
    pub ttl_secs: Option<u64>,
    pub state: EphemeralState,
    /// The command that removes it.
    pub remove: String,
}

/// Milliseconds since the epoch of an RFC 3339 time.
fn epoch_ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

/// `ns` (a Namespace as the API sent it) at `now_ms`.
pub fn view(ns: &Value, project: &str, now_ms: i64) -> EphemeralView {
    let namespace = text(ns, &["metadata", "name"]).unwrap_or_default();
    let name = namespace
        .strip_prefix(&format!("{project}-"))
        .filter(|n| !n.is_empty())
        .unwrap_or(&namespace)
        .to_string();
    let annotated = raw(ns, &["metadata", "annotations", CREATED_AT_ANNOTATION])
        .filter(|s| epoch_ms(s).is_some());
    let created = annotated.or_else(|| raw(ns, &["metadata", "creationTimestamp"]));
    let created_ms = created.and_then(epoch_ms);
    let age_secs = created_ms.map(|c| u64::try_from(now_ms.saturating_sub(c) / 1000).unwrap_or(0));
    let ttl_raw = raw(ns, &["metadata", "annotations", TTL_ANNOTATION]);
    let ttl_secs = ttl_raw
        .and_then(|t| parse_within(t, MAX_READ_TTL).ok())
        .map(|d| d.as_secs());
    let state = match (age_secs, ttl_secs) {
        _ if is_terminating(ns) => EphemeralState::Terminating,
        (Some(age), Some(ttl)) if age > ttl => EphemeralState::Expired,
        (Some(_), Some(_)) => EphemeralState::Active,
        _ => EphemeralState::Unknown,
    };
    EphemeralView {
        remove: down_command(&name),
        owner: text(ns, &["metadata", "labels", OWNER_LABEL]).unwrap_or_else(|| "-".into()),
        created_at: created.map(crate::kubernetes::fields::clean),
        age_secs,
        ttl: match (ttl_secs, ttl_raw) {
            (Some(s), _) => Some(exact_text(s)),
            (None, Some(t)) => Some(crate::kubernetes::fields::clean(t)),
            (None, None) => None,
        },
        ttl_secs,
        state,
        name,
        namespace,
    }
}
