//! The level filter: which spellings of a level label mean `min` and above.

use crate::domain::logs::Level;

/// The spellings `Level::parse` reads as each level.
fn spellings(level: Level) -> &'static [&'static str] {
    match level {
        Level::Trace => &["trace"],
        Level::Debug => &["debug", "dbg"],
        Level::Info => &["info", "information", "notice"],
        Level::Warn => &["warn", "warning"],
        Level::Error => &["error", "err", "fatal", "critical", "crit", "panic"],
        Level::Unknown => &[],
    }
}

/// A case-insensitive regex for the level label matching `min` and above,
/// or `None` when that is every line.
pub fn level_regex(min: Level) -> Option<String> {
    if matches!(min, Level::Trace | Level::Unknown) {
        return None;
    }
    let names: Vec<&str> = [Level::Debug, Level::Info, Level::Warn, Level::Error]
        .into_iter()
        .filter(|l| *l >= min)
        .flat_map(spellings)
        .copied()
        .collect();
    Some(format!("(?i)({})", names.join("|")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_regexes_cover_the_level_and_above() {
        assert_eq!(level_regex(Level::Trace), None);
        assert_eq!(level_regex(Level::Unknown), None);
        let info = level_regex(Level::Info).unwrap();
        let re = regex::Regex::new(&format!("^(?:{info})$")).unwrap();
        for yes in ["INFO", "info", "Warning", "ERR", "fatal", "notice"] {
            assert!(re.is_match(yes), "{yes}");
            assert!(Level::parse(yes) >= Level::Info);
        }
        for no in ["debug", "DBG", "trace", "information-ish", ""] {
            assert!(!re.is_match(no), "{no}");
        }
    }
}
