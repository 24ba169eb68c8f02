//! Failure drill: two consoles on one daemon. Both see the same state, and
//! when both promote at once the promotions are serialised: one goes
//! through, the other is refused with the first one's result. Checked over
//! the real control socket with two clients, and with two real consoles in
//! tmux. (Two `up`s on one state directory: tests/state_lock.rs.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::time::{Duration, Instant};

use blissful_infra::daemon::RemoteRuntime;
use blissful_infra::domain::pipeline::PipelineKind;
use blissful_infra::paths::StatePaths;
use blissful_infra::runtime::{Actor, Runtime, RuntimeError};
use support::daemon::{Daemon, BIN};
use support::project::sandbox_config;
use support::tmux::TmuxSession;

/// Staging runs v2 and production v1, so promoting staging starts a canary
/// of v2 in production that holds its first step for two minutes.
fn config() -> String {
    sandbox_config(
        "twins",
        &[("staging", Some("v2")), ("production", None)],
        5,
        120,
    )
}

const LONG: Duration = Duration::from_secs(60);

fn actor(user: &str) -> Actor {
    Actor {
        user: user.into(),
        via: "console".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_promoting_at_once_are_serialised_and_the_second_gets_the_first_ones_result() {
    let daemon = Daemon::up(&config());
    daemon.wait_ready();
    let socket = StatePaths::at(daemon.state()).control_socket();
    let a = RemoteRuntime::connect(&socket).await.unwrap();
    let b = RemoteRuntime::connect(&socket).await.unwrap();
    let (alice, bob) = (actor("alice"), actor("bob"));
    let (ra, rb) = tokio::join!(
        a.promote(&alice, "staging", "production"),
        b.promote(&bob, "staging", "production")
    );
    let (winner, accepted, refused) = match (ra, rb) {
        (Ok(acc), Err(e)) => ("alice", acc, e),
        (Err(e), Ok(acc)) => ("bob", acc, e),
        other => panic!("exactly one promote goes through: {other:?}"),
    };
    assert!(
        accepted
            .message
            .starts_with("promote v2 from staging to production"),
        "{accepted:?}"
    );
    assert_eq!(
        refused,
        RuntimeError::Refused(format!(
            "promote already done by {winner} via console: {}",
            accepted.message
        ))
    );

    // Both clients see the same state: one canary of v2 in production.
    let (sa, sb) = (a.status().await.unwrap(), b.status().await.unwrap());
    assert_eq!(
        sa.iter().map(|e| &e.traffic).collect::<Vec<_>>(),
        sb.iter().map(|e| &e.traffic).collect::<Vec<_>>()
    );
    let prod = sa.iter().find(|e| e.name == "production").unwrap();
    assert_eq!(
        prod.traffic.canary.as_ref().map(|v| v.0.as_str()),
        Some("v2")
    );
    let promotions: Vec<u64> = a
        .history()
        .await
        .unwrap()
        .pipelines
        .iter()
        .filter(|p| p.kind == PipelineKind::Promotion)
        .map(|p| p.id)
        .collect();
    assert_eq!(promotions, [accepted.pipeline_id]);
}

/// An attached console in its own tmux server.
fn console(d: &Daemon) -> TmuxSession {
    TmuxSession::start(
        120,
        40,
        &format!(
            "cd {} && BLISSFUL_INFRA_STATE_DIR={} TERM=xterm-256color exec {BIN}",
            d.path().display(),
            d.state().display()
        ),
    )
}

/// The Environments pane's row of `env`, from its name to its health.
fn env_row(screen: &str, env: &str) -> String {
    let row = screen
        .lines()
        .find(|l| l.contains(env) && (l.contains("Healthy") || l.contains("Progressing")))
        .unwrap_or("");
    let start = row.find(env).unwrap_or(0);
    let end = ["Healthy", "Progressing"]
        .iter()
        .filter_map(|h| row.find(h).map(|i| i + h.len()))
        .max()
        .unwrap_or(row.len());
    row[start..end.max(start)].to_string()
}

#[test]
fn two_consoles_on_one_daemon_show_the_same_state_and_only_one_promote_goes_through() {
    let daemon = Daemon::up(&config());
    daemon.wait_ready();
    let one = console(&daemon);
    let two = console(&daemon);
    let ready = |s: &str| {
        env_row(s, "staging").contains("v2")
            && env_row(s, "staging").contains("Healthy")
            && env_row(s, "production").contains("v1")
            && env_row(s, "production").contains("Healthy")
    };
    let s1 = one.wait_for("console one", LONG, ready);
    let s2 = two.wait_for("console two", LONG, ready);
    for env in ["staging", "production"] {
        assert_eq!(env_row(&s1, env), env_row(&s2, env), "{env}:\n{s1}\n{s2}");
    }

    // Both ask to promote staging (selected first) to production...
    for t in [&one, &two] {
        t.keys(&["p"]);
        t.wait_for("the promote confirmation", LONG, |s| {
            s.contains("Promote v2 from staging to production")
        });
    }
    // ...and confirm at the same moment.
    for t in [&one, &two] {
        let out = t.cmd(&["send-keys", "-t", &t.name, "y"]);
        assert!(out.status.success(), "{out:?}");
    }
    let deadline = Instant::now() + LONG;
    let refused_on = loop {
        let (a, b) = (one.screen(), two.screen());
        if let Some(s) = [a, b]
            .into_iter()
            .find(|s| s.contains("refused: promote already done by"))
        {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "no refusal shown:\n{}\n{}",
            one.screen(),
            two.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(refused_on.contains("via console"), "{refused_on}");

    // Both show the one canary of v2 in production.
    let progressing = |s: &str| {
        let row = env_row(s, "production");
        row.contains("v2") && row.contains("Progressing")
    };
    let s1 = one.wait_for("the canary in console one", LONG, progressing);
    let s2 = two.wait_for("the canary in console two", LONG, progressing);
    assert_eq!(env_row(&s1, "production"), env_row(&s2, "production"));

    // The journal: one promote accepted, one refused with its result.
    let audit = std::fs::read_to_string(daemon.state().join("audit.jsonl")).unwrap_or_default();
    let promotes: Vec<serde_json::Value> = audit
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &serde_json::Value| e["action"] == "promote")
        // Each change is first written ahead as `requested`.
        .filter(|e: &serde_json::Value| e["outcome"] != "requested")
        .collect();
    assert_eq!(promotes.len(), 2, "{audit}");
    let accepted = promotes
        .iter()
        .filter(|e| e["outcome"] == "accepted")
        .count();
    assert_eq!(accepted, 1, "{audit}");
    assert!(
        promotes.iter().any(|e| e["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("refused: ")
                && o.contains("promote already done by")
                && o.contains("promote v2 from staging to production (pipeline #"))),
        "{audit}"
    );
}
