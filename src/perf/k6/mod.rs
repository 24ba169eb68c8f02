//! `perf --engine k6`: run the project's k6 scripts with a `k6` binary and
//! read its end-of-test summary into the same [`Summary`] the built-in
//! engine produces.
//!
//! k6 is given the target as `BASE_URL` (`-e BASE_URL=...`); the script's
//! own options (VUs, duration, stages, its thresholds) apply. Both summary
//! shapes are read: `--summary-export` (statistics flat on each metric) and
//! a `handleSummary` JSON (statistics under `values`).

mod summary;

pub use summary::parse_summary;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::report::{Summary, Thresholds};
use super::PerfError;
use crate::domain::sanitize::strip_all;

/// Where the project's k6 scripts live, relative to the config file.
pub const SCRIPT_DIR: &str = "k6";

/// Longest k6 stderr kept for an error message.
const MAX_STDERR: usize = 4000;

/// `k6` on PATH, or a clear error saying it is missing.
pub fn find_k6() -> Result<PathBuf, PerfError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("k6"))
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            PerfError::Unavailable(
                "k6 is not on PATH: install it (https://grafana.com/docs/k6/latest/set-up/install-k6/) \
                 or leave out --engine k6 to use the built-in load generator"
                    .into(),
            )
        })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The scripts to run: `--script` if given, else every `*.js` in `k6/`
/// next to the config, in name order.
pub fn find_scripts(given: &[PathBuf], project_dir: &Path) -> Result<Vec<PathBuf>, PerfError> {
    if !given.is_empty() {
        for s in given {
            if !s.is_file() {
                return Err(PerfError::Usage(format!(
                    "--script {}: no such file",
                    s.display()
                )));
            }
        }
        return Ok(given.to_vec());
    }
    let dir = project_dir.join(SCRIPT_DIR);
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| {
            PerfError::Usage(format!(
                "no k6 scripts: cannot read {} ({e}); give --script FILE",
                dir.display()
            ))
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "js") && p.is_file())
        .collect();
    scripts.sort();
    if scripts.is_empty() {
        return Err(PerfError::Usage(format!(
            "no k6 scripts (*.js) in {}; give --script FILE",
            dir.display()
        )));
    }
    Ok(scripts)
}

/// One script's result.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ScriptRun {
    pub script: String,
    /// k6's exit code (99: one of the script's own thresholds failed).
    pub k6_exit_code: Option<i32>,
    pub summary: Summary,
}

/// Run `script` against `base_url` and read its summary.
pub async fn run_script(
    k6: &Path,
    script: &Path,
    base_url: &str,
    limits: Thresholds,
) -> Result<ScriptRun, PerfError> {
    let dir = ExportDir::create()?;
    let export = dir.0.join("summary.json");
    let output = tokio::process::Command::new(k6)
        .arg("run")
        .arg("--quiet")
        .arg("--no-color")
        .arg("--summary-trend-stats")
        .arg("avg,min,med,max,p(90),p(95),p(99)")
        .arg("--summary-export")
        .arg(&export)
        .arg("-e")
        .arg(format!("BASE_URL={base_url}"))
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| PerfError::Failed(format!("starting {}: {e}", k6.display())))?;
    let code = output.status.code();
    let text = match tokio::fs::read_to_string(&export).await {
        Ok(t) => t,
        Err(e) => {
            let stderr: String = strip_all(&String::from_utf8_lossy(&output.stderr))
                .chars()
                .take(MAX_STDERR)
                .collect();
            return Err(PerfError::Failed(format!(
                "k6 wrote no summary for {} (exit {}; {e}): {}",
                script.display(),
                code.map_or("signal".into(), |c| c.to_string()),
                stderr.trim()
            )));
        }
    };
    let summary = parse_summary(&text, base_url, limits).map_err(|e| {
        PerfError::Failed(format!("reading k6's summary of {}: {e}", script.display()))
    })?;
    Ok(ScriptRun {
        script: script.display().to_string(),
        k6_exit_code: code,
        summary,
    })
}

/// A private directory for k6's summary file, removed when dropped.
struct ExportDir(PathBuf);

impl ExportDir {
    fn create() -> Result<ExportDir, PerfError> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "blissful-infra-k6-{}-{n}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir(&dir).map_err(|e| {
            PerfError::Failed(format!("creating {} for k6's summary: {e}", dir.display()))
        })?;
        Ok(ExportDir(dir))
    }
}

impl Drop for ExportDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_come_from_the_k6_folder_in_order() {
        let dir = tempfile::tempdir().unwrap();
        assert!(find_scripts(&[], dir.path()).is_err());
        std::fs::create_dir(dir.path().join("k6")).unwrap();
        assert!(find_scripts(&[], dir.path())
            .unwrap_err()
            .to_string()
            .contains("no k6 scripts"));
        for f in ["smoke.js", "load.js", "notes.md"] {
            std::fs::write(dir.path().join("k6").join(f), "//").unwrap();
        }
        let found = find_scripts(&[], dir.path()).unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["load.js", "smoke.js"]);
        assert!(find_scripts(&[dir.path().join("missing.js")], dir.path()).is_err());
    }
}
