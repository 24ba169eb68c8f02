//! The command line: global options and one variant per command. `main`
//! parses it; the launch module wires each command to the layers below.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "blissful-infra",
    version,
    about = "Enterprise infrastructure in a local sandbox, driven from one terminal console",
    long_about = "Run with no command to open the console for the project in this directory \
                  (or the demo sandbox when there is no blissful-infra.yaml)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Project configuration file (default: blissful-infra.yaml found from the current directory up).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Refuse every action that changes something (deploy, promote, rollback,
    /// switch, chaos, undo, pause, resume, abort, retry, restart, up and down
    /// --ephemeral).
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Output format for commands.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Colour theme: dark, light, high-contrast, or a path to a TOML theme.
    #[arg(long, global = true)]
    pub theme: Option<String>,
    /// Where state lives (audit journal, fault journal, control socket).
    #[arg(
        long,
        global = true,
        env = "BLISSFUL_INFRA_STATE_DIR",
        value_name = "DIR"
    )]
    pub state_dir: Option<PathBuf>,
    /// kubeconfig context for `runtime: kubernetes` (overrides `kubernetes.context`).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// The environment a rollout verb acts on, and its confirmation.
#[derive(Args, Debug, Clone)]
pub struct EnvArgs {
    #[arg(long, short)]
    pub env: String,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

#[derive(Args, Debug, Clone, Copy)]
pub struct ConfirmArgs {
    /// Do not ask for confirmation (for scripts).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum SwitchTarget {
    Canary,
    Stable,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Open the console on the demo sandbox (two environments, live traffic).
    Demo,
    /// Open the console (same as running with no command).
    Dashboard,
    /// Start the project in the background: the sandbox, or with `runtime:
    /// docker` its Compose project (health-checked) plus the control daemon;
    /// with `runtime: kubernetes`, `--ephemeral NAME` makes an ephemeral
    /// environment.
    Up(UpArgs),
    /// Stop what `up` started; `--ephemeral NAME` removes an ephemeral
    /// environment.
    Down {
        /// With `runtime: docker`: also remove the project's volumes.
        #[arg(long, conflicts_with = "ephemeral")]
        volumes: bool,
        /// With `runtime: kubernetes`: delete the namespace
        /// `<project>-NAME` that `up --ephemeral NAME` made, and everything
        /// in it (asks first).
        #[arg(long, value_name = "NAME")]
        ephemeral: Option<String>,
        /// With --ephemeral: how long the namespace may take to go.
        #[arg(long, requires = "ephemeral", default_value = "5m",
              value_parser = crate::domain::duration::parse_duration)]
        wait: std::time::Duration,
        #[command(flatten)]
        confirm: ConfirmArgs,
    },
    /// Run the sandbox in the foreground without a console.
    #[command(hide = true)]
    Daemon,
    /// Environments, versions, traffic split and health.
    Status {
        /// Kubernetes: only the ephemeral environments (`up --ephemeral`),
        /// with owner, age, TTL and whether they expired.
        #[arg(long)]
        ephemeral: bool,
    },
    /// Show logs; --follow streams them.
    Logs {
        #[arg(long, short)]
        env: Option<String>,
        #[arg(long, short)]
        follow: bool,
        /// Only lines matching this regular expression.
        #[arg(long)]
        grep: Option<String>,
        /// How many recent lines to show first.
        #[arg(long, default_value_t = 100)]
        tail: usize,
        /// Only lines of the last DURATION (e.g. 30s, 15m, 2h, 1d); from
        /// Loki the default is 1h.
        #[arg(long, value_parser = crate::cli::parse_since)]
        since: Option<std::time::Duration>,
        /// Where the lines come from: `auto` reads Loki when `loki.url` is
        /// set, else the running sandbox.
        #[arg(long, value_enum, default_value_t = crate::cli::LogSource::Auto)]
        source: crate::cli::LogSource,
    },
    /// Deploy a version to an environment as a canary rollout.
    Deploy {
        #[arg(long, short)]
        env: String,
        #[arg(long, short)]
        version: String,
        /// Return once the rollout is accepted instead of waiting for its outcome.
        #[arg(long)]
        no_wait: bool,
    },
    /// Roll one environment's stable version out to another (--from/--to),
    /// or move a rollout in --env to its next step (--full: finish it now).
    Promote {
        #[arg(long, requires = "to", conflicts_with_all = ["env", "full"])]
        from: Option<String>,
        #[arg(long, requires = "from")]
        to: Option<String>,
        #[arg(long, short, required_unless_present = "from")]
        env: Option<String>,
        /// Skip every remaining step and analysis: the canary is stable now.
        #[arg(long, requires = "env")]
        full: bool,
        /// With --from/--to: return once the rollout is accepted. (Steps
        /// with --env always return once the intent is accepted.)
        #[arg(long, conflicts_with = "env")]
        no_wait: bool,
        /// With --from/--to: promote although --from's last FMEA scored
        /// below comparison.thresholds.min_resilience_score (asks first;
        /// --yes confirms).
        #[arg(long, requires = "from")]
        accept_low_resilience: bool,
        #[command(flatten)]
        confirm: ConfirmArgs,
    },
    /// Hold a rollout at its current weight until `resume`.
    Pause(EnvArgs),
    /// Go on with a paused rollout.
    Resume(EnvArgs),
    /// Stop a rollout and send all traffic back to stable.
    Abort {
        #[command(flatten)]
        target: EnvArgs,
        /// Why (shown as `Aborted: <reason>`); default `aborted by <user>`.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Start an aborted rollout again from its first step.
    Retry(EnvArgs),
    /// Restart every instance of an environment, one at a time.
    Restart(EnvArgs),
    /// Return an environment to its previous version.
    Rollback {
        #[arg(long, short)]
        env: String,
        #[arg(long)]
        no_wait: bool,
    },
    /// Run the chaos suite (FMEA) against an environment, or one --scenario.
    Chaos(ChaosArgs),
    /// Blue/green: send all of an environment's traffic to its canary or back to stable.
    Switch {
        #[arg(long, short)]
        env: String,
        #[arg(long, value_enum)]
        to: SwitchTarget,
    },
    /// Undo a rollout in --env (to the previous revision, or --to-revision N),
    /// or remove a chaos fault early (--id, an experiment id from `chaos` or `status`).
    Undo {
        #[arg(long, conflicts_with_all = ["env", "to_revision"], required_unless_present = "env")]
        id: Option<String>,
        #[arg(long, short)]
        env: Option<String>,
        #[arg(long, requires = "env")]
        to_revision: Option<u32>,
        #[command(flatten)]
        confirm: ConfirmArgs,
    },
    /// The Jenkins job in `jenkins:`: runs, show <n>, logs <n>, trigger.
    Jenkins(crate::cli::jenkins::JenkinsArgs),
    /// Load-test an environment's router (--env) or any http:// URL (--url).
    Perf(crate::perf::PerfArgs),
    /// Run two versions side by side under identical load and compare them.
    Compare(crate::compare::CompareArgs),
    /// Run the project's pipeline stages here (--local), or list/show past runs.
    Pipeline(crate::pipeline::PipelineArgs),
    /// Scaffold a service project from a template (asks what is not given).
    Create(crate::scaffold::CreateArgs),
    /// Write the project's deployment as plain files into ejected/: every
    /// kustomize overlay rendered, the Compose file, the Jenkinsfile and
    /// ci/*.sh, with a README on using them without blissful-infra.
    Eject(crate::eject::EjectArgs),
    /// The built-in sample service (run by the sandbox as an instance).
    #[command(hide = true)]
    SampleService {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        version: String,
        #[arg(long, default_value = "sample-0")]
        instance: String,
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        #[arg(long, default_value_t = 0.0)]
        error_rate: f64,
        #[arg(long, default_value_t = 0.0)]
        memory_growth_mib_per_min: f64,
    },
}

