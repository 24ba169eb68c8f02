//! `blissful-infra jenkins …` run as a process against a fake Jenkins
//! (tests/support/fake_jenkins.rs): config, token variable, exit codes,
//! read-only and the audit journal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use blissful_infra::runtime::read_audit_journal;
use support::fake_jenkins::{FakeJenkins, TOKEN, USER};

const TOKEN_ENV: &str = "FAKE_JENKINS_TOKEN";
const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");

/// The binary, with the config in `dir` and the token in its environment.
async fn bin(dir: &std::path::Path, token: &str, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(BIN)
        .args([
            "--config",
            dir.join("blissful-infra.yaml").to_str().unwrap(),
        ])
        .args(args)
        .env("BLISSFUL_INFRA_STATE_DIR", dir.join("state"))
        .env(TOKEN_ENV, token)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commands_work_from_the_binary() {
    let fake = FakeJenkins::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("blissful-infra.yaml"),
        format!(
            "project: shop\njenkins:\n  url: {}\n  job: shop\n  user: {USER}\n  token_env: {TOKEN_ENV}\n",
            fake.url()
        ),
    )
    .unwrap();
    let (code, out, err) = bin(dir.path(), TOKEN, &["jenkins", "runs", "-o", "json"]).await;
    assert_eq!(code, 0, "{err}");
    let runs: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(runs[1]["stages"][1]["status"], "FAILED");
    let (code, out, err) = bin(dir.path(), TOKEN, &["jenkins", "show", "11"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Test") && out.contains("FAILED") && out.contains("54s"),
        "{out}"
    );
    assert!(out.contains("ENV = staging"), "{out}");
    let (code, out, _) = bin(dir.path(), TOKEN, &["jenkins", "logs", "11"]).await;
    assert_eq!(code, 0);
    assert!(
        out.ends_with("FAIL: test_checkout\nFinished: FAILURE\n"),
        "{out}"
    );
    // 401 from the binary: exit 2, the variable named, the token not.
    let (code, _, err) = bin(
        dir.path(),
        "wrong-token",
        &["jenkins", "logs", "12", "--follow"],
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(TOKEN_ENV) && !err.contains("wrong-token"),
        "{err}"
    );
    // Trigger: refused without --yes, refused read-only, then sent.
    let (code, _, err) = bin(
        dir.path(),
        TOKEN,
        &["jenkins", "trigger", "--param", "ENV=qa"],
    )
    .await;
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = bin(
        dir.path(),
        TOKEN,
        &[
            "--read-only",
            "jenkins",
            "trigger",
            "--param",
            "ENV=qa",
            "--yes",
        ],
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(fake.triggered().is_empty());
    let (code, out, err) = bin(
        dir.path(),
        TOKEN,
        &["jenkins", "trigger", "--param", "ENV=qa", "--yes"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("/queue/item/42/"), "{out}");
    assert_eq!(
        fake.triggered()[0].params,
        [("ENV".to_string(), "qa".to_string())]
    );
    let journal = read_audit_journal(&dir.path().join("state").join("audit.jsonl")).unwrap();
    assert_eq!(journal.last().unwrap().outcome, "accepted");
    // A wrong key in the section: file, line and field.
    std::fs::write(
        dir.path().join("blissful-infra.yaml"),
        format!(
            "project: shop\njenkins:\n  url: {}\n  jobb: shop\n",
            fake.url()
        ),
    )
    .unwrap();
    let (code, _, err) = bin(dir.path(), TOKEN, &["jenkins", "runs"]).await;
    assert_ne!(code, 0);
    assert!(
        err.contains("blissful-infra.yaml:4") && err.contains("jobb"),
        "{err}"
    );
}
