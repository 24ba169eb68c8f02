//! Chaos Mesh resources blissful-infra made that no journal here knows of
//! (another machine's, or a journal that was lost): found at start, shown
//! with the environment's faults, logged with how to remove them, and
//! deleted on `undo --id <fault>` (the same delete-and-wait as any undo).
//! Never removed on their own: someone else may still be running them.

use std::collections::BTreeSet;

use super::chaos::{log, KubeChaos};
use super::session::Shared;
use crate::domain::environment::ActiveFault;
use crate::domain::logs::Level;
use crate::kubernetes::chaos::{api, ChaosKind, FINALIZE_WAIT};
use crate::runtime::RuntimeError;

/// One such resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Orphan {
    pub env: String,
    pub fault: String,
    pub kind: ChaosKind,
    pub namespace: String,
    pub name: String,
}

impl Orphan {
    /// How it shows among the environment's faults.
    pub fn active_fault(&self, now: i64) -> ActiveFault {
        ActiveFault {
            id: self.fault.clone(),
            scenario: format!(
                "leftover {} {} (no journal here)",
                self.kind.name(),
                self.name
            ),
            ends_at: now,
        }
    }
}

/// Look for managed resources in every environment's namespace whose fault
/// is not in `known` (the journal's and the runner's ids); each is logged
/// with how to remove it. A namespace that cannot be listed is logged too.
pub async fn find(shared: &Shared, known: &BTreeSet<String>) -> Vec<Orphan> {
    let Some(conn) = shared.conn() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for t in &shared.settings.envs {
        for kind in ChaosKind::ALL {
            let listed = match api::list_managed(&conn, kind, &t.namespace).await {
                Ok(l) => l,
                Err(e) => {
                    log(
                        shared,
                        &t.env,
                        Level::Warn,
                        format!("looking for leftover chaos: {e}"),
                    );
                    continue;
                }
            };
            for m in listed.into_iter().filter(|m| !known.contains(&m.fault)) {
                log(
                    shared,
                    &t.env,
                    Level::Warn,
                    format!(
                        "leftover Chaos Mesh resource {}/{} in {}, of fault {}, is in no journal here (another machine's, or a lost journal): `blissful-infra undo --id {}` deletes it",
                        kind.name(), m.name, t.namespace, m.fault, m.fault
                    ),
                );
                found.push(Orphan {
                    env: t.env.clone(),
                    fault: m.fault,
                    kind,
                    namespace: t.namespace.clone(),
                    name: m.name,
                });
            }
        }
    }
    found
}

/// Delete the resources of fault `id` found at start, waiting for their
/// finalizers; `Ok(false)` when `id` names none.
pub async fn remove(shared: &Shared, chaos: &KubeChaos, id: &str) -> Result<bool, RuntimeError> {
    let mine: Vec<Orphan> = chaos
        .orphans()
        .into_iter()
        .filter(|o| o.fault == id)
        .collect();
    if mine.is_empty() {
        return Ok(false);
    }
    let conn = shared
        .conn()
        .ok_or_else(|| RuntimeError::Unavailable("not connected to a cluster".into()))?;
    let mut failed = Vec::new();
    for o in &mine {
        let gone = match api::delete(&conn, o.kind, &o.namespace, &o.name).await {
            Ok(_) => api::wait_gone(&conn, o.kind, &o.namespace, &o.name, FINALIZE_WAIT).await,
            Err(e) => Err(e.to_string()),
        };
        match gone {
            Ok(()) => {
                chaos.forget_orphan(o);
                let text = format!(
                    "leftover {}/{} in {} deleted",
                    o.kind.name(),
                    o.name,
                    o.namespace
                );
                log(shared, &o.env, Level::Info, text);
            }
            Err(e) => failed.push(e),
        }
    }
    if failed.is_empty() {
        Ok(true)
    } else {
        Err(RuntimeError::Failed(failed.join("; ")))
    }
}
