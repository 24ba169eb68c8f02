//! dns-failure on the sandbox: swapping an instance's resolver. Instances start in a mount namespace of their
//! own (`process::own_mount_namespace`); the fault mounts, inside
//! each instance's namespace only, a resolv.conf over /etc/resolv.conf that
//! names a SERVFAIL responder. glibc rereads resolv.conf when the file
//! changes, so a running instance's next lookup fails; unmounting brings the
//! host's file back. A resolv.conf cannot name a port, so the responder
//! listens on port 53 of a loopback address of its own (127.83.0.x).

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;

use crate::fault_proxy::dns::ServfailResponder;
use crate::faults::ProcessRef;

/// The file every resolver on the host reads, and the one the fault covers.
pub(crate) const RESOLV_CONF: &str = "/etc/resolv.conf";

/// Why the resolver of instance `pid` cannot be swapped, if it cannot.
pub(crate) fn check_instance(pid: u32, name: &str) -> Result<(), String> {
    let ns = |who: &str| {
        std::fs::read_link(format!("/proc/{who}/ns/mnt"))
            .map_err(|e| format!("cannot read the mount namespace of {who}: {e}"))
    };
    if ns("self")? == ns(&pid.to_string())? {
        return Err(format!(
            "instance {name} (pid {pid}) shares the host's mount namespace, so its /etc/resolv.conf is the host's: the sandbox gives each instance a namespace of its own only when it may (root, or CAP_SYS_ADMIN), and it could not when {name} started; `runtime: docker` needs neither"
        ));
    }
    let info = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .map_err(|e| format!("cannot read the mounts of {name} (pid {pid}): {e}"))?;
    if root_is_shared(&info) {
        return Err(format!(
            "the root mount of {name} (pid {pid}) still propagates to the host's, so a mount in its namespace would change the host's /etc/resolv.conf too"
        ));
    }
    Ok(())
}

/// Whether the mount on `/` (the last one there, if several are stacked)
/// shares its mounts with a peer group: a `shared:N` optional field in
/// proc's mountinfo (`id parent dev root point options [optional…] - …`).
fn root_is_shared(mountinfo: &str) -> bool {
    mountinfo
        .lines()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .rfind(|f| f.get(4) == Some(&"/"))
        .is_some_and(|f| {
            f.iter()
                .skip(6)
                .take_while(|x| **x != "-")
                .any(|x| x.starts_with("shared:"))
        })
}

/// A SERVFAIL responder on port 53 of the first free 127.83.0.x.
pub(crate) async fn bind_responder() -> Result<ServfailResponder, String> {
    for host in 1..=254u8 {
        let addr = SocketAddr::from(([127, 83, 0, host], 53));
        match ServfailResponder::start_at(addr).await {
            Ok(r) => return Ok(r),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(e) => {
                return Err(format!(
                    "cannot listen on {addr} for the SERVFAIL responder: {e}; a resolv.conf names servers without a port, so the responder needs port 53: run blissful-infra as root (or with CAP_NET_BIND_SERVICE), or use `runtime: docker`"
                ))
            }
        }
    }
    Err("port 53 of every address 127.83.0.1–254 is taken".to_string())
}

/// The resolv.conf the instances read during the fault.
pub(crate) fn resolv_conf_text(server: SocketAddr) -> String {
    format!(
        "# blissful-infra dns-failure: every lookup is answered SERVFAIL\nnameserver {}\noptions timeout:1 attempts:1\n",
        server.ip()
    )
}

/// `nsenter` arguments running `args` in the mount namespace of `pid`.
fn in_namespace<'a>(pid: &'a str, args: &[&'a OsStr]) -> Vec<&'a OsStr> {
    let mut all: Vec<&OsStr> = vec![
        "--target".as_ref(),
        pid.as_ref(),
        "--mount".as_ref(),
        "--".as_ref(),
    ];
    all.extend_from_slice(args);
    all
}

fn outcome(out: std::io::Result<std::process::Output>, what: &str) -> Result<(), String> {
    let out = out.map_err(|e| format!("{what}: cannot run nsenter (util-linux): {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr);
    Err(format!(
        "{what}: {}",
        crate::domain::sanitize::sanitize_str(said.trim())
    ))
}

/// Mount `file` over /etc/resolv.conf in the namespace of `pid`.
pub(crate) async fn mount_over(pid: u32, name: &str, file: &Path) -> Result<(), String> {
    let pid = pid.to_string();
    let args = in_namespace(
        &pid,
        &[
            "mount".as_ref(),
            "--bind".as_ref(),
            file.as_os_str(),
            RESOLV_CONF.as_ref(),
        ],
    );
    let out = Command::new("nsenter")
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await;
    outcome(out, &format!("mounting over {RESOLV_CONF} of {name}"))
}

fn umount_args(pid: &str) -> Vec<&OsStr> {
    in_namespace(pid, &["umount".as_ref(), RESOLV_CONF.as_ref()])
}

/// Unmount the fault's resolv.conf in the namespace of `p`; Ok(false) when
/// the process is gone (its namespace, and the mount, went with it).
pub(crate) async fn unmount(p: &ProcessRef) -> Result<bool, String> {
    if !p.is_alive() {
        return Ok(false);
    }
    let pid = p.pid.to_string();
    let out = Command::new("nsenter")
        .args(umount_args(&pid))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await;
    outcome(out, &format!("restoring {RESOLV_CONF} of pid {pid}")).map(|()| true)
}

/// [`unmount`] for a crashed sandbox's leftover, outside any runtime.
pub(crate) fn unmount_blocking(p: &ProcessRef) -> Result<bool, String> {
    if !p.is_alive() {
        return Ok(false);
    }
    let pid = p.pid.to_string();
    let out = std::process::Command::new("nsenter")
        .args(umount_args(&pid))
        .stdin(Stdio::null())
        .output();
    outcome(out, &format!("restoring {RESOLV_CONF} of pid {pid}")).map(|()| true)
}

#[cfg(test)]
mod tests;
