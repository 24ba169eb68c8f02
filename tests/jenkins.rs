//! The Jenkins source and `jenkins` commands against a fake Jenkins
//! (tests/support/fake_jenkins.rs): Jenkins cannot run on the test machines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::time::Duration;

use blissful_infra::cli::commands::Streams;
use blissful_infra::cli::confirm::Prompt;
use blissful_infra::cli::jenkins::{run, JenkinsCmd, TriggerContext};
use blissful_infra::cli::OutputMode;
use blissful_infra::config::JenkinsConfig;
use blissful_infra::runtime::{read_audit_journal, SourceState};
use blissful_infra::sources::jenkins::{
    spawn_run_watch, JenkinsClient, JenkinsError, JenkinsEvent, Status, WatchOptions,
};
use support::fake_jenkins::{self, FakeJenkins, TOKEN, USER};
use tokio::sync::mpsc;

const TOKEN_ENV: &str = "FAKE_JENKINS_TOKEN";

fn config(url: &str, job: &str) -> JenkinsConfig {
    JenkinsConfig {
        url: url.into(),
        job: job.into(),
        user: USER.into(),
        token_env: TOKEN_ENV.into(),
    }
}

fn client(fake: &FakeJenkins) -> JenkinsClient {
    JenkinsClient::with_token(&config(&fake.url(), "shop"), Some(TOKEN.into())).unwrap()
}

fn fast() -> WatchOptions {
    WatchOptions {
        interval: Duration::from_millis(10),
        ..WatchOptions::default()
    }
}

/// The next event the predicate accepts; every event read is kept in `seen`.
async fn next_matching(
    rx: &mut mpsc::Receiver<JenkinsEvent>,
    seen: &mut Vec<JenkinsEvent>,
    want: impl Fn(&JenkinsEvent) -> bool,
) -> JenkinsEvent {
    let got = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let ev = rx.recv().await.expect("watch ended early");
            seen.push(ev.clone());
            if want(&ev) {
                return ev;
            }
        }
    })
    .await;
    match got {
        Ok(ev) => ev,
        Err(_) => panic!("no such event within a minute; seen: {seen:#?}"),
    }
}

