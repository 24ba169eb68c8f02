//! memory-pressure on the sandbox: a child process that holds the requested
//! memory, resident, until it is killed. It runs inside the fault's memory
//! cgroup (`sandbox::cgroup`), next to the instances moved there, so what it
//! holds is taken from their limit; the held memory is counted in the stable
//! version's memory, like the CPU of the stress workers.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Stdio;

use tokio::process::{Child, Command};

use super::applier::{marker_of, spawn_fault_process, SandboxHandle};
use crate::faults::{FaultRecord, Journal, ProcessRef};
use crate::sandbox::cgroup::{self, MemoryCgroup};
use crate::sandbox::fault_steps::SandboxUndo;

/// The allocator, in awk (on every Linux box): 1 MiB chunks, each a distinct
/// string so none is shared, then a read of stdin that never returns while
/// the pipe is held open. A parent that dies closes the pipe, and the read
/// ends the process even if the death signal was missed.
pub(crate) const HOLD_MEMORY_PROGRAM: &str = "BEGIN { chunk = \"x\"; while (length(chunk) < 1048576) chunk = chunk chunk; for (i = 0; i < mib; i++) held[i] = chunk i; getline line < \"-\" }";

/// Start a holder of `mib` MiB in its own process group, `marker` on its
/// command line (found and killed by it after a crash). With `cgroup_procs`
/// (a cgroup's `cgroup.procs`) it joins that cgroup before it allocates.
pub(crate) fn spawn_memory_holder(
    marker: &str,
    mib: u64,
    cgroup_procs: Option<&Path>,
) -> std::io::Result<(Child, u32)> {
    let mut cmd = Command::new("awk");
    cmd.arg("-v")
        .arg(format!("mib={mib}"))
        .arg(HOLD_MEMORY_PROGRAM)
        .arg(marker)
        // Held by the returned Child and never written: the read blocks.
        .stdin(Stdio::piped());
    if let Some(procs) = cgroup_procs {
        let procs = CString::new(procs.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::other("a cgroup path holds a NUL byte"))?;
        // SAFETY: between fork and exec, only open/write/close on a string
        // built before the fork: async-signal-safe.
        unsafe {
            cmd.pre_exec(move || join_cgroup(&procs));
        }
    }
    spawn_fault_process(cmd, "memory holder")
}

/// Move the calling process into the cgroup whose procs file is `procs`
/// (writing 0 means "myself" in both cgroup versions).
///
/// # Safety
/// Only system calls: callable between fork and exec.
unsafe fn join_cgroup(procs: &CString) -> std::io::Result<()> {
    let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let written = libc::write(fd, b"0".as_ptr().cast(), 1);
    let err = std::io::Error::last_os_error();
    libc::close(fd);
    if written != 1 {
        return Err(err);
    }
    Ok(())
}

/// The share of the limit the instances and the holder fill together (the
/// seed's "memory-pressure (90%)").
pub(crate) const FILLED_PERCENT: u64 = 90;

/// The limit for a cgroup already charged `used` bytes to which a holder
/// adds `held`: those two are [`FILLED_PERCENT`] of it, leaving at least
/// 8 MiB for the holder's own workings.
pub(crate) fn limit_for(used: u64, held: u64) -> u64 {
    let filled = used.saturating_add(held);
    let limit = filled.saturating_mul(100).div_ceil(FILLED_PERCENT);
    limit.max(filled.saturating_add(8 * MIB))
}

const MIB: u64 = 1024 * 1024;

