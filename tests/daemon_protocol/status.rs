//! Status and history over the socket and the `status` command.

use super::*;

#[tokio::test]
async fn status_round_trips_and_socket_is_private() {
    let h = start(RecordingRuntime::new()).await;
    let mode = std::fs::metadata(&h.path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "socket mode {mode:o}");

    let remote = RemoteRuntime::connect(&h.path).await.unwrap();
    let info = remote.ping().await.unwrap();
    assert_eq!(info.pid, std::process::id());
    assert_eq!(info.runtime, "recording");
    assert_eq!(info.project, "demo");
    assert_eq!(info.v, 1);
    assert!(info.started_at > 1_600_000_000_000);
    assert_eq!(remote.name(), "recording");
    assert!(is_running(&h.path).await);

    assert_eq!(remote.status().await.unwrap(), sample_envs());
    assert_eq!(
        remote.recent_logs(Some("prod"), 10).await.unwrap(),
        vec![sample_logs()[1].clone()]
    );
    assert!(remote.history().await.unwrap().pipelines.is_empty());
}

#[tokio::test]
async fn history_verdicts_keep_their_step_over_the_socket() {
    let runtime = RecordingRuntime::new();
    runtime.history.lock().unwrap().verdicts = vec![
        RecordedVerdict {
            env: "staging".into(),
            step: 3,
            verdict: verdict(90.0),
        },
        RecordedVerdict {
            env: "prod".into(),
            step: 1,
            verdict: verdict(2_000.0),
        },
    ];
    let h = start(runtime).await;
    let remote = h.remote().await;
    let got = remote.history().await.unwrap().verdicts;
    let steps: Vec<(&str, usize)> = got.iter().map(|v| (v.env.as_str(), v.step)).collect();
    assert_eq!(steps, vec![("staging", 3), ("prod", 1)]);
    assert_eq!(got, h.runtime.history.lock().unwrap().verdicts);
}

#[test]
fn a_verdict_from_an_older_daemon_reads_as_step_zero() {
    // Older daemons sent each verdict as an `[env, verdict]` pair.
    let old = serde_json::json!({
        "pipelines": [],
        "experiments": [],
        "verdicts": [["staging", verdict(90.0)]],
    });
    let h: History = serde_json::from_value(old).unwrap();
    assert_eq!(h.verdicts.len(), 1);
    assert_eq!(h.verdicts[0].env, "staging");
    assert_eq!(h.verdicts[0].step, 0);
    assert_eq!(h.verdicts[0].verdict, verdict(90.0));
}

#[tokio::test]
async fn status_command_prints_a_table_or_json() {
    let h = start(RecordingRuntime::new()).await;
    let rt = h.remote().await;
    let (code, out, err) = run!(OutputMode::Table, |s| commands::status(&rt, &mut s));
    assert_eq!(code, exit::OK, "{err}");
    assert_eq!(
        out,
        "\
ENV      STABLE  CANARY  WEIGHT  STEP  HEALTH   READY  RESTARTS  ROUTER           METRICS          FAULTS
staging  v1      -       -       -     Healthy  2/2    1         127.0.0.1:41000  127.0.0.1:41001  -
prod     v1      -       -       -     Healthy  2/2    0         127.0.0.1:42000  127.0.0.1:42001  -

runtime recording (driven) · offers: deploy, undo, switch · not offered: promote, promote --full, pause, resume, abort, retry, restart
"
    );
    // The table as `status_table` draws it, then what the runtime offers.
    assert!(out.starts_with(&status_table(&sample_envs())), "{out}");

    // The positional entry point `main` calls prints the same.
    let mut buf = Vec::new();
    assert_eq!(
        cli::cmd_status(&rt, OutputMode::Table, &mut buf).await,
        exit::OK
    );
    assert_eq!(String::from_utf8(buf).unwrap(), out);

    let (code, out, _) = run!(OutputMode::Json, |s| commands::status(&rt, &mut s));
    assert_eq!(code, exit::OK);
    let back: Vec<EnvironmentStatus> = serde_json::from_str(&out).unwrap();
    assert_eq!(back, sample_envs());
    assert!(
        out.starts_with("[\n  {\n    \"name\": \"staging\""),
        "{out}"
    );
}
