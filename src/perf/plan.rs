//! Resolving flags, config and the target environment into a [`Plan`].

use std::net::ToSocketAddrs;

use super::flags::{pacing_from_flags, parse_endpoint};
use super::url::parse_url;
use super::{Endpoint, LoadSpec, PerfArgs, PerfError, Stop, Target, Thresholds};
use crate::config::Config;
use crate::domain::environment::EnvironmentStatus;
use crate::domain::sanitize::sanitize_str;

/// Where environment `name` takes requests: its router address (an IP or a
/// name, resolved here to its first address), with that address as written
/// for the `Host` header (an ingress routes on it). `runtime` is the
/// runtime's name: on `kubernetes` the address is the config's
/// `kubernetes.addresses.<env>`, and the errors say so.
pub fn router_target(
    envs: &[EnvironmentStatus],
    name: &str,
    runtime: &str,
) -> Result<Target, PerfError> {
    let Some(env) = envs.iter().find(|e| e.name == name) else {
        let known: Vec<String> = envs.iter().map(|e| sanitize_str(&e.name)).collect();
        return Err(PerfError::UnknownEnvironment(format!(
            "unknown environment `{}` (known: {})",
            sanitize_str(name),
            known.join(", ")
        )));
    };
    let name = sanitize_str(name);
    let kubernetes = runtime == "kubernetes";
    let addr = env.router_addr.trim();
    if addr.is_empty() {
        return Err(PerfError::Unavailable(if kubernetes {
            format!(
                "environment `{name}` has no address this machine can send load to: set \
                 kubernetes.addresses.{name} in blissful-infra.yaml to where its service \
                 answers (an ingress, a NodePort or `kubectl port-forward svc/<name> 8080:80`)"
            )
        } else {
            format!("environment `{name}` has no router address to send load to (is it up?)")
        }));
    }
    let first = addr
        .to_socket_addrs()
        .map_err(|e| e.to_string())
        .and_then(|mut it| it.next().ok_or_else(|| "no address".to_string()));
    match first {
        Ok(resolved) => Ok(Target {
            addr: resolved,
            host: addr.to_string(),
        }),
        Err(why) => Err(PerfError::Unavailable(format!(
            "environment `{name}` has no usable router address (`{}`: {}){}",
            sanitize_str(addr),
            sanitize_str(&why),
            if kubernetes {
                format!("; check kubernetes.addresses.{name}")
            } else {
                String::new()
            }
        ))),
    }
}

/// Everything a run needs, resolved from flags, config and (for --env) the sandbox.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Shown in output, e.g. `http://127.0.0.1:8180`.
    pub label: String,
    pub spec: LoadSpec,
    pub thresholds: Thresholds,
}

