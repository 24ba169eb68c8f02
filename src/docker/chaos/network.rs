//! Network faults on a container: netem in its namespace, or where the
//! kernel has no netem, an iptables DROP (loss) or a delay relay (latency).
//! Every rule's removal is journalled before the rule is added.

use std::time::Duration;

use super::apply::DockerApplier;
use super::netns::{in_netns, interfaces, local_pid, tagged_rule};
use super::steps::UndoStep;
use crate::docker::delay::DelayRelay;
use crate::docker::lifecycle::ContainerView;
use crate::domain::chaos::ScenarioKind;
use crate::faults::{FaultRecord, Journal};

type Record = FaultRecord<UndoStep>;

impl DockerApplier<'_> {
    /// Add an iptables rule in the container's namespace, journalling its
    /// removal first.
    pub(super) async fn add_rule(
        &self,
        (record, journal): (&mut Record, &Journal<UndoStep>),
        c: &ContainerView,
        (table, chain): (Option<&str>, &str),
        rule: Vec<String>,
    ) -> Result<(), String> {
        let pid = local_pid(c)?;
        record.undo.push(UndoStep::DeleteIptablesRule {
            container_id: c.id.clone(),
            table: table.map(str::to_string),
            chain: chain.into(),
            rule: rule.clone(),
        });
        journal.replace(record).map_err(|e| e.to_string())?;
        let mut args = vec!["-w"];
        if let Some(t) = table {
            args.extend(["-t", t]);
        }
        args.extend(["-I", chain]);
        args.extend(rule.iter().map(String::as_str));
        in_netns(pid, "iptables", &args).await
    }

    /// netem on every interface; without netem in the kernel, packet loss
    /// falls back to an iptables `statistic` DROP and latency to a delay relay.
    pub(super) async fn netem(
        &self,
        (record, journal): (&mut Record, &Journal<UndoStep>),
        c: &ContainerView,
        relay: &mut Option<DelayRelay>,
    ) -> Result<String, String> {
        let p = record.params.clone();
        let latency = matches!(
            record.scenario,
            ScenarioKind::NetworkLatency | ScenarioKind::DbLatency
        );
        let pid = local_pid(c)?;
        let devs = interfaces(pid);
        if devs.is_empty() {
            return Err(format!("{} has no network interface", c.display));
        }
        let netem: Vec<String> = if latency {
            vec!["delay".into(), format!("{}ms", p.latency_ms)]
        } else {
            vec!["loss".into(), format!("{:.2}%", p.rate * 100.0)]
        };
        for dev in &devs {
            let mut args = vec!["qdisc", "add", "dev", dev.as_str(), "root", "netem"];
            args.extend(netem.iter().map(String::as_str));
            match in_netns(pid, "tc", &args).await {
                Ok(()) => {}
                Err(e) if e.contains("qdisc kind is unknown") && !latency => {
                    let prob = format!("{:.4}", p.rate);
                    let extra = [
                        "-m",
                        "statistic",
                        "--mode",
                        "random",
                        "--probability",
                        &prob,
                    ];
                    let rule = tagged_rule("-i", &record.id, &extra, &["DROP"]);
                    self.add_rule((record, journal), c, (None, "INPUT"), rule)
                        .await?;
                    return Ok(format!(
                        "dropping {:.0}% of inbound packets of {} (iptables; no netem in this kernel)",
                        p.rate * 100.0,
                        c.display
                    ));
                }
                Err(e) if e.contains("qdisc kind is unknown") => {
                    let ports = self.delay_ports((record, journal), c, relay).await?;
                    return Ok(format!(
                        "{}ms latency on {} TCP port(s) {ports} (delay relay; no netem in this kernel)",
                        p.latency_ms, c.display
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        let what = if latency {
            format!("{}ms latency", p.latency_ms)
        } else {
            format!("{:.0}% packet loss", p.rate * 100.0)
        };
        Ok(format!("{what} on {} ({})", c.display, devs.join(", ")))
    }

    /// Send new connections to the container's TCP ports through a delay
    /// relay (journalling each REDIRECT rule before it is added).
    async fn delay_ports(
        &self,
        (record, journal): (&mut Record, &Journal<UndoStep>),
        c: &ContainerView,
        relay: &mut Option<DelayRelay>,
    ) -> Result<String, String> {
        let mut ports: Vec<u16> = c
            .published
            .iter()
            .filter(|(_, proto, _, _)| proto == "tcp")
            .map(|(p, _, _, _)| *p)
            .collect();
        ports.sort_unstable();
        ports.dedup();
        if ports.is_empty() {
            return Err(format!(
                "{} publishes no TCP port to delay, and this kernel has no netem qdisc",
                c.display
            ));
        }
        let pid = local_pid(c)?;
        let latency = Duration::from_millis(record.params.latency_ms);
        let r = crate::docker::delay::start(pid, &ports, latency).await?;
        let pairs = r.ports.clone();
        *relay = Some(r);
        for (svc, via) in &pairs {
            let rule: Vec<String> = [
                "-p",
                "tcp",
                "--dport",
                &svc.to_string(),
                "-m",
                "comment",
                "--comment",
                &record.id,
                "-j",
                "REDIRECT",
                "--to-ports",
                &via.to_string(),
            ]
            .map(String::from)
            .to_vec();
            self.add_rule((record, journal), c, (Some("nat"), "PREROUTING"), rule)
                .await?;
        }
        Ok(pairs
            .iter()
            .map(|(p, _)| p.to_string())
            .collect::<Vec<_>>()
            .join(", "))
    }
}
