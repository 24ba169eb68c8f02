//! `create` with names that hold a reserved word as one segment, a dot, or a
//! leading digit: every template renders, every identifier built from the
//! name is valid where it is used, the config loads and the Compose project
//! name is accepted, and the deployment YAML passes
//! `../shared/tools/validate-manifests` (skipped, saying so, when its venv
//! is missing).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};
use std::process::Command;

use blissful_infra::config::Config;
use blissful_infra::scaffold::{
    self, Catalogue, Choices, Database, EmbeddedTemplates, Kind, Target,
};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const NAMES: [&str; 5] = ["svc-go-chi", "class-api", "fn", "my.service", "9lives"];

/// Application config rather than deployment YAML.
const NOT_MANIFESTS: [&str; 5] = [
    "blissful-infra.yaml",
    "application.yml",
    "application.yaml",
    "application-test.yml",
    "pnpm-lock.yaml",
];

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            if !name.starts_with('.') && name != "node_modules" {
                yaml_files(&p, out);
            }
        } else if (name.ends_with(".yaml") || name.ends_with(".yml"))
            && !NOT_MANIFESTS.contains(&name.as_str())
        {
            out.push(p);
        }
    }
}

/// A Kotlin/Java identifier that is not a keyword the templates could hit.
fn is_java_identifier(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s != "_"
        && !["class", "new", "package", "fun", "object", "in", "is", "as"].contains(&s)
}

#[test]
fn every_template_takes_every_awkward_name() {
    let catalogue = Catalogue::load(&EmbeddedTemplates);
    let base = tempfile::tempdir().unwrap();
    let mut manifests = Vec::new();
    let mut rendered = 0;
    for name in NAMES {
        for t in &catalogue.templates {
            let choices = Choices {
                name: name.into(),
                template: t.name.clone(),
                backend: None,
                database: Database::PostgresRedis,
                target: Target::Kubernetes,
            };
            let plan = scaffold::plan(&EmbeddedTemplates, &choices)
                .unwrap_or_else(|e| panic!("{name} with {}: {e}", t.name));
            let dir = base.path().join(format!("{}-{}", t.name, name));
            scaffold::write::write_files(&dir, &plan.files).unwrap();
            rendered += 1;

            let config = Config::load(&dir.join("blissful-infra.yaml"))
                .unwrap_or_else(|e| panic!("{name} with {}: {e}", t.name));
            assert_eq!(config.project, name);
            if let Err(e) = blissful_infra::docker::project_from_config(&config, &dir) {
                panic!("{name} with {}: compose project: {e}", t.name);
            }

            if t.kind != Kind::Frontend {
                for f in &plan.files {
                    let path = &f.path;
                    if let Some(rest) = path.split("kotlin/com/example/").nth(1) {
                        let segment = rest.split('/').next().unwrap_or_default();
                        assert!(
                            is_java_identifier(segment),
                            "{name} with {}: package segment `{segment}` in {path}",
                            t.name
                        );
                    }
                }
            }
            yaml_files(&dir, &mut manifests);
        }
    }
    assert_eq!(rendered, NAMES.len() * catalogue.templates.len());
    assert!(
        manifests.len() > rendered,
        "too few manifests: {}",
        manifests.len()
    );

    let script = Path::new(ROOT).join("../shared/tools/validate-manifests");
    let venv = std::env::var_os("VALIDATE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(ROOT).join("target/validate-venv"));
    if !script.is_file() || !venv.join("bin/python").is_file() {
        eprintln!("SKIPPED validate-manifests: the script or its venv is missing");
        return;
    }
    let o = Command::new(venv.join("bin/python"))
        .arg(&script)
        .arg("-q")
        .args(&manifests)
        .env("VALIDATE_VENV", &venv)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "validate-manifests failed:\n{text}");
    assert!(text.contains(" 0 FAIL"), "{text}");
}
