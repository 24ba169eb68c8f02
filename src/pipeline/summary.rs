//! A stage's results in words, shared by `pipeline show` and the console's
//! Pipeline pane: its first failing test or top finding, and its counts
//! (tests, coverage, findings by severity). Texts come from result files
//! the readers already cleaned; callers sanitise again before a terminal.

use super::model::StageRecord;

/// What failed first: `com.acme.CartTest.removes: expected 2 but was 3`
/// (a failing test), `CRITICAL CVE-2024-1 in openssl: …` (the top
/// finding of a stage the severity gate failed), else its reason.
pub fn first_failure(s: &StageRecord) -> Option<String> {
    if let Some(f) = s.junit.as_ref().and_then(|j| j.failures.first()) {
        return Some(if f.message.is_empty() {
            f.name.clone()
        } else {
            format!("{}: {}", f.name, f.message)
        });
    }
    let gate = s.reason.as_deref().is_some_and(|r| r.contains("severity"));
    if let Some(f) = s
        .trivy
        .as_ref()
        .and_then(|t| t.top.first())
        .filter(|_| gate)
    {
        return Some(format!(
            "{} {} in {}: {}",
            f.severity, f.id, f.package, f.title
        ));
    }
    s.reason.clone()
}

/// `tests 3 passed, 1 failed, 2 skipped`.
pub fn tests_text(s: &StageRecord) -> Option<String> {
    let j = s.junit.as_ref()?;
    let mut t = format!("tests {} passed", j.passed);
    for (n, what) in [
        (j.failed, "failed"),
        (j.errors, "errors"),
        (j.skipped, "skipped"),
    ] {
        if n > 0 {
            t.push_str(&format!(", {n} {what}"));
        }
    }
    Some(t)
}

/// `coverage 81.3%`.
pub fn coverage_text(s: &StageRecord) -> Option<String> {
    s.coverage
        .as_ref()
        .map(|c| format!("coverage {:.1}%", c.percent))
}

/// `findings 0 critical, 2 high, 1 medium, 0 low`.
pub fn findings_text(s: &StageRecord) -> Option<String> {
    s.trivy.as_ref().map(|t| {
        format!(
            "findings {} critical, {} high, {} medium, {} low",
            t.critical, t.high, t.medium, t.low
        )
    })
}

/// The counts the stage has, in order: tests, coverage, findings.
pub fn counts(s: &StageRecord) -> Vec<String> {
    [tests_text(s), coverage_text(s), findings_text(s)]
        .into_iter()
        .flatten()
        .collect()
}
