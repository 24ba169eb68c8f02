//! The embedded sandbox for integration tests: one environment on
//! ephemeral ports with steady traffic, started on a temporary directory
//! with the real `blissful-infra sample-service` as its instances.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use blissful_infra::config::{Config, EnvironmentConfig};
use blissful_infra::paths::StatePaths;
use blissful_infra::runtime::SharedRuntime;
use blissful_infra::sandbox::{SandboxOptions, SandboxRuntime};

/// One environment `name` of `replicas` instances at version v1, with
/// 40 requests a second to `/hello`.
pub fn one_env(name: &str, replicas: u32) -> Config {
    let mut c = Config {
        environments: vec![EnvironmentConfig {
            name: name.into(),
            replicas,
            router_port: 0,
            metrics_port: 0,
            initial_version: "v1".into(),
            protected: false,
        }],
        ..Config::default()
    };
    c.traffic.rate_per_sec = 40.0;
    c.traffic.paths = vec!["/hello".into()];
    c
}

/// The sandbox itself, its state in `dir/state`.
pub async fn start_raw(cfg: Config, dir: &Path) -> (Arc<SandboxRuntime>, StatePaths) {
    let state = StatePaths::at(dir.join("state"));
    let rt = SandboxRuntime::start(SandboxOptions {
        config: Arc::new(cfg),
        config_dir: dir.to_path_buf(),
        service_program: PathBuf::from(env!("CARGO_BIN_EXE_blissful-infra")),
        state: state.clone(),
    })
    .await
    .expect("the sandbox starts");
    (rt, state)
}

/// Wrapped as the owning process wraps it: read-only (when asked), audited.
pub async fn start(cfg: Config, dir: &Path, read_only: bool) -> (SharedRuntime, StatePaths) {
    let (rt, state) = start_raw(cfg, dir).await;
    let rt = blissful_infra::runtime::decorate(rt, read_only, state.audit_journal()).await;
    (rt, state)
}
