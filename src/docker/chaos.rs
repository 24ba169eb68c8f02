//! Chaos on Docker. Every fault is written to the Docker fault journal
//! (`docker-faults.json` in the state directory) before it is applied, with
//! the steps that remove it, and leaves the journal only once it is undone.
//! A blissful-infra that dies (SIGKILL) leaves its records behind; the next
//! start finds them (`leftovers`) and undoes them all with one call.
//!
//! | scenario          | applied as                                                    |
//! |-------------------|---------------------------------------------------------------|
//! | pod-kill          | SIGKILL to the container's main process (the restart policy brings it back) |
//! | network-partition | iptables DROP of everything but loopback in its network namespace |
//! | network-latency   | `tc qdisc ... netem delay` in its network namespace (nsenter)  |
//! | packet-loss       | netem `loss`, or an iptables `statistic` DROP where the kernel has no netem |
//! | cpu-stress        | busy loops exec'd inside the container (its cgroup)            |
//! | memory-pressure   | a process inside the container holding `memory_mib` MiB        |
//! | db-down/kafka-down| the dependency container stopped, started again on undo       |
//! | error-injection, connection-drop | faults at the host edge router (progressive delivery) |

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bollard::models::ExecConfig;
use bollard::query_parameters::{StartContainerOptions, StopContainerOptions};
use bollard::Docker;

use super::delay::DelayRelay;
use super::lifecycle::ContainerView;
use super::runtime::{DockerRuntimeOptions, Inner};
use super::{delivery, DockerError, ENV_NAME, MANAGED_LABEL, ROLE_LABEL};
use crate::domain::chaos::{Experiment, ExperimentState, FaultParams, ScenarioKind};
use crate::domain::environment::ActiveFault;
use crate::domain::logs::Level;
use crate::domain::pipeline::{PipelineKind, PipelineRun, StageStatus};
use crate::domain::sanitize::strip_all;
use crate::domain::EpochMillis;
use crate::runtime::{Actor, RuntimeError};
use crate::sandbox::journal::{kill_pid, process_cmdline, ProcessRef};
use crate::sandbox::supervisor::now_ms;

pub const JOURNAL_FILE: &str = "docker-faults.json";
const JOURNAL_FORMAT: u32 = 1;
const MAX_JOURNAL_BYTES: u64 = 4 * 1024 * 1024;
const MAX_CPU_WORKERS: u32 = 16;
const COMMAND_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a burner gets to show up in `/proc` after its exec starts.
const BURNER_START: Duration = Duration::from_secs(5);
const TICK: Duration = Duration::from_millis(500);
const EXPERIMENTS_KEPT: usize = 64;

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

/// One applied fault, as journalled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    pub id: String,
    pub project: String,
    pub scenario: ScenarioKind,
    pub params: FaultParams,
    pub started_at: EpochMillis,
    pub ends_at: EpochMillis,
    /// The blissful-infra process that applied it.
    pub owner: ProcessRef,
    /// Display names of the containers it targets.
    pub targets: Vec<String>,
    pub undo: Vec<UndoStep>,
}

impl FaultRecord {
    pub fn describe(&self) -> String {
        format!(
            "{} on {} ({}, started {})",
            self.scenario,
            self.targets.join(", "),
            self.id,
            chrono::DateTime::from_timestamp_millis(self.started_at)
                .map(|t| t.format("%H:%M:%S").to_string())
                .unwrap_or_else(|| "?".into())
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct JournalFile {
    format: u32,
    faults: Vec<FaultRecord>,
}

fn journal_err(path: &Path, m: impl std::fmt::Display) -> DockerError {
    DockerError::Io {
        context: format!("docker fault journal {}", path.display()),
        source: std::io::Error::other(m.to_string()),
    }
}

fn read_journal(path: &Path) -> Result<Vec<FaultRecord>, DockerError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(journal_err(path, e)),
    };
    if meta.len() > MAX_JOURNAL_BYTES {
        return Err(journal_err(
            path,
            format!("is {} bytes, too large", meta.len()),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| journal_err(path, e))?;
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let j: JournalFile = serde_json::from_str(&text).map_err(|e| journal_err(path, e))?;
    if j.format != JOURNAL_FORMAT {
        return Err(journal_err(
            path,
            format!("format {} is not the supported {JOURNAL_FORMAT}", j.format),
        ));
    }
    Ok(j.faults)
}

fn write_journal(path: &Path, faults: &[FaultRecord]) -> Result<(), DockerError> {
    let dir = path
        .parent()
        .ok_or_else(|| journal_err(path, "no parent"))?;
    let body = serde_json::to_vec_pretty(&JournalFile {
        format: JOURNAL_FORMAT,
        faults: faults.to_vec(),
    })
    .map_err(|e| journal_err(path, e))?;
    let tmp = dir.join(format!(".{JOURNAL_FILE}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        journal_err(path, e)
    })
}

/// Read-modify-write the journal under an exclusive lock, so processes
/// sharing a state directory never lose each other's records.
fn update_journal<T>(
    path: &Path,
    f: impl FnOnce(&mut Vec<FaultRecord>) -> T,
) -> Result<T, DockerError> {
    let dir = path
        .parent()
        .ok_or_else(|| journal_err(path, "no parent"))?;
    std::fs::create_dir_all(dir).map_err(|e| journal_err(path, e))?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!(".{JOURNAL_FILE}.lock")))
        .map_err(|e| journal_err(path, e))?;
    // SAFETY: flock on a file descriptor we own; released when `lock` closes.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(journal_err(path, std::io::Error::last_os_error()));
    }
    let mut faults = read_journal(path)?;
    let before = faults.clone();
    let out = f(&mut faults);
    if faults != before {
        write_journal(path, &faults)?;
    }
    Ok(out)
}

