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

#[test]
fn pipeline_stages_take_the_local_runner_fields_and_old_ones_stay_valid() {
    let old = crate::config::Config::from_yaml_str(
        "pipeline:\n  stages:\n    - name: build\n      command: ./ci/build.sh\n",
        "t.yaml",
    )
    .unwrap();
    let s = &old.pipeline.stages[0];
    assert_eq!((s.name.as_str(), s.optional), ("build", false));
    assert!(s.parallel_group.is_none() && s.junit.is_empty() && s.inputs.is_empty());
    let new = crate::config::Config::from_yaml_str(
        "pipeline:\n  stages:\n    - name: scan\n      command: ./ci/scan.sh\n      parallel_group: checks\n      tool: trivy\n      junit: [reports/*.xml]\n      coverage: [lcov.info]\n      trivy: [trivy.json]\n      min_coverage: 80\n      max_severity: HIGH\n      inputs: [src, Cargo.lock]\n",
        "t.yaml",
    )
    .unwrap();
    let s = &new.pipeline.stages[0];
    assert_eq!(s.parallel_group.as_deref(), Some("checks"));
    assert_eq!(s.tool.as_deref(), Some("trivy"));
    assert_eq!(s.min_coverage, Some(80.0));
    assert_eq!(s.max_severity.as_deref(), Some("HIGH"));
    assert_eq!(s.inputs, vec!["src".to_string(), "Cargo.lock".to_string()]);
    let bad = crate::config::Config::from_yaml_str(
        "pipeline:\n  stages:\n    - name: x\n      command: y\n      paralel_group: a\n",
        "t.yaml",
    );
    assert!(bad.is_err());
}
