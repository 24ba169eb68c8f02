//! Latency accumulators and Prometheus text-exposition helpers shared by the
//! edge router and the sample service.

use hdrhistogram::Histogram;
use std::fmt::Write as _;

use crate::domain::analysis::VersionSample;

/// Upper bounds (seconds) of the latency buckets; `+Inf` is implicit. The
/// standard Prometheus set plus sub-millisecond ones: a local service
/// answers in well under 5 ms, and without them Prometheus reads ~2.5 ms.
pub const DEFAULT_BUCKETS: [f64; 15] = [
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Smallest and largest latency an accumulator can hold, in microseconds.
const HDR_MIN_US: u64 = 1;
const HDR_MAX_US: u64 = 60_000_000;
const HDR_SIGFIGS: u8 = 3;

/// A cumulative Prometheus histogram with the standard buckets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BucketHistogram {
    /// Per-bucket (non-cumulative) counts; index `DEFAULT_BUCKETS.len()` is `+Inf`.
    counts: [u64; DEFAULT_BUCKETS.len() + 1],
    sum_secs: f64,
    count: u64,
}

impl BucketHistogram {
    pub fn observe(&mut self, secs: f64) {
        let secs = if secs.is_finite() && secs > 0.0 {
            secs
        } else {
            0.0
        };
        let idx = DEFAULT_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(DEFAULT_BUCKETS.len());
        self.counts[idx] += 1;
        self.sum_secs += secs;
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn sum_secs(&self) -> f64 {
        self.sum_secs
    }

    /// Write `_bucket`, `_sum` and `_count` sample lines (no HELP/TYPE).
    pub fn write(&self, out: &mut String, name: &str, labels: &[(&str, &str)]) {
        let mut cumulative = 0;
        for (i, upper) in DEFAULT_BUCKETS.iter().enumerate() {
            cumulative += self.counts[i];
            let le = format_float(*upper);
            write_sample(
                out,
                &format!("{name}_bucket"),
                &with_le(labels, &le),
                cumulative as f64,
            );
        }
        cumulative += self.counts[DEFAULT_BUCKETS.len()];
        write_sample(
            out,
            &format!("{name}_bucket"),
            &with_le(labels, "+Inf"),
            cumulative as f64,
        );
        write_sample(out, &format!("{name}_sum"), labels, self.sum_secs);
        write_sample(out, &format!("{name}_count"), labels, self.count as f64);
    }
}

fn with_le<'a>(labels: &[(&'a str, &'a str)], le: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut v = labels.to_vec();
    v.push(("le", le));
    v
}

/// Requests, errors and an HDR latency histogram (1 µs .. 60 s, 3 significant
/// figures) for one version over a window.
#[derive(Clone, Debug)]
pub struct LatencyAcc {
    pub requests: u64,
    pub errors: u64,
    /// Allocated on first use: an HDR histogram of this range is ~200 KiB.
    hist: Option<Histogram<u64>>,
    /// Samples the histogram refused (never expected; counted rather than lost).
    pub unrecorded: u64,
}

impl Default for LatencyAcc {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyAcc {
    pub fn new() -> Self {
        LatencyAcc {
            requests: 0,
            errors: 0,
            hist: None,
            unrecorded: 0,
        }
    }

    /// Record one request that took `ms` milliseconds.
    pub fn record(&mut self, ms: f64, error: bool) {
        self.requests += 1;
        if error {
            self.errors += 1;
        }
        let us = if ms.is_finite() && ms > 0.0 {
            (ms * 1000.0).round() as u64
        } else {
            0
        };
        let us = us.clamp(HDR_MIN_US, HDR_MAX_US);
        if self.hist.is_none() {
            self.hist = Histogram::new_with_bounds(HDR_MIN_US, HDR_MAX_US, HDR_SIGFIGS).ok();
        }
        match self.hist.as_mut().map(|h| h.record(us)) {
            Some(Ok(())) => {}
            _ => self.unrecorded += 1,
        }
    }