/// Journal records of `project` left by blissful-infra processes that are gone.
pub fn find_leftovers(state_dir: &Path, project: &str) -> Result<Vec<FaultRecord>, DockerError> {
    let me = std::process::id();
    Ok(read_journal(&state_dir.join(JOURNAL_FILE))?
        .into_iter()
        .filter(|r| r.project == project && r.owner.pid != me && !r.owner.is_alive())
        .collect())
}

struct Live {
    experiment: Experiment,
    record: FaultRecord,
    /// The fault is still applied (journalled).
    applied: bool,
    /// The delay relay of a network-latency fault without netem.
    relay: Option<DelayRelay>,
}

/// The chaos state of one runtime (behind a tokio mutex: operations are serialised).
pub struct Chaos {
    path: PathBuf,
    project: String,
    live: HashMap<String, Live>,
    next: u64,
}

impl Chaos {
    pub(crate) fn open(opts: &DockerRuntimeOptions) -> Result<Chaos, DockerError> {
        let path = opts.state.dir.join(JOURNAL_FILE);
        // A corrupt journal is an error now, not a surprise at the first fault.
        read_journal(&path)?;
        Ok(Chaos {
            path,
            project: opts.project.clone(),
            live: HashMap::new(),
            next: 1,
        })
    }

    /// Faults left by a previous blissful-infra of this project that died.
    pub fn leftovers(&self) -> Vec<FaultRecord> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        find_leftovers(dir, &self.project).unwrap_or_default()
    }

    fn active_faults(&self) -> Vec<ActiveFault> {
        let mut v: Vec<ActiveFault> = self
            .live
            .values()
            .filter(|l| l.applied)
            .map(|l| ActiveFault {
                id: l.experiment.id.clone(),
                scenario: l.experiment.scenario.name().to_string(),
                ends_at: l.experiment.ends_at,
            })
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
}

fn validate(scenario: ScenarioKind, p: &FaultParams) -> Result<(), RuntimeError> {
    crate::domain::chaos::check_params(scenario, p, MAX_CPU_WORKERS).map_err(RuntimeError::Refused)
}

/// Service names taken as the database or the broker when no container
/// carries the `dev.blissful-infra.role` label.
fn role_names(role: &str) -> &'static [&'static str] {
    match role {
        "db" => &[
            "db",
            "database",
            "postgres",
            "postgresql",
            "mysql",
            "mariadb",
            "mongo",
            "mongodb",
        ],
        "kafka" => &["kafka", "broker", "redpanda"],
        _ => &[],
    }
}

/// Containers a fault acts on.
fn targets(
    inner: &Inner,
    scenario: ScenarioKind,
    params: &FaultParams,
) -> Result<Vec<ContainerView>, RuntimeError> {
    let all = inner.containers();
    let role = match scenario {
        ScenarioKind::DbDown => Some("db"),
        ScenarioKind::KafkaDown => Some("kafka"),
        _ => None,
    };
    if let Some(role) = role {
        let picked: Vec<ContainerView> = if !params.target.is_empty() {
            all.into_iter()
                .filter(|c| c.service == params.target)
                .collect()
        } else {
            let labelled: Vec<ContainerView> = all
                .iter()
                .filter(|c| c.labels.get(ROLE_LABEL).map(String::as_str) == Some(role))
                .cloned()
                .collect();
            if labelled.is_empty() {
                all.into_iter()
                    .filter(|c| role_names(role).contains(&c.service.as_str()))
                    .collect()
            } else {
                labelled
            }
        };
        let running: Vec<ContainerView> = picked.into_iter().filter(|c| c.running).collect();
        if running.is_empty() {
            return Err(RuntimeError::Refused(format!(
                "no running {role} container (label a service `{ROLE_LABEL}: {role}`, or pass a target)"
            )));
        }
        return Ok(running);
    }
    let service = if params.target.is_empty() {
        inner.opts.config.docker.app_service.clone()
    } else {
        params.target.clone()
    };
    // Prefer the stable (Compose-managed) container; a canary only when asked by name.
    let mut candidates: Vec<ContainerView> = all
        .into_iter()
        .filter(|c| c.running && (c.service == service || c.display == service))
        .collect();
    candidates.sort_by_key(|c| (c.labels.contains_key(MANAGED_LABEL), c.display.clone()));
    candidates
        .into_iter()
        .next()
        .map(|c| vec![c])
        .ok_or_else(|| {
            RuntimeError::Refused(format!("no running container of service `{service}`"))
        })
}

/// The main process of a container as this host sees it.
fn local_pid(c: &ContainerView) -> Result<u32, RuntimeError> {
    let pid = c
        .pid
        .ok_or_else(|| RuntimeError::Refused(format!("{} has no running process", c.display)))?;
    if !Path::new(&format!("/proc/{pid}")).exists() {
        return Err(RuntimeError::Refused(format!(
            "{}: process {pid} is not on this host; this fault needs the Docker Engine to run here",
            c.display
        )));
    }
    Ok(pid)
}

