//! How the process that owns a runtime wraps it before anyone uses it:
//! read-only (when asked) inside, audit outside, so read-only refusals are
//! journalled too and every client is audited exactly once.

use std::path::PathBuf;
use std::sync::Arc;

use super::{Audited, ReadOnly, SharedRuntime};

pub async fn decorate(
    runtime: SharedRuntime,
    read_only: bool,
    audit_path: PathBuf,
) -> SharedRuntime {
    let inner: SharedRuntime = if read_only {
        Arc::new(ReadOnly::new(runtime))
    } else {
        runtime
    };
    Arc::new(Audited::start(inner, audit_path).await)
}
