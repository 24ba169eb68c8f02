//! Pure formatting for CLI output: tables, log lines, progress lines and
//! JSON documents. Every string that came from the runtime is sanitised here
//! before it can reach a terminal.

use std::fmt::Display;

use chrono::TimeZone;
use serde::Serialize;

use crate::domain::analysis::Verdict;
use crate::domain::chaos::{Experiment, ExperimentState};
use crate::domain::environment::EnvironmentStatus;
use crate::domain::logs::{Level, LogLine};
use crate::domain::pipeline::PipelineRun;
use crate::domain::sanitize::{sanitize_str, strip_all};
use crate::runtime::{ActionAccepted, RolloutOutcome};

/// Sanitise untrusted text for a terminal; without colour, SGR goes too.
pub fn clean(s: &str, color: bool) -> String {
    if color {
        sanitize_str(s)
    } else {
        strip_all(s)
    }
}

/// Display width of a cell (wide characters count double).
fn width(s: &str) -> usize {
    ratatui::text::Span::raw(s).width()
}

/// Left-aligned columns separated by two spaces, with a header row. Cells
/// are stripped of every escape sequence (colour would break alignment).
#[derive(Clone, Debug)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Add a row; missing cells are blank, extra cells are dropped.
    pub fn row<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let mut row: Vec<String> = cells
            .into_iter()
            .take(self.headers.len())
            .map(|c| crate::domain::unicode::layout_safe(&strip_all(c.as_ref())).replace('\t', " "))
            .collect();
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
    }

    /// The table, one `\n`-terminated line per row, no trailing spaces.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if i + 1 < row.len() {
                    line.extend(std::iter::repeat_n(' ', w.saturating_sub(width(cell))));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

fn or_dash(s: Option<impl Display>) -> String {
    s.map(|v| v.to_string()).unwrap_or_else(|| "-".to_string())
}

/// `ENV STABLE CANARY WEIGHT STEP HEALTH READY RESTARTS ROUTER FAULTS`, then
/// one note per environment whose health has a reason.
pub fn status_table(envs: &[EnvironmentStatus]) -> String {
    let mut t = Table::new(&[
        "ENV", "STABLE", "CANARY", "WEIGHT", "STEP", "HEALTH", "READY", "RESTARTS", "ROUTER",
        "FAULTS",
    ]);
    for e in envs {
        let (ready, desired) = e.ready_desired();
        let restarts: u64 = e.instances.iter().map(|i| u64::from(i.restarts)).sum();
        let weight = match e.traffic.canary {
            Some(_) => format!("{}%", e.traffic.canary_weight),
            None => "-".to_string(),
        };
        let step = e.step.map(|(i, n)| format!("{}/{}", i + 1, n));
        let faults = if e.faults.is_empty() {
            "-".to_string()
        } else {
            e.faults
                .iter()
                .map(|f| f.scenario.as_str())
                .collect::<Vec<_>>()
                .join(",")
        };
        t.row([
            e.name.clone(),
            or_dash(e.traffic.stable.as_ref()),
            or_dash(e.traffic.canary.as_ref()),
            weight,
            or_dash(step),
            e.health.label().to_string(),
            format!("{ready}/{desired}"),
            restarts.to_string(),
            e.router_addr.clone(),
            faults,
        ]);
    }
    let mut out = t.render();
    let notes: Vec<String> = envs
        .iter()
        .filter_map(|e| {
            e.health.reason().map(|r| {
                format!(
                    "{}: {}: {}",
                    strip_all(&e.name),
                    e.health.label(),
                    strip_all(r)
                )
            })
        })
        .collect();
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            out.push_str(&n);
            out.push('\n');
        }
    }
    out
}

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

/// `pipeline #7 staging: <message>` for an accepted action.
pub fn accepted_line(a: &ActionAccepted) -> String {
    let versions = match (&a.from_version, &a.to_version) {
        (Some(f), Some(t)) => format!(" ({} -> {})", strip_all(f.as_str()), strip_all(t.as_str())),
        (None, Some(t)) => format!(" (-> {})", strip_all(t.as_str())),
        _ => String::new(),
    };
    format!(
        "pipeline #{} {}: {}{}",
        a.pipeline_id,
        strip_all(&a.env),
        strip_all(&a.message),
        versions
    )
}

/// Progress lines for one pipeline: reports each stage only when its status
/// or detail changes, so repeated progress events print nothing new.
#[derive(Clone, Debug, Default)]
pub struct ProgressTracker {
    seen: Vec<Option<(String, String)>>,
}

