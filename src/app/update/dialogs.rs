//! Destructive actions: picker -> confirm dialog -> command.

use super::*;

impl App {
    pub(in crate::app) fn selected_env_name(&self) -> Option<String> {
        self.selected_env().map(|e| e.name.clone())
    }

    pub(in crate::app) fn is_protected(&self, env: &str) -> bool {
        self.config.environment(env).is_some_and(|e| e.protected)
    }

    pub(in crate::app) fn open_deploy_picker(&mut self) {
        let Some(env) = self.selected_env_name() else {
            self.flash("no environment to deploy to yet", Severity::Warning);
            return;
        };
        let stable = self.selected_env().and_then(|e| e.traffic.stable.clone());
        let mut items: Vec<(String, String)> = Vec::new();
        if let Some(next) = stable.as_ref().and_then(|v| next_version(v.as_str())) {
            items.push((next, "healthy build".into()));
        }
        for (name, b) in &self.config.service.versions {
            let mut traits = Vec::new();
            if b.latency_ms > 0 {
                traits.push(format!("+{}ms latency", b.latency_ms));
            }
            if b.error_rate > 0.0 {
                traits.push(format!("{:.0}% errors", b.error_rate * 100.0));
            }
            if b.memory_growth_mib_per_min > 0.0 {
                traits.push(format!("leaks {:.0} MiB/min", b.memory_growth_mib_per_min));
            }
            items.push((name.clone(), traits.join(", ")));
        }
        items.retain(|(v, _)| Some(v.as_str()) != stable.as_ref().map(|s| s.as_str()));
        if items.is_empty() {
            self.flash("no versions to deploy", Severity::Warning);
            return;
        }
        self.mode = Mode::Picker(Picker {
            purpose: PickerPurpose::DeployVersion,
            title: format!("Deploy to {env}"),
            env,
            items,
            selected: 0,
        });
    }

    pub(in crate::app) fn open_chaos_picker(&mut self) {
        let Some(env) = self.selected_env_name() else {
            self.flash("no environment for chaos yet", Severity::Warning);
            return;
        };
        self.mode = Mode::Picker(Picker {
            purpose: PickerPurpose::ChaosScenario,
            title: format!("Chaos against {env}"),
            env,
            items: self
                .chaos_scenarios()
                .iter()
                .map(|k| (k.name().to_string(), k.description().to_string()))
                .collect(),
            selected: self
                .chaos_selected
                .min(self.chaos_scenarios().len().saturating_sub(1)),
        });
    }

    /// The Chaos pane's selected scenario, as an FMEA suite on the selected
    /// environment (confirmed like every fault).
    pub(in crate::app) fn ask_chaos_suite(&mut self) {
        let Some(env) = self.selected_env_name() else {
            self.flash("no environment for chaos yet", Severity::Warning);
            return;
        };
        if self.suite.as_ref().is_some_and(|s| s.running()) {
            self.flash(
                "an FMEA suite is already running; wait for its report",
                Severity::Warning,
            );
            return;
        }
        let Some(&scenario) = self.chaos_scenarios().get(self.chaos_selected) else {
            self.flash("no chaos scenario is offered here", Severity::Warning);
            return;
        };
        self.ask(PendingAction::ChaosSuite { env, scenario });
    }

    pub(in crate::app) fn pick(&mut self, p: &Picker) -> Vec<Command> {
        let Some((value, _)) = p.items.get(p.selected) else {
            self.mode = Mode::Normal;
            return Vec::new();
        };
        match p.purpose {
            PickerPurpose::DeployVersion => self.ask(PendingAction::Deploy {
                env: p.env.clone(),
                version: value.clone(),
            }),
            PickerPurpose::CompareVersion => {
                self.mode = Mode::Normal;
                return self.start_comparison(&p.env, value);
            }
            PickerPurpose::ChaosScenario => match value.parse::<ScenarioKind>() {
                Ok(scenario) => {
                    self.chaos_selected = p.selected;
                    self.ask(PendingAction::Chaos {
                        env: p.env.clone(),
                        scenario,
                    })
                }
                Err(e) => {
                    self.mode = Mode::Normal;
                    self.flash(e.to_string(), Severity::Error);
                }
            },
        }
        Vec::new()
    }

    pub(in crate::app) fn ask_promote(&mut self) {
        let Some(from) = self.selected_env_name() else {
            return;
        };
        let Some(i) = self.envs.iter().position(|e| e.name == from) else {
            return;
        };
        let Some(to) = self.envs.get(i + 1).map(|e| e.name.clone()) else {
            self.flash(
                format!("{from} is the last environment; select the one to promote from"),
                Severity::Warning,
            );
            return;
        };
        self.ask(PendingAction::Promote { from, to });
    }

