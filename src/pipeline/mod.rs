//! `pipeline --local`: run the stages of `pipeline.stages` on this machine,
//! read the result files they write (`results/`), and keep each run under
//! the state directory.

pub mod results;