fn console_lines(events: &[JenkinsEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            JenkinsEvent::Console(l) => Some(l.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_and_stages_are_mapped() {
    let fake = FakeJenkins::start().await;
    let c = client(&fake);
    let runs = c.runs().await.unwrap();
    assert_eq!(runs.iter().map(|r| r.number).collect::<Vec<_>>(), [12, 11]);
    assert_eq!(runs[0].status, Status::InProgress);
    let failed = c.run(11).await.unwrap();
    let stages: Vec<(&str, &Status)> = failed
        .stages
        .iter()
        .map(|s| (s.name.as_str(), &s.status))
        .collect();
    assert_eq!(
        stages,
        [
            ("Build", &Status::Success),
            ("Test", &Status::Failed),
            ("Deploy", &Status::NotExecuted)
        ]
    );
    assert_eq!(failed.stages[1].duration_ms, 54_000);
    let b = c.build(12).await.unwrap();
    assert!(b.building);
    assert_eq!(b.result, None);
    assert_eq!(b.params[0].name, "ENV");
    assert_eq!(b.params[0].value, "staging");
    assert_eq!(
        c.build(11).await.unwrap().result.as_deref(),
        Some("FAILURE")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_answer_is_a_304_and_the_body_is_reused() {
    let fake = FakeJenkins::start().await;
    let c = client(&fake);
    let first = c.runs().await.unwrap();
    assert_eq!(c.not_modified(), 0);
    let again = c.runs().await.unwrap();
    assert_eq!(first, again);
    assert_eq!(c.not_modified(), 1);
    assert_eq!(fake.not_modified(), 1);
    // A change is a new body, not the cached one.
    fake.set_json(
        "/job/shop/12/wfapi/describe",
        fake_jenkins::DESCRIBE_12_DONE,
    );
    assert_eq!(c.run(12).await.unwrap().status, Status::Success);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_build_progresses_and_its_console_is_followed_once() {
    let fake = FakeJenkins::start().await;
    let first_text = b"Started by user ci\n[Pipeline] stage\n+ make te";
    fake.set_console(12, first_text, true);
    let (tx, mut rx) = mpsc::channel(64);
    let task = spawn_run_watch(client(&fake), 12, fast(), tx);
    let mut seen = Vec::new();
    let ev = next_matching(&mut rx, &mut seen, |e| matches!(e, JenkinsEvent::Run(_))).await;
    let JenkinsEvent::Run(first) = ev else {
        unreachable!()
    };
    assert_eq!(first.stages[1].status, Status::InProgress);
    assert_eq!(first.stages.len(), 2);
    // Polls of an unchanged run are 304s and send nothing new.
    tokio::time::timeout(Duration::from_secs(60), async {
        while fake.not_modified() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("no conditional poll");
    fake.append_console(12, b"st\nok 12 tests\n", true);
    let _ = next_matching(
        &mut rx,
        &mut seen,
        |e| matches!(e, JenkinsEvent::Console(l) if l.iter().any(|l| l == "ok 12 tests")),
    )
    .await;
    fake.append_console(12, b"[Pipeline] stage (Deploy)\nFinished: SUCCESS", false);
    fake.set_json(
        "/job/shop/12/wfapi/describe",
        fake_jenkins::DESCRIBE_12_DONE,
    );
    let _ = next_matching(&mut rx, &mut seen, |e| matches!(e, JenkinsEvent::Finished)).await;
    let runs: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            JenkinsEvent::Run(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(runs.len(), 2, "a run view for each change only");
    assert_eq!(runs[1].status, Status::Success);
    assert_eq!(runs[1].stages.len(), 3);
    assert_eq!(runs[1].stages[2].name, "Deploy");
    assert_eq!(
        console_lines(&seen),
        [
            "Started by user ci",
            "[Pipeline] stage",
            "+ make test",
            "ok 12 tests",
            "[Pipeline] stage (Deploy)",
            "Finished: SUCCESS"
        ]
    );
    task.await.unwrap();
    let resumed = format!("progressiveText?start={}", first_text.len());
    assert!(
        fake.requests().iter().any(|(_, u)| u.ends_with(&resumed)),
        "reads go on from X-Text-Size: {:?}",
        fake.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failure_is_named_with_what_to_do() {
    let fake = FakeJenkins::start().await;
    // 404: the job, named with its URL.
    let nope =
        JenkinsClient::with_token(&config(&fake.url(), "team/nope"), Some(TOKEN.into())).unwrap();
    let e = nope.runs().await.unwrap_err();
    assert!(matches!(e, JenkinsError::JobNotFound { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("`team/nope`"), "{text}");
    assert!(
        text.contains(&format!("{}/job/team/job/nope/", fake.url())),
        "{text}"
    );
    // 404 of a build in a job that exists.
    let e = client(&fake).run(99).await.unwrap_err();
    assert!(
        matches!(e, JenkinsError::BuildNotFound { number: 99, .. }),
        "{e:?}"
    );
    // 401: the variable is named, the token never shown.
    let wrong =
        JenkinsClient::with_token(&config(&fake.url(), "shop"), Some("not-it".into())).unwrap();
    let e = wrong.runs().await.unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, JenkinsError::Unauthorized { .. }), "{e:?}");
    assert!(
        text.contains(TOKEN_ENV) && text.contains("HTTP 401"),
        "{text}"
    );
    assert!(!text.contains("not-it"), "{text}");
    fake.set_401(true);
    assert!(matches!(
        client(&fake).build(12).await.unwrap_err(),
        JenkinsError::Unauthorized { .. }
    ));
    fake.set_401(false);
    assert!(client(&fake).build(12).await.is_ok());
    // 403 without a crumb in sight: a permission.
    fake.set_forbidden(true);
    let e = client(&fake).runs().await.unwrap_err();
    assert!(matches!(e, JenkinsError::Forbidden { .. }), "{e:?}");
    assert!(e.to_string().contains("Job/Read"), "{e}");
    fake.set_forbidden(false);
    // The job is there but the Stage View plugin is not.
    fake.remove_json("/job/shop/wfapi/runs");
    let e = client(&fake).runs().await.unwrap_err();
    assert!(matches!(e, JenkinsError::NoStageView { .. }), "{e:?}");
    assert!(e.to_string().contains("pipeline-stage-view"), "{e}");
    // The token is never in a debug print.
    assert!(!format!("{:?}", client(&fake)).contains(TOKEN));
    // No token in the environment.
    let mut cfg = config(&fake.url(), "shop");
    cfg.token_env = "BLISSFUL_JENKINS_TEST_TOKEN_NEVER_SET".into();
    let e = JenkinsClient::new(&cfg).unwrap_err();
    assert!(
        e.to_string()
            .contains("BLISSFUL_JENKINS_TEST_TOKEN_NEVER_SET"),
        "{e}"
    );
    // Unreachable: the port refuses.
    fake.stop().await;
    let e = client(&fake).runs().await.unwrap_err();
    assert!(matches!(e, JenkinsError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("cannot reach Jenkins at"), "{e}");
    assert!(e.to_string().contains(&fake.url()), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_then_up_recovers_without_a_restart() {
    let fake = FakeJenkins::start().await;
    let (tx, mut rx) = mpsc::channel(64);
    let task = spawn_run_watch(client(&fake), 12, fast(), tx);
    let mut seen = Vec::new();
    let _ = next_matching(&mut rx, &mut seen, |e| {
        matches!(e, JenkinsEvent::State(SourceState::Ok))
    })
    .await;
    fake.stop().await;
    let failed = next_matching(&mut rx, &mut seen, |e| matches!(e, JenkinsEvent::Failed(_))).await;
    assert!(
        matches!(
            failed,
            JenkinsEvent::Failed(JenkinsError::Unreachable { .. })
        ),
        "{failed:?}"
    );
    let degraded = next_matching(&mut rx, &mut seen, |e| {
        matches!(e, JenkinsEvent::State(SourceState::Degraded(_)))
    })
    .await;
    let JenkinsEvent::State(SourceState::Degraded(why)) = degraded else {
        unreachable!()
    };
    assert!(
        why.contains("cannot reach Jenkins") && why.contains("retry in"),
        "{why}"
    );
    fake.append_console(12, b"after the outage\n", true);
    fake.restart().await;
    // The text written meanwhile arrives, then the state is Ok again.
    let _ = next_matching(
        &mut rx,
        &mut seen,
        |e| matches!(e, JenkinsEvent::Console(l) if l.iter().any(|l| l == "after the outage")),
    )
    .await;
    let _ = next_matching(&mut rx, &mut seen, |e| {
        matches!(e, JenkinsEvent::State(SourceState::Ok))
    })
    .await;
    let lines = console_lines(&seen);
    assert_eq!(
        lines,
        ["Started by user ci", "[Pipeline] stage", "after the outage"],
        "nothing twice"
    );
    task.abort();
}

fn ctx(dir: &std::path::Path, read_only: bool) -> TriggerContext {
    TriggerContext {
        read_only,
        audit_journal: dir.join("audit.jsonl"),
        user: "tester".into(),
    }
}

/// Run one command in-process; (exit code, stdout, stderr).
async fn cli(
    c: &JenkinsClient,
    cmd: JenkinsCmd,
    ctx: &TriggerContext,
    mode: OutputMode,
) -> (i32, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut input: &[u8] = b"";
    let mut prompt = Prompt {
        input: &mut input,
        interactive: false,
    };
    let code = {
        let mut s = Streams::new(mode, &mut out, &mut err);
        run(&cmd, c, ctx, &mut prompt, &mut s).await
    };
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn trigger(params: &[(&str, &str)], yes: bool) -> JenkinsCmd {
    JenkinsCmd::Trigger {
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        confirm: blissful_infra::cli::args::ConfirmArgs { yes },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_sends_the_crumb_and_parameters_once_confirmed() {
    let fake = FakeJenkins::start().await;
    let dir = tempfile::tempdir().unwrap();
    let c = client(&fake);
    // Not confirmed (no terminal, no --yes): nothing is sent.
    let (code, _, err) = cli(
        &c,
        trigger(&[("ENV", "staging")], false),
        &ctx(dir.path(), false),
        OutputMode::Table,
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--yes"), "{err}");
    // Read-only: refused, nothing sent, the refusal journalled.
    let (code, _, err) = cli(
        &c,
        trigger(&[("ENV", "staging")], true),
        &ctx(dir.path(), true),
        OutputMode::Table,
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("read-only"), "{err}");
    assert!(fake.triggered().is_empty());
    // Confirmed: the crumb and the parameters go out.
    let (code, out, err) = cli(
        &c,
        trigger(&[("ENV", "staging"), ("NOTE", "a b&c=d")], true),
        &ctx(dir.path(), false),
        OutputMode::Json,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["location"], format!("{}/queue/item/42/", fake.url()));
    assert_eq!(doc["queue_id"], 42);
    let t = fake.triggered();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].verb, "buildWithParameters");
    assert_eq!(t[0].crumb.as_deref(), Some(fake_jenkins::CRUMB_VALUE));
    assert_eq!(
        t[0].params,
        [
            ("ENV".to_string(), "staging".to_string()),
            ("NOTE".to_string(), "a b&c=d".to_string())
        ]
    );
    // Without parameters: `build`; without crumbs issued: no crumb.
    fake.set_crumbs(false);
    let (code, out, _) = cli(
        &c,
        trigger(&[], true),
        &ctx(dir.path(), false),
        OutputMode::Table,
    )
    .await;
    assert_eq!(code, 0);
    assert!(out.contains("/queue/item/43/"), "{out}");
    assert_eq!(fake.triggered()[1].verb, "build");
    assert_eq!(fake.triggered()[1].crumb, None);
    let journal = read_audit_journal(&dir.path().join("audit.jsonl")).unwrap();
    let outcomes: Vec<&str> = journal.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(
        outcomes[1..],
        ["requested", "accepted", "requested", "accepted"]
    );
    assert!(outcomes[0].starts_with("refused"), "{outcomes:?}");
    assert!(journal
        .iter()
        .all(|e| e.action == "jenkins trigger" && e.env == "jenkins:shop"));
    assert!(
        journal[2].detail.contains("/queue/item/42/"),
        "{:?}",
        journal[2]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crumb_refused_is_named() {
    let fake = FakeJenkins::start().await;
    // Jenkins demands a crumb but its issuer does not answer.
    fake.set_issuer_hidden(true);
    let e = client(&fake).trigger(&[]).await.unwrap_err();
    assert!(matches!(e, JenkinsError::Crumb { .. }), "{e:?}");
    assert!(e.to_string().contains("HTTP 403"), "{e}");
    assert!(fake.triggered().is_empty());
}

fn hostile_describe() -> String {
    serde_json::json!({
        "id": "13", "name": "#13\u{1b}]0;owned\u{7}", "status": "FAILED",
        "startTimeMillis": 1, "durationMillis": 2000,
        "stages": [
            {"id": "6", "name": "Build\u{1b}[2J\u{1b}[31m\u{9b}31m\r\u{8}evil", "status": "FAILED\u{1b}[5m",
             "startTimeMillis": 1, "durationMillis": 1000}
        ]
    })
    .to_string()
}

fn assert_clean(text: &str) {
    for c in text.chars() {
        assert!(
            c == '\n' || !c.is_control(),
            "control U+{:04X} reached output: {text:?}",
            c as u32
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bytes_from_jenkins_never_reach_output() {
    let fake = FakeJenkins::start().await;
    fake.set_json("/job/shop/13/wfapi/describe", &hostile_describe());
    fake.set_json(
        "/job/shop/13/api/json",
        &serde_json::json!({"number": 13, "result": "FAILURE\u{1b}[8m", "building": false,
            "actions": [{"parameters": [{"name": "X\u{1b}[1A", "value": "\u{7}\u{1b}]52;c;aGk=\u{7}"}]}]})
        .to_string(),
    );
    fake.set_console(
        13,
        b"\x1b[8mha:////4AAAAB+LCAAAAAAAAP9b\x1b[0mplain\n\x1b]0;title\x07\x1b[2Jcleared\r\n\x9b31mc1\x00nul\n",
        false,
    );
    let dir = tempfile::tempdir().unwrap();
    let c = client(&fake);
    for mode in [OutputMode::Table, OutputMode::Json] {
        for cmd in [
            JenkinsCmd::Show { number: 13 },
            JenkinsCmd::Logs {
                number: 13,
                follow: false,
                tail: 10,
                interval_ms: 10,
            },
            JenkinsCmd::Logs {
                number: 13,
                follow: true,
                tail: 10,
                interval_ms: 10,
            },
        ] {
            let (code, out, err) = cli(&c, cmd, &ctx(dir.path(), false), mode).await;
            assert_eq!(code, 0, "{err}");
            assert_clean(&out);
            assert_clean(&err);
            assert!(out.contains("evil") || out.contains("plain"), "{out}");
            assert!(!out.contains("ha:////"), "{out}");
        }
    }
}
