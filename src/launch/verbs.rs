//! The rollout verbs of the command line as port intents: which commands
//! are one `Runtime::intent` call, on which environment, confirmed how.

use crate::runtime::Intent;

use crate::cli::args::Cmd;

/// One rollout verb: the environment, the intent, and `--yes`.
#[derive(Debug, PartialEq)]
pub struct Verb {
    pub env: String,
    pub intent: Intent,
    pub yes: bool,
}

/// The intent `cmd` stands for, if it is a rollout verb. `user` names who
/// aborted when `abort` has no `--reason`.
pub fn verb_of(cmd: &Cmd, user: &str) -> Option<Verb> {
    let (target, intent) = match cmd {
        Cmd::Pause(t) => (t.clone(), Intent::Pause),
        Cmd::Resume(t) => (t.clone(), Intent::Resume),
        Cmd::Retry(t) => (t.clone(), Intent::Retry),
        Cmd::Restart(t) => (t.clone(), Intent::Restart),
        Cmd::Abort { target, reason } => {
            let reason = reason
                .clone()
                .filter(|r| !r.trim().is_empty())
                .unwrap_or_else(|| format!("aborted by {user}"));
            (target.clone(), Intent::Abort { reason })
        }
        Cmd::Promote {
            env: Some(env),
            full,
            confirm,
            ..
        } => {
            let intent = Intent::Promote { full: *full };
            return Some(Verb {
                env: env.clone(),
                intent,
                yes: confirm.yes,
            });
        }
        Cmd::Undo {
            env: Some(env),
            to_revision,
            confirm,
            ..
        } => {
            let intent = Intent::Undo {
                to_revision: *to_revision,
            };
            return Some(Verb {
                env: env.clone(),
                intent,
                yes: confirm.yes,
            });
        }
        _ => return None,
    };
    Some(Verb {
        env: target.env,
        intent,
        yes: target.confirm.yes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Cmd {
        let mut all = vec!["blissful-infra"];
        all.extend_from_slice(args);
        match crate::cli::args::Cli::try_parse_from(all) {
            Ok(cli) => cli.command.unwrap(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn abort_without_a_reason_names_the_user() {
        let v = verb_of(&parse(&["abort", "--env", "staging"]), "alice").unwrap();
        assert_eq!(
            v.intent,
            Intent::Abort {
                reason: "aborted by alice".into()
            }
        );
        assert!(!v.yes);
    }

    #[test]
    fn undo_and_promote_keep_their_old_forms() {
        let v = verb_of(
            &parse(&["undo", "--env", "prod", "--to-revision", "3", "--yes"]),
            "a",
        )
        .unwrap();
        assert_eq!(
            v.intent,
            Intent::Undo {
                to_revision: Some(3)
            }
        );
        assert!(v.yes);
        assert_eq!(verb_of(&parse(&["undo", "--id", "exp-1"]), "a"), None);
        assert_eq!(
            verb_of(&parse(&["promote", "--from", "a", "--to", "b"]), "a"),
            None
        );
        let full = verb_of(&parse(&["promote", "--env", "staging", "--full"]), "a").unwrap();
        assert_eq!(full.intent, Intent::Promote { full: true });
    }

    #[test]
    fn contradictory_flags_are_usage_errors() {
        for bad in [
            vec!["undo"],
            vec!["undo", "--id", "x", "--env", "s"],
            vec!["promote", "--full"],
            vec!["promote", "--from", "a"],
            vec!["promote", "--from", "a", "--to", "b", "--env", "c"],
            vec!["promote", "--env", "c", "--no-wait"],
        ] {
            let mut all = vec!["blissful-infra"];
            all.extend_from_slice(&bad);
            assert!(
                crate::cli::args::Cli::try_parse_from(all).is_err(),
                "{bad:?}"
            );
        }
    }
}