/// Apply memory-pressure: the instances (every process of their groups)
/// move into the fault's cgroup, the limit is set, and the holder starts
/// inside. The cgroup's removal is journalled (prepare) before it exists.
pub(super) fn apply_memory(
    record: &mut FaultRecord<SandboxUndo>,
    journal: &Journal<SandboxUndo>,
    instances: &[(u32, String)],
) -> Result<(SandboxHandle, String), String> {
    let cgroup = cgroup_of(record)?;
    cgroup.create()?;
    let mut raised = Vec::new();
    for (pid, _) in instances {
        for member in cgroup::group_members(*pid) {
            cgroup.add(member)?;
            // The OOM killer's first choice in the cgroup: a limit reached
            // ends an instance, as it would in a container, not the holder
            // (whose score cannot be lowered without CAP_SYS_RESOURCE).
            if let Some(old) = set_oom_score(member, OOM_FIRST) {
                raised.push((ProcessRef::of_pid(member), old));
            }
        }
    }
    let moved = raised.len();
    let used = cgroup.usage_bytes()?;
    let held = record.params.memory_mib.saturating_mul(MIB);
    let limit = limit_for(used, held);
    cgroup.set_limit(limit)?;
    let marker = marker_of(record)?;
    let holder = spawn_memory_holder(
        &marker,
        record.params.memory_mib,
        Some(&cgroup.procs_file()),
    )
    .map_err(|e| {
        format!(
            "cannot start the memory holder (awk) in {}: {e}",
            cgroup.dir.display()
        )
    })?;
    record.undo.push(SandboxUndo::KillProcesses {
        processes: vec![ProcessRef::of_pid(holder.1)],
    });
    let handle = SandboxHandle {
        stress: vec![holder],
        memory: Some(MemoryHold {
            cgroup,
            limit,
            raised,
        }),
        ..SandboxHandle::default()
    };
    if let Err(e) = journal.replace(record) {
        // kill_on_drop ends the holder; the runner's undo releases the cgroup.
        drop(handle);
        return Err(e.to_string());
    }
    let what = format!(
        "{moved} instance process(es) under a {} MiB memory limit (cgroup), first in line for its OOM killer; {} MiB held there, so with the {} MiB already charged there it is {}% full, for {}s",
        limit / MIB,
        record.params.memory_mib,
        used / MIB,
        FILLED_PERCENT,
        record.params.duration_secs
    );
    Ok((handle, what))
}

/// A live memory-pressure fault: its cgroup, the limit set, and the
/// instance processes whose OOM score was raised (with the old score).
pub(crate) struct MemoryHold {
    pub cgroup: MemoryCgroup,
    pub limit: u64,
    pub raised: Vec<(ProcessRef, String)>,
}

/// The highest `oom_score_adj`: the OOM killer's first choice.
const OOM_FIRST: &str = "1000";

/// Set `pid`'s OOM score adjustment; the previous one, or None when it
/// could not be read or set (a process that just exited).
fn set_oom_score(pid: u32, value: &str) -> Option<String> {
    let file = format!("/proc/{pid}/oom_score_adj");
    let old = std::fs::read_to_string(&file).ok()?;
    std::fs::write(&file, value).ok()?;
    Some(old.trim().to_string())
}

/// The fault's cgroup, from its journalled release step.
fn cgroup_of(record: &FaultRecord<SandboxUndo>) -> Result<MemoryCgroup, String> {
    record
        .undo
        .iter()
        .find_map(SandboxUndo::cgroup)
        .ok_or_else(|| "internal: memory-pressure has no cgroup step".to_string())
}

/// Release the fault's cgroup (after its holder was killed): one line on
/// what the limit did, or why the cgroup is still there.
pub(super) async fn release_memory(
    record: &FaultRecord<SandboxUndo>,
    live: Option<MemoryHold>,
) -> Result<Option<String>, String> {
    let Ok(cgroup) = cgroup_of(record) else {
        return Ok(None);
    };
    let events = live.as_ref().map(|h| (h.cgroup.events(), h.limit));
    for (process, old) in live.iter().flat_map(|h| &h.raised) {
        // Instances that died meanwhile were restarted with the default.
        if process.is_alive() {
            let _ = set_oom_score(process.pid, old);
        }
    }
    let moved = tokio::task::spawn_blocking(move || {
        cgroup::release(&cgroup.dir, &cgroup.return_to, cgroup::RELEASE_WAIT)
    })
    .await
    .map_err(|e| format!("the cgroup release stopped: {e}"))??;
    Ok(Some(match events {
        Some((e, limit)) => format!(
            "memory limit of {} MiB reached {} time(s), {} process(es) OOM-killed{}; {moved} process(es) moved out of the cgroup",
            limit / MIB,
            e.hits,
            e.oom_kills,
            e.peak_bytes
                .map(|p| format!(", peak {} MiB", p / MIB))
                .unwrap_or_default()
        ),
        None => format!("{moved} process(es) moved out of the memory cgroup"),
    }))
}

#[cfg(test)]
mod tests;
