//! `blissful-infra eject`: write what the project deploys with as plain
//! files, so it no longer needs blissful-infra to deploy: every kustomize
//! overlay rendered (`k8s/overlays/<env>` -> `k8s/<env>.yaml`), the Compose
//! file, the Jenkinsfile, the `ci/*.sh` stage scripts and a README saying
//! how to use them with kubectl, Docker Compose and Jenkins.
//!
//! - [`collect`]: the sources read and rendered (`kubectl kustomize`, else
//!   `kustomize build`, see [`crate::kubernetes::gitops::render`]); a
//!   missing source is skipped and said so;
//! - [`readme`]: the README written beside them;
//! - [`report`]: the table or JSON document printed.
//!
//! All or nothing: the files are rendered in memory, written to a folder
//! beside the target and renamed into place (see [`crate::scaffold::write`]).
//! An existing output folder is refused unless `--force`, and `--force`
//! replaces only an earlier eject's output (its README says so).

mod collect;
mod readme;
mod report;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::Config;
use crate::kubernetes::gitops::render::NoKustomizeTool;
use crate::report::{exit, report_error, OutputMode};
use crate::scaffold::{RenderedFile, ScaffoldError};

pub use report::report_table;

/// The output folder's name when `--out` is not given.
pub const DEFAULT_DIR: &str = "ejected";

/// Flags of `eject`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct EjectArgs {
    /// Where to write (default: `ejected/` next to blissful-infra.yaml).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace the output of an earlier eject (refused without it).
    #[arg(long)]
    pub force: bool,
}

/// The project being ejected: its configuration and the folder of its
/// blissful-infra.yaml, which every source path is relative to.
#[derive(Clone, Copy, Debug)]
pub struct Project<'a> {
    pub config: &'a Config,
    pub dir: &'a Path,
}

/// One file written.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct EjectedFile {
    /// Relative to the output folder.
    pub path: String,
    /// What it was made from, relative to the project (`k8s/overlays/staging`).
    pub source: String,
    pub bytes: usize,
}

/// A source that was not there.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Skipped {
    pub source: String,
    pub reason: String,
}

/// What `eject` did, as printed (table) or serialised (`--output json`).
#[derive(Clone, Debug, Serialize)]
pub struct EjectReport {
    pub project: String,
    /// The output folder, as given (or relative to the current directory).
    pub directory: String,
    /// `kubectl kustomize` or `kustomize build`; none without overlays.
    pub renderer: Option<String>,
    /// Whether an earlier eject's output was replaced (`--force`).
    pub replaced: bool,
    pub files: Vec<EjectedFile>,
    pub skipped: Vec<Skipped>,
    /// What the files still expect (e.g. a script that calls blissful-infra).
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EjectError {
    #[error("{} already exists; `eject --force` replaces it. Nothing was written", path.display())]
    Exists { path: PathBuf },
    #[error(
        "{} was not written by `blissful-infra eject` (it has no README.md of eject's), so \
         --force does not replace it: remove it yourself or choose another --out. Nothing was written",
        path.display()
    )]
    NotOurs { path: PathBuf },
    #[error("{0}. Nothing was written")]
    NoRenderer(#[from] NoKustomizeTool),
    #[error("cannot render {overlay} with {tool}: {reason}. Nothing was written")]
    Render {
        overlay: String,
        tool: &'static str,
        reason: String,
    },
    #[error("reading {}: {source}. Nothing was written", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Write(#[from] ScaffoldError),
}

impl EjectError {
    /// A short machine-readable kind for `--output json`.
    pub fn kind(&self) -> &'static str {
        match self {
            EjectError::Exists { .. } => "exists",
            EjectError::NotOurs { .. } => "not_ejected_output",
            EjectError::NoRenderer(_) => "no_renderer",
            EjectError::Render { .. } => "render",
            EjectError::Read { .. } | EjectError::Write(_) => "io",
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            EjectError::Exists { .. } | EjectError::NotOurs { .. } | EjectError::NoRenderer(_) => {
                exit::REFUSED
            }
            EjectError::Render { .. } | EjectError::Read { .. } | EjectError::Write(_) => {
                exit::FAILED
            }
        }
    }
}