async fn fresh(docker: &Docker, id: &str) -> Result<ContainerView, RuntimeError> {
    super::engine::inspect(docker, id)
        .await
        .map(|i| ContainerView::from_inspect(&i))
        .map_err(|e| RuntimeError::Failed(e.to_string()))
}

/// Run a host command; stderr (sanitised) as the error.
async fn run(program: &str, args: &[String]) -> Result<(), String> {
    let mut c = tokio::process::Command::new(program);
    c.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(COMMAND_TIMEOUT, c.output()).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Err(format!("cannot run {program}: {e}")),
        Err(_) => return Err(format!("{program} did not finish")),
    };
    if out.status.success() {
        Ok(())
    } else {
        let err = strip_all(String::from_utf8_lossy(&out.stderr).trim());
        Err(format!("{program} {}: {err}", args.join(" ")))
    }
}

/// `nsenter -t <pid> -n <program> <args>`.
async fn in_netns(pid: u32, program: &str, args: &[&str]) -> Result<(), String> {
    let mut a = vec![
        "-t".to_string(),
        pid.to_string(),
        "-n".into(),
        program.into(),
    ];
    a.extend(args.iter().map(|s| s.to_string()));
    run("nsenter", &a).await
}

/// Network interfaces of a process's namespace, loopback excluded.
fn interfaces(pid: u32) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/net/dev"))
        .unwrap_or_default()
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':').map(|(n, _)| n.trim().to_string()))
        .filter(|n| n != "lo" && !n.is_empty())
        .collect()
}

fn marker(project: &str, id: &str) -> String {
    format!("blissful-chaos-{project}-{id}-{}", fastrand::u32(..))
}

/// Pids of host processes whose command line contains `marker`.
fn marked_pids(marker: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter(|pid| process_cmdline(*pid).is_some_and(|c| c.iter().any(|a| a.contains(marker))))
        .collect()
}

fn process_group(pid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    after.split_whitespace().nth(2)?.parse().ok()
}

/// Kill the marked processes and their process groups; returns how many
/// groups (one per fault process tree) were found.
fn kill_marked(marker: &str) -> usize {
    let pids = marked_pids(marker);
    let mut groups = std::collections::BTreeSet::new();
    for pid in &pids {
        match process_group(*pid).filter(|g| *g > 1) {
            Some(g) => {
                groups.insert(g);
                // SAFETY: kill(2) on a negative pgid (a process group); no memory involved.
                unsafe {
                    libc::kill(-(g as i32), libc::SIGKILL);
                }
            }
            None => {
                groups.insert(*pid);
            }
        }
        let _ = kill_pid(*pid, libc::SIGKILL);
    }
    groups.len()
}

