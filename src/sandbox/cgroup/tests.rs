use std::time::{Duration, Instant};

use super::*;

const V1_INFO: &str = "\
30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 25 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 25 0:36 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

#[test]
fn finds_the_v1_memory_hierarchy_before_an_empty_unified_one() {
    assert_eq!(
        memory_mount(V1_INFO),
        Some((Version::V1, PathBuf::from("/sys/fs/cgroup/memory")))
    );
    // A v2 mount whose controllers file cannot be read has no memory.
    let only_v2 = "40 25 0:36 / /nowhere/cg rw - cgroup2 cgroup2 rw\n";
    assert_eq!(memory_mount(only_v2), None);
    assert_eq!(memory_mount("garbage line\n"), None);
}

#[test]
fn mount_points_with_escaped_spaces_are_unescaped() {
    let info = "33 25 0:29 / /sys/fs/my\\040cgroups rw - cgroup cgroup rw,memory\n";
    assert_eq!(
        memory_mount(info).map(|(_, p)| p),
        Some(PathBuf::from("/sys/fs/my cgroups"))
    );
}

#[test]
fn reads_the_memory_path_of_either_version() {
    let v1 = "9:name=systemd:/\n4:memory:/process_api/abc\n0::/\n";
    assert_eq!(
        path_in(v1, Version::V1).as_deref(),
        Some("/process_api/abc")
    );
    assert_eq!(path_in(v1, Version::V2).as_deref(), Some("/"));
    let v2 = "0::/user.slice/session-3.scope\n";
    assert_eq!(
        path_in(v2, Version::V2).as_deref(),
        Some("/user.slice/session-3.scope")
    );
    assert_eq!(path_in(v2, Version::V1), None);
}

#[test]
fn process_group_is_read_after_an_awkward_command_name() {
    let stat = "4242 (my (odd) name) S 1 4200 4200 0 -1 4194560 120 0";
    assert_eq!(process_group(stat), Some(4200));
    assert_eq!(process_group("no parenthesis"), None);
}

#[test]
fn a_process_group_lists_the_leader_and_its_children() {
    // sh leads its own group and starts a sleep in it.
    let mut child = std::process::Command::new("setsid")
        .args(["sh", "-c", "sleep 30 & wait"])
        .spawn()
        .unwrap();
    let pgid = child.id();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut members = Vec::new();
    while Instant::now() < deadline {
        members = group_members(pgid);
        if members.len() >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(members.contains(&pgid), "{members:?}");
    assert_eq!(members.len(), 2, "{members:?}");
    // SAFETY: killpg on the group this test created.
    unsafe { libc::killpg(pgid as i32, libc::SIGKILL) };
    child.wait().unwrap();
}

#[test]
fn a_missing_cgroup_is_already_released() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("never-created");
    assert_eq!(release(&gone, dir.path(), Duration::ZERO), Ok(0));
}

/// A real limit: a process moved into a fault's cgroup, memory allocated
/// past the limit, the kernel's counts read back, the process moved out
/// and the cgroup removed. Needs root and a memory hierarchy, which CI has.
#[test]
fn a_real_limit_is_hit_counted_and_released() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: creating a memory cgroup needs root");
        return;
    }
    let mut victim = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let name = format!("blissful-chaos-unit-{}", std::process::id());
    let cg = plan(victim.id(), &name).unwrap();
    cg.create().unwrap();
    // Removed even when an assertion below fails.
    struct Cleanup(MemoryCgroup);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = release(&self.0.dir, &self.0.return_to, Duration::from_secs(1));
        }
    }
    let _cleanup = Cleanup(cg.clone());
    cg.add(victim.id()).unwrap();
    let procs = std::fs::read_to_string(cg.procs_file()).unwrap();
    assert!(procs
        .split_whitespace()
        .any(|p| p == victim.id().to_string()));
    cg.set_limit(32 * 1024 * 1024).unwrap();
    // A shell in the cgroup that asks for 64 MiB: the kernel must refuse
    // (reclaim fails, the OOM killer ends it).
    let script = format!(
        "echo $$ > {} && exec awk 'BEGIN {{ c = \"x\"; while (length(c) < 1048576) c = c c; for (i = 0; i < 64; i++) h[i] = c i }}'",
        cg.procs_file().display()
    );
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .status()
        .unwrap();
    assert!(!status.success(), "64 MiB fitted under a 32 MiB limit");
    let events = cg.events();
    assert!(events.hits > 0, "{events:?}");
    assert!(events.oom_kills >= 1, "{events:?}");
    if let Some(peak) = events.peak_bytes {
        assert!(peak <= 32 * 1024 * 1024, "{events:?}");
    }
    let moved = release(&cg.dir, &cg.return_to, Duration::from_secs(3)).unwrap();
    assert_eq!(moved, 1);
    assert!(!cg.dir.exists());
    let after = std::fs::read_to_string(format!("/proc/{}/cgroup", victim.id())).unwrap();
    assert!(!after.contains(&name), "{after}");
    victim.kill().unwrap();
    victim.wait().unwrap();
}
