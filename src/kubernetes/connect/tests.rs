//! Every error message of [`super`] that can be produced without a cluster.
#![cfg(test)] // test code only

use super::*;

const TWO_CONTEXTS: &str = r#"
apiVersion: v1
kind: Config
current-context: kind-dev
clusters:
- name: dev
  cluster:
    server: https://127.0.0.1:6443
- name: prod
  cluster:
    server: https://10.0.0.1:6443
users:
- name: me
  user:
    token: not-a-real-token
contexts:
- name: kind-dev
  context:
    cluster: dev
    user: me
    namespace: rollouts-demo
- name: prod
  context:
    cluster: prod
    user: me
"#;

fn kubeconfig_in(dir: &tempfile::TempDir) -> PathBuf {
    let path = dir.path().join("config");
    std::fs::write(&path, TWO_CONTEXTS).unwrap();
    path
}

#[tokio::test]
async fn unknown_context_lists_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = kubeconfig_in(&dir);
    let err = connect_kubeconfig(&[path], Some("staging"), false)
        .await
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "unknown kubeconfig context \"staging\": known contexts are kind-dev, prod"
    );
}

#[tokio::test]
async fn a_known_context_picks_its_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let path = kubeconfig_in(&dir);
    let missing = dir.path().join("absent");
    let conn = connect_kubeconfig(&[missing.clone(), path.clone()], Some("prod"), false)
        .await
        .unwrap();
    assert_eq!(conn.server, "https://10.0.0.1:6443");
    let conn = connect_kubeconfig(&[path], None, false).await.unwrap();
    assert_eq!(conn.server, "https://127.0.0.1:6443");
    assert_eq!(conn.client.default_namespace(), "rollouts-demo");
}

#[tokio::test]
async fn no_kubeconfig_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nothing-here");
    let err = connect_kubeconfig(std::slice::from_ref(&path), None, false)
        .await
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(msg.starts_with("no kubeconfig found (looked in "), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(
        msg.contains("set KUBECONFIG or create ~/.kube/config"),
        "{msg}"
    );
    let err = connect_kubeconfig(&[], None, false).await.err().unwrap();
    assert!(err.to_string().contains("neither KUBECONFIG nor HOME"));
}

#[tokio::test]
async fn a_broken_kubeconfig_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    std::fs::write(&path, "contexts: [oops").unwrap();
    let err = connect_kubeconfig(std::slice::from_ref(&path), None, false)
        .await
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(msg.starts_with("cannot use the kubeconfig: "), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

#[tokio::test]
async fn a_bad_url_is_refused() {
    let err = connect(&Target::Url("not a url".into()))
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .starts_with("invalid API server URL \"not a url\""),
        "{err}"
    );
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let conn = connect(&Target::Url(url.clone())).await.unwrap();
    let err = conn.client.apiserver_version().await.err().unwrap();
    let req = Request {
        verb: "get",
        resource: "version",
        group: "",
        namespace: "",
    };
    let msg = explain(&err, &conn.server, &req).to_string();
    assert!(
        msg.starts_with(&format!("API server {url} unreachable (")),
        "{msg}"
    );
    assert!(msg.to_lowercase().contains("refused"), "{msg}");
    assert!(msg.ends_with("check that the cluster is running and the kubeconfig points at it"));
}

fn api_error(status: serde_json::Value) -> kube::Error {
    kube::Error::Api(Box::new(serde_json::from_value(status).unwrap()))
}

const LIST_ROLLOUTS: Request<'static> = Request {
    verb: "list",
    resource: "rollouts",
    group: "argoproj.io",
    namespace: "staging",
};

#[test]
fn forbidden_names_verb_resource_and_namespace() {
    let err = api_error(serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "rollouts.argoproj.io is forbidden: User \"dev\" cannot list resource \"rollouts\" in API group \"argoproj.io\" in the namespace \"staging\"",
        "reason": "Forbidden",
        "details": {"group": "argoproj.io", "kind": "rollouts"},
        "code": 403
    }));
    let msg = explain(&err, "http://x", &LIST_ROLLOUTS).to_string();
    assert_eq!(
        msg,
        "forbidden: cannot list rollouts.argoproj.io in staging"
    );
    // Core resources have no group.
    let err = api_error(serde_json::json!({
        "kind": "Status", "status": "Failure", "message": "pods is forbidden",
        "reason": "Forbidden", "details": {"kind": "pods"}, "code": 403
    }));
    let msg = explain(&err, "http://x", &LIST_ROLLOUTS).to_string();
    assert_eq!(msg, "forbidden: cannot list pods in staging");
}

#[test]
fn unauthorized_and_other_statuses() {
    let err = api_error(serde_json::json!({
        "kind": "Status", "status": "Failure", "message": "Unauthorized",
        "reason": "Unauthorized", "code": 401
    }));
    let msg = explain(&err, "https://k:6443", &LIST_ROLLOUTS).to_string();
    assert_eq!(msg, "unauthorized: the API server https://k:6443 rejected the credentials; log in again or pick another context");
    let err = api_error(serde_json::json!({
        "kind": "Status", "status": "Failure", "message": "etcd is sad",
        "reason": "InternalError", "code": 500
    }));
    let msg = explain(&err, "https://k:6443", &LIST_ROLLOUTS).to_string();
    assert_eq!(
        msg,
        "API server https://k:6443 answered 500 InternalError: etcd is sad"
    );
}
