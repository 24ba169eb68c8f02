use super::*;

fn stage(name: &str, group: Option<&str>) -> PipelineStage {
    PipelineStage {
        name: name.into(),
        command: "true".into(),
        parallel_group: group.map(str::to_string),
        ..PipelineStage::default()
    }
}

#[test]
fn groups_become_one_batch_where_they_first_appear() {
    let stages = vec![
        stage("build", None),
        stage("unit", Some("checks")),
        stage("lint", None),
        stage("scan", Some("checks")),
        stage("deploy", None),
    ];
    assert_eq!(
        batches(&stages),
        vec![vec![0], vec![1, 3], vec![2], vec![4]]
    );
}

#[test]
fn check_names_the_stage_and_field() {
    assert!(check(&[stage("a", None)]).is_ok());
    let err = check(&[stage("a", None), stage("a", None)])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "pipeline.stages[1] (a): `name` is used by an earlier stage"
    );
    let mut s = stage("cov", None);
    s.min_coverage = Some(120.0);
    s.coverage = vec!["lcov.info".into()];
    assert!(check(&[s])
        .unwrap_err()
        .to_string()
        .contains("outside 0..100"));
    let mut s = stage("scan", None);
    s.max_severity = Some("SEVERE".into());
    s.trivy = vec!["t.json".into()];
    assert!(check(&[s]).unwrap_err().to_string().contains("`SEVERE`"));
    let mut s = stage("scan", None);
    s.max_severity = Some("HIGH".into());
    assert!(check(&[s])
        .unwrap_err()
        .to_string()
        .contains("needs a `trivy` report"));
    assert!(check(&[stage("a b", None)]).is_err());
    assert!(check(&[]).unwrap_err().to_string().contains("no stages"));
}

#[test]
fn tools_are_found_on_the_given_path_only() {
    let dir = tempfile::tempdir().unwrap();
    let tool = dir.path().join("mytool");
    std::fs::write(&tool, "#!/bin/sh\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().as_os_str();
    assert_eq!(find_tool("mytool", Some(path), dir.path()), Some(tool));
    assert_eq!(find_tool("absent-tool", Some(path), dir.path()), None);
    assert_eq!(find_tool("mytool", None, dir.path()), None);
}
