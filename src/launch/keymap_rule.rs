//! The `keymap:` rule of the config: it needs the console's action table,
//! which `config/` must not import, so it lives here where both are visible
//! and is handed to `Config::load_with`.

use std::collections::BTreeMap;

use crate::app::actions::ACTIONS;
use crate::app::keymap::{Keymap, KeymapError};
use crate::config::KeyBinding;

/// For each keymap entry that cannot be used: the action id it is written
/// under and why (unknown action, bad key, clash with another action).
pub fn keymap_problems(keymap: &BTreeMap<String, KeyBinding>) -> Vec<(String, String)> {
    let Err(errors) = Keymap::build(keymap) else {
        return Vec::new();
    };
    errors
        .iter()
        .map(|e| {
            let action = match e {
                KeymapError::UnknownAction(id) => id.clone(),
                KeymapError::BadKey { action, .. } => action.clone(),
                // Point at whichever side was overridden (the later one if both).
                KeymapError::Clash { first, second, .. } => {
                    if keymap.contains_key(second) || !keymap.contains_key(first) {
                        second.clone()
                    } else {
                        first.clone()
                    }
                }
            };
            let message = match e {
                KeymapError::UnknownAction(_) => format!(
                    "unknown action (known: {})",
                    ACTIONS.iter().map(|s| s.id).collect::<Vec<_>>().join(", ")
                ),
                other => other.to_string().trim_start_matches("keymap: ").to_string(),
            };
            (action, message)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::actions::Action;
    use crate::config::{Config, ConfigError, ConfigProblem};

    fn invalid(text: &str) -> Vec<ConfigProblem> {
        match Config::from_yaml_str_with(text, "blissful-infra.yaml", keymap_problems) {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn problem<'a>(ps: &'a [ConfigProblem], field: &str) -> &'a ConfigProblem {
        ps.iter()
            .find(|p| p.field == field)
            .unwrap_or_else(|| panic!("no problem for {field} in {ps:#?}"))
    }

    #[test]
    fn keymap_clash_in_config_is_reported() {
        let ps = invalid("project: x\nkeymap:\n  deploy: r\n");
        assert_eq!(ps.len(), 1, "{ps:#?}");
        assert_eq!(ps[0].field, "keymap.deploy");
        assert_eq!(ps[0].line, Some(3));
        assert!(
            ps[0].message.contains("`r`") && ps[0].message.contains("rollback"),
            "{ps:?}"
        );
        let ps = invalid("keymap:\n  launch: x\n  quit: hyper-q\n");
        assert!(problem(&ps, "keymap.launch").message.contains("deploy"));
        assert_eq!(problem(&ps, "keymap.launch").line, Some(2));
        assert!(problem(&ps, "keymap.quit").message.contains("hyper-q"));
    }

    #[test]
    fn a_hostile_key_is_quoted_without_its_controls() {
        // Found by fuzz/config: the key as written went into the message,
        // line breaks and escape sequences included.
        let ps = invalid("keymap:\n  deploy: \"D\\e]0;pwned\\a\\nhop\"\n");
        let m = &problem(&ps, "keymap.deploy").message;
        assert!(m.contains("cannot parse key"), "{m}");
        assert!(!m.contains(|c: char| c.is_control()), "{m:?}");
    }

    #[test]
    fn a_good_override_builds_the_keymap() {
        let text = "keymap:\n  deploy: D\n  next_env: [n, right]\n";
        let c = Config::from_yaml_str_with(text, "blissful-infra.yaml", keymap_problems).unwrap();
        let km = Keymap::build(&c.keymap).unwrap();
        assert_eq!(km.keys_for(Action::Deploy), vec!["D"]);
        // Without the rule, config/ alone accepts any keymap entry.
        assert!(Config::from_yaml_str("keymap:\n  launch: x\n", "f").is_ok());
    }
}
