//! memory-pressure's memory limit on the sandbox: a memory cgroup of the
//! fault's own that the instances are moved into, with a limit, and the
//! memory holder started inside it. Both cgroup versions are handled: v1's
//! `memory` hierarchy (the fault's cgroup nests under our own, so a limit
//! set on us still applies) and v2's unified one (under its root, the only
//! v2 cgroup that may hold processes and have children with controllers).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Which cgroup hierarchy holds the memory controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Version {
    V1,
    V2,
}

/// What the kernel counted in a fault's cgroup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitEvents {
    /// Times the usage reached the limit (v1 `memory.failcnt`, v2 `max`).
    pub hits: u64,
    /// Processes the OOM killer ended there.
    pub oom_kills: u64,
    /// Highest usage, in bytes, where the kernel keeps it.
    pub peak_bytes: Option<u64>,
}

/// A memory cgroup created for one fault (journalled as its undo step).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryCgroup {
    pub version: Version,
    pub dir: PathBuf,
    /// The cgroup the instances were in, where undo puts them back.
    pub return_to: PathBuf,
}

/// Where the memory controller is mounted, from /proc/self/mountinfo
/// (`id parent dev root point options [optional…] - fstype source super`).
pub fn memory_mount(mountinfo: &str) -> Option<(Version, PathBuf)> {
    let mut v2 = None;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(dash) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(point), Some(fstype)) = (fields.get(4), fields.get(dash + 1)) else {
            continue;
        };
        let point = unescape_mount_path(point);
        let supers = fields.get(dash + 3).copied().unwrap_or("");
        match *fstype {
            "cgroup" if supers.split(',').any(|o| o == "memory") => {
                return Some((Version::V1, point));
            }
            "cgroup2" if v2.is_none() => v2 = Some(point),
            _ => {}
        }
    }
    // v2 only counts when it has the memory controller (on a hybrid host
    // the unified mount holds none).
    v2.filter(|p| {
        std::fs::read_to_string(p.join("cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|x| x == "memory"))
    })
    .map(|p| (Version::V2, p))
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mount_path(s: &str) -> PathBuf {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest
            .get(i + 1..i + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(c) => {
                out.push(char::from(c));
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    PathBuf::from(out)
}

/// The cgroup path of a process in `version`'s hierarchy, from its
/// /proc/<pid>/cgroup (`id:controllers:path`).
pub fn path_in(proc_cgroup: &str, version: Version) -> Option<String> {
    proc_cgroup.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let ours = match version {
            Version::V1 => controllers.split(',').any(|c| c == "memory"),
            Version::V2 => id == "0" && controllers.is_empty(),
        };
        ours.then(|| path.to_string())
    })
}

/// Where the cgroup `name` (a fault's marker) goes for processes like
/// `pid`, and the cgroup `pid` is in now; or why memory-pressure cannot be
/// limited here.
pub fn plan(pid: u32, name: &str) -> Result<MemoryCgroup, String> {
    let why = |what: String| {
        format!("{what}: memory-pressure on the sandbox puts the instances under a cgroup memory limit; `runtime: docker` holds the memory inside the container instead")
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(why(
            "creating a memory cgroup needs root (blissful-infra runs unprivileged)".into(),
        ));
    }
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| why(format!("cannot read /proc/self/mountinfo: {e}")))?;
    let (version, mount) = memory_mount(&info)
        .ok_or_else(|| why("no cgroup hierarchy has the memory controller".into()))?;
    let of = |p: u32| -> Result<PathBuf, String> {
        let text = std::fs::read_to_string(format!("/proc/{p}/cgroup"))
            .map_err(|e| why(format!("cannot read the cgroup of pid {p}: {e}")))?;
        let path = path_in(&text, version)
            .ok_or_else(|| why(format!("pid {p} is in no memory cgroup")))?;
        Ok(mount.join(path.trim_start_matches('/')))
    };
    let return_to = of(pid)?;
    let parent = match version {
        Version::V1 => of(std::process::id())?,
        Version::V2 => mount,
    };
    Ok(MemoryCgroup {
        version,
        dir: parent.join(
            name.chars()
                .map(
                    |c| match c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        true => c,
                        false => '_',
                    },
                )
                .collect::<String>(),
        ),
        return_to,
    })
}

impl MemoryCgroup {
    fn file(&self, v1: &str, v2: &str) -> PathBuf {
        self.dir.join(match self.version {
            Version::V1 => v1,
            Version::V2 => v2,
        })
    }

