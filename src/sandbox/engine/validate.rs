//! The sandbox's checks of its configuration, before anything starts.

use crate::config::Config;
use crate::delivery::validate::{valid_name, validate_version};
use crate::domain::environment::Version;
use crate::sandbox::SandboxError;

const MAX_REPLICAS: u32 = 16;

pub(super) fn validate_config(cfg: &Config) -> Result<(), SandboxError> {
    let bad = |m: String| Err(SandboxError::Config(m));
    if cfg.environments.is_empty() {
        return bad("no environments are configured".into());
    }
    for (i, e) in cfg.environments.iter().enumerate() {
        if !valid_name(&e.name, 32) {
            return bad(format!(
                "environment name `{}` must be 1-32 of A-Z a-z 0-9 . _ -",
                e.name
            ));
        }
        if cfg.environments[..i].iter().any(|o| o.name == e.name) {
            return bad(format!("environment `{}` is configured twice", e.name));
        }
        if !(1..=MAX_REPLICAS).contains(&e.replicas) {
            return bad(format!(
                "environment `{}`: replicas must be 1..={MAX_REPLICAS}",
                e.name
            ));
        }
        if validate_version(&Version::new(e.initial_version.clone())).is_err() {
            return bad(format!(
                "environment `{}`: invalid initial_version `{}`",
                e.name, e.initial_version
            ));
        }
    }
    cfg.rollout
        .steps
        .validate()
        .map_err(|e| SandboxError::Config(format!("rollout.steps: {e}")))?;
    let rate = cfg.traffic.rate_per_sec;
    if !rate.is_finite() || !(0.0..=10_000.0).contains(&rate) {
        return bad(format!(
            "traffic.rate_per_sec {rate} must be within 0..=10000"
        ));
    }
    let rp = &cfg.service.ready_path;
    if !rp.starts_with('/') || rp.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad(format!(
            "service.ready_path `{rp}` must start with / and contain no spaces"
        ));
    }
    let svc = &cfg.service;
    let names = svc.env.keys().chain(svc.dependencies.iter());
    for name in names {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return bad(format!(
                "service: `{name}` is not a variable name (A-Z a-z 0-9 _)"
            ));
        }
    }
    if let Some((k, _)) = svc.env.iter().find(|(_, v)| v.contains('\0')) {
        return bad(format!("service.env.{k} contains a NUL byte"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation_catches_mistakes() {
        assert!(validate_config(&Config::default()).is_ok());
        let mut c = Config::default();
        c.environments[1].name = c.environments[0].name.clone();
        assert!(matches!(validate_config(&c), Err(SandboxError::Config(m)) if m.contains("twice")));
        let mut c = Config::default();
        c.environments[0].replicas = 0;
        assert!(validate_config(&c).is_err());
        let mut c = Config::default();
        c.service.ready_path = "/ready\r\nX: y".into();
        assert!(validate_config(&c).is_err());
        let mut c = Config::default();
        c.rollout.steps.steps.clear();
        assert!(validate_config(&c).is_err());
        let mut c = Config::default();
        c.environments.clear();
        assert!(validate_config(&c).is_err());
        let mut c = Config::default();
        c.service.dependencies = vec!["BROKER URL".into()];
        assert!(
            matches!(validate_config(&c), Err(SandboxError::Config(m)) if m.contains("variable name"))
        );
        let mut c = Config::default();
        c.service.env.insert("DATABASE_URL".into(), "a\0b".into());
        assert!(validate_config(&c).is_err());
    }
}
