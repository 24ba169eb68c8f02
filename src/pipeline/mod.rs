//! `pipeline --local`: run the stages of `pipeline.stages` on this machine
//! (`runner.rs`; one stage: `stage.rs`, its process: `exec.rs`), read the
//! result files they write (`results/`), skip stages whose `inputs` did not
//! change (`inputs.rs`), and keep each run under the state directory
//! (`store.rs`, `model.rs`).

pub mod command;
pub mod exec;
pub mod inputs;
pub mod live;
pub mod model;
pub mod plan;
pub mod results;
pub mod runner;
pub mod stage;
pub mod store;
pub mod summary;

pub use command::{cmd_pipeline, PipelineArgs, PipelineCmd};
pub use model::{RunRecord, RunStatus, StageRecord, StageStatus};
pub use runner::{run_pipeline, PipelineError, Progress, Project, RunOptions};
pub use store::RunStore;
