//! Two consoles (or a console and the CLI) may ask for the same change at
//! the same moment. The controller task of an environment carries out its
//! intents one at a time; this remembers the last few it carried out and
//! refuses a second, identical intent, naming the first one's result:
//!
//! - when it arrived while the first was still in flight (queued behind it),
//! - or, for a deploy or promotion, while the rollout the first one started
//!   is still running.
//!
//! `refused: promote already done by alice via console: promote v2 from
//! staging to production (pipeline #7) requested by alice`.

use std::collections::VecDeque;
use std::time::Instant;

use crate::runtime::{ActionAccepted, Actor, Intent, RuntimeError};

/// Intents remembered per environment.
const REMEMBERED: usize = 8;

struct Done {
    intent: Intent,
    promoted_from: Option<String>,
    actor: Actor,
    finished: Instant,
    result: Result<ActionAccepted, RuntimeError>,
}

#[derive(Default)]
pub(super) struct Recent {
    done: VecDeque<Done>,
}

impl Recent {
    /// The refusal for an intent that repeats one carried out already, if it does.
    /// `arrived` is when it was sent; `running` the pipeline running now.
    pub(super) fn check(
        &self,
        intent: &Intent,
        promoted_from: Option<&str>,
        arrived: Instant,
        running: Option<u64>,
    ) -> Option<RuntimeError> {
        let first = self
            .done
            .iter()
            .rev()
            .find(|d| d.intent == *intent && d.promoted_from.as_deref() == promoted_from)?;
        let in_flight = arrived < first.finished;
        let still_running = matches!(intent, Intent::Deploy { .. })
            && matches!(&first.result, Ok(a) if running == Some(a.pipeline_id));
        (in_flight || still_running).then(|| refusal(first))
    }

    /// Remember what an intent came to.
    pub(super) fn record(
        &mut self,
        intent: Intent,
        promoted_from: Option<String>,
        actor: Actor,
        result: &Result<ActionAccepted, RuntimeError>,
    ) {
        if self.done.len() == REMEMBERED {
            self.done.pop_front();
        }
        self.done.push_back(Done {
            intent,
            promoted_from,
            actor,
            finished: Instant::now(),
            result: result.clone(),
        });
    }
}

fn refusal(first: &Done) -> RuntimeError {
    let verb = match first.promoted_from {
        Some(_) => "promote",
        None => first.intent.kind().name(),
    };
    let who = format!("{} via {}", first.actor.user, first.actor.via);
    RuntimeError::Refused(match &first.result {
        Ok(a) => format!("{verb} already done by {who}: {}", a.message),
        Err(e) => format!("{verb} already asked for by {who}, and it was not carried out: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::environment::Version;

    fn actor(user: &str) -> Actor {
        Actor {
            user: user.into(),
            via: "console".into(),
        }
    }

    fn accepted(id: u64) -> Result<ActionAccepted, RuntimeError> {
        Ok(ActionAccepted {
            pipeline_id: id,
            env: "production".into(),
            from_version: Some(Version::new("v1")),
            to_version: Some(Version::new("v2")),
            message: format!(
                "promote v2 from staging to production (pipeline #{id}) requested by alice"
            ),
        })
    }

    fn deploy() -> Intent {
        Intent::Deploy {
            version: Version::new("v2"),
        }
    }

    #[test]
    fn an_identical_intent_sent_while_the_first_was_in_flight_gets_its_result() {
        let mut r = Recent::default();
        let sent = Instant::now();
        r.record(
            deploy(),
            Some("staging".into()),
            actor("alice"),
            &accepted(7),
        );
        let refused = r.check(&deploy(), Some("staging"), sent, None);
        assert_eq!(
            refused.map(|e| e.to_string()).as_deref(),
            Some("refused: promote already done by alice via console: promote v2 from staging to production (pipeline #7) requested by alice")
        );
    }

    #[test]
    fn a_promotion_repeated_while_its_rollout_runs_is_refused_and_one_after_it_is_not() {
        let mut r = Recent::default();
        r.record(
            deploy(),
            Some("staging".into()),
            actor("alice"),
            &accepted(7),
        );
        let later = Instant::now();
        assert!(r
            .check(&deploy(), Some("staging"), later, Some(7))
            .is_some());
        // Finished (or replaced): the controller judges it as any other.
        assert!(r.check(&deploy(), Some("staging"), later, None).is_none());
        assert!(r
            .check(&deploy(), Some("staging"), later, Some(8))
            .is_none());
        // Not the same intent: a plain deploy, another source environment.
        let sent = Instant::now() - std::time::Duration::from_secs(1);
        assert!(r.check(&deploy(), None, sent, Some(7)).is_none());
        assert!(r.check(&deploy(), Some("qa"), sent, Some(7)).is_none());
    }

    #[test]
    fn step_promotes_are_refused_only_while_the_first_is_in_flight() {
        let mut r = Recent::default();
        let promote = Intent::Promote { full: false };
        let sent = Instant::now();
        r.record(promote.clone(), None, actor("bob"), &accepted(3));
        let e = r.check(&promote, None, sent, Some(3));
        assert!(
            matches!(&e, Some(RuntimeError::Refused(m)) if m.starts_with("promote already done by bob via console")),
            "{e:?}"
        );
        // Pressed again once the first had finished: another step, on purpose.
        assert!(r.check(&promote, None, Instant::now(), Some(3)).is_none());
    }

    #[test]
    fn a_first_intent_that_failed_is_named_as_such() {
        let mut r = Recent::default();
        let sent = Instant::now();
        let failed = Err(RuntimeError::Refused("canary v2 is not ready yet".into()));
        r.record(Intent::Restart, None, actor("carol"), &failed);
        let e = r.check(&Intent::Restart, None, sent, None);
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some("refused: restart already asked for by carol via console, and it was not carried out: refused: canary v2 is not ready yet")
        );
    }

    #[test]
    fn only_the_last_few_are_remembered() {
        let mut r = Recent::default();
        let sent = Instant::now();
        r.record(Intent::Pause, None, actor("a"), &accepted(1));
        for _ in 0..REMEMBERED {
            r.record(Intent::Resume, None, actor("a"), &accepted(1));
        }
        assert!(r.check(&Intent::Pause, None, sent, None).is_none());
        assert!(r.check(&Intent::Resume, None, sent, None).is_some());
    }
}
