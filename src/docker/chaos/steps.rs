//! The undo steps of Docker faults, as journalled, and how each is carried
//! out (by this process, or by the next one after a crash).

use bollard::query_parameters::StartContainerOptions;
use bollard::Docker;
use serde::{Deserialize, Serialize};

use super::netns::{fresh, in_netns};
use crate::docker::engine::short_id;
use crate::domain::sanitize::strip_all;
use crate::faults::kill_marked;

/// One step that removes (part of) a fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UndoStep {
    /// `tc qdisc del dev <dev> root` in the container's network namespace.
    DeleteQdisc { container_id: String, dev: String },
    /// `iptables [-t <table>] -D <chain> <rule>` in the container's network namespace.
    DeleteIptablesRule {
        container_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        table: Option<String>,
        chain: String,
        rule: Vec<String>,
    },
    /// Kill the process groups of host processes whose command line holds `marker`.
    KillMarked { marker: String },
    /// Start containers that the fault stopped.
    StartContainers { ids: Vec<String> },
    /// Clear the fault of the host edge router (gone with its process anyway).
    ClearRouterFault,
}

/// Undo a step inside a container's network namespace; a container that is
/// gone or stopped took its namespace (and the fault) with it.
async fn undo_in_netns(
    docker: &Docker,
    container_id: &str,
    step: &UndoStep,
) -> Result<String, String> {
    let Ok(c) = fresh(docker, container_id).await else {
        return Ok(format!(
            "container {} is gone (its network namespace with it)",
            short_id(container_id)
        ));
    };
    let Some(pid) = c.pid.filter(|_| c.running) else {
        return Ok(format!(
            "{} is not running (its network namespace is gone)",
            c.display
        ));
    };
    match step {
        UndoStep::DeleteQdisc { dev, .. } => {
            match in_netns(pid, "tc", &["qdisc", "del", "dev", dev, "root"]).await {
                Ok(()) => Ok(format!("removed the qdisc of {dev} on {}", c.display)),
                // Gone already (the container restarted with a fresh namespace).
                Err(e)
                    if e.contains("No such file")
                        || e.contains("Cannot delete qdisc with handle of zero")
                        || e.contains("Cannot find device") =>
                {
                    Ok(format!("no qdisc left on {} {dev}", c.display))
                }
                Err(e) => Err(e),
            }
        }
        UndoStep::DeleteIptablesRule {
            table, chain, rule, ..
        } => {
            let mut args = vec!["-w"];
            if let Some(t) = table {
                args.extend(["-t", t.as_str()]);
            }
            args.extend(["-D", chain.as_str()]);
            args.extend(rule.iter().map(String::as_str));
            match in_netns(pid, "iptables", &args).await {
                Ok(()) => Ok(format!("removed the {chain} rule in {}", c.display)),
                Err(e)
                    if e.contains("does a matching rule exist")
                        || e.contains("Bad rule")
                        || e.contains("No chain") =>
                {
                    Ok(format!("no {chain} rule left in {}", c.display))
                }
                Err(e) => Err(e),
            }
        }
        _ => Ok(String::new()),
    }
}

async fn start_containers(docker: &Docker, ids: &[String]) -> Result<String, String> {
    let mut started = 0;
    for id in ids {
        match docker
            .start_container(id, None::<StartContainerOptions>)
            .await
        {
            Ok(()) => started += 1,
            // 304: already running; 404: removed meanwhile.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304 | 404,
                ..
            }) => {}
            Err(e) => {
                return Err(format!(
                    "starting {}: {}",
                    short_id(id),
                    strip_all(&e.to_string())
                ))
            }
        }
    }
    Ok(format!("started {started} container(s) again"))
}

/// Carry out one undo step; `Ok(description)` or the reason it failed.
async fn undo_step(docker: Option<&Docker>, step: &UndoStep) -> Result<String, String> {
    let engine = || docker.ok_or_else(|| "the Docker Engine is unreachable".to_string());
    match step {
        UndoStep::DeleteQdisc { container_id, .. }
        | UndoStep::DeleteIptablesRule { container_id, .. } => {
            undo_in_netns(engine()?, container_id, step).await
        }
        UndoStep::KillMarked { marker } => {
            let n = kill_marked(marker);
            Ok(format!("killed {n} fault process group(s)"))
        }
        UndoStep::StartContainers { ids } => start_containers(engine()?, ids).await,
        UndoStep::ClearRouterFault => Ok("router fault cleared".into()),
    }
}

/// Run every undo step (later ones first); all descriptions, or the failures.
pub(super) async fn undo_steps(
    docker: Option<&Docker>,
    steps: &[UndoStep],
) -> Result<Vec<String>, Vec<String>> {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for s in steps.iter().rev() {
        match undo_step(docker, s).await {
            Ok(d) => done.push(d),
            Err(e) => failed.push(e),
        }
    }
    if failed.is_empty() {
        Ok(done)
    } else {
        Err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_journalled_with_their_kind() {
        let s = serde_json::to_string(&UndoStep::KillMarked { marker: "m".into() }).unwrap();
        assert_eq!(s, r#"{"kind":"kill_marked","marker":"m"}"#);
    }

    #[tokio::test]
    async fn engine_steps_fail_without_an_engine_and_process_steps_do_not() {
        let steps = vec![
            UndoStep::KillMarked {
                marker: crate::faults::new_marker("test", "none"),
            },
            UndoStep::StartContainers {
                ids: vec!["abc".into()],
            },
        ];
        let failed = undo_steps(None, &steps).await.unwrap_err();
        assert_eq!(failed, vec!["the Docker Engine is unreachable".to_string()]);
        let done = undo_steps(None, &steps[..1]).await.unwrap();
        assert_eq!(done, vec!["killed 0 fault process group(s)".to_string()]);
    }
}
