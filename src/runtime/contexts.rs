//! Switching the cluster a runtime watches (kubeconfig contexts), for the
//! console's `:ctx`. Only the Kubernetes runtime has contexts; the console
//! gets this beside the runtime, since it changes what is looked at, not
//! what runs (no confirmation, no audit, allowed in read-only mode).

use async_trait::async_trait;

/// The contexts a kubeconfig knows, and the one in use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContextList {
    pub names: Vec<String>,
    pub current: Option<String>,
}

impl ContextList {
    /// `a, b (current), c`.
    pub fn describe(&self) -> String {
        if self.names.is_empty() {
            return "none".into();
        }
        self.names
            .iter()
            .map(|n| {
                if Some(n) == self.current.as_ref() {
                    format!("{n} (current)")
                } else {
                    n.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[async_trait]
pub trait ContextSwitch: Send + Sync {
    /// The kubeconfig's contexts, read now.
    fn contexts(&self) -> Result<ContextList, String>;

    /// Watch the cluster of context `name` from now on (reconnecting every
    /// watch); returns the runtime's new label, e.g. `kubernetes (kind-b)`.
    async fn switch_context(&self, name: &str) -> Result<String, String>;
}

/// A shareable [`ContextSwitch`] (the console's job context holds one).
#[derive(Clone)]
pub struct ContextHandle(pub std::sync::Arc<dyn ContextSwitch>);

impl std::fmt::Debug for ContextHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContextHandle")
    }
}
