//! Observability sources outside the runtime: tasks that read an external
//! system (Prometheus, Loki, Jenkins) and feed the console through events,
//! reporting their own `SourceState` so panes can say when they are degraded.

pub mod builds;
pub mod jenkins;
pub mod loki;
pub mod prometheus;
pub mod queries;

/// An error and its causes on one line, cleaned for the terminal (an HTTP
/// client's top-level message alone rarely says what went wrong).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = s.source();
    }
    crate::domain::sanitize::strip_all(&out)
}
