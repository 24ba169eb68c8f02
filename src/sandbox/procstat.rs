//! CPU and resident memory of processes, read from `/proc` (Linux).
//!
//! CPU is reported as percent of one core since the previous sample of the
//! same pid; the first sample of a pid reports the average since the process
//! started, so a fresh sampler shows something meaningful at once.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Pids not sampled for this long are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(60);
/// Upper bound on remembered pids; the least recently sampled leave first.
const MAX_TRACKED: usize = 1024;
const PRUNE_EVERY: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProcSample {
    /// Percent of one core (may exceed 100 for multi-threaded processes).
    pub cpu_pct: f64,
    /// Resident set size in MiB.
    pub rss_mib: f64,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
    /// CPU seconds (user + system) used since the previous sample of this
    /// pid, or since the process started on its first sample: summed over
    /// samples this is the process's whole CPU time, seen once.
    pub cpu_secs: f64,
}

#[derive(Clone, Copy, Debug)]
struct Prev {
    /// utime + stime in clock ticks.
    ticks: u64,
    /// Process start time in ticks since boot; a change means the pid was reused.
    start: u64,
    at: Instant,
}

/// Fields of `/proc/<pid>/stat` that matter here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatFields {
    pub utime: u64,
    pub stime: u64,
    pub starttime: u64,
}

/// Remembers the previous CPU reading of each pid.
#[derive(Debug)]
pub struct ProcSampler {
    prev: HashMap<u32, Prev>,
    clk_tck: f64,
    page_size: u64,
    last_prune: Instant,
}

impl Default for ProcSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcSampler {
    pub fn new() -> Self {
        ProcSampler {
            prev: HashMap::new(),
            clk_tck: clock_ticks_per_sec() as f64,
            page_size: page_size(),
            last_prune: Instant::now(),
        }
    }

    /// CPU% of one core since the previous sample of `pid`, and RSS in MiB.
    /// `None` when the process does not exist (or `/proc` is unavailable).
    pub fn sample(&mut self, pid: u32) -> Option<ProcSample> {
        let now = Instant::now();
        if now.duration_since(self.last_prune) >= PRUNE_EVERY || self.prev.len() >= MAX_TRACKED {
            self.prune(now);
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let fields = parse_stat(&stat)?;
        let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
        let rss_pages = parse_statm_resident_pages(&statm)?;
        let ticks = fields.utime.saturating_add(fields.stime);

        let (cpu_pct, new_ticks) = match self.prev.get(&pid) {
            Some(p) if p.start == fields.starttime && ticks >= p.ticks => {
                let secs = now.duration_since(p.at).as_secs_f64();
                let delta = ticks - p.ticks;
                (cpu_percent(delta, self.clk_tck, secs), delta)
            }
            // First sample (or a reused pid): average since the process started.
            _ => {
                let pct = uptime_secs()
                    .map(|up| {
                        let age = up - fields.starttime as f64 / self.clk_tck;
                        cpu_percent(ticks, self.clk_tck, age)
                    })
                    .unwrap_or(0.0);
                (pct, ticks)
            }
        };
        self.prev.insert(
            pid,
            Prev {
                ticks,
                start: fields.starttime,
                at: now,
            },
        );
        let rss_bytes = rss_pages.saturating_mul(self.page_size);
        Some(ProcSample {
            cpu_pct,
            rss_mib: rss_bytes as f64 / (1024.0 * 1024.0),
            rss_bytes,
            cpu_secs: if self.clk_tck > 0.0 {
                new_ticks as f64 / self.clk_tck
            } else {
                0.0
            },
        })
    }

    /// Number of pids currently remembered.
    pub fn tracked(&self) -> usize {
        self.prev.len()
    }

    /// Stop remembering `pid` (e.g. when its process exited).
    pub fn forget(&mut self, pid: u32) {
        self.prev.remove(&pid);
    }

    fn prune(&mut self, now: Instant) {
        self.last_prune = now;
        self.prev
            .retain(|_, p| now.duration_since(p.at) < FORGET_AFTER);
        if self.prev.len() >= MAX_TRACKED {
            let mut ages: Vec<(u32, Instant)> = self.prev.iter().map(|(k, p)| (*k, p.at)).collect();
            ages.sort_by_key(|(_, at)| *at);
            let excess = self.prev.len() + 1 - MAX_TRACKED;
            for (pid, _) in ages.into_iter().take(excess) {
                self.prev.remove(&pid);
            }
        }
    }
}

fn cpu_percent(ticks: u64, clk_tck: f64, secs: f64) -> f64 {
    if secs <= 0.0 || clk_tck <= 0.0 {
        return 0.0;
    }
    (ticks as f64 / clk_tck) / secs * 100.0
}

/// Parse `/proc/<pid>/stat`. The command name is in parentheses and may itself
/// contain spaces and parentheses, so fields are counted after the last `)`.
pub fn parse_stat(s: &str) -> Option<StatFields> {
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    // After the name: state is field 3, utime 14, stime 15, starttime 22.
    Some(StatFields {
        utime: f.get(11)?.parse().ok()?,
        stime: f.get(12)?.parse().ok()?,
        starttime: f.get(19)?.parse().ok()?,
    })
}

/// Resident pages: the second field of `/proc/<pid>/statm`.
pub fn parse_statm_resident_pages(s: &str) -> Option<u64> {
    s.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// Resident memory of `pid` in bytes, read synchronously (small file).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    Some(parse_statm_resident_pages(&statm)? * page_size())
}

/// Resident memory of the calling process in bytes, read without blocking the runtime.
pub async fn self_rss_bytes() -> Option<u64> {
    let statm = tokio::fs::read_to_string("/proc/self/statm").await.ok()?;
    Some(parse_statm_resident_pages(&statm)? * page_size())
}

fn uptime_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/uptime").ok()?;
    s.split_ascii_whitespace().next()?.parse().ok()
}

