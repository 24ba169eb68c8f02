//! Asking before a change on the command line: `y` for an ordinary
//! environment, its name typed for a protected one, `--yes` for scripts.
//! Without a terminal and without `--yes` the change is refused, never
//! assumed.

use std::io::{BufRead, Write};

use crate::runtime::RuntimeError;

/// Where the answer comes from.
pub struct Prompt<'a> {
    pub input: &'a mut dyn BufRead,
    /// False when stdin is not a terminal (a script, CI).
    pub interactive: bool,
}

/// What is being confirmed.
pub struct Confirmation<'a> {
    /// `pause`, `abort (p99 too high)`.
    pub what: &'a str,
    pub env: &'a str,
    /// Protected environments need their name typed.
    pub protected: bool,
    /// `--yes`: confirmed already.
    pub yes: bool,
}

/// `Ok` once confirmed; `Err(Refused)` when declined or nobody can answer.
pub fn confirm(
    c: &Confirmation<'_>,
    prompt: &mut Prompt<'_>,
    err: &mut dyn Write,
) -> Result<(), RuntimeError> {
    if c.yes {
        return Ok(());
    }
    if !prompt.interactive {
        return Err(RuntimeError::Refused(format!(
            "`{}` on {} needs confirmation; pass --yes to confirm from a script",
            c.what, c.env
        )));
    }
    let question = if c.protected {
        format!("{} is protected; type its name to {}: ", c.env, c.what)
    } else {
        format!("{} on {}? [y/N] ", c.what, c.env)
    };
    let _ = write!(err, "{question}");
    let _ = err.flush();
    let mut answer = String::new();
    if prompt.input.read_line(&mut answer).is_err() {
        answer.clear();
    }
    let answer = answer.trim();
    let confirmed = if c.protected {
        answer == c.env
    } else {
        matches!(answer, "y" | "Y" | "yes")
    };
    if confirmed {
        Ok(())
    } else {
        Err(RuntimeError::Refused(format!(
            "`{}` on {} was not confirmed",
            c.what, c.env
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(
        what: &str,
        protected: bool,
        yes: bool,
        interactive: bool,
        typed: &str,
    ) -> Result<(), RuntimeError> {
        let mut input = typed.as_bytes();
        let mut err = Vec::new();
        let c = Confirmation {
            what,
            env: "production",
            protected,
            yes,
        };
        confirm(
            &c,
            &mut Prompt {
                input: &mut input,
                interactive,
            },
            &mut err,
        )
    }

    #[test]
    fn yes_confirms_without_asking() {
        assert!(ask("pause", true, true, false, "").is_ok());
    }

    #[test]
    fn a_script_without_yes_is_refused_and_told_about_yes() {
        let e = ask("pause", false, false, false, "y\n").unwrap_err();
        assert!(e.to_string().contains("--yes"), "{e}");
    }

    #[test]
    fn protected_environments_need_their_name_typed() {
        assert!(ask("abort", true, false, true, "y\n").is_err());
        assert!(ask("abort", true, false, true, "production\n").is_ok());
    }

    #[test]
    fn ordinary_environments_take_y() {
        assert!(ask("retry", false, false, true, "y\n").is_ok());
        assert!(ask("retry", false, false, true, "\n").is_err());
    }
}
