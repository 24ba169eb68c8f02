use super::*;

#[test]
fn the_hash_changes_with_content_and_new_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    std::fs::create_dir_all(base.join("src/sub")).unwrap();
    std::fs::write(base.join("src/a.rs"), "a").unwrap();
    std::fs::write(base.join("src/sub/b.rs"), "b").unwrap();
    let inputs = vec!["src".to_string(), "Cargo.lock".to_string()];
    let h1 = hash_inputs(base, &inputs).unwrap();
    assert_eq!(h1, hash_inputs(base, &inputs).unwrap());
    assert_eq!(h1.len(), 64);
    std::fs::write(base.join("src/sub/b.rs"), "b2").unwrap();
    let h2 = hash_inputs(base, &inputs).unwrap();
    assert_ne!(h1, h2);
    std::fs::write(base.join("Cargo.lock"), "").unwrap();
    let h3 = hash_inputs(base, &inputs).unwrap();
    assert_ne!(h2, h3);
    std::fs::write(base.join("src/c.rs"), "").unwrap();
    assert_ne!(h3, hash_inputs(base, &inputs).unwrap());
}

#[test]
fn wildcards_hash_the_matching_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.sh"), "1").unwrap();
    std::fs::write(dir.path().join("y.txt"), "1").unwrap();
    let inputs = vec!["*.sh".to_string()];
    let h1 = hash_inputs(dir.path(), &inputs).unwrap();
    std::fs::write(dir.path().join("y.txt"), "2").unwrap();
    assert_eq!(h1, hash_inputs(dir.path(), &inputs).unwrap());
    std::fs::write(dir.path().join("x.sh"), "2").unwrap();
    assert_ne!(h1, hash_inputs(dir.path(), &inputs).unwrap());
}
