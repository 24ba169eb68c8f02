//! The load engine: one worker per keep-alive HTTP/1.1 connection.
//!
//! Closed loop: each worker sends its next request as soon as the previous
//! one is answered. Open loop: request `i` is *due* at `start + i / rate`;
//! workers claim due times from one shared counter, and when they fall
//! behind (the target stalls) the latency is measured from the due time, not
//! from the late send, so a stall is not hidden (coordinated omission).

mod engine;
mod http1;
mod record;
mod spec;
mod stats;
mod worker;

pub use engine::run;
pub use spec::{Endpoint, LoadSpec, Pacing, Stop, Target};
pub use stats::{new_histogram, ErrorKind, Live, RunStats, HIST_HIGH_US, HIST_LOW_US, HIST_SIGFIG};
