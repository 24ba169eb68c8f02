use std::path::Path;

use super::*;

#[test]
fn cobertura_prefers_line_counts_then_rate() {
    let p = Path::new("coverage.xml");
    let c = read_coverage(
        p,
        r#"<?xml version="1.0"?><!DOCTYPE coverage SYSTEM "x"><coverage line-rate="0.5" lines-covered="3" lines-valid="4"><packages/></coverage>"#,
    )
    .unwrap();
    assert_eq!(c.percent, 75.0);
    assert_eq!((c.lines_hit, c.lines_found), (Some(3), Some(4)));
    let c = read_cobertura(p, r#"<coverage line-rate="0.8125"></coverage>"#).unwrap();
    assert_eq!(c.percent, 81.25);
    assert_eq!(c.lines_found, None);
}

#[test]
fn cobertura_errors_name_the_attribute() {
    let p = Path::new("coverage.xml");
    let err = read_cobertura(p, "\n<coverage line-rate=\"lots\"/>")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "coverage.xml: line 2: attribute `line-rate`: `lots` is not a number"
    );
    let err = read_cobertura(p, r#"<coverage line-rate="1.5"/>"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside 0..1"), "{err}");
    let err = read_cobertura(p, "<report/>").unwrap_err().to_string();
    assert!(err.contains("not Cobertura"), "{err}");
    let err = read_cobertura(p, "").unwrap_err().to_string();
    assert!(err.contains("no <coverage> element"), "{err}");
}

#[test]
fn lcov_sums_every_record() {
    let text = "TN:\nSF:src/a.rs\nDA:1,1\nLF:10\nLH:8\nend_of_record\nSF:src/b.rs\nLF:10\nLH:2\nend_of_record\n";
    let c = read_coverage(Path::new("lcov.info"), text).unwrap();
    assert_eq!((c.lines_hit, c.lines_found), (Some(10), Some(20)));
    assert_eq!(c.percent, 50.0);
}

#[test]
fn lcov_errors_name_line_and_field() {
    let p = Path::new("lcov.info");
    let err = read_lcov(p, "SF:a\nLF:ten\n").unwrap_err().to_string();
    assert_eq!(err, "lcov.info: line 2: field `LF`: `ten` is not a count");
    let err = read_lcov(p, "SF:a\ngarbage\n").unwrap_err().to_string();
    assert!(err.starts_with("lcov.info: line 2:"), "{err}");
    let err = read_lcov(p, "").unwrap_err().to_string();
    assert!(err.contains("no lcov records"), "{err}");
    let err = read_lcov(p, "SF:a\nLF:1\nLH:2\n").unwrap_err().to_string();
    assert!(err.contains("above LF"), "{err}");
}

#[test]
fn merge_sums_counts_or_keeps_the_lower_rate() {
    let a = Coverage::from_counts(1, 4);
    let b = Coverage::from_counts(3, 4);
    assert_eq!(a.clone().merge(b).percent, 50.0);
    let r = Coverage {
        percent: 90.0,
        lines_hit: None,
        lines_found: None,
    };
    assert_eq!(a.merge(r).percent, 25.0);
}
