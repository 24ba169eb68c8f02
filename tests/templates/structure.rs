//! Template metadata, and the structure every generated project must have
//! (checked without external tools).

use super::*;

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
