//! Connecting to a Kubernetes API server with the `kube` crate, and the
//! errors of talking to one, in plain words that say what to do next.
//!
//! Two ways in: an explicit API server URL (no authentication; what the
//! tests use against their fake), or the kubeconfig found the usual way
//! (`KUBECONFIG`, `~/.kube/config`, else the in-cluster service account),
//! with an optional context name.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// Where to find the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An API server URL such as `http://127.0.0.1:6443`, without auth.
    Url(String),
    /// The kubeconfig found the usual way; `None`: its current context.
    Kubeconfig { context: Option<String> },
}

/// A client and the server it talks to (for messages).
#[derive(Clone)]
pub struct Connection {
    pub client: Client,
    pub server: String,
}

/// What was being asked of the server, to explain a refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub verb: &'a str,
    pub resource: &'a str,
    pub group: &'a str,
    pub namespace: &'a str,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum KubeError {
    #[error("no kubeconfig found (looked in {looked}) and not running inside a cluster: set KUBECONFIG or create ~/.kube/config")]
    NoKubeconfig { looked: String },
    #[error("unknown kubeconfig context \"{wanted}\": known contexts are {known}")]
    UnknownContext { wanted: String, known: String },
    #[error("cannot use the kubeconfig: {0}")]
    BadKubeconfig(String),
    #[error("invalid API server URL \"{url}\": {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot create a Kubernetes client: {0}")]
    Client(String),
    #[error("API server {server} unreachable ({reason}): check that the cluster is running and the kubeconfig points at it")]
    Unreachable { server: String, reason: String },
    #[error("forbidden: cannot {verb} {resource} in {namespace}")]
    Forbidden {
        verb: String,
        resource: String,
        namespace: String,
    },
    #[error("unauthorized: the API server {server} rejected the credentials; log in again or pick another context")]
    Unauthorized { server: String },
    #[error("API server {server} answered {code} {reason}: {message}")]
    Api {
        server: String,
        code: u16,
        reason: String,
        message: String,
    },
    #[error("talking to the API server {server} failed: {reason}")]
    Other { server: String, reason: String },
    /// Local state the runtime needs (the chaos journal) is unusable.
    #[error("{0}")]
    State(String),
}

/// rustls needs one process-wide crypto provider; ring is the only one
/// built in. A second install fails harmlessly.
fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Build a client for the target. Nothing is sent to the server yet.
pub async fn connect(target: &Target) -> Result<Connection, KubeError> {
    match target {
        Target::Url(url) => connect_url(url),
        Target::Kubeconfig { context } => {
            let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
            connect_kubeconfig(&kubeconfig_paths(), context.as_deref(), in_cluster).await
        }
    }
}

fn connect_url(url: &str) -> Result<Connection, KubeError> {
    let uri = url.parse::<hyper::Uri>().map_err(|e| KubeError::BadUrl {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    if uri.host().is_none() {
        return Err(KubeError::BadUrl {
            url: url.to_string(),
            reason: "no host".into(),
        });
    }
    client_for(Config::new(uri))
}

fn client_for(config: Config) -> Result<Connection, KubeError> {
    install_crypto();
    let server = config.cluster_url.to_string();
    let server = server.trim_end_matches('/').to_string();
    let client = Client::try_from(config).map_err(|e| KubeError::Client(e.to_string()))?;
    Ok(Connection { client, server })
}

/// `KUBECONFIG` (a path list), else `~/.kube/config`.
pub(super) fn kubeconfig_paths() -> Vec<PathBuf> {
    if let Some(v) = std::env::var_os("KUBECONFIG") {
        let paths: Vec<PathBuf> = std::env::split_paths(&v)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if !paths.is_empty() {
            return paths;
        }
    }
    std::env::var_os("HOME")
        .map(|h| vec![PathBuf::from(h).join(".kube").join("config")])
        .unwrap_or_default()
}

/// The kubeconfig files among `paths` that exist, merged (the first to set
/// a value wins); `None` when there is none.
pub(super) fn merged_kubeconfig(paths: &[PathBuf]) -> Result<Option<Kubeconfig>, KubeError> {
    let mut merged: Option<Kubeconfig> = None;
    for path in paths.iter().filter(|p| p.is_file()) {
        let bad = |e: kube::config::KubeconfigError| {
            KubeError::BadKubeconfig(format!("{}: {e}", path.display()))
        };
        let kc = Kubeconfig::read_from(path).map_err(bad)?;
        merged = Some(match merged {
            None => kc,
            Some(m) => m.merge(kc).map_err(bad)?,
        });
    }
    Ok(merged)
}

/// No kubeconfig file at any of `paths`, saying where we looked.
pub(super) fn no_kubeconfig(paths: &[PathBuf]) -> KubeError {
    let looked: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let looked = if looked.is_empty() {
        "no path: neither KUBECONFIG nor HOME is set".to_string()
    } else {
        looked.join(", ")
    };
    KubeError::NoKubeconfig { looked }
}

/// Merge the kubeconfig files that exist (the first to set a value wins),
/// then pick the context; without any file, the in-cluster account.
pub async fn connect_kubeconfig(
    paths: &[PathBuf],
    context: Option<&str>,
    in_cluster: bool,
) -> Result<Connection, KubeError> {
    let Some(kc) = merged_kubeconfig(paths)? else {
        if in_cluster {
            let config = Config::incluster().map_err(|e| {
                KubeError::BadKubeconfig(format!("in-cluster service account: {e}"))
            })?;
            return client_for(config);
        }
        return Err(no_kubeconfig(paths));
    };
    if let Some(wanted) = context {
        if !kc.contexts.iter().any(|c| c.name == wanted) {
            let known: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            return Err(KubeError::UnknownContext {
                wanted: wanted.to_string(),
                known,
            });
        }
    }
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..KubeConfigOptions::default()
    };
    let config = Config::from_custom_kubeconfig(kc, &options)
        .await
        .map_err(|e| KubeError::BadKubeconfig(e.to_string()))?;
    client_for(config)
}

/// The innermost cause, e.g. "Connection refused (os error 111)".
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last = err;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// Explain a failed request in plain words.
pub fn explain(err: &kube::Error, server: &str, req: &Request<'_>) -> KubeError {
    let server = server.to_string();
    match err {
        kube::Error::Api(status) => match status.code {
            401 => KubeError::Unauthorized { server },
            403 => {
                let details = status.details.as_ref();
                let kind = details.map_or("", |d| d.kind.as_str());
                let group = details.map_or("", |d| d.group.as_str());
                let resource = if kind.is_empty() { req.resource } else { kind };
                let group = if kind.is_empty() { req.group } else { group };
                let resource = if group.is_empty() {
                    resource.to_string()
                } else {
                    format!("{resource}.{group}")
                };
                KubeError::Forbidden {
                    verb: req.verb.to_string(),
                    resource,
                    namespace: req.namespace.to_string(),
                }
            }
            code => KubeError::Api {
                server,
                code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
        },
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
            KubeError::Unreachable {
                server,
                reason: root_cause(err),
            }
        }
        other => KubeError::Other {
            server,
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests;
