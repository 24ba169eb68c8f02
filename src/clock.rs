//! The clocks. Timestamps that are shown or stored are epoch milliseconds
//! from [`now_ms`] (the wall clock). Durations, timeouts and deadlines use
//! `std::time::Instant` (monotonic), never differences of wall-clock stamps:
//! the wall clock can be stepped (NTP, a person, a VM resumed) by an hour
//! either way. Where a stamp must be a number that others subtract (a fault's
//! deadline, an experiment's detection and recovery times, how long a
//! message stays), it comes from [`steady_ms`].

use std::sync::OnceLock;
use std::time::Instant;

use crate::domain::EpochMillis;

/// Milliseconds since the Unix epoch, now (the wall clock).
pub fn now_ms() -> EpochMillis {
    chrono::Utc::now().timestamp_millis()
}

/// Epoch milliseconds that advance with the monotonic clock: the wall clock
/// when this process first asked, plus the monotonic time since. Differences
/// of these are true durations whatever the wall clock does; shown as a time
/// of day, one is off by any step of the wall clock since the process began.
pub fn steady_ms() -> EpochMillis {
    static ANCHOR: OnceLock<(EpochMillis, Instant)> = OnceLock::new();
    let (wall, at) = ANCHOR.get_or_init(|| (now_ms(), Instant::now()));
    wall + i64::try_from(at.elapsed().as_millis()).unwrap_or(i64::MAX / 2)
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_after_this_code_was_written() {
        // 2026-01-01T00:00:00Z
        assert!(super::now_ms() > 1_767_225_600_000);
    }

    #[test]
    fn steady_time_starts_at_the_wall_clock_and_never_goes_back() {
        let a = super::steady_ms();
        assert!((a - super::now_ms()).abs() < 60_000);
        std::thread::sleep(std::time::Duration::from_millis(5));
        let b = super::steady_ms();
        assert!(b >= a + 5, "{a} then {b}");
    }
}
