use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn collect_until(
    rx: &mut mpsc::Receiver<InstanceUpdate>,
    deadline: Duration,
    mut pred: impl FnMut(&InstanceUpdate) -> bool,
) -> Vec<InstanceUpdate> {
    let mut seen = Vec::new();
    let _ = tokio::time::timeout(deadline, async {
        while let Some(u) = rx.recv().await {
            let done = pred(&u);
            seen.push(u);
            if done {
                break;
            }
        }
    })
    .await;
    seen
}

fn shell_spec(command: &str, token: u64) -> InstanceSpec {
    InstanceSpec {
        env: "test".into(),
        version: "v1".into(),
        id: "test-v1-1".into(),
        token,
        launch: Launch::Shell {
            command: command.into(),
            cwd: std::env::temp_dir(),
        },
        env_vars: Arc::from(vec![("DATABASE_URL".to_string(), "x".to_string())]),
        ready_path: "/ready".into(),
    }
}

#[tokio::test]
async fn a_crashing_child_is_restarted_with_backoff_and_its_output_logged() {
    let (utx, mut urx) = mpsc::channel(64);
    let (ltx, mut lrx) = mpsc::channel(64);
    let h = spawn_instance(
        shell_spec("echo \"ERROR on port $PORT via $DATABASE_URL\"; exit 3", 9),
        utx,
        ltx,
    );
    let seen = collect_until(&mut urx, Duration::from_secs(10), |u| u.restarts >= 2).await;
    let backoffs: Vec<_> = seen
        .iter()
        .filter_map(|u| match u.phase {
            InstancePhase::BackingOff { exit_code, .. } => Some(exit_code),
            _ => None,
        })
        .collect();
    assert!(backoffs.len() >= 2, "updates: {seen:?}");
    assert!(backoffs.iter().all(|c| *c == Some(3)));
    assert!(seen.iter().all(|u| u.token == 9 && &*u.env == "test"));
    let line = tokio::time::timeout(Duration::from_secs(5), lrx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(line.level, Level::Error);
    // The spec's variables reach the process.
    assert!(line.text.ends_with("via x"), "{}", line.text);
    let task = h.stop();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn stop_kills_the_whole_process_group() {
    let (utx, mut urx) = mpsc::channel(64);
    let (ltx, _lrx) = mpsc::channel(64);
    // The shell starts a grandchild; stopping must take both down.
    let h = spawn_instance(shell_spec("sleep 60 & echo started; wait", 1), utx, ltx);
    let seen = collect_until(&mut urx, Duration::from_secs(5), |u| u.pid.is_some()).await;
    let pid = seen.last().and_then(|u| u.pid).unwrap();
    let task = h.stop();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
    // SIGKILL is delivered asynchronously, and an orphaned grandchild stays a
    // zombie until init reaps it: wait for the group to have no live member.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let live = live_members_of_group(pid);
        if live.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "process group {pid} still has live members: {live:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Pids in process group `pgid` that are not zombies, from /proc/<pid>/stat.
fn live_members_of_group(pgid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // Fields after the command name: state ppid pgrp ...
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 2 && f[2] == pgid.to_string() && f[0] != "Z" {
            out.push(pid);
        }
    }
    out
}

#[test]
fn children_die_with_the_thread_that_started_them() {
    // PR_SET_PDEATHSIG: even a child nobody kills must not outlive its parent.
    let pid = std::thread::spawn(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut cmd = Command::new("sleep");
            cmd.arg("30");
            configure_child(&mut cmd);
            let child = cmd.spawn().unwrap();
            let pid = child.id().unwrap();
            // Skip kill_on_drop: only the death signal may end it.
            std::mem::forget(child);
            pid
        })
    })
    .join()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut status = 0;
        // SAFETY: reaping our own child by pid.
        let r = unsafe { libc::waitpid(pid as i32, &mut status, libc::WNOHANG) };
        if r == pid as i32 {
            assert!(libc::WIFSIGNALED(status));
            assert_eq!(libc::WTERMSIG(status), libc::SIGKILL);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "child {pid} outlived its parent thread"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn readiness_is_reported_once_the_probe_answers_200() {
    let l = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let port = l.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let mut b = [0u8; 256];
            let _ = s.read(&mut b).await;
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    assert!(probe(port, "/ready").await);
    server.abort();
    let _ = server.await;
    // Nothing listens any more.
    assert!(!probe(port, "/ready").await);
}

fn shell_child(script: &str) -> (Child, Option<u32>) {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).stdin(Stdio::null());
    configure_child(&mut cmd);
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    (child, pid)
}

#[tokio::test]
async fn a_stop_measures_the_time_from_sigterm_to_exit() {
    let (mut child, pid) = shell_child("sleep 30");
    let stop = terminate(&mut child, pid, "staging-v1-0").await.unwrap();
    assert!(!stop.killed, "{stop:?}");
    assert!(stop.after_ms < 2000, "{stop:?}");
    assert_eq!(stop.grace_ms, STOP_GRACE.as_millis() as u64);
    assert_eq!(stop.instance, "staging-v1-0");
}

#[tokio::test]
async fn an_instance_that_ignores_sigterm_is_killed_after_the_grace_period() {
    // The shell ignores TERM and keeps its group running.
    let (mut child, pid) = shell_child("trap '' TERM; while :; do sleep 1; done");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stop = terminate(&mut child, pid, "staging-v1-0").await.unwrap();
    assert!(stop.killed, "{stop:?}");
    assert_eq!(stop.after_ms, stop.grace_ms);
    assert!(child.try_wait().unwrap().is_some(), "reaped");
}
