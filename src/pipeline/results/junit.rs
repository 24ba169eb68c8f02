//! JUnit XML (the format surefire, gradle, pytest, go-junit-report and
//! jest-junit write): `<testsuites>` holding `<testsuite>`s (nested or not)
//! holding `<testcase>`s. Counts come from the test cases themselves, not
//! the suites' attributes, so nesting never counts a test twice.

use std::path::Path;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde::{Deserialize, Serialize};

use super::{clip, line_at, ResultError, KEEP_DETAILS};

/// One failing (or erroring) test case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedTest {
    /// `classname.name` (just `name` when there is no class name).
    pub name: String,
    /// The `message` attribute, else the first line of the element's text.
    pub message: String,
    /// `error` for `<error>`, `failure` for `<failure>`.
    pub kind: String,
}

/// The test cases of one or more JUnit files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JunitSummary {
    pub tests: u64,
    pub passed: u64,
    pub failed: u64,
    pub errors: u64,
    pub skipped: u64,
    /// The first failing tests, in file order (at most `KEEP_DETAILS`).
    pub failures: Vec<FailedTest>,
    /// Failing tests not kept in `failures`.
    pub failures_dropped: u64,
}

impl JunitSummary {
    /// Add another file's counts to these.
    pub fn merge(&mut self, other: JunitSummary) {
        self.tests += other.tests;
        self.passed += other.passed;
        self.failed += other.failed;
        self.errors += other.errors;
        self.skipped += other.skipped;
        self.failures_dropped += other.failures_dropped;
        for f in other.failures {
            self.keep(f);
        }
    }

    fn keep(&mut self, f: FailedTest) {
        if self.failures.len() < KEEP_DETAILS {
            self.failures.push(f);
        } else {
            self.failures_dropped += 1;
        }
    }

    /// Whether any test failed or errored.
    pub fn has_failures(&self) -> bool {
        self.failed + self.errors > 0
    }
}

#[derive(Default)]
struct Case {
    name: String,
    outcome: Outcome,
    message: String,
    text: String,
    in_outcome: bool,
}

#[derive(Default, PartialEq, Eq, Clone, Copy)]
enum Outcome {
    #[default]
    Passed,
    Failed,
    Error,
    Skipped,
}

/// Read one JUnit XML document; `path` names it in errors.
pub fn read_junit(path: &Path, text: &str) -> Result<JunitSummary, ResultError> {
    let mut reader = Reader::from_str(text);
    let mut sum = JunitSummary::default();
    let mut case: Option<Case> = None;
    let mut saw_root = false;
    loop {
        let at = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| ResultError::syntax(path, line_at(text, at), e.to_string()))?;
        let line = || line_at(text, at);
        match event {
            Event::Start(e) | Event::Empty(e) if !saw_root => {
                let tag = local(&e);
                if tag != "testsuites" && tag != "testsuite" {
                    return Err(ResultError::syntax(
                        path,
                        line(),
                        format!("root element is <{tag}>, not <testsuites> or <testsuite>"),
                    ));
                }
                saw_root = true;
            }
            Event::Start(e) => match local(&e).as_str() {
                "testcase" => case = Some(open_case(path, &e, line())?),
                "failure" | "error" | "skipped" => {
                    if let Some(c) = case.as_mut() {
                        mark(c, &e, path, line())?;
                        c.in_outcome = true;
                    }
                }
                _ => {}
            },
            Event::Empty(e) => match local(&e).as_str() {
                "testcase" => close_case(&mut sum, open_case(path, &e, line())?),
                "failure" | "error" | "skipped" => {
                    if let Some(c) = case.as_mut() {
                        mark(c, &e, path, line())?;
                    }
                }
                _ => {}
            },
            Event::Text(t) => {
                if let Some(c) = case.as_mut().filter(|c| c.in_outcome) {
                    if let Ok(s) = t.decode() {
                        push_text(&mut c.text, &s);
                    }
                }
            }
            Event::CData(t) => {
                if let Some(c) = case.as_mut().filter(|c| c.in_outcome) {
                    if let Ok(s) = t.decode() {
                        push_text(&mut c.text, &s);
                    }
                }
            }
            Event::End(e) => match e.local_name().as_ref() {
                b"testcase" => {
                    if let Some(c) = case.take() {
                        close_case(&mut sum, c);
                    }
                }
                b"failure" | b"error" | b"skipped" => {
                    if let Some(c) = case.as_mut() {
                        c.in_outcome = false;
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(ResultError::content(
            path,
            "no <testsuites> or <testsuite> element (empty or not JUnit XML)",
        ));
    }
    Ok(sum)
}

fn push_text(buf: &mut String, s: &str) {
    if buf.len() < 4096 {
        buf.push_str(s);
    }
}

fn local(e: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(e.local_name().as_ref()).into_owned()
}

fn attr(
    e: &BytesStart<'_>,
    key: &str,
    path: &Path,
    line: u64,
) -> Result<Option<String>, ResultError> {
    for a in e.attributes() {
        let a = a.map_err(|err| ResultError::syntax(path, line, err.to_string()))?;
        if a.key.local_name().as_ref() == key.as_bytes() {
            let v = a.unescape_value().map_err(|err| {
                ResultError::syntax(path, line, format!("attribute `{key}`: {err}"))
            })?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

fn open_case(path: &Path, e: &BytesStart<'_>, line: u64) -> Result<Case, ResultError> {
    let name = attr(e, "name", path, line)?
        .ok_or_else(|| ResultError::syntax(path, line, "<testcase> without a `name` attribute"))?;
    let class = attr(e, "classname", path, line)?.unwrap_or_default();
    let full = if class.trim().is_empty() {
        name
    } else {
        format!("{}.{}", class.trim(), name.trim())
    };
    Ok(Case {
        name: clip(&full),
        ..Case::default()
    })
}

fn mark(c: &mut Case, e: &BytesStart<'_>, path: &Path, line: u64) -> Result<(), ResultError> {
    let outcome = match e.local_name().as_ref() {
        b"error" => Outcome::Error,
        b"skipped" => Outcome::Skipped,
        _ => Outcome::Failed,
    };
    // A failure outranks a skip; the first failure's message is kept.
    if c.outcome == Outcome::Passed || c.outcome == Outcome::Skipped {
        c.outcome = outcome;
        if outcome != Outcome::Skipped {
            c.message = attr(e, "message", path, line)?.unwrap_or_default();
        }
    }
    Ok(())
}

fn close_case(sum: &mut JunitSummary, c: Case) {
    sum.tests += 1;
    let kind = match c.outcome {
        Outcome::Passed => {
            sum.passed += 1;
            return;
        }
        Outcome::Skipped => {
            sum.skipped += 1;
            return;
        }
        Outcome::Failed => {
            sum.failed += 1;
            "failure"
        }
        Outcome::Error => {
            sum.errors += 1;
            "error"
        }
    };
    let message = if c.message.trim().is_empty() {
        c.text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .to_string()
    } else {
        c.message
    };
    sum.keep(FailedTest {
        name: c.name,
        message: clip(&message),
        kind: kind.to_string(),
    });
}

#[cfg(test)]
mod tests;
