use super::*;

fn lines(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn a_full_channel_counts_lines_and_reports_them_before_later_ones() {
    let (tx, mut rx) = mpsc::channel(1);
    let mut out = Out {
        tx,
        last_state: None,
        lost: 0,
    };
    out.lines(lines(&["a", "b"])).unwrap();
    out.lines(lines(&["c"])).unwrap();
    assert_eq!(out.lost, 1, "the channel held one event");
    assert_eq!(
        rx.recv().await,
        Some(JenkinsEvent::Console(lines(&["a", "b"])))
    );
    out.lines(lines(&["d"])).unwrap();
    // The loss report took the free slot; `d` is counted too.
    assert_eq!(rx.recv().await, Some(JenkinsEvent::Dropped(1)));
    assert_eq!(out.lost, 1);
    out.lines(lines(&["e"])).unwrap();
    assert_eq!(rx.recv().await, Some(JenkinsEvent::Dropped(1)));
    assert_eq!(out.lost, 1, "e is counted: the report took the slot");
    out.lines(lines(&["f"])).unwrap();
    assert_eq!(rx.recv().await, Some(JenkinsEvent::Dropped(1)));
    drop(rx);
    assert!(out.lines(lines(&["g"])).is_err(), "closed is told");
}

#[tokio::test]
async fn a_state_is_sent_once_per_change() {
    let (tx, mut rx) = mpsc::channel(8);
    let mut out = Out {
        tx,
        last_state: None,
        lost: 0,
    };
    assert!(out.state(SourceState::Ok).await);
    assert!(out.state(SourceState::Ok).await);
    assert!(out.state(SourceState::Degraded("x".into())).await);
    drop(out);
    let mut got = Vec::new();
    while let Some(ev) = rx.recv().await {
        got.push(ev);
    }
    assert_eq!(
        got,
        [
            JenkinsEvent::State(SourceState::Ok),
            JenkinsEvent::State(SourceState::Degraded("x".into()))
        ]
    );
}
