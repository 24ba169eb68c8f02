//! dns-failure and dependency-timeout on Docker: traffic sent, by iptables
//! rules in a container's network namespace, to a listener this process
//! opened in that namespace (`crate::docker::sinks`). Each rule's removal
//! is journalled before the rule is added, so a crash leaves only rules
//! that the next start deletes; a container that restarts gets a fresh
//! namespace without them.

use super::apply::DockerApplier;
use super::netns::{local_pid, own_network};
use super::steps::UndoStep;
use crate::docker::delay::DelayRelay;
use crate::docker::lifecycle::ContainerView;
use crate::docker::sinks::{start_hang, start_servfail, HangSink, ServfailSink};
use crate::faults::{FaultRecord, Journal};

type Record = FaultRecord<UndoStep>;

/// A live resource of a Docker fault, kept while the fault holds.
pub(crate) enum Helper {
    Delay(DelayRelay),
    Servfail(ServfailSink),
    Hang(HangSink),
}

impl Helper {
    /// What it did, for the undo line.
    pub fn summary(&self) -> String {
        match self {
            Helper::Delay(r) => format!("delay relay on {} port(s) stopped", r.ports.len()),
            Helper::Servfail(s) => format!(
                "DNS responder stopped ({} queries answered SERVFAIL)",
                s.answered()
            ),
            Helper::Hang(h) => format!("hang port stopped ({} connections held)", h.held()),
        }
    }
}

/// `-p <proto> --dport <port> -m comment --comment <id> -j REDIRECT --to-ports <to>`,
/// after `prefix`.
fn redirect(prefix: &[&str], proto: &str, port: u16, id: &str, to: u16) -> Vec<String> {
    let mut r: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
    r.extend(
        [
            "-p",
            proto,
            "--dport",
            &port.to_string(),
            "-m",
            "comment",
            "--comment",
            id,
            "-j",
            "REDIRECT",
            "--to-ports",
            &to.to_string(),
        ]
        .map(String::from),
    );
    r
}

/// TCP ports a namespace listens on beyond loopback, from `/proc/net/tcp{,6}` text.
pub(super) fn parse_listening(tables: &[&str]) -> Vec<u16> {
    let mut ports: Vec<u16> = tables
        .iter()
        .flat_map(|t| t.lines().skip(1))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (local, state) = (f.get(1)?, f.get(3)?);
            if *state != "0A" {
                return None;
            }
            let (ip, port) = local.split_once(':')?;
            let loopback = match ip.len() {
                8 => ip.ends_with("7F"),
                32 => {
                    ip == "00000000000000000000000001000000"
                        || (ip.starts_with("0000000000000000FFFF0000") && ip.ends_with("7F"))
                }
                _ => return None,
            };
            (!loopback)
                .then(|| u16::from_str_radix(port, 16).ok())
                .flatten()
        })
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// TCP ports the namespace of `pid` listens on beyond loopback.
fn listening_ports(pid: u32) -> Vec<u16> {
    let read =
        |f: &str| std::fs::read_to_string(format!("/proc/{pid}/net/{f}")).unwrap_or_default();
    let (v4, v6) = (read("tcp"), read("tcp6"));
    parse_listening(&[&v4, &v6])
}

impl DockerApplier<'_> {
    /// Send the container's DNS queries (port 53, UDP and TCP, whatever
    /// server they name, Docker's embedded 127.0.0.11 included) to a
    /// SERVFAIL responder in its namespace.
    pub(super) async fn dns_failure(
        &self,
        (record, journal): (&mut Record, &Journal<UndoStep>),
        c: &ContainerView,
        helpers: &mut Vec<Helper>,
    ) -> Result<String, String> {
        let pid = local_pid(c)?;
        own_network(&c.display, pid)?;
        let sink = start_servfail(pid).await?;
        let (udp, tcp) = (sink.udp_port, sink.tcp_port);
        helpers.push(Helper::Servfail(sink));
        for (proto, to) in [("udp", udp), ("tcp", tcp)] {
            let rule = redirect(&[], proto, 53, &record.id, to);
            self.add_rule((record, journal), c, (Some("nat"), "OUTPUT"), rule)
                .await?;
        }
        Ok(format!(
            "{}'s DNS queries (port 53, UDP and TCP) go to a responder in its network namespace that answers SERVFAIL (iptables REDIRECT)",
            c.display
        ))
    }

    /// Every dependency's listening TCP ports: new connections (from
    /// outside the container) are accepted by a port that never answers,
    /// and packets of connections open before are dropped, so they stall.
    pub(super) async fn dependency_timeout(
        &self,
        (record, journal): (&mut Record, &Journal<UndoStep>),
        targets: &[ContainerView],
        helpers: &mut Vec<Helper>,
    ) -> Result<String, String> {
        let mut plan = Vec::new();
        for c in targets {
            let pid = local_pid(c)?;
            own_network(&c.display, pid)?;
            let ports = listening_ports(pid);
            if ports.is_empty() {
                return Err(format!(
                    "{} listens on no TCP port beyond loopback",
                    c.display
                ));
            }
            plan.push((c, pid, ports));
        }
        let mut done = Vec::new();
        for (c, pid, ports) in plan {
            let sink = start_hang(pid).await?;
            let hang = sink.port;
            helpers.push(Helper::Hang(sink));
            let outside = ["!", "-i", "lo"];
            for &p in &ports {
                let rule = redirect(&outside, "tcp", p, &record.id, hang);
                self.add_rule((record, journal), c, (Some("nat"), "PREROUTING"), rule)
                    .await?;
            }
            for &p in &ports {
                let mut rule: Vec<String> = outside.map(String::from).to_vec();
                rule.extend(
                    [
                        "-p",
                        "tcp",
                        "--dport",
                        &p.to_string(),
                        "-m",
                        "comment",
                        "--comment",
                        &record.id,
                        "-j",
                        "DROP",
                    ]
                    .map(String::from),
                );
                self.add_rule((record, journal), c, (None, "INPUT"), rule)
                    .await?;
            }
            let list: Vec<String> = ports.iter().map(u16::to_string).collect();
            done.push(format!("{} port(s) {}", c.display, list.join(", ")));
        }
        Ok(format!(
            "connections to {} are accepted and never answered, open ones stall (iptables REDIRECT to a silent port and DROP, in each network namespace)",
            done.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests;
