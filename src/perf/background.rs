//! Load in the background while something else is measured (the chaos
//! suite): the generator, closed loop, against an environment's router.

use std::sync::Arc;
use std::time::Duration;

use crate::runtime::Runtime;

/// The load running in the background; [`abort`](Self::abort) ends it.
pub struct BackgroundLoad {
    task: tokio::task::JoinHandle<()>,
    /// Where it goes, as written (`127.0.0.1:8180`, `shop.local:80`).
    pub target: String,
}

impl BackgroundLoad {
    pub fn abort(&self) {
        self.task.abort();
    }
}

impl Drop for BackgroundLoad {
    /// No load outlives the run it was for, whichever way that ends.
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Keep `users` connections busy against `env`'s router until aborted (at
/// most `MAX_DURATION`); `None` for no users.
pub async fn background_load(
    rt: &dyn Runtime,
    env: &str,
    users: u32,
    paths: &[String],
) -> Result<Option<BackgroundLoad>, String> {
    if users == 0 {
        return Ok(None);
    }
    let envs = rt.status().await.map_err(|e| e.to_string())?;
    let target = super::router_target(&envs, env, rt.name()).map_err(|e| e.to_string())?;
    let endpoints = if paths.is_empty() {
        vec!["/".to_string()]
    } else {
        paths.to_vec()
    };
    let spec = super::LoadSpec {
        target,
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
    let target = crate::domain::sanitize::sanitize_str(&spec.target.host);
    let live = Arc::new(super::generator::Live::default());
    let task = tokio::spawn(async move {
        // Its figures are not what is judged: the runtime's metrics are.
        let _ = super::generator::run(&spec, live).await;
    });
    Ok(Some(BackgroundLoad { task, target }))
}
