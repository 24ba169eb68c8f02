use super::*;

#[test]
fn wildcard_matches_star_and_question_mark() {
    assert!(wildcard("TEST-*.xml", "TEST-foo.xml"));
    assert!(wildcard("*.xml", ".xml"));
    assert!(wildcard("a?c", "abc"));
    assert!(!wildcard("a?c", "ac"));
    assert!(!wildcard("TEST-*.xml", "TEST-foo.json"));
    assert!(wildcard("*", "anything"));
}

#[test]
fn expand_lists_matching_files_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("reports");
    std::fs::create_dir(&sub).unwrap();
    for n in ["TEST-b.xml", "TEST-a.xml", "other.txt"] {
        std::fs::write(sub.join(n), "x").unwrap();
    }
    let got = expand(dir.path(), "reports/TEST-*.xml");
    assert_eq!(got, vec![sub.join("TEST-a.xml"), sub.join("TEST-b.xml")]);
    assert_eq!(expand(dir.path(), "reports/other.txt").len(), 1);
    assert!(expand(dir.path(), "missing/*.xml").is_empty());
    assert!(expand(dir.path(), "reports/none.xml").is_empty());
}

#[test]
fn line_at_counts_newlines_before_the_offset() {
    assert_eq!(line_at("a\nb\nc", 0), 1);
    assert_eq!(line_at("a\nb\nc", 2), 2);
    assert_eq!(line_at("a\nb\nc", 999), 3);
}

#[test]
fn read_text_names_a_missing_file() {
    let err = read_text(Path::new("/nonexistent/report.xml")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/report.xml: cannot read"),
        "{err}"
    );
}

#[test]
fn clip_strips_escapes_and_cuts_long_text() {
    assert_eq!(clip("  a\x1b[31mb "), "ab");
    let long = "x".repeat(MAX_TEXT + 10);
    assert_eq!(clip(&long).chars().count(), MAX_TEXT + 1);
}
