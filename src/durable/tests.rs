//! Unit tests of the durable writes; the full-disk and read-only drills
//! against a real tmpfs are in `tests/state_dir_full.rs`.
#![cfg(test)] // test code only

use std::os::unix::fs::PermissionsExt;

use super::*;

fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    n.sort();
    n
}

#[test]
fn replace_writes_the_whole_file_privately_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    replace(&path, b"{\"a\":1}\n").unwrap();
    replace(&path, b"{\"a\":2}\n").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":2}\n");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(names(dir.path()), ["state.json"]);
}

#[test]
fn a_replace_that_cannot_happen_names_the_file_and_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    replace(&path, b"old").unwrap();
    // A directory where the new file would be renamed to.
    let blocked = dir.path().join("sub");
    std::fs::create_dir(&blocked).unwrap();
    std::fs::create_dir(blocked.join("x")).unwrap();
    let err = replace(&blocked, b"new").unwrap_err();
    assert_eq!(err.path, blocked);
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}: cannot write: ", blocked.display())),
        "{text}"
    );
    assert!(err.os_error().is_some(), "{err:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
    assert_eq!(names(dir.path()), ["state.json", "sub"]);
}

#[test]
fn append_adds_records_and_a_failed_open_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    append(&path, b"{\"n\":1}\n").unwrap();
    append(&path, b"{\"n\":2}\n").unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"n\":1}\n{\"n\":2}\n"
    );
    let not_a_dir = path.join("x");
    let err = append(&not_a_dir, b"{}\n").unwrap_err();
    assert!(err.to_string().contains("audit.jsonl/x"), "{err}");
    assert_eq!(err.os_error(), Some(libc::ENOTDIR));
}

#[test]
fn remove_is_quiet_about_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollout.json");
    remove(&path).unwrap();
    replace(&path, b"{}").unwrap();
    remove(&path).unwrap();
    assert!(names(dir.path()).is_empty());
}
