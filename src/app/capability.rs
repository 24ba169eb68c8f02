//! What the console offers, from the runtime's capabilities (never from
//! its name): unsupported actions are greyed out and say why when pressed.

use super::actions::{intent_kind, spec_of, Action};
use super::state::App;
use crate::domain::chaos::ScenarioKind;

impl App {
    /// Why the runtime cannot do `action`, or `None` when it can (or it
    /// has not said yet).
    pub fn unsupported(&self, action: Action) -> Option<String> {
        let chaos = matches!(action, Action::Chaos | Action::ChaosSuite);
        if chaos {
            if let Some(why) = self.config.chaos.refusal(&self.runtime_name) {
                return Some(why);
            }
        }
        let caps = self.capabilities.as_ref()?;
        if chaos && !ScenarioKind::every().any(|k| caps.offers_scenario(k)) {
            return Some(format!(
                "the {} runtime offers no chaos scenario",
                self.runtime_name
            ));
        }
        caps.check(intent_kind(action)?).err()
    }

    /// Greyed out: refused in read-only mode, or not offered by the runtime.
    pub fn action_disabled(&self, action: Action) -> bool {
        (self.read_only && spec_of(action).destructive) || self.unsupported(action).is_some()
    }

    /// The scenarios the attached runtime offers; before it has said,
    /// the ones every runtime runs.
    pub fn chaos_scenarios(&self) -> Vec<ScenarioKind> {
        match &self.capabilities {
            Some(caps) => ScenarioKind::every()
                .filter(|k| caps.offers_scenario(*k))
                .collect(),
            None => ScenarioKind::ALL.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::app::keymap::Keymap;
    use crate::config::Config;
    use crate::runtime::{Capabilities, DeliveryMode, IntentKind};

    fn app(caps: Option<Capabilities>) -> App {
        let cfg = Arc::new(Config::default());
        let keymap = Keymap::build(&cfg.keymap).unwrap();
        let mut app = App::new(cfg, "sandbox", false, keymap, 0);
        app.capabilities = caps;
        app
    }

    #[test]
    fn unsupported_intents_are_disabled_with_the_runtimes_reason() {
        let caps = Capabilities::with(DeliveryMode::Driven, &[IntentKind::Deploy], |k| {
            format!("no {} here", k.name())
        })
        .with_scenarios(ScenarioKind::ALL);
        let a = app(Some(caps));
        assert_eq!(
            a.unsupported(Action::PauseRollout).as_deref(),
            Some("no pause here")
        );
        assert!(a.action_disabled(Action::AbortRollout));
        assert!(!a.action_disabled(Action::Deploy));
        // Actions that send no intent are never greyed out by capabilities.
        assert!(!a.action_disabled(Action::Promote));
        assert_eq!(a.chaos_scenarios(), ScenarioKind::ALL.to_vec());
    }

    #[test]
    fn scenarios_come_from_the_capabilities() {
        let caps = Capabilities::with(DeliveryMode::Driven, &[], |_| String::new())
            .with_scenarios(ScenarioKind::every());
        let a = app(Some(caps));
        assert_eq!(a.chaos_scenarios().len(), ScenarioKind::every().count());
        let unknown = app(None);
        assert_eq!(unknown.chaos_scenarios(), ScenarioKind::ALL.to_vec());
        assert!(unknown.unsupported(Action::PauseRollout).is_none());
    }

    #[test]
    fn chaos_disabled_in_the_config_is_refused_with_the_key_to_change() {
        let mut cfg = Config::default();
        cfg.chaos.enabled = false;
        let keymap = Keymap::build(&cfg.keymap).unwrap();
        let a = App::new(Arc::new(cfg), "sandbox", false, keymap, 0);
        assert!(a
            .unsupported(Action::Chaos)
            .is_some_and(|r| r.contains("chaos.enabled: false")));
        assert!(a.action_disabled(Action::Chaos));
        assert!(a.action_disabled(Action::ChaosSuite));
        assert!(!a.action_disabled(Action::Deploy));
    }

    #[test]
    fn a_chaos_tool_the_runtime_cannot_use_is_refused_naming_the_key() {
        let mut cfg = Config::default();
        cfg.chaos.tool = crate::config::ChaosTool::ChaosMesh;
        let keymap = Keymap::build(&cfg.keymap).unwrap();
        let a = App::new(Arc::new(cfg), "sandbox", false, keymap, 0);
        let why = a.unsupported(Action::ChaosSuite).unwrap();
        assert!(why.contains("chaos.tool: chaos-mesh"), "{why}");
        assert!(why.contains("runtime: kubernetes"), "{why}");
        let mut cfg = Config::default();
        cfg.chaos.tool = crate::config::ChaosTool::Builtin;
        let keymap = Keymap::build(&cfg.keymap).unwrap();
        let k = App::new(Arc::new(cfg), "kubernetes (kind-dev)", false, keymap, 0);
        assert!(k
            .unsupported(Action::Chaos)
            .unwrap()
            .contains("chaos.tool: builtin"));
        let keymap = Keymap::build(&Config::default().keymap).unwrap();
        let auto = App::new(Arc::new(Config::default()), "kubernetes", false, keymap, 0);
        assert!(auto.unsupported(Action::Chaos).is_none());
    }
}
