//! `blissful-infra perf`: a built-in HTTP/1.1 load generator.
//!
//! [`generator`] sends the load and records latencies in HDR histograms;
//! [`report`] turns the result into a table or a JSON document and checks
//! it against the thresholds (`perf:` in config, overridden by flags).

pub mod generator;
pub mod k6;
pub mod report;

mod args;
mod background;
mod cmd;
mod error;
mod execute;
mod flags;
mod plan;
mod progress;
mod url;

pub use args::{Engine, PerfArgs};
pub use background::{background_load, BackgroundLoad};
pub use cmd::{cmd_perf, run_on_env, EnvSource};
pub use error::PerfError;
pub use execute::{execute, STAGES};
pub use flags::{
    pacing_from_flags, parse_duration, parse_endpoint, MAX_CONCURRENCY, MAX_DURATION, MAX_RATE,
};
pub use generator::{Endpoint, ErrorKind, LoadSpec, Pacing, RunStats, Stop, Target};
pub use plan::{plan, router_target, Plan};
pub use report::{Summary, Thresholds};
pub use url::{parse_url, ParsedUrl};
