//! A tmux session on a private server (its own socket, no user config), so
//! the pane title and paste buffers a test reads belong to it alone, and a
//! leaked OSC 52 really would create a buffer (`set-clipboard on`).

use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub struct TmuxSession {
    pub socket: String,
    pub name: String,
    _config: tempfile::NamedTempFile,
}

impl TmuxSession {
    /// Start `command` (run by the shell) in a detached `width`×`height` pane.
    pub fn start(width: u16, height: u16, command: &str) -> TmuxSession {
        assert!(
            Command::new("tmux")
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success()),
            "tmux is required for the end-to-end tests (scripts/test.sh installs it)"
        );
        let tag = format!("bi-e2e-{}-{}", std::process::id(), fastrand::u32(..));
        let config = tempfile::NamedTempFile::new().expect("tmux config");
        // Accept OSC 52 from applications, as many users' tmux does: a leak
        // then shows up as a paste buffer.
        std::fs::write(config.path(), "set-option -g set-clipboard on\n").expect("write");
        let session = TmuxSession {
            socket: tag.clone(),
            name: tag,
            _config: config,
        };
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&session.socket)
            .arg("-f")
            .arg(session._config.path())
            .args(["new-session", "-d", "-s", &session.name, "-x"])
            .arg(width.to_string())
            .arg("-y")
            .arg(height.to_string())
            .arg(command)
            .output()
            .expect("tmux new-session");
        assert!(out.status.success(), "tmux new-session failed: {out:?}");
        session
    }

    /// Run a tmux command against this session's server.
    pub fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            let out = self.cmd(&["send-keys", "-t", &self.name, k]);
            assert!(out.status.success(), "send-keys {k}: {out:?}");
            std::thread::sleep(Duration::from_millis(120));
        }
    }

    pub fn literal(&self, text: &str) {
        let out = self.cmd(&["send-keys", "-t", &self.name, "-l", text]);
        assert!(out.status.success(), "send-keys -l: {out:?}");
        std::thread::sleep(Duration::from_millis(120));
    }

    /// The pane's text, as a person sees it.
    pub fn screen(&self) -> String {
        let out = self.cmd(&["capture-pane", "-p", "-t", &self.name]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The pane's text with its attributes as escape sequences (`-e`).
    pub fn screen_with_escapes(&self) -> String {
        let out = self.cmd(&["capture-pane", "-p", "-e", "-t", &self.name]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn pane_title(&self) -> String {
        let out = self.cmd(&["display-message", "-p", "-t", &self.name, "#{pane_title}"]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `list-buffers`: empty unless something set the clipboard.
    pub fn buffers(&self) -> String {
        let out = self.cmd(&["list-buffers"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn pane_pid(&self) -> String {
        let out = self.cmd(&["list-panes", "-t", &self.name, "-F", "#{pane_pid}"]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Wait until `pred` holds for the screen; panic with the last screen otherwise.
    pub fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen was:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for TmuxSession {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}
