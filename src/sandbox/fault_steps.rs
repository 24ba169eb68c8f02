//! The sandbox's undo steps, as its fault journal (`faults.json`) holds them,
//! and how a leftover of a crashed sandbox is undone from them.

use serde::{Deserialize, Serialize};

use crate::faults::{kill_marked, kill_pid, ProcessRef};

/// One step that removes (part of) a sandbox fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SandboxUndo {
    /// Kill the stress workers, found by the marker on their command line
    /// (journalled before they are started).
    KillMarked { marker: String },
    /// Kill these processes, if they are still the ones recorded.
    KillProcesses { processes: Vec<ProcessRef> },
    /// Clear the fault of the environment's router (in-process: it ends
    /// with the sandbox that set it).
    ClearRouterFault,
    /// Clear the fault of the proxies in front of these dependencies (by
    /// variable). In-process too: the proxies end with the sandbox, and so
    /// do the instances that talked through them.
    ClearProxyFault { vars: Vec<String> },
}

impl SandboxUndo {
    /// The processes named by `KillProcesses` steps.
    pub fn processes(steps: &[SandboxUndo]) -> Vec<ProcessRef> {
        steps
            .iter()
            .flat_map(|s| match s {
                SandboxUndo::KillProcesses { processes } => processes.clone(),
                _ => Vec::new(),
            })
            .collect()
    }
}

/// Undo the steps of a fault whose sandbox died; descriptions, or failures.
pub fn undo_leftover_steps(steps: &[SandboxUndo]) -> Result<Vec<String>, Vec<String>> {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for step in steps {
        match step {
            SandboxUndo::KillMarked { marker } => {
                let n = kill_marked(marker);
                done.push(format!("killed {n} stress process group(s)"));
            }
            SandboxUndo::KillProcesses { processes } => {
                let (mut killed, mut gone) = (0, 0);
                for p in processes {
                    if !p.is_alive() {
                        gone += 1;
                        continue;
                    }
                    match kill_pid(p.pid, libc::SIGKILL) {
                        Ok(()) => killed += 1,
                        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => gone += 1,
                        Err(e) => failed.push(format!("could not kill pid {}: {e}", p.pid)),
                    }
                }
                done.push(format!(
                    "killed {killed} stress process(es), {gone} already gone"
                ));
            }
            SandboxUndo::ClearRouterFault => {
                done.push("router fault ended with its process".into());
            }
            SandboxUndo::ClearProxyFault { vars } => {
                done.push(format!(
                    "proxy fault on {} ended with its process (new proxies start clean)",
                    vars.join(", ")
                ));
            }
        }
    }
    if failed.is_empty() {
        Ok(done)
    } else {
        Err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftover_processes_are_killed_and_unrelated_ones_spared() {
        let mut ours = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let mut unrelated = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let mut not_ours = ProcessRef::of_pid(unrelated.id());
        not_ours.cmdline = vec!["sh".into(), "-c".into(), "something else".into()];
        let steps = vec![
            SandboxUndo::KillProcesses {
                processes: vec![ProcessRef::of_pid(ours.id()), not_ours],
            },
            SandboxUndo::ClearRouterFault,
        ];
        let done = undo_leftover_steps(&steps).unwrap();
        assert_eq!(done[0], "killed 1 stress process(es), 1 already gone");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(ours.wait().unwrap().signal(), Some(libc::SIGKILL));
        assert!(
            unrelated.try_wait().unwrap().is_none(),
            "an unrelated process must not be killed"
        );
        unrelated.kill().unwrap();
        unrelated.wait().unwrap();
        assert_eq!(SandboxUndo::processes(&steps).len(), 2);
    }
}
