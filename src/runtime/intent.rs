//! What a caller may ask of a rollout (intents), and what a runtime says it
//! can do (capabilities). The console greys out keys from these, the CLI
//! refuses with the reason, and decorators (read-only, audit) judge intents
//! without knowing which runtime is behind them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::chaos::ScenarioKind;
use crate::domain::environment::Version;

/// Who steps a rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMode {
    /// blissful-infra's own delivery controller steps the rollout (sandbox, Docker).
    Driven,
    /// A controller in the platform steps it (Argo Rollouts); blissful-infra
    /// watches and sends intents.
    Observed,
}

impl DeliveryMode {
    pub fn label(self) -> &'static str {
        match self {
            DeliveryMode::Driven => "driven",
            DeliveryMode::Observed => "observed",
        }
    }
}

/// The kinds of intent, without their arguments: the key of a capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentKind {
    Deploy,
    Promote,
    PromoteFull,
    Pause,
    Resume,
    Abort,
    Retry,
    Undo,
    Switch,
    Restart,
}

impl IntentKind {
    pub const ALL: [IntentKind; 10] = [
        IntentKind::Deploy,
        IntentKind::Promote,
        IntentKind::PromoteFull,
        IntentKind::Pause,
        IntentKind::Resume,
        IntentKind::Abort,
        IntentKind::Retry,
        IntentKind::Undo,
        IntentKind::Switch,
        IntentKind::Restart,
    ];

    /// The verb as the CLI and the audit journal spell it.
    pub fn name(self) -> &'static str {
        match self {
            IntentKind::Deploy => "deploy",
            IntentKind::Promote => "promote",
            IntentKind::PromoteFull => "promote --full",
            IntentKind::Pause => "pause",
            IntentKind::Resume => "resume",
            IntentKind::Abort => "abort",
            IntentKind::Retry => "retry",
            IntentKind::Undo => "undo",
            IntentKind::Switch => "switch",
            IntentKind::Restart => "restart",
        }
    }

    /// Changes what serves traffic (or stops a change): confirmed, audited,
    /// refused in read-only mode. Every intent is, today.
    pub fn is_destructive(self) -> bool {
        true
    }
}

/// One request to change a rollout of one environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "intent", rename_all = "snake_case")]
pub enum Intent {
    /// Start a rollout of `version` (a canary, or blue-green, as configured).
    Deploy {
        version: Version,
    },
    /// Skip the current pause and go to the next step; with `full`, skip
    /// every remaining step and analysis and make the canary stable now.
    Promote {
        #[serde(default)]
        full: bool,
    },
    /// Hold the rollout at its current weight until resumed.
    Pause,
    Resume,
    /// Stop the rollout and send all traffic back to stable; the reason is
    /// kept and shown (`Aborted: <reason>`), apart from a failed analysis.
    Abort {
        reason: String,
    },
    /// Start an aborted rollout again from its first step.
    Retry,
    /// Return to an earlier revision: the previous one, or `to_revision`.
    Undo {
        #[serde(default)]
        to_revision: Option<u32>,
    },
    /// Blue-green: send all traffic to the new version (`to_canary`) or back.
    Switch {
        to_canary: bool,
    },
    /// Restart every instance of the environment, one at a time.
    Restart,
}

impl Intent {
    pub fn kind(&self) -> IntentKind {
        match self {
            Intent::Deploy { .. } => IntentKind::Deploy,
            Intent::Promote { full: false } => IntentKind::Promote,
            Intent::Promote { full: true } => IntentKind::PromoteFull,
            Intent::Pause => IntentKind::Pause,
            Intent::Resume => IntentKind::Resume,
            Intent::Abort { .. } => IntentKind::Abort,
            Intent::Retry => IntentKind::Retry,
            Intent::Undo { .. } => IntentKind::Undo,
            Intent::Switch { .. } => IntentKind::Switch,
            Intent::Restart => IntentKind::Restart,
        }
    }

