//! Colour themes: TOML files in `themes/`, embedded in the binary and also
//! loadable from a path. `NO_COLOR` gives a monochrome theme that uses only
//! modifiers (bold, reversed, underlined), never a colour.

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::path::Path;
use toml::Spanned;

use crate::domain::logs::Level;

const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error(
        "theme `{name}` not found (built-in themes: {known}; or give the path of a .toml file)"
    )]
    NotFound { name: String, known: String },
    #[error("cannot read theme file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {}{message}", .field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        field: Option<String>,
        message: String,
    },
}

impl ThemeError {
    /// 1-based line of the problem, for `Invalid` errors.
    pub fn line(&self) -> Option<usize> {
        match self {
            ThemeError::Invalid { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// Declares the colour fields once: the `Theme` struct, the TOML file shape
/// and the code that applies a file's fields over a base theme.
macro_rules! theme_colors {
    ($($field:ident),* $(,)?) => {
        /// Resolved colours plus the monochrome switch; render code asks for
        /// styles through the methods below, never builds colours itself.
        #[derive(Clone, Debug, PartialEq)]
        pub struct Theme {
            pub name: String,
            /// No colours at all: styles carry modifiers only (`NO_COLOR`).
            pub monochrome: bool,
            $(pub $field: Color,)*
        }

        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ThemeFile {
            name: Option<Spanned<String>>,
            $(#[serde(default)] $field: Option<Spanned<String>>,)*
        }

        /// Every colour field name, in file order.
        pub const COLOR_FIELDS: &[&str] = &[$(stringify!($field)),*];

        impl ThemeFile {
            fn missing(&self) -> Vec<&'static str> {
                let mut out = Vec::new();
                $(if self.$field.is_none() { out.push(stringify!($field)); })*
                out
            }

            fn apply(self, base: &mut Theme, file: &str, src: &str) -> Result<(), ThemeError> {
                $(if let Some(v) = self.$field {
                    base.$field = parse_color(v.get_ref()).ok_or_else(|| {
                        invalid_at(file, src, v.span().start, Some(stringify!($field)), format!(
                            "invalid colour {:?} (use \"#rrggbb\", a name such as \"lightblue\" or \"reset\", or \"indexed:NN\")",
                            v.get_ref()
                        ))
                    })?;
                })*
                Ok(())
            }
        }

        impl Theme {
            /// Every colour of the theme, with its field name (for tests and docs).
            pub fn colors(&self) -> Vec<(&'static str, Color)> {
                vec![$((stringify!($field), self.$field)),*]
            }

            fn uniform(name: &str, monochrome: bool, c: Color) -> Theme {
                Theme { name: name.to_string(), monochrome, $($field: c,)* }
            }
        }
    };
}

theme_colors!(
    background,
    foreground,
    border,
    border_focused,
    title,
    muted,
    accent,
    selection_bg,
    ok,
    warn,
    error,
    info,
    canary,
    stable,
    sparkline,
    gauge,
    log_trace,
    log_debug,
    log_info,
    log_warn,
    log_error,
    match_bg,
);

/// Parse `#rrggbb`, `indexed:NN` or a colour name (case-insensitive; `-`/`_` ignored).
pub fn parse_color(s: &str) -> Option<Color> {
    let s = s.trim();
    if let Some(hex) = s.strip_prefix('#') {
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        return Some(Color::Rgb(byte(0)?, byte(2)?, byte(4)?));
    }
    let lower: String = s
        .chars()
        .filter(|c| *c != '-' && *c != '_' && *c != ' ')
        .collect::<String>()
        .to_ascii_lowercase();
    if let Some(n) = lower.strip_prefix("indexed:") {
        return n.parse::<u8>().ok().map(Color::Indexed);
    }
    Some(match lower.as_str() {
        "reset" | "default" | "none" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "darkgray" | "darkgrey" => Color::DarkGray,
        "lightred" => Color::LightRed,
        "lightgreen" => Color::LightGreen,
        "lightyellow" => Color::LightYellow,
        "lightblue" => Color::LightBlue,
        "lightmagenta" => Color::LightMagenta,
        "lightcyan" => Color::LightCyan,
        "white" => Color::White,
        _ => return None,
    })
}

/// 1-based line and column of a byte offset.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = src.get(..offset).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The key written at the start of the line holding `offset`, if any.
fn key_on_line(src: &str, offset: usize) -> Option<String> {
    let offset = offset.min(src.len());
    let start = src.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = src.get(start..)?.lines().next()?;
    let key = line.split('=').next()?.trim();
    let valid = !key.is_empty()
        && line.contains('=')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    valid.then(|| key.to_string())
}

fn invalid_at(
    file: &str,
    src: &str,
    offset: usize,
    field: Option<&str>,
    message: String,
) -> ThemeError {
    let (line, column) = line_col(src, offset);
    ThemeError::Invalid {
        file: file.to_string(),
        line,
        column,
        field: field.map(str::to_string),
        message,
    }
}

impl Theme {
    /// A built-in theme by name, or a TOML file by path; `no_color` turns
    /// the result into the monochrome theme (the file is still checked).
    pub fn load(name_or_path: &str, no_color: bool) -> Result<Theme, ThemeError> {
        let theme = match Theme::builtin(name_or_path) {
            Some(t) => t,
            None => {
                let path = Path::new(name_or_path);
                let looks_like_path = name_or_path.contains('/')
                    || name_or_path.contains('\\')
                    || name_or_path.ends_with(".toml");
                if !looks_like_path && !path.exists() {
                    return Err(ThemeError::NotFound {
                        name: name_or_path.to_string(),
                        known: Theme::names().join(", "),
                    });
                }
                let src = std::fs::read_to_string(path).map_err(|source| ThemeError::Io {
                    path: name_or_path.to_string(),
                    source,
                })?;
                Theme::parse(&src, name_or_path)?
            }
        };
        Ok(if no_color { Theme::monochrome() } else { theme })
    }

    /// Parse theme TOML; fields left out keep the dark theme's colours.
    /// `file` is only used in error messages.
    pub fn parse(src: &str, file: &str) -> Result<Theme, ThemeError> {
        let parsed: ThemeFile = toml::from_str(src).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let field = key_on_line(src, offset);
            let message = e.message().trim().to_string();
            invalid_at(file, src, offset, field.as_deref(), message)
        })?;
        let mut theme = Theme::dark_fallback();
        theme.name = parsed
            .name
            .as_ref()
            .map(|n| n.get_ref().clone())
            .unwrap_or_else(|| {
                Path::new(file)
                    .file_stem()
                    .map_or_else(|| file.to_string(), |s| s.to_string_lossy().into_owned())
            });
        parsed.apply(&mut theme, file, src)?;
        Ok(theme)
    }

    pub fn builtin(name: &str) -> Option<Theme> {
        let (n, src) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        // Built-in files are checked by tests; a broken one still yields a usable theme.
        Theme::parse(src, &format!("themes/{n}.toml")).ok()
    }

    pub fn names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(n, _)| *n).collect()
    }

