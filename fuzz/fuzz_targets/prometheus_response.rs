//! The PromQL response parser: an answer of the query API becomes samples
//! or series with clean labels, or an error quoting nothing that could
//! drive the terminal.
#![no_main]

use std::collections::BTreeMap;

use blissful_infra::sources::prometheus::{parse_response, QueryResult};
use blissful_infra_fuzz::{require_plain_error, require_plain_text};
use libfuzzer_sys::fuzz_target;

const QUERY: &str = "sum(rate(http_requests_total{env=\"staging\u{1b}[2J\"}[1m]))";

fuzz_target!(|data: &[u8]| {
    for status in [200, 422, 503] {
        match parse_response(QUERY, status, data) {
            Ok(result) => {
                assert!(
                    (200..300).contains(&status),
                    "status {status} gave a result"
                );
                check_result(&result);
            }
            Err(e) => require_plain_error("query error", &e),
        }
    }
});

fn check_labels(labels: &BTreeMap<String, String>) {
    for (k, v) in labels {
        require_plain_text("label name", k);
        require_plain_text("label value", v);
    }
}

fn check_result(result: &QueryResult) {
    match result {
        QueryResult::Vector(samples) => samples.iter().for_each(|s| check_labels(&s.labels)),
        QueryResult::Matrix(series) => series.iter().for_each(|s| check_labels(&s.labels)),
        QueryResult::Scalar(s) => check_labels(&s.labels),
        // A string result is data for a caller to show through the sanitiser.
        QueryResult::String(..) => {}
    }
}
