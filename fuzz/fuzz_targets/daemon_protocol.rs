//! The daemon protocol decoder: a request line is either a request of this
//! protocol version that reads back the same after writing it, or an error
//! saying where it broke, with nothing in it that could drive the terminal
//! of the console that shows it. Reply and event lines decode or fail.
#![no_main]

use blissful_infra::daemon::protocol::{
    parse_request, read_line_bounded, to_line, LineRead, Reply, PROTOCOL_VERSION,
};
use blissful_infra::domain::environment::EnvironmentStatus;
use blissful_infra::runtime::RuntimeEvent;
use blissful_infra_fuzz::require_plain_error;
use libfuzzer_sys::fuzz_target;

/// A small bound, so over-long lines are met often.
const MAX_LINE: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let mut reader = data;
    let mut buf = Vec::new();
    loop {
        let read = futures::executor::block_on(read_line_bounded(&mut reader, &mut buf, MAX_LINE));
        let Ok(how) = read else {
            break;
        };
        assert!(
            buf.len() <= MAX_LINE,
            "{} bytes read of at most {MAX_LINE}",
            buf.len()
        );
        if how == LineRead::TooLong {
            break;
        }
        check_request(&buf);
        // The client's side: replies and events from the same bytes.
        let _ = serde_json::from_slice::<Reply<Vec<EnvironmentStatus>>>(&buf);
        let _ = serde_json::from_slice::<RuntimeEvent>(&buf);
        if how == LineRead::Eof {
            break;
        }
    }
});

fn check_request(line: &[u8]) {
    match parse_request(line) {
        Ok(req) => {
            assert_eq!(req.v, PROTOCOL_VERSION);
            let Ok(written) = to_line(&req) else {
                panic!("an accepted request cannot be written: {req:?}");
            };
            assert_eq!(written.last(), Some(&b'\n'));
            assert_eq!(
                written.iter().filter(|b| **b == b'\n').count(),
                1,
                "a request written on more than one line"
            );
            match parse_request(&written[..written.len() - 1]) {
                Ok(again) => assert_eq!(again, req, "written as {written:?}"),
                Err(e) => panic!("a written request is refused: {e}"),
            }
        }
        Err(e) => {
            assert!(e.to_string().starts_with("invalid request"), "{e}");
            require_plain_error("request error", &e);
        }
    }
}
