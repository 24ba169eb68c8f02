//! The rollout verbs (`pause`, `resume`, `abort`, `retry`, `undo
//! --to-revision`, `promote --env [--full]`, `restart`): each is one
//! [`Intent`] sent through [`crate::runtime::Runtime::intent`]. A verb the
//! runtime cannot do is refused with the runtime's own reason before
//! anything is asked or sent.

use serde::Serialize;

use super::commands::{done, Streams};
use super::confirm::{confirm, Confirmation, Prompt};
use super::output::Table;
use super::{exit, OutputMode};
use crate::domain::sanitize::strip_all;
use crate::runtime::{
    ActionAccepted, Actor, Capabilities, Intent, IntentKind, RuntimeError, SharedRuntime,
};

/// One verb as the user typed it.
pub struct IntentRequest<'a> {
    pub env: &'a str,
    pub intent: Intent,
    /// The environment is `protected: true` in the config.
    pub protected: bool,
    /// `--yes`.
    pub yes: bool,
}

/// What `--output json` prints for an accepted intent.
#[derive(Serialize)]
struct IntentReport<'a> {
    intent: &'a Intent,
    accepted: &'a ActionAccepted,
}

fn table(intent: &Intent, a: &ActionAccepted) -> String {
    let mut t = Table::new(&["ENV", "INTENT", "PIPELINE", "FROM", "TO", "MESSAGE"]);
    let v = |v: &Option<crate::domain::environment::Version>| {
        v.as_ref()
            .map(|v| v.to_string())
            .unwrap_or_else(|| "-".into())
    };
    t.row([
        a.env.clone(),
        intent.describe(),
        // An observed runtime (Kubernetes) runs no pipeline of its own.
        match a.pipeline_id {
            0 => "-".to_string(),
            id => format!("#{id}"),
        },
        v(&a.from_version),
        v(&a.to_version),
        a.message.clone(),
    ]);
    t.render()
}

/// One line under the `status` table: who steps rollouts and which verbs
/// the runtime offers (`runtime sandbox (driven) · offers: deploy, undo ·
/// not offered: pause, …`). The reasons are given when a verb is refused.
pub fn capabilities_line(runtime: &str, caps: &Capabilities) -> String {
    let (yes, no): (Vec<IntentKind>, Vec<IntentKind>) =
        IntentKind::ALL.into_iter().partition(|k| caps.supports(*k));
    let names = |ks: &[IntentKind]| ks.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ");
    let mut line = format!(
        "runtime {} ({}) · offers: {}",
        strip_all(runtime),
        caps.mode.label(),
        if yes.is_empty() {
            "-".into()
        } else {
            names(&yes)
        }
    );
    if !no.is_empty() {
        line.push_str(&format!(" · not offered: {}", names(&no)));
    }
    line.push('\n');
    line
}

/// Check the runtime can do it, ask, send, print. Returns the exit code.
pub async fn run_intent(
    rt: &SharedRuntime,
    actor: &Actor,
    req: IntentRequest<'_>,
    prompt: &mut Prompt<'_>,
    s: &mut Streams<'_>,
) -> i32 {
    let kind = req.intent.kind();
    if let Err(reason) = rt.capabilities().check(kind) {
        let e = RuntimeError::Refused(format!(
            "the {} runtime cannot {}: {reason}",
            rt.name(),
            kind.name()
        ));
        return s.error(&e);
    }
    let what = req.intent.describe();
    let c = Confirmation {
        what: &what,
        env: req.env,
        protected: req.protected,
        yes: req.yes,
    };
    if let Err(e) = confirm(&c, prompt, s.err) {
        return s.error(&e);
    }
    let intent = req.intent.clone();
    match rt.intent(actor, req.env, req.intent).await {
        Ok(accepted) => {
            let written = match s.mode {
                OutputMode::Table => s.put(&table(&intent, &accepted)),
                OutputMode::Json => s.put_json(&IntentReport {
                    intent: &intent,
                    accepted: &accepted,
                }),
            };
            done(exit::OK, written)
        }
        Err(e) => s.error(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::environment::Version;

    #[test]
    fn the_capabilities_line_names_what_is_offered_and_what_is_not() {
        let caps = Capabilities::with(
            crate::runtime::DeliveryMode::Driven,
            &[IntentKind::Deploy, IntentKind::Undo],
            |_| "later".into(),
        );
        let line = capabilities_line("sandbox", &caps);
        assert!(
            line.starts_with("runtime sandbox (driven) · offers: deploy, undo · not offered: "),
            "{line}"
        );
        assert!(line.contains("pause"), "{line}");
    }

    #[test]
    fn the_table_names_the_intent_and_the_versions() {
        let a = ActionAccepted {
            pipeline_id: 4,
            env: "staging".into(),
            from_version: Some(Version::new("v2")),
            to_version: Some(Version::new("v1")),
            message: "undo to revision 1".into(),
        };
        let t = table(
            &Intent::Undo {
                to_revision: Some(1),
            },
            &a,
        );
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("ENV"));
        assert!(lines[1].contains("undo --to-revision 1"), "{t}");
        assert!(lines[1].contains("#4"));
        assert!(lines[1].contains("v2"));
    }
}
