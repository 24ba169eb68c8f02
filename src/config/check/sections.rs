//! The rules for the service, traffic, rollout and the other sections.

use super::{http_url, Checker, S};
use crate::config::Config;
use crate::domain::rollout::PlanError;
use crate::domain::sanitize::strip_all;

impl Config {
    pub(super) fn check_service(&self, v: &mut Checker) {
        for (name, b) in &self.service.versions {
            v.printable(&[S::K("service"), S::K("versions"), S::K(name)], name);
            let at = [
                S::K("service"),
                S::K("versions"),
                S::K(name),
                S::K("error_rate"),
            ];
            v.fraction(&at, b.error_rate);
            if !(b.memory_growth_mib_per_min.is_finite() && b.memory_growth_mib_per_min >= 0.0) {
                let at = [
                    S::K("service"),
                    S::K("versions"),
                    S::K(name),
                    S::K("memory_growth_mib_per_min"),
                ];
                v.push(
                    &at,
                    format!("{} must be a number >= 0", b.memory_growth_mib_per_min),
                );
            }
        }
        if !self.service.ready_path.starts_with('/') {
            v.push(
                &[S::K("service"), S::K("ready_path")],
                "must start with `/`".into(),
            );
        }
        let rate = self.traffic.rate_per_sec;
        if !(0.0..=10_000.0).contains(&rate) {
            v.push(
                &[S::K("traffic"), S::K("rate_per_sec")],
                format!("{rate} is outside 0..=10000"),
            );
        }
        for (i, p) in self.traffic.paths.iter().enumerate() {
            if !p.starts_with('/') {
                v.push(
                    &[S::K("traffic"), S::K("paths"), S::I(i)],
                    "must start with `/`".into(),
                );
            }
        }
    }

    pub(super) fn check_rollout(&self, v: &mut Checker) {
        let plan = &self.rollout.steps;
        if let Err(e) = plan.validate() {
            let path: Vec<S> = match &e {
                PlanError::Empty => vec![S::K("rollout"), S::K("steps")],
                PlanError::WeightTooHigh { index, .. } | PlanError::NotIncreasing { index, .. } => {
                    vec![S::K("rollout"), S::K("steps"), S::I(*index), S::K("weight")]
                }
                PlanError::LastNotFull(_) => vec![
                    S::K("rollout"),
                    S::K("steps"),
                    S::I(plan.len().saturating_sub(1)),
                    S::K("weight"),
                ],
            };
            v.push(&path, e.to_string());
        }
        for (i, s) in plan.steps.iter().enumerate() {
            if s.pause_secs > 3600 {
                v.push(
                    &[S::K("rollout"), S::K("steps"), S::I(i), S::K("pause_secs")],
                    format!("{} is more than 3600", s.pause_secs),
                );
            }
        }
        let t = &self.rollout.analysis;
        let at = |leaf| [S::K("rollout"), S::K("analysis"), S::K(leaf)];
        v.fraction(&at("max_error_rate"), t.max_error_rate);
        v.fraction(&at("min_success_rate"), t.min_success_rate);
        v.fraction(&at("max_server_error_rate"), t.max_server_error_rate);
        v.positive(&at("max_cpu_pct"), t.max_cpu_pct);
        v.positive(&at("max_memory_pct"), t.max_memory_pct);
        if t.saturation_secs == 0 || t.saturation_secs > 86_400 {
            v.push(
                &at("saturation_secs"),
                format!("{} must be 1..=86400", t.saturation_secs),
            );
        }
        v.positive(&at("max_p95_ms"), t.max_p95_ms);
        v.positive(&at("max_p99_ms"), t.max_p99_ms);
        v.positive(&at("max_latency_ratio"), t.max_latency_ratio);
        if !(t.latency_slack_ms.is_finite() && t.latency_slack_ms >= 0.0) {
            v.push(
                &at("latency_slack_ms"),
                format!("{} must be a number >= 0", t.latency_slack_ms),
            );
        }
        if self.rollout.post_promotion_window_secs > 3600 {
            v.push(
                &[S::K("rollout"), S::K("post_promotion_window_secs")],
                format!(
                    "{} is more than an hour",
                    self.rollout.post_promotion_window_secs
                ),
            );
        }
        if self.rollout.max_extensions > 100 {
            v.push(
                &[S::K("rollout"), S::K("max_extensions")],
                format!("{} is more than 100", self.rollout.max_extensions),
            );
        }
        if self.rollout.analysis_source == crate::config::AnalysisSource::Prometheus
            && self.prometheus.url.trim().is_empty()
        {
            v.push(
                &[S::K("rollout"), S::K("analysis_source")],
                "`prometheus` needs `prometheus.url` to be set".to_string(),
            );
        }
    }

