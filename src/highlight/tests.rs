use super::*;

fn toks(p: &Painted) -> Vec<(Tok, String)> {
    match p {
        Painted::Tokens(t) => t.clone(),
        Painted::Sgr(s) => panic!("not coloured: {s}"),
    }
}

fn has(p: &Painted, tok: Tok, text: &str) -> bool {
    toks(p).iter().any(|(t, s)| *t == tok && s.contains(text))
}

#[test]
fn a_log_is_detected_by_its_first_line() {
    assert_eq!(detect("diff --git a/x b/x"), Some(Lang::Diff));
    assert_eq!(detect("apiVersion: apps/v1"), Some(Lang::Yaml));
    assert_eq!(detect("---"), Some(Lang::Yaml));
    assert_eq!(detect("{"), Some(Lang::Json));
    assert_eq!(detect(r#"{"level":"info","msg":"up"}"#), Some(Lang::Json));
    // Maven's and most tools' prefixes are not JSON.
    assert_eq!(detect("[INFO] Building shop 1.0"), None);
    assert_eq!(detect("error: something: went wrong"), None);
    assert_eq!(detect("+ make test"), None);
}

#[test]
fn a_diff_colours_added_removed_and_headers() {
    let mut h = Highlighter::new();
    let lines: Vec<Painted> = [
        "diff --git a/app.yaml b/app.yaml",
        "--- a/app.yaml",
        "+++ b/app.yaml",
        "@@ -1,2 +1,2 @@",
        "-replicas: 1",
        "+replicas: 3",
        " name: shop",
    ]
    .iter()
    .map(|l| h.paint(l))
    .collect();
    assert_eq!(h.lang(), Some(Lang::Diff));
    assert!(has(&lines[3], Tok::Header, "@@"), "{:?}", lines[3]);
    assert!(
        has(&lines[4], Tok::Removed, "replicas: 1"),
        "{:?}",
        lines[4]
    );
    assert!(has(&lines[5], Tok::Added, "replicas: 3"), "{:?}", lines[5]);
    assert_eq!(lines[6].text(), " name: shop");
}

#[test]
fn yaml_keys_and_json_keys_are_keys() {
    let mut h = Highlighter::new();
    let _ = h.paint("apiVersion: apps/v1");
    let p = h.paint("  replicas: 3");
    assert!(has(&p, Tok::Key, "replicas"), "{p:?}");
    assert!(has(&p, Tok::Literal, "3"), "{p:?}");

    let mut j = Highlighter::new();
    let p = j.paint(r#"{"name": "shop", "ok": true}"#);
    assert!(has(&p, Tok::Key, "name"), "{p:?}");
    assert!(has(&p, Tok::Str, "shop"), "{p:?}");
    assert!(has(&p, Tok::Literal, "true"), "{p:?}");
}

#[test]
fn a_plain_log_keeps_its_text_and_colours_only_its_diff_block_and_json_lines() {
    let mut h = Highlighter::new();
    let first = h.paint("\x1b[32m+ make test\x1b[0m");
    assert_eq!(first, Painted::Sgr("\x1b[32m+ make test\x1b[0m".into()));
    assert_eq!(h.lang(), None);
    let json = h.paint(r#"{"level":"error","msg":"boom"}"#);
    assert!(has(&json, Tok::Key, "level"), "{json:?}");
    let start = h.paint("diff --git a/x b/x");
    assert!(matches!(start, Painted::Tokens(_)));
    let added = h.paint("+new line");
    assert!(has(&added, Tok::Added, "new line"), "{added:?}");
    // A line no diff has ends the block.
    let after = h.paint("ok: 3 tests passed");
    assert_eq!(after, Painted::Sgr("ok: 3 tests passed".into()));
    assert!(matches!(h.paint("+plain again"), Painted::Sgr(_)));
}

#[test]
fn coloured_text_holds_no_escape_and_keeps_every_character() {
    let mut h = Highlighter::new();
    let _ = h.paint("diff --git a/x b/x");
    let p = h.paint("+\x1b]0;title\x07added \x1b[31mred\x1b[0m");
    let text = p.text();
    assert!(!text.contains('\x1b'), "{text:?}");
    assert_eq!(text, "+added red");
    let long = format!("+{}", "x".repeat(MAX_COLOURED_BYTES + 10));
    assert!(matches!(h.paint(&long), Painted::Sgr(_)));
}