/// `up`: the background runtime, or an ephemeral environment.
#[derive(Args, Debug, Clone)]
pub struct UpArgs {
    /// With `runtime: kubernetes`: make (or update) the ephemeral
    /// environment NAME: the namespace `<project>-NAME`, labelled with its
    /// owner and TTL, with the `ephemeral` overlay applied into it.
    #[arg(long, value_name = "NAME")]
    pub ephemeral: Option<String>,
    /// How long the ephemeral environment is meant to live (4h, 90m, 2d);
    /// default `kubernetes.ephemeral_ttl` (24h). `status` marks it expired
    /// after that.
    #[arg(long, requires = "ephemeral", value_parser = crate::domain::duration::parse_ttl)]
    pub ttl: Option<std::time::Duration>,
    /// How long its Deployments may take to be ready; 0 does not wait.
    #[arg(long, requires = "ephemeral", default_value = "5m",
          value_parser = crate::domain::duration::parse_duration)]
    pub wait: std::time::Duration,
}

/// `chaos`: the FMEA suite, one scenario, or the catalogue.
#[derive(Args, Debug, Clone)]
pub struct ChaosArgs {
    /// The environment (not needed with --list).
    #[arg(long, short, required_unless_present = "list")]
    pub env: Option<String>,
    /// One scenario (see --list); without it, `chaos.scenarios` from
    /// blissful-infra.yaml, else every scenario the runtime offers.
    #[arg(long, short)]
    pub scenario: Option<String>,
    /// How long each fault stays applied: 90s, 5m, 1h, or seconds.
    #[arg(long, value_parser = crate::domain::duration::parse_whole_secs)]
    pub duration: Option<u64>,
    /// Concurrent users the load generator keeps busy during the suite.
    #[arg(long)]
    pub load: Option<u32>,
    #[arg(long)]
    pub latency_ms: Option<u64>,
    /// Share of requests affected (error-injection, connection-drop), 0..1.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Show every scenario and what each runtime supports.
    #[arg(long, conflicts_with_all = ["env", "scenario", "no_wait"])]
    pub list: bool,
    /// Start the fault of one --scenario and return, without a verdict.
    #[arg(long, requires = "scenario")]
    pub no_wait: bool,
}
