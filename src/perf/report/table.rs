//! The summary as a two-column table for the terminal.

use super::Summary;

impl Summary {
    /// A two-column table, one fact per row.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String)> = Vec::new();
        let load = match self.rate {
            Some(r) => format!(
                "open loop, {} req/s target, {} connections",
                num(r),
                self.concurrency
            ),
            None => format!("closed loop, {} connections", self.concurrency),
        };
        rows.push(("target".into(), format!("{} ({load})", self.target)));
        let eps: Vec<String> = self
            .endpoints
            .iter()
            .map(|e| format!("{}={}", e.path, e.weight))
            .collect();
        rows.push(("endpoints".into(), eps.join(" ")));
        rows.push(("requests".into(), self.requests.to_string()));
        rows.push(("duration".into(), format!("{:.3}s", self.duration_secs)));
        rows.push(("rps".into(), num(self.rps)));
        let l = &self.latency_ms;
        for (name, v) in [
            ("p50", l.p50),
            ("p90", l.p90),
            ("p95", l.p95),
            ("p99", l.p99),
            ("max", l.max),
        ] {
            rows.push((format!("latency {name}"), ms(v)));
        }
        if self.rate.is_some() {
            rows.push((
                "uncorrected p99".into(),
                ms(self.uncorrected_latency_ms.p99),
            ));
        }
        rows.push((
            "error rate".into(),
            format!(
                "{:.2}% ({} of {})",
                self.error_rate * 100.0,
                self.errors,
                self.requests
            ),
        ));
        let statuses: Vec<String> = self
            .status_counts
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        rows.push((
            "status codes".into(),
            if statuses.is_empty() {
                "-".into()
            } else {
                statuses.join(", ")
            },
        ));
        if !self.error_kinds.is_empty() {
            let kinds: Vec<String> = self
                .error_kinds
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            rows.push(("errors by kind".into(), kinds.join(", ")));
        }
        let t = &self.thresholds;
        rows.push((
            "thresholds".into(),
            format!(
                "p95 <= {}, error rate <= {:.2}%: {}",
                ms(t.p95_ms),
                t.max_error_rate * 100.0,
                if t.passed { "passed" } else { "FAILED" }
            ),
        ));
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (k, v) in rows {
            out.push_str(&format!("{k:<width$}  {v}\n"));
        }
        out
    }
}

/// Milliseconds with a precision that suits the size.
pub fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2}s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.1}ms")
    } else {
        format!("{v:.2}ms")
    }
}

fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ms_formatting() {
        assert_eq!(ms(0.42), "0.42ms");
        assert_eq!(ms(12.34), "12.3ms");
        assert_eq!(ms(1500.0), "1.50s");
    }
}