impl ProgressTracker {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, run: &PipelineRun) -> Vec<String> {
        let n = run.stages.len();
        if self.seen.len() < n {
            self.seen.resize(n, None);
        }
        let mut lines = Vec::new();
        for (i, stage) in run.stages.iter().enumerate() {
            let label = stage.status.label();
            let key = (label.to_string(), stage.detail.clone());
            if self.seen[i].as_ref() == Some(&key) {
                continue;
            }
            // Stages that have not started yet are not news.
            let first = self.seen[i].is_none();
            self.seen[i] = Some(key);
            if first && label == "pending" {
                continue;
            }
            let mut line = format!("  [{}/{}] {}: {}", i + 1, n, strip_all(&stage.name), label);
            if let crate::domain::pipeline::StageStatus::Failed(why) = &stage.status {
                if !why.is_empty() && *why != stage.detail {
                    line.push_str(&format!(" ({})", strip_all(why)));
                }
            }
            if !stage.detail.is_empty() {
                line.push_str(" - ");
                line.push_str(&strip_all(&stage.detail));
            }
            lines.push(line);
        }
        lines
    }
}

/// `  analysis after step 2: failed: p99 latency 612ms > 500ms (+112ms)`
pub fn verdict_line(step: usize, v: &Verdict) -> String {
    format!("  analysis after step {}: {}", step + 1, v.summary())
}

/// How a rollout ended, with every failed check (metric, value, threshold,
/// and by how much) when it was rolled back on a verdict.
pub fn outcome_lines(env: &str, outcome: &RolloutOutcome) -> Vec<String> {
    let env = strip_all(env);
    match outcome {
        RolloutOutcome::Promoted { version } => {
            vec![format!("promoted {} in {env}", strip_all(version.as_str()))]
        }
        RolloutOutcome::RolledBack {
            version,
            reason,
            verdict,
        } => {
            let mut lines = vec![format!(
                "{} rolled back in {env}: {}",
                strip_all(version.as_str()),
                strip_all(reason)
            )];
            if let Some(v) = verdict {
                for c in v.failed_checks() {
                    lines.push(format!("  {}", c.describe()));
                }
                lines.push(format!(
                    "  canary: {} requests, {} errors, p95 {:.0}ms, p99 {:.0}ms",
                    v.canary.requests, v.canary.errors, v.canary.p95_ms, v.canary.p99_ms
                ));
            }
            lines
        }
        RolloutOutcome::Aborted { reason } => {
            vec![format!("rollout in {env} aborted: {}", strip_all(reason))]
        }
    }
}

/// Options for [`format_log_line`].
#[derive(Clone, Copy, Debug)]
pub struct LogStyle {
    /// Keep allow-listed colours from the line and colour the level.
    pub color: bool,
}

fn level_sgr(level: Level) -> Option<&'static str> {
    match level {
        Level::Error => Some("\x1b[31m"),
        Level::Warn => Some("\x1b[33m"),
        Level::Debug | Level::Trace => Some("\x1b[2m"),
        Level::Info | Level::Unknown => None,
    }
}

/// `12:34:56.789 staging-v2-1 WARN  text` in the given time zone.
pub fn format_log_line<Tz: TimeZone>(line: &LogLine, style: LogStyle, tz: &Tz) -> String
where
    Tz::Offset: Display,
{
    let ts = match chrono::DateTime::from_timestamp_millis(line.ts) {
        Some(t) => t.with_timezone(tz).format("%H:%M:%S%.3f").to_string(),
        None => "--:--:--.---".to_string(),
    };
    let source = if line.instance.is_empty() {
        format!("{}/{}", strip_all(&line.env), strip_all(&line.version))
    } else {
        strip_all(&line.instance)
    };
    let level = format!("{:<5}", line.level.label());
    let text = clean(&line.text, style.color);
    if style.color {
        let level = match level_sgr(line.level) {
            Some(sgr) => format!("{sgr}{level}\x1b[0m"),
            None => level,
        };
        // Reset after the text so its colours cannot leak into the next line.
        let reset = if text.contains('\x1b') { "\x1b[0m" } else { "" };
        format!("{ts} {source} {level} {text}{reset}")
    } else {
        format!("{ts} {source} {level} {text}")
    }
}

