//! What can go wrong querying Prometheus.

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PromError {
    #[error("prometheus url `{url}` is invalid: {reason}")]
    Config { url: String, reason: String },
    #[error("query `{query}`: cannot reach Prometheus at {url}: {reason}")]
    Unreachable {
        query: String,
        url: String,
        reason: String,
    },
    #[error("query `{query}`: no answer from Prometheus at {url} within {timeout_ms} ms")]
    Timeout {
        query: String,
        url: String,
        timeout_ms: u64,
    },
    #[error("query `{query}`: Prometheus answered HTTP {status}: {body}")]
    Http {
        query: String,
        status: u16,
        body: String,
    },
    /// The API's own error (`{"status":"error","errorType":…,"error":…}`).
    #[error("query `{query}`: {error_type}: {message}")]
    Api {
        query: String,
        error_type: String,
        message: String,
    },
    #[error("query `{query}`: unreadable answer: {reason}")]
    Decode { query: String, reason: String },
    #[error("query `{query}`: expected a {expected} result, got a {got}")]
    UnexpectedResult {
        query: String,
        expected: &'static str,
        got: &'static str,
    },
}
