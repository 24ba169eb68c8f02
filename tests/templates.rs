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
use support::validate::{run, validate, which};

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

fn skip(what: &str, why: &str) {
    eprintln!("SKIPPED {what}: {why}");
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
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

// ------------------------------------------------------------------ metadata

#[test]
fn every_template_has_valid_metadata() {
    let cat = catalogue();
    let broken: Vec<String> = cat.broken.iter().map(|e| e.to_string()).collect();
    assert!(
        broken.is_empty(),
        "broken template.toml files:\n{}",
        broken.join("\n")
    );
    // Every folder of templates/ (but _common) is a template.
    let dirs: BTreeSet<String> = std::fs::read_dir(Path::new(ROOT).join("templates"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "_common")
        .collect();
    let names: BTreeSet<String> = cat.names().into_iter().collect();
    assert_eq!(dirs, names, "folders without a usable template.toml");
    for must in ["fastapi", "fullstack"] {
        assert!(names.contains(must), "{must} template missing: {names:?}");
    }
    let fullstack = cat.get("fullstack").unwrap();
    assert_eq!(fullstack.default_backend.as_deref(), Some("fastapi"));
    assert_eq!(fullstack.frontend.as_deref(), Some("react-vite"));
}

// ------------------------------------------------------------------ generated projects

/// Everything that can be checked without external tools, for every combination.
#[test]
fn generated_projects_have_the_required_structure() {
    let (projects, errors) = rendered();
    assert!(!projects.is_empty());
    let mut problems: Vec<String> = errors.clone();
    let stage_re = regex::Regex::new(r"stage\('([^']+)'\)").unwrap();
    for r in projects {
        let mut p = |msg: String| problems.push(format!("{}: {msg}", label(&r.choices)));
        let c = &r.choices;
        let dir = &r.dir;
        let ctx = &r.plan.context;

        // blissful-infra.yaml loads with the real loader.
        let cfg_path = dir.join("blissful-infra.yaml");
        let config = match Config::load(&cfg_path) {
            Ok(cfg) => Some(cfg),
            Err(e) => {
                p(format!("blissful-infra.yaml does not load: {e}"));
                None
            }
        };
        if let Some(cfg) = &config {
            if cfg.project != PROJECT {
                p(format!("project is {:?}", cfg.project));
            }
            if cfg.service.command.trim().is_empty() {
                p("service.command is empty (the sandbox would run the sample service)".into());
            }
            if !dir.join(&cfg.service.workdir).is_dir() {
                p(format!(
                    "service.workdir {:?} is not a folder",
                    cfg.service.workdir
                ));
            }
            let names: Vec<&str> = cfg
                .pipeline
                .stages
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            if names != STAGES {
                p(format!("pipeline stages are {names:?}"));
            }
            for s in &cfg.pipeline.stages {
                if s.optional != (s.name == "comparison") {
                    p(format!("stage {} optional = {}", s.name, s.optional));
                }
            }
            // The Jenkinsfile runs the same stages, in the same order, the same way.
            match read(dir, "Jenkinsfile") {
                None => p("no Jenkinsfile".into()),
                Some(j) => {
                    let jstages: Vec<&str> = stage_re
                        .captures_iter(&j)
                        .map(|m| m.get(1).unwrap().as_str())
                        .collect();
                    if jstages != names {
                        p(format!(
                            "Jenkinsfile stages {jstages:?} != pipeline {names:?}"
                        ));
                    }
                    for s in &cfg.pipeline.stages {
                        if !j.contains(&format!("sh '{}'", s.command)) {
                            p(format!("Jenkinsfile does not run `{}`", s.command));
                        }
                        let script = s.command.trim_start_matches("sh ");
                        match std::fs::metadata(dir.join(script)) {
                            Ok(m) if m.permissions().mode() & 0o111 != 0 => {}
                            Ok(_) => p(format!("{script} is not executable")),
                            Err(_) => p(format!("{script} is missing")),
                        }
                    }
                    if !j.contains("trivy")
                        && !read(dir, "ci/containerize.sh")
                            .unwrap_or_default()
                            .contains("trivy")
                    {
                        p("no Trivy scan in the containerize stage".into());
                    }
                }
            }
        }
        // Every CI script is valid sh.
        for script in files_with_ext(&dir.join("ci"), &[".sh"]) {
            let o = run(Command::new("sh").arg("-n").arg(&script));
            if !o.status.success() {
                p(format!("{}: {}", script.display(), text(&o)));
            }
        }

        // Compose: Kafka in KRaft mode, healthchecks, depends_on conditions.
        match read(dir, "docker-compose.yml").map(|t| serde_saphyr::from_str::<Value>(&t)) {
            None => p("no docker-compose.yml".into()),
            Some(Err(e)) => p(format!("docker-compose.yml: {e}")),
            Some(Ok(compose)) => {
                let services = &compose["services"];
                let kafka = &services["kafka"];
                if kafka["environment"]["KAFKA_PROCESS_ROLES"].as_str() != Some("broker,controller")
                {
                    p("kafka is not a KRaft broker+controller".into());
                }
                let text = serde_json::to_string(&compose).unwrap().to_lowercase();
                if text.contains("zookeeper") {
                    p("compose mentions zookeeper".into());
                }
                let mut wanted = vec!["kafka"];
                if c.database.postgres() {
                    wanted.push("postgres");
                }
                if c.database.redis() {
                    wanted.push("redis");
                }
                for dep in &wanted {
                    if services[*dep]["healthcheck"]["test"].is_null() {
                        p(format!("{dep} has no healthcheck"));
                    }
                    if services["app"]["depends_on"][*dep]["condition"].as_str()
                        != Some("service_healthy")
                    {
                        p(format!("app does not wait for {dep} to be healthy"));
                    }
                }
                for (dep, chosen) in [
                    ("postgres", c.database.postgres()),
                    ("redis", c.database.redis()),
                ] {
                    if services[dep].is_null() == chosen {
                        p(format!(
                            "compose has {dep}: {}, chosen: {chosen}",
                            !services[dep].is_null()
                        ));
                    }
                }
                let mut host_ports = BTreeSet::new();
                for svc in services
                    .as_object()
                    .map(|m| m.values())
                    .into_iter()
                    .flatten()
                {
                    for port in svc["ports"].as_array().into_iter().flatten() {
                        let host = port
                            .as_str()
                            .unwrap_or_default()
                            .split(':')
                            .next()
                            .unwrap_or_default();
                        if !host_ports.insert(host.to_string()) {
                            p(format!("host port {host} is published twice"));
                        }
                    }
                }
                if ctx.fullstack && services["frontend"].is_null() {
                    p("fullstack compose has no frontend service".into());
                }
            }
        }

        // k6 thresholds.
        let k6 = read(dir, "k6/load-test.js").unwrap_or_default();
        if !(k6.contains("'p(95)<200'") && k6.contains("'rate<0.01'")) {
            p("k6/load-test.js lacks the p95 < 200 ms and error rate < 1% thresholds".into());
        }

        // Dockerfile of the service: multi-stage, non-root numeric user, port.
        let svc_dir = dir.join(&ctx.workdir);
        match read(&svc_dir, "Dockerfile") {
            None => p(format!("no Dockerfile in {}", svc_dir.display())),
            Some(d) => {
                let froms = d
                    .lines()
                    .filter(|l| l.trim_start().to_uppercase().starts_with("FROM "))
                    .count();
                if froms < 2 {
                    p("the Dockerfile is not multi-stage".into());
                }
                let user = d
                    .lines()
                    .rev()
                    .find(|l| l.trim_start().to_uppercase().starts_with("USER "))
                    .map(|l| l.trim()[5..].trim().to_string());
                match user {
                    None => p("the Dockerfile's final stage has no USER".into()),
                    Some(u) => {
                        let uid = u.split(':').next().unwrap_or_default();
                        if uid.parse::<u32>().map(|n| n == 0).unwrap_or(true) {
                            p(format!("USER {u} is not a numeric non-root user"));
                        }
                    }
                }
                if !d.contains(&format!("EXPOSE {}", ctx.port)) {
                    p(format!("the Dockerfile does not EXPOSE {}", ctx.port));
                }
            }
        }
        if !dir.join("README.md").is_file() {
            p("no README.md".into());
        }
        if ctx.fullstack {
            for sub in ["backend", "frontend", "shared/types.ts"] {
                if !dir.join(sub).exists() {
                    p(format!("fullstack project has no {sub}"));
                }
            }
        }

        // Kubernetes files only for the kubernetes target.
        let k8s_dirs = ["k8s", "argocd", "chaos"];
        match c.target {
            Target::LocalOnly => {
                for d in k8s_dirs {
                    if dir.join(d).exists() {
                        p(format!("local-only project has {d}/"));
                    }
                }
            }
            Target::Kubernetes => {
                for env in ["ephemeral", "staging", "production"] {
                    if !dir
                        .join(format!("k8s/overlays/{env}/kustomization.yaml"))
                        .is_file()
                    {
                        p(format!("no overlay {env}"));
                    }
                    let app = read(dir, &format!("argocd/{env}.yaml"))
                        .map(|t| serde_saphyr::from_str::<Value>(&t));
                    match app {
                        Some(Ok(app)) => {
                            let automated = !app["spec"]["syncPolicy"]["automated"].is_null();
                            if automated != (env == "ephemeral") {
                                p(format!("argocd/{env}.yaml automated sync = {automated}"));
                            }
                            if app["spec"]["source"]["path"].as_str()
                                != Some(&format!("k8s/overlays/{env}"))
                            {
                                p(format!("argocd/{env}.yaml does not point at its overlay"));
                            }
                        }
                        _ => p(format!("argocd/{env}.yaml missing or not YAML")),
                    }
                }
                let mut want: Vec<&str> = CHAOS_ALWAYS.to_vec();
                if c.database != Database::None {
                    want.extend(CHAOS_WITH_DATABASE);
                }
                let have: BTreeSet<String> = files_with_ext(&dir.join("chaos"), &[".yaml"])
                    .iter()
                    .map(|f| f.file_stem().unwrap().to_string_lossy().into_owned())
                    .collect();
                let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
                if have != want {
                    p(format!("chaos experiments {have:?}, expected {want:?}"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// All deployment YAML of every combination through validate-manifests.
#[test]
fn generated_yaml_passes_validate_manifests() {
    let (projects, errors) = rendered();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    for r in projects {
        for f in files_with_ext(&r.dir, &[".yaml", ".yml"]) {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            if NOT_MANIFESTS.contains(&name.as_str()) {
                continue;
            }
            let rel = f
                .strip_prefix(&r.dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let deployment = ["k8s/", "argocd/", "chaos/"]
                .iter()
                .any(|d| rel.starts_with(d))
                || rel.contains("compose");
            if !deployment {
                unknown.push(format!("{}: {rel}", label(&r.choices)));
            }
            files.push(f);
        }
    }
    assert!(
        files.len() > projects.len() * 3,
        "too few YAML files: {}",
        files.len()
    );
    let args: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let o = match validate(&args, &["-q"]) {
        Ok(o) => o,
        Err(why) => return skip("validate-manifests", &why),
    };
    assert!(
        o.status.success(),
        "validate-manifests failed{}:\n{}",
        if unknown.is_empty() {
            String::new()
        } else {
            format!(" (YAML outside k8s/, argocd/, chaos/ and compose: {unknown:?}; if one is application config, add it to NOT_MANIFESTS)")
        },
        text(&o)
    );
    let summary = text(&o);
    assert!(summary.contains(" 0 FAIL"), "{summary}");
    assert!(errors.is_empty(), "render errors:\n{}", errors.join("\n"));
}

/// Every overlay (and the base) renders with `kubectl kustomize`, and the
/// output validates; staging and production run a canary Rollout with
/// analysis, production has more replicas and spreads its pods.
#[test]
fn every_overlay_renders_and_validates() {
    let (projects, errors) = rendered();
    if which("kubectl").is_none() {
        return skip("kubectl kustomize", "kubectl is not installed");
    }
    let mut problems = errors.clone();
    let mut k8s_dirs = Vec::new();
    for r in projects
        .iter()
        .filter(|r| r.choices.target == Target::Kubernetes)
    {
        k8s_dirs.push(r.dir.join("k8s"));
        let mut replicas = Vec::new();
        for env in ["ephemeral", "staging", "production"] {
            let o = run(Command::new("kubectl")
                .arg("kustomize")
                .arg(r.dir.join(format!("k8s/overlays/{env}"))));
            if !o.status.success() {
                problems.push(format!(
                    "{} {env}: kubectl kustomize failed: {}",
                    label(&r.choices),
                    text(&o)
                ));
                continue;
            }
            let out = String::from_utf8_lossy(&o.stdout).into_owned();
            let docs = match yaml_docs(&out) {
                Ok(d) => d,
                Err(e) => {
                    problems.push(format!("{} {env}: {e}", label(&r.choices)));
                    continue;
                }
            };
            let kinds: BTreeSet<String> = docs
                .iter()
                .filter_map(|d| d["kind"].as_str().map(str::to_string))
                .collect();
            for k in [
                "Deployment",
                "Service",
                "ConfigMap",
                "HorizontalPodAutoscaler",
                "PodDisruptionBudget",
            ] {
                if !kinds.contains(k) {
                    problems.push(format!("{} {env}: no {k}", label(&r.choices)));
                }
            }
            let ns = format!("{PROJECT}-{env}");
            if docs
                .iter()
                .any(|d| d["metadata"]["namespace"].as_str() != Some(&ns))
            {
                problems.push(format!(
                    "{} {env}: a resource is not in {ns}",
                    label(&r.choices)
                ));
            }
            let deployment = docs
                .iter()
                .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == PROJECT)
                .cloned()
                .unwrap_or(Value::Null);
            let container = get(&deployment, "spec.template.spec.containers.0");
            for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                if container[probe].is_null() {
                    problems.push(format!("{} {env}: no {probe}", label(&r.choices)));
                }
            }
            for res in ["requests", "limits"] {
                if container["resources"][res].is_null() {
                    problems.push(format!("{} {env}: no resource {res}", label(&r.choices)));
                }
            }
            if !container["envFrom"]
                .as_array()
                .is_some_and(|a| a.iter().any(|e| !e["secretRef"].is_null()))
            {
                problems.push(format!("{} {env}: no Secret reference", label(&r.choices)));
            }
            if get(&deployment, "spec.strategy.rollingUpdate").is_null() {
                problems.push(format!(
                    "{} {env}: no rolling-update settings",
                    label(&r.choices)
                ));
            }
            let rollout = docs.iter().find(|d| d["kind"] == "Rollout");
            match (env, rollout) {
                ("ephemeral", Some(_)) => {
                    problems.push(format!("{} ephemeral has a Rollout", label(&r.choices)))
                }
                ("ephemeral", None) => {
                    replicas.push(deployment["spec"]["replicas"].as_u64().unwrap_or(0))
                }
                (_, None) => problems.push(format!("{} {env}: no Rollout", label(&r.choices))),
                (_, Some(ro)) => {
                    replicas.push(ro["spec"]["replicas"].as_u64().unwrap_or(0));
                    let steps = ro["spec"]["strategy"]["canary"]["steps"]
                        .as_array()
                        .map_or(0, |s| s.len());
                    if steps < 4 {
                        problems.push(format!("{} {env}: {steps} canary steps", label(&r.choices)));
                    }
                    let templates: BTreeSet<String> = docs
                        .iter()
                        .filter(|d| d["kind"] == "AnalysisTemplate")
                        .filter_map(|d| {
                            d["spec"]["metrics"][0]["name"].as_str().map(str::to_string)
                        })
                        .collect();
                    let want: BTreeSet<String> = ["success-rate", "error-rate", "latency-p99"]
                        .iter()
                        .map(|s| s.to_string())
                        .collect();
                    if templates != want {
                        problems.push(format!(
                            "{} {env}: analysis metrics {templates:?}",
                            label(&r.choices)
                        ));
                    }
                    let hpa = docs.iter().find(|d| {
                        d["kind"] == "HorizontalPodAutoscaler" && d["metadata"]["name"] == PROJECT
                    });
                    if hpa.map(|h| &h["spec"]["scaleTargetRef"]["kind"])
                        != Some(&Value::from("Rollout"))
                    {
                        problems.push(format!(
                            "{} {env}: the HPA does not scale the Rollout",
                            label(&r.choices)
                        ));
                    }
                }
            }
            if env == "production"
                && get(&deployment, "spec.template.spec.topologySpreadConstraints").is_null()
            {
                problems.push(format!(
                    "{} production: pods are not spread",
                    label(&r.choices)
                ));
            }
        }
        if replicas.len() == 3 && !(replicas[0] < replicas[2] && replicas[1] < replicas[2]) {
            problems.push(format!(
                "{}: replicas ephemeral/staging/production = {replicas:?}",
                label(&r.choices)
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    // The rendered output of every kustomization (overlays and base) validates.
    let args: Vec<&Path> = k8s_dirs.iter().map(PathBuf::as_path).collect();
    let o = match validate(&args, &["-q", "--kustomize"]) {
        Ok(o) => o,
        Err(why) => return skip("validate-manifests --kustomize", &why),
    };
    assert!(
        o.status.success(),
        "validate-manifests --kustomize failed:\n{}",
        text(&o)
    );
}

#[test]
fn docker_compose_accepts_every_compose_file() {
    let (projects, errors) = rendered();
    let Some(compose) = compose_command() else {
        return skip(
            "docker-compose config",
            "neither docker-compose nor `docker compose` is installed",
        );
    };
    let mut failures = errors.clone();
    for r in projects {
        let o = run(Command::new(&compose[0])
            .args(&compose[1..])
            .args(["-f", "docker-compose.yml", "config", "-q"])
            .current_dir(&r.dir));
        if !o.status.success() {
            failures.push(format!("{}: {}", label(&r.choices), text(&o)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
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

// ------------------------------------------------------------------ the command

fn create(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("create")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match stdin {
        None => {
            cmd.stdin(Stdio::null());
            cmd.output().unwrap()
        }
        Some(input) => {
            use std::io::Write;
            cmd.stdin(Stdio::piped());
            let mut child = cmd.spawn().unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        }
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn create_refuses_bad_input_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = create(d, &["Bad_Name", "--yes"], None);
    assert_eq!(o.status.code(), Some(64), "{}", text(&o));
    assert!(
        text(&o).contains("invalid project name `Bad_Name`"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("try `bad-name`"), "{}", text(&o));

    let o = create(d, &["svc", "--template", "rails", "--yes"], None);
    assert_eq!(o.status.code(), Some(64), "{}", text(&o));
    assert!(
        text(&o).contains("unknown template `rails` (available: "),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("fastapi"), "{}", text(&o));
    assert!(
        entries(d).is_empty(),
        "something was written: {:?}",
        entries(d)
    );

    // JSON errors on stdout too.
    let o = create(
        d,
        &["svc", "--template", "rails", "--yes", "-o", "json"],
        None,
    );
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "unknown_template");

    std::fs::create_dir(d.join("taken")).unwrap();
    std::fs::write(d.join("taken/notes.txt"), "mine").unwrap();
    let o = create(d, &["taken", "--template", "fastapi", "--yes"], None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("already exists and is not empty"),
        "{}",
        text(&o)
    );
    assert_eq!(entries(&d.join("taken")), vec!["notes.txt"]);
    assert_eq!(entries(d), vec!["taken"], "no staging folder left behind");

    // No name and no way to ask: an error naming the fix.
    let o = create(d, &[], None);
    assert_eq!(o.status.code(), Some(64), "{}", text(&o));
    assert!(text(&o).contains("--yes"), "{}", text(&o));
    assert_eq!(entries(d), vec!["taken"]);
}

#[test]
fn create_writes_the_project_and_ends_with_next_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = create(
        d,
        &[
            "my-service",
            "--template",
            "fastapi",
            "--database",
            "postgres",
            "--target",
            "kubernetes",
            "-o",
            "json",
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["project"], "my-service");
    assert_eq!(doc["database"], "postgres");
    assert_eq!(doc["target"], "kubernetes");
    let files = doc["files"].as_array().unwrap();
    assert!(files.len() > 40, "{} files", files.len());
    for f in files {
        let path = d.join("my-service").join(f["path"].as_str().unwrap());
        let len = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .len();
        assert_eq!(len, f["bytes"].as_u64().unwrap(), "{}", path.display());
    }
    let steps: Vec<&str> = doc["next_steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(steps[0], "cd my-service");
    assert!(steps.iter().any(|s| s.contains("pytest")), "{steps:?}");
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with("kubectl apply -k k8s/overlays/ephemeral")),
        "{steps:?}"
    );
    let req = std::fs::read_to_string(d.join("my-service/requirements.txt")).unwrap();
    assert!(req.contains("asyncpg") && !req.contains("redis"), "{req}");

    // The table ends with the next commands.
    let o = create(
        d,
        &[
            "other",
            "--template",
            "fastapi",
            "--target",
            "local-only",
            "--yes",
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.starts_with("Created other from fastapi (database: none, target: local-only)"),
        "{out}"
    );
    assert!(
        out.contains("FILE") && out.contains("docker-compose.yml"),
        "{out}"
    );
    let tail = out.rsplit("Next steps:\n").next().unwrap();
    assert!(tail.starts_with("  cd other\n"), "{out}");
    assert!(!tail.contains("kubectl"), "{out}");
    assert!(!d.join("other/k8s").exists());
}

#[test]
fn create_asks_plain_questions_when_stdin_is_not_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let cat = catalogue();
    let fastapi = cat
        .templates
        .iter()
        .position(|t| t.name == "fastapi")
        .unwrap()
        + 1;
    // Name (bad, then good), template by number, database by name, target by default.
    let input = format!("Not Good\nplain-svc\n{fastapi}\nredis\n\n");
    let o = create(d, &[], Some(&input));
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(err.contains("Project name [my-service]:"), "{err}");
    assert!(err.contains("invalid project name"), "{err}");
    assert!(
        err.contains("Template:") && err.contains("Database:"),
        "{err}"
    );
    let req = std::fs::read_to_string(d.join("plain-svc/requirements.txt")).unwrap();
    assert!(req.contains("redis==") && !req.contains("asyncpg"), "{req}");
    assert!(
        d.join("plain-svc/k8s").is_dir(),
        "kubernetes is the default target"
    );

    // Input that ends early is an error, and nothing is written.
    let o = create(d, &[], Some("half-done\n"));
    assert_eq!(o.status.code(), Some(64), "{}", text(&o));
    assert!(text(&o).contains("standard input ended"), "{}", text(&o));
    assert!(!d.join("half-done").exists());
}

#[test]
fn create_lists_the_templates() {
    let tmp = tempfile::tempdir().unwrap();
    let o = create(tmp.path(), &["--list", "-o", "json"], None);
    assert!(o.status.success(), "{}", text(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = doc["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, catalogue().names());
}

/// The arrow-key questions, typed into a real terminal (tmux).
#[test]
fn create_asks_with_arrow_keys_on_a_terminal() {
    if which("tmux").is_none() {
        return skip("arrow-key prompt", "tmux is not installed");
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let session = format!("bi-create-{}", std::process::id());
    let tmux = |args: &[&str]| run(Command::new("tmux").arg("-L").arg(&session).args(args));
    let o = tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "120",
        "-y",
        "40",
        "-c",
        d.to_str().unwrap(),
        &format!("NO_COLOR=1 {BIN} create; echo EXIT=$?; sleep 30"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // The whole scrollback: the answers scroll away under the file table.
    let screen = || {
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-S", "-", "-t", &session]).stdout)
            .into_owned()
    };
    let wait_for = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let s = screen();
            if s.contains(what) {
                return s;
            }
            assert!(Instant::now() < deadline, "`{what}` never appeared:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let keys = |k: &[&str]| {
        for key in k {
            tmux(&["send-keys", "-t", &session, key]);
            std::thread::sleep(Duration::from_millis(150));
        }
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for("Project name");
        tmux(&["send-keys", "-t", &session, "-l", "arrow-svc"]);
        keys(&["Enter"]);
        let s = wait_for("↑/↓ to move");
        assert!(s.contains("❯ fastapi"), "fastapi is preselected:\n{s}");
        // Down then up again: back on fastapi.
        keys(&["Down", "Up", "Enter"]);
        wait_for("Database");
        keys(&["Down", "Down", "Enter"]); // redis
        wait_for("Deployment target");
        keys(&["Down", "Enter"]); // local-only
        let s = wait_for("EXIT=");
        assert!(s.contains("EXIT=0"), "{s}");
        assert!(s.contains("✔ Template · fastapi"), "{s}");
        assert!(s.contains("✔ Database · redis"), "{s}");
    }));
    tmux(&["kill-server"]);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    let p = d.join("arrow-svc");
    let req = std::fs::read_to_string(p.join("requirements.txt")).unwrap();
    assert!(req.contains("redis==") && !req.contains("asyncpg"), "{req}");
    assert!(!p.join("k8s").exists(), "local-only was chosen");
}

/// Every backend, in every database choice, serves the same contract: the
/// standard endpoints, metric names, environment variables, event shape and
/// request-id header appear in its code, and its port is the one the
/// Dockerfile, compose file and Kubernetes manifests use.
#[test]
fn backends_keep_the_shared_contract_in_code_and_manifests() {
    const ENDPOINTS: [&str; 8] = [
        "/health",
        "/hello",
        "/echo",
        "/ready",
        "/live",
        "/metrics",
        "/ws/events",
        "greeting.created",
    ];
    const METRICS: [&str; 5] = [
        "http_requests_total",
        "http_request_duration_seconds",
        "websocket_connections",
        "kafka_consumer_lag",
        "circuit_breaker_state",
    ];
    const ENV_VARS: [&str; 3] = ["KAFKA_BOOTSTRAP_SERVERS", "SERVICE_VERSION", "LOG_LEVEL"];
    const EVENT_FIELDS: [&str; 5] = [
        "eventId",
        "aggregateId",
        "occurredAt",
        "eventType",
        "payload",
    ];
    let (projects, _) = rendered();
    let mut problems = Vec::new();
    let mut checked = 0;
    for r in projects {
        // The backend's folder: the project, or backend/ of a fullstack one.
        let (dir, kind) = match r.choices.template.as_str() {
            "fullstack" => (r.dir.join("backend"), "backend".to_string()),
            _ => (r.dir.clone(), r.plan.context.kind.clone()),
        };
        if kind != "backend" {
            continue;
        }
        checked += 1;
        // Spring reads its environment in application.yml.
        let code: String = files_with_ext(&dir, &[".py", ".kt", ".ts", ".go", "application.yml"])
            .iter()
            .filter(|p| !p.to_string_lossy().contains("/k6/"))
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect::<Vec<_>>()
            .join("\n");
        let mut p = |what: String| problems.push(format!("{}: {what}", label(&r.choices)));
        for needle in ENDPOINTS
            .iter()
            .chain(&METRICS)
            .chain(&ENV_VARS)
            .chain(&EVENT_FIELDS)
            .chain(&["greetings", "X-Request-Id"])
        {
            if !code.to_lowercase().contains(&needle.to_lowercase()) {
                p(format!("the code never mentions `{needle}`"));
            }
        }
        if r.plan.context.use_postgres && !code.contains("DATABASE_URL") {
            p("postgres chosen but the code never reads DATABASE_URL".into());
        }
        if r.plan.context.use_redis && !code.contains("REDIS_URL") {
            p("redis chosen but the code never reads REDIS_URL".into());
        }
        // One port everywhere.
        let port = read(&dir, "Dockerfile")
            .and_then(|d| {
                d.lines()
                    .filter_map(|l| l.trim().strip_prefix("EXPOSE "))
                    .next_back()
                    .map(|p| p.trim().to_string())
            })
            .unwrap_or_default();
        if port.is_empty() {
            p("the Dockerfile exposes no port".into());
            continue;
        }
        let compose = read(&r.dir, "docker-compose.yml").unwrap_or_default();
        if !compose.contains(&format!(":{port}")) {
            p(format!(
                "docker-compose.yml never maps container port {port}"
            ));
        }
        if r.plan.context.target == "kubernetes" {
            let k8s: String = files_with_ext(&r.dir.join("k8s"), &[".yaml", ".yml"])
                .iter()
                .filter_map(|p| std::fs::read_to_string(p).ok())
                .collect();
            if !k8s.contains(&format!("containerPort: {port}")) {
                p(format!("no Kubernetes container port {port}"));
            }
        }
    }
    assert!(checked >= 10, "only {checked} backend projects checked");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
