//! Where template files come from: the `templates/` folder embedded in the
//! binary (read from disk in debug builds, so edits show without a rebuild),
//! or an in-memory map for tests.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// Path segments never taken from a template folder (build and tool output
/// that may appear when someone runs a template's tests in place).
const IGNORED_SEGMENTS: [&str; 7] = [
    "__pycache__",
    ".pytest_cache",
    "node_modules",
    ".venv",
    ".gradle",
    ".mypy_cache",
    ".ruff_cache",
];

/// A read-only tree of template files, addressed by `/`-separated paths
/// relative to `templates/` (e.g. `fastapi/template.toml`).
pub trait TemplateSource {
    /// Every file path, sorted.
    fn paths(&self) -> Vec<String>;
    fn read(&self, path: &str) -> Option<Cow<'_, [u8]>>;
}

fn ignored(path: &str) -> bool {
    path.split('/')
        .any(|seg| IGNORED_SEGMENTS.contains(&seg) || seg.ends_with(".pyc"))
}

#[derive(rust_embed::RustEmbed)]
#[folder = "templates/"]
struct Embedded;

/// The templates shipped with the binary.
#[derive(Clone, Copy, Debug, Default)]
pub struct EmbeddedTemplates;

impl TemplateSource for EmbeddedTemplates {
    fn paths(&self) -> Vec<String> {
        let mut v: Vec<String> = Embedded::iter()
            .map(|p| p.replace('\\', "/"))
            .filter(|p| !ignored(p))
            .collect();
        v.sort();
        v
    }

    fn read(&self, path: &str) -> Option<Cow<'_, [u8]>> {
        if ignored(path) {
            return None;
        }
        Embedded::get(path).map(|f| f.data)
    }
}

/// Templates held in memory (tests, or a caller that builds its own).
#[derive(Clone, Debug, Default)]
pub struct MemorySource {
    files: BTreeMap<String, Vec<u8>>,
}

impl MemorySource {
    pub fn new() -> Self {
        MemorySource::default()
    }

    pub fn with(mut self, path: &str, contents: &str) -> Self {
        self.insert(path, contents.as_bytes().to_vec());
        self
    }

    pub fn insert(&mut self, path: &str, contents: Vec<u8>) {
        self.files.insert(path.to_string(), contents);
    }

    /// Copy every file of another source (e.g. the embedded templates) so a
    /// test can change one of them.
    pub fn copy_of(other: &dyn TemplateSource) -> Self {
        let mut m = MemorySource::new();
        for p in other.paths() {
            if let Some(data) = other.read(&p) {
                m.insert(&p, data.into_owned());
            }
        }
        m
    }
}

impl TemplateSource for MemorySource {
    fn paths(&self) -> Vec<String> {
        self.files.keys().filter(|p| !ignored(p)).cloned().collect()
    }

    fn read(&self, path: &str) -> Option<Cow<'_, [u8]>> {
        self.files.get(path).map(|d| Cow::Borrowed(d.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_output_is_never_a_template_file() {
        let m = MemorySource::new()
            .with("fastapi/files/app/main.py", "x")
            .with("fastapi/files/app/__pycache__/main.cpython-311.pyc", "x")
            .with("react-vite/files/node_modules/a/index.js", "x")
            .with("fastapi/files/.venv/bin/python", "x");
        assert_eq!(m.paths(), vec!["fastapi/files/app/main.py".to_string()]);
    }

    #[test]
    fn the_embedded_folder_holds_the_common_files() {
        let paths = EmbeddedTemplates.paths();
        assert!(
            paths.iter().any(|p| p.starts_with("_common/files/")),
            "no _common files in {paths:?}"
        );
        assert!(EmbeddedTemplates.read("fastapi/template.toml").is_some());
    }
}
