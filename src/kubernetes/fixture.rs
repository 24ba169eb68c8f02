//! Upstream objects for tests, from the shared fixtures folder.
#![cfg(test)] // test code only

use serde_json::Value;

/// `../shared/fixtures/kubernetes/<path>` (from the crate root) as JSON.
/// YAML goes through serde-saphyr, which keeps unquoted timestamps as strings.
pub(crate) fn fixture(path: &str) -> Value {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/kubernetes")
        .join(path);
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()));
    if path.ends_with(".json") {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    } else {
        serde_saphyr::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }
}

/// Every fixture file whose name starts with `prefix` in `dir`.
pub(crate) fn all(dir: &str, prefix: &str) -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/kubernetes")
        .join(dir);
    let entries = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("fixture folder {}: {e}", root.display()));
    let mut names: Vec<String> = entries
        .map(|e| {
            e.unwrap_or_else(|e| panic!("fixture folder {}: {e}", root.display()))
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.starts_with(prefix))
        .map(|n| format!("{dir}/{n}"))
        .collect();
    names.sort();
    names
}
