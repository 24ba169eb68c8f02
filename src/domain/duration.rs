//! Human durations as users type them: `90s`, `5m`, `1h`, `2d`, `500ms`,
//! `1.5s`, or bare seconds; and the short forms they are shown in.

use std::time::Duration;

use crate::domain::sanitize::sanitize_str;

/// The longest duration any flag or config key takes (but a TTL).
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// The longest TTL of an ephemeral environment: 30 days.
pub const MAX_TTL: Duration = Duration::from_secs(30 * DAY);
/// The shortest TTL: one minute.
pub const MIN_TTL: Duration = Duration::from_secs(60);

const DAY: u64 = 86_400;

/// `10s`, `500ms`, `2m`, `1.5s`, or bare seconds, up to [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    parse_within(s, MAX_DURATION)
}

/// Like [`parse_duration`] up to `max`; `d` (days) is a unit too.
pub fn parse_within(s: &str, max: Duration) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{}` is not a duration like 10s or 500ms", sanitize_str(s)))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        "d" => v * DAY as f64,
        _ => {
            return Err(format!(
                "unknown unit in `{}` (ms, s, m, h, d)",
                sanitize_str(s)
            ))
        }
    };
    if !(secs.is_finite() && secs >= 0.0) || secs > max.as_secs_f64() {
        return Err(format!(
            "`{}` is outside 0..={}",
            sanitize_str(s),
            max_text(max)
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The bound of a range as an error shows it: `3600s`, or `30d`.
fn max_text(max: Duration) -> String {
    if max <= MAX_DURATION {
        format!("{}s", max.as_secs())
    } else {
        exact_text(max.as_secs())
    }
}

/// An ephemeral environment's time to live: whole seconds from one minute
/// to 30 days (`4h`, `90m`, `2d`).
pub fn parse_ttl(s: &str) -> Result<Duration, String> {
    let d = parse_within(s, MAX_TTL)?;
    if d.subsec_nanos() != 0 || d < MIN_TTL {
        return Err(format!(
            "`{}` is not a TTL: whole seconds from 1m to 30d (like 4h, 90m, 2d)",
            sanitize_str(s)
        ));
    }
    Ok(d)
}

/// Seconds in the largest unit that holds them exactly (`4h`, `90m`,
/// `2d`, `45s`): a form [`parse_within`] reads back.
pub fn exact_text(secs: u64) -> String {
    match secs {
        0 => "0s".into(),
        s if s % DAY == 0 => format!("{}d", s / DAY),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// An age, to the minute past the first hour: `42s`, `12m`, `5h02m`,
/// `3d04h`.
pub fn age_text(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < DAY => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{:02}h", s / DAY, (s % DAY) / 3600),
    }
}

/// A whole number of seconds, 1..=3600 (chaos durations).
pub fn parse_whole_secs(s: &str) -> Result<u64, String> {
    let d = parse_duration(s)?;
    if d.subsec_nanos() != 0 || d.is_zero() {
        return Err(format!(
            "`{}` must be whole seconds, at least 1s (like 90s, 5m, 1h)",
            sanitize_str(s)
        ));
    }
    Ok(d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_in_every_unit() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("2h").unwrap_err().contains("outside"));
        assert!(parse_duration("5 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("1d")
            .unwrap_err()
            .contains("outside 0..=3600s"));
    }

    #[test]
    fn ttls_take_days_and_are_whole_seconds_from_a_minute_to_30_days() {
        assert_eq!(parse_ttl("4h"), Ok(Duration::from_secs(4 * 3600)));
        assert_eq!(parse_ttl("2d"), Ok(Duration::from_secs(2 * 86_400)));
        assert_eq!(parse_ttl("90m"), Ok(Duration::from_secs(5400)));
        assert!(parse_ttl("30s").is_err());
        assert!(parse_ttl("90.5s").is_err());
        assert_eq!(parse_ttl("1.5m"), Ok(Duration::from_secs(90)));
        assert!(parse_ttl("31d").unwrap_err().contains("30d"));
        assert!(parse_ttl("4 weeks").is_err());
    }

    #[test]
    fn exact_text_reads_back_and_ages_are_short() {
        for secs in [45, 60, 5400, 4 * 3600, 86_400, 36 * 3600, 3 * 86_400] {
            let text = exact_text(secs);
            assert_eq!(
                parse_within(&text, MAX_TTL),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
        assert_eq!(exact_text(5400), "90m");
        assert_eq!(exact_text(36 * 3600), "36h");
        assert_eq!(age_text(42), "42s");
        assert_eq!(age_text(12 * 60 + 5), "12m");
        assert_eq!(age_text(5 * 3600 + 2 * 60), "5h02m");
        assert_eq!(age_text(3 * 86_400 + 4 * 3600), "3d04h");
    }

    #[test]
    fn chaos_durations_are_whole_seconds() {
        assert_eq!(parse_whole_secs("5m"), Ok(300));
        assert_eq!(parse_whole_secs("600"), Ok(600));
        assert!(parse_whole_secs("1.5s").is_err());
        assert!(parse_whole_secs("0s").is_err());
    }
}
