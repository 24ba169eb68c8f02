//! The secret-redaction corpus (`tests/corpus/secrets/`, format in its
//! README): cases that hold secrets, near-misses that must stay as they are,
//! and the count of what leaked.

use std::path::Path;

pub struct Case {
    /// `file.txt: title`.
    pub name: String,
    /// Values that must never leave the process (empty for a near-miss).
    pub secrets: Vec<String>,
    pub text: String,
}

pub struct Corpus {
    pub secret_cases: Vec<Case>,
    pub near_misses: Vec<Case>,
}

impl Corpus {
    pub fn load() -> Corpus {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/secrets");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("the corpus directory")
            .map(|e| e.expect("a corpus entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "txt"))
            .collect();
        files.sort();
        let mut corpus = Corpus {
            secret_cases: Vec::new(),
            near_misses: Vec::new(),
        };
        for f in files {
            let text = std::fs::read_to_string(&f).expect("read a corpus file");
            let file = f.file_name().expect("name").to_string_lossy().into_owned();
            parse(&file, &text, &mut corpus);
        }
        assert!(
            corpus.secret_cases.len() >= 50 && corpus.near_misses.len() >= 20,
            "the corpus is too small to mean anything"
        );
        corpus
    }

    /// Every secret value, once.
    pub fn secret_count(&self) -> usize {
        self.secret_cases.iter().map(|c| c.secrets.len()).sum()
    }
}

fn parse(file: &str, text: &str, corpus: &mut Corpus) {
    // (holds secrets, the case, reading its text yet)
    let mut current: Option<(bool, Case, bool)> = None;
    let mut finish = |c: Option<(bool, Case, bool)>| {
        if let Some((secret, mut case, _)) = c {
            case.text = case.text.trim_end_matches('\n').to_string();
            if secret {
                assert!(!case.secrets.is_empty(), "{} lists no secret", case.name);
                for s in &case.secrets {
                    assert!(
                        case.text.contains(s.as_str()),
                        "{}: `{s}` is not in its text",
                        case.name
                    );
                }
                corpus.secret_cases.push(case);
            } else {
                corpus.near_misses.push(case);
            }
        }
    };
    for line in text.lines() {
        if let Some(head) = line.strip_prefix("=== ") {
            finish(current.take());
            let (kind, title) = head.split_once(' ').unwrap_or((head, ""));
            assert!(
                kind == "secret" || kind == "keep",
                "{file}: bad case line {line}"
            );
            let case = Case {
                name: format!("{file}: {title}"),
                secrets: Vec::new(),
                text: String::new(),
            };
            // A near-miss has its text from the next line on.
            current = Some((kind == "secret", case, kind == "keep"));
            continue;
        }
        let Some((_, case, in_text)) = current.as_mut() else {
            continue; // comments before the first case
        };
        if !*in_text {
            if let Some(v) = line.strip_prefix("secret: ") {
                case.secrets.push(v.to_string());
            } else if line == "text:" {
                *in_text = true;
            } else if !line.starts_with('#') {
                panic!("{}: expected `secret:` or `text:`, got {line}", case.name);
            }
            continue;
        }
        case.text.push_str(line);
        case.text.push('\n');
    }
    finish(current.take());
}

/// The secrets of `case` found in `out`.
pub fn leaked<'a>(case: &'a Case, out: &str) -> Vec<&'a str> {
    case.secrets
        .iter()
        .map(String::as_str)
        .filter(|s| out.contains(s))
        .collect()
}
