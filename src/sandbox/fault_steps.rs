//! The sandbox's undo steps, as its fault journal (`faults.json`) holds them,
//! and how a leftover of a crashed sandbox is undone from them.

use serde::{Deserialize, Serialize};

use crate::faults::{kill_marked, kill_pid, ProcessRef};
use crate::sandbox::cgroup::{self, MemoryCgroup};

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
    /// Unmount the resolv.conf mounted over /etc/resolv.conf in these
    /// instances' mount namespaces (gone with them if they died), then
    /// delete `file`, the resolv.conf that was mounted.
    RestoreResolvConf {
        processes: Vec<ProcessRef>,
        file: String,
    },
    /// Move every process still in memory-pressure's cgroup back where the
    /// instances came from, then remove the cgroup (journalled before it
    /// is created; after the holder's kill step).
    ReleaseCgroup { cgroup: MemoryCgroup },
}

impl SandboxUndo {
    /// The cgroup a `ReleaseCgroup` step names.
    pub fn cgroup(step: &SandboxUndo) -> Option<MemoryCgroup> {
        match step {
            SandboxUndo::ReleaseCgroup { cgroup } => Some(cgroup.clone()),
            _ => None,
        }
    }

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
            SandboxUndo::RestoreResolvConf { processes, file } => {
                let mut restored = 0;
                for p in processes {
                    match crate::sandbox::resolv::unmount_blocking(p) {
                        Ok(true) => restored += 1,
                        Ok(false) => {}
                        Err(e) => failed.push(e),
                    }
                }
                remove_resolv_file(file, &mut failed);
                done.push(format!(
                    "resolver restored in {restored} surviving instance(s); the others went with their namespaces"
                ));
            }
            SandboxUndo::ReleaseCgroup { cgroup: c } => {
                match cgroup::release(&c.dir, &c.return_to, cgroup::RELEASE_WAIT) {
                    Ok(moved) => done.push(format!(
                        "memory cgroup removed; {moved} surviving process(es) moved out of its limit"
                    )),
                    Err(e) => failed.push(e),
                }
            }
        }
    }
    if failed.is_empty() {
        Ok(done)
    } else {
        Err(failed)
    }
}

/// Delete the fault's resolv.conf; already gone is fine.
pub(crate) fn remove_resolv_file(file: &str, failed: &mut Vec<String>) {
    match std::fs::remove_file(file) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => failed.push(format!("cannot delete {file}: {e}")),
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

    #[test]
    fn a_leftover_resolver_swap_is_unmounted_in_survivors_and_its_file_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dns.resolv.conf");
        std::fs::write(&file, "nameserver 127.83.0.9\n").unwrap();
        let host = std::fs::read_to_string("/etc/resolv.conf").unwrap();
        // A survivor in a mount namespace of its own (as root), else a
        // process that is already gone.
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let mut child = match root {
            true => std::process::Command::new("unshare")
                .args(["--mount", "--propagation", "slave", "sleep", "30"])
                .spawn()
                .unwrap(),
            false => std::process::Command::new("true").spawn().unwrap(),
        };
        let pid = child.id();
        let seen = || std::fs::read_to_string(format!("/proc/{pid}/root/etc/resolv.conf"));
        if root {
            // Wait for unshare to have exec'd sleep in its new namespace.
            let own = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/mnt")).unwrap();
            while own("self") == own(&pid.to_string()) {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            let ok = std::process::Command::new("nsenter")
                .args([
                    "--target",
                    &pid.to_string(),
                    "--mount",
                    "--",
                    "mount",
                    "--bind",
                ])
                .arg(&file)
                .arg("/etc/resolv.conf")
                .status()
                .unwrap();
            assert!(ok.success());
            assert_eq!(seen().unwrap(), "nameserver 127.83.0.9\n");
            assert_eq!(std::fs::read_to_string("/etc/resolv.conf").unwrap(), host);
        } else {
            child.wait().unwrap();
        }
        let steps = vec![SandboxUndo::RestoreResolvConf {
            processes: vec![ProcessRef::of_pid(pid)],
            file: file.display().to_string(),
        }];
        let done = undo_leftover_steps(&steps).unwrap();
        let restored = if root { 1 } else { 0 };
        assert!(
            done[0].starts_with(&format!("resolver restored in {restored} surviving")),
            "{done:?}"
        );
        assert!(!file.exists());
        if root {
            assert_eq!(seen().unwrap(), host);
            child.kill().unwrap();
            child.wait().unwrap();
        }
        // Run again: nothing left to do is not an error.
        assert!(undo_leftover_steps(&steps).is_ok());
    }

    #[test]
    fn a_leftover_memory_cgroup_is_emptied_and_removed() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: a memory cgroup needs root");
            return;
        }
        let mut survivor = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let name = format!("blissful-chaos-leftover-{}", std::process::id());
        let cg = crate::sandbox::cgroup::plan(survivor.id(), &name).unwrap();
        cg.create().unwrap();
        cg.add(survivor.id()).unwrap();
        let steps = vec![SandboxUndo::ReleaseCgroup { cgroup: cg.clone() }];
        let done = undo_leftover_steps(&steps).unwrap();
        assert_eq!(
            done[0],
            "memory cgroup removed; 1 surviving process(es) moved out of its limit"
        );
        assert!(!cg.dir.exists());
        assert!(
            survivor.try_wait().unwrap().is_none(),
            "the survivor lives on"
        );
        // Journalled form: what a crashed sandbox left reads back.
        let json = serde_json::to_string(&steps[0]).unwrap();
        assert!(json.contains("\"kind\":\"release_cgroup\""), "{json}");
        let back: SandboxUndo = serde_json::from_str(&json).unwrap();
        assert_eq!(back, steps[0]);
        assert!(undo_leftover_steps(&steps).is_ok());
        survivor.kill().unwrap();
        survivor.wait().unwrap();
    }
}
