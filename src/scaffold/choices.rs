//! What `create` will make: the flags, completed by prompts or defaults.

use std::path::{Path, PathBuf};

use super::cmd::{CreateArgs, DEFAULT_NAME, DEFAULT_TEMPLATE};
use super::meta::{Catalogue, Kind};
use super::prompt::{Choice, Prompter};
use super::{name, write, Choices, Database, ScaffoldError, Target};

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
    // A target that cannot be made is refused before anything is asked.
    let target_flag = args.target.as_deref().map(Target::from_flag).transpose()?;
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
    let target = match (target_flag, prompter) {
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

pub(super) fn target_dir(args: &CreateArgs, cwd: &Path, name: &str) -> PathBuf {
    match &args.dir {
        Some(d) if d.is_absolute() => d.clone(),
        Some(d) => cwd.join(d),
        None => cwd.join(name),
    }
}
