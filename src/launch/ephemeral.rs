//! `up --ephemeral`, `down --ephemeral` and `status` with its ephemeral
//! table: the config read, the cluster found as every Kubernetes command
//! finds it (`--context`, `kubernetes.context`, `kubernetes.server`), and
//! the runners in [`crate::cli::ephemeral`] called.

use std::path::Path;

use color_eyre::Result;

use super::errors::print_error;
use super::setup::load_config;
use crate::cli::args::{GlobalArgs, UpArgs};
use crate::cli::ephemeral::{self, DownRequest, EphemeralContext, UpRequest};
use crate::cli::{exit, OutputMode, Streams};
use crate::config::{Config, RuntimeKind};
use crate::domain::duration::parse_ttl;
use crate::kubernetes::runtime::KubeSettings;
use crate::paths::StatePaths;
use crate::runtime::{Actor, SharedRuntime};

/// The context from a loaded config.
fn context(
    g: &GlobalArgs,
    state: &StatePaths,
    config: &Config,
    config_dir: &Path,
) -> std::result::Result<EphemeralContext, String> {
    let k = &config.kubernetes;
    let default_ttl =
        parse_ttl(&k.ephemeral_ttl).map_err(|e| format!("kubernetes.ephemeral_ttl: {e}"))?;
    Ok(EphemeralContext {
        project: config.project.clone(),
        overlays: config_dir.join(&k.overlays),
        target: KubeSettings::from_config(config, config_dir, g.context.as_deref()).target,
        read_only: g.read_only,
        audit_journal: state.audit_journal(),
        user: Actor::current("cli").user,
        default_ttl,
    })
}

/// The config, which must say `runtime: kubernetes`; else the exit code.
fn kube_context(
    g: &GlobalArgs,
    state: &StatePaths,
    verb: &str,
) -> std::result::Result<EphemeralContext, i32> {
    let (config, dir) = match load_config(g, false) {
        Ok(c) => c,
        Err(e) => {
            print_error(e);
            return Err(exit::USAGE);
        }
    };
    if config.runtime != RuntimeKind::Kubernetes {
        print_error(format!(
            "`{verb} --ephemeral` needs `runtime: kubernetes`: an ephemeral environment is a \
             namespace of a cluster (this project runs `{}`)",
            format!("{:?}", config.runtime).to_lowercase()
        ));
        return Err(exit::REFUSED);
    }
    context(g, state, &config, &dir).map_err(|e| {
        print_error(e);
        exit::USAGE
    })
}

pub(super) async fn up(
    g: &GlobalArgs,
    state: &StatePaths,
    args: &UpArgs,
    mode: OutputMode,
) -> Result<i32> {
    let Some(name) = args.ephemeral.as_deref() else {
        return Ok(exit::USAGE);
    };
    let ctx = match kube_context(g, state, "up") {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let req = UpRequest {
        name,
        ttl: args.ttl,
        wait: args.wait,
    };
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    Ok(ephemeral::up(&ctx, &req, &mut Streams::new(mode, &mut out, &mut err)).await)
}

pub(super) async fn down(
    g: &GlobalArgs,
    state: &StatePaths,
    req: &DownRequest<'_>,
    mode: OutputMode,
) -> Result<i32> {
    let ctx = match kube_context(g, state, "down") {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let stdin = std::io::stdin();
    let interactive = std::io::IsTerminal::is_terminal(&stdin);
    let mut input = stdin.lock();
    let mut prompt = crate::cli::confirm::Prompt {
        input: &mut input,
        interactive,
    };
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let mut s = Streams::new(mode, &mut out, &mut err);
    Ok(ephemeral::down(&ctx, req, &mut prompt, &mut s).await)
}

/// `status` on Kubernetes: the environments, then the ephemeral ones.
pub(super) async fn status(
    g: &GlobalArgs,
    state: &StatePaths,
    runtime: &SharedRuntime,
    (config, config_dir): (&Config, &Path),
    (mode, only_ephemeral): (OutputMode, bool),
) -> i32 {
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let mut s = Streams::new(mode, &mut out, &mut err);
    match context(g, state, config, config_dir) {
        Ok(ctx) => ephemeral::status(runtime, &ctx, only_ephemeral, &mut s).await,
        Err(e) => {
            print_error(e);
            exit::USAGE
        }
    }
}