/// Memory page size in bytes (4096 if the system does not say).
pub fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    *PAGE.get_or_init(|| sysconf_or(libc::_SC_PAGESIZE, 4096))
}

/// Clock ticks per second used by `/proc/<pid>/stat` (100 if the system does not say).
pub fn clock_ticks_per_sec() -> u64 {
    static TCK: OnceLock<u64> = OnceLock::new();
    *TCK.get_or_init(|| sysconf_or(libc::_SC_CLK_TCK, 100))
}

fn sysconf_or(name: libc::c_int, default: u64) -> u64 {
    // SAFETY: sysconf only reads a system constant; it has no memory-safety preconditions.
    let v = unsafe { libc::sysconf(name) };
    if v > 0 {
        v as u64
    } else {
        default
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_command_names() {
        let line = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 1 0 9999 1000 200 18446744073709551615";
        let f = parse_stat(line).unwrap();
        assert_eq!(
            f,
            StatFields {
                utime: 250,
                stime: 50,
                starttime: 9999
            }
        );
        assert_eq!(parse_stat("garbage without paren"), None);
        assert_eq!(parse_stat("1 (x) S 1 2"), None);
    }

    #[test]
    fn parses_statm() {
        assert_eq!(
            parse_statm_resident_pages("5000 1234 300 10 0 900 0\n"),
            Some(1234)
        );
        assert_eq!(parse_statm_resident_pages("5000"), None);
        assert_eq!(parse_statm_resident_pages("5000 x"), None);
    }

    #[test]
    fn cpu_percent_math() {
        assert!((cpu_percent(100, 100.0, 2.0) - 50.0).abs() < 1e-9);
        assert_eq!(cpu_percent(100, 100.0, 0.0), 0.0);
    }

    #[test]
    fn samples_own_process_and_sees_cpu_burn() {
        let pid = std::process::id();
        let mut s = ProcSampler::new();
        let first = s.sample(pid).unwrap();
        assert!(first.rss_mib > 0.0);
        assert!(first.cpu_pct >= 0.0);
        // Burn CPU for a while so the next sample sees some ticks.
        let start = Instant::now();
        let mut x: u64 = 1;
        while start.elapsed() < Duration::from_millis(500) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let second = s.sample(pid).unwrap();
        assert!(
            second.cpu_pct > 0.0,
            "cpu after busy loop: {}",
            second.cpu_pct
        );
        // The first sample counts the CPU used since start, the second only
        // what was used since then (about the 0.5 s busy loop).
        assert!(first.cpu_secs >= 0.0);
        assert!(
            second.cpu_secs > 0.0 && second.cpu_secs < 5.0,
            "cpu seconds since the first sample: {}",
            second.cpu_secs
        );
        assert!(second.rss_bytes > 0);
        assert!((second.rss_bytes as f64 / (1024.0 * 1024.0) - second.rss_mib).abs() < 1e-9);
        assert_eq!(s.tracked(), 1);
        s.forget(pid);
        assert_eq!(s.tracked(), 0);
    }

    #[test]
    fn missing_pid_is_none() {
        let mut s = ProcSampler::new();
        // Pid max on Linux is at most 2^22, so this never exists.
        assert_eq!(s.sample(u32::MAX - 1), None);
        assert_eq!(s.tracked(), 0);
    }

    #[test]
    fn prune_bounds_the_map() {
        let mut s = ProcSampler::new();
        let old = Instant::now();
        for pid in 0..(MAX_TRACKED as u32 + 10) {
            s.prev.insert(
                pid,
                Prev {
                    ticks: 0,
                    start: 0,
                    at: old,
                },
            );
        }
        s.prune(Instant::now());
        assert!(s.tracked() < MAX_TRACKED);
    }

    #[test]
    fn system_constants_are_sane() {
        assert!(page_size() >= 1024);
        assert!(clock_ticks_per_sec() > 0);
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
    }
}
