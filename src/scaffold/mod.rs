//! `blissful-infra create`: scaffold a service project from the templates in
//! `templates/` (embedded in the binary).
//!
//! The steps, each in its own module:
//! - [`source`]: where template files come from (the embedded `templates/`
//!   folder, or an in-memory map in tests);
//! - [`meta`]: `template.toml` of each template, the catalogue;
//! - [`name`]: project name rules and the derived names (snake, Pascal);
//! - [`render`]: the whole project rendered in memory with minijinja (errors
//!   name the template file and line);
//! - [`write`]: the rendered files written to disk, all or nothing;
//! - [`prompt`]: the interactive questions (arrow keys on a terminal, plain
//!   lines otherwise);
//! - `cmd`: the `create` command itself (table or JSON, next steps).
//!
//! Layout rules for template authors:
//! files ending in `.j2` are rendered and lose the suffix, other files are
//! copied byte for byte; `__project__` and `__package__` path segments are
//! replaced; a `__if_<flag>__` folder is kept (without its own level) only
//! when the flag holds (`postgres`, `redis`, `database`, `kubernetes`,
//! `local`, `frontend`, `backend`, `fullstack`); a file named `_gitignore` is written as
//! `.gitignore`; `*.sh`, `gradlew` and `mvnw` are written executable. The
//! files of `_common/files` are laid under every template; a template's own
//! file with the same output path wins.

mod choices;
mod cmd;
pub mod meta;
pub mod name;
pub mod prompt;
pub mod render;
pub mod source;
mod summary;
pub mod write;

use std::fmt;
use std::path::PathBuf;

pub use cmd::{cmd_create, run_create, CreateArgs, CreateReport};
pub use meta::{Catalogue, Kind, TemplateMeta};
pub use render::{plan, Plan, RenderedFile};
pub use source::{EmbeddedTemplates, MemorySource, TemplateSource};
pub use summary::shell_word;

/// The databases a project can be created with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Database {
    None,
    Postgres,
    Redis,
    PostgresRedis,
}

impl Database {
    pub const ALL: [Database; 4] = [
        Database::None,
        Database::Postgres,
        Database::Redis,
        Database::PostgresRedis,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Database::None => "none",
            Database::Postgres => "postgres",
            Database::Redis => "redis",
            Database::PostgresRedis => "postgres-redis",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Database::None => "no database",
            Database::Postgres => "PostgreSQL",
            Database::Redis => "Redis",
            Database::PostgresRedis => "PostgreSQL and Redis",
        }
    }

    pub fn postgres(self) -> bool {
        matches!(self, Database::Postgres | Database::PostgresRedis)
    }

    pub fn redis(self) -> bool {
        matches!(self, Database::Redis | Database::PostgresRedis)
    }

    pub fn parse(s: &str) -> Option<Database> {
        Database::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the project is meant to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// Docker Compose and the sandbox only: no Kubernetes, Argo CD or Chaos Mesh files.
    LocalOnly,
    /// Everything, including Kustomize overlays, Argo CD and Chaos Mesh.
    Kubernetes,
}

impl Target {
    pub const ALL: [Target; 2] = [Target::Kubernetes, Target::LocalOnly];

    pub fn as_str(self) -> &'static str {
        match self {
            Target::LocalOnly => "local-only",
            Target::Kubernetes => "kubernetes",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Target::LocalOnly => "Docker Compose and the sandbox, no cluster files",
            Target::Kubernetes => "Kustomize overlays, Argo CD, Argo Rollouts, Chaos Mesh",
        }
    }

    pub fn parse(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// `--target NAME`: a known target, else why not (named targets that
    /// are planned, such as `cloud`, say "not supported yet").
    pub fn from_flag(name: &str) -> Result<Target, ScaffoldError> {
        const PLANNED: [&str; 1] = ["cloud"];
        Target::parse(name).ok_or_else(|| ScaffoldError::UnsupportedTarget {
            name: crate::domain::sanitize::strip_all(name),
            planned: PLANNED.contains(&name),
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything `create` needs to know, after flags and questions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choices {
    pub name: String,
    pub template: String,
    /// The backend of a fullstack project (ignored otherwise).
    pub backend: Option<String>,
    pub database: Database,
    pub target: Target,
}

/// One render problem, located in a template file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderProblem {
    /// Path under `templates/`, e.g. `fastapi/files/app/main.py.j2`.
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for RenderProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "templates/{}:{line}: {}", self.file, self.message),
            None => write!(f, "templates/{}: {}", self.file, self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("invalid project name `{name}`: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("unknown template `{name}` (available: {})", known.join(", "))]
    UnknownTemplate { name: String, known: Vec<String> },
    #[error("`{name}` cannot be the backend of a fullstack project: {reason}")]
    BadBackend { name: String, reason: String },
    #[error("--backend only applies to the fullstack template, not `{template}`")]
    BackendWithoutFullstack { template: String },
    #[error(
        "create --target {name}: {}; supported targets: {}; nothing was created",
        if *planned { "not supported yet" } else { "not a known target" },
        Target::ALL.map(Target::as_str).join(", ")
    )]
    UnsupportedTarget { name: String, planned: bool },
    #[error("templates/{file}: {message}")]
    Meta { file: String, message: String },
    #[error("{}", problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Render { problems: Vec<RenderProblem> },
    #[error("{} already exists and is not empty; choose another name or --dir, nothing was written", path.display())]
    DirectoryNotEmpty { path: PathBuf },
    #[error("{} exists and is not a directory; nothing was written", path.display())]
    NotADirectory { path: PathBuf },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Prompt(String),
    #[error("cancelled; nothing was written")]
    Cancelled,
}

impl ScaffoldError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ScaffoldError::Io {
            context: context.into(),
            source,
        }
    }

    /// A short machine-readable kind for `--output json`.
    pub fn kind(&self) -> &'static str {
        match self {
            ScaffoldError::InvalidName { .. } => "invalid_name",
            ScaffoldError::UnknownTemplate { .. } => "unknown_template",
            ScaffoldError::BadBackend { .. } => "bad_backend",
            ScaffoldError::BackendWithoutFullstack { .. } => "usage",
            ScaffoldError::UnsupportedTarget { .. } => "unsupported_target",
            ScaffoldError::Meta { .. } => "template_metadata",
            ScaffoldError::Render { .. } => "template_render",
            ScaffoldError::DirectoryNotEmpty { .. } => "directory_not_empty",
            ScaffoldError::NotADirectory { .. } => "not_a_directory",
            ScaffoldError::Io { .. } => "io",
            ScaffoldError::Prompt(_) => "prompt",
            ScaffoldError::Cancelled => "cancelled",
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        use crate::report::exit;
        match self {
            ScaffoldError::InvalidName { .. }
            | ScaffoldError::UnknownTemplate { .. }
            | ScaffoldError::BadBackend { .. }
            | ScaffoldError::BackendWithoutFullstack { .. }
            | ScaffoldError::Prompt(_) => exit::USAGE,
            ScaffoldError::DirectoryNotEmpty { .. }
            | ScaffoldError::NotADirectory { .. }
            | ScaffoldError::UnsupportedTarget { .. } => exit::REFUSED,
            ScaffoldError::Cancelled => exit::INTERRUPTED,
            ScaffoldError::Meta { .. }
            | ScaffoldError::Render { .. }
            | ScaffoldError::Io { .. } => exit::FAILED,
        }
    }
}
