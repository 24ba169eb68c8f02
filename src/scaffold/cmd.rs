//! `blissful-infra create [NAME] [--template T] [--database D] [--target T]`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::meta::{Catalogue, Kind};
use super::prompt::{Choice, PlainPrompter, Prompter, TermPrompter};
use super::render::Plan;
use super::source::{EmbeddedTemplates, TemplateSource};
use super::{name, write, Choices, Database, ScaffoldError, Target};
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
    /// Deployment target: kubernetes adds Kustomize overlays, Argo CD, Argo Rollouts and Chaos Mesh.
    #[arg(long, value_enum)]
    pub target: Option<Target>,
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

/// Settle every choice from the flags, then the questions (when a prompter
/// is given and not --yes), then the defaults.
pub fn resolve_choices(
    args: &CreateArgs,
    catalogue: &Catalogue,
    cwd: &Path,
    mut prompter: Option<&mut dyn Prompter>,
) -> Result<Choices, ScaffoldError> {
    if args.yes {
        prompter = None;
    }
    let name = match &args.name {
        Some(n) => {
            name::validate(n)?;
            n.clone()
        }
        None => match prompter.as_deref_mut() {
            Some(p) => p.text("Project name", DEFAULT_NAME, &|s| {
                name::validate(s).map_err(|e| e.to_string())?;
                let dir = args.dir.clone().unwrap_or_else(|| cwd.join(s));
                write::check_target(&dir).map_err(|e| e.to_string())
            })?,
            None if args.yes => DEFAULT_NAME.to_string(),
            None => {
                return Err(ScaffoldError::Prompt(
                    "a project name is required: blissful-infra create NAME (or --yes for `my-service`)"
                        .into(),
                ))
            }
        },
    };
    // Refuse an existing directory before asking anything else.
    write::check_target(&target_dir(args, cwd, &name))?;

    let template =
        match &args.template {
            Some(t) => catalogue.require(t)?.clone(),
            None => {
                let default = catalogue
                    .templates
                    .iter()
                    .position(|t| t.name == DEFAULT_TEMPLATE)
                    .unwrap_or(0);
                let idx = match prompter.as_deref_mut() {
                    Some(p) => {
                        let options: Vec<Choice> = catalogue
                            .templates
                            .iter()
                            .map(|t| Choice::new(&t.name, &t.description))
                            .collect();
                        p.select("Template", &options, default)?
                    }
                    None => default,
                };
                catalogue.templates.get(idx).cloned().ok_or_else(|| {
                    ScaffoldError::UnknownTemplate {
                        name: DEFAULT_TEMPLATE.into(),
                        known: catalogue.names(),
                    }
                })?
            }
        };

    let backend = if template.kind == Kind::Fullstack {
        match &args.backend {
            Some(b) => Some(b.clone()),
            None => {
                let backends: Vec<_> = catalogue.backends().collect();
                let default_name = template.default_backend.clone().unwrap_or_default();
                let default = backends
                    .iter()
                    .position(|b| b.name == default_name)
                    .unwrap_or(0);
                match prompter.as_deref_mut() {
                    Some(p) if !backends.is_empty() => {
                        let options: Vec<Choice> = backends
                            .iter()
                            .map(|t| Choice::new(&t.name, &t.description))
                            .collect();
                        let i = p.select("Backend", &options, default)?;
                        backends.get(i).map(|b| b.name.clone())
                    }
                    _ => Some(default_name),
                }
            }
        }
    } else {
        if args.backend.is_some() {
            return Err(ScaffoldError::BackendWithoutFullstack {
                template: template.name.clone(),
            });
        }
        None
    };

    let database = match (args.database, prompter.as_deref_mut()) {
        (Some(d), _) => d,
        (None, Some(p)) => {
            let options: Vec<Choice> = Database::ALL
                .iter()
                .map(|d| Choice::new(d.as_str(), d.describe()))
                .collect();
            Database::ALL[p
                .select("Database", &options, 0)?
                .min(Database::ALL.len() - 1)]
        }
        (None, None) => Database::None,
    };
    let target = match (args.target, prompter) {
        (Some(t), _) => t,
        (None, Some(p)) => {
            let options: Vec<Choice> = Target::ALL
                .iter()
                .map(|t| Choice::new(t.as_str(), t.describe()))
                .collect();
            Target::ALL[p
                .select("Deployment target", &options, 0)?
                .min(Target::ALL.len() - 1)]
        }
        (None, None) => Target::Kubernetes,
    };
    Ok(Choices {
        name,
        template: template.name.clone(),
        backend,
        database,
        target,
    })
}

