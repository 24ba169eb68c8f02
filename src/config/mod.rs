//! `blissful-infra.yaml`: the project's configuration, with defaults for
//! everything so the demo needs no file.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::domain::analysis::Thresholds;
use crate::domain::rollout::CanaryPlan;

mod chaos;
mod check;
pub mod compose_detect;
mod console;
mod jenkins;
mod keybinding;
mod kubernetes;
mod load;
mod locate;

pub use chaos::{ChaosConfig, ChaosTool, ComparisonConfig, ComparisonThresholds, SeedSlos};
pub use console::{ConsoleConfig, OnDisconnect, TimestampMode};
pub use jenkins::JenkinsConfig;
pub use kubernetes::KubernetesConfig;
pub use load::{ConfigError, ConfigProblem, KeymapRule};

pub const FILE_NAME: &str = "blissful-infra.yaml";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub project: String,
    pub runtime: RuntimeKind,
    pub environments: Vec<EnvironmentConfig>,
    pub service: ServiceConfig,
    pub traffic: TrafficConfig,
    pub rollout: RolloutConfig,
    pub chaos: ChaosConfig,
    pub comparison: ComparisonConfig,
    pub perf: PerfConfig,
    pub agent: AgentConfig,
    pub console: ConsoleConfig,
    pub prometheus: PrometheusConfig,
    pub loki: LokiConfig,
    /// Used when `runtime: docker`.
    pub docker: DockerConfig,
    /// Used when `runtime: kubernetes`.
    pub kubernetes: KubernetesConfig,
    /// A Jenkins job to read and trigger (`blissful-infra jenkins`).
    pub jenkins: JenkinsConfig,
    /// The CI stages of the project (the same list as its Jenkinsfile).
    pub pipeline: PipelineConfig,
    /// Action name -> key(s), e.g. `deploy: "D"` or `scroll_down: ["j", "down"]`.
    pub keymap: BTreeMap<String, KeyBinding>,
    /// Theme name (a file in `themes/`, without `.toml`) or a path to a TOML theme.
    pub theme: String,
}

/// Deserialised by hand (see `load.rs`) so unquoted digits work as keys.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum KeyBinding {
    One(String),
    Many(Vec<String>),
}

