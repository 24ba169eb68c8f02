//! The project's files, read for signs of each practice: code (a circuit
//! breaker, retries, a SIGTERM handler, a cache, a bulkhead, a rate
//! limiter), Kubernetes manifests (probes, a PodDisruptionBudget),
//! compose and Dockerfiles (health checks). Bounded: so many files, so
//! many bytes each, build and dependency folders skipped.

use std::path::{Path, PathBuf};

use regex::Regex;

use super::excerpt;
use crate::domain::chaos::{Basis, Finding, Practice};

/// How much of a project is read.
#[derive(Clone, Copy, Debug)]
pub struct ScanLimits {
    pub max_files: usize,
    pub max_file_bytes: u64,
    pub max_depth: usize,
}

impl Default for ScanLimits {
    fn default() -> Self {
        ScanLimits {
            max_files: 4000,
            max_file_bytes: 512 * 1024,
            max_depth: 12,
        }
    }
}

/// Folders that hold builds, dependencies or our own output, not the project's code.
const SKIPPED_DIRS: [&str; 14] = [
    ".git",
    "target",
    "node_modules",
    ".venv",
    "venv",
    "__pycache__",
    "dist",
    "build",
    "reports",
    "ejected",
    "vendor",
    ".mypy_cache",
    ".pytest_cache",
    ".gradle",
];

const CODE_EXTENSIONS: [&str; 18] = [
    "py", "js", "mjs", "cjs", "ts", "tsx", "jsx", "go", "java", "kt", "rs", "rb", "cs", "yaml",
    "yml", "toml", "sh", "j2",
];

/// What marks each practice in a file, case-insensitively.
fn pattern(p: Practice) -> &'static str {
    match p {
        Practice::CircuitBreakers => r"circuit[_ -]?breaker|gobreaker|opossum|pybreaker",
        Practice::RetryLogic => r"\b(retry|retries|retrying|retryable|backoff|tenacity)\b",
        Practice::HealthChecks => {
            r"readinessprobe|livenessprobe|startupprobe|\bhealthcheck\b|['\x22]/(healthz?|readyz?|livez?|ready|live)['\x22]"
        }
        Practice::GracefulShutdown => {
            r"sigterm|graceful[_ -]?shutdown|terminationgraceperiodseconds|@predestroy|signal\.notify"
        }
        Practice::Caching => r"\b(cache|cached|caching|lru_cache|cacheable|ttlcache)\b",
        Practice::Bulkheads => {
            r"bulkhead|semaphore|max_?concurren(cy|t)|pool_?size|max_?connections|connection_?limit"
        }
        Practice::RateLimiting => r"rate[_ -]?limit|ratelimit|slowapi|throttl",
        Practice::DisruptionBudget => r"kind:\s*poddisruptionbudget",
    }
}

/// The practices the scan looks for: the checklist and the disruption budget.
fn scanned() -> impl Iterator<Item = Practice> {
    Practice::CHECKLIST
        .into_iter()
        .chain([Practice::DisruptionBudget])
}

fn wanted(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name == "Dockerfile" || name.starts_with("Dockerfile.") || name == "Jenkinsfile" {
        return true;
    }
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| CODE_EXTENSIONS.contains(&e))
}

/// The files to read under `root`, in a stable order, at most `limits.max_files`.
fn files_under(root: &Path, limits: ScanLimits) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_dir() {
                let skip = e
                    .file_name()
                    .to_str()
                    .is_none_or(|n| SKIPPED_DIRS.contains(&n));
                if !skip && depth < limits.max_depth {
                    stack.push((path, depth + 1));
                }
            } else if kind.is_file() && wanted(&path) {
                if out.len() >= limits.max_files {
                    return out;
                }
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Each practice with what the project's files say of it.
pub fn scan_project(root: &Path, limits: ScanLimits) -> Vec<(Practice, Finding)> {
    let files = files_under(root, limits);
    let matchers: Vec<(Practice, Option<Regex>)> = scanned()
        .map(|p| (p, Regex::new(&format!("(?im){}", pattern(p))).ok()))
        .collect();
    let mut first: Vec<Option<String>> = vec![None; matchers.len()];
    let mut counts = vec![0usize; matchers.len()];
    let mut read = 0usize;
    for f in &files {
        let small = std::fs::metadata(f).is_ok_and(|m| m.len() <= limits.max_file_bytes);
        let Some(text) = small.then(|| std::fs::read(f).ok()).flatten() else {
            continue;
        };
        read += 1;
        let text = String::from_utf8_lossy(&text);
        let shown = f.strip_prefix(root).unwrap_or(f).display().to_string();
        for (i, (_, re)) in matchers.iter().enumerate() {
            let Some(m) = re.as_ref().and_then(|re| re.find(&text)) else {
                continue;
            };
            counts[i] += 1;
            if first[i].is_none() {
                let line_no = text[..m.start()].matches('\n').count() + 1;
                let line = text.lines().nth(line_no - 1).unwrap_or("");
                first[i] = Some(format!("{shown}:{line_no} \"{}\"", excerpt(line)));
            }
        }
    }
    matchers
        .iter()
        .enumerate()
        .map(|(i, (p, re))| {
            let finding = match (&first[i], re) {
                (_, None) => Finding::NotChecked {
                    why: "internal: the pattern does not compile".into(),
                },
                (Some(at), _) => Finding::Present {
                    basis: Basis::Read,
                    evidence: match counts[i] {
                        1 => at.clone(),
                        n => format!("{at} and {} more file(s)", n - 1),
                    },
                },
                (None, _) if read == 0 => Finding::NotChecked {
                    why: format!("no code or manifest files under {}", root.display()),
                },
                (None, _) => Finding::Absent {
                    looked: format!("{read} code and manifest files"),
                },
            };
            (*p, finding)
        })
        .collect()
}
