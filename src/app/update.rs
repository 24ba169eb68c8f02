//! `App::update`: the only place console state changes (Elm-style).
//! Keys arrive here; the action table decides what they mean; destructive
//! actions go through a confirm dialog and leave as `Command`s.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::actions::{spec_of, Action};
use super::keymap::KeyChord;
use super::msg::{AgentEvent, Command, Msg, RuntimeCommand};
use super::state::*;
use crate::domain::chaos::{ExperimentState, ScenarioKind};
use crate::domain::metrics::MetricSeries;
use crate::domain::pipeline::{PipelineKind, PipelineRun, StageStatus};
use crate::domain::sanitize::sanitize_str;
use crate::runtime::{RolloutOutcome, RuntimeEvent, SourceState};

const FLASH_MS: i64 = 6_000;
const PAGE: usize = 10;
/// How far back `T` looks for a line with a trace or request id.
const TRACE_SCAN_LIMIT: usize = 50_000;

impl App {
    pub fn update(&mut self, msg: Msg) -> Vec<Command> {
        let cmds = self.update_state(msg);
        self.sync_log_index();
        cmds
    }

    fn update_state(&mut self, msg: Msg) -> Vec<Command> {
        match msg {
            Msg::Key(key) => {
                if key.kind == KeyEventKind::Release {
                    return Vec::new();
                }
                self.dirty = true;
                let mut cmds = self.on_key(key);
                cmds.extend(self.log_source_filter_changed());
                cmds
            }
            Msg::Paste(text) => {
                self.dirty = true;
                self.on_paste(&text);
                Vec::new()
            }
            Msg::Resize => {
                self.dirty = true;
                Vec::new()
            }
            Msg::Tick(now) => {
                // Second-resolution texts ("12s ago", time left) change every tick.
                if now / 1000 != self.now / 1000 {
                    self.dirty = true;
                }
                self.now = now;
                if self.flash.as_ref().is_some_and(|f| f.until <= now) {
                    self.flash = None;
                    self.dirty = true;
                }
                Vec::new()
            }
            Msg::Runtime(ev) => {
                self.on_runtime_event(*ev);
                Vec::new()
            }
            Msg::RuntimeSource(state) => {
                self.sources.insert(self.runtime_name.clone(), state);
                self.dirty = true;
                Vec::new()
            }
            Msg::ActionDone { label, result } => {
                self.dirty = true;
                match result {
                    Ok(msg) => self.flash(format!("{label}: {msg}"), Severity::Success),
                    Err(e) => self.flash(format!("{label} failed: {e}"), Severity::Error),
                }
                Vec::new()
            }
            Msg::Agent(ev) => {
                self.dirty = true;
                self.on_agent_event(ev);
                Vec::new()
            }
            Msg::Compare(ev) => {
                self.on_compare_event(ev);
                Vec::new()
            }
            Msg::CompareDone(result) => {
                self.dirty = true;
                let now = self.now;
                if let Some(view) = &mut self.comparison {
                    let status = match &result {
                        Ok(r) if r.assessment.thresholds_passed => StageStatus::Succeeded,
                        Ok(r) => StageStatus::Failed(r.assessment.verdict.label().to_string()),
                        Err(e) => StageStatus::Failed(e.clone()),
                    };
                    view.run.finish(status, now);
                    let text = match &result {
                        Ok(r) => format!(
                            "compare {} → {}: {} (v shows it)",
                            view.old,
                            view.new,
                            r.assessment.verdict.label()
                        ),
                        Err(e) => format!("compare {} → {} failed: {e}", view.old, view.new),
                    };
                    let severity = if result.is_ok() {
                        Severity::Success
                    } else {
                        Severity::Error
                    };
                    view.outcome = Some(result);
                    self.flash(text, severity);
                }
                Vec::new()
            }
            Msg::FaultsStillApplied(n) => {
                self.dirty = true;
                let key = self.keymap.keys_for(Action::UndoFaults).first().cloned();
                self.flash(
                    format!(
                        "{n} fault(s) still applied (a run that was killed may have left them): press {} to undo them all",
                        key.unwrap_or_else(|| "u".into())
                    ),
                    Severity::Warning,
                );
                Vec::new()
            }
            Msg::Signal(name) => {
                self.should_quit = true;
                self.flash(format!("received {name}, shutting down"), Severity::Warning);
                vec![Command::Quit]
            }
        }
    }

    pub fn flash(&mut self, text: impl Into<String>, severity: Severity) {
        self.flash = Some(Flash {
            text: text.into(),
            severity,
            until: self.now + FLASH_MS,
        });
        self.dirty = true;
    }

    // ----- runtime events -------------------------------------------------

