//! `up --ephemeral NAME`, `down --ephemeral NAME` and the ephemeral table of
//! `status`, with `runtime: kubernetes` (see [`crate::kubernetes::ephemeral`]).
//!
//! Both verbs change the cluster, so like every change they are refused in
//! `--read-only` and written to the audit journal (`requested` before the
//! first request that changes something, then how it ended; refusals too).
//! `down` deletes a namespace and everything in it: it asks first unless
//! `--yes`, and only ever deletes a namespace this project made.

mod down;
mod status;
mod up;

use std::path::PathBuf;
use std::time::Duration;

pub use down::{down, DownRequest};
pub use status::status;
pub use up::{up, UpRequest};

use super::commands::Streams;
use super::exit;
use crate::domain::audit::AuditEntry;
use crate::kubernetes::connect::{KubeError, Target};
use crate::runtime::{append_audit_line, RuntimeError};

/// How often a wait asks the cluster again.
const POLL: Duration = Duration::from_millis(500);

/// What the ephemeral verbs need from the config and the command line.
#[derive(Clone, Debug)]
pub struct EphemeralContext {
    pub project: String,
    /// `<config folder>/<kubernetes.overlays>`.
    pub overlays: PathBuf,
    pub target: Target,
    pub read_only: bool,
    pub audit_journal: PathBuf,
    /// Who asks (the audit journal's `user`; the owner label).
    pub user: String,
    /// `kubernetes.ephemeral_ttl`.
    pub default_ttl: Duration,
}

/// The audit journal lines of one verb on one namespace.
struct Journal<'a> {
    ctx: &'a EphemeralContext,
    namespace: &'a str,
    action: &'static str,
}

impl Journal<'_> {
    fn entry(&self, outcome: &str, detail: &str) -> AuditEntry {
        AuditEntry {
            ts: crate::clock::now_ms(),
            user: self.ctx.user.clone(),
            env: self.namespace.to_string(),
            action: self.action.to_string(),
            from_version: None,
            to_version: None,
            outcome: outcome.to_string(),
            detail: detail.to_string(),
        }
    }

    /// Journal a refusal and return it (a lost line is said, not fatal:
    /// nothing was changed).
    fn refuse(&self, e: RuntimeError, detail: &str, s: &mut Streams<'_>) -> i32 {
        if let Err(w) =
            append_audit_line(&self.ctx.audit_journal, &self.entry(&e.refusal(), detail))
        {
            s.note(&format!("warning: the refusal is not journalled: {w}"));
        }
        s.error(&e)
    }

    /// `requested`, before the change; the change is not made without it.
    fn ahead(&self, detail: &str) -> Result<(), RuntimeError> {
        let requested = self.entry(crate::runtime::audited::REQUESTED, detail);
        append_audit_line(&self.ctx.audit_journal, &requested).map_err(|e| {
            RuntimeError::Refused(format!(
                "`{}` on {} was not made because it cannot be audited: {e}",
                self.action, self.namespace
            ))
        })
    }

    /// How it ended.
    fn outcome<T>(&self, r: &Result<T, RuntimeError>, detail: &str, s: &mut Streams<'_>) {
        let outcome = match r {
            Ok(_) => "accepted".to_string(),
            Err(RuntimeError::Failed(why)) => format!("failed: {why}"),
            Err(e) => e.refusal(),
        };
        if let Err(w) = append_audit_line(&self.ctx.audit_journal, &self.entry(&outcome, detail)) {
            s.note(&format!("warning: the outcome is not journalled: {w}"));
        }
    }
}

/// A cluster error as the exit code should read it: unreachable is
/// unavailable (3), a 403 refused (2), anything else failed (1).
fn kube_error(e: KubeError) -> RuntimeError {
    match e {
        KubeError::Unreachable { .. } => RuntimeError::Unavailable(e.to_string()),
        KubeError::Forbidden { .. } | KubeError::Unauthorized { .. } => {
            RuntimeError::Refused(e.to_string())
        }
        other => RuntimeError::Failed(other.to_string()),
    }
}

/// A name that cannot be an ephemeral environment's: a usage error.
fn bad_name(e: &crate::kubernetes::ephemeral::NameError, s: &mut Streams<'_>) -> i32 {
    let (out, err) = (&mut *s.out, &mut *s.err);
    crate::report::report_error("usage", &e.to_string(), exit::USAGE, s.mode, out, err)
}