impl KeyBinding {
    pub fn keys(&self) -> Vec<&str> {
        match self {
            KeyBinding::One(k) => vec![k.as_str()],
            KeyBinding::Many(ks) => ks.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    Sandbox,
    Docker,
    Kubernetes,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvironmentConfig {
    pub name: String,
    /// Instances per running version.
    pub replicas: u32,
    /// Edge router port on 127.0.0.1; 0 picks a free port.
    pub router_port: u16,
    /// Prometheus `/metrics` port for the router; 0 picks a free port.
    pub metrics_port: u16,
    /// Version running when the sandbox starts.
    pub initial_version: String,
    /// Production-like: confirmations ask for the environment's name to be typed.
    pub protected: bool,
}

impl Default for EnvironmentConfig {
    fn default() -> Self {
        EnvironmentConfig {
            name: "staging".into(),
            replicas: 2,
            router_port: 0,
            metrics_port: 0,
            initial_version: "v1".into(),
            protected: false,
        }
    }
}

/// How instances of the service are started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// Procfile-like command line; `$PORT` and `$VERSION` are substituted and
    /// also exported. Empty means the built-in sample service.
    pub command: String,
    /// Working directory for `command` (relative to the config file).
    pub workdir: String,
    /// Optional shell command that builds the service, run in the working
    /// directory (`compare` runs it in each git worktree before starting).
    pub build: String,
    /// Behaviour given to versions of the built-in sample service.
    pub versions: BTreeMap<String, VersionBehaviour>,
    /// Readiness path polled on each instance.
    pub ready_path: String,
    /// Variables exported to every instance (`DATABASE_URL: postgres://…`),
    /// over those the sandbox itself was started with.
    pub env: BTreeMap<String, String>,
    /// Further variables holding a dependency's address, besides
    /// `DATABASE_URL`, `KAFKA_BOOTSTRAP_SERVERS` and `REDIS_URL`: the
    /// sandbox puts a fault proxy in front of each one set.
    pub dependencies: Vec<String>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        let mut versions = BTreeMap::new();
        versions.insert(
            "v3-slow".to_string(),
            VersionBehaviour {
                latency_ms: 350,
                ..Default::default()
            },
        );
        versions.insert(
            "v4-buggy".to_string(),
            VersionBehaviour {
                error_rate: 0.25,
                ..Default::default()
            },
        );
        versions.insert(
            "v5-leaky".to_string(),
            VersionBehaviour {
                memory_growth_mib_per_min: 60.0,
                ..Default::default()
            },
        );
        ServiceConfig {
            command: String::new(),
            workdir: String::new(),
            build: String::new(),
            versions,
            ready_path: "/ready".into(),
            env: BTreeMap::new(),
            dependencies: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VersionBehaviour {
    /// Added to every request.
    pub latency_ms: u64,
    /// Fraction 0..1 of requests answered with HTTP 500.
    pub error_rate: f64,
    /// Memory the process keeps allocating.
    pub memory_growth_mib_per_min: f64,
    /// With `service.command`: run this version from here instead of
    /// `service.workdir` (relative to the config file, or absolute; `compare`
    /// sets it to a git worktree of the ref being compared).
    pub workdir: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrafficConfig {
    /// Requests per second sent to each environment's router; 0 disables.
    pub rate_per_sec: f64,
    pub paths: Vec<String>,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        TrafficConfig {
            rate_per_sec: 12.0,
            paths: vec!["/hello".into(), "/hello/blissful".into(), "/health".into()],
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RolloutConfig {
    pub steps: CanaryPlan,
    pub analysis: Thresholds,
    /// Times a step may be extended when the analysis lacks samples.
    pub max_extensions: u32,
    /// Where each step's samples come from: the sandbox's edge `router`
    /// (default), or `prometheus` (the `prometheus.queries`, needs `prometheus.url`).
    pub analysis_source: AnalysisSource,
    /// After a promotion or a blue-green switch, the new version is watched
    /// this long (analysed on its own); a failure switches traffic back.
    pub post_promotion_window_secs: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnalysisSource {
    #[default]
    Router,
    Prometheus,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        RolloutConfig {
            steps: CanaryPlan::default(),
            analysis: Thresholds::default(),
            max_extensions: 3,
            analysis_source: AnalysisSource::Router,
            post_promotion_window_secs: 2,
        }
    }
}

/// Pass/fail thresholds for `blissful-infra perf` (flags override them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PerfConfig {
    /// The run fails when its p95 latency is above this many milliseconds.
    pub p95_ms: f64,
    /// The run fails when more than this fraction (0..1) of requests fail.
    pub max_error_rate: f64,
}

impl Default for PerfConfig {
    fn default() -> Self {
        PerfConfig {
            p95_ms: 200.0,
            max_error_rate: 0.01,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    pub provider: String,
    pub endpoint: String,
    pub model: String,
    pub fallback_model: String,
    pub embedding_model: String,
    pub context_window: u32,
    pub temperature: f32,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            provider: "ollama".into(),
            endpoint: "http://localhost:11434".into(),
            model: "llama3.2".into(),
            fallback_model: "qwen2.5:0.5b".into(),
            embedding_model: "nomic-embed-text".into(),
            context_window: 8192,
            temperature: 0.2,
        }
    }
}

/// The Docker runtime (`runtime: docker`): a Compose project on the local engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DockerConfig {
    /// Compose file, relative to the config file.
    pub compose_file: String,
    /// Compose project name; empty means `project`.
    pub project_name: String,
    /// The service that progressive delivery deploys (canary and blue/green).
    pub app_service: String,
    /// Host port of the edge router in front of the app service (127.0.0.1); 0 picks one.
    pub router_port: u16,
    /// Seconds `up` waits for every service to become healthy.
    pub up_timeout_secs: u64,
}

impl Default for DockerConfig {
    fn default() -> Self {
        DockerConfig {
            compose_file: "docker-compose.yml".into(),
            project_name: String::new(),
            app_service: "app".into(),
            router_port: 0,
            up_timeout_secs: 60,
        }
    }
}

/// `pipeline:`: the stages a project's CI runs, in order; generated projects
/// keep this list equal to the stages of their Jenkinsfile so the same
/// stages can run locally.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    pub stages: Vec<PipelineStage>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineStage {
    pub name: String,
    /// Shell command, run from the config file's directory.
    pub command: String,
    /// A failure of an optional stage does not fail the pipeline.
    pub optional: bool,
    /// Stages naming the same group run at the same time; groups (and
    /// stages without one) run in the order they first appear.
    pub parallel_group: Option<String>,
    /// An executable the stage needs (`trivy`, `k6`, `docker`): when it is
    /// not on PATH the stage is skipped (`--strict`: failed), never passed.
    pub tool: Option<String>,
    /// JUnit XML files the stage writes (paths from the config directory;
    /// the last component may hold `*`/`?`), read after it ends.
    pub junit: Vec<String>,
    /// Coverage files (Cobertura XML or lcov) the stage writes.
    pub coverage: Vec<String>,
    /// Trivy JSON reports the stage writes.
    pub trivy: Vec<String>,
    /// Fail the stage when line coverage is below this percentage (0–100).
    pub min_coverage: Option<f64>,
    /// Fail the stage when Trivy found anything more severe than this
    /// (`CRITICAL`, `HIGH`, `MEDIUM`, `LOW`, `UNKNOWN`).
    pub max_severity: Option<String>,
    /// Files or directories whose content decides whether the stage must
    /// run again: unchanged since its last green run, it is skipped.
    pub inputs: Vec<String>,
}

/// An external Prometheus to read metrics from (`sources::prometheus`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Base URL, e.g. `http://127.0.0.1:9090`; empty disables the source.
    pub url: String,
    /// Sent as the `Authorization` header, e.g. `Bearer xyz`; empty sends none.
    pub auth_header: String,
    /// Per-request timeout.
    pub timeout_ms: u64,
    /// Seconds between two rounds of queries.
    pub step_secs: u64,
    /// Range (seconds) substituted for `{range}` in the live queries.
    pub window_secs: u64,
    pub queries: PrometheusQueries,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        PrometheusConfig {
            url: String::new(),
            auth_header: String::new(),
            timeout_ms: 3_000,
            step_secs: 5,
            window_secs: 30,
            queries: PrometheusQueries::default(),
        }
    }
}

/// PromQL per metric. `{env}` and `{version}` are replaced by regexes (use
/// them with `=~`), `{range}` by a duration such as `30s`. Results are
/// grouped by their `env` and `version` labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrometheusQueries {
    /// Requests per second.
    pub request_rate: String,
    /// Fraction 0..1 of requests that failed.
    pub error_rate: String,
    /// Latency quantiles in milliseconds.
    pub p50: String,
    pub p95: String,
    pub p99: String,
    /// Percent of one core.
    pub cpu: String,
    /// MiB.
    pub memory: String,
    /// Requests over `{range}` (canary analysis).
    pub requests: String,
    /// Failed requests over `{range}` (canary analysis).
    pub errors: String,
    /// 5xx answers over `{range}` (canary analysis); empty disables the check.
    pub server_errors: String,
    /// Lowest CPU percent over `{range}` = `rollout.analysis.saturation_secs`
    /// (above the limit the whole time fails the canary); empty disables it.
    pub cpu_saturation: String,
    /// Lowest memory percent of the limit over the saturation window.
    pub memory_saturation: String,
}

impl Default for PrometheusQueries {
    fn default() -> Self {
        const SEL: &str = r#"{env=~"{env}",version=~"{version}"}"#;
        let quantile = |q: &str| {
            format!(
                "histogram_quantile({q}, sum by (env, version, le) \
                 (rate(blissful_router_request_duration_seconds_bucket{SEL}[{{range}}]))) * 1000"
            )
        };
        PrometheusQueries {
            request_rate: format!(
                "sum by (env, version) (rate(blissful_router_requests_total{SEL}[{{range}}]))"
            ),
            error_rate: format!(
                "sum by (env, version) (rate(blissful_router_errors_total{SEL}[{{range}}])) \
                 / sum by (env, version) (rate(blissful_router_requests_total{SEL}[{{range}}]))"
            ),
            p50: quantile("0.5"),
            p95: quantile("0.95"),
            p99: quantile("0.99"),
            cpu: format!(
                "sum by (env, version) (rate(process_cpu_seconds_total{SEL}[{{range}}])) * 100"
            ),
            memory: format!("sum by (env, version) (process_resident_memory_bytes{SEL}) / 1048576"),
            requests: format!(
                "sum by (env, version) (increase(blissful_router_requests_total{SEL}[{{range}}]))"
            ),
            errors: format!(
                "sum by (env, version) (increase(blissful_router_errors_total{SEL}[{{range}}]))"
            ),
            server_errors: r#"sum by (env, version) (increase(blissful_router_requests_total{env=~"{env}",version=~"{version}",code=~"5.."}[{range}]))"#.to_string(),
            cpu_saturation: format!(
                "min_over_time((sum by (env, version) (rate(process_cpu_seconds_total{SEL}[1m])) * 100)[{{range}}:15s])"
            ),
            memory_saturation: format!(
                "min_over_time((sum by (env, version) (container_memory_working_set_bytes{SEL}) \
                 / sum by (env, version) (container_spec_memory_limit_bytes{SEL}) * 100)[{{range}}:15s])"
            ),
        }
    }
}

/// An external Loki to read logs from (`sources::loki`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LokiConfig {
    /// Base URL, e.g. `http://127.0.0.1:3100`; empty disables the source.
    pub url: String,
    /// Sent as the `Authorization` header, e.g. `Bearer xyz`; empty sends none.
    pub auth_header: String,
    /// Sent as `X-Scope-OrgID` (multi-tenant Loki); empty sends none.
    pub tenant: String,
    /// Per-request timeout, also for opening the tail.
    pub timeout_ms: u64,
    /// Most entries asked for in one request; keep it at or below Loki's
    /// `max_entries_limit_per_query` (5000 by default). Longer reads page.
    pub page_limit: usize,
    /// Stream selector the queries start from, e.g. `{namespace="shop"}`;
    /// `{}` means `{app="<project>"}`.
    pub selector: String,
    pub labels: LokiLabels,
    pub tls: TlsConfig,
}

