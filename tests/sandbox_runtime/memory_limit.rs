//! memory-pressure on the sandbox puts the instances under a real cgroup
//! memory limit: a leaking instance reaches it and is OOM-killed, the
//! kernel's counts are reported on undo, and the cgroup is gone afterwards.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaking_instance_hits_the_memory_limit_and_recovers_after_undo() {
    let mut cfg = config(1, &[(100, 1)]);
    // 15 MiB/s: the headroom the limit leaves is used up within a second.
    cfg.service
        .versions
        .entry("v1".into())
        .or_default()
        .memory_growth_mib_per_min = 900.0;
    let sb = start(cfg, false).await;
    let rt = &*sb.rt;
    let before = wait_healthy(rt).await;
    let params = FaultParams {
        duration_secs: 60,
        memory_mib: 64,
        ..FaultParams::default()
    };
    let injected = rt
        .inject(&actor(), ENV, ScenarioKind::MemoryPressure, params)
        .await;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        let err = injected.unwrap_err().to_string();
        assert!(err.contains("needs root"), "{err}");
        rt.shutdown().await;
        return;
    }
    let exp = injected.unwrap();
    let records = fault_records(&sb.state.fault_journal());
    let cgroup = records[0]
        .undo
        .iter()
        .find_map(SandboxUndo::cgroup)
        .expect("the cgroup is journalled");
    // The instance was moved into the fault's cgroup.
    let old_pid = before.instances[0].pid().unwrap();
    let procs = std::fs::read_to_string(cgroup.dir.join("cgroup.procs")).unwrap_or_default();
    assert!(
        procs.split_whitespace().any(|p| p == old_pid.to_string()) || !pid_alive(old_pid),
        "instance {old_pid} not in {}: {procs}",
        cgroup.dir.display()
    );
    // The leak reaches the limit: the kernel ends the instance, the
    // supervisor starts it again.
    let s = wait_status(
        rt,
        "an OOM-killed instance restarted",
        Duration::from_secs(30),
        |s| s.instances.iter().any(|i| i.restarts >= 1),
    )
    .await;
    assert_ne!(s.instances[0].pid(), Some(old_pid));
    rt.undo(&actor(), &exp.id).await.unwrap();
    let logs = rt.recent_logs(Some(ENV), 200).await.unwrap();
    let line = logs
        .iter()
        .find(|l| l.text.contains("memory limit of"))
        .unwrap_or_else(|| panic!("no limit report in {logs:#?}"))
        .text
        .clone();
    let count = |after: &str, before: &str| -> u64 {
        let rest = &line[line.find(after).unwrap() + after.len()..];
        rest[..rest.find(before).unwrap()].trim().parse().unwrap()
    };
    assert!(count(" reached ", " time(s)") > 0, "{line}");
    assert!(count("time(s), ", " process(es) OOM-killed") >= 1, "{line}");
    assert!(
        !cgroup.dir.exists(),
        "{} outlived the fault",
        cgroup.dir.display()
    );
    assert!(fault_records(&sb.state.fault_journal()).is_empty());
    rt.shutdown().await;
}