    pub fn on_runtime_event(&mut self, ev: RuntimeEvent) {
        match ev {
            RuntimeEvent::Environment { status } => {
                match self.envs.iter_mut().find(|e| e.name == status.name) {
                    Some(slot) => *slot = status,
                    None => {
                        self.envs.push(status);
                        let order: Vec<String> = self
                            .config
                            .environments
                            .iter()
                            .map(|e| e.name.clone())
                            .collect();
                        let rank =
                            |n: &str| order.iter().position(|o| o == n).unwrap_or(usize::MAX);
                        // Keep the user's selection; before they choose, the first environment is selected.
                        let selected = self
                            .env_chosen
                            .then(|| self.envs.get(self.selected_env).map(|e| e.name.clone()))
                            .flatten();
                        self.envs.sort_by_key(|e| rank(&e.name));
                        self.selected_env = selected
                            .and_then(|sel| self.envs.iter().position(|e| e.name == sel))
                            .unwrap_or(0);
                    }
                }
                self.dirty = true;
            }
            RuntimeEvent::Log { line } => {
                self.push_log(line);
                // A paused view only changes its "+N new" counter; still a visible change.
                self.dirty = true;
            }
            RuntimeEvent::Metrics {
                env,
                version,
                point,
            } => {
                let cap = self.config.console.metric_points;
                self.metrics
                    .entry((env, version))
                    .or_insert_with(|| MetricSeries::new(cap))
                    .push(point);
                self.dirty = true;
            }
            RuntimeEvent::Pipeline { run } => {
                match self.pipelines.iter_mut().find(|p| p.id == run.id) {
                    Some(slot) => *slot = run,
                    None => {
                        if self.pipelines.len() == MAX_PIPELINES {
                            self.pipelines.pop_front();
                        }
                        self.pipelines.push_back(run);
                        self.pipeline_scroll = 0;
                    }
                }
                self.dirty = true;
            }
            RuntimeEvent::Verdict { env, step, verdict } => {
                self.verdicts.insert(env, (step, verdict));
                self.dirty = true;
            }
            RuntimeEvent::RolloutFinished { env, outcome, .. } => match outcome {
                RolloutOutcome::Promoted { version } => {
                    self.flash(format!("{env}: {version} promoted"), Severity::Success)
                }
                RolloutOutcome::RolledBack {
                    version, reason, ..
                } => self.flash(
                    format!("{env}: {version} rolled back: {}", sanitize_str(&reason)),
                    Severity::Error,
                ),
                RolloutOutcome::Aborted { reason } => self.flash(
                    format!("{env}: rollout aborted: {}", sanitize_str(&reason)),
                    Severity::Warning,
                ),
            },
            RuntimeEvent::Experiment { experiment } => {
                match self.experiments.iter_mut().find(|e| e.id == experiment.id) {
                    Some(slot) => *slot = experiment,
                    None => {
                        if self.experiments.len() == MAX_EXPERIMENTS {
                            self.experiments.pop_front();
                        }
                        self.experiments.push_back(experiment);
                    }
                }
                self.dirty = true;
            }
            RuntimeEvent::Lagged { count } => {
                self.logs.note_lost(count);
                self.dirty = true;
            }
            RuntimeEvent::Source { name, state } => {
                self.sources.insert(name, state);
                self.dirty = true;
            }
        }
    }

    fn on_agent_event(&mut self, ev: AgentEvent) {
        match ev {
            AgentEvent::State(s) => self.agent.state = s,
            AgentEvent::Token(t) => {
                let t = sanitize_str(&t.replace('\n', "\u{1}")).replace('\u{1}', "\n");
                match self.agent.messages.back_mut() {
                    Some(m) if m.role == ChatRole::Assistant && self.agent.streaming => {
                        m.text.push_str(&t)
                    }
                    _ => {
                        self.agent.streaming = true;
                        self.push_chat(ChatRole::Assistant, t);
                    }
                }
            }
            AgentEvent::Done => self.agent.streaming = false,
            AgentEvent::Failed(e) => {
                self.agent.streaming = false;
                self.push_chat(ChatRole::System, sanitize_str(&e));
            }
        }
    }

    fn push_chat(&mut self, role: ChatRole, text: String) {
        if self.agent.messages.len() == MAX_CHAT_MESSAGES {
            self.agent.messages.pop_front();
        }
        self.agent.messages.push_back(ChatMessage { role, text });
        self.agent.scroll_from_bottom = 0;
    }

    // ----- keys -----------------------------------------------------------