/// Eject `project` into `--out` (relative to `cwd`) or `ejected/`; the
/// renderer is looked for in `path_var` (PATH's value).
pub fn run_eject(
    project: Project<'_>,
    args: &EjectArgs,
    cwd: &Path,
    path_var: Option<&OsStr>,
) -> Result<EjectReport, EjectError> {
    let home = lexical(&cwd.join(project.dir));
    let project = Project {
        config: project.config,
        dir: &home,
    };
    let out: PathBuf = match &args.out {
        Some(d) => lexical(&cwd.join(d)),
        None => project.dir.join(DEFAULT_DIR),
    };
    let replaced = check_out(&out, args.force)?;
    let gathered = collect::gather(project, path_var)?;
    let readme = readme::readme(project, &out, &gathered);
    let mut files: Vec<RenderedFile> = gathered.files.iter().map(|f| f.file.clone()).collect();
    files.push(RenderedFile {
        path: "README.md".into(),
        contents: readme.into_bytes(),
        executable: false,
        source: "(how to use these files)".into(),
    });
    if replaced {
        crate::scaffold::write::replace_files(&out, &files)?;
    } else {
        crate::scaffold::write::write_files(&out, &files)?;
    }
    let shown = match &args.out {
        Some(d) => d.display().to_string(),
        None => out.strip_prefix(cwd).unwrap_or(&out).display().to_string(),
    };
    let entries = files
        .iter()
        .map(|f| EjectedFile {
            path: f.path.clone(),
            source: f.source.clone(),
            bytes: f.contents.len(),
        })
        .collect();
    Ok(EjectReport {
        project: project.config.project.clone(),
        directory: shown,
        renderer: gathered.tool.map(str::to_string),
        replaced,
        files: entries,
        skipped: gathered.skipped,
        notes: gathered.notes,
    })
}

/// `path` without `.` and `..` parts (`a/b/../c` is `a/c`), as shown in
/// the README and the report; it is not resolved against symlinks.
fn lexical(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other),
        }
    }
    out
}

/// Whether `out` is in the way: absent (write it), or with `force` an
/// empty folder or an earlier eject's output (replace it).
fn check_out(out: &Path, force: bool) -> Result<bool, EjectError> {
    let meta = match std::fs::symlink_metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(EjectError::Read {
                path: out.to_path_buf(),
                source,
            })
        }
        Ok(m) => m,
    };
    if !force {
        return Err(EjectError::Exists {
            path: out.to_path_buf(),
        });
    }
    let ours = meta.is_dir()
        && (readme::is_ours(&out.join("README.md"))
            || std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_none()));
    if ours {
        Ok(true)
    } else {
        Err(EjectError::NotOurs {
            path: out.to_path_buf(),
        })
    }
}

/// Run `eject` for the project of `config` (found at `config_path`),
/// printing the table or JSON document to `out` and errors to `err`.
pub fn cmd_eject(
    args: &EjectArgs,
    config: &Config,
    config_path: &Path,
    mode: OutputMode,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> i32 {
    let cwd = match std::env::current_dir() {
        Ok(d) => d,
        Err(e) => {
            let msg = format!("reading the current directory: {e}");
            return report_error("io", &msg, exit::FAILED, mode, out, err);
        }
    };
    let dir = match config_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let project = Project { config, dir };
    let path_var = std::env::var_os("PATH");
    match run_eject(project, args, &cwd, path_var.as_deref()) {
        Ok(report) => match mode {
            OutputMode::Json => match crate::report::json_document(&report) {
                Ok(s) => {
                    let _ = out.write_all(s.as_bytes());
                    exit::OK
                }
                Err(e) => {
                    let _ = writeln!(err, "error: encoding the report: {e}");
                    exit::FAILED
                }
            },
            OutputMode::Table => {
                let _ = write!(out, "{}", report_table(&report));
                exit::OK
            }
        },
        Err(e) => report_error(e.kind(), &e.to_string(), e.exit_code(), mode, out, err),
    }
}

#[cfg(test)]
mod tests;
