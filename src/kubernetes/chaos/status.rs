//! What Chaos Mesh says about a resource (pure code): its conditions
//! (`Selected`, `AllInjected`, `AllRecovered`) and the records of the pods
//! it acted on, whose `Failed` events carry the controller's error.

use serde_json::Value;

use crate::kubernetes::fields::{clean, raw, text};

/// A chaos resource as its controller reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrPhase {
    /// No word from the controller yet (or pods still being selected).
    Pending,
    /// Every selected pod has the fault (`AllInjected` True).
    Injected,
    /// The fault was taken off every pod (`AllRecovered` True, phase Stop).
    Recovered,
    /// The controller could not inject: its message.
    Failed(String),
}

impl CrPhase {
    pub fn label(&self) -> String {
        match self {
            CrPhase::Pending => "pending".into(),
            CrPhase::Injected => "injected".into(),
            CrPhase::Recovered => "recovered".into(),
            CrPhase::Failed(why) => format!("failed: {why}"),
        }
    }
}

fn condition(obj: &Value, kind: &str) -> Option<bool> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| raw(c, &["type"]) == Some(kind))
        .and_then(|c| raw(c, &["status"]))
        .map(|s| s == "True")
}

/// The newest `Failed` event of any pod record.
fn failure(obj: &Value) -> Option<String> {
    let records = obj
        .pointer("/status/experiment/containerRecords")?
        .as_array()?;
    records
        .iter()
        .rev()
        .find_map(|r| {
            let failed = r
                .get("events")?
                .as_array()?
                .iter()
                .rfind(|e| raw(e, &["type"]) == Some("Failed"))?;
            Some((r, failed))
        })
        .map(|(r, e)| {
            let op = text(e, &["operation"]).unwrap_or_else(|| "Apply".into());
            let msg = text(e, &["message"]).unwrap_or_else(|| "no message".into());
            match raw(r, &["id"]).map(clean) {
                Some(pod) => format!("{op} on {pod}: {msg}"),
                None => format!("{op}: {msg}"),
            }
        })
}

/// The phase of a Chaos Mesh resource as the apiserver sent it.
pub fn cr_phase(obj: &Value) -> CrPhase {
    if let Some(why) = failure(obj) {
        return CrPhase::Failed(why);
    }
    let stopping = raw(obj, &["status", "experiment", "desiredPhase"]) == Some("Stop");
    if condition(obj, "AllRecovered") == Some(true) && stopping {
        return CrPhase::Recovered;
    }
    if condition(obj, "AllInjected") == Some(true) {
        return CrPhase::Injected;
    }
    if condition(obj, "Selected") == Some(false) && stopping {
        return CrPhase::Failed("no pod matched the selector".into());
    }
    CrPhase::Pending
}

#[cfg(test)]
mod tests;
