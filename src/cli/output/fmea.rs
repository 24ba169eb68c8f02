//! The chaos suite on the command line: the FMEA table and the catalogue.

use crate::domain::chaos::{CheckOutcome, ScenarioKind, ScenarioSpec, ScenarioVerdict};
use crate::faults::suite::SuiteReport;
use crate::report::Table;
use crate::runtime::Support;

fn secs(ms: Option<i64>) -> String {
    ms.map_or_else(
        || "never".to_string(),
        |ms| format!("{:.1}s", ms as f64 / 1000.0),
    )
}

fn expected(v: &ScenarioVerdict) -> String {
    match &v.expected.outcome {
        CheckOutcome::Passed(d) => format!("✓ {}: {d}", v.expected.behaviour),
        CheckOutcome::Failed(d) => format!("✗ {}: {d}", v.expected.behaviour),
        CheckOutcome::NotMeasured(d) => format!("? {}: {d}", v.expected.behaviour),
    }
}

/// One row per scenario (refused ones included), then the score.
pub fn fmea_table(r: &SuiteReport) -> String {
    let mut t = Table::new(&[
        "SCENARIO",
        "RESULT",
        "SEVERITY",
        "DETECTION",
        "RECOVERY",
        "ENGINE",
        "EXPECTED",
        "MITIGATION",
    ]);
    for v in &r.verdicts {
        t.row([
            v.scenario.name().to_string(),
            v.result.label().to_string(),
            v.severity.label().to_string(),
            secs(v.detection_ms),
            secs(v.recovery_ms),
            v.engine_result.map_or("-", |e| e.label()).to_string(),
            expected(v),
            v.mitigation_marks(),
        ]);
    }
    for (kind, why) in &r.refused {
        t.row([kind.name(), "refused", "", "", "", "", why.as_str(), ""]);
    }
    let mut out = t.render();
    out.push_str(&match r.score {
        Some(s) => format!("resilience score: {s:.0}/100\n"),
        None => "resilience score: none (no scenario was decided by a measurement)\n".to_string(),
    });
    out.push_str(&format!("checklist: {}\n", r.scorecard.tally()));
    for c in &r.scorecard.checklist {
        out.push_str(&format!(
            "  {}\n",
            crate::domain::sanitize::strip_all(&c.describe())
        ));
    }
    if let Some(why) = &r.stopped_early {
        out.push_str(&format!(
            "stopped early: {}\n",
            crate::domain::sanitize::strip_all(why)
        ));
    }
    out
}

/// A runtime's name and its support for each scenario (by name).
pub type RuntimeSupport<'a> = (&'a str, &'a std::collections::BTreeMap<String, Support>);

/// `chaos --list`: every scenario, its parameters and each runtime's
/// support; the reasons for each "no" follow the table.
pub fn catalogue_table(runtimes: &[RuntimeSupport<'_>]) -> String {
    let mut headers = vec!["SCENARIO", "PARAMETERS"];
    let names: Vec<String> = runtimes.iter().map(|(n, _)| n.to_uppercase()).collect();
    headers.extend(names.iter().map(String::as_str));
    headers.push("WHAT IT DOES");
    let mut t = Table::new(&headers);
    // (runtime, reason) -> the scenarios it refuses for that reason.
    let mut reasons: Vec<((String, String), Vec<&str>)> = Vec::new();
    for kind in ScenarioKind::every() {
        let spec = ScenarioSpec::of(kind);
        let params: Vec<&str> = spec.params.iter().map(|p| p.name()).collect();
        let mut row = vec![kind.name().to_string(), params.join(", ")];
        for (runtime, support) in runtimes {
            row.push(match support.get(kind.name()) {
                Some(Support::Yes) => "yes".to_string(),
                Some(Support::No(why)) => {
                    let key = (runtime.to_string(), why.clone());
                    match reasons.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, kinds)) => kinds.push(kind.name()),
                        None => reasons.push((key, vec![kind.name()])),
                    }
                    "no".to_string()
                }
                None => "no".to_string(),
            });
        }
        row.push(kind.description().to_string());
        t.row(row);
    }
    let mut out = t.render();
    if !reasons.is_empty() {
        out.push_str("\nnot supported:\n");
        for ((runtime, why), kinds) in reasons {
            let line = format!("  {runtime}: {} — {why}", kinds.join(", "));
            out.push_str(&crate::domain::sanitize::strip_all(&line));
            out.push('\n');
        }
    }
    out
}