    pub(super) fn check_other(&self, v: &mut Checker) {
        v.fraction(
            &[S::K("chaos"), S::K("slo"), S::K("max_error_rate")],
            self.chaos.slo.max_error_rate,
        );
        v.positive(
            &[S::K("chaos"), S::K("slo"), S::K("max_p99_ms")],
            self.chaos.slo.max_p99_ms,
        );
        if let Some(s) = &self.chaos.slos {
            if self.chaos.slo != crate::domain::chaos::ChaosSlo::default() {
                v.push(
                    &[S::K("chaos"), S::K("slos")],
                    "give the SLOs once: `chaos.slos` (percent, seconds) or `chaos.slo` (a fraction), not both".to_string(),
                );
            }
            if let Some(p) = s.max_error_rate_percent {
                if !(p.is_finite() && (0.0..=100.0).contains(&p)) {
                    v.push(
                        &[S::K("chaos"), S::K("slos"), S::K("max_error_rate_percent")],
                        format!("{p} is outside 0..=100"),
                    );
                }
            }
            if let Some(ms) = s.max_p99_latency_ms {
                v.positive(
                    &[S::K("chaos"), S::K("slos"), S::K("max_p99_latency_ms")],
                    ms,
                );
            }
            if s.max_recovery_time_s
                .is_some_and(|secs| secs == 0 || secs > 3600)
            {
                v.push(
                    &[S::K("chaos"), S::K("slos"), S::K("max_recovery_time_s")],
                    "must be within 1..=3600 seconds".to_string(),
                );
            }
        }
        v.fraction(
            &[S::K("chaos"), S::K("defaults"), S::K("rate")],
            self.chaos.defaults.rate,
        );
        if self.chaos.defaults.duration_secs == 0 || self.chaos.defaults.duration_secs > 3600 {
            v.push(
                &[S::K("chaos"), S::K("defaults"), S::K("duration_secs")],
                format!("{} is outside 1..=3600", self.chaos.defaults.duration_secs),
            );
        }
        if let Some(d) = &self.chaos.default_duration {
            if let Err(e) = crate::domain::duration::parse_whole_secs(d) {
                v.push(&[S::K("chaos"), S::K("default_duration")], e);
            }
        }
        if self.chaos.baseline_secs == 0 || self.chaos.baseline_secs > 600 {
            v.push(
                &[S::K("chaos"), S::K("baseline_secs")],
                format!("{} is outside 1..=600", self.chaos.baseline_secs),
            );
        }
        if self.chaos.load_during_chaos > 1000 {
            v.push(
                &[S::K("chaos"), S::K("load_during_chaos")],
                format!(
                    "{} users is above the generator's 1000",
                    self.chaos.load_during_chaos
                ),
            );
        }
        let min_score = self.comparison.thresholds.min_resilience_score;
        if !(0.0..=100.0).contains(&min_score) {
            v.push(
                &[
                    S::K("comparison"),
                    S::K("thresholds"),
                    S::K("min_resilience_score"),
                ],
                format!("{min_score} is outside 0..=100"),
            );
        }
        let c = &self.comparison;
        v.fraction(
            &[S::K("comparison"), S::K("max_error_rate")],
            c.max_error_rate,
        );
        v.fraction(
            &[S::K("comparison"), S::K("min_throughput_ratio")],
            c.min_throughput_ratio,
        );
        for (leaf, x) in [
            ("max_p95_regression_pct", c.max_p95_regression_pct),
            ("max_p99_regression_pct", c.max_p99_regression_pct),
        ] {
            if !(x.is_finite() && x >= 0.0) {
                v.push(
                    &[S::K("comparison"), S::K(leaf)],
                    format!("{x} must be a number >= 0"),
                );
            }
        }
        v.positive(&[S::K("perf"), S::K("p95_ms")], self.perf.p95_ms);
        v.fraction(
            &[S::K("perf"), S::K("max_error_rate")],
            self.perf.max_error_rate,
        );
        let a = &self.agent;
        if !(0.0..=2.0).contains(&a.temperature) {
            v.push(
                &[S::K("agent"), S::K("temperature")],
                format!("{} is outside 0..=2", a.temperature),
            );
        }
        if let Err(why) = http_url(&a.endpoint) {
            v.push(
                &[S::K("agent"), S::K("endpoint")],
                format!("`{}` {why}", strip_all(&a.endpoint)),
            );
        }
        let con = &self.console;
        if !(1_000..=5_000_000).contains(&con.log_buffer_lines) {
            v.push(
                &[S::K("console"), S::K("log_buffer_lines")],
                format!("{} is outside 1000..=5000000", con.log_buffer_lines),
            );
        }
        if !(1..=120).contains(&con.max_fps) {
            v.push(
                &[S::K("console"), S::K("max_fps")],
                format!("{} is outside 1..=120", con.max_fps),
            );
        }
        if !(1..=con.max_fps.max(1)).contains(&con.idle_fps) {
            v.push(
                &[S::K("console"), S::K("idle_fps")],
                format!("{} is outside 1..=max_fps ({})", con.idle_fps, con.max_fps),
            );
        }
        if !(2..=100_000).contains(&con.metric_points) {
            v.push(
                &[S::K("console"), S::K("metric_points")],
                format!("{} is outside 2..=100000", con.metric_points),
            );
        }
        let prom = &self.prometheus;
        if !prom.url.is_empty() {
            if let Err(why) = http_url(&prom.url) {
                v.push(
                    &[S::K("prometheus"), S::K("url")],
                    format!("`{}` {why}", strip_all(&prom.url)),
                );
            }
        }
        for (leaf, x) in [
            ("timeout_ms", prom.timeout_ms),
            ("step_secs", prom.step_secs),
            ("window_secs", prom.window_secs),
        ] {
            if x == 0 {
                v.push(&[S::K("prometheus"), S::K(leaf)], "must be > 0".into());
            }
        }
        let loki = &self.loki;
        if !loki.url.is_empty() {
            if let Err(why) = http_url(&loki.url) {
                v.push(
                    &[S::K("loki"), S::K("url")],
                    format!("`{}` {why}", strip_all(&loki.url)),
                );
            }
        }
        for (leaf, x) in [
            ("timeout_ms", loki.timeout_ms),
            ("page_limit", loki.page_limit as u64),
        ] {
            if x == 0 {
                v.push(&[S::K("loki"), S::K(leaf)], "must be > 0".into());
            }
        }
        let l = &loki.labels;
        for (leaf, name) in [
            ("env", &l.env),
            ("version", &l.version),
            ("instance", &l.instance),
            ("level", &l.level),
        ] {
            let mut chars = name.chars();
            let ok = chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                v.push(
                    &[S::K("loki"), S::K("labels"), S::K(leaf)],
                    format!("`{}` is not a label name", strip_all(name)),
                );
            }
        }
        if self.project.trim().is_empty() {
            v.push(&[S::K("project")], "must not be empty".into());
        }
        v.printable(&[S::K("project")], &self.project);
        let d = &self.docker;
        for (leaf, value) in [
            ("compose_file", &d.compose_file),
            ("project_name", &d.project_name),
            ("app_service", &d.app_service),
        ] {
            v.printable(&[S::K("docker"), S::K(leaf)], value);
        }
        if self.theme.trim().is_empty() {
            v.push(&[S::K("theme")], "must not be empty".into());
        }
    }
}