fn target_dir(args: &CreateArgs, cwd: &Path, name: &str) -> PathBuf {
    match &args.dir {
        Some(d) if d.is_absolute() => d.clone(),
        Some(d) => cwd.join(d),
        None => cwd.join(name),
    }
}

/// The commands to run next, in order.
pub fn next_steps(plan: &Plan, shown_dir: &str) -> Vec<String> {
    let c = &plan.context;
    let mut v = vec![format!("cd {}", shell_word(shown_dir))];
    match (&plan.backend, &plan.frontend) {
        (Some(_), Some(f)) => {
            v.push(format!(
                "(cd backend && {} && {})",
                c.native_setup, c.test_command
            ));
            v.push(format!(
                "(cd frontend && {} && {})",
                f.native_setup, f.test_command
            ));
        }
        _ => {
            v.push(c.native_setup.clone());
            v.push(c.test_command.clone());
        }
    }
    v.push("blissful-infra    # the console: runs the service natively in the sandbox".into());
    v.push(
        "docker compose up --build    # the service with Kafka (and its database) in containers"
            .into(),
    );
    if c.kubernetes {
        v.push("kubectl apply -k k8s/overlays/ephemeral    # or let Argo CD sync argocd/".into());
    }
    v
}

fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Resolve the choices, render everything in memory, then write it.
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