    /// The intent as one audit line: `deploy v2`, `undo --to-revision 3`.
    pub fn describe(&self) -> String {
        match self {
            Intent::Deploy { version } => format!("deploy {version}"),
            Intent::Abort { reason } => format!("abort ({reason})"),
            Intent::Undo {
                to_revision: Some(n),
            } => format!("undo --to-revision {n}"),
            Intent::Switch { to_canary: true } => "switch to new".into(),
            Intent::Switch { to_canary: false } => "switch back".into(),
            other => other.kind().name().to_string(),
        }
    }
}

/// Whether a runtime can do one thing, and if not, why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "support", content = "reason", rename_all = "snake_case")]
pub enum Support {
    Yes,
    No(String),
}

/// What a runtime can do; asked once, shown by the console and the CLI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    pub mode: DeliveryMode,
    /// Every intent kind, with its support. A kind missing here is unsupported.
    pub intents: BTreeMap<IntentKind, Support>,
    /// Chaos scenarios by name (`pod-kill`), with their support.
    #[serde(default)]
    pub scenarios: BTreeMap<String, Support>,
}

impl Capabilities {
    /// A capability set that supports `supported` and refuses every other
    /// intent kind with `reason`.
    pub fn with(
        mode: DeliveryMode,
        supported: &[IntentKind],
        reason: impl Fn(IntentKind) -> String,
    ) -> Self {
        let intents = IntentKind::ALL
            .into_iter()
            .map(|k| {
                let s = if supported.contains(&k) {
                    Support::Yes
                } else {
                    Support::No(reason(k))
                };
                (k, s)
            })
            .collect();
        Capabilities {
            mode,
            intents,
            scenarios: BTreeMap::new(),
        }
    }

    /// The same capabilities, with `supported` chaos scenarios offered.
    pub fn with_scenarios(mut self, supported: impl IntoIterator<Item = ScenarioKind>) -> Self {
        for kind in supported {
            self.scenarios.insert(kind.name().to_string(), Support::Yes);
        }
        self
    }

    /// Whether a chaos scenario is offered (a missing one is not).
    pub fn offers_scenario(&self, kind: ScenarioKind) -> bool {
        matches!(self.scenarios.get(kind.name()), Some(Support::Yes))
    }

    /// `Ok` when the runtime can carry out `kind`, else the reason it cannot.
    pub fn check(&self, kind: IntentKind) -> Result<(), String> {
        match self.intents.get(&kind) {
            Some(Support::Yes) => Ok(()),
            Some(Support::No(reason)) => Err(reason.clone()),
            None => Err(format!("this runtime does not offer {}", kind.name())),
        }
    }

    pub fn supports(&self, kind: IntentKind) -> bool {
        self.check(kind).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_know_their_kind_and_describe_themselves() {
        assert_eq!(
            Intent::Promote { full: true }.kind(),
            IntentKind::PromoteFull
        );
        assert_eq!(
            Intent::Undo {
                to_revision: Some(3)
            }
            .describe(),
            "undo --to-revision 3"
        );
        assert_eq!(
            Intent::Deploy {
                version: Version::new("v2")
            }
            .describe(),
            "deploy v2"
        );
    }

    #[test]
    fn capabilities_give_the_reason_for_a_refusal() {
        let caps = Capabilities::with(DeliveryMode::Driven, &[IntentKind::Deploy], |k| {
            format!("{} is not built yet", k.name())
        });
        assert!(caps.supports(IntentKind::Deploy));
        assert_eq!(
            caps.check(IntentKind::Pause),
            Err("pause is not built yet".to_string())
        );
    }

    #[test]
    fn intents_round_trip_as_json() {
        let i = Intent::Abort {
            reason: "p99 too high".into(),
        };
        let s = serde_json::to_string(&i).unwrap();
        assert_eq!(s, r#"{"intent":"abort","reason":"p99 too high"}"#);
        assert_eq!(serde_json::from_str::<Intent>(&s).unwrap(), i);
    }
}
