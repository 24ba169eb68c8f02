//! Colour for log text that is a diff, YAML or JSON, found by looking at
//! the content (never at a file name). syntect's bundled grammars parse
//! it; what comes out is a token class per piece of text (`Tok`), which
//! the console maps to its theme's styles, so a log never brings colours
//! of its own beyond the sanitiser's allow-listed SGR.
//!
//! A whole log is a diff, YAML or JSON when its first non-empty line says
//! so (`diff --git`, `---`/`apiVersion:`, a line that is JSON). In any
//! other log, a `diff --git` block is coloured as a diff until a line that
//! cannot belong to one, and a line that is a JSON object or array on its
//! own (a structured log line) as JSON; the rest is left as it is.
//!
//! Pure: text in, classes out. Lines are sanitised by the caller; the
//! tokens of a coloured line hold no escape at all (`strip_all`).

use std::sync::OnceLock;

use syntect::easy::ScopeRangeIterator;
use syntect::parsing::{ParseState, Scope, ScopeStack, SyntaxSet};

use crate::domain::sanitize::strip_all;

/// A longer line is left uncoloured (grammars on huge lines are slow).
pub const MAX_COLOURED_BYTES: usize = 2_000;

/// What a piece of coloured text is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tok {
    Plain,
    /// A YAML or JSON key.
    Key,
    Str,
    /// Numbers, `true`, `null`.
    Literal,
    Comment,
    /// A diff's added line.
    Added,
    /// A diff's removed line.
    Removed,
    /// A diff's file headers and hunk ranges.
    Header,
}

/// One line as the console shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Painted {
    /// Sanitised text, which may hold allow-listed SGR sequences.
    Sgr(String),
    /// Coloured by grammar: pieces without any escape.
    Tokens(Vec<(Tok, String)>),
}

impl Painted {
    /// The text without styles.
    pub fn text(&self) -> String {
        match self {
            Painted::Sgr(s) => strip_all(s),
            Painted::Tokens(t) => t.iter().map(|(_, s)| s.as_str()).collect(),
        }
    }
}

/// The formats coloured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Diff,
    Yaml,
    Json,
}

impl Lang {
    fn syntax_name(self) -> &'static str {
        match self {
            Lang::Diff => "Diff",
            Lang::Yaml => "YAML",
            Lang::Json => "JSON",
        }
    }
}

struct Grammars {
    set: SyntaxSet,
    /// Scope prefixes and the class each gives, most specific first.
    classes: Vec<(Scope, Tok)>,
    /// JSON's object and its values: a string in an object but not in
    /// one of its values is a key.
    object: Option<Scope>,
    value: Option<Scope>,
}

fn grammars() -> &'static Grammars {
    static G: OnceLock<Grammars> = OnceLock::new();
    G.get_or_init(|| {
        let classes = [
            ("markup.inserted", Tok::Added),
            ("markup.deleted", Tok::Removed),
            ("meta.diff.range", Tok::Header),
            ("meta.diff.header", Tok::Header),
            ("meta.diff.index", Tok::Header),
            ("meta.mapping.key", Tok::Key),
            ("meta.structure.dictionary.key", Tok::Key),
            ("entity.name.tag", Tok::Key),
            ("support.type.property-name", Tok::Key),
            ("comment", Tok::Comment),
            ("string", Tok::Str),
            ("constant", Tok::Literal),
        ]
        .into_iter()
        .filter_map(|(s, t)| Scope::new(s).ok().map(|s| (s, t)))
        .collect();
        Grammars {
            set: SyntaxSet::load_defaults_newlines(),
            classes,
            object: Scope::new("meta.structure.dictionary").ok(),
            value: Scope::new("meta.structure.dictionary.value").ok(),
        }
    })
}

/// The format a whole log is in, from its first non-empty line.
pub fn detect(first_line: &str) -> Option<Lang> {
    let t = strip_all(first_line);
    let t = t.trim();
    if t.starts_with("diff --git ") || t.starts_with("--- a/") || t.starts_with("Index: ") {
        Some(Lang::Diff)
    } else if t == "---" || t.starts_with("%YAML") || t.starts_with("apiVersion:") {
        Some(Lang::Yaml)
    } else if t == "{" || t == "[" || is_json(t) {
        Some(Lang::Json)
    } else {
        None
    }
}

/// A whole JSON object or array on one line.
fn is_json(t: &str) -> bool {
    let bracketed = (t.starts_with('{') && t.ends_with('}'))
        || (t.starts_with('[') && t.ends_with(']') && t.len() > 2);
    bracketed
        && t.len() <= MAX_COLOURED_BYTES
        && serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok()
}