    /// No colours at all; every role is told apart by modifiers.
    pub fn monochrome() -> Theme {
        Theme::uniform("monochrome", true, Color::Reset)
    }

    /// Colours used when a theme file leaves a field out (the dark theme's).
    fn dark_fallback() -> Theme {
        let mut t = Theme::uniform("dark", false, Color::Reset);
        let dark = BUILTIN[0].1;
        if let Ok(file) = toml::from_str::<ThemeFile>(dark) {
            // The dark file is complete and valid (tested), so this cannot fail in practice.
            let _ = file.apply(&mut t, "themes/dark.toml", dark);
        }
        t
    }

    /// Colour fields a theme source leaves out (built-ins must leave none).
    pub fn missing_fields(src: &str) -> Result<Vec<&'static str>, ThemeError> {
        let parsed: ThemeFile = toml::from_str(src).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            invalid_at("<theme>", src, offset, None, e.message().to_string())
        })?;
        Ok(parsed.missing())
    }

    // ---- styles: the only way render code gets colours ----

    fn fg(&self, c: Color) -> Style {
        if self.monochrome {
            Style::new()
        } else {
            Style::new().fg(c)
        }
    }

    fn fg_or(&self, c: Color, mono: Modifier) -> Style {
        if self.monochrome {
            Style::new().add_modifier(mono)
        } else {
            Style::new().fg(c)
        }
    }

    /// Drop colours from a style when monochrome (for colours that come from
    /// data, such as SGR codes in log lines).
    pub fn restyle(&self, style: Style) -> Style {
        if self.monochrome {
            Style {
                fg: None,
                bg: None,
                underline_color: None,
                ..style
            }
        } else {
            style
        }
    }

    pub fn base(&self) -> Style {
        if self.monochrome {
            Style::new()
        } else {
            Style::new().fg(self.foreground).bg(self.background)
        }
    }
    pub fn text(&self) -> Style {
        self.fg(self.foreground)
    }
    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.fg_or(self.border_focused, Modifier::BOLD)
        } else {
            self.fg(self.border)
        }
    }
    pub fn title(&self, focused: bool) -> Style {
        let s = self.fg(self.title).add_modifier(Modifier::BOLD);
        if focused && !self.monochrome {
            s.fg(self.border_focused)
        } else {
            s
        }
    }
    pub fn muted(&self) -> Style {
        self.fg(self.muted)
    }
    pub fn accent(&self) -> Style {
        self.fg_or(self.accent, Modifier::BOLD)
    }
    pub fn selection(&self) -> Style {
        if self.monochrome {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
                .bg(self.selection_bg)
                .add_modifier(Modifier::BOLD)
        }
    }
    pub fn ok(&self) -> Style {
        self.fg(self.ok)
    }
    pub fn warn(&self) -> Style {
        self.fg_or(self.warn, Modifier::BOLD)
    }
    pub fn error(&self) -> Style {
        self.fg_or(self.error, Modifier::BOLD | Modifier::UNDERLINED)
    }
    pub fn info(&self) -> Style {
        self.fg(self.info)
    }
    pub fn canary(&self) -> Style {
        self.fg_or(self.canary, Modifier::BOLD)
    }
    pub fn stable(&self) -> Style {
        self.fg(self.stable)
    }
    pub fn sparkline(&self) -> Style {
        self.fg(self.sparkline)
    }
    pub fn gauge(&self) -> Style {
        self.fg(self.gauge)
    }
    /// Matches of the log filter.
    pub fn matched(&self) -> Style {
        if self.monochrome {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::UNDERLINED)
        } else {
            Style::new().bg(self.match_bg)
        }
    }
    /// A badge such as `READ-ONLY`: reversed, so it stands out in any theme.
    pub fn badge(&self, c: Color) -> Style {
        if self.monochrome {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::new()
                .fg(c)
                .add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }
    pub fn level(&self, level: Level) -> Style {
        match level {
            Level::Trace => self.fg(self.log_trace),
            Level::Debug => self.fg(self.log_debug),
            Level::Info => self.fg(self.log_info),
            Level::Warn => self.fg_or(self.log_warn, Modifier::BOLD),
            Level::Error => self.fg_or(self.log_error, Modifier::BOLD | Modifier::UNDERLINED),
            Level::Unknown => self.fg(self.muted),
        }
    }
}

