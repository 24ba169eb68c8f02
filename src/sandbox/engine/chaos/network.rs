//! The sandbox's network faults beyond the router's: network-partition at
//! the edges it owns (router and dependency proxies), and dns-failure
//! through each instance's own mount namespace (`sandbox::resolv`).

use super::applier::{SandboxApplier, SandboxHandle};
use crate::faults::{Applied, FaultRecord, Journal, ProcessRef};
use crate::runtime::RuntimeError;
use crate::sandbox::dependencies::Dependency;
use crate::sandbox::fault_steps::{remove_resolv_file, SandboxUndo};
use crate::sandbox::resolv;

/// The dependency variables a partition cuts, as its undo step names them.
pub(super) fn partitioned_vars(record: &FaultRecord<SandboxUndo>) -> Vec<String> {
    record
        .undo
        .iter()
        .find_map(|s| match s {
            SandboxUndo::ClearProxyFault { vars } => Some(vars.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

impl SandboxApplier {
    /// Targets and undo steps of a partition: the environment (its router)
    /// and every dependency proxy it has.
    pub(super) fn partition_scope(&self, scope: &str) -> (Vec<String>, Vec<SandboxUndo>) {
        let found: Vec<&Dependency> = self
            .dependencies
            .as_ref()
            .map(|(d, _)| d.found.iter().collect())
            .unwrap_or_default();
        let mut targets = vec![scope.to_string()];
        targets.extend(found.iter().map(|d| d.display()));
        let mut undo = vec![SandboxUndo::ClearRouterFault];
        if !found.is_empty() {
            let vars = found.iter().map(|d| d.var.clone()).collect();
            undo.push(SandboxUndo::ClearProxyFault { vars });
        }
        (targets, undo)
    }

    /// Refuse dns-failure unless every instance can have its resolver
    /// swapped; bind the responder now, so a missing privilege refuses it
    /// before anything is journalled.
    pub(super) async fn check_dns(&mut self, scope: &str) -> Result<(), RuntimeError> {
        if self.instances.is_empty() {
            return Err(RuntimeError::Refused(format!(
                "{scope} has no running instance whose lookups could fail"
            )));
        }
        for (pid, name) in &self.instances {
            resolv::check_instance(*pid, name).map_err(RuntimeError::Refused)?;
        }
        let responder = resolv::bind_responder()
            .await
            .map_err(RuntimeError::Refused)?;
        self.pending_dns = Some(responder);
        Ok(())
    }

    /// Journal the undo step, write the resolv.conf next to the journal and
    /// mount it in every instance; on a failure, take back what was done.
    pub(super) async fn apply_dns(
        &mut self,
        record: &mut FaultRecord<SandboxUndo>,
        journal: &Journal<SandboxUndo>,
    ) -> Result<Applied<SandboxHandle>, String> {
        let responder = self
            .pending_dns
            .take()
            .ok_or("internal: dns-failure was not prepared")?;
        let file = journal
            .path()
            .with_file_name(format!("dns-failure-{}.resolv.conf", record.id));
        let file_name = file.display().to_string();
        let processes: Vec<ProcessRef> = self
            .instances
            .iter()
            .map(|(pid, _)| ProcessRef::of_pid(*pid))
            .collect();
        record.undo.push(SandboxUndo::RestoreResolvConf {
            processes: processes.clone(),
            file: file_name.clone(),
        });
        journal.replace(record).map_err(|e| e.to_string())?;
        std::fs::write(&file, resolv::resolv_conf_text(responder.addr()))
            .map_err(|e| format!("cannot write {file_name}: {e}"))?;
        for (i, (pid, name)) in self.instances.iter().enumerate() {
            if let Err(e) = resolv::mount_over(*pid, name, &file).await {
                let mut failed = Vec::new();
                for p in &processes[..i] {
                    if let Err(u) = resolv::unmount(p).await {
                        failed.push(u);
                    }
                }
                remove_resolv_file(&file_name, &mut failed);
                return Err(match failed.is_empty() {
                    true => e,
                    false => format!("{e}; taking it back also failed: {}", failed.join("; ")),
                });
            }
        }
        let names: Vec<&str> = self.instances.iter().map(|(_, n)| n.as_str()).collect();
        Ok(Applied {
            what: format!(
                "lookups of {} answered SERVFAIL by {} for {}s (their /etc/resolv.conf, in their own mount namespaces, names it; instances started later resolve normally)",
                names.join(", "),
                responder.addr(),
                record.params.duration_secs
            ),
            handle: Some(SandboxHandle {
                dns: Some(responder),
                ..SandboxHandle::default()
            }),
        })
    }
}
