//! Load in the background while something else is measured (the chaos
//! suite): the generator, closed loop, against an environment's router.

use std::sync::Arc;
use std::time::Duration;

use crate::runtime::Runtime;

/// Keep `users` connections busy against `env`'s router until the task is
/// aborted (at most `MAX_DURATION`); `None` for no users.
pub async fn background_load(
    rt: &dyn Runtime,
    env: &str,
    users: u32,
    paths: &[String],
) -> Result<Option<tokio::task::JoinHandle<()>>, String> {
    if users == 0 {
        return Ok(None);
    }
    let envs = rt.status().await.map_err(|e| e.to_string())?;
    let addr = super::router_target(&envs, env).map_err(|e| e.to_string())?;
    let endpoints = if paths.is_empty() {
        vec!["/".to_string()]
    } else {
        paths.to_vec()
    };
    let spec = super::LoadSpec {
        target: super::Target {
            addr,
            host: addr.to_string(),
        },
        endpoints: endpoints
            .into_iter()
            .map(|path| super::Endpoint { path, weight: 1 })
            .collect(),
        pacing: super::Pacing::Closed,
        concurrency: users as usize,
        stop: super::Stop::Duration(super::MAX_DURATION),
        warmup: Duration::ZERO,
        timeout: Duration::from_secs(5),
    };
    let live = Arc::new(super::generator::Live::default());
    Ok(Some(tokio::spawn(async move {
        // Its figures are not what is judged: the runtime's metrics are.
        let _ = super::generator::run(&spec, live).await;
    })))
}
