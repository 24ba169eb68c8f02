//! `comparison:`: the flags' defaults, the absolute limits, the critical
//! metrics and `include_chaos` (the relative thresholds are checked with the
//! other sections).

use super::{Checker, S};
use crate::config::Config;
use crate::domain::comparison::Metric;
use crate::domain::duration::parse_duration;

/// The load generator's connection limit (`perf::MAX_CONCURRENCY`).
const MAX_USERS: usize = 1000;

impl Config {
    pub(super) fn check_comparison(&self, v: &mut Checker) {
        let c = &self.comparison;
        let key = |leaf| [S::K("comparison"), S::K(leaf)];
        if let Some(d) = &c.warmup_duration {
            if let Err(e) = parse_duration(d) {
                v.push(&key("warmup_duration"), e);
            }
        }
        if let Some(d) = &c.test_duration {
            match parse_duration(d) {
                Err(e) => v.push(&key("test_duration"), e),
                Ok(t) if t.is_zero() => v.push(&key("test_duration"), "must be above 0".into()),
                Ok(_) => {}
            }
        }
        if let Some(u) = c.concurrent_users {
            if !(1..=MAX_USERS).contains(&u) {
                v.push(
                    &key("concurrent_users"),
                    format!("{u} is outside 1..={MAX_USERS}"),
                );
            }
        }
        let t = &c.thresholds;
        for (leaf, x) in [
            ("p95_latency_ms", t.p95_latency_ms),
            ("p99_latency_ms", t.p99_latency_ms),
            ("min_throughput_rps", t.min_throughput_rps),
            ("max_cpu_percent", t.max_cpu_percent),
            ("max_memory_mb", t.max_memory_mb),
        ] {
            if let Some(x) = x {
                v.positive(&[S::K("comparison"), S::K("thresholds"), S::K(leaf)], x);
            }
        }
        if let Some(p) = t.max_error_rate_percent {
            if !(p.is_finite() && (0.0..=100.0).contains(&p)) {
                v.push(
                    &[
                        S::K("comparison"),
                        S::K("thresholds"),
                        S::K("max_error_rate_percent"),
                    ],
                    format!("{p} is outside 0..=100"),
                );
            }
        }
        if c.include_chaos {
            // `compare` always runs its versions on a sandbox of its own.
            if let Some(why) = self.chaos.refusal("sandbox") {
                v.push(
                    &key("include_chaos"),
                    format!("the FMEA suite cannot run on compare's sandbox: {why}"),
                );
            }
        }
        let Some(list) = &c.critical_metrics else {
            return;
        };
        if list.is_empty() {
            v.push(
                &key("critical_metrics"),
                "an empty list would make every failure a warning; leave the key out to make every metric critical".into(),
            );
        }
        for (i, m) in list.iter().enumerate() {
            let missing = match m {
                Metric::Cpu if t.max_cpu_percent.is_none() => {
                    Some("comparison.thresholds.max_cpu_percent")
                }
                Metric::Memory if t.max_memory_mb.is_none() => {
                    Some("comparison.thresholds.max_memory_mb")
                }
                Metric::ResilienceScore if !c.include_chaos => {
                    Some("comparison.include_chaos: true")
                }
                _ => None,
            };
            if let Some(needs) = missing {
                v.push(
                    &[S::K("comparison"), S::K("critical_metrics"), S::I(i)],
                    format!("{m} has no rule to fail: it needs {needs}"),
                );
            }
        }
    }
}