/// Start a detached shell script inside the container, in its own session,
/// with `marker` in its command line so it can be found (and killed) from the host.
async fn exec_marked(
    docker: &Docker,
    c: &ContainerView,
    script: &str,
    marker: &str,
) -> Result<(), String> {
    let cfg = ExecConfig {
        cmd: Some(vec![
            "setsid".into(),
            "sh".into(),
            "-c".into(),
            script.into(),
            marker.into(),
        ]),
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        ..Default::default()
    };
    let exec = docker.create_exec(&c.id, cfg).await.map_err(|e| {
        format!(
            "exec in {} needs setsid and sh in the image: {}",
            c.display,
            strip_all(&e.to_string())
        )
    })?;
    docker
        .start_exec(
            &exec.id,
            Some(bollard::exec::StartExecOptions {
                detach: true,
                ..Default::default()
            }),
        )
        .await
        .map_err(|e| {
            format!(
                "starting exec in {}: {}",
                c.display,
                strip_all(&e.to_string())
            )
        })?;
    let deadline = tokio::time::Instant::now() + BURNER_START;
    loop {
        if !marked_pids(marker).is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "the process started in {} did not appear (does the image have setsid and sh?)",
                c.display
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Apply one undo step; `Ok(description)` or the reason it failed.
async fn undo_step(docker: Option<&Docker>, step: &UndoStep) -> Result<String, String> {
    match step {
        UndoStep::DeleteQdisc { container_id, dev }
        | UndoStep::DeleteIptablesRule {
            container_id,
            chain: dev,
            ..
        } => {
            let Some(docker) = docker else {
                return Err("the Docker Engine is unreachable".into());
            };
            let c = match fresh(docker, container_id).await {
                Ok(c) => c,
                Err(_) => {
                    return Ok(format!(
                        "container {} is gone (its network namespace with it)",
                        super::engine::short_id(container_id)
                    ))
                }
            };
            let Some(pid) = c.pid.filter(|_| c.running) else {
                return Ok(format!(
                    "{} is not running (its network namespace is gone)",
                    c.display
                ));
            };
            match step {
                UndoStep::DeleteQdisc { .. } => {
                    match in_netns(pid, "tc", &["qdisc", "del", "dev", dev, "root"]).await {
                        Ok(()) => Ok(format!("removed the qdisc of {} on {}", dev, c.display)),
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
        UndoStep::KillMarked { marker } => {
            let n = kill_marked(marker);
            Ok(format!("killed {n} fault process group(s)"))
        }
        UndoStep::StartContainers { ids } => {
            let Some(docker) = docker else {
                return Err("the Docker Engine is unreachable".into());
            };
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
                            super::engine::short_id(id),
                            strip_all(&e.to_string())
                        ))
                    }
                }
            }
            Ok(format!("started {started} container(s) again"))
        }
        UndoStep::ClearRouterFault => Ok("router fault cleared".into()),
    }
}

/// Run every undo step (later ones first); all descriptions, or the failures.
async fn undo_steps(
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

/// Apply a fault whose record (with its undo steps) is already journalled.
async fn apply(
    inner: &Inner,
    docker: &Docker,
    record: &mut FaultRecord,
    targets: &[ContainerView],
    relay: &mut Option<DelayRelay>,
) -> Result<String, String> {
    let p = &record.params.clone();
    let c = &targets[0];
    match record.scenario {
        ScenarioKind::PodKill => {
            let pid = local_pid(c).map_err(|e| e.to_string())?;
            kill_pid(pid, libc::SIGKILL).map_err(|e| format!("killing {pid}: {e}"))?;
            Ok(format!(
                "killed {} (pid {pid}); restart policy: {}",
                c.display, c.restart_policy
            ))
        }
        ScenarioKind::NetworkLatency | ScenarioKind::PacketLoss => {
            let pid = local_pid(c).map_err(|e| e.to_string())?;
            let devs = interfaces(pid);
            if devs.is_empty() {
                return Err(format!("{} has no network interface", c.display));
            }
            let netem: Vec<String> = if record.scenario == ScenarioKind::NetworkLatency {
                vec!["delay".into(), format!("{}ms", p.latency_ms)]
            } else {
                vec!["loss".into(), format!("{:.2}%", p.rate * 100.0)]
            };
            let mut applied = Vec::new();
            for dev in &devs {
                let mut args = vec!["qdisc", "add", "dev", dev.as_str(), "root", "netem"];
                args.extend(netem.iter().map(String::as_str));
                match in_netns(pid, "tc", &args).await {
                    Ok(()) => applied.push(dev.clone()),
                    Err(e)
                        if e.contains("qdisc kind is unknown")
                            && record.scenario == ScenarioKind::PacketLoss =>
                    {
                        // No netem in this kernel: drop inbound packets with iptables instead.
                        let rule = vec![
                            "!".to_string(),
                            "-i".into(),
                            "lo".into(),
                            "-m".into(),
                            "statistic".into(),
                            "--mode".into(),
                            "random".into(),
                            "--probability".into(),
                            format!("{:.4}", p.rate),
                            "-m".into(),
                            "comment".into(),
                            "--comment".into(),
                            record.id.clone(),
                            "-j".into(),
                            "DROP".into(),
                        ];
                        add_iptables(inner, record, c, pid, (None, "INPUT"), rule).await?;
                        return Ok(format!("dropping {:.0}% of inbound packets of {} (iptables; no netem in this kernel)", p.rate * 100.0, c.display));
                    }
                    Err(e) if e.contains("qdisc kind is unknown") => {
                        // No netem in this kernel: delay the container's TCP ports instead.
                        let r = delay_ports(inner, record, c, pid, relay).await?;
                        return Ok(format!(
                            "{}ms latency on {} TCP port(s) {r} (delay relay; no netem in this kernel)",
                            p.latency_ms, c.display
                        ));
                    }
                    Err(e) => return Err(e),
                }
            }
            let what = if record.scenario == ScenarioKind::NetworkLatency {
                format!("{}ms latency", p.latency_ms)
            } else {
                format!("{:.0}% packet loss", p.rate * 100.0)
            };
            Ok(format!("{what} on {} ({})", c.display, applied.join(", ")))
        }
        ScenarioKind::NetworkPartition => {
            let pid = local_pid(c).map_err(|e| e.to_string())?;
            let comment = record.id.clone();
            let input = vec![
                "!".to_string(),
                "-i".into(),
                "lo".into(),
                "-m".into(),
                "comment".into(),
                "--comment".into(),
                comment.clone(),
                "-j".into(),
                "DROP".into(),
            ];
            let output = vec![
                "!".to_string(),
                "-o".into(),
                "lo".into(),
                "-m".into(),
                "comment".into(),
                "--comment".into(),
                comment,
                "-j".into(),
                "DROP".into(),
            ];
            add_iptables(inner, record, c, pid, (None, "INPUT"), input).await?;
            add_iptables(inner, record, c, pid, (None, "OUTPUT"), output).await?;
            Ok(format!(
                "{} cut off its networks (all traffic but loopback dropped)",
                c.display
            ))
        }
        ScenarioKind::CpuStress => {
            let marker = marker_of(record)?;
            let script = format!(
                "i=0; while [ $i -lt {} ]; do (while :; do :; done) & i=$((i+1)); done; wait",
                p.cpu_workers
            );
            exec_marked(docker, c, &script, &marker).await?;
            Ok(format!("{} busy loop(s) in {}", p.cpu_workers, c.display))
        }
        ScenarioKind::MemoryPressure => {
            let marker = marker_of(record)?;
            // dd fills one block of the requested size and blocks writing it
            // into a pipe nobody reads: the memory stays held until killed.
            let script = format!(
                "dd if=/dev/zero bs={}M count=1 2>/dev/null | sleep 2147483647",
                p.memory_mib
            );
            exec_marked(docker, c, &script, &marker).await?;
            Ok(format!("holding {} MiB in {}", p.memory_mib, c.display))
        }
        ScenarioKind::DbDown | ScenarioKind::KafkaDown => {
            let mut names = Vec::new();
            for t in targets {
                docker
                    .stop_container(
                        &t.id,
                        Some(StopContainerOptions {
                            t: Some(2),
                            signal: None,
                        }),
                    )
                    .await
                    .map_err(|e| {
                        format!("stopping {}: {}", t.display, strip_all(&e.to_string()))
                    })?;
                names.push(t.display.clone());
            }
            Ok(format!("stopped {}", names.join(", ")))
        }
        ScenarioKind::ErrorInjection | ScenarioKind::ConnectionDrop => {
            delivery::set_router_fault(inner, record.scenario, p)?;
            Ok(match record.scenario {
                ScenarioKind::ErrorInjection => {
                    format!("router answers {:.0}% of requests with 503", p.rate * 100.0)
                }
                _ => format!("router drops {:.0}% of connections", p.rate * 100.0),
            })
        }
    }
}

fn marker_of(record: &FaultRecord) -> Result<String, String> {
    record
        .undo
        .iter()
        .find_map(|s| match s {
            UndoStep::KillMarked { marker } => Some(marker.clone()),
            _ => None,
        })
        .ok_or_else(|| "internal: the fault has no process marker".to_string())
}

/// Add an iptables rule, journalling its removal first.
async fn add_iptables(
    inner: &Inner,
    record: &mut FaultRecord,
    c: &ContainerView,
    pid: u32,
    (table, chain): (Option<&str>, &str),
    rule: Vec<String>,
) -> Result<(), String> {
    record.undo.push(UndoStep::DeleteIptablesRule {
        container_id: c.id.clone(),
        table: table.map(str::to_string),
        chain: chain.into(),
        rule: rule.clone(),
    });
    let path = inner.chaos_path();
    let rec = record.clone();
    update_journal(&path, |j| {
        if let Some(r) = j.iter_mut().find(|r| r.id == rec.id) {
            *r = rec;
        }
    })
    .map_err(|e| e.to_string())?;
    let mut args = vec!["-w"];
    if let Some(t) = table {
        args.extend(["-t", t]);
    }
    args.extend(["-I", chain]);
    args.extend(rule.iter().map(String::as_str));
    in_netns(pid, "iptables", &args).await
}

/// Send new connections to the container's TCP ports through a delay relay
/// (journalling each REDIRECT rule before it is added).
async fn delay_ports(
    inner: &Inner,
    record: &mut FaultRecord,
    c: &ContainerView,
    pid: u32,
    relay: &mut Option<DelayRelay>,
) -> Result<String, String> {
    let mut ports: Vec<u16> = c
        .published
        .iter()
        .filter(|(_, proto, _, _)| proto == "tcp")
        .map(|(p, _, _, _)| *p)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    if ports.is_empty() {
        return Err(format!(
            "{} publishes no TCP port to delay, and this kernel has no netem qdisc",
            c.display
        ));
    }
    let latency = Duration::from_millis(record.params.latency_ms);
    let r = super::delay::start(pid, &ports, latency).await?;
    let pairs = r.ports.clone();
    *relay = Some(r);
    for (svc, via) in &pairs {
        let rule = vec![
            "-p".to_string(),
            "tcp".into(),
            "--dport".into(),
            svc.to_string(),
            "-m".into(),
            "comment".into(),
            "--comment".into(),
            record.id.clone(),
            "-j".into(),
            "REDIRECT".into(),
            "--to-ports".into(),
            via.to_string(),
        ];
        add_iptables(inner, record, c, pid, (Some("nat"), "PREROUTING"), rule).await?;
    }
    Ok(pairs
        .iter()
        .map(|(p, _)| p.to_string())
        .collect::<Vec<_>>()
        .join(", "))
}

/// Undo steps known before the fault is applied.
fn planned_undo(scenario: ScenarioKind, targets: &[ContainerView], marker: &str) -> Vec<UndoStep> {
    let c = &targets[0];
    match scenario {
        ScenarioKind::PodKill | ScenarioKind::NetworkPartition => Vec::new(),
        ScenarioKind::NetworkLatency | ScenarioKind::PacketLoss => c
            .pid
            .map(interfaces)
            .unwrap_or_default()
            .into_iter()
            .map(|dev| UndoStep::DeleteQdisc {
                container_id: c.id.clone(),
                dev,
            })
            .collect(),
        ScenarioKind::CpuStress | ScenarioKind::MemoryPressure => vec![UndoStep::KillMarked {
            marker: marker.to_string(),
        }],
        ScenarioKind::DbDown | ScenarioKind::KafkaDown => vec![UndoStep::StartContainers {
            ids: targets.iter().map(|t| t.id.clone()).collect(),
        }],
        ScenarioKind::ErrorInjection | ScenarioKind::ConnectionDrop => {
            vec![UndoStep::ClearRouterFault]
        }
    }
}

impl Inner {
    pub(crate) fn chaos_path(&self) -> PathBuf {
        self.opts.state.dir.join(JOURNAL_FILE)
    }
}

fn chaos_run(inner: &Inner, title: &str, stages: &[(&str, Result<String, String>)]) {
    let now = now_ms();
    let names: Vec<&str> = stages.iter().map(|(n, _)| *n).collect();
    let mut run = PipelineRun::new(
        inner.next_id(),
        PipelineKind::Chaos,
        ENV_NAME,
        title,
        &names,
        now,
    );
    let mut ok = true;
    for (i, (_, r)) in stages.iter().enumerate() {
        match r {
            Ok(d) => run.finish_stage(i, StageStatus::Succeeded, d.clone(), now),
            Err(e) => {
                ok = false;
                run.finish_stage(i, StageStatus::Failed(e.clone()), e.clone(), now)
            }
        }
    }
    run.finish(
        if ok {
            StageStatus::Succeeded
        } else {
            StageStatus::Failed("see stages".into())
        },
        now,
    );
    inner.upsert_pipeline(run);
}

/// Start a chaos experiment (journalled before the fault is applied).
pub(crate) async fn inject(
    inner: &Arc<Inner>,
    _actor: &Actor,
    scenario: ScenarioKind,
    params: FaultParams,
) -> Result<Experiment, RuntimeError> {
    try_inject(inner, scenario, params).await
}

async fn try_inject(
    inner: &Arc<Inner>,
    scenario: ScenarioKind,
    params: FaultParams,
) -> Result<Experiment, RuntimeError> {
    validate(scenario, &params)?;
    let docker = inner.docker()?;
    let targets = targets(inner, scenario, &params)?;
    let mut chaos = inner.chaos.lock().await;
    let target_ids: Vec<&str> = targets.iter().map(|t| t.id.as_str()).collect();
    if let Some(l) = chaos.live.values().find(|l| {
        l.applied
            && l.experiment.scenario == scenario
            && l.record.undo.iter().any(|s| match s {
                UndoStep::DeleteQdisc { container_id, .. }
                | UndoStep::DeleteIptablesRule { container_id, .. } => {
                    target_ids.contains(&container_id.as_str())
                }
                UndoStep::StartContainers { ids } => {
                    ids.iter().any(|i| target_ids.contains(&i.as_str()))
                }
                _ => true,
            })
    }) {
        return Err(RuntimeError::Refused(format!(
            "{scenario} is already running ({})",
            l.experiment.id
        )));
    }
    let id = format!("{}-{}-{}", scenario.name(), chaos.next, fastrand::u16(..));
    chaos.next += 1;
    let now = now_ms();
    let mk = marker(&inner.opts.project, &id);
    let mut record = FaultRecord {
        id: id.clone(),
        project: inner.opts.project.clone(),
        scenario,
        params: params.clone(),
        started_at: now,
        ends_at: now + (params.duration_secs as i64) * 1000,
        owner: ProcessRef::current(),
        targets: targets.iter().map(|t| t.display.clone()).collect(),
        undo: planned_undo(scenario, &targets, &mk),
    };
    // Journal first: a crash after applying must leave a trace.
    let rec = record.clone();
    update_journal(&chaos.path, |j| j.push(rec))
        .map_err(|e| RuntimeError::Failed(format!("fault not applied: {e}")))?;
    let mut relay = None;
    let applied = apply(inner, &docker, &mut record, &targets, &mut relay).await;
    refresh_targets(inner, &record).await;
    let what = match applied {
        Ok(w) => w,
        Err(e) => {
            let cleanup = undo_steps(Some(&docker), &record.undo).await;
            let rid = record.id.clone();
            let _ = update_journal(&chaos.path, |j| j.retain(|r| r.id != rid));
            let note = match cleanup {
                Ok(_) => String::new(),
                Err(f) => format!(" (cleanup failed: {})", f.join("; ")),
            };
            inner.log(Level::Error, format!("chaos {id}: {e}{note}"));
            return Err(RuntimeError::Failed(format!("{scenario}: {e}{note}")));
        }
    };
    let mut experiment = Experiment::new(id.clone(), ENV_NAME, scenario, params.clone(), now);
    let mut live_applied = true;
    if scenario == ScenarioKind::PodKill {
        // The kill is instant; what follows is recovery.
        experiment.fault_removed(now_ms());
        let rid = record.id.clone();
        let _ = update_journal(&chaos.path, |j| j.retain(|r| r.id != rid));
        live_applied = false;
    }
    inner.log(Level::Warn, format!("chaos {id}: {what}"));
    chaos_run(
        inner,
        &format!("chaos {scenario} on {}", record.targets.join(", ")),
        &[("inject", Ok(what))],
    );
    chaos.live.insert(
        id.clone(),
        Live {
            experiment: experiment.clone(),
            record,
            applied: live_applied,
            relay,
        },
    );
    prune(&mut chaos);
    inner.set_faults(chaos.active_faults());
    inner.upsert_experiment(experiment.clone());
    Ok(experiment)
}

fn prune(chaos: &mut Chaos) {
    if chaos.live.len() <= EXPERIMENTS_KEPT {
        return;
    }
    let mut done: Vec<(EpochMillis, String)> = chaos
        .live
        .iter()
        .filter(|(_, l)| {
            matches!(
                l.experiment.state,
                ExperimentState::Completed | ExperimentState::Aborted
            )
        })
        .map(|(k, l)| (l.experiment.started_at, k.clone()))
        .collect();
    done.sort();
    let excess = chaos.live.len() - EXPERIMENTS_KEPT;
    for (_, k) in done.into_iter().take(excess) {
        chaos.live.remove(&k);
    }
}

/// Remove one live fault now (the experiment goes on observing recovery).
async fn remove_fault(
    inner: &Arc<Inner>,
    chaos: &mut Chaos,
    id: &str,
) -> Result<Vec<String>, String> {
    let Some(l) = chaos.live.get(id) else {
        return Err(format!("no experiment {id}"));
    };
    if !l.applied {
        return Ok(Vec::new());
    }
    let record = l.record.clone();
    if record.scenario == ScenarioKind::ErrorInjection
        || record.scenario == ScenarioKind::ConnectionDrop
    {
        delivery::clear_router_fault(inner);
    }
    let docker = inner.docker().ok();
    let r = undo_steps(docker.as_ref(), &record.undo).await;
    refresh_targets(inner, &record).await;
    match r {
        Ok(done) => {
            let _ = update_journal(&chaos.path, |j| j.retain(|x| x.id != record.id));
            if let Some(l) = chaos.live.get_mut(id) {
                l.applied = false;
                l.relay = None;
                l.experiment.fault_removed(now_ms());
                let e = l.experiment.clone();
                inner.upsert_experiment(e);
            }
            inner.log(
                Level::Info,
                format!("chaos {id}: fault removed ({})", done.join("; ")),
            );
            inner.set_faults(chaos.active_faults());
            Ok(done)
        }
        Err(failed) => {
            let text = format!(
                "chaos {id}: could not remove the fault: {}",
                failed.join("; ")
            );
            inner.log(Level::Error, &text);
            Err(text)
        }
    }
}

/// Read the targets of a fault again at once, so `status` shows its effect
/// (or its end) without waiting for the engine's events.
async fn refresh_targets(inner: &Arc<Inner>, record: &FaultRecord) {
    let Ok(docker) = inner.docker() else { return };
    let mut ids: Vec<String> = inner
        .containers()
        .into_iter()
        .filter(|c| record.targets.contains(&c.display))
        .map(|c| c.id)
        .collect();
    for s in &record.undo {
        if let UndoStep::StartContainers { ids: started } = s {
            ids.extend(started.iter().cloned());
        }
    }
    ids.sort();
    ids.dedup();
    for id in ids {
        super::runtime::refresh_container(inner, &docker, &id).await;
    }
}

/// End a fault early: a live one of this runtime, or a leftover of a dead one.
pub(crate) async fn undo(inner: &Arc<Inner>, _actor: &Actor, id: &str) -> Result<(), RuntimeError> {
    {
        let mut chaos = inner.chaos.lock().await;
        if chaos.live.contains_key(id) {
            remove_fault(inner, &mut chaos, id)
                .await
                .map(|_| ())
                .map_err(RuntimeError::Failed)
        } else {
            let left = chaos.leftovers();
            match left.into_iter().find(|r| r.id == id) {
                Some(rec) => undo_leftover(inner, &chaos.path, &rec)
                    .await
                    .map(|_| ())
                    .map_err(RuntimeError::Failed),
                None => Err(RuntimeError::NotFound(format!("experiment {id}"))),
            }
        }
    }
}

async fn undo_leftover(
    inner: &Arc<Inner>,
    path: &Path,
    rec: &FaultRecord,
) -> Result<String, String> {
    let docker = inner.docker().ok();
    let r = undo_steps(docker.as_ref(), &rec.undo).await;
    refresh_targets(inner, rec).await;
    match r {
        Ok(done) => {
            let id = rec.id.clone();
            update_journal(path, |j| j.retain(|r| r.id != id)).map_err(|e| e.to_string())?;
            let what = if done.is_empty() {
                "nothing left to undo".to_string()
            } else {
                done.join("; ")
            };
            let line = format!("leftover {}: {what}", rec.describe());
            inner.log(Level::Warn, &line);
            // Consoles listed it as still applied: say it is gone.
            let mut gone = leftover_experiment(rec);
            gone.state = ExperimentState::Aborted;
            gone.ends_at = crate::sandbox::supervisor::now_ms();
            inner.emit(crate::runtime::RuntimeEvent::Experiment { experiment: gone });
            chaos_run(
                inner,
                &format!(
                    "undo leftover {} on {}",
                    rec.scenario,
                    rec.targets.join(", ")
                ),
                &[("undo", Ok(what))],
            );
            Ok(line)
        }
        Err(failed) => {
            let text = format!(
                "leftover {}: could not undo: {}",
                rec.describe(),
                failed.join("; ")
            );
            inner.log(Level::Error, &text);
            Err(text)
        }
    }
}

/// A leftover fault as consoles show it: an experiment still running, so
/// that `u` (undo every fault still applied) removes it too.
pub(crate) fn leftover_experiment(rec: &FaultRecord) -> Experiment {
    let mut x = Experiment::new(
        rec.id.clone(),
        super::ENV_NAME,
        rec.scenario,
        rec.params.clone(),
        rec.started_at,
    );
    x.ends_at = rec.ends_at;
    x.state = ExperimentState::Running;
    x
}

/// Undo every leftover fault of this project (one key / one call).
pub(crate) async fn undo_leftovers(
    inner: &Arc<Inner>,
    _actor: &Actor,
) -> Result<Vec<String>, RuntimeError> {
    let chaos = inner.chaos.lock().await;
    let left = chaos.leftovers();
    let mut lines = Vec::new();
    let mut failed = Vec::new();
    for rec in &left {
        match undo_leftover(inner, &chaos.path, rec).await {
            Ok(l) => lines.push(l),
            Err(e) => failed.push(e),
        }
    }
    if failed.is_empty() {
        Ok(lines)
    } else {
        Err(RuntimeError::Failed(failed.join("; ")))
    }
}

/// Remove every fault this runtime still applies (Ctrl-C, shutdown).
pub(crate) async fn undo_all(inner: &Arc<Inner>, _actor: &Actor) -> Vec<String> {
    let mut chaos = inner.chaos.lock().await;
    let ids: Vec<String> = chaos
        .live
        .iter()
        .filter(|(_, l)| l.applied)
        .map(|(k, _)| k.clone())
        .collect();
    let mut lines = Vec::new();
    for id in ids {
        let line = match remove_fault(inner, &mut chaos, &id).await {
            Ok(done) => format!("{id}: {}", done.join("; ")),
            Err(e) => e,
        };
        lines.push(line);
    }
    lines
}

/// What the experiments observe each tick: worst error rate and p99 at the
/// router (when it carries traffic) and whether a target is not ready.
fn observe(inner: &Inner, chaos: &mut Chaos) {
    let (error_rate, p99, errors) = delivery::observation(inner);
    let containers = inner.containers();
    let slo = inner.opts.config.chaos.slo.clone();
    let now = now_ms();
    for l in chaos.live.values_mut() {
        if matches!(
            l.experiment.state,
            ExperimentState::Completed | ExperimentState::Aborted
        ) {
            continue;
        }
        let short = l
            .record
            .targets
            .iter()
            .any(|t| !containers.iter().any(|c| c.display == *t && c.is_ready()))
            || (l.experiment.scenario == ScenarioKind::NetworkPartition && l.applied);
        let before = l.experiment.clone();
        l.experiment
            .observe(now, error_rate, p99, errors, short, &slo);
        if l.experiment != before {
            inner.upsert_experiment(l.experiment.clone());
        }
    }
}

/// Ends faults at their time and feeds the experiments once a second.
pub(crate) async fn run_expiry(inner: Arc<Inner>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        n += 1;
        let mut chaos = inner.chaos.lock().await;
        let now = now_ms();
        let due: Vec<String> = chaos
            .live
            .iter()
            .filter(|(_, l)| l.applied && now >= l.experiment.ends_at)
            .map(|(k, _)| k.clone())
            .collect();
        for id in due {
            let _ = remove_fault(&inner, &mut chaos, &id).await;
        }
        if n % 2 == 0 {
            observe(&inner, &mut chaos);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, project: &str, owner: ProcessRef) -> FaultRecord {
        FaultRecord {
            id: id.into(),
            project: project.into(),
            scenario: ScenarioKind::CpuStress,
            params: FaultParams::default(),
            started_at: 1,
            ends_at: 2,
            owner,
            targets: vec!["app-1".into()],
            undo: vec![UndoStep::KillMarked { marker: "m".into() }],
        }
    }

    fn dead() -> ProcessRef {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        ProcessRef {
            pid,
            start_time: None,
            cmdline: vec![],
        }
    }

    #[test]
    fn journal_updates_keep_other_records_and_find_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let mut other = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        update_journal(&path, |j| {
            j.push(rec("a", "p1", dead()));
            j.push(rec("b", "p2", dead()));
            j.push(rec("c", "p1", ProcessRef::of_pid(other.id())));
            j.push(rec("d", "p1", ProcessRef::current()));
        })
        .unwrap();
        let left = find_leftovers(dir.path(), "p1").unwrap();
        let ids: Vec<&str> = left.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, vec!["a"], "only dead owners of this project");
        update_journal(&path, |j| j.retain(|r| r.id != "a")).unwrap();
        assert_eq!(read_journal(&path).unwrap().len(), 3);
        assert!(find_leftovers(dir.path(), "p1").unwrap().is_empty());
        other.kill().unwrap();
        other.wait().unwrap();
        let s = serde_json::to_string(&rec("x", "p", dead())).unwrap();
        assert!(s.contains("\"kind\":\"kill_marked\""), "{s}");
    }

    #[test]
    fn corrupt_journal_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        std::fs::write(&path, "{nope").unwrap();
        assert!(read_journal(&path).is_err());
        assert!(
            update_journal(&path, |j| j.clear()).is_err(),
            "never overwritten blindly"
        );
    }

    #[test]
    fn marked_processes_are_found_and_killed_with_their_group() {
        let m = format!("blissful-chaos-test-{}", fastrand::u64(..));
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30; wait", &m])
            .process_group(0)
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while marked_pids(&m).is_empty() {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(kill_marked(&m), 1);
        let status = child.wait().unwrap();
        assert!(!status.success());
        assert!(marked_pids(&m).is_empty());
    }

    #[test]
    fn params_are_checked() {
        let ok = FaultParams::default();
        for s in ScenarioKind::every() {
            assert!(validate(s, &ok).is_ok(), "{s}");
        }
        let big = FaultParams {
            memory_mib: 0,
            ..ok.clone()
        };
        assert!(validate(ScenarioKind::MemoryPressure, &big).is_err());
        let zero = FaultParams {
            rate: 0.0,
            ..ok.clone()
        };
        assert!(validate(ScenarioKind::PacketLoss, &zero).is_err());
        let forever = FaultParams {
            duration_secs: 0,
            ..ok
        };
        assert!(validate(ScenarioKind::DbDown, &forever).is_err());
        assert!(validate(ScenarioKind::PodKill, &forever).is_ok());
    }
}
