//! `blissful-infra create [NAME] [--template T] [--database D] [--target T]`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use super::choices::resolve_choices;
use super::choices::target_dir;
use super::meta::{Catalogue, Kind};
use super::prompt::{PlainPrompter, Prompter, TermPrompter};
use super::source::{EmbeddedTemplates, TemplateSource};
pub use super::summary::{next_steps, report_table};
use super::{write, Database, ScaffoldError, Target};
use crate::report::{exit, report_error, OutputMode, Table};

pub const DEFAULT_NAME: &str = "my-service";
pub const DEFAULT_TEMPLATE: &str = "fastapi";

/// Flags of `create`; whatever is missing is asked for (or defaulted with --yes).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CreateArgs {
    /// Project name in kebab-case, e.g. my-service (asked for when missing).
    pub name: Option<String>,
    /// spring-boot, fastapi, express, go-chi, react-vite or fullstack (see --list).
    #[arg(long, short)]
    pub template: Option<String>,
    /// The backend of a fullstack project (default: fastapi).
    #[arg(long)]
    pub backend: Option<String>,
    /// Database(s) next to Kafka (default: none).
    #[arg(long, short, value_enum)]
    pub database: Option<Database>,
    /// Deployment target: kubernetes (Kustomize overlays, Argo CD, Argo
    /// Rollouts, Chaos Mesh) or local-only (Docker Compose and the sandbox).
    /// Cloud targets are not supported yet.
    #[arg(long, value_name = "kubernetes|local-only")]
    pub target: Option<String>,
    /// Directory to create (default: ./NAME); it must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Ask nothing: whatever is not given takes its default.
    #[arg(long, short)]
    pub yes: bool,
    /// List the templates and exit.
    #[arg(long)]
    pub list: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FileEntry {
    pub path: String,
    pub bytes: usize,
}

/// What `create` did, as printed (table) or serialised (`--output json`).
#[derive(Clone, Debug, Serialize)]
pub struct CreateReport {
    pub project: String,
    pub template: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frontend: Option<String>,
    pub database: Database,
    pub target: Target,
    /// As given (relative to the current directory unless --dir was absolute).
    pub directory: String,
    pub files: Vec<FileEntry>,
    pub total_bytes: usize,
    pub next_steps: Vec<String>,
}
pub fn run_create(
    args: &CreateArgs,
    source: &dyn TemplateSource,
    prompter: Option<&mut dyn Prompter>,
    cwd: &Path,
) -> Result<CreateReport, ScaffoldError> {
    let catalogue = Catalogue::load(source);
    let choices = resolve_choices(args, &catalogue, cwd, prompter)?;
    let dir = target_dir(args, cwd, &choices.name);
    let plan = super::render::plan(source, &choices)?;
    write::write_files(&dir, &plan.files)?;
    let shown = match &args.dir {
        Some(d) => d.display().to_string(),
        None => choices.name.clone(),
    };
    let files: Vec<FileEntry> = plan
        .files
        .iter()
        .map(|f| FileEntry {
            path: f.path.clone(),
            bytes: f.contents.len(),
        })
        .collect();
    Ok(CreateReport {
        project: choices.name.clone(),
        template: choices.template.clone(),
        backend: plan.backend.as_ref().map(|b| b.name.clone()),
        frontend: plan.frontend.as_ref().map(|f| f.name.clone()),
        database: choices.database,
        target: choices.target,
        directory: shown.clone(),
        total_bytes: files.iter().map(|f| f.bytes).sum(),
        files,
        next_steps: next_steps(&plan, &shown),
    })
}

fn list_templates(catalogue: &Catalogue, mode: OutputMode, out: &mut dyn Write) -> i32 {
    match mode {
        OutputMode::Json => {
            let doc = serde_json::json!({ "templates": catalogue.templates });
            match crate::report::json_document(&doc) {
                Ok(s) => {
                    let _ = out.write_all(s.as_bytes());
                }
                Err(_) => return exit::FAILED,
            }
        }
        OutputMode::Table => {
            let mut t = Table::new(&["TEMPLATE", "KIND", "LANGUAGE", "PORT", "DESCRIPTION"]);
            for m in &catalogue.templates {
                let (lang, port) = if m.kind == Kind::Fullstack {
                    ("(backend's)".to_string(), "-".to_string())
                } else {
                    (m.language.clone(), m.port.to_string())
                };
                t.row([
                    m.name.clone(),
                    m.kind.as_str().to_string(),
                    lang,
                    port,
                    m.description.clone(),
                ]);
            }
            let _ = write!(out, "{}", t.render());
        }
    }
    exit::OK
}

/// Run `create` against the embedded templates and the real terminal.
pub fn cmd_create(args: &CreateArgs, mode: OutputMode) -> i32 {
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let source = EmbeddedTemplates;
    if args.list {
        let catalogue = Catalogue::load(&source);
        for b in &catalogue.broken {
            let _ = writeln!(err, "warning: {b}");
        }
        return list_templates(&catalogue, mode, &mut out);
    }
    let cwd = match std::env::current_dir() {
        Ok(d) => d,
        Err(e) => {
            return report_error(
                "io",
                &format!("reading the current directory: {e}"),
                exit::FAILED,
                mode,
                &mut out,
                &mut err,
            )
        }
    };
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let mut term;
    let mut plain;
    let prompter: Option<&mut dyn Prompter> = if args.yes {
        None
    } else if interactive {
        term = TermPrompter::new();
        Some(&mut term)
    } else {
        plain = PlainPrompter::new(std::io::stdin().lock(), std::io::stderr());
        Some(&mut plain)
    };
    match run_create(args, &source, prompter, &cwd) {
        Ok(report) => {
            match mode {
                OutputMode::Json => match crate::report::json_document(&report) {
                    Ok(s) => {
                        let _ = out.write_all(s.as_bytes());
                    }
                    Err(e) => {
                        let _ = writeln!(err, "error: encoding the report: {e}");
                        return exit::FAILED;
                    }
                },
                OutputMode::Table => {
                    let _ = write!(out, "{}", report_table(&report));
                }
            }
            exit::OK
        }
        Err(e) => report_error(
            e.kind(),
            &e.to_string(),
            e.exit_code(),
            mode,
            &mut out,
            &mut err,
        ),
    }
}

#[cfg(test)]
mod tests;