    /// The procs file processes are moved in by writing their pid.
    pub fn procs_file(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// Create the cgroup (no limit yet). v1 moves a process's charge with it,
    /// so the instances' memory counts against the limit.
    pub fn create(&self) -> Result<(), String> {
        let io =
            |what: &str, e: std::io::Error| format!("cannot {what} {}: {e}", self.dir.display());
        if self.version == Version::V2 {
            if let Some(parent) = self.dir.parent() {
                // Already enabled on most hosts; harmless to ask again.
                let _ = std::fs::write(parent.join("cgroup.subtree_control"), "+memory");
            }
        }
        match std::fs::create_dir(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io("create the cgroup", e)),
        }
        if self.version == Version::V1 {
            // 3: anonymous and file pages both move with a process.
            let _ = std::fs::write(self.dir.join("memory.move_charge_at_immigrate"), "3");
        }
        Ok(())
    }

    /// Move process `pid` into the cgroup.
    pub fn add(&self, pid: u32) -> Result<(), String> {
        std::fs::write(self.procs_file(), pid.to_string())
            .map_err(|e| format!("cannot move pid {pid} into {}: {e}", self.dir.display()))
    }

    /// Bytes charged to the cgroup now.
    pub fn usage_bytes(&self) -> Result<u64, String> {
        let f = self.file("memory.usage_in_bytes", "memory.current");
        read_number(&f)
    }

    /// Set the limit, and keep the cgroup from swapping, so the limit is
    /// reached rather than swapped past. (v1 uses swappiness 0, not a
    /// memory+swap limit: failures on that limit go uncounted in
    /// `memory.failcnt`.)
    pub fn set_limit(&self, bytes: u64) -> Result<(), String> {
        let f = self.file("memory.limit_in_bytes", "memory.max");
        std::fs::write(&f, bytes.to_string())
            .map_err(|e| format!("cannot set {}: {e}", f.display()))?;
        let (swap, value) = match self.version {
            Version::V1 => (self.dir.join("memory.swappiness"), "0"),
            Version::V2 => (self.dir.join("memory.swap.max"), "0"),
        };
        // Absent where the kernel has no swap accounting; nothing to stop.
        if swap.exists() {
            let _ = std::fs::write(&swap, value);
        }
        Ok(())
    }

    /// What the kernel counted so far.
    pub fn events(&self) -> LimitEvents {
        match self.version {
            Version::V1 => LimitEvents {
                hits: read_number(&self.dir.join("memory.failcnt")).unwrap_or(0),
                oom_kills: keyed(&self.dir.join("memory.oom_control"), "oom_kill"),
                peak_bytes: read_number(&self.dir.join("memory.max_usage_in_bytes")).ok(),
            },
            Version::V2 => LimitEvents {
                hits: keyed(&self.dir.join("memory.events"), "max"),
                oom_kills: keyed(&self.dir.join("memory.events"), "oom_kill"),
                peak_bytes: read_number(&self.dir.join("memory.peak")).ok(),
            },
        }
    }
}

fn read_number(f: &Path) -> Result<u64, String> {
    let text =
        std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
    text.trim()
        .parse()
        .map_err(|_| format!("{} holds {:?}, not a number", f.display(), text.trim()))
}

/// The number after `key` in a `key value` per line file; 0 when absent.
fn keyed(f: &Path, key: &str) -> u64 {
    std::fs::read_to_string(f)
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let (k, v) = l.split_once(' ')?;
                (k == key).then(|| v.trim().parse().ok()).flatten()
            })
        })
        .unwrap_or(0)
}

/// How long undo waits for a killed holder to leave its cgroup.
pub const RELEASE_WAIT: Duration = Duration::from_secs(3);

/// Put every process still in cgroup `dir` back into `return_to`, then
/// remove `dir`, waiting up to `wait` for killed processes to leave it.
/// Returns how many processes were moved back; a cgroup already gone is
/// not an error.
pub fn release(dir: &Path, return_to: &Path, wait: Duration) -> Result<usize, String> {
    let deadline = Instant::now() + wait;
    let mut moved = 0;
    loop {
        let procs = match std::fs::read_to_string(dir.join("cgroup.procs")) {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(moved),
            Err(e) => return Err(format!("cannot read {}: {e}", dir.display())),
        };
        // v1 may list a process more than once.
        let pids: std::collections::BTreeSet<&str> = procs.split_whitespace().collect();
        for pid in pids {
            // A process that exited meanwhile cannot be moved: ESRCH.
            if std::fs::write(return_to.join("cgroup.procs"), pid).is_ok() {
                moved += 1;
            }
        }
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(moved),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(moved),
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("cannot remove the cgroup {}: {e}", dir.display()))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Every process whose process group is `pgid` (an instance and what it
/// started), from /proc/<pid>/stat (`pid (comm) state ppid pgrp …`).
pub fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| process_group(&s))
                == Some(pgid)
        })
        .collect()
}

/// The process group field of a /proc/<pid>/stat line.
pub fn process_group(stat: &str) -> Option<u32> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests;