    pub(in crate::app) fn ask_rollback(&mut self) {
        let Some(env) = self.selected_env() else {
            return;
        };
        if env.previous.is_none() && env.traffic.canary.is_none() {
            let name = env.name.clone();
            self.flash(
                format!("{name} has no previous version to roll back to"),
                Severity::Warning,
            );
            return;
        }
        let env = env.name.clone();
        self.ask(PendingAction::Rollback { env });
    }

    pub(in crate::app) fn ask_switch(&mut self) {
        let Some(env) = self.selected_env() else {
            return;
        };
        if env.traffic.canary.is_none() {
            let name = env.name.clone();
            self.flash(
                format!("{name} has no canary to switch to"),
                Severity::Warning,
            );
            return;
        }
        let to_canary = env.traffic.canary_weight < 100;
        let env = env.name.clone();
        self.ask(PendingAction::SwitchTraffic { env, to_canary });
    }

    pub(in crate::app) fn ask_undo(&mut self) {
        let mut ids: Vec<String> = self
            .experiments
            .iter()
            .filter(|e| e.state == ExperimentState::Running)
            .map(|e| e.id.clone())
            .collect();
        // Faults the environments list without an experiment here, such as
        // a leftover another machine made: the confirm step counts them.
        for f in self.envs.iter().flat_map(|e| &e.faults) {
            if !ids.contains(&f.id) {
                ids.push(f.id.clone());
            }
        }
        if ids.is_empty() {
            self.flash("no fault is applied", Severity::Info);
            return;
        }
        self.ask(PendingAction::UndoFaults { ids });
    }

