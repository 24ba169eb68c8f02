use super::*;

fn stop(after_ms: u64, killed: bool) -> SigtermStop {
    SigtermStop {
        instance: "staging-v1-0".into(),
        after_ms,
        grace_ms: 3000,
        killed,
    }
}

#[test]
fn a_stop_reads_back_as_written() {
    for s in [stop(120, false), stop(3000, true), stop(0, false)] {
        let text = s.to_string();
        assert_eq!(SigtermStop::parse(&text), Some(s), "{text}");
    }
    assert_eq!(
        stop(120, false).to_string(),
        "instance staging-v1-0 exited 120 ms after SIGTERM (grace period 3000 ms)"
    );
}

#[test]
fn other_lines_are_not_stops() {
    for text in [
        "",
        "instance staging-v1-0 exited with code 1",
        "instance staging-v1-0 exited 12x ms after SIGTERM (grace period 3000 ms)",
        "instance staging-v1-0 exited 12 ms after SIGTERM (grace period 3000 ms) and more",
        "instance a b exited 12 ms after SIGTERM (grace period 3000 ms)",
        "instance x was still running 3000 ms after SIGTERM (grace period 3000 ms)",
        "prefix instance x exited 1 ms after SIGTERM (grace period 3000 ms)",
    ] {
        assert_eq!(SigtermStop::parse(text), None, "{text}");
    }
}
