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

#[tokio::test]
async fn a_live_log_shows_lines_while_the_command_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stage.log");
    let log = Arc::new(Mutex::new(BoundedLog::with_live(&path)));
    let cancel = CancellationToken::new();
    let run = run_command(
        "echo first; while [ ! -e go ]; do sleep 0.05; done; echo second",
        dir.path(),
        &cancel,
        log.clone(),
    );
    let watch = async {
        for _ in 0..200 {
            if std::fs::read_to_string(&path).unwrap_or_default() == "first\n" {
                std::fs::write(dir.path().join("go"), "").unwrap();
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        false
    };
    let (exit, seen) = tokio::join!(run, watch);
    assert!(seen, "the first line never reached the live file alone");
    assert_eq!(exit, Exit::Code(0));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "first\nsecond\n");
}

#[test]
fn a_live_log_is_cut_back_to_the_bounded_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("noisy.log");
    let mut log = BoundedLog::with_live(&path);
    let n = crate::pipeline::live::REWRITE_AT + 10;
    for i in 0..n {
        log.push(format!("{i}").as_bytes());
    }
    log.end_live();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines = text.lines().count();
    assert!(lines <= crate::pipeline::live::REWRITE_AT, "{lines} lines");
    assert!(text.contains("lines dropped"), "the cut says so");
    assert!(text.starts_with("0\n") && text.ends_with(&format!("{}\n", n - 1)));
}