    /// Open the confirm dialog for `action`; its wording comes from the action table.
    pub(in crate::app) fn ask(&mut self, action: PendingAction) {
        let (spec_action, env, lines) = match &action {
            PendingAction::Deploy { env, version } => {
                let stable = self
                    .envs
                    .iter()
                    .find(|e| &e.name == env)
                    .and_then(|e| e.traffic.stable.clone())
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "nothing".into());
                let steps: Vec<String> = self
                    .config
                    .rollout
                    .steps
                    .steps
                    .iter()
                    .map(|s| format!("{}%", s.weight))
                    .collect();
                (
                    Action::Deploy,
                    env.clone(),
                    vec![
                        format!("Deploy {version} to {env} as a canary (stable: {stable})."),
                        format!(
                            "Steps: {}; automatic rollback if analysis fails.",
                            steps.join(" → ")
                        ),
                    ],
                )
            }
            PendingAction::Promote { from, to } => {
                let v = self
                    .envs
                    .iter()
                    .find(|e| &e.name == from)
                    .and_then(|e| e.traffic.stable.clone())
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "?".into());
                (
                    Action::Promote,
                    to.clone(),
                    vec![format!(
                        "Promote {v} from {from} to {to} (canary rollout in {to})."
                    )],
                )
            }
            PendingAction::PromoteOverGate { from, to, why } => (
                Action::Promote,
                to.clone(),
                vec![
                    why.clone(),
                    format!("Promote {from} to {to} anyway? Type {to} to override; the override goes to the audit journal."),
                ],
            ),
            PendingAction::Rollback { env } => {
                let e = self.envs.iter().find(|e| &e.name == env);
                let cur = e
                    .and_then(|e| e.traffic.canary.clone().or(e.traffic.stable.clone()))
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                let prev = e
                    .and_then(|e| {
                        if e.traffic.canary.is_some() {
                            e.traffic.stable.clone()
                        } else {
                            e.previous.clone()
                        }
                    })
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                (
                    Action::Rollback,
                    env.clone(),
                    vec![format!("Roll {env} back from {cur} to {prev}.")],
                )
            }
            PendingAction::SwitchTraffic { env, to_canary } => (
                Action::SwitchTraffic,
                env.clone(),
                vec![format!(
                    "Send 100% of {env}'s traffic to the {} version now.",
                    if *to_canary { "canary" } else { "stable" }
                )],
            ),
            PendingAction::Chaos { env, scenario } => (
                Action::Chaos,
                env.clone(),
                vec![
                    format!(
                        "Run {scenario} against {env} for {}s.",
                        self.config.chaos.params().duration_secs
                    ),
                    scenario.description().to_string(),
                ],
            ),
            PendingAction::ChaosSuite { env, scenario } => (
                Action::ChaosSuite,
                env.clone(),
                vec![
                    format!(
                        "FMEA of {scenario} on {env}: a {}s baseline, the fault for {}s, then recovery and a report.",
                        self.config.chaos.baseline_secs,
                        self.config.chaos.params().duration_secs
                    ),
                    scenario.description().to_string(),
                ],
            ),
            PendingAction::UndoFaults { ids } => (
                Action::UndoFaults,
                String::new(),
                vec![format!("Remove {} applied fault(s) now.", ids.len())],
            ),
            PendingAction::Intent { env, intent } => (
                intent_action(intent),
                env.clone(),
                self.intent_lines(env, intent),
            ),
            PendingAction::RunPipeline { .. } | PendingAction::CancelPipeline { .. } => {
                let (a, lines) = self.build_confirm(&action);
                (a, String::new(), lines)
            }
        };
        let reason = match &action {
            PendingAction::Intent {
                intent: crate::runtime::Intent::Abort { reason },
                ..
            } => Some(reason.clone()),
            _ => None,
        };
        let spec = spec_of(spec_action);
        // Overriding the resilience gate is always typed, as on the command line.
        let overrides_gate = matches!(action, PendingAction::PromoteOverGate { .. });
        let require_typed =
            (!env.is_empty() && (overrides_gate || self.is_protected(&env))).then(|| env.clone());
        self.mode = Mode::Confirm(ConfirmDialog {
            action,
            title: format!("Confirm: {}", spec.id.replace('_', " ")),
            lines,
            editing_reason: reason.is_some() && require_typed.is_none(),
            require_typed,
            typed: String::new(),
            reason,
        });
    }

    pub(in crate::app) fn on_confirm_key(
        &mut self,
        c: &mut ConfirmDialog,
        key: KeyEvent,
    ) -> Vec<Command> {
        if let Some(cmds) = self.on_reason_key(c, &key) {
            return cmds;
        }
        let confirmed = match (&c.require_typed, key.code) {
            (_, KeyCode::Esc) => {
                self.mode = Mode::Normal;
                self.flash("cancelled", Severity::Info);
                return Vec::new();
            }
            (Some(name), KeyCode::Enter) => {
                if &c.typed == name {
                    true
                } else {
                    self.flash(
                        format!("type \"{name}\" exactly to confirm"),
                        Severity::Warning,
                    );
                    self.mode = Mode::Confirm(c.clone());
                    return Vec::new();
                }
            }
            (Some(_), KeyCode::Backspace) => {
                c.typed.pop();
                self.mode = Mode::Confirm(c.clone());
                return Vec::new();
            }
            (Some(_), KeyCode::Char(ch)) => {
                c.typed.push(ch);
                self.mode = Mode::Confirm(c.clone());
                return Vec::new();
            }
            (None, KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter) => true,
            (None, KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Char('q')) => {
                self.mode = Mode::Normal;
                self.flash("cancelled", Severity::Info);
                return Vec::new();
            }
            _ => {
                self.mode = Mode::Confirm(c.clone());
                return Vec::new();
            }
        };
        self.mode = Mode::Normal;
        if !confirmed {
            return Vec::new();
        }
        if matches!(
            c.action,
            PendingAction::RunPipeline { .. } | PendingAction::CancelPipeline { .. }
        ) {
            return self.build_confirmed(c.action.clone());
        }
        let cmd = match c.action.clone() {
            PendingAction::Deploy { env, version } => RuntimeCommand::Deploy { env, version },
            PendingAction::Promote { from, to } => RuntimeCommand::Promote { from, to },
            PendingAction::PromoteOverGate { from, to, why } => RuntimeCommand::PromoteOverGate {
                from,
                to,
                gate: why,
            },
            PendingAction::Rollback { env } => RuntimeCommand::Rollback { env },
            PendingAction::SwitchTraffic { env, to_canary } => {
                RuntimeCommand::SwitchTraffic { env, to_canary }
            }
            PendingAction::Chaos { env, scenario } => RuntimeCommand::Chaos {
                env,
                scenario,
                params: self.config.chaos.params().for_scenario(scenario),
            },
            PendingAction::ChaosSuite { env, scenario } => {
                self.suite = Some(crate::app::suite::SuiteView::new(&env, vec![scenario]));
                self.flash(format!("FMEA of {scenario} on {env}…"), Severity::Info);
                return vec![Command::ChaosSuite { env, scenario }];
            }
            PendingAction::UndoFaults { ids } => RuntimeCommand::Undo { ids },
            PendingAction::Intent { env, intent } => {
                crate::app::intents::confirmed_intent(env, intent, c)
            }
            PendingAction::RunPipeline { .. } | PendingAction::CancelPipeline { .. } => {
                return Vec::new()
            }
        };
        self.flash(format!("{}…", cmd.label()), Severity::Info);
        vec![Command::Runtime(cmd)]
    }
}
