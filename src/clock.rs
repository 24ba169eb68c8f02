//! The one wall clock. Timestamps that are shown or stored are epoch
//! milliseconds from here; durations and timeouts use `std::time::Instant`
//! (monotonic), never differences of these.

use crate::domain::EpochMillis;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> EpochMillis {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_after_this_code_was_written() {
        // 2026-01-01T00:00:00Z
        assert!(super::now_ms() > 1_767_225_600_000);
    }
}
