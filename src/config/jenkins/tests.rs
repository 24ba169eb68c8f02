use crate::config::Config;

fn load(yaml: &str) -> Result<Config, String> {
    Config::from_yaml_str(yaml, "blissful-infra.yaml").map_err(|e| e.to_string())
}

#[test]
fn empty_url_is_off_and_unchecked() {
    let c = load("jenkins:\n  job: ''\n").unwrap();
    assert!(!c.jenkins.enabled());
    assert!(c.jenkins.problems().is_empty());
}

#[test]
fn a_full_section_loads() {
    let c = load(
        "jenkins:\n  url: http://127.0.0.1:8080\n  job: team/shop\n  user: ci\n  token_env: JENKINS_TOKEN\n",
    )
    .unwrap();
    assert_eq!(c.jenkins.job, "team/shop");
    assert_eq!(c.jenkins.token_env, "JENKINS_TOKEN");
}

#[test]
fn an_unknown_key_names_file_line_and_field() {
    let e = load("project: shop\njenkins:\n  url: http://h:8080\n  token: abc\n").unwrap_err();
    assert!(e.starts_with("blissful-infra.yaml:4:"), "{e}");
    assert!(e.contains("jenkins"), "{e}");
    assert!(e.contains("token"), "{e}");
}

#[test]
fn bad_values_name_file_line_and_field() {
    let e = load(
        "project: shop\njenkins:\n  url: ftp://h\n  job: ''\n  user: ci\n  token_env: 'abc def'\n",
    )
    .unwrap_err();
    assert!(e.contains("blissful-infra.yaml:3: jenkins.url"), "{e}");
    assert!(e.contains("blissful-infra.yaml:4: jenkins.job"), "{e}");
    assert!(
        e.contains("blissful-infra.yaml:6: jenkins.token_env"),
        "{e}"
    );
}
