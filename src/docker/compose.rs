//! The Compose tool: discovery (the `docker compose` plugin or the standalone
//! `docker-compose`), the commands blissful-infra runs, and the part of the
//! normalised model (`compose config`) it needs: services, published ports, labels.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::DockerError;
use crate::domain::sanitize::sanitize_bytes;

/// Most output of a failed command kept in the error.
const MAX_ERROR_OUTPUT: usize = 4096;
/// `up` pulls nothing here, but creating many containers can take a while.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);
/// Ranges like `8000-8100:8000-8100` are expanded up to this many ports.
const MAX_RANGE: u32 = 1024;

/// A Compose project: its directory, file and project name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComposeProject {
    pub dir: PathBuf,
    pub file: PathBuf,
    pub name: String,
    /// Passed to Compose as `VERSION` (generated compose files tag built
    /// images `<image>:${VERSION:-local}`): the project's git short SHA.
    pub version: Option<String>,
}

impl ComposeProject {
    pub fn new(dir: PathBuf, file: PathBuf, name: String) -> Self {
        ComposeProject {
            dir,
            file,
            name,
            version: None,
        }
    }

    /// The same project, building and running images tagged `version`.
    pub fn with_version(mut self, version: Option<String>) -> Self {
        self.version = version;
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `docker compose` (Compose v2, a CLI plugin).
    Plugin,
    /// `docker-compose` (standalone, v1 or v2).
    Standalone,
}

#[derive(Clone, Debug)]
pub struct ComposeTool {
    program: PathBuf,
    prefix: Vec<String>,
    pub flavor: Flavor,
    /// e.g. `docker-compose 1.29.2`.
    pub label: String,
    path_env: Option<OsString>,
}

/// An executable named `name` in the directories of `path`.
fn which(name: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = path?;
    std::env::split_paths(path)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Keep the tail of a command's output, sanitised, for an error message.
fn output_tail(stdout: &[u8], stderr: &[u8]) -> String {
    let mut all = Vec::with_capacity(stdout.len() + stderr.len() + 1);
    all.extend_from_slice(stderr);
    if !stdout.is_empty() && !stderr.is_empty() {
        all.push(b'\n');
    }
    all.extend_from_slice(stdout);
    let start = all.len().saturating_sub(MAX_ERROR_OUTPUT);
    let text = sanitize_bytes(&all[start..]);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines.join("\n")
}

impl ComposeTool {
    /// Find the Compose tool on `$PATH`: the plugin first, then `docker-compose`.
    pub async fn discover() -> Result<ComposeTool, DockerError> {
        Self::discover_in(std::env::var_os("PATH")).await
    }

    /// Like `discover`, searching the given `PATH` value (tests use this).
    pub async fn discover_in(path: Option<OsString>) -> Result<ComposeTool, DockerError> {
        let mut notes = Vec::new();
        match which("docker", path.as_deref()) {
            Some(docker) => {
                let args = ["compose", "version", "--short"];
                match probe_version(&docker, &args, path.as_deref()).await {
                    Ok(v) => {
                        return Ok(ComposeTool {
                            program: docker,
                            prefix: vec!["compose".into()],
                            flavor: Flavor::Plugin,
                            label: format!("docker compose {v}"),
                            path_env: path,
                        })
                    }
                    Err(e) => notes.push(format!("`docker compose` is not available ({e})")),
                }
            }
            None => notes.push("`docker` is not on PATH".into()),
        }
        match which("docker-compose", path.as_deref()) {
            Some(dc) => match probe_version(&dc, &["version", "--short"], path.as_deref()).await {
                Ok(v) => {
                    return Ok(ComposeTool {
                        program: dc,
                        prefix: Vec::new(),
                        flavor: Flavor::Standalone,
                        label: format!("docker-compose {v}"),
                        path_env: path,
                    })
                }
                Err(e) => notes.push(format!("`docker-compose` does not run ({e})")),
            },
            None => notes.push("`docker-compose` is not on PATH".into()),
        }
        Err(DockerError::NoCompose {
            detail: notes.join("; "),
        })
    }

    /// `<tool> -p <project> -f <file> <args>` in the project directory.
    fn command(&self, project: &ComposeProject, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.program);
        c.args(&self.prefix)
            .arg("-p")
            .arg(&project.name)
            .arg("-f")
            .arg(&project.file)
            .args(args)
            .current_dir(&project.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(p) = &self.path_env {
            c.env("PATH", p);
        }
        if let Some(v) = &project.version {
            c.env("VERSION", v);
        }
        c
    }

    fn describe(&self, project: &ComposeProject, args: &[&str]) -> String {
        let base = match self.flavor {
            Flavor::Plugin => "docker compose",
            Flavor::Standalone => "docker-compose",
        };
        format!("{base} -p {} {}", project.name, args.join(" "))
    }

    /// Run a compose command; its stdout on success.
    async fn run(&self, project: &ComposeProject, args: &[&str]) -> Result<Vec<u8>, DockerError> {
        let what = self.describe(project, args);
        let child = self
            .command(project, args)
            .spawn()
            .map_err(|e| DockerError::io(format!("cannot run `{what}`"), e))?;
        let out = match tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output()).await {
            Ok(r) => r.map_err(|e| DockerError::io(format!("waiting for `{what}`"), e))?,
            Err(_) => {
                return Err(DockerError::Command {
                    command: what,
                    status: format!("no result after {}s", COMMAND_TIMEOUT.as_secs()),
                    output: String::new(),
                })
            }
        };
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(DockerError::Command {
                command: what,
                status: out.status.to_string(),
                output: output_tail(&out.stdout, &out.stderr),
            })
        }
    }

