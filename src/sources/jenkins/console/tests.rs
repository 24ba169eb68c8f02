use super::*;

fn chunk(text: &str, next: u64, more: bool) -> Chunk {
    Chunk {
        text: text.as_bytes().to_vec(),
        next_start: next,
        more,
    }
}

#[test]
fn a_line_split_across_reads_comes_out_once_whole() {
    let mut t = ConsoleTail::new(10);
    assert_eq!(t.push(&chunk("one\ntw", 6, true)), vec!["one"]);
    assert_eq!(t.push(&chunk("o\nthree", 12, true)), vec!["two"]);
    assert_eq!(t.push(&chunk("", 12, true)), Vec::<String>::new());
    assert_eq!(t.push(&chunk("\n", 13, false)), vec!["three"]);
    assert!(t.complete);
    assert_eq!(t.next_start, 13);
    assert_eq!(t.lines().collect::<Vec<_>>(), ["one", "two", "three"]);
}

#[test]
fn the_tail_is_bounded_and_counts_what_it_drops() {
    let mut t = ConsoleTail::new(2);
    t.push(&chunk("a\nb\nc\nd\n", 8, false));
    assert_eq!(t.lines().collect::<Vec<_>>(), ["c", "d"]);
    assert_eq!(t.dropped, 2);
}

#[test]
fn long_lines_are_cut() {
    let mut t = ConsoleTail::new(2);
    let long = "y".repeat(MAX_LINE_BYTES * 2);
    let got = t.push(&chunk(&format!("{long}\n"), 1, true));
    assert_eq!(got[0].len(), MAX_LINE_BYTES);
}

#[test]
fn console_notes_and_escapes_never_come_out() {
    let raw = b"\x1b[8mha:////4AAAAB+LCAAAAAAAAP9b\x1b[0m[Pipeline] sh\x1b]0;title\x07 \x1b[31mred\x1b[0m\r";
    let line = clean_line(raw);
    assert_eq!(line, "[Pipeline] sh red");
}
