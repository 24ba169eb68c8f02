//! Observability sources outside the runtime: tasks that read an external
//! system (Prometheus, Loki) and feed the console through `RuntimeEvent`s,
//! reporting their own `SourceState` so panes can say when they are degraded.

pub mod jenkins;
pub mod loki;
pub mod prometheus;
pub mod queries;
