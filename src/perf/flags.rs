//! Limits and parsers for the flags of `perf` (shared with `compare`).

use super::generator::{Endpoint, Pacing};
use crate::domain::sanitize::sanitize_str;

/// Upper bounds that keep a run finite and its memory small.
pub const MAX_CONCURRENCY: usize = 1000;
pub const MAX_RATE: f64 = 1_000_000.0;

/// Check `--concurrency` and `--rate` (shared by `perf` and `compare`):
/// closed loop without a rate, open loop with one.
pub fn pacing_from_flags(concurrency: usize, rate: Option<f64>) -> Result<Pacing, String> {
    if concurrency == 0 || concurrency > MAX_CONCURRENCY {
        return Err(format!(
            "--concurrency must be in 1..={MAX_CONCURRENCY}, got {concurrency}"
        ));
    }
    match rate {
        None => Ok(Pacing::Closed),
        Some(r) if r.is_finite() && r > 0.0 && r <= MAX_RATE => Ok(Pacing::Open { rate: r }),
        Some(r) => Err(format!("--rate must be in (0, {MAX_RATE}], got {r}")),
    }
}
pub use crate::domain::duration::{parse_duration, MAX_DURATION};

/// `PATH=WEIGHT` or `PATH` (weight 1). A trailing `=N` is a weight only when
/// N is a number, so query strings keep their `=`.
pub fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    let (path, weight) = match s.rsplit_once('=') {
        Some((p, w)) if !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) => {
            let w: u32 = w
                .parse()
                .map_err(|_| format!("weight `{w}` is too large"))?;
            (p, w)
        }
        _ => (s, 1),
    };
    if !path.starts_with('/') {
        return Err(format!(
            "endpoint `{}` must start with `/`",
            sanitize_str(path)
        ));
    }
    if path.parse::<hyper::Uri>().is_err() || path.chars().any(char::is_whitespace) {
        return Err(format!(
            "endpoint `{}` is not a valid request path",
            sanitize_str(path)
        ));
    }
    if weight == 0 || weight > 1_000_000 {
        return Err(format!("weight {weight} is outside 1..=1000000"));
    }
    Ok(Endpoint {
        path: path.to_string(),
        weight,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoint("/hello=3").unwrap(),
            Endpoint {
                path: "/hello".into(),
                weight: 3
            }
        );
        assert_eq!(parse_endpoint("/health").unwrap().weight, 1);
        let q = parse_endpoint("/search?q=x").unwrap();
        assert_eq!((q.path.as_str(), q.weight), ("/search?q=x", 1));
        assert!(parse_endpoint("hello=1").is_err());
        assert!(parse_endpoint("/a=0").is_err());
        assert!(parse_endpoint("/a b").is_err());
        assert!(parse_endpoint("/a=99999999999").is_err());
    }
}