    fn on_paste(&mut self, text: &str) {
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

    fn on_key(&mut self, key: KeyEvent) -> Vec<Command> {
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

    fn on_normal_key(&mut self, key: KeyEvent) -> Vec<Command> {
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
            self.flash(
                format!("read-only mode: {} is disabled", spec.id.replace('_', " ")),
                Severity::Warning,
            );
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
            Action::Chaos => self.open_chaos_picker(),
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
        }
        Vec::new()
    }

    fn cycle_focus(&mut self, by: usize) {
        let i = self.focus.digit() - 1;
        self.focus = PaneId::ALL[(i + by) % PaneId::ALL.len()];
    }

    fn select_env(&mut self, delta: i64) {
        if self.envs.is_empty() {
            return;
        }
        let n = self.envs.len() as i64;
        self.env_chosen = true;
        self.selected_env = ((self.selected_env as i64 + delta).rem_euclid(n)) as usize;
    }

    fn scroll(&mut self, delta: i64) {
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
            PaneId::Pipeline => {
                let max = self.pipelines.len().saturating_sub(1);
                self.pipeline_scroll = add_clamped(self.pipeline_scroll, delta, max);
            }
            PaneId::Chaos => {
                let max = ScenarioKind::ALL.len() - 1;
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

    fn pause_logs(&mut self) {
        self.log_view.follow = false;
        self.log_view.paused_end = self.logs.end_seq();
        self.log_view.scroll_from_bottom = 0;
    }

    fn toggle_follow(&mut self) {
        if self.log_view.follow {
            self.pause_logs();
        } else {
            self.log_view.follow = true;
            self.log_view.scroll_from_bottom = 0;
        }
    }

    /// Compile and apply a log filter; an invalid regex keeps the old filter and reports why.
    /// With Loki configured: once a filter is settled (not while it is being
    /// typed), ask the source for the pane's environment and regex only.
    fn log_source_filter_changed(&mut self) -> Option<Command> {
        if self.config.loki.url.trim().is_empty() || matches!(self.mode, Mode::LogFilter { .. }) {
            return None;
        }
        let env = self
            .log_view
            .only_selected_env
            .then(|| self.selected_env_name())
            .flatten();
        let grep = self
            .log_view
            .filter
            .as_ref()
            .map(|re| re.as_str().to_string());
        let wanted = (env, grep);
        if wanted == self.log_source_filter {
            return None;
        }
        self.log_source_filter = wanted.clone();
        Some(Command::FilterLogSource {
            env: wanted.0,
            grep: wanted.1,
        })
    }

    /// Filter the Logs pane to the trace/request id of the newest line the
    /// view shows that has one, in every environment and source.
    fn follow_trace(&mut self) {
        let store = &self.logs;
        let view = &self.log_view;
        let end = if view.follow {
            store.end_seq()
        } else {
            view.paused_end.clamp(store.first_seq(), store.end_seq())
        };
        let env = view
            .only_selected_env
            .then(|| self.selected_env().map(|e| e.name.clone()))
            .flatten();
        let mut skip = if view.follow {
            0
        } else {
            view.scroll_from_bottom
        };
        let mut found = None;
        let mut seq = end;
        let mut scanned = 0usize;
        while seq > store.first_seq() && scanned < TRACE_SCAN_LIMIT {
            seq -= 1;
            scanned += 1;
            let Some(line) = store.get(seq) else { break };
            let shown = env.as_deref().is_none_or(|e| *line.env == *e)
                && view.filter.as_ref().is_none_or(|re| line.matches(re));
            if !shown {
                continue;
            }
            if skip > 0 {
                skip -= 1;
                continue;
            }
            if let Some(c) = crate::domain::logs::correlation_id(&line.text) {
                found = Some(c);
                break;
            }
        }
        let Some(c) = found else {
            self.flash(
                "no trace or request id in the lines shown (trace_id=…, request_id=…)",
                Severity::Warning,
            );
            return;
        };
        if self.set_filter(&regex::escape(&c.id)) {
            self.log_view.only_selected_env = false;
            self.log_view.trace = Some(c.id.clone());
            self.flash(
                format!(
                    "following {} {} in every environment and source (esc clears)",
                    c.key, c.id
                ),
                Severity::Info,
            );
        }
    }

    fn set_filter(&mut self, text: &str) -> bool {
        self.log_view.trace = None;
        if text.is_empty() {
            self.log_view.filter = None;
            self.log_view.filter_text.clear();
            return true;
        }
        match regex::RegexBuilder::new(text).size_limit(1 << 20).build() {
            Ok(re) => {
                self.log_view.filter = Some(re);
                self.log_view.filter_text = text.to_string();
                true
            }
            Err(e) => {
                let first_line = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("invalid regex")
                    .trim()
                    .to_string();
                self.mode = Mode::LogFilter {
                    input: text.to_string(),
                    error: Some(first_line),
                };
                false
            }
        }
    }

    /// While typing, apply the filter when it compiles; keep the error visible otherwise.
    fn apply_live_filter(&mut self) {
        if let Mode::LogFilter { input, .. } = self.mode.clone() {
            if self.set_filter(&input) {
                self.mode = Mode::LogFilter { input, error: None };
            }
        }
    }

    // ----- destructive actions: picker -> confirm -> command ----------------

    fn selected_env_name(&self) -> Option<String> {
        self.selected_env().map(|e| e.name.clone())
    }

    fn is_protected(&self, env: &str) -> bool {
        self.config.environment(env).is_some_and(|e| e.protected)
    }

    fn open_deploy_picker(&mut self) {
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

    /// The scenarios the attached runtime can run (containers offer more).
    fn chaos_scenarios(&self) -> Vec<ScenarioKind> {
        let mut kinds = ScenarioKind::ALL.to_vec();
        if self.runtime_name.starts_with("docker") {
            kinds.extend_from_slice(&ScenarioKind::DOCKER_ONLY);
        }
        kinds
    }

    fn open_chaos_picker(&mut self) {
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

    fn pick(&mut self, p: &Picker) -> Vec<Command> {
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

    // ----- load tests and comparisons (not destructive: separate load) -----

    fn start_load_test(&mut self) -> Vec<Command> {
        let Some(env) = self.selected_env_name() else {
            self.flash("no environment to load-test yet", Severity::Warning);
            return Vec::new();
        };
        self.flash(
            format!("load test of {env} started (Pipeline and Metrics panes)"),
            Severity::Info,
        );
        vec![Command::LoadTest { env }]
    }

    fn open_compare_picker(&mut self) {
        if self
            .comparison
            .as_ref()
            .is_some_and(ComparisonView::running)
        {
            self.flash(
                "a comparison is already running: v shows it",
                Severity::Warning,
            );
            return;
        }
        let Some(env) = self.selected_env_name() else {
            self.flash("no environment to compare against yet", Severity::Warning);
            return;
        };
        let Some(stable) = self.selected_env().and_then(|e| e.traffic.stable.clone()) else {
            self.flash(
                format!("{env} has no stable version to compare with"),
                Severity::Warning,
            );
            return;
        };
        // The same candidates as deploy offers.
        self.open_deploy_picker();
        let Mode::Picker(mut p) = self.mode.clone() else {
            return;
        };
        p.purpose = PickerPurpose::CompareVersion;
        p.title = format!("Compare with {} (stable) of", stable.as_str());
        self.mode = Mode::Picker(p);
    }

    fn start_comparison(&mut self, env: &str, new: &str) -> Vec<Command> {
        let Some(old) = self
            .envs
            .iter()
            .find(|e| e.name == env)
            .and_then(|e| e.traffic.stable.clone())
        else {
            self.flash(format!("{env} has no stable version"), Severity::Warning);
            return Vec::new();
        };
        let old = old.as_str().to_string();
        let cap = self.config.console.metric_points;
        let run = PipelineRun::new(
            0,
            PipelineKind::Comparison,
            env,
            &format!("compare {old} → {new}"),
            &crate::compare::STAGES,
            self.now,
        );
        self.comparison = Some(ComparisonView {
            env: env.to_string(),
            old: old.clone(),
            new: new.to_string(),
            run,
            old_series: MetricSeries::new(cap),
            new_series: MetricSeries::new(cap),
            outcome: None,
        });
        self.mode = Mode::Comparison { scroll: 0 };
        vec![Command::Compare {
            env: env.to_string(),
            old,
            new: new.to_string(),
        }]
    }

    fn on_compare_event(&mut self, ev: crate::compare::CompareEvent) {
        use crate::compare::{CompareEvent, Side};
        let now = self.now;
        let Some(view) = &mut self.comparison else {
            return;
        };
        match ev {
            CompareEvent::StageStarted(i) => view.run.start_stage(i, now),
            CompareEvent::StageEnded {
                index,
                status,
                detail,
            } => view.run.finish_stage(index, status, detail, now),
            CompareEvent::Point { side, point } => match side {
                Side::Old => view.old_series.push(point),
                Side::New => view.new_series.push(point),
            },
        }
        self.dirty = true;
    }

    fn ask_promote(&mut self) {
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

    fn ask_rollback(&mut self) {
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

    fn ask_switch(&mut self) {
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

    fn ask_undo(&mut self) {
        let ids: Vec<String> = self
            .experiments
            .iter()
            .filter(|e| e.state == ExperimentState::Running)
            .map(|e| e.id.clone())
            .collect();
        if ids.is_empty() {
            self.flash("no fault is applied", Severity::Info);
            return;
        }
        self.ask(PendingAction::UndoFaults { ids });
    }

    /// Open the confirm dialog for `action`; its wording comes from the action table.
    fn ask(&mut self, action: PendingAction) {
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
                        self.config.chaos.defaults.duration_secs
                    ),
                    scenario.description().to_string(),
                ],
            ),
            PendingAction::UndoFaults { ids } => (
                Action::UndoFaults,
                String::new(),
                vec![format!("Remove {} applied fault(s) now.", ids.len())],
            ),
        };
        let spec = spec_of(spec_action);
        let require_typed = (!env.is_empty() && self.is_protected(&env)).then(|| env.clone());
        self.mode = Mode::Confirm(ConfirmDialog {
            action,
            title: format!("Confirm: {}", spec.id.replace('_', " ")),
            lines,
            require_typed,
            typed: String::new(),
        });
    }

    fn on_confirm_key(&mut self, c: &mut ConfirmDialog, key: KeyEvent) -> Vec<Command> {
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
        let cmd = match c.action.clone() {
            PendingAction::Deploy { env, version } => RuntimeCommand::Deploy { env, version },
            PendingAction::Promote { from, to } => RuntimeCommand::Promote { from, to },
            PendingAction::Rollback { env } => RuntimeCommand::Rollback { env },
            PendingAction::SwitchTraffic { env, to_canary } => {
                RuntimeCommand::SwitchTraffic { env, to_canary }
            }
            PendingAction::Chaos { env, scenario } => RuntimeCommand::Chaos {
                env,
                scenario,
                params: self.config.chaos.defaults.clone(),
            },
            PendingAction::UndoFaults { ids } => RuntimeCommand::Undo { ids },
        };
        self.flash(format!("{}…", cmd.label()), Severity::Info);
        vec![Command::Runtime(cmd)]
    }

    // ----- palette ------------------------------------------------------------

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
            } else {
                Ok(())
            }
        };
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
                "unknown command `{input}`; try: deploy <env> <version> · promote <from> <to> · rollback <env> · chaos <env> <scenario> · switch <env> canary|stable · undo · filter <regex> · quit"
            )),
        }
    }

    // ----- agent ----------------------------------------------------------------

    fn on_agent_key(&mut self, key: KeyEvent) -> Vec<Command> {
        match key.code {
            KeyCode::Esc => {
                self.mode = Mode::Normal;
                Vec::new()
            }
            KeyCode::Enter
                if !key
                    .modifiers
                    .intersects(KeyModifiers::SHIFT | KeyModifiers::ALT) =>
            {
                let question = self.agent.input.lines().join("\n").trim().to_string();
                if question.is_empty() || self.agent.streaming {
                    return Vec::new();
                }
                self.agent.input = {
                    let mut t = tui_textarea::TextArea::default();
                    t.set_placeholder_text(
                        "Ask about the focused environment (Enter sends, Esc leaves)",
                    );
                    t
                };
                let question = sanitize_str(&question);
                self.push_chat(ChatRole::User, question);
                if let SourceState::Degraded(reason) = &self.agent.state {
                    let msg = format!("agent unavailable: {reason}");
                    self.push_chat(ChatRole::System, msg);
                    return Vec::new();
                }
                let history = self
                    .agent
                    .messages
                    .iter()
                    .filter(|m| m.role != ChatRole::System)
                    .map(|m| {
                        let role = if m.role == ChatRole::User {
                            "user"
                        } else {
                            "assistant"
                        };
                        (role.to_string(), crate::domain::redact::redact(&m.text))
                    })
                    .collect();
                self.agent.streaming = true;
                self.push_chat(ChatRole::Assistant, String::new());
                vec![Command::AskAgent {
                    history,
                    context: crate::domain::redact::redact(&self.agent_context()),
                }]
            }
            _ => {
                self.agent.input.input(key);
                Vec::new()
            }
        }
    }

    /// Recent logs, metrics, verdicts and actions of the selected environment,
    /// as plain text for the model (redacted by the caller).
    pub fn agent_context(&self) -> String {
        let mut out = String::new();
        let Some(env) = self.selected_env() else {
            return "No environment is running yet.".into();
        };
        out.push_str(&format!(
            "Environment {} on the {} runtime: health {} {}; stable {}; canary {} at {}%; instances ready {}/{}.\n",
            env.name,
            self.runtime_name,
            env.health.label(),
            env.health.reason().unwrap_or(""),
            env.traffic.stable.as_ref().map(|v| v.as_str()).unwrap_or("-"),
            env.traffic.canary.as_ref().map(|v| v.as_str()).unwrap_or("-"),
            env.traffic.canary_weight,
            env.ready_desired().0,
            env.ready_desired().1,
        ));
        for ((e, version), series) in &self.metrics {
            if e != &env.name {
                continue;
            }
            if let Some(p) = series.last() {
                out.push_str(&format!(
                    "Metrics {version}: {:.1} req/s, errors {:.2}%, p50 {:.0}ms, p95 {:.0}ms, p99 {:.0}ms, cpu {:.0}%, mem {:.0} MiB.\n",
                    p.rps, p.error_rate * 100.0, p.p50_ms, p.p95_ms, p.p99_ms, p.cpu_pct, p.mem_mib
                ));
            }
        }
        if let Some((step, v)) = self.verdicts.get(&env.name) {
            out.push_str(&format!(
                "Last analysis (step {}): {}\n",
                step + 1,
                v.summary()
            ));
        }
        for run in self
            .pipelines
            .iter()
            .rev()
            .filter(|p| p.env == env.name)
            .take(3)
        {
            out.push_str(&format!("Action: {} — {}\n", run.title, run.status.label()));
        }
        out.push_str("Recent logs:\n");
        let lines: Vec<&crate::domain::logs::LogLine> = self
            .logs
            .iter()
            .rev()
            .filter(|l| *l.env == *env.name)
            .take(30)
            .collect();
        for l in lines.into_iter().rev() {
            out.push_str(&format!(
                "[{}] {} {}\n",
                l.instance,
                l.level.label(),
                crate::domain::sanitize::strip_all(&l.text)
            ));
        }
        out
    }
}

