//! A directory with a Compose file and no `blissful-infra.yaml` is a Docker
//! project: find the file and build the config that runs it, with the reason
//! to show the user.

use std::path::Path;

use super::{Config, RuntimeKind};

/// The names Compose itself looks for, in its order of preference.
pub const COMPOSE_FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// The Compose file in `dir`, if there is one.
pub fn find_compose_file(dir: &Path) -> Option<&'static str> {
    COMPOSE_FILE_NAMES
        .into_iter()
        .find(|name| dir.join(name).is_file())
}

/// The config for a directory without `blissful-infra.yaml`: the Docker
/// runtime on its Compose file, with a note saying why and how to change it;
/// `None` when there is no Compose file (the demo sandbox runs).
pub fn config_for_compose_dir(dir: &Path) -> Option<(Config, String)> {
    let file = find_compose_file(dir)?;
    let mut config = Config {
        runtime: RuntimeKind::Docker,
        ..Config::default()
    };
    config.docker.compose_file = file.to_string();
    if let Some(name) = dir
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(project_name)
    {
        config.project = name;
    }
    let note = format!(
        "runtime: docker (no blissful-infra.yaml here, and {file} was found); \
         to run the built-in demo sandbox instead, create blissful-infra.yaml with the line `runtime: sandbox`"
    );
    Some((config, note))
}

/// A directory name as Compose would make it a project name: lowercase
/// letters, digits, `-` and `_`, starting with a letter or digit.
fn project_name(dir_name: &str) -> Option<String> {
    let kept: String = dir_name
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .collect();
    let trimmed = kept.trim_start_matches(['-', '_']);
    (!trimmed.is_empty()).then(|| trimmed.chars().take(63).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compose_file_picks_the_docker_runtime_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        assert!(config_for_compose_dir(dir.path()).is_none());
        std::fs::write(dir.path().join("docker-compose.yml"), "services: {}\n").unwrap();
        let (config, note) = config_for_compose_dir(dir.path()).unwrap();
        assert_eq!(config.runtime, RuntimeKind::Docker);
        assert_eq!(config.docker.compose_file, "docker-compose.yml");
        assert!(note.contains("docker-compose.yml") && note.contains("runtime: sandbox"));
        // Compose's own preferred name wins when both exist.
        std::fs::write(dir.path().join("compose.yaml"), "services: {}\n").unwrap();
        assert_eq!(find_compose_file(dir.path()), Some("compose.yaml"));
    }

    #[test]
    fn directory_names_become_compose_project_names() {
        assert_eq!(project_name("My Shop.v2").as_deref(), Some("myshopv2"));
        assert_eq!(project_name("_x-1").as_deref(), Some("x-1"));
        assert_eq!(project_name("ü"), None);
    }
}