    /// `up -d`: create and start every service in the background.
    pub async fn up(&self, project: &ComposeProject) -> Result<(), DockerError> {
        self.check_file(project)?;
        self.run(project, &["up", "-d"]).await.map(|_| ())
    }

    /// `build` of the services that have a `build:` section.
    pub async fn build(&self, project: &ComposeProject) -> Result<(), DockerError> {
        self.check_file(project)?;
        self.run(project, &["build"]).await.map(|_| ())
    }

    /// `down --remove-orphans` (and `--volumes`).
    pub async fn down(&self, project: &ComposeProject, volumes: bool) -> Result<(), DockerError> {
        let mut args = vec!["down", "--remove-orphans"];
        if volumes {
            args.push("--volumes");
        }
        self.run(project, &args).await.map(|_| ())
    }

    /// The normalised model (`config`), with variables substituted.
    pub async fn config(&self, project: &ComposeProject) -> Result<ComposeModel, DockerError> {
        self.check_file(project)?;
        let out = self.run(project, &["config"]).await?;
        let text = String::from_utf8_lossy(&out);
        ComposeModel::parse(&text).map_err(|message| DockerError::ComposeFile {
            path: project.file.clone(),
            message,
        })
    }

    fn check_file(&self, project: &ComposeProject) -> Result<(), DockerError> {
        if project.file.is_file() {
            Ok(())
        } else {
            Err(DockerError::ComposeFile {
                path: project.file.clone(),
                message: "does not exist".into(),
            })
        }
    }
}

async fn probe_version(
    program: &Path,
    args: &[&str],
    path: Option<&OsStr>,
) -> Result<String, String> {
    let mut c = tokio::process::Command::new(program);
    c.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(p) = path {
        c.env("PATH", p);
    }
    let out = match tokio::time::timeout(PROBE_TIMEOUT, c.output()).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err("no answer".into()),
    };
    if out.status.success() {
        let v = sanitize_bytes(&out.stdout);
        Ok(v.trim().trim_start_matches('v').to_string())
    } else {
        let tail = output_tail(&out.stdout, &out.stderr);
        Err(tail.lines().next().unwrap_or("failed").to_string())
    }
}

// ---------------------------------------------------------------------------
// The normalised model

/// What blissful-infra needs from a project's services.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ComposeModel {
    pub services: BTreeMap<String, ServiceModel>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceModel {
    pub image: Option<String>,
    /// The service has a `build:` section (its image is built locally).
    pub builds: bool,
    pub labels: BTreeMap<String, String>,
    pub ports: Vec<PortSpec>,
    pub container_name: Option<String>,
}

/// One published port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSpec {
    /// Host address (empty: every interface).
    pub host_ip: String,
    /// Host port; `None` lets the engine pick one.
    pub published: Option<u16>,
    pub target: u16,
    pub protocol: String,
}

#[derive(Deserialize)]
struct RawModel {
    #[serde(default)]
    services: BTreeMap<String, RawService>,
}

