//! `runtime: kubernetes`: no daemon, no control socket, no state lock (the
//! cluster keeps the state). The console and each CLI command open their
//! own runtime, wrapped like every other one: read-only inside, audit
//! outside, so intents are confirmed, journalled and refused in `--read-only`.

use std::path::Path;
use std::time::Duration;

use color_eyre::eyre::eyre;
use color_eyre::Result;

use crate::cli::args::GlobalArgs;
use crate::config::Config;
use crate::kubernetes::runtime::{ChaosSettings, KubeSettings, JOURNAL_FILE};
use crate::kubernetes::KubernetesRuntime;
use crate::paths::StatePaths;
use crate::runtime::contexts::ContextHandle;
use crate::runtime::SharedRuntime;

/// Why `up` and `daemon` refuse this runtime.
pub(super) const NO_DAEMON: &str = "`runtime: kubernetes` needs no daemon: the cluster keeps \
     the state and Argo Rollouts steps the rollouts; open the console or run the CLI verbs \
     (status, promote --env, pause, resume, abort, retry, restart) directly; `up --ephemeral \
     NAME` makes an ephemeral environment (a namespace of its own)";

/// How long a CLI command waits for the first list of every Rollout watch.
const SETTLE: Duration = Duration::from_secs(10);

pub(super) struct Kube {
    /// Decorated: read-only (when asked) and audited.
    pub runtime: SharedRuntime,
    /// For `:ctx`.
    pub contexts: ContextHandle,
    /// `kubernetes (<context>)`.
    pub label: String,
}

/// Connect and start watching. With `settle`, wait (bounded) until every
/// environment's Rollouts are listed, so a one-shot command sees them.
pub(super) async fn open(
    g: &GlobalArgs,
    state: &StatePaths,
    config: &Config,
    config_dir: &Path,
    settle: bool,
) -> Result<Kube> {
    let settings = KubeSettings::from_config(config, config_dir, g.context.as_deref());
    let chaos = ChaosSettings {
        journal: state.dir.join(JOURNAL_FILE),
        dependencies: config.kubernetes.dependencies.clone(),
        slo: config.chaos.slo.clone(),
    };
    let rt = KubernetesRuntime::start_with_chaos(settings, Some(chaos))
        .await
        .map_err(|e| eyre!("{e}"))?;
    if settle {
        rt.wait_settled(SETTLE).await;
    }
    let label = rt.label();
    let contexts = ContextHandle(rt.clone());
    let runtime = crate::runtime::decorate(rt, g.read_only, state.audit_journal()).await;
    Ok(Kube {
        runtime,
        contexts,
        label,
    })
}
