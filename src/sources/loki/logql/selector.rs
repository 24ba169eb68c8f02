//! Checking the configured stream selector and reading its matchers.

use super::{is_label_name, LogQlError};
use crate::domain::sanitize::strip_all;

/// The matchers inside the configured selector, as written (`name op "value"`).
pub(super) fn selector_matchers(selector: &str) -> Result<Vec<String>, LogQlError> {
    let bad = |reason: &str| LogQlError::Selector {
        selector: strip_all(selector),
        reason: reason.to_string(),
    };
    let s = selector.trim();
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let inner = s
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or_else(|| bad("it must be `{...}` with matchers only, no pipeline"))?;
    let mut p = Parser { s: inner, i: 0 };
    let mut out = Vec::new();
    loop {
        p.skip_ws();
        if p.done() {
            break;
        }
        let name = p.ident().ok_or_else(|| bad("expected a label name"))?;
        p.skip_ws();
        let op = p.op().ok_or_else(|| bad("expected =, !=, =~ or !~"))?;
        p.skip_ws();
        let value = p.string().map_err(bad)?;
        out.push(format!("{name}{op}{value}"));
        p.skip_ws();
        if p.done() {
            break;
        }
        if !p.eat(',') {
            return Err(bad("expected `,` between matchers"));
        }
    }
    Ok(out)
}

/// Just enough of LogQL's lexer to check a selector.
pub(super) struct Parser<'a> {
    pub(super) s: &'a str,
    pub(super) i: usize,
}

impl<'a> Parser<'a> {
    pub(super) fn rest(&self) -> &'a str {
        &self.s[self.i..]
    }
    pub(super) fn done(&self) -> bool {
        self.i >= self.s.len()
    }
    pub(super) fn skip_ws(&mut self) {
        let r = self.rest();
        self.i += r.len() - r.trim_start().len();
    }
    pub(super) fn eat(&mut self, c: char) -> bool {
        if self.rest().starts_with(c) {
            self.i += c.len_utf8();
            true
        } else {
            false
        }
    }
    pub(super) fn ident(&mut self) -> Option<&'a str> {
        let r = self.rest();
        let len = r
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
            .map_or(r.len(), |(i, _)| i);
        let name = &r[..len];
        if !is_label_name(name) {
            return None;
        }
        self.i += len;
        Some(name)
    }
    pub(super) fn op(&mut self) -> Option<&'static str> {
        for op in ["=~", "!~", "!=", "="] {
            if self.rest().starts_with(op) {
                self.i += op.len();
                return Some(op);
            }
        }
        None
    }
    /// A double-quoted string with valid Go escapes, or a backtick string.
    pub(super) fn string(&mut self) -> Result<&'a str, &'static str> {
        let r = self.rest();
        let len = if let Some(body) = r.strip_prefix('`') {
            body.find('`').ok_or("unterminated `string`")? + 2
        } else if let Some(body) = r.strip_prefix('"') {
            let mut chars = body.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    '\n' => return Err("newline in a string"),
                    '\\' => {
                        let (_, e) = chars.next().ok_or("unterminated string")?;
                        let hex = match e {
                            'a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\' | '"' => 0,
                            'x' => 2,
                            'u' => 4,
                            'U' => 8,
                            '0'..='7' => {
                                for _ in 0..2 {
                                    match chars.next() {
                                        Some((_, '0'..='7')) => {}
                                        _ => return Err("bad octal escape"),
                                    }
                                }
                                0
                            }
                            _ => return Err("unknown escape in a string"),
                        };
                        for _ in 0..hex {
                            match chars.next() {
                                Some((_, h)) if h.is_ascii_hexdigit() => {}
                                _ => return Err("bad hex escape"),
                            }
                        }
                    }
                    _ => {}
                }
            }
            end.ok_or("unterminated string")? + 2
        } else {
            return Err("expected a quoted value");
        };
        let out = &r[..len];
        self.i += len;
        Ok(out)
    }
}
