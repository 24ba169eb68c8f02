//! The project templates, for every template in `templates/` and every
//! database choice:
//! - all deployment YAML passes `../shared/tools/validate-manifests`
//!   (Kubernetes, Argo CD, Argo Rollouts, Chaos Mesh, kustomization and
//!   compose schemas), every overlay renders with `kubectl kustomize` and
//!   validates, and `docker-compose config` accepts the compose file;
//! - the generated `blissful-infra.yaml` loads with the real config loader
//!   and its `pipeline:` stages are the Jenkinsfile's stages;
//! - the structure the issue asks for is there (Kafka in KRaft mode with
//!   healthchecks, canary Rollout with analysis, Argo CD sync policies,
//!   Chaos Mesh experiments, k6 thresholds, non-root multi-stage Dockerfile);
//! - snapshots of the rendered file tree per template;
//! - `blissful-infra create` itself: errors write nothing, JSON output, the
//!   plain-text questions and (in tmux) the arrow-key questions.
//!
//! Tools: validate-manifests needs a Python venv (`target/validate-venv`,
//! created here with `../shared/tools/setup-validators` when missing);
//! `kubectl`, `docker-compose` and `tmux` parts are skipped, saying so, only
//! when the tool is not installed.
//! Accept new snapshots with `INSTA_UPDATE=always cargo test --test templates`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod support;

use blissful_infra::config::Config;
use blissful_infra::scaffold::{
    self, Catalogue, Choices, Database, EmbeddedTemplates, Kind, Plan, Target,
};
use serde_json::Value;
use support::validate::{run, skip, text, validate, which};

const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const PROJECT: &str = "orders";

const STAGES: [&str; 10] = [
    "build",
    "containerize",
    "deploy-ephemeral",
    "integration-test",
    "performance-test",
    "chaos-test",
    "comparison",
    "ai-analysis",
    "teardown",
    "deploy",
];

const CHAOS_ALWAYS: [&str; 8] = [
    "pod-kill",
    "network-latency",
    "network-partition",
    "kafka-down",
    "memory-pressure",
    "cpu-stress",
    "dns-failure",
    "dependency-timeout",
];
const CHAOS_WITH_DATABASE: [&str; 2] = ["db-latency", "db-down"];

/// YAML files that are application configuration, not deployment manifests
/// (checked elsewhere or by their own tools).
const NOT_MANIFESTS: [&str; 5] = [
    "blissful-infra.yaml", // loaded with the real config loader below
    "application.yml",
    "application.yaml",
    "application-test.yml",
    "pnpm-lock.yaml",
];

// ------------------------------------------------------------------ helpers

fn catalogue() -> Catalogue {
    Catalogue::load(&EmbeddedTemplates)
}

/// Every combination checked: each template with each database on
/// Kubernetes, one local-only render each, and fullstack with every backend.
fn combinations(cat: &Catalogue) -> Vec<Choices> {
    let mut v = Vec::new();
    let choice = |template: &str, backend: Option<&str>, database, target| Choices {
        name: PROJECT.into(),
        template: template.into(),
        backend: backend.map(str::to_string),
        database,
        target,
    };
    for t in &cat.templates {
        for db in Database::ALL {
            v.push(choice(&t.name, None, db, Target::Kubernetes));
        }
        v.push(choice(
            &t.name,
            None,
            Database::PostgresRedis,
            Target::LocalOnly,
        ));
        if t.kind == Kind::Fullstack {
            for b in cat.backends() {
                if Some(&b.name) != t.default_backend.as_ref() {
                    v.push(choice(
                        &t.name,
                        Some(&b.name),
                        Database::PostgresRedis,
                        Target::Kubernetes,
                    ));
                }
            }
        }
    }
    v
}

fn label(c: &Choices) -> String {
    match &c.backend {
        Some(b) => format!("{}+{b}-{}-{}", c.template, c.database, c.target),
        None => format!("{}-{}-{}", c.template, c.database, c.target),
    }
}

struct Rendered {
    choices: Choices,
    dir: PathBuf,
    plan: Plan,
}

/// Render every combination once per test binary, into a folder under
/// target/ that the next run replaces.
fn rendered() -> &'static (Vec<Rendered>, Vec<String>) {
    static CELL: OnceLock<(Vec<Rendered>, Vec<String>)> = OnceLock::new();
    CELL.get_or_init(|| {
        // One folder per run (runs may overlap); leftovers older than an hour go.
        let parent = Path::new(env!("CARGO_TARGET_TMPDIR")).join("templates-rendered");
        for old in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
            let stale = old
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(3600));
            if stale {
                let _ = std::fs::remove_dir_all(old.path());
            }
        }
        let base = parent.join(std::process::id().to_string());
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let cat = catalogue();
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for c in combinations(&cat) {
            let dir = base.join(label(&c));
            match scaffold::plan(&EmbeddedTemplates, &c) {
                Ok(plan) => {
                    scaffold::write::write_files(&dir, &plan.files).unwrap();
                    out.push(Rendered {
                        choices: c,
                        dir,
                        plan,
                    });
                }
                Err(e) => errors.push(format!("{}: {e}", label(&c))),
            }
        }
        (out, errors)
    })
}

fn read(dir: &Path, rel: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(rel)).ok()
}

fn files_with_ext(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if !name.starts_with('.') && name != "node_modules" {
                    stack.push(p);
                }
            } else if exts.iter().any(|x| name.ends_with(x)) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn compose_command() -> Option<Vec<String>> {
    if which("docker-compose").is_some() {
        return Some(vec!["docker-compose".into()]);
    }
    if which("docker").is_some()
        && run(Command::new("docker").args(["compose", "version"]))
            .status
            .success()
    {
        return Some(vec!["docker".into(), "compose".into()]);
    }
    None
}

fn yaml_docs(text: &str) -> Result<Vec<Value>, String> {
    serde_saphyr::from_multiple::<Value>(text).map_err(|e| e.to_string())
}

fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .fold(v, |acc, key| match key.parse::<usize>() {
            Ok(i) => &acc[i],
            Err(_) => &acc[key],
        })
}

// ------------------------------------------------------------------ snapshots

/// The file tree of each template (PostgreSQL and Redis, Kubernetes): an
/// added, lost or renamed file shows up in review. `*` marks executables.
#[test]
fn rendered_file_trees() {
    let cat = catalogue();
    for t in &cat.templates {
        let c = Choices {
            name: PROJECT.into(),
            template: t.name.clone(),
            backend: None,
            database: Database::PostgresRedis,
            target: Target::Kubernetes,
        };
        let plan =
            scaffold::plan(&EmbeddedTemplates, &c).unwrap_or_else(|e| panic!("{}: {e}", t.name));
        let tree: String = plan
            .files
            .iter()
            .map(|f| format!("{}{}\n", f.path, if f.executable { " *" } else { "" }))
            .collect();
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!(format!("templates_tree_{}", t.name), tree);
        });
    }
}

#[path = "templates/contract.rs"]
mod contract;
#[path = "templates/create.rs"]
mod create;
#[path = "templates/structure.rs"]
mod structure;
#[path = "templates/tools.rs"]
mod tools;
