//! Host-port conflicts, found before anything starts, naming who holds the
//! port: a container (of another project) or a host process (from
//! `/proc/net/tcp*` and the socket inodes in `/proc/<pid>/fd`, or `ss -ltnp`).

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bollard::query_parameters::ListContainersOptions;
use bollard::Docker;

use super::compose::ComposeModel;
use super::{engine, DockerError, PROJECT_LABEL};
use crate::domain::sanitize::strip_all;

/// Who holds a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    Container {
        name: String,
        project: Option<String>,
    },
    Process {
        pid: u32,
        command: String,
    },
    /// In use, but the holder could not be identified (another network
    /// namespace, or no permission to read its file descriptors).
    Unknown,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holder::Container {
                name,
                project: Some(p),
            } => write!(f, "container {name} (compose project {p})"),
            Holder::Container {
                name,
                project: None,
            } => write!(f, "container {name}"),
            Holder::Process { pid, command } => write!(f, "process {pid} ({command})"),
            Holder::Unknown => f.write_str("an unidentified process"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortConflict {
    pub service: String,
    pub host_ip: String,
    pub port: u16,
    pub holder: Holder,
}

impl fmt::Display for PortConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ip = if self.host_ip.is_empty() {
            "0.0.0.0"
        } else {
            &self.host_ip
        };
        write!(
            f,
            "service {} wants {ip}:{}, which is held by {}",
            self.service, self.port, self.holder
        )
    }
}

/// Socket inodes listening on TCP `port`, from the text of `/proc/net/tcp`
/// or `/proc/net/tcp6`.
pub fn listening_inodes(proc_net_tcp: &str, port: u16) -> Vec<u64> {
    const LISTEN: &str = "0A";
    proc_net_tcp
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
            let local = f.get(1)?;
            let state = f.get(3)?;
            let inode = f.get(9)?;
            let (_, hex_port) = local.rsplit_once(':')?;
            let p = u16::from_str_radix(hex_port, 16).ok()?;
            (p == port && state.eq_ignore_ascii_case(LISTEN))
                .then(|| inode.parse::<u64>().ok())
                .flatten()
                .filter(|i| *i != 0)
        })
        .collect()
}

/// Processes with a file descriptor on one of `inodes` (`socket:[inode]`).
fn processes_with_sockets(inodes: &HashSet<u64>) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|target| {
                target
                    .to_str()
                    .and_then(|t| t.strip_prefix("socket:["))
                    .and_then(|t| t.strip_suffix(']'))
                    .and_then(|t| t.parse::<u64>().ok())
                    .is_some_and(|i| inodes.contains(&i))
            })
        });
        if holds {
            pids.push(pid);
        }
    }
    pids
}

/// A short, sanitised description of a process: its command line (or name).
pub fn describe_process(pid: u32) -> String {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let text: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let s = if text.is_empty() {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap_or_default()
            .trim()
            .to_string()
    } else {
        text.join(" ")
    };
    let mut s = strip_all(&s);
    if s.chars().count() > 120 {
        s = s.chars().take(117).collect::<String>() + "...";
    }
    if s.is_empty() {
        "?".into()
    } else {
        s
    }
}

/// Host processes listening on TCP `port` (this network namespace).
pub fn process_holders(port: u16) -> Vec<Holder> {
    let mut inodes = HashSet::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(f) {
            inodes.extend(listening_inodes(&text, port));
        }
    }
    if inodes.is_empty() {
        return Vec::new();
    }
    let pids = processes_with_sockets(&inodes);
    if pids.is_empty() {
        return ss_holders(port);
    }
    pids.into_iter()
        .map(|pid| Holder::Process {
            pid,
            command: describe_process(pid),
        })
        .collect()
}

/// `ss -ltnpH sport = :port`, when it is installed: `users:(("name",pid=N,fd=M))`.
fn ss_holders(port: u16) -> Vec<Holder> {
    let out = std::process::Command::new("ss")
        .args(["-ltnpH", &format!("sport = :{port}")])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    let Ok(out) = out else {
        return vec![Holder::Unknown];
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut found = Vec::new();
    for part in text.split("pid=").skip(1) {
        if let Some(pid) = part
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|p| p.parse::<u32>().ok())
        {
            found.push(Holder::Process {
                pid,
                command: describe_process(pid),
            });
        }
    }
    if found.is_empty() {
        found.push(Holder::Unknown);
    }
    found
}

