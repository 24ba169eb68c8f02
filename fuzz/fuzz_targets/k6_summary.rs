//! The k6 summary reader: k6's end-of-test JSON (either shape) becomes a
//! summary whose texts are plain and whose verdict agrees with its
//! failures, or an error saying what is missing.
#![no_main]

use blissful_infra::perf::k6::parse_summary;
use blissful_infra::perf::Thresholds;
use blissful_infra_fuzz::require_plain_text;
use libfuzzer_sys::fuzz_target;

const LIMITS: Thresholds = Thresholds {
    p95_ms: 200.0,
    max_error_rate: 0.01,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_summary(text, "http://shop.local/\u{1b}]8;;x\u{7}", LIMITS) {
        Ok(s) => {
            require_plain_text("target", &s.target);
            assert_eq!(s.requests, s.responses);
            assert_eq!(s.thresholds.passed, s.thresholds.failures.is_empty());
            for f in &s.thresholds.failures {
                require_plain_text("threshold failure", &f.message);
            }
            assert!(s.duration_secs >= 0.0 && s.rps.is_finite(), "{s:?}");
        }
        Err(e) => {
            assert!(!e.is_empty());
            require_plain_text("summary error", &e);
        }
    }
});
