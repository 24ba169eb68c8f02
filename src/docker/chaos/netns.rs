//! Host commands for Docker faults: `nsenter` into a container's network
//! namespace for `tc` and `iptables`, and what a container looks like from
//! this host (its main pid, its interfaces).

use std::path::Path;
use std::time::Duration;

use bollard::Docker;

use crate::docker::lifecycle::ContainerView;
use crate::domain::sanitize::strip_all;
use crate::runtime::RuntimeError;

const COMMAND_TIMEOUT: Duration = Duration::from_secs(15);

/// The main process of a container as this host sees it.
pub(super) fn local_pid(c: &ContainerView) -> Result<u32, String> {
    let pid = c
        .pid
        .ok_or_else(|| format!("{} has no running process", c.display))?;
    if !Path::new(&format!("/proc/{pid}")).exists() {
        return Err(format!(
            "{}: process {pid} is not on this host; this fault needs the Docker Engine to run here",
            c.display
        ));
    }
    Ok(pid)
}

/// The container as the engine sees it now.
pub(super) async fn fresh(docker: &Docker, id: &str) -> Result<ContainerView, RuntimeError> {
    crate::docker::engine::inspect(docker, id)
        .await
        .map(|i| ContainerView::from_inspect(&i))
        .map_err(|e| RuntimeError::Failed(e.to_string()))
}

/// Run a host command; stderr (sanitised) as the error.
async fn run(program: &str, args: &[String]) -> Result<(), String> {
    let mut c = tokio::process::Command::new(program);
    c.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(COMMAND_TIMEOUT, c.output()).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Err(format!("cannot run {program}: {e}")),
        Err(_) => return Err(format!("{program} did not finish")),
    };
    if out.status.success() {
        Ok(())
    } else {
        let err = strip_all(String::from_utf8_lossy(&out.stderr).trim());
        Err(format!("{program} {}: {err}", args.join(" ")))
    }
}

/// `nsenter -t <pid> -n <program> <args>`.
pub(super) async fn in_netns(pid: u32, program: &str, args: &[&str]) -> Result<(), String> {
    let mut a = vec![
        "-t".to_string(),
        pid.to_string(),
        "-n".into(),
        program.into(),
    ];
    a.extend(args.iter().map(|s| s.to_string()));
    run("nsenter", &a).await
}

/// Refuse a container that has no network namespace of its own: one
/// sharing this host's (`network_mode: host`), where a rule would act on
/// the host, or one with no interface but loopback (`network_mode: none`).
pub(super) fn own_network(name: &str, pid: u32) -> Result<(), String> {
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/net")).ok();
    let theirs = ns(&pid.to_string()).ok_or_else(|| {
        format!(
            "{}: cannot read the network namespace of process {pid}",
            name
        )
    })?;
    if ns("self").as_ref() == Some(&theirs) || ns("1").as_ref() == Some(&theirs) {
        return Err(format!(
            "{} shares this host's network namespace (network_mode: host); the fault would act on the host",
            name
        ));
    }
    if interfaces(pid).is_empty() {
        return Err(format!(
            "{} has no network interface but loopback (network_mode: none)",
            name
        ));
    }
    Ok(())
}

/// Network interfaces of a process's namespace, loopback excluded.
pub(super) fn interfaces(pid: u32) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/net/dev"))
        .unwrap_or_default()
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':').map(|(n, _)| n.trim().to_string()))
        .filter(|n| n != "lo" && !n.is_empty())
        .collect()
}

/// An iptables rule that matches everything but loopback, tagged with the
/// fault id (`!`, `-i|-o`, `lo`, comment, `extra`..., `-j`, `target`).
pub(super) fn tagged_rule(
    dir_flag: &str,
    id: &str,
    extra: &[&str],
    target: &[&str],
) -> Vec<String> {
    let mut rule: Vec<String> = vec!["!".into(), dir_flag.into(), "lo".into()];
    rule.extend(extra.iter().map(|s| s.to_string()));
    rule.extend(["-m", "comment", "--comment", id].map(String::from));
    rule.push("-j".into());
    rule.extend(target.iter().map(|s| s.to_string()));
    rule
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_carry_the_fault_id_and_spare_loopback() {
        let r = tagged_rule("-i", "x-1", &["-m", "statistic"], &["DROP"]);
        assert_eq!(
            r.join(" "),
            "! -i lo -m statistic -m comment --comment x-1 -j DROP"
        );
    }

    #[test]
    fn a_process_in_this_hosts_network_namespace_is_refused() {
        let r = own_network("web-1", std::process::id());
        assert!(
            matches!(&r, Err(e) if e.contains("web-1 shares this host's network namespace")),
            "{r:?}"
        );
    }

    #[test]
    fn this_process_has_no_interface_named_lo_in_the_list() {
        let me = std::process::id();
        assert!(!interfaces(me).contains(&"lo".to_string()));
    }
}
