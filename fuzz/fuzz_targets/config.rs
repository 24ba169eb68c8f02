//! The config loader: `blissful-infra.yaml` text to a config, or an error
//! that names where (line and column, or the field and its line) and
//! quotes nothing that could drive the terminal.
#![no_main]

use blissful_infra::config::{Config, ConfigError};
use blissful_infra::launch::keymap_rule::keymap_problems;
use blissful_infra_fuzz::require_plain_text;
use libfuzzer_sys::fuzz_target;

const ORIGIN: &str = "blissful-infra.yaml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = yaml_lines(text);
    match Config::from_yaml_str_with(text, ORIGIN, keymap_problems) {
        Ok(config) => {
            // What was accepted reads back the same after writing it out.
            let Ok(written) = serde_saphyr::to_string(&config) else {
                panic!("an accepted config cannot be written: {config:?}");
            };
            match Config::from_yaml_str_with(&written, ORIGIN, keymap_problems) {
                Ok(again) => assert_eq!(again, config, "written as:\n{written}"),
                Err(e) => panic!("an accepted config, written out, is refused: {e}\n{written}"),
            }
        }
        Err(ConfigError::Parse {
            file,
            line,
            message,
            ..
        }) => {
            assert_eq!(file, ORIGIN);
            assert!(line <= lines + 1, "line {line} of {lines}");
            assert!(!message.is_empty(), "a parse error without a message");
            require_plain_text("parse error", &message);
        }
        Err(ConfigError::Invalid { file, problems }) => {
            assert_eq!(file, ORIGIN);
            assert!(!problems.is_empty(), "refused without a problem");
            for p in &problems {
                assert!(!p.field.is_empty(), "a problem without a field: {p:?}");
                if let Some(line) = p.line {
                    assert!((1..=lines).contains(&line), "line {line} of {lines}: {p:?}");
                }
                require_plain_text("problem field", &p.field);
                require_plain_text("problem message", &p.message);
            }
        }
        Err(e @ ConfigError::Io { .. }) => panic!("text needs no IO: {e}"),
    }
});

/// Lines as YAML counts them: `\n`, `\r\n` and a lone `\r` end a line.
fn yaml_lines(text: &str) -> usize {
    1 + text.replace("\r\n", "\n").matches(['\n', '\r']).count()
}
