//! The flags of `blissful-infra perf`.

use std::time::Duration;

use super::flags::{parse_duration, parse_endpoint};
use super::generator::Endpoint;

/// Flags of `blissful-infra perf`.
#[derive(clap::Args, Debug, Clone)]
pub struct PerfArgs {
    /// Environment whose edge router gets the load (needs a running sandbox).
    #[arg(long, short, conflicts_with = "url", required_unless_present = "url")]
    pub env: Option<String>,
    /// Target base URL, e.g. http://127.0.0.1:8080 (plain HTTP/1.1).
    #[arg(long)]
    pub url: Option<String>,
    /// How long to measure (e.g. 10s, 500ms, 2m).
    #[arg(long, short, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Send exactly this many requests instead of running for --duration.
    #[arg(long, short = 'n', conflicts_with = "duration")]
    pub requests: Option<u64>,
    /// Connections, each with one request in flight.
    #[arg(long, short, default_value_t = 10)]
    pub concurrency: usize,
    /// Open loop: requests per second, whatever the answers (latency is
    /// measured from when each request was due).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Load sent first and not recorded.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// PATH=WEIGHT, repeatable (default: `/` for --url, the config's
    /// traffic paths for --env).
    #[arg(long = "endpoint", value_name = "PATH=WEIGHT", value_parser = parse_endpoint)]
    pub endpoints: Vec<Endpoint>,
    /// Per-request timeout, connecting included.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Fail when p95 latency is above this (default: perf.p95_ms in config).
    #[arg(long)]
    pub p95_ms: Option<f64>,
    /// Fail when the error rate (0..1) is above this (default: perf.max_error_rate).
    #[arg(long)]
    pub max_error_rate: Option<f64>,
    /// `builtin`, or `k6` to run the project's k6 scripts (their own
    /// options apply; the target reaches them as BASE_URL).
    #[arg(long, value_enum, default_value_t = Engine::Builtin)]
    pub engine: Engine,
    /// k6 script to run, repeatable (default: every k6/*.js next to the config).
    #[arg(long = "script", value_name = "FILE")]
    pub scripts: Vec<std::path::PathBuf>,
}

/// Who generates the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    Builtin,
    K6,
}

impl PerfArgs {
    /// The flags' defaults, aimed at environment `env` (the console's `L`).
    pub fn for_env(env: &str) -> PerfArgs {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            args: PerfArgs,
        }
        use clap::Parser;
        match Defaults::try_parse_from(["perf", "--env", env]) {
            Ok(d) => d.args,
            // Only a name clap cannot take as a value (none in practice):
            // the same defaults, written out.
            Err(_) => PerfArgs {
                env: Some(env.to_string()),
                url: None,
                duration: Duration::from_secs(10),
                requests: None,
                concurrency: 10,
                rate: None,
                warmup: Duration::from_secs(2),
                endpoints: Vec::new(),
                timeout: Duration::from_secs(10),
                p95_ms: None,
                max_error_rate: None,
                engine: Engine::Builtin,
                scripts: Vec::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_defaults_are_the_flags_defaults() {
        let a = PerfArgs::for_env("staging");
        assert_eq!(a.env.as_deref(), Some("staging"));
        assert_eq!(a.duration, Duration::from_secs(10));
        assert_eq!(a.concurrency, 10);
        assert_eq!(a.warmup, Duration::from_secs(2));
        assert_eq!(a.engine, Engine::Builtin);
    }
}
