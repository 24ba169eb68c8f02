//! The wire format: stable lines, round trips, errors that say where.

use super::*;
use crate::runtime::RuntimeEvent;

fn actor() -> Actor {
    Actor {
        user: "ana".into(),
        via: "cli".into(),
    }
}

#[test]
fn request_wire_format_is_stable() {
    let req = Request::new(
        &actor(),
        Op::Deploy {
            env: "staging".into(),
            version: Version::new("v2"),
        },
    );
    let line = String::from_utf8(to_line(&req).unwrap()).unwrap();
    assert_eq!(
        line,
        "{\"v\":1,\"actor\":{\"user\":\"ana\",\"via\":\"cli\"},\"op\":{\"op\":\"deploy\",\"env\":\"staging\",\"version\":\"v2\"}}\n"
    );
    assert_eq!(parse_request(line.trim_end().as_bytes()).unwrap(), req);
}

#[test]
fn every_op_round_trips() {
    let ops = vec![
        Op::Status,
        Op::Promote {
            from: "staging".into(),
            to: "prod".into(),
        },
        Op::Rollback { env: "prod".into() },
        Op::SwitchTraffic {
            env: "prod".into(),
            to_canary: true,
        },
        Op::Inject {
            env: "prod".into(),
            scenario: ScenarioKind::NetworkLatency,
            params: FaultParams::default(),
        },
        Op::Undo {
            experiment_id: "exp-1".into(),
        },
        Op::RecentLogs {
            env: None,
            limit: 10,
        },
        Op::History,
        Op::Subscribe,
        Op::Shutdown,
        Op::Ping,
    ];
    for op in ops {
        let req = Request::new(&actor(), op.clone());
        let line = to_line(&req).unwrap();
        let back = parse_request(&line[..line.len() - 1]).unwrap();
        assert_eq!(back.op, op, "op {}", op.name());
        let text = String::from_utf8(line).unwrap();
        assert!(
            text.contains(&format!("\"op\":\"{}\"", op.name())),
            "{text}"
        );
    }
}

#[test]
fn malformed_request_reports_the_column() {
    let err = parse_request(br#"{"v":1,"actor":{"user":"a","via":"b"},"op":{"op":"explode"}}"#)
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("invalid request at column "), "{msg}");
    assert!(msg.contains("unknown variant `explode`"), "{msg}");
    assert!(!msg.contains(" at line "), "{msg}");

    let err = parse_request(b"{\"v\":1,").unwrap_err().to_string();
    assert!(err.starts_with("invalid request at column 7:"), "{err}");
}

#[test]
fn a_hostile_op_name_is_quoted_without_its_escapes() {
    // Found by fuzz/daemon_protocol: serde quotes an unknown variant as
    // written, so the error a console shows carried the client's escapes.
    let err = parse_request(
        b"{\"v\":1,\"actor\":{\"user\":\"a\",\"via\":\"b\"},\"op\":{\"op\":\"explode\\u001b[2J\\u001b]0;t\\u0007\"}}",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown variant `explode`"), "{err}");
    assert!(!err.contains(|c: char| c.is_control()), "{err:?}");
}

#[test]
fn other_protocol_versions_are_refused() {
    let err =
        parse_request(br#"{"v":2,"actor":{"user":"a","via":"b"},"op":{"op":"ping"}}"#).unwrap_err();
    assert!(err.to_string().contains("protocol version 2"), "{err}");
}

#[test]
fn reply_wire_format() {
    let ok: Reply<u32> = Reply::Ok(5);
    assert_eq!(serde_json::to_string(&ok).unwrap(), r#"{"ok":5}"#);
    let unit: Reply<()> = Reply::Ok(());
    assert_eq!(serde_json::to_string(&unit).unwrap(), r#"{"ok":null}"#);
    let err: Reply<()> = Reply::Err(RuntimeError::UnknownEnvironment("qa".into()));
    let text = serde_json::to_string(&err).unwrap();
    assert_eq!(
        text,
        r#"{"err":{"kind":"unknown_environment","message":"qa"}}"#
    );
    let back: Reply<()> = serde_json::from_str(&text).unwrap();
    assert_eq!(
        back.into_result(),
        Err(RuntimeError::UnknownEnvironment("qa".into()))
    );
    let ev = RuntimeEvent::Lagged { count: 3 };
    assert_eq!(
        serde_json::to_string(&ev).unwrap(),
        r#"{"event":"lagged","count":3}"#
    );
}

#[tokio::test]
async fn bounded_reader_splits_lines_and_stops_long_ones() {
    let data: &[u8] = b"one\r\ntwo\nthree-is-long\nlast";
    let mut r = tokio::io::BufReader::with_capacity(4, data);
    let mut buf = Vec::new();
    assert_eq!(
        read_line_bounded(&mut r, &mut buf, 8).await.unwrap(),
        LineRead::Line
    );
    assert_eq!(buf, b"one");
    assert_eq!(
        read_line_bounded(&mut r, &mut buf, 8).await.unwrap(),
        LineRead::Line
    );
    assert_eq!(buf, b"two");
    assert_eq!(
        read_line_bounded(&mut r, &mut buf, 8).await.unwrap(),
        LineRead::TooLong
    );
    assert!(buf.len() <= 8);

    let mut r = tokio::io::BufReader::new(&b"last"[..]);
    assert_eq!(
        read_line_bounded(&mut r, &mut buf, 8).await.unwrap(),
        LineRead::Eof
    );
    assert_eq!(buf, b"last");
}
