//! Shared steps of every command: output mode, state directory, config.

use std::path::{Path, PathBuf};

use color_eyre::eyre::{eyre, WrapErr};
use color_eyre::Result;

use super::keymap_rule::keymap_problems;
use crate::cli::args::{Cli, Cmd, GlobalArgs, Output};
use crate::cli::{exit, OutputMode};
use crate::config::compose_detect::config_for_compose_dir;
use crate::config::Config;
use crate::paths::StatePaths;

pub(super) fn sample_service(cli: Cli) -> i32 {
    let Some(Cmd::SampleService {
        port,
        version,
        instance,
        latency_ms,
        error_rate,
        memory_growth_mib_per_min,
    }) = cli.command
    else {
        return exit::USAGE;
    };
    let opts = crate::sandbox::sample_service::SampleServiceOptions {
        port,
        version,
        instance,
        latency_ms,
        error_rate,
        memory_growth_mib_per_min,
        // From `SAMPLE_CALLS_DEPENDENCY`, read when the service starts.
        dependency: None,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            super::errors::print_error(e);
            return exit::FAILED;
        }
    };
    match rt.block_on(crate::sandbox::sample_service::run_sample_service(opts)) {
        Ok(()) => exit::OK,
        Err(e) => {
            super::errors::print_error(format!("sample-service: {e}"));
            exit::FAILED
        }
    }
}

pub(super) fn output_mode(o: Output) -> OutputMode {
    match o {
        Output::Table => OutputMode::Table,
        Output::Json => OutputMode::Json,
    }
}

pub(super) fn state_paths(g: &GlobalArgs) -> Result<StatePaths> {
    match &g.state_dir {
        Some(d) => {
            std::fs::create_dir_all(d)
                .wrap_err_with(|| format!("creating state directory {}", d.display()))?;
            Ok(StatePaths::at(d))
        }
        None => StatePaths::resolve().wrap_err("finding the state directory"),
    }
}

/// `--config FILE`, else blissful-infra.yaml found upwards, else a Compose
/// file in this directory (the Docker runtime, saying so once), else
/// defaults (the demo).
pub(super) fn load_config(g: &GlobalArgs, demo: bool) -> Result<(Config, PathBuf)> {
    let cwd = std::env::current_dir().wrap_err("reading the current directory")?;
    if let Some(path) = &g.config {
        let cfg = Config::load_with(path, keymap_problems).map_err(|e| eyre!("{e}"))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or(cwd);
        return Ok((cfg, dir));
    }
    if !demo {
        if let Some((path, cfg)) =
            Config::discover_with(&cwd, keymap_problems).map_err(|e| eyre!("{e}"))?
        {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or(cwd);
            return Ok((cfg, dir));
        }
        if let Some((cfg, note)) = config_for_compose_dir(&cwd) {
            static ANNOUNCED: std::sync::Once = std::sync::Once::new();
            ANNOUNCED.call_once(|| eprintln!("{note}"));
            return Ok((cfg, cwd));
        }
    }
    Ok((Config::default(), cwd))
}

pub(super) fn no_color_unset() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
