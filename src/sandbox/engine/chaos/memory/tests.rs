use std::time::{Duration, Instant};

use super::*;
use crate::faults::{kill_marked, marked_pids, new_marker};
use crate::sandbox::procstat::rss_bytes;

const MIB: u64 = 1024 * 1024;

#[tokio::test]
async fn holder_keeps_the_asked_memory_resident_until_killed() {
    let marker = new_marker("test", "memory");
    let (mut child, pid) = spawn_memory_holder(&marker, 64, None).unwrap();
    assert_eq!(marked_pids(&marker), vec![pid]);
    // Filling 64 MiB takes a moment; wait until it is resident.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut rss = 0;
    while Instant::now() < deadline {
        rss = rss_bytes(pid).unwrap_or(0);
        if rss >= 64 * MIB {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(rss >= 64 * MIB, "resident {rss} bytes, wanted 64 MiB");
    assert!(rss < 96 * MIB, "resident {rss} bytes, far above 64 MiB");
    // It still holds it a moment later: the read blocks, nothing exits.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the holder exited early"
    );
    // Own process group, so killing it by its marker cannot reach an instance.
    // SAFETY: getpgid on a child pid.
    assert_eq!(unsafe { libc::getpgid(pid as i32) }, pid as i32);
    assert_eq!(kill_marked(&marker), 1);
    assert!(!child.wait().await.unwrap().success());
}

#[tokio::test]
async fn holder_ends_when_its_parent_lets_go_of_the_pipe() {
    let marker = new_marker("test", "memory-pipe");
    let (mut child, _) = spawn_memory_holder(&marker, 1, None).unwrap();
    drop(child.stdin.take());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the holder kept running after its stdin closed")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn limits_leave_a_tenth_free_and_at_least_8_mib() {
    assert_eq!(limit_for(90 * MIB, 0), 100 * MIB);
    assert_eq!(limit_for(20 * MIB, 250 * MIB), 300 * MIB);
    assert_eq!(limit_for(0, 16 * MIB), 24 * MIB);
}
