//! Chaos experiments: the result table and progress lines.

use crate::domain::chaos::{Experiment, ExperimentState};
use crate::domain::sanitize::strip_all;
use crate::report::Table;

use super::status::or_dash;

fn state_label(s: &ExperimentState) -> &'static str {
    match s {
        ExperimentState::Running => "running",
        ExperimentState::Recovering => "recovering",
        ExperimentState::Completed => "completed",
        ExperimentState::Aborted => "aborted",
    }
}

fn fmt_ms(ms: Option<i64>) -> String {
    match ms {
        None => "-".to_string(),
        Some(ms) if ms.abs() < 10_000 => format!("{ms}ms"),
        Some(ms) => format!("{:.1}s", ms as f64 / 1000.0),
    }
}

/// One row per experiment: what ran, and how the environment coped.
pub fn experiment_table(exps: &[Experiment]) -> String {
    let mut t = Table::new(&[
        "ID",
        "ENV",
        "SCENARIO",
        "STATE",
        "RESULT",
        "DETECTION",
        "RECOVERY",
        "PEAK ERR",
        "PEAK P99",
        "FAILED",
    ]);
    for x in exps {
        t.row([
            x.id.clone(),
            x.env.clone(),
            x.scenario.name().to_string(),
            state_label(&x.state).to_string(),
            or_dash(x.result.map(|r| r.label())),
            fmt_ms(x.detection_ms),
            fmt_ms(x.recovery_ms),
            format!("{:.1}%", x.peak_error_rate * 100.0),
            format!("{:.0}ms", x.peak_p99_ms),
            x.failed_requests.to_string(),
        ]);
    }
    t.render()
}

/// An experiment's state change, for progress output.
pub fn experiment_progress_line(x: &Experiment) -> String {
    let mut line = format!(
        "  {} {}: {}",
        strip_all(&x.id),
        x.scenario.name(),
        state_label(&x.state)
    );
    if x.detection_ms.is_some() || x.failed_requests > 0 {
        line.push_str(&format!(
            " (impact detected after {}; {})",
            fmt_ms(x.detection_ms),
            x.impact_summary()
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::chaos::{ExperimentResult, FaultParams, ScenarioKind};

    #[test]
    fn experiment_row() {
        let mut x = Experiment::new(
            "exp-3".into(),
            "staging",
            ScenarioKind::ErrorInjection,
            FaultParams::default(),
            0,
        );
        x.state = ExperimentState::Completed;
        x.result = Some(ExperimentResult::Resilient);
        x.detection_ms = Some(1200);
        x.recovery_ms = Some(15_500);
        x.peak_error_rate = 0.304;
        x.peak_p99_ms = 41.0;
        x.failed_requests = 88;
        assert_eq!(
            experiment_table(&[x.clone()]),
            "\
ID     ENV      SCENARIO         STATE      RESULT     DETECTION  RECOVERY  PEAK ERR  PEAK P99  FAILED
exp-3  staging  error-injection  completed  resilient  1200ms     15.5s     30.4%     41ms      88
"
        );
        assert_eq!(
            experiment_progress_line(&x),
            "  exp-3 error-injection: completed (impact detected after 1200ms; peak err 30.4%, peak p99 41ms, 88 failed)"
        );
    }
}
