//! The LogQL subset the fake understands, with Loki's error wording.

use super::FakeEntry;

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Eq,
    Ne,
    Re,
    NotRe,
}

#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: Op,
    pub value: String,
    re: Option<regex::Regex>,
}

impl Matcher {
    fn new(name: String, op: Op, value: String, anchored: bool) -> Result<Matcher, String> {
        let re = match op {
            Op::Re | Op::NotRe => {
                let pattern = if anchored {
                    format!("^(?:{value})$")
                } else {
                    value.clone()
                };
                Some(
                    regex::Regex::new(&pattern)
                        .map_err(|e| format!("parse error : invalid regex {value:?}: {e}"))?,
                )
            }
            _ => None,
        };
        Ok(Matcher {
            name,
            op,
            value,
            re,
        })
    }

    fn test(&self, s: &str) -> bool {
        match self.op {
            Op::Eq => s == self.value,
            Op::Ne => s != self.value,
            Op::Re => self.re.as_ref().is_some_and(|r| r.is_match(s)),
            Op::NotRe => !self.re.as_ref().is_some_and(|r| r.is_match(s)),
        }
    }
}

#[derive(Clone, Debug)]
pub enum Stage {
    /// `|=`, `!=`, `|~`, `!~` on the line (`name` unused).
    Line(Matcher),
    /// `| name op "value"` on the labels.
    Label(Matcher),
}

#[derive(Clone, Debug)]
pub struct Query {
    pub selector: Vec<Matcher>,
    pub stages: Vec<Stage>,
}

impl Query {
    pub fn matches(&self, e: &FakeEntry) -> bool {
        let label = |m: &Matcher| m.test(e.labels.get(&m.name).map_or("", String::as_str));
        self.selector.iter().all(label)
            && self.stages.iter().all(|s| match s {
                Stage::Line(m) => match m.op {
                    Op::Eq => e.line.contains(&m.value),
                    Op::Ne => !e.line.contains(&m.value),
                    _ => m.test(&e.line),
                },
                Stage::Label(m) => label(m),
            })
    }
}

struct Lexer<'a> {
    s: &'a str,
    i: usize,
}

fn err(col: usize, what: &str) -> String {
    format!("parse error at line 1, col {col}: syntax error: unexpected {what}")
}

impl Lexer<'_> {
    fn col(&self) -> usize {
        self.s[..self.i].chars().count() + 1
    }
    fn ws(&mut self) {
        while self.s[self.i..].starts_with([' ', '\t', '\n']) {
            self.i += 1;
        }
    }
    fn at_end(&mut self) -> bool {
        self.ws();
        self.i >= self.s.len()
    }
    fn eat(&mut self, t: &str) -> bool {
        self.ws();
        if self.s[self.i..].starts_with(t) {
            self.i += t.len();
            true
        } else {
            false
        }
    }
    /// What Loki's parser would name the next token.
    fn unexpected(&mut self) -> String {
        self.ws();
        let col = self.col();
        let r = &self.s[self.i..];
        let what = match r.chars().next() {
            None => "$end".to_string(),
            Some(c) if c.is_ascii_alphabetic() || c == '_' => "IDENTIFIER".into(),
            Some(c) if c.is_ascii_digit() => "NUMBER".into(),
            Some('"') | Some('`') => "STRING".into(),
            Some('{') => "{".into(),
            Some('}') => "}".into(),
            Some(c) => c.to_string(),
        };
        err(col, &what)
    }
    fn ident(&mut self) -> Result<String, String> {
        self.ws();
        let r = &self.s[self.i..];
        let len = r
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
            .map_or(r.len(), |(i, _)| i);
        if len == 0 || r.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(self.unexpected());
        }
        self.i += len;
        Ok(r[..len].to_string())
    }
    fn op(&mut self) -> Result<Op, String> {
        for (t, op) in [
            ("=~", Op::Re),
            ("!~", Op::NotRe),
            ("!=", Op::Ne),
            ("=", Op::Eq),
        ] {
            if self.eat(t) {
                return Ok(op);
            }
        }
        Err(self.unexpected())
    }
    /// A Go string: `"..."` with escapes, or a raw backtick string.
    fn string(&mut self) -> Result<String, String> {
        self.ws();
        let col = self.col();
        let r = &self.s[self.i..];
        if let Some(body) = r.strip_prefix('`') {
            let end = body
                .find('`')
                .ok_or_else(|| err(col, "unterminated raw string"))?;
            self.i += end + 2;
            return Ok(body[..end].to_string());
        }
        let Some(body) = r.strip_prefix('"') else {
            return Err(self.unexpected());
        };
        let mut out = String::new();
        let mut it = body.char_indices();
        while let Some((i, c)) = it.next() {
            match c {
                '"' => {
                    self.i += i + 2;
                    return Ok(out);
                }
                '\n' => break,
                '\\' => {
                    let bad = || err(col, "invalid escape in string");
                    let (_, e) = it.next().ok_or_else(bad)?;
                    let mut hex = |n: usize| -> Result<char, String> {
                        let digits: String =
                            (0..n).filter_map(|_| it.next().map(|x| x.1)).collect();
                        u32::from_str_radix(&digits, 16)
                            .ok()
                            .filter(|_| digits.len() == n)
                            .and_then(char::from_u32)
                            .ok_or_else(bad)
                    };
                    let ch = match e {
                        'a' => '\u{7}',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        'v' => '\u{b}',
                        '\\' => '\\',
                        '"' => '"',
                        'x' => hex(2)?,
                        'u' => hex(4)?,
                        'U' => hex(8)?,
                        _ => return Err(bad()),
                    };
                    out.push(ch);
                }
                c => out.push(c),
            }
        }
        Err(err(col, "unterminated string"))
    }
}

/// Parse `{matchers} stages…`, or say why the way Loki does.
pub fn parse(q: &str) -> Result<Query, String> {
    let mut lx = Lexer { s: q, i: 0 };
    if !lx.eat("{") {
        return Err(lx.unexpected());
    }
    let mut selector = Vec::new();
    if !lx.eat("}") {
        loop {
            let name = lx.ident()?;
            let op = lx.op()?;
            let value = lx.string()?;
            selector.push(Matcher::new(name, op, value, true)?);
            if lx.eat("}") {
                break;
            }
            if !lx.eat(",") {
                return Err(lx.unexpected());
            }
        }
    }
    if !selector
        .iter()
        .any(|m| !m.test("") && matches!(m.op, Op::Eq | Op::Re))
    {
        return Err("parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will".into());
    }
    let mut stages = Vec::new();
    while !lx.at_end() {
        let line_op = [
            ("|=", Op::Eq),
            ("|~", Op::Re),
            ("!=", Op::Ne),
            ("!~", Op::NotRe),
        ]
        .into_iter()
        .find(|(t, _)| lx.eat(t));
        if let Some((_, op)) = line_op {
            let value = lx.string()?;
            stages.push(Stage::Line(Matcher::new(String::new(), op, value, false)?));
        } else if lx.eat("|") {
            let name = lx.ident()?;
            let op = lx.op()?;
            let value = lx.string()?;
            stages.push(Stage::Label(Matcher::new(name, op, value, true)?));
        } else {
            return Err(lx.unexpected());
        }
    }
    Ok(Query { selector, stages })
}
