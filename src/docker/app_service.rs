//! Which Compose service is the app blissful-infra puts its router in front
//! of, when `docker.app_service` does not name one that exists.

use super::compose::ComposeModel;

/// The service chosen and why, for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppService {
    pub name: String,
    pub reason: String,
}

/// `configured` when the project has it; else the only service; else the
/// only one that is built here and publishes ports. Anything else is
/// ambiguous: the error lists the candidates and names the key to set.
pub fn infer_app_service(model: &ComposeModel, configured: &str) -> Result<AppService, String> {
    if model.services.contains_key(configured) {
        return Ok(AppService {
            name: configured.to_string(),
            reason: "docker.app_service".into(),
        });
    }
    let names: Vec<&String> = model.services.keys().collect();
    if let [only] = names.as_slice() {
        return Ok(AppService {
            name: (*only).clone(),
            reason: "the only service".into(),
        });
    }
    let built_and_published: Vec<&String> = model
        .services
        .iter()
        .filter(|(_, s)| s.builds && !s.ports.is_empty())
        .map(|(name, _)| name)
        .collect();
    if let [only] = built_and_published.as_slice() {
        return Ok(AppService {
            name: (*only).clone(),
            reason: "the only service with `build:` and published ports".into(),
        });
    }
    if names.is_empty() {
        return Err("the Compose project has no services".into());
    }
    let candidates = if built_and_published.is_empty() {
        names
    } else {
        built_and_published
    };
    Err(format!(
        "no service is named `{configured}` and the app service is ambiguous (candidates: {}); \
         set `docker.app_service` in blissful-infra.yaml",
        candidates
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(yaml: &str) -> ComposeModel {
        ComposeModel::parse(yaml).unwrap()
    }

    #[test]
    fn the_configured_service_wins_when_it_exists() {
        let m = model("services:\n  app: {image: a}\n  web: {build: ., ports: ['8080:80']}\n");
        assert_eq!(infer_app_service(&m, "app").unwrap().name, "app");
    }

    #[test]
    fn the_only_service_is_the_app() {
        let m = model("services:\n  api: {image: a}\n");
        let s = infer_app_service(&m, "app").unwrap();
        assert_eq!(
            (s.name.as_str(), s.reason.as_str()),
            ("api", "the only service")
        );
    }

    #[test]
    fn the_built_service_with_ports_is_the_app() {
        let m = model(
            "services:\n  db: {image: postgres, ports: ['5432:5432']}\n  web: {build: ., ports: ['8080:80']}\n  worker: {build: .}\n",
        );
        let s = infer_app_service(&m, "app").unwrap();
        assert_eq!(s.name, "web");
        assert!(s.reason.contains("build"));
    }

    #[test]
    fn ambiguity_lists_the_candidates_and_the_key() {
        let m = model(
            "services:\n  a: {build: ., ports: ['1:1']}\n  b: {build: ., ports: ['2:2']}\n  db: {image: x}\n",
        );
        let e = infer_app_service(&m, "app").unwrap_err();
        assert!(
            e.contains("candidates: a, b") && e.contains("docker.app_service"),
            "{e}"
        );
        let m = model("services:\n  x: {image: a}\n  y: {image: b}\n");
        let e = infer_app_service(&m, "app").unwrap_err();
        assert!(e.contains("candidates: x, y"), "{e}");
    }
}
