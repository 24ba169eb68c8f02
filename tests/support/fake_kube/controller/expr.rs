//! The part of Argo's condition language (expr) that analysis templates
//! use: `result`, `result[0]`, numbers, strings, `true`/`false`,
//! arithmetic, comparisons, `&&`/`and`, `||`/`or`, `!`/`not`, parentheses,
//! and `len(…)`, `isNaN(…)`, `asFloat(…)`, `asInt(…)`.

use serde_json::{json, Value};

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Ident(String),
    Op(String),
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch.is_ascii_digit()
            || (ch == '.' && c.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            while i < c.len()
                && (c[i].is_ascii_digit() || c[i] == '.' || c[i] == 'e' || c[i] == 'E')
            {
                i += 1;
            }
            let t: String = c[start..i].iter().collect();
            out.push(Tok::Num(t.parse().map_err(|_| format!("bad number {t}"))?));
        } else if ch == '"' || ch == '\'' {
            let end = c[i + 1..]
                .iter()
                .position(|x| *x == ch)
                .ok_or("unterminated string")?
                + i
                + 1;
            out.push(Tok::Str(c[i + 1..end].iter().collect()));
            i = end + 1;
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
        } else {
            let two: String = c[i..(i + 2).min(c.len())].iter().collect();
            if ["==", "!=", "<=", ">=", "&&", "||"].contains(&two.as_str()) {
                out.push(Tok::Op(two));
                i += 2;
            } else if "<>!+-*/()[],".contains(ch) {
                out.push(Tok::Op(ch.to_string()));
                i += 1;
            } else {
                return Err(format!("unexpected {ch:?}"));
            }
        }
    }
    Ok(out)
}

struct P<'a> {
    t: Vec<Tok>,
    i: usize,
    result: &'a Value,
}

fn num(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| "not a number".into()),
        Value::String(s) => s.parse().map_err(|_| format!("{s:?} is not a number")),
        other => Err(format!("{other} is not a number")),
    }
}

fn truthy(v: &Value) -> Result<bool, String> {
    v.as_bool().ok_or_else(|| format!("{v} is not a boolean"))
}

impl P<'_> {
    fn peek_op(&self, ops: &[&str]) -> Option<String> {
        match self.t.get(self.i) {
            Some(Tok::Op(o)) if ops.contains(&o.as_str()) => Some(o.clone()),
            Some(Tok::Ident(w)) if ops.contains(&w.as_str()) => Some(w.clone()),
            _ => None,
        }
    }

    fn expect(&mut self, op: &str) -> Result<(), String> {
        self.peek_op(&[op])
            .ok_or_else(|| format!("expected {op}"))?;
        self.i += 1;
        Ok(())
    }

    fn or(&mut self) -> Result<Value, String> {
        let mut l = self.and()?;
        while self.peek_op(&["||", "or"]).is_some() {
            self.i += 1;
            let r = self.and()?;
            l = json!(truthy(&l)? || truthy(&r)?);
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<Value, String> {
        let mut l = self.not()?;
        while self.peek_op(&["&&", "and"]).is_some() {
            self.i += 1;
            let r = self.not()?;
            l = json!(truthy(&l)? && truthy(&r)?);
        }
        Ok(l)
    }

    fn not(&mut self) -> Result<Value, String> {
        if self.peek_op(&["!", "not"]).is_some() {
            self.i += 1;
            return Ok(json!(!truthy(&self.not()?)?));
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Value, String> {
        let l = self.sum()?;
        let Some(op) = self.peek_op(&["==", "!=", "<", "<=", ">", ">="]) else {
            return Ok(l);
        };
        self.i += 1;
        let r = self.sum()?;
        let eq = match (num(&l), num(&r)) {
            (Ok(a), Ok(b)) if !(l.is_string() && r.is_string()) => a == b,
            _ => l == r,
        };
        Ok(json!(match op.as_str() {
            "==" => eq,
            "!=" => !eq,
            "<" => num(&l)? < num(&r)?,
            "<=" => num(&l)? <= num(&r)?,
            ">" => num(&l)? > num(&r)?,
            _ => num(&l)? >= num(&r)?,
        }))
    }

    fn sum(&mut self) -> Result<Value, String> {
        let mut l = self.product()?;
        while let Some(op) = self.peek_op(&["+", "-"]) {
            self.i += 1;
            let r = self.product()?;
            l = json!(if op == "+" {
                num(&l)? + num(&r)?
            } else {
                num(&l)? - num(&r)?
            });
        }
        Ok(l)
    }

    fn product(&mut self) -> Result<Value, String> {
        let mut l = self.primary()?;
        while let Some(op) = self.peek_op(&["*", "/"]) {
            self.i += 1;
            let r = self.primary()?;
            l = json!(if op == "*" {
                num(&l)? * num(&r)?
            } else {
                num(&l)? / num(&r)?
            });
        }
        Ok(l)
    }

    fn primary(&mut self) -> Result<Value, String> {
        let tok = self.t.get(self.i).cloned().ok_or("unexpected end")?;
        self.i += 1;
        let mut v = match tok {
            Tok::Num(n) => json!(n),
            Tok::Str(s) => json!(s),
            Tok::Op(o) if o == "(" => {
                let v = self.or()?;
                self.expect(")")?;
                v
            }
            Tok::Op(o) if o == "-" => json!(-num(&self.primary()?)?),
            Tok::Ident(w) => match w.as_str() {
                "result" => self.result.clone(),
                "true" => json!(true),
                "false" => json!(false),
                "nil" => Value::Null,
                f @ ("len" | "isNaN" | "asFloat" | "asInt") => {
                    self.expect("(")?;
                    let a = self.or()?;
                    self.expect(")")?;
                    match f {
                        "len" => json!(a
                            .as_array()
                            .map(Vec::len)
                            .or(a.as_str().map(str::len))
                            .ok_or("len of a scalar")?),
                        "isNaN" => json!(num(&a).map(f64::is_nan).unwrap_or(true)),
                        "asInt" => json!(num(&a)?.trunc()),
                        _ => json!(num(&a)?),
                    }
                }
                other => return Err(format!("unknown name {other}")),
            },
            Tok::Op(o) => return Err(format!("unexpected {o}")),
        };
        while self.peek_op(&["["]).is_some() {
            self.i += 1;
            let idx = num(&self.or()?)? as usize;
            self.expect("]")?;
            v = v
                .as_array()
                .and_then(|a| a.get(idx))
                .cloned()
                .ok_or_else(|| format!("index {idx} out of range"))?;
        }
        Ok(v)
    }
}

/// Evaluate a condition with `result` bound; it must yield a boolean.
pub(super) fn eval(cond: &str, result: &Value) -> Result<bool, String> {
    let mut p = P {
        t: lex(cond)?,
        i: 0,
        result,
    };
    let v = p.or()?;
    if p.i != p.t.len() {
        return Err("trailing input".into());
    }
    truthy(&v)
}
