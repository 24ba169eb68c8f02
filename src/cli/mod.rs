//! The command-line edge: command runners and their output.
//!
//! Each `cmd_*` runner takes a [`SharedRuntime`] (normally a
//! [`crate::daemon::RemoteRuntime`] talking to the running sandbox), an
//! [`OutputMode`] and writers, and returns a process exit code from [`exit`],
//! so `main` only parses arguments and calls them. Results go to `out`
//! (stdout); progress and errors go to `err` (stderr). In JSON mode `out`
//! always receives exactly one JSON document (an error becomes
//! `{"error": {...}}`), except `logs --follow`, which writes one JSON object
//! per line.

pub mod args;
pub mod chaos;
pub mod commands;
pub mod confirm;
pub mod ephemeral;
pub mod follow;
pub mod intents;
pub mod jenkins;
pub mod loki_logs;
pub mod output;
mod rollout;

use std::io::{IsTerminal, Write};

use crate::domain::chaos::{FaultParams, ScenarioKind};
use crate::runtime::{Actor, RuntimeError, SharedRuntime};

pub use commands::{ActionReport, LogsOptions, StepVerdict, Streams};
pub use intents::IntentRequest;

pub use crate::report::{exit, OutputMode};

/// Where `logs` reads from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogSource {
    /// Loki when `loki.url` is set, else the running runtime.
    Auto,
    /// The running runtime's own buffer and stream (sandbox or Docker).
    #[value(alias = "sandbox", alias = "docker")]
    Runtime,
    Loki,
}

/// `30s`, `15m`, `2h`, `1d` (or bare seconds) for `--since`.
pub fn parse_since(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 30s, 15m, 2h or 1d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use s, m, h or d)")),
    };
    if secs == 0 {
        return Err("--since must be above 0".into());
    }
    Ok(std::time::Duration::from_secs(secs))
}

/// Exit code for a runtime error.
pub fn exit_code_for(e: &RuntimeError) -> i32 {
    match e {
        RuntimeError::UnknownEnvironment(_)
        | RuntimeError::Refused(_)
        | RuntimeError::ReadOnly(_)
        | RuntimeError::NotFound(_) => exit::REFUSED,
        RuntimeError::Unavailable(_) => exit::UNAVAILABLE,
        RuntimeError::Failed(_) => exit::FAILED,
    }
}

/// Whether to colour stdout: only on a terminal, and not when `NO_COLOR` is set.
pub fn stdout_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

// Positional entry points, as `main` wires them. Each builds a `Streams`
// (stderr for progress and errors) and calls the runner in `commands`.

/// `status`: one row per environment (errors on stderr).
pub async fn cmd_status(rt: &SharedRuntime, mode: OutputMode, out: &mut dyn Write) -> i32 {
    let mut err = std::io::stderr();
    commands::status(rt, &mut Streams::new(mode, out, &mut err)).await
}

