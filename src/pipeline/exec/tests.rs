use super::*;

#[test]
fn the_log_keeps_head_and_tail_and_counts_the_rest() {
    let mut log = BoundedLog::default();
    let n = HEAD_LINES + TAIL_LINES + 7;
    for i in 0..n {
        log.push(format!("line {i}").as_bytes());
    }
    assert_eq!(log.total, n as u64);
    assert_eq!(log.dropped, 7);
    let text = log.render();
    assert!(text.starts_with("line 0\n"));
    assert!(text.contains("… 7 lines dropped"));
    assert!(text.ends_with(&format!("line {}\n", n - 1)));
    assert_eq!(log.last_lines(1), vec![format!("line {}", n - 1)]);
}

#[test]
fn long_lines_are_cut_and_escapes_removed() {
    let mut log = BoundedLog::default();
    log.push(&vec![b'x'; MAX_LINE_BYTES + 10]);
    log.push(b"red \x1b[2Jtext");
    assert_eq!(log.cut_lines, 1);
    let text = log.render();
    assert!(text.contains("[line cut]"));
    assert!(!text.contains('\x1b'));
    assert!(text.contains("red text"));
}

#[tokio::test]
async fn a_command_runs_in_its_directory_and_its_exit_code_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("marker"), "here").unwrap();
    let log = Arc::new(Mutex::new(BoundedLog::default()));
    let exit = run_command(
        "cat marker; echo err >&2; exit 3",
        dir.path(),
        &CancellationToken::new(),
        log.clone(),
    )
    .await;
    assert_eq!(exit, Exit::Code(3));
    let text = log.lock().unwrap().render();
    assert!(text.contains("here") && text.contains("err"), "{text}");
}
