//! The questions `create` asks: arrow-key selection on a terminal (like
//! Vite's create), numbered plain-text questions when stdin is not a TTY.
//! Questions and answers go to stderr, so stdout stays machine-readable.

use std::io::{BufRead, Write};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::ScaffoldError;

/// One option of a selection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub value: String,
    pub hint: String,
}

impl Choice {
    pub fn new(value: impl Into<String>, hint: impl Into<String>) -> Self {
        Choice {
            value: value.into(),
            hint: hint.into(),
        }
    }
}

/// Answers questions. `validate` returns why an answer is refused.
pub trait Prompter {
    fn text(
        &mut self,
        question: &str,
        default: &str,
        validate: &dyn Fn(&str) -> Result<(), String>,
    ) -> Result<String, ScaffoldError>;
    /// Index of the chosen option.
    fn select(
        &mut self,
        question: &str,
        options: &[Choice],
        default: usize,
    ) -> Result<usize, ScaffoldError>;
}

// ---------------------------------------------------------------- key handling

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOutcome {
    Continue,
    Done,
    Cancel,
}

fn is_cancel(key: &KeyEvent) -> bool {
    key.code == KeyCode::Esc
        || (key.modifiers.contains(KeyModifiers::CONTROL)
            && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('d')))
}

/// The cursor of an arrow-key selection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectState {
    pub cursor: usize,
    pub len: usize,
}

impl SelectState {
    pub fn new(len: usize, default: usize) -> Self {
        SelectState {
            cursor: default.min(len.saturating_sub(1)),
            len,
        }
    }

    /// Up/down (and k/j, tab) move with wrap-around, 1-9 jump, Enter
    /// chooses, Esc or Ctrl-C cancels.
    pub fn on_key(&mut self, key: &KeyEvent) -> KeyOutcome {
        if key.kind == KeyEventKind::Release || self.len == 0 {
            return if self.len == 0 {
                KeyOutcome::Cancel
            } else {
                KeyOutcome::Continue
            };
        }
        if is_cancel(key) {
            return KeyOutcome::Cancel;
        }
        match key.code {
            KeyCode::Up | KeyCode::Char('k') | KeyCode::BackTab => {
                self.cursor = (self.cursor + self.len - 1) % self.len;
            }
            KeyCode::Down | KeyCode::Char('j') | KeyCode::Tab => {
                self.cursor = (self.cursor + 1) % self.len;
            }
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = self.len - 1,
            KeyCode::Char(c @ '1'..='9') => {
                let i = (c as usize) - ('1' as usize);
                if i < self.len {
                    self.cursor = i;
                }
            }
            KeyCode::Enter => return KeyOutcome::Done,
            _ => {}
        }
        KeyOutcome::Continue
    }
}

/// The line being typed for a text question.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TextState {
    pub value: String,
}

impl TextState {
    pub const MAX_LEN: usize = 200;

    pub fn on_key(&mut self, key: &KeyEvent) -> KeyOutcome {
        if key.kind == KeyEventKind::Release {
            return KeyOutcome::Continue;
        }
        if is_cancel(key) {
            return KeyOutcome::Cancel;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Enter => return KeyOutcome::Done,
            KeyCode::Backspace => {
                self.value.pop();
            }
            KeyCode::Char('u') if ctrl => self.value.clear(),
            KeyCode::Char('w') if ctrl => {
                let keep = self.value.trim_end().rfind(['-', ' ']).map_or(0, |i| i + 1);
                self.value.truncate(keep);
            }
            KeyCode::Char(c)
                if !ctrl && !c.is_control() && self.value.chars().count() < Self::MAX_LEN =>
            {
                self.value.push(c);
            }
            _ => {}
        }
        KeyOutcome::Continue
    }
}

// ---------------------------------------------------------------- terminal

/// Arrow-key questions on the terminal (raw mode on stderr).
pub struct TermPrompter {
    color: bool,
}

struct RawMode;

