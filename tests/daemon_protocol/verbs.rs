//! The rollout verbs (deploy, promote, rollback, chaos) from the CLI, waiting
//! for their pipelines and mapping errors to exit codes.

use super::*;

#[tokio::test]
async fn deploy_waits_for_promotion() {
    let h = start(RecordingRuntime::new()).await;
    let rt = h.remote().await;
    let (code, out, err) = run!(OutputMode::Table, |s| commands::deploy(
        &rt,
        &actor(),
        "staging",
        "v2",
        true,
        &mut s
    ));
    assert_eq!(code, exit::OK, "out: {out}\nerr: {err}");
    assert_eq!(out, "promoted v2 in staging\n");
    assert!(
        err.contains("pipeline #1 staging: canary rollout of v2 started (v1 -> v2); waiting"),
        "{err}"
    );
    assert!(err.contains("  [1/2] canary 50%: running\n"), "{err}");
    assert!(
        err.contains("  [1/2] canary 50%: succeeded - analysis passed\n"),
        "{err}"
    );
    assert!(
        err.contains("  analysis after step 1: passed: 4 checks on 400 requests\n"),
        "{err}"
    );
    // The subscription was opened before the deploy, and the actor travelled.
    let calls = h.runtime.calls();
    let sub = calls.iter().position(|c| c == "subscribe").unwrap();
    let dep = calls
        .iter()
        .position(|c| c == "deploy staging v2 by ana/cli")
        .unwrap();
    assert!(sub < dep, "{calls:?}");
}

#[tokio::test]
async fn deploy_that_is_rolled_back_fails_with_the_verdict() {
    let h = start(RecordingRuntime::new()).await;
    let rt = h.remote().await;
    let (code, out, err) = run!(OutputMode::Table, |s| commands::deploy(
        &rt,
        &actor(),
        "staging",
        "bad",
        true,
        &mut s
    ));
    assert_eq!(code, exit::FAILED, "out: {out}\nerr: {err}");
    assert_eq!(
        out,
        "\
bad rolled back in staging: failed: p99 latency 612ms > 500ms (+112ms)
  p99 latency 612ms > 500ms (+112ms)
  canary: 400 requests, 0 errors, p95 80ms, p99 612ms
"
    );
    assert!(
        err.contains("  analysis after step 1: failed: p99 latency 612ms > 500ms (+112ms)"),
        "{err}"
    );
    assert!(err.contains("[1/2] canary 50%: failed (analysis)"), "{err}");
}

#[tokio::test]
async fn deploy_json_report_and_no_wait() {
    let h = start(RecordingRuntime::new()).await;
    let rt = h.remote().await;
    let (code, out, _) = run!(OutputMode::Json, |s| commands::deploy(
        &rt,
        &actor(),
        "prod",
        "bad",
        true,
        &mut s
    ));
    assert_eq!(code, exit::FAILED);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["finished"], true);
    assert_eq!(doc["outcome"]["outcome"], "rolled_back");
    assert_eq!(doc["outcome"]["verdict"]["outcome"], "fail");
    assert_eq!(doc["accepted"]["env"], "prod");
    assert_eq!(doc["verdicts"][0]["step"], 0);
    assert_eq!(doc["pipeline"]["status"]["status"], "failed");

    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cli::cmd_deploy(
        &rt,
        &actor(),
        "prod",
        "v3",
        false,
        OutputMode::Json,
        &mut out,
        &mut err,
    )
    .await;
    let (out, err) = (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    );
    assert_eq!(code, exit::OK, "{err}");
    let accepted: ActionAccepted = serde_json::from_str(&out).unwrap();
    assert_eq!(accepted.to_version, Some(Version::new("v3")));
    assert!(err.is_empty(), "{err}");
}

#[tokio::test]
async fn promote_and_rollback_wait_for_their_pipelines() {
    let h = start(RecordingRuntime::new()).await;
    let rt = h.remote().await;
    let (code, out, err) = run!(OutputMode::Table, |s| commands::promote(
        &rt,
        &actor(),
        "staging",
        "prod",
        true,
        &mut s
    ));
    assert_eq!(code, exit::OK, "{err}");
    assert_eq!(out, "promoted v1 in prod\n");

    // The rollback script sends no RolloutFinished: the pipeline's status decides.
    let (code, out, err) = run!(OutputMode::Table, |s| commands::rollback(
        &rt,
        &actor(),
        "prod",
        true,
        &mut s
    ));
    assert_eq!(code, exit::OK, "{err}");
    assert_eq!(out, "pipeline #2 rollback: succeeded\n");
    assert!(
        err.contains("[1/1] restore: succeeded - v0 serving"),
        "{err}"
    );

    let (code, out, _) = run!(OutputMode::Table, |s| commands::switch_traffic(
        &rt,
        &actor(),
        "prod",
        true,
        &mut s
    ));
    assert_eq!(code, exit::OK);
    assert_eq!(out, "pipeline #3 prod: traffic switched\n");

    let calls = h.runtime.calls();
    assert!(
        calls.contains(&"promote staging prod by ana/cli".to_string()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&"rollback prod by ana/cli".to_string()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&"switch prod true by ana/cli".to_string()),
        "{calls:?}"
    );
}

