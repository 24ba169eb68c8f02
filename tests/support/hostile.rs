//! The hostile-output corpus and the terminal checks shared by the
//! end-to-end tests: what a service (or a model) may print, and what must
//! hold of the tmux pane afterwards (no escape but colour, no control or
//! bidi character, title and paste buffers unchanged, screen equal to the
//! frame the console drew).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::daemon::BIN;
use super::tmux::TmuxSession;

/// The real console in a 150x45 tmux pane: its pane, the pane's title
/// before the console ran, and the file each frame it draws is dumped to.
pub struct ConsoleInTmux {
    pub tmux: TmuxSession,
    pub title: String,
    pub frame_file: PathBuf,
}

/// Start the console in `dir` with `config` as its blissful-infra.yaml and
/// its state under `dir/state`; the pane prints `EXITED:<code>` when it ends.
pub fn console_in_tmux(dir: &Path, config: &str) -> ConsoleInTmux {
    let cfg = dir.join("blissful-infra.yaml");
    std::fs::write(&cfg, config).expect("write config");
    let frame_file = dir.join("frame.txt");
    let cmd = format!(
        "cd {dir} && BLISSFUL_INFRA_STATE_DIR={dir}/state BLISSFUL_INFRA_FRAME_DUMP={frame} TERM=xterm-256color {BIN} --config {cfg}; echo EXITED:$?; sleep 30",
        dir = dir.display(),
        frame = frame_file.display(),
        cfg = cfg.display(),
    );
    let tmux = TmuxSession::start(150, 45, &cmd);
    let title = tmux.pane_title();
    ConsoleInTmux {
        tmux,
        title,
        frame_file,
    }
}

/// Written by the service before it starts serving: OSC 52 (clipboard),
/// OSC 0/2 (title), OSC 8 (hyperlink), clear screen and cursor moves, device
/// status queries (a terminal answers them by typing into the console), the
/// alternate screen and mouse modes, 8-bit C1 controls as UTF-8 and as raw
/// bytes, invalid UTF-8, a tmux passthrough, bidi overrides, line/paragraph
/// separators, emoji whose width terminals disagree on, bare CR and
/// backspaces that would hide text, a 1 MiB line, and JSON lines whose
/// fields hide the same.
pub const SERVICE_CORPUS: &str = r#"printf 'h-osc clip\033]52;c;aGFja2Vk\007 title\033]0;HACKED\007\033]2;HACKED\007 cls\033[2J\033[1;1Hhome end\n'
printf 'h-c1 csi\302\2332J osc\302\2350;HACKED\302\234 dcs\302\220x\302\234 end\n'
printf 'h-bidi \342\200\256reversed\342\200\254 lrm\342\200\216 isolate\342\201\246x\342\201\251 end\n'
printf 'h-sep line\342\200\250sep para\342\200\251sep end\n'
printf 'h-emoji zwj\360\237\221\251\342\200\215\360\237\222\273 flag\360\237\207\253\360\237\207\267 vs16\342\235\244\357\270\217 abcXYZ end\n'
printf 'h-tmux \033Ptmux;\033\033]52;c;aGFja2Vk\007\033\\ end\n'
printf '{"level":"error","msg":"h-json \\u001b]0;HACKED\\u0007 secret\\rHIDDEN \\u001b]52;c;aGFja2Vk\\u0007 \\u009b2J end"}\n'
printf 'h-osc8 \033]8;;https://evil.example/\033\\link\033]8;;\033\\ end\n'
printf 'h-dsr \033[6n\033[c\033[>c\033]11;?\007 end\n'
printf 'h-alt \033[?1049h\033[?25l\033[?1000h\033[?2004l end\n'
printf 'h-cr shown\rHIDDEN-CR end\n'
printf 'h-bs secret\010\010\010\010\010\010public end\n'
printf 'h-utf8 \377\376\300\200 raw-c1\233 end\n'
printf 'h-big '; head -c 1048576 /dev/zero | tr '\0' 'A'; printf ' end\n'
printf 'h-after-big end\n'
printf '{"level":"warn","msg":"h-json2 \\u001b]8;;https://evil.example/\\u0007x \\u001b[6n \\u001b[?1049h back\\bspace","user":"\\u202eevil"}\n'
"#;