impl RawMode {
    fn enter() -> Result<RawMode, ScaffoldError> {
        crossterm::terminal::enable_raw_mode()
            .map_err(|e| ScaffoldError::io("switching the terminal to raw mode", e))?;
        Ok(RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::execute!(std::io::stderr(), crossterm::cursor::Show);
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

fn read_key() -> Result<KeyEvent, ScaffoldError> {
    loop {
        match crossterm::event::read() {
            Ok(crossterm::event::Event::Key(k)) => return Ok(k),
            Ok(_) => continue,
            Err(e) => return Err(ScaffoldError::io("reading the keyboard", e)),
        }
    }
}

impl TermPrompter {
    pub fn new() -> Self {
        TermPrompter {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// Replace the `drawn` lines above the cursor with `lines`.
    fn redraw(&self, drawn: &mut u16, lines: &[String]) -> Result<(), ScaffoldError> {
        use crossterm::{cursor, terminal};
        let mut err = std::io::stderr();
        let io = |e| ScaffoldError::io("drawing the question", e);
        crossterm::queue!(err, cursor::MoveToColumn(0)).map_err(io)?;
        if *drawn > 0 {
            crossterm::queue!(err, cursor::MoveUp(*drawn)).map_err(io)?;
        }
        crossterm::queue!(err, terminal::Clear(terminal::ClearType::FromCursorDown)).map_err(io)?;
        for l in lines {
            write!(err, "{l}\r\n").map_err(io)?;
        }
        err.flush().map_err(io)?;
        *drawn = u16::try_from(lines.len()).unwrap_or(u16::MAX);
        Ok(())
    }

    fn done_line(&self, question: &str, answer: &str) -> String {
        format!(
            "{} {} {} {}",
            self.paint("32", "✔"),
            self.paint("1", question),
            self.paint("2", "·"),
            self.paint("36", answer)
        )
    }
}

impl Default for TermPrompter {
    fn default() -> Self {
        TermPrompter::new()
    }
}

impl Prompter for TermPrompter {
    fn text(
        &mut self,
        question: &str,
        default: &str,
        validate: &dyn Fn(&str) -> Result<(), String>,
    ) -> Result<String, ScaffoldError> {
        let _raw = RawMode::enter()?;
        let mut state = TextState::default();
        let mut drawn = 0u16;
        let mut problem: Option<String> = None;
        loop {
            let shown = if state.value.is_empty() {
                self.paint("2", default)
            } else {
                state.value.clone()
            };
            let mut lines = vec![format!(
                "{} {} {} {shown}",
                self.paint("36", "?"),
                self.paint("1", question),
                self.paint("2", "›")
            )];
            if let Some(p) = &problem {
                lines.push(self.paint("31", &format!("  {p}")));
            }
            self.redraw(&mut drawn, &lines)?;
            match state.on_key(&read_key()?) {
                KeyOutcome::Continue => problem = None,
                KeyOutcome::Cancel => {
                    self.redraw(&mut drawn, &[])?;
                    return Err(ScaffoldError::Cancelled);
                }
                KeyOutcome::Done => {
                    let answer = if state.value.trim().is_empty() {
                        default.to_string()
                    } else {
                        state.value.trim().to_string()
                    };
                    match validate(&answer) {
                        Ok(()) => {
                            self.redraw(&mut drawn, &[self.done_line(question, &answer)])?;
                            return Ok(answer);
                        }
                        Err(why) => problem = Some(why),
                    }
                }
            }
        }
    }

    fn select(
        &mut self,
        question: &str,
        options: &[Choice],
        default: usize,
    ) -> Result<usize, ScaffoldError> {
        let _raw = RawMode::enter()?;
        let _ = crossterm::execute!(std::io::stderr(), crossterm::cursor::Hide);
        let mut state = SelectState::new(options.len(), default);
        let mut drawn = 0u16;
        let width = options
            .iter()
            .map(|o| o.value.chars().count())
            .max()
            .unwrap_or(0);
        loop {
            let mut lines = vec![format!(
                "{} {} {}",
                self.paint("36", "?"),
                self.paint("1", question),
                self.paint("2", "› ↑/↓ to move, enter to select")
            )];
            for (i, o) in options.iter().enumerate() {
                let pad = " ".repeat(width.saturating_sub(o.value.chars().count()));
                if i == state.cursor {
                    lines.push(format!(
                        "{} {}{pad}  {}",
                        self.paint("36", "❯"),
                        self.paint("36;4", &o.value),
                        self.paint("2", &o.hint)
                    ));
                } else {
                    lines.push(format!("  {}{pad}  {}", o.value, self.paint("2", &o.hint)));
                }
            }
            self.redraw(&mut drawn, &lines)?;
            match state.on_key(&read_key()?) {
                KeyOutcome::Continue => {}
                KeyOutcome::Cancel => {
                    self.redraw(&mut drawn, &[])?;
                    return Err(ScaffoldError::Cancelled);
                }
                KeyOutcome::Done => {
                    let answer = options
                        .get(state.cursor)
                        .map(|o| o.value.as_str())
                        .unwrap_or_default();
                    self.redraw(&mut drawn, &[self.done_line(question, answer)])?;
                    return Ok(state.cursor);
                }
            }
        }
    }
}

// ---------------------------------------------------------------- plain

/// Numbered questions read line by line (stdin not a TTY). An empty answer
/// takes the default; end of input before an answer is an error.
pub struct PlainPrompter<R: BufRead, W: Write> {
    input: R,
    output: W,
}

const PLAIN_TRIES: usize = 3;

impl<R: BufRead, W: Write> PlainPrompter<R, W> {
    pub fn new(input: R, output: W) -> Self {
        PlainPrompter { input, output }
    }

    fn ask(&mut self, prompt: &str, question: &str) -> Result<String, ScaffoldError> {
        let io = |e| ScaffoldError::io("writing the question", e);
        write!(self.output, "{prompt}").map_err(io)?;
        self.output.flush().map_err(io)?;
        let mut line = String::new();
        let n = <&mut R as std::io::Read>::take(&mut self.input, 4096)
            .read_line(&mut line)
            .map_err(|e| ScaffoldError::io("reading the answer", e))?;
        if n == 0 {
            let _ = writeln!(self.output);
            return Err(ScaffoldError::Prompt(format!(
                "no answer to `{question}` (standard input ended); pass the choices as flags (see `blissful-infra create --help`) or --yes for the defaults"
            )));
        }
        Ok(line.trim().to_string())
    }
}

impl<R: BufRead, W: Write> Prompter for PlainPrompter<R, W> {
    fn text(
        &mut self,
        question: &str,
        default: &str,
        validate: &dyn Fn(&str) -> Result<(), String>,
    ) -> Result<String, ScaffoldError> {
        let mut last = String::new();
        for _ in 0..PLAIN_TRIES {
            let answer = self.ask(&format!("{question} [{default}]: "), question)?;
            let answer = if answer.is_empty() {
                default.to_string()
            } else {
                answer
            };
            match validate(&answer) {
                Ok(()) => return Ok(answer),
                Err(why) => {
                    let _ = writeln!(self.output, "  {why}");
                    last = why;
                }
            }
        }
        Err(ScaffoldError::Prompt(format!(
            "no valid answer to `{question}` after {PLAIN_TRIES} tries: {last}"
        )))
    }

    fn select(
        &mut self,
        question: &str,
        options: &[Choice],
        default: usize,
    ) -> Result<usize, ScaffoldError> {
        let io = |e| ScaffoldError::io("writing the question", e);
        writeln!(self.output, "{question}:").map_err(io)?;
        let width = options
            .iter()
            .map(|o| o.value.chars().count())
            .max()
            .unwrap_or(0);
        for (i, o) in options.iter().enumerate() {
            writeln!(
                self.output,
                "  {}) {:width$}  {}",
                i + 1,
                o.value,
                o.hint,
                width = width
            )
            .map_err(io)?;
        }
        for _ in 0..PLAIN_TRIES {
            let answer = self.ask(
                &format!("Choose 1-{} [{}]: ", options.len(), default + 1),
                question,
            )?;
            if answer.is_empty() && default < options.len() {
                return Ok(default);
            }
            if let Ok(n) = answer.parse::<usize>() {
                if (1..=options.len()).contains(&n) {
                    return Ok(n - 1);
                }
            }
            if let Some(i) = options.iter().position(|o| o.value == answer) {
                return Ok(i);
            }
            let _ = writeln!(
                self.output,
                "  `{}` is not one of the options",
                crate::domain::sanitize::strip_all(&answer)
            );
        }
        Err(ScaffoldError::Prompt(format!(
            "no valid answer to `{question}` after {PLAIN_TRIES} tries"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn arrows_move_and_wrap() {
        let mut s = SelectState::new(3, 1);
        assert_eq!(s.on_key(&key(KeyCode::Down)), KeyOutcome::Continue);
        assert_eq!(s.cursor, 2);
        s.on_key(&key(KeyCode::Down));
        assert_eq!(s.cursor, 0, "wraps to the top");
        s.on_key(&key(KeyCode::Up));
        assert_eq!(s.cursor, 2, "wraps to the bottom");
        s.on_key(&key(KeyCode::Char('1')));
        assert_eq!(s.cursor, 0);
        s.on_key(&key(KeyCode::Char('9')));
        assert_eq!(s.cursor, 0, "out of range digits do nothing");
        assert_eq!(s.on_key(&key(KeyCode::Enter)), KeyOutcome::Done);
        assert_eq!(s.on_key(&key(KeyCode::Esc)), KeyOutcome::Cancel);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(s.on_key(&ctrl_c), KeyOutcome::Cancel);
    }

    #[test]
    fn text_editing() {
        let mut t = TextState::default();
        for c in "my-svc".chars() {
            t.on_key(&key(KeyCode::Char(c)));
        }
        t.on_key(&key(KeyCode::Backspace));
        assert_eq!(t.value, "my-sv");
        t.on_key(&KeyEvent::new(KeyCode::Char('w'), KeyModifiers::CONTROL));
        assert_eq!(t.value, "my-");
        t.on_key(&KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        assert_eq!(t.value, "");
        assert_eq!(t.on_key(&key(KeyCode::Enter)), KeyOutcome::Done);
    }

    fn plain(input: &str) -> PlainPrompter<std::io::Cursor<Vec<u8>>, Vec<u8>> {
        PlainPrompter::new(std::io::Cursor::new(input.as_bytes().to_vec()), Vec::new())
    }

    #[test]
    fn plain_answers_by_number_name_or_default() {
        let opts = [Choice::new("a", "first"), Choice::new("b", "second")];
        let mut p = plain("2\n\nb\nzzz\n1\n");
        assert_eq!(p.select("Pick", &opts, 0).unwrap(), 1);
        assert_eq!(p.select("Pick", &opts, 1).unwrap(), 1, "empty = default");
        assert_eq!(p.select("Pick", &opts, 0).unwrap(), 1);
        assert_eq!(
            p.select("Pick", &opts, 1).unwrap(),
            0,
            "after one bad answer"
        );
        let out = String::from_utf8(p.output).unwrap();
        assert!(
            out.contains("1) a  first") && out.contains("`zzz` is not one"),
            "{out}"
        );
    }

    #[test]
    fn plain_text_validates_and_eof_is_an_error() {
        let ok = |s: &str| {
            if s.contains(' ') {
                Err("no spaces".to_string())
            } else {
                Ok(())
            }
        };
        let mut p = plain("bad name\n\n");
        assert_eq!(p.text("Name", "dflt", &ok).unwrap(), "dflt");
        let mut p = plain("");
        let e = p.text("Name", "dflt", &ok).unwrap_err().to_string();
        assert!(
            e.contains("standard input ended") && e.contains("--yes"),
            "{e}"
        );
        let mut p = plain("a b\nc d\ne f\n");
        let e = p.text("Name", "dflt", &ok).unwrap_err().to_string();
        assert!(
            e.contains("after 3 tries") && e.contains("no spaces"),
            "{e}"
        );
    }
}