/// Whether `line` can go on a diff block.
fn diff_continues(line: &str) -> bool {
    line.is_empty()
        || line.starts_with([' ', '+', '-', '\\'])
        || line.starts_with("@@")
        || line.starts_with("diff ")
        || line.starts_with("index ")
        || line.starts_with("new file mode")
        || line.starts_with("deleted file mode")
        || line.starts_with("similarity index")
        || line.starts_with("rename ")
        || line.starts_with("old mode")
        || line.starts_with("new mode")
        || line.starts_with("Binary files")
}

/// Colours one log line after another, keeping each grammar's state
/// across lines. Make a new one when the log starts again.
#[derive(Default)]
pub struct Highlighter {
    /// The whole log's format, once its first non-empty line was seen.
    whole: Option<Option<Lang>>,
    /// The grammar going on (the whole log's, or a diff block's).
    state: Option<ParseState>,
    in_diff_block: bool,
}

impl Highlighter {
    pub fn new() -> Highlighter {
        Highlighter::default()
    }

    /// The whole log's format, when it has one.
    pub fn lang(&self) -> Option<Lang> {
        self.whole.flatten()
    }

    /// Colour `line` (already sanitised) where it fits.
    pub fn paint(&mut self, line: &str) -> Painted {
        if self.whole.is_none() && !line.trim().is_empty() {
            let lang = detect(line);
            self.whole = Some(lang);
            self.state = lang.and_then(start);
        }
        if let Some(Some(_)) = self.whole {
            return self
                .tokens(line)
                .unwrap_or_else(|| Painted::Sgr(line.to_string()));
        }
        let plain = strip_all(line);
        if plain.starts_with("diff --git ") {
            self.in_diff_block = true;
            self.state = start(Lang::Diff);
        } else if self.in_diff_block && !diff_continues(&plain) {
            self.in_diff_block = false;
            self.state = None;
        }
        if self.in_diff_block {
            return self
                .tokens(line)
                .unwrap_or_else(|| Painted::Sgr(line.to_string()));
        }
        if is_json(plain.trim()) {
            // A JSON line stands alone: its grammar starts afresh.
            let mut state = start(Lang::Json);
            return match state.as_mut().and_then(|s| tokens(s, &plain)) {
                Some(t) => Painted::Tokens(t),
                None => Painted::Sgr(line.to_string()),
            };
        }
        Painted::Sgr(line.to_string())
    }

    fn tokens(&mut self, line: &str) -> Option<Painted> {
        let plain = strip_all(line);
        let state = self.state.as_mut()?;
        tokens(state, &plain).map(Painted::Tokens)
    }
}

fn start(lang: Lang) -> Option<ParseState> {
    let g = grammars();
    g.set
        .find_syntax_by_name(lang.syntax_name())
        .map(ParseState::new)
}

/// Parse one line (no escapes in it) and class its pieces.
fn tokens(state: &mut ParseState, line: &str) -> Option<Vec<(Tok, String)>> {
    if line.len() > MAX_COLOURED_BYTES {
        return None;
    }
    let g = grammars();
    let with_newline = format!("{line}\n");
    let ops = state.parse_line(&with_newline, &g.set).ok()?;
    let mut stack = ScopeStack::new();
    let mut out: Vec<(Tok, String)> = Vec::new();
    for (range, op) in ScopeRangeIterator::new(&ops, &with_newline) {
        stack.apply(op).ok()?;
        let end = range.end.min(line.len());
        let Some(text) = line.get(range.start.min(end)..end) else {
            continue;
        };
        if text.is_empty() {
            continue;
        }
        let tok = class(&stack, g);
        match out.last_mut() {
            Some((t, s)) if *t == tok => s.push_str(text),
            _ => out.push((tok, text.to_string())),
        }
    }
    Some(out)
}

/// The class of the innermost scope any prefix names.
fn class(stack: &ScopeStack, g: &Grammars) -> Tok {
    let scopes = stack.as_slice();
    let mut tok = Tok::Plain;
    for scope in scopes.iter().rev() {
        if let Some((_, t)) = g.classes.iter().find(|(p, _)| p.is_prefix_of(*scope)) {
            tok = *t;
            break;
        }
    }
    if tok == Tok::Str && json_key(scopes, g) {
        return Tok::Key;
    }
    tok
}

/// Whether the innermost JSON structure around a string is an object
/// (the string is a key) rather than one of its values.
fn json_key(scopes: &[Scope], g: &Grammars) -> bool {
    let (Some(object), Some(value)) = (g.object, g.value) else {
        return false;
    };
    for s in scopes.iter().rev() {
        if value.is_prefix_of(*s) {
            return false;
        }
        if object.is_prefix_of(*s) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests;
