//! Processes a fault started or owns, identified robustly (a pid alone could
//! have been reused since it was written down), and the signals that end them.

use serde::{Deserialize, Serialize};

/// A process recorded in the fault journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRef {
    pub pid: u32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    #[serde(default)]
    pub start_time: Option<u64>,
    /// Expected `/proc/<pid>/cmdline` (checked when not empty).
    #[serde(default)]
    pub cmdline: Vec<String>,
}

impl ProcessRef {
    /// This very process.
    pub fn current() -> Self {
        let pid = std::process::id();
        ProcessRef {
            pid,
            start_time: process_start_time(pid),
            cmdline: Vec::new(),
        }
    }

    /// Describe a live process by pid, recording its start time and command line.
    pub fn of_pid(pid: u32) -> Self {
        ProcessRef {
            pid,
            start_time: process_start_time(pid),
            cmdline: process_cmdline(pid).unwrap_or_default(),
        }
    }

    /// True when a process with this pid runs and is the one recorded.
    pub fn is_alive(&self) -> bool {
        if !pid_exists(self.pid) {
            return false;
        }
        if let Some(expected) = self.start_time {
            if process_start_time(self.pid) != Some(expected) {
                return false;
            }
        }
        if !self.cmdline.is_empty() && process_cmdline(self.pid).as_ref() != Some(&self.cmdline) {
            return false;
        }
        // A zombie is dead for our purposes (it only waits to be reaped).
        process_state(self.pid) != Some('Z')
    }
}

fn pid_exists(pid: u32) -> bool {
    let Ok(p) = i32::try_from(pid) else {
        return false;
    };
    if p <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(p, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Send `sig` to one process.
pub fn kill_pid(pid: u32, sig: i32) -> std::io::Result<()> {
    let p = i32::try_from(pid).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    if p <= 0 {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: plain kill(2) on a positive pid; no memory is involved.
    if unsafe { libc::kill(p, sig) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Fields of `/proc/<pid>/stat` after the command name (which may hold spaces).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// Start time of a process in clock ticks since boot, if it exists.
pub fn process_start_time(pid: u32) -> Option<u64> {
    // Field 22 overall; index 19 after the `pid (comm)` prefix.
    stat_fields(pid)?.get(19)?.parse().ok()
}

fn process_state(pid: u32) -> Option<char> {
    stat_fields(pid)?.first()?.chars().next()
}

fn process_group(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(2)?.parse().ok()
}

/// Command line of a process, split on NULs.
pub fn process_cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let mut parts: Vec<String> = raw
        .split(|b| *b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    if parts.last().is_some_and(String::is_empty) {
        parts.pop();
    }
    Some(parts)
}

/// A unique word put on the command line of every process a fault starts,
/// so the processes can be found (and killed) later, even by another
/// blissful-infra after a crash.
pub fn new_marker(scope: &str, id: &str) -> String {
    format!("blissful-chaos-{scope}-{id}-{}", fastrand::u32(..))
}

/// Pids of host processes whose command line contains `marker`.
pub fn marked_pids(marker: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter(|pid| process_cmdline(*pid).is_some_and(|c| c.iter().any(|a| a.contains(marker))))
        .collect()
}

/// Kill the marked processes and their process groups; returns how many
/// groups (one per fault process tree) were found.
pub fn kill_marked(marker: &str) -> usize {
    let pids = marked_pids(marker);
    let mut groups = std::collections::BTreeSet::new();
    for pid in &pids {
        match process_group(*pid).filter(|g| *g > 1) {
            Some(g) => {
                groups.insert(g);
                if let Ok(g) = i32::try_from(g) {
                    // SAFETY: kill(2) on a negative pgid (a process group); no memory involved.
                    unsafe {
                        libc::kill(-g, libc::SIGKILL);
                    }
                }
            }
            None => {
                groups.insert(*pid);
            }
        }
        let _ = kill_pid(*pid, libc::SIGKILL);
    }
    groups.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn dead_pid() -> u32 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    }

    #[test]
    fn current_process_is_alive_and_dead_pid_is_not() {
        assert!(ProcessRef::current().is_alive());
        let gone = ProcessRef {
            pid: dead_pid(),
            start_time: None,
            cmdline: vec![],
        };
        assert!(!gone.is_alive());
        // Same pid, wrong start time: a reused pid is not our process.
        let mut me = ProcessRef::current();
        me.start_time = me.start_time.map(|t| t + 1);
        assert!(!me.is_alive());
    }

    #[test]
    fn marked_processes_are_found_and_killed_with_their_group() {
        let m = new_marker("test", "x");
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30; wait", &m])
            .process_group(0)
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while marked_pids(&m).is_empty() {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(kill_marked(&m), 1);
        let status = child.wait().unwrap();
        assert!(!status.success());
        // A forked copy of the shell (before its exec) dies asynchronously
        // from the group kill: give it a moment, then none may be left.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !marked_pids(&m).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(marked_pids(&m), Vec::<u32>::new());
    }
}
