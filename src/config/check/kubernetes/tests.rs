use super::super::host_port;
use crate::config::{Config, ConfigError, ConfigProblem, FILE_NAME};

fn problems(text: &str) -> Vec<ConfigProblem> {
    match Config::from_yaml_str(text, FILE_NAME) {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

const ENVS: &str =
    "project: shop\nruntime: kubernetes\nenvironments:\n  - name: staging\n  - name: production\n";

#[test]
fn addresses_are_read_per_environment() {
    let text = format!(
        "{ENVS}kubernetes:\n  addresses:\n    staging: 127.0.0.1:8080\n    production: shop.example.test:443\n"
    );
    let c = Config::from_yaml_str(&text, FILE_NAME).unwrap();
    assert_eq!(c.kubernetes.addresses["staging"], "127.0.0.1:8080");
    assert_eq!(
        c.kubernetes.addresses["production"],
        "shop.example.test:443"
    );
}

#[test]
fn a_bad_port_names_the_file_line_and_field() {
    let text = format!(
        "{ENVS}kubernetes:\n  namespaces:\n    staging: shop-staging\n  addresses:\n    staging: 127.0.0.1:8080\n    production: shop.local:70000\n"
    );
    let ps = problems(&text);
    assert_eq!(ps.len(), 1, "{ps:#?}");
    let p = &ps[0];
    assert_eq!(p.field, "kubernetes.addresses.production");
    assert_eq!(p.line, Some(11));
    assert!(p.message.contains("`shop.local:70000`"), "{}", p.message);
    assert!(p.message.contains("invalid port"), "{}", p.message);
    let shown = ConfigError::Invalid {
        file: FILE_NAME.into(),
        problems: ps,
    }
    .to_string();
    assert!(
        shown.contains("blissful-infra.yaml:11: kubernetes.addresses.production:"),
        "{shown}"
    );
}

#[test]
fn each_bad_address_is_named() {
    for (value, why) in [
        ("shop.local", "has no port"),
        ("':8080'", "has no host"),
        ("shop.local:0", "invalid port"),
        ("'shop.local:'", "invalid port"),
        ("http://shop.local:8080", "without the scheme"),
        ("shop.local:8080/api", "without a path"),
        ("'::1:8080'", "brackets"),
        ("'shop local:80'", "spaces"),
        ("''", "must not be empty"),
    ] {
        let ps = problems(&format!(
            "{ENVS}kubernetes:\n  addresses:\n    staging: {value}\n"
        ));
        assert_eq!(ps.len(), 1, "{value}: {ps:#?}");
        assert_eq!(ps[0].field, "kubernetes.addresses.staging", "{value}");
        assert_eq!(ps[0].line, Some(8), "{value}");
        assert!(ps[0].message.contains(why), "{value}: {}", ps[0].message);
    }
}

#[test]
fn an_address_for_an_unknown_environment_is_refused() {
    let ps = problems(&format!(
        "{ENVS}kubernetes:\n  addresses: {{stagign: '127.0.0.1:8080'}}\n"
    ));
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_eq!(ps[0].field, "kubernetes.addresses.stagign");
    assert!(
        ps[0].message.contains("known: staging, production"),
        "{}",
        ps[0].message
    );
}

#[test]
fn host_port_takes_names_ipv4_and_bracketed_ipv6() {
    for ok in [
        "127.0.0.1:8080",
        "shop.local:80",
        "[::1]:8080",
        "localhost:65535",
    ] {
        assert_eq!(host_port(ok), Ok(()), "{ok}");
    }
}

#[test]
fn the_ephemeral_ttl_defaults_to_a_day_and_a_bad_one_names_its_field() {
    let c = Config::from_yaml_str(ENVS, FILE_NAME).unwrap();
    assert_eq!(c.kubernetes.ephemeral_ttl, "24h");
    let c = Config::from_yaml_str(
        &format!("{ENVS}kubernetes:\n  ephemeral_ttl: 2d\n"),
        FILE_NAME,
    )
    .unwrap();
    assert_eq!(c.kubernetes.ephemeral_ttl, "2d");
    let ps = problems(&format!("{ENVS}kubernetes:\n  ephemeral_ttl: 10s\n"));
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_eq!(ps[0].field, "kubernetes.ephemeral_ttl");
    assert!(ps[0].message.contains("1m to 30d"), "{}", ps[0].message);
}