impl Default for LokiConfig {
    fn default() -> Self {
        LokiConfig {
            url: String::new(),
            auth_header: String::new(),
            tenant: String::new(),
            timeout_ms: 5_000,
            page_limit: 1_000,
            selector: "{}".into(),
            labels: LokiLabels::default(),
            tls: TlsConfig::default(),
        }
    }
}

/// Which Loki labels fill the log pane's columns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LokiLabels {
    pub env: String,
    pub version: String,
    /// Falls back to `pod`, then `container`, when a stream lacks it.
    pub instance: String,
    /// Falls back to `detected_level`, then to a `level` field in JSON or
    /// logfmt lines.
    pub level: String,
}

impl Default for LokiLabels {
    fn default() -> Self {
        LokiLabels {
            env: "env".into(),
            version: "version".into(),
            instance: "instance".into(),
            level: "level".into(),
        }
    }
}

/// TLS for an `https://` URL: `ca_file` (PEM) is trusted in addition to the
/// built-in roots; `insecure_skip_verify` turns certificate checks off.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    pub ca_file: String,
    pub insecure_skip_verify: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            project: "demo".into(),
            runtime: RuntimeKind::Sandbox,
            environments: vec![
                EnvironmentConfig {
                    name: "staging".into(),
                    router_port: 8180,
                    metrics_port: 9180,
                    ..Default::default()
                },
                EnvironmentConfig {
                    name: "production".into(),
                    router_port: 8181,
                    metrics_port: 9181,
                    protected: true,
                    ..Default::default()
                },
            ],
            service: ServiceConfig::default(),
            traffic: TrafficConfig::default(),
            rollout: RolloutConfig::default(),
            chaos: ChaosConfig::default(),
            comparison: ComparisonConfig::default(),
            perf: PerfConfig::default(),
            agent: AgentConfig::default(),
            console: ConsoleConfig::default(),
            prometheus: PrometheusConfig::default(),
            loki: LokiConfig::default(),
            docker: DockerConfig::default(),
            kubernetes: KubernetesConfig::default(),
            jenkins: JenkinsConfig::default(),
            pipeline: PipelineConfig::default(),
            keymap: BTreeMap::new(),
            theme: "dark".into(),
        }
    }
}

impl Config {
    pub fn environment(&self, name: &str) -> Option<&EnvironmentConfig> {
        self.environments.iter().find(|e| e.name == name)
    }
}
