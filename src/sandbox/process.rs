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

/// Start a child in a mount namespace of its own where we may (root, or
/// CAP_SYS_ADMIN), so that dns-failure can mount another resolv.conf over
/// its /etc/resolv.conf without touching the host's. Its mounts are made
/// slaves first: what it mounts never reaches the host, while host mounts
/// still reach it. Without the privilege it shares ours, and dns-failure
/// says so when asked (`sandbox::resolv`).
pub fn own_mount_namespace(cmd: &mut Command) {
    // SAFETY: between fork and exec; unshare(2) and mount(2) are plain
    // system calls on static strings, async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWNS) == 0 {
                // On failure the root stays shared, which the fault checks
                // for and refuses; the instance itself runs either way.
                libc::mount(
                    c"none".as_ptr(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_SLAVE,
                    std::ptr::null(),
                );
            }
            Ok(())
        });
    }
}