impl Default for Theme {
    fn default() -> Self {
        Theme::builtin("dark").unwrap_or_else(Theme::dark_fallback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_and_is_complete() {
        assert_eq!(Theme::names(), vec!["dark", "light", "high-contrast"]);
        for (name, src) in BUILTIN {
            let t = Theme::parse(src, name).expect("builtin theme parses");
            assert_eq!(&t.name, name);
            assert!(!t.monochrome);
            assert_eq!(
                Theme::missing_fields(src).expect("parses"),
                Vec::<&str>::new(),
                "{name}"
            );
            assert!(Theme::builtin(name).is_some());
        }
        // The themes differ from each other.
        let dark = Theme::builtin("dark").expect("dark");
        let light = Theme::builtin("light").expect("light");
        assert_ne!(dark.colors(), light.colors());
        assert_eq!(dark.border_focused, Color::Rgb(0x7a, 0xa2, 0xf7));
    }

    #[test]
    fn colour_syntax() {
        assert_eq!(parse_color("#ff0080"), Some(Color::Rgb(255, 0, 128)));
        assert_eq!(parse_color("reset"), Some(Color::Reset));
        assert_eq!(parse_color("LightBlue"), Some(Color::LightBlue));
        assert_eq!(parse_color("light-blue"), Some(Color::LightBlue));
        assert_eq!(parse_color("indexed:42"), Some(Color::Indexed(42)));
        assert_eq!(parse_color("indexed:300"), None);
        assert_eq!(parse_color("#12345"), None);
        assert_eq!(parse_color("#gggggg"), None);
        assert_eq!(parse_color("bluish"), None);
    }

    #[test]
    fn bad_colour_names_file_line_and_field() {
        let src = "name = \"mine\"\nborder = \"#112233\"\naccent = \"bluish\"\n";
        let err = Theme::parse(src, "/tmp/mine.toml").expect_err("must fail");
        assert_eq!(err.line(), Some(3));
        let msg = err.to_string();
        assert!(msg.starts_with("/tmp/mine.toml:3:"), "{msg}");
        assert!(msg.contains("field `accent`"), "{msg}");
        assert!(msg.contains("bluish"), "{msg}");
    }

    #[test]
    fn toml_syntax_and_unknown_fields_have_lines() {
        let err = Theme::parse("name = \"x\"\n\nborder = \n", "x.toml").expect_err("syntax");
        assert_eq!(err.line(), Some(3), "{err}");
        let err = Theme::parse("name = \"x\"\nbordr = \"red\"\n", "x.toml").expect_err("unknown");
        assert_eq!(err.line(), Some(2), "{err}");
        assert!(err.to_string().contains("bordr"), "{err}");
        let err = Theme::parse("border = 5\n", "x.toml").expect_err("type");
        assert_eq!(err.line(), Some(1), "{err}");
        assert!(err.to_string().contains("field `border`"), "{err}");
    }

    #[test]
    fn partial_file_inherits_dark_and_loads_from_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mine.toml");
        std::fs::write(&path, "accent = \"red\"\n").expect("write");
        let t = Theme::load(path.to_str().expect("utf8"), false).expect("loads");
        assert_eq!(t.name, "mine");
        assert_eq!(t.accent, Color::Red);
        assert_eq!(
            t.border_focused,
            Theme::builtin("dark").expect("dark").border_focused
        );
    }

    #[test]
    fn unknown_name_and_missing_file() {
        assert!(matches!(
            Theme::load("solarized", false),
            Err(ThemeError::NotFound { .. })
        ));
        let err = Theme::load("/nonexistent/dir/x.toml", false).expect_err("io");
        assert!(err.to_string().contains("/nonexistent/dir/x.toml"));
    }

    #[test]
    fn monochrome_has_no_colours() {
        let t = Theme::load("light", true).expect("loads");
        assert!(t.monochrome);
        assert!(t.colors().iter().all(|(_, c)| *c == Color::Reset));
        let styles = [
            t.base(),
            t.text(),
            t.border(true),
            t.border(false),
            t.title(true),
            t.muted(),
            t.accent(),
            t.selection(),
            t.ok(),
            t.warn(),
            t.error(),
            t.info(),
            t.canary(),
            t.stable(),
            t.sparkline(),
            t.gauge(),
            t.matched(),
            t.badge(Color::Red),
            t.level(Level::Error),
            t.level(Level::Trace),
            t.restyle(Style::new().fg(Color::Red).bg(Color::Blue)),
        ];
        for s in styles {
            assert_eq!((s.fg, s.bg), (None, None), "{s:?}");
        }
        // Roles stay distinguishable through modifiers.
        assert!(t.border(true).add_modifier.contains(Modifier::BOLD));
        assert!(t.selection().add_modifier.contains(Modifier::REVERSED));
        assert_ne!(t.level(Level::Error), t.level(Level::Info));
    }
}
