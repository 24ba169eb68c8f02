//! Human durations as users type them: `90s`, `5m`, `1h`, `500ms`, `1.5s`,
//! or bare seconds.

use std::time::Duration;

use crate::domain::sanitize::sanitize_str;

/// The longest duration any flag or config key takes.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);

/// `10s`, `500ms`, `2m`, `1.5s`, or bare seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
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
        _ => {
            return Err(format!(
                "unknown unit in `{}` (ms, s, m, h)",
                sanitize_str(s)
            ))
        }
    };
    if !(secs.is_finite() && secs >= 0.0) || secs > MAX_DURATION.as_secs_f64() {
        return Err(format!(
            "`{}` is outside 0..={}s",
            sanitize_str(s),
            MAX_DURATION.as_secs()
        ));
    }
    Ok(Duration::from_secs_f64(secs))
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
    }

    #[test]
    fn chaos_durations_are_whole_seconds() {
        assert_eq!(parse_whole_secs("5m"), Ok(300));
        assert_eq!(parse_whole_secs("600"), Ok(600));
        assert!(parse_whole_secs("1.5s").is_err());
        assert!(parse_whole_secs("0s").is_err());
    }
}
