//! An environment's dependencies: the addresses found in the service's
//! variables (`service.env`, else the sandbox's own environment, which the
//! instances inherit), each fronted by a fault proxy; the instances get the
//! variable rewritten to the proxy's address, so every connection to a
//! dependency passes through it and dependency faults are set there.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::ServiceConfig;
use crate::fault_proxy::address::{endpoints, rewrite};
use crate::fault_proxy::{FaultProxy, ProxyFault};

/// The variables every service is looked at for, and what they name.
pub const WELL_KNOWN: [(&str, DependencyKind); 3] = [
    ("DATABASE_URL", DependencyKind::Database),
    ("KAFKA_BOOTSTRAP_SERVERS", DependencyKind::Kafka),
    ("REDIS_URL", DependencyKind::Redis),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DependencyKind {
    Database,
    Kafka,
    Redis,
    /// A variable listed in `service.dependencies`.
    Other,
}

impl DependencyKind {
    pub fn name(self) -> &'static str {
        match self {
            DependencyKind::Database => "database",
            DependencyKind::Kafka => "kafka",
            DependencyKind::Redis => "redis",
            DependencyKind::Other => "dependency",
        }
    }
}

/// One variable's dependency and its proxies (one per address in it).
#[derive(Debug)]
pub struct Dependency {
    pub var: String,
    pub kind: DependencyKind,
    pub proxies: Vec<Arc<FaultProxy>>,
    /// The value the instances get.
    pub rewritten: String,
}

impl Dependency {
    /// `DATABASE_URL (db:5432)`, as fault targets and logs show it.
    pub fn display(&self) -> String {
        let ups: Vec<&str> = self.proxies.iter().map(|p| p.upstream()).collect();
        format!("{} ({})", self.var, ups.join(", "))
    }

    pub fn set_fault(&self, fault: &ProxyFault) {
        for p in &self.proxies {
            p.set_fault(fault.clone());
        }
    }

    /// Whether `target` (a variable or a kind's name) names this one.
    pub fn is_named(&self, target: &str) -> bool {
        self.var == target || self.kind.name() == target
    }
}

/// The dependencies of one environment.
#[derive(Debug, Default)]
pub struct Dependencies {
    pub found: Vec<Dependency>,
    /// Variables set but not proxied, with the reason (logged at start).
    pub skipped: Vec<String>,
}

/// The variables looked at, in order, with their kind.
pub fn looked_for(svc: &ServiceConfig) -> Vec<(String, DependencyKind)> {
    let mut out: Vec<(String, DependencyKind)> = WELL_KNOWN
        .iter()
        .map(|(v, k)| (v.to_string(), *k))
        .collect();
    for v in &svc.dependencies {
        if !out.iter().any(|(o, _)| o == v) {
            out.push((v.clone(), DependencyKind::Other));
        }
    }
    out
}

/// The value the service sees for `var`: `service.env`, else the sandbox's
/// own environment; empty counts as unset (the templates read it so).
pub fn value_of(svc: &ServiceConfig, var: &str) -> Option<String> {
    svc.env
        .get(var)
        .cloned()
        .or_else(|| std::env::var(var).ok())
        .filter(|v| !v.trim().is_empty())
}

impl Dependencies {
    /// Find the dependencies and start a proxy for each address.
    pub async fn start(svc: &ServiceConfig) -> std::io::Result<Dependencies> {
        let mut deps = Dependencies::default();
        for (var, kind) in looked_for(svc) {
            let Some(value) = value_of(svc, &var) else {
                continue;
            };
            let found = match endpoints(&value) {
                Ok(e) => e,
                Err(why) => {
                    deps.skipped.push(format!("{var} is not proxied: {why}"));
                    continue;
                }
            };
            let mut replaced = Vec::new();
            let mut proxies = Vec::new();
            for e in found {
                let proxy = Arc::new(FaultProxy::start(&e.upstream).await?);
                replaced.push((e, proxy.addr()));
                proxies.push(proxy);
            }
            deps.found.push(Dependency {
                rewritten: rewrite(&value, &replaced),
                var,
                kind,
                proxies,
            });
        }
        Ok(deps)
    }

    /// What the instances are started with: `service.env`, then each
    /// dependency's variable pointing at its proxy.
    pub fn instance_env(&self, svc: &ServiceConfig) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = svc
            .env
            .iter()
            .filter(|(k, _)| !self.found.iter().any(|d| &d.var == *k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        env.extend(
            self.found
                .iter()
                .map(|d| (d.var.clone(), d.rewritten.clone())),
        );
        env
    }

    /// The proxy addresses, for the start-up log: `DATABASE_URL (db:5432) via 127.0.0.1:40123`.
    pub fn describe(&self) -> Vec<String> {
        self.found
            .iter()
            .map(|d| {
                let via: Vec<String> = d.proxies.iter().map(|p| p.addr().to_string()).collect();
                format!("{} via {}", d.display(), via.join(", "))
            })
            .collect()
    }

    /// Every proxy address, for tests and status.
    pub fn proxy_addrs(&self) -> Vec<SocketAddr> {
        self.found
            .iter()
            .flat_map(|d| d.proxies.iter().map(|p| p.addr()))
            .collect()
    }
}

#[cfg(test)]
mod tests;