fn human_bytes(n: usize) -> String {
    if n < 1024 {
        format!("{n} B")
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

/// The report as the table shown to a person.
pub fn report_table(r: &CreateReport) -> String {
    let mut s = String::new();
    let from = match (&r.backend, &r.frontend) {
        (Some(b), Some(f)) => format!("{} ({b} + {f})", r.template),
        _ => r.template.clone(),
    };
    s.push_str(&format!(
        "Created {} from {from} (database: {}, target: {}) in {}\n\n",
        r.project, r.database, r.target, r.directory
    ));
    let mut t = Table::new(&["FILE", "BYTES"]);
    for f in &r.files {
        t.row([f.path.clone(), f.bytes.to_string()]);
    }
    s.push_str(&t.render());
    s.push_str(&format!(
        "{} files, {}\n\nNext steps:\n",
        r.files.len(),
        human_bytes(r.total_bytes)
    ));
    for step in &r.next_steps {
        s.push_str(&format!("  {step}\n"));
    }
    s
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
mod tests {
    use super::*;
    use crate::scaffold::prompt::PlainPrompter;
    use crate::scaffold::source::MemorySource;

    const META: &str = "description = \"d\"\nlanguage = \"python\"\nkind = \"backend\"\nport = 9000\nnative_command = \"run $PORT\"\nnative_setup = \"setup\"\ntest_command = \"test\"\n";

    fn src() -> MemorySource {
        MemorySource::new()
            .with(
                "fastapi/template.toml",
                &format!("name = \"fastapi\"\n{META}"),
            )
            .with(
                "express/template.toml",
                &format!("name = \"express\"\n{META}"),
            )
            .with(
                "fastapi/files/app.py.j2",
                "# {{ project }} {{ database }}\n",
            )
            .with("express/files/app.js", "//\n")
    }

    #[test]
    fn flags_need_no_questions() {
        let tmp = tempfile::tempdir().unwrap();
        let args = CreateArgs {
            name: Some("svc".into()),
            template: Some("express".into()),
            database: Some(Database::Redis),
            target: Some(Target::LocalOnly),
            ..Default::default()
        };
        let r = run_create(&args, &src(), None, tmp.path()).unwrap();
        assert_eq!(r.template, "express");
        assert_eq!(
            r.files,
            vec![FileEntry {
                path: "app.js".into(),
                bytes: 3
            }]
        );
        assert_eq!(r.next_steps[0], "cd svc");
        assert!(!r.next_steps.iter().any(|s| s.contains("kubectl")));
        assert!(tmp.path().join("svc/app.js").is_file());
        let table = report_table(&r);
        assert!(
            table.contains("FILE") && table.contains("Next steps:\n  cd svc\n"),
            "{table}"
        );
    }

    #[test]
    fn plain_questions_fill_the_gaps() {
        let tmp = tempfile::tempdir().unwrap();
        // name, template (fastapi is listed first), database (postgres), target (local-only)
        let input = "shop\n1\n2\n2\n";
        let mut p = PlainPrompter::new(std::io::Cursor::new(input.as_bytes().to_vec()), Vec::new());
        let r = run_create(&CreateArgs::default(), &src(), Some(&mut p), tmp.path()).unwrap();
        assert_eq!(
            (r.project.as_str(), r.template.as_str()),
            ("shop", "fastapi")
        );
        assert_eq!(r.database, Database::Postgres);
        assert_eq!(r.target, Target::LocalOnly);
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("shop/app.py")).unwrap(),
            "# shop postgres\n"
        );
    }

    #[test]
    fn yes_takes_the_defaults_and_no_name_without_questions_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let args = CreateArgs {
            yes: true,
            ..Default::default()
        };
        let r = run_create(&args, &src(), None, tmp.path()).unwrap();
        assert_eq!(r.project, DEFAULT_NAME);
        assert_eq!(r.template, DEFAULT_TEMPLATE);
        assert_eq!(r.target, Target::Kubernetes);
        let e = run_create(&CreateArgs::default(), &src(), None, tmp.path()).unwrap_err();
        assert!(e.to_string().contains("project name is required"), "{e}");
    }

    #[test]
    fn errors_write_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let cases: Vec<(CreateArgs, &str)> = vec![
            (
                CreateArgs {
                    name: Some("Bad_Name".into()),
                    yes: true,
                    ..Default::default()
                },
                "invalid project name",
            ),
            (
                CreateArgs {
                    name: Some("svc".into()),
                    template: Some("rails".into()),
                    yes: true,
                    ..Default::default()
                },
                "unknown template `rails` (available: fastapi, express)",
            ),
            (
                CreateArgs {
                    name: Some("svc".into()),
                    backend: Some("express".into()),
                    yes: true,
                    ..Default::default()
                },
                "only applies to the fullstack template",
            ),
        ];
        for (args, want) in cases {
            let e = run_create(&args, &src(), None, tmp.path()).unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
            assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "{want}");
        }
        std::fs::create_dir(tmp.path().join("svc")).unwrap();
        std::fs::write(tmp.path().join("svc/keep.txt"), "mine").unwrap();
        let args = CreateArgs {
            name: Some("svc".into()),
            yes: true,
            ..Default::default()
        };
        let e = run_create(&args, &src(), None, tmp.path()).unwrap_err();
        assert_eq!(e.exit_code(), exit::REFUSED);
        assert!(e.to_string().contains("not empty"), "{e}");
        let left: Vec<_> = std::fs::read_dir(tmp.path().join("svc")).unwrap().collect();
        assert_eq!(left.len(), 1);
        assert_eq!(
            std::fs::read_dir(tmp.path()).unwrap().count(),
            1,
            "no staging folder"
        );
    }

    #[test]
    fn dir_places_the_project_and_is_shown_as_given() {
        let tmp = tempfile::tempdir().unwrap();
        let args = CreateArgs {
            name: Some("svc".into()),
            dir: Some(PathBuf::from("nested/place")),
            yes: true,
            ..Default::default()
        };
        let r = run_create(&args, &src(), None, tmp.path()).unwrap();
        assert!(tmp.path().join("nested/place/app.py").is_file());
        assert_eq!(r.directory, "nested/place");
        assert_eq!(r.next_steps[0], "cd nested/place");
        let odd = CreateArgs {
            name: Some("svc".into()),
            dir: Some(PathBuf::from("with space")),
            yes: true,
            ..Default::default()
        };
        let r = run_create(&odd, &src(), None, tmp.path()).unwrap();
        assert_eq!(r.next_steps[0], "cd 'with space'");
    }

    #[test]
    fn hostile_template_names_are_not_echoed_raw() {
        let tmp = tempfile::tempdir().unwrap();
        let args = CreateArgs {
            name: Some("svc".into()),
            template: Some("x\u{1b}]0;pwned\u{7}".into()),
            yes: true,
            ..Default::default()
        };
        let e = run_create(&args, &src(), None, tmp.path())
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\u{1b}') && !e.contains('\u{7}'), "{e:?}");
    }

    #[test]
    fn a_render_error_writes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let s = src().with("fastapi/files/z.txt.j2", "{{ nope }}");
        let args = CreateArgs {
            name: Some("svc".into()),
            yes: true,
            ..Default::default()
        };
        let e = run_create(&args, &s, None, tmp.path()).unwrap_err();
        assert!(
            e.to_string().contains("templates/fastapi/files/z.txt.j2:1"),
            "{e}"
        );
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}
