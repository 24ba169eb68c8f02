#![cfg(test)]

use super::*;

#[test]
fn all_rules_compile() {
    assert_eq!(rules::rule_count(), 19);
}

#[test]
fn redacts_key_values_and_keeps_the_rest() {
    let out = redact("connecting user=bob password=hunter2 db=orders");
    assert_eq!(out, "connecting user=bob password=[REDACTED] db=orders");
    let out = redact(r#"{"api_key":"abc123","level":"info"}"#);
    assert_eq!(out, r#"{"api_key":"[REDACTED]","level":"info"}"#);
}

#[test]
fn redacts_tokens_urls_and_keys() {
    let auth = redact("Authorization: Bearer abcdefghijklmnop");
    assert!(!auth.contains("abcdefghijklmnop"), "{auth}");
    assert!(auth.starts_with("Authorization: [REDACTED]"), "{auth}");
    assert_eq!(
        redact("dsn postgres://app:s3cret@db:5432/x"),
        "dsn postgres://app:[REDACTED]@db:5432/x"
    );
    assert_eq!(
        redact("key AKIAABCDEFGHIJKLMNOP here"),
        "key [REDACTED] here"
    );
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----";
    assert_eq!(redact(pem), "[REDACTED]");
    assert!(!redact("jwt eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJSMeKKF2QT4").contains("eyJ"));
}

#[test]
fn leaves_ordinary_text_alone() {
    for s in [
        "GET /hello/world 200 in 3ms (token bucket ok)",
        "open /etc/passwd: permission denied",
        "author: alice",
        "prompt_tokens=26 max_tokens=512",
        "password: ${DB_PASSWORD}",
        "Basic authentication failed",
        "password is required",
        "listening on 127.0.0.1:8080",
        "at blissful_infra::launch::console_loop::run",
    ] {
        assert_eq!(redact(s), s);
    }
}

#[test]
fn redacting_twice_changes_nothing_more() {
    let once = redact("password=x token: y Authorization: Bearer Zz9zZz9zZz9 mail a@b.example");
    assert_eq!(redact(&once), once);
}

#[test]
fn secret_data_is_masked_whatever_the_key() {
    let yaml = "data:\n  host: aG9zdA==\nkind: Secret\nmetadata:\n  name: db\n";
    assert_eq!(
        redact(yaml),
        "data:\n  host: [REDACTED]\nkind: Secret\nmetadata:\n  name: db\n"
    );
    // The same keys in a ConfigMap are kept.
    let cm = "data:\n  host: aG9zdA==\nkind: ConfigMap\n";
    assert_eq!(redact(cm), cm);
    let json = r#"{"kind":"Secret","data":{"host":"aG9zdA=="}}"#;
    assert_eq!(
        redact(json),
        r#"{"kind":"Secret","data":{"host":"[REDACTED]"}}"#
    );
}

#[test]
fn env_entries_named_as_secrets_are_masked() {
    let yaml = "- name: DB_PASSWORD\n  value: hunter2\n- name: LOG_LEVEL\n  value: info";
    assert_eq!(
        redact(yaml),
        "- name: DB_PASSWORD\n  value: [REDACTED]\n- name: LOG_LEVEL\n  value: info"
    );
}
