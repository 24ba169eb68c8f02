//! The FMEA suite in the Chaos pane: its progress through the eight steps,
//! each scenario's verdict, and the score when it is done.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::app::suite::SuiteView;
use crate::domain::chaos::{CheckOutcome, ScenarioResult, ScenarioVerdict, Severity};
use crate::ui::text::{clean, fit};
use crate::ui::theme::Theme;

fn secs(ms: Option<i64>) -> String {
    ms.map_or_else(
        || "never".to_string(),
        |ms| format!("{:.1}s", ms as f64 / 1000.0),
    )
}

fn verdict_line(v: &ScenarioVerdict, theme: &Theme, width: usize) -> Line<'static> {
    let (icon, style) = match v.result {
        ScenarioResult::Pass => ("✓", theme.ok()),
        ScenarioResult::Fail => ("✗", theme.error()),
        ScenarioResult::Inconclusive => ("?", theme.warn()),
    };
    let severity: Style = match v.severity {
        Severity::Critical | Severity::High => theme.error(),
        Severity::Medium => theme.warn(),
        Severity::Low => theme.muted(),
    };
    let expected = match &v.expected.outcome {
        CheckOutcome::Passed(d) | CheckOutcome::Failed(d) | CheckOutcome::NotMeasured(d) => {
            format!("{}: {}", v.expected.behaviour, clean(d))
        }
    };
    let head = format!("{icon} {} {} ", v.scenario, v.result.label());
    let sev = format!("{} ", v.severity.label());
    let mitigation = if v.mitigations.is_empty() {
        String::new()
    } else {
        format!(" · mitigation: {}", clean(&v.mitigation_marks()))
    };
    let rest = format!(
        "· detect {} · recover {} · {expected}{mitigation}",
        secs(v.detection_ms),
        secs(v.recovery_ms)
    );
    let room = width.saturating_sub(head.chars().count() + sev.chars().count());
    Line::from(vec![
        Span::styled(head, style.add_modifier(Modifier::BOLD)),
        Span::styled(sev, severity),
        Span::styled(fit(&rest, room), theme.muted()),
    ])
}

/// At most `max` lines: a title, the newest steps, then the verdicts.
pub fn fmea_lines(view: &SuiteView, theme: &Theme, width: usize, max: usize) -> Vec<Line<'static>> {
    if max == 0 {
        return Vec::new();
    }
    let names: Vec<&str> = view.scenarios.iter().map(|k| k.name()).collect();
    let state = match &view.outcome {
        None => "running".to_string(),
        Some(Ok(r)) => match r.score {
            Some(s) => format!("score {s:.0}/100 · {}", r.scorecard.tally()),
            None => format!(
                "no score: nothing was decided by a measurement · {}",
                r.scorecard.tally()
            ),
        },
        Some(Err(e)) => format!("failed: {}", clean(e)),
    };
    let title = format!(
        "FMEA · {} on {} · {state}",
        names.join(", "),
        clean(&view.env)
    );
    let mut lines = vec![Line::from(Span::styled(
        fit(&title, width),
        theme.muted().add_modifier(Modifier::BOLD),
    ))];
    // The finished report's verdicts carry their mitigations.
    let judged = match &view.outcome {
        Some(Ok(r)) => &r.verdicts,
        _ => &view.verdicts,
    };
    let mut verdicts: Vec<Line<'static>> = judged
        .iter()
        .map(|v| verdict_line(v, theme, width))
        .collect();
    if let Some(Ok(r)) = &view.outcome {
        if !r.scorecard.checklist.is_empty() {
            let marks: Vec<String> = r
                .scorecard
                .checklist
                .iter()
                .map(|c| format!("{} {}", c.practice.label(), c.mark()))
                .collect();
            verdicts.push(Line::from(Span::styled(
                fit(&format!("checklist: {}", marks.join(" · ")), width),
                theme.muted(),
            )));
        }
    }
    let step_room = max.saturating_sub(1 + verdicts.len());
    let skip = view.steps.len().saturating_sub(step_room);
    let newest = view.steps.len().saturating_sub(1);
    for (i, s) in view.steps.iter().enumerate().skip(skip) {
        let style = if i == newest && view.running() {
            theme.info()
        } else {
            theme.muted()
        };
        lines.push(Line::from(Span::styled(
            fit(&clean(&s.line()), width),
            style,
        )));
    }
    lines.extend(verdicts);
    lines.truncate(max);
    lines
}
