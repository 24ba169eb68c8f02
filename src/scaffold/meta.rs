//! `template.toml`: what a template is and how its service runs natively.

use serde::{Deserialize, Serialize};

use super::source::TemplateSource;
use super::ScaffoldError;

/// The folder of files laid under every template.
pub const COMMON: &str = "_common";

/// Templates offered first, in this order; any other template follows by name.
const PREFERRED_ORDER: [&str; 6] = [
    "spring-boot",
    "fastapi",
    "express",
    "go-chi",
    "react-vite",
    "fullstack",
];

const LANGUAGES: [&str; 4] = ["python", "kotlin", "typescript", "go"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Backend,
    Frontend,
    Fullstack,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Backend => "backend",
            Kind::Frontend => "frontend",
            Kind::Fullstack => "fullstack",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeta {
    name: String,
    description: String,
    kind: Kind,
    language: Option<String>,
    port: Option<u16>,
    native_command: Option<String>,
    native_setup: Option<String>,
    test_command: Option<String>,
    build_command: Option<String>,
    /// fullstack only: the frontend template laid under `frontend/`.
    frontend: Option<String>,
    /// fullstack only: the backend used when `--backend` is not given.
    default_backend: Option<String>,
}

/// A template's metadata, checked: backend and frontend templates always
/// have a language, a port and their native commands; a fullstack template
/// names its frontend and default backend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TemplateMeta {
    pub name: String,
    pub description: String,
    pub kind: Kind,
    /// Empty for fullstack (its backend's language applies).
    pub language: String,
    pub port: u16,
    /// `$PORT` and `$VERSION` are expanded by the shell that runs it.
    pub native_command: String,
    pub native_setup: String,
    pub test_command: String,
    pub build_command: Option<String>,
    pub frontend: Option<String>,
    pub default_backend: Option<String>,
}

impl TemplateMeta {
    /// Parse and check `<dir>/template.toml` (`dir` is the template's folder name).
    pub fn parse(dir: &str, text: &str) -> Result<TemplateMeta, ScaffoldError> {
        let file = format!("{dir}/template.toml");
        let err = |message: String| ScaffoldError::Meta {
            file: file.clone(),
            message,
        };
        let raw: RawMeta = toml::from_str(text).map_err(|e| err(e.message().to_string()))?;
        if raw.name != dir {
            return Err(err(format!(
                "name = \"{}\" must match the folder name `{dir}`",
                raw.name
            )));
        }
        if raw.description.trim().is_empty() {
            return Err(err("description must not be empty".into()));
        }
        match raw.kind {
            Kind::Backend | Kind::Frontend => {
                if raw.frontend.is_some() || raw.default_backend.is_some() {
                    return Err(err(
                        "`frontend` and `default_backend` are only for kind = \"fullstack\"".into(),
                    ));
                }
                let need = |key: &str, v: Option<String>| {
                    v.filter(|s| !s.trim().is_empty()).ok_or_else(|| {
                        err(format!(
                            "`{key}` is required for kind = \"{}\"",
                            raw.kind.as_str()
                        ))
                    })
                };
                let language = need("language", raw.language)?;
                if !LANGUAGES.contains(&language.as_str()) {
                    return Err(err(format!(
                        "language = \"{language}\" is not one of {}",
                        LANGUAGES.join(", ")
                    )));
                }
                let port = raw.port.filter(|p| *p > 0).ok_or_else(|| {
                    err(format!(
                        "`port` (1..65535) is required for kind = \"{}\"",
                        raw.kind.as_str()
                    ))
                })?;
                Ok(TemplateMeta {
                    name: raw.name,
                    description: raw.description,
                    kind: raw.kind,
                    language,
                    port,
                    native_command: need("native_command", raw.native_command)?,
                    native_setup: need("native_setup", raw.native_setup)?,
                    test_command: need("test_command", raw.test_command)?,
                    build_command: raw.build_command,
                    frontend: None,
                    default_backend: None,
                })
            }
            Kind::Fullstack => {
                let extra = [
                    ("language", raw.language.is_some()),
                    ("port", raw.port.is_some()),
                    ("native_command", raw.native_command.is_some()),
                    ("native_setup", raw.native_setup.is_some()),
                    ("test_command", raw.test_command.is_some()),
                    ("build_command", raw.build_command.is_some()),
                ];
                if let Some((key, _)) = extra.iter().find(|(_, set)| *set) {
                    return Err(err(format!(
                        "`{key}` comes from the chosen backend in a fullstack template; remove it"
                    )));
                }
                let frontend = raw
                    .frontend
                    .ok_or_else(|| err("`frontend` is required for kind = \"fullstack\"".into()))?;
                let default_backend = raw.default_backend.ok_or_else(|| {
                    err("`default_backend` is required for kind = \"fullstack\"".into())
                })?;
                Ok(TemplateMeta {
                    name: raw.name,
                    description: raw.description,
                    kind: raw.kind,
                    language: String::new(),
                    port: 0,
                    native_command: String::new(),
                    native_setup: String::new(),
                    test_command: String::new(),
                    build_command: None,
                    frontend: Some(frontend),
                    default_backend: Some(default_backend),
                })
            }
        }
    }
}

