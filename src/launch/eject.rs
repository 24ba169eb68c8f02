//! `eject`: find the project's blissful-infra.yaml (`--config`, else from
//! the current directory up) and hand it to [`crate::eject`]. No runtime,
//! state directory or daemon is involved.

use std::path::PathBuf;

use crate::cli::args::GlobalArgs;
use crate::config::{Config, FILE_NAME};
use crate::eject::EjectArgs;
use crate::report::{exit, report_error};

use super::keymap_rule::keymap_problems;
use super::setup::output_mode;

pub(super) fn eject(args: &EjectArgs, g: &GlobalArgs) -> i32 {
    let mode = output_mode(g.output);
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let found: Result<Option<(PathBuf, Config)>, String> = match &g.config {
        Some(path) => Config::load_with(path, keymap_problems)
            .map(|c| Some((path.clone(), c)))
            .map_err(|e| e.to_string()),
        None => match std::env::current_dir() {
            Ok(cwd) => Config::discover_with(&cwd, keymap_problems).map_err(|e| e.to_string()),
            Err(e) => Err(format!("reading the current directory: {e}")),
        },
    };
    match found {
        Ok(Some((path, config))) => {
            crate::eject::cmd_eject(args, &config, &path, mode, &mut out, &mut err)
        }
        Ok(None) => report_error(
            "no_project",
            &format!(
                "no {FILE_NAME} here or in a parent folder: run eject inside a project \
                 (or give --config FILE)"
            ),
            exit::USAGE,
            mode,
            &mut out,
            &mut err,
        ),
        Err(e) => report_error("config", &e, exit::USAGE, mode, &mut out, &mut err),
    }
}
