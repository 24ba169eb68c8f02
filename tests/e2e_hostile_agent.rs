//! End-to-end: a hostile model. The fake Ollama streams the hostile corpus
//! of `e2e_hostile.rs` as its answer (escapes JSON-encoded, so they arrive
//! as real ESC, OSC 52, title sets and C1 controls; lines with invalid UTF-8
//! or a raw control byte inside a JSON string; then a 1 MiB line), and the
//! real console shows it in tmux. Nothing may reach the terminal but text
//! and colour: the title and paste buffers stay, the screen is the frame
//! the console drew, and the runaway answer is cut.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::time::Duration;

use support::fake_ollama::{self, raw_chat_line, FakeOllama};
use support::hostile::{
    assert_layout_matches_frame, assert_terminal_state_untouched, console_in_tmux, corpus_lines,
    ConsoleInTmux, MARKERS,
};
const MODEL: &str = "llama3.2";

/// The corpus as two answers: every line but the 1 MiB one and the one
/// after it (the invalid-UTF-8 line last, after a JSON line holding a raw
/// ESC, which a parser must refuse), then those two.
fn answers() -> (Vec<Vec<u8>>, Vec<Vec<u8>>, Vec<&'static str>) {
    let lines = corpus_lines();
    let line = |m: &str| {
        let i = MARKERS.iter().position(|x| *x == m).expect("marker");
        let mut content = lines[i].clone();
        content.push(b'\n');
        raw_chat_line(MODEL, &content)
    };
    let late = ["h-utf8", "h-big", "h-after-big"];
    let shown: Vec<&str> = MARKERS.into_iter().filter(|m| !late.contains(m)).collect();
    let mut first: Vec<Vec<u8>> = shown.iter().map(|m| line(m)).collect();
    // A raw ESC and BEL inside a JSON string: not JSON, so refused whole.
    let mut raw =
        br#"{"model":"llama3.2","message":{"role":"assistant","content":"h-rawesc "#.to_vec();
    raw.extend_from_slice(b"\x1b]0;HACKED\x07 end\"},\"done\":false}");
    first.push(raw);
    first.push(line("h-utf8"));
    let second = vec![line("h-big"), line("h-after-big")];
    (first, second, shown)
}

#[test]
fn a_hostile_model_answer_leaves_the_terminal_and_the_layout_intact() {
    let (first, second, shown) = answers();
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let fake = FakeOllama {
        models: vec![format!("{MODEL}:latest")],
        raw_answers: vec![first, second],
        chunk_gap: Duration::from_millis(60),
        ..Default::default()
    };
    let addr = rt.block_on(fake_ollama::serve(fake));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "project: hostile\nenvironments:\n  - name: staging\n    replicas: 1\n    router_port: 0\n    metrics_port: 0\ntraffic:\n  rate_per_sec: 0\nagent:\n  endpoint: http://{addr}\n"
    );
    let ConsoleInTmux {
        tmux: t,
        title,
        frame_file,
    } = console_in_tmux(dir.path(), &config);
    let long = Duration::from_secs(40);
    t.wait_for("the console", long, |sc| sc.contains("Environments"));
    t.keys(&["6", "Enter"]); // the Agent pane, zoomed
    t.wait_for("the agent to be ready", long, |sc| sc.contains("· model"));
    t.keys(&["i"]);
    t.literal("what broke?");
    t.keys(&["Enter"]);
    let screen = t.wait_for("the whole first answer", long, |sc| {
        shown.iter().all(|m| sc.contains(m)) && !sc.contains("answering…")
    });
    // Each corpus line on a line of its own: the answer's breaks are kept.
    for m in &shown {
        assert!(
            screen
                .lines()
                .any(|l| l.trim_start_matches(['│', ' ']).starts_with(m)
                    || l.contains(&format!("agent › {m}"))
                    || l.contains(&format!("\"msg\":\"{}", m.trim()))),
            "{m} does not start a line:\n{screen}"
        );
    }
    // The text after every escape is shown; the lines a parser must refuse
    // (a raw ESC in a JSON string, invalid UTF-8) are not.
    for text in ["HIDDEN", "HIDDEN-CR", "abcXYZ", "home end"] {
        assert!(screen.contains(text), "{text}:\n{screen}");
    }
    assert!(
        !screen.contains("h-rawesc") && !screen.contains("h-utf8"),
        "{screen}"
    );
    assert_terminal_state_untouched(&t, &title);
    assert_layout_matches_frame(&t, &frame_file);

    // A 1 MiB line: the answer is cut, the console stays responsive.
    t.literal("and the big one?");
    t.keys(&["Enter"]);
    t.wait_for("the runaway answer cut", long, |sc| {
        sc.contains("answer cut at 64 KiB")
    });
    assert_terminal_state_untouched(&t, &title);
    assert_layout_matches_frame(&t, &frame_file);

    t.keys(&["Escape", "q"]);
    t.wait_for("exit", long, |sc| sc.contains("EXITED:0"));
    assert_terminal_state_untouched(&t, &title);
}
