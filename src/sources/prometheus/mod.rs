//! A Prometheus HTTP API client (`/api/v1/query`, `/api/v1/query_range`),
//! the live metrics source built on it, and canary analysis from its data.
//!
//! Everything read from Prometheus (labels, error texts) is treated as
//! hostile and sanitised before it can reach the screen.

mod analysis;
mod answer;
mod client;
mod error;
mod result;
mod source;

pub use analysis::{
    analyze_versions, version_sample, version_sample_with_queries, PromVerdict, VersionQueries,
};
pub use answer::parse_response;
pub use client::PrometheusClient;
pub use error::PromError;
pub use result::{QueryResult, Sample, Series};
pub use source::{spawn_metrics_source, spawn_metrics_source_with_history, SOURCE_NAME};
