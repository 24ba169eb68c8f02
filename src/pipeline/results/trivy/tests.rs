use std::path::Path;

use super::*;

fn read(text: &str) -> Result<TrivySummary, ResultError> {
    read_trivy(Path::new("trivy.json"), text)
}

const REPORT: &str = r#"{
  "SchemaVersion": 2,
  "ArtifactName": ".",
  "Results": [
    {"Target": "Cargo.lock", "Class": "lang-pkgs", "Type": "cargo",
     "Vulnerabilities": [
       {"VulnerabilityID": "CVE-2024-0001", "PkgName": "openssl", "InstalledVersion": "0.10.1", "Severity": "MEDIUM", "Title": "m"},
       {"VulnerabilityID": "CVE-2024-0002", "PkgName": "hyper", "InstalledVersion": "0.14.0", "Severity": "CRITICAL", "Title": "c"},
       {"VulnerabilityID": "CVE-2024-0003", "PkgName": "time", "Severity": "LOW"}
     ]},
    {"Target": "Dockerfile", "Misconfigurations": [
       {"ID": "DS002", "Severity": "HIGH", "Title": "runs as root"}
     ]},
    {"Target": "app/.env", "Secrets": [
       {"RuleID": "aws-access-key-id", "Severity": "CRITICAL", "Title": "AWS key"}
     ], "Vulnerabilities": null}
  ]
}"#;

#[test]
fn counts_by_severity_and_keeps_the_worst_first() {
    let s = read(REPORT).unwrap();
    assert_eq!(
        (s.critical, s.high, s.medium, s.low, s.unknown),
        (2, 1, 1, 1, 0)
    );
    assert_eq!(s.total(), 5);
    assert_eq!(s.worst(), Some(Severity::Critical));
    assert_eq!(s.top[0].id, "CVE-2024-0002");
    assert_eq!(s.top[0].package, "hyper@0.14.0");
    assert_eq!(s.top[1].id, "aws-access-key-id");
    assert_eq!(s.top[1].package, "app/.env");
    assert_eq!(s.top[2].id, "DS002");
    assert_eq!(s.top[4].package, "time");
}

#[test]
fn a_clean_scan_has_no_findings() {
    let s = read(r#"{"SchemaVersion": 2, "Results": []}"#).unwrap();
    assert_eq!(s.worst(), None);
    let s = read(r#"{"SchemaVersion": 2}"#).unwrap();
    assert_eq!(s.total(), 0);
}

#[test]
fn merge_adds_counts() {
    let mut a = read(REPORT).unwrap();
    a.merge(read(REPORT).unwrap());
    assert_eq!(a.critical, 4);
    assert!(a.top.len() <= KEEP_DETAILS);
    assert_eq!(a.top[0].severity, Severity::Critical);
}

#[test]
fn a_wrong_type_names_the_field_and_line() {
    let err =
        read("{\"Results\": [\n {\"Target\": \"x\", \"Vulnerabilities\": [ {\"Severity\": 3} ]}]}")
            .unwrap_err()
            .to_string();
    assert!(err.starts_with("trivy.json: line 2:"), "{err}");
    assert!(
        err.contains("Results[0].Vulnerabilities[0].Severity"),
        "{err}"
    );
}

#[test]
fn an_unknown_severity_word_is_an_error() {
    let err = read(r#"{"Results":[{"Vulnerabilities":[{"Severity":"SEVERE"}]}]}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`SEVERE` is not CRITICAL"), "{err}");
}

#[test]
fn truncated_json_is_an_error_not_a_panic() {
    let err = read("{\"Results\": [").unwrap_err().to_string();
    assert!(err.starts_with("trivy.json: line 1:"), "{err}");
}

#[test]
fn severities_parse_and_order() {
    assert_eq!(Severity::parse("high"), Some(Severity::High));
    assert_eq!(Severity::parse("nope"), None);
    assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Unknown);
}
