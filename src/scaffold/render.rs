//! Render a whole project in memory: choose the layers of template files,
//! map their paths, render the `.j2` files with minijinja. Nothing touches
//! the disk here, so an error in any file means nothing is written.

use std::collections::BTreeMap;

use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde::Serialize;

use super::meta::{Catalogue, Kind, TemplateMeta, COMMON};
use super::source::TemplateSource;
use super::{name, Choices, RenderProblem, ScaffoldError, Target};

/// One file of the generated project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedFile {
    /// Relative, `/`-separated, never `..`.
    pub path: String,
    pub contents: Vec<u8>,
    pub executable: bool,
    /// The template file it came from (under `templates/`).
    pub source: String,
}

/// The rendered project and what the next steps are.
#[derive(Clone, Debug)]
pub struct Plan {
    pub choices: Choices,
    pub template: TemplateMeta,
    /// For fullstack: the backend and frontend used.
    pub backend: Option<TemplateMeta>,
    pub frontend: Option<TemplateMeta>,
    pub context: Context,
    /// Sorted by path.
    pub files: Vec<RenderedFile>,
}

/// The variables every `.j2` file sees.
#[derive(Clone, Debug, Serialize)]
pub struct Context {
    pub project: String,
    pub project_snake: String,
    pub project_pascal: String,
    /// The project name as a Kubernetes/Compose name (`my.service` ->
    /// `my-service`, `9lives` -> `svc-9lives`).
    pub dns_name: String,
    /// The template being rendered (`fastapi`; `fullstack` at the root of a
    /// fullstack project, the backend's name inside `backend/`).
    pub template: String,
    /// The template chosen by the user.
    pub project_template: String,
    pub kind: String,
    pub language: String,
    pub database: String,
    pub use_postgres: bool,
    pub use_redis: bool,
    pub use_database: bool,
    pub target: String,
    pub kubernetes: bool,
    pub port: u16,
    pub package: String,
    pub package_path: String,
    pub image: String,
    pub native_command: String,
    pub native_setup: String,
    pub test_command: String,
    pub build_command: String,
    /// Folder of the service that runs natively, relative to the project
    /// root (`""` or `backend`).
    pub workdir: String,
    pub has_backend: bool,
    pub has_frontend: bool,
    /// Folder of the frontend (`""` for react-vite alone, `frontend` in fullstack).
    pub frontend_dir: String,
    pub frontend_port: u16,
    pub frontend_image: String,
    /// The backend template of a fullstack project (else the template itself when it is a backend).
    pub backend_template: String,
    pub backend_language: String,
    /// A backend and a frontend in one project.
    pub fullstack: bool,
    /// The frontend's commands in a fullstack project (else empty).
    pub frontend_setup: String,
    pub frontend_test_command: String,
    /// Probe paths of the main workload (`/live` and `/ready` for a backend,
    /// `/` for a frontend served as static files).
    pub live_path: String,
    pub ready_path: String,
    pub blissful_version: String,
}