/// Check flags and build the plan. `router` is where the environment takes
/// requests when `--env` was given ([`router_target`]).
pub async fn plan(
    args: &PerfArgs,
    config: &Config,
    router: Option<Target>,
) -> Result<Plan, PerfError> {
    let pacing = pacing_from_flags(args.concurrency, args.rate).map_err(PerfError::Usage)?;
    let stop = match args.requests {
        Some(0) => return Err(PerfError::Usage("--requests must be at least 1".into())),
        Some(n) => Stop::Requests(n),
        None if args.duration.is_zero() => {
            return Err(PerfError::Usage("--duration must be above 0".into()))
        }
        None => Stop::Duration(args.duration),
    };
    if args.timeout.is_zero() {
        return Err(PerfError::Usage("--timeout must be above 0".into()));
    }
    let p95_ms = args.p95_ms.unwrap_or(config.perf.p95_ms);
    if !(p95_ms.is_finite() && p95_ms > 0.0) {
        return Err(PerfError::Usage(format!(
            "--p95-ms must be above 0, got {p95_ms}"
        )));
    }
    let max_error_rate = args.max_error_rate.unwrap_or(config.perf.max_error_rate);
    if !(0.0..=1.0).contains(&max_error_rate) {
        return Err(PerfError::Usage(format!(
            "--max-error-rate must be in 0..=1, got {max_error_rate}"
        )));
    }
    let (label, target, default_path) = match (router, &args.url) {
        (Some(target), _) => (
            format!("http://{}", sanitize_str(&target.host)),
            target,
            None,
        ),
        (None, Some(url)) => {
            let u = parse_url(url)?;
            let addr = tokio::net::lookup_host((u.host.as_str(), u.port))
                .await
                .ok()
                .and_then(|mut it| it.next())
                .ok_or_else(|| {
                    PerfError::Unreachable(format!("cannot resolve `{}`", sanitize_str(&u.host)))
                })?;
            (
                format!("http://{}", sanitize_str(&u.authority)),
                Target {
                    addr,
                    host: u.authority.clone(),
                },
                Some(u.path),
            )
        }
        (None, None) => return Err(PerfError::Usage("give --env or --url".into())),
    };
    let endpoints = if !args.endpoints.is_empty() {
        args.endpoints.clone()
    } else if let Some(p) = default_path {
        vec![Endpoint { path: p, weight: 1 }]
    } else {
        // --env: the same paths the sandbox's background traffic uses.
        let eps: Vec<Endpoint> = config
            .traffic
            .paths
            .iter()
            .filter_map(|p| parse_endpoint(p).ok())
            .map(|e| Endpoint { weight: 1, ..e })
            .collect();
        if eps.is_empty() {
            vec![Endpoint {
                path: "/".into(),
                weight: 1,
            }]
        } else {
            eps
        }
    };
    Ok(Plan {
        label,
        spec: LoadSpec {
            target,
            endpoints,
            pacing,
            concurrency: args.concurrency,
            stop,
            warmup: args.warmup,
            timeout: args.timeout,
        },
        thresholds: Thresholds {
            p95_ms,
            max_error_rate,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::time::Duration;

    use crate::perf::{Engine, Pacing};

    fn env(name: &str, addr: &str) -> EnvironmentStatus {
        use crate::domain::environment::{Health, TrafficSplit};
        EnvironmentStatus {
            name: name.into(),
            traffic: TrafficSplit {
                stable: None,
                canary: None,
                canary_weight: 0,
            },
            previous: None,
            step: None,
            health: Health::Unknown,
            instances: vec![],
            replicas: 1,
            last_change: 0,
            router_addr: addr.into(),
            metrics_addr: String::new(),
            faults: vec![],
            revisions: Vec::new(),
            observed: None,
        }
    }

    fn target(addr: &str) -> Target {
        Target {
            addr: addr.parse().unwrap(),
            host: addr.into(),
        }
    }

    #[test]
    fn router_of_environment() {
        let envs = vec![env("staging", "127.0.0.1:8180"), env("prod", "bogus")];
        let t = router_target(&envs, "staging", "sandbox").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8180".parse::<SocketAddr>().unwrap());
        assert_eq!(t.host, "127.0.0.1:8180");
        assert!(matches!(
            router_target(&envs, "nope", "sandbox"),
            Err(PerfError::UnknownEnvironment(m)) if m.contains("staging, prod")
        ));
        assert!(matches!(
            router_target(&envs, "prod", "sandbox"),
            Err(PerfError::Unavailable(m)) if m.contains("`prod`") && m.contains("`bogus`")
        ));
    }

    #[test]
    fn a_host_name_is_resolved_and_kept_for_the_host_header() {
        let envs = vec![env("staging", "localhost:8080")];
        let t = router_target(&envs, "staging", "kubernetes").unwrap();
        assert!(t.addr.ip().is_loopback(), "{t:?}");
        assert_eq!(t.addr.port(), 8080);
        assert_eq!(t.host, "localhost:8080");
    }

    #[test]
    fn an_empty_address_on_kubernetes_names_the_key_to_set() {
        let envs = vec![env("staging", "")];
        let Err(PerfError::Unavailable(m)) = router_target(&envs, "staging", "kubernetes") else {
            panic!("not unavailable")
        };
        assert!(m.contains("environment `staging`"), "{m}");
        assert!(m.contains("set kubernetes.addresses.staging"), "{m}");
        assert!(m.contains("kubectl port-forward"), "{m}");
        // Other runtimes have no such key.
        let Err(PerfError::Unavailable(m)) = router_target(&envs, "staging", "docker") else {
            panic!("not unavailable")
        };
        assert!(m.contains("environment `staging`"), "{m}");
        assert!(!m.contains("kubernetes"), "{m}");
        // A name that does not resolve points at the key too.
        let envs = vec![env("staging", "no-such-host.invalid:80")];
        let Err(PerfError::Unavailable(m)) = router_target(&envs, "staging", "kubernetes") else {
            panic!("not unavailable")
        };
        assert!(m.contains("`no-such-host.invalid:80`"), "{m}");
        assert!(m.contains("check kubernetes.addresses.staging"), "{m}");
    }

    #[tokio::test]
    async fn env_plan_uses_config_paths_and_thresholds() {
        let args = PerfArgs {
            env: Some("staging".into()),
            url: None,
            duration: Duration::from_secs(1),
            requests: None,
            concurrency: 3,
            rate: Some(50.0),
            warmup: Duration::ZERO,
            endpoints: vec![],
            timeout: Duration::from_secs(1),
            p95_ms: None,
            max_error_rate: Some(0.05),
            engine: Engine::Builtin,
            scripts: vec![],
        };
        let cfg = Config::default();
        let p = plan(&args, &cfg, Some(target("127.0.0.1:8180")))
            .await
            .unwrap();
        let paths: Vec<&str> = p.spec.endpoints.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, cfg.traffic.paths);
        assert_eq!(p.thresholds.p95_ms, cfg.perf.p95_ms);
        assert_eq!(p.thresholds.max_error_rate, 0.05);
        assert_eq!(p.spec.pacing, Pacing::Open { rate: 50.0 });
        assert_eq!(p.label, "http://127.0.0.1:8180");

        let bad = PerfArgs {
            concurrency: 0,
            ..args.clone()
        };
        assert!(matches!(
            plan(&bad, &cfg, None).await,
            Err(PerfError::Usage(_))
        ));
        let bad = PerfArgs {
            rate: Some(-1.0),
            ..args
        };
        assert!(matches!(
            plan(&bad, &cfg, Some(target("127.0.0.1:1"))).await,
            Err(PerfError::Usage(_))
        ));
    }
}