fn add_clamped(v: usize, delta: i64, max: usize) -> usize {
    (v as i64).saturating_add(delta).clamp(0, max as i64) as usize
}

/// `v7` -> `v8`; `1.4.2` -> `1.4.3`; otherwise none.
pub fn next_version(v: &str) -> Option<String> {
    let digits_at = v
        .rfind(|c: char| !c.is_ascii_digit())
        .map(|i| i + 1)
        .unwrap_or(0);
    let (prefix, num) = v.split_at(digits_at);
    let n: u64 = num.parse().ok()?;
    Some(format!("{prefix}{}", n + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::keymap::Keymap;
    use crate::config::Config;
    use crate::domain::environment::{EnvironmentStatus, Health, TrafficSplit, Version};
    use crate::domain::logs::{Level, LogLine};
    use crossterm::event::KeyEvent;
    use std::sync::Arc;

    fn env(name: &str, stable: &str, previous: Option<&str>) -> EnvironmentStatus {
        EnvironmentStatus {
            name: name.into(),
            traffic: TrafficSplit {
                stable: Some(Version::new(stable)),
                canary: None,
                canary_weight: 0,
            },
            previous: previous.map(Version::new),
            step: None,
            health: Health::Healthy,
            instances: vec![],
            replicas: 2,
            last_change: 0,
            router_addr: "127.0.0.1:1".into(),
            metrics_addr: "127.0.0.1:2".into(),
            faults: vec![],
        }
    }

    fn app(read_only: bool) -> App {
        let keymap = Keymap::build(&Default::default()).expect("default keymap");
        let mut app = App::new(
            Arc::new(Config::default()),
            "sandbox",
            read_only,
            keymap,
            1_000,
        );
        app.on_runtime_event(RuntimeEvent::Environment {
            status: env("production", "v1", Some("v0")),
        });
        app.on_runtime_event(RuntimeEvent::Environment {
            status: env("staging", "v1", None),
        });
        app
    }

    fn key(app: &mut App, code: KeyCode) -> Vec<Command> {
        app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    fn chars(app: &mut App, s: &str) -> Vec<Command> {
        s.chars().flat_map(|c| key(app, KeyCode::Char(c))).collect()
    }

    #[test]
    fn a_settled_log_filter_is_sent_to_loki_once() {
        let keymap = Keymap::build(&Default::default()).expect("default keymap");
        let mut cfg = Config::default();
        cfg.loki.url = "http://127.0.0.1:3100".into();
        let mut a = App::new(Arc::new(cfg), "sandbox", false, keymap, 1_000);
        a.on_runtime_event(RuntimeEvent::Environment {
            status: env("staging", "v1", None),
        });
        a.focus = PaneId::Logs;
        let sent = |cmds: &[Command]| {
            cmds.iter()
                .filter_map(|c| match c {
                    Command::FilterLogSource { env, grep } => Some((env.clone(), grep.clone())),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        // Typing sends nothing; Enter sends the regex.
        let mut cmds = chars(&mut a, "/time");
        assert!(sent(&cmds).is_empty(), "{cmds:?}");
        cmds = key(&mut a, KeyCode::Enter);
        assert_eq!(sent(&cmds), vec![(None, Some("time".to_string()))]);
        // Nothing changed: nothing sent again.
        assert!(sent(&key(&mut a, KeyCode::Down)).is_empty());
        // Only the selected environment.
        cmds = chars(&mut a, "e");
        assert_eq!(
            sent(&cmds),
            vec![(Some("staging".to_string()), Some("time".to_string()))]
        );
        // Without Loki, never.
        let mut b = app(false);
        b.focus = PaneId::Logs;
        chars(&mut b, "/x");
        assert!(sent(&key(&mut b, KeyCode::Enter)).is_empty());
    }

    #[test]
    fn leftover_faults_are_announced_with_the_undo_key() {
        let mut a = app(false);
        a.update(Msg::FaultsStillApplied(3));
        let f = a.flash.as_ref().expect("a flash");
        assert!(f.text.starts_with("3 fault(s) still applied"), "{}", f.text);
        assert!(f.text.contains("press u to undo them all"), "{}", f.text);
    }

    #[test]
    fn t_follows_a_trace_across_environments() {
        let mut a = app(false);
        a.focus = PaneId::Logs;
        let line = |ts: i64, env: &str, text: &str| {
            LogLine::new(
                ts,
                env.into(),
                "v1".into(),
                format!("{env}-v1-1").into(),
                Level::Info,
                text,
            )
        };
        a.on_runtime_event(RuntimeEvent::Log {
            line: line(1, "staging", "edge in trace_id=4bf92f3577b3 path=/hello"),
        });
        a.on_runtime_event(RuntimeEvent::Log {
            line: line(
                2,
                "production",
                r#"{"msg":"db call","trace_id":"4bf92f3577b3"}"#,
            ),
        });
        a.on_runtime_event(RuntimeEvent::Log {
            line: line(3, "staging", "other request_id=zzz999aaa"),
        });
        a.on_runtime_event(RuntimeEvent::Log {
            line: line(4, "staging", "GET /health 200"),
        });
        // The newest line with an id (the health check has none) wins.
        chars(&mut a, "T");
        assert_eq!(a.log_view.trace.as_deref(), Some("zzz999aaa"));
        // Pause and scroll up past it: the next one up is followed, in every env.
        key(&mut a, KeyCode::Esc);
        assert_eq!(a.log_view.trace, None);
        a.log_view.only_selected_env = true;
        chars(&mut a, "f");
        a.log_view.scroll_from_bottom = 2;
        a.log_view.only_selected_env = false;
        chars(&mut a, "T");
        assert_eq!(a.log_view.trace.as_deref(), Some("4bf92f3577b3"));
        assert!(!a.log_view.only_selected_env);
        let re = a.log_view.filter.clone().expect("a filter");
        let shown: Vec<i64> = a
            .logs
            .iter()
            .filter(|l| re.is_match(&l.text))
            .map(|l| l.ts)
            .collect();
        assert_eq!(shown, vec![1, 2]);
        // No id anywhere: a warning, the filter unchanged.
        let mut b = app(false);
        b.focus = PaneId::Logs;
        b.on_runtime_event(RuntimeEvent::Log {
            line: line(1, "staging", "GET /health 200"),
        });
        chars(&mut b, "T");
        assert!(b.log_view.filter.is_none());
        assert!(b.flash.as_ref().unwrap().text.contains("no trace"));
    }

    #[test]
    fn environments_follow_config_order() {
        let a = app(false);
        let names: Vec<&str> = a.envs.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["staging", "production"]);
    }

    #[test]
    fn deploy_goes_through_picker_and_confirm() {
        let mut a = app(false);
        assert!(key(&mut a, KeyCode::Char('d')).is_empty());
        let Mode::Picker(p) = &a.mode else {
            panic!("no picker: {:?}", a.mode)
        };
        assert_eq!(p.items[0].0, "v2", "next version offered first");
        assert!(key(&mut a, KeyCode::Enter).is_empty());
        assert!(matches!(&a.mode, Mode::Confirm(c) if c.require_typed.is_none()));
        let cmds = key(&mut a, KeyCode::Char('y'));
        assert_eq!(
            cmds,
            vec![Command::Runtime(RuntimeCommand::Deploy {
                env: "staging".into(),
                version: "v2".into()
            })]
        );
        assert_eq!(a.mode, Mode::Normal);
    }

    #[test]
    fn cancel_leaves_nothing_to_run() {
        let mut a = app(false);
        key(&mut a, KeyCode::Char('d'));
        key(&mut a, KeyCode::Enter);
        assert!(key(&mut a, KeyCode::Char('n')).is_empty());
        assert_eq!(a.mode, Mode::Normal);
    }

    #[test]
    fn protected_environment_needs_its_name_typed() {
        let mut a = app(false);
        key(&mut a, KeyCode::Char('p'));
        let Mode::Confirm(c) = &a.mode else {
            panic!("no confirm")
        };
        assert_eq!(c.require_typed.as_deref(), Some("production"));
        // `y` is just a typed letter here, and a wrong name is refused.
        assert!(chars(&mut a, "y").is_empty());
        assert!(key(&mut a, KeyCode::Enter).is_empty());
        assert!(matches!(a.mode, Mode::Confirm(_)));
        key(&mut a, KeyCode::Backspace);
        chars(&mut a, "production");
        let cmds = key(&mut a, KeyCode::Enter);
        assert_eq!(
            cmds,
            vec![Command::Runtime(RuntimeCommand::Promote {
                from: "staging".into(),
                to: "production".into()
            })]
        );
    }

    #[test]
    fn read_only_refuses_destructive_keys_and_palette_verbs() {
        let mut a = app(true);
        for k in ['d', 'p', 'r', 'c', 'b', 'u'] {
            assert!(key(&mut a, KeyCode::Char(k)).is_empty());
            assert_eq!(
                a.mode,
                Mode::Normal,
                "key {k} opened a dialog in read-only mode"
            );
        }
        assert!(a
            .flash
            .as_ref()
            .is_some_and(|f| f.text.contains("read-only")));
        assert!(a.run_palette("rollback production").is_err());
    }

    #[test]
    fn rollback_without_previous_is_explained() {
        let mut a = app(false);
        key(&mut a, KeyCode::Char('r'));
        assert_eq!(a.mode, Mode::Normal);
        assert!(a
            .flash
            .as_ref()
            .is_some_and(|f| f.text.contains("no previous version")));
        key(&mut a, KeyCode::Char(']'));
        key(&mut a, KeyCode::Char('r'));
        assert!(matches!(&a.mode, Mode::Confirm(c) if c.lines[0].contains("to v0")));
    }

    #[test]
    fn palette_runs_the_same_verbs() {
        let mut a = app(false);
        assert!(a
            .run_palette("deploy nowhere v2")
            .unwrap_err()
            .contains("unknown environment"));
        assert!(a
            .run_palette("chaos staging meteor")
            .unwrap_err()
            .contains("unknown chaos scenario"));
        assert!(a.run_palette("frobnicate").is_err());
        a.run_palette("chaos staging pod-kill").expect("valid");
        let cmds = key(&mut a, KeyCode::Char('y'));
        assert_eq!(
            cmds,
            vec![Command::Runtime(RuntimeCommand::Chaos {
                env: "staging".into(),
                scenario: ScenarioKind::PodKill,
                params: a.config.chaos.defaults.clone(),
            })]
        );
    }

    #[test]
    fn invalid_filter_keeps_the_error_visible() {
        let mut a = app(false);
        a.focus = PaneId::Logs;
        key(&mut a, KeyCode::Char('/'));
        chars(&mut a, "time(out");
        key(&mut a, KeyCode::Enter);
        assert!(
            matches!(&a.mode, Mode::LogFilter { error: Some(_), .. }),
            "{:?}",
            a.mode
        );
        for _ in 0..4 {
            key(&mut a, KeyCode::Backspace);
        }
        chars(&mut a, "out");
        key(&mut a, KeyCode::Enter);
        assert_eq!(a.mode, Mode::Normal);
        assert_eq!(a.log_view.filter_text, "timeout");
        assert!(a.log_view.filter.is_some());
    }

    #[test]
    fn pausing_counts_held_back_lines() {
        let mut a = app(false);
        a.focus = PaneId::Logs;
        let line = |i: i64| {
            LogLine::new(
                i,
                "staging".into(),
                "v1".into(),
                "staging-v1-0".into(),
                Level::Info,
                format!("line {i}"),
            )
        };
        for i in 0..5 {
            a.on_runtime_event(RuntimeEvent::Log { line: line(i) });
        }
        key(&mut a, KeyCode::Char('f'));
        assert!(!a.log_view.follow);
        for i in 5..12 {
            a.on_runtime_event(RuntimeEvent::Log { line: line(i) });
        }
        assert_eq!(a.logs.end_seq() - a.log_view.paused_end, 7);
        key(&mut a, KeyCode::Char('G'));
        assert!(a.log_view.follow);
        a.on_runtime_event(RuntimeEvent::Lagged { count: 3 });
        assert_eq!(a.logs.dropped(), 3);
    }

    #[test]
    fn agent_question_is_redacted_and_sent() {
        let mut a = app(false);
        a.agent.state = SourceState::Ok;
        a.focus = PaneId::Agent;
        key(&mut a, KeyCode::Char('i'));
        assert_eq!(a.mode, Mode::AgentInput);
        chars(&mut a, "why? password=hunter2");
        let cmds = key(&mut a, KeyCode::Enter);
        let [Command::AskAgent { history, context }] = cmds.as_slice() else {
            panic!("{cmds:?}")
        };
        assert_eq!(history[0].1, "why? password=[REDACTED]");
        assert!(context.contains("Environment staging"));
        a.update(Msg::Agent(AgentEvent::Token("Because".into())));
        a.update(Msg::Agent(AgentEvent::Token(
            " \u{1b}]52;c;AAAA\u{7}p99.".into(),
        )));
        a.update(Msg::Agent(AgentEvent::Done));
        assert_eq!(
            a.agent.messages.back().map(|m| m.text.as_str()),
            Some("Because p99.")
        );
    }

    #[test]
    fn next_version_increments_trailing_number() {
        assert_eq!(next_version("v7").as_deref(), Some("v8"));
        assert_eq!(next_version("1.4.9").as_deref(), Some("1.4.10"));
        assert_eq!(next_version("latest"), None);
    }
}
