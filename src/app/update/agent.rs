//! The agent pane: its events, its keys, and the context it is given.

use super::*;

const CUT_NOTE: &str = "\n… (answer cut at 64 KiB)";

/// Append `t` to an answer, up to [`MAX_ANSWER_BYTES`]; the cut is said once.
fn append_capped(text: &mut String, t: &str) {
    if text.len() >= MAX_ANSWER_BYTES {
        return;
    }
    let room = MAX_ANSWER_BYTES - text.len();
    if t.len() <= room {
        text.push_str(t);
        return;
    }
    let mut end = room;
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    text.push_str(&t[..end]);
    text.push_str(CUT_NOTE);
}

impl App {
    pub(in crate::app) fn on_agent_event(&mut self, ev: AgentEvent) {
        match ev {
            AgentEvent::State(s) => self.agent.state = s,
            AgentEvent::Token(t) => {
                // Line by line: the answer's line breaks stay, nothing else.
                let t = t
                    .split('\n')
                    .map(sanitize_str)
                    .collect::<Vec<_>>()
                    .join("\n");
                match self.agent.messages.back_mut() {
                    Some(m) if m.role == ChatRole::Assistant && self.agent.streaming => {
                        append_capped(&mut m.text, &t)
                    }
                    _ => {
                        self.agent.streaming = true;
                        let mut text = String::new();
                        append_capped(&mut text, &t);
                        self.push_chat(ChatRole::Assistant, text);
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

    pub(in crate::app) fn push_chat(&mut self, role: ChatRole, text: String) {
        if self.agent.messages.len() == MAX_CHAT_MESSAGES {
            self.agent.messages.pop_front();
        }
        self.agent.messages.push_back(ChatMessage { role, text });
        self.agent.scroll_from_bottom = 0;
    }

    pub(in crate::app) fn on_agent_key(&mut self, key: KeyEvent) -> Vec<Command> {
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
