//! Hostile strings from a config file and from arguments never reach the
//! terminal as escape sequences: no ESC, BEL or C1 control on stdout or
//! stderr, in tables, errors or JSON (where `\u001b` would be turned back
//! into ESC by `jq -r`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");

/// OSC 52 (write the clipboard), OSC 0 (window title), clear screen, 8-bit CSI.
const HOSTILE_VERSION: &str = r#""v1\e]52;c;aGFja2Vk\a\e]0;T\a\e[2J\u009b2J""#;

fn run(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("BLISSFUL_INFRA_STATE_DIR", dir.join("state"))
        .env_remove("RUST_BACKTRACE")
        .env_remove("NO_COLOR")
        .output()
        .expect("run blissful-infra")
}

fn assert_no_escapes(o: &Output) {
    for (name, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        for bad in ['\x1b', '\x07', '\u{9b}', '\u{9d}'] {
            assert!(!text.contains(bad), "{name} holds {bad:?}: {text:?}");
        }
        for bad in ["\\u001b", "\\u0007", "\\u009b"] {
            assert!(!text.contains(bad), "{name} holds {bad}: {text}");
        }
    }
}

#[test]
fn hostile_config_is_refused_with_its_place_and_printed_clean() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "project: demo\nenvironments:\n  - name: staging\n    initial_version: {HOSTILE_VERSION}\n"
    );
    std::fs::write(dir.path().join("blissful-infra.yaml"), yaml).unwrap();
    // `daemon` is what `up` starts with its stderr in daemon.log.
    for args in [
        &["up"][..],
        &["daemon"],
        &["dashboard"],
        &["compare", "--help"],
    ] {
        let o = run(dir.path(), args);
        assert_no_escapes(&o);
        if args[0] != "compare" {
            assert_ne!(
                o.status.code(),
                Some(0),
                "{args:?} accepted a hostile config"
            );
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains("blissful-infra.yaml:4: environments[0].initial_version")
                    && err.contains("control characters"),
                "{args:?}: {err}"
            );
            // No source location or backtrace banner for an end user.
            assert!(
                !err.contains("Location:") && !err.contains("BACKTRACE"),
                "{err}"
            );
        }
    }
}

#[test]
fn hostile_arguments_are_not_echoed_raw() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &["chaos", "--env", "staging", "--scenario", "x\x1b]0;T\x07"],
    );
    assert_eq!(o.status.code(), Some(64), "{o:?}");
    assert_no_escapes(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown chaos scenario `x`"));

    let o = run(
        dir.path(),
        &[
            "--output",
            "json",
            "create",
            "x\x1b]0;T\x07",
            "--template",
            "nope",
            "--yes",
        ],
    );
    assert_ne!(o.status.code(), Some(0), "{o:?}");
    assert_no_escapes(&o);
    let doc: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {o:?}"));
    assert!(doc["error"]["message"].is_string(), "{doc}");
}
