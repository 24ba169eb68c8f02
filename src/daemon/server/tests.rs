//! Unit tests of the control server: event pumping, reply limits, binding.
#![cfg(test)] // test code only

use super::*;

fn log_event(i: u64) -> RuntimeEvent {
    RuntimeEvent::Source {
        name: format!("s{i}"),
        state: crate::runtime::SourceState::Ok,
    }
}

/// Sum of delivered events plus reported losses.
fn accounted(events: &[RuntimeEvent]) -> u64 {
    events
        .iter()
        .map(|e| match e {
            RuntimeEvent::Lagged { count } => *count,
            _ => 1,
        })
        .sum()
}

#[tokio::test]
async fn pump_counts_losses_and_reports_them_when_room_returns() {
    let (up_tx, up_rx) = mpsc::channel(100);
    let (q_tx, mut q_rx) = mpsc::channel(4);
    for i in 0..50 {
        up_tx.try_send(log_event(i)).unwrap();
    }
    drop(up_tx);
    let pump = tokio::spawn(pump_events(up_rx, q_tx));
    // Let the pump fill the queue before anybody reads.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut got = Vec::new();
    while let Some(ev) = q_rx.recv().await {
        got.push(ev);
    }
    pump.await.unwrap();
    assert_eq!(accounted(&got), 50, "{got:?}");
    let lagged: Vec<u64> = got
        .iter()
        .filter_map(|e| match e {
            RuntimeEvent::Lagged { count } => Some(*count),
            _ => None,
        })
        .collect();
    assert_eq!(lagged, vec![46], "{got:?}");
    assert_eq!(got.len(), 5);
    assert_eq!(got[0], log_event(0));
    assert_eq!(got[4], RuntimeEvent::Lagged { count: 46 });
}

#[tokio::test]
async fn pump_merges_upstream_lag_and_keeps_order() {
    let (up_tx, up_rx) = mpsc::channel(100);
    let (q_tx, mut q_rx) = mpsc::channel(16);
    up_tx.try_send(log_event(1)).unwrap();
    up_tx.try_send(RuntimeEvent::Lagged { count: 7 }).unwrap();
    up_tx.try_send(log_event(2)).unwrap();
    drop(up_tx);
    pump_events(up_rx, q_tx).await;
    let mut got = Vec::new();
    while let Some(ev) = q_rx.recv().await {
        got.push(ev);
    }
    assert_eq!(
        got,
        vec![
            log_event(1),
            RuntimeEvent::Lagged { count: 7 },
            log_event(2)
        ]
    );
}

#[tokio::test]
async fn pump_stops_when_the_subscriber_is_gone() {
    let (up_tx, up_rx) = mpsc::channel::<RuntimeEvent>(4);
    let (q_tx, q_rx) = mpsc::channel(4);
    drop(q_rx);
    let res = tokio::time::timeout(Duration::from_secs(2), pump_events(up_rx, q_tx)).await;
    assert!(res.is_ok(), "pump kept running for a closed queue");
    assert!(up_tx.is_closed());
}

#[test]
fn oversized_replies_become_errors() {
    let big = "x".repeat(MAX_REPLY_BYTES + 1);
    let line = encode::<String>(Ok(big));
    let text = String::from_utf8(line).unwrap();
    assert!(
        text.starts_with("{\"err\":{\"kind\":\"failed\""),
        "{}",
        &text[..80]
    );
    assert!(text.contains("too large"));
}

#[tokio::test]
async fn bind_refuses_a_path_that_is_not_a_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.sock");
    std::fs::write(&path, b"not a socket").unwrap();
    let err = clear_stale_socket(&path).await.unwrap_err();
    assert!(matches!(err, DaemonError::NotASocket { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"not a socket");
}
