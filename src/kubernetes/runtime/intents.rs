//! What the Kubernetes runtime offers (Observed: Argo Rollouts steps the
//! canary) and how an intent reaches a Rollout: the plugin's patches,
//! sent by [`crate::kubernetes::send`], errors in plain words.

use super::session::Shared;
use crate::domain::environment::Version;
use crate::kubernetes::connect::KubeError;
use crate::kubernetes::rollout::rollout_view;
use crate::kubernetes::send::{send_intent, SendError};
use crate::runtime::{
    ActionAccepted, Capabilities, DeliveryMode, Intent, IntentKind, RuntimeError,
};

/// The intents Argo Rollouts carries out from a patch of the Rollout.
pub const SUPPORTED: [IntentKind; 8] = [
    IntentKind::Promote,
    IntentKind::PromoteFull,
    IntentKind::Pause,
    IntentKind::Resume,
    IntentKind::Abort,
    IntentKind::Retry,
    IntentKind::Restart,
    // Planned from the ReplicaSets' revisions, as `kubectl argo rollouts undo`.
    IntentKind::Undo,
];

/// Why the others are not offered.
fn not_offered(kind: IntentKind) -> String {
    match kind {
        IntentKind::Deploy => "a new version reaches an Argo Rollout through its manifests \
            (GitOps: the image tag in the environment's overlay), which blissful-infra does not \
            write yet"
            .into(),
        IntentKind::Switch => "Argo blue-green switches the active service on promote; use \
            promote (abort before it, or undo after it, to go back)"
            .into(),
        other => format!("{} is not offered for Argo Rollouts", other.name()),
    }
}

/// Observed mode; the chaos scenarios (Chaos Mesh) are added by the runtime.
pub fn capabilities() -> Capabilities {
    Capabilities::with(DeliveryMode::Observed, &SUPPORTED, not_offered)
}

fn runtime_error(e: SendError) -> RuntimeError {
    match e {
        SendError::Refused(r) => RuntimeError::Refused(r.reason),
        SendError::Kube(e @ KubeError::Unreachable { .. }) => {
            RuntimeError::Unavailable(e.to_string())
        }
        SendError::Kube(e) => RuntimeError::Failed(e.to_string()),
    }
}

/// Send `intent` to the Rollout of `env`.
pub async fn send(
    shared: &Shared,
    env: &str,
    intent: Intent,
) -> Result<ActionAccepted, RuntimeError> {
    let kind = intent.kind();
    capabilities()
        .check(kind)
        .map_err(|why| RuntimeError::Refused(format!("{}: {why}", kind.name())))?;
    let target = shared
        .settings
        .env(env)
        .ok_or_else(|| RuntimeError::UnknownEnvironment(env.to_string()))?;
    let conn = shared
        .conn()
        .ok_or_else(|| RuntimeError::Unavailable("not connected to a cluster".into()))?;
    let before = shared.state().sent.get(env).map(|s| s.traffic.clone());
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let after = send_intent(&conn, &target.namespace, &target.rollout, &intent, &now)
        .await
        .map_err(runtime_error)?;
    let view = rollout_view(&after);
    let state = match view.health.reason() {
        Some(r) => format!("{}: {r}", view.health.label()),
        None => view.health.label().to_string(),
    };
    let mut message = format!(
        "{} sent to rollout {} in {}; it reads {state}",
        kind.name(),
        target.rollout,
        target.namespace
    );
    if let Intent::Abort { .. } = intent {
        message.push_str(" (Argo keeps no reason; the audit journal has yours)");
    }
    let canary: Option<Version> = before.as_ref().and_then(|t| t.canary.clone());
    Ok(ActionAccepted {
        pipeline_id: 0,
        env: env.to_string(),
        from_version: before.and_then(|t| t.stable),
        to_version: canary.or_else(|| view.canary_version()),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_verbs_are_offered_and_the_rest_say_why_not() {
        let caps = capabilities();
        assert_eq!(caps.mode, DeliveryMode::Observed);
        for k in SUPPORTED {
            assert!(caps.supports(k), "{k:?}");
        }
        let deploy = caps.check(IntentKind::Deploy).unwrap_err();
        assert!(deploy.contains("GitOps"), "{deploy}");
        assert!(caps
            .check(IntentKind::Switch)
            .unwrap_err()
            .contains("promote"));
        assert!(caps.scenarios.is_empty());
    }
}
