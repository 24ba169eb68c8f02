//! The Logs pane's follow/pause, filters and trace following (moved verbatim).

use super::*;

impl App {
    pub(in crate::app) fn pause_logs(&mut self) {
        self.log_view.follow = false;
        self.log_view.paused_end = self.logs.end_seq();
        self.log_view.scroll_from_bottom = 0;
    }

    pub(in crate::app) fn toggle_follow(&mut self) {
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
    pub(in crate::app) fn log_source_filter_changed(&mut self) -> Option<Command> {
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
    pub(in crate::app) fn follow_trace(&mut self) {
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

    pub(in crate::app) fn set_filter(&mut self, text: &str) -> bool {
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
    pub(in crate::app) fn apply_live_filter(&mut self) {
        if let Mode::LogFilter { input, .. } = self.mode.clone() {
            if self.set_filter(&input) {
                self.mode = Mode::LogFilter { input, error: None };
            }
        }
    }
}