/// The marker that starts each line of [`SERVICE_CORPUS`], in order.
pub const MARKERS: [&str; 16] = [
    "h-osc ",
    "h-c1",
    "h-bidi",
    "h-sep",
    "h-emoji",
    "h-tmux",
    "h-json ",
    "h-osc8",
    "h-dsr",
    "h-alt",
    "h-cr",
    "h-bs",
    "h-utf8",
    "h-big",
    "h-after-big",
    "h-json2",
];

/// The corpus as the strings it prints (invalid UTF-8 replaced), without
/// those longer than `max_bytes`.
pub fn corpus_strings(max_bytes: usize) -> Vec<String> {
    corpus_lines()
        .into_iter()
        .filter(|l| !l.is_empty() && l.len() <= max_bytes)
        .map(|l| String::from_utf8_lossy(&l).into_owned())
        .collect()
}

/// The bytes [`SERVICE_CORPUS`] prints, one entry per line (without `\n`).
pub fn corpus_lines() -> Vec<Vec<u8>> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(SERVICE_CORPUS)
        .output()
        .expect("run the corpus script");
    assert!(out.status.success(), "corpus script: {out:?}");
    let mut lines: Vec<Vec<u8>> = out
        .stdout
        .split(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    if lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    assert_eq!(lines.len(), MARKERS.len());
    lines
}

/// What must never be in a pane: C0 controls, C1 controls, bidi controls
/// and line/paragraph separators. (Escapes are checked separately.)
pub fn forbidden(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\x1b')
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{2028}' | '\u{2029}'
        )
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// `capture-pane -e` may hold colour and attribute sequences (SGR) and
/// nothing else: no title, clipboard, cursor or mode sequence, and none of
/// the forbidden characters.
pub fn assert_clean_capture(t: &TmuxSession) {
    let raw = t.screen_with_escapes();
    let mut rest = raw.as_str();
    while let Some(at) = rest.find('\x1b') {
        let seq = &rest[at..];
        let end = seq
            .char_indices()
            .skip(2)
            .find(|(_, c)| !c.is_ascii_digit() && *c != ';' && *c != ':');
        match (seq.as_bytes().get(1), end) {
            (Some(b'['), Some((i, 'm'))) => rest = &seq[i + 1..],
            _ => panic!(
                "a non-colour escape sequence on screen: {:?}\n{raw}",
                seq.chars().take(16).collect::<String>()
            ),
        }
    }
    if let Some(bad) = raw.chars().find(|c| forbidden(*c)) {
        panic!("{bad:?} (U+{:04X}) on screen:\n{raw}", u32::from(bad));
    }
}

pub fn assert_terminal_state_untouched(t: &TmuxSession, title: &str) {
    assert_eq!(t.pane_title(), title, "the pane title changed");
    assert_eq!(t.buffers(), "", "a paste buffer appeared (OSC 52 leaked)");
    assert_clean_capture(t);
}

pub fn rows(text: &str) -> Vec<String> {
    let mut rows: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
    while rows.last().is_some_and(String::is_empty) {
        rows.pop();
    }
    rows
}

/// The screen tmux holds equals the frame the console last drew, read when
/// the frame held still around the capture.
pub fn assert_layout_matches_frame(t: &TmuxSession, frame_file: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let before = std::fs::read_to_string(frame_file).unwrap_or_default();
        let screen = rows(&t.screen());
        let after = std::fs::read_to_string(frame_file).unwrap_or_default();
        let frame = rows(&after);
        if before == after && screen == frame {
            return;
        }
        if Instant::now() > deadline {
            let diff: Vec<String> = screen
                .iter()
                .zip(frame.iter().chain(std::iter::repeat(&String::new())))
                .enumerate()
                .filter(|(_, (s, f))| s != f)
                .map(|(i, (s, f))| format!("row {i}\n  tmux : {s}\n  frame: {f}"))
                .collect();
            panic!(
                "the terminal and the console's frame disagree:\n{}",
                diff.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}