    /// Latency at quantile `q` (0..=1) in milliseconds; 0 when empty.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        match &self.hist {
            Some(h) if !h.is_empty() => h.value_at_quantile(q) as f64 / 1000.0,
            _ => 0.0,
        }
    }

    pub fn sample(&self) -> VersionSample {
        VersionSample {
            requests: self.requests,
            errors: self.errors,
            p50_ms: self.quantile_ms(0.50),
            p95_ms: self.quantile_ms(0.95),
            p99_ms: self.quantile_ms(0.99),
            ..Default::default()
        }
    }

    /// Clear counts, keeping the histogram's allocation for reuse.
    pub fn reset(&mut self) {
        self.requests = 0;
        self.errors = 0;
        self.unrecorded = 0;
        if let Some(h) = self.hist.as_mut() {
            h.reset();
        }
    }

    /// Clear counts and give the histogram's memory back.
    pub fn release(&mut self) {
        *self = LatencyAcc::new();
    }
}

/// Escape a label value per the text exposition format: `\`, `"` and newline.
pub fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Render a float the way Prometheus expects (`+Inf`, `-Inf`, `NaN`, shortest decimal).
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{v}")
    }
}

/// `# HELP` and `# TYPE` lines for a metric family.
pub fn write_header(out: &mut String, name: &str, kind: &str, help: &str) {
    // HELP text escapes backslash and newline only.
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// One sample line: `name{k="v",...} value`.
pub fn write_sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape_label_value(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", format_float(value));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape_label_value(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label_value("x\ny"), "x\\ny");
        assert_eq!(escape_label_value("plain"), "plain");
    }

    #[test]
    fn bucket_histogram_is_cumulative() {
        let mut h = BucketHistogram::default();
        h.observe(0.001);
        h.observe(0.2);
        h.observe(100.0);
        let mut out = String::new();
        h.write(&mut out, "x", &[("v", "a")]);
        assert!(
            out.contains("x_bucket{v=\"a\",le=\"0.00025\"} 0\n"),
            "{out}"
        );
        assert!(out.contains("x_bucket{v=\"a\",le=\"0.0005\"} 0\n"), "{out}");
        assert!(out.contains("x_bucket{v=\"a\",le=\"0.001\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{v=\"a\",le=\"0.0025\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{v=\"a\",le=\"0.005\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{v=\"a\",le=\"0.1\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{v=\"a\",le=\"0.25\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{v=\"a\",le=\"10\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{v=\"a\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count{v=\"a\"} 3\n"), "{out}");
        assert!((h.sum_secs() - 100.201).abs() < 1e-9);
        assert_eq!(h.count(), 3);
    }

    #[test]
    fn latency_acc_quantiles_and_reset() {
        let mut a = LatencyAcc::new();
        assert_eq!(a.sample(), VersionSample::default());
        for i in 1..=100 {
            a.record(i as f64, i % 10 == 0);
        }
        let s = a.sample();
        assert_eq!(s.requests, 100);
        assert_eq!(s.errors, 10);
        assert!((s.p50_ms - 50.0).abs() < 0.5, "{s:?}");
        assert!((s.p95_ms - 95.0).abs() < 0.5, "{s:?}");
        assert!((s.p99_ms - 99.0).abs() < 0.5, "{s:?}");
        // Sub-millisecond precision survives.
        let mut b = LatencyAcc::new();
        b.record(0.25, false);
        assert!((b.quantile_ms(0.5) - 0.25).abs() < 0.001);
        // Out-of-range values are clamped, not lost.
        b.record(1e9, false);
        b.record(-1.0, false);
        assert_eq!(b.unrecorded, 0);
        assert_eq!(b.requests, 3);
        a.reset();
        assert_eq!(a.sample(), VersionSample::default());
        a.record(5.0, false);
        a.release();
        assert_eq!(a.requests, 0);
    }

    #[test]
    fn sample_lines() {
        let mut out = String::new();
        write_header(&mut out, "m", "counter", "help\nme");
        write_sample(&mut out, "m", &[], 2.0);
        write_sample(&mut out, "m", &[("a", "q\"")], 0.5);
        assert_eq!(
            out,
            "# HELP m help\\nme\n# TYPE m counter\nm 2\nm{a=\"q\\\"\"} 0.5\n"
        );
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NAN), "NaN");
    }
}