/// Every template found in a source. A template whose `template.toml` is
/// broken is kept out of `templates` and reported in `broken`, so one bad
/// template does not stop the others from being used.
#[derive(Debug, Default)]
pub struct Catalogue {
    pub templates: Vec<TemplateMeta>,
    pub broken: Vec<ScaffoldError>,
}

impl Catalogue {
    pub fn load(source: &dyn TemplateSource) -> Catalogue {
        let mut dirs: Vec<String> = source
            .paths()
            .iter()
            .filter_map(|p| {
                let (dir, rest) = p.split_once('/')?;
                (rest == "template.toml" && dir != COMMON).then(|| dir.to_string())
            })
            .collect();
        dirs.sort_by_key(|d| {
            (
                PREFERRED_ORDER
                    .iter()
                    .position(|p| p == d)
                    .unwrap_or(PREFERRED_ORDER.len()),
                d.clone(),
            )
        });
        let mut cat = Catalogue::default();
        for dir in dirs {
            let path = format!("{dir}/template.toml");
            let parsed = match source.read(&path) {
                Some(bytes) => match std::str::from_utf8(&bytes) {
                    Ok(text) => TemplateMeta::parse(&dir, text),
                    Err(_) => Err(ScaffoldError::Meta {
                        file: path.clone(),
                        message: "not UTF-8".into(),
                    }),
                },
                None => Err(ScaffoldError::Meta {
                    file: path.clone(),
                    message: "cannot be read".into(),
                }),
            };
            match parsed {
                Ok(m) => cat.templates.push(m),
                Err(e) => cat.broken.push(e),
            }
        }
        cat
    }

    pub fn get(&self, name: &str) -> Option<&TemplateMeta> {
        self.templates.iter().find(|t| t.name == name)
    }

    pub fn names(&self) -> Vec<String> {
        self.templates.iter().map(|t| t.name.clone()).collect()
    }

    pub fn backends(&self) -> impl Iterator<Item = &TemplateMeta> {
        self.templates.iter().filter(|t| t.kind == Kind::Backend)
    }

    /// The template named `name`, or the error naming the known ones (and
    /// the broken `template.toml` if that is why it is missing).
    pub fn require(&self, name: &str) -> Result<&TemplateMeta, ScaffoldError> {
        if let Some(t) = self.get(name) {
            return Ok(t);
        }
        let prefix = format!("{name}/template.toml");
        for b in &self.broken {
            if let ScaffoldError::Meta { file, message } = b {
                if *file == prefix {
                    return Err(ScaffoldError::Meta {
                        file: file.clone(),
                        message: message.clone(),
                    });
                }
            }
        }
        Err(ScaffoldError::UnknownTemplate {
            name: crate::domain::sanitize::strip_all(name),
            known: self.names(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scaffold::source::MemorySource;

    const BACKEND: &str = r#"
name = "fastapi"
description = "Python + FastAPI"
language = "python"
kind = "backend"
port = 8000
native_command = "python -m uvicorn app.main:app --port $PORT"
native_setup = "pip install -r requirements.txt"
test_command = "python -m pytest -q"
"#;

    #[test]
    fn a_backend_needs_its_native_commands() {
        let m = TemplateMeta::parse("fastapi", BACKEND).unwrap();
        assert_eq!(m.port, 8000);
        assert_eq!(m.kind, Kind::Backend);
        let without = BACKEND.replace("test_command = \"python -m pytest -q\"\n", "");
        let e = TemplateMeta::parse("fastapi", &without)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("fastapi/template.toml") && e.contains("test_command"),
            "{e}"
        );
    }

    #[test]
    fn unknown_keys_wrong_names_and_languages_are_refused() {
        let e = TemplateMeta::parse("fastapi", &format!("{BACKEND}colour = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour"), "{e}");
        let e = TemplateMeta::parse("flask", BACKEND)
            .unwrap_err()
            .to_string();
        assert!(e.contains("folder name"), "{e}");
        let e = TemplateMeta::parse("fastapi", &BACKEND.replace("python\"", "cobol\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cobol"), "{e}");
    }

    #[test]
    fn fullstack_takes_its_commands_from_the_backend() {
        let ok = "name = \"fullstack\"\ndescription = \"d\"\nkind = \"fullstack\"\nfrontend = \"react-vite\"\ndefault_backend = \"fastapi\"\n";
        let m = TemplateMeta::parse("fullstack", ok).unwrap();
        assert_eq!(m.default_backend.as_deref(), Some("fastapi"));
        let e = TemplateMeta::parse("fullstack", &format!("{ok}port = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`port`"), "{e}");
    }

    #[test]
    fn the_catalogue_orders_templates_and_keeps_broken_ones_apart() {
        let src = MemorySource::new()
            .with("zeta/template.toml", &BACKEND.replace("fastapi", "zeta"))
            .with("fastapi/template.toml", BACKEND)
            .with("broken/template.toml", "name = 3")
            .with("_common/files/README.md.j2", "x");
        let cat = Catalogue::load(&src);
        assert_eq!(cat.names(), vec!["fastapi", "zeta"]);
        assert_eq!(cat.broken.len(), 1);
        let e = cat.require("broken").unwrap_err().to_string();
        assert!(e.contains("broken/template.toml"), "{e}");
        let e = cat.require("nope").unwrap_err().to_string();
        assert!(
            e.contains("unknown template `nope`") && e.contains("fastapi, zeta"),
            "{e}"
        );
    }
}