/// Render the project described by `choices`.
pub fn plan(source: &dyn TemplateSource, choices: &Choices) -> Result<Plan, ScaffoldError> {
    name::validate(&choices.name)?;
    let catalogue = Catalogue::load(source);
    let template = catalogue.require(&choices.template)?.clone();
    let (backend, frontend) = match template.kind {
        Kind::Fullstack => {
            let b = choices
                .backend
                .clone()
                .or_else(|| template.default_backend.clone())
                .unwrap_or_default();
            let backend = catalogue.require(&b).map_err(|e| match e {
                ScaffoldError::UnknownTemplate { .. } => ScaffoldError::BadBackend {
                    name: crate::domain::sanitize::strip_all(&b),
                    reason: format!(
                        "no such template (backends: {})",
                        catalogue
                            .backends()
                            .map(|t| t.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
                other => other,
            })?;
            if backend.kind != Kind::Backend {
                return Err(ScaffoldError::BadBackend {
                    name: backend.name.clone(),
                    reason: format!("it is a {} template", backend.kind.as_str()),
                });
            }
            let f = template.frontend.clone().unwrap_or_default();
            let frontend = catalogue.require(&f)?;
            if frontend.kind != Kind::Frontend {
                return Err(ScaffoldError::Meta {
                    file: format!("{}/template.toml", template.name),
                    message: format!("frontend = \"{f}\" is not a frontend template"),
                });
            }
            (Some(backend.clone()), Some(frontend.clone()))
        }
        _ => {
            if choices.backend.is_some() {
                return Err(ScaffoldError::BackendWithoutFullstack {
                    template: template.name.clone(),
                });
            }
            (None, None)
        }
    };

    let derived = name::derive(&choices.name)?;
    let mut ctx = base_context(
        choices,
        &derived,
        &template,
        backend.as_ref(),
        frontend.as_ref(),
    );
    let svc_name = backend.as_ref().unwrap_or(&template).name.clone();
    ctx.native_command = render_meta_str(&ctx.native_command, &ctx, &svc_name)?;
    ctx.native_setup = render_meta_str(&ctx.native_setup, &ctx, &svc_name)?;
    ctx.test_command = render_meta_str(&ctx.test_command, &ctx, &svc_name)?;
    ctx.build_command = render_meta_str(&ctx.build_command, &ctx, &svc_name)?;
    if let Some(f) = &frontend {
        ctx.frontend_setup = render_meta_str(&f.native_setup, &ctx, &f.name)?;
        ctx.frontend_test_command = render_meta_str(&f.test_command, &ctx, &f.name)?;
    }
    // Layers, later ones override earlier ones at the same output path.
    let mut layers: Vec<Layer> = vec![Layer {
        root: format!("{COMMON}/files/"),
        out_prefix: String::new(),
        ctx: ctx.clone(),
    }];
    layers.push(Layer {
        root: format!("{}/files/", template.name),
        out_prefix: String::new(),
        ctx: ctx.clone(),
    });
    if let (Some(b), Some(f)) = (&backend, &frontend) {
        let mut bctx = ctx.clone();
        bctx.template = b.name.clone();
        bctx.kind = Kind::Backend.as_str().into();
        layers.push(Layer {
            root: format!("{}/files/", b.name),
            out_prefix: "backend/".into(),
            ctx: bctx,
        });
        let mut fctx = ctx.clone();
        fctx.template = f.name.clone();
        fctx.kind = Kind::Frontend.as_str().into();
        fctx.language = f.language.clone();
        fctx.port = f.port;
        fctx.live_path = "/".into();
        fctx.ready_path = "/".into();
        fctx.native_command = render_meta_str(&f.native_command, &fctx, &f.name)?;
        fctx.native_setup = render_meta_str(&f.native_setup, &fctx, &f.name)?;
        fctx.test_command = render_meta_str(&f.test_command, &fctx, &f.name)?;
        fctx.build_command = match &f.build_command {
            Some(c) => render_meta_str(c, &fctx, &f.name)?,
            None => String::new(),
        };
        layers.push(Layer {
            root: format!("{}/files/", f.name),
            out_prefix: "frontend/".into(),
            ctx: fctx,
        });
    }

    let files = render_layers(source, &layers)?;
    Ok(Plan {
        choices: choices.clone(),
        template,
        backend,
        frontend,
        context: ctx,
        files,
    })
}

struct Layer {
    /// Source prefix, e.g. `fastapi/files/`.
    root: String,
    /// Output prefix, e.g. `backend/`.
    out_prefix: String,
    ctx: Context,
}

fn base_context(
    choices: &Choices,
    derived: &name::DerivedNames,
    template: &TemplateMeta,
    backend: Option<&TemplateMeta>,
    frontend: Option<&TemplateMeta>,
) -> Context {
    let project = choices.name.clone();
    let snake = derived.snake.clone();
    let package_segment = derived.package_segment.clone();
    // The service that runs natively: the backend of a fullstack project.
    let svc = backend.unwrap_or(template);
    let (has_backend, has_frontend) = match template.kind {
        Kind::Backend => (true, false),
        Kind::Frontend => (false, true),
        Kind::Fullstack => (true, true),
    };
    let (frontend_dir, frontend_port) = match (template.kind, frontend) {
        (Kind::Fullstack, Some(f)) => ("frontend".to_string(), f.port),
        (Kind::Frontend, _) => (String::new(), template.port),
        _ => (String::new(), 0),
    };
    Context {
        project: project.clone(),
        project_snake: snake.clone(),
        project_pascal: derived.pascal.clone(),
        dns_name: derived.dns.clone(),
        template: template.name.clone(),
        project_template: template.name.clone(),
        kind: template.kind.as_str().into(),
        language: svc.language.clone(),
        database: choices.database.as_str().into(),
        use_postgres: choices.database.postgres(),
        use_redis: choices.database.redis(),
        use_database: choices.database.postgres() || choices.database.redis(),
        target: choices.target.as_str().into(),
        kubernetes: choices.target == Target::Kubernetes,
        port: svc.port,
        package: format!("com.example.{package_segment}"),
        package_path: format!("com/example/{package_segment}"),
        image: project.clone(),
        native_command: svc.native_command.clone(),
        native_setup: svc.native_setup.clone(),
        test_command: svc.test_command.clone(),
        build_command: svc.build_command.clone().unwrap_or_default(),
        workdir: if template.kind == Kind::Fullstack {
            "backend".into()
        } else {
            String::new()
        },
        has_backend,
        has_frontend,
        frontend_dir,
        frontend_port,
        frontend_image: if template.kind == Kind::Fullstack {
            format!("{project}-frontend")
        } else {
            project.clone()
        },
        backend_template: if has_backend {
            svc.name.clone()
        } else {
            String::new()
        },
        backend_language: if has_backend {
            svc.language.clone()
        } else {
            String::new()
        },
        fullstack: has_backend && has_frontend,
        frontend_setup: String::new(),
        frontend_test_command: String::new(),
        live_path: if has_backend { "/live" } else { "/" }.into(),
        ready_path: if has_backend { "/ready" } else { "/" }.into(),
        blissful_version: env!("CARGO_PKG_VERSION").into(),
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Never fails with the default delimiters; keep the defaults otherwise.
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    env.set_auto_escape_callback(|_| AutoEscape::None);
    // A JSON string is also a valid double-quoted YAML scalar.
    env.add_filter("tojson", |v: Value| -> Result<String, minijinja::Error> {
        serde_json::to_string(&v).map_err(|e| {
            minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
        })
    });
    env
}

fn problem_from(e: &minijinja::Error, fallback_file: &str) -> RenderProblem {
    let mut message = e.kind().to_string();
    if let Some(d) = e.detail() {
        message.push_str(": ");
        message.push_str(d);
    }
    RenderProblem {
        file: e.name().unwrap_or(fallback_file).to_string(),
        line: e.line(),
        message,
    }
}

/// Render one of the command strings of a `template.toml` (they may use
/// `{{image}}` and the other variables).
fn render_meta_str(text: &str, ctx: &Context, template: &str) -> Result<String, ScaffoldError> {
    let file = format!("{template}/template.toml");
    let env = environment();
    env.render_str(text, Value::from(Serde(ctx)))
        .map_err(|e| ScaffoldError::Render {
            problems: vec![RenderProblem {
                file: file.clone(),
                line: None,
                message: problem_from(&e, &file).message,
            }],
        })
}

/// Output path of `rel` (relative to a layer's root), or `None` when a
/// `__if_<flag>__` folder on the way does not hold.
fn map_path(
    rel: &str,
    ctx: &Context,
    source_file: &str,
) -> Result<Option<(String, bool)>, RenderProblem> {
    let problem = |message: String| RenderProblem {
        file: source_file.to_string(),
        line: None,
        message,
    };
    let segs: Vec<&str> = rel.split('/').collect();
    let last = segs.len().saturating_sub(1);
    let mut out: Vec<String> = Vec::new();
    let mut render = false;
    for (i, seg) in segs.iter().enumerate() {
        if seg.is_empty() || *seg == "." || *seg == ".." {
            return Err(problem(format!("path segment `{seg}` is not allowed")));
        }
        if i < last {
            if let Some(flag) = seg.strip_prefix("__if_").and_then(|s| s.strip_suffix("__")) {
                match flag_value(flag, ctx) {
                    Some(true) => continue,
                    Some(false) => return Ok(None),
                    None => {
                        return Err(problem(format!(
                            "unknown condition folder `{seg}` (known: postgres, redis, database, kubernetes, local, frontend, backend, fullstack)"
                        )))
                    }
                }
            }
        }
        let mut seg = seg.to_string();
        if i == last {
            if let Some(stem) = seg.strip_suffix(".j2") {
                seg = stem.to_string();
                render = true;
            }
            if seg == "_gitignore" {
                seg = ".gitignore".into();
            }
        }
        let seg = seg
            .replace("__project__", &ctx.project)
            .replace("__package__", &ctx.package_path);
        if seg.is_empty() {
            return Err(problem("a file name is empty after renaming".into()));
        }
        out.push(seg);
    }
    Ok(Some((out.join("/"), render)))
}

fn flag_value(flag: &str, ctx: &Context) -> Option<bool> {
    Some(match flag {
        "postgres" => ctx.use_postgres,
        "redis" => ctx.use_redis,
        "database" => ctx.use_database,
        "kubernetes" => ctx.kubernetes,
        "local" => !ctx.kubernetes,
        "frontend" => ctx.has_frontend,
        "backend" => ctx.has_backend,
        "fullstack" => ctx.fullstack,
        _ => return None,
    })
}

fn is_executable(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.ends_with(".sh") || file == "gradlew" || file == "mvnw"
}

fn render_layers(
    source: &dyn TemplateSource,
    layers: &[Layer],
) -> Result<Vec<RenderedFile>, ScaffoldError> {
    let all = source.paths();
    let mut env = environment();
    // Every .j2 of the templates in use (and their partials/) is loaded up
    // front so `{% include %}` and `{% import %}` can reach them by their
    // path under templates/.
    let mut problems: Vec<RenderProblem> = Vec::new();
    let tmpl_dirs: Vec<&str> = layers
        .iter()
        .filter_map(|l| l.root.split('/').next())
        .collect();
    for p in &all {
        let dir = p.split('/').next().unwrap_or_default();
        if !tmpl_dirs.contains(&dir) || !p.ends_with(".j2") {
            continue;
        }
        let Some(bytes) = source.read(p) else {
            continue;
        };
        match String::from_utf8(bytes.into_owned()) {
            Ok(text) => {
                if let Err(e) = env.add_template_owned(p.clone(), text) {
                    problems.push(problem_from(&e, p));
                }
            }
            Err(_) => problems.push(RenderProblem {
                file: p.clone(),
                line: None,
                message: "a .j2 file must be UTF-8".into(),
            }),
        }
    }
    if !problems.is_empty() {
        return Err(ScaffoldError::Render { problems });
    }

    let mut out: BTreeMap<String, RenderedFile> = BTreeMap::new();
    for layer in layers {
        let ctx_value = Value::from(Serde(&layer.ctx));
        let mut seen_in_layer: BTreeMap<String, String> = BTreeMap::new();
        for p in all.iter().filter(|p| p.starts_with(&layer.root)) {
            let rel = &p[layer.root.len()..];
            let (rel_out, render) = match map_path(rel, &layer.ctx, p) {
                Ok(Some(x)) => x,
                Ok(None) => continue,
                Err(problem) => {
                    problems.push(problem);
                    continue;
                }
            };
            let path = format!("{}{rel_out}", layer.out_prefix);
            if let Some(other) = seen_in_layer.insert(path.clone(), p.clone()) {
                problems.push(RenderProblem {
                    file: p.clone(),
                    line: None,
                    message: format!("writes `{path}`, which templates/{other} also writes"),
                });
                continue;
            }
            let contents = if render {
                match env
                    .get_template(p)
                    .and_then(|t| t.render(ctx_value.clone()))
                {
                    Ok(s) => s.into_bytes(),
                    Err(e) => {
                        problems.push(problem_from(&e, p));
                        continue;
                    }
                }
            } else {
                match source.read(p) {
                    Some(b) => b.into_owned(),
                    None => {
                        problems.push(RenderProblem {
                            file: p.clone(),
                            line: None,
                            message: "cannot be read".into(),
                        });
                        continue;
                    }
                }
            };
            out.insert(
                path.clone(),
                RenderedFile {
                    executable: is_executable(&path),
                    path,
                    contents,
                    source: p.clone(),
                },
            );
        }
    }
    if !problems.is_empty() {
        return Err(ScaffoldError::Render { problems });
    }
    Ok(out.into_values().collect())
}

#[cfg(test)]
mod tests;