/// Escape characters that are legal in JSON strings but unsafe or misleading
/// on a terminal (DEL, C1 controls, bidi overrides, line separators). They
/// can only occur inside strings, where `\uXXXX` means the same thing.
fn escape_for_terminal(json: String) -> String {
    let unsafe_char = |c: char| matches!(c, '\u{7f}'..='\u{9f}' | '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !json.chars().any(unsafe_char) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// One pretty-printed JSON document, newline-terminated.
pub fn json_document<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut s = escape_for_terminal(serde_json::to_string_pretty(value)?);
    s.push('\n');
    Ok(s)
}

/// One compact JSON object on one line (for streams).
pub fn json_line<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut s = escape_for_terminal(serde_json::to_string(value)?);
    s.push('\n');
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::analysis::{analyze, Thresholds, VersionSample};
    use crate::domain::chaos::{ExperimentResult, FaultParams, ScenarioKind};
    use crate::domain::environment::{
        ActiveFault, Health, InstancePhase, InstanceStatus, TrafficSplit, Version,
    };
    use crate::domain::pipeline::{PipelineKind, StageStatus};

    fn instance(id: &str, version: &str, phase: InstancePhase, restarts: u32) -> InstanceStatus {
        InstanceStatus {
            id: id.into(),
            version: Version::new(version),
            pid: Some(100),
            port: 40000,
            phase,
            restarts,
        }
    }

    fn envs() -> Vec<EnvironmentStatus> {
        vec![
            EnvironmentStatus {
                name: "staging".into(),
                traffic: TrafficSplit {
                    stable: Some(Version::new("v1")),
                    canary: Some(Version::new("v2")),
                    canary_weight: 20,
                },
                previous: None,
                step: Some((1, 4)),
                health: Health::Progressing("canary at 20%".into()),
                instances: vec![
                    instance("staging-v1-1", "v1", InstancePhase::Ready, 0),
                    instance("staging-v2-1", "v2", InstancePhase::Ready, 2),
                    instance("staging-v2-2", "v2", InstancePhase::Starting, 1),
                ],
                replicas: 2,
                last_change: 0,
                router_addr: "127.0.0.1:41001".into(),
                metrics_addr: "127.0.0.1:41002".into(),
                faults: vec![ActiveFault {
                    id: "exp-1".into(),
                    scenario: "network-latency".into(),
                    ends_at: 0,
                }],
            },
            EnvironmentStatus {
                name: "prod\x1b[2J".into(),
                traffic: TrafficSplit {
                    stable: Some(Version::new("v1")),
                    canary: None,
                    canary_weight: 0,
                },
                previous: Some(Version::new("v0")),
                step: None,
                health: Health::Healthy,
                instances: vec![instance("prod-v1-1", "v1", InstancePhase::Ready, 0)],
                replicas: 1,
                last_change: 0,
                router_addr: "127.0.0.1:41003".into(),
                metrics_addr: "127.0.0.1:41004".into(),
                faults: vec![],
            },
        ]
    }

    #[test]
    fn status_table_is_aligned_and_sanitised() {
        let expected = "\
ENV      STABLE  CANARY  WEIGHT  STEP  HEALTH       READY  RESTARTS  ROUTER           FAULTS
staging  v1      v2      20%     2/4   Progressing  2/4    3         127.0.0.1:41001  network-latency
prod     v1      -       -       -     Healthy      1/1    0         127.0.0.1:41003  -

staging: Progressing: canary at 20%
";
        assert_eq!(status_table(&envs()), expected);
    }

    #[test]
    fn empty_status_is_just_the_header() {
        assert_eq!(
            status_table(&[]),
            "ENV  STABLE  CANARY  WEIGHT  STEP  HEALTH  READY  RESTARTS  ROUTER  FAULTS\n"
        );
    }

    #[test]
    fn table_counts_wide_characters_twice() {
        let mut t = Table::new(&["A", "B"]);
        t.row(["日本", "x"]);
        t.row(["ab", "y"]);
        assert_eq!(t.render(), "A     B\n日本  x\nab    y\n");
    }

    #[test]
    fn json_escapes_terminal_controls_but_stays_valid() {
        let doc = json_document(&vec!["a\x1b[31mb", "c\u{9b}2Jd", "e\u{202e}f"]).unwrap();
        assert!(!doc.contains('\x1b') && !doc.contains('\u{9b}') && !doc.contains('\u{202e}'));
        assert!(
            doc.contains("\\u001b") && doc.contains("\\u009b") && doc.contains("\\u202e"),
            "{doc}"
        );
        let back: Vec<String> = serde_json::from_str(&doc).unwrap();
        assert_eq!(back, vec!["a\x1b[31mb", "c\u{9b}2Jd", "e\u{202e}f"]);
        let line = json_line(&envs()[1]).unwrap();
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.starts_with("{\"name\":\"prod\\u001b[2J\""), "{line}");
    }

    fn log(text: &str, level: Level) -> LogLine {
        LogLine::new(
            1_700_000_000_123,
            "staging".into(),
            "v2".into(),
            "staging-v2-1".into(),
            level,
            text,
        )
    }

    #[test]
    fn log_lines_plain_and_coloured() {
        let l = log("GET / 503 \x1b[31mslow\x1b[0m\x07", Level::Warn);
        assert_eq!(
            format_log_line(&l, LogStyle { color: false }, &chrono::Utc),
            "22:13:20.123 staging-v2-1 WARN  GET / 503 slow"
        );
        assert_eq!(
            format_log_line(&l, LogStyle { color: true }, &chrono::Utc),
            "22:13:20.123 staging-v2-1 \x1b[33mWARN \x1b[0m GET / 503 \x1b[31mslow\x1b[0m\x1b[0m"
        );
        let mut anon = log("hi", Level::Info);
        anon.instance = "".into();
        assert_eq!(
            format_log_line(&anon, LogStyle { color: true }, &chrono::Utc),
            "22:13:20.123 staging/v2 INFO  hi"
        );
    }

    #[test]
    fn progress_tracker_reports_changes_once() {
        let mut run = PipelineRun::new(
            7,
            PipelineKind::Rollout,
            "staging",
            "deploy v2",
            &["start", "canary 5%"],
            0,
        );
        let mut p = ProgressTracker::new();
        assert!(p.update(&run).is_empty());
        run.start_stage(0, 1);
        assert_eq!(p.update(&run), vec!["  [1/2] start: running".to_string()]);
        assert!(p.update(&run).is_empty());
        run.finish_stage(0, StageStatus::Succeeded, "2 instances ready", 2);
        run.start_stage(1, 2);
        assert_eq!(
            p.update(&run),
            vec![
                "  [1/2] start: succeeded - 2 instances ready".to_string(),
                "  [2/2] canary 5%: running".to_string()
            ]
        );
        run.finish_stage(1, StageStatus::Failed("analysis".into()), "p99 too high", 3);
        assert_eq!(
            p.update(&run),
            vec!["  [2/2] canary 5%: failed (analysis) - p99 too high".to_string()]
        );
    }

    fn failing_verdict() -> Verdict {
        let canary = VersionSample {
            requests: 200,
            errors: 1,
            p50_ms: 50.0,
            p95_ms: 150.0,
            p99_ms: 612.0,
            ..Default::default()
        };
        analyze(&canary, None, &Thresholds::default())
    }

    #[test]
    fn rollback_outcome_names_the_failed_metric_and_threshold() {
        let v = failing_verdict();
        let lines = outcome_lines(
            "staging",
            &RolloutOutcome::RolledBack {
                version: Version::new("v1"),
                reason: v.summary(),
                verdict: Some(Box::new(v.clone())),
            },
        );
        assert_eq!(
            lines,
            vec![
                "v1 rolled back in staging: failed: p99 latency 612ms > 500ms (+112ms)".to_string(),
                "  p99 latency 612ms > 500ms (+112ms)".to_string(),
                "  canary: 200 requests, 1 errors, p95 150ms, p99 612ms".to_string(),
            ]
        );
        assert_eq!(
            verdict_line(1, &v),
            "  analysis after step 2: failed: p99 latency 612ms > 500ms (+112ms)"
        );
        assert_eq!(
            outcome_lines(
                "prod",
                &RolloutOutcome::Promoted {
                    version: Version::new("v2")
                }
            ),
            vec!["promoted v2 in prod".to_string()]
        );
    }

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

    #[test]
    fn accepted_line_shows_versions() {
        let a = ActionAccepted {
            pipeline_id: 7,
            env: "staging".into(),
            from_version: Some(Version::new("v1")),
            to_version: Some(Version::new("v2")),
            message: "canary rollout started".into(),
        };
        assert_eq!(
            accepted_line(&a),
            "pipeline #7 staging: canary rollout started (v1 -> v2)"
        );
    }
}

#[derive(Serialize)]
struct KindErrorDoc<'a> {
    error: KindError<'a>,
}

#[derive(Serialize)]
struct KindError<'a> {
    kind: &'a str,
    message: &'a str,
}

/// Report a command's own error: `error: …` on stderr and, in JSON mode,
/// `{"error":{"kind":…,"message":…}}` on stdout. Returns `code`.
pub fn report_error(
    kind: &str,
    message: &str,
    code: i32,
    mode: super::OutputMode,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> i32 {
    let _ = writeln!(err, "error: {message}");
    if mode == super::OutputMode::Json {
        if let Ok(s) = serde_json::to_string_pretty(&KindErrorDoc {
            error: KindError { kind, message },
        }) {
            let _ = writeln!(out, "{s}");
        }
    }
    code
}
