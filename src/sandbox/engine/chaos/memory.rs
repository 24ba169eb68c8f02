//! memory-pressure on the sandbox: a child process that holds the requested
//! memory, resident, until it is killed. The sandbox has no cgroup of its
//! own to shrink, so the pressure is on the host the instances share; the
//! held memory is counted in the stable version's memory, like the CPU of
//! the stress workers.

use std::process::Stdio;

use tokio::process::{Child, Command};

use super::applier::spawn_fault_process;

/// The allocator, in awk (on every Linux box): 1 MiB chunks, each a distinct
/// string so none is shared, then a read of stdin that never returns while
/// the pipe is held open. A parent that dies closes the pipe, and the read
/// ends the process even if the death signal was missed.
pub(crate) const HOLD_MEMORY_PROGRAM: &str = "BEGIN { chunk = \"x\"; while (length(chunk) < 1048576) chunk = chunk chunk; for (i = 0; i < mib; i++) held[i] = chunk i; getline line < \"-\" }";

/// Start a holder of `mib` MiB in its own process group, `marker` on its
/// command line (found and killed by it after a crash).
pub(crate) fn spawn_memory_holder(marker: &str, mib: u64) -> std::io::Result<(Child, u32)> {
    let mut cmd = Command::new("awk");
    cmd.arg("-v")
        .arg(format!("mib={mib}"))
        .arg(HOLD_MEMORY_PROGRAM)
        .arg(marker)
        // Held by the returned Child and never written: the read blocks.
        .stdin(Stdio::piped());
    spawn_fault_process(cmd, "memory holder")
}

#[cfg(test)]
mod tests;