#[tokio::test]
async fn errors_map_to_exit_codes() {
    let h = start(RecordingRuntime::new()).await;
    let rt = h.remote().await;
    let (code, out, err) = run!(OutputMode::Table, |s| commands::deploy(
        &rt,
        &actor(),
        "qa",
        "v2",
        true,
        &mut s
    ));
    assert_eq!(code, exit::REFUSED);
    assert!(out.is_empty(), "{out}");
    assert_eq!(
        err,
        "error: unknown environment `qa`\nknown environments: staging, prod\n"
    );

    let (code, out, _) = run!(OutputMode::Json, |s| commands::rollback(
        &rt,
        &actor(),
        "qa",
        false,
        &mut s
    ));
    assert_eq!(code, exit::REFUSED);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["error"]["kind"], "unknown_environment");
    assert_eq!(doc["error"]["message"], "qa");

    let (code, _, err) = run!(OutputMode::Table, |s| commands::undo(
        &rt,
        &actor(),
        "nope",
        &mut s
    ));
    assert_eq!(code, exit::REFUSED);
    assert_eq!(err, "error: not found: experiment nope\n");

    let logs = LogsOptions {
        env: Some("qa".into()),
        tail: 10,
        ..LogsOptions::default()
    };
    let (code, _, err) = run!(OutputMode::Table, |s| commands::logs(&rt, &logs, &mut s));
    assert_eq!(code, exit::REFUSED);
    assert_eq!(
        err,
        "error: unknown environment `qa`\nknown environments: staging, prod\n"
    );

    let ro = start(RecordingRuntime::read_only()).await;
    let rt = ro.remote().await;
    let (code, _, err) = run!(OutputMode::Table, |s| commands::deploy(
        &rt,
        &actor(),
        "staging",
        "v2",
        true,
        &mut s
    ));
    assert_eq!(code, exit::REFUSED);
    assert_eq!(err, "error: read-only mode: deploy is not allowed\n");
    let (code, _, _) = run!(OutputMode::Table, |s| commands::chaos(
        &rt,
        &actor(),
        "staging",
        ScenarioKind::PodKill,
        FaultParams::default(),
        true,
        &mut s
    ));
    assert_eq!(code, exit::REFUSED);
}

#[tokio::test]
async fn chaos_waits_for_the_experiment_result() {
    let h = start(RecordingRuntime::new()).await;
    let rt = h.remote().await;
    let params = FaultParams {
        rate: 0.3,
        ..FaultParams::default()
    };
    let (code, out, err) = run!(OutputMode::Table, |s| commands::chaos(
        &rt,
        &actor(),
        "staging",
        ScenarioKind::ErrorInjection,
        params,
        true,
        &mut s
    ));
    assert_eq!(code, exit::OK, "{err}");
    assert_eq!(
        out,
        "\
ID     ENV      SCENARIO         STATE      RESULT     DETECTION  RECOVERY  PEAK ERR  PEAK P99  FAILED
exp-1  staging  error-injection  completed  resilient  800ms      1500ms    30.0%     0ms       40
"
    );
    assert!(
        err.contains("started error-injection on staging as exp-1"),
        "{err}"
    );
    assert!(
        err.contains("  exp-1 error-injection: recovering (impact detected after 800ms"),
        "{err}"
    );

    let never = FaultParams {
        rate: 0.95,
        ..FaultParams::default()
    };
    let (code, out, _) = run!(OutputMode::Json, |s| commands::chaos(
        &rt,
        &actor(),
        "prod",
        ScenarioKind::ConnectionDrop,
        never,
        true,
        &mut s
    ));
    assert_eq!(code, exit::FAILED);
    let x: Experiment = serde_json::from_str(&out).unwrap();
    assert_eq!(x.result, Some(ExperimentResult::NotRecovered));
    assert_eq!(x.id, "exp-2");
}
