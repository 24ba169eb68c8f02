//! What can go wrong talking to Loki, and how its error answers are read.

use super::answer::Envelope;
use super::logql::LogQlError;
use crate::domain::sanitize::strip_all;

/// How much of an error body is quoted in an error.
const MAX_QUOTED_BODY: usize = 500;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LokiError {
    #[error("loki: {reason} (url `{url}`)")]
    Config { url: String, reason: String },
    #[error("loki: {0}")]
    Query(#[from] LogQlError),
    #[error("cannot reach Loki at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("no answer from Loki at {url} within {timeout_ms} ms")]
    Timeout { url: String, timeout_ms: u64 },
    /// HTTP 400: Loki's own message, e.g. a LogQL parse error.
    #[error("Loki rejected `{query}`: {message}")]
    Rejected { query: String, message: String },
    /// HTTP 429: too many outstanding requests, or a tenant's rate limit.
    #[error("Loki is overloaded (HTTP 429) for `{query}`: {message}")]
    RateLimited { query: String, message: String },
    #[error("Loki answered HTTP {status} for `{query}`: {body}")]
    Http {
        query: String,
        status: u16,
        body: String,
    },
    #[error("unreadable answer from Loki for `{query}`: {reason}")]
    Decode { query: String, reason: String },
    #[error("`{query}` is a metric query ({got} result); a log query returns streams")]
    NotLogs { query: String, got: String },
    /// The tail's WebSocket failed or Loki closed it.
    #[error("Loki tail: {reason}")]
    Tail { reason: String },
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// An answer that is not a success: Loki writes plain-text bodies; a proxy
/// in front may write JSON in Prometheus' error format.
pub(crate) fn status_error(query: &str, status: u16, body: &[u8]) -> LokiError {
    let text = String::from_utf8_lossy(body);
    let message = match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope {
            error: Some(e),
            status: s,
            ..
        }) if s == "error" => e,
        _ => text.into_owned(),
    };
    let message = truncate(strip_all(&message).trim(), MAX_QUOTED_BODY);
    let query = strip_all(query);
    match status {
        400 => LokiError::Rejected { query, message },
        429 => LokiError::RateLimited { query, message },
        status => LokiError::Http {
            query,
            status,
            body: message,
        },
    }
}

pub(super) fn with_query(e: LokiError, query: &str) -> LokiError {
    match e {
        LokiError::Decode { reason, .. } => LokiError::Decode {
            query: strip_all(query),
            reason,
        },
        other => other,
    }
}
