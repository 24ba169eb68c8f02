//! The console's log buffer and the Logs pane's filter index: each line is
//! stored once and indexed as it arrives; a changed filter rebuilds the
//! index once, after the message that changed it.

use super::state::App;
use crate::domain::log_index::{LogFilter, LogIndex};
use crate::domain::logs::LogLine;

impl App {
    /// Store a line (evicting the oldest when full) and index it.
    pub fn push_log(&mut self, line: LogLine) {
        self.logs.push(line);
        self.log_index.on_push(&self.logs);
    }

    /// The environment the Logs pane is limited to, if any.
    pub fn log_env_filter(&self) -> Option<&str> {
        if self.log_view.only_selected_env {
            self.selected_env().map(|e| e.name.as_str())
        } else {
            None
        }
    }

    /// True when the index was built for the filter the pane shows now.
    pub fn log_index_is_current(&self) -> bool {
        let f = self.log_index.filter();
        f.env.as_deref() == self.log_env_filter()
            && f.regex.as_ref().map(regex::Regex::as_str)
                == self.log_view.filter.as_ref().map(regex::Regex::as_str)
    }

    /// Rebuild the index if the filter (regex or environment) changed.
    pub fn sync_log_index(&mut self) {
        if self.log_index_is_current() {
            return;
        }
        let filter = LogFilter {
            regex: self.log_view.filter.clone(),
            env: self.log_env_filter().map(str::to_string),
        };
        self.log_index = LogIndex::build(filter, &self.logs);
    }
}
