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
    /// What the verdict is judged by (`comparison:`).
    pub(super) rules: Rules,
    /// Score each version with the FMEA suite after measuring.
    pub(super) include_chaos: bool,
    /// Where the suite reads each version's practices from (old, new): the
    /// project, or each git ref's worktree.
    pub(super) evidence_dirs: [Option<PathBuf>; 2],
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
    // A flag wins over `comparison:`, which wins over the built-in defaults.
    let c = &config.comparison;
    let concurrency = args.concurrency.unwrap_or_else(|| c.users());
    let duration = args.duration.unwrap_or_else(|| c.duration());
    let warmup = args.warmup.unwrap_or_else(|| c.warmup());
    let pacing =
        crate::perf::pacing_from_flags(concurrency, args.rate).map_err(CompareError::Usage)?;
    if duration.is_zero() {
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
    if c.include_chaos {
        // The loader refuses this too; a config built in code may not say.
        if let Some(why) = config.chaos.refusal("sandbox") {
            return Err(CompareError::Usage(format!(
                "comparison.include_chaos is on, but the FMEA suite cannot run: {why}"
            )));
        }
    }
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
        concurrency,
        duration,
        warmup,
        timeout: args.timeout,
        endpoints,
        chaos,
        rules: c.rules(),
        include_chaos: c.include_chaos,
        evidence_dirs: [None, None],
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
