//! What one engine event says, in words: the console log line and the
//! timeline entry for a container that started, died, ran out of memory,
//! got a signal or changed health. Pure; the source task does the IO
//! (inspecting the container) and records the note.

use bollard::models::EventMessage;

use crate::docker::engine;
use crate::docker::lifecycle::ContainerView;
use crate::domain::logs::Level;
use crate::domain::sanitize::strip_all;

/// One event told twice: as a log line and as a one-stage timeline entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventNote {
    pub level: Level,
    /// The console log line.
    pub log: String,
    /// Title of the timeline entry.
    pub title: String,
    /// Its one stage: `start`, `die`, `oom`, `kill` or `health`.
    pub stage: &'static str,
    /// Why the stage failed; `None` when it succeeded.
    pub failed: Option<String>,
    pub detail: String,
}

/// The container id and the action of an event worth following up, or
/// `None`: no action or actor, or an action that changes no state
/// (healthchecks and chaos run execs every second).
pub fn event_subject(msg: &EventMessage) -> Option<(String, String)> {
    let action = msg.action.as_deref()?;
    if action.starts_with("exec_") || action.starts_with("top") || action == "attach" {
        return None;
    }
    let id = msg.actor.as_ref()?.id.clone()?;
    Some((id, action.to_owned()))
}

/// The note for an event, given the container as inspected after it
/// (`view`, `None` once removed) and the name it was last known by.
/// Actions without a note (create, destroy, ...) give `None`.
pub fn event_note(
    msg: &EventMessage,
    view: Option<&ContainerView>,
    known: Option<String>,
) -> Option<EventNote> {
    let (id, action) = event_subject(msg)?;
    let attrs = msg.actor.as_ref().and_then(|a| a.attributes.as_ref());
    let attr = |k: &str| attrs.and_then(|a| a.get(k)).map(|v| strip_all(v));
    let name = view
        .map(|v| v.display.clone())
        .or(known)
        .or_else(|| attrs.and_then(|a| a.get("name")).cloned())
        .unwrap_or_else(|| engine::short_id(&id).to_string());
    let name = strip_all(&name);
    let action = strip_all(&action);
    let note = |level, log: String, title, stage, failed, detail| EventNote {
        level,
        log,
        title,
        stage,
        failed,
        detail,
    };
    match action.as_str() {
        "start" => {
            let restarts = view.map_or(0, |v| v.restart_count);
            let detail = if restarts > 0 {
                format!("running again (restart #{restarts})")
            } else {
                "running".into()
            };
            let log = format!("{name} started ({detail})");
            let title = format!("{name} started");
            Some(note(Level::Info, log, title, "start", None, detail))
        }
        "die" => {
            let code = attr("exitCode").unwrap_or_else(|| "?".into());
            let text = if view.is_some_and(|v| v.oom_killed) {
                format!("{name} died: OOM killed (exit code {code})")
            } else {
                format!("{name} died (exit code {code})")
            };
            let clean_exit = code == "0";
            let failed = (!clean_exit).then(|| text.clone());
            let level = if clean_exit {
                Level::Info
            } else {
                Level::Error
            };
            let detail = format!("exit code {code}");
            Some(note(level, text.clone(), text, "die", failed, detail))
        }
        "oom" => {
            let text = format!("{name} ran out of memory (OOM kill)");
            let failed = Some(text.clone());
            let detail = "out of memory".into();
            Some(note(
                Level::Error,
                text.clone(),
                text,
                "oom",
                failed,
                detail,
            ))
        }
        "kill" => {
            let sig = attr("signal").unwrap_or_else(|| "?".into());
            let text = format!("{name} was sent signal {sig}");
            let detail = format!("signal {sig}");
            Some(note(Level::Warn, text.clone(), text, "kill", None, detail))
        }
        a if a.starts_with("health_status") => {
            let h = a
                .split_once(':')
                .map(|(_, h)| h.trim().to_string())
                .unwrap_or_default();
            let text = format!("{name} is {h}");
            let failed = (h == "unhealthy").then(|| text.clone());
            let level = if failed.is_some() {
                Level::Warn
            } else {
                Level::Info
            };
            let detail = format!("health: {h}");
            Some(note(level, text.clone(), text, "health", failed, detail))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: serde_json::Value) -> EventMessage {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn noise_and_incomplete_events_have_no_subject() {
        for action in ["exec_start: sh -c true", "top", "attach"] {
            let m = event(serde_json::json!({"Action": action, "Actor": {"ID": "abc"}}));
            assert_eq!(event_subject(&m), None, "{action}");
        }
        assert_eq!(
            event_subject(&event(serde_json::json!({"Action": "die"}))),
            None
        );
        let m = event(serde_json::json!({"Action": "die", "Actor": {"ID": "abc"}}));
        assert_eq!(event_subject(&m), Some(("abc".into(), "die".into())));
    }

    #[test]
    fn a_death_names_the_exit_code_and_fails_unless_zero() {
        let m = event(
            serde_json::json!({"Action": "die", "Actor": {"ID": "0123456789abcdef",
            "Attributes": {"exitCode": "137", "name": "shop-app-1"}}}),
        );
        let n = event_note(&m, None, None).unwrap();
        assert_eq!(n.log, "shop-app-1 died (exit code 137)");
        assert_eq!(n.failed.as_deref(), Some(n.log.as_str()));
        assert_eq!((n.level, n.stage), (Level::Error, "die"));
        // No name anywhere: the short id.
        let m = event(
            serde_json::json!({"Action": "die", "Actor": {"ID": "0123456789abcdef",
            "Attributes": {"exitCode": "0"}}}),
        );
        let n = event_note(&m, None, None).unwrap();
        assert_eq!(n.log, "0123456789ab died (exit code 0)");
        assert_eq!((n.level, n.failed), (Level::Info, None));
    }

    #[test]
    fn hostile_names_and_attributes_are_stripped() {
        let m = event(
            serde_json::json!({"Action": "health_status: \u{1b}[2Junhealthy",
            "Actor": {"ID": "x", "Attributes": {"name": "a\u{1b}]0;t\u{7}b"}}}),
        );
        let n = event_note(&m, None, None).unwrap();
        assert_eq!(n.log, "ab is unhealthy");
        assert_eq!(n.level, Level::Warn);
        assert!(event_note(
            &event(serde_json::json!({"Action": "create",
            "Actor": {"ID": "x"}})),
            None,
            None
        )
        .is_none());
    }
}
