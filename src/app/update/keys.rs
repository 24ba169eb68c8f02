//! Keys and the actions they perform (the action table decides), plus
//! focus, environment selection and scrolling.

use super::*;

impl App {
    pub(in crate::app) fn on_paste(&mut self, text: &str) {
        let clean = sanitize_str(text);
        match &mut self.mode {
            Mode::Palette(p) => p.input.push_str(&clean),
            Mode::LogFilter { input, .. } => {
                input.push_str(&clean);
                self.apply_live_filter();
            }
            Mode::Confirm(c) if c.require_typed.is_some() => c.typed.push_str(&clean),
            Mode::AgentInput => {
                self.agent.input.insert_str(clean);
            }
            _ => {}
        }
    }

    pub(in crate::app) fn on_key(&mut self, key: KeyEvent) -> Vec<Command> {
        // Ctrl-C always quits, whatever mode we are in.
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            self.should_quit = true;
            return vec![Command::Quit];
        }
        match self.mode.clone() {
            Mode::Normal => self.on_normal_key(key),
            Mode::Help { scroll } => {
                match key.code {
                    KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('?') | KeyCode::Enter => {
                        self.mode = Mode::Normal
                    }
                    KeyCode::Down | KeyCode::Char('j') => {
                        self.mode = Mode::Help {
                            scroll: scroll.saturating_add(1),
                        }
                    }
                    KeyCode::Up | KeyCode::Char('k') => {
                        self.mode = Mode::Help {
                            scroll: scroll.saturating_sub(1),
                        }
                    }
                    KeyCode::PageDown => {
                        self.mode = Mode::Help {
                            scroll: scroll.saturating_add(10),
                        }
                    }
                    KeyCode::PageUp => {
                        self.mode = Mode::Help {
                            scroll: scroll.saturating_sub(10),
                        }
                    }
                    _ => {}
                }
                Vec::new()
            }
            Mode::Palette(mut p) => match key.code {
                KeyCode::Esc => {
                    self.mode = Mode::Normal;
                    Vec::new()
                }
                KeyCode::Enter => {
                    let input = p.input.clone();
                    self.mode = Mode::Normal;
                    match self.run_palette(&input) {
                        Ok(cmds) => cmds,
                        Err(e) => {
                            p.error = Some(e);
                            self.mode = Mode::Palette(p);
                            Vec::new()
                        }
                    }
                }
                KeyCode::Backspace => {
                    p.input.pop();
                    p.error = None;
                    self.mode = Mode::Palette(p);
                    Vec::new()
                }
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    p.input.push(c);
                    p.error = None;
                    self.mode = Mode::Palette(p);
                    Vec::new()
                }
                _ => Vec::new(),
            },
            Mode::LogFilter { mut input, .. } => {
                match key.code {
                    KeyCode::Esc => {
                        self.mode = Mode::Normal;
                        self.set_filter("");
                    }
                    KeyCode::Enter if self.set_filter(&input) => self.mode = Mode::Normal,
                    KeyCode::Backspace => {
                        input.pop();
                        self.mode = Mode::LogFilter { input, error: None };
                        self.apply_live_filter();
                    }
                    KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                        input.push(c);
                        self.mode = Mode::LogFilter { input, error: None };
                        self.apply_live_filter();
                    }
                    _ => {}
                }
                Vec::new()
            }
            Mode::Confirm(mut c) => self.on_confirm_key(&mut c, key),
            Mode::Picker(mut p) => {
                match key.code {
                    KeyCode::Esc | KeyCode::Char('q') => self.mode = Mode::Normal,
                    KeyCode::Down | KeyCode::Char('j') | KeyCode::Tab => {
                        p.selected = (p.selected + 1) % p.items.len().max(1);
                        self.mode = Mode::Picker(p);
                    }
                    KeyCode::Up | KeyCode::Char('k') | KeyCode::BackTab => {
                        p.selected = (p.selected + p.items.len().max(1) - 1) % p.items.len().max(1);
                        self.mode = Mode::Picker(p);
                    }
                    KeyCode::Enter => return self.pick(&p),
                    _ => {}
                }
                Vec::new()
            }
            Mode::AgentInput => self.on_agent_key(key),
            Mode::Comparison { scroll } => {
                match key.code {
                    KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('v') | KeyCode::Enter => {
                        self.mode = Mode::Normal
                    }
                    KeyCode::Down | KeyCode::Char('j') => {
                        self.mode = Mode::Comparison {
                            scroll: scroll.saturating_add(1),
                        }
                    }
                    KeyCode::Up | KeyCode::Char('k') => {
                        self.mode = Mode::Comparison {
                            scroll: scroll.saturating_sub(1),
                        }
                    }
                    _ => {}
                }
                Vec::new()
            }
        }
    }

    pub(in crate::app) fn on_normal_key(&mut self, key: KeyEvent) -> Vec<Command> {
        let Some(chord) = KeyChord::from_event(&key) else {
            return Vec::new();
        };
        match self.keymap.lookup(chord, self.focus) {
            Some(action) => self.perform(action),
            None => Vec::new(),
        }
    }

    /// Run one action from the table (keys and the palette both end here).
    pub fn perform(&mut self, action: Action) -> Vec<Command> {
        let spec = spec_of(action);
        if spec.destructive && self.read_only {
            let why = crate::app::actions::read_only_why(action)
                .map(|w| format!(": {w}"))
                .unwrap_or_default();
            self.flash(
                format!(
                    "read-only mode: {} is disabled{why}",
                    spec.id.replace('_', " ")
                ),
                Severity::Warning,
            );
            return Vec::new();
        }
        if let Some(reason) = self.unsupported(action) {
            let what = spec.id.replace('_', " ");
            self.flash(format!("{what}: {reason}"), Severity::Warning);
            return Vec::new();
        }
        match action {
            Action::Quit => {
                self.should_quit = true;
                return vec![Command::Quit];
            }
            Action::Help => self.mode = Mode::Help { scroll: 0 },
            Action::Palette => {
                self.mode = Mode::Palette(Palette {
                    input: String::new(),
                    error: None,
                })
            }
            Action::FocusNext => self.cycle_focus(1),
            Action::FocusPrev => self.cycle_focus(PaneId::ALL.len() - 1),
            Action::FocusEnvironments => self.focus = PaneId::Environments,
            Action::FocusLogs => self.focus = PaneId::Logs,
            Action::FocusPipeline => self.focus = PaneId::Pipeline,
            Action::FocusMetrics => self.focus = PaneId::Metrics,
            Action::FocusChaos => self.focus = PaneId::Chaos,
            Action::FocusAgent => self.focus = PaneId::Agent,
            Action::Zoom => self.zoomed = !self.zoomed,
            Action::ScrollUp => self.scroll(-1),
            Action::ScrollDown => self.scroll(1),
            Action::PageUp => self.scroll(-(PAGE as i64)),
            Action::PageDown => self.scroll(PAGE as i64),
            Action::Top => self.scroll(i64::MIN / 2),
            Action::Bottom => self.scroll(i64::MAX / 2),
            Action::NextEnv => self.select_env(1),
            Action::PrevEnv => self.select_env(-1),
            Action::Deploy => self.open_deploy_picker(),
            Action::Promote => self.ask_promote(),
            Action::Rollback => self.ask_rollback(),
            Action::SwitchTraffic => self.ask_switch(),
            Action::PauseRollout
            | Action::ResumeRollout
            | Action::AbortRollout
            | Action::RetryRollout
            | Action::UndoRevision
            | Action::PromoteStep
            | Action::PromoteFull
            | Action::RestartEnv => self.ask_intent(action),
            Action::Chaos => self.open_chaos_picker(),
            Action::ChaosSuite => self.ask_chaos_suite(),
            Action::UndoFaults => self.ask_undo(),
            Action::LoadTest => return self.start_load_test(),
            Action::Compare => self.open_compare_picker(),
            Action::ShowComparison => {
                if self.comparison.is_some() {
                    self.mode = Mode::Comparison { scroll: 0 };
                } else {
                    self.flash(
                        "no comparison yet: press C to compare a candidate version",
                        Severity::Info,
                    );
                }
            }
            Action::LogFilter => {
                self.mode = Mode::LogFilter {
                    input: self.log_view.filter_text.clone(),
                    error: None,
                }
            }
            Action::ClearFilter => {
                self.set_filter("");
            }
            Action::FollowTrace => self.follow_trace(),
            Action::ToggleFollow => self.toggle_follow(),
            Action::ToggleWrap => self.log_view.wrap = !self.log_view.wrap,
            Action::ToggleTimestamps => {
                self.log_view.timestamps = match self.log_view.timestamps {
                    crate::config::TimestampMode::Local => crate::config::TimestampMode::Utc,
                    crate::config::TimestampMode::Utc => crate::config::TimestampMode::Local,
                }
            }
            Action::ToggleEnvFilter => {
                self.log_view.only_selected_env = !self.log_view.only_selected_env
            }
            Action::AgentCompose => self.mode = Mode::AgentInput,
            Action::PipelineView => self.toggle_pipeline_tab(),
            Action::NextStage => self.builds.move_stage(1),
            Action::PrevStage => self.builds.move_stage(-1),
            Action::RunPipeline => self.ask_run_pipeline(None),
            Action::RerunStage => self.ask_rerun_stage(),
            Action::CancelPipeline => self.ask_cancel_pipeline(),
        }
        Vec::new()
    }

    pub(in crate::app) fn cycle_focus(&mut self, by: usize) {
        let i = self.focus.digit() - 1;
        self.focus = PaneId::ALL[(i + by) % PaneId::ALL.len()];
    }

    pub(in crate::app) fn select_env(&mut self, delta: i64) {
        if self.envs.is_empty() {
            return;
        }
        let n = self.envs.len() as i64;
        self.env_chosen = true;
        self.selected_env = ((self.selected_env as i64 + delta).rem_euclid(n)) as usize;
    }

    pub(in crate::app) fn scroll(&mut self, delta: i64) {
        match self.focus {
            PaneId::Environments => {
                if delta.abs() == 1 {
                    self.select_env(delta);
                }
            }
            PaneId::Logs => {
                if delta > 0 {
                    let v = &mut self.log_view;
                    v.scroll_from_bottom = v
                        .scroll_from_bottom
                        .saturating_sub(delta.unsigned_abs() as usize);
                    if v.scroll_from_bottom == 0 && delta >= i64::MAX / 4 {
                        v.follow = true;
                    }
                } else {
                    if self.log_view.follow {
                        self.pause_logs();
                    }
                    let max = self.logs.len();
                    let v = &mut self.log_view;
                    v.scroll_from_bottom =
                        (v.scroll_from_bottom + delta.unsigned_abs() as usize).min(max);
                }
            }
            PaneId::Pipeline if self.builds.tab == PipelineTab::Builds => {
                // Up/down pick a run; page, top and bottom move in the log.
                if delta.abs() == 1 {
                    self.builds.move_run(delta);
                } else {
                    self.builds.scroll_log(delta);
                }
            }
            PaneId::Pipeline => {
                let max = self.pipelines.len().saturating_sub(1);
                self.pipeline_scroll = add_clamped(self.pipeline_scroll, delta, max);
            }
            PaneId::Chaos => {
                let max = self.chaos_scenarios().len().saturating_sub(1);
                self.chaos_selected = add_clamped(self.chaos_selected, delta, max);
            }
            PaneId::Agent => {
                let max = self.agent.messages.len() * 4;
                self.agent.scroll_from_bottom =
                    add_clamped(self.agent.scroll_from_bottom, -delta, max);
            }
            PaneId::Metrics => {}
        }
    }
}
