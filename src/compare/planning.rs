//! Flags checked and resolved into a plan; the config of the comparison sandbox.

use super::*;

/// Flags checked and resolved.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    pub(super) old: String,
    pub(super) new: String,
    pub(super) pacing: Pacing,
    pub(super) concurrency: usize,
    pub(super) duration: Duration,
    pub(super) warmup: Duration,
    pub(super) timeout: Duration,
    pub(super) endpoints: Vec<Endpoint>,
    pub(super) chaos: Option<ScenarioKind>,
}

pub(super) fn check_version(flag: &str, v: &str) -> Result<(), CompareError> {
    let ok = !v.is_empty()
        && v.len() <= MAX_VERSION_LEN
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(CompareError::Usage(format!(
            "--{flag} `{}` is not a version name (letters, digits, `.`, `-`, `_`; at most {MAX_VERSION_LEN})",
            sanitize_str(v)
        )))
    }
}

pub(super) fn plan(args: &CompareArgs, config: &Config) -> Result<Plan, CompareError> {
    if config.service.command.trim().is_empty() {
        check_version("old", &args.old)?;
        check_version("new", &args.new)?;
    } else {
        // A project's own service: the two sides are git refs.
        git::check_ref("old", &args.old)?;
        git::check_ref("new", &args.new)?;
    }
    let pacing =
        crate::perf::pacing_from_flags(args.concurrency, args.rate).map_err(CompareError::Usage)?;
    if args.duration.is_zero() {
        return Err(CompareError::Usage("--duration must be above 0".into()));
    }
    if args.timeout.is_zero() {
        return Err(CompareError::Usage("--timeout must be above 0".into()));
    }
    let chaos = args
        .chaos
        .as_deref()
        .map(str::parse::<ScenarioKind>)
        .transpose()
        .map_err(|e| CompareError::Usage(e.to_string()))?;
    // The same paths the sandbox's background traffic would use.
    let mut endpoints: Vec<Endpoint> = config
        .traffic
        .paths
        .iter()
        .filter_map(|p| parse_endpoint(p).ok())
        .map(|e| Endpoint { weight: 1, ..e })
        .collect();
    if endpoints.is_empty() {
        endpoints.push(Endpoint {
            path: "/".into(),
            weight: 1,
        });
    }
    Ok(Plan {
        old: args.old.clone(),
        new: args.new.clone(),
        pacing,
        concurrency: args.concurrency,
        duration: args.duration,
        warmup: args.warmup,
        timeout: args.timeout,
        endpoints,
        chaos,
    })
}

/// The project config reduced to the two comparison environments, with no
/// background traffic (the comparison drives all load itself).
pub fn comparison_config(config: &Config, old: &str, new: &str) -> Config {
    let replicas = config
        .environments
        .first()
        .map(|e| e.replicas)
        .unwrap_or_else(|| EnvironmentConfig::default().replicas)
        .max(1);
    let env = |name: &str, version: &str| EnvironmentConfig {
        name: name.into(),
        replicas,
        router_port: 0,
        metrics_port: 0,
        initial_version: version.into(),
        protected: false,
    };
    let mut c = config.clone();
    c.environments = vec![env(OLD_ENV, old), env(NEW_ENV, new)];
    c.traffic.rate_per_sec = 0.0;
    c
}
