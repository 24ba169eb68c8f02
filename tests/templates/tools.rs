//! Generated projects through external tools: validate-manifests,
//! `kubectl kustomize` and docker-compose.

use super::*;

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
