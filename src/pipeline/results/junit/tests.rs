use std::path::Path;

use super::*;

fn read(text: &str) -> Result<JunitSummary, ResultError> {
    read_junit(Path::new("reports/TEST-x.xml"), text)
}

#[test]
fn counts_passed_failed_errors_and_skipped_across_nested_suites() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="99">
  <testsuite name="outer">
    <testsuite name="inner" tests="3">
      <testcase classname="com.acme.CartTest" name="adds" time="0.1"/>
      <testcase classname="com.acme.CartTest" name="removes">
        <failure message="expected 2 but was 3" type="AssertionError">stack</failure>
      </testcase>
      <testcase classname="com.acme.CartTest" name="empties"><skipped/></testcase>
    </testsuite>
    <testcase classname="com.acme.Db" name="connects">
      <error message="connection refused"/>
    </testcase>
  </testsuite>
</testsuites>"#;
    let s = read(xml).unwrap();
    assert_eq!(
        (s.tests, s.passed, s.failed, s.errors, s.skipped),
        (4, 1, 1, 1, 1)
    );
    assert_eq!(s.failures.len(), 2);
    assert_eq!(s.failures[0].name, "com.acme.CartTest.removes");
    assert_eq!(s.failures[0].message, "expected 2 but was 3");
    assert_eq!(s.failures[0].kind, "failure");
    assert_eq!(s.failures[1].name, "com.acme.Db.connects");
    assert_eq!(s.failures[1].kind, "error");
    assert!(s.has_failures());
}

#[test]
fn a_single_testsuite_root_and_message_from_text() {
    let xml = r#"<testsuite name="py"><testcase name="test_x"><failure><![CDATA[
AssertionError: boom
  more]]></failure></testcase></testsuite>"#;
    let s = read(xml).unwrap();
    assert_eq!(s.failed, 1);
    assert_eq!(s.failures[0].name, "test_x");
    assert_eq!(s.failures[0].message, "AssertionError: boom");
}

#[test]
fn merging_files_adds_counts_and_bounds_kept_failures() {
    let mut cases = String::new();
    for i in 0..(KEEP_DETAILS + 5) {
        cases.push_str(&format!(
            r#"<testcase classname="C" name="t{i}"><failure message="m"/></testcase>"#
        ));
    }
    let xml = format!("<testsuite>{cases}</testsuite>");
    let mut total = read(&xml).unwrap();
    assert_eq!(total.failures.len(), KEEP_DETAILS);
    assert_eq!(total.failures_dropped, 5);
    total.merge(read(r#"<testsuite><testcase name="ok"/></testsuite>"#).unwrap());
    assert_eq!(total.tests, KEEP_DETAILS as u64 + 6);
    assert_eq!(total.passed, 1);
    assert_eq!(total.failures_dropped, 5);
}

#[test]
fn hostile_names_are_cleaned() {
    let xml = "<testsuite><testcase name=\"a&#27;[2Jb\"><failure message=\"x\u{1b}[31my\"/></testcase></testsuite>";
    let s = read(xml).unwrap();
    assert!(!s.failures[0].name.contains('\x1b'));
    assert!(
        !s.failures[0].message.contains('\x1b'),
        "{:?}",
        s.failures[0]
    );
}

#[test]
fn broken_xml_names_file_and_line() {
    let err = read("<testsuite>\n<testcase name=\"a\">\n</testsuite>").unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("reports/TEST-x.xml: line 3:"), "{msg}");
}

#[test]
fn wrong_root_and_empty_files_are_errors() {
    let err = read("<html><body/></html>").unwrap_err().to_string();
    assert!(err.contains("root element is <html>"), "{err}");
    let err = read("").unwrap_err().to_string();
    assert!(err.contains("no <testsuites> or <testsuite>"), "{err}");
}

#[test]
fn a_testcase_without_name_is_an_error_with_its_line() {
    let err = read("<testsuite>\n\n<testcase classname=\"C\"/></testsuite>")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 3") && err.contains("`name`"), "{err}");
}