/// True when `ip:port` cannot be bound because something holds it.
fn in_use(ip: IpAddr, port: u16) -> bool {
    match std::net::TcpListener::bind(SocketAddr::new(ip, port)) {
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::AddrInUse,
    }
}

/// Containers publishing `port` on the host: (name, compose project).
async fn containers_on_port(
    docker: &Docker,
    port: u16,
) -> Result<Vec<(String, Option<String>)>, DockerError> {
    let list = docker
        .list_containers(Some(ListContainersOptions::default()))
        .await
        .map_err(|e| DockerError::api("listing running containers", e))?;
    Ok(list
        .iter()
        .filter(|c| {
            c.ports
                .iter()
                .flatten()
                .any(|p| p.public_port == Some(port))
        })
        .map(|c| {
            let project = c
                .labels
                .as_ref()
                .and_then(|l| l.get(PROJECT_LABEL))
                .cloned();
            (engine::container_name(c), project)
        })
        .collect())
}

/// Every fixed TCP host port the model publishes that someone else holds.
/// Ports held by this project's own containers are not conflicts (the
/// project is simply up already).
pub async fn find_conflicts(
    docker: &Docker,
    project: &str,
    model: &ComposeModel,
) -> Result<Vec<PortConflict>, DockerError> {
    let mut conflicts = Vec::new();
    let mut seen = HashSet::new();
    for (service, s) in &model.services {
        for p in &s.ports {
            let Some(port) = p.published else { continue };
            if !p.protocol.eq_ignore_ascii_case("tcp") || !seen.insert((p.host_ip.clone(), port)) {
                continue;
            }
            let conflict = |holder| PortConflict {
                service: service.clone(),
                host_ip: p.host_ip.clone(),
                port,
                holder,
            };
            let containers = containers_on_port(docker, port).await?;
            if containers
                .iter()
                .any(|(_, pr)| pr.as_deref() == Some(project))
            {
                continue;
            }
            if let Some((name, proj)) = containers.into_iter().next() {
                conflicts.push(conflict(Holder::Container {
                    name,
                    project: proj,
                }));
                continue;
            }
            let ip: IpAddr = if p.host_ip.is_empty() {
                Ipv4Addr::UNSPECIFIED.into()
            } else {
                match p.host_ip.parse() {
                    Ok(ip) => ip,
                    Err(_) => continue,
                }
            };
            if in_use(ip, port) {
                let holders = process_holders(port);
                let holder = holders.into_iter().next().unwrap_or(Holder::Unknown);
                conflicts.push(conflict(holder));
            }
        }
    }
    Ok(conflicts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0
   2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 42 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn finds_listening_sockets_by_port() {
        assert_eq!(listening_inodes(TCP, 8080), vec![123456]);
        assert_eq!(listening_inodes(TCP, 80), vec![42]);
        assert!(
            listening_inodes(TCP, 53_936).is_empty(),
            "an established socket is not a listener"
        );
        assert!(listening_inodes("garbage\nmore garbage", 80).is_empty());
    }

    #[test]
    fn names_the_process_holding_a_port() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let holders = process_holders(port);
        let me = std::process::id();
        assert!(
            holders
                .iter()
                .any(|h| matches!(h, Holder::Process { pid, .. } if *pid == me)),
            "{holders:?}"
        );
        assert!(in_use(Ipv4Addr::LOCALHOST.into(), port));
        drop(l);
        assert!(!in_use(Ipv4Addr::LOCALHOST.into(), port));
        assert!(process_holders(port).is_empty());
    }

    #[test]
    fn conflict_text_names_service_port_and_holder() {
        let c = PortConflict {
            service: "db".into(),
            host_ip: String::new(),
            port: 5432,
            holder: Holder::Process {
                pid: 7,
                command: "postgres -D /data".into(),
            },
        };
        assert_eq!(
            c.to_string(),
            "service db wants 0.0.0.0:5432, which is held by process 7 (postgres -D /data)"
        );
        let c = PortConflict {
            holder: Holder::Container {
                name: "other-db-1".into(),
                project: Some("other".into()),
            },
            ..c
        };
        assert!(c
            .to_string()
            .ends_with("container other-db-1 (compose project other)"));
    }
}