/// `logs`: from Loki (`--source loki`, or `auto` with `loki.url` set) or
/// from the running sandbox; recent lines, then with `follow` new ones until
/// Ctrl-C. An unknown environment is refused with the known ones listed.
pub async fn cmd_logs(
    config: &crate::config::Config,
    source: LogSource,
    control_socket: &std::path::Path,
    opts: &LogsOptions,
    mode: OutputMode,
    out: &mut dyn Write,
) -> i32 {
    let mut err = std::io::stderr();
    let mut s = Streams::new(mode, out, &mut err);
    let loki_set = !config.loki.url.trim().is_empty();
    let use_loki = match source {
        LogSource::Loki => true,
        LogSource::Runtime => false,
        LogSource::Auto => loki_set,
    };
    if use_loki {
        if !loki_set {
            let e = RuntimeError::Refused(
                "--source loki needs `loki.url` in blissful-infra.yaml".into(),
            );
            return s.error(&e);
        }
        return loki_logs::logs(config, opts, &mut s).await;
    }
    let rt = match commands::connect(control_socket, &mut s).await {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    commands::logs(&rt, opts, &mut s).await
}

/// `deploy`: with `wait`, follow the rollout; OK if promoted, FAILED if rolled back.
#[allow(clippy::too_many_arguments)] // one positional argument per CLI flag
pub async fn cmd_deploy(
    rt: &SharedRuntime,
    actor: &Actor,
    env: &str,
    version: &str,
    wait: bool,
    mode: OutputMode,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    commands::deploy(
        rt,
        actor,
        env,
        version,
        wait,
        &mut Streams::new(mode, out, err),
    )
    .await
}

/// `promote`: roll `from`'s stable version out to `to`; waits like `deploy`.
#[allow(clippy::too_many_arguments)] // one positional argument per CLI flag
pub async fn cmd_promote(
    rt: &SharedRuntime,
    actor: &Actor,
    from: &str,
    to: &str,
    wait: bool,
    mode: OutputMode,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    commands::promote(rt, actor, from, to, wait, &mut Streams::new(mode, out, err)).await
}

/// `rollback`: return `env` to its previous version.
pub async fn cmd_rollback(
    rt: &SharedRuntime,
    actor: &Actor,
    env: &str,
    wait: bool,
    mode: OutputMode,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    commands::rollback(rt, actor, env, wait, &mut Streams::new(mode, out, err)).await
}

/// `switch`: blue/green, all traffic to the canary (or back to stable).
pub async fn cmd_switch_traffic(
    rt: &SharedRuntime,
    actor: &Actor,
    env: &str,
    to_canary: bool,
    mode: OutputMode,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    commands::switch_traffic(rt, actor, env, to_canary, &mut Streams::new(mode, out, err)).await
}

/// `chaos`: with `wait`, follow the experiment and print its result row;
/// OK when resilient (or unaffected), FAILED otherwise.
#[allow(clippy::too_many_arguments)] // one positional argument per CLI flag
pub async fn cmd_chaos(
    rt: &SharedRuntime,
    actor: &Actor,
    env: &str,
    scenario: ScenarioKind,
    params: FaultParams,
    wait: bool,
    mode: OutputMode,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    commands::chaos(
        rt,
        actor,
        env,
        scenario,
        params,
        wait,
        &mut Streams::new(mode, out, err),
    )
    .await
}

/// `undo`: remove a fault early.
pub async fn cmd_undo(
    rt: &SharedRuntime,
    actor: &Actor,
    experiment_id: &str,
    mode: OutputMode,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    commands::undo(rt, actor, experiment_id, &mut Streams::new(mode, out, err)).await
}

/// `pause`, `resume`, `abort`, `retry`, `undo --env`, `promote --env`,
/// `restart`: one intent, confirmed on the terminal (stdin) unless `--yes`.
pub async fn cmd_intent(
    rt: &SharedRuntime,
    actor: &Actor,
    req: IntentRequest<'_>,
    mode: OutputMode,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut input = stdin.lock();
    let mut prompt = confirm::Prompt {
        input: &mut input,
        interactive,
    };
    intents::run_intent(
        rt,
        actor,
        req,
        &mut prompt,
        &mut Streams::new(mode, out, err),
    )
    .await
}

/// `down`: stop the sandbox serving `socket` (nothing running is not an error).
pub async fn cmd_down(
    socket: &std::path::Path,
    mode: OutputMode,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    commands::down(socket, &mut Streams::new(mode, out, err)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_seconds_to_days() {
        use std::time::Duration;
        assert_eq!(parse_since("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_since("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_since("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_since("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_since("45").unwrap(), Duration::from_secs(45));
        for bad in ["", "0m", "m", "1w", "-1h", "1.5h"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_map_to_exit_codes() {
        assert_eq!(
            exit_code_for(&RuntimeError::UnknownEnvironment("qa".into())),
            exit::REFUSED
        );
        assert_eq!(
            exit_code_for(&RuntimeError::ReadOnly("deploy".into())),
            exit::REFUSED
        );
        assert_eq!(
            exit_code_for(&RuntimeError::Refused("busy".into())),
            exit::REFUSED
        );
        assert_eq!(
            exit_code_for(&RuntimeError::NotFound("exp-9".into())),
            exit::REFUSED
        );
        assert_eq!(
            exit_code_for(&RuntimeError::Unavailable("gone".into())),
            exit::UNAVAILABLE
        );
        assert_eq!(
            exit_code_for(&RuntimeError::Failed("boom".into())),
            exit::FAILED
        );
    }
}
