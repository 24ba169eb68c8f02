//! Process groups: each child leads its own group and dies with us.

use tokio::process::Command;

pub(super) fn kill_group(pgid: i32, sig: i32) {
    if pgid > 0 {
        // SAFETY: killpg(2) on a positive group id we created; no memory involved.
        unsafe {
            libc::killpg(pgid, sig);
        }
    }
}

/// Signal the process group led by `pid` (our children lead their own group).
pub fn signal_group(pid: u32, sig: i32) {
    if let Ok(p) = i32::try_from(pid) {
        kill_group(p, sig);
    }
}

/// Put a child in its own process group and tie its life to ours.
pub fn configure_child(cmd: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    cmd.kill_on_drop(true);
    // SAFETY: the closure runs between fork and exec and only calls
    // async-signal-safe functions (setpgid, prctl, getppid).
    unsafe {
        cmd.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            #[cfg(target_os = "linux")]
            {
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// A free loopback port: bind port 0, note the port, release it.
pub async fn free_port() -> std::io::Result<u16> {
    let l = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    Ok(l.local_addr()?.port())
}