#[derive(Deserialize)]
struct RawService {
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    build: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    labels: Option<RawLabels>,
    #[serde(default)]
    ports: Vec<RawPort>,
    #[serde(default)]
    container_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawLabels {
    Map(BTreeMap<String, Scalar>),
    List(Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::Str(s) => s.clone(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawPort {
    Short(Scalar),
    Long {
        target: u16,
        #[serde(default)]
        published: Option<Scalar>,
        #[serde(default)]
        host_ip: Option<String>,
        #[serde(default)]
        protocol: Option<String>,
    },
}

impl ComposeModel {
    /// Parse `compose config` output (either Compose version).
    pub fn parse(yaml: &str) -> Result<ComposeModel, String> {
        let raw: RawModel = serde_saphyr::from_str(yaml).map_err(|e| e.to_string())?;
        let mut services = BTreeMap::new();
        for (name, s) in raw.services {
            let labels = match s.labels {
                None => BTreeMap::new(),
                Some(RawLabels::Map(m)) => m.into_iter().map(|(k, v)| (k, v.text())).collect(),
                Some(RawLabels::List(l)) => l
                    .into_iter()
                    .map(|kv| match kv.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (kv, String::new()),
                    })
                    .collect(),
            };
            let mut ports = Vec::new();
            for p in s.ports {
                match p {
                    RawPort::Short(s) => ports.extend(
                        parse_short_port(&s.text())
                            .map_err(|e| format!("service {name}: ports: {e}"))?,
                    ),
                    RawPort::Long {
                        target,
                        published,
                        host_ip,
                        protocol,
                    } => {
                        let published = match published.map(|p| p.text()) {
                            None => None,
                            Some(p) if p.is_empty() => None,
                            Some(p) => Some(p.parse::<u16>().map_err(|_| {
                                format!("service {name}: published port {p:?} is not a port")
                            })?),
                        };
                        ports.push(PortSpec {
                            host_ip: host_ip.unwrap_or_default(),
                            published: published.filter(|p| *p != 0),
                            target,
                            protocol: protocol.unwrap_or_else(|| "tcp".into()),
                        });
                    }
                }
            }
            services.insert(
                name,
                ServiceModel {
                    image: s.image,
                    builds: s.build.is_some(),
                    labels,
                    ports,
                    container_name: s.container_name,
                },
            );
        }
        Ok(ComposeModel { services })
    }
}

fn parse_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a.parse().map_err(|_| format!("{s:?} is not a port"))?;
    let b: u16 = b.parse().map_err(|_| format!("{s:?} is not a port"))?;
    if b < a || u32::from(b - a) >= MAX_RANGE {
        return Err(format!("port range {s:?} is reversed or too long"));
    }
    Ok((a, b))
}

/// `[[ip:]published:]target[/proto]`, each port possibly a range.
pub fn parse_short_port(spec: &str) -> Result<Vec<PortSpec>, String> {
    let (body, protocol) = match spec.rsplit_once('/') {
        Some((b, p)) => (b, p.to_string()),
        None => (spec, "tcp".to_string()),
    };
    // An IPv6 host address is bracketed: `[::1]:8080:80`.
    let (host_ip, rest) = if let Some(r) = body.strip_prefix('[') {
        let (ip, rest) = r
            .split_once("]:")
            .ok_or_else(|| format!("{spec:?}: unclosed IPv6 address"))?;
        (ip.to_string(), rest)
    } else {
        let parts: Vec<&str> = body.split(':').collect();
        match parts.len() {
            1 | 2 => (String::new(), body),
            3 => (parts[0].to_string(), &body[parts[0].len() + 1..]),
            _ => return Err(format!("{spec:?} is not a port mapping")),
        }
    };
    let (published, target) = match rest.split_once(':') {
        Some((p, t)) => (p, t),
        None => ("", rest),
    };
    let (t0, t1) = parse_range(target)?;
    let host = if published.is_empty() {
        None
    } else {
        Some(parse_range(published)?)
    };
    if let Some((h0, h1)) = host {
        if t1 > t0 && h1 - h0 != t1 - t0 {
            return Err(format!("{spec:?}: ranges differ in length"));
        }
    }
    let mut out = Vec::new();
    for (i, t) in (t0..=t1).enumerate() {
        let published = match host {
            None => None,
            Some((h0, h1)) if h0 == h1 => Some(h0),
            // `8000-8010:80`: the engine picks one port of the range.
            Some(_) if t0 == t1 => None,
            Some((h0, _)) => Some(h0 + i as u16),
        };
        out.push(PortSpec {
            host_ip: host_ip.clone(),
            published: published.filter(|p| *p != 0),
            target: t,
            protocol: protocol.clone(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
