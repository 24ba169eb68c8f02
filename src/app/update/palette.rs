//! The command palette: the CLI's verbs, down the same path keys take.

use super::*;
use crate::config::RuntimeKind;

impl App {
    /// Parse a palette line (same verbs as the CLI) into the same path keys take.
    pub fn run_palette(&mut self, input: &str) -> Result<Vec<Command>, String> {
        let words: Vec<&str> = input.split_whitespace().collect();
        let env_ok = |app: &App, e: &str| -> Result<String, String> {
            if app.envs.iter().any(|x| x.name == e) || app.config.environment(e).is_some() {
                Ok(e.to_string())
            } else {
                Err(format!(
                    "unknown environment `{e}` (known: {})",
                    app.config
                        .environments
                        .iter()
                        .map(|x| x.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        };
        let guard = |app: &mut App, a: Action| -> Result<(), String> {
            if app.read_only && spec_of(a).destructive {
                Err(format!("read-only mode: {} is disabled", spec_of(a).id))
            } else if let Some(reason) = app.unsupported(a) {
                Err(format!("{}: {reason}", spec_of(a).id))
            } else {
                Ok(())
            }
        };
        if let Some((action, env, intent)) = crate::app::intents::palette_intent(&words) {
            guard(self, action)?;
            let env = env_ok(self, &env)?;
            let intent = match intent.or_else(|| self.intent_for(action)) {
                Some(i) => i,
                None => return Err(format!("`{input}` is not a rollout verb")),
            };
            self.ask(PendingAction::Intent { env, intent });
            return Ok(Vec::new());
        }
        match words.as_slice() {
            [] => Ok(Vec::new()),
            ["q"] | ["quit"] => Ok(self.perform(Action::Quit)),
            ["help"] => Ok(self.perform(Action::Help)),
            ["deploy", env, version] => {
                guard(self, Action::Deploy)?;
                let env = env_ok(self, env)?;
                self.ask(PendingAction::Deploy {
                    env,
                    version: version.to_string(),
                });
                Ok(Vec::new())
            }
            ["promote", from, to] => {
                guard(self, Action::Promote)?;
                let (from, to) = (env_ok(self, from)?, env_ok(self, to)?);
                self.ask(PendingAction::Promote { from, to });
                Ok(Vec::new())
            }
            ["rollback", env] => {
                guard(self, Action::Rollback)?;
                let env = env_ok(self, env)?;
                self.ask(PendingAction::Rollback { env });
                Ok(Vec::new())
            }
            ["chaos", env, scenario] => {
                guard(self, Action::Chaos)?;
                let env = env_ok(self, env)?;
                let scenario = scenario.parse::<ScenarioKind>().map_err(|e| e.to_string())?;
                self.ask(PendingAction::Chaos { env, scenario });
                Ok(Vec::new())
            }
            ["switch", env, target @ ("canary" | "stable")] => {
                guard(self, Action::SwitchTraffic)?;
                let env = env_ok(self, env)?;
                self.ask(PendingAction::SwitchTraffic {
                    env,
                    to_canary: *target == "canary",
                });
                Ok(Vec::new())
            }
            ["undo"] => {
                guard(self, Action::UndoFaults)?;
                self.ask_undo();
                Ok(Vec::new())
            }
            ["ctx"] | ["ctx", _] if self.config.runtime != RuntimeKind::Kubernetes => Err(
                "`:ctx` switches Kubernetes contexts; this project does not use `runtime: kubernetes`"
                    .into(),
            ),
            ["ctx"] => Ok(vec![Command::Context { name: None }]),
            ["ctx", name] => Ok(vec![Command::Context {
                name: Some(name.to_string()),
            }]),
            ["filter", rest @ ..] => {
                let text = rest.join(" ");
                if self.set_filter(&text) {
                    self.focus = PaneId::Logs;
                    Ok(Vec::new())
                } else {
                    Err(format!("invalid regex `{text}`"))
                }
            }
            _ => Err(format!(
                "unknown command `{input}`; try: deploy <env> <version> · promote <from> <to> · promote <env> --full · rollback <env> · pause|resume|retry|restart <env> · abort <env> [reason] · undo <env> [revision] · chaos <env> <scenario> · switch <env> canary|stable · undo · filter <regex> · ctx [context] · quit"
            )),
        }
    }
}
